import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import {
  contributionWeight,
  distributeCapped,
  distributeProRata,
  isEconomicsError,
  splitShares,
} from '../src/index.ts'

describe('rewards', () => {
  it('divides by largest remainder, ties to the lower index', () => {
    assert.deepEqual(distributeProRata(10n, [1n, 1n, 1n]), [4n, 3n, 3n])
    assert.deepEqual(distributeProRata(100n, [0n, 3n, 1n]), [0n, 75n, 25n])
    assert.deepEqual(distributeProRata(7n, [2n, 5n]), [2n, 5n])
    assert.deepEqual(distributeProRata(0n, []), [])
    assert.throws(
      () => distributeProRata(1n, [0n, 0n]),
      (e) => isEconomicsError(e, 'ECON_ZERO_TOTAL_WEIGHT'),
    )
  })

  it('conserves the pool (property)', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: 10n ** 24n }),
        fc.array(fc.bigInt({ min: 0n, max: 10n ** 9n }), { minLength: 1, maxLength: 30 }),
        (pool, weights) => {
          if (!weights.some((w) => w > 0n)) weights[0] = 1n
          const out = distributeProRata(pool, weights)
          assert.equal(
            out.reduce((a, b) => a + b, 0n),
            pool,
          )
          const total = weights.reduce((a, b) => a + b, 0n)
          out.forEach((x, i) => {
            const exact = (pool * (weights[i] as bigint)) / total
            assert.ok(x === exact || x === exact + 1n)
          })
        },
      ),
      { numRuns: 300, seed: 3 },
    )
  })

  it('caps each recipient and refills the others', () => {
    // cap 40% of 100: weights 8:1:1 → 40 capped, then 60 over 1:1
    const r = distributeCapped(100n, [8n, 1n, 1n], 4000)
    assert.deepEqual(r.amounts, [40n, 30n, 30n])
    assert.equal(r.undistributed, 0n)
    // everyone capped: 2 × 30 given, 40 left
    const all = distributeCapped(100n, [1n, 1n], 3000)
    assert.deepEqual(all.amounts, [30n, 30n])
    assert.equal(all.undistributed, 40n)
    assert.deepEqual(distributeCapped(5n, [], 1000), { amounts: [], undistributed: 5n })
  })

  it('weights contributions by quality and reputation, zero below the bar', () => {
    assert.equal(contributionWeight({ qualityBps: 5999, reputationBps: 9000 }), 0n)
    assert.equal(contributionWeight({ qualityBps: 8000, reputationBps: 5000 }), 8000n * 5000n)
    // a newcomer's reputation counts at the floor (2000 by default)
    assert.equal(contributionWeight({ qualityBps: 8000, reputationBps: 0 }), 8000n * 2000n)
  })

  it('splits treasury income into shares and a rest', () => {
    assert.deepEqual(splitShares(1001n, [5000, 2500]), { parts: [500n, 250n], rest: 251n })
    assert.throws(
      () => splitShares(1n, [6000, 6000]),
      (e) => isEconomicsError(e, 'ECON_SHARES_EXCEED_TOTAL'),
    )
  })
})
