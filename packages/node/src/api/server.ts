import { PrsmError } from '@prsm/core'
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import type { Logger } from 'pino'
import { z } from 'zod'
import { accessLogWriter } from '../logger.ts'
import { allows } from './auth/permissions.ts'
import type { Principal } from './auth/principal.ts'
import { docsUiRoutes } from './docs-ui.ts'
import { registerIdempotency } from './idempotency.ts'
import { openApiDocument } from './openapi.ts'
import { type AnyRouteSpec, route, validated } from './route.ts'

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null
  }
  interface FastifyContextConfig {
    prsm?: AnyRouteSpec
  }
}

/**
 * Registers one area's routes (node, ledger, content, …) under /api/v1 with `route(app, spec)`
 * from api/route.ts. Each area of the node provides its own in `api/routes/<area>.ts`.
 */
export type ApiRoutes = (app: FastifyInstance) => void | Promise<void>

/** Rate limit state reported in RateLimit-* headers. */
export interface RateState {
  limit: number
  remaining: number
  resetSeconds: number
}

/** Daily budget state reported in X-PRSM-Budget-* headers (wei). */
export interface BudgetState {
  limit: bigint
  spent: bigint
}

/** What the server needs from the auth service (api/auth/api-auth.ts). */
export interface ApiGuard {
  /**
   * Resolves the caller from the Authorization header; throws UNAUTHORIZED. `connection` (the
   * request's socket) identifies requests that come over the same connection.
   */
  authenticate(authorization: string | undefined, connection?: object): Principal | Promise<Principal>
  /** Counts one request; throws RATE_LIMITED past the limit. Null when the caller has no limit. */
  hit(principal: Principal): RateState | null
  /** The caller's spend today (null without a budget). */
  budget(principal: Principal): BudgetState | null
  /** Reserves `wei` against the caller's daily budget(s); throws BUDGET_EXCEEDED. */
  reserve(principal: Principal, wei: bigint): BudgetState | null
  /** Gives back a reservation (the request failed). */
  release(principal: Principal, wei: bigint): void
  /** Audit sink for denials (no-op without an audit log). */
  denied(principal: Principal | null, what: string, details: Record<string, unknown>): void
}

export interface ApiComponents {
  logger: Logger
  guard: ApiGuard
}

export interface ApiInit {
  host: string
  port: number
  /** Largest JSON request body (bytes); streamed uploads set their own. */
  bodyLimit?: number
  /** Time allowed to receive a whole request (ms). */
  requestTimeoutMs?: number
  version?: string
  /** Browser origins allowed to call the API (CORS); '*' for any. Default: none. */
  corsOrigins?: string[]
}

/** A registered route as the route table holds it (routes registered without `route()` have no spec). */
export interface RouteEntry {
  method: string
  url: string
  spec: AnyRouteSpec | undefined
}

const tables = new WeakMap<FastifyInstance, RouteEntry[]>()

/** Every route registered on an API server, with its spec (the role matrix test reads this). */
export function routeTable(app: FastifyInstance): RouteEntry[] {
  return tables.get(app) ?? []
}

/** The route's spec and URL pattern, read once per request (Fastify builds routeOptions on each read). */
function routeOf(req: FastifyRequest): { spec: AnyRouteSpec | undefined; url: string | undefined } {
  const cached = (req as { prsmRoute?: { spec: AnyRouteSpec | undefined; url: string | undefined } | null })
    .prsmRoute
  if (cached != null) return cached
  const options = req.routeOptions
  const found = { spec: options.config?.prsm, url: options.url }
  ;(req as { prsmRoute?: unknown }).prsmRoute = found
  return found
}

/** Response headers a browser page may read (limits, budgets, ranges). */
const EXPOSED_HEADERS = [
  'ratelimit-limit',
  'ratelimit-remaining',
  'ratelimit-reset',
  'retry-after',
  'x-prsm-budget-limit',
  'x-prsm-budget-spent',
  'x-prsm-budget-remaining',
  'content-range',
  'accept-ranges',
  'etag',
  'x-content-cid',
].join(', ')

function toPrsmError(err: unknown): PrsmError {
  if (err instanceof PrsmError) return err
  const e = err as { validation?: unknown; statusCode?: number; code?: string; message?: string }
  if (e.code === 'FST_ERR_CTP_BODY_TOO_LARGE' || e.statusCode === 413)
    return new PrsmError('PAYLOAD_TOO_LARGE', 'the request body is larger than allowed')
  if (e.validation !== undefined || (e.statusCode !== undefined && e.statusCode >= 400 && e.statusCode < 500))
    return new PrsmError('VALIDATION_FAILED', e.message ?? 'invalid request', {
      details: e.code === undefined ? {} : { reason: e.code },
    })
  return new PrsmError('INTERNAL', 'internal error', { cause: err })
}

function setBudgetHeaders(reply: FastifyReply, state: BudgetState | null): void {
  if (state === null) return
  const remaining = state.limit > state.spent ? state.limit - state.spent : 0n
  void reply
    .header('x-prsm-budget-limit', state.limit.toString())
    .header('x-prsm-budget-spent', state.spent.toString())
    .header('x-prsm-budget-remaining', remaining.toString())
}

/**
 * The node's HTTP API, built but not listening (tests use `inject()`). Each request: the route's
 * permission is checked against the caller's role, the per-key rate limit and daily FTNS budget
 * are enforced (and reported in headers), inputs are validated by the route's zod schemas.
 * Every error is `{ error: { code, message, details } }` with a code from the catalogue.
 */
export async function buildApiServer(
  components: ApiComponents,
  init: Omit<ApiInit, 'host' | 'port'>,
  routes: ApiRoutes[],
): Promise<FastifyInstance> {
  const { logger, guard } = components
  const logAccess = accessLogWriter(logger, 'api request')
  const app = Fastify({
    logger: false,
    bodyLimit: init.bodyLimit ?? 1024 * 1024,
    requestTimeout: init.requestTimeoutMs ?? 60_000,
    // a malformed or overlong URL is bad input like any other
    frameworkErrors: (err, _req, reply) => {
      void (reply as FastifyReply).status(400).send(
        new PrsmError('VALIDATION_FAILED', 'the URL is malformed or a path segment is too long', {
          details: { reason: err.code },
        }).toWire(),
      )
    },
  })
  const table: RouteEntry[] = []
  tables.set(app, table)
  app.decorateRequest('principal', null)
  // what the hooks keep on a request, declared so that every request object has the same shape
  for (const field of ['prsmRoute', 'prsmInput', 'prsmReserved', 'prsmSettle'])
    app.decorateRequest(field, null)

  app.addHook('onRoute', (opts) => {
    // HEAD routes Fastify adds for each GET share its spec; the table lists the GET
    for (const method of [opts.method].flat()) {
      if (method !== 'HEAD') table.push({ method, url: opts.url ?? opts.path, spec: opts.config?.prsm })
    }
  })

  // Raw uploads: the body is handed to the route as a stream; other routes refuse it.
  app.addContentTypeParser('application/octet-stream', (req, payload, done) => {
    if (req.routeOptions.config?.prsm?.rawBody === undefined) {
      done(new PrsmError('VALIDATION_FAILED', 'this operation takes a JSON body'), undefined)
    } else done(null, payload)
  })

  app.setErrorHandler((err, req, reply) => {
    const error = toPrsmError(err)
    if (error.code === 'INTERNAL') logger.error({ err, route: req.routeOptions.url }, 'API request failed')
    if (error.code === 'RATE_LIMITED') {
      const retry = String(error.details?.retryAfterSeconds ?? 1)
      void reply
        .header('retry-after', retry)
        .header('ratelimit-limit', String(error.details?.limit ?? ''))
        .header('ratelimit-remaining', '0')
        .header('ratelimit-reset', retry)
    }
    void reply.status(error.status).send(error.toWire())
  })
  app.setNotFoundHandler((req, reply) => {
    void reply
      .status(404)
      .send(new PrsmError('NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0]}`).toWire())
  })

  /** After authentication: the role check, the rate limit and the limit/budget headers. */
  function admit(
    req: FastifyRequest,
    reply: FastifyReply,
    principal: Principal,
    spec: AnyRouteSpec | undefined,
  ): void {
    req.principal = principal
    // a route registered without a spec has no declared permission: admin only
    const permission = spec?.permission
    if (!allows(principal.role, permission)) {
      guard.denied(principal, `${req.method} ${routeOf(req).url}`, { permission: permission ?? null })
      throw new PrsmError('FORBIDDEN', `role ${principal.role} may not ${permission ?? 'use this route'}`, {
        details: { role: principal.role, permission: permission ?? 'admin-only' },
      })
    }
    const rate = guard.hit(principal)
    if (rate !== null) {
      void reply
        .header('ratelimit-limit', String(rate.limit))
        .header('ratelimit-remaining', String(rate.remaining))
        .header('ratelimit-reset', String(rate.resetSeconds))
    }
    setBudgetHeaders(reply, guard.budget(principal))
  }

  // CORS for the allowed browser origins: credentials travel as bearer headers, never cookies
  const origins = new Set(init.corsOrigins ?? [])
  if (origins.size > 0) {
    app.addHook('onRequest', (req, reply, done) => {
      const origin = req.headers.origin
      if (origin === undefined || !(origins.has('*') || origins.has(origin))) return done()
      void reply
        .header('access-control-allow-origin', origin)
        .header('vary', 'origin')
        .header('access-control-expose-headers', EXPOSED_HEADERS)
      if (req.method !== 'OPTIONS' || req.headers['access-control-request-method'] === undefined)
        return done()
      // a preflight: answered here, before authentication (browsers send it without credentials)
      void reply
        .code(204)
        .header('access-control-allow-methods', 'GET, HEAD, POST, PUT, PATCH, DELETE')
        .header('access-control-allow-headers', 'authorization, content-type, idempotency-key, range')
        .header('access-control-max-age', '600')
        .send()
    })
  }

  // callback-style hooks: an API key is checked without a promise per request (JWTs are async)
  app.addHook('onRequest', (req, reply, done) => {
    const { spec, url } = routeOf(req)
    if (url === undefined || spec?.permission === 'public') return done()
    try {
      const principal = guard.authenticate(req.headers.authorization, req.raw.socket)
      if (principal instanceof Promise) {
        principal.then(
          (p) => {
            try {
              admit(req, reply, p, spec)
              done()
            } catch (err) {
              done(err as Error)
            }
          },
          (err: Error) => done(err),
        )
        return
      }
      admit(req, reply, principal, spec)
      done()
    } catch (err) {
      done(err as Error)
    }
  })

  registerIdempotency(app) // before spending: a replayed answer reserves nothing
  // Spending routes reserve their maximum cost before the handler runs; a failed request gives it back.
  app.addHook('preHandler', (req, reply, done) => {
    const { spec } = routeOf(req)
    if (spec?.cost === undefined || req.principal === null) return done()
    try {
      const input = validated(spec, req)
      const cost = spec.cost(input as never)
      if (cost > 0n) {
        const principal = req.principal
        const state = guard.reserve(principal, cost)
        const r = req as { prsmReserved?: bigint | null; prsmSettle?: (wei: bigint) => void }
        r.prsmReserved = cost
        r.prsmSettle = (spent) => {
          if (r.prsmReserved == null) return
          const unused = spent >= 0n && spent < cost ? cost - spent : 0n
          r.prsmReserved = null // settled: a later failure gives nothing more back
          if (unused > 0n) guard.release(principal, unused)
        }
        setBudgetHeaders(reply, state)
      }
      done()
    } catch (err) {
      done(err as Error)
    }
  })

  app.addHook('onResponse', (req, reply, done) => {
    const reserved = (req as { prsmReserved?: bigint | null }).prsmReserved
    if (reserved != null && reply.statusCode >= 400 && req.principal !== null) {
      guard.release(req.principal, reserved)
    }
    // structured request log: no headers, no query string, no bodies (keys and tokens stay out)
    logAccess({
      reqId: req.id,
      method: req.method,
      route: routeOf(req).url ?? null,
      status: reply.statusCode,
      ms: Math.round(reply.elapsedTime),
      key: req.principal?.keyId,
      role: req.principal?.role,
    })
    done()
  })

  route(app, {
    method: 'GET',
    url: '/api/v1/health',
    summary: 'Liveness check',
    tags: ['meta'],
    permission: 'public',
    responses: { 200: z.object({ ok: z.literal(true) }).strict() },
    handler: () => ({ ok: true as const }),
  })
  for (const register of routes) await register(app)

  let document: Record<string, unknown> | undefined
  route(app, {
    method: 'GET',
    url: '/openapi.json',
    summary: 'The OpenAPI 3.1 document of this API',
    tags: ['meta'],
    permission: 'public',
    responses: { 200: z.record(z.string(), z.unknown()) },
    handler: () => {
      document ??= openApiDocument(
        table.filter((e) => e.spec !== undefined).map((e) => e.spec as AnyRouteSpec),
        { title: 'PRSM node API', version: init.version ?? '0.1.0' },
      )
      return document
    },
  })
  docsUiRoutes(app)
  await app.ready()
  return app
}

/** Builds the API server and listens on `init.host:init.port`. */
export async function createApiServer(
  components: ApiComponents,
  init: ApiInit,
  routes: ApiRoutes[],
): Promise<FastifyInstance> {
  const app = await buildApiServer(components, init, routes)
  await app.listen({ host: init.host, port: init.port })
  return app
}

export function apiUrl(app: FastifyInstance): string {
  const address = app.server.address()
  if (address === null || typeof address === 'string') throw new Error('API server is not listening on TCP')
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address
  return `http://${host}:${address.port}`
}
