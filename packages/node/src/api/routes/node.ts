import { formatFtns } from '@prsm/core'
import { z } from 'zod'
import type { FoundOffer } from '../../market/offers.ts'
import { route } from '../route.ts'
import type { ApiRoutes } from '../server.ts'

/** What the node routes need: read-only views of the node, each a small function. */
export interface NodeRoutesComponents {
  status(): Promise<Record<string, unknown>> | Record<string, unknown>
  peers(): Promise<unknown[]> | unknown[]
  findOffers(
    capability: string | undefined,
    options: { dht: boolean; timeoutMs: number; signal?: AbortSignal },
  ): Promise<FoundOffer[]>
}

const OffersQuery = z
  .object({
    capability: z.string().min(1).max(128).optional().describe('Only offers of this capability'),
    dht: z
      .enum(['true', 'false'])
      .optional()
      .describe('Also look the capability up in the DHT (default true)'),
    timeoutMs: z.coerce
      .number()
      .int()
      .min(0)
      .max(60_000)
      .optional()
      .describe('DHT lookup time (default 5000)'),
  })
  .strict()

const Peer = z
  .object({ peerId: z.string(), addrs: z.array(z.string()), direction: z.string(), penalty: z.number() })
  .strict()

const Offer = z
  .object({
    provider: z.string(),
    offer: z.looseObject({ capability: z.string(), price: z.string(), priceFtns: z.string() }),
  })
  .loose()

/** Offers on the wire: the price as wei and as a decimal FTNS string. */
export function offerToJson(found: FoundOffer): Record<string, unknown> {
  return { ...found, offer: { ...found.offer, priceFtns: formatFtns(BigInt(found.offer.price)) } }
}

/** GET /api/v1/node/status, /api/v1/peers, /api/v1/offers */
export function nodeRoutes(components: NodeRoutesComponents): ApiRoutes {
  return (app) => {
    route(app, {
      method: 'GET',
      url: '/api/v1/node/status',
      summary: "The node's identity, addresses, peers, offers, chain and job counters",
      tags: ['node'],
      permission: 'node:read',
      responses: { 200: z.looseObject({ version: z.string(), peerId: z.string() }) },
      handler: () => components.status(),
    })
    route(app, {
      method: 'GET',
      url: '/api/v1/peers',
      summary: 'Connected peers',
      tags: ['node'],
      permission: 'node:read',
      responses: { 200: z.object({ peers: z.array(Peer) }).strict() },
      handler: async () => ({ peers: await components.peers() }),
    })
    route(app, {
      method: 'GET',
      url: '/api/v1/offers',
      summary: 'Known offers, or the offers of one capability (local, gossip and DHT)',
      tags: ['node'],
      permission: 'node:read',
      query: OffersQuery,
      responses: { 200: z.object({ offers: z.array(Offer) }).strict() },
      handler: async ({ query, signal }) => {
        const offers = await components.findOffers(query.capability, {
          dht: query.dht !== 'false',
          timeoutMs: query.timeoutMs ?? 5_000,
          signal,
        })
        return { offers: offers.map(offerToJson) }
      },
    })
  }
}
