import { createHash, randomBytes } from 'node:crypto'
import type { PeerId, PrivateKey } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { lpStream } from '@libp2p/utils'
import { type VoucherJson, voucherToJson } from '@prsm/contracts'
import { isErrorCode, PrsmError, sealEnvelope } from '@prsm/core'
import type { Logger } from 'pino'
import type { Hex } from 'viem'
import type { Ledger } from '../ledger/ledger.ts'
import type { PaymentService } from '../market/payments.ts'
import type { PrsmLibp2p } from '../net/libp2p.ts'
import type { MessageGate } from '../net/message-gate.ts'
import {
  JOB_PROTOCOL,
  type JobAccepted,
  type JobInput,
  type JobMessages,
  type JobPaid,
  type JobReceipt,
  type JobStep,
  JobStepSchema,
  RequestIdSchema,
} from './messages.ts'

/** Time allowed after the deadline for the provider's final receipt to arrive. */
export const RECEIPT_GRACE_MS = 5_000
/** Time a provider has to answer a cancel with its receipt before the stream is dropped. */
export const CANCEL_GRACE_MS = 5_000
const MAX_REMEMBERED_VOUCHERS = 1024

export interface JobClientComponents {
  libp2p: Pick<PrsmLibp2p, 'peerId' | 'dialProtocol'>
  privateKey: PrivateKey
  messages: JobMessages
  gate: Pick<MessageGate, 'receive' | 'maxBytes'>
  ledger: Pick<Ledger, 'enabled' | 'payer'>
  payments: Pick<PaymentService, 'peerOf' | 'deliver'>
  logger: Logger
}

export interface JobClientInit {
  defaultDeadlineMs: number
}

export interface RunJobRequest {
  /** Reuse an id to retry: the provider answers a known id with its stored receipt. Default: random. */
  requestId?: string
  step: { kind?: JobStep['kind']; capability: string; params?: JobStep['params'] }
  inputs?: JobInput[]
  /**
   * The most this job may cost, wei of FTNS. 0 for a free offer. A priced job is paid after its
   * receipt: a voucher adding exactly what the receipt charged.
   */
  maxPrice: bigint
  /** Milliseconds since the epoch (default: now + `jobs.defaultDeadlineMs`). */
  deadline?: number
  /** The channel to pay on (default: a channel this node opened to the provider). */
  channel?: Hex
}

export type JobEvent =
  | { type: 'accepted'; accepted: JobAccepted }
  | { type: 'chunk'; seq: number; text?: string; bytes?: Uint8Array }
  /**
   * The provider's signed receipt; `receipt.status` is 'failed' (with `error`) when the job failed.
   * `signed` is the receipt's signed envelope as received (evidence for third parties).
   */
  | { type: 'receipt'; receipt: JobReceipt; signed: Uint8Array }
  /**
   * After a receipt that charged something: the voucher paying it (`amount` = what this request
   * owed). `acknowledged` when the provider journalled it on the job stream; else it went through
   * `/prsm/pay` (`error` when that failed too: the charge stays unpaid and a retry pays it).
   */
  | {
      type: 'payment'
      channel: Hex
      /** wei, decimal (JSON-safe like the wire's amounts) */
      amount: string
      cumulativeAmount: string
      acknowledged: boolean
      error?: { code: string; message: string }
    }

/**
 * The client side of {@link JOB_PROTOCOL}: signs a request (naming the paying channel when the job
 * is priced, with no voucher), streams the provider's chunks and ends with its signed receipt,
 * which is checked against the request and the streamed output; then pays what the receipt
 * charged — and only that — with a voucher on the job stream. A refusal throws a PrsmError with
 * the provider's code. Aborting `signal` sends a cancel and still waits briefly for the receipt.
 */
export class JobClient {
  readonly #c: JobClientComponents
  readonly #init: JobClientInit
  /** Per request id: its channel, and the voucher that paid it once signed (a retry resends it). */
  readonly #payments = new Map<string, { channel: Hex; voucher: VoucherJson | undefined }>()
  /** Per channel: payments are signed and delivered one at a time, so vouchers arrive in order. */
  readonly #locks = new Map<string, Promise<void>>()

  constructor(components: JobClientComponents, init: JobClientInit) {
    this.#c = components
    this.#init = init
  }

  async *run(
    provider: PeerId | string,
    input: RunJobRequest,
    options: { signal?: AbortSignal } = {},
  ): AsyncGenerator<JobEvent, void, undefined> {
    const { messages, gate } = this.#c
    const peer = typeof provider === 'string' ? parsePeer(provider) : provider
    const requestId = input.requestId ?? randomBytes(12).toString('base64url')
    if (!RequestIdSchema.safeParse(requestId).success) {
      throw new PrsmError(
        'VALIDATION_FAILED',
        `invalid request id ${JSON.stringify(requestId.slice(0, 80))}`,
        {
          details: { rule: '8-64 of [A-Za-z0-9_-]' },
        },
      )
    }
    const kind = input.step.kind ?? (input.step.capability.split(':')[0] as JobStep['kind'])
    const step = JobStepSchema.safeParse({ ...input.step, kind, params: input.step.params ?? {} })
    if (!step.success) throw new PrsmError('VALIDATION_FAILED', `invalid job step: ${step.error.message}`)
    const deadline = input.deadline ?? Date.now() + this.#init.defaultDeadlineMs
    const channel = input.maxPrice > 0n ? this.#channelFor(requestId, peer, input) : undefined
    const request = {
      requestId,
      step: step.data,
      inputs: input.inputs ?? [],
      maxPrice: input.maxPrice.toString(),
      deadline,
      ...(channel === undefined ? {} : { channel }),
    }
    const outer = options.signal
    const timeout = AbortSignal.timeout(Math.max(0, deadline - Date.now()) + RECEIPT_GRACE_MS)
    let grace: AbortSignal | undefined
    const readSignal = (): AbortSignal => AbortSignal.any([timeout, ...(grace ? [grace] : [])])

    let stream: Awaited<ReturnType<PrsmLibp2p['dialProtocol']>>
    try {
      outer?.throwIfAborted()
      stream = await this.#c.libp2p.dialProtocol(peer, JOB_PROTOCOL, {
        signal: AbortSignal.any([timeout, ...(outer ? [outer] : [])]),
      })
    } catch (err) {
      if (outer?.aborted) throw new PrsmError('JOB_CANCELLED', undefined, { cause: err })
      throw new PrsmError('PEER_UNREACHABLE', `provider ${peer} not reached: ${(err as Error).message}`, {
        cause: err,
        details: { peer: peer.toString() },
      })
    }
    const lp = lpStream(stream, { maxDataLength: gate.maxBytes })
    let finished = false
    let closed = false
    const cancel = (): void => {
      if (finished || grace) return
      grace = AbortSignal.timeout(CANCEL_GRACE_MS)
      void sealEnvelope(this.#c.privateKey, messages.JobCancel, { requestId })
        .then((bytes) => lp.write(bytes, { signal: AbortSignal.timeout(CANCEL_GRACE_MS) }))
        .catch(() => undefined)
    }
    outer?.addEventListener('abort', cancel, { once: true })
    const hash = createHash('sha256')
    let seq = 0
    let replay = false
    let owed: bigint | undefined
    try {
      if (outer?.aborted) throw new PrsmError('JOB_CANCELLED')
      await lp.write(await sealEnvelope(this.#c.privateKey, messages.JobRequest, request), {
        signal: readSignal(),
      })
      while (true) {
        let frame: Awaited<ReturnType<typeof lp.read>>
        try {
          frame = await lp.read({ signal: readSignal() })
        } catch (err) {
          if (grace?.aborted || (outer?.aborted && grace)) {
            throw new PrsmError('JOB_CANCELLED', 'cancelled; the provider sent no receipt', { cause: err })
          }
          if (timeout.aborted) {
            throw new PrsmError('JOB_DEADLINE_EXCEEDED', 'no receipt from the provider by the deadline', {
              cause: err,
            })
          }
          throw new PrsmError('PEER_UNREACHABLE', `the job stream broke: ${(err as Error).message}`, {
            cause: err,
            details: { peer: peer.toString(), requestId },
          })
        }
        const { envelope } = await gate.receive(frame.subarray(), peer)
        if (envelope.sender !== peer.toString()) {
          throw new PrsmError('MESSAGE_BAD_SIGNATURE', 'job frame not signed by the provider')
        }
        const payload = envelope.payload as { requestId?: string }
        if (payload.requestId !== requestId) {
          throw new PrsmError('JOB_RECEIPT_INVALID', 'frame for another request id')
        }
        switch (envelope.type) {
          case messages.JobError.type: {
            const e = envelope.payload as { code: string; message: string }
            throw wireJobError(e, peer, requestId)
          }
          case messages.JobAccepted.type: {
            const accepted = envelope.payload as JobAccepted
            replay = accepted.replay
            if (accepted.owed !== undefined) owed = BigInt(accepted.owed)
            yield { type: 'accepted', accepted }
            break
          }
          case messages.JobChunk.type: {
            const chunk = envelope.payload as { seq: number; text?: string; bytes?: Uint8Array }
            if (chunk.seq !== seq)
              throw new PrsmError('JOB_RECEIPT_INVALID', `chunk ${chunk.seq} out of order`)
            seq++
            hash.update(
              chunk.text !== undefined ? Buffer.from(chunk.text) : (chunk.bytes ?? new Uint8Array()),
            )
            yield {
              type: 'chunk',
              seq: chunk.seq,
              ...(chunk.text === undefined ? {} : { text: chunk.text }),
              ...(chunk.bytes === undefined ? {} : { bytes: chunk.bytes }),
            }
            break
          }
          case messages.JobReceipt.type: {
            const receipt = envelope.payload as JobReceipt
            checkReceipt(receipt, {
              client: this.#c.libp2p.peerId.toString(),
              capability: step.data.capability,
              maxPrice: input.maxPrice,
              streamedHash: replay ? undefined : hash.digest('hex'),
            })
            finished = true
            yield { type: 'receipt', receipt, signed: frame.subarray().slice() }
            // Pay for what was delivered: the receipt's charge, or on a replay what is still owed.
            const due = replay ? (owed ?? 0n) : BigInt(receipt.charged)
            if (channel !== undefined && due > 0n) {
              yield await this.#pay(peer, requestId, channel, due, (bytes) =>
                lp
                  .write(bytes, { signal: AbortSignal.timeout(RECEIPT_GRACE_MS) })
                  .then(() => lp.read({ signal: AbortSignal.timeout(RECEIPT_GRACE_MS) })),
              )
            }
            await stream.close({ signal: AbortSignal.timeout(RECEIPT_GRACE_MS) }).catch(() => undefined)
            closed = true
            return
          }
          default:
            throw new PrsmError('MESSAGE_UNKNOWN_TYPE', `unexpected ${envelope.type} on the job stream`)
        }
      }
    } catch (err) {
      stream.abort(err as Error)
      throw err
    } finally {
      outer?.removeEventListener('abort', cancel)
      if (!closed) {
        // The consumer stopped early: the provider sees the reset and stops the job (or, after
        // the receipt, stops waiting for the payment).
        stream.abort(new Error('job abandoned'))
      }
    }
  }

  /** The paying channel of a priced request: as on an earlier try, as asked, or one to the provider. */
  #channelFor(requestId: string, peer: PeerId, input: RunJobRequest): Hex {
    const { ledger, payments } = this.#c
    if (!ledger.enabled) {
      throw new PrsmError(
        'CHAIN_NOT_CONFIGURED',
        'a paid job needs a chain (or use --max-price 0 for free offers)',
      )
    }
    const channel =
      this.#payments.get(requestId)?.channel ??
      input.channel ??
      ledger.payer
        .channels()
        .filter((c) => !c.closed && payments.peerOf(c.channel) === peer.toString())
        .sort((a, b) => (b.deposit - b.cumulativeAmount > a.deposit - a.cumulativeAmount ? 1 : -1))[0]
        ?.channel
    if (channel === undefined) {
      throw new PrsmError('CHANNEL_UNKNOWN', `no payment channel to ${peer} is known: open one first`, {
        details: { peer: peer.toString() },
      })
    }
    if (!this.#payments.has(requestId)) {
      this.#payments.set(requestId, { channel, voucher: undefined })
      if (this.#payments.size > MAX_REMEMBERED_VOUCHERS) {
        const oldest = this.#payments.keys().next().value
        if (oldest !== undefined) this.#payments.delete(oldest)
      }
    }
    return channel
  }

  /**
   * Pays `amount` for a delivered request, with the channel's lock held: signs a voucher adding it
   * (or, when this request already signed one, resends the newest voucher signed on the channel,
   * which covers it: amounts are cumulative, so nothing is signed twice) and sends it as a
   * `job-payment` frame; the provider answers `job-paid` once it journalled it. When the stream
   * fails the voucher goes through `/prsm/pay` instead (the provider counts it against its oldest
   * unpaid charges).
   */
  async #pay(
    peer: PeerId,
    requestId: string,
    channel: Hex,
    amount: bigint,
    exchange: (bytes: Uint8Array) => Promise<{ subarray(): Uint8Array }>,
  ): Promise<Extract<JobEvent, { type: 'payment' }>> {
    const { ledger, payments, messages, gate } = this.#c
    const key = channel.toLowerCase()
    const release = await this.#lock(key)
    const known = this.#payments.get(requestId)
    let voucher: VoucherJson
    try {
      const record = ledger.payer.channels().find((c) => c.channel.toLowerCase() === key)
      voucher =
        known?.voucher !== undefined && record?.signature !== undefined
          ? voucherToJson({ ...record, signature: record.signature })
          : voucherToJson(ledger.payer.pay(channel, amount))
      this.#payments.set(requestId, { channel, voucher })
    } catch (err) {
      release()
      const e = err as PrsmError
      return {
        type: 'payment',
        channel,
        amount: amount.toString(),
        cumulativeAmount: '0',
        acknowledged: false,
        error: { code: e.code ?? 'INTERNAL', message: e.message },
      }
    }
    const base = {
      type: 'payment' as const,
      channel,
      amount: amount.toString(),
      cumulativeAmount: String(voucher.cumulativeAmount),
    }
    try {
      const answer = await exchange(
        await sealEnvelope(this.#c.privateKey, messages.JobPayment, { requestId, voucher }),
      )
      const { envelope } = await gate.receive(answer.subarray(), peer)
      if (envelope.type === messages.JobPaid.type) {
        if ((envelope.payload as JobPaid).requestId !== requestId) {
          throw new PrsmError('JOB_RECEIPT_INVALID', 'payment answer for another request id')
        }
        return { ...base, acknowledged: true }
      }
      if (envelope.type === messages.JobError.type) {
        const e = envelope.payload as { code: string; message: string }
        return { ...base, acknowledged: false, error: { code: e.code, message: e.message } }
      }
      throw new PrsmError('MESSAGE_UNKNOWN_TYPE', `unexpected ${envelope.type} after a payment`)
    } catch (err) {
      // The job stream is gone: the same voucher through the payment protocol.
      try {
        const answer = await payments.deliver(peer, voucher, AbortSignal.timeout(RECEIPT_GRACE_MS))
        if (answer.ok) return { ...base, acknowledged: false }
        return { ...base, acknowledged: false, error: { code: answer.code, message: answer.message } }
      } catch (again) {
        this.#c.logger.debug({ err: (again as Error).message, requestId }, 'job payment not delivered')
        return {
          ...base,
          acknowledged: false,
          error: { code: 'PEER_UNREACHABLE', message: `payment not delivered: ${(err as Error).message}` },
        }
      }
    } finally {
      release()
    }
  }

  /** Waits for the channel's previous payment to finish; resolves with the release. */
  async #lock(key: string): Promise<() => void> {
    const previous = this.#locks.get(key) ?? Promise.resolve()
    let open!: () => void
    const mine = new Promise<void>((resolve) => {
      open = resolve
    })
    const tail = previous.then(() => mine)
    this.#locks.set(key, tail)
    await previous
    let released = false
    return () => {
      if (released) return
      released = true
      open()
      if (this.#locks.get(key) === tail) this.#locks.delete(key)
    }
  }
}

/** Runs a job to its end and returns the concatenated output with the receipt. */
export async function collectJob(events: AsyncIterable<JobEvent>): Promise<{
  receipt: JobReceipt
  /** The receipt's signed envelope. */
  signed: Uint8Array
  output: Uint8Array
  chunks: number
  /** What this client paid for the receipt after delivery (0 when nothing was owed or paying failed), wei. */
  paid: bigint
}> {
  const parts: Uint8Array[] = []
  let paid = 0n
  let receipt: JobReceipt | undefined
  let signed: Uint8Array = new Uint8Array()
  for await (const e of events) {
    if (e.type === 'chunk')
      parts.push(e.text !== undefined ? Buffer.from(e.text) : (e.bytes ?? new Uint8Array()))
    else if (e.type === 'receipt') {
      receipt = e.receipt
      signed = e.signed
    } else if (e.type === 'payment' && e.error === undefined) paid += BigInt(e.amount)
  }
  if (receipt === undefined) throw new PrsmError('JOB_RECEIPT_INVALID', 'the job ended without a receipt')
  let output: Uint8Array = Buffer.concat(parts)
  if (parts.length === 0) {
    // A replayed receipt carries the output inline (when small) instead of chunks.
    if (receipt.output.text !== undefined) output = Buffer.from(receipt.output.text)
    else if (receipt.output.bytes !== undefined) output = receipt.output.bytes
  }
  return { receipt, signed, output, chunks: parts.length, paid }
}

function checkReceipt(
  receipt: JobReceipt,
  expected: { client: string; capability: string; maxPrice: bigint; streamedHash: string | undefined },
): void {
  const bad = (why: string): never => {
    throw new PrsmError('JOB_RECEIPT_INVALID', why, { details: { requestId: receipt.requestId } })
  }
  if (receipt.client !== expected.client) bad('the receipt names another client')
  if (receipt.capability !== expected.capability) bad('the receipt names another capability')
  if (BigInt(receipt.charged) > expected.maxPrice) bad('the receipt charges more than the max price')
  if (expected.streamedHash !== undefined && receipt.outputHash !== expected.streamedHash) {
    bad('the receipt hash does not match the streamed output')
  }
  const inline = receipt.output.text !== undefined ? Buffer.from(receipt.output.text) : receipt.output.bytes
  if (inline !== undefined && createHash('sha256').update(inline).digest('hex') !== receipt.outputHash) {
    bad('the receipt hash does not match its inline output')
  }
}

function wireJobError(e: { code: string; message: string }, peer: PeerId, requestId: string): PrsmError {
  const details = { peer: peer.toString(), requestId, refusedBy: 'provider' }
  if (isErrorCode(e.code)) return new PrsmError(e.code, e.message, { details })
  return new PrsmError('INTERNAL', e.message, { details: { ...details, originalCode: e.code } })
}

function parsePeer(text: string): PeerId {
  try {
    return peerIdFromString(text)
  } catch (cause) {
    throw new PrsmError('VALIDATION_FAILED', `not a PeerId: ${text}`, { cause })
  }
}
