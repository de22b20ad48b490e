import { createHash } from 'node:crypto'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { CapabilitySchema, PrsmError } from '@prsm/core'
import { z } from 'zod'

/**
 * Halt scopes: the whole network, one provider (by PeerId) or one model / capability.
 * `model:NAME` is the capability `model:NAME`; other capabilities are `capability:KIND:NAME`.
 */
export type HaltScope = string
export type HaltAction = 'halt' | 'resume'

const PEER_ID = /^[1-9A-HJ-NP-Za-km-z]{32,64}$/

/** Parses a scope; throws VALIDATION_FAILED for anything else. */
export function parseScope(
  scope: string,
): { kind: 'network' } | { kind: 'provider'; peer: string } | { kind: 'capability'; capability: string } {
  if (scope === 'network') return { kind: 'network' }
  if (scope.startsWith('provider:') && PEER_ID.test(scope.slice(9)))
    return { kind: 'provider', peer: scope.slice(9) }
  if (scope.startsWith('model:') && CapabilitySchema.safeParse(scope).success) {
    return { kind: 'capability', capability: scope }
  }
  if (scope.startsWith('capability:') && CapabilitySchema.safeParse(scope.slice(11)).success) {
    return { kind: 'capability', capability: scope.slice(11) }
  }
  throw new PrsmError(
    'VALIDATION_FAILED',
    `invalid halt scope ${JSON.stringify(scope)}: use network, provider:PEER_ID, model:NAME or capability:KIND:NAME`,
  )
}

export const HaltScopeSchema = z
  .string()
  .max(160)
  .refine((s) => {
    try {
      parseScope(s)
      return true
    } catch {
      return false
    }
  }, 'invalid halt scope')

/** What a validator signs. `chainId` and `registry` pin the vote to one deployment's validator set. */
export const HaltVoteSchema = z
  .object({
    scope: HaltScopeSchema,
    epoch: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
    action: z.enum(['halt', 'resume']),
    reason: z.string().max(256),
    /** The validator's PeerId (its node key signs; the registry binds it to the staking wallet). */
    validator: z.string().regex(PEER_ID),
    chainId: z.number().int().min(0),
    registry: z.string().regex(/^0x[0-9a-fA-F]{40}$/),
    time: z.number().int().min(0),
  })
  .strict()
export type HaltVote = z.infer<typeof HaltVoteSchema>

export const SignedHaltVoteSchema = z
  .object({ vote: HaltVoteSchema, signature: z.instanceof(Uint8Array).refine((s) => s.byteLength === 64) })
  .strict()
export type SignedHaltVote = z.infer<typeof SignedHaltVoteSchema>

/** Most votes a certificate may carry (the validator set is bounded by it). */
export const MAX_CERTIFICATE_VOTES = 256

export const HaltCertificateSchema = z
  .object({
    scope: HaltScopeSchema,
    epoch: z.number().int().min(1),
    action: z.enum(['halt', 'resume']),
    votes: z.array(SignedHaltVoteSchema).min(1).max(MAX_CERTIFICATE_VOTES),
  })
  .strict()
export type HaltCertificate = z.infer<typeof HaltCertificateSchema>

/** Two votes by one validator for one scope and epoch with different actions. */
export interface HaltEvidence {
  /** sha256 of both votes' signing bytes, hex: the `evidenceHash` of a slashing proposal. */
  id: string
  validator: string
  /** The validator's staking wallet (from the registry), when known. */
  address?: string
  scope: HaltScope
  epoch: number
  votes: [SignedHaltVote, SignedHaltVote]
  time: number
}

const DOMAIN = 'prsm-halt-vote-v1\n'

/** The bytes a validator signs: a fixed-order text form of the vote. */
export function voteSigningBytes(v: HaltVote): Uint8Array {
  return new TextEncoder().encode(
    DOMAIN +
      JSON.stringify([
        v.chainId,
        v.registry.toLowerCase(),
        v.scope,
        v.epoch,
        v.action,
        v.reason,
        v.validator,
        v.time,
      ]),
  )
}

export async function signHaltVote(key: PrivateKey, vote: HaltVote): Promise<SignedHaltVote> {
  const parsed = HaltVoteSchema.parse(vote)
  if (peerIdFromPrivateKey(key).toString() !== parsed.validator) {
    throw new PrsmError('HALT_VOTE_INVALID', 'the vote names another validator than the signing key')
  }
  return { vote: parsed, signature: new Uint8Array(await key.sign(voteSigningBytes(parsed))) }
}

/** True when the vote's signature is the named validator's node key. */
export async function voteSignatureValid(v: SignedHaltVote): Promise<boolean> {
  try {
    const key = peerIdFromString(v.vote.validator).publicKey
    if (key === undefined) return false
    return await key.verify(voteSigningBytes(v.vote), v.signature)
  } catch {
    return false
  }
}

/** f = ⌊(n−1)/3⌋ faulty validators tolerated; a certificate needs max(2f+1, ⌈n·bps/10 000⌉) votes. */
export function quorumSize(n: number, quorumBps = 0): number {
  if (n <= 0) return Number.POSITIVE_INFINITY
  const f = Math.floor((n - 1) / 3)
  return Math.min(n, Math.max(2 * f + 1, Math.ceil((n * quorumBps) / 10_000)))
}

/** The validator set a vote or certificate is checked against. */
export interface ValidatorView {
  chainId: number
  registry: string
  /** PeerId → staking wallet, for validators whose registry binding verifies. */
  validators: ReadonlyMap<string, string>
  quorumBps: number
}

/** Checks one vote against the validator set: schema, deployment, membership, signature. */
export async function checkVote(v: SignedHaltVote, view: ValidatorView): Promise<void> {
  const bad = (message: string): never => {
    throw new PrsmError('HALT_VOTE_INVALID', message, { details: { validator: v.vote.validator } })
  }
  if (v.vote.chainId !== view.chainId || v.vote.registry.toLowerCase() !== view.registry.toLowerCase()) {
    bad('the vote is for another deployment')
  }
  if (!view.validators.has(v.vote.validator)) bad(`${v.vote.validator} is not in the validator set`)
  if (!(await voteSignatureValid(v))) bad('the vote signature does not verify')
}

/**
 * Verifies a certificate: every vote for the certificate's scope, epoch and action, signed by a
 * distinct member of the current validator set, and at least a quorum of them. Throws
 * HALT_CERTIFICATE_INVALID naming the first problem.
 */
export async function verifyCertificate(input: unknown, view: ValidatorView): Promise<HaltCertificate> {
  const parsed = HaltCertificateSchema.safeParse(input)
  if (!parsed.success) {
    throw new PrsmError(
      'HALT_CERTIFICATE_INVALID',
      `malformed certificate: ${parsed.error.issues[0]?.message}`,
    )
  }
  const cert = parsed.data
  const seen = new Set<string>()
  for (const v of cert.votes) {
    if (v.vote.scope !== cert.scope || v.vote.epoch !== cert.epoch || v.vote.action !== cert.action) {
      throw new PrsmError(
        'HALT_CERTIFICATE_INVALID',
        'a vote in the certificate is for another scope, epoch or action',
      )
    }
    if (seen.has(v.vote.validator)) {
      throw new PrsmError('HALT_CERTIFICATE_INVALID', `validator ${v.vote.validator} is counted twice`)
    }
    seen.add(v.vote.validator)
    try {
      await checkVote(v, view)
    } catch (err) {
      throw new PrsmError('HALT_CERTIFICATE_INVALID', (err as Error).message, { cause: err })
    }
  }
  const need = quorumSize(view.validators.size, view.quorumBps)
  if (seen.size < need) {
    throw new PrsmError(
      'HALT_CERTIFICATE_INVALID',
      `the certificate carries ${seen.size} validator votes; the quorum of ${view.validators.size} validators is ${need}`,
      { details: { votes: seen.size, quorum: need, validators: view.validators.size } },
    )
  }
  return cert
}

export function evidenceId(a: SignedHaltVote, b: SignedHaltVote): string {
  const [x, y] = [voteSigningBytes(a.vote), voteSigningBytes(b.vote)].sort(Buffer.compare)
  return createHash('sha256')
    .update(x as Uint8Array)
    .update(y as Uint8Array)
    .digest('hex')
}

/** The outcome of adding one valid vote to a {@link VoteBook}. */
export interface VoteOutcome {
  /** False when the same vote (or another vote of this validator for this scope, epoch and action) was already counted. */
  fresh: boolean
  evidence?: HaltEvidence
  certificate?: HaltCertificate
}

/**
 * Collects checked votes per (scope, epoch) and forms certificates. A validator that signs both
 * halt and resume in one epoch is an equivocator: the pair becomes evidence, and neither of its
 * votes counts towards a certificate of that epoch.
 */
export class VoteBook {
  readonly #votes = new Map<string, Map<string, SignedHaltVote[]>>()
  readonly #equivocators = new Map<string, Set<string>>()

  /** Open (scope, epoch) pairs with votes. */
  get open(): number {
    return this.#votes.size
  }

  /** True when votes for this scope and epoch are already being collected. */
  has(scope: string, epoch: number): boolean {
    return this.#votes.has(VoteBook.key(scope, epoch))
  }

  static key(scope: string, epoch: number): string {
    return `${scope}\n${epoch}`
  }

  add(v: SignedHaltVote, view: Pick<ValidatorView, 'validators' | 'quorumBps'>): VoteOutcome {
    const key = VoteBook.key(v.vote.scope, v.vote.epoch)
    let byValidator = this.#votes.get(key)
    if (byValidator === undefined) {
      byValidator = new Map()
      this.#votes.set(key, byValidator)
    }
    const mine = byValidator.get(v.vote.validator) ?? []
    if (mine.some((m) => m.vote.action === v.vote.action)) return { fresh: false }
    const outcome: VoteOutcome = { fresh: true }
    const other = mine.find((m) => m.vote.action !== v.vote.action)
    if (other !== undefined) {
      let eq = this.#equivocators.get(key)
      if (eq === undefined) {
        eq = new Set()
        this.#equivocators.set(key, eq)
      }
      eq.add(v.vote.validator)
      const address = view.validators.get(v.vote.validator)
      outcome.evidence = {
        id: evidenceId(other, v),
        validator: v.vote.validator,
        ...(address === undefined ? {} : { address }),
        scope: v.vote.scope,
        epoch: v.vote.epoch,
        votes: [other, v],
        time: Date.now(),
      }
    }
    mine.push(v)
    byValidator.set(v.vote.validator, mine)
    const cert = this.#tryCertificate(v.vote.scope, v.vote.epoch, v.vote.action, view)
    if (cert !== undefined) outcome.certificate = cert
    return outcome
  }

  #tryCertificate(
    scope: string,
    epoch: number,
    action: HaltAction,
    view: Pick<ValidatorView, 'validators' | 'quorumBps'>,
  ): HaltCertificate | undefined {
    const key = VoteBook.key(scope, epoch)
    const eq = this.#equivocators.get(key) ?? new Set()
    const votes: SignedHaltVote[] = []
    for (const [validator, list] of this.#votes.get(key) ?? []) {
      if (eq.has(validator) || !view.validators.has(validator)) continue
      const v = list.find((x) => x.vote.action === action)
      if (v !== undefined) votes.push(v)
    }
    if (votes.length < quorumSize(view.validators.size, view.quorumBps)) return undefined
    votes.sort((a, b) => a.vote.validator.localeCompare(b.vote.validator))
    return { scope, epoch, action, votes: votes.slice(0, MAX_CERTIFICATE_VOTES) }
  }

  /** Votes waiting for a quorum: per scope and epoch, the validators for each action. */
  pending(): Array<{
    scope: string
    epoch: number
    halt: string[]
    resume: string[]
    equivocators: string[]
  }> {
    const out = []
    for (const [key, byValidator] of this.#votes) {
      const [scope, epoch] = key.split('\n') as [string, string]
      const halt: string[] = []
      const resume: string[] = []
      for (const [validator, list] of byValidator) {
        for (const v of list) (v.vote.action === 'halt' ? halt : resume).push(validator)
      }
      out.push({
        scope,
        epoch: Number(epoch),
        halt,
        resume,
        equivocators: [...(this.#equivocators.get(key) ?? [])],
      })
    }
    return out
  }

  /** Forgets votes of epochs before `epoch` for a scope (the decided epoch is kept for evidence). */
  settle(scope: string, epoch: number): void {
    for (const key of [...this.#votes.keys()]) {
      const [s, e] = key.split('\n') as [string, string]
      if (s === scope && Number(e) < epoch) {
        this.#votes.delete(key)
        this.#equivocators.delete(key)
      }
    }
  }
}
