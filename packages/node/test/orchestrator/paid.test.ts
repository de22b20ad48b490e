import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { type Devnet, FTNS, startDevnet } from '@prsm/contracts'
import { hasCode } from '@prsm/core'
import type { Hex } from 'viem'
import { generatePrivateKey } from 'viem/accounts'
import { encodeManifest, type PrsmNode, signManifest } from '../../src/index.ts'
import type { ProgressEvent } from '../../src/orchestrator/scheduler.ts'
import { bootstrapAddr, startTestNode, stopAll, waitFor } from '../helpers.ts'
import { addText, MERGE_PROGRAM, SUM_PROGRAM, waitForOffers } from './helpers.ts'

const offers = [{ capability: 'compute:js', price: '0.0001', unit: 'ms' as const }]

describe('orchestrator paying providers on a devnet (four nodes)', () => {
  let dir: string
  let devnet: Devnet
  let providers: PrsmNode[] = []
  let client: PrsmNode
  let sum: string
  let merge: string
  let chain: { deployment: string; reconcileIntervalMs: number }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'prsm-orchestrator-'))
    devnet = await startDevnet({ dir })
    chain = { deployment: devnet.deploymentFile as string, reconcileIntervalMs: 600_000 }
    const first = await startTestNode({ config: { chain, offers } })
    providers = [
      first,
      ...(await Promise.all(
        [1, 2].map(() => startTestNode({ config: { chain, offers, bootstrap: [bootstrapAddr(first)] } })),
      )),
    ]
    client = await startTestNode({
      config: {
        chain,
        bootstrap: providers.map(bootstrapAddr),
        orchestrator: { channelDeposit: '3', defaultStepMaxPrice: '0.5', stepTimeoutMs: 30_000 },
      },
    })
    await waitForOffers(client, 'compute:js', providers)
    sum = await addText(client, SUM_PROGRAM)
    merge = await addText(client, MERGE_PROGRAM)
  })
  after(async () => {
    await stopAll([...providers, client].filter((n) => n !== undefined))
    await devnet?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  /** The channel the client opened to `provider`, if any. */
  const channelTo = (provider: PrsmNode): Hex | undefined =>
    client.ledger.payer.channels().find((c) => client.payments.peerOf(c.channel) === provider.peerId)?.channel
  /** Everything the client has signed to pay, all channels. */
  const signedTotal = () => client.ledger.payer.channels().reduce((n, c) => n + c.cumulativeAmount, 0n)

  it('runs a paid workflow in parallel, pays a dataset royalty at claim, and another node verifies the trace', async () => {
    // A dataset signed by its own creator (an account with no FTNS), royalty 10 %.
    const creatorKey = generatePrivateKey()
    const data = await addText(client, '10,20,30,40')
    const manifest = await signManifest(
      {
        kind: 'dataset',
        name: 'test-series',
        version: '1',
        files: [{ path: 'series.csv', cid: data, size: 11 }],
        royaltyBps: 1000,
        license: 'CC0-1.0',
        description: 'four numbers',
        parents: [],
        created: Date.now(),
      },
      creatorKey,
    )
    await client.manifests.ingest((await encodeManifest(manifest)).bytes)

    const run = await client.orchestrator.runWorkflow(
      {
        version: 1,
        query: 'sum of two shards',
        steps: [
          {
            id: 's1',
            kind: 'compute',
            capability: 'compute:js',
            program: { cid: sum },
            params: { spin: 1_000_000 },
            inputs: [{ manifest: 'test-series@1' }],
          },
          {
            id: 's2',
            kind: 'compute',
            capability: 'compute:js',
            program: { cid: sum },
            params: { spin: 1_000_000 },
            inputs: ['1,2,3'],
          },
          {
            id: 'm',
            kind: 'compute',
            capability: 'compute:js',
            program: { cid: merge },
            inputs: [{ step: 's1' }, { step: 's2' }],
          },
          { id: 'report', kind: 'compile', inputs: [{ step: 'm' }] },
        ],
      },
      { budget: 3n * FTNS },
    )
    const result = await run.result
    assert.match(result.answer, /"total": 106/)
    const step = (id: string) => result.steps.find((s) => s.step === id) as (typeof result.steps)[number]
    assert.notEqual(step('s1').provider, step('s2').provider)

    // Another node fetches the trace: the two shards overlap in time on different providers, and it verifies.
    const other = providers.find((p) => p.peerId !== step('s1').provider) as PrsmNode
    const trace = await other.orchestrator.trace(result.traceCid)
    const rec = (id: string) => trace.steps.find((s) => s.record.step === id)?.record
    const [r1, r2] = [rec('s1'), rec('s2')]
    assert.ok(r1 && r2)
    assert.notEqual(r1.provider, r2.provider)
    assert.ok(r1.startedAt < r2.finishedAt && r2.startedAt < r1.finishedAt, 'the shards overlapped')
    const verdict = await other.orchestrator.verifyTrace(result.traceCid)
    assert.equal(verdict.ok, true, JSON.stringify(verdict, null, 1))
    assert.deepEqual(
      verdict.steps.map((s) => s.reexecuted),
      ['match', 'match', 'match', 'match'].slice(0, verdict.steps.length),
    )

    // Vouchers are journalled by each paid provider; the royalty rides in s1's provider's voucher.
    const royalty = (5n * FTNS) / 100n // 10 % of the 0.5 FTNS paid for s1
    assert.deepEqual(result.cost.royalties, [{ creator: manifest.creator, amount: royalty.toString() }])
    assert.equal(BigInt(rec('s1')?.cost.royalties[0]?.amount ?? 0), royalty)
    for (const p of providers) {
      const channel = channelTo(p)
      const paidTo = result.cost.perProvider.find((x) => x.provider === p.peerId)
      if (paidTo === undefined) continue
      assert.ok(channel, 'a channel was opened automatically')
      const newest = p.ledger.journal.newest(channel)
      assert.ok(newest && newest.cumulativeAmount >= BigInt(paidTo.paid))
    }
    const s1Provider = providers.find((p) => p.peerId === step('s1').provider) as PrsmNode
    const channel = channelTo(s1Provider) as Hex
    const before = (await s1Provider.ledger.wallet.balance({ of: manifest.creator })).ftns
    const claimed = await s1Provider.ledger.reconciler.claim(channel)
    assert.equal(claimed.action, 'claimed', `${claimed.action}: ${claimed.detail}`)
    const afterClaim = (await s1Provider.ledger.wallet.balance({ of: manifest.creator })).ftns
    assert.equal(afterClaim - before, royalty, 'the dataset creator received its royalty on claim')
    assert.ok(signedTotal() <= 3n * FTNS, 'within the budget')
  })

  it('aborts with BUDGET_EXCEEDED when the budget is too small, paying nothing beyond it', async () => {
    const before = signedTotal()
    const chainStep = (id: string, maxPrice: string, from?: string) => ({
      id,
      kind: 'compute',
      capability: 'compute:js',
      program: { cid: sum },
      maxPrice,
      inputs: from === undefined ? ['5,5'] : [{ step: from }],
    })
    // a and b fit; c may cost up to 3 FTNS, more than is left of the run's budget: the smaller
    // of the workflow's (1 FTNS) and the caller's (5 FTNS).
    const run = await client.orchestrator.runWorkflow(
      {
        version: 1,
        budget: '1',
        steps: [
          chainStep('a', '0.4'),
          chainStep('b', '0.4', 'a'),
          chainStep('c', '3', 'b'),
          chainStep('d', '0.1', 'c'),
        ],
      },
      { budget: 5n * FTNS },
    )
    const events: ProgressEvent[] = []
    for await (const e of run) events.push(e)
    await assert.rejects(
      run.result,
      (e: { code?: string; details?: { step?: string } }) =>
        hasCode(e, 'BUDGET_EXCEEDED') && e.details?.step === 'c',
    )
    assert.deepEqual(
      events.filter((e) => e.type === 'step-done').map((e) => (e as { step: string }).step),
      ['a', 'b'],
    )
    assert.ok(!events.some((e) => e.type === 'step-started' && e.step === 'c'), 'c was never sent')
    assert.ok(signedTotal() - before <= FTNS, 'nothing paid beyond the budget')
  })

  it('reroutes a step whose provider is killed mid-step; the result is still correct and the prepayment is reported', async () => {
    const newest = (p: PrsmNode) => {
      const channel = channelTo(p)
      return channel === undefined ? 0n : (p.ledger.journal.newest(channel)?.cumulativeAmount ?? 0n)
    }
    const before = new Map(providers.map((p) => [p.peerId, newest(p)]))
    const run = await client.orchestrator.runWorkflow({
      version: 1,
      steps: [
        {
          id: 'long',
          kind: 'compute',
          capability: 'compute:js',
          program: { cid: sum },
          params: { spin: 6_000_000 },
          inputs: ['7,8'],
        },
      ],
    })
    let killed: PrsmNode | undefined
    let prepaid = 0n
    for await (const e of run) {
      if (e.type === 'step-started' && killed === undefined) {
        killed = providers.find((p) => p.peerId === e.provider) as PrsmNode
        // the provider took the job (and the voucher for its max price), then dies before answering
        await waitFor('the job to run', () => killed?.jobs.provider.stats().running === 1, 10_000)
        prepaid = newest(killed) - (before.get(killed.peerId) ?? 0n)
        await killed.stop()
      }
    }
    const result = await run.result
    assert.ok(killed)
    assert.match(result.answer, /"sum":15/)
    assert.notEqual(result.steps[0]?.provider, killed.peerId, 'rerouted to another provider')
    const trace = await client.orchestrator.trace(result.traceCid)
    const failures = trace.steps[0]?.record.failures ?? []
    assert.equal(failures[0]?.provider, killed.peerId)
    // Jobs are prepaid (a voucher covering the max price, less the client's credit there, is
    // accepted before work): the killed provider keeps what that voucher added, which the run
    // reports as paid to it — nothing more.
    assert.ok(prepaid <= FTNS / 2n)
    assert.equal(result.cost.perProvider.find((p) => p.provider === killed?.peerId)?.paid, prepaid.toString())
    providers = providers.filter((p) => p !== killed)
  })
})
