import { existsSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import {
  type Address,
  type Chain,
  createPublicClient,
  createWalletClient,
  defineChain,
  erc20Abi,
  http,
  publicActions,
} from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { type Anvil, startAnvil } from './anvil.ts'
import { deployAll, FTNS, type GovernanceSettings } from './deploy.ts'
import { type Deployment, readDeployment, writeDeployment } from './deployment.ts'
import type { NetworkParameters } from './parameters.ts'

/** FTNS each development account receives from the faucet. */
export const DEFAULT_DEV_FUNDING = 1_000_000n * FTNS
/** ETH (for gas) sent by `fundFromFaucet` unless told otherwise. */
export const DEFAULT_DEV_ETH = 10n * 10n ** 18n

/** A viem chain description for a deployment (any EVM chain, devnets included). */
export function chainOf(deployment: Pick<Deployment, 'chainId' | 'rpcUrl'>): Chain {
  return defineChain({
    id: deployment.chainId,
    name: deployment.chainId === 31_337 ? 'PRSM devnet' : `chain ${deployment.chainId}`,
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [deployment.rpcUrl] } },
  })
}

export interface DevnetInit {
  /** Directory for the deployment file and the persisted chain state. Without it nothing persists. */
  dir?: string
  /** FTNS sent from the faucet to every development account (default 1,000,000). */
  funding?: bigint
  params?: Partial<NetworkParameters>
  governance?: Partial<GovernanceSettings>
  accounts?: number
  signal?: AbortSignal
}

export interface Devnet {
  deployment: Deployment
  /** Path of the deployment file, when `dir` was given. */
  deploymentFile: string | undefined
  anvil: Anvil
  stop(): Promise<void>
}

/** The deployment file name inside a devnet directory. */
export const DEPLOYMENT_FILE = 'deployment.json'

/**
 * `prsm devnet up`: starts anvil on a free loopback port, deploys every contract (the devnet
 * profile: faucet supply, short governance periods), funds the development accounts from the
 * faucet and writes the deployment file. With `dir`, the chain state persists across restarts and
 * an existing deployment in it is reused.
 */
export async function startDevnet(init: DevnetInit = {}): Promise<Devnet> {
  const stateFile = init.dir === undefined ? undefined : join(init.dir, 'anvil-state.json')
  if (init.dir !== undefined) mkdirSync(init.dir, { recursive: true })
  const anvil = await startAnvil({
    ...(stateFile === undefined ? {} : { stateFile }),
    ...(init.accounts === undefined ? {} : { accounts: init.accounts }),
    ...(init.signal === undefined ? {} : { signal: init.signal }),
  })
  try {
    const deploymentFile = init.dir === undefined ? undefined : join(init.dir, DEPLOYMENT_FILE)
    const [faucet, ...others] = anvil.accounts
    if (!faucet) throw new Error('anvil started without accounts')
    const chain = chainOf(anvil)
    const wallet = createWalletClient({
      account: privateKeyToAccount(faucet.privateKey),
      chain,
      transport: http(anvil.rpcUrl),
    })
    let deployment = deploymentFile === undefined ? undefined : await reuse(deploymentFile, anvil)
    if (!deployment) {
      deployment = await deployAll(wallet, {
        devnet: true,
        rpcUrl: anvil.rpcUrl,
        ...(init.params === undefined ? {} : { params: init.params }),
        ...(init.governance === undefined ? {} : { governance: init.governance }),
        ...(init.signal === undefined ? {} : { signal: init.signal }),
      })
      deployment.devnet = { faucet, accounts: others }
      const client = wallet.extend(publicActions)
      const amount = init.funding ?? DEFAULT_DEV_FUNDING
      for (const account of others) {
        init.signal?.throwIfAborted()
        const hash = await wallet.writeContract({
          address: deployment.addresses.token,
          abi: erc20Abi,
          functionName: 'transfer',
          args: [account.address, amount],
        })
        await client.waitForTransactionReceipt({ hash })
      }
    }
    if (deploymentFile !== undefined) writeDeployment(deploymentFile, deployment)
    return { deployment, deploymentFile, anvil, stop: () => anvil.stop() }
  } catch (err) {
    await anvil.stop()
    throw err
  }
}

/** An existing deployment in a restored devnet state, with the new RPC URL; undefined if stale. */
async function reuse(file: string, anvil: Anvil): Promise<Deployment | undefined> {
  if (!existsSync(file)) return undefined
  const previous = readDeployment(file)
  if (previous.chainId !== anvil.chainId) return undefined
  const client = createPublicClient({ transport: http(anvil.rpcUrl) })
  const code = await client.getCode({ address: previous.addresses.channels })
  if (code === undefined || code === '0x') return undefined
  return { ...previous, rpcUrl: anvil.rpcUrl }
}

export interface FaucetFunding {
  ftns?: bigint
  eth?: bigint
  signal?: AbortSignal
}

/**
 * Sends FTNS and gas money from a devnet's faucet to `to` (for example a node's own wallet when
 * it starts with `--devnet`). Throws on a deployment that is not a devnet.
 */
export async function fundFromFaucet(
  deployment: Deployment,
  to: Address,
  funding: FaucetFunding = {},
): Promise<void> {
  if (!deployment.devnet) throw new Error('not a devnet deployment: it has no faucet')
  const wallet = createWalletClient({
    account: privateKeyToAccount(deployment.devnet.faucet.privateKey),
    chain: chainOf(deployment),
    transport: http(deployment.rpcUrl),
  }).extend(publicActions)
  const eth = funding.eth ?? DEFAULT_DEV_ETH
  const ftns = funding.ftns ?? DEFAULT_DEV_FUNDING
  if (eth > 0n) {
    funding.signal?.throwIfAborted()
    await wallet.waitForTransactionReceipt({ hash: await wallet.sendTransaction({ to, value: eth }) })
  }
  if (ftns > 0n) {
    funding.signal?.throwIfAborted()
    const hash = await wallet.writeContract({
      address: deployment.addresses.token,
      abi: erc20Abi,
      functionName: 'transfer',
      args: [to, ftns],
    })
    await wallet.waitForTransactionReceipt({ hash })
  }
}
