import { createHash } from 'node:crypto'
import { PrsmError } from '@prsm/core'
import { CID } from 'multiformats/cid'
import * as json from 'multiformats/codecs/json'
import * as raw from 'multiformats/codecs/raw'
import { create as createDigest } from 'multiformats/hashes/digest'
import { sha256 } from 'multiformats/hashes/sha2'
import { z } from 'zod'
import { SAFETY_CATEGORIES, type SafetyCategory } from './assess/violation.ts'

/**
 * A safety policy is data: for each category an action (block, redact, flag) and what to do
 * when the check itself fails (fail open: allow; fail closed: refuse), plus the limits and the
 * score above which anything is blocked. The network's policy is the JSON document whose CID's
 * sha2-256 digest is the `safetyPolicy` governance parameter.
 */
export const ACTIONS = ['block', 'redact', 'flag'] as const
export type SafetyAction = (typeof ACTIONS)[number]

const CategoryRuleSchema = z
  .object({
    action: z.enum(ACTIONS).describe('What a finding in this category does'),
    failMode: z
      .enum(['open', 'closed'])
      .default('closed')
      .describe('When the check for this category cannot run: open lets the text through, closed refuses it'),
    minSeverity: z.number().min(0).max(1).default(0).describe('Findings below this severity are ignored'),
  })
  .strict()

export const SafetyPolicySchema = z
  .object({
    version: z.literal(1),
    name: z.string().min(1).max(100),
    categories: z.partialRecord(z.enum(SAFETY_CATEGORIES), CategoryRuleSchema),
    /** Any assessment scoring at least this is blocked whatever the category actions say. */
    blockScore: z.number().min(0).max(1).default(0.97),
    limits: z
      .object({
        maxChars: z.number().int().min(1).default(1_000_000),
        ratePerMinute: z.number().int().min(0).default(0),
        burst: z.number().int().min(1).default(60),
        budget: z.number().min(0).default(0),
        budgetWindowMs: z.number().int().min(1000).default(3_600_000),
      })
      .strict()
      .prefault({}),
  })
  .strict()

export type SafetyPolicy = z.output<typeof SafetyPolicySchema>
export type CategoryRule = z.output<typeof CategoryRuleSchema>

/** The policy shipped with the node, used until governance names another. */
export const DEFAULT_POLICY: SafetyPolicy = SafetyPolicySchema.parse({
  version: 1,
  name: 'prsm-default-1',
  categories: {
    injection: { action: 'block', failMode: 'closed' },
    jailbreak: { action: 'block', failMode: 'closed' },
    harmful: { action: 'block', failMode: 'closed' },
    secret: { action: 'redact', failMode: 'closed' },
    pii: { action: 'redact', failMode: 'open' },
    obfuscation: { action: 'flag', failMode: 'open' },
    size: { action: 'block', failMode: 'closed' },
    rate: { action: 'block', failMode: 'closed' },
    budget: { action: 'block', failMode: 'closed' },
    classifier: { action: 'block', failMode: 'open' },
    judge: { action: 'block', failMode: 'open' },
  },
  blockScore: 0.97,
  limits: { maxChars: 1_000_000, ratePerMinute: 0, burst: 60, budget: 0, budgetWindowMs: 3_600_000 },
})

/** The rule for `category` (absent categories are flagged, fail open). */
export function ruleFor(policy: SafetyPolicy, category: SafetyCategory): CategoryRule {
  return policy.categories[category] ?? { action: 'flag', failMode: 'open', minSeverity: 0 }
}

/** Parses a policy document (JSON bytes or text); SAFETY_POLICY_INVALID with the field path. */
export function parsePolicy(doc: Uint8Array | string): SafetyPolicy {
  let value: unknown
  try {
    value = JSON.parse(typeof doc === 'string' ? doc : new TextDecoder().decode(doc))
  } catch (cause) {
    throw new PrsmError('SAFETY_POLICY_INVALID', 'the safety policy is not JSON', { cause })
  }
  const r = SafetyPolicySchema.safeParse(value)
  if (!r.success) {
    const issue = r.error.issues[0]
    throw new PrsmError(
      'SAFETY_POLICY_INVALID',
      `invalid safety policy at ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`,
      { details: { issues: r.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })) } },
    )
  }
  return r.data
}

/** The canonical bytes of a policy (what is stored and hashed). */
export function encodePolicy(policy: SafetyPolicy): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(policy))
}

/** The raw-codec CIDv1 of the policy bytes. */
export async function policyCid(bytes: Uint8Array): Promise<CID> {
  return CID.createV1(raw.code, await sha256.digest(bytes))
}

/**
 * The `safetyPolicy` parameter value for a policy document: the sha2-256 digest of its bytes as
 * a uint256. The digest is the same for the document stored with the raw codec or the dag-json
 * codec, so either CID names the same parameter value.
 */
export function policyParameter(bytes: Uint8Array): bigint {
  return BigInt(`0x${createHash('sha256').update(bytes).digest('hex')}`)
}

const DAG_JSON = 0x0129

/** The CIDs (raw, json and dag-json codecs) whose digest a `safetyPolicy` parameter value names. */
export function cidsForParameter(value: bigint): CID[] {
  if (value <= 0n || value >= 1n << 256n)
    throw new PrsmError('SAFETY_POLICY_INVALID', 'safetyPolicy is not a sha2-256 digest')
  const mh = createDigest(
    sha256.code,
    new Uint8Array(Buffer.from(value.toString(16).padStart(64, '0'), 'hex')),
  )
  return [CID.createV1(raw.code, mh), CID.createV1(json.code, mh), CID.createV1(DAG_JSON, mh)]
}
