import { createHash } from 'node:crypto'
import type { PeerId, PrivateKey } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'
import { type Config, type MessageType, type Offer, PrsmError, sealEnvelope } from '@prsm/core'
import type { Logger } from 'pino'
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
import { JobCharges } from './job-charges.ts'
import { listenToClient, within } from './job-frames.ts'
import { resolveInputs } from './job-inputs.ts'
import { JobQueue } from './job-queue.ts'
import type { JobStore } from './job-store.ts'
import {
  emptyUsage,
  type JobMessages,
  type JobPaymentVoucher,
  type JobReceipt,
  type JobRequest,
  type JobUsage,
} from './messages.ts'
import { countTokens, loadTokenizer } from './tokens.ts'

type LpStream = ReturnType<typeof lpStream>

export { charge } from './job-accounting.ts'

/** Largest output kept inline in a receipt; bigger outputs are stored as content and named by CID. */
export const INLINE_OUTPUT_MAX_BYTES = 64 * 1024
export { DEFAULT_MAX_INPUT_BYTES } from './job-inputs.ts'
/** Time a client has to send its request after opening the stream. */
export const REQUEST_READ_TIMEOUT_MS = 10_000
/** Time a client has, after a priced receipt, to send its payment on the job stream. */
export const PAYMENT_WAIT_MS = 10_000

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
  readonly #charges: JobCharges

  constructor(components: JobProviderComponents, init: JobProviderInit) {
    this.#c = components
    this.#init = init
    this.#queue = new JobQueue(init.maxConcurrent, init.maxQueue)
    this.#safety = init.safety ?? { checkRequest: async () => ({ allow: true }) }
    this.#charges = new JobCharges(
      { ledger: components.ledger, store: components.store },
      init.paymentGraceMs === undefined ? {} : { paymentGraceMs: init.paymentGraceMs },
    )
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
    return this.#charges.unpaid(channel)
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
      const owed = this.#charges.owed(client, request.requestId)
      await send(messages.JobAccepted, {
        requestId: request.requestId,
        price: receipt.unitPrice,
        unit: receipt.unit,
        replay: true,
        ...(owed === undefined ? {} : { owed: owed.toString() }),
      })
      await send(messages.JobReceipt, receipt)
      if (owed !== undefined && owed > 0n) {
        const frames = listenToClient(this.#c, lp, from, request.requestId, new AbortController())
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
    const listener = listenToClient(this.#c, lp, from, request.requestId, controller)
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
    // The reservation becomes what was delivered: a charge the client pays after the receipt.
    if (channel !== undefined) {
      this.#charges.settle({
        client,
        requestId: request.requestId,
        channel,
        maxPrice: BigInt(request.maxPrice),
        charged,
      })
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
    const { messages } = this.#c
    const payment = await within(frames.payment, PAYMENT_WAIT_MS)
    if (payment === undefined) return
    try {
      await send(messages.JobPaid, await this.#charges.accept(client, requestId, payment))
    } catch (err) {
      const e = toPrsmError(err)
      this.#c.logger.debug({ requestId, client, code: e.code }, 'job payment refused')
      await send(messages.JobError, { requestId, code: e.code, message: e.message.slice(0, 512) })
    }
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
    if (price > 0n) this.#charges.checkOverdue(client)
    const release = this.#reserve(capability, offer, signal)
    try {
      const inputs = await resolveInputs(this.#c.storage, request, offer, signal)
      const verdict = await this.#safety.checkRequest({ capability, step: request.step, inputs }, { client })
      if (!verdict.allow) throw new PrsmError('JOB_REFUSED', verdict.reason.slice(0, 256))
      if (price > 0n) await this.#charges.reserve(channel as string, maxPrice, signal)
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
}
