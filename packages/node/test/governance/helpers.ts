import { castVote, chainOf, type Deployment, delegateVotes } from '@prsm/contracts'
import { createWalletClient, type Hex, http, publicActions } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'

/**
 * The devnet faucet as a governance voter (it holds enough FTNS for quorum): delegates to itself
 * once, votes for proposals, and moves the chain clock past voting periods and timelock delays.
 */
export interface DevnetVoter {
  /** Moves the chain clock forward and mines a block. */
  travel(seconds: number): Promise<void>
  /** Votes for a proposal (call while it is Active). */
  voteFor(id: string | bigint): Promise<Hex>
}

export async function devnetVoter(deployment: Deployment): Promise<DevnetVoter> {
  const client = createWalletClient({
    account: privateKeyToAccount(deployment.devnet?.faucet.privateKey as Hex),
    chain: chainOf(deployment),
    transport: http(deployment.rpcUrl),
  }).extend(publicActions)
  await delegateVotes(client, deployment)
  const travel = async (seconds: number): Promise<void> => {
    await client.request({ method: 'evm_increaseTime', params: [seconds] } as never)
    await client.request({ method: 'evm_mine', params: [] } as never)
  }
  return { travel, voteFor: (id) => castVote(client, deployment, BigInt(id), 1) }
}
