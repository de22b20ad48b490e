import type { PeerId } from '@libp2p/interface'
import type { lpStream } from '@libp2p/utils'
import { PrsmError } from '@prsm/core'
import type { MessageGate } from '../net/message-gate.ts'
import type { JobMessages, JobPaymentVoucher } from './messages.ts'

type LpStream = ReturnType<typeof lpStream>

/**
 * Reads frames after the request for as long as the stream lives: a `job-cancel` (or the stream
 * failing) aborts the job; a `job-payment` (after the receipt) resolves `payment`.
 */
export function listenToClient(
  c: { gate: Pick<MessageGate, 'receive'>; messages: JobMessages },
  lp: LpStream,
  from: PeerId,
  requestId: string,
  controller: AbortController,
) {
  const { gate, messages } = c
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

/** `promise`'s value, or undefined when it has not settled within `ms`. */
export async function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined
  return Promise.race([
    promise,
    new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), ms)
    }),
  ]).finally(() => clearTimeout(timer))
}
