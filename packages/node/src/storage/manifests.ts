import { TopicValidatorResult } from '@libp2p/gossipsub'
import type { PeerId, PrivateKey } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'
import { type MessageRegistry, PrsmError, sealEnvelope } from '@prsm/core'
import { type Datastore, Key } from 'interface-datastore'
import { CID } from 'multiformats/cid'
import type { Logger } from 'pino'
import type { Hex } from 'viem'
import { z } from 'zod'
import type { PrsmLibp2p } from '../net/libp2p.ts'
import type { MessageGate } from '../net/message-gate.ts'
import {
  decodeManifest,
  encodeManifest,
  type Manifest,
  type ManifestInput,
  manifestNameCid,
  manifestSignatureValid,
  parseManifestInput,
  signManifest,
} from './manifest.ts'
import { type ProvenanceGraph, provenance } from './provenance.ts'
import type { ContentStorage } from './storage.ts'

/** Gossip topic on which published manifests are announced (the signed block travels inline). */
export const MANIFESTS_TOPIC = '/prsm/manifests/1'
/** Ask a provider of a name key for its manifests of that name. */
export const MANIFESTS_FETCH_PROTOCOL = '/prsm/manifests/fetch/1.0.0'
const MAX_MANIFEST_BYTES = 128 * 1024
const PREFIX = '/prsm/manifests/'

export function registerManifestMessages(registry: MessageRegistry) {
  const block = z
    .instanceof(Uint8Array)
    .refine((b) => b.byteLength <= MAX_MANIFEST_BYTES, 'manifest too large')
  return {
    Announce: registry.register('manifest-announce', 1, z.object({ block }).strict()),
    Query: registry.register('manifest-query', 1, z.object({ name: z.string().max(128) }).strict()),
    List: registry.register('manifest-list', 1, z.object({ blocks: z.array(block).max(64) }).strict()),
  }
}

export interface ManifestServiceComponents {
  libp2p: Pick<PrsmLibp2p, 'peerId' | 'services' | 'contentRouting' | 'dialProtocol' | 'handle' | 'unhandle'>
  storage: Pick<ContentStorage, 'stat' | 'block' | 'putBlock' | 'pin' | 'provide'>
  privateKey: PrivateKey
  /** The creator's wallet key: manifests this node publishes are signed with it. */
  walletKey: Hex
  registry: MessageRegistry
  gate: Pick<MessageGate, 'receive' | 'reject' | 'maxBytes'>
  datastore: Pick<Datastore, 'put' | 'query'>
  logger: Logger
}

export interface ManifestServiceInit {
  gossip: boolean
  dht: boolean
  /** Time allowed to check one file CID of a manifest (fetching its root block). */
  fileCheckTimeoutMs?: number
}

export interface StoredManifest {
  cid: string
  manifest: Manifest
}

/**
 * Signed manifests of models, datasets and tools. Publishing signs with the creator's wallet
 * (EIP-712), checks every file CID against the content, stores the dag-cbor block, pins it, and
 * announces it by gossip and in the DHT (under the manifest CID and under its name). Every
 * manifest that arrives — gossip, fetch by CID or by name — is checked the same way before it
 * enters the index and the provenance graph.
 */
export class ManifestService {
  readonly #c: ManifestServiceComponents
  readonly #init: ManifestServiceInit
  readonly #messages: ReturnType<typeof registerManifestMessages>
  readonly #index = new Map<string, Manifest>()
  readonly #children = new Map<string, Set<string>>()
  #started = false

  constructor(components: ManifestServiceComponents, init: ManifestServiceInit) {
    this.#c = components
    this.#init = init
    this.#messages = registerManifestMessages(components.registry)
  }

  async start(): Promise<void> {
    if (this.#started) return
    this.#started = true
    for await (const { key } of this.#c.datastore.query({ prefix: PREFIX })) {
      const cid = key.toString().slice(PREFIX.length)
      try {
        this.#remember(
          cid,
          decodeManifest(await this.#c.storage.block(cid, { signal: AbortSignal.timeout(1000) })),
        )
      } catch (err) {
        this.#c.logger.warn({ cid, err: (err as Error).message }, 'indexed manifest unreadable')
      }
    }
    await this.#c.libp2p.handle(
      MANIFESTS_FETCH_PROTOCOL,
      (stream, conn) => this.#serveFetch(stream, conn.remotePeer),
      {
        maxInboundStreams: 32,
      },
    )
    if (this.#init.gossip) {
      const pubsub = this.#c.libp2p.services.pubsub
      pubsub.topicValidators.set(MANIFESTS_TOPIC, async (from, msg) => {
        try {
          const { envelope } = await this.#c.gate.receive(msg.data, from, this.#messages.Announce)
          const manifest = decodeManifest(envelope.payload.block)
          if (!(await manifestSignatureValid(manifest))) return TopicValidatorResult.Reject
          // files are checked (which may mean fetching) before the manifest is indexed
          void this.ingest(envelope.payload.block).catch((err: Error) =>
            this.#c.logger.info({ err: err.message, from: from.toString() }, 'announced manifest rejected'),
          )
          return TopicValidatorResult.Accept
        } catch {
          return TopicValidatorResult.Reject
        }
      })
      pubsub.subscribe(MANIFESTS_TOPIC)
    }
  }

  async stop(): Promise<void> {
    if (!this.#started) return
    this.#started = false
    if (this.#init.gossip) {
      this.#c.libp2p.services.pubsub.unsubscribe(MANIFESTS_TOPIC)
      this.#c.libp2p.services.pubsub.topicValidators.delete(MANIFESTS_TOPIC)
    }
    await this.#c.libp2p.unhandle(MANIFESTS_FETCH_PROTOCOL)
  }

  #remember(cid: string, m: Manifest): void {
    this.#index.set(cid, m)
    for (const parent of m.parents) {
      let set = this.#children.get(parent)
      if (set === undefined) {
        set = new Set()
        this.#children.set(parent, set)
      }
      set.add(cid)
    }
  }

  /** Checks every file CID: the content must exist and be a file (or raw block) of the declared size. */
  async #checkFiles(m: {
    files: ReadonlyArray<{ path: string; cid: string; size?: number | undefined }>
  }): Promise<Array<{ path: string; cid: string; size: number }>> {
    const out: Array<{ path: string; cid: string; size: number }> = []
    for (const file of m.files) {
      let stat: Awaited<ReturnType<ContentStorage['stat']>>
      try {
        stat = await this.#c.storage.stat(file.cid, {
          signal: AbortSignal.timeout(this.#init.fileCheckTimeoutMs ?? 30_000),
        })
      } catch (err) {
        throw new PrsmError(
          'MANIFEST_FILE_MISMATCH',
          `${file.path}: ${file.cid} cannot be resolved: ${(err as Error).message}`,
          {
            details: { path: file.path, cid: file.cid },
          },
        )
      }
      if (stat.type !== 'file' && stat.type !== 'raw') {
        throw new PrsmError(
          'MANIFEST_FILE_MISMATCH',
          `${file.path}: ${file.cid} is a ${stat.type}, not a file`,
          {
            details: { path: file.path, cid: file.cid, type: stat.type },
          },
        )
      }
      const size = file.size
      if (size !== undefined && size !== stat.size) {
        throw new PrsmError(
          'MANIFEST_FILE_MISMATCH',
          `${file.path}: ${file.cid} holds ${stat.size} bytes, the manifest says ${size}`,
          { details: { path: file.path, cid: file.cid, declared: size, actual: stat.size } },
        )
      }
      out.push({ path: file.path, cid: file.cid, size: stat.size })
    }
    return out
  }

  /**
   * Verifies a manifest block (schema, EIP-712 signature, file CIDs) and adds it to the index.
   * Throws MANIFEST_INVALID, MANIFEST_BAD_SIGNATURE or MANIFEST_FILE_MISMATCH.
   */
  async ingest(bytes: Uint8Array): Promise<StoredManifest> {
    const manifest = decodeManifest(bytes)
    const { cid, bytes: canonical } = await encodeManifest(manifest)
    const key = cid.toString()
    const known = this.#index.get(key)
    if (known !== undefined) return { cid: key, manifest: known }
    if (!(await manifestSignatureValid(manifest))) {
      throw new PrsmError(
        'MANIFEST_BAD_SIGNATURE',
        `the signature of ${manifest.name}@${manifest.version} is not by ${manifest.creator}`,
        {
          details: { cid: key, creator: manifest.creator },
        },
      )
    }
    await this.#checkFiles(manifest)
    await this.#store(cid, canonical, manifest)
    return { cid: key, manifest }
  }

  async #store(cid: CID, bytes: Uint8Array, manifest: Manifest): Promise<void> {
    await this.#c.storage.putBlock(cid, bytes)
    await this.#c.storage.pin(cid.toString(), { depth: 0 })
    await this.#c.datastore.put(new Key(`${PREFIX}${cid.toString()}`), new Uint8Array())
    this.#remember(cid.toString(), manifest)
  }

  /** Signs (as this node's wallet), checks files, stores, pins and announces a manifest. */
  async publish(input: ManifestInput | unknown): Promise<StoredManifest> {
    const parsed = parseManifestInput(input)
    const files = await this.#checkFiles(parsed)
    for (const parent of parsed.parents) {
      if ((await this.get(parent)) === undefined) {
        throw new PrsmError('MANIFEST_NOT_FOUND', `parent ${parent} is not a verifiable manifest`, {
          details: { parent },
        })
      }
    }
    const manifest = await signManifest(
      {
        kind: parsed.kind,
        name: parsed.name,
        version: parsed.version,
        files,
        royaltyBps: parsed.royaltyBps,
        license: parsed.license,
        description: parsed.description,
        parents: parsed.parents.map((p) => CID.parse(p).toString()),
        created: Date.now(),
        ...(parsed.evaluation === undefined ? {} : { evaluation: CID.parse(parsed.evaluation).toString() }),
      },
      this.#c.walletKey,
    )
    const { cid, bytes } = await encodeManifest(manifest)
    await this.#store(cid, bytes, manifest)
    await this.announce(cid.toString())
    return { cid: cid.toString(), manifest }
  }

  /** Announces a stored manifest: gossip, and DHT provider records for its CID and its name. */
  async announce(cid: string): Promise<void> {
    const manifest = this.#index.get(cid)
    if (manifest === undefined) throw new PrsmError('MANIFEST_NOT_FOUND', `${cid} is not a known manifest`)
    const { bytes } = await encodeManifest(manifest)
    if (this.#init.gossip) {
      const envelope = await sealEnvelope(this.#c.privateKey, this.#messages.Announce, { block: bytes })
      await this.#c.libp2p.services.pubsub
        .publish(MANIFESTS_TOPIC, envelope)
        .catch((err: Error) => this.#c.logger.debug({ err: err.message }, 'manifest gossip failed'))
    }
    if (this.#init.dht) {
      this.#c.storage.provide(CID.parse(cid))
      this.#c.storage.provide(await manifestNameCid(manifest.name))
    }
  }

  /** A verified manifest by CID, from the index or fetched from the network; undefined if none. */
  async get(cid: string, options: { signal?: AbortSignal } = {}): Promise<Manifest | undefined> {
    let key: string
    try {
      key = CID.parse(cid).toString()
    } catch {
      return undefined
    }
    const known = this.#index.get(key)
    if (known !== undefined) return known
    try {
      const bytes = await this.#c.storage.block(key, {
        signal: options.signal ?? AbortSignal.timeout(15_000),
      })
      return (await this.ingest(bytes)).manifest
    } catch (err) {
      this.#c.logger.debug({ cid: key, err: (err as Error).message }, 'manifest not available')
      return undefined
    }
  }

  /** Verified manifests this node knows (optionally of one name). */
  list(name?: string): StoredManifest[] {
    return [...this.#index.entries()]
      .filter(([, m]) => name === undefined || m.name === name)
      .map(([cid, manifest]) => ({ cid, manifest }))
      .sort((a, b) => a.manifest.created - b.manifest.created)
  }

  /**
   * Resolves `CID`, `name@version` or `name` (the latest version by the name's creator: the
   * creator of its earliest known version). Asks DHT providers of the name when nothing local matches.
   */
  async resolve(ref: string, options: { signal?: AbortSignal } = {}): Promise<StoredManifest> {
    try {
      const cid = CID.parse(ref).toString()
      const manifest = await this.get(cid, options)
      if (manifest === undefined)
        throw new PrsmError('MANIFEST_NOT_FOUND', `no verifiable manifest at ${ref}`)
      return { cid, manifest }
    } catch (err) {
      if (err instanceof PrsmError) throw err
    }
    const at = ref.lastIndexOf('@')
    const name = at > 0 ? ref.slice(0, at) : ref
    const version = at > 0 ? ref.slice(at + 1) : undefined
    let found = this.#pick(name, version)
    if (found === undefined) {
      await this.#fetchByName(name, options.signal ?? AbortSignal.timeout(10_000))
      found = this.#pick(name, version)
    }
    if (found === undefined) throw new PrsmError('MANIFEST_NOT_FOUND', `no manifest named ${ref}`)
    return found
  }

  #pick(name: string, version: string | undefined): StoredManifest | undefined {
    const all = this.list(name)
    const owner = all[0]?.manifest.creator
    const mine = all.filter((s) => s.manifest.creator === owner)
    if (version !== undefined) return mine.find((s) => s.manifest.version === version)
    return mine.at(-1)
  }

  async #fetchByName(name: string, signal: AbortSignal): Promise<void> {
    const me = this.#c.libp2p.peerId.toString()
    const tasks: Array<Promise<unknown>> = []
    try {
      for await (const provider of this.#c.libp2p.contentRouting.findProviders(await manifestNameCid(name), {
        signal,
      })) {
        if (provider.id.toString() === me) continue
        tasks.push(this.#queryPeer(provider.id, name, signal).catch(() => undefined))
        if (tasks.length >= 8) break
      }
    } catch {
      // lookup ended
    }
    await Promise.all(tasks)
  }

  async #queryPeer(peer: PeerId, name: string, signal: AbortSignal): Promise<void> {
    const stream = await this.#c.libp2p.dialProtocol(peer, MANIFESTS_FETCH_PROTOCOL, { signal })
    const lp = lpStream(stream, { maxDataLength: this.#c.gate.maxBytes * 4 })
    await lp.write(await sealEnvelope(this.#c.privateKey, this.#messages.Query, { name }), { signal })
    const reply = await lp.read({ signal })
    await stream.close({ signal }).catch(() => undefined)
    const { envelope } = await this.#c.gate.receive(reply.subarray(), peer, this.#messages.List)
    for (const block of envelope.payload.blocks) {
      await this.ingest(block).catch((err: Error) =>
        this.#c.logger.info({ peer: peer.toString(), err: err.message }, 'fetched manifest rejected'),
      )
    }
  }

  async #serveFetch(stream: Parameters<Parameters<PrsmLibp2p['handle']>[1]>[0], from: PeerId): Promise<void> {
    const signal = AbortSignal.timeout(10_000)
    try {
      const lp = lpStream(stream, { maxDataLength: this.#c.gate.maxBytes })
      const request = await lp.read({ signal })
      const { envelope } = await this.#c.gate.receive(request.subarray(), from, this.#messages.Query)
      const blocks: Uint8Array[] = []
      for (const { manifest } of this.list(envelope.payload.name).slice(-64))
        blocks.push((await encodeManifest(manifest)).bytes)
      await lp.write(await sealEnvelope(this.#c.privateKey, this.#messages.List, { blocks }), { signal })
      await stream.close({ signal })
    } catch (err) {
      stream.abort(err as Error)
    }
  }

  /** Ancestors and descendants of a manifest. */
  async provenance(ref: string, options: { maxDepth?: number } = {}): Promise<ProvenanceGraph> {
    const { cid } = await this.resolve(ref)
    return provenance(
      { get: (c) => this.get(c), children: (c) => [...(this.#children.get(c) ?? [])] },
      cid,
      options,
    )
  }
}
