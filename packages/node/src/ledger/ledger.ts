import { createVoucherVerifier, type Deployment, voucherDomain } from '@prsm/contracts'
import type { Hex } from 'viem'
import { createLedgerChain, type LedgerChain } from './chain.ts'
import { type ChannelCache, type ChannelCacheInit, createChannelCache } from './channel-state.ts'
import { LedgerError } from './errors.ts'
import { createParameterWatcher, type ParameterWatcher, type ParameterWatcherInit } from './parameters.ts'
import { createPayee, type Payee, type PayeeInit } from './payee.ts'
import { createPayer, type Payer, type PayerInit } from './payer.ts'
import { createReconciler, type Reconciler, type ReconcilerInit } from './reconciler.ts'
import { createVoucherJournal, type VoucherJournal } from './voucher-journal.ts'
import { createWallet, type NodeKey, type Wallet } from './wallet.ts'

export interface LedgerInit {
  /** The SQLite journal file (e.g. `<dataDir>/ledger.db`). */
  journalPath: string
  synchronous?: 'FULL' | 'NORMAL'
  payee?: PayeeInit
  payer?: PayerInit
  reconciler?: ReconcilerInit
  parameters?: ParameterWatcherInit
  channels?: ChannelCacheInit
  /** How often to poll for transaction receipts (default 250 ms; a devnet mines instantly). */
  pollingIntervalMs?: number
  /** Run the claim loop (default true; a node that never receives payments may turn it off). */
  reconcile?: boolean
}

export interface LedgerComponents {
  /** The chain to use; without it the ledger is disabled and every paid feature throws CHAIN_NOT_CONFIGURED. */
  deployment?: Deployment
  /** The wallet key from the keystore (required with a deployment). */
  privateKey?: Hex
  /** The node identity, to bind the PeerId when registering as a provider. */
  nodeKey?: NodeKey
  logger?: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void }
}

/**
 * The node's ledger service: wallet, payer and payee sides of payment channels, the claim loop
 * and live network parameters, over one SQLite journal. Without a chain it still constructs
 * (`enabled: false`) and each part throws LedgerError CHAIN_NOT_CONFIGURED when used.
 */
export interface Ledger {
  readonly enabled: boolean
  readonly chain: LedgerChain
  readonly wallet: Wallet
  readonly payer: Payer
  readonly payee: Payee
  readonly reconciler: Reconciler
  readonly parameters: ParameterWatcher
  readonly journal: VoucherJournal
  readonly channels: ChannelCache
  start(options?: { signal?: AbortSignal }): Promise<void>
  stop(): Promise<void>
}

interface Parts {
  chain: LedgerChain
  journal: VoucherJournal
  channels: ChannelCache
  wallet: Wallet
  payer: Payer
  payee: Payee
  reconciler: Reconciler
  parameters: ParameterWatcher
}

export function createLedger(init: LedgerInit, components: LedgerComponents): Ledger {
  let parts: Parts | undefined
  if (components.deployment) {
    if (!components.privateKey) throw new Error('createLedger: a deployment needs the wallet privateKey')
    const chain = createLedgerChain({
      deployment: components.deployment,
      privateKey: components.privateKey,
      ...(init.pollingIntervalMs === undefined ? {} : { pollingIntervalMs: init.pollingIntervalMs }),
    })
    const journal = createVoucherJournal({
      path: init.journalPath,
      ...(init.synchronous ? { synchronous: init.synchronous } : {}),
    })
    const channels = createChannelCache({ chain }, init.channels)
    const verifier = createVoucherVerifier(
      voucherDomain(chain.deployment.chainId, chain.deployment.addresses.channels),
    )
    const logger = components.logger
    parts = {
      chain,
      journal,
      channels,
      wallet: createWallet({ chain, ...(components.nodeKey ? { nodeKey: components.nodeKey } : {}) }),
      payer: createPayer({ chain, journal }, init.payer),
      payee: createPayee({ chain, journal, channels, verifier }, init.payee),
      reconciler: createReconciler(
        { chain, journal, channels, verifier, ...(logger ? { logger } : {}) },
        init.reconciler,
      ),
      parameters: createParameterWatcher({ chain, ...(logger ? { logger } : {}) }, init.parameters),
    }
  }
  const need = <K extends keyof Parts>(key: K): Parts[K] => {
    if (!parts) throw new LedgerError('CHAIN_NOT_CONFIGURED')
    return parts[key]
  }
  let started = false
  return {
    enabled: parts !== undefined,
    get chain() {
      return need('chain')
    },
    get wallet() {
      return need('wallet')
    },
    get payer() {
      return need('payer')
    },
    get payee() {
      return need('payee')
    },
    get reconciler() {
      return need('reconciler')
    },
    get parameters() {
      return need('parameters')
    },
    get journal() {
      return need('journal')
    },
    get channels() {
      return need('channels')
    },
    async start(options = {}) {
      if (!parts || started) return
      started = true
      await parts.parameters.start(options)
      await parts.payer.recover(options)
      if (init.reconcile !== false) parts.reconciler.start()
    },
    async stop() {
      if (!parts) return
      started = false
      parts.parameters.stop()
      await parts.reconciler.stop()
      parts.journal.close()
    },
  }
}
