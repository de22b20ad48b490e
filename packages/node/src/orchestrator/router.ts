import type { FoundOffer } from '../market/offers.ts'

/**
 * Whether a provider may be routed to for a capability. The safety service implements it with
 * halts and open circuit breakers; the default allows everything.
 */
export interface RoutingSafety {
  routable(provider: string, capability: string): boolean
}

/** What the router knows of a provider's past jobs (the node's reputation store, when present). */
export interface ProviderStats {
  /** Share of jobs that ended well, 0–1. */
  successRate?: number
  /** Latency EWMA, milliseconds. */
  latencyMs?: number
  /** Times the provider disagreed with a redundant majority. */
  disagreements?: number
}

export interface ReputationView {
  get(provider: string): ProviderStats | undefined
}

/** Weights of the routing score (lower score wins); each term is normalised to 0–1. */
export interface RouteWeights {
  price: number
  latency: number
  reputation: number
  load: number
}

export const DEFAULT_ROUTE_WEIGHTS: RouteWeights = { price: 1, latency: 0.5, reputation: 2, load: 1 }

export interface RouterComponents {
  safety?: RoutingSafety
  reputation?: ReputationView
}

export interface RouteRequest {
  capability: string
  /** Offers to choose from (expired ones are skipped). */
  offers: readonly FoundOffer[]
  /** How many distinct providers to pick. */
  count: number
  /** Providers never to pick (this node, providers that failed this step). */
  exclude?: ReadonlySet<string>
  /** The most that may be paid per provider, wei: dearer offers are skipped. */
  maxPrice?: bigint
}

export interface RankedOffer {
  found: FoundOffer
  score: number
}

/**
 * Scores current offers for a step by price, latency, reputation and load and picks the best
 * distinct providers. Providers the safety component refuses (halted, open breaker) and excluded
 * ones are never picked. Load is this node's own steps in flight per provider, relative to the
 * offer's concurrency limit; latency and success come from the reputation view and this router's
 * own observations (EWMA).
 */
export class Router {
  readonly #c: RouterComponents
  readonly #weights: RouteWeights
  readonly #inFlight = new Map<string, number>()
  readonly #seen = new Map<string, { latencyMs: number; ok: number; failed: number }>()

  constructor(components: RouterComponents = {}, weights: RouteWeights = DEFAULT_ROUTE_WEIGHTS) {
    this.#c = components
    this.#weights = weights
  }

  /** Offers ranked best first (one per provider), after exclusions. */
  rank(request: Omit<RouteRequest, 'count'>): RankedOffer[] {
    const now = Date.now()
    const best = new Map<string, FoundOffer>()
    for (const f of request.offers) {
      if (f.offer.capability !== request.capability || f.offer.expiry <= now) continue
      if (request.exclude?.has(f.provider)) continue
      if (request.maxPrice !== undefined && BigInt(f.offer.price) > request.maxPrice) continue
      if (this.#c.safety !== undefined && !this.#c.safety.routable(f.provider, request.capability)) continue
      const had = best.get(f.provider)
      if (had === undefined || BigInt(f.offer.price) < BigInt(had.offer.price)) best.set(f.provider, f)
    }
    const candidates = [...best.values()]
    if (candidates.length === 0) return []
    const prices = candidates.map((f) => Number(BigInt(f.offer.price)))
    const maxPrice = Math.max(...prices, 1)
    const stats = candidates.map((f) => this.stats(f.provider))
    const maxLatency = Math.max(...stats.map((s) => s.latencyMs ?? 0), 1)
    const w = this.#weights
    const ranked = candidates.map((found, i) => {
      const s = stats[i] as ProviderStats
      const limit = found.offer.limits.maxConcurrency ?? 4
      const load = (this.#inFlight.get(found.provider) ?? 0) / limit
      const score =
        w.price * ((prices[i] as number) / maxPrice) +
        w.latency * ((s.latencyMs ?? maxLatency / 2) / maxLatency) +
        w.reputation * (1 - (s.successRate ?? 0.9) + Math.min(1, (s.disagreements ?? 0) / 5)) +
        w.load * Math.min(2, load)
      return { found, score }
    })
    ranked.sort((a, b) => a.score - b.score || a.found.provider.localeCompare(b.found.provider))
    return ranked
  }

  /** The best `count` distinct providers (fewer when fewer qualify). */
  pick(request: RouteRequest): FoundOffer[] {
    return this.rank(request)
      .slice(0, request.count)
      .map((r) => r.found)
  }

  /** What is known of a provider: the reputation view, filled in by this router's observations. */
  stats(provider: string): ProviderStats {
    const external = this.#c.reputation?.get(provider) ?? {}
    const own = this.#seen.get(provider)
    if (own === undefined) return external
    return {
      successRate: external.successRate ?? own.ok / (own.ok + own.failed),
      latencyMs: external.latencyMs ?? own.latencyMs,
      ...(external.disagreements === undefined ? {} : { disagreements: external.disagreements }),
    }
  }

  /** Marks a step sent to `provider`; call the returned function when it ends. */
  begin(provider: string): () => void {
    this.#inFlight.set(provider, (this.#inFlight.get(provider) ?? 0) + 1)
    let done = false
    return () => {
      if (done) return
      done = true
      const n = (this.#inFlight.get(provider) ?? 1) - 1
      if (n <= 0) this.#inFlight.delete(provider)
      else this.#inFlight.set(provider, n)
    }
  }

  /** Records the outcome of a step on `provider` (latency EWMA with α = 0.3). */
  observe(provider: string, outcome: { ok: boolean; latencyMs: number }): void {
    const s = this.#seen.get(provider) ?? { latencyMs: outcome.latencyMs, ok: 0, failed: 0 }
    s.latencyMs = 0.7 * s.latencyMs + 0.3 * outcome.latencyMs
    if (outcome.ok) s.ok++
    else s.failed++
    this.#seen.set(provider, s)
  }
}
