import { createHash } from 'node:crypto'
import * as dagCbor from '@ipld/dag-cbor'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { PrsmError, stripUndefined } from '@prsm/core'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { z } from 'zod'
import type { ContentStorage } from '../storage/storage.ts'

/** Domain prefix of trace signatures, so they can never be replayed as another kind of message. */
export const TRACE_DOMAIN = new TextEncoder().encode('prsm-trace-v1:')
/** Content up to this size is stored as one raw block (the CID UnixFS gives a one-chunk file). */
export const RAW_BLOCK_MAX_BYTES = 256 * 1024

/** The money side of one step; amounts are wei as decimal strings (dag-cbor ints stop at 2^64). */
export interface StepCost {
  /** What the voucher(s) for this step added on the provider's channel. */
  paid: string
  /** What the provider's receipt charged. */
  charged: string
  /** Royalties paid for the manifests the step used (in the voucher's royalty table). */
  royalties: Array<{ creator: string; amount: string }>
  /** The network fee the channel contract takes from `paid` at claim. */
  fee: string
}

/** One executed step: signed by the orchestrating node, linked to its parent steps. */
export interface TraceStep {
  type: 'prsm-trace-step'
  version: 1
  step: string
  kind: string
  capability: string | null
  /** The step as specified (canonical JSON), and its sha256 (hex). */
  spec: string
  specHash: string
  /** The content the step read, in order. */
  inputs: CID[]
  /** For compute steps: the program run. */
  program: CID | null
  output: CID
  /** Hex sha256 of the output bytes (what the provider's receipt names). */
  outputHash: string
  outputBytes: number
  /** The provider whose output was taken (the orchestrator itself for a local compile). */
  provider: string
  /** Providers that returned the same output (redundancy k > 1). */
  agreeing: string[]
  /** The provider's receipt (inline output dropped: it is at `output`). */
  receipt: Record<string, unknown> | null
  /** The receipt as the provider signed it (its envelope), so anyone can check its signature. */
  receiptEnvelope: Uint8Array | null
  cost: StepCost
  /** Orchestrator's clock: the step was sent at `startedAt` and its result in at `finishedAt`. */
  startedAt: number
  finishedAt: number
  /** Providers tried before, with why they failed (their undelivered work was not paid for). */
  failures: Array<{ provider: string; code: string }>
  /** Context compression applied to the inputs, when any. */
  compression: Array<{ input: number; ratio: number; method: string; score: number }>
  parents: CID[]
  signer: string
  signature: Uint8Array
}

/** The root of a trace: the query, the workflow, every step, the answer and what it cost. */
export interface Trace {
  type: 'prsm-trace'
  version: 1
  query: string
  workflow: CID
  steps: CID[]
  output: CID
  outputHash: string
  /** Wei as decimal strings. */
  cost: {
    total: string
    perProvider: Array<{ provider: string; amount: string }>
    royalties: Array<{ creator: string; amount: string }>
    networkFee: string
    feeBps: number
  }
  startedAt: number
  finishedAt: number
  signer: string
  signature: Uint8Array
}

const cidSchema = z.custom<CID>((v) => CID.asCID(v) !== null, 'must be a CID link')
const bytesSchema = z.custom<Uint8Array>((v) => v instanceof Uint8Array, 'must be bytes')
const wei = z.string().regex(/^\d{1,78}$/)
const peer = z.string().max(128)
const amounts = z.array(z.object({ creator: z.string().max(64), amount: wei })).max(1024)

/** The shape of a TraceStep block (checked before anything reads it; the signature separately). */
export const TraceStepSchema = z.object({
  type: z.literal('prsm-trace-step'),
  version: z.literal(1),
  step: z.string().max(64),
  kind: z.string().max(16),
  capability: z.string().max(128).nullable(),
  spec: z.string().max(4 * 1024 * 1024),
  specHash: z.string().regex(/^[0-9a-f]{64}$/),
  inputs: z.array(cidSchema).max(64),
  program: cidSchema.nullable(),
  output: cidSchema,
  outputHash: z.string().regex(/^[0-9a-f]{64}$/),
  outputBytes: z.number().int().min(0),
  provider: peer,
  agreeing: z.array(peer).max(16),
  receipt: z.record(z.string(), z.unknown()).nullable(),
  receiptEnvelope: bytesSchema.nullable(),
  cost: z.object({ paid: wei, charged: wei, royalties: amounts, fee: wei }),
  startedAt: z.number(),
  finishedAt: z.number(),
  failures: z.array(z.object({ provider: z.string().max(2048), code: z.string().max(64) })).max(16),
  compression: z
    .array(
      z.object({
        input: z.number().int().min(0),
        ratio: z.number(),
        method: z.string().max(32),
        score: z.number(),
      }),
    )
    .max(64),
  parents: z.array(cidSchema).max(64),
  signer: peer,
  signature: bytesSchema,
})

/** The shape of a Trace root block. */
export const TraceSchema = z.object({
  type: z.literal('prsm-trace'),
  version: z.literal(1),
  query: z.string().max(16_384),
  workflow: cidSchema,
  steps: z.array(cidSchema).max(1000),
  output: cidSchema,
  outputHash: z.string().regex(/^[0-9a-f]{64}$/),
  cost: z.object({
    total: wei,
    perProvider: z.array(z.object({ provider: peer, amount: wei })).max(1024),
    royalties: amounts,
    networkFee: wei,
    feeBps: z.number().int().min(0),
  }),
  startedAt: z.number(),
  finishedAt: z.number(),
  signer: peer,
  signature: bytesSchema,
})

export type Unsigned<T> = Omit<T, 'signer' | 'signature'>

function signingBytes(body: object): Uint8Array {
  const encoded = dagCbor.encode(stripUndefined(body))
  const out = new Uint8Array(TRACE_DOMAIN.length + encoded.length)
  out.set(TRACE_DOMAIN, 0)
  out.set(encoded, TRACE_DOMAIN.length)
  return out
}

/** Signs a trace record with the node key; returns the record and its dag-cbor bytes and CID. */
export async function signRecord<T extends TraceStep | Trace>(
  key: PrivateKey,
  body: Unsigned<T>,
): Promise<{ record: T; bytes: Uint8Array; cid: CID }> {
  const signer = peerIdFromPrivateKey(key).toString()
  const signature = await key.sign(signingBytes({ ...body, signer }))
  const record = { ...body, signer, signature } as T
  const bytes = dagCbor.encode(stripUndefined(record))
  return { record, bytes, cid: CID.createV1(dagCbor.code, await sha256.digest(bytes)) }
}

/** True when `record.signature` is `record.signer`'s Ed25519 signature over the other fields. */
export async function recordSignatureValid(record: TraceStep | Trace): Promise<boolean> {
  try {
    const { signature, ...body } = record
    const peer = peerIdFromString(record.signer)
    if (peer.publicKey === undefined) return false
    return await peer.publicKey.verify(signingBytes(body), signature)
  } catch {
    return false
  }
}

/** Hex sha256. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}

/** The CID of bytes stored as one raw block (what {@link putContent} gives for small content). */
export async function rawCid(bytes: Uint8Array): Promise<CID> {
  return CID.createV1(raw.code, await sha256.digest(bytes))
}

/**
 * Stores bytes as content and returns the CID: one raw block when small (the same CID a
 * one-chunk UnixFS import gives), a UnixFS import otherwise. Readable with `storage.cat`.
 */
export async function putContent(
  storage: Pick<ContentStorage, 'putBlock' | 'add'>,
  bytes: Uint8Array,
  options: { signal?: AbortSignal } = {},
): Promise<CID> {
  if (bytes.byteLength <= RAW_BLOCK_MAX_BYTES) {
    const cid = await rawCid(bytes)
    await storage.putBlock(cid, bytes)
    return cid
  }
  const { cid } = await storage.add(
    (async function* () {
      yield bytes
    })(),
    options,
  )
  return CID.parse(cid)
}

/** Reads content (raw block or UnixFS file) into one buffer, from the network when needed. */
export async function readContent(
  storage: Pick<ContentStorage, 'cat'>,
  cid: CID | string,
  options: { signal?: AbortSignal } = {},
): Promise<Uint8Array> {
  const parts: Uint8Array[] = []
  for await (const chunk of storage.cat(cid.toString(), options)) parts.push(chunk)
  return parts.length === 1 ? (parts[0] as Uint8Array) : Buffer.concat(parts)
}

/** Reads and decodes a trace record block (root or step) by CID, fetching it when needed. */
export async function loadRecord<T extends Trace | TraceStep>(
  storage: Pick<ContentStorage, 'block'>,
  cid: CID | string,
  expected: T['type'],
  options: { signal?: AbortSignal } = {},
): Promise<T> {
  let parsed: CID
  try {
    parsed = typeof cid === 'string' ? CID.parse(cid) : cid
  } catch (cause) {
    throw new PrsmError('VALIDATION_FAILED', `not a CID: ${String(cid)}`, { cause })
  }
  if (parsed.code !== dagCbor.code) {
    throw new PrsmError('TRACE_INVALID', `${parsed} is not a dag-cbor trace record`, {
      details: { cid: parsed.toString() },
    })
  }
  const bytes = await storage.block(parsed.toString(), options)
  let record: unknown
  try {
    record = dagCbor.decode(bytes)
  } catch (cause) {
    throw new PrsmError('TRACE_INVALID', `${parsed} is not valid dag-cbor`, {
      cause,
      details: { cid: parsed.toString() },
    })
  }
  const schema = expected === 'prsm-trace' ? TraceSchema : TraceStepSchema
  const checked = schema.safeParse(record)
  if (!checked.success) {
    const issue = checked.error.issues[0]
    throw new PrsmError(
      'TRACE_INVALID',
      `${parsed} is not a ${expected} record (${issue?.path.join('.') || '(root)'}: ${issue?.message})`,
      { details: { cid: parsed.toString() } },
    )
  }
  return record as T
}
