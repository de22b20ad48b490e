import { CID } from 'multiformats/cid'
import { readBlock } from './blocks.ts'
import type { ContentStorage } from './storage.ts'

/** Lists every block CID of a DAG held locally (raw leaves are listed from their parents' links). */
export async function dagBlocks(
  storage: Pick<ContentStorage, 'helia' | 'localBlocks'>,
  root: CID,
  options: { signal?: AbortSignal; limit?: number } = {},
): Promise<CID[]> {
  const out: CID[] = []
  const queue: CID[] = [root]
  const limit = options.limit ?? 1_000_000
  while (queue.length > 0 && out.length < limit) {
    const cid = queue.shift() as CID
    out.push(cid)
    if (cid.code === 0x55) continue
    const codec = await storage.helia.getCodec(cid.code)
    const bytes = await readBlock(storage.localBlocks, cid, options)
    const node = codec.decode(bytes) as unknown
    for (const link of links(node)) queue.push(link)
  }
  return out
}

function* links(node: unknown): Generator<CID> {
  const asCid = CID.asCID(node)
  if (asCid !== null) {
    yield asCid
    return
  }
  if (node instanceof Uint8Array || node === null || typeof node !== 'object') return
  if (Array.isArray(node)) {
    for (const v of node) yield* links(v)
    return
  }
  for (const v of Object.values(node)) yield* links(v)
}
