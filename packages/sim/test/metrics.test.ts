import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { gini, mean, meanCi95, nakamoto, stability, stdDev } from '../src/index.ts'

const close = (a: number, b: number, eps = 1e-12) => assert.ok(Math.abs(a - b) <= eps, `${a} ≉ ${b}`)

describe('gini', () => {
  it('matches hand-computed cases', () => {
    // sorted x, G = 2 Σ i·x_i / (n Σ x) − (n + 1) / n
    close(gini([0, 0, 0, 1]), 0.75) // 2·4/4 − 5/4
    close(gini([1, 1, 1, 1]), 0)
    close(gini([1, 2, 3, 4]), 0.25) // 2·30/40 − 5/4
    close(gini([4, 3, 2, 1]), 0.25) // order does not matter
    close(gini([0, 1]), 0.5)
    close(gini([3, 1, 0, 0, 1]), 0.56) // sorted 0,0,1,1,3: Σi·x = 3+4+15 = 22; 44/25 − 6/5
    assert.equal(gini([]), 0)
    assert.equal(gini([0, 0, 0]), 0)
    assert.equal(gini([7]), 0)
  })

  it('refuses negative values', () => {
    assert.throws(() => gini([1, -1]), RangeError)
  })
})

describe('stability', () => {
  it('is 1 − population σ / μ', () => {
    close(stability([1, 1, 1]), 1)
    close(stability([1, 3]), 0.5) // μ 2, σ 1
    close(stability([2, 4, 4, 4, 5, 5, 7, 9]), 1 - 2 / 5) // μ 5, σ 2
    close(stdDev([2, 4, 4, 4, 5, 5, 7, 9]), 2)
    close(mean([2, 4]), 3)
  })
})

describe('nakamoto', () => {
  it('counts the fewest holders above a third of the stake', () => {
    assert.equal(nakamoto([10, 10, 10]), 2) // 10 is not > 10, 20 is
    assert.equal(nakamoto([50, 30, 20]), 1)
    assert.equal(nakamoto([1, 1, 1, 1, 1, 1]), 3) // 2 = 1/3 exactly, not above
    assert.equal(nakamoto([40, 30, 30], 0.5), 2)
    assert.equal(nakamoto([0, 0]), 0)
    assert.equal(nakamoto([]), 0)
  })
})

describe('meanCi95', () => {
  it('uses Student t with n − 1 degrees of freedom', () => {
    const r = meanCi95([1, 2, 3]) // sd 1, t(2) = 4.303
    close(r.mean, 2)
    close(r.halfWidth, 4.303 / Math.sqrt(3), 1e-9)
    assert.deepEqual(meanCi95([5]), { mean: 5, halfWidth: 0 })
  })
})
