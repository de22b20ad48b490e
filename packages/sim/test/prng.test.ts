import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Rng } from '../src/index.ts'

function draws(rng: Rng, n: number): number[] {
  return Array.from({ length: n }, () => rng.next())
}

describe('Rng', () => {
  it('repeats for the same seed and stream, and differs otherwise', () => {
    assert.deepEqual(draws(new Rng(42, 'a'), 20), draws(new Rng(42, 'a'), 20))
    assert.notDeepEqual(draws(new Rng(42, 'a'), 20), draws(new Rng(43, 'a'), 20))
    assert.notDeepEqual(draws(new Rng(42, 'a'), 20), draws(new Rng(42, 'b'), 20))
  })

  it('has sane distributions', () => {
    const rng = new Rng(7, 'dist')
    const n = 20_000
    let u = 0
    let z = 0
    let z2 = 0
    let p = 0
    for (let i = 0; i < n; i++) {
      const x = rng.next()
      assert.ok(x >= 0 && x < 1)
      u += x
      const g = rng.normal()
      z += g
      z2 += g * g
      p += rng.poisson(3)
    }
    assert.ok(Math.abs(u / n - 0.5) < 0.01)
    assert.ok(Math.abs(z / n) < 0.03)
    assert.ok(Math.abs(z2 / n - 1) < 0.05)
    assert.ok(Math.abs(p / n - 3) < 0.05)
    assert.equal(rng.poisson(0), 0)
    const big = Array.from({ length: 2000 }, () => rng.poisson(100))
    assert.ok(Math.abs(big.reduce((a, b) => a + b, 0) / 2000 - 100) < 1.5)
  })
})
