/**
 * Errors raised by the economics rules. Every error carries a stable string `code` from
 * {@link ECONOMICS_ERROR_CODES}; codes are a contract and are never renamed or reused. Compare by
 * `code`, not `instanceof`, across package boundaries.
 */
export const ECONOMICS_ERROR_CODES = {
  ECON_NEGATIVE_AMOUNT: 'An amount is negative',
  ECON_NOT_BIGINT: 'An amount is not a bigint',
  ECON_BPS_OUT_OF_RANGE: 'A basis-point parameter is not an integer in 0..10000',
  ECON_SHARES_EXCEED_TOTAL: 'The network fee plus the (capped) royalties exceed 100% of the amount',
  ECON_ROYALTY_CAP_EXCEEDED: 'The royalties exceed the royalty cap and capMode is "reject"',
  ECON_INVALID_CREATOR: 'A royalty entry has an empty creator id',
  ECON_INSUFFICIENT_BALANCE: 'A transfer exceeds the balance of the payer',
  ECON_INSUFFICIENT_STAKE: 'An unbond exceeds the bonded stake',
  ECON_INVALID_TIME: 'A time or period is not a finite, non-negative number',
  ECON_CUMULATIVE_DECREASED: 'A cumulative amount is lower than the previous one',
  ECON_ZERO_TOTAL_WEIGHT: 'A positive pool cannot be distributed over weights that sum to zero',
  ECON_INVALID_PRICE: 'A price is zero or negative where a positive price is required',
  ECON_PARSE_AMOUNT: 'A decimal FTNS amount could not be parsed',
} as const

export type EconomicsErrorCode = keyof typeof ECONOMICS_ERROR_CODES

/** The one error type of `@prsm/economics`: a stable `code`, a message and optional details. */
export class EconomicsError extends Error {
  override name = 'EconomicsError'
  readonly code: EconomicsErrorCode
  readonly details: Readonly<Record<string, unknown>> | undefined

  constructor(code: EconomicsErrorCode, message?: string, details?: Record<string, unknown>) {
    super(message ?? ECONOMICS_ERROR_CODES[code])
    this.code = code
    this.details = details
  }
}

/** True when `err` is an economics error with the given code (compares by code, not `instanceof`). */
export function isEconomicsError(err: unknown, code?: EconomicsErrorCode): err is EconomicsError {
  if (typeof err !== 'object' || err === null) return false
  const c = (err as { code?: unknown }).code
  if (typeof c !== 'string' || !Object.hasOwn(ECONOMICS_ERROR_CODES, c)) return false
  return code === undefined || c === code
}
