import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { multiaddr } from '@multiformats/multiaddr'
import { type Devnet, FTNS, startDevnet } from '@prsm/contracts'
import { hasCode } from '@prsm/core'
import type { Hex } from 'viem'
import type { PrsmNode } from '../../src/index.ts'
import type { JobEvent } from '../../src/jobs/job-client.ts'
import type { JobReceipt } from '../../src/jobs/messages.ts'
import { bootstrapAddr, startTestNode, stopAll, waitFor } from '../helpers.ts'
import { echoBackend, gatedBackend } from './helpers.ts'

describe('paid jobs (two nodes on a devnet)', () => {
  let dir: string
  let devnet: Devnet
  let provider: PrsmNode
  let client: PrsmNode
  const echo = echoBackend()
  const flaky = gatedBackend(2)
  let chain: { deployment: string; reconcileIntervalMs: number }
  const startProvider = async (dataDir?: string, paymentGraceMs?: number): Promise<PrsmNode> => {
    const node = await startTestNode({
      ...(dataDir === undefined ? {} : { dataDir }),
      config: {
        chain,
        ...(paymentGraceMs === undefined ? {} : { jobs: { paymentGraceMs } }),
        offers: [
          { capability: 'model:paid', price: '0.001', unit: 'token' },
          { capability: 'model:unbacked', price: '0.001', unit: 'token' },
          { capability: 'model:flaky', price: '0.001', unit: 'token' },
        ],
      },
    })
    node.jobs.registerBackend('model:paid', echo)
    node.jobs.registerBackend('model:flaky', flaky.backend)
    return node
  }
  /** What the client has signed on its channel to the provider, and what the provider journalled. */
  const signed = (channel: Hex) =>
    client.ledger.payer.channels().find((c) => c.channel === channel)?.cumulativeAmount ?? 0n
  const journalled = (channel: Hex) =>
    provider.ledger.journal.newest(channel.toLowerCase() as Hex)?.cumulativeAmount ?? 0n
  const milli = (n: bigint) => (n * FTNS) / 1000n

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'prsm-paid-jobs-'))
    devnet = await startDevnet({ dir })
    chain = { deployment: devnet.deploymentFile as string, reconcileIntervalMs: 60_000 }
    provider = await startProvider()
    client = await startTestNode({ config: { chain, bootstrap: [bootstrapAddr(provider)] } })
    await waitFor('the client to connect', () => client.libp2p.getPeers().length > 0)
  })
  after(async () => {
    await stopAll([provider, client].filter((n) => n !== undefined))
    await devnet?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  it('pays after delivery exactly what the receipt charged; a retry neither runs nor pays again', async () => {
    const opened = await client.payments.openChannel({
      to: provider.peerId,
      deposit: 10n * FTNS,
      expirySeconds: 86_400,
    })
    const channel = opened.channel
    const request = {
      requestId: 'paid-0001',
      step: { capability: 'model:paid' },
      inputs: [{ text: 'one two three' }],
      maxPrice: FTNS,
    }
    const events: JobEvent[] = []
    for await (const e of client.jobs.run(provider.peerId, request)) events.push(e)
    const receipt = events.find((e) => e.type === 'receipt')?.receipt
    assert.equal(receipt?.status, 'ok')
    // 0.001 FTNS per token, 3 tokens in and 3 out
    assert.equal(receipt?.charged, milli(6n).toString())
    const payment = events.at(-1)
    assert.equal(payment?.type, 'payment')
    assert.equal(payment.type === 'payment' && payment.acknowledged, true)
    assert.equal(payment.type === 'payment' && payment.amount, milli(6n).toString())
    assert.equal(signed(channel), milli(6n), 'the voucher adds the charge, not the max price')
    assert.equal(journalled(channel), milli(6n), 'journalled by the provider before its ack')
    assert.equal(provider.jobs.provider.unpaid(channel), 0n)

    const runs = echo.runs
    const again = await client.jobs.request(provider.peerId, request)
    assert.deepEqual(again.receipt, receipt)
    assert.equal(echo.runs, runs, 'not run again')
    assert.equal(signed(channel), milli(6n), 'no second voucher signed')

    // A max price over the channel's unspent escrow is refused before any work, nothing signed.
    await assert.rejects(
      client.jobs.request(provider.peerId, { ...request, requestId: 'paid-0002', maxPrice: 100n * FTNS }),
      (err) => hasCode(err, 'JOB_PAYMENT_REQUIRED'),
    )
    // A refusal costs nothing either.
    await assert.rejects(
      client.jobs.request(provider.peerId, {
        ...request,
        requestId: 'paid-0003',
        step: { capability: 'model:unbacked' },
      }),
      (err) => hasCode(err, 'JOB_NO_BACKEND'),
    )
    assert.equal(echo.runs, runs)
    assert.equal(signed(channel), milli(6n))

    // Priced jobs started together on one channel: each is paid its own charge, in order.
    const together = await Promise.all(
      [4, 5, 6].map((i) => client.jobs.request(provider.peerId, { ...request, requestId: `paid-000${i}` })),
    )
    for (const r of together) assert.equal(r.receipt.status, 'ok')
    const charged = [receipt, ...together.map((r) => r.receipt)].reduce(
      (n, r) => n + BigInt(r?.charged ?? 'x'),
      0n,
    )
    assert.equal(charged, milli(24n))
    assert.equal(signed(channel), charged, 'everything signed is what the jobs charged')
    assert.equal(journalled(channel), charged)
    assert.equal(provider.jobs.provider.unpaid(channel), 0n)
  })

  it('a paid job whose backend fails mid-stream is paid only for the tokens delivered', async () => {
    const channel = client.ledger.payer.channels()[0]?.channel
    assert.ok(channel)
    const before = signed(channel)
    const job = client.jobs.request(provider.peerId, {
      requestId: 'paid-flaky-1',
      step: { capability: 'model:flaky' },
      inputs: [{ text: 'hello' }],
      maxPrice: FTNS / 10n,
    })
    await flaky.state.started
    // While it runs its max price is reserved against the channel's escrow: a job whose max price
    // would not fit beside it is refused before any work; one that fits runs.
    const unspent = 10n * FTNS - journalled(channel)
    const paidJob = { step: { capability: 'model:paid' }, inputs: [{ text: 'fits' }] }
    const runs = echo.runs
    await assert.rejects(
      client.jobs.request(provider.peerId, {
        ...paidJob,
        requestId: 'paid-over-1',
        maxPrice: unspent - FTNS / 10n + 1n,
      }),
      (err) => hasCode(err, 'JOB_PAYMENT_REQUIRED'),
    )
    assert.equal(echo.runs, runs)
    const fits = await client.jobs.request(provider.peerId, {
      ...paidJob,
      requestId: 'paid-fits-1',
      maxPrice: unspent - FTNS / 10n,
    })
    assert.equal(fits.receipt.status, 'ok')
    flaky.state.fail()
    const { receipt, output } = await job
    assert.equal(receipt.status, 'failed')
    assert.equal(receipt.error?.code, 'JOB_BACKEND_FAILED')
    assert.equal(Buffer.from(output).toString(), 'part0 part1 ')
    // o200k tokens: prompt 'hello' 1; delivered 'part0 ' 3 + 'part1 ' 3 → 7 × 0.001 FTNS
    assert.deepEqual([receipt.usage.tokensIn, receipt.usage.tokensOut], [1, 6])
    assert.equal(receipt.charged, milli(7n).toString())
    assert.equal(
      signed(channel) - before - BigInt(fits.receipt.charged),
      milli(7n),
      'the voucher added the delivered tokens only',
    )
    assert.equal(journalled(channel), signed(channel))
  })

  it('an unpaid receipt survives a restart, blocks new work past the grace period, and is paid once by a retry', async () => {
    const channel = client.ledger.payer.channels()[0]?.channel
    assert.ok(channel)
    const before = signed(channel)
    const request = { step: { capability: 'model:paid' }, inputs: [{ text: 'again' }], maxPrice: FTNS / 10n }
    // The consumer stops at the receipt: the stream is dropped and nothing is paid.
    let receipt: JobReceipt | undefined
    for await (const e of client.jobs.run(provider.peerId, { ...request, requestId: 'unpaid-01' })) {
      if (e.type === 'receipt') {
        receipt = e.receipt
        break
      }
    }
    const charged = BigInt(receipt?.charged ?? 'x')
    assert.ok(charged > 0n)
    assert.equal(signed(channel), before, 'no voucher signed')
    await waitFor(
      'the provider to record the charge',
      () => provider.jobs.provider.unpaid(channel) === charged,
    )

    // The provider restarts with no grace: the charge is still there and refuses new work.
    const dataDir = provider.dataDir
    await provider.stop()
    provider = await startProvider(dataDir, 0)
    assert.equal(provider.jobs.provider.unpaid(channel), charged, 'kept in jobs.db')
    await client.libp2p.dial(multiaddr(bootstrapAddr(provider)))
    await assert.rejects(
      client.jobs.request(provider.peerId, { ...request, requestId: 'unpaid-02' }),
      (err) => hasCode(err, 'JOB_PAYMENT_REQUIRED') && /unpaid-01 is unpaid/.test((err as Error).message),
    )
    // The retry replays the receipt and pays it, once.
    const runs = echo.runs
    const retried = await client.jobs.request(provider.peerId, { ...request, requestId: 'unpaid-01' })
    assert.deepEqual(retried.receipt, receipt)
    assert.equal(echo.runs, runs)
    assert.equal(signed(channel) - before, charged)
    assert.equal(journalled(channel), signed(channel))
    assert.equal(provider.jobs.provider.unpaid(channel), 0n)
    await client.jobs.request(provider.peerId, { ...request, requestId: 'unpaid-01' })
    assert.equal(signed(channel) - before, charged, 'a paid receipt is replayed without a voucher')
    // Paid up: new work is admitted again.
    const next = await client.jobs.request(provider.peerId, { ...request, requestId: 'unpaid-03' })
    assert.equal(next.receipt.status, 'ok')
    assert.equal(signed(channel) - before, charged + BigInt(next.receipt.charged))
  })
})
