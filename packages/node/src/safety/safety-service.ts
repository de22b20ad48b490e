import { type Config, PrsmError } from '@prsm/core'
import type { CID } from 'multiformats/cid'
import type { ResolvedInput, SafetyHook, SafetyVerdict } from '../jobs/backend.ts'
import type { JobEvent, RunJobRequest } from '../jobs/job-client.ts'
import type { ParameterChange, ParameterWatcher } from '../ledger/parameters.ts'
import { type Assessment, assessText, CLEAN, judge, scanText } from './assess/assessor.ts'
import { Limits } from './assess/limits.ts'
import type { Violation } from './assess/violation.ts'
import { BreakerGossip, type BreakerGossipComponents } from './breaker-gossip.ts'
import { type BreakerStatus, Breakers, modelKey, type Outcome, providerKey } from './breakers.ts'
import {
  cidsForParameter,
  DEFAULT_POLICY,
  encodePolicy,
  parsePolicy,
  policyCid,
  ruleFor,
  type SafetyPolicy,
} from './policy.ts'
import { classify, judgeEscalation, type ModelRunner } from './tiers.ts'

export interface SafetyAuditSink {
  append(input: {
    category: 'threat_detection' | 'governance' | 'incident_response'
    type: string
    actor?: string
    subject?: string
    outcome: 'success' | 'failure' | 'denied' | 'info'
    risk?: number
    details?: Record<string, unknown>
  }): unknown
}

export interface SafetyServiceComponents {
  /** Live governance parameters (breaker thresholds, `safetyPolicy`); absent without a chain. */
  parameters?: Pick<ParameterWatcher, 'get' | 'onChange'>
  /** Fetches a policy document's block by CID (content storage). */
  fetchBlock?: (cid: CID, options: { signal?: AbortSignal }) => Promise<Uint8Array>
  /** Runs tier-2/tier-3 model jobs. */
  runModel?: ModelRunner
  audit?: SafetyAuditSink
  /** Provider reputation: tier-1 violations in a provider's output count against it. */
  reputation?: { recordSafetyViolation(peer: string): unknown }
  /** Signed breaker gossip (absent: breakers stay local). */
  network?: Omit<BreakerGossipComponents, 'breakers' | 'logger' | 'onRemote'>
  logger: {
    info(obj: object, msg: string): void
    warn(obj: object, msg: string): void
    debug(obj: object, msg: string): void
  }
}

export interface SafetyServiceInit {
  safety: Config['safety']
  /** A policy to start from instead of the shipped default (tests, operators). */
  policy?: SafetyPolicy
}

export interface AssessOptions {
  /** Who sent the text (rate and budget limits are per client). */
  client?: string
  /** Tier 1 only (e.g. the request is itself a tier-2/3 job). */
  tier1Only?: boolean
  signal?: AbortSignal
}

/** What {@link SafetyService.status} reports. */
export interface SafetyStatus {
  enabled: boolean
  policy: { name: string; cid: string; source: 'default' | 'configured' | 'governance' }
  tiers: {
    tier1: true
    tier2?: { capability: string; threshold: number; mode: string }
    tier3?: { capability: string }
  }
  thresholds: { failureRateBps: number; violationRateBps: number; openMs: number }
  breakers: { total: number; open: number; halfOpen: number }
}

const BREAKER_PARAMS = new Set(['breakerFailureRateBps', 'breakerViolationRateBps', 'breakerOpenSeconds'])

/**
 * The circuit-breaker engine of a node. It implements the jobs' SafetyHook (every request a
 * provider receives and every text chunk it sends), assesses texts for the orchestrator, keeps the
 * per-provider and per-model breakers that routing consults, and follows governance: the breaker
 * thresholds and the policy document named by `safetyPolicy` apply live.
 */
export class SafetyService implements SafetyHook {
  readonly breakers: Breakers
  readonly #c: SafetyServiceComponents
  readonly #cfg: Config['safety']
  #policy: SafetyPolicy
  #policyCid = ''
  #policySource: SafetyStatus['policy']['source']
  #limits: Limits
  #unsubscribe: (() => void) | undefined
  #loading: Promise<void> = Promise.resolve()
  readonly #tails = new Map<string, string>()
  readonly #gossip: BreakerGossip | undefined

  constructor(components: SafetyServiceComponents, init: SafetyServiceInit) {
    this.#c = components
    this.#cfg = init.safety
    this.#policy = init.policy ?? DEFAULT_POLICY
    this.#policySource = init.policy === undefined ? 'default' : 'configured'
    this.#limits = new Limits(this.#policy.limits)
    const p = components.parameters
    this.breakers = new Breakers({
      failureRateBps: Number(p?.get('breakerFailureRateBps') ?? 5_000n),
      violationRateBps: Number(p?.get('breakerViolationRateBps') ?? 100n),
      openMs: Number(p?.get('breakerOpenSeconds') ?? 30n) * 1000,
      windowMs: init.safety.breakerWindowMs,
      minSamples: init.safety.breakerMinSamples,
      remoteWeight: init.safety.remoteWeight,
    })
    this.#gossip =
      components.network === undefined || !init.safety.gossip
        ? undefined
        : new BreakerGossip({
            ...components.network,
            breakers: this.breakers,
            logger: components.logger,
            onRemote: (origin, e) =>
              components.audit?.append({
                category: 'threat_detection',
                type: 'safety.breaker.remote',
                actor: origin,
                subject: e.key,
                outcome: 'info',
                details: { state: e.state, failureRate: e.failureRate, violationRate: e.violationRate },
              }),
          })
    this.breakers.onChange((c) =>
      components.audit?.append({
        category: 'threat_detection',
        type: 'safety.breaker',
        subject: c.key,
        outcome: c.to === 'open' ? 'denied' : 'info',
        risk: c.to === 'open' ? 60 : 10,
        details: {
          from: c.from,
          to: c.to,
          failureRate: c.failureRate,
          violationRate: c.violationRate,
          samples: c.samples,
        },
      }),
    )
  }

  async start(options: { signal?: AbortSignal } = {}): Promise<void> {
    this.#policyCid = (await policyCid(encodePolicy(this.#policy))).toString()
    await this.#gossip?.start()
    const p = this.#c.parameters
    if (p === undefined) return
    // The watcher has read the chain by now: take its thresholds, then follow its changes.
    this.breakers.setThresholds({
      failureRateBps: Number(p.get('breakerFailureRateBps')),
      violationRateBps: Number(p.get('breakerViolationRateBps')),
      openMs: Number(p.get('breakerOpenSeconds')) * 1000,
    })
    this.#unsubscribe = p.onChange((changes) => this.#onParameters(changes))
    const digest = p.get('safetyPolicy')
    if (digest !== 0n) await this.#loadPolicy(digest, options).catch(() => undefined)
  }

  async stop(): Promise<void> {
    this.#unsubscribe?.()
    this.#unsubscribe = undefined
    await this.#gossip?.stop()
  }

  /** Resolves when a policy load started by a parameter change has finished (tests). */
  idle(): Promise<void> {
    return this.#loading
  }

  get policy(): SafetyPolicy {
    return this.#policy
  }

  /** Replaces the policy (a governance change or an operator's file). */
  async setPolicy(
    policy: SafetyPolicy,
    source: SafetyStatus['policy']['source'] = 'configured',
  ): Promise<void> {
    this.#policy = policy
    this.#policySource = source
    this.#limits = new Limits(policy.limits)
    this.#policyCid = (await policyCid(encodePolicy(policy))).toString()
  }

  #onParameters(changes: ParameterChange[]): void {
    const t: { failureRateBps?: number; violationRateBps?: number; openMs?: number } = {}
    for (const c of changes) {
      if (c.name === 'breakerFailureRateBps') t.failureRateBps = Number(c.value)
      if (c.name === 'breakerViolationRateBps') t.violationRateBps = Number(c.value)
      if (c.name === 'breakerOpenSeconds') t.openMs = Number(c.value) * 1000
      if (c.name === 'safetyPolicy') {
        const digest = c.value
        this.#loading = this.#loading.then(() =>
          digest === 0n
            ? this.setPolicy(DEFAULT_POLICY, 'default')
            : this.#loadPolicy(digest, {}).catch(() => undefined),
        )
      }
    }
    if (changes.some((c) => c.name !== undefined && BREAKER_PARAMS.has(c.name))) {
      this.breakers.setThresholds(t)
      this.#c.audit?.append({
        category: 'governance',
        type: 'safety.thresholds.applied',
        outcome: 'success',
        details: { ...t },
      })
    }
  }

  /** Fetches, verifies and applies the policy whose digest governance names; keeps the old one on failure. */
  async #loadPolicy(digest: bigint, options: { signal?: AbortSignal }): Promise<void> {
    const fetch = this.#c.fetchBlock
    let lastError: unknown = new PrsmError(
      'CONTENT_NOT_FOUND',
      'no content storage to fetch the safety policy from',
    )
    if (fetch !== undefined) {
      for (const cid of cidsForParameter(digest)) {
        try {
          const bytes = await fetch(cid, { signal: options.signal ?? AbortSignal.timeout(30_000) })
          const policy = parsePolicy(bytes)
          await this.setPolicy(policy, 'governance')
          this.#policyCid = cid.toString()
          this.#c.logger.info({ cid: cid.toString(), name: policy.name }, 'safety policy applied')
          this.#c.audit?.append({
            category: 'governance',
            type: 'safety.policy.applied',
            subject: cid.toString(),
            outcome: 'success',
            details: { name: policy.name },
          })
          return
        } catch (err) {
          lastError = err
        }
      }
    }
    this.#c.logger.warn(
      { err: String(lastError) },
      'safety policy named by governance could not be loaded; keeping the current one',
    )
    this.#c.audit?.append({
      category: 'governance',
      type: 'safety.policy.applied',
      subject: `0x${digest.toString(16)}`,
      outcome: 'failure',
      risk: 50,
      details: { error: String(lastError).slice(0, 300) },
    })
    throw lastError
  }

  /** Tier 1 only, synchronous (the hot path). */
  assessTier1(text: string): Assessment {
    return assessText(text, this.#policy)
  }

  /**
   * Tiers 1–3 under the current policy, plus the client's rate limit. A tier-2/3 check that
   * cannot run applies its category's fail mode: closed blocks (SAFETY_CHECK_FAILED in the
   * reasons), open lets the tier-1 result stand.
   */
  async assess(text: string, options: AssessOptions = {}): Promise<Assessment & { errors?: string[] }> {
    const policy = this.#policy
    const extra: Violation[] = []
    if (options.client !== undefined) {
      const r = this.#limits.rate(options.client)
      if (r !== undefined) extra.push(r)
      // The budget counts estimated input tokens (four characters each) per client and window.
      const b = this.#limits.spend(options.client, Math.ceil(text.length / 4))
      if (b !== undefined) extra.push(b)
    }
    if (text.length > policy.limits.maxChars) {
      return judge(text, [...extra, { category: 'size', rule: 'max-chars', severity: 0.5 }], policy)
    }
    const found = scanText(text, extra)
    let a = found.length === 0 ? CLEAN : judge(text, found, policy)
    const run = this.#c.runModel
    const t2 = this.#cfg.tier2
    const t3 = this.#cfg.tier3
    if (run === undefined || a.blocked || options.tier1Only === true) return a
    const errors: string[] = []
    let escalate = a.violations.length > 0
    if (t2.capability !== undefined && (t2.mode === 'always' || a.violations.length > 0)) {
      try {
        const r = await classify(run, { ...t2, capability: t2.capability }, text, options.signal)
        if (r.violation !== undefined) found.push(r.violation)
        escalate = Math.abs(r.score - t2.threshold) <= t3.band
      } catch (err) {
        errors.push(`classifier: ${String((err as Error).message ?? err).slice(0, 200)}`)
        if (ruleFor(policy, 'classifier').failMode === 'closed') {
          return {
            ...judge(
              text,
              [...found, { category: 'classifier', rule: 'unavailable', severity: 0.5 }],
              policy,
            ),
            blocked: true,
            errors,
          }
        }
      }
    }
    if (t3.capability !== undefined && escalate) {
      try {
        const r = await judgeEscalation(run, { ...t3, capability: t3.capability }, text, options.signal)
        if (r.violation !== undefined) found.push(r.violation)
      } catch (err) {
        errors.push(`judge: ${String((err as Error).message ?? err).slice(0, 200)}`)
        if (ruleFor(policy, 'judge').failMode === 'closed') {
          return {
            ...judge(text, [...found, { category: 'judge', rule: 'unavailable', severity: 0.5 }], policy),
            blocked: true,
            errors,
          }
        }
      }
    }
    a = found.length === 0 ? CLEAN : judge(text, found, policy)
    return errors.length === 0 ? a : { ...a, errors }
  }

  #audit(a: Assessment, stage: string, actor: string, capability: string): void {
    if (a.violations.length === 0) return
    this.#c.audit?.append({
      category: 'threat_detection',
      type: `safety.${stage}`,
      actor,
      subject: capability,
      outcome: a.blocked ? 'denied' : 'info',
      risk: Math.round(a.score * 100),
      details: {
        threatLevel: a.threatLevel,
        categories: a.categories,
        rules: [...new Set(a.violations.map((v) => v.rule))],
        actions: a.actions,
      },
    })
  }

  // ---- SafetyHook (provider side) ----

  async checkRequest(
    request: { capability: string; inputs: readonly ResolvedInput[] },
    context: { client: string },
  ): Promise<SafetyVerdict> {
    if (!this.#cfg.enabled) return { allow: true }
    const text = request.inputs.map((i) => ('text' in i ? i.text : '')).join('\n')
    // A classifier or judge job is not sent to the classifier again (two guards would ask each other).
    const guardJob =
      request.capability === this.#cfg.tier2.capability || request.capability === this.#cfg.tier3.capability
    const a = await this.assess(text, { client: context.client, tier1Only: guardJob })
    this.#audit(a, 'request', context.client, request.capability)
    if (!a.blocked) return { allow: true }
    return { allow: false, reason: reasonOf(a) }
  }

  async checkOutput(
    output: { capability: string; text: string },
    context: { client: string },
  ): Promise<SafetyVerdict & { text?: string }> {
    if (!this.#cfg.enabled) return { allow: true }
    // Chunks can split a sentence: the tail of the previous chunks is scanned with this one.
    const key = `${context.client}\n${output.capability}`
    const tail = this.#tails.get(key) ?? ''
    this.#tails.delete(key)
    this.#tails.set(key, (tail + output.text).slice(-OUTPUT_TAIL_CHARS))
    if (this.#tails.size > MAX_TAILS) this.#tails.delete(this.#tails.keys().next().value as string)
    const block = blockingIn(this.assessTier1(tail + output.text), tail.length)
    const a = this.assessTier1(output.text)
    const seen = block ?? a
    if (seen.violations.length === 0) return { allow: true }
    this.#audit(seen, 'output', context.client, output.capability)
    // Our own model broke the policy: that counts against the model's breaker.
    this.breakers.record(modelKey(output.capability), 'violation')
    if (block !== undefined) return { allow: false, reason: reasonOf(block) }
    return a.redacted === undefined ? { allow: true } : { allow: true, text: a.redacted }
  }

  // ---- routing and outcomes (client / orchestrator side) ----

  /** May work for `capability` go to `provider` now? False while either breaker is open. */
  routable(provider: string, capability: string): boolean {
    return this.breakers.routable(providerKey(provider)) && this.breakers.routable(modelKey(capability))
  }

  /** Records a job outcome against the provider's and the model's breakers. */
  record(provider: string, capability: string, outcome: Outcome): void {
    this.breakers.record(providerKey(provider), outcome)
    this.breakers.record(modelKey(capability), outcome)
    if (outcome === 'violation') this.#c.reputation?.recordSafetyViolation(provider)
  }

  /**
   * Wraps a job runner so every job's outcome feeds the breakers and every text chunk a provider
   * returns is checked by tier 1: a violation counts against the provider (breaker and
   * reputation); a blocking one stops the job with SAFETY_BLOCKED.
   */
  observeJobs<
    J extends {
      run(
        provider: string,
        request: RunJobRequest,
        options: { signal?: AbortSignal },
      ): AsyncGenerator<JobEvent, void, undefined>
    },
  >(jobs: J): Pick<J, 'run'> {
    const self = this
    return {
      async *run(provider, request, options) {
        const capability = request.step.capability
        // The request first: blocked here it never leaves; PII and secrets are redacted before it does.
        const outbound = self.#cfg.enabled ? self.#checkOutbound(request, provider) : request
        let outcome: Outcome | undefined
        let tail = ''
        try {
          for await (const event of jobs.run(provider, outbound, options)) {
            if (event.type === 'chunk' && event.text !== undefined && self.#cfg.enabled) {
              const all = self.assessTier1(tail + event.text)
              const block = blockingIn(all, tail.length)
              const a = block ?? self.assessTier1(event.text)
              tail = (tail + event.text).slice(-OUTPUT_TAIL_CHARS)
              if (a.violations.length > 0 && outcome !== 'violation') {
                outcome = 'violation'
                self.#audit(a, 'response', provider, capability)
              }
              if (a.violations.length > 0) {
                if (a.blocked) {
                  throw new PrsmError(
                    'SAFETY_BLOCKED',
                    `the response of ${provider} was blocked: ${reasonOf(a)}`,
                    {
                      details: { provider, capability, categories: a.categories },
                    },
                  )
                }
              }
            }
            if (event.type === 'receipt' && outcome === undefined) {
              outcome = event.receipt.status === 'ok' ? 'success' : 'failure'
            }
            yield event
          }
        } catch (err) {
          if (outcome === undefined && !options.signal?.aborted) outcome = 'failure'
          throw err
        } finally {
          if (outcome !== undefined) self.record(provider, capability, outcome)
        }
      },
    } as Pick<J, 'run'>
  }

  /** Tier 1 on the text inputs of a job this node sends: SAFETY_BLOCKED, or the redacted request. */
  #checkOutbound(request: RunJobRequest, provider: string): RunJobRequest {
    const inputs = request.inputs
    if (inputs === undefined) return request
    let changed = false
    const checked = inputs.map((input) => {
      if (!('text' in input)) return input
      const a = this.assessTier1(input.text)
      if (a.violations.length === 0) return input
      this.#audit(a, 'outbound', provider, request.step.capability)
      if (a.blocked) {
        throw new PrsmError('SAFETY_BLOCKED', `the request to ${provider} was blocked: ${reasonOf(a)}`, {
          details: { provider, capability: request.step.capability, categories: a.categories },
        })
      }
      if (a.redacted === undefined) return input
      changed = true
      return { text: a.redacted }
    })
    return changed ? { ...request, inputs: checked } : request
  }

  breakerList(): BreakerStatus[] {
    return this.breakers.list()
  }

  status(): SafetyStatus {
    const list = this.breakers.list()
    const t = this.breakers.thresholds
    const t2 = this.#cfg.tier2
    const t3 = this.#cfg.tier3
    return {
      enabled: this.#cfg.enabled,
      policy: { name: this.#policy.name, cid: this.#policyCid, source: this.#policySource },
      tiers: {
        tier1: true,
        ...(t2.capability === undefined
          ? {}
          : { tier2: { capability: t2.capability, threshold: t2.threshold, mode: t2.mode } }),
        ...(t3.capability === undefined ? {} : { tier3: { capability: t3.capability } }),
      },
      thresholds: t,
      breakers: {
        total: list.length,
        open: list.filter((b) => b.state === 'open').length,
        halfOpen: list.filter((b) => b.state === 'half-open').length,
      },
    }
  }
}

/** Text of earlier chunks scanned together with the next one. */
const OUTPUT_TAIL_CHARS = 1024
const MAX_TAILS = 4096

/** The assessment when it blocks because of something that reaches past `from` (the new chunk). */
function blockingIn(a: Assessment, from: number): Assessment | undefined {
  if (!a.blocked) return undefined
  return a.violations.some((v) => v.span === undefined || v.span[1] > from) ? a : undefined
}

function reasonOf(a: Assessment): string {
  const rules = [...new Set(a.violations.map((v) => `${v.category}/${v.rule}`))].slice(0, 5)
  return `${a.threatLevel} (${rules.join(', ')})`
}
