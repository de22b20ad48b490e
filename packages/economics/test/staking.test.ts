import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  beginUnbond,
  bond,
  EMPTY_STAKE,
  isEconomicsError,
  meetsMinimumStake,
  slash,
  splitSlash,
  totalStake,
  withdrawUnbonded,
} from '../src/index.ts'

describe('staking', () => {
  it('bonds, unbonds after the period, and withdraws', () => {
    let p = bond(EMPTY_STAKE, 1000n)
    assert.ok(meetsMinimumStake(p, 1000n))
    p = beginUnbond(p, 400n, { now: 10, unbondingPeriod: 7 })
    assert.equal(p.bonded, 600n)
    assert.equal(totalStake(p), 1000n)
    assert.ok(!meetsMinimumStake(p, 1000n))
    const early = withdrawUnbonded(p, 16)
    assert.equal(early.withdrawn, 0n)
    const late = withdrawUnbonded(p, 17)
    assert.equal(late.withdrawn, 400n)
    assert.equal(totalStake(late.position), 600n)
  })

  it('slashes bonded and unbonding stake alike, conserving wei', () => {
    let p = bond(EMPTY_STAKE, 1001n)
    p = beginUnbond(p, 333n, { now: 0, unbondingPeriod: 5 })
    const before = totalStake(p)
    const { position, slashed } = slash(p, 1000) // 10%
    assert.equal(position.bonded, 602n) // 668 - 66
    assert.equal(position.unbonding[0]?.amount, 300n) // 333 - 33
    assert.equal(slashed, 99n)
    assert.equal(totalStake(position) + slashed, before)
  })

  it('splits slashed stake between reporter and treasury', () => {
    assert.deepEqual(splitSlash(101n, 2500), { reporter: 25n, treasury: 76n })
  })

  it('refuses to unbond more than is bonded', () => {
    assert.throws(
      () => beginUnbond(bond(EMPTY_STAKE, 5n), 6n, { now: 0, unbondingPeriod: 1 }),
      (e) => isEconomicsError(e, 'ECON_INSUFFICIENT_STAKE'),
    )
    assert.throws(
      () => beginUnbond(bond(EMPTY_STAKE, 5n), 1n, { now: -1, unbondingPeriod: 1 }),
      (e) => isEconomicsError(e, 'ECON_INVALID_TIME'),
    )
  })
})
