import { createHash } from 'node:crypto'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'

/** Byte helpers shared by the storage tests and the Kubo interop suite. */
export const MiB = 1024 * 1024

/** `data` as a stream of `size`-byte pieces (what an upload looks like to `storage.add`). */
export async function* chunks(data: Uint8Array, size = 256 * 1024): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < data.byteLength; i += size) yield data.subarray(i, i + size)
}

export async function collect(source: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = []
  for await (const c of source) parts.push(c)
  return Buffer.concat(parts)
}

export const digest = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')

/** The CID of one raw leaf of a file imported with 1 MiB chunks. */
export async function leafCid(data: Uint8Array, index: number): Promise<CID> {
  return CID.createV1(0x55, await sha256.digest(data.subarray(index * MiB, (index + 1) * MiB)))
}
