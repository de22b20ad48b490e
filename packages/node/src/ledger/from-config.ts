import { join } from 'node:path'
import { type Deployment, fundFromFaucet, readDeployment } from '@prsm/contracts'
import { type Config, PrsmError } from '@prsm/core'
import type { Hex } from 'viem'
import { isLedgerError } from './errors.ts'
import { createLedger, type Ledger } from './ledger.ts'
import { parseFtns } from './wallet.ts'

/** The ledger's journal inside the data directory. */
export const LEDGER_JOURNAL_FILE = 'ledger.db'

export interface NodeLedgerComponents {
  dataDir: string
  identity: {
    walletKey: Hex
    nodeKey: { sign(data: Uint8Array): Promise<Uint8Array> | Uint8Array }
    peerId: { toMultihash(): { bytes: Uint8Array } }
  }
  logger: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void }
}

/**
 * Reads `config.chain.deployment` (a deployment file), failing with CONFIG_INVALID when it
 * cannot be used; undefined when no chain is configured.
 */
export function deploymentFromConfig(config: Pick<Config, 'chain'>): Deployment | undefined {
  const file = config.chain.deployment
  if (file === '') return undefined
  try {
    return readDeployment(file)
  } catch (err) {
    const reason = [err as Error, (err as Error).cause as Error | undefined]
      .filter((e) => e !== undefined)
      .map((e) => e.message)
      .join(': ')
    throw new PrsmError('CONFIG_INVALID', `invalid configuration at chain.deployment: ${reason}`, {
      cause: err,
      details: { path: 'chain.deployment', reason },
    })
  }
}

/** The node's ledger as the config describes it: journal at `<dataDir>/ledger.db`, wallet key, node key. */
export function ledgerFromConfig(
  config: Pick<Config, 'chain'>,
  deployment: Deployment | undefined,
  components: NodeLedgerComponents,
): Ledger {
  const { identity } = components
  return createLedger(
    {
      journalPath: join(components.dataDir, LEDGER_JOURNAL_FILE),
      reconciler: {
        claimThreshold: parseFtns(config.chain.claimThreshold),
        intervalMs: config.chain.reconcileIntervalMs,
      },
      parameters: { pollIntervalMs: config.chain.parameterPollMs },
      // A devnet mines on every transaction: poll receipts often.
      ...(deployment?.devnet ? { pollingIntervalMs: 50 } : {}),
    },
    {
      ...(deployment ? { deployment, privateKey: identity.walletKey } : {}),
      nodeKey: { peerId: identity.peerId.toMultihash().bytes, sign: (data) => identity.nodeKey.sign(data) },
      logger: components.logger,
    },
  )
}

/** Least ETH (wei) a devnet node keeps for gas before it asks the faucet for more. */
const MIN_DEVNET_GAS = 10n ** 18n

/**
 * On a devnet, tops the node's wallet up from the faucet: gas when it has less than 1 ETH, FTNS
 * when it has none. Several nodes may start at once and race for the faucet's nonce, so a failed
 * transfer is retried.
 */
export async function fundFromDevnetFaucet(
  ledger: Pick<Ledger, 'wallet'>,
  deployment: Deployment,
  options: { signal?: AbortSignal; logger?: NodeLedgerComponents['logger'] } = {},
): Promise<{ eth: bigint; ftns: bigint } | undefined> {
  if (!deployment.devnet) return undefined
  const balance = await ledger.wallet.balance(options.signal ? { signal: options.signal } : {})
  const funding = {
    eth: balance.eth < MIN_DEVNET_GAS ? undefined : 0n,
    ftns: balance.ftns === 0n ? undefined : 0n,
  }
  if (funding.eth === 0n && funding.ftns === 0n) return { eth: 0n, ftns: 0n }
  for (let attempt = 1; ; attempt++) {
    try {
      await fundFromFaucet(deployment, balance.address, {
        ...(funding.eth === undefined ? {} : { eth: funding.eth }),
        ...(funding.ftns === undefined ? {} : { ftns: funding.ftns }),
        ...(options.signal ? { signal: options.signal } : {}),
      })
      break
    } catch (err) {
      if (attempt >= 5 || options.signal?.aborted) {
        throw new PrsmError('CHAIN_UNAVAILABLE', `devnet faucet funding failed: ${(err as Error).message}`, {
          cause: err,
        })
      }
      options.logger?.warn({ attempt, err: (err as Error).message }, 'faucet funding failed, retrying')
      await new Promise((resolve) => setTimeout(resolve, 100 + Math.random() * 400))
      // A transfer that went through before the error must not be repeated.
      const now = await ledger.wallet.balance()
      if (now.eth >= MIN_DEVNET_GAS) funding.eth = 0n
      if (now.ftns > 0n) funding.ftns = 0n
      if (funding.eth === 0n && funding.ftns === 0n) break
    }
  }
  const after = await ledger.wallet.balance()
  options.logger?.info(
    { address: after.address, ftns: after.ftns.toString(), eth: after.eth.toString() },
    'wallet funded from the devnet faucet',
  )
  return { eth: after.eth - balance.eth, ftns: after.ftns - balance.ftns }
}

/**
 * Starts the node's ledger: on a devnet first funds the wallet from the faucet (unless
 * `chain.faucet` is off), then loads the parameters, recovers the payer's channels and starts the
 * claim loop. A chain that cannot be reached fails with CHAIN_UNAVAILABLE naming its RPC URL.
 */
export async function startNodeLedger(
  ledger: Ledger,
  config: Pick<Config, 'chain'>,
  options: { signal?: AbortSignal; logger?: NodeLedgerComponents['logger'] } = {},
): Promise<void> {
  if (!ledger.enabled) return
  const { deployment } = ledger.chain
  try {
    if (deployment.devnet && config.chain.faucet) await fundFromDevnetFaucet(ledger, deployment, options)
    await ledger.start(options.signal ? { signal: options.signal } : {})
  } catch (err) {
    if (!isLedgerError(err, 'CHAIN_UNAVAILABLE')) throw err
    const hint = deployment.devnet ? ' (is prsm devnet up still running?)' : ''
    throw new PrsmError(
      'CHAIN_UNAVAILABLE',
      `the chain at ${deployment.rpcUrl} cannot be reached${hint}: ${err.message}`,
      {
        cause: err,
        details: { rpcUrl: deployment.rpcUrl, chainId: deployment.chainId },
      },
    )
  }
}
