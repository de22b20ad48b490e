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
    // Paid after delivery: s1 paid what its receipt charged (not its max price), and the 10 %
    // royalty is taken on that.
    const s1Cost = rec('s1')?.cost
    assert.ok(s1Cost && BigInt(s1Cost.charged) > 0n)
    assert.equal(s1Cost.paid, s1Cost.charged)
    const royalty = BigInt(s1Cost.paid) / 10n
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

  it('reroutes a step whose provider is killed mid-step; the result is still correct and the killed provider is not paid', async () => {
    const newest = (p: PrsmNode) => {
      const channel = channelTo(p)
      return channel === undefined ? 0n : (p.ledger.journal.newest(channel)?.cumulativeAmount ?? 0n)
    }
    /** What the client has signed on its channel to a provider (what that provider could claim). */
    const signedTo = (p: PrsmNode) => {
      const channel = channelTo(p)
      return channel === undefined
        ? 0n
        : (client.ledger.payer.channels().find((c) => c.channel === channel)?.cumulativeAmount ?? 0n)
    }
    const journalledBefore = new Map(providers.map((p) => [p.peerId, newest(p)]))
    const signedBefore = new Map(providers.map((p) => [p.peerId, signedTo(p)]))
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
    let atKill = 0n
    for await (const e of run) {
      if (e.type === 'step-started' && killed === undefined) {
        killed = providers.find((p) => p.peerId === e.provider) as PrsmNode
        // the provider took the job (admitted against the channel's escrow, no voucher), then dies
        await waitFor('the job to run', () => killed?.jobs.provider.stats().running === 1, 10_000)
        atKill = newest(killed) - (journalledBefore.get(killed.peerId) ?? 0n)
        await killed.stop()
      }
    }
    const result = await run.result
    assert.ok(killed)
    assert.match(result.answer, /"sum":15/)
    const winner = providers.find((p) => p.peerId === result.steps[0]?.provider)
    assert.ok(winner && winner !== killed, 'rerouted to another provider')
    const trace = await client.orchestrator.trace(result.traceCid)
    const failures = trace.steps[0]?.record.failures ?? []
    assert.equal(failures[0]?.provider, killed.peerId)
    // Paid after delivery: the killed provider received no voucher for the step (nothing it
    // journalled while it ran, nothing signed to it since), and the run reports nothing paid to it.
    assert.equal(atKill, 0n, 'no voucher reached the killed provider')
    assert.equal(signedTo(killed), signedBefore.get(killed.peerId), 'nothing signed to the killed provider')
    assert.equal(
      result.cost.perProvider.find((p) => p.provider === killed?.peerId),
      undefined,
    )
    // The rerouted provider got exactly its charge, journalled on its side.
    const cost = trace.steps[0]?.record.cost
    const charged = BigInt(cost?.charged ?? 'x')
    assert.ok(charged > 0n)
    assert.equal(cost?.paid, cost?.charged, 'the step paid what its receipt charged')
    const royalties = result.cost.royalties.reduce((n, r) => n + BigInt(r.amount), 0n)
    const paidWinner = signedTo(winner) - (signedBefore.get(winner.peerId) ?? 0n)
    assert.equal(paidWinner, charged + royalties, 'the winner got exactly its charge (and royalties)')
    assert.equal(newest(winner), signedTo(winner))
    providers = providers.filter((p) => p !== killed)
  })
})
