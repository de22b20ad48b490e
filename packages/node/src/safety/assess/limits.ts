import type { Violation } from './violation.ts'

/**
 * Rate and budget limits per client (the size limit is applied by the assessor). Rates use a token bucket per key; budgets a fixed
 * window per key. State is bounded: the least recently seen keys are dropped past `maxKeys`.
 */
export interface LimitsInit {
  /** Requests per minute per client (0 = unlimited). */
  ratePerMinute: number
  /** Burst allowance of the rate limit. */
  burst: number
  /** Units (tokens or wei) per client per budget window (0 = unlimited). */
  budget: number
  /** Length of the budget window, milliseconds. */
  budgetWindowMs: number
  /** Most clients tracked at once. */
  maxKeys?: number
}

interface Bucket {
  tokens: number
  at: number
  spent: number
  windowStart: number
}

export class Limits {
  readonly #init: LimitsInit
  readonly #buckets = new Map<string, Bucket>()
  readonly #maxKeys: number

  constructor(init: LimitsInit) {
    this.#init = init
    this.#maxKeys = init.maxKeys ?? 100_000
  }

  #bucket(key: string, now: number): Bucket {
    let b = this.#buckets.get(key)
    if (b === undefined) {
      b = { tokens: this.#init.burst, at: now, spent: 0, windowStart: now }
      if (this.#buckets.size >= this.#maxKeys) {
        const oldest = this.#buckets.keys().next().value
        if (oldest !== undefined) this.#buckets.delete(oldest)
      }
    } else {
      this.#buckets.delete(key)
    }
    this.#buckets.set(key, b)
    return b
  }

  /** Takes one request from `key`'s bucket; a `rate` violation when it is empty. */
  rate(key: string, now = Date.now()): Violation | undefined {
    const perMin = this.#init.ratePerMinute
    if (perMin <= 0) return undefined
    const b = this.#bucket(key, now)
    b.tokens = Math.min(this.#init.burst, b.tokens + ((now - b.at) * perMin) / 60_000)
    b.at = now
    if (b.tokens < 1) return { category: 'rate', rule: 'requests-per-minute', severity: 0.4 }
    b.tokens -= 1
    return undefined
  }

  /** Adds `units` to `key`'s spend in the current window; a `budget` violation past the budget. */
  spend(key: string, units: number, now = Date.now()): Violation | undefined {
    if (this.#init.budget <= 0) return undefined
    const b = this.#bucket(key, now)
    if (now - b.windowStart >= this.#init.budgetWindowMs) {
      b.windowStart = now
      b.spent = 0
    }
    if (b.spent + units > this.#init.budget)
      return { category: 'budget', rule: 'budget-window', severity: 0.4 }
    b.spent += units
    return undefined
  }
}
