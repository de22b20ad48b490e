import type { AbortOptions } from '@libp2p/interface'
import type { Blockstore } from 'interface-blockstore'
import type { CID } from 'multiformats/cid'
import { identity } from 'multiformats/hashes/identity'
import { sha256 } from 'multiformats/hashes/sha2'

/** Blocks larger than this are never accepted from anyone (UnixFS chunks are at most 2 MiB). */
export const MAX_BLOCK_BYTES = 2 * 1024 * 1024 + 64 * 1024

/** Reads a block from a blockstore (whose `get` yields chunks) into one buffer. */
export async function readBlock(
  blockstore: Pick<Blockstore, 'get'>,
  cid: CID,
  options: AbortOptions = {},
): Promise<Uint8Array> {
  const chunks: Uint8Array[] = []
  let total = 0
  for await (const chunk of blockstore.get(cid, options)) {
    chunks.push(chunk)
    total += chunk.byteLength
  }
  if (chunks.length === 1) return chunks[0] as Uint8Array
  const out = new Uint8Array(total)
  let at = 0
  for (const c of chunks) {
    out.set(c, at)
    at += c.byteLength
  }
  return out
}

/**
 * True when `bytes` hash to the multihash in `cid`. Only sha2-256 and identity hashes are
 * accepted from the network; anything else is treated as unverifiable.
 */
export async function blockMatches(cid: CID, bytes: Uint8Array): Promise<boolean> {
  const code = cid.multihash.code
  let digest: Uint8Array
  if (code === sha256.code) digest = (await sha256.digest(bytes)).digest
  else if (code === identity.code) digest = identity.digest(bytes).digest
  else return false
  const expected = cid.multihash.digest
  if (digest.byteLength !== expected.byteLength) return false
  for (let i = 0; i < digest.byteLength; i++) if (digest[i] !== expected[i]) return false
  return true
}
