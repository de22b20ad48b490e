import type { ConnectionGater, PeerId } from '@libp2p/interface'
import type { ErrorCode } from '@prsm/core'

/** Penalty points for each kind of rejected message; the worse the offence, the more it costs. */
export const PENALTY_POINTS: Partial<Record<ErrorCode, number>> = {
  MESSAGE_BAD_SIGNATURE: 50,
  MESSAGE_OVERSIZE: 50,
  MESSAGE_MALFORMED: 40,
  MESSAGE_SCHEMA: 25,
  MESSAGE_REPLAYED: 25,
  MESSAGE_UNKNOWN_TYPE: 10,
  MESSAGE_STALE: 10,
  CONTENT_BAD_BLOCK: 50,
}
const DEFAULT_POINTS = 10

export interface PenaltiesInit {
  /** Score at which a peer is banned. */
  threshold: number
  /** How long a banned peer is refused. */
  cooldownMs: number
  /** Points forgiven per minute. */
  decayPerMinute: number
  now?: () => number
}

export interface PenaltyRecord {
  peer: string
  score: number
  offences: Partial<Record<ErrorCode, number>>
  bannedUntil?: number
}

export type BanListener = (peer: PeerId, record: PenaltyRecord) => void

/**
 * Scores misbehaving peers. Every rejected message adds points (decaying over time); a peer at
 * or over the threshold is banned for the cool-down: the ban listener disconnects it and the
 * connection gater refuses it in both directions until the ban ends.
 */
export class PeerPenalties {
  readonly #init: PenaltiesInit
  readonly #records = new Map<string, PenaltyRecord & { updatedAt: number }>()
  readonly #listeners = new Set<BanListener>()
  readonly #now: () => number

  constructor(init: PenaltiesInit) {
    this.#init = init
    this.#now = init.now ?? Date.now
  }

  onBan(listener: BanListener): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  /** Adds the penalty for `code` to the peer and returns its record (with `bannedUntil` if banned now). */
  penalise(peer: PeerId, code: ErrorCode): PenaltyRecord {
    const now = this.#now()
    const key = peer.toString()
    const record = this.#records.get(key) ?? { peer: key, score: 0, offences: {}, updatedAt: now }
    record.score = this.#decayed(record, now) + (PENALTY_POINTS[code] ?? DEFAULT_POINTS)
    record.updatedAt = now
    record.offences[code] = (record.offences[code] ?? 0) + 1
    this.#records.set(key, record)
    const alreadyBanned = record.bannedUntil !== undefined && record.bannedUntil > now
    if (record.score >= this.#init.threshold && !alreadyBanned) {
      record.bannedUntil = now + this.#init.cooldownMs
      for (const listener of this.#listeners) listener(peer, this.get(key) as PenaltyRecord)
    }
    return this.get(key) as PenaltyRecord
  }

  #decayed(record: { score: number; updatedAt: number }, now: number): number {
    const minutes = (now - record.updatedAt) / 60_000
    return Math.max(0, record.score - minutes * this.#init.decayPerMinute)
  }

  isBanned(peer: PeerId | string): boolean {
    const record = this.#records.get(peer.toString())
    return record?.bannedUntil !== undefined && record.bannedUntil > this.#now()
  }

  get(peer: PeerId | string): PenaltyRecord | undefined {
    const record = this.#records.get(peer.toString())
    if (record === undefined) return undefined
    const { updatedAt, ...rest } = record
    return { ...rest, score: this.#decayed(record, this.#now()), offences: { ...rest.offences } }
  }

  list(): PenaltyRecord[] {
    return [...this.#records.keys()].map((k) => this.get(k) as PenaltyRecord)
  }

  /** A libp2p connection gater refusing banned peers. */
  gater(): ConnectionGater {
    const banned = async (peer: PeerId): Promise<boolean> => this.isBanned(peer)
    return {
      denyDialPeer: banned,
      denyInboundEncryptedConnection: banned,
      denyOutboundEncryptedConnection: banned,
    }
  }
}
