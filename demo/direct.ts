/**
 * The main job without the orchestrator: runs a workflow's compute steps as paid jobs straight
 * through the client node's JobService — each step on `redundancy` different providers at once
 * (k = 2: the outputs must hash the same), independent steps in parallel — and the compile step
 * locally as a structured report. Used by the demo only while the node has no orchestrator
 * (`node.orchestrator`); it records no trace.
 */
import type { JobReceipt, PrsmNode } from '@prsm/node'

interface Step {
  id: string
  kind: string
  capability?: string
  program?: { manifest: string; file?: string }
  inputs: Array<{ manifest?: string; file?: string; step?: string }>
  params?: Record<string, unknown>
  redundancy?: number
}

export interface DirectStepResult {
  id: string
  output: unknown
  runs: Array<{ provider: string; receipt: JobReceipt; startedAt: number; finishedAt: number }>
}

async function fileCid(
  client: PrsmNode,
  ref: string,
  file: string | undefined,
  signal: AbortSignal,
): Promise<string> {
  const { manifest } = await client.manifests.resolve(ref, { signal })
  const found = file === undefined ? manifest.files[0] : manifest.files.find((f) => f.path === file)
  if (found === undefined) throw new Error(`${ref} has no file ${file}`)
  return found.cid
}

export async function runDirect(
  client: PrsmNode,
  workflow: { steps: Step[] },
  options: { providers: string[]; maxPrice: bigint; signal: AbortSignal },
): Promise<DirectStepResult[]> {
  let next = 0
  const compute = workflow.steps.filter((s) => s.kind === 'compute')
  return Promise.all(
    compute.map(async (step) => {
      const k = step.redundancy ?? 1
      const providers = Array.from(
        { length: k },
        (_, i) => options.providers[(next + i) % options.providers.length] as string,
      )
      next += k
      if (step.program === undefined) throw new Error(`step ${step.id} has no program`)
      const program = await fileCid(client, step.program.manifest, step.program.file, options.signal)
      const inputs = await Promise.all(
        step.inputs.map(async (i) => ({
          cid: await fileCid(client, i.manifest as string, i.file, options.signal),
        })),
      )
      const runs = await Promise.all(
        providers.map(async (provider) => {
          const startedAt = Date.now()
          const { receipt, output } = await client.jobs.request(provider, {
            step: {
              kind: 'compute',
              capability: step.capability ?? 'compute:js',
              params: { ...step.params, program },
            },
            inputs,
            maxPrice: options.maxPrice,
          })
          if (receipt.status !== 'ok')
            throw new Error(`${step.id} failed on ${provider}: ${receipt.error?.message}`)
          return { provider, receipt, output, startedAt, finishedAt: Date.now() }
        }),
      )
      const hashes = new Set(runs.map((r) => r.receipt.outputHash))
      if (hashes.size !== 1)
        throw new Error(`${step.id}: the ${k} providers disagree (${[...hashes].join(', ')})`)
      const first = runs[0] as (typeof runs)[number]
      const text = new TextDecoder().decode(first.output)
      return { id: step.id, output: JSON.parse(text) as unknown, runs: runs.map(({ output: _o, ...r }) => r) }
    }),
  )
}
