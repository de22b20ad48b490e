/**
 * @prsm/sdk: a typed client of the PRSM node API. Uses only fetch, ReadableStream and TextDecoder,
 * so it runs in Node 22+, browsers, Deno and Bun.
 */
export type {
  CallArgs,
  CallOptions,
  Method,
  Operation,
  OperationKey,
  PathOf,
  PrsmClientInit,
} from './client.ts'
export { PrsmClient } from './client.ts'
export type { ErrorCode } from './errors.ts'
export { errorFromWire, isErrorCode, isPrsmApiError, PrsmApiError, PrsmConnectionError } from './errors.ts'
export type { Operations, WireError } from './generated/openapi.ts'
export { ERROR_STATUS } from './generated/openapi.ts'
export type { SseEvent } from './streams.ts'
export { jsonEvents, lines, sseEvents } from './streams.ts'
