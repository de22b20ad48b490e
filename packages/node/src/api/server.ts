import { timingSafeEqual } from 'node:crypto'
import { type ErrorCode, formatFtns, PrsmError } from '@prsm/core'
import Fastify, { type FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import { z } from 'zod'
import type { FoundOffer } from '../market/offers.ts'

/** What the API needs from the node: read-only views, each a small function. */
export interface ApiComponents {
  status(): Promise<Record<string, unknown>> | Record<string, unknown>
  peers(): Promise<unknown[]> | unknown[]
  findOffers(
    capability: string | undefined,
    options: { dht: boolean; timeoutMs: number },
  ): Promise<FoundOffer[]>
  logger: Logger
}

export interface ApiInit {
  host: string
  port: number
  /** Bearer token required on every /api/v1 route except /api/v1/health. */
  token: string
}

const OffersQuery = z
  .object({
    capability: z.string().max(128).optional(),
    dht: z.enum(['true', 'false']).optional(),
    timeoutMs: z.coerce.number().int().min(0).max(60_000).optional(),
  })
  .strict()

/** Offers on the wire: the price as wei and as a decimal FTNS string. */
export function offerToJson(found: FoundOffer): Record<string, unknown> {
  return { ...found, offer: { ...found.offer, priceFtns: formatFtns(BigInt(found.offer.price)) } }
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
export async function createApiServer(components: ApiComponents, init: ApiInit): Promise<FastifyInstance> {
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
  app.get('/api/v1/node/status', async () => components.status())
  app.get('/api/v1/peers', async () => ({ peers: await components.peers() }))
  app.get('/api/v1/offers', async (req) => {
    const parsed = OffersQuery.safeParse(req.query)
    if (!parsed.success) {
      const issue = parsed.error.issues[0]
      throw new PrsmError(
        'VALIDATION_FAILED' satisfies ErrorCode,
        `${issue?.path.join('.')}: ${issue?.message}`,
      )
    }
    const { capability, dht, timeoutMs } = parsed.data
    const offers = await components.findOffers(capability, {
      dht: dht !== 'false',
      timeoutMs: timeoutMs ?? 5_000,
    })
    return { offers: offers.map(offerToJson) }
  })

  await app.listen({ host: init.host, port: init.port })
  return app
}

export function apiUrl(app: FastifyInstance): string {
  const address = app.server.address()
  if (address === null || typeof address === 'string') throw new Error('API server is not listening on TCP')
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address
  return `http://${host}:${address.port}`
}
