/**
 * The main job's workflow: demo/climate.workflow.json, and — when a model is available — an
 * `infer` step explaining the figures and a model synthesis in the compile step.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'

export const WORKFLOW_FILE = join(import.meta.dirname, 'climate.workflow.json')

export interface WorkflowFile {
  query: string
  budget: string
  steps: Array<{
    id: string
    kind: string
    capability?: string
    inputs: Array<string | { step: string } | Record<string, string>>
    params?: Record<string, unknown>
  }>
}

/** The workflow file, with an infer step and model synthesis in the compile step when a model is available. */
export function climateWorkflow(model: string | undefined): WorkflowFile {
  const workflow = JSON.parse(readFileSync(WORKFLOW_FILE, 'utf8')) as WorkflowFile
  if (model === undefined) return workflow
  const shards = workflow.steps.filter((s) => s.kind === 'compute').map((s) => ({ step: s.id }))
  const compile = workflow.steps.find((s) => s.kind === 'compile')
  workflow.steps.splice(workflow.steps.length - 1, 0, {
    id: 'explain',
    kind: 'infer',
    capability: model,
    inputs: [
      'In three sentences, explain what these measured trends mean for the climate. Quote the figures.',
      ...shards,
    ],
    // long inputs are compressed to this budget before they reach the model
    params: { max_tokens: 300, temperature: 0, maxInputTokens: 600 },
  })
  if (compile !== undefined) {
    compile.capability = model
    compile.inputs.push({ step: 'explain' })
    compile.params = { ...compile.params, max_tokens: 400, temperature: 0, maxInputTokens: 1500 }
  }
  return workflow
}
