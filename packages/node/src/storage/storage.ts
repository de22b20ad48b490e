import { mkdir } from 'node:fs/promises'
import { withBitswap } from '@helia/bitswap'
import type { GraphWalker, Helia, Provider, Router } from '@helia/interface'
import { type UnixFS, unixfs } from '@helia/unixfs'
import * as dagCbor from '@ipld/dag-cbor'
import type { AbortOptions } from '@libp2p/interface'
import { type Config, PrsmError } from '@prsm/core'
import { MemoryDatastore, NamespaceDatastore } from 'datastore-core'
import type { HeliaInit } from 'helia'
import type { Blockstore } from 'interface-blockstore'
import { type Datastore, Key } from 'interface-datastore'
import { fixedSize } from 'ipfs-unixfs-importer/chunker'
import { CID } from 'multiformats/cid'
import { identity } from 'multiformats/hashes/identity'
import type { Logger } from 'pino'
import type { PrsmLibp2p } from '../net/libp2p.ts'
import type { PeerPenalties } from '../net/penalties.ts'
import { BlockExchange } from './block-exchange.ts'
import { type BlockBytes, blockBytes, readBlock } from './blocks.ts'
import { httpFallbacks } from './fallback-http.ts'
import { readUnixFsFile } from './file-reader.ts'
import { FastFsBlockstore } from './fs-blockstore.ts'
import { UsageCounters } from './usage.ts'

export type StorageInit = Config['storage'] & {
  /** Where the filesystem blockstore lives (`<dataDir>/blocks`). */
  blocksPath: string
}

export interface StorageComponents {
  libp2p: PrsmLibp2p
  /** The node's datastore; storage keeps its pins and counters under `/prsm/storage`. */
  datastore: Datastore
  penalties: Pick<PeerPenalties, 'penalise' | 'isBanned'>
  logger: Logger
  /** Replaces the filesystem blockstore (tests wrap it to model a faulty peer). */
  blockstore?: Blockstore
}

export interface AddResult {
  cid: string
  size: number
}

export interface ContentStat {
  cid: string
  type: 'file' | 'directory' | 'raw' | 'dag-cbor'
  size: number
  local: boolean
  pinned: boolean
  usage: ReturnType<UsageCounters['get']>
}

export interface ProgressOptions {
  signal?: AbortSignal
  /** Called with the number of bytes processed so far. */
  onProgress?: (bytes: number) => void
}

export function parseCid(text: string): CID {
  try {
    return CID.parse(text.trim())
  } catch (err) {
    throw new PrsmError('CONTENT_INVALID_CID', `not a CID: ${JSON.stringify(text)}`, { cause: err })
  }
}

type HeliaClass = new (init: HeliaInit & { name: string; version: string }) => Helia

/**
 * The Helia class, without the rest of the `helia` entry point: that module also builds Helia's
 * default libp2p stack (WebRTC, auto-TLS, UPnP, ...), which costs ~65 MB of RSS at import and
 * which a PRSM node never uses (Helia runs on the node's own libp2p host).
 */
async function loadHelia(): Promise<HeliaClass> {
  const url = new URL('./helia.js', import.meta.resolve('helia'))
  return ((await import(url.href)) as { Helia: HeliaClass }).Helia
}

/** Helia's blockstore holds a lock that garbage collection takes exclusively. */
interface GcLock {
  readLock(): Promise<() => void>
}

/** A graph walker that yields CIDs already known (the blocks an import just wrote). */
function knownBlocksWalker(cids: readonly CID[]): () => GraphWalker {
  return () => ({
    async *walk() {
      for (const cid of cids) yield { block: { cid }, depth: 0, path: [] } as never
    },
  })
}

/** The libp2p DHT as a Helia router (for Bitswap's provider lookups). */
function libp2pRouter(libp2p: PrsmLibp2p): Router {
  return {
    name: 'prsm-libp2p',
    async *findProviders(cid, options) {
      for await (const p of libp2p.contentRouting.findProviders(cid, options)) {
        yield {
          id: p.id.toCID(),
          multiaddrs: p.multiaddrs,
          router: 'prsm-libp2p',
          fallback: false,
        } as Provider
      }
    },
    async provide(cid, options) {
      await libp2p.contentRouting.provide(cid, options)
    },
  }
}

/**
 * Content storage: IPFS (Helia) on the node's own libp2p host with a filesystem blockstore.
 * Files are imported and exported as streams (UnixFS, CIDv1, raw leaves, fixed-size chunks);
 * missing blocks are fetched through {@link BlockExchange} (PRSM peers with failover, then
 * Bitswap and the configured HTTP fallbacks), and every block is verified against its CID.
 */
export class ContentStorage {
  readonly #c: StorageComponents
  readonly #init: StorageInit
  readonly #log: Logger
  #blockstore: Blockstore | undefined
  /** Local blocks, and missing ones fetched (verified once) through the block exchange. */
  #blocks: Pick<Blockstore, 'get' | 'put' | 'has'> | undefined
  #helia: Helia | undefined
  #bitswapHost: Helia | undefined
  #fs: UnixFS | undefined
  #exchange: BlockExchange | undefined
  readonly usage: UsageCounters
  /** Roots this node holds (pinned); a peer asking for one counts as a serve. */
  readonly #roots = new Set<string>()
  readonly #datastore: Datastore

  constructor(components: StorageComponents, init: StorageInit) {
    this.#c = components
    this.#init = init
    this.#log = components.logger
    this.#datastore = new NamespaceDatastore(components.datastore, new Key('/prsm/storage'))
    this.usage = new UsageCounters({ datastore: this.#datastore })
  }

  get helia(): Helia {
    if (this.#helia === undefined) throw new PrsmError('INTERNAL', 'storage is not started')
    return this.#helia
  }

  get exchange(): BlockExchange {
    if (this.#exchange === undefined) throw new PrsmError('INTERNAL', 'storage is not started')
    return this.#exchange
  }

  /** The local blockstore (no network). */
  get localBlocks(): Blockstore {
    if (this.#blockstore === undefined) throw new PrsmError('INTERNAL', 'storage is not started')
    return this.#blockstore
  }

  get #unixfs(): UnixFS {
    if (this.#fs === undefined) throw new PrsmError('INTERNAL', 'storage is not started')
    return this.#fs
  }

  async start(): Promise<void> {
    if (this.#helia !== undefined) return
    let blockstore = this.#c.blockstore
    if (blockstore === undefined) {
      await mkdir(this.#init.blocksPath, { recursive: true, mode: 0o700 })
      const fsStore = new FastFsBlockstore(this.#init.blocksPath)
      await fsStore.open()
      blockstore = fsStore
    }
    this.#blockstore = blockstore
    const exchange = new BlockExchange(
      { libp2p: this.#c.libp2p, blockstore, penalties: this.#c.penalties, logger: this.#log },
      {
        blockTimeoutMs: this.#init.blockTimeoutMs,
        providerLookupTimeoutMs: this.#init.providerLookupTimeoutMs,
        onServe: (cid, bytes) => {
          const key = cid.toString()
          if (this.#roots.has(key)) this.usage.serve(key, bytes)
        },
      },
    )
    this.#exchange = exchange
    const local = blockstore
    const fetchMissing = (cid: CID, options?: AbortOptions) => this.#fetchMissing(cid, options)
    this.#blocks = {
      has: (cid, options) => local.has(cid, options),
      put: (cid, bytes, options) => local.put(cid, bytes, options),
      async *get(cid, options) {
        if (await local.has(cid, options)) {
          yield* local.get(cid, options)
          return
        }
        const block = await fetchMissing(cid, options)
        yield blockBytes(block)
      },
    }
    const Helia = await loadHelia()
    const heliaInit = { name: 'prsm', version: '0.1.0' }

    if (this.#init.bitswap) {
      // Bitswap runs on its own light Helia over the same blockstore: it serves any peer (Kubo
      // included) and is asked only after the PRSM peers, so blocks are not fetched twice.
      const host = new Helia({
        ...heliaInit,
        blockstore,
        datastore: new MemoryDatastore(),
        routers: [libp2pRouter(this.#c.libp2p)],
      })
      Object.defineProperty(host, 'libp2p', { value: this.#c.libp2p, enumerable: true })
      withBitswap(host as never)
      await host.start()
      this.#bitswapHost = host
      exchange.addFallback({
        name: 'bitswap',
        retrieve: async (cid, options) => readBlock(host.blockstore, cid, options),
      })
    }
    for (const fallback of httpFallbacks({ gateways: this.#init.gateways, kuboRpc: this.#init.kuboRpc })) {
      exchange.addFallback(fallback)
    }

    const helia = new Helia({
      ...heliaInit,
      blockstore,
      datastore: this.#datastore,
      codecs: [dagCbor],
      blockBrokers: [{ name: exchange.name, retrieve: (cid, options) => exchange.retrieve(cid, options) }],
    })
    await exchange.start()
    await helia.start()
    this.#helia = helia
    // UnixFS reads through #blocks: a missing block is fetched and verified once (Helia's own
    // networked blockstore would hash it a second time) and written straight to the local store.
    this.#fs = unixfs({ blockstore: this.#blocks, datastore: this.#datastore } as never)
    await this.usage.start()
    for await (const pin of helia.pins.ls()) this.#roots.add(pin.cid.toString())
  }

  async stop(): Promise<void> {
    await this.usage.stop().catch(() => undefined)
    await this.#helia?.stop()
    await this.#bitswapHost?.stop()
    await this.#exchange?.stop()
    const store = this.#blockstore as { close?: () => Promise<void> } | undefined
    if (this.#c.blockstore === undefined) await store?.close?.()
    this.#helia = undefined
    this.#bitswapHost = undefined
    this.#fs = undefined
    this.#blocks = undefined
  }

  /** Fetches a block this node does not hold (verified by the block exchange) and stores it. */
  async #fetchMissing(cid: CID, options: AbortOptions = {}): Promise<BlockBytes> {
    const block = await this.exchange.retrieveParts(cid, options)
    const local = this.localBlocks
    if (local instanceof FastFsBlockstore && !(block instanceof Uint8Array)) {
      await local.putParts(cid, [...block], options)
    } else await local.put(cid, blockBytes(block), options)
    return block
  }

  /** A verified block: from the local store, else from the network (and then stored). */
  async #loadBlock(cid: CID, signal: AbortSignal): Promise<BlockBytes> {
    if (cid.multihash.code === identity.code) return cid.multihash.digest
    const local = this.localBlocks
    if (local instanceof FastFsBlockstore) {
      try {
        return await local.getBytes(cid, { signal })
      } catch (err) {
        if ((err as Error).name !== 'NotFoundError') throw err
      }
    } else if (await local.has(cid, { signal })) {
      return readBlock(local, cid, { signal })
    }
    return this.#fetchMissing(cid, { signal })
  }

  get #net(): Pick<Blockstore, 'get' | 'put' | 'has'> {
    if (this.#blocks === undefined) throw new PrsmError('INTERNAL', 'storage is not started')
    return this.#blocks
  }

  /** Runs `fn` while garbage collection cannot run (it waits for the lock). */
  async #holdingGcLock<T>(fn: () => Promise<T>): Promise<T> {
    const release = await (this.helia.blockstore as unknown as { lock: GcLock }).lock.readLock()
    try {
      return await fn()
    } finally {
      release()
    }
  }

  /**
   * Imports a byte stream as a UnixFS file (CIDv1, raw leaves, `chunkSize` chunks, balanced
   * layout), pins it and announces it in the DHT. Never holds more than a few chunks in memory.
   * The pin is recorded from the blocks the import wrote (the DAG is not read back), and garbage
   * collection waits until the file is pinned.
   */
  async add(source: AsyncIterable<Uint8Array>, options: ProgressOptions = {}): Promise<AddResult> {
    let size = 0
    const counted = async function* (): AsyncGenerator<Uint8Array> {
      for await (const chunk of source) {
        size += chunk.byteLength
        options.onProgress?.(size)
        yield chunk
      }
    }
    const local = this.localBlocks
    const written: CID[] = []
    const recorder = {
      put: async (cid: CID, bytes: Uint8Array, opts?: AbortOptions) => {
        written.push(cid)
        return local.put(cid, bytes, opts)
      },
    }
    const cid = await this.#holdingGcLock(async () => {
      const root = await unixfs({ blockstore: recorder } as never).addByteStream(counted(), {
        cidVersion: 1,
        rawLeaves: true,
        reduceSingleLeafToSelf: true,
        chunker: fixedSize({ chunkSize: this.#init.chunkSize }),
        ...(options.signal === undefined ? {} : { signal: options.signal }),
      })
      if (!(await this.helia.pins.isPinned(root))) {
        for await (const _ of this.helia.pins.add(root, {
          walker: knownBlocksWalker(written),
          ...(options.signal === undefined ? {} : { signal: options.signal }),
        })) {
          // drain
        }
      }
      return root
    })
    this.#roots.add(cid.toString())
    this.provide(cid)
    return { cid: cid.toString(), size }
  }

  /** Announces `cid` in the DHT (in the background; failures are logged). */
  provide(cid: CID): void {
    void this.#c.libp2p.contentRouting
      .provide(cid, { signal: AbortSignal.timeout(60_000) })
      .catch((err: Error) => this.#log.debug({ err: err.message, cid: cid.toString() }, 'DHT provide failed'))
  }

  /** Streams a file's bytes (optionally a range), fetching missing blocks from the network. */
  async *cat(
    cidText: string,
    options: ProgressOptions & { offset?: number; length?: number } = {},
  ): AsyncGenerator<Uint8Array> {
    const cid = parseCid(cidText)
    let bytes = 0
    const held = await this.helia.pins.isPinned(cid)
    try {
      // A whole file is streamed by the node's own reader (blocks read ahead in order, streamed in
      // the pieces they arrived in); ranges and anything that is not a plain file go through the
      // UnixFS exporter.
      if (options.offset === undefined && options.length === undefined) {
        const signal = options.signal ?? new AbortController().signal
        const reader = readUnixFsFile(
          cid,
          await this.#loadBlock(cid, signal),
          (c, s) => this.#loadBlock(c, s),
          {
            readAhead: this.#init.fetchConcurrency,
            signal,
          },
        )
        if (reader !== undefined) {
          for await (const chunk of reader) {
            bytes += chunk.byteLength
            options.onProgress?.(bytes)
            yield chunk
          }
          return
        }
      }
      for await (const chunk of this.#unixfs.cat(cid, {
        ...(options.offset === undefined ? {} : { offset: options.offset }),
        ...(options.length === undefined ? {} : { length: options.length }),
        ...(options.signal === undefined ? {} : { signal: options.signal }),
        blockReadConcurrency: this.#init.fetchConcurrency,
      } as never)) {
        bytes += chunk.byteLength
        options.onProgress?.(bytes)
        yield chunk
      }
    } catch (err) {
      throw toContentError(err, cidText)
    } finally {
      if (held) this.usage.serve(cid.toString(), bytes)
      else this.usage.fetch(cid.toString(), bytes)
    }
  }

  /** Size and kind of the content at `cid` (fetching its root block if needed). */
  async stat(cidText: string, options: { signal?: AbortSignal } = {}): Promise<ContentStat> {
    const cid = parseCid(cidText)
    const local = await this.localBlocks.has(cid)
    const signal = options.signal ?? AbortSignal.timeout(30_000)
    let type: ContentStat['type']
    let size: number
    try {
      if (cid.code === dagCbor.code) {
        const block = await readBlock(this.#net, cid, { signal })
        type = 'dag-cbor'
        size = block.byteLength
      } else {
        const stat = await this.#unixfs.stat(cid, { signal })
        type = stat.type
        size = Number(stat.size)
      }
    } catch (err) {
      throw toContentError(err, cidText)
    }
    return {
      cid: cid.toString(),
      type,
      size,
      local,
      pinned: await this.helia.pins.isPinned(cid),
      usage: this.usage.get(cid.toString()),
    }
  }

  /** Reads one block (from the network if needed); verified. */
  async block(cidText: string, options: { signal?: AbortSignal } = {}): Promise<Uint8Array> {
    try {
      return await readBlock(this.#net, parseCid(cidText), options)
    } catch (err) {
      throw toContentError(err, cidText)
    }
  }

  /** Stores one block (e.g. a manifest) locally. */
  async putBlock(cid: CID, bytes: Uint8Array): Promise<void> {
    await this.#net.put(cid, bytes)
  }

  /** Recursively pins `cid`, fetching any missing block. Returns the number of blocks pinned. */
  async pin(
    cidText: string,
    options: ProgressOptions & { depth?: number } = {},
  ): Promise<{ cid: string; blocks: number }> {
    const cid = parseCid(cidText)
    let blocks = 0
    try {
      if (await this.helia.pins.isPinned(cid)) return { cid: cid.toString(), blocks: 0 }
      await this.#holdingGcLock(async () => {
        for await (const _ of this.helia.pins.add(cid, {
          ...(options.signal === undefined ? {} : { signal: options.signal }),
          ...(options.depth === undefined ? {} : { depth: options.depth }),
        })) {
          blocks++
          options.onProgress?.(blocks)
        }
      })
    } catch (err) {
      throw toContentError(err, cidText)
    }
    this.#roots.add(cid.toString())
    return { cid: cid.toString(), blocks }
  }

  async unpin(cidText: string): Promise<{ cid: string }> {
    const cid = parseCid(cidText)
    if (!(await this.helia.pins.isPinned(cid))) throw new PrsmError('NOT_FOUND', `${cidText} is not pinned`)
    for await (const _ of this.helia.pins.rm(cid)) {
      // drain
    }
    this.#roots.delete(cid.toString())
    return { cid: cid.toString() }
  }

  async pins(): Promise<string[]> {
    const out: string[] = []
    for await (const pin of this.helia.pins.ls()) out.push(pin.cid.toString())
    return out
  }

  /** Deletes every block not reachable from a pin. Returns how many blocks were removed. */
  async gc(): Promise<{ removed: number }> {
    let removed = 0
    await this.helia.gc({
      onProgress: (evt: { type: string }) => {
        if (evt.type === 'helia:gc:deleted') removed++
      },
    } as never)
    return { removed }
  }
}

function toContentError(err: unknown, cid: string): PrsmError {
  if (err instanceof PrsmError) return err
  const e = err as { name?: string; message?: string; errors?: unknown[] }
  const inner = e.errors?.find((x): x is PrsmError => x instanceof PrsmError)
  if (inner !== undefined) return inner
  if (e.name === 'NotUnixFSError' || e.name === 'NoContentError' || e.name === 'NotAFileError') {
    return new PrsmError('CONTENT_NOT_A_FILE', `${cid} is not a UnixFS file: ${e.message}`)
  }
  if (e.name === 'AbortError' || e.name === 'TimeoutError' || e.name === 'LoadBlockFailedError') {
    return new PrsmError('CONTENT_NOT_FOUND', `${cid} could not be fetched: ${e.message}`, { cause: err })
  }
  return new PrsmError('INTERNAL', e.message ?? String(err), { cause: err })
}
