import {
  createVoucherVerifier,
  FTNS,
  paymentChannelsAbi,
  toContractVoucher,
  type VoucherVerifier,
  voucherDomain,
} from '@prsm/contracts'
import type { Hex } from 'viem'
import { type LedgerChain, sendTx } from './chain.ts'
import type { ChannelCache } from './channel-state.ts'
import { isLedgerError, LedgerError } from './errors.ts'
import type { JournalledVoucher, VoucherJournal } from './voucher-journal.ts'

export const DEFAULT_RECONCILE_INTERVAL_MS = 15_000
export const DEFAULT_CLAIM_THRESHOLD = 10n * FTNS
export const DEFAULT_CLAIM_EXPIRY_MARGIN_SECONDS = 3_600

export interface ReconcilerInit {
  /** How often the loop runs (default 15 s). */
  intervalMs?: number
  /** Claim once the unclaimed amount reaches this (wei; default 10 FTNS). */
  claimThreshold?: bigint
  /** Claim whatever is unclaimed once expiry is this close (default 1 h). */
  expiryMarginSeconds?: number
}

export interface ReconcilerComponents {
  chain: LedgerChain
  journal: VoucherJournal
  channels: ChannelCache
  verifier?: VoucherVerifier
  logger?: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void }
}

export type ReconcileAction = 'claimed' | 'skipped' | 'settled' | 'expired' | 'failed'

export interface ReconcileResult {
  channel: Hex
  action: ReconcileAction
  cumulativeAmount: bigint
  claimedOnChain: bigint
  txHash?: Hex
  detail?: string
}

/**
 * Settles accepted vouchers on chain. Each pass reads every journalled channel's state from the
 * chain (not from events) and claims the newest voucher when the unclaimed amount passes the
 * threshold or expiry nears. Claims are idempotent: the intent is journalled before sending and
 * the outcome after; a crash in between is resolved by reading the chain's claimed total on the
 * next pass, and the contract rejects any claim that does not increase it.
 */
export interface Reconciler {
  start(): void
  stop(): Promise<void>
  /** One pass over all channels (`force` claims anything unclaimed regardless of threshold). */
  reconcileOnce(options?: { force?: boolean; signal?: AbortSignal }): Promise<ReconcileResult[]>
  /** Claims the newest voucher of one channel now. */
  claim(channel: Hex, options?: { signal?: AbortSignal }): Promise<ReconcileResult>
  /** Claims what is left and closes the channel, refunding the rest to the payer. */
  close(channel: Hex, options?: { signal?: AbortSignal }): Promise<ReconcileResult>
}

export function createReconciler(components: ReconcilerComponents, init: ReconcilerInit = {}): Reconciler {
  const { chain, journal, channels, logger } = components
  const interval = init.intervalMs ?? DEFAULT_RECONCILE_INTERVAL_MS
  const threshold = init.claimThreshold ?? DEFAULT_CLAIM_THRESHOLD
  const margin = BigInt(init.expiryMarginSeconds ?? DEFAULT_CLAIM_EXPIRY_MARGIN_SECONDS)
  const domain = voucherDomain(chain.deployment.chainId, chain.deployment.addresses.channels)
  const verifier = components.verifier ?? createVoucherVerifier(domain)
  const address = chain.deployment.addresses.channels

  let timer: NodeJS.Timeout | undefined
  let running = false
  // Passes and manual claims run one at a time.
  let queue: Promise<unknown> = Promise.resolve()
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const next = queue.then(fn, fn)
    queue = next.catch(() => {})
    return next
  }

  const settleEarlierClaims = (channel: Hex, claimed: bigint): void => {
    for (const c of journal.claims(channel)) {
      if ((c.status === 'pending' || c.status === 'sent') && c.cumulativeAmount <= claimed) {
        journal.recordClaim(channel, c.cumulativeAmount, 'confirmed', c.txHash, 'seen on chain')
      }
    }
  }

  const settle = async (
    v: JournalledVoucher,
    mode: 'auto' | 'force' | 'close',
    signal: AbortSignal | undefined,
  ): Promise<ReconcileResult> => {
    const channel = v.channel
    const state = await channels.get(channel, { refresh: true, ...(signal ? { signal } : {}) })
    const result = (action: ReconcileAction, extra: Partial<ReconcileResult> = {}): ReconcileResult => ({
      channel,
      action,
      cumulativeAmount: v.cumulativeAmount,
      claimedOnChain: state?.claimed ?? 0n,
      ...extra,
    })
    if (!state || state.closed) {
      if (state) settleEarlierClaims(channel, state.claimed)
      journal.markSettled(channel)
      return result('settled')
    }
    settleEarlierClaims(channel, state.claimed)
    const unclaimed = v.cumulativeAmount - state.claimed
    const now = channels.chainNow()
    if (mode !== 'close' && unclaimed <= 0n) return result('skipped')
    if (unclaimed > 0n && now >= state.expiry) {
      journal.recordClaim(
        channel,
        v.cumulativeAmount,
        'failed',
        undefined,
        'channel expired before the claim',
      )
      journal.markSettled(channel)
      logger?.warn({ channel, unclaimed: unclaimed.toString() }, 'channel expired with unclaimed vouchers')
      return result('expired', { detail: 'expired' })
    }
    const due = mode !== 'auto' || unclaimed >= threshold || state.expiry - now <= margin
    if (!due) return result('skipped')

    const contractVoucher =
      unclaimed > 0n
        ? toContractVoucher(v, verifier.chainSignature(v, state.payer))
        : { cumulativeAmount: state.claimed, creators: [], royalties: [], signature: '0x' as Hex }
    if (unclaimed > 0n) journal.recordClaim(channel, v.cumulativeAmount, 'pending')
    try {
      const tx = await sendTx(
        chain,
        {
          address,
          abi: paymentChannelsAbi,
          functionName: mode === 'close' ? 'close' : 'claim',
          args: [channel, contractVoucher],
        },
        {
          ...(signal ? { signal } : {}),
          onSent: (hash) => {
            if (unclaimed > 0n) journal.recordClaim(channel, v.cumulativeAmount, 'sent', hash)
          },
        },
      )
      if (unclaimed > 0n) journal.recordClaim(channel, v.cumulativeAmount, 'confirmed', tx.hash)
      channels.invalidate(channel)
      if (mode === 'close') journal.markSettled(channel)
      logger?.info(
        { channel, cumulativeAmount: v.cumulativeAmount.toString(), tx: tx.hash },
        'voucher claimed',
      )
      return { ...result('claimed', { txHash: tx.hash }), claimedOnChain: v.cumulativeAmount }
    } catch (err) {
      // Whatever happened, the chain decides: re-read the claimed total.
      const after = await channels.get(channel, { refresh: true }).catch(() => undefined)
      if (after && after.claimed >= v.cumulativeAmount && unclaimed > 0n) {
        journal.recordClaim(channel, v.cumulativeAmount, 'confirmed', undefined, 'seen on chain')
        return { ...result('claimed'), claimedOnChain: after.claimed }
      }
      const detail = isLedgerError(err) ? `${err.code}: ${err.message}` : String(err)
      if (unclaimed > 0n) journal.recordClaim(channel, v.cumulativeAmount, 'failed', undefined, detail)
      logger?.warn({ channel, err: detail }, 'claim failed')
      return result('failed', { detail })
    }
  }

  const find = (channel: Hex): JournalledVoucher => {
    const v = journal.newest(channel)
    if (!v)
      throw new LedgerError('CHANNEL_UNKNOWN', 'no accepted voucher on this channel', {
        details: { channel },
      })
    return v
  }

  const reconcileOnce: Reconciler['reconcileOnce'] = (options = {}) =>
    serial(async () => {
      const results: ReconcileResult[] = []
      for (const v of journal.accepted()) {
        options.signal?.throwIfAborted()
        try {
          results.push(await settle(v, options.force ? 'force' : 'auto', options.signal))
        } catch (err) {
          const detail = isLedgerError(err) ? `${err.code}: ${err.message}` : String(err)
          results.push({
            channel: v.channel,
            action: 'failed',
            cumulativeAmount: v.cumulativeAmount,
            claimedOnChain: 0n,
            detail,
          })
        }
      }
      return results
    })

  const loop = async (): Promise<void> => {
    try {
      await reconcileOnce()
    } catch (err) {
      logger?.warn({ err: String(err) }, 'reconcile pass failed')
    }
    if (running) timer = setTimeout(() => void loop(), interval)
  }

  return {
    start() {
      if (running) return
      running = true
      timer = setTimeout(() => void loop(), 0)
    },
    async stop() {
      running = false
      if (timer) clearTimeout(timer)
      await queue
    },
    reconcileOnce,
    claim: (channel, options = {}) => serial(() => settle(find(channel), 'force', options.signal)),
    close: (channel, options = {}) => serial(() => settle(find(channel), 'close', options.signal)),
  }
}
