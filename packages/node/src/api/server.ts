import { timingSafeEqual } from 'node:crypto'
import { PrsmError } from '@prsm/core'
import Fastify, { type FastifyInstance } from 'fastify'
import type { Logger } from 'pino'

/**
 * Registers one area's routes (node, ledger, content, …) under /api/v1. Each area of the node
 * provides its own in `api/routes/<area>.ts`, taking only the components it needs.
 */
export type ApiRoutes = (app: FastifyInstance) => void | Promise<void>

export interface ApiComponents {
  logger: Logger
}

export interface ApiInit {
  host: string
  port: number
  /** Bearer token required on every /api/v1 route except /api/v1/health. */
  token: string
}

function tokensEqual(given: string, expected: string): boolean {
  const a = Buffer.from(given)
  const b = Buffer.from(expected)
  return a.length === b.length && timingSafeEqual(a, b)
}

/**
 * The node's local HTTP API (bound to loopback by default). Every error is
 * `{ error: { code, message, details } }` with a code from the catalogue.
 */
export async function createApiServer(
  components: ApiComponents,
  init: ApiInit,
  routes: ApiRoutes[],
): Promise<FastifyInstance> {
  const app = Fastify({ logger: false, bodyLimit: 1024 * 1024, requestTimeout: 60_000 })

  app.setErrorHandler((err, _req, reply) => {
    const error =
      err instanceof PrsmError
        ? err
        : (err as { validation?: unknown }).validation !== undefined
          ? new PrsmError('VALIDATION_FAILED', (err as Error).message)
          : new PrsmError('INTERNAL', 'internal error', { cause: err })
    if (error.code === 'INTERNAL') components.logger.error({ err }, 'API request failed')
    void reply.status(error.status).send(error.toWire())
  })
  app.setNotFoundHandler((req, reply) => {
    void reply.status(404).send(new PrsmError('NOT_FOUND', `no route ${req.method} ${req.url}`).toWire())
  })
  app.addHook('onRequest', async (req) => {
    if (req.url === '/api/v1/health') return
    const header = req.headers.authorization ?? ''
    const token = header.startsWith('Bearer ') ? header.slice(7) : ''
    if (!tokensEqual(token, init.token))
      throw new PrsmError('UNAUTHORIZED', 'a valid bearer token is required')
  })
  app.addHook('onResponse', async (req, reply) => {
    components.logger.debug(
      { method: req.method, url: req.url.split('?')[0], status: reply.statusCode },
      'api',
    )
  })

  app.get('/api/v1/health', async () => ({ ok: true }))
  for (const register of routes) await register(app)

  await app.listen({ host: init.host, port: init.port })
  return app
}

export function apiUrl(app: FastifyInstance): string {
  const address = app.server.address()
  if (address === null || typeof address === 'string') throw new Error('API server is not listening on TCP')
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address
  return `http://${host}:${address.port}`
}
