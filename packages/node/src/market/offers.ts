import { setTimeout as sleep } from 'node:timers/promises'
import { TopicValidatorResult } from '@libp2p/gossipsub'
import type { PeerId, PrivateKey } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { lpStream } from '@libp2p/utils'
import {
  CapabilitySchema,
  type Config,
  capabilityCid,
  defaultUnit,
  type MessageRegistry,
  type Offer,
  OfferSchema,
  PrsmError,
  parseFtns,
  sealEnvelope,
} from '@prsm/core'
import type { Logger } from 'pino'
import { z } from 'zod'
import type { PrsmLibp2p } from '../net/libp2p.ts'
import type { MessageGate } from '../net/message-gate.ts'
import type { PeerPenalties } from '../net/penalties.ts'

/** Gossip topic on which nodes announce their signed offers. */
export const OFFERS_TOPIC = '/prsm/offers/1'
/** Request/response protocol to ask a provider found in the DHT for its current offers. */
export const OFFERS_FETCH_PROTOCOL = '/prsm/offers/fetch/1.0.0'
/** The protocol jobs will be served on (the jobs issue implements it). */
export const JOB_PROTOCOL = '/prsm/job/1.0.0'
const MAX_OFFERS_PER_LIST = 64

/** How long a DHT search for offers runs at least before the offers already known are returned. */
const FIND_OFFERS_GRACE_MS = 250

/** Waits for `promise` or for `signal` to abort, whichever comes first (a late rejection is ignored). */
async function untilAborted(promise: Promise<unknown>, signal: AbortSignal): Promise<void> {
  promise.catch(() => undefined)
  if (signal.aborted) return
  let onAbort: (() => void) | undefined
  await Promise.race([
    promise.then(
      () => undefined,
      () => undefined,
    ),
    new Promise<void>((resolve) => {
      onAbort = () => resolve()
      signal.addEventListener('abort', onAbort, { once: true })
    }),
  ])
  if (onAbort !== undefined) signal.removeEventListener('abort', onAbort)
}

export function registerOfferMessages(registry: MessageRegistry) {
  return {
    Offer: registry.register('offer', 1, OfferSchema),
    OfferQuery: registry.register('offer-query', 1, z.object({ capability: z.string().max(128) }).strict()),
    OfferList: registry.register(
      'offer-list',
      1,
      z.object({ offers: z.array(OfferSchema).max(MAX_OFFERS_PER_LIST) }).strict(),
    ),
  }
}
type OfferMessages = ReturnType<typeof registerOfferMessages>

/** An offer as seen by this node, with its provider and how it was learnt. */
export interface FoundOffer {
  provider: string
  offer: Offer
  signedAt: number
  source: 'local' | 'gossip' | 'dht'
  receivedAt: number
}

export interface FindOffersOptions {
  signal?: AbortSignal
  /** Time allowed for the DHT lookup and the fetches it leads to. Default 5 s. */
  timeoutMs?: number
  /** Look in the DHT even when gossip already gave results. Default true. */
  dht?: boolean
}

export interface OfferServiceComponents {
  libp2p: Pick<
    PrsmLibp2p,
    | 'peerId'
    | 'services'
    | 'contentRouting'
    | 'dialProtocol'
    | 'handle'
    | 'unhandle'
    | 'getMultiaddrs'
    | 'getPeers'
    | 'addEventListener'
    | 'removeEventListener'
  >
  privateKey: PrivateKey
  registry: MessageRegistry
  gate: Pick<MessageGate, 'receive' | 'reject' | 'maxBytes'>
  penalties: Pick<PeerPenalties, 'isBanned'>
  logger: Logger
}

export interface OfferServiceInit {
  offers: Config['offers']
  offerTtlMs: number
  gossip: boolean
  dht: boolean
}

interface LocalOffer {
  offer: Offer
  signedAt: number
  bytes: Uint8Array
}

/**
 * Advertises this node's capabilities and finds other nodes' offers. Own offers are signed
 * envelopes gossiped on {@link OFFERS_TOPIC} and announced as DHT provider records under
 * {@link capabilityCid}; they are re-signed and re-announced at half their lifetime, and
 * re-announced when new peers arrive. `findOffers` merges gossip-learnt offers with those fetched
 * from DHT providers, verifying every signature and dropping expired offers.
 */
export class OfferService {
  readonly #c: OfferServiceComponents
  readonly #init: OfferServiceInit
  readonly #messages: OfferMessages
  readonly #cache = new Map<string, FoundOffer>()
  #local = new Map<string, LocalOffer>()
  #timers: NodeJS.Timeout[] = []
  #gossipSoon: NodeJS.Timeout | undefined
  #provideSoon: NodeJS.Timeout | undefined
  #lastProvide = 0
  #started = false
  readonly #onSubscription = (
    evt: CustomEvent<{ peerId: PeerId; subscriptions: Array<{ topic: string; subscribe: boolean }> }>,
  ): void => {
    if (evt.detail.subscriptions.some((s) => s.topic === OFFERS_TOPIC && s.subscribe)) this.#scheduleGossip()
  }
  readonly #onConnect = (): void => this.#scheduleProvide()

  constructor(components: OfferServiceComponents, init: OfferServiceInit) {
    this.#c = components
    this.#init = init
    this.#messages = registerOfferMessages(components.registry)
    for (const o of init.offers) CapabilitySchema.parse(o.capability)
  }

  async start(): Promise<void> {
    if (this.#started) return
    this.#started = true
    const { libp2p } = this.#c
    await libp2p.handle(
      OFFERS_FETCH_PROTOCOL,
      (stream, connection) => this.#serveFetch(stream, connection.remotePeer),
      {
        maxInboundStreams: 32,
      },
    )
    if (this.#init.gossip) {
      const pubsub = libp2p.services.pubsub
      pubsub.topicValidators.set(OFFERS_TOPIC, async (from, msg) => {
        try {
          const { envelope } = await this.#c.gate.receive(msg.data, from, this.#messages.Offer)
          this.#remember(envelope.sender, envelope.payload, envelope.timestamp, 'gossip')
          return TopicValidatorResult.Accept
        } catch {
          return TopicValidatorResult.Reject
        }
      })
      pubsub.subscribe(OFFERS_TOPIC)
      pubsub.addEventListener('subscription-change', this.#onSubscription as never)
    }
    libp2p.addEventListener('peer:connect', this.#onConnect)
    await this.#resign()
    void this.announce()
    this.#timers.push(
      setInterval(() => void this.#resign().then(() => this.announce()), this.#init.offerTtlMs / 2),
    )
  }

  async stop(): Promise<void> {
    if (!this.#started) return
    this.#started = false
    for (const t of this.#timers) clearInterval(t)
    this.#timers = []
    clearTimeout(this.#gossipSoon)
    clearTimeout(this.#provideSoon)
    const { libp2p } = this.#c
    libp2p.removeEventListener('peer:connect', this.#onConnect)
    if (this.#init.gossip) {
      libp2p.services.pubsub.removeEventListener('subscription-change', this.#onSubscription as never)
      libp2p.services.pubsub.topicValidators.delete(OFFERS_TOPIC)
    }
    await libp2p.unhandle(OFFERS_FETCH_PROTOCOL)
  }

  /** This node's own current offers. */
  localOffers(): FoundOffer[] {
    const me = this.#c.libp2p.peerId.toString()
    return [...this.#local.values()].map((l) => ({
      provider: me,
      offer: l.offer,
      signedAt: l.signedAt,
      source: 'local' as const,
      receivedAt: l.signedAt,
    }))
  }

  /** Signs fresh envelopes for every configured offer (new expiry, nonce and timestamp). */
  async #resign(): Promise<void> {
    const now = Date.now()
    const addrs = this.#c.libp2p
      .getMultiaddrs()
      .map((a) => a.toString())
      .slice(0, 32)
    const next = new Map<string, LocalOffer>()
    for (const init of this.#init.offers) {
      const offer: Offer = {
        capability: init.capability,
        price: parseFtns(init.price).toString(),
        unit: init.unit ?? defaultUnit(init.capability),
        limits: { ...init.limits },
        protocol: JOB_PROTOCOL,
        addrs,
        expiry: now + this.#init.offerTtlMs,
      }
      const bytes = await sealEnvelope(this.#c.privateKey, this.#messages.Offer, offer, { now })
      next.set(init.capability, { offer, signedAt: now, bytes })
    }
    this.#local = next
  }

  /** Announces own offers now: gossip publish and DHT provide. Failures are logged, not thrown. */
  async announce(): Promise<void> {
    await Promise.all([this.#publishGossip(), this.#provide()])
  }

  async #publishGossip(): Promise<void> {
    if (!this.#init.gossip || !this.#started) return
    // Envelopes carry a nonce: a repeated publish needs a fresh signature.
    if ([...this.#local.values()].some((l) => Date.now() - l.signedAt > 1000)) await this.#resign()
    for (const local of this.#local.values()) {
      try {
        await this.#c.libp2p.services.pubsub.publish(OFFERS_TOPIC, local.bytes)
      } catch (err) {
        this.#c.logger.debug({ err, capability: local.offer.capability }, 'gossip publish failed')
      }
    }
  }

  async #provide(): Promise<void> {
    if (!this.#init.dht || !this.#started) return
    this.#lastProvide = Date.now()
    await Promise.all(
      [...this.#local.values()].map(async (local) => {
        try {
          const cid = await capabilityCid(local.offer.capability)
          await this.#c.libp2p.contentRouting.provide(cid, { signal: AbortSignal.timeout(30_000) })
        } catch (err) {
          this.#c.logger.debug(
            { err: (err as Error).message, capability: local.offer.capability },
            'DHT provide failed',
          )
        }
      }),
    )
  }

  #scheduleGossip(): void {
    if (this.#gossipSoon !== undefined || !this.#started) return
    this.#gossipSoon = setTimeout(() => {
      this.#gossipSoon = undefined
      void this.#publishGossip()
    }, 250)
  }

  #scheduleProvide(): void {
    if (this.#provideSoon !== undefined || !this.#started || this.#local.size === 0) return
    const wait = Math.max(1000, 5000 - (Date.now() - this.#lastProvide))
    this.#provideSoon = setTimeout(() => {
      this.#provideSoon = undefined
      void this.#provide()
    }, wait)
  }

  #remember(provider: string, offer: Offer, signedAt: number, source: FoundOffer['source']): void {
    if (provider === this.#c.libp2p.peerId.toString()) return
    const key = `${provider}/${offer.capability}`
    const existing = this.#cache.get(key)
    if (existing !== undefined && existing.signedAt >= signedAt) return
    this.#cache.set(key, { provider, offer, signedAt, source, receivedAt: Date.now() })
  }

  /** Offers currently known without asking anyone (local + cache), expired ones dropped. */
  knownOffers(capability?: string): FoundOffer[] {
    const now = Date.now()
    for (const [key, found] of this.#cache) if (found.offer.expiry <= now) this.#cache.delete(key)
    const all = [...this.localOffers(), ...this.#cache.values()]
    return all
      .filter(
        (f) =>
          (capability === undefined || f.offer.capability === capability) &&
          !this.#c.penalties.isBanned(f.provider),
      )
      .sort((a, b) => compareBigint(a.offer.price, b.offer.price) || a.provider.localeCompare(b.provider))
  }

  /**
   * Finds offers for a capability: known offers plus, through the DHT, offers fetched from every
   * provider of the capability's key. Every fetched offer is signature-checked by the gate.
   */
  async findOffers(capability: string, options: FindOffersOptions = {}): Promise<FoundOffer[]> {
    CapabilitySchema.parse(capability)
    if (!this.#init.dht || options.dht === false) return this.knownOffers(capability)
    // The search ends at the time allowed, or once another node's offer is known (from the DHT
    // or from gossip) and the DHT had a moment to answer: a Kad query can run on for seconds
    // after the providers it found have answered.
    const found = new AbortController()
    const signal = AbortSignal.any([
      AbortSignal.timeout(options.timeoutMs ?? 5_000),
      found.signal,
      ...(options.signal === undefined ? [] : [options.signal]),
    ])
    const hasRemote = (): boolean => this.knownOffers(capability).some((f) => f.source !== 'local')
    const started = Date.now()
    const watch = setInterval(() => {
      if (Date.now() - started >= FIND_OFFERS_GRACE_MS && hasRemote()) found.abort()
    }, 50)
    try {
      await this.#firstPeer(signal)
      // A young node's routing table fills over its first seconds: while nothing is found, look
      // again until the time allowed runs out.
      while (!signal.aborted) {
        await untilAborted(this.#searchDht(capability, signal), signal)
        if (hasRemote()) break
        await sleep(250, undefined, { signal }).catch(() => undefined)
      }
    } finally {
      clearInterval(watch)
    }
    return this.knownOffers(capability)
  }

  async #searchDht(capability: string, signal: AbortSignal): Promise<void> {
    const me = this.#c.libp2p.peerId.toString()
    const fetches: Array<Promise<unknown>> = []
    try {
      const cid = await capabilityCid(capability)
      for await (const provider of this.#c.libp2p.contentRouting.findProviders(cid, { signal })) {
        const id = provider.id.toString()
        if (id === me || this.#c.penalties.isBanned(id)) continue
        fetches.push(this.fetchOffers(provider.id, capability, { signal }).catch(() => undefined))
      }
    } catch (err) {
      if (!signal.aborted)
        this.#c.logger.debug({ err: (err as Error).message, capability }, 'findProviders failed')
    }
    await Promise.all(fetches)
  }

  /** A node that has just started (still dialling its bootstrap peers) waits for its first peer. */
  async #firstPeer(signal: AbortSignal): Promise<void> {
    const { libp2p } = this.#c
    if (libp2p.getPeers().length > 0) return
    await new Promise<void>((resolve) => {
      const done = (): void => {
        libp2p.removeEventListener('peer:connect', done)
        signal.removeEventListener('abort', done)
        resolve()
      }
      libp2p.addEventListener('peer:connect', done)
      signal.addEventListener('abort', done)
    })
  }

  /** Asks one peer for its current offers (all, or of one capability) over the fetch protocol. */
  async fetchOffers(
    peer: PeerId | string,
    capability = '',
    options: { signal?: AbortSignal } = {},
  ): Promise<FoundOffer[]> {
    const peerId = typeof peer === 'string' ? peerIdFromString(peer) : peer
    const signal = options.signal ?? AbortSignal.timeout(10_000)
    const stream = await this.#c.libp2p.dialProtocol(peerId, OFFERS_FETCH_PROTOCOL, { signal })
    try {
      const lp = lpStream(stream, { maxDataLength: this.#c.gate.maxBytes })
      await lp.write(await sealEnvelope(this.#c.privateKey, this.#messages.OfferQuery, { capability }), {
        signal,
      })
      const reply = await lp.read({ signal })
      const { envelope } = await this.#c.gate.receive(reply.subarray(), peerId, this.#messages.OfferList)
      if (envelope.sender !== peerId.toString()) {
        throw new PrsmError('MESSAGE_BAD_SIGNATURE', 'offer list not signed by the peer that served it')
      }
      const now = Date.now()
      const found: FoundOffer[] = []
      for (const offer of envelope.payload.offers) {
        if (offer.expiry <= now || (capability !== '' && offer.capability !== capability)) continue
        this.#remember(envelope.sender, offer, envelope.timestamp, 'dht')
        found.push({
          provider: envelope.sender,
          offer,
          signedAt: envelope.timestamp,
          source: 'dht',
          receivedAt: now,
        })
      }
      await stream.close({ signal }).catch(() => undefined)
      return found
    } catch (err) {
      stream.abort(err as Error)
      throw err
    }
  }

  async #serveFetch(stream: Parameters<Parameters<PrsmLibp2p['handle']>[1]>[0], from: PeerId): Promise<void> {
    const signal = AbortSignal.timeout(10_000)
    try {
      const lp = lpStream(stream, { maxDataLength: this.#c.gate.maxBytes })
      const request = await lp.read({ signal }).catch((err: unknown) => {
        throw this.#c.gate.reject(from, err)
      })
      const { envelope } = await this.#c.gate.receive(request.subarray(), from, this.#messages.OfferQuery)
      const wanted = envelope.payload.capability
      const offers = [...this.#local.values()]
        .filter((l) => wanted === '' || l.offer.capability === wanted)
        .slice(0, MAX_OFFERS_PER_LIST)
        .map((l) => l.offer)
      await lp.write(await sealEnvelope(this.#c.privateKey, this.#messages.OfferList, { offers }), { signal })
      await stream.close({ signal })
    } catch (err) {
      this.#c.logger.debug(
        { err: (err as Error).message, peer: from.toString() },
        'offer fetch request refused',
      )
      stream.abort(err as Error)
    }
  }
}

function compareBigint(a: string, b: string): number {
  const x = BigInt(a)
  const y = BigInt(b)
  return x < y ? -1 : x > y ? 1 : 0
}
