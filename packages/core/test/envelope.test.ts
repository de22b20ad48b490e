import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import * as dagCbor from '@ipld/dag-cbor'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { z } from 'zod'
import { MessageRegistry, openEnvelope, ReplayGuard, sealEnvelope } from '../src/index.ts'

const registry = new MessageRegistry()
const Hello = registry.register('hello', 1, z.object({ text: z.string().max(10) }).strict())
const opts = { registry, maxBytes: 1024, maxClockSkewMs: 120_000 }

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p
    return 'OK'
  } catch (err) {
    return (err as { code: string }).code
  }
}

describe('signed envelopes', async () => {
  const key = await generateKeyPair('Ed25519')
  const other = await generateKeyPair('Ed25519')

  it('opens a valid envelope and returns the parsed payload and sender', async () => {
    const bytes = await sealEnvelope(key, Hello, { text: 'hi' })
    const { envelope } = await openEnvelope<{ text: string }>(bytes, opts)
    assert.equal(envelope.payload.text, 'hi')
    assert.equal(envelope.type, 'hello')
  })

  it('rejects a payload altered after signing (MESSAGE_BAD_SIGNATURE)', async () => {
    const env = dagCbor.decode<Record<string, unknown>>(await sealEnvelope(key, Hello, { text: 'hi' }))
    env.payload = { text: 'bye' }
    assert.equal(await codeOf(openEnvelope(dagCbor.encode(env), opts)), 'MESSAGE_BAD_SIGNATURE')
  })

  it('rejects a signature by another key than the sender (MESSAGE_BAD_SIGNATURE)', async () => {
    const env = dagCbor.decode<Record<string, unknown>>(await sealEnvelope(key, Hello, { text: 'hi' }))
    const forged = dagCbor.decode<Record<string, unknown>>(await sealEnvelope(other, Hello, { text: 'hi' }))
    env.signature = forged.signature
    assert.equal(await codeOf(openEnvelope(dagCbor.encode(env), opts)), 'MESSAGE_BAD_SIGNATURE')
  })

  it('rejects stale and future timestamps (MESSAGE_STALE)', async () => {
    const old = await sealEnvelope(key, Hello, { text: 'hi' }, { now: Date.now() - 121_000 })
    const future = await sealEnvelope(key, Hello, { text: 'hi' }, { now: Date.now() + 121_000 })
    assert.equal(await codeOf(openEnvelope(old, opts)), 'MESSAGE_STALE')
    assert.equal(await codeOf(openEnvelope(future, opts)), 'MESSAGE_STALE')
    const recent = await sealEnvelope(key, Hello, { text: 'hi' }, { now: Date.now() - 60_000 })
    assert.equal(await codeOf(openEnvelope(recent, opts)), 'OK')
  })

  it('rejects a replayed nonce (MESSAGE_REPLAYED)', async () => {
    const replay = new ReplayGuard(240_000)
    const bytes = await sealEnvelope(key, Hello, { text: 'hi' })
    assert.equal(await codeOf(openEnvelope(bytes, { ...opts, replay })), 'OK')
    assert.equal(await codeOf(openEnvelope(bytes, { ...opts, replay })), 'MESSAGE_REPLAYED')
  })

  it('rejects oversize, malformed, unknown-type and schema-violating messages', async () => {
    assert.equal(await codeOf(openEnvelope(new Uint8Array(2048), opts)), 'MESSAGE_OVERSIZE')
    assert.equal(await codeOf(openEnvelope(new Uint8Array([0xff, 0x00, 0x13]), opts)), 'MESSAGE_MALFORMED')
    assert.equal(await codeOf(openEnvelope(dagCbor.encode({ a: 1 }), opts)), 'MESSAGE_MALFORMED')
    const unknown = await sealEnvelope(key, { type: 'hello', version: 2 }, { text: 'hi' })
    assert.equal(await codeOf(openEnvelope(unknown, opts)), 'MESSAGE_UNKNOWN_TYPE')
    const bad = await sealEnvelope(key, Hello, { text: 'far too long a text' })
    assert.equal(await codeOf(openEnvelope(bad, opts)), 'MESSAGE_SCHEMA')
  })
})
