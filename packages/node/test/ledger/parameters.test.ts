import assert from 'node:assert/strict'
import { after, before, it } from 'node:test'
import { devnetFaucetVoter, parameterProposal, passProposalOnDevnet } from '@prsm/contracts'
import { createLedgerChain } from '../../src/ledger/chain.ts'
import { createParameterWatcher, type ParameterChange } from '../../src/ledger/parameters.ts'
import { type LedgerFixture, setupLedgerChain } from './helpers.ts'

let f: LedgerFixture
before(async () => {
  f = await setupLedgerChain()
})
after(() => f?.stop())

it('a running node sees a parameter changed by governance without restart', async () => {
  const chain = createLedgerChain({ deployment: f.deployment, privateKey: f.key(2), pollingIntervalMs: 50 })
  const watcher = createParameterWatcher({ chain }, { pollIntervalMs: 50 })
  await watcher.start()
  try {
    assert.equal(watcher.get('networkFeeBps'), 200n)
    assert.equal(watcher.get('royaltyCapBps'), 2_000n)
    const seen = new Promise<ParameterChange[]>((resolve) => {
      const off = watcher.onChange((changes) => {
        off()
        resolve(changes)
      })
    })

    const voter = await devnetFaucetVoter(f.deployment)
    const proposal = parameterProposal(
      f.deployment,
      { networkFeeBps: 125n, breakerOpenSeconds: 90n },
      'Tune fee and breaker',
    )
    await passProposalOnDevnet(voter, f.deployment, proposal)

    const changes = await Promise.race([
      seen,
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error('no change seen in 10 s')), 10_000),
      ),
    ])
    const byName = new Map(changes.map((c) => [c.name, c]))
    assert.equal(byName.get('networkFeeBps')?.previous, 200n)
    assert.equal(byName.get('networkFeeBps')?.value, 125n)
    assert.equal(byName.get('breakerOpenSeconds')?.value, 90n)
    assert.equal(watcher.get('networkFeeBps'), 125n)
    assert.equal(watcher.current().values.breakerOpenSeconds, 90n)
  } finally {
    watcher.stop()
  }
})
