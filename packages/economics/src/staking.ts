import { EconomicsError } from './errors.ts'
import { assertAmount, BPS_DENOMINATOR, type Bps, toBps } from './units.ts'

/** Stake waiting out the unbonding period; still slashable until withdrawn. */
export interface UnbondingEntry {
  readonly amount: bigint
  /** When the entry can be withdrawn, in the caller's time unit (seconds on chain, days in the simulator). */
  readonly releaseAt: number
}

/** A staker's position: bonded stake (counts for eligibility and weight) and unbonding entries. */
export interface StakePosition {
  readonly bonded: bigint
  readonly unbonding: readonly UnbondingEntry[]
}

/** A position with nothing staked. */
export const EMPTY_STAKE: StakePosition = Object.freeze({ bonded: 0n, unbonding: Object.freeze([]) })

function assertTime(value: number, name: string): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new EconomicsError(
      'ECON_INVALID_TIME',
      `${name} must be a finite, non-negative number, got ${value}`,
    )
  }
}

/** Adds `amount` to the bonded stake. */
export function bond(position: StakePosition, amount: bigint): StakePosition {
  assertAmount(amount)
  return Object.freeze({ bonded: position.bonded + amount, unbonding: position.unbonding })
}

export interface UnbondOptions {
  readonly now: number
  /** How long unbonding stake stays locked and slashable (governance parameter). */
  readonly unbondingPeriod: number
}

/** Moves `amount` from bonded to an unbonding entry released at `now + unbondingPeriod`. */
export function beginUnbond(position: StakePosition, amount: bigint, options: UnbondOptions): StakePosition {
  assertAmount(amount)
  assertTime(options.now, 'now')
  assertTime(options.unbondingPeriod, 'unbondingPeriod')
  if (amount > position.bonded) {
    throw new EconomicsError(
      'ECON_INSUFFICIENT_STAKE',
      `cannot unbond ${amount}: only ${position.bonded} is bonded`,
      {
        bonded: position.bonded.toString(),
        amount: amount.toString(),
      },
    )
  }
  if (amount === 0n) return position
  return Object.freeze({
    bonded: position.bonded - amount,
    unbonding: Object.freeze([
      ...position.unbonding,
      Object.freeze({ amount, releaseAt: options.now + options.unbondingPeriod }),
    ]),
  })
}

/** Releases every unbonding entry with `releaseAt ≤ now`; returns the new position and the amount withdrawn. */
export function withdrawUnbonded(
  position: StakePosition,
  now: number,
): { readonly position: StakePosition; readonly withdrawn: bigint } {
  assertTime(now, 'now')
  let withdrawn = 0n
  const kept: UnbondingEntry[] = []
  for (const entry of position.unbonding) {
    if (entry.releaseAt <= now) withdrawn += entry.amount
    else kept.push(entry)
  }
  if (withdrawn === 0n) return { position, withdrawn }
  return { position: Object.freeze({ bonded: position.bonded, unbonding: Object.freeze(kept) }), withdrawn }
}

/** Bonded plus unbonding stake: everything that can still be slashed. */
export function totalStake(position: StakePosition): bigint {
  let total = position.bonded
  for (const entry of position.unbonding) total += entry.amount
  return total
}

/** True when the bonded stake (not unbonding) is at least `minimum`. */
export function meetsMinimumStake(position: StakePosition, minimum: bigint): boolean {
  return position.bonded >= minimum
}

/**
 * Slashes `bps` of the bonded stake and of every unbonding entry (so leaving does not escape a
 * penalty). Each part is rounded down; `slashed` is exactly what was removed.
 */
export function slash(
  position: StakePosition,
  bps: Bps,
): { readonly position: StakePosition; readonly slashed: bigint } {
  const rate = toBps(bps, 'slashBps')
  const cut = (position.bonded * rate) / BPS_DENOMINATOR
  let slashed = cut
  const unbonding = position.unbonding.map((entry) => {
    const c = (entry.amount * rate) / BPS_DENOMINATOR
    slashed += c
    return Object.freeze({ amount: entry.amount - c, releaseAt: entry.releaseAt })
  })
  return {
    position: Object.freeze({ bonded: position.bonded - cut, unbonding: Object.freeze(unbonding) }),
    slashed,
  }
}

/** Divides slashed stake between the reporter (validator who proved the fault) and the treasury, which gets the rest. */
export function splitSlash(
  slashed: bigint,
  reporterBps: Bps,
): { readonly reporter: bigint; readonly treasury: bigint } {
  assertAmount(slashed, 'slashed')
  const reporter = (slashed * toBps(reporterBps, 'reporterBps')) / BPS_DENOMINATOR
  return { reporter, treasury: slashed - reporter }
}
