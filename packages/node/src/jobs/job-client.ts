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
  payments: Pick<PaymentService, 'peerOf'>
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
  /** The most this job may cost, wei of FTNS. 0 for a free offer (no voucher is sent). */
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
 * The client side of {@link JOB_PROTOCOL}: signs a request (with a voucher for the max price when
 * the job is paid), streams the provider's chunks and ends with its signed receipt, which is
 * checked against the request and the streamed output. A refusal throws a PrsmError with the
 * provider's code. Aborting `signal` sends a cancel and still waits briefly for the receipt.
 */
export class JobClient {
  readonly #c: JobClientComponents
  readonly #init: JobClientInit
  /**
   * Payment per request id, so a retry carries the same voucher (or none) and never pays twice;
   * `reserved`/`settled` track its max price against the channel's credit.
   */
  readonly #vouchers = new Map<
    string,
    { channel: Hex; voucher: VoucherJson | undefined; reserved: boolean; settled: boolean }
  >()
  /** Per channel: the amount signed in vouchers the provider has not accepted (refused jobs). */
  readonly #unaccepted = new Map<string, bigint>()
  /** Per channel: the credit with the provider (vouchered, not charged nor reserved), wei. */
  readonly #credit = new Map<string, bigint>()
  /** Per channel: paid jobs accepted whose receipt has not arrived. */
  readonly #inflight = new Map<string, number>()
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
    // Paid jobs on one channel are admitted one at a time (signed, then accepted or refused), so
    // vouchers reach the provider in order; a refused job's amount is reused by the next voucher.
    const paying = input.maxPrice > 0n ? await this.#payFor(requestId, peer, input) : undefined
    const voucher = paying?.voucher
    const request = {
      requestId,
      step: step.data,
      inputs: input.inputs ?? [],
      maxPrice: input.maxPrice.toString(),
      deadline,
      ...(voucher === undefined ? {} : { voucher }),
      ...(paying !== undefined && voucher === undefined ? { channel: paying.channel } : {}),
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
      paying?.release()
      if (outer?.aborted) throw new PrsmError('JOB_CANCELLED', undefined, { cause: err })
      throw new PrsmError('PEER_UNREACHABLE', `provider ${peer} not reached: ${(err as Error).message}`, {
        cause: err,
        details: { peer: peer.toString() },
      })
    }
    const lp = lpStream(stream, { maxDataLength: gate.maxBytes })
    let finished = false
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
            // The provider's credit is lower than this client reckoned: pay in full from now on.
            if (
              paying !== undefined &&
              (e.code === 'JOB_PAYMENT_REQUIRED' || e.code === 'VOUCHER_UNDERPAID')
            ) {
              this.#credit.delete(paying.key)
            }
            paying?.release()
            throw wireJobError(e, peer, requestId)
          }
          case messages.JobAccepted.type: {
            const accepted = envelope.payload as JobAccepted
            replay = accepted.replay
            if (paying !== undefined) {
              if (!replay) this.#reserve(requestId, paying.key, input.maxPrice)
              paying.release()
            }
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
            if (paying !== undefined) this.#settle(requestId, paying.key, input.maxPrice, receipt)
            yield { type: 'receipt', receipt, signed: frame.subarray().slice() }
            await stream.close({ signal: AbortSignal.timeout(RECEIPT_GRACE_MS) }).catch(() => undefined)
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
      paying?.release()
      if (paying !== undefined && !finished) this.#settle(requestId, paying.key, input.maxPrice, undefined)
      outer?.removeEventListener('abort', cancel)
      if (!finished) {
        // The consumer stopped early: the provider sees the reset and stops the job.
        stream.abort(new Error('job abandoned'))
      }
    }
  }

  /**
   * The payment of a request, with the channel's admission lock held: the same as before on a
   * retry; else the client's credit on the channel (what earlier vouchers added beyond what their
   * jobs were charged) pays first, and a voucher adds the rest of the max price — reusing the
   * amount of vouchers the provider refused (`#unaccepted`) rather than paying it twice. No voucher
   * is sent when the credit covers the max price and nothing signed is pending.
   */
  async #payFor(
    requestId: string,
    peer: PeerId,
    input: RunJobRequest,
  ): Promise<{ voucher: VoucherJson | undefined; channel: Hex; key: string; release: () => void }> {
    const { ledger, payments } = this.#c
    if (!ledger.enabled) {
      throw new PrsmError(
        'CHAIN_NOT_CONFIGURED',
        'a paid job needs a chain (or use --max-price 0 for free offers)',
      )
    }
    const known = this.#vouchers.get(requestId)
    const channel =
      known?.channel ??
      input.channel ??
      ledger.payer.channels().find((c) => payments.peerOf(c.channel) === peer.toString())?.channel
    if (channel === undefined) {
      throw new PrsmError('CHANNEL_UNKNOWN', `no payment channel to ${peer} is known: open one first`, {
        details: { peer: peer.toString() },
      })
    }
    const key = channel.toLowerCase()
    const release = await this.#lock(key)
    try {
      if (known !== undefined) return { voucher: known.voucher, channel, key, release }
      const owed = this.#unaccepted.get(key) ?? 0n
      const credit = this.#credit.get(key) ?? 0n
      const needed = input.maxPrice - (credit < input.maxPrice ? credit : input.maxPrice)
      const record = ledger.payer.channels().find((c) => c.channel.toLowerCase() === key)
      let voucher: VoucherJson | undefined
      if (owed > 0n && owed >= needed && record?.signature !== undefined) {
        voucher = voucherToJson({ ...record, signature: record.signature })
      } else if (needed > 0n) {
        voucher = voucherToJson(ledger.payer.pay(channel, needed - owed))
        this.#unaccepted.set(key, needed)
      }
      this.#vouchers.set(requestId, { channel, voucher, reserved: false, settled: false })
      if (this.#vouchers.size > MAX_REMEMBERED_VOUCHERS) {
        const oldest = this.#vouchers.keys().next().value
        if (oldest !== undefined) this.#vouchers.delete(oldest)
      }
      return { voucher, channel, key, release }
    } catch (err) {
      release()
      throw err
    }
  }

  /** The provider accepted a paid job: its voucher is taken and its max price is reserved. */
  #reserve(requestId: string, key: string, maxPrice: bigint): void {
    const job = this.#vouchers.get(requestId)
    if (job === undefined || job.reserved) return
    job.reserved = true
    const added = job.voucher === undefined ? 0n : (this.#unaccepted.get(key) ?? 0n)
    this.#unaccepted.delete(key)
    this.#credit.set(key, (this.#credit.get(key) ?? 0n) + added - maxPrice)
    this.#inflight.set(key, (this.#inflight.get(key) ?? 0) + 1)
  }

  /**
   * A paid job ended: what it reserved and was not charged returns to the credit. With no other
   * job in flight on the channel, the provider's figure in the receipt is adopted.
   */
  #settle(requestId: string, key: string, maxPrice: bigint, receipt: JobReceipt | undefined): void {
    const job = this.#vouchers.get(requestId)
    if (job === undefined || !job.reserved || job.settled) return
    job.settled = true
    const inflight = (this.#inflight.get(key) ?? 1) - 1
    if (inflight <= 0) this.#inflight.delete(key)
    else this.#inflight.set(key, inflight)
    if (receipt === undefined) return
    const credit = (this.#credit.get(key) ?? 0n) + maxPrice - BigInt(receipt.charged)
    this.#credit.set(key, inflight <= 0 && receipt.credit !== undefined ? BigInt(receipt.credit) : credit)
  }

  /** The client's credit with a provider on a channel, as it reckons it (wei). */
  credit(channel: Hex): bigint {
    return this.#credit.get(channel.toLowerCase()) ?? 0n
  }

  /** Waits for the channel's previous paid admission to finish; resolves with the release. */
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
}> {
  const parts: Uint8Array[] = []
  let receipt: JobReceipt | undefined
  let signed: Uint8Array = new Uint8Array()
  for await (const e of events) {
    if (e.type === 'chunk')
      parts.push(e.text !== undefined ? Buffer.from(e.text) : (e.bytes ?? new Uint8Array()))
    else if (e.type === 'receipt') {
      receipt = e.receipt
      signed = e.signed
    }
  }
  if (receipt === undefined) throw new PrsmError('JOB_RECEIPT_INVALID', 'the job ended without a receipt')
  let output: Uint8Array = Buffer.concat(parts)
  if (parts.length === 0) {
    // A replayed receipt carries the output inline (when small) instead of chunks.
    if (receipt.output.text !== undefined) output = Buffer.from(receipt.output.text)
    else if (receipt.output.bytes !== undefined) output = receipt.output.bytes
  }
  return { receipt, signed, output, chunks: parts.length }
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
