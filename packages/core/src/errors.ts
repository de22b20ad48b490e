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
  PEER_UNREACHABLE: { status: 502, message: 'The peer could not be reached' },

  // chain, wallet, payment channels and vouchers (the node ledger)
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

  // content storage (IPFS blocks and files), manifests, replication
  CONTENT_INVALID_CID: { status: 400, message: 'The CID is not valid' },
  CONTENT_NOT_FOUND: { status: 404, message: 'The content could not be found locally or on the network' },
  CONTENT_BAD_BLOCK: { status: 502, message: 'A peer served a block that does not match its CID' },
  CONTENT_RANGE_INVALID: { status: 416, message: 'The requested byte range cannot be satisfied' },
  CONTENT_NOT_A_FILE: { status: 400, message: 'The CID is not a UnixFS file' },
  MANIFEST_INVALID: { status: 400, message: 'The manifest does not match the manifest schema' },
  MANIFEST_BAD_SIGNATURE: {
    status: 401,
    message: "The manifest signature does not verify against its creator's address",
  },
  MANIFEST_FILE_MISMATCH: {
    status: 422,
    message: 'A file CID in the manifest does not match the content (size or kind)',
  },
  MANIFEST_NOT_FOUND: { status: 404, message: 'No manifest was found for this CID or name' },
  REPLICATION_FAILED: { status: 502, message: 'Not enough storage providers accepted to pin the content' },
  PIN_REFUSED: { status: 403, message: 'The storage provider refused the pin request' },
  PIN_PAYMENT_REQUIRED: {
    status: 402,
    message: 'The storage provider refuses pins from this requester: an earlier pin was not paid',
  },

  // jobs between peers (/prsm/job/1.0.0)
  JOB_NO_OFFER: { status: 404, message: 'The provider has no current offer for the requested capability' },
  JOB_NO_BACKEND: { status: 503, message: 'No backend serves the requested capability on this node' },
  JOB_PRICE_TOO_LOW: { status: 402, message: "The request's max price is below the offer's price" },
  JOB_PAYMENT_REQUIRED: { status: 402, message: 'The offer has a price and the request carries no voucher' },
  JOB_BUSY: { status: 503, message: "The provider's job queue is full" },
  JOB_REFUSED: { status: 403, message: "The provider's safety check refused the request" },
  JOB_DEADLINE_EXCEEDED: { status: 504, message: 'The job did not finish before its deadline' },
  JOB_CANCELLED: { status: 409, message: 'The job was cancelled by the client' },
  JOB_DUPLICATE: { status: 409, message: 'The request id was already used for a different request' },
  JOB_INTERRUPTED: {
    status: 410,
    message: 'The job with this request id was interrupted by a provider restart (retry with a new id)',
  },
  JOB_INPUT_INVALID: { status: 400, message: "The job's step or inputs are invalid for the capability" },
  JOB_BACKEND_FAILED: {
    status: 502,
    message: 'The backend failed (upstream error, dropped stream or invalid answer)',
  },
  JOB_COMPUTE_TIME_LIMIT: { status: 408, message: 'The compute program ran past its time cap' },
  JOB_COMPUTE_MEMORY_LIMIT: { status: 413, message: 'The compute program exceeded its memory cap' },
  JOB_COMPUTE_FAILED: {
    status: 422,
    message: 'The compute program threw, used a forbidden capability, or returned too much output',
  },
  JOB_RECEIPT_INVALID: {
    status: 502,
    message: "The provider's receipt does not match the request or the streamed output",
  },
  JOB_NO_MAJORITY: {
    status: 502,
    message: 'The providers of a redundant step did not return a strict majority of identical outputs',
  },
  JOB_EVIDENCE_INVALID: {
    status: 400,
    message: 'The evidence record does not verify (signatures, receipts or hashes)',
  },
  JOB_EVIDENCE_NOT_FOUND: { status: 404, message: 'No evidence record with this id is stored on this node' },

  // orchestrator: workflows, budgets, plans and reasoning traces
  WORKFLOW_INVALID: { status: 400, message: 'The workflow does not match the workflow schema' },
  WORKFLOW_CYCLE: { status: 400, message: 'The workflow steps depend on each other in a cycle' },
  WORKFLOW_DANGLING_REF: { status: 400, message: 'A workflow step refers to a step that does not exist' },
  WORKFLOW_UNKNOWN_CAPABILITY: {
    status: 400,
    message: 'A workflow step names a capability that does not fit its kind or that no provider offers',
  },
  WORKFLOW_STEP_FAILED: {
    status: 502,
    message: 'A workflow step failed on every provider it was routed to',
  },
  WORKFLOW_NOT_FOUND: { status: 404, message: 'No workflow run with this id is known to this node' },
  BUDGET_EXCEEDED: {
    status: 402,
    message: 'The next payment would exceed the budget of the job; it was aborted without paying it',
  },
  PLANNER_NO_MODEL: {
    status: 422,
    message: 'No model is available to plan a query (run a workflow file instead, or configure a model)',
  },
  PLANNER_INVALID_OUTPUT: {
    status: 502,
    message: 'The planning model did not return a valid workflow within the allowed attempts',
  },
  TRACE_INVALID: {
    status: 422,
    message: 'The reasoning trace failed verification (signature, hash, link or re-execution)',
  },
  COMPRESSION_BUDGET_INVALID: {
    status: 400,
    message: 'The token budget for context compression must be a positive whole number',
  },
  COMPRESSION_EMBEDDING_INVALID: {
    status: 502,
    message: 'The embedding backend did not return one vector of the same size per text',
  },

  // emergency halt, lineage safeguards, audit log, governance
  HALTED: { status: 503, message: 'A validator halt certificate covers this network, provider or model' },
  HALT_VOTE_INVALID: {
    status: 400,
    message: 'The halt vote is malformed, badly signed, from outside the validator set, or for a past epoch',
  },
  HALT_CERTIFICATE_INVALID: {
    status: 400,
    message: 'The halt certificate does not carry a quorum of valid validator votes',
  },
  NOT_A_VALIDATOR: { status: 403, message: 'This node is not in the on-chain validator set' },
  LINEAGE_EVALUATION_MISSING: {
    status: 422,
    message: 'A model version with a parent must carry a readable evaluation report',
  },
  LINEAGE_APPROVAL_REQUIRED: {
    status: 403,
    message: 'The model version exceeds the capability bound and has no executed approval proposal',
  },
  AUDIT_LOG_TAMPERED: {
    status: 409,
    message: 'The audit log does not verify: an entry was edited, deleted or reordered',
  },
  PROPOSAL_INVALID: { status: 400, message: 'The governance proposal is invalid or unknown' },

  // circuit breakers and safety policy
  SAFETY_BLOCKED: {
    status: 403,
    message: 'The safety check blocked the text (injection, jailbreak, harmful request, secret or limit)',
  },
  SAFETY_POLICY_INVALID: {
    status: 400,
    message: 'The safety policy document does not match the policy schema',
  },
  SAFETY_CORPUS_INVALID: { status: 400, message: 'The safety evaluation corpus is missing or malformed' },
  SAFETY_CHECK_FAILED: {
    status: 503,
    message: 'A safety check (classifier or judge) could not run and its category fails closed',
  },

  // node control and API
  NODE_NOT_RUNNING: { status: 503, message: 'No node is running for this data directory' },
  NODE_ALREADY_RUNNING: { status: 409, message: 'A node is already running for this data directory' },
  UNAUTHORIZED: { status: 401, message: 'Missing or invalid credentials' },
  FORBIDDEN: { status: 403, message: "The caller's role does not hold the permission this operation needs" },
  RATE_LIMITED: { status: 429, message: "The API key's request rate limit is exhausted (see Retry-After)" },
  API_BUDGET_EXCEEDED: {
    status: 402,
    message: "The request would exceed the API key's or organisation's daily FTNS budget",
  },
  PAYLOAD_TOO_LARGE: { status: 413, message: 'The request body is larger than allowed' },
  IDEMPOTENCY_KEY_REUSED: {
    status: 422,
    message: 'The Idempotency-Key was already used by this API key for a different request',
  },
  IDEMPOTENCY_IN_PROGRESS: {
    status: 409,
    message: 'The first request with this Idempotency-Key is still running; retry later',
  },
  IDEMPOTENCY_NOT_REPLAYABLE: {
    status: 409,
    message: 'The request with this Idempotency-Key ran, but its answer was too large to keep for replay',
  },
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
