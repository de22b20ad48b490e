import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import * as dagCbor from '@ipld/dag-cbor'
import { hasCode } from '@prsm/core'
import type { PrsmNode } from '../../src/index.ts'
import type { Backend } from '../../src/jobs/backend.ts'
import { readRuntimeFile } from '../../src/runtime-file.ts'
import { bootstrapAddr, startTestNode, stopAll, waitFor } from '../helpers.ts'

/** Upper-cases its text inputs (a deterministic answer); `lie` makes it answer something else. */
function upperBackend(lie = false): Backend & { runs: number } {
  const backend = {
    name: lie ? 'liar' : 'upper',
    runs: 0,
    async *run(_step: unknown, inputs: readonly ({ text: string } | { bytes: Uint8Array })[]) {
      backend.runs++
      const text = inputs.map((i) => ('text' in i ? i.text : '')).join('')
      yield { type: 'output' as const, text: lie ? `${text.toUpperCase()}!` : text.toUpperCase() }
    },
  }
  return backend
}

async function api<T>(node: PrsmNode, path: string): Promise<{ status: number; body: T }> {
  const runtime = await readRuntimeFile(node.dataDir)
  const res = await fetch(`${runtime.apiUrl}${path}`, {
    headers: { authorization: `Bearer ${runtime.token}` },
  })
  return { status: res.status, body: (await res.json()) as T }
}

describe('verified jobs: k providers, majority output, evidence and reputation', () => {
  const nodes: PrsmNode[] = []
  let client: PrsmNode
  const providers: PrsmNode[] = []
  const backends = [upperBackend(), upperBackend(), upperBackend(true)]

  before(async () => {
    client = await startTestNode({ api: true })
    nodes.push(client)
    for (const backend of backends) {
      const p = await startTestNode({
        config: { bootstrap: [bootstrapAddr(client)], offers: [{ capability: 'model:upper', price: '0' }] },
      })
      p.jobs.registerBackend('model:upper', backend)
      providers.push(p)
      nodes.push(p)
    }
    await waitFor('the providers to connect', () => client.libp2p.getPeers().length >= 3)
  })
  after(() => stopAll(nodes))

  const ids = () => providers.map((p) => p.peerId)
  const [honest1, honest2, liar] = [0, 1, 2]

  it('accepts the majority output, stores signed evidence against the liar and penalises it', async () => {
    const result = await client.jobs.runVerified(
      {
        requestId: 'verify-0001',
        step: { capability: 'model:upper' },
        inputs: [{ text: 'abc' }],
        maxPrice: 0n,
      },
      { providers: ids(), k: 3 },
    )
    assert.equal(Buffer.from(result.output).toString(), 'ABC')
    assert.equal(result.outputHash, createHash('sha256').update('ABC').digest('hex'))
    assert.deepEqual(result.agreeing.sort(), [ids()[honest1], ids()[honest2]].sort())
    assert.equal(result.provider, ids()[honest1])
    assert.equal(result.dissenters.length, 1)
    assert.equal(result.dissenters[0]?.provider, ids()[liar])
    assert.equal(result.dissenters[0]?.receipt.output.text, 'ABC!')
    assert.equal(result.evidence.length, 1)
    assert.deepEqual(result.failed, [])
    assert.deepEqual(
      backends.map((b) => b.runs),
      [1, 1, 1],
    )

    // Reputation: the liar has a disagreement and a lower score than the honest providers.
    const rep = ids().map((p) => client.reputation.get(p))
    assert.deepEqual(
      rep.map((r) => [r.jobs, r.successes, r.disagreements]),
      [
        [1, 1, 0],
        [1, 1, 0],
        [1, 1, 1],
      ],
    )
    assert.ok((rep[liar]?.score ?? 1) < (rep[honest1]?.score ?? 0))
    assert.ok((rep[honest1]?.latencyEwmaMs ?? -1) >= 0)
    assert.deepEqual(client.reputation.rank(ids().toReversed()).at(-1), ids()[liar])

    // Evidence: stored, signed by the client, both receipts signed by their providers.
    const id = result.evidence[0] as string
    const record = client.jobs.evidence.get(id)
    assert.ok(record)
    assert.equal(record.provider, ids()[liar])
    assert.equal(record.majorityProvider, ids()[honest1])
    const verified = await client.jobs.verifyEvidence(record.envelope)
    assert.equal(verified.recorder, client.peerId)
    assert.equal(verified.majority.output.text, 'ABC')
    assert.equal(verified.dissenter.output.text, 'ABC!')
    assert.equal(verified.evidence.k, 3)
    // A third party (another node) verifies it as well.
    await providers[0]?.jobs.verifyEvidence(record.envelope)

    // Tampering breaks it: swap the dissenter's receipt for the majority's.
    const decoded = dagCbor.decode(record.envelope) as {
      payload: { dissenter: { receipt: Uint8Array } }
      signature: Uint8Array
    }
    decoded.payload.dissenter.receipt = (
      decoded.payload as unknown as { majority: { receipt: Uint8Array } }
    ).majority.receipt
    await assert.rejects(client.jobs.verifyEvidence(dagCbor.encode(decoded)), (err) =>
      hasCode(err, 'JOB_EVIDENCE_INVALID'),
    )
  })

  it('exposes reputation and evidence on the API', async () => {
    const [id] = client.jobs.evidence.list({ provider: ids()[liar] as string }).map((r) => r.id)
    assert.ok(id)
    const record = client.jobs.evidence.get(id)
    assert.ok(record)
    const list = await api<{ evidence: Array<{ id: string; provider: string; envelope: string }> }>(
      client,
      `/api/v1/evidence?provider=${ids()[liar]}`,
    )
    assert.equal(list.status, 200, JSON.stringify(list.body))
    assert.deepEqual(
      list.body.evidence.map((e) => [e.id, e.provider]),
      [[id, ids()[liar]]],
    )
    assert.deepEqual(
      Buffer.from(list.body.evidence[0]?.envelope ?? '', 'base64'),
      Buffer.from(record.envelope),
    )
    const one = await api<{ recorder: string; dissenterReceipt: { output: { text: string } } }>(
      client,
      `/api/v1/evidence/${id}`,
    )
    assert.equal(one.status, 200)
    assert.equal(one.body.recorder, client.peerId)
    assert.equal(one.body.dissenterReceipt.output.text, 'ABC!')
    const missing = await api<{ error: { code: string } }>(client, `/api/v1/evidence/${'0'.repeat(64)}`)
    assert.equal(missing.status, 404)
    assert.equal(missing.body.error.code, 'JOB_EVIDENCE_NOT_FOUND')
    const liarRep = await api<{ disagreements: number }>(client, `/api/v1/reputation/${ids()[liar]}`)
    assert.equal(liarRep.body.disagreements, 1)
    const all = await api<{ providers: Array<{ peer: string }> }>(client, '/api/v1/reputation')
    assert.equal(all.body.providers.at(-1)?.peer, ids()[liar], 'worst score last')
  })

  it('a retried verified run (same request id) runs and records nothing twice', async () => {
    const before = backends.map((b) => b.runs)
    const evidence = client.jobs.evidence.list().length
    const again = await client.jobs.runVerified(
      {
        requestId: 'verify-0001',
        step: { capability: 'model:upper' },
        inputs: [{ text: 'abc' }],
        maxPrice: 0n,
      },
      { providers: ids(), k: 3 },
    )
    assert.equal(Buffer.from(again.output).toString(), 'ABC')
    assert.deepEqual(
      backends.map((b) => b.runs),
      before,
    )
    assert.equal(again.evidence.length, 1)
    assert.equal(
      client.jobs.evidence.list().length,
      evidence + 1,
      'a new record (new signing) of the same facts',
    )
  })

  it('counts a failed provider as no vote: two agreeing of three still win; a cancelled run is JOB_CANCELLED', async () => {
    // A node that offers nothing refuses the step (JOB_NO_OFFER): a failure, not a dissent.
    const idle = await startTestNode({ config: { bootstrap: [bootstrapAddr(client)] } })
    nodes.push(idle)
    await waitFor('the idle node to connect', () =>
      client.libp2p.getPeers().some((p) => p.toString() === idle.peerId),
    )
    const evidence = client.jobs.evidence.list().length
    const r = await client.jobs.runVerified(
      { step: { capability: 'model:upper' }, inputs: [{ text: 'ok' }], maxPrice: 0n },
      { providers: [ids()[honest1] as string, idle.peerId, ids()[honest2] as string], k: 3 },
    )
    assert.equal(Buffer.from(r.output).toString(), 'OK')
    assert.equal(r.agreeing.length, 2)
    assert.deepEqual(
      r.failed.map((f) => [f.provider, f.error.code]),
      [[idle.peerId, 'JOB_NO_OFFER']],
    )
    assert.deepEqual(r.dissenters, [])
    assert.equal(client.jobs.evidence.list().length, evidence, 'no evidence against a failure')
    assert.equal(client.reputation.get(idle.peerId).failures, 0, 'a refusal for a missing offer is no fault')

    const controller = new AbortController()
    controller.abort()
    await assert.rejects(
      client.jobs.runVerified(
        { step: { capability: 'model:upper' }, inputs: [{ text: 'x' }], maxPrice: 0n },
        { providers: ids(), k: 3, signal: controller.signal },
      ),
      (err) => hasCode(err, 'JOB_CANCELLED'),
    )
  })

  it('has no majority when providers split evenly, and refuses a redundancy without enough providers', async () => {
    await assert.rejects(
      client.jobs.runVerified(
        { step: { capability: 'model:upper' }, inputs: [{ text: 'x' }], maxPrice: 0n },
        { providers: [ids()[honest1] as string, ids()[liar] as string], k: 2 },
      ),
      (err) => hasCode(err, 'JOB_NO_MAJORITY'),
    )
    await assert.rejects(
      client.jobs.runVerified(
        { step: { capability: 'model:upper' }, inputs: [{ text: 'x' }], maxPrice: 0n },
        { providers: [ids()[honest1] as string, ids()[honest1] as string], k: 2 },
      ),
      (err) => hasCode(err, 'VALIDATION_FAILED'),
    )
    await assert.rejects(
      client.jobs.runVerified(
        { requestId: 'short', step: { capability: 'model:upper' }, inputs: [{ text: 'x' }], maxPrice: 0n },
        { providers: ids(), k: 3 },
      ),
      (err) => hasCode(err, 'VALIDATION_FAILED'),
    )
  })
})
