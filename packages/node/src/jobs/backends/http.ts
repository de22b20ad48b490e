import { PrsmError } from '@prsm/core'

export interface SseEvent {
  event: string
  data: string
}

/**
 * Parses a text/event-stream body into events (`event:` and `data:` fields; comments and `id:`
 * ignored). Ends when the body ends; a body that breaks throws JOB_BACKEND_FAILED.
 */
export async function* parseSse(body: ReadableStream<Uint8Array>): AsyncGenerator<SseEvent> {
  const decoder = new TextDecoder()
  let buffer = ''
  let event = ''
  let data: string[] = []
  const reader = body.getReader()
  try {
    while (true) {
      let chunk: ReadableStreamReadResult<Uint8Array>
      try {
        chunk = await reader.read()
      } catch (err) {
        throw upstreamBroke(err)
      }
      if (chunk.done) break
      buffer += decoder.decode(chunk.value, { stream: true })
      let nl = buffer.search(/\r?\n/)
      while (nl >= 0) {
        const line = buffer.slice(0, nl)
        buffer = buffer.slice(buffer[nl] === '\r' ? nl + 2 : nl + 1)
        if (line === '') {
          if (data.length > 0) yield { event: event || 'message', data: data.join('\n') }
          event = ''
          data = []
        } else if (!line.startsWith(':')) {
          const colon = line.indexOf(':')
          const field = colon < 0 ? line : line.slice(0, colon)
          const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '')
          if (field === 'event') event = value
          else if (field === 'data') data.push(value)
        }
        nl = buffer.search(/\r?\n/)
      }
    }
  } finally {
    reader.releaseLock()
  }
}

function upstreamBroke(err: unknown): unknown {
  // An abort (cancel, deadline) is the job's signal; the provider reports it with its own code.
  const name = (err as Error)?.name
  if (name === 'AbortError' || name === 'TimeoutError') return err
  return new PrsmError('JOB_BACKEND_FAILED', `the upstream stream broke: ${(err as Error)?.message ?? err}`, {
    cause: err,
  })
}

/**
 * POSTs JSON upstream. A non-2xx answer throws JOB_BACKEND_FAILED with the status and the start of
 * the body (never the request headers, which hold the key). `timeoutMs` bounds the wait for the
 * response headers; `signal` bounds everything.
 */
export async function postJson(
  url: string,
  headers: Record<string, string>,
  body: unknown,
  options: { signal: AbortSignal; timeoutMs: number },
): Promise<Response> {
  const headersTimeout = AbortSignal.timeout(options.timeoutMs)
  const signal = AbortSignal.any([options.signal, headersTimeout])
  let response: Response
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
      signal,
    })
  } catch (err) {
    if (options.signal.aborted) throw options.signal.reason
    throw new PrsmError('JOB_BACKEND_FAILED', `upstream not reached: ${(err as Error).message}`, {
      cause: err,
      details: { url },
    })
  }
  if (!response.ok) {
    const text = (await response.text().catch(() => '')).slice(0, 300)
    throw new PrsmError('JOB_BACKEND_FAILED', `upstream answered HTTP ${response.status}: ${text}`, {
      details: { url, status: response.status },
    })
  }
  return response
}

/** Reads a whole JSON answer (JOB_BACKEND_FAILED when it is not JSON or breaks). */
export async function readJson(response: Response, signal: AbortSignal): Promise<unknown> {
  try {
    return await response.json()
  } catch (err) {
    if (signal.aborted) throw signal.reason
    throw new PrsmError('JOB_BACKEND_FAILED', `the upstream answer is not JSON: ${(err as Error).message}`, {
      cause: err,
    })
  }
}

/** Upstream cost in wei: tokens × (FTNS per million tokens), from the operator's price table. */
export function upstreamCost(
  tokensIn: number,
  tokensOut: number,
  inPerMTok: bigint,
  outPerMTok: bigint,
): bigint {
  return (BigInt(tokensIn) * inPerMTok + BigInt(tokensOut) * outPerMTok) / 1_000_000n
}

/** Chat messages from a step: `params.messages` as given, else the text inputs as one user turn. */
export function chatMessages(
  params: Record<string, unknown>,
  inputs: readonly ({ text: string } | { bytes: Uint8Array })[],
): Array<{ role: string; content: string }> {
  if (Array.isArray(params.messages)) {
    return params.messages.map((m) => {
      const msg = m as { role?: unknown; content?: unknown }
      if (typeof msg.role !== 'string' || typeof msg.content !== 'string') {
        throw new PrsmError(
          'JOB_INPUT_INVALID',
          'params.messages must be [{ role, content }] with string fields',
        )
      }
      return { role: msg.role, content: msg.content }
    })
  }
  const text = inputs.map((i) => ('text' in i ? i.text : new TextDecoder().decode(i.bytes))).join('\n')
  if (text === '')
    throw new PrsmError('JOB_INPUT_INVALID', 'a model step needs a text input or params.messages')
  return [{ role: 'user', content: text }]
}

/** The API key named by `apiKeyEnv`, read at call time (so it can be rotated without a restart). */
export function apiKey(apiKeyEnv: string | undefined): string | undefined {
  if (apiKeyEnv === undefined) return undefined
  const key = process.env[apiKeyEnv]
  if (key === undefined || key === '') {
    throw new PrsmError('JOB_NO_BACKEND', `the backend's API key variable ${apiKeyEnv} is not set`)
  }
  return key
}
