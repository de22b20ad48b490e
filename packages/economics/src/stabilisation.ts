import { EconomicsError } from './errors.ts'
import { assertAmount, BPS_DENOMINATOR, type Bps, toBps } from './units.ts'

/**
 * The treasury's price-stabilisation buffer (a governance-controlled policy). The treasury keeps
 * a slow reference price (an exponential moving average) and, when the market price leaves a
 * band around it, trades its own reserves against the move: it sells FTNS above the band and
 * buys below it, bringing the price back to the band's edge, never spending more than a fixed
 * share of its reserves per epoch. Prices are bigints in any fixed quote scale (the simulator
 * uses micro-dollars per FTNS).
 */
export interface StabilisationPolicy {
  /** Half-width of the band around the reference, in bps (e.g. 500 = ±5%). */
  readonly bandBps: Bps
  /** Weight of the latest price in the reference EMA, in bps per epoch (e.g. 500 = 5%). */
  readonly referenceWeightBps: Bps
  /** The most of each reserve (tokens, cash) the buffer may spend in one epoch, in bps. */
  readonly maxSpendBps: Bps
}

/** The next reference price: (reference × (10000 − w) + price × w) / 10000, rounded down. */
export function updateReference(reference: bigint, price: bigint, weightBps: Bps): bigint {
  assertPrice(reference, 'reference')
  assertPrice(price, 'price')
  const w = toBps(weightBps, 'referenceWeightBps')
  return (reference * (BPS_DENOMINATOR - w) + price * w) / BPS_DENOMINATOR
}

/** The band [reference × (1 − band), reference × (1 + band)], rounded down. */
export function stabilisationBand(
  reference: bigint,
  bandBps: Bps,
): { readonly lower: bigint; readonly upper: bigint } {
  assertPrice(reference, 'reference')
  const b = toBps(bandBps, 'bandBps')
  return {
    lower: (reference * (BPS_DENOMINATOR - b)) / BPS_DENOMINATOR,
    upper: (reference * (BPS_DENOMINATOR + b)) / BPS_DENOMINATOR,
  }
}

/** What the buffer should do at a price: nothing inside the band, else trade toward the band's edge. */
export type StabilisationAction =
  | { readonly side: 'none' }
  | { readonly side: 'sell' | 'buy'; readonly targetPrice: bigint }

export function stabilisationAction(price: bigint, reference: bigint, bandBps: Bps): StabilisationAction {
  assertPrice(price, 'price')
  const { lower, upper } = stabilisationBand(reference, bandBps)
  if (price > upper) return { side: 'sell', targetPrice: upper }
  if (price < lower) return { side: 'buy', targetPrice: lower }
  return { side: 'none' }
}

/** The most the buffer may spend from a reserve this epoch: floor(reserve × maxSpendBps / 10000). */
export function stabilisationBudget(reserve: bigint, maxSpendBps: Bps): bigint {
  assertAmount(reserve, 'reserve')
  return (reserve * toBps(maxSpendBps, 'maxSpendBps')) / BPS_DENOMINATOR
}

function assertPrice(value: bigint, name: string): void {
  if (typeof value !== 'bigint' || value <= 0n) {
    throw new EconomicsError('ECON_INVALID_PRICE', `${name} must be a positive bigint price`)
  }
}
