import { EconomicsError } from './errors.ts'
import { assertAmount, BPS_DENOMINATOR, type Bps, toBps } from './units.ts'

/**
 * Divides `pool` in proportion to `weights` by the largest-remainder method: everyone gets
 * floor(pool × w / W), and the few wei left go one each to the largest remainders (ties: lower
 * index first). The result always sums to exactly `pool`. Zero weights get zero. Throws
 * `ECON_ZERO_TOTAL_WEIGHT` when `pool > 0` and all weights are zero.
 */
export function distributeProRata(pool: bigint, weights: readonly bigint[]): bigint[] {
  assertAmount(pool, 'pool')
  let total = 0n
  for (const w of weights) {
    assertAmount(w, 'weight')
    total += w
  }
  const out = new Array<bigint>(weights.length).fill(0n)
  if (pool === 0n) return out
  if (total === 0n) {
    throw new EconomicsError('ECON_ZERO_TOTAL_WEIGHT', `cannot distribute ${pool} over zero total weight`)
  }
  let given = 0n
  const rems: { i: number; rem: bigint }[] = []
  for (let i = 0; i < weights.length; i++) {
    const w = weights[i] as bigint
    if (w === 0n) continue
    const numerator = pool * w
    const share = numerator / total
    out[i] = share
    given += share
    rems.push({ i, rem: numerator % total })
  }
  let left = pool - given
  if (left > 0n) {
    rems.sort((a, b) => (a.rem === b.rem ? a.i - b.i : a.rem > b.rem ? -1 : 1))
    for (const r of rems) {
      if (left === 0n) break
      out[r.i] = (out[r.i] as bigint) + 1n
      left -= 1n
    }
  }
  return out
}

/** The result of a capped distribution: what each recipient gets and what nobody could take. */
export interface CappedDistribution {
  readonly amounts: bigint[]
  /** Left in the pool because every recipient reached the cap (or there were none); Σ amounts + undistributed = pool. */
  readonly undistributed: bigint
}

/**
 * Pro-rata distribution in which nobody receives more than `capBps` of the pool; what capped
 * recipients cannot take is re-divided among the others (water-filling), and anything left when
 * all are capped is returned as `undistributed`. With an empty or all-zero weight list the whole
 * pool is undistributed.
 */
export function distributeCapped(pool: bigint, weights: readonly bigint[], capBps: Bps): CappedDistribution {
  assertAmount(pool, 'pool')
  const cap = (pool * toBps(capBps, 'capBps')) / BPS_DENOMINATOR
  const amounts = new Array<bigint>(weights.length).fill(0n)
  const active: number[] = []
  for (let i = 0; i < weights.length; i++) {
    const w = weights[i] as bigint
    assertAmount(w, 'weight')
    if (w > 0n) active.push(i)
  }
  let remaining = pool
  let current = active
  for (;;) {
    if (current.length === 0 || remaining === 0n) {
      return { amounts, undistributed: remaining }
    }
    let total = 0n
    for (const i of current) total += weights[i] as bigint
    const capped: number[] = []
    const open: number[] = []
    for (const i of current) {
      // remaining × w / total ≥ cap  ⇔  remaining × w ≥ cap × total
      if (remaining * (weights[i] as bigint) >= cap * total) capped.push(i)
      else open.push(i)
    }
    if (capped.length === 0) {
      const shares = distributeProRata(
        remaining,
        open.map((i) => weights[i] as bigint),
      )
      open.forEach((i, k) => {
        amounts[i] = shares[k] as bigint
      })
      return { amounts, undistributed: 0n }
    }
    for (const i of capped) {
      amounts[i] = cap
      remaining -= cap
    }
    current = open
  }
}

/** The quality and standing of one accepted contribution, in basis points. */
export interface ContributionScore {
  /** Quality as judged by the reviewing validator, 0..10000. */
  readonly qualityBps: number
  /** The contributor's reputation, 0..10000. */
  readonly reputationBps: number
}

export interface RewardPolicy {
  /** Contributions judged below this quality earn nothing (default 6000). */
  readonly minQualityBps?: number
  /** Reputation counts at least this much, so newcomers can earn (default 2000). */
  readonly reputationFloorBps?: number
}

export const DEFAULT_REWARD_POLICY = Object.freeze({ minQualityBps: 6000, reputationFloorBps: 2000 })

/**
 * The reward weight of a contribution: 0 below the quality bar, otherwise quality × max(reputation,
 * floor) (a bigint in bps²). Quality-weighting pays good work more; reputation-weighting makes a
 * fresh identity (a sybil) earn little until it has a record.
 */
export function contributionWeight(score: ContributionScore, policy: RewardPolicy = {}): bigint {
  const quality = toBps(Math.round(score.qualityBps), 'qualityBps')
  const reputation = toBps(Math.round(score.reputationBps), 'reputationBps')
  const min = toBps(policy.minQualityBps ?? DEFAULT_REWARD_POLICY.minQualityBps, 'minQualityBps')
  const floor = toBps(
    policy.reputationFloorBps ?? DEFAULT_REWARD_POLICY.reputationFloorBps,
    'reputationFloorBps',
  )
  if (quality < min) return 0n
  // bigints: Math.max does not apply
  let standing = floor
  if (reputation > floor) standing = reputation
  return quality * standing
}

/** Splits `amount` into basis-point shares (each rounded down); `rest` is what remains (Σ + rest = amount). */
export function splitShares(
  amount: bigint,
  shares: readonly Bps[],
): { readonly parts: bigint[]; readonly rest: bigint } {
  assertAmount(amount)
  let sum = 0n
  const rates = shares.map((s) => {
    const b = toBps(s, 'share bps')
    sum += b
    return b
  })
  if (sum > BPS_DENOMINATOR) {
    throw new EconomicsError('ECON_SHARES_EXCEED_TOTAL', `shares add up to ${sum} bps, above 10000`)
  }
  let rest = amount
  const parts = rates.map((b) => {
    const p = (amount * b) / BPS_DENOMINATOR
    rest -= p
    return p
  })
  return { parts, rest }
}
