import { errorFromWire, PrsmConnectionError } from './errors.ts'
import type { Operations } from './generated/openapi.ts'
import { jsonEvents } from './streams.ts'

export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'
export type OperationKey = keyof Operations
/** The paths that take `M`. */
export type PathOf<M extends Method> = {
  [K in OperationKey]: K extends `${M} ${infer P}` ? P : never
}[OperationKey]
/** The operation `M path`. */
export type Operation<M extends Method, P extends PathOf<M>> = Operations[`${M} ${P}` & OperationKey]

type Empty = Record<string, never>

/** What one call takes: path parameters and body when the operation has them. */
export type CallOptions<O extends { path: unknown; query: unknown; body: unknown }> = {
  /** Path parameters (`{cid}` in `/api/v1/content/{cid}`). */
  params?: O['path']
  query?: O['query'] extends Empty ? never : Partial<O['query']>
  body?: O['body']
  signal?: AbortSignal
  headers?: Record<string, string>
  /**
   * POSTs carry an Idempotency-Key (a fresh random one unless given here) so a retry after a lost
   * answer is not run twice by the node. `false` sends none (and then a POST is never retried).
   */
  idempotencyKey?: string | false
} & (O['path'] extends Empty ? unknown : { params: O['path'] })

type AnyOptions = CallOptions<{ path: unknown; query: unknown; body: unknown }>

/** Options of calls whose operation needs path parameters are required. */
export type CallArgs<O extends { path: unknown; query: unknown; body: unknown; bodyRequired: boolean }> =
  O['path'] extends Empty
    ? O['bodyRequired'] extends true
      ? [options: CallOptions<O> & { body: O['body'] }]
      : [options?: CallOptions<O>]
    : [options: CallOptions<O>]

export interface PrsmClientInit {
  /** The node's API address, e.g. `http://127.0.0.1:7700` (see `prsm node status`). */
  baseUrl: string
  /** An API key (`prsm_…`), a JWT, or the node's token file contents. */
  token?: string
  /** Attempts after the first for network errors, 429 and 5xx (default 3). */
  retries?: number
  /** First backoff delay in ms, doubled each retry with jitter, capped at 10 s (default 250). */
  retryDelayMs?: number
  /** Time allowed for the response headers of one attempt, ms (default 60 000). */
  timeoutMs?: number
  /** A fetch implementation (default: the global fetch). */
  fetch?: typeof fetch
  headers?: Record<string, string>
}

const RETRY_STATUSES = new Set([429, 500, 502, 503, 504])
const MAX_DELAY_MS = 10_000

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason)
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    const onAbort = () => {
      clearTimeout(timer)
      reject(signal?.reason)
    }
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

function newIdempotencyKey(): string {
  return globalThis.crypto.randomUUID()
}

/**
 * A typed client of the PRSM node API, built on fetch only (Node 22+, browsers, Deno, Bun).
 * Every operation of the node's OpenAPI document is typed by `METHOD path`:
 * `get('/api/v1/node/status')`, `post('/api/v1/keys', { body })`; streamed answers (NDJSON, SSE)
 * are async iterators from `stream`; error answers throw a PrsmApiError with the catalogue code.
 * Network errors, 429 and 5xx are retried with exponential backoff (POSTs with an Idempotency-Key).
 */
export class PrsmClient {
  readonly baseUrl: string
  readonly #init: PrsmClientInit
  readonly #fetch: typeof fetch

  constructor(init: PrsmClientInit) {
    this.baseUrl = init.baseUrl.replace(/\/+$/, '')
    this.#init = init
    this.#fetch = init.fetch ?? ((input, options) => globalThis.fetch(input, options))
  }

  get<P extends PathOf<'GET'>>(path: P, ...args: CallArgs<Operation<'GET', P>>) {
    return this.#json<Operation<'GET', P>>('GET', path, args[0])
  }

  post<P extends PathOf<'POST'>>(path: P, ...args: CallArgs<Operation<'POST', P>>) {
    return this.#json<Operation<'POST', P>>('POST', path, args[0])
  }

  put<P extends PathOf<'PUT'>>(path: P, ...args: CallArgs<Operation<'PUT', P>>) {
    return this.#json<Operation<'PUT', P>>('PUT', path, args[0])
  }

  delete<P extends PathOf<'DELETE'>>(path: P, ...args: CallArgs<Operation<'DELETE', P>>) {
    return this.#json<Operation<'DELETE', P>>('DELETE', path, args[0])
  }

  /**
   * The events of a streamed answer (`POST /api/v1/jobs` NDJSON, `GET /api/v1/workflows/{id}/events`
   * SSE, `POST /v1/chat/completions` with `stream: true`) as parsed JSON values. An error event
   * throws a PrsmApiError. Breaking out of the loop closes the connection.
   */
  async *stream<M extends Method, P extends PathOf<M>>(
    method: M,
    path: P,
    ...args: CallArgs<Operation<M, P>>
  ): AsyncGenerator<unknown> {
    const response = await this.raw(method, path, ...args)
    yield* jsonEvents(response)
  }

  /** The raw Response of a successful call (files, ranges, streams); error answers still throw. */
  async raw<M extends Method, P extends PathOf<M>>(
    method: M,
    path: P,
    ...args: CallArgs<Operation<M, P>>
  ): Promise<Response> {
    return this.#send(method, path, args[0] as AnyOptions)
  }

  async #json<O extends { response: unknown; path: unknown; query: unknown; body: unknown }>(
    method: Method,
    path: string,
    options: unknown,
  ): Promise<O['response']> {
    const response = await this.#send(method, path, options as AnyOptions)
    const text = await response.text()
    return (text === '' ? undefined : JSON.parse(text)) as O['response']
  }

  #url(path: string, options: AnyOptions | undefined): string {
    const params = (options?.params ?? {}) as Record<string, string | number>
    const filled = path.replace(/\{([A-Za-z0-9_]+)\}/g, (_m, name: string) => {
      const value = params[name]
      if (value === undefined) throw new TypeError(`missing path parameter ${name} for ${path}`)
      return encodeURIComponent(String(value))
    })
    const query = new URLSearchParams()
    for (const [k, v] of Object.entries((options?.query ?? {}) as Record<string, unknown>)) {
      if (v !== undefined && v !== null) query.set(k, String(v))
    }
    const qs = query.toString()
    return `${this.baseUrl}${filled}${qs === '' ? '' : `?${qs}`}`
  }

  async #send(method: Method, path: string, options: AnyOptions | undefined): Promise<Response> {
    const url = this.#url(path, options)
    const headers: Record<string, string> = { ...this.#init.headers, ...options?.headers }
    if (this.#init.token !== undefined) headers.authorization = `Bearer ${this.#init.token}`
    let body: BodyInit | undefined
    const given = options?.body as unknown
    if (given !== undefined) {
      const raw =
        typeof given === 'string' ||
        given instanceof Uint8Array ||
        given instanceof ArrayBuffer ||
        given instanceof Blob ||
        given instanceof ReadableStream
      body = raw ? (given as BodyInit) : JSON.stringify(given)
      headers['content-type'] ??= raw ? 'application/octet-stream' : 'application/json'
    }
    const idempotent = method !== 'POST' || options?.idempotencyKey !== false
    if (method === 'POST' && options?.idempotencyKey !== false) {
      headers['idempotency-key'] = options?.idempotencyKey ?? newIdempotencyKey()
    }
    // a streamed request body can be sent once only
    const retries = body instanceof ReadableStream || !idempotent ? 0 : (this.#init.retries ?? 3)
    const signal = options?.signal
    for (let attempt = 0; ; attempt++) {
      // the timeout bounds the wait for the answer's headers; a long stream may take longer
      const controller = new AbortController()
      const onAbort = () => controller.abort(signal?.reason)
      if (signal?.aborted) throw signal.reason
      signal?.addEventListener('abort', onAbort, { once: true })
      const timer = setTimeout(
        () => controller.abort(new DOMException('no answer in time', 'TimeoutError')),
        this.#init.timeoutMs ?? 60_000,
      )
      let response: Response
      try {
        response = await this.#fetch(url, {
          method,
          headers,
          ...(body === undefined ? {} : { body }),
          signal: controller.signal,
          ...(body instanceof ReadableStream ? { duplex: 'half' } : {}),
        } as RequestInit)
      } catch (err) {
        signal?.removeEventListener('abort', onAbort)
        if (signal?.aborted) throw signal.reason
        if (attempt >= retries) {
          throw new PrsmConnectionError(`${method} ${url} failed: ${(err as Error).message}`, { cause: err })
        }
        await sleep(this.#backoff(attempt), signal)
        continue
      } finally {
        clearTimeout(timer)
      }
      if (response.ok) return response
      if (RETRY_STATUSES.has(response.status) && attempt < retries) {
        await response.body?.cancel().catch(() => {})
        await sleep(this.#backoff(attempt, response.headers.get('retry-after')), signal)
        continue
      }
      const text = await response.text().catch(() => '')
      let wire: unknown
      try {
        wire = JSON.parse(text)
      } catch {
        wire = { error: { message: text.slice(0, 500) || `HTTP ${response.status}` } }
      }
      throw errorFromWire(wire, response.status)
    }
  }

  #backoff(attempt: number, retryAfter?: string | null): number {
    const after = retryAfter == null ? Number.NaN : Number(retryAfter) * 1000
    if (Number.isFinite(after) && after >= 0) return Math.min(after, MAX_DELAY_MS)
    const base = (this.#init.retryDelayMs ?? 250) * 2 ** attempt
    return Math.min(MAX_DELAY_MS, base / 2 + Math.random() * (base / 2))
  }
}
