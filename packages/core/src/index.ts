export type { ErrorCode, PrsmErrorOptions, WireError } from './errors.ts'
export { ERROR_CATALOGUE, fromWire, hasCode, isErrorCode, PrsmError } from './errors.ts'
