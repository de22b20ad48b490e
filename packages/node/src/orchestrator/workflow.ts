import { createHash } from 'node:crypto'
import { CapabilitySchema, PrsmError, stripUndefined } from '@prsm/core'
import { parse as parseYaml } from 'yaml'
import { z } from 'zod'

/** The workflow format version this node reads and writes. */
export const WORKFLOW_VERSION = 1
/** Step kinds and the capability kind each one runs on. */
export const STEP_KINDS = ['infer', 'tool', 'compute', 'compile'] as const
export type StepKind = (typeof STEP_KINDS)[number]
const KIND_CAPABILITY: Record<StepKind, string> = {
  infer: 'model',
  tool: 'tool',
  compute: 'compute',
  compile: 'model',
}
/** The job kind (wire) a step kind runs as. */
export const JOB_KIND: Record<StepKind, 'model' | 'tool' | 'compute'> = {
  infer: 'model',
  tool: 'tool',
  compute: 'compute',
  compile: 'model',
}

const stepId = z
  .string()
  .regex(/^[A-Za-z][A-Za-z0-9_-]{0,63}$/, 'letters, digits, _ and - (starting with a letter), at most 64')
const manifestRef = z.string().min(1).max(200)
const ftns = z.string().regex(/^\d+(\.\d{1,18})?$/, 'must be a decimal FTNS amount such as 0.5')

/** One input of a step: literal text, a CID, a file of a manifest, or another step's output. */
export const StepInputSchema = z.union([
  z.string().max(1024 * 1024),
  z.object({ text: z.string().max(1024 * 1024) }).strict(),
  z.object({ cid: z.string().min(1).max(128) }).strict(),
  z.object({ manifest: manifestRef, file: z.string().max(512).optional() }).strict(),
  z.object({ step: stepId }).strict(),
])
export type StepInput = z.output<typeof StepInputSchema>

export const WorkflowStepSchema = z
  .object({
    id: stepId,
    kind: z.enum(STEP_KINDS),
    /** `kind:name` of the offers that run it (model:…, tool:…, compute:…). Optional for compile. */
    capability: CapabilitySchema.optional(),
    inputs: z.array(StepInputSchema).max(64).default([]),
    /** Backend parameters (model: max_tokens, system…; compute:js: program CID, seed…). */
    params: z.record(z.string().max(64), z.json()).default({}),
    /** For compute steps: the program, by CID or as a manifest (`name@version`, its first file). */
    program: z
      .union([
        z.object({ cid: z.string().min(1).max(128) }).strict(),
        z.object({ manifest: manifestRef, file: z.string().max(512).optional() }).strict(),
      ])
      .optional(),
    /** Manifests the step uses without reading them as inputs (e.g. the model): their creators get royalties. */
    uses: z.array(manifestRef).max(16).default([]),
    /** Providers that must agree on the output (k-of-k majority; deterministic steps only). */
    redundancy: z.number().int().min(1).max(7).default(1),
    /** Share of the job's budget this step may spend (0–1); default: an equal share of what is left. */
    budgetShare: z.number().min(0).max(1).optional(),
    /** Largest price paid per provider for this step, FTNS (default: the step's budget share). */
    maxPrice: ftns.optional(),
    /** Time allowed per attempt, milliseconds. */
    timeoutMs: z.number().int().min(100).max(3_600_000).optional(),
  })
  .strict()
export type WorkflowStep = z.output<typeof WorkflowStepSchema>

export const WorkflowSchema = z
  .object({
    version: z.literal(WORKFLOW_VERSION),
    name: z.string().max(128).optional(),
    /** The question the workflow answers (shown in the trace). */
    query: z.string().max(16_384).optional(),
    /** Default budget, FTNS (the caller's budget wins). */
    budget: ftns.optional(),
    steps: z.array(WorkflowStepSchema).min(1).max(1000),
    /** The step whose output is the answer (default: the compile step, else the last step). */
    output: stepId.optional(),
  })
  .strict()
export type Workflow = z.output<typeof WorkflowSchema>
export type WorkflowInput = z.input<typeof WorkflowSchema>

export interface ValidateOptions {
  /** Capabilities some provider offers: a step naming another is WORKFLOW_UNKNOWN_CAPABILITY. */
  offered?: ReadonlySet<string>
}

/** A validated workflow with its steps in a dependency order and each step's parents. */
export interface ValidWorkflow {
  workflow: Workflow
  /** Step ids, every step after the steps it depends on. */
  order: string[]
  parents: Map<string, string[]>
  /** The step whose output is the answer. */
  output: string
}

/** Parses JSON or YAML text (YAML is a superset of JSON) into a validated workflow. */
export function parseWorkflow(text: string, options: ValidateOptions = {}): ValidWorkflow {
  let raw: unknown
  try {
    raw = parseYaml(text, { maxAliasCount: 100 })
  } catch (err) {
    throw new PrsmError('WORKFLOW_INVALID', `not JSON or YAML: ${(err as Error).message}`, { cause: err })
  }
  return validateWorkflow(raw, options)
}

/**
 * Validates a workflow: the schema, unique step ids, references to existing steps
 * (WORKFLOW_DANGLING_REF), no cycles (WORKFLOW_CYCLE), capabilities fitting the step kind and,
 * when `offered` is given, offered by someone (WORKFLOW_UNKNOWN_CAPABILITY). Every error names
 * the offending step in `details.step`.
 */
export function validateWorkflow(input: unknown, options: ValidateOptions = {}): ValidWorkflow {
  const parsed = WorkflowSchema.safeParse(input)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    const path = issue?.path ?? []
    const steps = (input as { steps?: Array<{ id?: unknown }> } | null)?.steps
    const at = path[0] === 'steps' && typeof path[1] === 'number' ? steps?.[path[1]]?.id : undefined
    throw new PrsmError(
      'WORKFLOW_INVALID',
      `workflow invalid at ${path.join('.') || '(root)'}: ${issue?.message}`,
      {
        details: {
          path: path.join('.'),
          ...(typeof at === 'string' ? { step: at } : {}),
          issues: parsed.error.issues.slice(0, 5).map((i) => ({ path: i.path.join('.'), reason: i.message })),
        },
      },
    )
  }
  const workflow = parsed.data
  const byId = new Map<string, WorkflowStep>()
  for (const step of workflow.steps) {
    if (byId.has(step.id)) {
      throw new PrsmError('WORKFLOW_INVALID', `two steps have the id ${step.id}`, {
        details: { step: step.id },
      })
    }
    byId.set(step.id, step)
  }
  const parents = new Map<string, string[]>()
  for (const step of workflow.steps) {
    const deps: string[] = []
    for (const input of step.inputs) {
      if (typeof input !== 'object' || !('step' in input)) continue
      if (!byId.has(input.step)) {
        throw new PrsmError(
          'WORKFLOW_DANGLING_REF',
          `step ${step.id} reads the output of unknown step ${input.step}`,
          {
            details: { step: step.id, ref: input.step },
          },
        )
      }
      if (!deps.includes(input.step)) deps.push(input.step)
    }
    parents.set(step.id, deps)
    checkCapability(step, options.offered)
  }
  const order = topologicalOrder(workflow.steps, parents)
  const output = workflow.output ?? workflow.steps.find((s) => s.kind === 'compile')?.id ?? order.at(-1)
  if (output === undefined || !byId.has(output)) {
    throw new PrsmError('WORKFLOW_DANGLING_REF', `the output names unknown step ${String(output)}`, {
      details: { step: String(output), ref: String(output) },
    })
  }
  return { workflow, order, parents, output }
}

/** Capabilities that run a program given by the step (`program`, or `params.program` as a CID). */
const PROGRAM_CAPABILITIES = new Set(['compute:js', 'compute:wasm'])

function checkCapability(step: WorkflowStep, offered: ReadonlySet<string> | undefined): void {
  if (step.capability === undefined) {
    if (step.kind === 'compile') return
    throw new PrsmError('WORKFLOW_INVALID', `step ${step.id} (${step.kind}) needs a capability`, {
      details: { step: step.id, path: 'capability' },
    })
  }
  if (
    PROGRAM_CAPABILITIES.has(step.capability) &&
    step.program === undefined &&
    typeof step.params.program !== 'string'
  ) {
    throw new PrsmError('WORKFLOW_INVALID', `step ${step.id} runs ${step.capability} but names no program`, {
      details: { step: step.id, path: 'program' },
    })
  }
  const kind = step.capability.slice(0, step.capability.indexOf(':'))
  if (kind !== KIND_CAPABILITY[step.kind]) {
    throw new PrsmError(
      'WORKFLOW_UNKNOWN_CAPABILITY',
      `step ${step.id} is ${step.kind} but names ${step.capability} (expected ${KIND_CAPABILITY[step.kind]}:…)`,
      { details: { step: step.id, capability: step.capability } },
    )
  }
  if (offered !== undefined && !offered.has(step.capability) && step.kind !== 'compile') {
    throw new PrsmError(
      'WORKFLOW_UNKNOWN_CAPABILITY',
      `no provider offers ${step.capability} (step ${step.id})`,
      {
        details: { step: step.id, capability: step.capability },
      },
    )
  }
}

/** Kahn's algorithm in declaration order; a leftover step is on a cycle (named in details). */
function topologicalOrder(steps: readonly WorkflowStep[], parents: Map<string, string[]>): string[] {
  const waiting = new Map(steps.map((s) => [s.id, new Set(parents.get(s.id))]))
  const order: string[] = []
  let progressed = true
  while (waiting.size > 0 && progressed) {
    progressed = false
    for (const [id, deps] of waiting) {
      if ([...deps].every((d) => !waiting.has(d))) {
        order.push(id)
        waiting.delete(id)
        progressed = true
      }
    }
  }
  if (waiting.size > 0) {
    const cycle = findCycle(waiting)
    throw new PrsmError('WORKFLOW_CYCLE', `steps ${cycle.join(' → ')} depend on each other in a cycle`, {
      details: { step: cycle[0], cycle },
    })
  }
  return order
}

function findCycle(waiting: Map<string, Set<string>>): string[] {
  const start = waiting.keys().next().value as string
  const path: string[] = []
  let at: string | undefined = start
  while (at !== undefined && !path.includes(at)) {
    path.push(at)
    at = [...(waiting.get(at) ?? [])].find((d) => waiting.has(d))
  }
  return at === undefined ? path : [...path.slice(path.indexOf(at)), at]
}

/** Hex sha256 of a step's canonical JSON (keys sorted): what a TraceStep commits to. */
export function stepSpecHash(step: WorkflowStep): string {
  return createHash('sha256').update(canonicalJson(step)).digest('hex')
}

/** JSON with object keys sorted and undefined dropped: the same value gives the same bytes. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(stripUndefined(value)))
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys)
  if (value !== null && typeof value === 'object' && !(value instanceof Uint8Array)) {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((k) => [k, sortKeys((value as Record<string, unknown>)[k])]),
    )
  }
  return value
}
