import type { PeerId, PrivateKey } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'
import { type MessageRegistry, PrsmError, sealEnvelope } from '@prsm/core'
import { type Datastore, Key } from 'interface-datastore'
import { CID } from 'multiformats/cid'
import type { Logger } from 'pino'
import type { Ledger } from '../ledger/ledger.ts'
import type { FoundOffer, OfferService } from '../market/offers.ts'
import type { PaymentService } from '../market/payments.ts'
import type { PrsmLibp2p } from '../net/libp2p.ts'
import type { MessageGate } from '../net/message-gate.ts'
import { type BlockExchange, toPeerId } from './block-exchange.ts'
import { dagBlocks } from './dag-blocks.ts'
import { HeldPins, RELEASE_INTERVAL_MS } from './held-pins.ts'
import {
  checkReceipt,
  PIN_PROTOCOL,
  type PinMessages,
  type PinReceipt,
  pinCharge,
  pinMessagesOf,
  verifyPinReceipt,
} from './pin-messages.ts'
import { DEFAULT_PIN_PAYMENT_GRACE_MS, PinDues, PinPayer, type PinPaymentRecord } from './pin-payment.ts'
import type { ContentStorage } from './storage.ts'
import { parseCid } from './storage.ts'

/**
 * Paid replication. A requester sends a signed PinRequest on {@link PIN_PROTOCOL} to a node that
 * offers `storage:pin`; the holder fetches the content over the block exchange, pins it and
 * answers with a PinReceipt signed by its node key (or a PinRefusal). The requester keeps the
 * receipts, spot-checks every holder periodically (random blocks of the DAG over the block
 * protocol, verified against their CIDs) and replaces holders that fail.
 */
export {
  PIN_PROTOCOL,
  type PinReceipt,
  PinReceiptSchema,
  pinCharge,
  registerPinMessages,
  verifyPinReceipt,
} from './pin-messages.ts'
export type { PinPaymentRecord } from './pin-payment.ts'
export const PIN_CAPABILITY = 'storage:pin'
/** Default time a replica is held for. */
export const DEFAULT_PIN_DURATION_MS = 30 * 24 * 3600_000
/** Time a holder is given to fetch and pin the content before it refuses. */
export const DEFAULT_PIN_TIMEOUT_MS = 10 * 60_000
const PREFIX = '/prsm/replication/'

/** A replica as the requester records it: the holder's receipt and the last spot check. */
export interface ReplicaRecord {
  cid: string
  holder: string
  price: string
  unit: string
  expiry: number
  size: number
  /** The holder's signed receipt envelope (base64), verifiable with {@link verifyPinReceipt}. */
  receipt: string
  createdAt: number
  lastCheckedAt?: number
  /** The payment for the term, when the receipt charged one and this node has a chain. */
  payment?: PinPaymentRecord
}

export interface ReplicationState {
  cid: string
  /** Replicas wanted. */
  replicas: number
  holders: ReplicaRecord[]
  /** Holders dropped after a failed spot check (not asked again for this CID). */
  failed: string[]
}

export interface SpotCheckResult {
  cid: string
  holder: string
  ok: boolean
  /** Why the check failed: unreachable, dont-have, bad-block, timeout, error. */
  reason?: string
  blocks: number
}

export interface ReplicationComponents {
  libp2p: Pick<PrsmLibp2p, 'peerId' | 'handle' | 'unhandle' | 'dialProtocol'>
  privateKey: PrivateKey
  registry: MessageRegistry
  gate: Pick<MessageGate, 'receive' | 'reject' | 'maxBytes'>
  offers: Pick<OfferService, 'findOffers' | 'localOffers'>
  storage: Pick<ContentStorage, 'pin' | 'unpin' | 'stat' | 'helia' | 'localBlocks'> & {
    readonly exchange: Pick<BlockExchange, 'fetchFrom' | 'failures'>
  }
  datastore: Pick<Datastore, 'put' | 'get' | 'delete' | 'query' | 'has'>
  /** Pays holders (requester) and checks pin payments (holder); without a chain pins are free. */
  ledger?: Pick<Ledger, 'enabled' | 'payer' | 'payee'>
  payments?: Pick<PaymentService, 'openChannel' | 'peerOf'>
  logger: Logger
}

export interface ReplicationInit {
  spotCheckIntervalMs: number
  spotCheckBlocks: number
  /** Time a holder is given to fetch and pin (default {@link DEFAULT_PIN_TIMEOUT_MS}). */
  pinTimeoutMs?: number
  /** Time allowed to find `storage:pin` offers (default 5 s). */
  offerLookupMs?: number
  /** How often expired pins held for others are released (default 60 s). */
  releaseIntervalMs?: number
  /** Holder: time a requester has to pay a priced pin after the receipt (default 2 min). */
  paymentGraceMs?: number
  /** Requester: deposit (wei) of a channel opened to a holder that has none with room. */
  channelDeposit?: bigint
}

export interface ReplicateOptions {
  signal?: AbortSignal
  /** How long holders keep the pin (default 30 days). */
  durationMs?: number
}

/**
 * Replication service: holder side (serves {@link PIN_PROTOCOL} when this node offers
 * `storage:pin`) and requester side (replicate, receipts, spot checks, re-replication).
 */
export class ReplicationService {
  readonly #c: ReplicationComponents
  readonly #init: ReplicationInit
  readonly #messages: PinMessages
  readonly #state = new Map<string, ReplicationState>()
  #timer: NodeJS.Timeout | undefined
  #releaseTimer: NodeJS.Timeout | undefined
  readonly #held: HeldPins
  readonly #dues: PinDues
  #payer: PinPayer | undefined
  #checking: Promise<SpotCheckResult[]> | undefined
  #started = false

  constructor(components: ReplicationComponents, init: ReplicationInit) {
    this.#c = components
    this.#init = init
    this.#messages = pinMessagesOf(components.registry)
    this.#held = new HeldPins(components)
    this.#dues = new PinDues(
      { ...components, held: this.#held },
      init.paymentGraceMs ?? DEFAULT_PIN_PAYMENT_GRACE_MS,
    )
  }

  async start(): Promise<void> {
    if (this.#started) return
    this.#started = true
    await this.#load()
    await this.#dues.start()
    await this.#c.libp2p.handle(
      PIN_PROTOCOL,
      (stream, connection) => this.#serve(stream, connection.remotePeer),
      {
        maxInboundStreams: 32,
      },
    )
    this.#timer = setInterval(
      () => void this.spotCheck().catch(() => undefined),
      this.#init.spotCheckIntervalMs,
    )
    this.#timer.unref()
    this.#releaseTimer = setInterval(
      () => void this.#held.releaseExpired().catch(() => undefined),
      this.#init.releaseIntervalMs ?? RELEASE_INTERVAL_MS,
    )
    this.#releaseTimer.unref()
  }

  async stop(): Promise<void> {
    if (!this.#started) return
    this.#started = false
    clearInterval(this.#timer)
    clearInterval(this.#releaseTimer)
    this.#timer = undefined
    this.#releaseTimer = undefined
    await this.#c.libp2p.unhandle(PIN_PROTOCOL)
    await this.#checking?.catch(() => undefined)
    await this.#dues.stop()
    await this.#held.settled()
  }

  /** Replication state of every CID this node has asked others to hold. */
  list(): ReplicationState[] {
    return [...this.#state.values()].map(copyState)
  }

  get(cidText: string): ReplicationState {
    const cid = parseCid(cidText).toString()
    const state = this.#state.get(cid)
    return state === undefined ? { cid, replicas: 0, holders: [], failed: [] } : copyState(state)
  }

  /**
   * Asks `storage:pin` providers (cheapest first) to hold `cid` until `replicas` of them hold it
   * with a verified receipt. The content is pinned locally first (fetched if missing). Throws
   * REPLICATION_FAILED when fewer providers accepted.
   */
  async replicate(
    cidText: string,
    replicas: number,
    options: ReplicateOptions = {},
  ): Promise<ReplicationState> {
    if (!Number.isInteger(replicas) || replicas < 1 || replicas > 64) {
      throw new PrsmError('VALIDATION_FAILED', 'replicas must be an integer from 1 to 64')
    }
    const cid = parseCid(cidText).toString()
    await this.#c.storage.pin(cid, options.signal === undefined ? {} : { signal: options.signal })
    const existing = this.#state.get(cid)
    const previous = existing?.replicas
    const state = existing ?? { cid, replicas, holders: [], failed: [] }
    state.replicas = replicas
    this.#state.set(cid, state)
    await this.#saveTarget(state)
    await this.#fill(state, options).catch(() => undefined)
    if (state.holders.length < replicas) {
      // a failed request does not leave a raised target behind: spot checks keep what was
      // there before (or the replicas that did accept, which hold the content under receipt)
      state.replicas = Math.max(previous ?? 0, state.holders.length)
      if (state.replicas === 0 && state.failed.length === 0) {
        this.#state.delete(cid)
        await Promise.resolve(this.#c.datastore.delete(new Key(`${PREFIX}${cid}/target`))).catch(
          () => undefined,
        )
      } else {
        await this.#saveTarget(state)
      }
      throw new PrsmError(
        'REPLICATION_FAILED',
        `${state.holders.length} of ${replicas} storage providers accepted to pin ${cid}`,
        { details: { cid, replicas, holders: state.holders.map((h) => h.holder) } },
      )
    }
    return copyState(state)
  }

  /** Asks providers not yet holding (nor failed) until the state has enough holders. */
  async #fill(state: ReplicationState, options: ReplicateOptions): Promise<void> {
    if (state.holders.length >= state.replicas) return
    const me = this.#c.libp2p.peerId.toString()
    const found = await this.#c.offers.findOffers(PIN_CAPABILITY, {
      timeoutMs: this.#init.offerLookupMs ?? 5_000,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    })
    const seen = new Set<string>()
    const candidates: FoundOffer[] = []
    for (const f of found) {
      if (f.provider === me || seen.has(f.provider)) continue
      seen.add(f.provider)
      if (state.holders.some((h) => h.holder === f.provider) || state.failed.includes(f.provider)) continue
      candidates.push(f)
    }
    for (const candidate of candidates) {
      if (state.holders.length >= state.replicas) break
      options.signal?.throwIfAborted()
      try {
        const record = await this.requestPin(candidate.provider, state.cid, options)
        state.holders.push(record)
        await this.#saveReplica(record)
        this.#c.logger.info({ cid: state.cid, holder: record.holder, price: record.price }, 'replica pinned')
      } catch (err) {
        this.#c.logger.debug(
          { cid: state.cid, holder: candidate.provider, err: (err as Error).message },
          'pin request failed',
        )
      }
    }
  }

  /** Asks one peer to hold `cid`; returns the record of its verified receipt. */
  async requestPin(
    holder: string | PeerId,
    cidText: string,
    options: ReplicateOptions = {},
  ): Promise<ReplicaRecord> {
    const peer = toPeerId(holder)
    const cid = parseCid(cidText).toString()
    const signal = AbortSignal.any([
      AbortSignal.timeout((this.#init.pinTimeoutMs ?? DEFAULT_PIN_TIMEOUT_MS) + 10_000),
      ...(options.signal === undefined ? [] : [options.signal]),
    ])
    const stream = await this.#c.libp2p.dialProtocol(peer, PIN_PROTOCOL, { signal })
    try {
      const lp = lpStream(stream, { maxDataLength: this.#c.gate.maxBytes })
      const request = { cid, durationMs: options.durationMs ?? DEFAULT_PIN_DURATION_MS }
      await lp.write(await sealEnvelope(this.#c.privateKey, this.#messages.PinRequest, request), { signal })
      const reply = (await lp.read({ signal })).subarray()
      await stream.close({ signal }).catch(() => undefined)
      const { envelope } = await this.#c.gate.receive(reply, peer)
      if (envelope.type === this.#messages.PinRefusal.type) {
        const refusal = envelope.payload as { reason: string; code?: string }
        const code = refusal.code === 'PIN_PAYMENT_REQUIRED' ? refusal.code : 'PIN_REFUSED'
        throw new PrsmError(code, `${peer} refused to pin ${cid}: ${refusal.reason}`)
      }
      if (envelope.type !== this.#messages.PinReceipt.type) {
        throw this.#c.gate.reject(
          peer,
          new PrsmError('MESSAGE_UNKNOWN_TYPE', `unexpected ${envelope.type} on ${PIN_PROTOCOL}`),
        )
      }
      const receipt = envelope.payload as PinReceipt
      try {
        checkReceipt(envelope.sender, receipt, { cid, holder: peer.toString() })
      } catch (err) {
        throw this.#c.gate.reject(peer, err)
      }
      const due = pinCharge(receipt.price, receipt.unit, receipt.size, request.durationMs)
      if (receipt.amount !== undefined && BigInt(receipt.amount) !== due) {
        throw new PrsmError('PIN_REFUSED', `${peer} charges ${receipt.amount} wei, not its price ${due}`, {
          details: { holder: peer.toString(), charged: receipt.amount, price: due.toString() },
        })
      }
      const payment = await this.#pay(peer, cid, receipt, options)
      return {
        ...(payment === undefined ? {} : { payment }),
        cid,
        holder: receipt.holder,
        price: receipt.price,
        unit: receipt.unit,
        expiry: receipt.expiry,
        size: receipt.size,
        receipt: Buffer.from(reply).toString('base64'),
        createdAt: Date.now(),
      }
    } catch (err) {
      stream.abort(err as Error)
      throw err
    }
  }

  /** Pays a priced receipt when this node has a chain (after the receipt was verified). */
  async #pay(
    peer: PeerId,
    cid: string,
    receipt: PinReceipt,
    options: ReplicateOptions,
  ): Promise<PinPaymentRecord | undefined> {
    const { ledger, payments } = this.#c
    const amount = BigInt(receipt.amount ?? '0')
    if (amount === 0n || ledger?.enabled !== true || payments === undefined) return undefined
    this.#payer ??= new PinPayer({ ...this.#c, ledger, payments })
    const payment = await this.#payer.pay(peer, cid, amount, {
      deposit: this.#init.channelDeposit ?? 10n ** 19n,
      timeoutMs: 60_000,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    })
    if (payment.state === 'failed') {
      this.#c.logger.warn({ cid, holder: peer.toString(), error: payment.error }, 'pin not paid')
    }
    return payment
  }

  /**
   * Spot-checks every holder (of one CID, or of all): `spotCheckBlocks` random blocks of the DAG
   * requested over the block protocol and verified. A holder that fails is dropped (a bad block
   * also penalises it, in the block exchange) and replaced by another `storage:pin` provider.
   */
  async spotCheck(cidText?: string, options: { signal?: AbortSignal } = {}): Promise<SpotCheckResult[]> {
    while (this.#checking !== undefined) await this.#checking.catch(() => undefined)
    const run = this.#spotCheck(cidText, options)
    this.#checking = run
    try {
      return await run
    } finally {
      this.#checking = undefined
    }
  }

  async #spotCheck(
    cidText: string | undefined,
    options: { signal?: AbortSignal },
  ): Promise<SpotCheckResult[]> {
    const states =
      cidText === undefined
        ? [...this.#state.values()]
        : [this.#state.get(parseCid(cidText).toString())].filter(
            (s): s is ReplicationState => s !== undefined,
          )
    const results: SpotCheckResult[] = []
    for (const state of states) {
      const now = Date.now()
      const blocks = await dagBlocks(this.#c.storage, CID.parse(state.cid), options).catch(() => [
        CID.parse(state.cid),
      ])
      const checks = await Promise.all(
        state.holders.filter((h) => h.expiry > now).map((h) => this.#checkHolder(h, blocks, options)),
      )
      results.push(...checks)
      const failedHolders = new Set(checks.filter((r) => !r.ok).map((r) => r.holder))
      const kept: ReplicaRecord[] = []
      for (const h of state.holders) {
        if (failedHolders.has(h.holder) || h.expiry <= now) {
          if (!state.failed.includes(h.holder)) state.failed.push(h.holder)
          await Promise.resolve(this.#c.datastore.delete(replicaKey(state.cid, h.holder))).catch(
            () => undefined,
          )
        } else {
          h.lastCheckedAt = now
          kept.push(h)
          await this.#saveReplica(h)
        }
      }
      state.holders = kept
      await this.#saveTarget(state)
      if (failedHolders.size > 0) {
        this.#c.logger.warn(
          { cid: state.cid, failed: [...failedHolders] },
          'replica holders failed a spot check',
        )
        await this.#fill(state, options).catch((err: Error) =>
          this.#c.logger.warn({ cid: state.cid, err: err.message }, 're-replication failed'),
        )
      }
    }
    return results
  }

  async #checkHolder(
    h: ReplicaRecord,
    blocks: CID[],
    options: { signal?: AbortSignal },
  ): Promise<SpotCheckResult> {
    const picks = pickRandom(blocks, this.#init.spotCheckBlocks)
    const peer = toPeerId(h.holder)
    for (const cid of picks) {
      try {
        await this.#c.storage.exchange.fetchFrom(peer, cid, options)
      } catch {
        const last = this.#c.storage.exchange.failures().at(-1)
        const reason = last?.peer === h.holder ? last.reason : 'error'
        return { cid: h.cid, holder: h.holder, ok: false, reason, blocks: picks.length }
      }
    }
    return { cid: h.cid, holder: h.holder, ok: true, blocks: picks.length }
  }

  /** Holder side: fetch, pin and sign a receipt; or sign a refusal. */
  async #serve(stream: Parameters<Parameters<PrsmLibp2p['handle']>[1]>[0], from: PeerId): Promise<void> {
    const signal = AbortSignal.timeout((this.#init.pinTimeoutMs ?? DEFAULT_PIN_TIMEOUT_MS) + 5_000)
    try {
      const lp = lpStream(stream, { maxDataLength: this.#c.gate.maxBytes })
      const bytes = await lp.read({ signal }).catch((err: unknown) => {
        throw this.#c.gate.reject(from, err)
      })
      const { envelope } = await this.#c.gate.receive(bytes.subarray(), from)
      if (envelope.type === this.#messages.PinPayment.type) {
        const answer = await this.#dues.answer(envelope.payload as { cid: string; voucher: unknown }, from)
        await lp.write(await sealEnvelope(this.#c.privateKey, this.#messages.PinPaid, answer), { signal })
        await stream.close({ signal })
        return
      }
      if (envelope.type !== this.#messages.PinRequest.type) {
        throw this.#c.gate.reject(
          from,
          new PrsmError('MESSAGE_UNKNOWN_TYPE', `unexpected ${envelope.type} on ${PIN_PROTOCOL}`),
        )
      }
      const { cid, durationMs } = envelope.payload as { cid: string; durationMs: number }
      let reply: Uint8Array
      try {
        const receipt = await this.#accept(cid, durationMs, from)
        reply = await sealEnvelope(this.#c.privateKey, this.#messages.PinReceipt, receipt)
      } catch (err) {
        this.#c.logger.info(
          { cid, from: from.toString(), err: (err as Error).message },
          'pin request refused',
        )
        reply = await sealEnvelope(this.#c.privateKey, this.#messages.PinRefusal, {
          cid,
          reason: (err as Error).message.slice(0, 500),
          ...(err instanceof PrsmError ? { code: err.code } : {}),
        })
      }
      await lp.write(reply, { signal })
      await stream.close({ signal })
    } catch (err) {
      this.#c.logger.debug({ err: (err as Error).message, peer: from.toString() }, 'pin request failed')
      stream.abort(err as Error)
    }
  }

  async #accept(cidText: string, durationMs: number, from: PeerId): Promise<PinReceipt> {
    const offer = this.#c.offers.localOffers().find((o) => o.offer.capability === PIN_CAPABILITY)
    if (offer === undefined) throw new PrsmError('PIN_REFUSED', 'this node does not offer storage:pin')
    const priced = this.#dues.enabled && BigInt(offer.offer.price) > 0n
    if (priced) await this.#dues.checkRequester(from.toString())
    const cid = parseCid(cidText).toString()
    const signal = AbortSignal.timeout(this.#init.pinTimeoutMs ?? DEFAULT_PIN_TIMEOUT_MS)
    const { expiry } = await this.#held.hold(cid, from, durationMs, async () => {
      await this.#c.storage.pin(cid, { signal })
    })
    const stat = await this.#c.storage.stat(cid, { signal })
    const amount = pinCharge(offer.offer.price, offer.offer.unit, stat.size, durationMs)
    if (priced && amount > 0n) await this.#dues.expect(cid, from.toString(), amount)
    return {
      cid,
      holder: this.#c.libp2p.peerId.toString(),
      price: offer.offer.price,
      unit: offer.offer.unit,
      expiry,
      size: stat.size,
      ...(priced && amount > 0n ? { amount: amount.toString() } : {}),
    }
  }

  /**
   * Holder side: releases the pins held for others whose receipts have all expired (content the
   * node had pinned itself before is kept). Returns the CIDs unpinned; their blocks go at the
   * next garbage collection.
   */
  releaseExpired(now = Date.now()): Promise<string[]> {
    return this.#held.releaseExpired(now)
  }

  async #load(): Promise<void> {
    for await (const { key, value } of this.#c.datastore.query({ prefix: PREFIX })) {
      try {
        const parts = key.toString().slice(PREFIX.length).split('/')
        const json = JSON.parse(new TextDecoder().decode(value)) as Record<string, unknown>
        const cid = parts[0] as string
        const state = this.#state.get(cid) ?? { cid, replicas: 0, holders: [], failed: [] }
        this.#state.set(cid, state)
        if (parts[1] === 'target') {
          state.replicas = json.replicas as number
          state.failed = json.failed as string[]
        } else if (parts[1] === 'holder') {
          const record = json as unknown as ReplicaRecord
          await verifyPinReceipt(Buffer.from(record.receipt, 'base64'), this.#c.registry, {
            cid,
            holder: record.holder,
          })
          state.holders.push(record)
        }
      } catch (err) {
        this.#c.logger.warn(
          { key: key.toString(), err: (err as Error).message },
          'dropping a bad replica record',
        )
      }
    }
  }

  async #saveTarget(state: ReplicationState): Promise<void> {
    await this.#c.datastore.put(
      new Key(`${PREFIX}${state.cid}/target`),
      new TextEncoder().encode(JSON.stringify({ replicas: state.replicas, failed: state.failed })),
    )
  }

  async #saveReplica(record: ReplicaRecord): Promise<void> {
    await this.#c.datastore.put(
      replicaKey(record.cid, record.holder),
      new TextEncoder().encode(JSON.stringify(record)),
    )
  }
}

function replicaKey(cid: string, holder: string): Key {
  return new Key(`${PREFIX}${cid}/holder/${holder}`)
}

function copyState(s: ReplicationState): ReplicationState {
  return {
    cid: s.cid,
    replicas: s.replicas,
    holders: s.holders.map((h) => ({ ...h })),
    failed: [...s.failed],
  }
}

function pickRandom<T>(items: T[], n: number): T[] {
  const copy = [...items]
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1))
    ;[copy[i], copy[j]] = [copy[j] as T, copy[i] as T]
  }
  return copy.slice(0, Math.min(n, copy.length))
}
