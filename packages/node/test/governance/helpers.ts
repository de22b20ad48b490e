import { castVote, type Deployment, devnetFaucetVoter } from '@prsm/contracts'
import type { Hex } from 'viem'

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
  const client = await devnetFaucetVoter(deployment)
  const travel = async (seconds: number): Promise<void> => {
    await client.request({ method: 'evm_increaseTime', params: [seconds] } as never)
    await client.request({ method: 'evm_mine', params: [] } as never)
  }
  return { travel, voteFor: (id) => castVote(client, deployment, BigInt(id), 1) }
}
