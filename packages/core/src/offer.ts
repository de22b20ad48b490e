import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { z } from 'zod'

/** Capability names: `kind:name`, e.g. `model:llama-3-8b`, `tool:web-search`, `compute:wasm`, `storage:pin`. */
export const CAPABILITY_KINDS = ['model', 'tool', 'compute', 'storage', 'dataset'] as const
export const CapabilitySchema = z
  .string()
  .max(128)
  .regex(
    /^(model|tool|compute|storage|dataset):[A-Za-z0-9][A-Za-z0-9._\-/:@]*$/,
    'must be kind:name with kind one of model, tool, compute, storage, dataset',
  )

/** Units an offer's price is quoted per. */
export const PRICE_UNITS = ['token', 'call', 'ms', 'byte', 'gib-month'] as const
export const PriceUnitSchema = z.enum(PRICE_UNITS)
export type PriceUnit = z.infer<typeof PriceUnitSchema>

/** The unit a capability is priced in when an offer does not say. */
export function defaultUnit(capability: string): PriceUnit {
  const kind = capability.slice(0, capability.indexOf(':'))
  if (kind === 'model') return 'token'
  if (kind === 'compute') return 'ms'
  if (kind === 'storage') return 'gib-month'
  return 'call'
}

export const OfferLimitsSchema = z
  .object({
    maxConcurrency: z.number().int().min(1).optional(),
    maxInputBytes: z.number().int().min(0).optional(),
    maxOutputTokens: z.number().int().min(0).optional(),
  })
  .strict()

/** An offer as configured by an operator: the price is a decimal FTNS amount per unit. */
export const OfferInitSchema = z
  .object({
    capability: CapabilitySchema,
    price: z.string().regex(/^\d+(\.\d{1,18})?$/, 'must be a decimal FTNS amount such as 0.002'),
    unit: PriceUnitSchema.optional(),
    limits: OfferLimitsSchema.default({}),
  })
  .strict()
export type OfferInit = z.input<typeof OfferInitSchema>

/** The payload of a signed Offer message. The provider is the envelope's sender. */
export const OfferSchema = z
  .object({
    capability: CapabilitySchema,
    /** Price per unit in wei of FTNS (decimal string of an integer). */
    price: z.string().regex(/^\d{1,40}$/),
    unit: PriceUnitSchema,
    limits: OfferLimitsSchema,
    /** libp2p protocol the capability is served on. */
    protocol: z
      .string()
      .max(128)
      .regex(/^\/prsm\//),
    /** Multiaddrs the provider can be dialled on. */
    addrs: z.array(z.string().max(512)).max(32),
    /** Expiry, milliseconds since the epoch. */
    expiry: z.number().int().positive(),
  })
  .strict()
export type Offer = z.infer<typeof OfferSchema>

/** The DHT key under which providers of a capability announce themselves: CIDv1 raw sha256("prsm/offer/" + capability). */
export async function capabilityCid(capability: string): Promise<CID> {
  const digest = await sha256.digest(new TextEncoder().encode(`prsm/offer/${capability}`))
  return CID.createV1(0x55, digest)
}
