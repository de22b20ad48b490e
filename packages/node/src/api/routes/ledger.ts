import { type ErrorCode, formatFtns, PrsmError } from '@prsm/core'
import { type Address, formatEther, getAddress, type Hex } from 'viem'
import { z } from 'zod'
import type { Ledger } from '../../ledger/ledger.ts'
import type { ReconcileResult } from '../../ledger/reconciler.ts'
import type { PayerChannelRecord } from '../../ledger/voucher-journal.ts'
import type { PaymentService } from '../../market/payments.ts'
import { route } from '../route.ts'
import type { ApiRoutes } from '../server.ts'

/** What the ledger routes need: the node's ledger and its payment protocol. */
export interface LedgerRoutesComponents {
  ledger: Pick<Ledger, 'chain' | 'wallet' | 'payer' | 'payee' | 'reconciler' | 'parameters' | 'journal'>
  payments: Pick<PaymentService, 'openChannel' | 'pay' | 'peerOf'>
}

const address = z.string().regex(/^0x[0-9a-fA-F]{40}$/, 'must be a 0x address')
/** Amounts on the API are wei as decimal strings (the CLI converts FTNS). */
const wei = z
  .string()
  .regex(/^\d{1,78}$/, 'must be an amount in wei (a decimal integer string)')
  .transform((s) => BigInt(s))
  .refine((v) => v > 0n, 'must be positive')
const channelId = z.string().regex(/^0x[0-9a-fA-F]{64}$/, 'must be a channel id (0x + 64 hex digits)')

const OfQuery = z.object({ of: address.optional() }).strict()
const TransferBody = z.object({ to: address, amount: wei }).strict()
const StakeBody = z.object({ amount: wei, validator: z.boolean().optional() }).strict()
const UnbondBody = z.object({ amount: wei }).strict()
const OpenBody = z
  .object({
    to: z.string().min(1).max(128),
    deposit: wei,
    expirySeconds: z
      .number()
      .int()
      .min(60)
      .max(10 * 365 * 86_400)
      .optional(),
  })
  .strict()
const PayBody = z
  .object({
    amount: wei,
    royalties: z
      .array(z.object({ creator: address, amount: wei }).strict())
      .max(64)
      .optional(),
    peer: z.string().max(128).optional(),
  })
  .strict()
const TopUpBody = z.object({ amount: wei }).strict()
const ExtendBody = z
  .object({
    expirySeconds: z
      .number()
      .int()
      .min(60)
      .max(10 * 365 * 86_400),
  })
  .strict()
const ChannelParams = z.object({ id: channelId }).strict()

const Amount = z.object({ wei: z.string(), ftns: z.string() }).strict()
const TxHash = z.string().regex(/^0x[0-9a-fA-F]{64}$/)
const ChainJson = z
  .object({
    chainId: z.number(),
    rpcUrl: z.string(),
    deployBlock: z.string(),
    addresses: z.record(z.string(), z.string()),
    devnet: z.boolean(),
    wallet: z.string(),
  })
  .strict()
const ParametersJson = z
  .object({ version: z.string(), parameters: z.record(z.string(), z.string()) })
  .strict()
const WalletJson = z
  .object({
    address: z.string(),
    chainId: z.number(),
    ftns: Amount,
    eth: z.object({ wei: z.string(), eth: z.string() }).strict(),
  })
  .strict()
const TransferJson = z.object({ from: z.string(), to: z.string(), amount: Amount, txHash: TxHash }).strict()
const StakeJson = z
  .object({
    address: z.string(),
    registered: z.boolean(),
    validator: z.boolean(),
    inValidatorSet: z.boolean(),
    stake: Amount,
    unbonding: Amount,
    unbondingEnd: z.number(),
    minStake: Amount,
    peerId: z.string(),
  })
  .strict()
const Channel = z.looseObject({ channel: z.string(), role: z.enum(['payer', 'payee']) })

const LEDGER_ERRORS: ErrorCode[] = [
  'CHAIN_NOT_CONFIGURED',
  'CHAIN_UNAVAILABLE',
  'CHAIN_TX_REVERTED',
  'WALLET_INSUFFICIENT_FUNDS',
  'CHANNEL_UNKNOWN',
  'CHANNEL_CLOSED',
  'CHANNEL_NOT_OURS',
  'CHANNEL_INSUFFICIENT_FUNDS',
  'PAYEE_UNRESOLVED',
  'STAKE_INVALID',
]

/** An amount in both forms: wei (exact) and decimal FTNS (for people). */
const ftns = (value: bigint): { wei: string; ftns: string } => ({
  wei: value.toString(),
  ftns: formatFtns(value),
})

const iso = (unixSeconds: bigint): string => new Date(Number(unixSeconds) * 1000).toISOString()

function payerChannelJson(record: PayerChannelRecord, peer: string | undefined): Record<string, unknown> {
  return {
    channel: record.channel,
    role: 'payer',
    payee: record.payee,
    peer: peer ?? null,
    deposit: ftns(record.deposit),
    paid: ftns(record.cumulativeAmount),
    remaining: ftns(record.deposit - record.cumulativeAmount),
    royaltyCapBps: Number(record.royaltyCapBps),
    expiry: Number(record.expiry),
    expiresAt: iso(record.expiry),
    closed: record.closed,
  }
}

function reconcileJson(result: ReconcileResult): Record<string, unknown> {
  return {
    channel: result.channel,
    action: result.action,
    cumulativeAmount: ftns(result.cumulativeAmount),
    claimedOnChain: ftns(result.claimedOnChain),
    txHash: result.txHash ?? null,
    ...(result.detail === undefined ? {} : { detail: result.detail }),
  }
}

/**
 * The ledger's routes under /api/v1: chain and parameters, wallet, stake, channels (open, pay,
 * top up, extend, claim, close). Without a chain each answers 503 CHAIN_NOT_CONFIGURED. Amounts
 * go in as wei strings and come out as `{ wei, ftns }`.
 */
export function ledgerRoutes(components: LedgerRoutesComponents): ApiRoutes {
  const { ledger, payments } = components
  return (app) => {
    route(app, {
      method: 'GET',
      url: '/api/v1/chain',
      summary: "The chain, contract addresses and this node's wallet",
      tags: ['ledger'],
      permission: 'wallet:read',
      responses: { 200: ChainJson },
      errors: LEDGER_ERRORS,
      handler: async () => {
        const { deployment, address: wallet } = ledger.chain
        return {
          chainId: deployment.chainId,
          rpcUrl: deployment.rpcUrl,
          deployBlock: deployment.deployBlock.toString(),
          addresses: deployment.addresses,
          devnet: deployment.devnet !== undefined,
          wallet,
        }
      },
    })

    route(app, {
      method: 'GET',
      url: '/api/v1/chain/parameters',
      summary: 'Current network parameters (governed)',
      tags: ['ledger'],
      permission: 'wallet:read',
      responses: { 200: ParametersJson },
      errors: LEDGER_ERRORS,
      handler: async () => {
        const snapshot = ledger.parameters.current()
        return {
          version: snapshot.version.toString(),
          parameters: Object.fromEntries(Object.entries(snapshot.values).map(([k, v]) => [k, v.toString()])),
        }
      },
    })

    route(app, {
      method: 'GET',
      url: '/api/v1/wallet',
      summary: 'FTNS and ETH balance (of this node or ?of=ADDRESS)',
      tags: ['ledger'],
      permission: 'wallet:read',
      query: OfQuery,
      responses: { 200: WalletJson },
      errors: LEDGER_ERRORS,
      handler: async ({ query }) => {
        const { of } = query
        const balance = await ledger.wallet.balance(of === undefined ? {} : { of: getAddress(of) })
        return {
          address: balance.address,
          chainId: ledger.chain.deployment.chainId,
          ftns: ftns(balance.ftns),
          eth: { wei: balance.eth.toString(), eth: formatEther(balance.eth) },
        }
      },
    })

    route(app, {
      method: 'POST',
      url: '/api/v1/wallet/transfer',
      summary: 'Transfer FTNS from the node wallet',
      tags: ['ledger'],
      permission: 'wallet:operate',
      body: TransferBody,
      responses: { 200: TransferJson },
      errors: LEDGER_ERRORS,
      cost: ({ body }) => body.amount,
      handler: async ({ body }) => {
        const tx = await ledger.wallet.transfer(getAddress(body.to), body.amount)
        return {
          from: ledger.wallet.address,
          to: getAddress(body.to),
          amount: ftns(body.amount),
          txHash: tx.hash,
        }
      },
    })

    route(app, {
      method: 'GET',
      url: '/api/v1/stake',
      summary: 'Stake, unbonding and registration',
      tags: ['ledger'],
      permission: 'wallet:read',
      query: OfQuery,
      responses: { 200: StakeJson },
      errors: LEDGER_ERRORS,
      handler: async ({ query }) => {
        const { of } = query
        const s = await ledger.wallet.stakeStatus(of === undefined ? {} : { of: getAddress(of) })
        return {
          address: s.address,
          registered: s.registered,
          validator: s.validator,
          inValidatorSet: s.inValidatorSet,
          stake: ftns(s.stake),
          unbonding: ftns(s.unbonding),
          unbondingEnd: Number(s.unbondingEnd),
          minStake: ftns(ledger.parameters.get('minStake')),
          peerId: s.peerId,
        }
      },
    })

    route(app, {
      method: 'POST',
      url: '/api/v1/stake',
      summary: 'Add stake (registers the node as a provider)',
      tags: ['ledger'],
      permission: 'wallet:operate',
      body: StakeBody,
      responses: { 200: z.object({ added: Amount, registered: z.boolean(), txHash: TxHash }).strict() },
      errors: LEDGER_ERRORS,
      handler: async ({ body }) => {
        // the registry's rules, checked first: a request that must revert is bad input, not a chain failure
        const s = await ledger.wallet.stakeStatus()
        const minStake = ledger.parameters.get('minStake')
        if (!s.registered && s.stake + body.amount < minStake) {
          throw new PrsmError(
            'STAKE_INVALID',
            `registering needs at least the minimum stake (${formatFtns(minStake)} FTNS)`,
            {
              details: { minStakeWei: minStake.toString(), amountWei: body.amount.toString() },
            },
          )
        }
        const tx = await ledger.wallet.stakeAdd(body.amount, { validator: body.validator ?? false })
        return { added: ftns(body.amount), registered: tx.registered, txHash: tx.hash }
      },
    })

    route(app, {
      method: 'POST',
      url: '/api/v1/stake/unbond',
      summary: 'Start unbonding stake',
      tags: ['ledger'],
      permission: 'wallet:operate',
      body: UnbondBody,
      responses: {
        200: z
          .object({ unbonding: Amount, unbondingEnd: z.number(), withdrawableAt: z.string(), txHash: TxHash })
          .strict(),
      },
      errors: LEDGER_ERRORS,
      handler: async ({ body }) => {
        const s = await ledger.wallet.stakeStatus()
        const minStake = ledger.parameters.get('minStake')
        const rest = s.stake - body.amount
        if (!s.registered || rest < 0n || (rest !== 0n && rest < minStake)) {
          throw new PrsmError(
            'STAKE_INVALID',
            !s.registered
              ? 'this node is not registered as a provider'
              : `unbond all of the stake or keep at least the minimum (${formatFtns(minStake)} FTNS)`,
            { details: { stakeWei: s.stake.toString(), minStakeWei: minStake.toString() } },
          )
        }
        const tx = await ledger.wallet.stakeUnbond(body.amount)
        return {
          unbonding: ftns(body.amount),
          unbondingEnd: Number(tx.unbondingEnd),
          withdrawableAt: iso(tx.unbondingEnd),
          txHash: tx.hash,
        }
      },
    })

    route(app, {
      method: 'POST',
      url: '/api/v1/stake/withdraw',
      summary: 'Withdraw stake after the unbonding period',
      tags: ['ledger'],
      permission: 'wallet:operate',
      responses: { 200: z.object({ withdrawn: Amount, txHash: TxHash }).strict() },
      errors: LEDGER_ERRORS,
      handler: async () => {
        const s = await ledger.wallet.stakeStatus()
        if (s.unbonding === 0n) {
          throw new PrsmError(
            'STAKE_INVALID',
            'nothing is unbonding: unbond some stake first (prsm stake unbond)',
          )
        }
        const block = await ledger.chain.publicClient.getBlock({ blockTag: 'latest' })
        if (block.timestamp < s.unbondingEnd) {
          throw new PrsmError('STAKE_INVALID', `the unbonding period ends at ${iso(s.unbondingEnd)}`, {
            details: { unbondingEnd: Number(s.unbondingEnd), now: Number(block.timestamp) },
          })
        }
        const tx = await ledger.wallet.stakeWithdraw()
        return { withdrawn: ftns(tx.amount), txHash: tx.hash }
      },
    })

    route(app, {
      method: 'GET',
      url: '/api/v1/channels',
      summary: 'Payment channels this node pays on or is paid on',
      tags: ['ledger'],
      permission: 'wallet:read',
      responses: { 200: z.object({ channels: z.array(Channel) }).strict() },
      errors: LEDGER_ERRORS,
      handler: async () => {
        // Open channels are re-read from chain: the payee may have closed them.
        const records = await Promise.all(
          ledger.payer.channels().map((r) => (r.closed ? r : ledger.payer.refresh(r.channel).catch(() => r))),
        )
        const payer = records.map((r) => payerChannelJson(r, payments.peerOf(r.channel)))
        const payee = await Promise.all(
          ledger.journal.accepted().map(async (v) => {
            const state = await ledger.payee.channel(v.channel, { refresh: true })
            const claimed = state?.claimed ?? 0n
            return {
              channel: v.channel,
              role: 'payee',
              payer: v.payer,
              received: ftns(v.cumulativeAmount),
              claimed: ftns(claimed),
              unclaimed: ftns(v.cumulativeAmount > claimed ? v.cumulativeAmount - claimed : 0n),
              deposit: state ? ftns(state.deposit) : null,
              expiry: state ? Number(state.expiry) : null,
              expiresAt: state ? iso(state.expiry) : null,
              closed: state?.closed ?? false,
            }
          }),
        )
        return { channels: [...payer, ...payee] }
      },
    })

    route(app, {
      method: 'POST',
      url: '/api/v1/channels',
      summary: 'Open a payment channel to a provider (deposit from the wallet)',
      tags: ['ledger'],
      permission: 'channels:write',
      body: OpenBody,
      responses: { 200: z.looseObject({}) },
      errors: LEDGER_ERRORS,
      cost: ({ body }) => body.deposit,
      handler: async ({ body }) => {
        const opened = await payments.openChannel({
          to: body.to,
          deposit: body.deposit,
          ...(body.expirySeconds === undefined ? {} : { expirySeconds: body.expirySeconds }),
        })
        return {
          ...payerChannelJson(opened, opened.peer),
          txHash: opened.tx.hash,
          gasUsed: opened.tx.gasUsed.toString(),
        }
      },
    })

    route(app, {
      method: 'POST',
      url: '/api/v1/channels/:id/pay',
      summary: 'Pay on a channel (a signed voucher sent to the payee)',
      tags: ['ledger'],
      permission: 'channels:write',
      params: ChannelParams,
      body: PayBody,
      responses: { 200: z.looseObject({}) },
      errors: LEDGER_ERRORS,
      handler: async ({ body, params }) => {
        const { id } = params
        const receipt = await payments.pay(
          id as Hex,
          body.amount,
          (body.royalties ?? []).map((r) => ({
            creator: getAddress(r.creator) as Address,
            amount: r.amount,
          })),
          body.peer === undefined ? {} : { peer: body.peer },
        )
        return {
          channel: receipt.channel,
          peer: receipt.peer,
          payee: receipt.payee,
          amount: ftns(body.amount),
          increment: ftns(receipt.increment),
          cumulativeAmount: ftns(receipt.cumulativeAmount),
        }
      },
    })

    /** A payer channel as it stands after one of its transactions. */
    const afterTx = (id: string, txHash: Hex) => {
      const record = ledger.payer.channels().find((c) => c.channel.toLowerCase() === id.toLowerCase())
      return {
        ...(record ? payerChannelJson(record, payments.peerOf(record.channel)) : { channel: id }),
        txHash,
      }
    }

    route(app, {
      method: 'POST',
      url: '/api/v1/channels/:id/topup',
      summary: 'Add to a channel deposit',
      tags: ['ledger'],
      permission: 'channels:write',
      params: ChannelParams,
      body: TopUpBody,
      responses: { 200: z.looseObject({}) },
      errors: LEDGER_ERRORS,
      cost: ({ body }) => body.amount,
      handler: async ({ body, params }) => {
        const { id } = params
        const tx = await ledger.payer.topUp(id as Hex, body.amount)
        return afterTx(id, tx.hash)
      },
    })

    route(app, {
      method: 'POST',
      url: '/api/v1/channels/:id/extend',
      summary: "Extend a channel's expiry",
      tags: ['ledger'],
      permission: 'channels:write',
      params: ChannelParams,
      body: ExtendBody,
      responses: { 200: z.looseObject({}) },
      errors: LEDGER_ERRORS,
      handler: async ({ body, params }) => {
        const { id } = params
        const block = await ledger.chain.publicClient.getBlock({ blockTag: 'latest' })
        const tx = await ledger.payer.extend(id as Hex, block.timestamp + BigInt(body.expirySeconds))
        return afterTx(id, tx.hash)
      },
    })

    route(app, {
      method: 'POST',
      url: '/api/v1/channels/:id/claim',
      summary: 'Claim the newest voucher on chain (payee)',
      tags: ['ledger'],
      permission: 'wallet:operate',
      params: ChannelParams,
      responses: { 200: z.looseObject({}) },
      errors: LEDGER_ERRORS,
      handler: async ({ params }) => {
        const { id } = params
        return reconcileJson(await ledger.reconciler.claim(id.toLowerCase() as Hex))
      },
    })

    // The payee closes (a final claim, the rest back to the payer); the payer reclaims after expiry.
    route(app, {
      method: 'POST',
      url: '/api/v1/channels/:id/close',
      summary: 'Close (payee) or reclaim after expiry (payer)',
      tags: ['ledger'],
      permission: 'wallet:operate',
      params: ChannelParams,
      responses: { 200: z.looseObject({}) },
      errors: LEDGER_ERRORS,
      handler: async ({ params }) => {
        const { id } = params
        const channel = id.toLowerCase() as Hex
        if (ledger.journal.newest(channel) !== undefined) {
          const result = reconcileJson(await ledger.reconciler.close(channel))
          return result.action === 'claimed' ? { ...result, action: 'closed' } : result
        }
        const record = ledger.payer.channels().find((c) => c.channel.toLowerCase() === channel)
        if (!record)
          throw new PrsmError('CHANNEL_UNKNOWN', 'this node is neither payer nor paid on the channel')
        const block = await ledger.chain.publicClient.getBlock({ blockTag: 'latest' })
        if (block.timestamp < record.expiry) {
          throw new PrsmError(
            'VALIDATION_FAILED',
            `the payer can take the deposit back only from expiry (${iso(record.expiry)}); the payee can close at any time`,
            { details: { channel, expiry: Number(record.expiry) } },
          )
        }
        const tx = await ledger.payer.reclaim(record.channel)
        return { channel, action: 'reclaimed', refunded: ftns(tx.refunded), txHash: tx.hash }
      },
    })
  }
}
