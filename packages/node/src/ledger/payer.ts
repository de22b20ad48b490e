import { randomBytes } from 'node:crypto'
import {
  ftnsTokenAbi,
  normalizeRoyalties,
  PERMIT_TYPES,
  paymentChannelsAbi,
  type RoyaltyEntry,
  royaltyTotal,
  type SignedVoucher,
  signVoucher,
  voucherDomain,
} from '@prsm/contracts'
import { type Address, getAddress, type Hex, parseSignature } from 'viem'
import { chainError, type LedgerChain, sendTx } from './chain.ts'
import { LedgerError } from './errors.ts'
import type { PayerChannelRecord, VoucherJournal } from './voucher-journal.ts'

/** Default channel lifetime when none is given: 7 days. */
export const DEFAULT_CHANNEL_EXPIRY_SECONDS = 7 * 24 * 3600

export interface PayerInit {
  defaultExpirySeconds?: number
}

export interface PayerComponents {
  chain: LedgerChain
  journal: Pick<VoucherJournal, 'payerChannel' | 'payerChannels' | 'savePayerChannel' | 'recordSigned'>
}

export interface OpenChannelOptions {
  payee: Address
  deposit: bigint
  /** Lifetime in seconds from now (default 7 days). */
  expirySeconds?: number
  /** Channel salt (default random). */
  salt?: Hex
  signal?: AbortSignal
}

export interface TxResult {
  hash: Hex
  gasUsed: bigint
}

/**
 * The payer side: opens channels (one transaction, with an EIP-2612 permit), signs strictly
 * increasing vouchers, tops up, extends and reclaims. Every signed voucher is journalled before
 * it is returned, so a restart continues above it and never signs a lower amount.
 */
export interface Payer {
  openChannel(options: OpenChannelOptions): Promise<PayerChannelRecord & { tx: TxResult }>
  /**
   * Signs the next voucher on `channel`: the cumulative amount grows by `amount`, and each
   * creator's cumulative royalty by its entry in `royalties` (part of `amount`, not on top).
   * Synchronous and journalled: safe to call concurrently for the same channel.
   */
  pay(channel: Hex, amount: bigint, royalties?: readonly RoyaltyEntry[]): SignedVoucher
  topUp(channel: Hex, amount: bigint, options?: { signal?: AbortSignal }): Promise<TxResult>
  /** Moves the expiry to `expiry` (unix seconds). */
  extend(channel: Hex, expiry: bigint, options?: { signal?: AbortSignal }): Promise<TxResult>
  /** After expiry: takes back what the payee has not claimed and closes the channel. */
  reclaim(channel: Hex, options?: { signal?: AbortSignal }): Promise<TxResult & { refunded: bigint }>
  channels(): PayerChannelRecord[]
  /** Re-reads deposit, expiry and closed from chain into the journal. */
  refresh(channel: Hex, options?: { signal?: AbortSignal }): Promise<PayerChannelRecord>
  /** Adds channels opened by this wallet that the journal lacks (e.g. a crash right after open). */
  recover(options?: { signal?: AbortSignal }): Promise<number>
}

/**
 * Channel opens in flight per wallet (chain id + address), process-wide: an open reads the
 * token's permit nonce and signs a permit with it, so two opens at once from one wallet would sign
 * the same nonce and the second `openWithPermit` would revert. Opens wait for each other.
 */
const opening = new Map<string, Promise<unknown>>()

function serialisePerWallet<T>(wallet: string, run: () => Promise<T>): Promise<T> {
  const previous = opening.get(wallet) ?? Promise.resolve()
  const next = previous.then(run, run)
  const tail = next.catch(() => undefined)
  opening.set(wallet, tail)
  void tail.then(() => {
    if (opening.get(wallet) === tail) opening.delete(wallet)
  })
  return next
}

export function createPayer(components: PayerComponents, init: PayerInit = {}): Payer {
  const { chain, journal } = components
  const { addresses, chainId } = chain.deployment
  const domain = voucherDomain(chainId, addresses.channels)

  const mine = (channel: Hex): PayerChannelRecord => {
    const record = journal.payerChannel(channel)
    if (!record) throw new LedgerError('CHANNEL_NOT_OURS', undefined, { details: { channel } })
    return record
  }

  const readChannel = async (id: Hex) => {
    try {
      return await chain.publicClient.readContract({
        address: addresses.channels,
        abi: paymentChannelsAbi,
        functionName: 'getChannel',
        args: [id],
      })
    } catch (cause) {
      throw chainError(cause, 'read channel')
    }
  }

  const refresh: Payer['refresh'] = async (channel, options = {}) => {
    options.signal?.throwIfAborted()
    const record = mine(channel)
    const c = await readChannel(record.channel)
    const updated = { ...record, deposit: c.deposit, expiry: c.expiry, closed: c.closed }
    journal.savePayerChannel(updated)
    return journal.payerChannel(channel) ?? updated
  }

  const wallet = `${chainId}:${chain.address.toLowerCase()}`

  const openChannel = async (options: OpenChannelOptions) => {
    options.signal?.throwIfAborted()
    const payee = getAddress(options.payee)
    const salt = options.salt ?? (`0x${randomBytes(32).toString('hex')}` as Hex)
    const block = await chain.publicClient.getBlock({ blockTag: 'latest' })
    const expiry =
      block.timestamp +
      BigInt(options.expirySeconds ?? init.defaultExpirySeconds ?? DEFAULT_CHANNEL_EXPIRY_SECONDS)
    const [balance, nonce, name] = await Promise.all([
      chain.publicClient.readContract({
        address: addresses.token,
        abi: ftnsTokenAbi,
        functionName: 'balanceOf',
        args: [chain.address],
      }),
      chain.publicClient.readContract({
        address: addresses.token,
        abi: ftnsTokenAbi,
        functionName: 'nonces',
        args: [chain.address],
      }),
      chain.publicClient.readContract({
        address: addresses.token,
        abi: ftnsTokenAbi,
        functionName: 'name',
      }),
    ])
    if (balance < options.deposit) {
      throw new LedgerError('WALLET_INSUFFICIENT_FUNDS', undefined, {
        details: { balance: balance.toString(), needed: options.deposit.toString() },
      })
    }
    const deadline = expiry
    const permit = parseSignature(
      await chain.walletClient.signTypedData({
        domain: { name, version: '1', chainId, verifyingContract: addresses.token },
        types: PERMIT_TYPES,
        primaryType: 'Permit',
        message: {
          owner: chain.address,
          spender: addresses.channels,
          value: options.deposit,
          nonce,
          deadline,
        },
      }),
    )
    const id = await chain.publicClient.readContract({
      address: addresses.channels,
      abi: paymentChannelsAbi,
      functionName: 'channelId',
      args: [chain.address, payee, salt],
    })
    const tx = await sendTx(
      chain,
      {
        address: addresses.channels,
        abi: paymentChannelsAbi,
        functionName: 'openWithPermit',
        args: [payee, options.deposit, expiry, salt, deadline, Number(permit.v ?? 27n), permit.r, permit.s],
      },
      options.signal ? { signal: options.signal } : {},
    )
    const c = await readChannel(id)
    const record: PayerChannelRecord = {
      channel: id,
      payee,
      deposit: c.deposit,
      expiry: c.expiry,
      royaltyCapBps: BigInt(c.royaltyCapBps),
      cumulativeAmount: 0n,
      royalties: [],
      signature: undefined,
      closed: c.closed,
    }
    journal.savePayerChannel(record)
    return { ...record, tx: { hash: tx.hash, gasUsed: tx.gasUsed } }
  }

  return {
    openChannel(options) {
      if (options.deposit <= 0n) {
        return Promise.reject(new LedgerError('AMOUNT_INVALID', 'deposit must be positive'))
      }
      return serialisePerWallet(wallet, () => openChannel(options))
    },

    pay(channel, amount, royalties = []) {
      if (amount <= 0n) throw new LedgerError('AMOUNT_INVALID', 'payment amount must be positive')
      const record = mine(channel)
      if (record.closed) throw new LedgerError('CHANNEL_CLOSED', undefined, { details: { channel } })
      const cumulativeAmount = record.cumulativeAmount + amount
      if (cumulativeAmount > record.deposit) {
        throw new LedgerError('CHANNEL_INSUFFICIENT_FUNDS', undefined, {
          details: { channel, deposit: record.deposit.toString(), needed: cumulativeAmount.toString() },
        })
      }
      const merged = new Map<string, RoyaltyEntry>()
      for (const e of record.royalties) merged.set(e.creator.toLowerCase(), { ...e })
      let added = 0n
      for (const e of royalties) {
        if (e.amount < 0n) throw new LedgerError('VOUCHER_MALFORMED', 'negative royalty')
        added += e.amount
        const key = e.creator.toLowerCase()
        const prev = merged.get(key)
        merged.set(key, { creator: e.creator, amount: (prev?.amount ?? 0n) + e.amount })
      }
      if (added > amount)
        throw new LedgerError('VOUCHER_ROYALTY_OVER_PAYMENT', undefined, { details: { channel } })
      const table = normalizeRoyalties([...merged.values()])
      if (royaltyTotal(table) * 10_000n > cumulativeAmount * record.royaltyCapBps) {
        throw new LedgerError('VOUCHER_ROYALTY_CAP', undefined, { details: { channel } })
      }
      const voucher = signVoucher(
        { channel: record.channel, cumulativeAmount, royalties: table },
        { domain, privateKey: chain.privateKey },
      )
      if (!journal.recordSigned(record.channel, voucher)) {
        // Another call signed concurrently at or above this amount; never hand out a lower one.
        throw new LedgerError('VOUCHER_NOT_MONOTONIC', undefined, { details: { channel } })
      }
      return voucher
    },

    async topUp(channel, amount, options = {}) {
      const record = mine(channel)
      const { token, channels } = addresses
      const allowance = await chain.publicClient.readContract({
        address: token,
        abi: ftnsTokenAbi,
        functionName: 'allowance',
        args: [chain.address, channels],
      })
      const opts = options.signal ? { signal: options.signal } : {}
      if (allowance < amount) {
        await sendTx(
          chain,
          { address: token, abi: ftnsTokenAbi, functionName: 'approve', args: [channels, amount] },
          opts,
        )
      }
      const tx = await sendTx(
        chain,
        { address: channels, abi: paymentChannelsAbi, functionName: 'topUp', args: [record.channel, amount] },
        opts,
      )
      await refresh(channel)
      return { hash: tx.hash, gasUsed: tx.gasUsed }
    },

    async extend(channel, expiry, options = {}) {
      const record = mine(channel)
      const tx = await sendTx(
        chain,
        {
          address: addresses.channels,
          abi: paymentChannelsAbi,
          functionName: 'extend',
          args: [record.channel, expiry],
        },
        options.signal ? { signal: options.signal } : {},
      )
      await refresh(channel)
      return { hash: tx.hash, gasUsed: tx.gasUsed }
    },

    async reclaim(channel, options = {}) {
      const record = mine(channel)
      const before = await readChannel(record.channel)
      const tx = await sendTx(
        chain,
        {
          address: addresses.channels,
          abi: paymentChannelsAbi,
          functionName: 'reclaim',
          args: [record.channel],
        },
        options.signal ? { signal: options.signal } : {},
      )
      await refresh(channel)
      return { hash: tx.hash, gasUsed: tx.gasUsed, refunded: before.deposit - before.claimed }
    },

    channels: () => journal.payerChannels(),
    refresh,

    async recover(options = {}) {
      options.signal?.throwIfAborted()
      const logs = await chain.publicClient.getContractEvents({
        address: addresses.channels,
        abi: paymentChannelsAbi,
        eventName: 'ChannelOpened',
        args: { payer: chain.address },
        fromBlock: chain.deployment.deployBlock,
      })
      let added = 0
      for (const log of logs) {
        const { id, payee, deposit, expiry, royaltyCapBps } = log.args
        if (!id || !payee || journal.payerChannel(id)) continue
        journal.savePayerChannel({
          channel: id,
          payee,
          deposit: deposit ?? 0n,
          expiry: expiry ?? 0n,
          royaltyCapBps: BigInt(royaltyCapBps ?? 0),
          cumulativeAmount: 0n,
          royalties: [],
          signature: undefined,
          closed: false,
        })
        await refresh(id)
        added++
      }
      return added
    },
  }
}
