import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import {
  type Devnet,
  devnetFaucetVoter,
  parameterProposal,
  passProposalOnDevnet,
  startDevnet,
} from '@prsm/contracts'
import type { PrsmNode } from '../../src/index.ts'
import { encodePolicy, parsePolicy, policyCid, policyParameter } from '../../src/safety/policy.ts'
import { bootstrapAddr, startTestNode, stopAll, waitFor } from '../helpers.ts'

describe('safety policy and breaker thresholds from governance (devnet)', () => {
  let dir: string
  let devnet: Devnet
  const nodes: PrsmNode[] = []
  let author: PrsmNode
  let follower: PrsmNode

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'prsm-safety-gov-'))
    devnet = await startDevnet({ dir })
    const chain = {
      deployment: devnet.deploymentFile as string,
      parameterPollMs: 100,
      reconcileIntervalMs: 60_000,
    }
    author = await startTestNode({ config: { chain } })
    nodes.push(author)
    follower = await startTestNode({ config: { chain, bootstrap: [bootstrapAddr(author)] } })
    nodes.push(follower)
    await waitFor('peers', () => follower.libp2p.getPeers().length > 0)
  })
  after(async () => {
    await stopAll(nodes)
    await devnet?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  it('an executed proposal naming a policy document by digest is fetched from the network and applied live', async () => {
    assert.equal(follower.safety.status().policy.source, 'default')
    assert.equal(follower.safety.assessTier1('Mail jane.doe@mail.co.uk please').blocked, false)

    // The author stores the policy as a raw block; the follower has never seen it.
    const policy = parsePolicy(
      JSON.stringify({
        version: 1,
        name: 'no-personal-data',
        categories: {
          pii: { action: 'block', failMode: 'closed' },
          injection: { action: 'block', failMode: 'closed' },
        },
      }),
    )
    const bytes = encodePolicy(policy)
    const cid = await policyCid(bytes)
    await author.storage.putBlock(cid, bytes)

    const deployment = devnet.deployment
    const voter = await devnetFaucetVoter(deployment)
    await passProposalOnDevnet(
      voter,
      deployment,
      parameterProposal(
        deployment,
        { safetyPolicy: policyParameter(bytes), breakerOpenSeconds: 7n, breakerFailureRateBps: 2_500n },
        'Stricter safety policy and breaker thresholds',
      ),
    )

    await waitFor(
      'the follower applies the policy',
      () => follower.safety.status().policy.source === 'governance',
      20_000,
    )
    const status = follower.safety.status()
    assert.equal(status.policy.name, 'no-personal-data')
    assert.equal(status.policy.cid, cid.toString())
    assert.equal(status.thresholds.openMs, 7_000)
    assert.equal(status.thresholds.failureRateBps, 2_500)
    assert.equal(follower.safety.assessTier1('Mail jane.doe@mail.co.uk please').blocked, true)
    const gov = follower.audit.query({ category: 'governance' })
    assert.ok(
      gov.some(
        (e) => e.type === 'safety.policy.applied' && e.outcome === 'success' && e.subject === cid.toString(),
      ),
    )
    assert.ok(gov.some((e) => e.type === 'safety.thresholds.applied'))
  })
})
