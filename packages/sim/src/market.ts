import {
  distributeProRata,
  type StabilisationPolicy,
  stabilisationAction,
  stabilisationBudget,
  updateReference,
  WEI_PER_FTNS,
} from '@prsm/economics'
import type { Ledger } from './ledger.ts'

/** Micro-dollars per dollar: cash is a bigint of micro-dollars, prices are micro-dollars per FTNS. */
export const MICRO = 1_000_000n

/** Integer square root (floor) of a non-negative bigint. */
export function isqrt(n: bigint): bigint {
  if (n < 0n) throw new RangeError('isqrt of a negative number')
  if (n < 2n) return n
  let x = BigInt(Math.floor(Math.sqrt(Number(n)))) + 1n
  // one Newton step lands at or above floor(sqrt(n)); further steps descend monotonically to it
  x = (x + n / x) >> 1n
  for (;;) {
    const y = (x + n / x) >> 1n
    if (y >= x) break
    x = y
  }
  while (x * x > n) x -= 1n
  while ((x + 1n) * (x + 1n) <= n) x += 1n
  return x
}

/**
 * The FTNS/dollar market: a constant-product pool (tokens in the ledger's pool account, dollars
 * here) that clears one batch of orders per day. Orders first cross each other at the pool's
 * price; only the imbalance trades against the pool and moves the price, so the price responds
 * to net demand and supply. The pool takes no swap fee and rounds in its own favour.
 */
export class Market {
  readonly poolAccount: number
  readonly escrowAccount: number
  cash: bigint

  constructor(poolAccount: number, escrowAccount: number, cash: bigint) {
    this.poolAccount = poolAccount
    this.escrowAccount = escrowAccount
    this.cash = cash
  }

  /** Micro-dollars per FTNS. */
  price(ledger: Ledger): bigint {
    return (this.cash * WEI_PER_FTNS) / (ledger.balance[this.poolAccount] as bigint)
  }

  /** Tokens out of the pool for `cashIn` dollars (the pool keeps x·y ≥ k). */
  quoteBuy(ledger: Ledger, cashIn: bigint): bigint {
    const t = ledger.balance[this.poolAccount] as bigint
    const k = t * this.cash
    const newCash = this.cash + cashIn
    const newTokens = (k + newCash - 1n) / newCash
    return t - newTokens
  }

  /** Dollars out of the pool for `tokensIn`. */
  quoteSell(ledger: Ledger, tokensIn: bigint): bigint {
    const t = ledger.balance[this.poolAccount] as bigint
    const k = t * this.cash
    const newTokens = t + tokensIn
    const newCash = (k + newTokens - 1n) / newTokens
    return this.cash - newCash
  }

  /**
   * Clears a batch. `buys` are dollar amounts (the buyers' dollars come from outside the token
   * economy); `sells` are token amounts already moved to the escrow account. Returns the tokens
   * each buyer receives and the dollars each seller receives.
   */
  clear(
    ledger: Ledger,
    buys: readonly bigint[],
    buyers: readonly number[],
    sells: readonly bigint[],
  ): {
    tokens: bigint[]
    cash: bigint[]
  } {
    let b = 0n
    for (const x of buys) b += x
    let s = 0n
    for (const x of sells) s += x
    if (b === 0n && s === 0n) return { tokens: buys.map(() => 0n), cash: [] }
    const p0 = this.price(ledger)
    const sellValue = (s * p0) / WEI_PER_FTNS
    let toBuyers: bigint
    let toSellers: bigint
    if (b >= sellValue) {
      const residual = b - sellValue
      const out = this.quoteBuy(ledger, residual)
      this.cash += residual
      toBuyers = s + out
      toSellers = sellValue
    } else {
      const matched = (b * WEI_PER_FTNS) / p0
      const residual = s - matched
      const out = this.quoteSell(ledger, residual)
      this.cash -= out
      toBuyers = matched
      toSellers = b + out
    }
    ledger.move(this.escrowAccount, this.poolAccount, s)
    const tokens = b > 0n ? distributeProRata(toBuyers, buys) : buys.map(() => 0n)
    tokens.forEach((t, i) => {
      ledger.move(this.poolAccount, buyers[i] as number, t)
    })
    const cash = s > 0n ? distributeProRata(toSellers, sells) : []
    return { tokens, cash }
  }
}

/** The treasury's stabilisation buffer, trading its own FTNS and dollars against the pool. */
export class Stabiliser {
  reference: bigint
  readonly policy: StabilisationPolicy
  spentTokens = 0n
  spentCash = 0n

  constructor(reference: bigint, policy: StabilisationPolicy) {
    this.reference = reference
    this.policy = policy
  }

  /**
   * After the day's batch: if the price left the band around the reference, trade toward the
   * band's edge within the day's budget; then move the reference toward the close.
   */
  act(ledger: Ledger, market: Market, treasury: number, treasuryCash: { cash: bigint }): void {
    const price = market.price(ledger)
    const action = stabilisationAction(price, this.reference, this.policy.bandBps)
    const t = ledger.balance[market.poolAccount] as bigint
    const k = t * market.cash
    if (action.side === 'sell') {
      const targetTokens = isqrt((k * WEI_PER_FTNS) / action.targetPrice)
      let tokensIn = targetTokens - t
      const budget = stabilisationBudget(ledger.balance[treasury] as bigint, this.policy.maxSpendBps)
      if (tokensIn > budget) tokensIn = budget
      if (tokensIn > 0n) {
        const out = market.quoteSell(ledger, tokensIn)
        ledger.move(treasury, market.poolAccount, tokensIn)
        market.cash -= out
        treasuryCash.cash += out
        this.spentTokens += tokensIn
      }
    } else if (action.side === 'buy') {
      const targetCash = isqrt((k * action.targetPrice) / WEI_PER_FTNS)
      let cashIn = targetCash - market.cash
      const budget = stabilisationBudget(treasuryCash.cash, this.policy.maxSpendBps)
      if (cashIn > budget) cashIn = budget
      if (cashIn > 0n) {
        const out = market.quoteBuy(ledger, cashIn)
        market.cash += cashIn
        treasuryCash.cash -= cashIn
        ledger.move(market.poolAccount, treasury, out)
        this.spentCash += cashIn
      }
    }
    this.reference = updateReference(this.reference, market.price(ledger), this.policy.referenceWeightBps)
  }
}
