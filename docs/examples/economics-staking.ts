// Stake, start unbonding, get slashed (unbonding stake too), withdraw after the period.
import assert from 'node:assert/strict'
import {
  beginUnbond,
  bond,
  EMPTY_STAKE,
  formatFtns,
  meetsMinimumStake,
  parseFtns,
  slash,
  splitSlash,
  totalStake,
  withdrawUnbonded,
} from '@prsm/economics'

const minimum = parseFtns('100')
let position = bond(EMPTY_STAKE, parseFtns('150'))
assert.ok(meetsMinimumStake(position, minimum))

// Day 10: unbond 50 FTNS; it stays slashable for the 7-day unbonding period.
position = beginUnbond(position, parseFtns('50'), { now: 10, unbondingPeriod: 7 })
assert.equal(position.bonded, parseFtns('100'))

// Day 12: a validator proves a fault; 10% of everything still staked is slashed.
const { position: after, slashed } = slash(position, 1000)
assert.equal(slashed, parseFtns('15'))
assert.ok(!meetsMinimumStake(after, minimum)) // 90 bonded: below the minimum, no longer eligible
const { reporter, treasury } = splitSlash(slashed, 5000) // half to the reporting validator
assert.equal(reporter + treasury, slashed)

// Day 17: the unbonding entry (now 45 FTNS) is released.
const { position: final, withdrawn } = withdrawUnbonded(after, 17)
assert.equal(withdrawn, parseFtns('45'))
assert.equal(totalStake(final), parseFtns('90'))

process.stdout.write(
  `slashed ${formatFtns(slashed)} FTNS (reporter ${formatFtns(reporter)}), withdrew ${formatFtns(withdrawn)} FTNS\n`,
)
