import { createHash } from 'node:crypto'
import { PassThrough, Readable } from 'node:stream'
import { PrsmError } from '@prsm/core'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'

/** The request header naming a retryable POST (IETF draft-ietf-httpapi-idempotency-key-header). */
export const IDEMPOTENCY_HEADER = 'idempotency-key'
/** Set on an answer replayed from the store. */
export const REPLAYED_HEADER = 'idempotent-replayed'
/** How long a key's answer is kept. */
export const DEFAULT_IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000
/** Keys remembered at once (the oldest are forgotten first). */
export const DEFAULT_IDEMPOTENCY_MAX_ENTRIES = 10_000
/** The largest answer kept for replay; a larger one (a long stream) cannot be replayed. */
export const DEFAULT_IDEMPOTENCY_MAX_BODY_BYTES = 1024 * 1024
const KEY_PATTERN = /^[\x21-\x7e]{1,255}$/
/** Answer headers worth replaying (not dates, lengths or rate-limit state). */
const KEPT_HEADERS = /^(content-type|x-prsm-|location$)/

export interface IdempotencyInit {
  ttlMs?: number
  maxEntries?: number
  maxBodyBytes?: number
  now?: () => number
}

interface StoredAnswer {
  status: number
  headers: Record<string, string>
  /** Null when the answer was larger than the cap (it ran once but cannot be replayed). */
  body: Buffer | null
}

interface Entry {
  /** sha256 of method, route and body: a retry must send the same request. */
  fingerprint: string
  createdAt: number
  answer: StoredAnswer | undefined
}

interface Pending {
  key: string
  chunks: Buffer[]
  bytes: number
  overflow: boolean
}

const pendingOf = new WeakMap<FastifyRequest, Pending>()

function fingerprint(req: FastifyRequest): string {
  const body = req.body
  const text =
    body === undefined ? '' : Buffer.isBuffer(body) ? body.toString('base64') : JSON.stringify(body)
  return createHash('sha256')
    .update(`${req.method} ${req.routeOptions.url ?? req.url}\n`)
    .update(text)
    .digest('hex')
}

/** Replayable answers: 2xx and 4xx except those a retry should re-run (conflicts, timeouts, limits). */
function replayable(status: number): boolean {
  return (
    (status >= 200 && status < 300) || (status >= 400 && status < 500 && ![408, 409, 429].includes(status))
  )
}

/**
 * Server-side idempotency for POSTs: a request with an `Idempotency-Key` header runs once per
 * (API key, idempotency key); a retry with the same body gets the stored answer (status, body and
 * content headers, plus `Idempotent-Replayed: true`), the same key with another body is
 * IDEMPOTENCY_KEY_REUSED, and a retry while the first is still running is IDEMPOTENCY_IN_PROGRESS.
 * Server errors (5xx) and answers cut short are not stored, so a retry runs again. Streamed answers
 * are kept up to `maxBodyBytes`; a retry of a larger one is IDEMPOTENCY_NOT_REPLAYABLE. Raw
 * (streamed) request bodies cannot carry a key. Keys live in memory
 * for `ttlMs` (a retry after a node restart runs again; jobs themselves also dedupe by request id).
 *
 * Call before the hooks that spend (budget reservations), so a replay spends nothing.
 */
export function registerIdempotency(app: FastifyInstance, init: IdempotencyInit = {}): void {
  const ttl = init.ttlMs ?? DEFAULT_IDEMPOTENCY_TTL_MS
  const maxEntries = init.maxEntries ?? DEFAULT_IDEMPOTENCY_MAX_ENTRIES
  const maxBody = init.maxBodyBytes ?? DEFAULT_IDEMPOTENCY_MAX_BODY_BYTES
  const now = init.now ?? Date.now
  const entries = new Map<string, Entry>()

  /** Forgets expired keys, and the oldest finished ones while over `maxEntries` (oldest first). */
  function prune(): void {
    const cutoff = now() - ttl
    for (const [k, e] of entries) {
      const expired = e.createdAt < cutoff
      if (!expired && entries.size <= maxEntries) break
      if (expired || e.answer !== undefined) entries.delete(k)
    }
  }

  app.addHook('preHandler', async (req: FastifyRequest, reply: FastifyReply) => {
    const header = req.headers[IDEMPOTENCY_HEADER]
    if (req.method !== 'POST' || header === undefined) return
    const given = Array.isArray(header) ? header[0] : header
    if (given === undefined || !KEY_PATTERN.test(given)) {
      throw new PrsmError('VALIDATION_FAILED', 'Idempotency-Key must be 1-255 visible ASCII characters')
    }
    if (req.body instanceof Readable) {
      throw new PrsmError('VALIDATION_FAILED', 'Idempotency-Key is not supported on streamed uploads')
    }
    prune()
    const key = `${req.principal?.keyId ?? 'public'}\u0000${given}`
    const print = fingerprint(req)
    const existing = entries.get(key)
    if (existing !== undefined) {
      if (existing.fingerprint !== print) {
        throw new PrsmError(
          'IDEMPOTENCY_KEY_REUSED',
          'this Idempotency-Key was used for a different request',
          {
            details: { idempotencyKey: given },
          },
        )
      }
      const answer = existing.answer
      if (answer === undefined) {
        throw new PrsmError(
          'IDEMPOTENCY_IN_PROGRESS',
          'the first request with this Idempotency-Key is still running',
          {
            details: { idempotencyKey: given },
          },
        )
      }
      if (answer.body === null) {
        throw new PrsmError(
          'IDEMPOTENCY_NOT_REPLAYABLE',
          'the answer to this Idempotency-Key was too large to keep',
          {
            details: { idempotencyKey: given, status: answer.status },
          },
        )
      }
      void reply.status(answer.status).headers(answer.headers).header(REPLAYED_HEADER, 'true')
      return reply.send(answer.body)
    }
    entries.set(key, { fingerprint: print, createdAt: now(), answer: undefined })
    pendingOf.set(req, { key, chunks: [], bytes: 0, overflow: false })
    // cut short (client gone mid-stream, socket error): forget the key so a retry runs again
    reply.raw.once('close', () => {
      if (!reply.raw.writableEnded && entries.get(key)?.answer === undefined) entries.delete(key)
    })
  })

  app.addHook('onSend', async (req, _reply, payload) => {
    const pending = pendingOf.get(req)
    if (pending === undefined) return payload
    const keep = (chunk: Buffer): void => {
      if (pending.overflow) return
      pending.bytes += chunk.byteLength
      if (pending.bytes > maxBody) {
        pending.overflow = true
        pending.chunks = []
      } else pending.chunks.push(chunk)
    }
    if (payload instanceof Readable) {
      // a streamed answer is copied as it passes (up to the cap)
      const tee = new PassThrough()
      tee.on('data', (c: Buffer | string) => keep(Buffer.isBuffer(c) ? c : Buffer.from(c)))
      payload.on('error', (err) => tee.destroy(err))
      return payload.pipe(tee)
    }
    if (typeof payload === 'string' || Buffer.isBuffer(payload)) keep(Buffer.from(payload))
    return payload
  })

  app.addHook('onResponse', async (req, reply) => {
    const pending = pendingOf.get(req)
    if (pending === undefined) return
    pendingOf.delete(req)
    const entry = entries.get(pending.key)
    if (entry === undefined) return
    if (!replayable(reply.statusCode) || !reply.raw.writableEnded) {
      entries.delete(pending.key)
      return
    }
    const headers: Record<string, string> = {}
    for (const [name, value] of Object.entries(reply.getHeaders())) {
      if (KEPT_HEADERS.test(name) && value !== undefined) headers[name] = String(value)
    }
    entry.answer = {
      status: reply.statusCode,
      headers,
      body: pending.overflow ? null : Buffer.concat(pending.chunks),
    }
  })
}
