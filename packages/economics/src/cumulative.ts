import { EconomicsError } from './errors.ts'
import {
  type CapMode,
  capRoyalties,
  type PaymentSplit,
  type RoyaltyAmount,
  type RoyaltyShare,
  type RoyaltyTable,
} from './split.ts'
import { assertAmount, BPS_DENOMINATOR, type Bps, toBps } from './units.ts'

/**
 * The running split of a payment channel. Vouchers are cumulative (each states the total paid so
 * far), and each increment may pay for a step with different manifests, so the channel keeps
 * exact *accruals*: Σ increment × bps for the fee and for every creator. Amounts are derived by
 * one floor at read time ({@link resolveCumulative}), so rounding never drifts however many
 * vouchers there are: resolving after one increment gives exactly {@link splitPayment} of it.
 */
export interface CumulativeSplit {
  /** Cumulative amount paid on the channel (the latest voucher's amount), in wei. */
  readonly total: bigint
  /** Σ increment × feeBps over all increments (wei × bps). */
  readonly feeAccrual: bigint
  /** Σ increment × royalty bps per creator (wei × bps), in order of first appearance. */
  readonly royaltyAccruals: readonly { readonly creator: string; readonly accrual: bigint }[]
}

/** The cumulative split of a channel on which nothing has been paid yet. */
export const EMPTY_CUMULATIVE: CumulativeSplit = Object.freeze({
  total: 0n,
  feeAccrual: 0n,
  royaltyAccruals: Object.freeze([]),
})

export interface AccrueInput {
  /** The increment paid by this voucher (new cumulative − previous cumulative), in wei. */
  readonly amount: bigint
  readonly feeBps: Bps
  readonly royalties?: readonly RoyaltyShare[]
  readonly royaltyCapBps: Bps
  readonly capMode?: CapMode
}

/** Adds one increment, split by the given fee and (capped) royalties, to a cumulative split. */
export function accrue(previous: CumulativeSplit, input: AccrueInput): CumulativeSplit {
  const table = capRoyalties(input.royalties ?? [], input.royaltyCapBps, input.capMode ?? 'scale')
  return accrueWithTable(previous, input.amount, input.feeBps, table)
}

/** {@link accrue} with a prepared royalty table. */
export function accrueWithTable(
  previous: CumulativeSplit,
  amount: bigint,
  feeBps: Bps,
  table: RoyaltyTable,
): CumulativeSplit {
  assertAmount(amount)
  const fee = toBps(feeBps, 'feeBps')
  if (fee + table.totalBps > BPS_DENOMINATOR) {
    throw new EconomicsError(
      'ECON_SHARES_EXCEED_TOTAL',
      `fee ${fee} bps + royalties ${table.totalBps} bps exceed 10000 bps`,
    )
  }
  const accruals = previous.royaltyAccruals.map((r) => ({ creator: r.creator, accrual: r.accrual }))
  const index = new Map<string, number>()
  accruals.forEach((r, i) => {
    index.set(r.creator, i)
  })
  for (const rate of table.rates) {
    const at = index.get(rate.creator)
    if (at === undefined) {
      index.set(rate.creator, accruals.length)
      accruals.push({ creator: rate.creator, accrual: amount * rate.bps })
    } else {
      const entry = accruals[at] as { creator: string; accrual: bigint }
      entry.accrual += amount * rate.bps
    }
  }
  return Object.freeze({
    total: previous.total + amount,
    feeAccrual: previous.feeAccrual + amount * fee,
    royaltyAccruals: Object.freeze(accruals.map((a) => Object.freeze(a))),
  })
}

export interface AccrueVoucherInput extends Omit<AccrueInput, 'amount'> {
  /** The cumulative amount the new voucher states, in wei. */
  readonly cumulativeAmount: bigint
}

/**
 * Accrues a new cumulative voucher: the increment is `cumulativeAmount − previous.total`.
 * Throws `ECON_CUMULATIVE_DECREASED` if the voucher states less than was already paid.
 */
export function accrueVoucher(previous: CumulativeSplit, input: AccrueVoucherInput): CumulativeSplit {
  assertAmount(input.cumulativeAmount, 'cumulativeAmount')
  if (input.cumulativeAmount < previous.total) {
    throw new EconomicsError(
      'ECON_CUMULATIVE_DECREASED',
      `voucher amount ${input.cumulativeAmount} is below the previous cumulative ${previous.total}`,
      { previous: previous.total.toString(), next: input.cumulativeAmount.toString() },
    )
  }
  const { cumulativeAmount, ...rest } = input
  return accrue(previous, { ...rest, amount: cumulativeAmount - previous.total })
}

/**
 * The amounts owed so far on a channel: fee = floor(feeAccrual / 10000), each royalty =
 * floor(accrual / 10000), provider = total − fee − Σ royalties.
 */
export function resolveCumulative(cumulative: CumulativeSplit): PaymentSplit {
  const fee = cumulative.feeAccrual / BPS_DENOMINATOR
  let provider = cumulative.total - fee
  const royalties: RoyaltyAmount[] = []
  for (const r of cumulative.royaltyAccruals) {
    const amount = r.accrual / BPS_DENOMINATOR
    provider -= amount
    royalties.push({ creator: r.creator, amount })
  }
  return { provider, fee, royalties }
}

/**
 * What each creator is newly owed between two cumulative royalty tables: `next − previous` per
 * creator, in the order of `next` (a creator missing from `next` but present in `previous`
 * throws, as does any decrease: cumulative tables only grow). Zero deltas are omitted.
 */
export function royaltyDelta(
  previous: readonly RoyaltyAmount[],
  next: readonly RoyaltyAmount[],
): RoyaltyAmount[] {
  const before = new Map<string, bigint>()
  for (const r of previous) before.set(r.creator, (before.get(r.creator) ?? 0n) + r.amount)
  const out: RoyaltyAmount[] = []
  const seen = new Set<string>()
  for (const r of next) {
    if (seen.has(r.creator)) {
      throw new EconomicsError(
        'ECON_INVALID_CREATOR',
        `creator ${r.creator} appears twice in a cumulative table`,
      )
    }
    seen.add(r.creator)
    const delta = r.amount - (before.get(r.creator) ?? 0n)
    if (delta < 0n) {
      throw new EconomicsError(
        'ECON_CUMULATIVE_DECREASED',
        `royalty of ${r.creator} decreased from ${before.get(r.creator)} to ${r.amount}`,
        { creator: r.creator },
      )
    }
    if (delta > 0n) out.push({ creator: r.creator, amount: delta })
  }
  for (const [creator, amount] of before) {
    if (!seen.has(creator) && amount > 0n) {
      throw new EconomicsError(
        'ECON_CUMULATIVE_DECREASED',
        `creator ${creator} disappeared from the cumulative table`,
        {
          creator,
        },
      )
    }
  }
  return out
}

/** The difference between two resolved cumulative splits. */
export interface SplitDelta {
  /**
   * `Δtotal − Δfee − Σ Δroyalties`. Because each part is floored separately, this can in rare
   * cases be a few wei below zero (never below −(number of creators + 1)); the cumulative
   * provider share itself is never negative.
   */
  readonly provider: bigint
  readonly fee: bigint
  readonly royalties: readonly RoyaltyAmount[]
}

/** The newly owed parts between two cumulative splits (fee and royalties never decrease). */
export function splitDelta(previous: CumulativeSplit, next: CumulativeSplit): SplitDelta {
  if (next.total < previous.total || next.feeAccrual < previous.feeAccrual) {
    throw new EconomicsError(
      'ECON_CUMULATIVE_DECREASED',
      'the next cumulative split is below the previous one',
    )
  }
  const a = resolveCumulative(previous)
  const b = resolveCumulative(next)
  const royalties = royaltyDelta(a.royalties, b.royalties)
  const fee = b.fee - a.fee
  let provider = next.total - previous.total - fee
  for (const r of royalties) provider -= r.amount
  return { provider, fee, royalties }
}
