import {
  createVoucherVerifier,
  isCanonicalRoyalties,
  paymentChannelsAbi,
  royaltyTotal,
  type SignedVoucher,
  type VoucherVerifier,
  voucherDomain,
  voucherFromJson,
} from '@prsm/contracts'
import type { Address, Hex } from 'viem'
import type { LedgerChain } from './chain.ts'
import type { ChannelCache, ChannelState } from './channel-state.ts'
import { LedgerError } from './errors.ts'
import type { VoucherJournal } from './voucher-journal.ts'

export interface PayeeInit {
  /** Refuse vouchers on channels expiring within this many seconds (default 300): time to claim. */
  expiryMarginSeconds?: number
  /** Longest royalty table accepted (default 64: the claim's gas grows with it). */
  maxRoyalties?: number
}

export interface PayeeComponents {
  chain: Pick<LedgerChain, 'publicClient' | 'deployment' | 'address'>
  journal: Pick<VoucherJournal, 'newest' | 'accept'>
  channels: ChannelCache
  /** Shared with the reconciler so payer keys are cached once. */
  verifier?: VoucherVerifier
}

export interface AcceptedVoucher {
  channel: Hex
  payer: Address
  cumulativeAmount: bigint
  /** What this voucher adds over the previous accepted one: the payment for this request. */
  increment: bigint
  royaltyIncrement: bigint
}

export interface AcceptOptions {
  /** The price of the request: the voucher must add at least this much (VOUCHER_UNDERPAID). */
  minIncrement?: bigint
  signal?: AbortSignal
}

/**
 * The payee side of payment channels: checks a voucher against the channel on chain and the
 * newest voucher journalled for it, then journals it durably. Only after `acceptVoucher`
 * resolves may the paid work start.
 */
export interface Payee {
  /** Accepts a voucher (object or its JSON form) or throws a LedgerError with a stable code. */
  acceptVoucher(voucher: SignedVoucher | unknown, options?: AcceptOptions): Promise<AcceptedVoucher>
  /** The channel as last read from chain (refreshing if asked). */
  channel(id: Hex, options?: { refresh?: boolean; signal?: AbortSignal }): Promise<ChannelState | undefined>
}

export function createPayee(components: PayeeComponents, init: PayeeInit = {}): Payee {
  const { chain, journal, channels } = components
  const margin = BigInt(init.expiryMarginSeconds ?? 300)
  const maxRoyalties = init.maxRoyalties ?? 64
  const domain = voucherDomain(chain.deployment.chainId, chain.deployment.addresses.channels)
  const verifier = components.verifier ?? createVoucherVerifier(domain)
  const me = chain.address.toLowerCase()

  /** Royalty marks already paid on chain, for a channel with claims but no journalled voucher. */
  const chainRoyalties = async (v: SignedVoucher): Promise<Map<string, bigint>> => {
    const marks = new Map<string, bigint>()
    for (const e of v.royalties) {
      const paid = await chain.publicClient.readContract({
        address: chain.deployment.addresses.channels,
        abi: paymentChannelsAbi,
        functionName: 'royaltyPaid',
        args: [v.channel, e.creator],
      })
      marks.set(e.creator.toLowerCase(), paid)
    }
    return marks
  }

  return {
    channel: (id, options) => channels.get(id, options),

    async acceptVoucher(input, options = {}) {
      let v: SignedVoucher
      try {
        v = isSignedVoucher(input) ? input : voucherFromJson(input, { maxRoyalties })
      } catch (cause) {
        throw new LedgerError('VOUCHER_MALFORMED', (cause as Error).message, { cause })
      }
      if (v.royalties.length > maxRoyalties)
        throw new LedgerError('VOUCHER_MALFORMED', 'royalty table too long')
      if (!/^0x[0-9a-fA-F]{64}$/.test(v.channel) || !isCanonicalRoyalties(v.royalties)) {
        throw new LedgerError('VOUCHER_MALFORMED', 'bad channel id or royalty table not strictly ascending')
      }
      const channelId = v.channel.toLowerCase() as Hex
      const details = { channel: channelId, cumulativeAmount: v.cumulativeAmount.toString() }

      // Channel state: cached, re-read when unknown, when the voucher is above the cached deposit
      // (a top-up) or when the cached expiry looks near (an extension).
      let state = await channels.get(channelId, options.signal ? { signal: options.signal } : {})
      if (state && (v.cumulativeAmount > state.deposit || state.expiry - channels.chainNow() <= margin)) {
        state = await channels.get(channelId, {
          refresh: true,
          ...(options.signal ? { signal: options.signal } : {}),
        })
      }
      if (!state) throw new LedgerError('CHANNEL_UNKNOWN', undefined, { details })
      if (state.payee.toLowerCase() !== me)
        throw new LedgerError('CHANNEL_WRONG_PAYEE', undefined, { details })
      if (state.closed) throw new LedgerError('CHANNEL_CLOSED', undefined, { details })
      const now = channels.chainNow()
      if (state.expiry - now <= margin) {
        throw new LedgerError('CHANNEL_EXPIRED', undefined, {
          details: {
            ...details,
            expiry: Number(state.expiry),
            now: Number(now),
            marginSeconds: Number(margin),
          },
        })
      }
      if (v.cumulativeAmount > state.deposit) {
        throw new LedgerError('VOUCHER_OVER_DEPOSIT', undefined, {
          details: { ...details, deposit: state.deposit.toString() },
        })
      }
      const total = royaltyTotal(v.royalties)
      const cap = (v.cumulativeAmount * state.royaltyCapBps) / 10_000n
      if (total > cap) {
        throw new LedgerError('VOUCHER_ROYALTY_CAP', undefined, {
          details: { ...details, royalties: total.toString(), cap: cap.toString() },
        })
      }
      // Only needed when nothing is journalled but the channel was claimed (lost journal).
      const prior = journal.newest(channelId)
      const marks =
        !prior && state.claimed > 0n && v.royalties.length > 0 ? await chainRoyalties(v) : undefined

      // From here to the journal's reservation there is no await: concurrent vouchers on one
      // channel are checked and ordered one at a time, so monotonicity holds.
      const previous = journal.newest(channelId)
      const base = previous?.cumulativeAmount ?? state.claimed
      if (v.cumulativeAmount <= base) {
        throw new LedgerError('VOUCHER_NOT_MONOTONIC', undefined, {
          details: { ...details, newest: base.toString() },
        })
      }
      const increment = v.cumulativeAmount - base
      if (options.minIncrement !== undefined && increment < options.minIncrement) {
        throw new LedgerError('VOUCHER_UNDERPAID', undefined, {
          details: { ...details, increment: increment.toString(), price: options.minIncrement.toString() },
        })
      }
      const before = new Map<string, bigint>()
      if (previous) for (const e of previous.royalties) before.set(e.creator.toLowerCase(), e.amount)
      else if (marks) for (const [k, a] of marks) before.set(k, a)
      let royaltyIncrement = 0n
      for (const e of v.royalties) {
        const creator = e.creator.toLowerCase()
        const was = before.get(creator) ?? 0n
        if (e.amount < was)
          throw new LedgerError('VOUCHER_ROYALTY_DECREASED', undefined, {
            details: { ...details, creator: e.creator },
          })
        royaltyIncrement += e.amount - was
        before.delete(creator)
      }
      for (const [creator, amount] of before) {
        if (amount > 0n)
          throw new LedgerError('VOUCHER_ROYALTY_DECREASED', 'a creator was dropped', {
            details: { ...details, creator },
          })
      }
      if (royaltyIncrement > increment) {
        throw new LedgerError('VOUCHER_ROYALTY_OVER_PAYMENT', undefined, {
          details: {
            ...details,
            royaltyIncrement: royaltyIncrement.toString(),
            increment: increment.toString(),
          },
        })
      }
      if (!verifier.verify(v, state.payer))
        throw new LedgerError('VOUCHER_BAD_SIGNATURE', undefined, { details })
      // The journal orders this call against concurrent ones synchronously, then commits.
      if (!(await journal.accept({ ...v, channel: channelId }, state.payer))) {
        throw new LedgerError('VOUCHER_NOT_MONOTONIC', undefined, { details })
      }
      return {
        channel: channelId,
        payer: state.payer,
        cumulativeAmount: v.cumulativeAmount,
        increment,
        royaltyIncrement,
      }
    },
  }
}

function isSignedVoucher(v: unknown): v is SignedVoucher {
  const o = v as Partial<SignedVoucher> | null
  return (
    typeof o === 'object' &&
    o !== null &&
    typeof o.cumulativeAmount === 'bigint' &&
    typeof o.channel === 'string' &&
    typeof o.signature === 'string' &&
    Array.isArray(o.royalties) &&
    o.royalties.every((e) => typeof e?.amount === 'bigint' && typeof e.creator === 'string')
  )
}
