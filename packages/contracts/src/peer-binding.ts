import { createPublicKey, verify } from 'node:crypto'
import { type Address, getAddress } from 'viem'

/**
 * The binding between a node's libp2p PeerId and its staking wallet. The node signs
 * `peerBindingMessage(...)` with its libp2p private key and passes the signature to
 * ProviderRegistry.register; anyone reading the registry checks it with `verifyPeerBinding`.
 */
export interface PeerBindingInput {
  /** The PeerId's multihash bytes (`peerId.toMultihash().bytes` in js-libp2p). */
  peerId: Uint8Array
  wallet: Address
  chainId: number
  /** The ProviderRegistry address. */
  registry: Address
}

export function peerBindingMessage(input: PeerBindingInput): Uint8Array {
  const text = [
    'PRSM provider binding v1',
    `chain: ${input.chainId}`,
    `registry: ${getAddress(input.registry)}`,
    `wallet: ${getAddress(input.wallet)}`,
    `peer: 0x${Buffer.from(input.peerId).toString('hex')}`,
  ].join('\n')
  return new TextEncoder().encode(text)
}

const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex')

/**
 * True when `signature` is the PeerId's key signing the binding. Supports Ed25519 PeerIds (the
 * libp2p default, an identity multihash of the public key); other key types return false.
 */
export function verifyPeerBinding(input: PeerBindingInput & { signature: Uint8Array }): boolean {
  const key = ed25519KeyOfPeerId(input.peerId)
  if (!key) return false
  try {
    const publicKey = createPublicKey({
      key: Buffer.concat([ED25519_SPKI_PREFIX, key]),
      format: 'der',
      type: 'spki',
    })
    return verify(null, peerBindingMessage(input), publicKey, input.signature)
  } catch {
    return false
  }
}

/** The raw Ed25519 key inside an identity-multihash PeerId: 00 24 08 01 12 20 <32 bytes>. */
function ed25519KeyOfPeerId(peerId: Uint8Array): Uint8Array | undefined {
  if (peerId.length !== 38) return undefined
  const header = [0x00, 0x24, 0x08, 0x01, 0x12, 0x20]
  for (let i = 0; i < header.length; i++) if (peerId[i] !== header[i]) return undefined
  return peerId.subarray(6)
}
