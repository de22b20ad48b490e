import * as dagCbor from '@ipld/dag-cbor'
import { peerIdFromString } from '@libp2p/peer-id'
import { SIGNING_DOMAIN } from '@prsm/core'
import { CID } from 'multiformats/cid'
import type { Backend, ResolvedInput } from '../jobs/backend.ts'
import type { ContentStorage } from '../storage/storage.ts'
import { type CompileSource, structuredReport } from './compile.ts'
import {
  loadRecord,
  RAW_BLOCK_MAX_BYTES,
  rawCid,
  readContent,
  recordSignatureValid,
  sha256Hex,
  type Trace,
  type TraceStep,
} from './trace.ts'
import { canonicalJson, validateWorkflow, type WorkflowStep } from './workflow.ts'

export interface VerifyComponents {
  storage: Pick<ContentStorage, 'block' | 'cat'>
  /** Backends that re-execute deterministic steps locally, by capability (e.g. compute:js). */
  reexecutors?: ReadonlyMap<string, Backend>
}

export interface StepVerdict {
  step: string
  cid: string
  provider: string
  /** `match`: re-executed here with the same output hash; `skipped`: not deterministic or no backend. */
  reexecuted: 'match' | 'mismatch' | 'skipped'
  problems: string[]
}

export interface TraceVerdict {
  ok: boolean
  root: string
  signer: string
  query: string
  steps: StepVerdict[]
  problems: string[]
}

/**
 * Verifies a trace from its root CID, fetching blocks and content over the network when this node
 * does not hold them: the root's and every step's signature (all by the same orchestrating node),
 * every step's spec against the workflow (hash and content), every output against its hash and
 * its receipt, every parent link against the workflow's dependencies and every step-reference
 * input against the parent's output, the root's output against the workflow's output step; and
 * it re-executes deterministic steps (compute:js programs, structured-report compiles) locally,
 * comparing output hashes. Problems are collected, not thrown: `ok` is true when there are none.
 */
export async function verifyTrace(
  c: VerifyComponents,
  rootCid: string,
  options: { signal?: AbortSignal; reexecute?: boolean } = {},
): Promise<TraceVerdict> {
  const signal = options.signal
  const root = await loadRecord<Trace>(c.storage, rootCid, 'prsm-trace', signal ? { signal } : {})
  const problems: string[] = []
  if (!(await recordSignatureValid(root))) problems.push('the root signature does not verify')
  let workflowSteps = new Map<string, WorkflowStep>()
  let parentsOf = new Map<string, string[]>()
  let outputStep: string | undefined
  try {
    const bytes = await c.storage.block(root.workflow.toString(), signal ? { signal } : {})
    const valid = validateWorkflow(dagCbor.decode(bytes))
    workflowSteps = new Map(valid.workflow.steps.map((s) => [s.id, s]))
    parentsOf = valid.parents
    outputStep = valid.output
  } catch (err) {
    problems.push(`the workflow at ${root.workflow} is unreadable or invalid: ${(err as Error).message}`)
  }

  const records = new Map<string, { record: TraceStep; cid: CID; output?: Uint8Array }>()
  const verdicts: StepVerdict[] = []
  for (const cid of root.steps) {
    const record = await loadRecord<TraceStep>(c.storage, cid, 'prsm-trace-step', signal ? { signal } : {})
    const entry: { record: TraceStep; cid: CID; output?: Uint8Array } = { record, cid }
    records.set(cid.toString(), entry)
    const p: string[] = []
    if (!(await recordSignatureValid(record))) p.push('signature does not verify')
    if (record.signer !== root.signer) p.push(`signed by ${record.signer}, not by the trace's signer`)
    const spec = workflowSteps.get(record.step)
    // The spec is stored as canonical JSON: its hash is the sha256 of exactly these bytes.
    if (sha256Hex(new TextEncoder().encode(record.spec)) !== record.specHash)
      p.push('spec hash does not match the spec')
    if (spec === undefined) p.push(`step ${record.step} is not in the workflow`)
    else if (canonicalJson(spec) !== record.spec) p.push('spec differs from the workflow')
    try {
      const output = await readContent(c.storage, record.output, signal ? { signal } : {})
      entry.output = output
      if (sha256Hex(output) !== record.outputHash) p.push('output does not match its hash')
      if (output.byteLength !== record.outputBytes) p.push('output size differs')
    } catch (err) {
      p.push(`output ${record.output} unreadable: ${(err as Error).message}`)
    }
    const receiptHash = (record.receipt as { outputHash?: unknown } | null)?.outputHash
    if (record.receipt !== null && receiptHash !== record.outputHash)
      p.push("the receipt's output hash differs")
    if (record.receiptEnvelope !== null && record.receiptEnvelope !== undefined) {
      p.push(...(await receiptProblems(record, root.signer)))
    }
    verdicts.push({
      step: record.step,
      cid: cid.toString(),
      provider: record.provider,
      reexecuted: 'skipped',
      problems: p,
    })
  }
  const byStep = new Map([...records.values()].map((e) => [e.record.step, e]))
  if (byStep.size !== workflowSteps.size && workflowSteps.size > 0) {
    problems.push(`the trace has ${byStep.size} steps, the workflow ${workflowSteps.size}`)
  }

  for (const verdict of verdicts) {
    const { record } = records.get(verdict.cid) as { record: TraceStep }
    const spec = workflowSteps.get(record.step)
    // Links: the parents named are exactly the workflow's dependencies, as executed in this trace.
    const expected = (parentsOf.get(record.step) ?? []).map((id) => byStep.get(id)?.cid.toString())
    const linked = record.parents.map((p) => p.toString())
    if (canonicalJson(expected) !== canonicalJson(linked))
      verdict.problems.push('parent links differ from the workflow')
    if (spec !== undefined) {
      verdict.problems.push(...(await inputProblems(spec, record, byStep)))
    }
    if (options.reexecute === false) continue
    try {
      verdict.reexecuted = await reexecute(c, root, record, records, signal)
      if (verdict.reexecuted === 'mismatch')
        verdict.problems.push('re-executed here with a different output hash')
    } catch (err) {
      // Not re-executable here (program or input unavailable, the program failed): not verified.
      verdict.reexecuted = 'mismatch'
      verdict.problems.push(`could not be re-executed here: ${(err as Error).message}`)
    }
  }
  if (
    outputStep !== undefined &&
    byStep.get(outputStep)?.record.output.toString() !== root.output.toString()
  ) {
    problems.push("the root's output is not the output step's output")
  }
  const ok = problems.length === 0 && verdicts.every((v) => v.problems.length === 0)
  return { ok, root: rootCid, signer: root.signer, query: root.query, steps: verdicts, problems }
}

async function reexecute(
  c: VerifyComponents,
  root: Trace,
  record: TraceStep,
  byCid: ReadonlyMap<string, { record: TraceStep; output?: Uint8Array }>,
  signal: AbortSignal | undefined,
): Promise<StepVerdict['reexecuted']> {
  if (record.kind === 'compile' && record.capability === null) {
    const sources: CompileSource[] = record.parents.map((p) => {
      const parent = byCid.get(p.toString())
      return {
        step: parent?.record.step ?? '?',
        capability: parent?.record.capability ?? null,
        provider: parent?.record.provider ?? '?',
        text: Buffer.from(parent?.output ?? new Uint8Array()).toString('utf8'),
      }
    })
    const report = structuredReport(root.query, sources)
    return sha256Hex(new TextEncoder().encode(report)) === record.outputHash ? 'match' : 'mismatch'
  }
  const backend = record.capability === null ? undefined : c.reexecutors?.get(record.capability)
  if (record.kind !== 'compute' || backend === undefined) return 'skipped'
  let spec: WorkflowStep
  try {
    spec = JSON.parse(record.spec) as WorkflowStep
  } catch {
    return 'mismatch'
  }
  const params: Record<string, unknown> = { ...spec.params }
  delete params.maxInputTokens
  if (record.program !== null) params.program = record.program.toString()
  const inputs: ResolvedInput[] = []
  for (const cid of record.inputs) {
    // as bytes: compute:js reads them as UTF-8 text, compute:wasm as they are
    inputs.push({ bytes: await readContent(c.storage, cid, signal ? { signal } : {}), cid: cid.toString() })
  }
  const parts: Uint8Array[] = []
  const run = backend.run(
    { kind: 'compute', capability: record.capability as string, params: params as never },
    inputs,
    { signal: signal ?? AbortSignal.timeout(60_000), deadline: Date.now() + 60_000 },
  )
  for await (const e of run) {
    if (e.type !== 'output') continue
    parts.push('text' in e ? Buffer.from(e.text) : e.bytes)
  }
  return sha256Hex(Buffer.concat(parts)) === record.outputHash ? 'match' : 'mismatch'
}

/**
 * Checks a step's signed receipt envelope: signed by the step's provider (its node key, over the
 * envelope fields as every PRSM message is signed), for the orchestrating node, naming the step's
 * output hash and matching the receipt recorded in the step.
 */
async function receiptProblems(record: TraceStep, client: string): Promise<string[]> {
  let e: {
    type?: unknown
    version?: unknown
    payload?: Record<string, unknown>
    sender?: unknown
    nonce?: unknown
    timestamp?: unknown
    signature?: unknown
  }
  try {
    e = dagCbor.decode(record.receiptEnvelope as Uint8Array)
  } catch {
    return ['the signed receipt is not dag-cbor']
  }
  if (e.type !== 'job-receipt' || typeof e.sender !== 'string' || !(e.signature instanceof Uint8Array)) {
    return ['the signed receipt is not a job-receipt envelope']
  }
  const problems: string[] = []
  const body = dagCbor.encode({
    type: e.type,
    version: e.version,
    payload: e.payload,
    sender: e.sender,
    nonce: e.nonce,
    timestamp: e.timestamp,
  })
  const signed = new Uint8Array(SIGNING_DOMAIN.length + body.length)
  signed.set(SIGNING_DOMAIN, 0)
  signed.set(body, SIGNING_DOMAIN.length)
  let valid = false
  try {
    const key = peerIdFromString(e.sender).publicKey
    valid = key !== undefined && (await key.verify(signed, e.signature))
  } catch {
    valid = false
  }
  if (!valid) problems.push("the receipt's signature does not verify")
  if (e.sender !== record.provider) problems.push('the receipt is signed by another node than the provider')
  if (e.payload?.client !== client) problems.push('the receipt names another client than the orchestrator')
  if (e.payload?.outputHash !== record.outputHash)
    problems.push('the signed receipt names another output hash')
  if ((record.receipt as { requestId?: unknown } | null)?.requestId !== e.payload?.requestId) {
    problems.push('the signed receipt is not the recorded one')
  }
  return problems
}

/**
 * The step's recorded inputs against its spec: a `{step}` input is that step's output, a `{cid}`
 * input that CID, a literal the CID of its text (compressed inputs excepted: they name the
 * compressed text); a `{cid}` program is the recorded program.
 */
async function inputProblems(
  spec: WorkflowStep,
  record: TraceStep,
  byStep: ReadonlyMap<string, { record: TraceStep }>,
): Promise<string[]> {
  const problems: string[] = []
  if (record.inputs.length !== spec.inputs.length) problems.push('the number of inputs differs from the spec')
  for (const [i, input] of spec.inputs.entries()) {
    if (record.compression.some((x) => x.input === i)) continue
    const recorded = record.inputs[i]?.toString()
    if (typeof input === 'string' || 'text' in input) {
      const bytes = new TextEncoder().encode(typeof input === 'string' ? input : input.text)
      if (bytes.byteLength <= RAW_BLOCK_MAX_BYTES && recorded !== (await rawCid(bytes)).toString()) {
        problems.push(`input ${i} is not the literal of the spec`)
      }
    } else if ('cid' in input) {
      if (recorded !== normalCid(input.cid)) problems.push(`input ${i} is not ${input.cid}`)
    } else if ('step' in input) {
      if (recorded !== byStep.get(input.step)?.record.output.toString()) {
        problems.push(`input ${i} is not the output of ${input.step}`)
      }
    }
  }
  if (
    spec.program !== undefined &&
    'cid' in spec.program &&
    record.program?.toString() !== normalCid(spec.program.cid)
  ) {
    problems.push('the program is not the one of the spec')
  }
  return problems
}

function normalCid(text: string): string {
  try {
    return CID.parse(text).toString()
  } catch {
    return text
  }
}
