import { PrsmError } from '@prsm/core'
import { type ValidWorkflow, validateWorkflow, WORKFLOW_VERSION } from './workflow.ts'

/** Backend types a node can serve models with (docs/jobs.md "Backends"). */
export const MODEL_BACKEND_TYPES = [
  'openai-compatible (OpenAI, Ollama, vLLM, llama.cpp, LM Studio)',
  'anthropic',
  'huggingface',
] as const

export interface PlanRequest {
  query: string
  /** The model capability to plan with. */
  model: string
  /** Capabilities offered on the network (the plan may use only these). */
  offered: ReadonlySet<string>
  /** Answers a prompt with the model (a paid infer step). */
  infer(prompt: string, system: string, options: { signal?: AbortSignal }): Promise<string>
  maxAttempts: number
  signal?: AbortSignal
}

/** The planner's instructions: the workflow format and the capabilities it may use. */
export function plannerSystemPrompt(offered: ReadonlySet<string>): string {
  return [
    'You turn a question into a PRSM workflow: JSON only, no prose, no code fences.',
    `Format: {"version": ${WORKFLOW_VERSION}, "query": string, "steps": [step, ...]}.`,
    'step: {"id": "letters/digits/_-", "kind": "infer"|"tool"|"compute"|"compile", "capability": string,',
    ' "inputs": [string literal | {"step": "<id of an earlier step>"} | {"cid": "<CID>"}], "params": {}}.',
    'infer steps use model:* capabilities (params: {"max_tokens": n, "system": "..."}); independent steps run in parallel;',
    'compute steps need "program": {"cid": "<CID>"}: use them only with a program CID given in the question;',
    'end with one "compile" step (capability optional, a model:* one for a written synthesis) whose inputs are the steps to merge.',
    `Capabilities available: ${[...offered].sort().join(', ') || '(none)'}.`,
  ].join('\n')
}

/**
 * Plans a workflow for a query with a model: the answer must be a workflow that validates (and
 * uses only offered capabilities); an invalid answer is sent back with the validation error, at
 * most `maxAttempts` times in all, then PLANNER_INVALID_OUTPUT.
 */
export async function planWorkflow(r: PlanRequest): Promise<ValidWorkflow> {
  const system = plannerSystemPrompt(r.offered)
  let prompt = `Question: ${r.query}`
  let last = ''
  for (let attempt = 1; attempt <= r.maxAttempts; attempt++) {
    const answer = await r.infer(prompt, system, r.signal ? { signal: r.signal } : {})
    try {
      const raw = extractJson(answer) as { query?: unknown }
      if (raw !== null && typeof raw === 'object' && raw.query === undefined) raw.query = r.query
      return validateWorkflow(raw, { offered: r.offered })
    } catch (err) {
      last = (err as Error).message
      prompt = `Question: ${r.query}\n\nYour previous answer was not a valid workflow: ${last}\nAnswer again with the corrected JSON only.`
    }
  }
  throw new PrsmError(
    'PLANNER_INVALID_OUTPUT',
    `no valid workflow after ${r.maxAttempts} attempts: ${last}`,
    {
      details: { attempts: r.maxAttempts, model: r.model, lastError: last },
    },
  )
}

/** The JSON object in a model answer (inside a code fence, or from the first `{` to the last `}`). */
export function extractJson(answer: string): unknown {
  const fenced = /```(?:json)?\s*([\s\S]*?)```/.exec(answer)
  const body = fenced?.[1] ?? answer.slice(answer.indexOf('{'), answer.lastIndexOf('}') + 1)
  try {
    return JSON.parse(body)
  } catch (cause) {
    throw new PrsmError('WORKFLOW_INVALID', 'the answer is not JSON', { cause })
  }
}

/** The error when no model can plan: which backends would make `prsm query` work. */
export function noModelError(known: readonly string[]): PrsmError {
  return new PrsmError(
    'PLANNER_NO_MODEL',
    `no model:* capability is offered on the network, so the query cannot be planned. Backends a node can serve models with: ${MODEL_BACKEND_TYPES.join(', ')} (config jobs.backends, or a local Ollama). Without a model, run a workflow file: prsm workflow run FILE`,
    { details: { backends: [...MODEL_BACKEND_TYPES], offered: [...known] } },
  )
}
