import { fromWire, PrsmError, type WireError } from '@prsm/core'
import { readRuntimeFile } from '@prsm/node/runtime'

/**
 * Calls the local API of the node running on `dataDir` and returns the raw response (for
 * streamed uploads and downloads). Error answers are rebuilt into their PrsmError.
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
