import assert from 'node:assert/strict'
import { once } from 'node:events'
import { after, before, describe, it } from 'node:test'
import * as dagCbor from '@ipld/dag-cbor'
import { lpStream } from '@libp2p/utils'
import { MessageRegistry, sealEnvelope } from '@prsm/core'
import { OFFERS_FETCH_PROTOCOL, OFFERS_TOPIC, type PrsmNode, registerOfferMessages } from '../src/index.ts'
import { bootstrapAddr, startTestNode, stopAll, waitFor } from './helpers.ts'

/**
 * A victim node and an adversary that speaks the real protocols but sends bad messages:
 * published raw on the offers gossip topic, or written raw on the offers fetch protocol.
 */
describe('malformed and hostile messages', () => {
  let victim: PrsmNode
  let adversary: PrsmNode
  const nodes: PrsmNode[] = []
  const offer = {
    capability: 'model:evil',
    price: '1',
    unit: 'token' as const,
    limits: {},
    protocol: '/prsm/job/1.0.0',
    addrs: [],
    expiry: Date.now() + 600_000,
  }

  before(async () => {
    // threshold 160: the five offences below (10 + 25 + 25 + 50 + 50) cross it only at the last one
    victim = await startTestNode({
      config: { penalties: { threshold: 160, cooldownMs: 60_000, decayPerMinute: 0 } },
    })
    adversary = await startTestNode({ config: { bootstrap: [bootstrapAddr(victim)] } })
    nodes.push(victim, adversary)
    await waitFor('the adversary to see the victim subscribed', () =>
      adversary.libp2p.services.pubsub
        .getSubscribers(OFFERS_TOPIC)
        .some((p) => p.equals(victim.libp2p.peerId)),
    )
  })
  after(() => stopAll(nodes))

  // the adversary signs with the same message types the node registers
  const messages = () => registerOfferMessages(new MessageRegistry())

  /** Publishes raw bytes from the adversary and returns the victim's rejection. */
  async function publishAndExpectRejection(bytes: Uint8Array) {
    const rejected = once(victim.gate, 'rejected', { signal: AbortSignal.timeout(5_000) })
    await adversary.libp2p.services.pubsub.publish(OFFERS_TOPIC, bytes)
    const [rejection] = await rejected
    return rejection as { code: string; from: string }
  }

  function score(): number {
    return victim.penalties.get(adversary.peerId)?.score ?? 0
  }

  it('accepts a good offer, then rejects its replay (MESSAGE_REPLAYED)', async () => {
    const { Offer } = messages()
    const good = await sealEnvelope(adversary.identity.nodeKey, Offer, offer)
    await adversary.libp2p.services.pubsub.publish(OFFERS_TOPIC, good)
    await waitFor(
      'the victim to accept the good offer',
      () => victim.offers.knownOffers('model:evil').length === 1,
    )
    const rejection = await publishAndExpectRejection(good)
    assert.equal(rejection.code, 'MESSAGE_REPLAYED')
    assert.equal(rejection.from, adversary.peerId)
    assert.equal(score(), 25)
  })

  it('rejects a stale message (MESSAGE_STALE)', async () => {
    const { Offer } = messages()
    const stale = await sealEnvelope(adversary.identity.nodeKey, Offer, offer, { now: Date.now() - 200_000 })
    assert.equal((await publishAndExpectRejection(stale)).code, 'MESSAGE_STALE')
    assert.equal(score(), 35)
  })

  it('rejects a payload that violates the schema (MESSAGE_SCHEMA)', async () => {
    const { Offer } = messages()
    const bad = await sealEnvelope(adversary.identity.nodeKey, Offer, {
      ...offer,
      capability: 'not a capability',
    })
    assert.equal((await publishAndExpectRejection(bad)).code, 'MESSAGE_SCHEMA')
    assert.equal(score(), 60)
  })

  it('rejects a forged message (MESSAGE_BAD_SIGNATURE)', async () => {
    const { Offer } = messages()
    // sign as the adversary, then claim a cheaper price: the signature no longer matches
    const env = dagCbor.decode<Record<string, unknown>>(
      await sealEnvelope(adversary.identity.nodeKey, Offer, offer),
    )
    env.payload = { ...offer, price: '0' }
    assert.equal((await publishAndExpectRejection(dagCbor.encode(env))).code, 'MESSAGE_BAD_SIGNATURE')
    assert.equal(score(), 110)
    assert.equal(victim.penalties.isBanned(adversary.peerId), false)
    assert.ok(
      victim.libp2p.getPeers().some((p) => p.equals(adversary.libp2p.peerId)),
      'still connected',
    )
  })

  it('rejects an oversize frame on the fetch protocol (MESSAGE_OVERSIZE), then disconnects and refuses the sender', async () => {
    const rejected = once(victim.gate, 'rejected', { signal: AbortSignal.timeout(5_000) })
    const stream = await adversary.libp2p.dialProtocol(victim.libp2p.peerId, OFFERS_FETCH_PROTOCOL)
    const lp = lpStream(stream, { maxDataLength: 1024 * 1024 })
    await lp.write(new Uint8Array(300 * 1024)).catch(() => undefined)
    const [rejection] = (await rejected) as [{ code: string }]
    assert.equal(rejection.code, 'MESSAGE_OVERSIZE')
    assert.equal(score(), 160)
    assert.equal(victim.penalties.isBanned(adversary.peerId), true)
    await waitFor(
      'the victim to drop the adversary',
      () => !victim.libp2p.getPeers().some((p) => p.equals(adversary.libp2p.peerId)),
    )
    await waitFor(
      'the adversary to see the connection closed',
      () => adversary.libp2p.getConnections(victim.libp2p.peerId).length === 0,
    )
    // the connection gater refuses it in both directions during the cool-down
    await assert.rejects(
      victim.libp2p.dial(adversary.libp2p.peerId, { signal: AbortSignal.timeout(5_000) }),
      'victim dial',
    )
    // inbound, the victim refuses right after the encryption handshake (when it learns who is calling);
    // the dialler may briefly hold a half-made connection, which dies at once
    await adversary.libp2p
      .dial(victim.libp2p.peerId, { signal: AbortSignal.timeout(5_000) })
      .catch(() => undefined)
    await waitFor(
      'the refused connection to close',
      () => adversary.libp2p.getConnections(victim.libp2p.peerId).length === 0,
    )
    assert.equal(victim.libp2p.getConnections(adversary.libp2p.peerId).length, 0)
    // and the node is unharmed: it still answers a well-behaved peer
    const friend = await startTestNode({ config: { bootstrap: [bootstrapAddr(victim)] } })
    nodes.push(friend)
    await waitFor('a new peer to connect', () =>
      victim.libp2p.getPeers().some((p) => p.equals(friend.libp2p.peerId)),
    )
    assert.deepEqual(await friend.offers.fetchOffers(victim.libp2p.peerId), [])
  })
})
