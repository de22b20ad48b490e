import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { type Devnet, FTNS, startDevnet } from '@prsm/contracts'
import type { PrsmNode } from '@prsm/node'
import { devnetVoter } from '../../node/test/governance/helpers.ts'
import { startTestNode, stopAll, waitFor } from '../../node/test/helpers.ts'
import { prsm } from './prsm-runner.ts'

/** `prsm safety ARGS`, expecting success; its stdout. */
async function safety(args: string[]): Promise<string> {
  const r = await prsm(['safety', ...args])
  assert.equal(r.code, 0, `prsm safety ${args.join(' ')}: ${r.stderr}`)
  return r.stdout
}

describe('prsm gov and prsm safety halt|resume|status on a devnet', () => {
  let dir: string
  let devnet: Devnet
  let node: PrsmNode

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'prsm-gov-cli-'))
    devnet = await startDevnet({ dir })
    node = await startTestNode({
      api: true,
      config: { chain: { deployment: devnet.deploymentFile as string, parameterPollMs: 100 } },
    })
  })
  after(async () => {
    await stopAll([node].filter(Boolean))
    await devnet?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  it('propose, list, vote, execute (queue then execute), show; the node applies the change live', async () => {
    const { travel, voteFor } = await devnetVoter(devnet.deployment)
    const d = ['--data-dir', node.dataDir]

    const proposed = await prsm([
      'gov',
      'propose',
      '--set',
      'networkFeeBps=150',
      '--description',
      'Lower the fee',
      ...d,
      '--json',
    ])
    assert.equal(proposed.code, 0, proposed.stderr)
    const { id } = JSON.parse(proposed.stdout) as { id: string }
    const list = JSON.parse((await prsm(['gov', 'list', ...d, '--json'])).stdout) as {
      proposals: Array<{ id: string; state: string; changes: Array<{ name: string; value: string }> }>
    }
    assert.equal(list.proposals[0]?.id, id)
    assert.equal(list.proposals[0]?.state, 'Pending')
    assert.deepEqual(
      list.proposals[0]?.changes.map((c) => [c.name, c.value]),
      [['networkFeeBps', '150']],
    )

    await travel(2)
    await voteFor(id)
    const voted = await prsm(['gov', 'vote', id, 'for', ...d])
    assert.equal(voted.code, 0, voted.stderr)
    assert.match(voted.stdout, /voted for on/)
    await travel(121)
    assert.match((await prsm(['gov', 'execute', id, ...d])).stdout, /is Queued/)
    await travel(61)
    assert.match((await prsm(['gov', 'execute', id, ...d])).stdout, /is Executed/)
    await waitFor('fee applied live', () => node.ledger.parameters.get('networkFeeBps') === 150n)
    const shown = await prsm(['gov', 'show', id, ...d])
    assert.match(shown.stdout, /state\s+Executed/)
    assert.match(shown.stdout, /change\s+networkFeeBps = 150/)
    await waitFor('applied change audited', () =>
      node.audit.query({ type: 'parameter.applied' }).some((e) => e.subject === 'networkFeeBps'),
    )

    const unknown = await prsm(['gov', 'propose', '--set', 'bogus=1', '--description', 'x', ...d])
    assert.equal(unknown.code, 1)
    assert.match(unknown.stderr, /PROPOSAL_INVALID/)
    assert.equal((await prsm(['gov', 'vote', id, 'maybe', ...d])).code, 2)
  })

  it('a lone validator halts and resumes a model; status shows it', async () => {
    await node.ledger.wallet.stakeAdd(10_000n * FTNS, { validator: true })
    const d = ['--data-dir', node.dataDir]
    const status0 = JSON.parse(await safety(['status', ...d, '--json'])) as {
      validators: unknown[]
      quorum: number
    }
    assert.equal(status0.validators.length, 1)
    assert.equal(status0.quorum, 1)
    const halted = await safety(['halt', '--scope', 'model:bad-7b', '--reason', 'leaks secrets', ...d])
    assert.match(halted, /halt vote for model:bad-7b \(epoch 1\) signed and gossiped/)
    assert.match(halted, /quorum reached/)
    const status1 = await safety(['status', ...d])
    assert.match(status1, /model:bad-7b\s+1\s+\S+\s+1\s+leaks secrets/)
    assert.ok(node.halts.isHalted({ capability: 'model:bad-7b' }))
    await safety(['resume', '--scope', 'model:bad-7b', '--reason', 'fixed', ...d])
    assert.equal(node.halts.isHalted({ capability: 'model:bad-7b' }), undefined)
    assert.match(await safety(['status', ...d]), /halted\s+nothing/)
  })
})
