import { type ErrorCode, formatFtns, PrsmError } from '@prsm/core'
import { z } from 'zod'
import type { FoundOffer } from '../../market/offers.ts'
import type { ApiRoutes } from '../server.ts'

/** What the node routes need: read-only views of the node, each a small function. */
export interface NodeRoutesComponents {
  status(): Promise<Record<string, unknown>> | Record<string, unknown>
  peers(): Promise<unknown[]> | unknown[]
  findOffers(
    capability: string | undefined,
    options: { dht: boolean; timeoutMs: number },
  ): Promise<FoundOffer[]>
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

/** GET /api/v1/node/status, /api/v1/peers, /api/v1/offers */
export function nodeRoutes(components: NodeRoutesComponents): ApiRoutes {
  return (app) => {
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
  }
}
