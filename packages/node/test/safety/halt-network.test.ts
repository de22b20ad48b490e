import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { type Devnet, FTNS, startDevnet } from '@prsm/contracts'
import { MessageRegistry, type PrsmError, sealEnvelope } from '@prsm/core'
import type { AppliedCertificate, HaltCertificate, PrsmNode } from '../../src/index.ts'
import { readRuntimeFile } from '../../src/runtime-file.ts'
import { HALT_VOTES_TOPIC, registerHaltMessages } from '../../src/safety/halt/halt-service.ts'
import { signHaltVote } from '../../src/safety/halt/quorum.ts'
import { devnetVoter } from '../governance/helpers.ts'
import { bootstrapAddr, startTestNode, stopAll, waitFor } from '../helpers.ts'
import { gatedBackend } from '../jobs/helpers.ts'

const CAP = 'model:halt-test'
const SCOPE = CAP

/** A 6-node network on a devnet; nodes 0–3 are validators, node 3 Byzantine; node 4 serves CAP. */
describe('emergency halt by validator quorum (6 nodes, 4 validators on a devnet)', () => {
  let dir: string
  let devnet: Devnet
  let nodes: PrsmNode[] = []
  let restarted: PrsmNode | undefined
  const gated = gatedBackend(1)

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'prsm-halt-'))
    devnet = await startDevnet({ dir })
    const chain = {
      deployment: devnet.deploymentFile as string,
      parameterPollMs: 200,
      reconcileIntervalMs: 60_000,
    }
    const first = await startTestNode({ config: { chain } })
    const rest = await Promise.all(
      [1, 2, 3, 4, 5].map((i) =>
        startTestNode({
          api: i === 5,
          config: {
            chain,
            bootstrap: [bootstrapAddr(first)],
            ...(i === 4 ? { offers: [{ capability: CAP, price: '0' }] } : {}),
          },
        }),
      ),
    )
    nodes = [first, ...rest]
    nodes[4]?.jobs.registerBackend(CAP, gated.backend)
    // Four validators register with the validator stake (their node keys bound to their wallets).
    await Promise.all(
      nodes.slice(0, 4).map((n) => n.ledger.wallet.stakeAdd(10_000n * FTNS, { validator: true })),
    )
    for (const n of nodes) await n.halts.refreshValidators()
    // Every node has a gossip peer on both halt topics.
    await waitFor(
      'halt gossip mesh',
      () =>
        nodes.every(
          (n) =>
            n.libp2p.services.pubsub.getSubscribers(HALT_VOTES_TOPIC).length > 0 &&
            n.libp2p.services.pubsub.getSubscribers('/prsm/halt/certificates/1').length > 0,
        ),
      20_000,
    )
  })

  after(async () => {
    await stopAll(restarted ? [...nodes.slice(0, 5), restarted] : nodes)
    await devnet?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  it('reads the validator set from the registry and computes the quorum', () => {
    for (const n of nodes) {
      const s = n.halts.status()
      assert.equal(s.validators.length, 4)
      assert.equal(s.quorum, 3)
    }
    assert.deepEqual(
      new Set(nodes[0]?.halts.status().validators.map((v) => v.peerId)),
      new Set(nodes.slice(0, 4).map((n) => n.peerId)),
    )
  })

  it('a non-validator cannot vote', async () => {
    await assert.rejects(
      (nodes[5] as PrsmNode).halts.vote({ scope: SCOPE, action: 'halt', reason: 'x' }),
      (e: { code?: string }) => e.code === 'NOT_A_VALIDATOR',
    )
  })

  let certificate: HaltCertificate
  it('Byzantine equivocation is evidence; 2 honest votes form no certificate; the 3rd forms one every node enforces within 2 s', async () => {
    const [a, b, c, byz, provider, client] = nodes as [
      PrsmNode,
      PrsmNode,
      PrsmNode,
      PrsmNode,
      PrsmNode,
      PrsmNode,
    ]
    // A job is running on the provider when the halt comes.
    const running = client.jobs.request(provider.peerId, {
      step: { capability: CAP },
      inputs: [{ text: 'x' }],
      maxPrice: 0n,
    })
    await gated.state.started

    // The Byzantine validator signs halt AND resume for epoch 1 and gossips both.
    const messages = registerHaltMessages(new MessageRegistry())
    const deployment = byz.ledger.chain.deployment
    for (const action of ['halt', 'resume'] as const) {
      const signed = await signHaltVote(byz.identity.nodeKey, {
        scope: SCOPE,
        epoch: 1,
        action,
        reason: 'byzantine',
        validator: byz.peerId,
        chainId: deployment.chainId,
        registry: deployment.addresses.providers,
        time: Date.now(),
      })
      await byz.libp2p.services.pubsub.publish(
        HALT_VOTES_TOPIC,
        await sealEnvelope(byz.identity.nodeKey, messages.HaltVote, signed),
      )
    }
    const others = nodes.filter((n) => n !== byz)
    await waitFor('evidence on every other node', () => others.every((n) => n.halts.evidence().length === 1))
    const evidence = a.halts.evidence()[0] as NonNullable<ReturnType<PrsmNode['halts']['evidence']>[0]>
    assert.equal(evidence.validator, byz.peerId)
    assert.equal(evidence.address, byz.identity.address)
    assert.deepEqual(new Set(evidence.votes.map((v) => v.vote.action)), new Set(['halt', 'resume']))

    // Two honest votes (plus the equivocator's) form no certificate.
    await a.halts.vote({ scope: SCOPE, action: 'halt', reason: 'unsafe outputs' })
    await b.halts.vote({ scope: SCOPE, action: 'halt', reason: 'unsafe outputs' })
    await waitFor('two honest votes everywhere', () =>
      others.every((n) => n.halts.status().pending.some((p) => p.scope === SCOPE && p.halt.length === 3)),
    )
    for (const n of nodes) assert.equal(n.halts.isHalted({ capability: CAP }), undefined)

    // The third honest vote completes the quorum.
    const applied = new Map<string, AppliedCertificate>()
    for (const n of nodes) n.halts.on('certificate', (x) => applied.set(n.peerId, x))
    const t0 = Date.now()
    const r = await c.halts.vote({ scope: SCOPE, action: 'halt', reason: 'unsafe outputs' })
    assert.ok(r.certificate, 'the voter forms the certificate itself')
    await waitFor('every node enforces the certificate', () => applied.size === nodes.length, 10_000)
    const latest = Math.max(...[...applied.values()].map((x) => x.appliedAt))
    console.log(
      `halt certificate enforced on all ${nodes.length} nodes within ${latest - t0} ms of the last vote`,
    )
    assert.ok(latest - t0 <= 2_000, `slowest node enforced after ${latest - t0} ms`)
    certificate = r.certificate
    assert.deepEqual(
      new Set(certificate.votes.map((v) => v.vote.validator)),
      new Set([a, b, c].map((n) => n.peerId)),
      'the equivocator is not counted',
    )
    for (const n of nodes) assert.equal(n.halts.isHalted({ capability: CAP })?.epoch, 1)

    // The running job was cancelled with HALTED; new jobs are refused with HALTED.
    const { receipt } = await running
    assert.equal(receipt.status, 'failed')
    assert.equal(receipt.error?.code, 'HALTED')
    await assert.rejects(
      client.jobs.request(provider.peerId, {
        step: { capability: CAP },
        inputs: [{ text: 'y' }],
        maxPrice: 0n,
      }),
      (e: { code?: string }) => e.code === 'HALTED',
    )
    // The API answers HALTED for a job in scope.
    const runtime = await readRuntimeFile(client.dataDir)
    const res = await fetch(`${runtime.apiUrl}/api/v1/jobs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${runtime.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ capability: CAP, provider: provider.peerId, inputs: [{ text: 'z' }] }),
    })
    assert.equal(res.status, 503)
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'HALTED')
    // The API lists the evidence.
    const ev = await fetch(`${runtime.apiUrl}/api/v1/safety/halts/evidence`, {
      headers: { authorization: `Bearer ${runtime.token}` },
    })
    const body = (await ev.json()) as { evidence: Array<{ validator: string }> }
    assert.equal(body.evidence[0]?.validator, byz.peerId)
    // The certificate as JSON (signatures in base64) re-imports as already known; a forged one is 400.
    const api = (path: string, init: RequestInit = {}) =>
      fetch(`${runtime.apiUrl}${path}`, {
        ...init,
        headers: { authorization: `Bearer ${runtime.token}`, 'content-type': 'application/json' },
      })
    const cert = (await (await api(`/api/v1/safety/halts/certificate?scope=${SCOPE}`)).json()) as {
      votes: Array<{ vote: { reason: string }; signature: string }>
    }
    assert.equal(cert.votes.length, 3)
    const again = await api('/api/v1/safety/halts/certificates', {
      method: 'POST',
      body: JSON.stringify({ certificate: cert }),
    })
    assert.deepEqual(await again.json(), { applied: false })
    for (const v of cert.votes) v.vote.reason = 'forged'
    const forged = await api('/api/v1/safety/halts/certificates', {
      method: 'POST',
      body: JSON.stringify({ certificate: { ...cert, epoch: 5 } }),
    })
    assert.equal(forged.status, 400)
    assert.equal(
      ((await forged.json()) as { error: { code: string } }).error.code,
      'HALT_CERTIFICATE_INVALID',
    )
  })

  it('a forged or under-quorum certificate is rejected', async () => {
    const n = nodes[5] as PrsmNode
    const code = (e: { code?: string }) => e.code === 'HALT_CERTIFICATE_INVALID'
    const forged = structuredClone({ ...certificate, scope: 'network', epoch: 1 })
    for (const v of forged.votes) v.vote.scope = 'network'
    await assert.rejects(n.halts.importCertificate(forged), code)
    const under = structuredClone({ ...certificate, epoch: 2, action: 'resume' as const })
    under.votes = under.votes.slice(0, 2)
    for (const v of under.votes) {
      v.vote.epoch = 2
      v.vote.action = 'resume'
    }
    await assert.rejects(n.halts.importCertificate(under), code)
    // Two genuine resume votes are still under the quorum.
    const [a, b] = nodes as [PrsmNode, PrsmNode]
    const genuine = {
      scope: SCOPE,
      epoch: 2,
      action: 'resume' as const,
      votes: [
        (await a.halts.vote({ scope: SCOPE, action: 'resume', reason: 'fixed' })).vote,
        (await b.halts.vote({ scope: SCOPE, action: 'resume', reason: 'fixed' })).vote,
      ],
    }
    await assert.rejects(n.halts.importCertificate(genuine), code)
    assert.ok(n.halts.isHalted({ capability: CAP }), 'still halted')
  })

  it('the certificate survives a restart (re-verified), then a resume quorum lifts the halt', async () => {
    const old = nodes[5] as PrsmNode
    await old.stop()
    restarted = await startTestNode({
      dataDir: old.dataDir,
      config: {
        chain: { deployment: devnet.deploymentFile as string, parameterPollMs: 200 },
        bootstrap: [bootstrapAddr(nodes[0] as PrsmNode)],
      },
    })
    assert.equal(restarted.halts.isHalted({ capability: CAP })?.epoch, 1)
    assert.equal(restarted.halts.status().halted[0]?.scope, SCOPE)
    assert.throws(
      () => restarted?.halts.assertNotHalted({ capability: CAP }),
      (e: PrsmError) => e.code === 'HALTED',
    )
    const live = [...nodes.slice(0, 5), restarted]
    await (nodes[2] as PrsmNode).halts.vote({ scope: SCOPE, action: 'resume', reason: 'fixed' })
    // Nodes that missed a vote still get the certificate through gossip.
    await waitFor(
      'resume everywhere',
      () => live.every((n) => n.halts.isHalted({ capability: CAP }) === undefined),
      20_000,
    )
    const [, , , , provider, client] = live as [PrsmNode, PrsmNode, PrsmNode, PrsmNode, PrsmNode, PrsmNode]
    const job = client.jobs.request(provider.peerId, {
      step: { capability: CAP },
      inputs: [{ text: 'x' }],
      maxPrice: 0n,
    })
    await waitFor('gated job started', () => gated.state.waiters.length > 0)
    gated.state.finish()
    assert.equal((await job).receipt.status, 'ok')
  })

  it('the equivocation evidence backs a slashing proposal that governance executes', async () => {
    const [a, , , byz] = nodes as [PrsmNode, PrsmNode, PrsmNode, PrsmNode]
    const evidence = a.halts.evidence()[0]
    assert.ok(evidence)
    const { travel, voteFor } = await devnetVoter(devnet.deployment)
    const { id } = await a.governance.propose({
      slash: { evidence: evidence.id, amount: 5_000n * FTNS },
      description: `Slash ${byz.identity.address} for equivocating on ${evidence.scope}`,
    })
    const shown = await a.governance.show(id)
    assert.deepEqual(shown.slashes, [
      { provider: byz.identity.address, amount: (5_000n * FTNS).toString(), evidence: `0x${evidence.id}` },
    ])
    await travel(2)
    await voteFor(id)
    await travel(121)
    await a.governance.execute(id)
    await travel(61)
    assert.equal((await a.governance.execute(id)).state, 'Executed')
    const stake = await byz.ledger.wallet.stakeStatus()
    assert.equal(stake.stake, 5_000n * FTNS)
    assert.equal(stake.inValidatorSet, false)
    await a.halts.refreshValidators()
    assert.equal(a.halts.status().validators.length, 3)
    await assert.rejects(
      a.governance.propose({ slash: { evidence: '00'.repeat(32), amount: 1n }, description: 'x' }),
      (e: { code?: string }) => e.code === 'PROPOSAL_INVALID',
    )
  })

  it('a provider scope halts everything that provider serves, on every node', async () => {
    const [a, b, c, , provider] = nodes as [PrsmNode, PrsmNode, PrsmNode, PrsmNode, PrsmNode]
    const client = restarted as PrsmNode
    const scope = `provider:${provider.peerId}`
    for (const v of [a, b, c]) await v.halts.vote({ scope, action: 'halt', reason: 'tampered weights' })
    const live = [...nodes.slice(0, 5), client]
    await waitFor('provider halted everywhere', () =>
      live.every(
        (n) => n.halts.isHalted({ provider: provider.peerId, capability: 'model:anything' })?.scope === scope,
      ),
    )
    assert.equal(client.halts.isHalted({ provider: a.peerId }), undefined, 'other providers are not halted')
    await assert.rejects(
      client.jobs.request(provider.peerId, {
        step: { capability: CAP },
        inputs: [{ text: 'x' }],
        maxPrice: 0n,
      }),
      (e: { code?: string }) => e.code === 'HALTED',
    )
  })
})
