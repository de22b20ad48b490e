import { errorFromWire } from './errors.ts'

/** Lines of a UTF-8 byte stream (without their `\n` or `\r\n`). */
export async function* lines(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder()
  const reader = body.getReader()
  let buffer = ''
  try {
    while (true) {
      const { done, value } = await reader.read()
      buffer += done ? decoder.decode() : decoder.decode(value, { stream: true })
      let nl = buffer.indexOf('\n')
      while (nl >= 0) {
        yield buffer.slice(0, nl).replace(/\r$/, '')
        buffer = buffer.slice(nl + 1)
        nl = buffer.indexOf('\n')
      }
      if (done) break
    }
    if (buffer !== '') yield buffer
  } finally {
    await reader.cancel().catch(() => {})
    reader.releaseLock()
  }
}

/** One server-sent event. */
export interface SseEvent {
  event: string
  data: string
  id?: string
}

/** Server-sent events of a `text/event-stream` body. */
export async function* sseEvents(body: ReadableStream<Uint8Array>): AsyncGenerator<SseEvent> {
  let event = ''
  let id: string | undefined
  let data: string[] = []
  for await (const line of lines(body)) {
    if (line === '') {
      if (data.length > 0)
        yield { event: event || 'message', data: data.join('\n'), ...(id === undefined ? {} : { id }) }
      event = ''
      data = []
      continue
    }
    if (line.startsWith(':')) continue
    const colon = line.indexOf(':')
    const field = colon < 0 ? line : line.slice(0, colon)
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '')
    if (field === 'event') event = value
    else if (field === 'data') data.push(value)
    else if (field === 'id') id = value
  }
  if (data.length > 0)
    yield { event: event || 'message', data: data.join('\n'), ...(id === undefined ? {} : { id }) }
}

/** An error reported inside a stream: `{ type: 'error', error }` (NDJSON) or `{ error }` (SSE). */
function streamError(value: unknown): unknown {
  const v = value as { type?: unknown; error?: unknown } | null
  if (v === null || typeof v !== 'object' || typeof v.error !== 'object' || v.error === null) return undefined
  const only = Object.keys(v).every((k) => k === 'error' || k === 'type')
  return v.type === 'error' || (v.type === undefined && only) ? { error: v.error } : undefined
}

/**
 * The JSON values of a streamed answer: NDJSON lines, or SSE `data:` events (`[DONE]` ends it).
 * An error event is thrown as a PrsmApiError (status 0: the answer had already begun).
 */
export async function* jsonEvents<T = unknown>(response: Response): AsyncGenerator<T> {
  if (response.body === null) return
  const sse = (response.headers.get('content-type') ?? '').startsWith('text/event-stream')
  const texts = sse
    ? (async function* () {
        for await (const e of sseEvents(response.body as ReadableStream<Uint8Array>)) yield e.data
      })()
    : lines(response.body)
  for await (const text of texts) {
    if (text.trim() === '') continue
    if (sse && text === '[DONE]') return
    const value = JSON.parse(text) as unknown
    const error = streamError(value)
    if (error !== undefined) throw errorFromWire(error, 0)
    yield value as T
  }
}
