import {
  type Abi,
  type Account,
  type Address,
  type Chain,
  type Hex,
  publicActions,
  type Transport,
  type WalletClient,
  zeroAddress,
} from 'viem'
import type { Deployment, DeploymentAddresses } from './deployment.ts'
import { DEPLOYMENT_FORMAT } from './deployment.ts'
import { ftnsTokenAbi, ftnsTokenBytecode } from './generated/FTNSToken.ts'
import { parameterRegistryAbi, parameterRegistryBytecode } from './generated/ParameterRegistry.ts'
import { paymentChannelsAbi, paymentChannelsBytecode } from './generated/PaymentChannels.ts'
import { prsmGovernorAbi, prsmGovernorBytecode } from './generated/PRSMGovernor.ts'
import { prsmTimelockAbi, prsmTimelockBytecode } from './generated/PRSMTimelock.ts'
import { providerRegistryAbi, providerRegistryBytecode } from './generated/ProviderRegistry.ts'
import {
  DEFAULT_PARAMETERS,
  DEVNET_PARAMETERS,
  type NetworkParameters,
  PARAMETER_NAMES,
  parameterKey,
} from './parameters.ts'

/** One FTNS in wei (18 decimals). */
export const FTNS = 10n ** 18n

export interface GovernanceSettings {
  /** Seconds between a proposal and the start of voting. */
  votingDelay: number
  /** Seconds voting stays open. */
  votingPeriod: number
  /** Votes needed to make a proposal (wei). */
  proposalThreshold: bigint
  /** Quorum as a percentage of the total supply at the proposal's snapshot. */
  quorumPercent: bigint
  /** Timelock minimum delay in seconds between queue and execute. */
  timelockDelay: bigint
}

export const DEFAULT_GOVERNANCE: GovernanceSettings = {
  votingDelay: 24 * 3600,
  votingPeriod: 7 * 24 * 3600,
  proposalThreshold: 10_000n * FTNS,
  quorumPercent: 4n,
  timelockDelay: 2n * 24n * 3600n,
}

export const DEVNET_GOVERNANCE: GovernanceSettings = {
  votingDelay: 1,
  votingPeriod: 120,
  proposalThreshold: 0n,
  quorumPercent: 4n,
  timelockDelay: 60n,
}

/** Initial supply minted to the treasury (the timelock). */
export const DEFAULT_TREASURY_SUPPLY = 1_000_000_000n * FTNS
/** Initial supply minted to the faucet on development networks. */
export const DEFAULT_FAUCET_SUPPLY = 100_000_000n * FTNS

export interface DeployOptions {
  /** A development network: mint a faucet supply to `faucet` (default: the deployer). */
  devnet: boolean
  /** Network parameters (defaults: DEVNET_PARAMETERS or DEFAULT_PARAMETERS). */
  params?: Partial<NetworkParameters>
  governance?: Partial<GovernanceSettings>
  treasurySupply?: bigint
  faucetSupply?: bigint
  faucet?: Address
  /** Recorded in the deployment (default: the client's transport URL). */
  rpcUrl?: string
  signal?: AbortSignal
}

type DeployerClient = WalletClient<Transport, Chain, Account>

/**
 * Deploys the timelock, parameter registry, token, governor, provider registry and payment
 * channels; hands the governor the timelock's proposer and canceller roles and renounces the
 * deployer's admin role, so from then on only governance changes anything.
 */
export async function deployAll(walletClient: DeployerClient, options: DeployOptions): Promise<Deployment> {
  const client = walletClient.extend(publicActions)
  const deployer = walletClient.account.address
  const gov = { ...(options.devnet ? DEVNET_GOVERNANCE : DEFAULT_GOVERNANCE), ...options.governance }
  const params = { ...(options.devnet ? DEVNET_PARAMETERS : DEFAULT_PARAMETERS), ...options.params }
  const faucet = options.devnet ? (options.faucet ?? deployer) : zeroAddress
  const faucetSupply = options.devnet ? (options.faucetSupply ?? DEFAULT_FAUCET_SUPPLY) : 0n
  const signal = options.signal

  const deployBlock = await client.getBlockNumber()

  const deploy = async (abi: Abi, bytecode: Hex, args: readonly unknown[]): Promise<Address> => {
    signal?.throwIfAborted()
    const hash = await walletClient.deployContract({ abi, bytecode, args })
    const receipt = await client.waitForTransactionReceipt({ hash })
    if (receipt.status !== 'success' || !receipt.contractAddress)
      throw new Error(`deployment reverted: ${hash}`)
    return receipt.contractAddress
  }

  const timelock = await deploy(prsmTimelockAbi, prsmTimelockBytecode, [
    gov.timelockDelay,
    [],
    [zeroAddress], // anyone may execute a proposal once its delay has passed
    deployer,
  ])
  const parameters = await deploy(parameterRegistryAbi, parameterRegistryBytecode, [
    timelock,
    PARAMETER_NAMES.map(parameterKey),
    PARAMETER_NAMES.map((n) => params[n]),
  ])
  const token = await deploy(ftnsTokenAbi, ftnsTokenBytecode, [
    timelock,
    options.treasurySupply ?? DEFAULT_TREASURY_SUPPLY,
    faucet,
    faucetSupply,
  ])
  const governor = await deploy(prsmGovernorAbi, prsmGovernorBytecode, [
    token,
    timelock,
    gov.votingDelay,
    gov.votingPeriod,
    gov.proposalThreshold,
    gov.quorumPercent,
  ])
  const providers = await deploy(providerRegistryAbi, providerRegistryBytecode, [token, parameters, timelock])
  const channels = await deploy(paymentChannelsAbi, paymentChannelsBytecode, [token, parameters, timelock])

  const roles = await Promise.all([
    client.readContract({ address: timelock, abi: prsmTimelockAbi, functionName: 'PROPOSER_ROLE' }),
    client.readContract({ address: timelock, abi: prsmTimelockAbi, functionName: 'CANCELLER_ROLE' }),
    client.readContract({ address: timelock, abi: prsmTimelockAbi, functionName: 'DEFAULT_ADMIN_ROLE' }),
  ])
  const [proposer, canceller, admin] = roles
  for (const [functionName, role, account] of [
    ['grantRole', proposer, governor],
    ['grantRole', canceller, governor],
    ['renounceRole', admin, deployer],
  ] as const) {
    signal?.throwIfAborted()
    const hash = await walletClient.writeContract({
      address: timelock,
      abi: prsmTimelockAbi,
      functionName,
      args: [role, account],
    })
    const receipt = await client.waitForTransactionReceipt({ hash })
    if (receipt.status !== 'success') throw new Error(`timelock ${functionName} reverted: ${hash}`)
  }

  const addresses: DeploymentAddresses = { token, timelock, governor, parameters, providers, channels }
  const rpcUrl = options.rpcUrl ?? (walletClient.transport as { url?: string }).url ?? ''
  return {
    format: DEPLOYMENT_FORMAT,
    chainId: await client.getChainId(),
    rpcUrl,
    deployBlock,
    addresses,
  }
}
