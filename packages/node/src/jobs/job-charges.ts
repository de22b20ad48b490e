import { royaltyTotal } from '@prsm/contracts'
import { PrsmError } from '@prsm/core'
import type { Hex } from 'viem'
import type { Ledger } from '../ledger/ledger.ts'
import type { VoucherJournal } from '../ledger/voucher-journal.ts'
import type { JobStore } from './job-store.ts'
import type { JobPaid, JobPaymentVoucher } from './messages.ts'

/** Default `jobs.paymentGraceMs`. */
export const DEFAULT_PAYMENT_GRACE_MS = 30_000
/** Time allowed for the ledger to accept a payment's voucher. */
const ACCEPT_TIMEOUT_MS = 10_000

export interface JobChargesComponents {
  ledger: Pick<Ledger, 'payee'> & {
    journal: Pick<VoucherJournal, 'newest'>
    chain: { address: string }
  }
  store: JobStore
}

export interface JobChargesInit {
  /** A client with a receipt unpaid for longer than this is refused new priced work (default 30 s). */
  paymentGraceMs?: number
}

/**
 * The provider's side of pay-after-delivery: before a priced job, its max price is reserved
 * against the paying channel's unspent escrow; after the receipt, its charge is owed (kept in
 * jobs.db) until vouchers accepted on the channel cover it.
 */
export class JobCharges {
  readonly #c: JobChargesComponents
  readonly #init: JobChargesInit
  /** Per channel: the max prices of admitted priced jobs that have no receipt yet, wei. */
  readonly #reserved = new Map<string, bigint>()

  constructor(components: JobChargesComponents, init: JobChargesInit = {}) {
    this.#c = components
    this.#init = init
  }

  /** What is charged on a channel and not yet paid (every client), wei; counts payments received. */
  unpaid(channel: string): bigint {
    this.#sync(channel)
    return this.#c.store.unpaid(channel).reduce((n, c) => n + c.amount, 0n)
  }

  /** What a priced request still owes (undefined when it charged nothing on a channel). */
  owed(client: string, requestId: string): bigint | undefined {
    const charged = this.#c.store.charge(client, requestId)
    if (charged === undefined) return undefined
    if (charged.paidAt === undefined) this.#sync(charged.channel)
    return this.#c.store.charge(client, requestId)?.paidAt === undefined ? charged.amount : 0n
  }

  /** JOB_PAYMENT_REQUIRED when the client left a receipt unpaid past the grace period. */
  checkOverdue(client: string): void {
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
  async reserve(channel: string, maxPrice: bigint, signal: AbortSignal): Promise<void> {
    const { ledger } = this.#c
    const key = channel.toLowerCase()
    const check = async (refresh: boolean): Promise<{ ok: boolean; details: Record<string, string> }> => {
      const state = await ledger.payee.channel(key as Hex, { refresh, signal })
      if (state === undefined) throw new PrsmError('CHANNEL_UNKNOWN', undefined, { details: { channel } })
      if (state.payee.toLowerCase() !== ledger.chain.address.toLowerCase()) {
        throw new PrsmError('CHANNEL_WRONG_PAYEE', undefined, { details: { channel } })
      }
      if (state.closed) throw new PrsmError('CHANNEL_CLOSED', undefined, { details: { channel } })
      const newest = ledger.journal.newest(key as Hex)?.cumulativeAmount ?? 0n
      const spent = newest > state.claimed ? newest : state.claimed
      const outstanding = this.unpaid(key) + (this.#reserved.get(key) ?? 0n)
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
    this.#reserved.set(key, (this.#reserved.get(key) ?? 0n) + maxPrice)
  }

  /** A priced job ended: its reservation becomes its charge (owed until paid; none when 0). */
  settle(job: {
    client: string
    requestId: string
    channel: string
    maxPrice: bigint
    charged: bigint
  }): void {
    const key = job.channel.toLowerCase()
    const left = (this.#reserved.get(key) ?? 0n) - job.maxPrice
    if (left > 0n) this.#reserved.set(key, left)
    else this.#reserved.delete(key)
    if (job.charged <= 0n) return
    this.#sync(key)
    this.#c.store.addCharge({
      client: job.client,
      requestId: job.requestId,
      channel: key,
      amount: job.charged,
      chargedAt: Date.now(),
    })
  }

  /**
   * A client's payment for a request: its voucher is accepted through the ledger (journalled
   * before this resolves), adding at least what the request owes; it then pays the request's
   * charge first and the channel's other unpaid charges with anything beyond.
   */
  async accept(client: string, requestId: string, voucher: JobPaymentVoucher): Promise<JobPaid> {
    const { store, ledger } = this.#c
    const owed = store.charge(client, requestId)
    if (owed === undefined) throw new PrsmError('JOB_PAYMENT_REQUIRED', 'nothing is owed for this request')
    if (voucher.channel.toLowerCase() !== owed.channel) {
      throw new PrsmError('JOB_PAYMENT_REQUIRED', 'the voucher is not on the channel of the request', {
        details: { channel: owed.channel },
      })
    }
    this.#sync(owed.channel)
    const due = store.charge(client, requestId)?.paidAt === undefined ? owed.amount : 0n
    const accepted = await ledger.payee.acceptVoucher(voucher, {
      ...(due > 0n ? { minIncrement: due } : {}),
      signal: AbortSignal.timeout(ACCEPT_TIMEOUT_MS),
    })
    this.#sync(owed.channel, requestId)
    return {
      requestId,
      cumulativeAmount: accepted.cumulativeAmount.toString(),
      increment: accepted.increment.toString(),
    }
  }

  /**
   * Counts the vouchers accepted on a channel since the last look (through the job stream or
   * `/prsm/pay`) against its unpaid charges, oldest first (`first`, when given, before the rest):
   * the provider's net share of the newest voucher (cumulative − royalties) above what was already
   * counted pays whole charges; what does not cover the next charge waits for more.
   */
  #sync(channel: string, first?: string): void {
    const { store, ledger } = this.#c
    const newest = ledger.journal.newest(channel.toLowerCase() as Hex)
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
}
