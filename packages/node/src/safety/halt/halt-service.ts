import { EventEmitter } from 'node:events'
import { TopicValidatorResult } from '@libp2p/gossipsub'
import type { PeerId, PrivateKey } from '@libp2p/interface'
import { type MessageRegistry, PrsmError, sealEnvelope } from '@prsm/core'
import type { Logger } from 'pino'
import type { AuditInput } from '../../audit/audit-log.ts'
import type { Ledger } from '../../ledger/ledger.ts'
import type { PrsmLibp2p } from '../../net/libp2p.ts'
import type { MessageGate } from '../../net/message-gate.ts'
import { createHaltStore, type HaltStore } from './halt-store.ts'
import {
  checkVote,
  type HaltAction,
  type HaltCertificate,
  HaltCertificateSchema,
  type HaltEvidence,
  parseScope,
  quorumSize,
  type SignedHaltVote,
  SignedHaltVoteSchema,
  signHaltVote,
  type ValidatorView,
  VoteBook,
  verifyCertificate,
} from './quorum.ts'
import { readValidatorSet, toView, type Validator } from './validators.ts'

export const HALT_VOTES_TOPIC = '/prsm/halt/votes/1'
export const HALT_CERTIFICATES_TOPIC = '/prsm/halt/certificates/1'
/** Votes further ahead of a scope's decided epoch than this are refused (spam bound). */
const MAX_EPOCH_AHEAD = 16
/** Most (scope, epoch) pairs collecting votes at once (validators could otherwise open scopes without end). */
const MAX_OPEN_VOTES = 1024
/** At most one validator-set re-read per this interval when an unknown validator votes. */
const MIN_REFRESH_GAP_MS = 500

export function registerHaltMessages(registry: MessageRegistry) {
  return {
    HaltVote: registry.register('halt-vote', 1, SignedHaltVoteSchema),
    HaltCertificate: registry.register('halt-certificate', 1, HaltCertificateSchema),
  }
}
type HaltMessages = ReturnType<typeof registerHaltMessages>

export interface HaltServiceComponents {
  libp2p: Pick<PrsmLibp2p, 'peerId' | 'services'>
  privateKey: PrivateKey
  registry: MessageRegistry
  gate: Pick<MessageGate, 'receive'>
  ledger: Pick<Ledger, 'enabled' | 'chain' | 'parameters'>
  /** Stops running jobs in a halted scope (the job provider's `cancelRunning`). */
  jobs?: {
    cancelRunning(match: (job: { capability: string; client: string }) => boolean, error: PrsmError): number
  }
  audit?: { append(input: AuditInput): unknown }
  logger: Logger
}

export interface HaltServiceInit {
  /** `<dataDir>/halt.db`, or ':memory:'. */
  storePath: string
  validatorRefreshMs: number
  gossip: boolean
}

/** A certificate this node enforces, with when it learnt it. */
export interface AppliedCertificate {
  certificate: HaltCertificate
  appliedAt: number
  /** Running jobs stopped when it was applied. */
  cancelled: number
  source: 'local' | 'gossip' | 'api' | 'store'
}

export interface HaltEvents {
  certificate: [AppliedCertificate]
  evidence: [HaltEvidence]
  vote: [SignedHaltVote]
}

export interface HaltStatus {
  enabled: boolean
  validators: Array<{ peerId: string; address: string }>
  quorum: number | null
  /** Scopes halted now, each with its certificate's epoch. */
  halted: Array<{ scope: string; epoch: number; reason: string; appliedAt: number; voters: string[] }>
  /** The newest certificate per scope (halt or resume). */
  certificates: Array<{
    scope: string
    epoch: number
    action: HaltAction
    voters: string[]
    appliedAt: number
  }>
  pending: ReturnType<VoteBook['pending']>
  evidence: HaltEvidence[]
}

/**
 * Emergency halt by validator quorum. Validators (the on-chain set, each PeerId bound to its
 * staking wallet) sign HaltVotes with their node key; votes are gossiped on
 * {@link HALT_VOTES_TOPIC}. Every node collects them, and when a quorum of the validator set
 * agrees on a scope, epoch and action, forms the certificate, enforces it (new jobs in scope
 * refused with HALTED, running ones cancelled) and gossips it on {@link HALT_CERTIFICATES_TOPIC}
 * for nodes that missed votes. Conflicting votes of one validator in one epoch become evidence.
 * Certificates are persisted and re-verified against the validator set at start.
 */
export class HaltService extends EventEmitter<HaltEvents> {
  readonly #c: HaltServiceComponents
  readonly #init: HaltServiceInit
  readonly #messages: HaltMessages
  readonly #book = new VoteBook()
  #store: HaltStore | undefined
  #validators: Validator[] = []
  #lastRefresh = 0
  #refreshing: Promise<void> | undefined
  #timer: NodeJS.Timeout | undefined
  #republishSoon: NodeJS.Timeout | undefined
  /** The newest certificate per scope. */
  readonly #latest = new Map<string, AppliedCertificate>()
  #started = false
  readonly #onSubscription = (
    evt: CustomEvent<{ peerId: PeerId; subscriptions: Array<{ topic: string; subscribe: boolean }> }>,
  ): void => {
    if (evt.detail.subscriptions.some((s) => s.topic === HALT_CERTIFICATES_TOPIC && s.subscribe)) {
      this.#scheduleRepublish()
    }
  }

  constructor(components: HaltServiceComponents, init: HaltServiceInit) {
    super()
    this.#c = components
    this.#init = init
    this.#messages = registerHaltMessages(components.registry)
  }

  get enabled(): boolean {
    return this.#c.ledger.enabled
  }

  async start(options: { signal?: AbortSignal } = {}): Promise<void> {
    if (this.#started) return
    this.#started = true
    this.#store = createHaltStore(this.#init.storePath)
    if (this.enabled) {
      await this.refreshValidators(options)
      this.#timer = setInterval(() => {
        this.refreshValidators().catch((err: unknown) =>
          this.#c.logger.warn({ err: (err as Error).message }, 'validator set refresh failed'),
        )
      }, this.#init.validatorRefreshMs)
    }
    // Re-verify what was enforced before the restart against today's validator set.
    for (const { certificate } of this.#store.certificates()) {
      try {
        await this.#apply(await verifyCertificate(certificate, this.#view()), 'store')
      } catch (err) {
        this.#c.logger.warn(
          { scope: certificate.scope, epoch: certificate.epoch, err: (err as Error).message },
          'stored halt certificate no longer verifies',
        )
        this.#audit({
          category: 'system_integrity',
          type: 'halt.certificate.dropped',
          subject: certificate.scope,
          outcome: 'failure',
          risk: 60,
          details: { epoch: certificate.epoch, reason: (err as Error).message },
        })
      }
    }
    if (this.#init.gossip) {
      const pubsub = this.#c.libp2p.services.pubsub
      pubsub.topicValidators.set(HALT_VOTES_TOPIC, async (from, msg) => {
        try {
          const { envelope } = await this.#c.gate.receive(msg.data, from, this.#messages.HaltVote)
          const fresh = await this.receiveVote(envelope.payload, 'gossip')
          return fresh ? TopicValidatorResult.Accept : TopicValidatorResult.Ignore
        } catch (err) {
          // A late vote for a decided epoch is not an offence of the peer relaying it.
          const stale = (err as PrsmError).details?.stale === true
          return stale ? TopicValidatorResult.Ignore : TopicValidatorResult.Reject
        }
      })
      pubsub.topicValidators.set(HALT_CERTIFICATES_TOPIC, async (from, msg) => {
        try {
          const { envelope } = await this.#c.gate.receive(msg.data, from, this.#messages.HaltCertificate)
          const applied = await this.importCertificate(envelope.payload, 'gossip')
          return applied ? TopicValidatorResult.Accept : TopicValidatorResult.Ignore
        } catch {
          return TopicValidatorResult.Reject
        }
      })
      pubsub.subscribe(HALT_VOTES_TOPIC)
      pubsub.subscribe(HALT_CERTIFICATES_TOPIC)
      pubsub.addEventListener('subscription-change', this.#onSubscription as never)
    }
  }

  async stop(): Promise<void> {
    if (!this.#started) return
    this.#started = false
    clearInterval(this.#timer)
    clearTimeout(this.#republishSoon)
    if (this.#init.gossip) {
      const pubsub = this.#c.libp2p.services.pubsub
      pubsub.removeEventListener('subscription-change', this.#onSubscription as never)
      pubsub.topicValidators.delete(HALT_VOTES_TOPIC)
      pubsub.topicValidators.delete(HALT_CERTIFICATES_TOPIC)
      pubsub.unsubscribe(HALT_VOTES_TOPIC)
      pubsub.unsubscribe(HALT_CERTIFICATES_TOPIC)
    }
    await this.#refreshing?.catch(() => undefined)
    this.#store?.close()
    this.#store = undefined
  }

  /** Re-reads the validator set from the registry. */
  async refreshValidators(options: { signal?: AbortSignal } = {}): Promise<void> {
    if (!this.enabled) return
    this.#refreshing ??= (async () => {
      try {
        this.#validators = await readValidatorSet(this.#c.ledger.chain, options)
        this.#lastRefresh = Date.now()
      } finally {
        this.#refreshing = undefined
      }
    })()
    await this.#refreshing
  }

  #view(): ValidatorView {
    if (!this.enabled) {
      return {
        chainId: -1,
        registry: '0x0000000000000000000000000000000000000000',
        validators: new Map(),
        quorumBps: 0,
      }
    }
    return toView(
      this.#c.ledger.chain,
      this.#validators,
      Number(this.#c.ledger.parameters.get('haltQuorumBps')),
    )
  }

  /** The epoch a new vote on `scope` is for: one past the newest certificate. */
  nextEpoch(scope: string): number {
    return (this.#latest.get(scope)?.certificate.epoch ?? 0) + 1
  }

  /**
   * Signs this node's vote and gossips it. Needs a chain and this node in the validator set; an
   * honest node never signs both actions in one epoch (HALT_VOTE_INVALID).
   */
  async vote(
    input: { scope: string; action: HaltAction; reason: string; epoch?: number },
    options: { signal?: AbortSignal } = {},
  ): Promise<{ vote: SignedHaltVote; certificate?: HaltCertificate }> {
    parseScope(input.scope)
    if (!this.enabled)
      throw new PrsmError('CHAIN_NOT_CONFIGURED', 'halt votes need the validator set on a chain')
    const me = this.#c.libp2p.peerId.toString()
    await this.refreshValidators(options)
    if (!this.#validators.some((v) => v.peerId === me)) {
      throw new PrsmError('NOT_A_VALIDATOR', undefined, { details: { peerId: me } })
    }
    const epoch = input.epoch ?? this.nextEpoch(input.scope)
    const mine = this.#book.pending().find((p) => p.scope === input.scope && p.epoch === epoch)
    const other = input.action === 'halt' ? mine?.resume : mine?.halt
    if (other?.includes(me)) {
      throw new PrsmError('HALT_VOTE_INVALID', `this node already voted the other way in epoch ${epoch}`)
    }
    const chain = this.#c.ledger.chain
    const signed = await signHaltVote(this.#c.privateKey, {
      scope: input.scope,
      epoch,
      action: input.action,
      reason: input.reason.slice(0, 256),
      validator: me,
      chainId: chain.deployment.chainId,
      registry: chain.deployment.addresses.providers,
      time: Date.now(),
    })
    const before = this.#latest.get(input.scope)?.certificate
    await this.receiveVote(signed, 'local')
    this.#audit({
      category: 'incident_response',
      type: `halt.vote.${input.action}`,
      actor: me,
      subject: input.scope,
      outcome: 'success',
      risk: 70,
      details: { epoch, reason: signed.vote.reason },
    })
    await this.#publish(
      HALT_VOTES_TOPIC,
      await sealEnvelope(this.#c.privateKey, this.#messages.HaltVote, signed),
    )
    const after = this.#latest.get(input.scope)?.certificate
    return after !== undefined && after !== before ? { vote: signed, certificate: after } : { vote: signed }
  }

  /**
   * Takes a vote (from gossip, the API or this node): checks it against the validator set,
   * records evidence of equivocation, and applies a certificate when the vote completes a
   * quorum. Resolves false for a vote already counted; throws HALT_VOTE_INVALID for a bad one.
   */
  async receiveVote(v: SignedHaltVote, source: 'gossip' | 'api' | 'local' = 'api'): Promise<boolean> {
    const parsed = SignedHaltVoteSchema.safeParse(v)
    if (!parsed.success) throw new PrsmError('HALT_VOTE_INVALID', 'malformed vote')
    v = parsed.data
    if (
      !this.#view().validators.has(v.vote.validator) &&
      Date.now() - this.#lastRefresh > MIN_REFRESH_GAP_MS
    ) {
      await this.refreshValidators()
    }
    const view = this.#view()
    await checkVote(v, view)
    const decided = this.#latest.get(v.vote.scope)?.certificate.epoch ?? 0
    if (v.vote.epoch < decided) {
      throw new PrsmError(
        'HALT_VOTE_INVALID',
        `epoch ${v.vote.epoch} of ${v.vote.scope} is already decided`,
        {
          details: { stale: true, decided },
        },
      )
    }
    if (v.vote.epoch > decided + MAX_EPOCH_AHEAD) {
      throw new PrsmError('HALT_VOTE_INVALID', `epoch ${v.vote.epoch} is too far ahead of ${decided}`)
    }
    if (this.#book.open >= MAX_OPEN_VOTES && !this.#book.has(v.vote.scope, v.vote.epoch)) {
      throw new PrsmError('HALT_VOTE_INVALID', `more than ${MAX_OPEN_VOTES} scopes are collecting votes`, {
        details: { stale: true },
      })
    }
    const outcome = this.#book.add(v, view)
    if (!outcome.fresh) return false
    this.emit('vote', v)
    if (outcome.evidence !== undefined) this.#recordEvidence(outcome.evidence)
    // A certificate for an epoch already decided changes nothing (the other action cannot reach a
    // quorum without more than f equivocators, whose votes do not count).
    if (outcome.certificate !== undefined && outcome.certificate.epoch > decided) {
      await this.#apply(outcome.certificate, source === 'gossip' ? 'gossip' : 'local')
      await this.#publishCertificate(outcome.certificate)
    }
    return true
  }

  /**
   * Verifies a certificate (from gossip or the API) and enforces it when it is newer than what
   * this node has for its scope. Throws HALT_CERTIFICATE_INVALID for a forged or under-quorum one;
   * resolves false when it was already known.
   */
  async importCertificate(input: unknown, source: 'gossip' | 'api' = 'api'): Promise<boolean> {
    const cert = await verifyCertificate(input, this.#view())
    const decided = this.#latest.get(cert.scope)?.certificate.epoch ?? 0
    if (cert.epoch <= decided) return false
    await this.#apply(cert, source)
    return true
  }

  async #apply(cert: HaltCertificate, source: AppliedCertificate['source']): Promise<void> {
    const known = this.#latest.get(cert.scope)
    if (known !== undefined && known.certificate.epoch >= cert.epoch) return
    const appliedAt = Date.now()
    let cancelled = 0
    if (cert.action === 'halt') {
      const match = this.#jobMatcher(cert.scope)
      cancelled =
        this.#c.jobs?.cancelRunning(
          match,
          new PrsmError('HALTED', `halted by validator certificate (${cert.scope}, epoch ${cert.epoch})`, {
            details: { scope: cert.scope, epoch: cert.epoch },
          }),
        ) ?? 0
    }
    const applied: AppliedCertificate = { certificate: cert, appliedAt, cancelled, source }
    this.#latest.set(cert.scope, applied)
    this.#book.settle(cert.scope, cert.epoch)
    if (source !== 'store') {
      this.#store?.saveCertificate(cert, appliedAt)
      this.#audit({
        category: 'incident_response',
        type: `halt.certificate.${cert.action}`,
        subject: cert.scope,
        outcome: 'success',
        risk: cert.action === 'halt' ? 90 : 40,
        details: { epoch: cert.epoch, voters: cert.votes.map((v) => v.vote.validator), cancelled, source },
      })
      this.#c.logger.warn(
        { scope: cert.scope, epoch: cert.epoch, action: cert.action, cancelled, source },
        'halt certificate applied',
      )
    }
    this.emit('certificate', applied)
  }

  #jobMatcher(scope: string): (job: { capability: string }) => boolean {
    const s = parseScope(scope)
    const me = this.#c.libp2p.peerId.toString()
    if (s.kind === 'network') return () => true
    if (s.kind === 'provider') return () => s.peer === me
    return (job) => job.capability === s.capability
  }

  #recordEvidence(e: HaltEvidence): void {
    if (this.#store?.saveEvidence(e) === false) return
    this.#c.logger.warn({ validator: e.validator, scope: e.scope, epoch: e.epoch }, 'validator equivocated')
    this.#audit({
      category: 'threat_detection',
      type: 'halt.equivocation',
      actor: e.validator,
      subject: e.scope,
      outcome: 'denied',
      risk: 95,
      details: { evidence: e.id, epoch: e.epoch, ...(e.address === undefined ? {} : { address: e.address }) },
    })
    this.emit('evidence', e)
  }

  /**
   * The certificate that halts a provider or a capability now, if any: the network scope, the
   * provider's scope, or the capability's scope. The router and the job guard ask this.
   */
  isHalted(target: { provider?: string; capability?: string } = {}): HaltCertificate | undefined {
    const scopes = ['network']
    if (target.provider !== undefined) scopes.push(`provider:${target.provider}`)
    if (target.capability !== undefined) {
      scopes.push(
        target.capability.startsWith('model:') ? target.capability : `capability:${target.capability}`,
      )
    }
    for (const scope of scopes) {
      const a = this.#latest.get(scope)
      if (a !== undefined && a.certificate.action === 'halt') return a.certificate
    }
    return undefined
  }

  /** Throws HALTED when the target is halted. */
  assertNotHalted(target: { provider?: string; capability?: string }): void {
    const cert = this.isHalted(target)
    if (cert === undefined) return
    const reason = cert.votes[0]?.vote.reason ?? ''
    throw new PrsmError(
      'HALTED',
      `${cert.scope} is halted by a validator certificate (epoch ${cert.epoch}): ${reason}`,
      {
        details: { scope: cert.scope, epoch: cert.epoch },
      },
    )
  }

  evidence(): HaltEvidence[] {
    return this.#store?.evidence() ?? []
  }

  status(): HaltStatus {
    const view = this.#view()
    const latest = [...this.#latest.values()]
    return {
      enabled: this.enabled,
      validators: this.#validators.map((v) => ({ peerId: v.peerId, address: v.address })),
      quorum: view.validators.size > 0 ? quorumSize(view.validators.size, view.quorumBps) : null,
      halted: latest
        .filter((a) => a.certificate.action === 'halt')
        .map((a) => ({
          scope: a.certificate.scope,
          epoch: a.certificate.epoch,
          reason: a.certificate.votes[0]?.vote.reason ?? '',
          appliedAt: a.appliedAt,
          voters: a.certificate.votes.map((v) => v.vote.validator),
        })),
      certificates: latest.map((a) => ({
        scope: a.certificate.scope,
        epoch: a.certificate.epoch,
        action: a.certificate.action,
        voters: a.certificate.votes.map((v) => v.vote.validator),
        appliedAt: a.appliedAt,
      })),
      pending: this.#book.pending(),
      evidence: this.evidence(),
    }
  }

  /** The newest certificate of a scope. */
  certificate(scope: string): HaltCertificate | undefined {
    return this.#latest.get(scope)?.certificate
  }

  async #publishCertificate(cert: HaltCertificate): Promise<void> {
    await this.#publish(
      HALT_CERTIFICATES_TOPIC,
      await sealEnvelope(this.#c.privateKey, this.#messages.HaltCertificate, cert),
    )
  }

  async #publish(topic: string, bytes: Uint8Array): Promise<void> {
    if (!this.#init.gossip || !this.#started) return
    try {
      await this.#c.libp2p.services.pubsub.publish(topic, bytes)
    } catch (err) {
      this.#c.logger.debug({ err: (err as Error).message, topic }, 'halt gossip publish failed')
    }
  }

  /** A peer that (re)subscribes gets the newest certificate of every scope. */
  #scheduleRepublish(): void {
    if (this.#republishSoon !== undefined || !this.#started || this.#latest.size === 0) return
    this.#republishSoon = setTimeout(() => {
      this.#republishSoon = undefined
      for (const a of this.#latest.values()) void this.#publishCertificate(a.certificate)
    }, 250)
  }

  #audit(input: AuditInput): void {
    this.#c.audit?.append(input)
  }
}
