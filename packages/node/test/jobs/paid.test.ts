import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { multiaddr } from '@multiformats/multiaddr'
import { type Devnet, FTNS, startDevnet } from '@prsm/contracts'
import { hasCode } from '@prsm/core'
import type { PrsmNode } from '../../src/index.ts'
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
  const startProvider = async (dataDir?: string): Promise<PrsmNode> => {
    const node = await startTestNode({
      ...(dataDir === undefined ? {} : { dataDir }),
      config: {
        chain,
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

  it('pays with a voucher for the max price accepted before work; a retry neither runs nor pays again', async () => {
    const opened = await client.payments.openChannel({
      to: provider.peerId,
      deposit: 10n * FTNS,
      expirySeconds: 86_400,
    })
    const request = {
      requestId: 'paid-0001',
      step: { capability: 'model:paid' },
      inputs: [{ text: 'one two three' }],
      maxPrice: FTNS,
    }
    const first = await client.jobs.request(provider.peerId, request)
    assert.equal(first.receipt.status, 'ok')
    assert.equal(first.receipt.paid, FTNS.toString())
    // 0.001 FTNS per token, 3 tokens in and 3 out
    assert.equal(first.receipt.charged, ((6n * FTNS) / 1000n).toString())
    const signed = () =>
      client.ledger.payer.channels().find((c) => c.channel === opened.channel)?.cumulativeAmount
    assert.equal(signed(), FTNS)

    const runs = echo.runs
    const again = await client.jobs.request(provider.peerId, request)
    assert.deepEqual(again.receipt, first.receipt)
    assert.equal(echo.runs, runs, 'not run again')
    assert.equal(signed(), FTNS, 'no second voucher signed')

    // A max price over the channel's deposit is refused with the ledger's code, before any work.
    await assert.rejects(
      client.jobs.request(provider.peerId, { ...request, requestId: 'paid-0002', maxPrice: 100n * FTNS }),
      (err) => hasCode(err, 'CHANNEL_INSUFFICIENT_FUNDS') || hasCode(err, 'VOUCHER_OVER_DEPOSIT'),
    )
    assert.equal(echo.runs, runs)

    // What the first job reserved and was not charged is the client's credit, on both sides.
    const credit = FTNS - (6n * FTNS) / 1000n
    assert.equal(first.receipt.credit, credit.toString())
    assert.equal(client.jobs.credit(opened.channel), credit)
    assert.equal(provider.jobs.provider.credit(client.peerId, opened.channel), credit)

    // A refused job's voucher is not lost: the next job's voucher reuses its amount. The credit
    // pays first, so the voucher adds only what it does not cover (0.006 FTNS).
    await assert.rejects(
      client.jobs.request(provider.peerId, {
        ...request,
        requestId: 'paid-0003',
        step: { capability: 'model:unbacked' },
      }),
      (err) => hasCode(err, 'JOB_NO_BACKEND'),
    )
    assert.equal(signed(), FTNS + (6n * FTNS) / 1000n)
    const next = await client.jobs.request(provider.peerId, { ...request, requestId: 'paid-0004' })
    assert.equal(next.receipt.status, 'ok')
    assert.equal(next.receipt.paid, ((6n * FTNS) / 1000n).toString(), 'the voucher added only the shortfall')
    assert.equal(signed(), FTNS + (6n * FTNS) / 1000n, 'the refused voucher was delivered again')

    // A job the credit covers entirely is paid without any voucher.
    const cheap = { ...request, maxPrice: FTNS / 10n }
    const covered = await client.jobs.request(provider.peerId, { ...cheap, requestId: 'paid-0005' })
    assert.equal(covered.receipt.status, 'ok')
    assert.equal(covered.receipt.paid, '0')
    assert.equal(signed(), FTNS + (6n * FTNS) / 1000n, 'no new voucher')

    // Paid jobs started together on one channel are admitted in order: every one is accepted.
    const together = await Promise.all(
      [6, 7, 8].map((i) => client.jobs.request(provider.peerId, { ...request, requestId: `paid-000${i}` })),
    )
    for (const r of together) assert.equal(r.receipt.status, 'ok')

    // The honest total: everything the client signed is what its jobs were charged plus a credit
    // both sides agree on (spent by its next jobs) — never more.
    const receipts = [first, next, covered, ...together].map((r) => r.receipt)
    const charged = receipts.reduce((n, r) => n + BigInt(r.charged), 0n)
    const left = provider.jobs.provider.credit(client.peerId, opened.channel)
    assert.equal(client.jobs.credit(opened.channel), left)
    assert.equal(signed(), charged + left)
    assert.ok(left < 3n * FTNS, 'the credit is at most what the jobs in flight together reserved')
  })

  it('a paid job whose backend fails mid-stream is charged only for the tokens delivered', async () => {
    const channel = client.ledger.payer.channels()[0]?.channel
    assert.ok(channel)
    const before = client.jobs.credit(channel)
    assert.ok(before >= FTNS / 10n, 'the credit left by the first test covers this max price')
    const job = client.jobs.request(provider.peerId, {
      requestId: 'paid-flaky-1',
      step: { capability: 'model:flaky' },
      inputs: [{ text: 'hello' }],
      maxPrice: FTNS / 10n,
    })
    await flaky.state.started
    flaky.state.fail()
    const { receipt, output } = await job
    assert.equal(receipt.status, 'failed')
    assert.equal(receipt.error?.code, 'JOB_BACKEND_FAILED')
    assert.equal(Buffer.from(output).toString(), 'part0 part1 ')
    // o200k tokens: prompt 'hello' 1; delivered 'part0 ' 3 + 'part1 ' 3 → 7 × 0.001 FTNS
    assert.deepEqual([receipt.usage.tokensIn, receipt.usage.tokensOut], [1, 6])
    assert.equal(receipt.charged, ((7n * FTNS) / 1000n).toString())
    // the unused rest of the max price is credit again, on both sides
    assert.equal(client.jobs.credit(channel), before - (7n * FTNS) / 1000n)
    assert.equal(provider.jobs.provider.credit(client.peerId, channel), client.jobs.credit(channel))
  })

  it('a client that reckons more credit than the provider has is refused once, then pays in full', async () => {
    const channel = client.ledger.payer.channels()[0]?.channel
    assert.ok(channel)
    const credit = client.jobs.credit(channel)
    assert.ok(credit >= FTNS / 10n, 'the client has credit from the first test')
    // The provider loses its job journal (credits included) across a restart.
    const dataDir = provider.dataDir
    await provider.stop()
    rmSync(join(dataDir, 'jobs.db'), { force: true })
    rmSync(join(dataDir, 'jobs.db-wal'), { force: true })
    rmSync(join(dataDir, 'jobs.db-shm'), { force: true })
    provider = await startProvider(dataDir)
    assert.equal(provider.jobs.provider.credit(client.peerId, channel), 0n)
    await client.libp2p.dial(multiaddr(bootstrapAddr(provider)))
    const request = { step: { capability: 'model:paid' }, inputs: [{ text: 'again' }], maxPrice: FTNS / 10n }
    await assert.rejects(
      client.jobs.request(provider.peerId, { ...request, requestId: 'paid-lost-1' }),
      (err) => hasCode(err, 'JOB_PAYMENT_REQUIRED'),
    )
    assert.equal(client.jobs.credit(channel), 0n, 'the client dropped its figure')
    const paid = await client.jobs.request(provider.peerId, { ...request, requestId: 'paid-lost-2' })
    assert.equal(paid.receipt.status, 'ok')
    assert.equal(paid.receipt.paid, (FTNS / 10n).toString(), 'paid in full by voucher')
    assert.equal(client.jobs.credit(channel), provider.jobs.provider.credit(client.peerId, channel))
  })
})
