import * as dagCbor from '@ipld/dag-cbor'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import type { z } from 'zod'
import { type ErrorCode, PrsmError } from './errors.ts'

/**
 * Every PRSM application message travels as a signed envelope, encoded in canonical dag-cbor:
 * `{ type, version, payload, sender, nonce, timestamp, signature }`. The signature is the
 * sender's node key (Ed25519) over the dag-cbor encoding of every other field, prefixed with
 * {@link SIGNING_DOMAIN} so a signature can never be replayed in another context.
 */
export interface Envelope<P = unknown> {
  type: string
  version: number
  payload: P
  /** The sender's PeerId (string form); its public key is inside the PeerId. */
  sender: string
  /** 16 random bytes; together with the sender it identifies the message for replay protection. */
  nonce: Uint8Array
  /** Milliseconds since the epoch at signing. */
  timestamp: number
  signature: Uint8Array
}

export const SIGNING_DOMAIN = new TextEncoder().encode('prsm-envelope-v1:')
export const NONCE_BYTES = 16

/** Known message types and their payload schemas, keyed by `type@version`. */
export class MessageRegistry {
  readonly #schemas = new Map<string, z.ZodType>()

  register<S extends z.ZodType>(type: string, version: number, schema: S): MessageType<z.output<S>> {
    const key = `${type}@${version}`
    if (this.#schemas.has(key)) throw new Error(`message type ${key} registered twice`)
    this.#schemas.set(key, schema)
    return { type, version }
  }

  schema(type: string, version: number): z.ZodType | undefined {
    return this.#schemas.get(`${type}@${version}`)
  }
}

/** A registered message type; the phantom parameter carries the payload type. */
export interface MessageType<P> {
  readonly type: string
  readonly version: number
  readonly __payload?: P
}

function signingBytes(fields: Omit<Envelope, 'signature'>): Uint8Array {
  const body = dagCbor.encode({
    type: fields.type,
    version: fields.version,
    payload: fields.payload,
    sender: fields.sender,
    nonce: fields.nonce,
    timestamp: fields.timestamp,
  })
  const out = new Uint8Array(SIGNING_DOMAIN.length + body.length)
  out.set(SIGNING_DOMAIN, 0)
  out.set(body, SIGNING_DOMAIN.length)
  return out
}

/** dag-cbor refuses `undefined`; optional fields that are absent are simply dropped. */
export function stripUndefined(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stripUndefined)
  if (value !== null && typeof value === 'object' && !(value instanceof Uint8Array)) {
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = stripUndefined(v)
    return out
  }
  return value
}

export interface SealOptions {
  /** Override the clock (tests). */
  now?: number
  /** Override the nonce (tests only: a fixed nonce defeats replay protection). */
  nonce?: Uint8Array
}

/** Signs a payload into an envelope and returns its canonical bytes. */
export async function sealEnvelope<P>(
  key: PrivateKey,
  kind: MessageType<P>,
  payload: P,
  options: SealOptions = {},
): Promise<Uint8Array> {
  const fields = {
    type: kind.type,
    version: kind.version,
    payload: stripUndefined(payload),
    sender: peerIdFromPrivateKey(key).toString(),
    nonce: options.nonce ?? crypto.getRandomValues(new Uint8Array(NONCE_BYTES)),
    timestamp: options.now ?? Date.now(),
  }
  const signature = await key.sign(signingBytes(fields))
  return dagCbor.encode({ ...fields, signature })
}

/**
 * Remembers (sender, nonce) pairs for as long as a message could still pass the timestamp check,
 * so a captured message cannot be delivered twice. Bounded: the oldest entries go first.
 */
export class ReplayGuard {
  readonly #seen = new Map<string, number>()
  readonly #windowMs: number
  readonly #maxEntries: number

  constructor(windowMs: number, maxEntries = 200_000) {
    this.#windowMs = windowMs
    this.#maxEntries = maxEntries
  }

  /** Records the pair; returns false if it was already seen. */
  check(sender: string, nonce: Uint8Array, now: number): boolean {
    const key = `${sender}/${Buffer.from(nonce).toString('base64')}`
    if (this.#seen.has(key)) return false
    this.#seen.set(key, now)
    if (this.#seen.size > this.#maxEntries) this.#evict(now)
    return true
  }

  #evict(now: number): void {
    for (const [key, at] of this.#seen) {
      if (this.#seen.size <= this.#maxEntries && now - at < this.#windowMs) break
      this.#seen.delete(key)
    }
  }

  get size(): number {
    return this.#seen.size
  }
}

export interface OpenOptions {
  registry: MessageRegistry
  maxBytes: number
  maxClockSkewMs: number
  /** Replay protection; omit only for records that are legitimately re-served (none today). */
  replay?: ReplayGuard
  /** When set, the envelope must be of this type. */
  expect?: MessageType<unknown>
  now?: number
}

export interface OpenedEnvelope<P> {
  envelope: Envelope<P>
  size: number
}

function reject(code: ErrorCode, message: string, details: Record<string, unknown> = {}): never {
  throw new PrsmError(code, message, { details })
}

/**
 * Decodes and verifies an envelope. Checks, in order: size cap, decoding, shape, type/version,
 * timestamp skew, signature, nonce replay, payload schema. Each failure throws a PrsmError with
 * its MESSAGE_* code; nothing is returned unless every check passed.
 */
export async function openEnvelope<P = unknown>(
  bytes: Uint8Array,
  options: OpenOptions,
): Promise<OpenedEnvelope<P>> {
  if (bytes.byteLength > options.maxBytes) {
    reject(
      'MESSAGE_OVERSIZE',
      `message of ${bytes.byteLength} bytes exceeds the cap of ${options.maxBytes}`,
      {
        size: bytes.byteLength,
        maxBytes: options.maxBytes,
      },
    )
  }
  let raw: unknown
  try {
    raw = dagCbor.decode(bytes)
  } catch (err) {
    reject('MESSAGE_MALFORMED', `message is not valid dag-cbor: ${(err as Error).message}`)
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
    reject('MESSAGE_MALFORMED', 'message is not a map')
  const e = raw as Record<string, unknown>
  if (
    typeof e.type !== 'string' ||
    typeof e.version !== 'number' ||
    typeof e.sender !== 'string' ||
    typeof e.timestamp !== 'number' ||
    !(e.nonce instanceof Uint8Array) ||
    e.nonce.byteLength !== NONCE_BYTES ||
    !(e.signature instanceof Uint8Array) ||
    !('payload' in e) ||
    Object.keys(e).length !== 7
  ) {
    reject('MESSAGE_MALFORMED', 'message does not have the envelope fields')
  }
  const schema = options.registry.schema(e.type as string, e.version as number)
  if (
    schema === undefined ||
    (options.expect !== undefined && (options.expect.type !== e.type || options.expect.version !== e.version))
  ) {
    reject('MESSAGE_UNKNOWN_TYPE', `unexpected message type ${String(e.type)}@${String(e.version)}`, {
      type: e.type,
      version: e.version,
    })
  }
  const now = options.now ?? Date.now()
  const skew = Math.abs(now - (e.timestamp as number))
  if (skew > options.maxClockSkewMs) {
    reject('MESSAGE_STALE', `message timestamp is ${Math.round(skew / 1000)} s from local time`, {
      skewMs: skew,
      maxClockSkewMs: options.maxClockSkewMs,
    })
  }
  const envelope = e as unknown as Envelope
  let valid = false
  try {
    const peer = peerIdFromString(envelope.sender)
    if (peer.publicKey === undefined) reject('MESSAGE_BAD_SIGNATURE', 'sender PeerId carries no public key')
    const { signature, ...fields } = envelope
    valid = await peer.publicKey.verify(signingBytes(fields), signature)
  } catch (err) {
    if (err instanceof PrsmError) throw err
    valid = false
  }
  if (!valid)
    reject('MESSAGE_BAD_SIGNATURE', 'message signature does not verify', { sender: envelope.sender })
  if (options.replay !== undefined && !options.replay.check(envelope.sender, envelope.nonce, now)) {
    reject('MESSAGE_REPLAYED', 'message nonce was already seen', { sender: envelope.sender })
  }
  const parsed = (schema as z.ZodType).safeParse(envelope.payload)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    reject('MESSAGE_SCHEMA', `payload invalid at ${issue?.path.join('.') || '(root)'}: ${issue?.message}`, {
      type: envelope.type,
      issues: parsed.error.issues.slice(0, 5).map((i) => ({ path: i.path.join('.'), reason: i.message })),
    })
  }
  return { envelope: { ...envelope, payload: parsed.data as P }, size: bytes.byteLength }
}
