import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { type Devnet, startDevnet } from '@prsm/contracts'
import type { PrsmNode } from '../../src/index.ts'
import { lineageApprovalKey } from '../../src/safety/lineage.ts'
import { devnetVoter } from '../governance/helpers.ts'
import { bootstrapAddr, startTestNode, stopAll, waitFor } from '../helpers.ts'
import { echoBackend } from '../jobs/helpers.ts'

const CAP = 'model:child-7b'

async function addJson(node: PrsmNode, value: unknown): Promise<string> {
  const bytes = new TextEncoder().encode(JSON.stringify(value))
  return (
    await node.storage.add(
      (async function* () {
        yield bytes
      })(),
    )
  ).cid
}

describe('lineage safeguards with governance approval (devnet)', () => {
  let dir: string
  let devnet: Devnet
  let provider: PrsmNode
  let client: PrsmNode
  let parentCid: string
  let childCid: string
  let calmCid: string

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'prsm-lineage-'))
    devnet = await startDevnet({ dir })
    const chain = {
      deployment: devnet.deploymentFile as string,
      parameterPollMs: 100,
      reconcileIntervalMs: 60_000,
    }
    provider = await startTestNode({
      config: { chain, offers: [{ capability: CAP, price: '0' }], lineage: { caps: { 'bio-uplift': 0.5 } } },
    })
    client = await startTestNode({ config: { chain, bootstrap: [bootstrapAddr(provider)] } })
    provider.jobs.registerBackend(CAP, echoBackend())
    const publish = async (name: string, version: string, metrics: unknown, parents: string[] = []) => {
      const evaluation = await addJson(provider, { format: 'prsm-eval/1', metrics })
      const stored = await provider.manifests.publish({
        kind: 'model',
        name,
        version,
        files: [{ path: 'eval.json', cid: evaluation }],
        parents,
        evaluation,
      })
      return stored.cid
    }
    parentCid = await publish('base', '1.0.0', { reasoning: { mmlu: 0.6 }, coding: { humaneval: 0.4 } })
    // +30 % on mmlu: over the 10 % devnet bound.
    childCid = await publish('child', '1.0.0', { reasoning: { mmlu: 0.78 }, coding: { humaneval: 0.41 } }, [
      parentCid,
    ])
    // +5 %: within the bound.
    calmCid = await publish('calm', '1.0.0', { reasoning: { mmlu: 0.63 } }, [parentCid])
  })

  after(async () => {
    await stopAll([provider, client].filter(Boolean))
    await devnet?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  it('judges versions against their parents and caps', async () => {
    assert.equal((await provider.lineage.check(parentCid)).status, 'root')
    assert.equal((await provider.lineage.check(calmCid)).status, 'within-bound')
    const child = await provider.lineage.check(childCid)
    assert.equal(child.status, 'approval-required')
    assert.equal(child.maxCapabilityJumpBps, 1_000)
    assert.deepEqual(
      child.jumps.map((j) => [j.capability, j.metric, j.jumpBps]),
      [['reasoning', 'mmlu', 3_000]],
    )
    const capped = await addJson(provider, {
      format: 'prsm-eval/1',
      metrics: { safety: { 'bio-uplift': 0.7 } },
    })
    const root = await provider.manifests.publish({
      kind: 'model',
      name: 'capped',
      version: '1.0.0',
      files: [{ path: 'eval.json', cid: capped }],
      evaluation: capped,
    })
    const v = await provider.lineage.check(root.cid)
    assert.equal(v.status, 'approval-required', 'a root version at an absolute cap needs approval too')
    assert.equal(v.capped[0]?.metric, 'bio-uplift')
    // A version with a parent and no evaluation report is refused.
    const noEval = await provider.manifests.publish({
      kind: 'model',
      name: 'no-eval',
      version: '1.0.0',
      files: [{ path: 'eval.json', cid: capped }],
      parents: [parentCid],
    })
    await assert.rejects(
      provider.lineage.check(noEval.cid),
      (e: { code?: string }) => e.code === 'LINEAGE_EVALUATION_MISSING',
    )
  })

  it('a version over the bound is refused, then served once its approval proposal executes', async () => {
    provider.lineage.setModel(CAP, childCid)
    const run = () =>
      client.jobs.request(provider.peerId, {
        step: { capability: CAP },
        inputs: [{ text: 'hello there' }],
        maxPrice: 0n,
      })
    await assert.rejects(run(), (e: { code?: string }) => e.code === 'LINEAGE_APPROVAL_REQUIRED')

    // The faucet holds enough FTNS to pass quorum; it delegates to itself and votes.
    const { travel, voteFor } = await devnetVoter(devnet.deployment)

    const { id } = await provider.governance.propose({
      approveManifests: [childCid],
      description: `Approve ${childCid} (mmlu +30 %)`,
    })
    const listed = await provider.governance.show(id)
    assert.equal(listed.state, 'Pending')
    assert.deepEqual(listed.changes, [
      { key: lineageApprovalKey(childCid), name: `lineageApproval:${childCid}`, value: '1' },
    ])
    await travel(2)
    await voteFor(id)
    await provider.governance.vote(id, 'for')
    const active = await provider.governance.show(id)
    assert.equal(active.state, 'Active')
    assert.ok(BigInt(active.votes.for) > 0n)
    await travel(121)
    assert.equal((await provider.governance.execute(id)).state, 'Queued')
    await assert.rejects(
      provider.governance.execute(id),
      (e: { code?: string }) => e.code === 'PROPOSAL_INVALID',
    )
    await travel(61)
    assert.equal((await provider.governance.execute(id)).state, 'Executed')
    assert.equal((await client.governance.list())[0]?.state, 'Executed')

    // The node sees the executed change through its parameter watcher and serves the version.
    await waitFor(
      'approval applied',
      async () => (await provider.lineage.check(childCid)).status === 'approved',
    )
    const { receipt } = await run()
    assert.equal(receipt.status, 'ok')
    // Everything was audited: the refusal, the proposal, the vote, the applied change, the service.
    const types = provider.audit.query({}).map((e) => `${e.category}/${e.type}`)
    for (const t of [
      'compliance/lineage.refused',
      'governance/proposal.created',
      'governance/proposal.vote',
      'governance/proposal.executed',
      'governance/parameter.applied',
      'compliance/lineage.served',
    ]) {
      assert.ok(types.includes(t), `audit has ${t}: ${types.join(', ')}`)
    }
    const applied = provider.audit.query({ category: 'governance', type: 'parameter.applied' })
    assert.equal(applied[0]?.subject, `lineageApproval:${childCid}`)
    assert.equal((await provider.audit.verify()).ok, true)
  })

  it('bad proposals are refused with PROPOSAL_INVALID', async () => {
    const invalid = (e: { code?: string }) => e.code === 'PROPOSAL_INVALID'
    await assert.rejects(
      provider.governance.propose({ parameters: { nope: '1' }, description: 'x' }),
      invalid,
    )
    await assert.rejects(provider.governance.propose({ description: 'nothing' }), invalid)
    await assert.rejects(provider.governance.show('999'), invalid)
    await assert.rejects(provider.governance.vote('999', 'for'), invalid)
  })
})
