import type { PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { lpStream } from '@libp2p/utils'
import { PrsmError } from '@prsm/core'
import type { Blockstore } from 'interface-blockstore'
import { CID } from 'multiformats/cid'
import type { Logger } from 'pino'
import type { PrsmLibp2p } from '../net/libp2p.ts'
import type { PeerPenalties } from '../net/penalties.ts'
import {
  type BlockBytes,
  blockBytes,
  blockMatches,
  blockPartsMatch,
  MAX_BLOCK_BYTES,
  readBlock,
} from './blocks.ts'
import { FastFsBlockstore } from './fs-blockstore.ts'

/**
 * PRSM's block protocol. The requester writes length-prefixed frames, each with a CID's bytes; the
 * provider answers every request, in order, with one frame: `0x00` followed by the block, or
 * `0x01` when it does not have it. A stream carries any number of requests (the requester keeps
 * one open per peer and pipelines on it; a stream with a single request is the simplest client).
 * The requester verifies every block against its CID.
 */
export const BLOCK_PROTOCOL = '/prsm/block/1.0.0'
const HAVE = 0
const DONT_HAVE = 1
/** A block stream idle this long is closed by the provider. */
const SESSION_IDLE_MS = 30_000
/** Requests on one stream whose blocks a provider loads ahead of writing. */
const SERVE_AHEAD = 8

type BlockStream = Parameters<Parameters<PrsmLibp2p['handle']>[1]>[0]
/** A reply frame as read off the stream: the pieces it arrived in. */
type Uint8ArrayList = Awaited<ReturnType<ReturnType<typeof lpStream>['read']>>

interface Pending {
  resolve: (reply: Uint8ArrayList) => void
  reject: (err: Error) => void
  /** The request was written to the stream (its reply will come). */
  sent: boolean
  /** The requester gave up; the reply, when it comes, is read and dropped. */
  abandoned: boolean
}

/**
 * One long-lived block stream to a peer; requests are pipelined and answered in order. Replies
 * come in order, so a request waiting behind others is not late: the peer is judged by progress
 * instead — when requests are pending and no reply has come for `stallMs`, the peer has stalled,
 * the stream is closed and every waiting request fails with a stall (the requester then asks the
 * next provider). A request whose caller gives up (a cancelled fetch) is abandoned: its reply is
 * read and dropped when it comes, and the stream stays open for the others.
 */
class BlockSession {
  readonly #stream: BlockStream
  readonly #lp: ReturnType<typeof lpStream>
  readonly #pending: Pending[] = []
  readonly #stallMs: number
  readonly #watchdog: NodeJS.Timeout
  /** When the last reply arrived, or when a request was sent with none outstanding. */
  #progressAt = Date.now()
  #closed = false
  #writing: Promise<unknown> = Promise.resolve()
  readonly onClose: () => void

  constructor(stream: BlockStream, stallMs: number, onClose: () => void) {
    this.#stream = stream
    this.#stallMs = stallMs
    this.#lp = lpStream(stream, { maxDataLength: MAX_BLOCK_BYTES + 1 })
    this.onClose = onClose
    this.#watchdog = setInterval(() => this.#checkStall(), Math.max(25, Math.floor(stallMs / 4)))
    this.#watchdog.unref()
    void this.#readLoop()
  }

  get closed(): boolean {
    return this.#closed
  }

  #checkStall(): void {
    if (!this.#pending.some((p) => p.sent)) return
    if (Date.now() - this.#progressAt >= this.#stallMs) {
      this.close(new StallError(`peer sent no block for ${this.#stallMs} ms`))
    }
  }

  async #readLoop(): Promise<void> {
    try {
      while (!this.#closed) {
        const reply = await this.#lp.read()
        this.#progressAt = Date.now()
        const next = this.#pending.shift()
        if (next?.sent !== true) throw new Error('unrequested block reply')
        // the frame as it arrived (pieces of at most 64 KiB): verified, stored and streamed piecewise,
        // never joined into one buffer
        if (!next.abandoned) next.resolve(reply)
      }
    } catch (err) {
      this.close(err as Error)
    }
  }

  /**
   * Resolves with the peer's reply frame; rejects when `signal` aborts (the request is abandoned)
   * or the session closes ({@link SessionClosedError}, `stalled` when the peer stopped answering).
   */
  request(cid: CID, signal?: AbortSignal): Promise<Uint8ArrayList> {
    if (this.#closed) return Promise.reject(new SessionClosedError())
    if (signal?.aborted === true) return Promise.reject(signal.reason as Error)
    return new Promise<Uint8ArrayList>((resolve, reject) => {
      const onAbort = (): void => {
        entry.abandoned = true
        entry.reject(signal?.reason as Error)
      }
      const entry: Pending = {
        sent: false,
        abandoned: false,
        resolve: (r) => {
          signal?.removeEventListener('abort', onAbort)
          resolve(r)
        },
        reject: (e) => {
          signal?.removeEventListener('abort', onAbort)
          reject(e)
        },
      }
      this.#pending.push(entry)
      signal?.addEventListener('abort', onAbort, { once: true })
      this.#writing = this.#writing
        .then(async () => {
          if (this.#closed) return
          if (entry.abandoned) {
            // never sent, so no reply will come for it
            this.#pending.splice(this.#pending.indexOf(entry), 1)
            return
          }
          if (!this.#pending.some((p) => p.sent)) this.#progressAt = Date.now()
          entry.sent = true
          await this.#lp.write(cid.bytes)
        })
        .catch((err: Error) => this.close(err))
    })
  }

  close(err?: Error): void {
    if (this.#closed) return
    this.#closed = true
    clearInterval(this.#watchdog)
    this.onClose()
    const error = new SessionClosedError(err)
    for (const p of this.#pending.splice(0)) if (!p.abandoned) p.reject(error)
    if (err === undefined) void this.#stream.close().catch(() => undefined)
    else this.#stream.abort(error)
  }
}

class StallError extends Error {
  override readonly name = 'StallError'
}

/** The block stream to a peer closed while a request was waiting on it. */
class SessionClosedError extends Error {
  override readonly name = 'SessionClosedError'
  /** The peer stopped answering (no reply for `blockTimeoutMs` with requests pending). */
  readonly stalled: boolean
  constructor(cause?: Error) {
    super(`block session closed${cause === undefined ? '' : `: ${cause.message}`}`, { cause })
    this.stalled = cause instanceof StallError
  }
}

export interface BlockExchangeComponents {
  libp2p: Pick<
    PrsmLibp2p,
    | 'peerId'
    | 'handle'
    | 'unhandle'
    | 'dialProtocol'
    | 'getConnections'
    | 'peerStore'
    | 'contentRouting'
    | 'addEventListener'
    | 'removeEventListener'
  >
  /** The local blockstore (never the networked one: serving must not trigger fetches). */
  blockstore: Pick<Blockstore, 'has' | 'get'>
  penalties: Pick<PeerPenalties, 'penalise' | 'isBanned'>
  logger: Logger
}

export interface BlockExchangeInit {
  blockTimeoutMs: number
  providerLookupTimeoutMs: number
  /** Called for every block served to a peer (usage counters). */
  onServe?: (cid: CID, bytes: number, peer: PeerId) => void
}

/** A source tried after the PRSM peers (Bitswap, HTTP gateways); must return verified bytes or throw. */
export interface FallbackRetriever {
  name: string
  retrieve(cid: CID, options: { signal: AbortSignal }): Promise<Uint8Array>
}

export interface ProviderFailure {
  peer: string
  reason: 'bad-block' | 'timeout' | 'dont-have' | 'error'
}

/**
 * Serves local blocks on {@link BLOCK_PROTOCOL} and retrieves blocks from peers with failover:
 * connected PRSM peers first (the ones that served recently first), then providers found in the
 * DHT, then the fallbacks. A provider that stalls past `blockTimeoutMs` or answers "don't have"
 * is skipped for this block; one that serves bytes not matching the CID is penalised with
 * `CONTENT_BAD_BLOCK` and avoided for later blocks.
 */
export class BlockExchange {
  readonly name = 'prsm-blocks'
  readonly #c: BlockExchangeComponents
  readonly #init: BlockExchangeInit
  readonly #fallbacks: FallbackRetriever[] = []
  /** Last time each peer served a good block; better providers are asked first. */
  readonly #lastGood = new Map<string, number>()
  /** Peers that served a bad block: asked last (until the penalty bans them). */
  readonly #suspect = new Set<string>()
  readonly #failures: ProviderFailure[] = []
  readonly #sessions = new Map<string, Promise<BlockSession>>()
  #connected: { at: number; peers: Promise<{ known: PeerId[]; unknown: PeerId[] }> } | undefined
  readonly #forgetConnected = (): void => {
    this.#connected = undefined
  }
  #started = false

  constructor(components: BlockExchangeComponents, init: BlockExchangeInit) {
    this.#c = components
    this.#init = init
  }

  addFallback(fallback: FallbackRetriever): void {
    this.#fallbacks.push(fallback)
  }

  async start(): Promise<void> {
    if (this.#started) return
    this.#started = true
    this.#c.libp2p.addEventListener('peer:identify', this.#forgetConnected)
    this.#c.libp2p.addEventListener('connection:open', this.#forgetConnected)
    this.#c.libp2p.addEventListener('connection:close', this.#forgetConnected)
    await this.#c.libp2p.handle(
      BLOCK_PROTOCOL,
      (stream, connection) => this.#serve(stream, connection.remotePeer),
      {
        maxInboundStreams: 256,
        maxOutboundStreams: 256,
      },
    )
  }

  async stop(): Promise<void> {
    if (!this.#started) return
    this.#started = false
    for (const s of this.#sessions.values()) void s.then((session) => session.close()).catch(() => undefined)
    this.#sessions.clear()
    this.#c.libp2p.removeEventListener('peer:identify', this.#forgetConnected)
    this.#c.libp2p.removeEventListener('connection:open', this.#forgetConnected)
    this.#c.libp2p.removeEventListener('connection:close', this.#forgetConnected)
    await this.#c.libp2p.unhandle(BLOCK_PROTOCOL)
  }

  /** Recent provider failures (newest last), for status and tests. */
  failures(): ProviderFailure[] {
    return [...this.#failures]
  }

  async #serve(stream: BlockStream, from: PeerId): Promise<void> {
    try {
      const lp = lpStream(stream, { maxDataLength: 256 })
      // Requests are read ahead and their blocks loaded concurrently (up to SERVE_AHEAD); replies
      // are written in request order.
      const queue: Array<Promise<Uint8Array>> = []
      let ended = false
      let wake: (() => void) | undefined
      const reader = (async () => {
        try {
          while (true) {
            while (queue.length >= SERVE_AHEAD) await new Promise<void>((r) => (wake = r))
            const request = await lp
              .read({ signal: AbortSignal.timeout(SESSION_IDLE_MS) })
              .catch((err: Error) => {
                if (err.name === 'UnexpectedEOFError' || stream.readStatus !== 'readable') return undefined
                throw err
              })
            if (request === undefined) break
            const p = this.#frame(CID.decode(request.subarray()), from)
            p.catch(() => undefined)
            queue.push(p)
            wake?.()
          }
        } finally {
          ended = true
          wake?.()
        }
      })()
      while (true) {
        const next = queue[0]
        if (next === undefined) {
          if (ended) break
          await new Promise<void>((r) => (wake = r))
          continue
        }
        const frame = await next
        queue.shift()
        wake?.()
        await lp.write(frame, { signal: AbortSignal.timeout(this.#init.blockTimeoutMs * 3) })
      }
      await reader
      await stream.close()
    } catch (err) {
      this.#c.logger.debug({ err: (err as Error).message, peer: from.toString() }, 'block request failed')
      stream.abort(err as Error)
    }
  }

  /** The reply frame for one request: `0x00` + block, or `0x01`. */
  async #frame(cid: CID, from: PeerId): Promise<Uint8Array> {
    const signal = AbortSignal.timeout(this.#init.blockTimeoutMs * 3)
    const store = this.#c.blockstore
    let frame: Uint8Array | undefined
    if (store instanceof FastFsBlockstore) {
      // read straight into the reply frame (no 1 MiB copy per block)
      frame = await store.getBytes(cid, { signal, headerByte: HAVE }).catch(() => undefined)
    } else if (await store.has(cid, { signal })) {
      const block = await readBlock(store, cid, { signal }).catch(() => undefined)
      if (block !== undefined) {
        frame = new Uint8Array(block.byteLength + 1)
        frame[0] = HAVE
        frame.set(block, 1)
      }
    }
    if (frame === undefined) return Uint8Array.of(DONT_HAVE)
    this.#init.onServe?.(cid, frame.byteLength - 1, from)
    return frame
  }

  #session(peer: PeerId, signal: AbortSignal): Promise<BlockSession> {
    const key = peer.toString()
    let session = this.#sessions.get(key)
    if (session === undefined) {
      const opening = this.#c.libp2p
        .dialProtocol(peer, BLOCK_PROTOCOL, { signal })
        .then(
          (stream) => new BlockSession(stream, this.#init.blockTimeoutMs, () => this.#forget(key, opening)),
        )
      opening.catch(() => this.#forget(key, opening))
      session = opening
      this.#sessions.set(key, session)
    }
    return session
  }

  #forget(key: string, session: Promise<BlockSession>): void {
    if (this.#sessions.get(key) === session) this.#sessions.delete(key)
  }

  /** Asks one peer for one block; returns verified bytes, or throws with the failure reason. */
  async fetchFrom(peer: PeerId, cid: CID, options: { signal?: AbortSignal } = {}): Promise<Uint8Array> {
    return (await this.#fetchParts(peer, cid, options)).subarray()
  }

  /** {@link fetchFrom}, the block as the pieces it arrived in (no copy into one buffer). */
  async #fetchParts(peer: PeerId, cid: CID, options: { signal?: AbortSignal }): Promise<Uint8ArrayList> {
    const dialSignal = AbortSignal.any([
      AbortSignal.timeout(this.#init.blockTimeoutMs),
      ...(options.signal === undefined ? [] : [options.signal]),
    ])
    let failure: ProviderFailure['reason'] = 'error'
    try {
      let reply: Uint8ArrayList
      try {
        reply = await (await this.#session(peer, dialSignal)).request(cid, options.signal)
      } catch (err) {
        // the stream broke under this request (not a stall): ask once more on a fresh stream
        if (!(err instanceof SessionClosedError) || err.stalled || options.signal?.aborted === true) throw err
        reply = await (await this.#session(peer, dialSignal)).request(cid, options.signal)
      }
      if (reply.byteLength === 0 || reply.get(0) !== HAVE) {
        failure = 'dont-have'
        throw new PrsmError('CONTENT_NOT_FOUND', `${peer} does not have ${cid}`)
      }
      const block = reply.sublist(1)
      if (!blockPartsMatch(cid, block)) {
        failure = 'bad-block'
        this.#suspect.add(peer.toString())
        this.#c.penalties.penalise(peer, 'CONTENT_BAD_BLOCK')
        this.#c.logger.warn({ peer: peer.toString(), cid: cid.toString() }, 'peer served a bad block')
        throw new PrsmError('CONTENT_BAD_BLOCK', `${peer} served a block that does not match ${cid}`)
      }
      this.#lastGood.set(peer.toString(), Date.now())
      this.#suspect.delete(peer.toString())
      return block
    } catch (err) {
      const stalled = err instanceof SessionClosedError && err.stalled
      const dialTimedOut = failure === 'error' && dialSignal.aborted && options.signal?.aborted !== true
      if (stalled || dialTimedOut) {
        // a stalled peer is asked last for later blocks (no penalty: it may only be slow)
        failure = 'timeout'
        this.#suspect.add(peer.toString())
      }
      this.#failures.push({ peer: peer.toString(), reason: failure })
      if (this.#failures.length > 100) this.#failures.shift()
      throw err
    }
  }

  /**
   * Connected peers that speak the block protocol, best first, then connected peers not identified
   * yet (identify still running right after a dial: asking costs one
   * failed stream, skipping them would fail a fetch started right after connecting). A list with
   * known providers only is reused for 1 s, and forgotten when a connection opens or closes or a
   * peer is identified.
   */
  async #connectedProviders(): Promise<PeerId[]> {
    const now = Date.now()
    if (this.#connected === undefined || now - this.#connected.at > 1000) {
      this.#connected = { at: now, peers: this.#listConnectedProviders() }
    }
    const { known, unknown } = await this.#connected.peers
    const ok = (p: PeerId): boolean => !this.#c.penalties.isBanned(p)
    return [...this.#rank(known.filter(ok)), ...unknown.filter(ok)]
  }

  async #listConnectedProviders(): Promise<{ known: PeerId[]; unknown: PeerId[] }> {
    const { libp2p, penalties } = this.#c
    const seen = new Set<string>()
    const known: PeerId[] = []
    const unknown: PeerId[] = []
    for (const conn of libp2p.getConnections()) {
      const id = conn.remotePeer.toString()
      if (seen.has(id) || penalties.isBanned(id)) continue
      seen.add(id)
      const info = await libp2p.peerStore.get(conn.remotePeer).catch(() => undefined)
      const protocols = info?.protocols ?? []
      if (protocols.includes(BLOCK_PROTOCOL)) known.push(conn.remotePeer)
      // identify records the agent version; before it has, the protocol list holds at most the
      // protocols of streams already negotiated (identify's own), not what the peer speaks
      else if (info?.metadata.has('AgentVersion') !== true) unknown.push(conn.remotePeer)
    }
    if (unknown.length > 0 || known.length === 0) this.#connected = undefined
    return { known, unknown }
  }

  #rank(peers: PeerId[]): PeerId[] {
    const score = (p: PeerId): number =>
      this.#suspect.has(p.toString()) ? -1 : (this.#lastGood.get(p.toString()) ?? 0)
    return [...peers].sort((a, b) => score(b) - score(a))
  }

  /**
   * Retrieves one block: every connected PRSM peer in turn, then DHT providers, then the
   * fallbacks. Throws `CONTENT_NOT_FOUND` when nobody served a valid block.
   */
  async retrieve(cid: CID, options: { signal?: AbortSignal } = {}): Promise<Uint8Array> {
    return blockBytes(await this.retrieveParts(cid, options))
  }

  /**
   * {@link retrieve}, the verified block as the pieces it arrived in (a 1 MiB block comes in 64 KiB
   * pieces; joining them would copy every byte once more).
   */
  async retrieveParts(cid: CID, options: { signal?: AbortSignal } = {}): Promise<BlockBytes> {
    const signal = options.signal ?? AbortSignal.timeout(60_000)
    const tried = new Set<string>([this.#c.libp2p.peerId.toString()])
    const tryPeers = async (peers: PeerId[]): Promise<Uint8ArrayList | undefined> => {
      for (const peer of peers) {
        signal.throwIfAborted()
        if (tried.has(peer.toString()) || this.#c.penalties.isBanned(peer)) continue
        tried.add(peer.toString())
        try {
          return await this.#fetchParts(peer, cid, { signal })
        } catch {
          // try the next provider
        }
      }
      return undefined
    }
    const direct = await tryPeers(await this.#connectedProviders())
    if (direct !== undefined) return direct

    const found = await this.#findProviders(cid, signal)
    const viaDht = await tryPeers(found)
    if (viaDht !== undefined) return viaDht

    for (const fallback of this.#fallbacks) {
      signal.throwIfAborted()
      try {
        const block = await fallback.retrieve(cid, {
          signal: AbortSignal.any([signal, AbortSignal.timeout(this.#init.blockTimeoutMs)]),
        })
        if (await blockMatches(cid, block)) return block
        this.#c.logger.warn({ source: fallback.name, cid: cid.toString() }, 'fallback served a bad block')
      } catch (err) {
        this.#c.logger.debug({ source: fallback.name, err: (err as Error).message }, 'fallback failed')
      }
    }
    throw new PrsmError('CONTENT_NOT_FOUND', `no provider served a valid block for ${cid}`, {
      details: { cid: cid.toString(), tried: tried.size - 1 },
    })
  }

  async #findProviders(cid: CID, signal: AbortSignal): Promise<PeerId[]> {
    const me = this.#c.libp2p.peerId.toString()
    const out: PeerId[] = []
    const lookup = AbortSignal.any([signal, AbortSignal.timeout(this.#init.providerLookupTimeoutMs)])
    try {
      for await (const provider of this.#c.libp2p.contentRouting.findProviders(cid, { signal: lookup })) {
        const id = provider.id.toString()
        if (id === me || out.some((p) => p.toString() === id)) continue
        out.push(provider.id)
        if (out.length >= 8) break
      }
    } catch (err) {
      if (!signal.aborted) this.#c.logger.debug({ err: (err as Error).message }, 'findProviders failed')
    }
    return this.#rank(out)
  }

  /** Peers that announced `cid` in the DHT (for replication checks and `stat`). */
  async findProviders(cid: CID, options: { signal?: AbortSignal } = {}): Promise<string[]> {
    const peers = await this.#findProviders(cid, options.signal ?? AbortSignal.timeout(30_000))
    return peers.map((p) => p.toString())
  }
}

export function toPeerId(peer: string | PeerId): PeerId {
  return typeof peer === 'string' ? peerIdFromString(peer) : peer
}
