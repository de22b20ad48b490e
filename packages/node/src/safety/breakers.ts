/**
 * Circuit breakers per provider and per model (capability). Each keeps a sliding window of
 * outcomes (success, failure, safety violation) in fixed time buckets; when the failure or the
 * violation rate over the window reaches its threshold (governance parameters, in basis points)
 * with enough samples, the breaker opens; after `openMs` it lets probes through (half-open); a
 * good probe closes it, a bad one opens it again.
 *
 * Other nodes' breaker events are opinions, never orders: each origin's latest report counts
 * `remoteWeight`, and a breaker that is closed here is treated as open only while the weights of
 * distinct origins reporting it open add up to at least 1.
 */
export type BreakerState = 'closed' | 'open' | 'half-open'
export type Outcome = 'success' | 'failure' | 'violation'

export interface BreakerThresholds {
  /** Failure share (basis points) that opens a breaker. */
  failureRateBps: number
  /** Safety-violation share (basis points) that opens a breaker. */
  violationRateBps: number
  /** How long a breaker stays open before it lets a probe through. */
  openMs: number
}

export interface BreakersInit extends BreakerThresholds {
  /** Length of the sliding window. */
  windowMs?: number
  /** Outcomes needed in the window before rates count. */
  minSamples?: number
  /** Probes let through at once while half-open. */
  halfOpenProbes?: number
  /** Weight of one other node's report (0 = ignore others). */
  remoteWeight?: number
  /** Most breakers kept (least recently used dropped). */
  maxKeys?: number
}

export const DEFAULT_WINDOW_MS = 60_000
export const DEFAULT_MIN_SAMPLES = 10
const BUCKETS = 10

export interface BreakerChange {
  /** `provider:<peer>` or `model:<capability>`. */
  key: string
  from: BreakerState
  to: BreakerState
  failureRate: number
  violationRate: number
  samples: number
}

/** A summary of one breaker, as shown by the API and gossiped to peers. */
export interface BreakerStatus {
  key: string
  state: BreakerState
  failureRate: number
  violationRate: number
  samples: number
  openedAt?: number
  /** Distinct other nodes currently reporting it open. */
  remoteOpen: number
}

interface Breaker {
  state: BreakerState
  openedAt: number
  probes: number
  // Bucketed counts: [success, failure, violation] per bucket, and each bucket's start time.
  counts: Int32Array
  bucketStart: Float64Array
  remote: Map<string, { open: boolean; until: number }>
}

export const providerKey = (peer: string): string => `provider:${peer}`
export const modelKey = (capability: string): string => `model:${capability}`

export class Breakers {
  #t: BreakerThresholds
  readonly #windowMs: number
  readonly #minSamples: number
  readonly #probes: number
  readonly #remoteWeight: number
  readonly #maxKeys: number
  readonly #breakers = new Map<string, Breaker>()
  readonly #listeners = new Set<(c: BreakerChange) => void>()

  constructor(init: BreakersInit) {
    this.#t = {
      failureRateBps: init.failureRateBps,
      violationRateBps: init.violationRateBps,
      openMs: init.openMs,
    }
    this.#windowMs = init.windowMs ?? DEFAULT_WINDOW_MS
    this.#minSamples = init.minSamples ?? DEFAULT_MIN_SAMPLES
    this.#probes = init.halfOpenProbes ?? 1
    this.#remoteWeight = init.remoteWeight ?? 0.25
    this.#maxKeys = init.maxKeys ?? 10_000
  }

  get thresholds(): BreakerThresholds {
    return { ...this.#t }
  }

  /** New thresholds (a governance change); open breakers keep their opening time. */
  setThresholds(t: Partial<BreakerThresholds>): void {
    this.#t = { ...this.#t, ...t }
  }

  onChange(listener: (c: BreakerChange) => void): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  #get(key: string): Breaker {
    let b = this.#breakers.get(key)
    if (b === undefined) {
      if (this.#breakers.size >= this.#maxKeys) {
        const oldest = this.#breakers.keys().next().value
        if (oldest !== undefined) this.#breakers.delete(oldest)
      }
      b = {
        state: 'closed',
        openedAt: 0,
        probes: 0,
        counts: new Int32Array(BUCKETS * 3),
        bucketStart: new Float64Array(BUCKETS).fill(-Infinity),
        remote: new Map(),
      }
      this.#breakers.set(key, b)
    }
    return b
  }

  #rates(b: Breaker, now: number): { samples: number; failureRate: number; violationRate: number } {
    let s = 0
    let f = 0
    let v = 0
    for (let i = 0; i < BUCKETS; i++) {
      if (now - (b.bucketStart[i] as number) >= this.#windowMs) continue
      s += b.counts[i * 3] as number
      f += b.counts[i * 3 + 1] as number
      v += b.counts[i * 3 + 2] as number
    }
    const samples = s + f + v
    return {
      samples,
      failureRate: samples === 0 ? 0 : f / samples,
      violationRate: samples === 0 ? 0 : v / samples,
    }
  }

  #transition(key: string, b: Breaker, to: BreakerState, now: number): void {
    if (b.state === to) return
    const from = b.state
    b.state = to
    if (to === 'open') b.openedAt = now
    b.probes = 0
    const r = this.#rates(b, now)
    const change: BreakerChange = { key, from, to, ...r }
    for (const l of this.#listeners) l(change)
  }

  /** Moves an open breaker whose time is up to half-open. */
  #tick(key: string, b: Breaker, now: number): void {
    if (b.state === 'open' && now - b.openedAt >= this.#t.openMs) this.#transition(key, b, 'half-open', now)
  }

  /** Records one outcome for `key` (use {@link providerKey} / {@link modelKey}). */
  record(key: string, outcome: Outcome, now = Date.now()): void {
    const b = this.#get(key)
    this.#tick(key, b, now)
    const width = this.#windowMs / BUCKETS
    const slot = Math.floor(now / width) % BUCKETS
    const start = Math.floor(now / width) * width
    if (b.bucketStart[slot] !== start) {
      b.bucketStart[slot] = start
      b.counts.fill(0, slot * 3, slot * 3 + 3)
    }
    const idx = slot * 3 + (outcome === 'success' ? 0 : outcome === 'failure' ? 1 : 2)
    b.counts[idx] = (b.counts[idx] as number) + 1
    if (b.state === 'half-open') {
      b.probes = Math.max(0, b.probes - 1)
      this.#transition(key, b, outcome === 'success' ? 'closed' : 'open', now)
      if (outcome === 'success') {
        // A fresh start: the old window's failures no longer count against the provider.
        b.counts.fill(0)
        b.bucketStart.fill(-Infinity)
      }
      return
    }
    if (b.state !== 'closed') return
    const r = this.#rates(b, now)
    if (r.samples < this.#minSamples) return
    if (
      r.failureRate * 10_000 >= this.#t.failureRateBps ||
      (outcome === 'violation' && r.violationRate * 10_000 >= this.#t.violationRateBps)
    ) {
      this.#transition(key, b, 'open', now)
    }
  }

  /** The local state of `key` (an open breaker past its time reads half-open). */
  state(key: string, now = Date.now()): BreakerState {
    const b = this.#breakers.get(key)
    if (b === undefined) return 'closed'
    this.#tick(key, b, now)
    return b.state
  }

  /** Others' reports that `key` is open, weighted; true when they add up to at least 1. */
  #remoteOpen(b: Breaker, now: number): boolean {
    if (this.#remoteWeight <= 0) return false
    let w = 0
    for (const [origin, r] of b.remote) {
      if (r.until <= now) b.remote.delete(origin)
      else if (r.open) w += this.#remoteWeight
    }
    return w >= 1
  }

  /**
   * May work go to `key` now? Closed: yes (unless others' weighted reports say open); open: no;
   * half-open: only up to `halfOpenProbes` probes at once (each taken probe must be recorded).
   */
  allow(key: string, now = Date.now()): boolean {
    const b = this.#breakers.get(key)
    if (b === undefined) return true
    this.#tick(key, b, now)
    if (b.state === 'open') return false
    if (b.state === 'half-open') {
      if (b.probes >= this.#probes) return false
      b.probes++
      return true
    }
    return !this.#remoteOpen(b, now)
  }

  /** Non-consuming check: would {@link allow} let work through (probes not taken)? */
  routable(key: string, now = Date.now()): boolean {
    const b = this.#breakers.get(key)
    if (b === undefined) return true
    this.#tick(key, b, now)
    if (b.state === 'open') return false
    if (b.state === 'half-open') return b.probes < this.#probes
    return !this.#remoteOpen(b, now)
  }

  /** Records another node's report on `key` (it expires after `openMs`). */
  applyRemote(origin: string, key: string, state: BreakerState, now = Date.now()): void {
    if (this.#remoteWeight <= 0) return
    const b = this.#get(key)
    b.remote.set(origin, { open: state === 'open', until: now + this.#t.openMs })
  }

  status(key: string, now = Date.now()): BreakerStatus {
    const b = this.#breakers.get(key)
    if (b === undefined)
      return { key, state: 'closed', failureRate: 0, violationRate: 0, samples: 0, remoteOpen: 0 }
    this.#tick(key, b, now)
    let remoteOpen = 0
    for (const r of b.remote.values()) if (r.open && r.until > now) remoteOpen++
    return {
      key,
      state: b.state,
      ...this.#rates(b, now),
      ...(b.state === 'closed' ? {} : { openedAt: b.openedAt }),
      remoteOpen,
    }
  }

  list(now = Date.now()): BreakerStatus[] {
    return [...this.#breakers.keys()].map((k) => this.status(k, now))
  }
}
