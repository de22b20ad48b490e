import { ERROR_STATUS, type ErrorCode } from './generated/openapi.ts'

export type { ErrorCode }

/**
 * An error answer of the PRSM API, rebuilt from its wire form `{ error: { code, message, details } }`.
 * Compare by `code` (a stable catalogue code, docs/errors.md), not by message.
 */
export class PrsmApiError extends Error {
  override name = 'PrsmApiError'
  /** The catalogue code; an answer that was not a PRSM error body gets `INTERNAL` (see `details`). */
  readonly code: ErrorCode
  /** The HTTP status (0 for an error event inside a stream that had already answered 200). */
  readonly status: number
  readonly details: Record<string, unknown>

  constructor(code: ErrorCode, message: string, status: number, details: Record<string, unknown> = {}) {
    super(message)
    this.code = code
    this.status = status
    this.details = details
  }
}

/** Wraps a failure to reach the node (DNS, refused connection, reset) after the retries ran out. */
export class PrsmConnectionError extends Error {
  override name = 'PrsmConnectionError'
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_STATUS, value)
}

/** True when `err` is a PrsmApiError with `code` (narrows `err`). */
export function isPrsmApiError(err: unknown, code?: ErrorCode): err is PrsmApiError {
  return err instanceof PrsmApiError && (code === undefined || err.code === code)
}

/** Rebuilds the typed error of a wire error body (any JSON value; non-PRSM bodies become INTERNAL). */
export function errorFromWire(body: unknown, status: number): PrsmApiError {
  const e = (body as { error?: { code?: unknown; message?: unknown; details?: unknown } } | null)?.error
  const message = typeof e?.message === 'string' ? e.message : `HTTP ${status}`
  const details =
    typeof e?.details === 'object' && e.details !== null ? (e.details as Record<string, unknown>) : {}
  if (isErrorCode(e?.code)) return new PrsmApiError(e.code, message, status, details)
  return new PrsmApiError('INTERNAL', message, status, {
    ...details,
    ...(e?.code === undefined ? { body } : { originalCode: e.code }),
  })
}
