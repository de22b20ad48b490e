import { ERROR_CATALOGUE, PrsmError, type PrsmErrorOptions } from '@prsm/core'

/** The catalogue codes the ledger raises (chain, wallet, channels, vouchers). */
export const LEDGER_ERROR_CODES = [
  'CHAIN_NOT_CONFIGURED',
  'CHAIN_UNAVAILABLE',
  'CHAIN_TX_REVERTED',
  'VOUCHER_MALFORMED',
  'VOUCHER_BAD_SIGNATURE',
  'VOUCHER_NOT_MONOTONIC',
  'VOUCHER_OVER_DEPOSIT',
  'VOUCHER_UNDERPAID',
  'VOUCHER_ROYALTY_CAP',
  'VOUCHER_ROYALTY_DECREASED',
  'VOUCHER_ROYALTY_OVER_PAYMENT',
  'CHANNEL_UNKNOWN',
  'CHANNEL_EXPIRED',
  'CHANNEL_CLOSED',
  'CHANNEL_WRONG_PAYEE',
  'CHANNEL_INSUFFICIENT_FUNDS',
  'CHANNEL_NOT_OURS',
  'PAYEE_UNRESOLVED',
  'WALLET_INSUFFICIENT_FUNDS',
  'AMOUNT_INVALID',
  'STAKE_INVALID',
  'LEDGER_JOURNAL_FAILED',
] as const

export type LedgerErrorCode = (typeof LEDGER_ERROR_CODES)[number]

/** The ledger's entries of the error catalogue in @prsm/core. */
export const LEDGER_ERRORS = Object.fromEntries(LEDGER_ERROR_CODES.map((c) => [c, ERROR_CATALOGUE[c]])) as {
  readonly [C in LedgerErrorCode]: (typeof ERROR_CATALOGUE)[C]
}

/** A ledger failure: a PrsmError with a ledger code; compare by `code`, not instanceof. */
export class LedgerError extends PrsmError {
  override name = 'LedgerError'
  declare readonly code: LedgerErrorCode

  constructor(code: LedgerErrorCode, message?: string, options: PrsmErrorOptions = {}) {
    super(code, message, options)
  }
}

export function isLedgerError(err: unknown, code?: LedgerErrorCode): err is LedgerError {
  if (typeof err !== 'object' || err === null) return false
  const c = (err as { code?: unknown }).code
  return typeof c === 'string' && Object.hasOwn(LEDGER_ERRORS, c) && (code === undefined || c === code)
}
