import type { PeerId, PrivateKey } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'
import { voucherToJson } from '@prsm/contracts'
import { isErrorCode, type MessageRegistry, PrsmError, sealEnvelope } from '@prsm/core'
import { type Datastore, Key } from 'interface-datastore'
import type { Logger } from 'pino'
import type { Hex } from 'viem'
import type { Ledger } from '../ledger/ledger.ts'
import type { PaymentService } from '../market/payments.ts'
import type { PrsmLibp2p } from '../net/libp2p.ts'
import type { MessageGate } from '../net/message-gate.ts'
import type { HeldPins } from './held-pins.ts'
import { PIN_PROTOCOL, type PinPaid, pinMessagesOf } from './pin-messages.ts'
import { parseCid } from './storage.ts'

/**
 * Payment for pins. The requester pays each holder after it has received and verified the
 * holder's signed receipt (the holder has fetched and verified every block before signing): a
 * voucher for the receipt's `amount` over a channel to the holder (opened with the configured
 * deposit when none has room), sent as a signed `pin-payment` on the pin protocol. The holder runs
 * it through its ledger (`minIncrement` = the amount) and journals it; a pin left unpaid past the
 * grace period is released, recorded as a debt, and the requester is refused from then on
 * (PIN_PAYMENT_REQUIRED).
 */
/** Default time a holder waits for the payment of a priced pin after sending its receipt. */
export const DEFAULT_PIN_PAYMENT_GRACE_MS = 120_000
const OWED = '/prsm/replication-owed/'
const DEBT = '/prsm/replication-debt/'

/** The payment state a requester keeps with each replica. */
export interface PinPaymentRecord {
  /** paid: the holder acknowledged the voucher; failed: not paid (see error). */
  state: 'paid' | 'failed'
  /** Wei due for the term, from the receipt. */
  amount: string
  channel?: string
  /** The channel's cumulative amount after this voucher. */
  cumulativeAmount?: string
  /** The signed voucher (JSON form), kept so it can be shown or delivered again. */
  voucher?: unknown
  error?: { code: string; message: string }
  paidAt?: number
}

export interface PinPayerComponents {
  libp2p: Pick<PrsmLibp2p, 'dialProtocol'>
  privateKey: PrivateKey
  registry: MessageRegistry
  gate: Pick<MessageGate, 'receive' | 'maxBytes'>
  ledger: Pick<Ledger, 'enabled' | 'payer'>
  payments: Pick<PaymentService, 'openChannel' | 'peerOf'>
}

/**
 * Requester side: pays holders one payment at a time per holder, so a channel is opened once and
 * vouchers (cumulative) reach the holder in the order they were signed: a later voucher arriving
 * first would make the earlier one stale, and its pin would look unpaid.
 */
export class PinPayer {
  readonly #c: PinPayerComponents
  readonly #queues = new Map<string, Promise<unknown>>()

  constructor(components: PinPayerComponents) {
    this.#c = components
  }

  /** Pays `amount` to `holder` for `cid`; never throws (the outcome is the record). */
  pay(
    holder: PeerId,
    cid: string,
    amount: bigint,
    options: { deposit: bigint; timeoutMs: number; signal?: AbortSignal },
  ): Promise<PinPaymentRecord> {
    const key = holder.toString()
    const run = () => payForPin(this.#c, holder, cid, amount, options)
    const next = (this.#queues.get(key) ?? Promise.resolve()).then(run, run)
    this.#queues.set(key, next)
    void next.then(() => {
      if (this.#queues.get(key) === next) this.#queues.delete(key)
    })
    return next
  }
}

/**
 * Pays `amount` to `holder` for the pin of `cid`. Never throws: the outcome is the returned
 * record (a failed payment leaves the replica unpaid; the holder then drops it).
 */
async function payForPin(
  c: PinPayerComponents,
  holder: PeerId,
  cid: string,
  amount: bigint,
  options: { deposit: bigint; timeoutMs: number; signal?: AbortSignal },
): Promise<PinPaymentRecord> {
  const signal = AbortSignal.any([
    AbortSignal.timeout(options.timeoutMs),
    ...(options.signal === undefined ? [] : [options.signal]),
  ])
  let channel: Hex | undefined
  try {
    channel = await channelTo(c, holder.toString(), amount, options.deposit, signal)
    const voucher = voucherToJson(c.ledger.payer.pay(channel, amount))
    const messages = pinMessagesOf(c.registry)
    const stream = await c.libp2p.dialProtocol(holder, PIN_PROTOCOL, { signal })
    try {
      const lp = lpStream(stream, { maxDataLength: c.gate.maxBytes })
      await lp.write(await sealEnvelope(c.privateKey, messages.PinPayment, { cid, voucher }), { signal })
      const reply = (await lp.read({ signal })).subarray()
      await stream.close({ signal }).catch(() => undefined)
      const { envelope } = await c.gate.receive(reply, holder, messages.PinPaid)
      const answer = envelope.payload
      if (!answer.ok) {
        const code = isErrorCode(answer.code) ? answer.code : 'INTERNAL'
        throw new PrsmError(code, `${holder} refused the pin payment: ${answer.message}`)
      }
      return {
        state: 'paid',
        amount: amount.toString(),
        channel,
        cumulativeAmount: answer.cumulativeAmount,
        voucher,
        paidAt: Date.now(),
      }
    } catch (err) {
      stream.abort(err as Error)
      throw err
    }
  } catch (err) {
    return {
      state: 'failed',
      amount: amount.toString(),
      ...(channel === undefined ? {} : { channel }),
      error: {
        code: err instanceof PrsmError ? err.code : ((err as { code?: string }).code ?? 'INTERNAL'),
        message: (err as Error).message.slice(0, 500),
      },
    }
  }
}

/** An open channel to `peer` with room for `amount`, or a new one with max(deposit, amount). */
async function channelTo(
  c: PinPayerComponents,
  peer: string,
  amount: bigint,
  deposit: bigint,
  signal: AbortSignal,
): Promise<Hex> {
  const known = c.ledger.payer
    .channels()
    .filter(
      (ch) =>
        !ch.closed && c.payments.peerOf(ch.channel) === peer && ch.deposit - ch.cumulativeAmount >= amount,
    )
    .sort((a, b) => (b.deposit - b.cumulativeAmount > a.deposit - a.cumulativeAmount ? 1 : -1))[0]
  if (known !== undefined) return known.channel
  const opened = await c.payments.openChannel({
    to: peer,
    deposit: deposit > amount ? deposit : amount,
    signal,
  })
  return opened.channel
}

interface Owed {
  amount: string
  due: number
}

export interface PinDuesComponents {
  /** Without a ledger (or with one disabled), pins are free: nothing is expected. */
  ledger?: Pick<Ledger, 'enabled' | 'payee'>
  held: Pick<HeldPins, 'releaseFor'>
  datastore: Pick<Datastore, 'put' | 'get' | 'delete' | 'query' | 'has'>
  logger: Logger
}

/**
 * Holder side: the pins owed a payment (`<OWED><cid>/<requester>` → amount and due time) and the
 * debts of requesters that did not pay (`<DEBT><requester>`), who are refused from then on.
 */
export class PinDues {
  readonly #c: PinDuesComponents
  readonly #graceMs: number
  readonly #timers = new Map<string, NodeJS.Timeout>()
  readonly #expiring = new Set<Promise<void>>()

  constructor(components: PinDuesComponents, graceMs: number) {
    this.#c = components
    this.#graceMs = graceMs
  }

  /** Whether pins must be paid here: a chain is configured and the price is above zero. */
  get enabled(): boolean {
    return this.#c.ledger?.enabled === true
  }

  async start(): Promise<void> {
    for await (const { key, value } of this.#c.datastore.query({ prefix: OWED })) {
      try {
        const [cid, requester] = key.toString().slice(OWED.length).split('/') as [string, string]
        const owed = JSON.parse(new TextDecoder().decode(value)) as Owed
        this.#schedule(cid, requester, owed.due)
      } catch (err) {
        this.#c.logger.warn({ key: key.toString(), err: (err as Error).message }, 'bad owed-pin record')
      }
    }
  }

  async stop(): Promise<void> {
    for (const t of this.#timers.values()) clearTimeout(t)
    this.#timers.clear()
    await Promise.all([...this.#expiring])
  }

  /** Throws PIN_PAYMENT_REQUIRED when `requester` left a pin unpaid here. */
  async checkRequester(requester: string): Promise<void> {
    const key = new Key(`${DEBT}${requester}`)
    if (!(await this.#c.datastore.has(key))) return
    const debt = JSON.parse(new TextDecoder().decode(await this.#c.datastore.get(key))) as {
      amount: string
      cids: string[]
    }
    throw new PrsmError('PIN_PAYMENT_REQUIRED', `${requester} left ${debt.amount} wei of pins unpaid here`, {
      details: { requester, amount: debt.amount, cids: debt.cids },
    })
  }

  async #owed(key: Key): Promise<Owed | undefined> {
    try {
      return JSON.parse(new TextDecoder().decode(await this.#c.datastore.get(key))) as Owed
    } catch {
      return undefined
    }
  }

  /** Records that `requester` owes `amount` for the pin of `cid`, due within the grace period. */
  async expect(cid: string, requester: string, amount: bigint): Promise<void> {
    // a repeated request while one is unpaid adds to it and does not move the due time
    const earlier = await this.#owed(owedKey(cid, requester))
    const due = earlier?.due ?? Date.now() + this.#graceMs
    const owed: Owed = { amount: (amount + BigInt(earlier?.amount ?? '0')).toString(), due }
    await this.#c.datastore.put(owedKey(cid, requester), new TextEncoder().encode(JSON.stringify(owed)))
    this.#schedule(cid, requester, due)
  }

  /** The answer to a `pin-payment` from `requester`: accepted, or refused with the code. */
  async answer(payment: { cid: string; voucher: unknown }, requester: PeerId): Promise<PinPaid> {
    try {
      const cid = parseCid(payment.cid).toString()
      const paid = await this.accept(cid, requester.toString(), payment.voucher)
      return { ok: true, cid, channel: paid.channel, cumulativeAmount: paid.cumulativeAmount.toString() }
    } catch (err) {
      const code = err instanceof PrsmError ? err.code : 'INTERNAL'
      return { ok: false, code, message: (err as Error).message.slice(0, 500) }
    }
  }

  /** Accepts the payment for a pin owed by `requester` (the voucher must add the amount due). */
  async accept(
    cid: string,
    requester: string,
    voucher: unknown,
  ): Promise<{ channel: Hex; cumulativeAmount: bigint }> {
    const key = owedKey(cid, requester)
    const owed = await this.#owed(key)
    if (owed === undefined)
      throw new PrsmError('PIN_REFUSED', `no payment is due from ${requester} for ${cid}`)
    const { ledger } = this.#c
    if (ledger?.enabled !== true) throw new PrsmError('CHAIN_NOT_CONFIGURED', 'this node takes no payments')
    const accepted = await ledger.payee.acceptVoucher(voucher, { minIncrement: BigInt(owed.amount) })
    await this.#c.datastore.delete(key)
    this.#clear(cid, requester)
    this.#c.logger.info({ cid, requester, amount: owed.amount, channel: accepted.channel }, 'pin paid')
    return { channel: accepted.channel, cumulativeAmount: accepted.cumulativeAmount }
  }

  #schedule(cid: string, requester: string, due: number): void {
    this.#clear(cid, requester)
    const timer = setTimeout(
      () => {
        this.#timers.delete(`${cid}/${requester}`)
        const run = this.#expire(cid, requester).catch((err: Error) =>
          this.#c.logger.warn({ cid, requester, err: err.message }, 'releasing an unpaid pin failed'),
        )
        this.#expiring.add(run)
        void run.then(() => this.#expiring.delete(run))
      },
      Math.max(0, due - Date.now()),
    )
    timer.unref()
    this.#timers.set(`${cid}/${requester}`, timer)
  }

  #clear(cid: string, requester: string): void {
    clearTimeout(this.#timers.get(`${cid}/${requester}`))
    this.#timers.delete(`${cid}/${requester}`)
  }

  /** The grace period is over and the pin is still unpaid: release it and record the debt. */
  async #expire(cid: string, requester: string): Promise<void> {
    const key = owedKey(cid, requester)
    const owed = await this.#owed(key)
    if (owed === undefined) return // paid meanwhile
    const debtKey = new Key(`${DEBT}${requester}`)
    let debt = { amount: '0', cids: [] as string[] }
    try {
      debt = JSON.parse(new TextDecoder().decode(await this.#c.datastore.get(debtKey))) as typeof debt
    } catch {
      // first debt
    }
    debt = {
      amount: (BigInt(debt.amount) + BigInt(owed.amount)).toString(),
      cids: [...new Set([...debt.cids, cid])].slice(-64),
    }
    await this.#c.datastore.put(debtKey, new TextEncoder().encode(JSON.stringify(debt)))
    await this.#c.datastore.delete(key)
    const released = await this.#c.held.releaseFor(cid, requester)
    this.#c.logger.warn(
      { cid, requester, amount: owed.amount, released },
      'pin unpaid after the grace period',
    )
  }
}

function owedKey(cid: string, requester: string): Key {
  return new Key(`${OWED}${cid}/${requester}`)
}
