import { CID } from 'multiformats/cid'

/** A trace record as JSON: CIDs as strings, bytes (signatures) as base64. */
export function traceToJson(value: unknown): unknown {
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64')
  const cid = CID.asCID(value)
  if (cid !== null) return cid.toString()
  if (Array.isArray(value)) return value.map(traceToJson)
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, traceToJson(v)]))
  }
  return value
}
