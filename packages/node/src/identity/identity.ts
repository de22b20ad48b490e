import { join } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PeerId, PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { PrsmError } from '@prsm/core'
import { bytesToHex, type Hex, hexToBytes } from 'viem'
import { generatePrivateKey, privateKeyToAddress } from 'viem/accounts'
import {
  decryptSecret,
  encryptSecret,
  ensurePrivateDir,
  fileExists,
  KEYSTORE_DIR,
  keystorePath,
  readKeystoreFile,
  writePrivateFile,
} from './keystore.ts'

/** A node's keys, decrypted in memory. Never log this object. */
export interface Identity {
  /** The libp2p node key (Ed25519); its public key is the PeerId. */
  nodeKey: PrivateKey
  peerId: PeerId
  /** The EVM wallet key (secp256k1), 0x-prefixed hex. */
  walletKey: Hex
  address: Hex
}

/** What can be read without the password. */
export interface PublicIdentity {
  peerId: string
  address: Hex
  insecure: boolean
}

export interface InitOptions {
  /** The password, or null for --insecure-no-password (development only). */
  password: string | null
  /** Overwrite existing keys. */
  force?: boolean
}

/**
 * Creates the node key and the wallet key in `<dataDir>/keystore/`, encrypted, mode 0600.
 * Refuses with KEYSTORE_EXISTS when keys exist, unless `force`.
 */
export async function initIdentity(dataDir: string, options: InitOptions): Promise<PublicIdentity> {
  const nodePath = keystorePath(dataDir, 'node')
  const walletPath = keystorePath(dataDir, 'wallet')
  if (options.force !== true && ((await fileExists(nodePath)) || (await fileExists(walletPath)))) {
    throw new PrsmError(
      'KEYSTORE_EXISTS',
      `keys already exist in ${join(dataDir, KEYSTORE_DIR)}; use --force to replace them`,
      {
        details: { dataDir },
      },
    )
  }
  await ensurePrivateDir(dataDir)
  await ensurePrivateDir(join(dataDir, KEYSTORE_DIR))

  const nodeKey = await generateKeyPair('Ed25519')
  const peerId = peerIdFromPrivateKey(nodeKey).toString()
  const walletKey = generatePrivateKey()
  const address = privateKeyToAddress(walletKey)

  const nodeFile = await encryptSecret(
    privateKeyToProtobuf(nodeKey),
    { kind: 'libp2p-ed25519', public: peerId },
    options.password,
  )
  const walletFile = await encryptSecret(
    hexToBytes(walletKey),
    { kind: 'evm-secp256k1', public: address },
    options.password,
  )
  await writePrivateFile(nodePath, `${JSON.stringify(nodeFile, null, 2)}\n`)
  await writePrivateFile(walletPath, `${JSON.stringify(walletFile, null, 2)}\n`)
  return { peerId, address, insecure: options.password === null }
}

export async function readPublicIdentity(dataDir: string): Promise<PublicIdentity> {
  const node = await readKeystoreFile(keystorePath(dataDir, 'node'))
  const wallet = await readKeystoreFile(keystorePath(dataDir, 'wallet'))
  return { peerId: node.public, address: wallet.public as Hex, insecure: node.insecure && wallet.insecure }
}

/** True when the keys were created with --insecure-no-password and need no password. */
export async function identityIsInsecure(dataDir: string): Promise<boolean> {
  return (await readPublicIdentity(dataDir)).insecure
}

/** Decrypts both keys and checks they match their public parts. */
export async function loadIdentity(dataDir: string, password: string | null): Promise<Identity> {
  const nodeFile = await readKeystoreFile(keystorePath(dataDir, 'node'))
  const walletFile = await readKeystoreFile(keystorePath(dataDir, 'wallet'))
  if ((!nodeFile.insecure || !walletFile.insecure) && password === null) {
    throw new PrsmError('KEYSTORE_NO_PASSWORD')
  }
  const nodeKey = privateKeyFromProtobuf(await decryptSecret(nodeFile, password))
  const walletKey = bytesToHex(await decryptSecret(walletFile, password))
  const peerId = peerIdFromPrivateKey(nodeKey)
  const address = privateKeyToAddress(walletKey)
  if (peerId.toString() !== nodeFile.public || address !== walletFile.public) {
    throw new PrsmError('KEYSTORE_CORRUPT', 'a decrypted key does not match its recorded public part')
  }
  return { nodeKey, peerId, walletKey, address }
}
