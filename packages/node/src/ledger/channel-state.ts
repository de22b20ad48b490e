import { paymentChannelsAbi } from '@prsm/contracts'
import type { Address, Hex } from 'viem'
import type { LedgerChain } from './chain.ts'
import { chainError } from './chain.ts'

/** A channel as the contract holds it, with when it was read. */
export interface ChannelState {
  id: Hex
  payer: Address
  payee: Address
  deposit: bigint
  claimed: bigint
  expiry: bigint
  royaltyCapBps: bigint
  closed: boolean
  /** Local time (ms) of the read. */
  fetchedAt: number
}

export interface ChannelCacheInit {
  /** Entries older than this are refreshed in the background on use (default 5 s). */
  maxAgeMs?: number
}

/**
 * Channel states read from chain and cached. `get` answers from the cache when it can and
 * refreshes stale entries in the background, so the paid-request path rarely waits on RPC;
 * `refresh: true` forces a read (unknown channel, a voucher above the cached deposit, an expiry
 * that looks near). Also tracks chain time from the latest block seen.
 */
export interface ChannelCache {
  get(id: Hex, options?: { refresh?: boolean; signal?: AbortSignal }): Promise<ChannelState | undefined>
  /** Cached state without I/O. */
  peek(id: Hex): ChannelState | undefined
  /** Estimated current chain time in seconds. */
  chainNow(): bigint
  /** Drops an entry (after our own claim or close changed it). */
  invalidate(id: Hex): void
}

export function createChannelCache(
  components: { chain: Pick<LedgerChain, 'publicClient' | 'deployment'> },
  init: ChannelCacheInit = {},
): ChannelCache {
  const maxAge = init.maxAgeMs ?? 5_000
  const cache = new Map<string, ChannelState>()
  const inflight = new Map<string, Promise<ChannelState | undefined>>()
  let blockTime = BigInt(Math.floor(Date.now() / 1000))
  let blockTimeAt = Date.now()
  const { publicClient, deployment } = components.chain

  const read = (id: string): Promise<ChannelState | undefined> => {
    let p = inflight.get(id)
    if (p) return p
    p = (async () => {
      try {
        const [c, block] = await Promise.all([
          publicClient.readContract({
            address: deployment.addresses.channels,
            abi: paymentChannelsAbi,
            functionName: 'getChannel',
            args: [id as Hex],
          }),
          publicClient.getBlock({ blockTag: 'latest' }),
        ])
        blockTime = block.timestamp
        blockTimeAt = Date.now()
        if (c.payer === '0x0000000000000000000000000000000000000000') {
          cache.delete(id)
          return undefined
        }
        const state: ChannelState = {
          id: id as Hex,
          payer: c.payer,
          payee: c.payee,
          deposit: c.deposit,
          claimed: c.claimed,
          expiry: c.expiry,
          royaltyCapBps: BigInt(c.royaltyCapBps),
          closed: c.closed,
          fetchedAt: Date.now(),
        }
        cache.set(id, state)
        return state
      } catch (cause) {
        throw chainError(cause, 'read channel')
      } finally {
        inflight.delete(id)
      }
    })()
    inflight.set(id, p)
    return p
  }

  return {
    async get(id, options = {}) {
      options.signal?.throwIfAborted()
      const key = id.toLowerCase()
      const cached = cache.get(key)
      if (!cached || options.refresh) return read(key)
      if (Date.now() - cached.fetchedAt > maxAge) read(key).catch(() => {})
      return cached
    },
    peek(id) {
      return cache.get(id.toLowerCase())
    },
    chainNow() {
      return blockTime + BigInt(Math.floor((Date.now() - blockTimeAt) / 1000))
    },
    invalidate(id) {
      cache.delete(id.toLowerCase())
    },
  }
}
