import type { DatabaseSync } from 'node:sqlite'
import { openJobsDb } from './job-store.ts'

/** Weight of the newest latency sample in the latency EWMA. */
export const LATENCY_EWMA_ALPHA = 0.2
/** Each disagreement with a verified majority halves a provider's score. */
export const DISAGREEMENT_PENALTY = 0.5
/** Each safety violation halves a provider's score. */
export const SAFETY_PENALTY = 0.5

/** What this node has seen of one provider, as a client. */
export interface ProviderReputation {
  /** The provider's PeerId. */
  peer: string
  /** Jobs that counted: ended with a receipt, or failed for a reason that is the provider's. */
  jobs: number
  successes: number
  failures: number
  /** successes / jobs (0 when no job counted yet). */
  successRate: number
  /** Exponentially weighted mean of the time from request to receipt of successful jobs, ms. */
  latencyEwmaMs: number | null
  /** Times its output disagreed with the majority of a redundant (verified) step. */
  disagreements: number
  /** Times it was reported for a safety violation. */
  safetyViolations: number
  /**
   * For routing, in [0, 1]: the smoothed success rate (successes + 1) / (jobs + 2), halved for
   * each disagreement and for each safety violation. An unknown provider scores 0.5.
   */
  score: number
  updatedAt: number
}

export interface ReputationStoreInit {
  /** Database file (created with its directory); ':memory:' for tests. */
  path: string
}

interface Row {
  peer: string
  jobs: number
  successes: number
  failures: number
  latency_ewma_ms: number | null
  disagreements: number
  safety_violations: number
  updated_at: number
}

/**
 * Reputation per provider PeerId, persisted in SQLite: every job this node runs as a client
 * records a success (with its latency) or a failure; verification records disagreements; the
 * safety layer records violations. Read it to route work to providers that behave.
 */
export class ReputationStore {
  readonly #db: DatabaseSync
  readonly #upsert: ReturnType<DatabaseSync['prepare']>
  readonly #get: ReturnType<DatabaseSync['prepare']>

  constructor(init: ReputationStoreInit) {
    this.#db = openJobsDb(
      init.path,
      `
      CREATE TABLE IF NOT EXISTS reputation (
        peer TEXT PRIMARY KEY,
        jobs INTEGER NOT NULL,
        successes INTEGER NOT NULL,
        failures INTEGER NOT NULL,
        latency_ewma_ms REAL,
        disagreements INTEGER NOT NULL,
        safety_violations INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      );
    `,
    )
    this.#get = this.#db.prepare('SELECT * FROM reputation WHERE peer = ?')
    this.#upsert = this.#db.prepare(`
      INSERT INTO reputation (peer, jobs, successes, failures, latency_ewma_ms, disagreements,
        safety_violations, updated_at)
      VALUES (:peer, :jobs, :successes, :failures, :latency_ewma_ms, :disagreements,
        :safety_violations, :updated_at)
      ON CONFLICT (peer) DO UPDATE SET jobs = :jobs, successes = :successes, failures = :failures,
        latency_ewma_ms = :latency_ewma_ms, disagreements = :disagreements,
        safety_violations = :safety_violations, updated_at = :updated_at
    `)
  }

  /** A job that ended with a good receipt `latencyMs` after it was requested. */
  recordSuccess(peer: string, latencyMs: number): ProviderReputation {
    return this.#update(peer, (r) => {
      r.jobs++
      r.successes++
      const ms = Math.max(0, latencyMs)
      r.latency_ewma_ms =
        r.latency_ewma_ms === null
          ? ms
          : LATENCY_EWMA_ALPHA * ms + (1 - LATENCY_EWMA_ALPHA) * r.latency_ewma_ms
    })
  }

  /** A job that failed for a reason that is the provider's (backend failure, deadline, bad receipt…). */
  recordFailure(peer: string): ProviderReputation {
    return this.#update(peer, (r) => {
      r.jobs++
      r.failures++
    })
  }

  /** The provider's output disagreed with the majority of a verified step. */
  recordDisagreement(peer: string): ProviderReputation {
    return this.#update(peer, (r) => {
      r.disagreements++
    })
  }

  /** The provider was caught breaking a safety rule (reported by the safety layer). */
  recordSafetyViolation(peer: string): ProviderReputation {
    return this.#update(peer, (r) => {
      r.safety_violations++
    })
  }

  /** The provider's record (an unknown provider gets a fresh one: no jobs, score 0.5). */
  get(peer: string): ProviderReputation {
    const row = this.#get.get(peer) as Row | undefined
    return toReputation(row ?? fresh(peer))
  }

  /** Every known provider, best score first. */
  list(): ProviderReputation[] {
    const rows = this.#db.prepare('SELECT * FROM reputation').all() as unknown as Row[]
    return rows.map(toReputation).sort((a, b) => b.score - a.score || a.peer.localeCompare(b.peer))
  }

  /** `peers` ordered for routing: best score first (ties keep their order). */
  rank(peers: readonly string[]): string[] {
    const scores = new Map(peers.map((p) => [p, this.get(p).score]))
    return [...peers].sort((a, b) => (scores.get(b) ?? 0) - (scores.get(a) ?? 0))
  }

  close(): void {
    if (this.#db.isOpen) this.#db.close()
  }

  #update(peer: string, change: (row: Row) => void): ProviderReputation {
    const row = { ...((this.#get.get(peer) as Row | undefined) ?? fresh(peer)) }
    change(row)
    row.updated_at = Date.now()
    this.#upsert.run({ ...row })
    return toReputation(row)
  }
}

function fresh(peer: string): Row {
  return {
    peer,
    jobs: 0,
    successes: 0,
    failures: 0,
    latency_ewma_ms: null,
    disagreements: 0,
    safety_violations: 0,
    updated_at: 0,
  }
}

function toReputation(r: Row): ProviderReputation {
  const smoothed = (r.successes + 1) / (r.jobs + 2)
  return {
    peer: r.peer,
    jobs: r.jobs,
    successes: r.successes,
    failures: r.failures,
    successRate: r.jobs === 0 ? 0 : r.successes / r.jobs,
    latencyEwmaMs: r.latency_ewma_ms === null ? null : Math.round(r.latency_ewma_ms * 10) / 10,
    disagreements: r.disagreements,
    safetyViolations: r.safety_violations,
    score: smoothed * DISAGREEMENT_PENALTY ** r.disagreements * SAFETY_PENALTY ** r.safety_violations,
    updatedAt: r.updated_at,
  }
}
