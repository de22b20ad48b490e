import type { PeerId } from '@libp2p/interface'
import type { Logger } from 'pino'
import type { PrsmLibp2p } from './libp2p.ts'

/** Peer store metadata key holding the last time we were connected to a peer (ms, big-endian). */
export const LAST_SEEN_KEY = 'prsm/last-seen'

export interface KnownPeersComponents {
  libp2p: Pick<PrsmLibp2p, 'peerId' | 'peerStore' | 'dial' | 'addEventListener' | 'removeEventListener'>
  logger: Logger
}

/**
 * Keeps the persisted peer store useful across restarts: records when each peer was last
 * connected, and at start dials the most recently seen known peers, so a restarted node rejoins
 * the network without its bootstrap list.
 */
export class KnownPeers {
  readonly #c: KnownPeersComponents
  readonly #onConnect = (evt: CustomEvent<PeerId>): void => {
    const bytes = new Uint8Array(8)
    new DataView(bytes.buffer).setBigUint64(0, BigInt(Date.now()))
    this.#c.libp2p.peerStore
      .merge(evt.detail, { metadata: { [LAST_SEEN_KEY]: bytes } })
      .catch((err: Error) => {
        this.#c.logger.debug({ err: err.message }, 'cannot record last-seen')
      })
  }

  constructor(components: KnownPeersComponents) {
    this.#c = components
  }

  start(): void {
    this.#c.libp2p.addEventListener('peer:connect', this.#onConnect)
  }

  stop(): void {
    this.#c.libp2p.removeEventListener('peer:connect', this.#onConnect)
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
