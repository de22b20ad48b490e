import { randomBytes } from 'node:crypto'
import type { PrivateKey } from '@libp2p/interface'
import { type Config, PrsmError, parseFtns } from '@prsm/core'
import type { Logger } from 'pino'
import type { Backend } from '../jobs/backend.ts'
import type { Ledger } from '../ledger/ledger.ts'
import type { FoundOffer } from '../market/offers.ts'
import type { PaymentService } from '../market/payments.ts'
import type { ManifestService } from '../storage/manifests.ts'
import type { ContentStorage } from '../storage/storage.ts'
import type { Compressor } from './compressor.ts'
import { noModelError, planWorkflow } from './planner.ts'
import { type ReputationView, Router, type RoutingSafety } from './router.ts'
import { WorkflowRun } from './run.ts'
import { executeWorkflow, type RunResult } from './scheduler.ts'
import { Budget, ChannelKeeper } from './spending.ts'
import { runStep, type StepJobs } from './step-runner.ts'
import { loadRecord, readContent, type Trace, type TraceStep } from './trace.ts'
import { type TraceVerdict, verifyTrace } from './trace-verify.ts'
import { parseWorkflow, type ValidWorkflow, validateWorkflow } from './workflow.ts'

export interface OrchestratorComponents {
  jobs: StepJobs
  findOffers(
    capability: string,
    options: { signal?: AbortSignal; dht?: boolean; timeoutMs?: number },
  ): Promise<FoundOffer[]>
  knownOffers(): FoundOffer[]
  storage: Pick<ContentStorage, 'putBlock' | 'add' | 'pin' | 'provide' | 'cat' | 'block'>
  manifests: Pick<ManifestService, 'resolve'>
  ledger: Pick<Ledger, 'enabled' | 'payer' | 'parameters'>
  payments: Pick<PaymentService, 'openChannel' | 'peerOf' | 'pay'>
  privateKey: PrivateKey
  peerId: string
  /** Halts and open circuit breakers: providers it refuses are never routed to. */
  safety?: RoutingSafety
  reputation?: ReputationView
  compress?: Compressor
  /**
   * The safety check of a question or workflow query before anything runs (the node's safety
   * service); a refusal is SAFETY_BLOCKED. Default: everything passes.
   */
  checkQuery?(
    text: string,
    options: { signal?: AbortSignal },
  ): Promise<{ allow: true } | { allow: false; reason: string }>
  /** Backends that re-execute deterministic steps when verifying a trace (compute:js). */
  reexecutors?: ReadonlyMap<string, Backend>
  logger: Logger
}

export type OrchestratorInit = Config['orchestrator']

export interface RunOptions {
  /**
   * Total budget, wei: the run gets the smaller of this and the workflow's own `budget`; with
   * neither, steps are capped one by one (`defaultStepMaxPrice`).
   */
  budget?: bigint
  /** The question (default: the workflow's `query`). */
  query?: string
  signal?: AbortSignal
}

/**
 * NWTN, the orchestrator: runs workflows (given, or planned from a query by a model) over the
 * network — parallel where the DAG allows, routed, paid, rerouted — and writes the signed
 * reasoning trace. Runs are kept in memory for status, streaming and cancel.
 */
export class Orchestrator {
  readonly #c: OrchestratorComponents
  readonly #init: OrchestratorInit
  readonly router: Router
  readonly #keeper: ChannelKeeper
  readonly #runs = new Map<string, WorkflowRun>()

  constructor(components: OrchestratorComponents, init: OrchestratorInit) {
    this.#c = components
    this.#init = init
    this.router = new Router({
      ...(components.safety ? { safety: components.safety } : {}),
      ...(components.reputation ? { reputation: components.reputation } : {}),
    })
    this.#keeper = new ChannelKeeper(
      { ledger: components.ledger, payments: components.payments },
      { deposit: parseFtns(init.channelDeposit) },
    )
  }

  async start(): Promise<void> {}

  async stop(): Promise<void> {
    for (const run of this.#runs.values()) run.cancel('node stopping')
    await Promise.allSettled([...this.#runs.values()].map((r) => r.result))
  }

  /**
   * Starts a workflow (an object, or JSON/YAML text). Resolves once it is valid and every
   * capability it names is offered by some provider (else WORKFLOW_* with `details.step`).
   */
  async runWorkflow(spec: unknown, options: RunOptions = {}): Promise<WorkflowRun> {
    const first = typeof spec === 'string' ? parseWorkflow(spec) : validateWorkflow(spec)
    const offered = await this.#offered(
      first.workflow.steps.flatMap((s) =>
        s.kind === 'compile' || s.capability === undefined ? [] : [s.capability],
      ),
      options.signal,
    )
    const valid = validateWorkflow(first.workflow, { offered })
    await this.#screen(options.query ?? valid.workflow.query, options.signal)
    return this.#start(valid, options)
  }

  /**
   * Answers a question: a model plans the workflow (PLANNER_NO_MODEL when none is offered, with
   * the backends that would make it work), then it runs like {@link runWorkflow}.
   */
  async query(text: string, options: RunOptions = {}): Promise<WorkflowRun> {
    await this.#screen(text, options.signal)
    const known = this.#c.knownOffers().filter((f) => f.provider !== this.#c.peerId)
    const model = this.#bestModel()
    if (model === undefined) {
      throw noModelError([...new Set(known.map((f) => f.offer.capability))])
    }
    const budget = new Budget(options.budget)
    const offered = new Set(known.map((f) => f.offer.capability))
    const valid = await planWorkflow({
      query: text,
      model,
      offered,
      maxAttempts: this.#init.plannerMaxAttempts,
      ...(options.signal ? { signal: options.signal } : {}),
      infer: async (prompt, system, { signal }) => {
        const result = await runStep(this.#stepComponents(), {
          step: 'plan',
          capability: model,
          kind: 'model',
          params: { system, temperature: 0 },
          inputs: [{ text: prompt }],
          redundancy: 1,
          price: (cheapest) => (cheapest === 0n ? 0n : parseFtns(this.#init.defaultStepMaxPrice)),
          royalties: [],
          timeoutMs: this.#init.stepTimeoutMs,
          maxAttempts: this.#init.maxAttempts,
          budget,
          signal: signal ?? new AbortController().signal,
          onEvent: () => {},
        })
        return Buffer.from(result.output).toString('utf8')
      },
    })
    const left = options.budget === undefined ? undefined : options.budget - budget.committed
    return this.#start(valid, { ...options, query: text, ...(left === undefined ? {} : { budget: left }) })
  }

  get(runId: string): WorkflowRun {
    const run = this.#runs.get(runId)
    if (run === undefined)
      throw new PrsmError('WORKFLOW_NOT_FOUND', `no run ${runId}`, { details: { runId } })
    return run
  }

  list(): WorkflowRun[] {
    return [...this.#runs.values()]
  }

  cancel(runId: string): WorkflowRun {
    const run = this.get(runId)
    run.cancel('cancelled by the client')
    return run
  }

  /** A trace's root and steps (fetched over the network when not held here). */
  async trace(
    cid: string,
    options: { signal?: AbortSignal } = {},
  ): Promise<{ root: Trace; steps: Array<{ cid: string; record: TraceStep }> }> {
    const root = await loadRecord<Trace>(this.#c.storage, cid, 'prsm-trace', options)
    const steps = await Promise.all(
      root.steps.map(async (s) => ({
        cid: s.toString(),
        record: await loadRecord<TraceStep>(this.#c.storage, s, 'prsm-trace-step', options),
      })),
    )
    return { root, steps }
  }

  /** Verifies a trace (signatures, hashes, links; deterministic steps re-executed here). */
  verifyTrace(
    cid: string,
    options: { signal?: AbortSignal; reexecute?: boolean } = {},
  ): Promise<TraceVerdict> {
    return verifyTrace(
      { storage: this.#c.storage, ...(this.#c.reexecutors ? { reexecutors: this.#c.reexecutors } : {}) },
      cid,
      options,
    )
  }

  /** The content of a CID as text (a step's output). */
  async text(cid: string, options: { signal?: AbortSignal } = {}): Promise<string> {
    return Buffer.from(await readContent(this.#c.storage, cid, options)).toString('utf8')
  }

  #start(valid: ValidWorkflow, options: RunOptions): WorkflowRun {
    const runId = randomBytes(9).toString('base64url')
    // The smaller of the caller's budget and the workflow's own.
    const own = valid.workflow.budget === undefined ? undefined : parseFtns(valid.workflow.budget)
    const limit =
      options.budget === undefined ? own : own === undefined || options.budget < own ? options.budget : own
    const run = new WorkflowRun(runId, valid.workflow.query ?? options.query ?? '', options.signal)
    this.#runs.set(runId, run)
    this.#prune()
    run.begin(
      executeWorkflow(this.#schedulerComponents(), valid, {
        runId,
        query: options.query ?? valid.workflow.query ?? '',
        budget: new Budget(limit),
        concurrency: this.#init.concurrency,
        maxAttempts: this.#init.maxAttempts,
        stepTimeoutMs: this.#init.stepTimeoutMs,
        defaultMaxPrice: parseFtns(this.#init.defaultStepMaxPrice),
        signal: run.signal,
        emit: (e) => run.push(e),
      }) as Promise<RunResult>,
    )
    run.result.then(
      (r) => this.#c.logger.info({ runId, trace: r.traceCid, total: r.cost.total }, 'workflow done'),
      (err: PrsmError) => this.#c.logger.info({ runId, code: err.code, err: err.message }, 'workflow failed'),
    )
    return run
  }

  /** The planner model if set, else the best model:* offer of another node (undefined: none). */
  #bestModel(): string | undefined {
    const models = this.#c
      .knownOffers()
      .filter((f) => f.provider !== this.#c.peerId && f.offer.capability.startsWith('model:'))
    if (
      this.#init.plannerModel !== '' &&
      models.some((m) => m.offer.capability === this.#init.plannerModel)
    ) {
      return this.#init.plannerModel
    }
    let best: { capability: string; score: number } | undefined
    for (const capability of new Set(models.map((m) => m.offer.capability))) {
      const top = this.router.rank({ capability, offers: models })[0]
      if (top !== undefined && (best === undefined || top.score < best.score))
        best = { capability, score: top.score }
    }
    return best?.capability
  }

  async #screen(text: string | undefined, signal?: AbortSignal): Promise<void> {
    if (text === undefined || text === '' || this.#c.checkQuery === undefined) return
    const verdict = await this.#c.checkQuery(text, signal ? { signal } : {})
    if (!verdict.allow) {
      throw new PrsmError('SAFETY_BLOCKED', `the query was refused by the safety check: ${verdict.reason}`, {
        details: { reason: verdict.reason },
      })
    }
  }

  #prune(): void {
    for (const [id, run] of this.#runs) {
      if (this.#runs.size <= this.#init.maxRunsKept) break
      if (run.status !== 'running') this.#runs.delete(id)
    }
  }

  async #offered(capabilities: string[], signal?: AbortSignal): Promise<Set<string>> {
    const offered = new Set<string>()
    await Promise.all(
      [...new Set(capabilities)].map(async (capability) => {
        const known = this.#c.findOffers(capability, { dht: false })
        let offers = (await known).filter((f) => f.provider !== this.#c.peerId)
        if (offers.length === 0) {
          offers = (
            await this.#c.findOffers(capability, { timeoutMs: 5_000, ...(signal ? { signal } : {}) })
          ).filter((f) => f.provider !== this.#c.peerId)
        }
        if (offers.length > 0) offered.add(capability)
      }),
    )
    return offered
  }

  #stepComponents() {
    const { ledger } = this.#c
    return {
      jobs: this.#c.jobs,
      router: this.router,
      keeper: this.#keeper,
      findOffers: (capability: string, options: { signal?: AbortSignal; dht?: boolean }) =>
        this.#c.findOffers(capability, { ...options, timeoutMs: 5_000 }),
      self: this.#c.peerId,
      royaltyCapBps: () => (ledger.enabled ? ledger.parameters.get('royaltyCapBps') : 0n),
    }
  }

  #schedulerComponents() {
    const { ledger } = this.#c
    return {
      ...this.#stepComponents(),
      storage: this.#c.storage,
      manifests: this.#c.manifests,
      privateKey: this.#c.privateKey,
      ...(this.#c.compress ? { compress: this.#c.compress } : {}),
      summaryModel: () => this.#bestModel(),
      feeBps: () => (ledger.enabled ? ledger.parameters.get('networkFeeBps') : 0n),
    }
  }
}
