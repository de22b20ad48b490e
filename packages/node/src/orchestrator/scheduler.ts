import * as dagCbor from '@ipld/dag-cbor'
import type { PrivateKey } from '@libp2p/interface'
import { PrsmError, parseFtns, stripUndefined } from '@prsm/core'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import type { Hex } from 'viem'
import type { ManifestService } from '../storage/manifests.ts'
import type { ContentStorage } from '../storage/storage.ts'
import { type CompileSource, SYNTHESIS_SYSTEM_PROMPT, structuredReport, synthesisPrompt } from './compile.ts'
import type { Compressor } from './compressor.ts'
import { INLINE_INPUT_MAX_BYTES, resolveInputs, type StepOutput } from './inputs.ts'
import { type Budget, networkFee } from './spending.ts'
import { runStep, type StepRunnerComponents } from './step-runner.ts'
import {
  putContent,
  rawCid,
  sha256Hex,
  signRecord,
  type Trace,
  type TraceStep,
  type Unsigned,
} from './trace.ts'
import { canonicalJson, JOB_KIND, stepSpecHash, type ValidWorkflow, type WorkflowStep } from './workflow.ts'

/** Progress of a workflow run, in order. Amounts are wei as decimal strings. */
export type ProgressEvent =
  | { type: 'started'; runId: string; workflow: string; steps: string[]; budget?: string; at: number }
  | { type: 'step-started'; step: string; provider: string; providers: string[]; attempt: number; at: number }
  | { type: 'step-chunk'; step: string; text: string }
  | {
      type: 'step-failed'
      step: string
      provider: string
      code: string
      message: string
      paid: string
      rerouting: boolean
    }
  | {
      type: 'step-done'
      step: string
      provider: string
      agreeing: string[]
      output: string
      paid: string
      royalties: string
      ms: number
      trace: string
      at: number
    }
  | { type: 'warning'; code: string; message: string }
  | { type: 'done'; result: RunResult }
  | { type: 'error'; error: { code: string; message: string; details: Record<string, unknown> } }

/** Where the money of a run went (wei as decimal strings). */
export interface CostBreakdown {
  /** Per provider: what its vouchers added for steps (royalties excluded) and the fee taken from it. */
  perProvider: Array<{ provider: string; paid: string; fee: string }>
  royalties: Array<{ creator: string; amount: string }>
  /** The network fee the channel contract takes at claim (treasury). */
  networkFee: string
  total: string
}

export interface RunResult {
  runId: string
  answer: string
  answerCid: string
  traceCid: string
  workflowCid: string
  cost: CostBreakdown
  steps: Array<{
    step: string
    provider: string
    agreeing: string[]
    output: string
    trace: string
    startedAt: number
    finishedAt: number
  }>
}

export interface SchedulerComponents extends StepRunnerComponents {
  storage: Pick<ContentStorage, 'putBlock' | 'add' | 'pin' | 'provide'>
  manifests: Pick<ManifestService, 'resolve'>
  privateKey: PrivateKey
  compress?: Compressor
  /** The model capability that summarises compressed inputs (none: extractive only). */
  summaryModel?(): string | undefined
  /** The network fee (governance parameter), basis points. */
  feeBps(): bigint
}

export interface SchedulerOptions {
  runId: string
  query: string
  budget: Budget
  concurrency: number
  maxAttempts: number
  stepTimeoutMs: number
  /** Price per provider of a step when neither the step nor a budget says, wei. */
  defaultMaxPrice: bigint
  signal: AbortSignal
  emit(event: ProgressEvent): void
}

interface Done {
  output: StepOutput
  traceCid: CID
  provider: string
  agreeing: string[]
  capability: string | null
  startedAt: number
  finishedAt: number
}

/**
 * Runs a validated workflow: every step whose inputs are ready starts at once, up to
 * `concurrency` in flight (dependent steps wait for their parents); each network step is routed,
 * paid and rerouted by {@link runStep}; compile steps merge their sources (model synthesis when a
 * model capability is named and offered, else a structured report). Each executed step becomes a
 * signed TraceStep block; the run ends with royalties settled on each channel and a signed Trace
 * root. A failed step or cancellation aborts the steps in flight and nothing further is paid.
 */
export async function executeWorkflow(
  c: SchedulerComponents,
  valid: ValidWorkflow,
  o: SchedulerOptions,
): Promise<RunResult> {
  const { workflow, order, parents } = valid
  const controller = new AbortController()
  const signal = AbortSignal.any([o.signal, controller.signal])
  const byId = new Map(workflow.steps.map((s) => [s.id, s]))
  const workflowBytes = dagCbor.encode(stripUndefined(workflow))
  const workflowCid = CID.createV1(dagCbor.code, await sha256.digest(workflowBytes))
  await c.storage.putBlock(workflowCid, workflowBytes)
  o.emit({
    type: 'started',
    runId: o.runId,
    workflow: workflowCid.toString(),
    steps: order,
    ...(o.budget.limit === undefined ? {} : { budget: o.budget.limit.toString() }),
    at: Date.now(),
  })

  const done = new Map<string, Done>()
  const writes: Array<Promise<unknown>> = []
  /** A block write off the critical path: awaited (and its failure raised) before the root is signed. */
  const later = (write: Promise<unknown>): void => {
    write.catch(() => undefined)
    writes.push(write)
  }
  const outputs = new Map<string, StepOutput>()
  const stepCids: CID[] = []
  const owed = new Map<Hex, { provider: string; royalties: Map<string, bigint>; paid: bigint }>()
  const paidTo = new Map<string, bigint>()
  let unstartedPaid = workflow.steps.filter((s) => s.kind !== 'compile' || s.capability !== undefined).length
  const running = new Map<string, Promise<string>>()
  const pending = new Set(order)

  // A model summary for context compression, when a model is offered: a paid infer job within
  // the run's budget (its payment counts in the cost breakdown).
  const model = c.summaryModel?.()
  const summarize =
    model === undefined
      ? undefined
      : async (text: string, budgetTokens: number, options: { signal?: AbortSignal }): Promise<string> => {
          const result = await runStep(c, {
            step: 'summary',
            capability: model,
            kind: 'model',
            params: { system: SUMMARY_SYSTEM_PROMPT, max_tokens: budgetTokens, temperature: 0 },
            inputs: [{ text }],
            redundancy: 1,
            price: (cheapest) => (cheapest === 0n ? 0n : o.defaultMaxPrice),
            royalties: [],
            timeoutMs: o.stepTimeoutMs,
            maxAttempts: o.maxAttempts,
            budget: o.budget,
            signal: options.signal ?? signal,
            onEvent: () => {},
          })
          for (const p of result.payments) paidTo.set(p.provider, (paidTo.get(p.provider) ?? 0n) + p.amount)
          return Buffer.from(result.output).toString('utf8')
        }

  const execute = async (step: WorkflowStep): Promise<string> => {
    if (step.kind !== 'compile' || step.capability !== undefined) unstartedPaid--
    const sharesLeft = Math.max(1, unstartedPaid + 1)
    const inputs = await resolveInputs(
      {
        storage: c.storage,
        manifests: c.manifests,
        ...(c.compress ? { compress: c.compress } : {}),
        ...(summarize === undefined ? {} : { summarize }),
      },
      step,
      outputs,
      { signal },
    )
    const sources = (parents.get(step.id) ?? []).map((id): CompileSource => {
      const d = done.get(id) as Done
      return {
        step: id,
        capability: d.capability,
        provider: d.provider,
        text: Buffer.from(d.output.bytes).toString('utf8'),
      }
    })
    let capability = step.capability
    if (step.kind === 'compile' && capability !== undefined) {
      const offers = await c.findOffers(capability, { signal })
      if (!offers.some((f) => f.provider !== c.self)) capability = undefined
    }
    let record: StepRecord
    let bytes: Uint8Array
    let expectedHash: string | undefined
    if (capability === undefined) {
      // A compile step without a model: the structured report, made here (deterministic).
      const startedAt = Date.now()
      o.emit({
        type: 'step-started',
        step: step.id,
        provider: c.self,
        providers: [c.self],
        attempt: 1,
        at: startedAt,
      })
      bytes = new TextEncoder().encode(structuredReport(workflow.query ?? o.query, sources))
      record = baseRecord(
        step,
        null,
        inputs.cids,
        null,
        c.self,
        [c.self],
        null,
        zeroCost(),
        startedAt,
        Date.now(),
        [],
        inputs.compression,
      )
    } else {
      const params: Record<string, unknown> = { ...step.params }
      delete params.maxInputTokens
      if (inputs.program !== undefined) params.program = inputs.program.toString()
      const jobInputs =
        step.kind === 'compile'
          ? [{ text: synthesisPrompt(workflow.query ?? o.query, sources) }]
          : inputs.jobInputs
      if (step.kind === 'compile' && params.system === undefined) params.system = SYNTHESIS_SYSTEM_PROMPT
      const result = await runStep(c, {
        step: step.id,
        capability,
        kind: JOB_KIND[step.kind],
        params,
        inputs: jobInputs,
        redundancy: step.redundancy,
        price: (cheapest) => stepPrice(step, cheapest, o, sharesLeft),
        royalties: inputs.royalties,
        timeoutMs: step.timeoutMs ?? o.stepTimeoutMs,
        maxAttempts: o.maxAttempts,
        budget: o.budget,
        signal,
        onEvent: (e) => {
          if (e.type === 'attempt') {
            o.emit({
              type: 'step-started',
              step: step.id,
              provider: e.provider,
              providers: e.providers,
              attempt: e.attempt,
              at: e.at,
            })
          } else if (e.type === 'chunk') o.emit({ type: 'step-chunk', step: step.id, text: e.text })
          else
            o.emit({
              type: 'step-failed',
              step: step.id,
              provider: e.provider,
              code: e.code,
              message: e.message,
              paid: e.paid.toString(),
              rerouting: e.rerouting,
            })
        },
      })
      bytes = result.output
      expectedHash = result.outputHash
      for (const f of result.failures) {
        if (f.paid !== '0') paidTo.set(f.provider, (paidTo.get(f.provider) ?? 0n) + BigInt(f.paid))
      }
      const royaltyTotal = result.royalties.reduce((n, r) => n + r.amount, 0n)
      if (result.channel !== undefined) {
        const entry = owed.get(result.channel) ?? {
          provider: result.provider,
          royalties: new Map(),
          paid: 0n,
        }
        for (const r of result.royalties)
          entry.royalties.set(r.creator, (entry.royalties.get(r.creator) ?? 0n) + r.amount)
        entry.paid += result.paid
        owed.set(result.channel, entry)
      }
      for (const p of result.payments) paidTo.set(p.provider, (paidTo.get(p.provider) ?? 0n) + p.amount)
      const { output: _inline, ...receipt } = result.receipt
      record = baseRecord(
        step,
        capability,
        inputs.cids,
        inputs.program ?? null,
        result.provider,
        result.agreeing,
        receipt,
        {
          paid: result.paid.toString(),
          charged: result.receipt.charged,
          royalties: result.royalties.map((r) => ({ creator: r.creator, amount: r.amount.toString() })),
          fee: networkFee(result.paid + royaltyTotal, c.feeBps()).toString(),
        },
        result.startedAt,
        result.finishedAt,
        result.failures.map((f) => ({ provider: f.provider, code: f.code })),
        inputs.compression,
      )
      if (result.signedReceipt !== undefined) record.receiptEnvelope = result.signedReceipt
    }
    // Small outputs reach dependent steps inline: their blocks are written off the critical
    // path (awaited before the root is signed); larger ones are stored before anyone reads them.
    const inline = bytes.byteLength <= INLINE_INPUT_MAX_BYTES
    const cid = inline ? await rawCid(bytes) : await putContent(c.storage, bytes, { signal })
    if (inline) later(c.storage.putBlock(cid, bytes))
    const hash = sha256Hex(bytes)
    if (expectedHash !== undefined && expectedHash !== hash) {
      throw new PrsmError('JOB_RECEIPT_INVALID', `step ${step.id}: the output does not match the receipt`, {
        details: { step: step.id },
      })
    }
    const signed = await signRecord<TraceStep>(c.privateKey, {
      ...record,
      output: cid,
      outputHash: hash,
      outputBytes: bytes.byteLength,
      parents: (parents.get(step.id) ?? []).map((p) => (done.get(p) as Done).traceCid),
    })
    later(c.storage.putBlock(signed.cid, signed.bytes))
    stepCids.push(signed.cid)
    outputs.set(step.id, { bytes, cid, hash })
    done.set(step.id, {
      output: { bytes, cid, hash },
      traceCid: signed.cid,
      provider: record.provider,
      agreeing: record.agreeing,
      capability: record.capability,
      startedAt: record.startedAt,
      finishedAt: record.finishedAt,
    })
    o.emit({
      type: 'step-done',
      step: step.id,
      provider: record.provider,
      agreeing: record.agreeing,
      output: cid.toString(),
      paid: record.cost.paid,
      royalties: record.cost.royalties.reduce((n, r) => n + BigInt(r.amount), 0n).toString(),
      ms: record.finishedAt - record.startedAt,
      trace: signed.cid.toString(),
      at: record.finishedAt,
    })
    return step.id
  }

  /**
   * Royalties owed on each channel for the steps done: one voucher each, its royalty table
   * carrying the creators. Also run when the workflow fails: the steps done were paid for.
   */
  const settle = async (signal: AbortSignal): Promise<{ royalties: Map<string, bigint>; fee: bigint }> => {
    const royalties = new Map<string, bigint>()
    let fee = 0n
    for (const [channel, entry] of owed) {
      let settled = 0n
      try {
        settled = await c.keeper.settleRoyalties(channel, entry.provider, entry.royalties, { signal })
        for (const [creator, amount] of entry.royalties)
          royalties.set(creator, (royalties.get(creator) ?? 0n) + amount)
      } catch (err) {
        const e = err as PrsmError
        o.budget.release([...entry.royalties.values()].reduce((n, a) => n + a, 0n))
        o.emit({
          type: 'warning',
          code: e.code ?? 'INTERNAL',
          message: `royalties on ${channel} not paid: ${e.message}`,
        })
      }
      fee += networkFee(entry.paid + settled, c.feeBps())
    }
    owed.clear()
    return { royalties, fee }
  }

  const startedAt = Date.now()
  try {
    while (pending.size > 0 || running.size > 0) {
      for (const id of order) {
        if (running.size >= o.concurrency) break
        if (!pending.has(id) || !(parents.get(id) ?? []).every((p) => done.has(p))) continue
        pending.delete(id)
        running.set(id, execute(byId.get(id) as WorkflowStep))
      }
      const finished = await Promise.race(running.values())
      running.delete(finished)
    }
  } catch (err) {
    controller.abort(err)
    await Promise.allSettled([...running.values(), ...writes])
    await settle(AbortSignal.timeout(30_000))
    if (o.signal.aborted) throw new PrsmError('JOB_CANCELLED', 'the workflow was cancelled', { cause: err })
    throw err
  }

  await Promise.all(writes)
  const { royalties, fee } = await settle(o.signal)
  let total = 0n
  for (const amount of paidTo.values()) total += amount
  for (const amount of royalties.values()) total += amount
  const perProvider = [...paidTo].map(([provider, paid]) => ({
    provider,
    paid: paid.toString(),
    fee: networkFee(paid, c.feeBps()).toString(),
  }))
  const output = done.get(valid.output) as Done
  const root = await signRecord<Trace>(c.privateKey, {
    type: 'prsm-trace',
    version: 1,
    query: workflow.query ?? o.query,
    workflow: workflowCid,
    steps: stepCids,
    output: output.output.cid,
    outputHash: output.output.hash,
    cost: {
      total: total.toString(),
      perProvider: perProvider.map((p) => ({ provider: p.provider, amount: p.paid })),
      royalties: [...royalties].map(([creator, amount]) => ({ creator, amount: amount.toString() })),
      networkFee: fee.toString(),
      feeBps: Number(c.feeBps()),
    },
    startedAt,
    finishedAt: Date.now(),
  })
  await c.storage.putBlock(root.cid, root.bytes)
  await c.storage.pin(root.cid.toString(), { depth: 1 }).catch(() => undefined)
  c.storage.provide(root.cid)
  return {
    runId: o.runId,
    answer: Buffer.from(output.output.bytes).toString('utf8'),
    answerCid: output.output.cid.toString(),
    traceCid: root.cid.toString(),
    workflowCid: workflowCid.toString(),
    cost: {
      perProvider,
      royalties: root.record.cost.royalties,
      networkFee: fee.toString(),
      total: total.toString(),
    },
    steps: order.map((id) => {
      const d = done.get(id) as Done
      return {
        step: id,
        provider: d.provider,
        agreeing: d.agreeing,
        output: d.output.cid.toString(),
        trace: d.traceCid.toString(),
        startedAt: d.startedAt,
        finishedAt: d.finishedAt,
      }
    }),
  }
}

/** The most paid per provider for a step: its own max price, its budget share, an equal share of what is left, or the default. */
/** The system prompt of a compression summary. */
export const SUMMARY_SYSTEM_PROMPT =
  'Summarise the text for a later analysis step. Keep every figure, unit, date and name; drop repetition. ' +
  'Answer with the summary only.'

function stepPrice(step: WorkflowStep, cheapest: bigint, o: SchedulerOptions, sharesLeft: number): bigint {
  if (cheapest === 0n) return 0n
  if (step.maxPrice !== undefined) return parseFtns(step.maxPrice)
  const limit = o.budget.limit
  if (limit === undefined) return o.defaultMaxPrice
  if (step.budgetShare !== undefined) return (limit * BigInt(Math.round(step.budgetShare * 1e6))) / 1_000_000n
  const left = o.budget.left ?? 0n
  const share = left / BigInt(sharesLeft) / BigInt(step.redundancy)
  return share < o.defaultMaxPrice ? share : o.defaultMaxPrice
}

type StepRecord = Omit<Unsigned<TraceStep>, 'parents' | 'output' | 'outputHash' | 'outputBytes'>

function zeroCost(): TraceStep['cost'] {
  return { paid: '0', charged: '0', royalties: [], fee: '0' }
}

function baseRecord(
  step: WorkflowStep,
  capability: string | null,
  inputs: CID[],
  program: CID | null,
  provider: string,
  agreeing: string[],
  receipt: Record<string, unknown> | null,
  cost: TraceStep['cost'],
  startedAt: number,
  finishedAt: number,
  failures: TraceStep['failures'],
  compression: TraceStep['compression'],
): StepRecord {
  return {
    type: 'prsm-trace-step',
    version: 1,
    step: step.id,
    kind: step.kind,
    capability,
    spec: canonicalJson(step),
    specHash: stepSpecHash(step),
    inputs,
    program,
    provider,
    agreeing,
    receipt,
    receiptEnvelope: null,
    cost,
    startedAt,
    finishedAt,
    failures,
    compression,
  }
}
