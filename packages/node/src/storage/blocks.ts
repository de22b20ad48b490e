import { createHash } from 'node:crypto'
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
  return equalBytes(digest, cid.multihash.digest)
}

/**
 * A block held as the pieces it arrived in (the stream's `Uint8ArrayList`: a 1 MiB block comes in
 * 64 KiB pieces), so that it is hashed, written and streamed without being copied into one buffer.
 */
export interface BlockPieces extends Iterable<Uint8Array> {
  readonly byteLength: number
  /** The pieces joined into one buffer (a copy when there is more than one). */
  subarray(): Uint8Array
}

/** A block's bytes: one buffer, or pieces. */
export type BlockBytes = Uint8Array | BlockPieces

/** The block in one buffer. */
export function blockBytes(block: BlockBytes): Uint8Array {
  return block instanceof Uint8Array ? block : block.subarray()
}

/** {@link blockMatches} for a block held as pieces (hashed piece by piece, never joined). */
export function blockPartsMatch(cid: CID, parts: BlockPieces): boolean {
  const code = cid.multihash.code
  let digest: Uint8Array
  if (code === sha256.code) {
    const hash = createHash('sha256')
    for (const part of parts) hash.update(part)
    digest = hash.digest()
  } else if (code === identity.code) digest = parts.subarray()
  else return false
  return equalBytes(digest, cid.multihash.digest)
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false
  return true
}
