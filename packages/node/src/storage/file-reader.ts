import * as dagPb from '@ipld/dag-pb'
import { UnixFS } from 'ipfs-unixfs'
import type { CID } from 'multiformats/cid'
import { type BlockBytes, blockBytes } from './blocks.ts'

const RAW = 0x55

/** Loads a verified block (local, or fetched and stored). */
export type BlockLoader = (cid: CID, signal: AbortSignal) => Promise<BlockBytes>

export interface FileReaderOptions {
  /** Blocks loaded ahead of the one being streamed, per DAG node. */
  readAhead: number
  signal?: AbortSignal | undefined
}

/** A UnixFS DAG whose structure does not add up (links and block sizes disagree). */
export class BadFileDagError extends Error {
  override readonly name = 'NotUnixFSError'
}

/**
 * Streams the bytes of a UnixFS file from its root block, or returns `undefined` when the root is
 * not a file (a directory, another codec: the caller uses the UnixFS exporter, which says why).
 *
 * Same bytes as `@helia/unixfs`'s `cat` of the whole file, read differently: the children of a
 * node are loaded in order with up to `readAhead` of them in flight (the requests go out together
 * and pipeline on the block stream), and a block fetched in pieces is streamed in those pieces
 * (the exporter copies every block into one new buffer). Every child's length is checked against
 * the block size its parent declares.
 */
export function readUnixFsFile(
  root: CID,
  rootBlock: BlockBytes,
  load: BlockLoader,
  options: FileReaderOptions,
): AsyncGenerator<Uint8Array> | undefined {
  if (root.code !== RAW) {
    if (root.code !== dagPb.code) return undefined
    const data = dagPb.decode(blockBytes(rootBlock)).Data
    if (data === undefined) return undefined
    const type = UnixFS.unmarshal(data).type
    if (type !== 'file' && type !== 'raw') return undefined
  }
  return stream(root, rootBlock, load, options)
}

async function* stream(
  root: CID,
  rootBlock: BlockBytes,
  load: BlockLoader,
  options: FileReaderOptions,
): AsyncGenerator<Uint8Array> {
  // loads still in flight when the reader stops (consumer done, error) are cancelled
  const stop = new AbortController()
  const signal = options.signal === undefined ? stop.signal : AbortSignal.any([options.signal, stop.signal])
  try {
    yield* node(root, rootBlock, load, { readAhead: Math.max(1, options.readAhead), signal })
  } finally {
    stop.abort(new Error('file reader stopped'))
  }
}

async function* node(
  cid: CID,
  block: BlockBytes,
  load: BlockLoader,
  options: { readAhead: number; signal: AbortSignal },
): AsyncGenerator<Uint8Array, number> {
  if (cid.code === RAW) {
    yield* pieces(block)
    return block.byteLength
  }
  if (cid.code !== dagPb.code) throw new BadFileDagError(`unsupported codec ${cid.code} in a file DAG`)
  const pb = dagPb.decode(blockBytes(block))
  if (pb.Data === undefined) throw new BadFileDagError(`${cid} has no UnixFS data`)
  const unixfs = UnixFS.unmarshal(pb.Data)
  if (unixfs.type !== 'file' && unixfs.type !== 'raw') {
    throw new BadFileDagError(`${cid} is a ${unixfs.type} inside a file`)
  }
  let total = 0
  if (unixfs.data !== undefined && unixfs.data.byteLength > 0) {
    yield unixfs.data
    total += unixfs.data.byteLength
  }
  if (pb.Links.length !== unixfs.blockSizes.length) {
    throw new BadFileDagError('Inconsistent block sizes and dag links')
  }
  const links = pb.Links.map((l) => l.Hash)
  const window: Array<Promise<BlockBytes>> = []
  let next = 0
  const fill = (): void => {
    while (window.length < options.readAhead && next < links.length) {
      const loading = load(links[next++] as CID, options.signal)
      loading.catch(() => undefined) // awaited in order below; a later failure must not go unhandled
      window.push(loading)
    }
  }
  fill()
  for (let i = 0; i < links.length; i++) {
    const child = await (window.shift() as Promise<BlockBytes>)
    fill()
    const size = yield* node(links[i] as CID, child, load, options)
    if (BigInt(size) !== unixfs.blockSizes[i]) {
      throw new BadFileDagError(`${links[i]} holds ${size} bytes, its parent says ${unixfs.blockSizes[i]}`)
    }
    total += size
  }
  return total
}

function* pieces(block: BlockBytes): Generator<Uint8Array> {
  if (block instanceof Uint8Array) {
    if (block.byteLength > 0) yield block
    return
  }
  for (const piece of block) if (piece.byteLength > 0) yield piece
}
