/**
 * Ledger error codes. They follow the catalogue in @prsm/core (`{ status, message }`, stable
 * codes, never reused) and are merged into it by the node; until then `LedgerError` carries them.
 */
export const LEDGER_ERRORS = {
  CHAIN_NOT_CONFIGURED: {
    status: 503,
    message: 'No chain is configured: paid features are off (start the node with --devnet FILE or a chain)',
  },
  CHAIN_UNAVAILABLE: { status: 502, message: 'The chain RPC endpoint could not be reached' },
  CHAIN_TX_REVERTED: { status: 502, message: 'The transaction was reverted by the chain' },
  VOUCHER_MALFORMED: { status: 400, message: 'The voucher could not be decoded' },
  VOUCHER_BAD_SIGNATURE: { status: 401, message: "The voucher is not signed by the channel's payer" },
  VOUCHER_NOT_MONOTONIC: {
    status: 409,
    message: 'The voucher amount does not exceed the newest accepted voucher on this channel',
  },
  VOUCHER_OVER_DEPOSIT: { status: 402, message: "The voucher amount exceeds the channel's deposit" },
  VOUCHER_UNDERPAID: { status: 402, message: 'The voucher adds less than the price of the request' },
  VOUCHER_ROYALTY_CAP: { status: 400, message: "The voucher's royalty table exceeds the royalty cap" },
  VOUCHER_ROYALTY_DECREASED: {
    status: 400,
    message: "The voucher lowers or drops a creator's cumulative royalty",
  },
  VOUCHER_ROYALTY_OVER_PAYMENT: { status: 400, message: 'The voucher adds more royalty than payment' },
  CHANNEL_UNKNOWN: { status: 404, message: 'The payment channel does not exist on chain' },
  CHANNEL_EXPIRED: { status: 410, message: 'The payment channel has expired or is too close to expiry' },
  CHANNEL_CLOSED: { status: 410, message: 'The payment channel is closed' },
  CHANNEL_WRONG_PAYEE: { status: 403, message: 'The payment channel pays someone else' },
  CHANNEL_INSUFFICIENT_FUNDS: {
    status: 402,
    message: 'The payment would exceed the channel deposit (top up)',
  },
  CHANNEL_NOT_OURS: { status: 403, message: 'This node is not the payer of the channel' },
  PAYEE_UNRESOLVED: { status: 404, message: 'No registered provider with a valid PeerId binding was found' },
  WALLET_INSUFFICIENT_FUNDS: { status: 402, message: 'The wallet balance is too low' },
  AMOUNT_INVALID: { status: 400, message: 'The amount must be a positive number of FTNS' },
  STAKE_INVALID: { status: 400, message: 'The staking request is invalid' },
  LEDGER_JOURNAL_FAILED: { status: 500, message: 'The voucher journal could not be written' },
} as const satisfies Record<string, { status: number; message: string }>

export type LedgerErrorCode = keyof typeof LEDGER_ERRORS

/** A ledger failure with a stable code from LEDGER_ERRORS; compare by `code`, not instanceof. */
export class LedgerError extends Error {
  override name = 'LedgerError'
  readonly code: LedgerErrorCode
  readonly details: Record<string, unknown> | undefined

  constructor(
    code: LedgerErrorCode,
    message?: string,
    options: { cause?: unknown; details?: Record<string, unknown> } = {},
  ) {
    super(message ?? LEDGER_ERRORS[code].message, options.cause === undefined ? {} : { cause: options.cause })
    this.code = code
    this.details = options.details
  }

  get status(): number {
    return LEDGER_ERRORS[this.code].status
  }
}

export function isLedgerError(err: unknown, code?: LedgerErrorCode): err is LedgerError {
  if (typeof err !== 'object' || err === null) return false
  const c = (err as { code?: unknown }).code
  return typeof c === 'string' && Object.hasOwn(LEDGER_ERRORS, c) && (code === undefined || c === code)
}
