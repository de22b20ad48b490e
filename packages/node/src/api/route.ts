import { ERROR_CATALOGUE, type ErrorCode, PrsmError } from '@prsm/core'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { z } from 'zod'
import type { Permission, PUBLIC } from './auth/permissions.ts'
import type { Principal } from './auth/principal.ts'

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'

/** A documented non-JSON answer (a file, NDJSON or SSE stream). */
export interface StreamResponse {
  contentType: string
  description: string
}

/** What a handler gets: the validated inputs, the caller and a signal that aborts when the client goes away. */
export interface RouteContext<B, Q, P> {
  body: B
  query: Q
  params: P
  principal: Principal
  signal: AbortSignal
  /**
   * For operations with a `cost`: what the request really spent (wei, at most the reserved cost);
   * the rest of the reservation goes back to the daily budget. Without a call the whole cost stays
   * spent when the answer succeeds.
   */
  settle: (spentWei: bigint) => void
  req: FastifyRequest
  reply: FastifyReply
}

type Out<S> = S extends z.ZodType ? z.output<S> : undefined

/**
 * One API operation. The zod schemas validate the request (a failure is 400 VALIDATION_FAILED
 * with the issues in `details`) and generate its part of /openapi.json.
 */
export interface RouteSpec<
  B extends z.ZodType | undefined = undefined,
  Q extends z.ZodType | undefined = undefined,
  P extends z.ZodType | undefined = undefined,
> {
  method: HttpMethod
  /** Fastify syntax: `/api/v1/content/:cid`. */
  url: string
  summary: string
  description?: string
  tags: string[]
  /** The one permission a caller's role must hold (see auth/permissions.ts), or 'public'. */
  permission: Permission | typeof PUBLIC
  body?: B
  query?: Q
  params?: P
  /** The request body is a raw stream of this content type (handed over unparsed as `req.body`). */
  rawBody?: StreamResponse
  /** Overrides the server's body size limit (bytes). */
  bodyLimit?: number
  /** Answers by status: a zod schema of the JSON body, or a stream description. */
  responses: Record<number, z.ZodType | StreamResponse>
  /** Error codes this operation raises beyond the common ones (their statuses are documented). */
  errors?: ErrorCode[]
  /** The most FTNS (wei) this request may spend: reserved against the caller's daily budget. */
  cost?: (input: { body: Out<B>; query: Out<Q>; params: Out<P> }) => bigint
  handler: (ctx: RouteContext<Out<B>, Out<Q>, Out<P>>) => unknown
}

/** A registered operation, as the server's route table holds it. */
export type AnyRouteSpec = RouteSpec<z.ZodType | undefined, z.ZodType | undefined, z.ZodType | undefined>

/** Codes every authenticated operation may answer with. */
export const COMMON_ERRORS: ErrorCode[] = [
  'VALIDATION_FAILED',
  'UNAUTHORIZED',
  'FORBIDDEN',
  'RATE_LIMITED',
  'INTERNAL',
]

/** Statuses an operation documents: its own answers plus those of its error codes. */
export function documentedStatuses(spec: AnyRouteSpec): number[] {
  // any request may carry a malformed URL (400)
  const codes: ErrorCode[] =
    spec.permission === 'public' ? ['VALIDATION_FAILED', 'INTERNAL'] : [...COMMON_ERRORS]
  if (spec.cost !== undefined) codes.push('API_BUDGET_EXCEEDED')
  if (spec.bodyLimit !== undefined || spec.body !== undefined || spec.rawBody !== undefined)
    codes.push('PAYLOAD_TOO_LARGE')
  for (const code of spec.errors ?? []) codes.push(code)
  const statuses = new Set([...Object.keys(spec.responses).map(Number), ...codes.map(errorStatus)])
  return [...statuses].sort((a, b) => a - b)
}

function errorStatus(code: ErrorCode): number {
  return ERROR_CATALOGUE[code].status
}

/** Validates one part of a request against its schema. */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown, where: string): z.output<S> {
  const parsed = schema.safeParse(value)
  if (parsed.success) return parsed.data
  const issues = parsed.error.issues.slice(0, 20).map((i) => ({
    path: [where, ...i.path.map(String)].join('.'),
    reason: i.message,
  }))
  throw new PrsmError('VALIDATION_FAILED', `${issues[0]?.path}: ${issues[0]?.reason}`, {
    details: { issues },
  })
}

/** Aborts when the client goes away before the response is complete. */
export function clientSignal(res: {
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
 * Registers one operation on `app` (or a scope of it). The server reads `config.prsm` to
 * authenticate, authorise, rate-limit, charge budgets and document the route.
 */
export function route<
  B extends z.ZodType | undefined = undefined,
  Q extends z.ZodType | undefined = undefined,
  P extends z.ZodType | undefined = undefined,
>(app: FastifyInstance, spec: RouteSpec<B, Q, P>): void {
  const s = spec as unknown as AnyRouteSpec
  app.route({
    method: spec.method,
    url: spec.url,
    ...(spec.bodyLimit === undefined ? {} : { bodyLimit: spec.bodyLimit }),
    config: { prsm: s },
    // Not an async function: the handler's own promise goes to Fastify as it is (an async wrapper
    // resolving to it would cost another promise and its extra ticks on every request). A value is
    // handed over as a resolved promise, and a throw is answered by the error handler, as before.
    handler: (req, reply) => {
      const input = validated(s, req)
      const result = s.handler({
        ...input,
        principal: req.principal as Principal,
        signal: clientSignal(reply.raw),
        settle: (spentWei) => (req as { prsmSettle?: ((wei: bigint) => void) | null }).prsmSettle?.(spentWei),
        req,
        reply,
      })
      return result instanceof Promise ? result : Promise.resolve(result)
    },
  })
}

/** The request's validated inputs (cached on the request: budgets read them before the handler). */
export function validated(
  spec: AnyRouteSpec,
  req: FastifyRequest,
): { body: unknown; query: unknown; params: unknown } {
  const cached = (req as { prsmInput?: { body: unknown; query: unknown; params: unknown } | null }).prsmInput
  if (cached != null) return cached
  const input = {
    body:
      spec.body === undefined
        ? spec.rawBody === undefined
          ? undefined
          : req.body
        : parseInput(spec.body, req.body ?? {}, 'body'),
    query: spec.query === undefined ? undefined : parseInput(spec.query, req.query ?? {}, 'query'),
    params: spec.params === undefined ? undefined : parseInput(spec.params, req.params ?? {}, 'params'),
  }
  ;(req as { prsmInput?: unknown }).prsmInput = input
  return input
}

/** Object schemas for common path parameters. */
export const CidParams = z.object({ cid: z.string().min(1).max(256).describe('A CID') }).strict()

/** The wire form of every error. */
export const ErrorWireSchema = z
  .object({
    error: z
      .object({
        code: z.string().describe('A code from the error catalogue (docs/errors.md)'),
        message: z.string(),
        details: z.record(z.string(), z.unknown()),
      })
      .strict(),
  })
  .strict()
  .meta({ id: 'Error' })
