import { formatFtns, PrsmError } from '@prsm/core'
import { capRoyalties, mulBps } from '@prsm/economics'
import type { Hex } from 'viem'
import type { Ledger } from '../ledger/ledger.ts'
import type { PaymentService } from '../market/payments.ts'

/**
 * The budget of one job. Every payment is reserved here before it is signed; one that would go
 * over the limit throws BUDGET_EXCEEDED and nothing is paid for it (nor after it: the job aborts).
 */
export class Budget {
  readonly limit: bigint | undefined
  #committed = 0n

  constructor(limit: bigint | undefined) {
    this.limit = limit
  }

  get committed(): bigint {
    return this.#committed
  }

  /** What may still be spent (undefined: no limit). */
  get left(): bigint | undefined {
    return this.limit === undefined ? undefined : this.limit - this.#committed
  }

  reserve(amount: bigint, step: string): void {
    if (this.limit !== undefined && this.#committed + amount > this.limit) {
      throw new PrsmError(
        'BUDGET_EXCEEDED',
        `step ${step} needs ${formatFtns(amount)} FTNS but only ${formatFtns(this.limit - this.#committed)} of the budget of ${formatFtns(this.limit)} is left`,
        {
          details: {
            step,
            needed: amount.toString(),
            committed: this.#committed.toString(),
            budget: this.limit.toString(),
          },
        },
      )
    }
    this.#committed += amount
  }

  /** Gives back a reservation that was never paid (a refusal before the voucher was accepted). */
  release(amount: bigint): void {
    this.#committed -= amount
  }
}

/** A manifest's royalty: its creator's wallet and rate. */
export interface RoyaltyRate {
  creator: string
  bps: number
}

/** Royalties of a step: the manifests' rates capped at `capBps` (scaled down) on `amount`. */
export function royaltiesFor(
  amount: bigint,
  rates: readonly RoyaltyRate[],
  capBps: bigint,
): Array<{ creator: string; amount: bigint }> {
  if (amount === 0n || rates.length === 0) return []
  const table = capRoyalties(
    rates.map((r) => ({ creator: r.creator.toLowerCase(), bps: BigInt(r.bps) })),
    capBps,
  )
  return table.rates
    .map((r) => ({
      creator: rates.find((x) => x.creator.toLowerCase() === r.creator)?.creator ?? r.creator,
      amount: mulBps(amount, r.bps),
    }))
    .filter((r) => r.amount > 0n)
}

/** The network fee the channel contract takes from a claimed amount. */
export function networkFee(amount: bigint, feeBps: bigint): bigint {
  return mulBps(amount, feeBps)
}

export interface ChannelKeeperComponents {
  ledger: Pick<Ledger, 'enabled' | 'payer'>
  payments: Pick<PaymentService, 'openChannel' | 'peerOf' | 'pay'>
}

export interface ChannelKeeperInit {
  /** Deposit of a channel opened automatically, wei (raised to what the payment needs). */
  deposit: bigint
  expirySeconds?: number
}

/**
 * Payment channels to providers, opened automatically: the channel this node opened to a peer
 * with room for the next payment, else a top-up, else a new channel with the configured deposit.
 * Opens are serialised; royalties owed on each channel are settled by one
 * voucher whose royalty table carries them.
 */
export class ChannelKeeper {
  readonly #c: ChannelKeeperComponents
  readonly #init: ChannelKeeperInit
  #lock: Promise<unknown> = Promise.resolve()
  /**
   * Per channel: room held by steps in flight. Jobs are paid after delivery, so what they may
   * still cost is not yet signed; providers admit a job only if the escrow covers it beside them.
   */
  readonly #held = new Map<Hex, bigint>()

  constructor(components: ChannelKeeperComponents, init: ChannelKeeperInit) {
    this.#c = components
    this.#init = init
  }

  /** What this node has signed on a channel so far (cumulative), wei. */
  signed(channel: Hex | undefined): bigint {
    if (channel === undefined) return 0n
    return this.#c.ledger.payer.channels().find((c) => c.channel === channel)?.cumulativeAmount ?? 0n
  }

  /** The royalty cap of the channel (fixed at open), basis points. */
  capBps(channel: Hex): bigint {
    return this.#c.ledger.payer.channels().find((c) => c.channel === channel)?.royaltyCapBps ?? 0n
  }

  /**
   * A channel to `provider` with at least `room` wei left beside what steps in flight hold on it
   * (opening or topping up as needed); the room is held until `release(channel, room)`.
   * Serialised for the whole wallet: two opens at once would sign permits with the same nonce.
   */
  ensure(provider: string, room: bigint, options: { signal?: AbortSignal } = {}): Promise<Hex> {
    const next = this.#lock.catch(() => undefined).then(() => this.#ensure(provider, room, options))
    this.#lock = next.catch(() => undefined)
    return next
  }

  async #ensure(provider: string, room: bigint, options: { signal?: AbortSignal }): Promise<Hex> {
    const { ledger, payments } = this.#c
    if (!ledger.enabled) {
      throw new PrsmError('CHAIN_NOT_CONFIGURED', 'paying a provider needs a chain (or use free offers)')
    }
    const left = (c: { channel: Hex; deposit: bigint; cumulativeAmount: bigint }) =>
      c.deposit - c.cumulativeAmount - (this.#held.get(c.channel) ?? 0n)
    const open = ledger.payer
      .channels()
      .filter((c) => !c.closed && payments.peerOf(c.channel) === provider)
      .sort((a, b) => (left(b) > left(a) ? 1 : -1))
    const best = open[0]
    if (best !== undefined && left(best) >= room) return this.#hold(best.channel, room)
    if (best !== undefined) {
      // At least the configured deposit, more when the room missing is larger.
      let amount = this.#init.deposit
      if (room - left(best) > amount) amount = room - left(best)
      await ledger.payer.topUp(best.channel, amount, options)
      return this.#hold(best.channel, room)
    }
    const opened = await payments.openChannel({
      to: provider,
      deposit: room > this.#init.deposit ? room : this.#init.deposit,
      ...(this.#init.expirySeconds === undefined ? {} : { expirySeconds: this.#init.expirySeconds }),
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    })
    return this.#hold(opened.channel, room)
  }

  /** Gives back room held by `ensure` (the step ended: its payment, if any, is signed by now). */
  release(channel: Hex, room: bigint): void {
    const left = (this.#held.get(channel) ?? 0n) - room
    if (left > 0n) this.#held.set(channel, left)
    else this.#held.delete(channel)
  }

  #hold(channel: Hex, room: bigint): Hex {
    this.#held.set(channel, (this.#held.get(channel) ?? 0n) + room)
    return channel
  }

  /**
   * Pays royalties owed on a channel: one voucher adding their total, its royalty table carrying
   * each creator's share (paid to them by the contract when the provider claims).
   */
  async settleRoyalties(
    channel: Hex,
    provider: string,
    royalties: ReadonlyMap<string, bigint>,
    options: { signal?: AbortSignal } = {},
  ): Promise<bigint> {
    const entries = [...royalties]
      .filter(([, amount]) => amount > 0n)
      .map(([creator, amount]) => ({ creator: creator as Hex, amount }))
    const total = entries.reduce((n, e) => n + e.amount, 0n)
    if (total === 0n) return 0n
    await this.#c.payments.pay(channel, total, entries, {
      peer: provider,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    })
    return total
  }
}
