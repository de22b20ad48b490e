import { Readable } from 'node:stream'
import { PrsmError } from '@prsm/core'
import type { ReplicationService } from '../../storage/replication.ts'
import type { ContentStorage } from '../../storage/storage.ts'
import type { ApiRoutes } from '../server.ts'

/** What the content routes need from the node. */
export interface ContentRoutesComponents {
  storage: Pick<ContentStorage, 'add' | 'cat' | 'stat' | 'pin' | 'unpin' | 'pins' | 'gc' | 'usage'>
  replication: Pick<ReplicationService, 'replicate' | 'get' | 'list' | 'spotCheck'>
}

export interface ByteRange {
  start: number
  /** Inclusive. */
  end: number
}

/**
 * Parses a single-range `Range` header (`bytes=a-b`, `bytes=a-`, `bytes=-n`) against a size.
 * Returns undefined when there is no usable header; throws CONTENT_RANGE_INVALID when the range
 * cannot be satisfied. Multi-range requests are answered with the whole body (allowed by RFC 9110).
 */
export function parseRange(header: string | undefined, size: number): ByteRange | undefined {
  if (header === undefined) return undefined
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim())
  if (match === null) return undefined
  const [, a = '', b = ''] = match
  if (a === '' && b === '') return undefined
  let start: number
  let end: number
  if (a === '') {
    const suffix = Number(b)
    if (suffix === 0) throw rangeError(header, size)
    start = Math.max(0, size - suffix)
    end = size - 1
  } else {
    start = Number(a)
    end = b === '' ? size - 1 : Math.min(Number(b), size - 1)
  }
  if (start >= size || end < start) throw rangeError(header, size)
  return { start, end }
}

function rangeError(header: string, size: number): PrsmError {
  return new PrsmError('CONTENT_RANGE_INVALID', `range ${header} is outside 0-${size - 1}`, {
    details: { size },
  })
}

/** Aborts when the client goes away before the response is complete, so network fetches stop too. */
function clientSignal(res: {
  once(event: 'close', fn: () => void): unknown
  writableFinished: boolean
}): AbortSignal {
  const controller = new AbortController()
  res.once('close', () => {
    if (!res.writableFinished) controller.abort(new Error('client closed the connection'))
  })
  return controller.signal
}

/**
 * POST /api/v1/content (raw body stream), GET /api/v1/content/:cid (streamed, Range),
 * GET /api/v1/content/:cid/stat, pins, gc, usage counters, and replication (POST
 * /api/v1/content/:cid/replicate, GET /api/v1/content/:cid/replicas, POST /api/v1/content/:cid/spot-check).
 */
export function contentRoutes(components: ContentRoutesComponents): ApiRoutes {
  const { storage, replication } = components
  return async (app) => {
    await app.register(async (scope) => {
      // the upload body is passed through as a stream: no size limit and no buffering
      scope.addContentTypeParser('application/octet-stream', (_req, payload, done) => done(null, payload))
      scope.post('/api/v1/content', { bodyLimit: Number.MAX_SAFE_INTEGER }, async (req, reply) => {
        const body = req.body as AsyncIterable<Uint8Array> | undefined
        if (
          body === undefined ||
          typeof (body as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] !== 'function'
        ) {
          throw new PrsmError(
            'VALIDATION_FAILED',
            'send the file as the body with content-type application/octet-stream',
          )
        }
        return storage.add(body, { signal: clientSignal(reply.raw) })
      })
    })

    app.get<{ Params: { cid: string } }>('/api/v1/content/:cid', async (req, reply) => {
      const stat = await storage.stat(req.params.cid)
      if (stat.type === 'directory' || stat.type === 'dag-cbor') {
        throw new PrsmError('CONTENT_NOT_A_FILE', `${stat.cid} is a ${stat.type}, not a file`)
      }
      const range = parseRange(req.headers.range, stat.size)
      const signal = clientSignal(reply.raw)
      void reply
        .header('content-type', 'application/octet-stream')
        .header('accept-ranges', 'bytes')
        .header('x-content-cid', stat.cid)
        .header('etag', `"${stat.cid}"`)
      if (range === undefined) {
        void reply.header('content-length', String(stat.size))
        return reply.send(Readable.from(storage.cat(stat.cid, { signal })))
      }
      const length = range.end - range.start + 1
      void reply
        .status(206)
        .header('content-range', `bytes ${range.start}-${range.end}/${stat.size}`)
        .header('content-length', String(length))
      return reply.send(Readable.from(storage.cat(stat.cid, { signal, offset: range.start, length })))
    })

    app.get<{ Params: { cid: string } }>('/api/v1/content/:cid/stat', async (req) =>
      storage.stat(req.params.cid),
    )
    app.post<{ Params: { cid: string } }>('/api/v1/content/:cid/pin', async (req, reply) =>
      storage.pin(req.params.cid, { signal: clientSignal(reply.raw) }),
    )
    app.delete<{ Params: { cid: string } }>('/api/v1/content/:cid/pin', async (req) =>
      storage.unpin(req.params.cid),
    )
    app.post<{ Params: { cid: string }; Body: { replicas?: unknown; durationMs?: unknown } | undefined }>(
      '/api/v1/content/:cid/replicate',
      async (req, reply) => {
        const replicas = req.body?.replicas ?? 3
        const durationMs = req.body?.durationMs
        if (typeof replicas !== 'number' || (durationMs !== undefined && typeof durationMs !== 'number')) {
          throw new PrsmError('VALIDATION_FAILED', 'replicas and durationMs must be numbers')
        }
        return replication.replicate(req.params.cid, replicas, {
          signal: clientSignal(reply.raw),
          ...(durationMs === undefined ? {} : { durationMs }),
        })
      },
    )
    app.get<{ Params: { cid: string } }>('/api/v1/content/:cid/replicas', async (req) =>
      replication.get(req.params.cid),
    )
    app.get('/api/v1/replicas', async () => ({ replicas: replication.list() }))
    app.post<{ Params: { cid: string } }>('/api/v1/content/:cid/spot-check', async (req) => ({
      results: await replication.spotCheck(req.params.cid),
    }))
    app.get('/api/v1/pins', async () => ({ pins: await storage.pins() }))
    app.post('/api/v1/content/gc', async () => storage.gc())
    app.get('/api/v1/usage', async () => ({ usage: storage.usage.list() }))
    app.get<{ Params: { cid: string } }>('/api/v1/usage/:cid', async (req) =>
      storage.usage.get(req.params.cid),
    )
  }
}
