import { Readable } from 'node:stream'
import { type ErrorCode, PrsmError } from '@prsm/core'
import { z } from 'zod'
import type { ReplicationService } from '../../storage/replication.ts'
import type { ContentStorage } from '../../storage/storage.ts'
import { CidParams, route } from '../route.ts'
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

const Usage = z
  .object({
    cid: z.string(),
    serves: z.number(),
    fetches: z.number(),
    bytesServed: z.number(),
    bytesFetched: z.number(),
    lastAt: z.number(),
  })
  .strict()
const Stat = z.looseObject({
  cid: z.string(),
  type: z.enum(['file', 'directory', 'raw', 'dag-cbor']),
  size: z.number(),
  local: z.boolean(),
  pinned: z.boolean(),
  usage: Usage,
})
const Replica = z.looseObject({ cid: z.string(), holder: z.string(), receipt: z.string() })
const Replication = z.looseObject({
  cid: z.string(),
  replicas: z.number(),
  holders: z.array(Replica),
  failed: z.array(z.string()),
})
const SpotCheck = z.looseObject({ cid: z.string(), holder: z.string(), ok: z.boolean(), blocks: z.number() })
const ReplicateBody = z
  .object({
    replicas: z.number().int().min(1).max(64).default(3),
    durationMs: z.number().int().min(1).optional(),
  })
  .strict()
const CONTENT_ERRORS: ErrorCode[] = ['CONTENT_INVALID_CID', 'CONTENT_NOT_FOUND', 'NOT_FOUND']

/**
 * POST /api/v1/content (raw body stream), GET /api/v1/content/:cid (streamed, Range),
 * GET /api/v1/content/:cid/stat, pins, gc, usage counters, and replication (POST
 * /api/v1/content/:cid/replicate, GET /api/v1/content/:cid/replicas, POST /api/v1/content/:cid/spot-check).
 */
export function contentRoutes(components: ContentRoutesComponents): ApiRoutes {
  const { storage, replication } = components
  return (app) => {
    // the upload body is passed through as a stream: no size limit and no buffering
    route(app, {
      method: 'POST',
      url: '/api/v1/content',
      summary: 'Add a file (the body, streamed) and get its CID',
      tags: ['content'],
      permission: 'content:write',
      rawBody: { contentType: 'application/octet-stream', description: 'The file bytes' },
      bodyLimit: Number.MAX_SAFE_INTEGER,
      responses: { 200: z.object({ cid: z.string(), size: z.number() }).strict() },
      handler: async ({ req, signal }) => {
        const body = req.body as AsyncIterable<Uint8Array> | undefined
        if (
          body === undefined ||
          body === null ||
          typeof (body as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] !== 'function'
        ) {
          throw new PrsmError(
            'VALIDATION_FAILED',
            'send the file as the body with content-type application/octet-stream',
          )
        }
        return storage.add(body, { signal })
      },
    })

    route(app, {
      method: 'GET',
      url: '/api/v1/content/:cid',
      summary: 'Download a file (streamed; single Range requests answered with 206)',
      tags: ['content'],
      permission: 'content:read',
      params: CidParams,
      responses: {
        200: { contentType: 'application/octet-stream', description: 'The file' },
        206: { contentType: 'application/octet-stream', description: 'The requested range' },
      },
      errors: [...CONTENT_ERRORS, 'CONTENT_NOT_A_FILE', 'CONTENT_RANGE_INVALID'],
      handler: async ({ params, req, reply, signal }) => {
        const stat = await storage.stat(params.cid)
        if (stat.type === 'directory' || stat.type === 'dag-cbor') {
          throw new PrsmError('CONTENT_NOT_A_FILE', `${stat.cid} is a ${stat.type}, not a file`)
        }
        const range = parseRange(req.headers.range, stat.size)
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
      },
    })

    route(app, {
      method: 'GET',
      url: '/api/v1/content/:cid/stat',
      summary: 'Type, size, local and pinned state, usage counters',
      tags: ['content'],
      permission: 'content:read',
      params: CidParams,
      responses: { 200: Stat },
      errors: CONTENT_ERRORS,
      handler: ({ params }) => storage.stat(params.cid),
    })
    route(app, {
      method: 'POST',
      url: '/api/v1/content/:cid/pin',
      summary: 'Pin (fetching missing blocks from the network)',
      tags: ['content'],
      permission: 'content:write',
      params: CidParams,
      responses: { 200: z.object({ cid: z.string(), blocks: z.number() }).strict() },
      errors: CONTENT_ERRORS,
      handler: ({ params, signal }) => storage.pin(params.cid, { signal }),
    })
    route(app, {
      method: 'DELETE',
      url: '/api/v1/content/:cid/pin',
      summary: 'Unpin (blocks go at the next gc)',
      tags: ['content'],
      permission: 'storage:operate',
      params: CidParams,
      responses: { 200: z.object({ cid: z.string() }).strict() },
      errors: CONTENT_ERRORS,
      handler: ({ params }) => storage.unpin(params.cid),
    })
    route(app, {
      method: 'POST',
      url: '/api/v1/content/:cid/replicate',
      summary: 'Have storage providers pin the content for a price (signed receipts)',
      tags: ['content'],
      permission: 'content:write',
      params: CidParams,
      body: ReplicateBody,
      responses: { 200: Replication },
      errors: [...CONTENT_ERRORS, 'CHAIN_NOT_CONFIGURED'],
      handler: ({ params, body, signal }) =>
        replication.replicate(params.cid, body.replicas, {
          signal,
          ...(body.durationMs === undefined ? {} : { durationMs: body.durationMs }),
        }),
    })
    route(app, {
      method: 'GET',
      url: '/api/v1/content/:cid/replicas',
      summary: 'Replicas of the content and their receipts',
      tags: ['content'],
      permission: 'content:read',
      params: CidParams,
      responses: { 200: Replication },
      errors: CONTENT_ERRORS,
      handler: ({ params }) => replication.get(params.cid),
    })
    route(app, {
      method: 'GET',
      url: '/api/v1/replicas',
      summary: 'Every replicated CID',
      tags: ['content'],
      permission: 'content:read',
      responses: { 200: z.object({ replicas: z.array(Replication) }).strict() },
      handler: () => ({ replicas: replication.list() }),
    })
    route(app, {
      method: 'POST',
      url: '/api/v1/content/:cid/spot-check',
      summary: 'Ask each holder for random blocks now',
      tags: ['content'],
      permission: 'storage:operate',
      params: CidParams,
      responses: { 200: z.object({ results: z.array(SpotCheck) }).strict() },
      errors: CONTENT_ERRORS,
      handler: async ({ params, signal }) => ({
        results: await replication.spotCheck(params.cid, { signal }),
      }),
    })
    route(app, {
      method: 'GET',
      url: '/api/v1/pins',
      summary: 'Pinned CIDs',
      tags: ['content'],
      permission: 'content:read',
      responses: { 200: z.object({ pins: z.array(z.string()) }).strict() },
      handler: async () => ({ pins: await storage.pins() }),
    })
    route(app, {
      method: 'POST',
      url: '/api/v1/content/gc',
      summary: 'Remove unpinned blocks',
      tags: ['content'],
      permission: 'storage:operate',
      responses: { 200: z.looseObject({ removed: z.number() }) },
      handler: () => storage.gc(),
    })
    route(app, {
      method: 'GET',
      url: '/api/v1/usage',
      summary: 'Usage counters of every served CID',
      tags: ['content'],
      permission: 'content:read',
      responses: { 200: z.object({ usage: z.array(Usage) }).strict() },
      handler: () => ({ usage: storage.usage.list() }),
    })
    route(app, {
      method: 'GET',
      url: '/api/v1/usage/:cid',
      summary: 'Usage counters of one CID',
      tags: ['content'],
      permission: 'content:read',
      params: CidParams,
      responses: { 200: Usage },
      errors: CONTENT_ERRORS,
      handler: ({ params }) => storage.usage.get(params.cid),
    })
  }
}
