import * as dagCbor from '@ipld/dag-cbor'
import { PrsmError } from '@prsm/core'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { getAddress, type Hex, isAddress, recoverTypedDataAddress } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { z } from 'zod'

export const MANIFEST_KINDS = ['model', 'dataset', 'tool'] as const

const cidString = z.string().refine((s) => {
  try {
    CID.parse(s)
    return true
  } catch {
    return false
  }
}, 'must be a CID')
const nameSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$/, 'letters, digits, . _ / - (no @)')

/** What a creator writes (the JSON given to `prsm manifest publish`); the node fills creator, created and signs. */
export const ManifestInputSchema = z
  .object({
    kind: z.enum(MANIFEST_KINDS),
    name: nameSchema,
    version: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$/, 'letters, digits, . _ + - (no @)'),
    files: z
      .array(
        z
          .object({
            path: z.string().min(1).max(512),
            cid: cidString,
            size: z.number().int().min(0).optional(),
          })
          .strict(),
      )
      .min(1)
      .max(1000),
    royaltyBps: z.number().int().min(0).max(10_000).default(0),
    license: z.string().max(128).default(''),
    description: z.string().max(4096).default(''),
    parents: z.array(cidString).max(64).default([]),
    evaluation: cidString.optional(),
  })
  .strict()
export type ManifestInput = z.input<typeof ManifestInputSchema>

/** A signed manifest as the API shows it (CIDs as strings). */
export interface Manifest {
  kind: (typeof MANIFEST_KINDS)[number]
  name: string
  version: string
  files: Array<{ path: string; cid: string; size: number }>
  /** The creator's wallet address (checksummed). */
  creator: Hex
  royaltyBps: number
  license: string
  description: string
  parents: string[]
  /** Milliseconds since the epoch. */
  created: number
  evaluation?: string
  /** EIP-712 signature by `creator` over every other field. */
  signature: Hex
}

/** The EIP-712 domain and types of a manifest signature (chain-independent: no chainId). */
export const MANIFEST_DOMAIN = { name: 'PRSM Manifest', version: '1' } as const
export const MANIFEST_TYPES = {
  File: [
    { name: 'path', type: 'string' },
    { name: 'cid', type: 'string' },
    { name: 'size', type: 'uint64' },
  ],
  Manifest: [
    { name: 'kind', type: 'string' },
    { name: 'name', type: 'string' },
    { name: 'version', type: 'string' },
    { name: 'files', type: 'File[]' },
    { name: 'creator', type: 'address' },
    { name: 'royaltyBps', type: 'uint16' },
    { name: 'license', type: 'string' },
    { name: 'description', type: 'string' },
    { name: 'parents', type: 'string[]' },
    { name: 'created', type: 'uint64' },
    { name: 'evaluation', type: 'string' },
  ],
} as const

function typedMessage(m: Omit<Manifest, 'signature'>) {
  return {
    kind: m.kind,
    name: m.name,
    version: m.version,
    files: m.files.map((f) => ({ path: f.path, cid: f.cid, size: BigInt(f.size) })),
    creator: m.creator,
    royaltyBps: m.royaltyBps,
    license: m.license,
    description: m.description,
    parents: m.parents,
    created: BigInt(m.created),
    evaluation: m.evaluation ?? '',
  }
}

/** Signs a manifest with the creator's wallet key (EIP-712). Sizes must be filled in. */
export async function signManifest(
  input: Omit<Manifest, 'signature' | 'creator'>,
  walletKey: Hex,
): Promise<Manifest> {
  const account = privateKeyToAccount(walletKey)
  const unsigned = { ...input, creator: account.address }
  const signature = await account.signTypedData({
    domain: MANIFEST_DOMAIN,
    types: MANIFEST_TYPES,
    primaryType: 'Manifest',
    message: typedMessage(unsigned),
  })
  return { ...unsigned, signature }
}

/** True when the signature recovers to the manifest's creator. Never trusts whoever served it. */
export async function manifestSignatureValid(m: Manifest): Promise<boolean> {
  try {
    const { signature, ...unsigned } = m
    const signer = await recoverTypedDataAddress({
      domain: MANIFEST_DOMAIN,
      types: MANIFEST_TYPES,
      primaryType: 'Manifest',
      message: typedMessage(unsigned),
      signature,
    })
    return signer.toLowerCase() === m.creator.toLowerCase()
  } catch {
    return false
  }
}

const StoredSchema = z
  .object({
    kind: z.enum(MANIFEST_KINDS),
    name: nameSchema,
    version: z.string().min(1).max(64),
    files: z
      .array(
        z
          .object({ path: z.string().min(1).max(512), cid: z.instanceof(CID), size: z.number().int().min(0) })
          .strict(),
      )
      .min(1)
      .max(1000),
    creator: z.string().refine((s) => isAddress(s), 'must be an address'),
    royaltyBps: z.number().int().min(0).max(10_000),
    license: z.string().max(128),
    description: z.string().max(4096),
    parents: z.array(z.instanceof(CID)).max(64),
    created: z.number().int().min(0),
    evaluation: z.instanceof(CID).optional(),
    signature: z.string().regex(/^0x[0-9a-fA-F]{130}$/),
  })
  .strict()

/** dag-cbor encoding; file, parent and evaluation CIDs are IPLD links. */
export async function encodeManifest(m: Manifest): Promise<{ cid: CID; bytes: Uint8Array }> {
  const record: Record<string, unknown> = {
    kind: m.kind,
    name: m.name,
    version: m.version,
    files: m.files.map((f) => ({ path: f.path, cid: CID.parse(f.cid), size: f.size })),
    creator: m.creator,
    royaltyBps: m.royaltyBps,
    license: m.license,
    description: m.description,
    parents: m.parents.map((p) => CID.parse(p)),
    created: m.created,
    signature: m.signature,
  }
  if (m.evaluation !== undefined) record.evaluation = CID.parse(m.evaluation)
  const bytes = dagCbor.encode(record)
  return { cid: CID.createV1(dagCbor.code, await sha256.digest(bytes)), bytes }
}

/** Decodes and schema-checks a manifest block (no signature check). Throws MANIFEST_INVALID. */
export function decodeManifest(bytes: Uint8Array): Manifest {
  let raw: unknown
  try {
    raw = dagCbor.decode(bytes)
  } catch (err) {
    throw new PrsmError('MANIFEST_INVALID', `not dag-cbor: ${(err as Error).message}`)
  }
  const parsed = StoredSchema.safeParse(raw)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    throw new PrsmError(
      'MANIFEST_INVALID',
      `manifest invalid at ${issue?.path.join('.') || '(root)'}: ${issue?.message}`,
    )
  }
  const r = parsed.data
  return {
    kind: r.kind,
    name: r.name,
    version: r.version,
    files: r.files.map((f) => ({ path: f.path, cid: f.cid.toString(), size: f.size })),
    creator: getAddress(r.creator),
    royaltyBps: r.royaltyBps,
    license: r.license,
    description: r.description,
    parents: r.parents.map((p) => p.toString()),
    created: r.created,
    ...(r.evaluation === undefined ? {} : { evaluation: r.evaluation.toString() }),
    signature: r.signature as Hex,
  }
}

/** The DHT key under which providers of a manifest name announce themselves. */
export async function manifestNameCid(name: string): Promise<CID> {
  return CID.createV1(0x55, await sha256.digest(new TextEncoder().encode(`prsm/manifest/${name}`)))
}

/** Validates a creator's JSON input. Throws MANIFEST_INVALID naming the field. */
export function parseManifestInput(input: unknown): z.output<typeof ManifestInputSchema> {
  const parsed = ManifestInputSchema.safeParse(input)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    throw new PrsmError('MANIFEST_INVALID', `${issue?.path.join('.') || '(root)'}: ${issue?.message}`, {
      details: {
        issues: parsed.error.issues.slice(0, 5).map((i) => ({ path: i.path.join('.'), reason: i.message })),
      },
    })
  }
  return parsed.data
}
