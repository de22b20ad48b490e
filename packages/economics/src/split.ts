import { EconomicsError } from './errors.ts'
import { assertAmount, BPS_DENOMINATOR, type Bps, toBps } from './units.ts'

/** A creator's royalty rate, as written in a manifest (model, dataset or tool). */
export interface RoyaltyShare {
  readonly creator: string
  readonly bps: Bps
}

/** A creator's royalty amount in wei. */
export interface RoyaltyAmount {
  readonly creator: string
  readonly amount: bigint
}

/** What to do when the royalties of a step add up to more than the cap. */
export type CapMode = 'scale' | 'reject'

/** One entry of a capped royalty table: integer basis points. */
export interface RoyaltyRate {
  readonly creator: string
  readonly bps: bigint
}

/**
 * A royalty table after merging duplicate creators and applying the cap: what a payment is
 * actually split by. `requestedBps` is the sum before the cap, `totalBps` after it.
 */
export interface RoyaltyTable {
  readonly rates: readonly RoyaltyRate[]
  readonly requestedBps: bigint
  readonly totalBps: bigint
  readonly capBps: bigint
  readonly capped: boolean
}

/** The parts of one payment. `provider + fee + Σ royalties[i].amount === amount`, always. */
export interface PaymentSplit {
  readonly provider: bigint
  readonly fee: bigint
  readonly royalties: readonly RoyaltyAmount[]
}

export interface SplitPaymentInput {
  /** The gross amount paid for the step, in wei. */
  readonly amount: bigint
  /** The network fee to the treasury, in basis points (governance parameter). */
  readonly feeBps: Bps
  /** The royalty rates of every manifest the step used. Duplicate creators are merged. */
  readonly royalties?: readonly RoyaltyShare[]
  /** The cap on the sum of royalty rates, in basis points (governance parameter). */
  readonly royaltyCapBps: Bps
  /** `scale` (default): scale the rates down to the cap. `reject`: throw `ECON_ROYALTY_CAP_EXCEEDED`. */
  readonly capMode?: CapMode
}

/**
 * Merges duplicate creators (summing their rates, keeping the order of first appearance), drops
 * zero rates and applies the cap. When the requested sum S exceeds the cap C and the mode is
 * `scale`, every rate r becomes floor(r × C / S) and the basis points lost to flooring go, one
 * each, to the entries with the largest remainders (ties: earlier entry first), so the capped
 * rates add up to exactly C.
 */
export function capRoyalties(
  royalties: readonly RoyaltyShare[],
  royaltyCapBps: Bps,
  capMode: CapMode = 'scale',
): RoyaltyTable {
  const capBps = toBps(royaltyCapBps, 'royaltyCapBps')
  const merged: { creator: string; bps: bigint }[] = []
  const index = new Map<string, number>()
  for (const entry of royalties) {
    if (typeof entry.creator !== 'string' || entry.creator.length === 0) {
      throw new EconomicsError('ECON_INVALID_CREATOR', 'a royalty entry has an empty creator id')
    }
    const bps = toBps(entry.bps, 'royalty bps')
    const at = index.get(entry.creator)
    if (at === undefined) {
      index.set(entry.creator, merged.length)
      merged.push({ creator: entry.creator, bps })
    } else {
      const m = merged[at] as { creator: string; bps: bigint }
      m.bps += bps
    }
  }
  const nonZero = merged.filter((m) => m.bps > 0n)
  let requested = 0n
  for (const m of nonZero) requested += m.bps
  if (requested <= capBps) {
    return Object.freeze({
      rates: Object.freeze(nonZero.map((m) => Object.freeze({ creator: m.creator, bps: m.bps }))),
      requestedBps: requested,
      totalBps: requested,
      capBps,
      capped: false,
    })
  }
  if (capMode === 'reject') {
    throw new EconomicsError(
      'ECON_ROYALTY_CAP_EXCEEDED',
      `royalties add up to ${requested} bps, above the cap of ${capBps} bps`,
      { requestedBps: requested.toString(), capBps: capBps.toString() },
    )
  }
  const scaled = nonZero.map((m, i) => ({
    creator: m.creator,
    bps: (m.bps * capBps) / requested,
    rem: (m.bps * capBps) % requested,
    i,
  }))
  let given = 0n
  for (const s of scaled) given += s.bps
  let left = capBps - given
  if (left > 0n) {
    const order = [...scaled].sort((a, b) => (a.rem === b.rem ? a.i - b.i : a.rem > b.rem ? -1 : 1))
    for (const s of order) {
      if (left === 0n) break
      s.bps += 1n
      left -= 1n
    }
  }
  return Object.freeze({
    rates: Object.freeze(
      scaled.filter((s) => s.bps > 0n).map((s) => Object.freeze({ creator: s.creator, bps: s.bps })),
    ),
    requestedBps: requested,
    totalBps: capBps,
    capBps,
    capped: true,
  })
}

/**
 * Splits a payment by a prepared royalty table (see {@link capRoyalties}); use this when the
 * same manifests are paid for many times. Rounding: the fee and every royalty are rounded down
 * (`floor(amount × bps / 10000)`); the provider receives the rest, so no wei is created or lost.
 */
export function splitWithTable(amount: bigint, feeBps: Bps, table: RoyaltyTable): PaymentSplit {
  assertAmount(amount)
  const fee = toBps(feeBps, 'feeBps')
  if (fee + table.totalBps > BPS_DENOMINATOR) {
    throw new EconomicsError(
      'ECON_SHARES_EXCEED_TOTAL',
      `fee ${fee} bps + royalties ${table.totalBps} bps exceed 10000 bps`,
      { feeBps: fee.toString(), royaltyBps: table.totalBps.toString() },
    )
  }
  const feeAmount = (amount * fee) / BPS_DENOMINATOR
  let rest = amount - feeAmount
  const royalties: RoyaltyAmount[] = []
  for (const rate of table.rates) {
    const share = (amount * rate.bps) / BPS_DENOMINATOR
    rest -= share
    royalties.push({ creator: rate.creator, amount: share })
  }
  return { provider: rest, fee: feeAmount, royalties }
}

/**
 * Splits one payment into the provider's share, the creators' royalties (capped) and the
 * network fee. `provider = amount − fee − Σ royalties`; see {@link capRoyalties} for the cap and
 * {@link splitWithTable} for rounding.
 */
export function splitPayment(input: SplitPaymentInput): PaymentSplit {
  const table = capRoyalties(input.royalties ?? [], input.royaltyCapBps, input.capMode ?? 'scale')
  return splitWithTable(input.amount, input.feeBps, table)
}

/** Sums a list of royalty amounts by creator, keeping the order of first appearance. */
export function sumRoyalties(lists: readonly (readonly RoyaltyAmount[])[]): RoyaltyAmount[] {
  const totals = new Map<string, bigint>()
  for (const list of lists) {
    for (const r of list) totals.set(r.creator, (totals.get(r.creator) ?? 0n) + r.amount)
  }
  return [...totals].map(([creator, amount]) => ({ creator, amount }))
}
