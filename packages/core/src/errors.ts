/**
 * The error catalogue. Every error PRSM raises locally or sends over the wire carries one of
 * these codes. Codes are a contract: a code is never renamed or reused once released; retired
 * codes stay in the catalogue with `retired: true`.
 */
export const ERROR_CATALOGUE = {
  // configuration and start-up
  CONFIG_INVALID: { status: 400, message: 'A configuration value is invalid' },
  CONFIG_FILE_UNREADABLE: { status: 500, message: 'The configuration file could not be read or parsed' },
  DATA_DIR_MISSING: { status: 500, message: 'The data directory has not been initialised (run prsm init)' },

  // identity and keystore
  KEYSTORE_EXISTS: {
    status: 409,
    message: 'The data directory already holds keys (use --force to overwrite)',
  },
  KEYSTORE_MISSING: { status: 404, message: 'No keystore was found in the data directory' },
  KEYSTORE_BAD_PASSWORD: { status: 401, message: 'The keystore password is wrong or the file is corrupt' },
  KEYSTORE_NO_PASSWORD: {
    status: 400,
    message: 'No password given: set PRSM_PASSWORD, answer the prompt, or use --insecure-no-password',
  },
  KEYSTORE_CORRUPT: { status: 500, message: 'A keystore file is malformed' },

  // signed envelopes (network messages)
  MESSAGE_MALFORMED: { status: 400, message: 'The message could not be decoded' },
  MESSAGE_OVERSIZE: { status: 413, message: 'The message exceeds the size cap' },
  MESSAGE_BAD_SIGNATURE: { status: 401, message: 'The message signature does not verify' },
  MESSAGE_UNKNOWN_TYPE: { status: 400, message: 'The message type or version is not known' },
  MESSAGE_STALE: { status: 400, message: 'The message timestamp is too far from local time' },
  MESSAGE_REPLAYED: { status: 409, message: 'The message nonce was already seen' },
  MESSAGE_SCHEMA: { status: 400, message: 'The message payload does not match its schema' },

  // peers
  PEER_REFUSED: { status: 403, message: 'The peer is in a penalty cool-down' },
  PEER_UNREACHABLE: { status: 502, message: 'The peer could not be reached' },

  // offers
  OFFER_INVALID: { status: 400, message: 'The offer is invalid' },
  OFFER_EXPIRED: { status: 410, message: 'The offer has expired' },

  // node control and API
  NODE_NOT_RUNNING: { status: 503, message: 'No node is running for this data directory' },
  NODE_ALREADY_RUNNING: { status: 409, message: 'A node is already running for this data directory' },
  UNAUTHORIZED: { status: 401, message: 'Missing or invalid credentials' },
  NOT_FOUND: { status: 404, message: 'The resource does not exist' },
  VALIDATION_FAILED: { status: 400, message: 'The request failed validation' },
  INTERNAL: { status: 500, message: 'An internal error occurred' },
} as const satisfies Record<string, { status: number; message: string; retired?: boolean }>

export type ErrorCode = keyof typeof ERROR_CATALOGUE

export interface PrsmErrorOptions {
  cause?: unknown
  details?: Record<string, unknown>
}

/** The one base error: a stable `code`, a message, optional structured details and cause. */
export class PrsmError extends Error {
  override name = 'PrsmError'
  readonly code: ErrorCode
  readonly details: Record<string, unknown> | undefined

  constructor(code: ErrorCode, message?: string, options: PrsmErrorOptions = {}) {
    super(
      message ?? ERROR_CATALOGUE[code].message,
      options.cause === undefined ? {} : { cause: options.cause },
    )
    this.code = code
    this.details = options.details
  }

  /** HTTP status for this error on the API. */
  get status(): number {
    return ERROR_CATALOGUE[this.code].status
  }

  /** The wire form: `{ error: { code, message, details } }`. */
  toWire(): WireError {
    return { error: { code: this.code, message: this.message, details: this.details ?? {} } }
  }
}

export interface WireError {
  error: { code: string; message: string; details: Record<string, unknown> }
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_CATALOGUE, value)
}

/** True when `err` carries the given code; compares by code, not `instanceof`, across packages. */
export function hasCode(err: unknown, code: ErrorCode): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === code
}

/** Rebuilds a PrsmError from its wire form (unknown codes become INTERNAL with the original kept). */
export function fromWire(wire: WireError): PrsmError {
  const { code, message, details } = wire.error
  if (isErrorCode(code)) return new PrsmError(code, message, { details })
  return new PrsmError('INTERNAL', message, { details: { ...details, originalCode: code } })
}
