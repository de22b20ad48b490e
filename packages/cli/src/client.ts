import { fromWire, PrsmError, type WireError } from '@prsm/core'
import { readRuntimeFile } from '@prsm/node/runtime'

/**
 * Calls the local API of the node running on `dataDir`, authenticated with its token file, and
 * returns the raw response (streamed uploads and downloads use it directly). Error answers are
 * rebuilt into their PrsmError.
 */
export async function callNodeStream(
  dataDir: string,
  path: string,
  init: RequestInit = {},
): Promise<Response> {
  const runtime = await readRuntimeFile(dataDir)
  let res: Response
  try {
    res = await fetch(`${runtime.apiUrl}${path}`, {
      ...init,
      headers: { ...init.headers, authorization: `Bearer ${runtime.token}` },
      ...(init.body instanceof ReadableStream ? { duplex: 'half' } : {}),
    } as RequestInit)
  } catch (err) {
    throw new PrsmError('NODE_NOT_RUNNING', `cannot reach the node API at ${runtime.apiUrl}`, { cause: err })
  }
  if (!res.ok) {
    const body = (await res.json().catch(() => ({}))) as WireError | Record<string, unknown>
    if ('error' in body) throw fromWire(body as WireError)
    throw new PrsmError('INTERNAL', `node API answered ${res.status}`)
  }
  return res
}

/** Calls the local API and returns its JSON answer (30 s unless the caller gives a signal). */
export async function callNode<T>(dataDir: string, path: string, init: RequestInit = {}): Promise<T> {
  const res = await callNodeStream(dataDir, path, {
    ...init,
    signal: init.signal ?? AbortSignal.timeout(30_000),
  })
  return (await res.json()) as T
}
