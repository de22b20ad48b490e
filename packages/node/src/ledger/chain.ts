import { chainOf, type Deployment } from '@prsm/contracts'
import {
  type Account,
  type Address,
  type Chain,
  createPublicClient,
  createWalletClient,
  type Hex,
  http,
  type PublicClient,
  type Transport,
  type WalletClient,
} from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { LedgerError } from './errors.ts'

/** The node's connection to a deployment: clients bound to its wallet key. */
export interface LedgerChain {
  deployment: Deployment
  address: Address
  publicClient: PublicClient<Transport, Chain>
  walletClient: WalletClient<Transport, Chain, Account>
  /** The wallet key, for fast voucher signing (never leaves the process). */
  privateKey: Hex
}

export interface LedgerChainInit {
  deployment: Deployment
  /** The node's wallet key from the keystore. */
  privateKey: Hex
  /** Polling interval for receipts (default 250 ms; anvil mines instantly). */
  pollingIntervalMs?: number
}

export function createLedgerChain(init: LedgerChainInit): LedgerChain {
  const chain = chainOf(init.deployment)
  const transport = http(init.deployment.rpcUrl, { retryCount: 2 })
  const account = privateKeyToAccount(init.privateKey)
  const pollingInterval = init.pollingIntervalMs ?? 250
  return {
    deployment: init.deployment,
    address: account.address,
    publicClient: createPublicClient({ chain, transport, pollingInterval }),
    walletClient: createWalletClient({ account, chain, transport, pollingInterval }),
    privateKey: init.privateKey,
  }
}

/** Returns the chain, or throws CHAIN_NOT_CONFIGURED: what paid features answer without a chain. */
export function requireChain(chain: LedgerChain | undefined): LedgerChain {
  if (!chain) throw new LedgerError('CHAIN_NOT_CONFIGURED')
  return chain
}

/** Sends a contract write and waits for its receipt; a revert becomes CHAIN_TX_REVERTED. */
export async function sendTx(
  chain: LedgerChain,
  request: Parameters<LedgerChain['walletClient']['writeContract']>[0],
  options: { signal?: AbortSignal; onSent?: (hash: Hex) => void } = {},
): Promise<{ hash: Hex; gasUsed: bigint; blockNumber: bigint }> {
  options.signal?.throwIfAborted()
  let hash: Hex
  try {
    hash = await chain.walletClient.writeContract(request)
  } catch (cause) {
    throw chainError(cause, String(request.functionName))
  }
  options.onSent?.(hash)
  const receipt = await chain.publicClient.waitForTransactionReceipt({ hash })
  if (receipt.status !== 'success') {
    throw new LedgerError('CHAIN_TX_REVERTED', `${String(request.functionName)} reverted`, {
      details: { hash },
    })
  }
  return { hash, gasUsed: receipt.gasUsed, blockNumber: receipt.blockNumber }
}

/** Maps a viem error to a ledger error: reverts keep their decoded name in details.reason. */
export function chainError(cause: unknown, action: string): LedgerError {
  const e = cause as { name?: string; walk?: (fn: (e: unknown) => boolean) => unknown; shortMessage?: string }
  const revert = e.walk?.((x) => (x as { name?: string }).name === 'ContractFunctionRevertedError') as
    | { data?: { errorName?: string; args?: readonly unknown[] }; reason?: string }
    | undefined
  if (revert) {
    const reason = revert.data?.errorName ?? revert.reason ?? 'unknown'
    return new LedgerError('CHAIN_TX_REVERTED', `${action} reverted: ${reason}`, {
      cause,
      details: { reason, args: (revert.data?.args ?? []).map(String) },
    })
  }
  const http = e.walk?.((x) => {
    const n = (x as { name?: string }).name
    return n === 'HttpRequestError' || n === 'TimeoutError' || n === 'WebSocketRequestError'
  })
  if (http)
    return new LedgerError('CHAIN_UNAVAILABLE', `${action}: ${e.shortMessage ?? 'RPC unreachable'}`, {
      cause,
    })
  return new LedgerError('CHAIN_TX_REVERTED', `${action} failed: ${e.shortMessage ?? String(cause)}`, {
    cause,
  })
}
