import { fromWire, PrsmError, type WireError } from '@prsm/core'
import { readRuntimeFile } from '@prsm/node/runtime'

/** Calls the local API of the node running on `dataDir`, authenticated with its token file. */
export async function callNode<T>(dataDir: string, path: string, init: RequestInit = {}): Promise<T> {
  const runtime = await readRuntimeFile(dataDir)
  let res: Response
  try {
    res = await fetch(`${runtime.apiUrl}${path}`, {
      ...init,
      headers: { ...init.headers, authorization: `Bearer ${runtime.token}` },
      signal: init.signal ?? AbortSignal.timeout(30_000),
    })
  } catch (err) {
    throw new PrsmError('NODE_NOT_RUNNING', `cannot reach the node API at ${runtime.apiUrl}`, { cause: err })
  }
  const body = (await res.json().catch(() => ({}))) as T | WireError
  if (!res.ok) {
    if (typeof body === 'object' && body !== null && 'error' in body) throw fromWire(body as WireError)
    throw new PrsmError('INTERNAL', `node API answered ${res.status}`)
  }
  return body as T
}
