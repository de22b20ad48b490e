import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { LATENCY_EWMA_ALPHA, ReputationStore } from '../../src/jobs/reputation.ts'

describe('ReputationStore', () => {
  const dir = mkdtempSync(join(tmpdir(), 'prsm-reputation-'))
  after(() => rmSync(dir, { recursive: true, force: true }))

  it('tracks successes, failures, latency EWMA, disagreements and safety violations, and persists them', () => {
    const path = join(dir, 'reputation.db')
    const store = new ReputationStore({ path })
    assert.deepEqual(
      { jobs: store.get('A').jobs, score: store.get('A').score, latency: store.get('A').latencyEwmaMs },
      { jobs: 0, score: 0.5, latency: null },
      'an unknown provider',
    )
    store.recordSuccess('A', 100)
    store.recordSuccess('A', 200)
    store.recordFailure('A')
    store.recordSuccess('B', 50)
    store.recordDisagreement('B')
    store.recordSafetyViolation('C')
    const a = store.get('A')
    assert.equal(a.jobs, 3)
    assert.equal(a.successes, 2)
    assert.equal(a.failures, 1)
    assert.equal(a.successRate, 2 / 3)
    assert.equal(a.latencyEwmaMs, LATENCY_EWMA_ALPHA * 200 + (1 - LATENCY_EWMA_ALPHA) * 100)
    assert.equal(a.score, 3 / 5)
    const b = store.get('B')
    assert.equal(b.score, (2 / 3) * 0.5, 'a disagreement halves the score')
    assert.equal(store.get('C').safetyViolations, 1)
    assert.equal(store.get('C').score, 0.25)
    assert.deepEqual(store.rank(['C', 'B', 'A', 'D']), ['A', 'D', 'B', 'C'])
    store.close()

    const reopened = new ReputationStore({ path })
    assert.deepEqual(reopened.get('A'), a)
    assert.deepEqual(
      reopened.list().map((r) => r.peer),
      ['A', 'B', 'C'],
    )
    reopened.close()
  })
})
