import { EconomicsError } from './errors.ts'
import { assertAmount, BPS_DENOMINATOR, type Bps, toBps } from './units.ts'

/** The price part of a provider's offer: wei of FTNS per unit (token, call, ms, byte, gib-month). */
export interface OfferPrice {
  /** Price per unit in wei. */
  readonly price: bigint
  /** The least a single call is charged, in wei (default 0). */
  readonly minCharge?: bigint
}

/** What a step costs under an offer: `max(price × units, minCharge)`; exact, no rounding. */
export function quote(offer: OfferPrice, units: bigint): bigint {
  assertAmount(offer.price, 'price')
  assertAmount(units, 'units')
  const min = offer.minCharge ?? 0n
  assertAmount(min, 'minCharge')
  const cost = offer.price * units
  return cost < min ? min : cost
}

export interface DynamicPriceInput {
  /** The provider's base price per unit, in wei. */
  readonly basePrice: bigint
  /** Recent utilisation of the provider's capacity, in bps (may exceed 10000 when demand was turned away). */
  readonly utilisationBps: number
  /** The utilisation at which the base price applies (default 7000). */
  readonly targetBps?: Bps
  /** Price change, in bps of the base price, per 100 percentage points of utilisation off target (default 5000). */
  readonly sensitivityBps?: Bps
  /** Lowest price as bps of the base price (default 5000 = 50%). */
  readonly floorBps?: number
  /** Highest price as bps of the base price (default 30000 = 300%). */
  readonly ceilingBps?: number
}

export const DEFAULT_DYNAMIC_PRICE = Object.freeze({
  targetBps: 7000,
  sensitivityBps: 5000,
  floorBps: 5000,
  ceilingBps: 30000,
})

/**
 * A provider's price adjusted for its utilisation: base × (1 + sensitivity × (utilisation −
 * target)), clamped to [floor, ceiling] × base. All in integer basis points; the result is
 * rounded down to the wei. (The prototype used base × (1 + (demand − 0.5) × 0.3) × (1 − (supply
 * − 0.5) × 0.2) clamped to 10%–500%; utilisation folds demand and supply into one ratio.)
 */
export function dynamicPrice(input: DynamicPriceInput): bigint {
  assertAmount(input.basePrice, 'basePrice')
  if (!Number.isFinite(input.utilisationBps) || input.utilisationBps < 0) {
    throw new EconomicsError('ECON_INVALID_PRICE', `utilisationBps must be a non-negative number`)
  }
  const util = BigInt(Math.round(input.utilisationBps))
  const target = toBps(input.targetBps ?? DEFAULT_DYNAMIC_PRICE.targetBps, 'targetBps')
  const sensitivity = toBps(input.sensitivityBps ?? DEFAULT_DYNAMIC_PRICE.sensitivityBps, 'sensitivityBps')
  const floor = BigInt(input.floorBps ?? DEFAULT_DYNAMIC_PRICE.floorBps)
  const ceiling = BigInt(input.ceilingBps ?? DEFAULT_DYNAMIC_PRICE.ceilingBps)
  if (floor < 0n || ceiling < floor) {
    throw new EconomicsError('ECON_BPS_OUT_OF_RANGE', 'floorBps must be ≥ 0 and ≤ ceilingBps')
  }
  let factor = BPS_DENOMINATOR + (sensitivity * (util - target)) / BPS_DENOMINATOR
  if (factor < floor) factor = floor
  if (factor > ceiling) factor = ceiling
  return (input.basePrice * factor) / BPS_DENOMINATOR
}
