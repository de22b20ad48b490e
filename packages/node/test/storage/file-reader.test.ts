import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describe, it } from 'node:test'
import * as dagPb from '@ipld/dag-pb'
import { UnixFS } from 'ipfs-unixfs'
import { type ImporterOptions, importer } from 'ipfs-unixfs-importer'
import { fixedSize } from 'ipfs-unixfs-importer/chunker'
import { balanced } from 'ipfs-unixfs-importer/layout'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import type { BlockBytes } from '../../src/storage/blocks.ts'
import { readUnixFsFile } from '../../src/storage/file-reader.ts'
import { collect } from './bytes.ts'

/** Blocks in memory, as the importer writes them. */
class Blocks {
  readonly map = new Map<string, Uint8Array>()
  async put(cid: CID, bytes: Uint8Array): Promise<CID> {
    this.map.set(cid.toString(), bytes)
    return cid
  }
  get(cid: CID): Uint8Array {
    const b = this.map.get(cid.toString())
    if (b === undefined) throw new Error(`no block ${cid}`)
    return b
  }
}

async function importFile(
  data: Uint8Array,
  options: Partial<ImporterOptions>,
): Promise<{ root: CID; blocks: Blocks }> {
  const blocks = new Blocks()
  let root: CID | undefined
  for await (const entry of importer([{ content: data }], blocks as never, { cidVersion: 1, ...options })) {
    root = entry.cid
  }
  return { root: root as CID, blocks }
}

/** A block as three pieces (what the network hands over), not one buffer. */
function inPieces(b: Uint8Array): BlockBytes {
  const cut = [0, Math.floor(b.byteLength / 3), Math.floor((2 * b.byteLength) / 3), b.byteLength]
  const parts = [0, 1, 2].map((i) => b.subarray(cut[i], cut[i + 1]))
  return {
    byteLength: b.byteLength,
    subarray: () => Buffer.concat(parts),
    [Symbol.iterator]: () => parts.values(),
  }
}

function read(
  root: CID,
  blocks: Blocks,
  options: { pieces?: boolean; readAhead?: number; jitter?: boolean } = {},
) {
  const loaded: string[] = []
  const reader = readUnixFsFile(
    root,
    blocks.get(root),
    async (cid) => {
      loaded.push(cid.toString())
      // out-of-order completion: the reader must still yield in file order
      if (options.jitter === true) await new Promise((r) => setTimeout(r, Math.random() * 5))
      const b = blocks.get(cid)
      return options.pieces === true ? inPieces(b) : b
    },
    { readAhead: options.readAhead ?? 4 },
  )
  return { reader, loaded }
}

describe('storage: UnixFS file reader', () => {
  it('reads a three-level DAG with raw leaves in order, whether blocks come whole or in pieces', async () => {
    const data = randomBytes(10_000)
    const { root, blocks } = await importFile(data, {
      rawLeaves: true,
      chunker: fixedSize({ chunkSize: 1000 }),
      layout: balanced({ maxChildrenPerNode: 3 }),
    })
    assert.ok(blocks.map.size > 14) // 10 leaves and 3 levels of parents
    for (const pieces of [false, true]) {
      const { reader, loaded } = read(root, blocks, { pieces, jitter: true })
      assert.ok(reader)
      assert.deepEqual(await collect(reader), data)
      assert.equal(loaded.length, blocks.map.size - 1) // every block but the root, once
    }
  })

  it('reads dag-pb leaves (files imported without raw leaves) and a single-chunk file', async () => {
    const data = randomBytes(5_000)
    const pb = await importFile(data, { rawLeaves: false, chunker: fixedSize({ chunkSize: 1024 }) })
    const { reader } = read(pb.root, pb.blocks, { readAhead: 1 })
    assert.deepEqual(await collect(reader as AsyncGenerator<Uint8Array>), data)

    const one = await importFile(data.subarray(0, 700), { rawLeaves: true, reduceSingleLeafToSelf: true })
    assert.equal(one.root.code, 0x55)
    assert.deepEqual(
      await collect(read(one.root, one.blocks).reader as AsyncGenerator<Uint8Array>),
      data.subarray(0, 700),
    )
  })

  it('leaves directories to the exporter and rejects a DAG whose block sizes disagree with its links', async () => {
    const dir = dagPb.encode(dagPb.prepare({ Data: new UnixFS({ type: 'directory' }).marshal(), Links: [] }))
    const dirCid = CID.createV1(dagPb.code, await sha256.digest(dir))
    assert.equal(
      readUnixFsFile(dirCid, dir, () => Promise.reject(new Error('not reached')), { readAhead: 1 }),
      undefined,
    )

    const leaf = randomBytes(100)
    const leafCid = CID.createV1(0x55, await sha256.digest(leaf))
    const file = new UnixFS({ type: 'file' })
    file.addBlockSize(99n) // the leaf holds 100
    const parent = dagPb.encode(
      dagPb.prepare({ Data: file.marshal(), Links: [{ Hash: leafCid, Tsize: 100 }] }),
    )
    const parentCid = CID.createV1(dagPb.code, await sha256.digest(parent))
    const reader = readUnixFsFile(parentCid, parent, async () => leaf, { readAhead: 2 })
    assert.ok(reader)
    await assert.rejects(collect(reader), { name: 'NotUnixFSError' })
  })
})
