import { peerIdFromMultihash } from '@libp2p/peer-id'
import { providerRegistryAbi, verifyPeerBinding } from '@prsm/contracts'
import * as Digest from 'multiformats/hashes/digest'
import type { Address, Hex } from 'viem'
import { chainError, type LedgerChain } from '../../ledger/chain.ts'
import type { ValidatorView } from './quorum.ts'

export interface ValidatorSetComponents {
  chain: Pick<LedgerChain, 'publicClient' | 'deployment'>
  /** The current `haltQuorumBps` parameter. */
  quorumBps: () => number
}

/** One validator: registered, flagged, staked, and with a PeerId binding that verifies. */
export interface Validator {
  peerId: string
  address: Address
  stake: bigint
}

/**
 * Reads the validator set from the ProviderRegistry: `validators()` gives wallets, PeerIds and
 * stakes; each wallet's binding (its node key signing the PeerId ↔ wallet message) is checked off
 * chain, and a validator whose binding does not verify is left out.
 */
export async function readValidatorSet(
  chain: Pick<LedgerChain, 'publicClient' | 'deployment'>,
  options: { signal?: AbortSignal } = {},
): Promise<Validator[]> {
  options.signal?.throwIfAborted()
  const registry = chain.deployment.addresses.providers
  try {
    const [wallets, peerIds, stakes] = await chain.publicClient.readContract({
      address: registry,
      abi: providerRegistryAbi,
      functionName: 'validators',
    })
    const out: Validator[] = []
    await Promise.all(
      wallets.map(async (wallet, i) => {
        const peerBytes = Buffer.from((peerIds[i] as Hex).slice(2), 'hex')
        const p = await chain.publicClient.readContract({
          address: registry,
          abi: providerRegistryAbi,
          functionName: 'getProvider',
          args: [wallet],
        })
        const ok = verifyPeerBinding({
          peerId: peerBytes,
          wallet,
          chainId: chain.deployment.chainId,
          registry,
          signature: Buffer.from(p.binding.slice(2), 'hex'),
        })
        if (!ok) return
        let peerId: string
        try {
          peerId = peerIdFromMultihash(Digest.decode(peerBytes)).toString()
        } catch {
          return
        }
        out.push({ peerId, address: wallet, stake: stakes[i] ?? 0n })
      }),
    )
    return out.sort((a, b) => a.peerId.localeCompare(b.peerId))
  } catch (cause) {
    throw chainError(cause, 'read the validator set')
  }
}

/** The validator set as a {@link ValidatorView} (what votes and certificates are checked against). */
export function toView(
  chain: Pick<LedgerChain, 'deployment'>,
  validators: readonly Validator[],
  quorumBps: number,
): ValidatorView {
  return {
    chainId: chain.deployment.chainId,
    registry: chain.deployment.addresses.providers,
    validators: new Map(validators.map((v) => [v.peerId, v.address])),
    quorumBps,
  }
}
