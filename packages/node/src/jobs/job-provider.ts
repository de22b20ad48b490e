import { createHash } from 'node:crypto'
import type { PeerId, PrivateKey } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'
import { royaltyTotal } from '@prsm/contracts'
import { type Config, type MessageType, type Offer, PrsmError, sealEnvelope } from '@prsm/core'
import type { Logger } from 'pino'
import type { z } from 'zod'
import type { Ledger } from '../ledger/ledger.ts'
import type { VoucherJournal } from '../ledger/voucher-journal.ts'
import type { OfferService } from '../market/offers.ts'
import type { MessageGate } from '../net/message-gate.ts'
import type { ContentStorage } from '../storage/storage.ts'
import type { Backend, ResolvedInput, SafetyHook } from './backend.ts'
import {
  charge,
  concat,
  deliveredTokens,
  hashRequest,
  promptText,
  spillOutput,
  toPrsmError,
} from './job-accounting.ts'
import { resolveInputs } from './job-inputs.ts'
import { JobQueue } from './job-queue.ts'
import type { JobStore } from './job-store.ts'
import {
  emptyUsage,
  type JobMessages,
  type JobPaid,
  type JobPaymentSchema,
  type JobReceipt,
  type JobRequest,
  type JobUsage,
} from './messages.ts'
import { countTokens, loadTokenizer } from './tokens.ts'

type LpStream = ReturnType<typeof lpStream>
type JobPaymentVoucher = z.output<typeof JobPaymentSchema>['voucher']

export { charge } from './job-accounting.ts'

/** Largest output kept inline in a receipt; bigger outputs are stored as content and named by CID. */
export const INLINE_OUTPUT_MAX_BYTES = 64 * 1024
export { DEFAULT_MAX_INPUT_BYTES } from './job-inputs.ts'
/** Time a client has to send its request after opening the stream. */
export const REQUEST_READ_TIMEOUT_MS = 10_000
/** Time a client has, after a priced receipt, to send its payment on the job stream. */
export const PAYMENT_WAIT_MS = 10_000
/** Default `jobs.paymentGraceMs`. */
export const DEFAULT_PAYMENT_GRACE_MS = 30_000

export interface JobProviderComponents {
  privateKey: PrivateKey
  messages: JobMessages
  gate: Pick<MessageGate, 'receive' | 'reject' | 'maxBytes'>
  offers: Pick<OfferService, 'localOffers'>
  ledger: Pick<Ledger, 'enabled' | 'payee'> & {
    journal: Pick<VoucherJournal, 'newest'>
    chain: { address: string }
  }
  storage?: Pick<ContentStorage, 'cat' | 'add'>
  store: JobStore
  logger: Logger
}

export interface JobProviderInit
  extends Pick<Config['jobs'], 'maxConcurrent' | 'maxQueue' | 'maxDeadlineMs'>,
    Partial<Pick<Config['jobs'], 'paymentGraceMs'>> {
  safety?: SafetyHook
}

interface Admitted {
  offer: Offer
  backend: Backend
  inputs: ResolvedInput[]
  /** The paying channel of a priced job (its max price is reserved against the channel's escrow). */
  channel: string | undefined
  /** Waits for a slot in the queues; resolves with the function that frees it. */
  release: () => Promise<() => void>
  deadline: number
}

interface Running {
  capability: string
  client: string
  requestHash: string
  done: Promise<JobReceipt | PrsmError>
  controller: AbortController
}

/**
 * The provider side of {@link JOB_PROTOCOL}. For each request it checks, in order: the request id
 * (a known id gets its stored receipt back, never a second run), the offer it matches, the
 * backend, the max price, the deadline, room in the queue, the inputs, the safety hook and, for
 * a priced offer, the paying channel (its unspent escrow must cover the max price on top of
 * everything charged or reserved on it and not yet paid, and the client must have no receipt
 * unpaid past the grace period); then it answers `job-accepted`, waits for a slot, streams the
 * backend's output as `job-chunk` frames (the backend is pulled only as fast as the client reads)
 * and ends with a signed `job-receipt`. Payment comes after delivery: the client answers a
 * receipt that charges something with a `job-payment` voucher adding `charged`, which is
 * journalled through the ledger before the `job-paid` acknowledgement. A refusal is a `job-error`
 * with a stable code and costs nothing.
 */
export class JobProvider {
  readonly #c: JobProviderComponents
  readonly #init: JobProviderInit
  readonly #backends = new Map<string, Backend>()
  readonly #queue: JobQueue
  readonly #capQueues = new Map<string, JobQueue>()
  readonly #running = new Map<string, Running>()
  readonly #safety: SafetyHook
  readonly #earnings = new Map<string, { jobs: number; charged: bigint; upstreamCost: bigint }>()
  /** Per channel: the max prices of admitted priced jobs that have no receipt yet, wei. */
  readonly #reserved = new Map<string, bigint>()

  constructor(components: JobProviderComponents, init: JobProviderInit) {
    this.#c = components
    this.#init = init
    this.#queue = new JobQueue(init.maxConcurrent, init.maxQueue)
    this.#safety = init.safety ?? { checkRequest: async () => ({ allow: true }) }
  }

  /** Serves `capability` (which must also be one of the node's offers) with `backend`. */
  registerBackend(capability: string, backend: Backend): void {
    this.#backends.set(capability, backend)
  }

  backends(): Array<{ capability: string; backend: string }> {
    return [...this.#backends].map(([capability, b]) => ({ capability, backend: b.name }))
  }

  /** What is charged on a channel and not yet paid (every client), wei; counts payments received. */
  unpaid(channel: string): bigint {
    this.#sync(channel)
    return this.#c.store.unpaid(channel).reduce((n, c) => n + c.amount, 0n)
  }

  /**
   * Per capability since start: finished jobs, what they charged and what the upstream cost the
   * operator (from the backends' price tables), and the margin between them (wei).
   */
  earnings(): Array<{
    capability: string
    jobs: number
    charged: string
    upstreamCost: string
    margin: string
  }> {
    return [...this.#earnings].map(([capability, e]) => ({
      capability,
      jobs: e.jobs,
      charged: e.charged.toString(),
      upstreamCost: e.upstreamCost.toString(),
      margin: (e.charged - e.upstreamCost).toString(),
    }))
  }

  /** Jobs running, and jobs waiting for a slot (node-wide and in per-capability queues). */
  stats(): { running: number; waiting: number } {
    let waiting = this.#queue.waiting
    for (const q of this.#capQueues.values()) waiting += q.waiting
    return { running: this.#queue.running, waiting }
  }

  /** Aborts every running job (their receipts are still stored). */
  abortAll(): void {
    for (const r of this.#running.values())
      r.controller.abort(new PrsmError('JOB_CANCELLED', 'node stopping'))
  }

  /**
   * Stops the running and queued jobs that `match` selects with `error` (a safety halt, say):
   * each ends with a failed receipt carrying the error's code, charged only for the output
   * delivered before. Returns how many jobs were stopped.
   */
  cancelRunning(match: (job: { capability: string; client: string }) => boolean, error: PrsmError): number {
    let n = 0
    for (const r of this.#running.values()) {
      if (r.controller.signal.aborted || !match({ capability: r.capability, client: r.client })) continue
      r.controller.abort(error)
      n++
    }
    return n
  }

  async serve(stream: Parameters<typeof lpStream>[0], from: PeerId): Promise<void> {
    const { gate, messages } = this.#c
    const lp = lpStream(stream, { maxDataLength: gate.maxBytes })
    let request: JobRequest
    try {
      const first = await lp
        .read({ signal: AbortSignal.timeout(REQUEST_READ_TIMEOUT_MS) })
        .catch((err: unknown) => {
          throw gate.reject(from, err)
        })
      const { envelope } = await gate.receive(first.subarray(), from, messages.JobRequest)
      if (envelope.sender !== from.toString()) {
        throw gate.reject(from, new PrsmError('MESSAGE_BAD_SIGNATURE', 'job request relayed by another peer'))
      }
      request = envelope.payload
    } catch (err) {
      this.#c.logger.debug({ err: (err as Error).message, peer: from.toString() }, 'job request refused')
      stream.abort(err as Error)
      return
    }
    const send = async <P>(kind: MessageType<P>, payload: P, signal?: AbortSignal): Promise<void> => {
      await lp.write(await sealEnvelope(this.#c.privateKey, kind, payload), {
        signal: signal ?? AbortSignal.timeout(REQUEST_READ_TIMEOUT_MS),
      })
    }
    try {
      await this.#handle(request, from, lp, send)
      await stream.close({ signal: AbortSignal.timeout(REQUEST_READ_TIMEOUT_MS) })
    } catch (err) {
      this.#c.logger.debug({ err: (err as Error).message, peer: from.toString() }, 'job stream ended')
      stream.abort(err as Error)
    }
  }

  async #handle(
    request: JobRequest,
    from: PeerId,
    lp: LpStream,
    send: <P>(kind: MessageType<P>, payload: P, signal?: AbortSignal) => Promise<void>,
  ): Promise<void> {
    const { messages, store } = this.#c
    const client = from.toString()
    const key = `${client}/${request.requestId}`
    const requestHash = hashRequest(request)
    const refuse = (err: unknown): Promise<void> => {
      const e = toPrsmError(err)
      return send(messages.JobError, {
        requestId: request.requestId,
        code: e.code,
        message: e.message.slice(0, 512),
      })
    }

    // 1. Idempotency: a request id is answered once; a retry gets the same receipt.
    const known = store.get(client, request.requestId)
    if (known !== undefined) {
      if (known.requestHash !== requestHash) return refuse(new PrsmError('JOB_DUPLICATE'))
      let receipt: JobReceipt | PrsmError
      if (known.status === 'done') receipt = known.receipt
      else {
        const running = this.#running.get(key)
        if (running === undefined) return refuse(new PrsmError('JOB_INTERRUPTED'))
        receipt = await running.done
      }
      if (receipt instanceof PrsmError) return refuse(receipt)
      const owed = this.#owed(client, request.requestId)
      await send(messages.JobAccepted, {
        requestId: request.requestId,
        price: receipt.unitPrice,
        unit: receipt.unit,
        replay: true,
        ...(owed === undefined ? {} : { owed: owed.toString() }),
      })
      await send(messages.JobReceipt, receipt)
      if (owed !== undefined && owed > 0n) {
        const frames = this.#listen(lp, from, request.requestId, new AbortController())
        await this.#collectPayment(client, request.requestId, frames, send)
      }
      return
    }
    const startedAt = Date.now()
    store.claim(client, request.requestId, requestHash, startedAt)
    const controller = new AbortController()
    let settle!: (r: JobReceipt | PrsmError) => void
    const done = new Promise<JobReceipt | PrsmError>((resolve) => {
      settle = resolve
    })
    this.#running.set(key, { capability: request.step.capability, client, requestHash, done, controller })

    let accepted: Admitted
    try {
      accepted = await this.#admit(request, client, controller.signal)
    } catch (err) {
      store.release(client, request.requestId)
      this.#running.delete(key)
      settle(toPrsmError(err))
      return refuse(err)
    }

    // From here the job is accepted (and paid): it always ends with a stored receipt.
    const { offer, backend, inputs, channel, release, deadline } = accepted
    const deadlineTimer = setTimeout(
      () => controller.abort(new PrsmError('JOB_DEADLINE_EXCEEDED')),
      Math.max(0, deadline - Date.now()),
    )
    const listener = this.#listen(lp, from, request.requestId, controller)
    // A write that fails means the client went away: the job stops (and is charged as delivered).
    const deliver = async <P>(kind: MessageType<P>, payload: P): Promise<void> => {
      try {
        await send(kind, payload, controller.signal)
      } catch (err) {
        if (!controller.signal.aborted) {
          controller.abort(new PrsmError('JOB_CANCELLED', 'the client went away', { cause: err }))
        }
        throw err
      }
    }
    const hash = createHash('sha256')
    const out: Uint8Array[] = []
    let outBytes = 0
    let chunks = 0
    /** Tokens of the text delivered (model steps), counted as it streams. */
    let textTokens = 0
    const isModel = request.step.kind === 'model'
    let reported: Partial<JobUsage> = {}
    let failure: PrsmError | undefined
    let runStart = Date.now()
    let sawBytes = false
    let upstream: bigint | undefined
    let spill: ReturnType<typeof spillOutput> | undefined
    let slot: (() => void) | undefined
    try {
      await deliver(messages.JobAccepted, {
        requestId: request.requestId,
        price: offer.price,
        unit: offer.unit,
        replay: false,
      })
      if (isModel) await loadTokenizer()
      slot = await release()
      runStart = Date.now()
      for await (const raw of backend.run(request.step, inputs, { signal: controller.signal, deadline })) {
        controller.signal.throwIfAborted()
        if (raw.type === 'usage') {
          reported = { ...reported, ...raw.usage }
          if (raw.upstreamCost !== undefined) upstream = raw.upstreamCost
          continue
        }
        const event =
          'text' in raw && this.#safety.checkOutput !== undefined
            ? { text: await this.#checkOutput(request, client, raw.text) }
            : raw
        const bytes = 'text' in event ? new TextEncoder().encode(event.text) : event.bytes
        if (!('text' in event)) sawBytes = true
        if (bytes.byteLength === 0) continue
        // Frames stay under the message cap: big outputs go out in several chunks.
        const piece = Math.max(1024, Math.floor(this.#c.gate.maxBytes / 2))
        const isTextEvent = 'text' in event
        for (let at = 0; at < bytes.byteLength; ) {
          let end = Math.min(at + piece, bytes.byteLength)
          // Text is cut on a character boundary, so every chunk is valid UTF-8 on its own.
          while (isTextEvent && end < bytes.byteLength && ((bytes[end] as number) & 0xc0) === 0x80) end--
          const part = bytes.subarray(at, end)
          at = end
          const chunk =
            isTextEvent && part.byteLength === bytes.byteLength
              ? { text: event.text }
              : isTextEvent
                ? { text: new TextDecoder().decode(part) }
                : { bytes: part.slice() }
          await deliver(messages.JobChunk, { requestId: request.requestId, seq: chunks, ...chunk })
          chunks++
          if (isModel && 'text' in chunk) textTokens += countTokens(chunk.text)
          hash.update(part)
          outBytes += part.byteLength
          if (spill !== undefined) spill.push(part.slice())
          else if (outBytes <= INLINE_OUTPUT_MAX_BYTES) out.push(part)
          else if (this.#c.storage !== undefined) {
            // Too big to inline: the whole output goes to content storage as it streams.
            spill = spillOutput(this.#c.storage, this.#c.logger, request.requestId)
            for (const p of out.splice(0)) spill.push(p)
            spill.push(part.slice())
          }
        }
      }
      controller.signal.throwIfAborted()
      if (!sawBytes && this.#safety.checkOutput !== undefined && outBytes <= INLINE_OUTPUT_MAX_BYTES) {
        await this.#checkOutput(request, client, new TextDecoder().decode(concat(out)), true)
      }
    } catch (err) {
      failure = controller.signal.aborted ? toPrsmError(controller.signal.reason) : toPrsmError(err)
      if (!controller.signal.aborted) controller.abort(failure)
    } finally {
      clearTimeout(deadlineTimer)
      slot?.()
    }
    const outputCid = spill === undefined ? undefined : await spill.finish()
    const finishedAt = Date.now()
    const usage: JobUsage = {
      ...emptyUsage(),
      bytesIn: inputs.reduce((n, i) => n + ('text' in i ? Buffer.byteLength(i.text) : i.bytes.byteLength), 0),
      ...reported,
      // Without the upstream's count, a model's prompt is counted with the tokenizer.
      tokensIn: reported.tokensIn ?? (isModel ? countTokens(promptText(request.step, inputs)) : 0),
      // Delivered output is what the client saw; a backend cannot report more than that.
      tokensOut: deliveredTokens(request.step.kind, reported.tokensOut, textTokens, failure !== undefined),
      computeMs: Math.max(reported.computeMs ?? 0, slot ? finishedAt - runStart : 0),
      bytesOut: outBytes,
    }
    const charged = charge(offer, usage, failure === undefined, BigInt(request.maxPrice))
    if (channel !== undefined) {
      // The reservation becomes what was delivered: a charge the client pays after the receipt.
      this.#unreserve(channel, BigInt(request.maxPrice))
      if (charged > 0n) {
        this.#sync(channel)
        store.addCharge({
          client,
          requestId: request.requestId,
          channel,
          amount: charged,
          chargedAt: finishedAt,
        })
      }
    }
    const inline = concat(out)
    const isText = !sawBytes
    const receipt: JobReceipt = {
      requestId: request.requestId,
      client,
      capability: request.step.capability,
      status: failure ? 'failed' : 'ok',
      ...(failure ? { error: { code: failure.code, message: failure.message.slice(0, 512) } } : {}),
      output:
        outBytes > INLINE_OUTPUT_MAX_BYTES
          ? outputCid === undefined
            ? {}
            : { cid: outputCid }
          : isText
            ? { text: new TextDecoder().decode(inline) }
            : { bytes: inline },
      outputHash: hash.digest('hex'),
      outputBytes: outBytes,
      usage,
      unitPrice: offer.price,
      unit: offer.unit,
      charged: charged.toString(),
      startedAt,
      finishedAt,
    }
    store.finish(client, request.requestId, receipt)
    const earned = this.#earnings.get(receipt.capability) ?? { jobs: 0, charged: 0n, upstreamCost: 0n }
    this.#earnings.set(receipt.capability, {
      jobs: earned.jobs + 1,
      charged: earned.charged + charged,
      upstreamCost: earned.upstreamCost + (upstream ?? 0n),
    })
    this.#running.delete(key)
    settle(receipt)
    this.#c.logger.debug(
      {
        requestId: request.requestId,
        client,
        status: receipt.status,
        code: failure?.code,
        charged: receipt.charged,
        ...(upstream === undefined
          ? {}
          : { upstreamCost: upstream.toString(), margin: (charged - upstream).toString() }),
      },
      'job finished',
    )
    // The client may be gone (cancelled by dropping the stream); the receipt stays retrievable
    // (and payable: a retry of the request id replays it and takes the payment).
    try {
      await send(messages.JobReceipt, receipt)
      if (channel !== undefined && charged > 0n) {
        await this.#collectPayment(client, request.requestId, listener, send)
      }
    } finally {
      listener.stop()
    }
  }

  /** What a priced request still owes (undefined when it charged nothing on a channel). */
  #owed(client: string, requestId: string): bigint | undefined {
    const charged = this.#c.store.charge(client, requestId)
    if (charged === undefined) return undefined
    if (charged.paidAt === undefined) this.#sync(charged.channel)
    return this.#c.store.charge(client, requestId)?.paidAt === undefined ? charged.amount : 0n
  }

  /**
   * Waits for the client's `job-payment` after a priced receipt, accepts its voucher through the
   * ledger (journalled before the answer) and answers `job-paid`, or `job-error` when refused.
   * A client that sends nothing leaves the charge unpaid (and is refused new work after the grace).
   */
  async #collectPayment(
    client: string,
    requestId: string,
    frames: { payment: Promise<JobPaymentVoucher | undefined> },
    send: <P>(kind: MessageType<P>, payload: P, signal?: AbortSignal) => Promise<void>,
  ): Promise<void> {
    const { messages, ledger, store } = this.#c
    let timer: ReturnType<typeof setTimeout> | undefined
    const payment = await Promise.race([
      frames.payment,
      new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), PAYMENT_WAIT_MS)
      }),
    ]).finally(() => clearTimeout(timer))
    if (payment === undefined) return
    let paid: JobPaid
    try {
      const owed = store.charge(client, requestId)
      if (owed === undefined) throw new PrsmError('JOB_PAYMENT_REQUIRED', 'nothing is owed for this request')
      if (payment.channel.toLowerCase() !== owed.channel) {
        throw new PrsmError('JOB_PAYMENT_REQUIRED', 'the voucher is not on the channel of the request', {
          details: { channel: owed.channel },
        })
      }
      this.#sync(owed.channel)
      const due = store.charge(client, requestId)?.paidAt === undefined ? owed.amount : 0n
      const accepted = await ledger.payee.acceptVoucher(payment, {
        ...(due > 0n ? { minIncrement: due } : {}),
        signal: AbortSignal.timeout(REQUEST_READ_TIMEOUT_MS),
      })
      this.#sync(owed.channel, requestId)
      paid = {
        requestId,
        cumulativeAmount: accepted.cumulativeAmount.toString(),
        increment: accepted.increment.toString(),
      }
    } catch (err) {
      const e = toPrsmError(err)
      this.#c.logger.debug({ requestId, client, code: e.code }, 'job payment refused')
      await send(messages.JobError, { requestId, code: e.code, message: e.message.slice(0, 512) })
      return
    }
    await send(messages.JobPaid, paid)
  }

  /**
   * Counts the vouchers accepted on a channel since the last look (through the job stream or
   * `/prsm/pay`) against its unpaid charges, oldest first (`first`, when given, before the rest):
   * the provider's net share of the newest voucher (cumulative − royalties) above what was already
   * counted pays whole charges; what does not cover the next charge waits for more.
   */
  #sync(channel: string, first?: string): void {
    const { store, ledger } = this.#c
    const newest = ledger.journal.newest(channel.toLowerCase() as `0x${string}`)
    const net = newest === undefined ? 0n : newest.cumulativeAmount - royaltyTotal(newest.royalties)
    const accounted = store.accounted(channel)
    if (accounted === undefined) {
      // First charge on this channel: earlier payments on it were for something else.
      store.setAccounted(channel, net)
      return
    }
    let left = net - accounted
    if (left <= 0n) return
    const unpaid = store.unpaid(channel)
    unpaid.sort((a, b) => (a.requestId === first ? -1 : b.requestId === first ? 1 : 0))
    const now = Date.now()
    for (const c of unpaid) {
      if (c.amount > left) break
      store.markPaid(c.client, c.requestId, now)
      left -= c.amount
    }
    store.setAccounted(channel, net - left)
  }

  #unreserve(channel: string, amount: bigint): void {
    const key = channel.toLowerCase()
    const left = (this.#reserved.get(key) ?? 0n) - amount
    if (left > 0n) this.#reserved.set(key, left)
    else this.#reserved.delete(key)
  }

  /** The safety hook's verdict on a text output: the (possibly redacted) text, or JOB_REFUSED. */
  async #checkOutput(request: JobRequest, client: string, text: string, final = false): Promise<string> {
    const check = this.#safety.checkOutput as NonNullable<SafetyHook['checkOutput']>
    const verdict = await check.call(this.#safety, { capability: request.step.capability, text }, { client })
    if (!verdict.allow) {
      throw new PrsmError('JOB_REFUSED', `output refused: ${verdict.reason.slice(0, 256)}`, {
        details: { stage: 'output' },
      })
    }
    return final || verdict.text === undefined ? text : verdict.text
  }

  /** Every check before work; resolves with what the run needs or throws the refusal. */
  async #admit(request: JobRequest, client: string, signal: AbortSignal): Promise<Admitted> {
    const capability = request.step.capability
    const found = this.#c.offers.localOffers().find((o) => o.offer.capability === capability)
    if (found === undefined) throw new PrsmError('JOB_NO_OFFER', undefined, { details: { capability } })
    const offer = found.offer
    if (!capability.startsWith(`${request.step.kind}:`)) {
      throw new PrsmError('JOB_INPUT_INVALID', `step kind ${request.step.kind} does not match ${capability}`)
    }
    const backend = this.#backends.get(capability)
    if (backend === undefined) throw new PrsmError('JOB_NO_BACKEND', undefined, { details: { capability } })
    const price = BigInt(offer.price)
    const maxPrice = BigInt(request.maxPrice)
    if (maxPrice < price) {
      throw new PrsmError('JOB_PRICE_TOO_LOW', undefined, {
        details: { price: offer.price, unit: offer.unit, maxPrice: request.maxPrice },
      })
    }
    const now = Date.now()
    if (request.deadline <= now)
      throw new PrsmError('JOB_DEADLINE_EXCEEDED', 'the deadline has already passed')
    const deadline = Math.min(request.deadline, now + this.#init.maxDeadlineMs)
    if (price > 0n && !this.#c.ledger.enabled) {
      throw new PrsmError('CHAIN_NOT_CONFIGURED', 'this offer has a price and the provider has no chain')
    }
    const channel = request.channel?.toLowerCase()
    if (price > 0n && channel === undefined) {
      throw new PrsmError('JOB_PAYMENT_REQUIRED', 'a priced offer needs the paying channel in the request')
    }
    if (price > 0n) this.#checkOverdue(client)
    const release = this.#reserve(capability, offer, signal)
    try {
      const inputs = await resolveInputs(this.#c.storage, request, offer, signal)
      const verdict = await this.#safety.checkRequest({ capability, step: request.step, inputs }, { client })
      if (!verdict.allow) throw new PrsmError('JOB_REFUSED', verdict.reason.slice(0, 256))
      if (price > 0n) await this.#reserveEscrow(channel as string, maxPrice, signal)
      return {
        offer,
        backend,
        inputs,
        channel: price > 0n ? channel : undefined,
        release: release.wait,
        deadline,
      }
    } catch (err) {
      release.cancel()
      throw err
    }
  }

  /** JOB_PAYMENT_REQUIRED when the client left a receipt unpaid past the grace period. */
  #checkOverdue(client: string): void {
    const { store } = this.#c
    const grace = this.#init.paymentGraceMs ?? DEFAULT_PAYMENT_GRACE_MS
    let oldest = store.oldestUnpaid(client)
    if (oldest === undefined || Date.now() - oldest.chargedAt <= grace) return
    this.#sync(oldest.channel)
    oldest = store.oldestUnpaid(client)
    if (oldest === undefined || Date.now() - oldest.chargedAt <= grace) return
    throw new PrsmError(
      'JOB_PAYMENT_REQUIRED',
      `request ${oldest.requestId} is unpaid since ${new Date(oldest.chargedAt).toISOString()}: pay it (retry that request id) before new work`,
      {
        details: {
          reason: 'overdue',
          requestId: oldest.requestId,
          channel: oldest.channel,
          owed: oldest.amount.toString(),
        },
      },
    )
  }

  /**
   * Reserves a priced job's max price against the channel's unspent escrow (deposit − the newest
   * accepted cumulative amount), which must also cover what is charged or reserved there and not
   * yet paid. Checked and taken without an await in between, so concurrent requests cannot both
   * count on one escrow.
   */
  async #reserveEscrow(channel: string, maxPrice: bigint, signal: AbortSignal): Promise<void> {
    const { ledger } = this.#c
    const check = async (refresh: boolean): Promise<{ ok: boolean; details: Record<string, string> }> => {
      const state = await ledger.payee.channel(channel as `0x${string}`, { refresh, signal })
      if (state === undefined) throw new PrsmError('CHANNEL_UNKNOWN', undefined, { details: { channel } })
      if (state.payee.toLowerCase() !== ledger.chain.address.toLowerCase()) {
        throw new PrsmError('CHANNEL_WRONG_PAYEE', undefined, { details: { channel } })
      }
      if (state.closed) throw new PrsmError('CHANNEL_CLOSED', undefined, { details: { channel } })
      const newest = ledger.journal.newest(channel as `0x${string}`)?.cumulativeAmount ?? 0n
      const spent = newest > state.claimed ? newest : state.claimed
      const outstanding = this.unpaid(channel) + (this.#reserved.get(channel) ?? 0n)
      const unspent = state.deposit - spent
      const details = {
        channel,
        unspent: unspent.toString(),
        outstanding: outstanding.toString(),
        maxPrice: maxPrice.toString(),
      }
      return { ok: unspent >= outstanding + maxPrice, details }
    }
    let verdict = await check(false)
    // A top-up since the cached read: look again on chain once.
    if (!verdict.ok) verdict = await check(true)
    if (!verdict.ok) {
      throw new PrsmError(
        'JOB_PAYMENT_REQUIRED',
        'the channel has not enough unspent escrow for this job on top of what is owed on it',
        { details: { ...verdict.details, reason: 'escrow' } },
      )
    }
    this.#reserved.set(channel, (this.#reserved.get(channel) ?? 0n) + maxPrice)
  }

  /** Takes a place in the capability's and the node's queues at once (JOB_BUSY when full). */
  #reserve(capability: string, offer: Offer, signal: AbortSignal) {
    const queues = [this.#queue]
    const limit = offer.limits.maxConcurrency
    if (limit !== undefined) {
      let q = this.#capQueues.get(capability)
      if (q === undefined) {
        q = new JobQueue(limit, this.#init.maxQueue)
        this.#capQueues.set(capability, q)
      }
      queues.unshift(q)
    }
    if (!queues.every((q) => q.hasRoom())) {
      throw new PrsmError('JOB_BUSY', undefined, { details: { capability } })
    }
    const cancel = new AbortController()
    const both = AbortSignal.any([signal, cancel.signal])
    // The place in line is taken now, in the first queue (the capability's when it has a limit);
    // the node-wide slot is taken once that place comes up, so waiting jobs hold no node slot.
    const [first, ...rest] = queues as [JobQueue, ...JobQueue[]]
    const place = first.acquire(both)
    place.catch(() => undefined)
    return {
      wait: async (): Promise<() => void> => {
        const releases = [await place]
        try {
          for (const q of rest) releases.push(await q.acquire(both))
        } catch (err) {
          for (const r of releases) r()
          throw err
        }
        return () => {
          for (const r of releases.reverse()) r()
        }
      },
      cancel: (): void => {
        cancel.abort(new PrsmError('JOB_CANCELLED', 'refused before running'))
        void place.then(
          (r) => r(),
          () => undefined,
        )
      },
    }
  }

  /**
   * Reads frames after the request for as long as the stream lives: a `job-cancel` (or the stream
   * failing) aborts the job; a `job-payment` (after the receipt) resolves `payment`.
   */
  #listen(lp: LpStream, from: PeerId, requestId: string, controller: AbortController) {
    const { gate, messages } = this.#c
    const stop = new AbortController()
    let pay!: (voucher: JobPaymentVoucher | undefined) => void
    const payment = new Promise<JobPaymentVoucher | undefined>((resolve) => {
      pay = resolve
    })
    void (async () => {
      try {
        while (!stop.signal.aborted) {
          const frame = await lp.read({ signal: stop.signal })
          const { envelope } = await gate.receive(frame.subarray(), from)
          const payload = envelope.payload as { requestId?: string; voucher?: JobPaymentVoucher }
          if (payload.requestId !== requestId) continue
          if (envelope.type === messages.JobCancel.type) {
            controller.abort(new PrsmError('JOB_CANCELLED'))
          } else if (envelope.type === messages.JobPayment.type) {
            pay(payload.voucher)
            return
          }
        }
      } catch (err) {
        if (stop.signal.aborted) return
        const name = (err as Error).name
        // A clean end of the client's writing side is not a cancel; a reset is.
        if (name === 'UnexpectedEOFError') return
        if (!controller.signal.aborted) {
          controller.abort(new PrsmError('JOB_CANCELLED', 'the client closed the stream', { cause: err }))
        }
      } finally {
        pay(undefined)
      }
    })()
    return { stop: () => stop.abort(), payment }
  }
}
