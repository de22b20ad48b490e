import {
  type Account,
  type Address,
  type Chain,
  createWalletClient,
  encodeFunctionData,
  type Hex,
  http,
  keccak256,
  type PublicActions,
  publicActions,
  stringToHex,
  type Transport,
  type WalletClient,
} from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import type { Deployment } from './deployment.ts'
import { chainOf } from './devnet.ts'
import { ftnsTokenAbi } from './generated/FTNSToken.ts'
import { parameterRegistryAbi } from './generated/ParameterRegistry.ts'
import { prsmGovernorAbi } from './generated/PRSMGovernor.ts'
import { type ParameterName, parameterKey } from './parameters.ts'

type GovClient = WalletClient<Transport, Chain, Account> & PublicActions<Transport, Chain, Account>

export interface ProposalActions {
  targets: Address[]
  values: bigint[]
  calldatas: Hex[]
  description: string
}

/** OpenZeppelin Governor proposal states, by index. */
export const PROPOSAL_STATES = [
  'Pending',
  'Active',
  'Canceled',
  'Defeated',
  'Succeeded',
  'Queued',
  'Expired',
  'Executed',
] as const
export type ProposalState = (typeof PROPOSAL_STATES)[number]

/** A proposal that sets network parameters in the ParameterRegistry. */
export function parameterProposal(
  deployment: Pick<Deployment, 'addresses'>,
  changes: Partial<Record<ParameterName, bigint>>,
  description: string,
): ProposalActions {
  const names = Object.keys(changes) as ParameterName[]
  return {
    targets: [deployment.addresses.parameters],
    values: [0n],
    calldatas: [
      encodeFunctionData({
        abi: parameterRegistryAbi,
        functionName: 'setMany',
        args: [names.map(parameterKey), names.map((n) => changes[n] as bigint)],
      }),
    ],
    description,
  }
}

async function sendAndWait(
  client: GovClient,
  request: Parameters<GovClient['writeContract']>[0],
): Promise<Hex> {
  const hash = await client.writeContract(request)
  const receipt = await client.waitForTransactionReceipt({ hash })
  if (receipt.status !== 'success') throw new Error(`${String(request.functionName)} reverted: ${hash}`)
  return hash
}

/** Delegates the caller's FTNS votes (to itself by default); votes count from the next second. */
export async function delegateVotes(client: GovClient, deployment: Deployment, to?: Address): Promise<Hex> {
  return sendAndWait(client, {
    address: deployment.addresses.token,
    abi: ftnsTokenAbi,
    functionName: 'delegate',
    args: [to ?? client.account.address],
  } as never)
}

/** Submits a proposal and returns its id. */
export async function propose(
  client: GovClient,
  deployment: Deployment,
  p: ProposalActions,
): Promise<bigint> {
  await sendAndWait(client, {
    address: deployment.addresses.governor,
    abi: prsmGovernorAbi,
    functionName: 'propose',
    args: [p.targets, p.values, p.calldatas, p.description],
  } as never)
  return proposalId(client, deployment, p)
}

export function proposalId(client: GovClient, deployment: Deployment, p: ProposalActions): Promise<bigint> {
  return client.readContract({
    address: deployment.addresses.governor,
    abi: prsmGovernorAbi,
    functionName: 'hashProposal',
    args: [p.targets, p.values, p.calldatas, keccak256(stringToHex(p.description))],
  })
}

export async function proposalState(
  client: GovClient,
  deployment: Deployment,
  id: bigint,
): Promise<ProposalState> {
  const index = await client.readContract({
    address: deployment.addresses.governor,
    abi: prsmGovernorAbi,
    functionName: 'state',
    args: [id],
  })
  return PROPOSAL_STATES[index] ?? 'Pending'
}

/** Casts a vote: 0 against, 1 for, 2 abstain. */
export function castVote(
  client: GovClient,
  deployment: Deployment,
  id: bigint,
  support: 0 | 1 | 2,
): Promise<Hex> {
  return sendAndWait(client, {
    address: deployment.addresses.governor,
    abi: prsmGovernorAbi,
    functionName: 'castVote',
    args: [id, support],
  } as never)
}

export function queueProposal(client: GovClient, deployment: Deployment, p: ProposalActions): Promise<Hex> {
  return sendAndWait(client, {
    address: deployment.addresses.governor,
    abi: prsmGovernorAbi,
    functionName: 'queue',
    args: [p.targets, p.values, p.calldatas, keccak256(stringToHex(p.description))],
  } as never)
}

export function executeProposal(client: GovClient, deployment: Deployment, p: ProposalActions): Promise<Hex> {
  return sendAndWait(client, {
    address: deployment.addresses.governor,
    abi: prsmGovernorAbi,
    functionName: 'execute',
    args: [p.targets, p.values, p.calldatas, keccak256(stringToHex(p.description))],
  } as never)
}

/**
 * Devnets only: a client for the devnet's faucet account (which holds enough FTNS for quorum)
 * with its votes delegated to itself, ready for {@link passProposalOnDevnet}.
 */
export async function devnetFaucetVoter(deployment: Deployment): Promise<GovClient> {
  const faucet = deployment.devnet?.faucet.privateKey
  if (faucet === undefined) throw new Error('the deployment is not a devnet (no faucet key)')
  const voter = createWalletClient({
    account: privateKeyToAccount(faucet),
    chain: chainOf(deployment),
    transport: http(deployment.rpcUrl),
  }).extend(publicActions)
  await delegateVotes(voter, deployment)
  return voter
}

/**
 * Devnets only (anvil time travel): propose → vote for → queue → execute, advancing the chain
 * clock past the voting delay, voting period and timelock delay. The voter must already hold
 * delegated votes above quorum (see `delegateVotes`, or {@link devnetFaucetVoter}).
 */
export async function passProposalOnDevnet(
  client: GovClient,
  deployment: Deployment,
  p: ProposalActions,
): Promise<bigint> {
  const rpc = (method: string, params: unknown[] = []) => client.request({ method, params } as never)
  const travel = async (seconds: bigint) => {
    await rpc('evm_increaseTime', [Number(seconds)])
    await rpc('evm_mine')
  }
  const governor = deployment.addresses.governor
  const [delay, period] = await Promise.all([
    client.readContract({ address: governor, abi: prsmGovernorAbi, functionName: 'votingDelay' }),
    client.readContract({ address: governor, abi: prsmGovernorAbi, functionName: 'votingPeriod' }),
  ])
  const id = await propose(client, deployment, p)
  await travel(delay + 1n)
  await castVote(client, deployment, id, 1)
  await travel(period + 1n)
  await queueProposal(client, deployment, p)
  const eta = await client.readContract({
    address: governor,
    abi: prsmGovernorAbi,
    functionName: 'proposalEta',
    args: [id],
  })
  const now = (await client.getBlock()).timestamp
  await travel(eta > now ? eta - now + 1n : 1n)
  await executeProposal(client, deployment, p)
  return id
}
