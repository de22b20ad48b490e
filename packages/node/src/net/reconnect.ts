import type { PeerId } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import type { Logger } from 'pino'
import type { PrsmLibp2p } from './libp2p.ts'

/** Peer store metadata key holding the last time we were connected to a peer (ms, big-endian). */
export const LAST_SEEN_KEY = 'prsm/last-seen'

export interface KnownPeersComponents {
  libp2p: Pick<
    PrsmLibp2p,
    'peerId' | 'peerStore' | 'dial' | 'getPeers' | 'addEventListener' | 'removeEventListener'
  >
  logger: Logger
  /**
   * Looks for more peers (a DHT lookup of the node's own key). Run a few times in the first
   * half-minute: the DHT's own first self-lookup runs once, early, and a peer that joined the
   * bootstrap node moments later would otherwise stay unknown for minutes.
   */
  discover?: (options: { signal: AbortSignal }) => Promise<void>
}

/** When, after start, the node looks for more peers through `discover` (ms). */
export const DISCOVERY_SCHEDULE_MS = [1_500, 4_000, 8_000, 15_000, 30_000] as const

export interface KnownPeersInit {
  /** Bootstrap multiaddrs, re-dialled while the node has fewer than `minPeers` peers. */
  bootstrap: readonly string[]
  minPeers: number
  /** Peers from the peer store to dial at start. */
  reconnect: number
  /** How often to check the peer count. Default 10 s. */
  intervalMs?: number
}

/**
 * Keeps the persisted peer store useful across restarts: records when each peer was last
 * connected, and at start dials the most recently seen known peers, so a restarted node rejoins
 * the network without its bootstrap list.
 */
export class KnownPeers {
  readonly #c: KnownPeersComponents
  readonly #onConnect = (evt: CustomEvent<PeerId>): void => this.#recordSeen(evt.detail)

  readonly #recorded = new Map<string, number>()

  #recordSeen(peer: PeerId): void {
    // one peer store write per peer per minute is plenty for choosing whom to redial
    const key = peer.toString()
    const now = Date.now()
    if (now - (this.#recorded.get(key) ?? 0) < 60_000) return
    this.#recorded.set(key, now)
    const bytes = new Uint8Array(8)
    new DataView(bytes.buffer).setBigUint64(0, BigInt(Date.now()))
    this.#c.libp2p.peerStore.merge(peer, { metadata: { [LAST_SEEN_KEY]: bytes } }).catch((err: Error) => {
      this.#c.logger.debug({ err: err.message }, 'cannot record last-seen')
    })
  }

  readonly #init: KnownPeersInit
  #timer: NodeJS.Timeout | undefined
  readonly #discoveries: NodeJS.Timeout[] = []

  constructor(components: KnownPeersComponents, init: KnownPeersInit) {
    this.#c = components
    this.#init = init
  }

  start(): void {
    this.#c.libp2p.addEventListener('peer:connect', this.#onConnect)
    // peers connected while libp2p was starting (bootstrap) arrived before this listener
    for (const peer of this.#c.libp2p.getPeers()) this.#recordSeen(peer)
    void this.reconnect(this.#init.reconnect).catch(() => undefined)
    this.#timer = setInterval(() => void this.#maintain(), this.#init.intervalMs ?? 10_000)
    this.#timer.unref()
    const { discover } = this.#c
    if (discover !== undefined) {
      for (const delay of DISCOVERY_SCHEDULE_MS) {
        const timer = setTimeout(() => {
          if (this.#c.libp2p.getPeers().length === 0) return
          discover({ signal: AbortSignal.timeout(10_000) }).catch((err: Error) => {
            this.#c.logger.debug({ err: err.message }, 'peer discovery lookup failed')
          })
        }, delay)
        timer.unref()
        this.#discoveries.push(timer)
      }
    }
  }

  stop(): void {
    clearInterval(this.#timer)
    for (const timer of this.#discoveries.splice(0)) clearTimeout(timer)
    this.#c.libp2p.removeEventListener('peer:connect', this.#onConnect)
  }

  /** A node that lost its peers (or whose bootstrap peer was down at start) rejoins by itself. */
  async #maintain(): Promise<void> {
    if (this.#c.libp2p.getPeers().length >= this.#init.minPeers) return
    const signal = AbortSignal.timeout(8_000)
    await Promise.allSettled(
      this.#init.bootstrap.map((addr) => this.#c.libp2p.dial(multiaddr(addr), { signal })),
    )
    if (this.#c.libp2p.getPeers().length < this.#init.minPeers)
      await this.reconnect(this.#init.reconnect, signal)
  }

  /** Dials up to `max` known peers, most recently seen first. Resolves with the number reached. */
  async reconnect(max: number, signal?: AbortSignal): Promise<number> {
    if (max === 0) return 0
    const me = this.#c.libp2p.peerId
    const peers = await this.#c.libp2p.peerStore.all()
    const candidates = peers
      .filter((p) => !p.id.equals(me) && p.addresses.length > 0 && p.metadata.has(LAST_SEEN_KEY))
      .map((p) => {
        const raw = p.metadata.get(LAST_SEEN_KEY) as Uint8Array
        return {
          id: p.id,
          seen: raw.byteLength === 8 ? new DataView(raw.buffer, raw.byteOffset).getBigUint64(0) : 0n,
        }
      })
      .sort((a, b) => (a.seen > b.seen ? -1 : a.seen < b.seen ? 1 : 0))
      .slice(0, max)
    const results = await Promise.allSettled(
      candidates.map((c) => this.#c.libp2p.dial(c.id, { signal: signal ?? AbortSignal.timeout(10_000) })),
    )
    const reached = results.filter((r) => r.status === 'fulfilled').length
    this.#c.logger.info({ known: candidates.length, reached }, 'reconnected to known peers')
    return reached
  }
}
