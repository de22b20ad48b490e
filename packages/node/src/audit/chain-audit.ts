import { paymentChannelsAbi, providerRegistryAbi } from '@prsm/contracts'
import type { Logger } from 'pino'
import type { Hex } from 'viem'
import type { LedgerChain } from '../ledger/chain.ts'
import type { AuditInput } from './audit-log.ts'

export interface ChainAuditComponents {
  chain: Pick<LedgerChain, 'publicClient' | 'deployment' | 'address'>
  audit: { append(input: AuditInput): unknown }
  logger: Logger
}

export interface ChainAuditInit {
  /** How often new blocks are read (default 5 s). */
  pollMs?: number
}

/**
 * Writes an audit entry for every payment-channel and stake event of this node's wallet seen on
 * chain while the node runs: a channel opened to or by it, a claim, a top-up, a close; a
 * registration, stake added, unbonding, withdrawal, validator flag, slash (category
 * web3_operations). It reads the contracts' logs, so actions taken by any route, the claim loop
 * or another tool with the same wallet are all covered.
 */
export class ChainAudit {
  readonly #c: ChainAuditComponents
  readonly #pollMs: number
  readonly #mine = new Map<Hex, 'payer' | 'payee'>()
  #next = 0n
  #timer: NodeJS.Timeout | undefined
  #running: Promise<void> = Promise.resolve()

  constructor(components: ChainAuditComponents, init: ChainAuditInit = {}) {
    this.#c = components
    this.#pollMs = init.pollMs ?? 5_000
  }

  async start(): Promise<void> {
    const { publicClient, deployment, address } = this.#c.chain
    const head = await publicClient.getBlockNumber()
    // Learn this wallet's channels (opened before this start) without auditing them again.
    const [asPayer, asPayee] = await Promise.all([
      publicClient.getContractEvents({
        address: deployment.addresses.channels,
        abi: paymentChannelsAbi,
        eventName: 'ChannelOpened',
        args: { payer: address },
        fromBlock: deployment.deployBlock,
        toBlock: head,
      }),
      publicClient.getContractEvents({
        address: deployment.addresses.channels,
        abi: paymentChannelsAbi,
        eventName: 'ChannelOpened',
        args: { payee: address },
        fromBlock: deployment.deployBlock,
        toBlock: head,
      }),
    ])
    for (const l of asPayer) if (l.args.id) this.#mine.set(l.args.id, 'payer')
    for (const l of asPayee) if (l.args.id) this.#mine.set(l.args.id, 'payee')
    this.#next = head + 1n
    this.#timer = setInterval(() => {
      this.#running = this.#running.then(() => this.poll()).catch(() => undefined)
    }, this.#pollMs)
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer)
    this.#timer = undefined
    await this.#running
  }

  /** Reads the blocks since the last poll and audits this wallet's channel events. */
  async poll(): Promise<void> {
    const { publicClient, deployment, address } = this.#c.chain
    let head: bigint
    try {
      head = await publicClient.getBlockNumber()
      if (head < this.#next) return
      const logs = await publicClient.getContractEvents({
        address: deployment.addresses.channels,
        abi: paymentChannelsAbi,
        fromBlock: this.#next,
        toBlock: head,
      })
      const me = address.toLowerCase()
      for (const log of logs) {
        const args = log.args as Record<string, unknown> & { id?: Hex }
        if (args.id === undefined) continue
        if (log.eventName === 'ChannelOpened') {
          const payer = String(args.payer).toLowerCase()
          const payee = String(args.payee).toLowerCase()
          if (payer !== me && payee !== me) continue
          this.#mine.set(args.id, payer === me ? 'payer' : 'payee')
        }
        const role = this.#mine.get(args.id)
        if (role === undefined || log.eventName === 'RoyaltyPaid') continue
        this.#c.audit.append({
          category: 'web3_operations',
          type: `channel.${eventType(log.eventName)}`,
          actor: address,
          subject: args.id,
          outcome: 'success',
          risk: log.eventName === 'ChannelClosed' ? 20 : 10,
          details: { role, tx: log.transactionHash, block: String(log.blockNumber), ...plain(args, 'id') },
        })
      }
      const stakes = await publicClient.getContractEvents({
        address: deployment.addresses.providers,
        abi: providerRegistryAbi,
        fromBlock: this.#next,
        toBlock: head,
      })
      for (const log of stakes) {
        const args = log.args as Record<string, unknown>
        if (String(args.provider).toLowerCase() !== me) continue
        const slashed = log.eventName === 'Slashed'
        this.#c.audit.append({
          category: 'web3_operations',
          type: `stake.${STAKE_EVENTS[log.eventName] ?? log.eventName}`,
          actor: address,
          subject: address,
          outcome: slashed ? 'denied' : 'success',
          risk: slashed ? 80 : 10,
          details: { tx: log.transactionHash, block: String(log.blockNumber), ...plain(args, 'provider') },
        })
      }
      this.#next = head + 1n
    } catch (err) {
      this.#c.logger.debug({ err: (err as Error).message }, 'chain audit poll failed')
    }
  }
}

const STAKE_EVENTS: Record<string, string> = {
  Registered: 'registered',
  StakeAdded: 'added',
  UnbondRequested: 'unbond-requested',
  Withdrawn: 'withdrawn',
  ValidatorFlagSet: 'validator-flag',
  Slashed: 'slashed',
}

/** Event arguments as JSON values (bigints as decimal strings), without `omit`. */
function plain(args: Record<string, unknown>, omit: string): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(args)
      .filter(([k]) => k !== omit)
      .map(([k, v]) => [k, typeof v === 'bigint' ? v.toString() : v]),
  )
}

function eventType(name: string): string {
  switch (name) {
    case 'ChannelOpened':
      return 'opened'
    case 'ChannelToppedUp':
      return 'topped-up'
    case 'ChannelExtended':
      return 'extended'
    case 'Claimed':
      return 'claimed'
    case 'ChannelClosed':
      return 'closed'
    default:
      return name
  }
}
