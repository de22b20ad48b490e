import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { lpStream } from '@libp2p/utils'
import { hasCode, sealEnvelope } from '@prsm/core'
import type { PrsmNode } from '../../src/index.ts'
import { collectJob, type JobEvent } from '../../src/jobs/job-client.ts'
import { JOB_PROTOCOL } from '../../src/jobs/messages.ts'
import { bootstrapAddr, startTestNode, stopAll, waitFor } from '../helpers.ts'
import { echoBackend, gatedBackend } from './helpers.ts'

const text = (events: JobEvent[]): string =>
  events.map((e) => (e.type === 'chunk' ? (e.text ?? Buffer.from(e.bytes ?? []).toString()) : '')).join('')

async function all(events: AsyncIterable<JobEvent>): Promise<JobEvent[]> {
  const out: JobEvent[] = []
  for await (const e of events) out.push(e)
  return out
}

describe('jobs between two nodes (/prsm/job/1.0.0)', () => {
  const nodes: PrsmNode[] = []
  let provider: PrsmNode
  let client: PrsmNode
  const echo = echoBackend()
  const slow = gatedBackend(1)
  const flaky = gatedBackend(2)

  before(async () => {
    provider = await startTestNode({
      safety: {
        async checkRequest({ inputs }) {
          const refused = inputs.some((i) => 'text' in i && i.text.includes('forbidden'))
          return refused ? { allow: false, reason: 'forbidden words' } : { allow: true }
        },
      },
      config: {
        jobs: { maxQueue: 1 },
        offers: [
          { capability: 'model:echo', price: '0' },
          { capability: 'model:flaky', price: '0' },
          { capability: 'tool:slow', price: '0', unit: 'call', limits: { maxConcurrency: 1 } },
          { capability: 'model:paid', price: '0.001' },
          { capability: 'model:unbacked', price: '0' },
          { capability: 'tool:big', price: '0' },
        ],
      },
    })
    nodes.push(provider)
    provider.jobs.registerBackend('model:echo', echo)
    provider.jobs.registerBackend('model:flaky', flaky.backend)
    provider.jobs.registerBackend('tool:slow', slow.backend)
    provider.jobs.registerBackend('model:paid', echo)
    provider.jobs.registerBackend('tool:big', {
      name: 'big',
      async *run() {
        for (const [c, n] of [
          ['a', 200_000],
          ['€', 50_000], // 3 bytes each: the message-cap split falls inside a character
          ['c', 100_000],
        ] as const) {
          yield { type: 'output', text: c.repeat(n) }
        }
      },
    })
    client = await startTestNode({ config: { bootstrap: [bootstrapAddr(provider)] } })
    nodes.push(client)
    await waitFor('the client to connect', () => client.libp2p.getPeers().length > 0)
  })
  after(() => stopAll(nodes))

  it('streams a completion as ordered chunks and ends with a signed receipt that matches them', async () => {
    const events = await all(
      client.jobs.run(provider.peerId, {
        requestId: 'stream-0001',
        step: { capability: 'model:echo', params: { temperature: 0 } },
        inputs: [{ text: 'the quick brown fox' }],
        maxPrice: 0n,
      }),
    )
    assert.equal(events[0]?.type, 'accepted')
    const chunks = events.filter((e) => e.type === 'chunk')
    assert.deepEqual(
      chunks.map((c) => c.text),
      ['the ', 'quick ', 'brown ', 'fox'],
    )
    const last = events.at(-1)
    assert.equal(last?.type, 'receipt')
    if (last?.type !== 'receipt') return
    const r = last.receipt
    assert.equal(r.status, 'ok')
    assert.equal(r.client, client.peerId)
    assert.equal(r.output.text, 'the quick brown fox')
    assert.equal(r.outputHash, createHash('sha256').update('the quick brown fox').digest('hex'))
    assert.equal(r.usage.tokensIn, 4)
    assert.equal(r.usage.tokensOut, 4)
    assert.equal(r.usage.bytesIn, 19)
    assert.equal(r.usage.bytesOut, 19)
    assert.equal(r.charged, '0')
    assert.equal(text(events), 'the quick brown fox')
  })

  it('answers a retried request id with the stored receipt: the backend runs once', async () => {
    const request = {
      requestId: 'retry-0001',
      step: { capability: 'model:echo' },
      inputs: [{ text: 'run me once' }],
      maxPrice: 0n,
    }
    const runs = echo.runs
    const first = await client.jobs.request(provider.peerId, request)
    const second = await client.jobs.request(provider.peerId, { ...request, deadline: Date.now() + 30_000 })
    assert.equal(echo.runs, runs + 1, 'the retry did not run the backend again')
    assert.deepEqual(second.receipt, first.receipt)
    assert.equal(second.chunks, 0, 'a replay carries no chunks')
    assert.equal(Buffer.from(second.output).toString(), 'run me once')

    await assert.rejects(
      client.jobs.request(provider.peerId, { ...request, inputs: [{ text: 'something else' }] }),
      (err) => hasCode(err, 'JOB_DUPLICATE'),
    )
  })

  it('stores an output too big to inline as content: the receipt names its CID, a replay fetches it', async () => {
    const request = { requestId: 'big-00001', step: { capability: 'tool:big' }, maxPrice: 0n }
    const events = await all(client.jobs.run(provider.peerId, request))
    const first = await collectJob(
      (async function* () {
        yield* events
      })(),
    )
    const expected = 'a'.repeat(200_000) + '€'.repeat(50_000) + 'c'.repeat(100_000)
    assert.ok(
      events.every((e) => e.type !== 'chunk' || e.text !== undefined),
      'a text output streams as text chunks, each valid UTF-8',
    )
    assert.equal(Buffer.from(first.output).toString(), expected)
    assert.equal(first.chunks, 5, 'outputs over half the message cap are split')
    assert.equal(first.receipt.outputBytes, 450_000)
    assert.equal(first.receipt.output.text, undefined)
    const cid = first.receipt.output.cid
    assert.ok(cid)
    const stored: Uint8Array[] = []
    for await (const chunk of provider.storage.cat(cid)) stored.push(chunk)
    assert.equal(Buffer.concat(stored).toString(), expected)
    const again = await client.jobs.request(provider.peerId, request)
    assert.equal(again.chunks, 0)
    assert.equal(Buffer.from(again.output).toString(), expected, 'fetched by CID and checked')
  })

  it('refuses with stable codes before any work', async () => {
    const run = (capability: string, maxPrice = 0n) =>
      client.jobs.request(provider.peerId, { step: { capability }, inputs: [{ text: 'x' }], maxPrice })
    await assert.rejects(run('model:nothing'), (err) => hasCode(err, 'JOB_NO_OFFER'))
    // An id the provider would refuse as malformed is caught before anything is sent.
    await assert.rejects(
      client.jobs.request(provider.peerId, {
        requestId: 'bad id!',
        step: { capability: 'model:echo' },
        maxPrice: 0n,
      }),
      (err) => hasCode(err, 'VALIDATION_FAILED'),
    )
    await assert.rejects(run('model:unbacked'), (err) => hasCode(err, 'JOB_NO_BACKEND'))
    await assert.rejects(run('model:paid'), (err) => hasCode(err, 'JOB_PRICE_TOO_LOW'))
    // A paid job needs a chain on the client (to sign a voucher) before anything is sent.
    await assert.rejects(run('model:paid', 10n ** 18n), (err) => hasCode(err, 'CHAIN_NOT_CONFIGURED'))
    await assert.rejects(
      client.jobs.request(provider.peerId, {
        step: { capability: 'model:echo' },
        maxPrice: 0n,
        deadline: Date.now() - 1,
      }),
      (err) => hasCode(err, 'JOB_DEADLINE_EXCEEDED'),
    )
  })

  it("refuses what the provider's safety hook refuses, before any work", async () => {
    const runs = echo.runs
    await assert.rejects(
      client.jobs.request(provider.peerId, {
        step: { capability: 'model:echo' },
        inputs: [{ text: 'some forbidden words' }],
        maxPrice: 0n,
      }),
      (err) => hasCode(err, 'JOB_REFUSED') && /forbidden words/.test((err as Error).message),
    )
    assert.equal(echo.runs, runs)
  })

  it('charges a failed job only for what was delivered before the backend failed', async () => {
    const job = client.jobs.request(provider.peerId, {
      requestId: 'flaky-0001',
      step: { capability: 'model:flaky' },
      inputs: [{ text: 'hello' }],
      maxPrice: 0n,
    })
    await flaky.state.started
    flaky.state.fail()
    const { receipt, output } = await job
    assert.equal(receipt.status, 'failed')
    assert.equal(receipt.error?.code, 'JOB_BACKEND_FAILED')
    // the delivered text counted with the o200k tokenizer: 'part0 ' 3 + 'part1 ' 3
    assert.equal(receipt.usage.tokensOut, 6)
    assert.equal(receipt.usage.tokensIn, 1, "the prompt 'hello' counted (the backend reported none)")
    assert.equal(Buffer.from(output).toString(), 'part0 part1 ')
  })

  it('cancels: the provider stops the backend and answers with a JOB_CANCELLED receipt', async () => {
    const controller = new AbortController()
    const events: JobEvent[] = []
    for await (const e of client.jobs.run(
      provider.peerId,
      { requestId: 'cancel-0001', step: { capability: 'tool:slow' }, maxPrice: 0n },
      { signal: controller.signal },
    )) {
      events.push(e)
      if (e.type === 'chunk') controller.abort()
    }
    const last = events.at(-1)
    assert.equal(last?.type, 'receipt')
    if (last?.type !== 'receipt') return
    assert.equal(last.receipt.status, 'failed')
    assert.equal(last.receipt.error?.code, 'JOB_CANCELLED')
    assert.equal(last.receipt.charged, '0', 'a call that did not finish is not charged')
    await waitFor('the slot to be free', () => provider.jobs.provider.stats().running === 0)
    const status = provider.status() as { jobs: { running: number; backends: Array<{ capability: string }> } }
    assert.equal(status.jobs.running, 0)
    assert.ok(status.jobs.backends.some((b) => b.capability === 'tool:slow'))
  })

  it('enforces the deadline on the provider', async () => {
    const { receipt } = await client.jobs.request(provider.peerId, {
      step: { capability: 'tool:slow' },
      maxPrice: 0n,
      deadline: Date.now() + 400,
    })
    assert.equal(receipt.status, 'failed')
    assert.equal(receipt.error?.code, 'JOB_DEADLINE_EXCEEDED')
  })

  it('runs one job per slot, queues a bounded number and refuses the rest with JOB_BUSY', async () => {
    const start = (id: string) =>
      client.jobs.request(provider.peerId, { requestId: id, step: { capability: 'tool:slow' }, maxPrice: 0n })
    const runs = slow.state.runs
    const first = start('busy-0001')
    await waitFor(
      'the first job to run',
      () => slow.state.runs === runs + 1 && slow.state.waiters.length === 1,
    )
    const second = start('busy-0002')
    await waitFor('the second job to queue', () => provider.jobs.provider.stats().waiting === 1)
    await assert.rejects(start('busy-0003'), (err) => hasCode(err, 'JOB_BUSY'))
    slow.state.finish()
    assert.equal((await first).receipt.status, 'ok')
    await waitFor('the second job to run', () => slow.state.waiters.length === 1)
    slow.state.finish()
    const done = await second
    assert.equal(done.receipt.status, 'ok')
    assert.equal(Buffer.from(done.output).toString(), 'part0 done')
    assert.equal(done.receipt.charged, '0')
  })

  it('drops malformed and oversized frames without harming the node', async () => {
    const rejected = provider.gate.stats().rejected
    const garbage = await client.libp2p.dialProtocol(provider.libp2p.peerId, JOB_PROTOCOL)
    const lp = lpStream(garbage)
    await lp.write(new TextEncoder().encode('not an envelope'))
    await assert.rejects(lp.read({ signal: AbortSignal.timeout(5_000) }))

    const big = await client.libp2p.dialProtocol(provider.libp2p.peerId, JOB_PROTOCOL)
    await lpStream(big).write(new Uint8Array(provider.gate.maxBytes + 1))
    await assert.rejects(lpStream(big).read({ signal: AbortSignal.timeout(5_000) }))

    // A valid envelope of the wrong type is refused too.
    const wrong = await client.libp2p.dialProtocol(provider.libp2p.peerId, JOB_PROTOCOL)
    const types = client.registry
    assert.ok(types.schema('job-cancel', 1))
    await lpStream(wrong).write(
      await sealEnvelope(
        client.identity.nodeKey,
        { type: 'job-cancel', version: 1 },
        { requestId: 'wrong-0001' },
      ),
    )
    await assert.rejects(lpStream(wrong).read({ signal: AbortSignal.timeout(5_000) }))

    await waitFor('three rejections', () => provider.gate.stats().rejected >= rejected + 3)
    const { receipt } = await client.jobs.request(provider.peerId, {
      step: { capability: 'model:echo' },
      inputs: [{ text: 'still here' }],
      maxPrice: 0n,
    })
    assert.equal(receipt.status, 'ok')
  })
})

describe('job receipts survive a provider restart', () => {
  it('a retry after the restart gets the stored receipt without running again', async () => {
    const offers = [{ capability: 'model:echo', price: '0' }]
    let provider = await startTestNode({ config: { offers }, datastore: 'fs' })
    const dataDir = provider.dataDir
    const echo = echoBackend()
    provider.jobs.registerBackend('model:echo', echo)
    const client = await startTestNode({ config: { bootstrap: [bootstrapAddr(provider)] } })
    try {
      const request = {
        requestId: 'durable-0001',
        step: { capability: 'model:echo' },
        inputs: [{ text: 'kept' }],
        maxPrice: 0n,
      }
      const first = await collectJob(client.jobs.run(provider.peerId, request))
      await provider.stop()
      provider = await startTestNode({ config: { offers }, dataDir, datastore: 'fs' })
      const again = echoBackend()
      provider.jobs.registerBackend('model:echo', again)
      await client.libp2p.dial(provider.libp2p.getMultiaddrs())
      const second = await collectJob(client.jobs.run(provider.peerId, request))
      assert.equal(again.runs, 0)
      assert.deepEqual(second.receipt, first.receipt)
    } finally {
      await stopAll([provider, client])
    }
  })
})
