import type { PrsmNode } from '../../src/index.ts'
import type { WorkflowInput } from '../../src/orchestrator/workflow.ts'
import { waitFor } from '../helpers.ts'

/**
 * A compute:js program used by the orchestrator tests: sums the comma-separated numbers of its
 * first input (a string, or the `values` of a JSON object), spinning `params.spin` iterations
 * first so that steps take long enough to overlap; a compile-like program merges JSON inputs.
 */
export const SUM_PROGRAM = `
function main(inputs, params) {
  let spin = 0
  for (let i = 0; i < (params.spin || 0); i++) spin = (spin + i) % 7
  const text = inputs[0]
  const xs = text.split(',').map(Number)
  let sum = 0
  for (const x of xs) sum += x
  return { sum: sum, n: xs.length, label: params.label || null }
}
`

export const MERGE_PROGRAM = `
function main(inputs) {
  let total = 0
  let n = 0
  for (const t of inputs) { const v = JSON.parse(t); total += v.sum; n += v.n }
  return { total: total, n: n, mean: total / n }
}
`

/** One compute:js step running {@link SUM_PROGRAM} (at `sumCid`) long enough to be cancelled. */
export function slowWorkflow(sumCid: string): WorkflowInput {
  return {
    version: 1,
    steps: [
      {
        id: 'slow',
        kind: 'compute',
        capability: 'compute:js',
        program: { cid: sumCid },
        params: { spin: 2_000_000_000 },
        inputs: ['1'],
      },
    ],
  }
}

/**
 * Two compute:js steps: `long` runs the program at `longCid`, `short` runs the one at `readerCid`
 * on `long`'s output under a budget of `maxInputTokens` (so its input gets compressed).
 */
export function compressedPairWorkflow(
  longCid: string,
  readerCid: string,
  maxInputTokens: number,
): WorkflowInput {
  return {
    version: 1,
    steps: [
      { id: 'long', kind: 'compute', capability: 'compute:js', program: { cid: longCid }, inputs: [] },
      {
        id: 'short',
        kind: 'compute',
        capability: 'compute:js',
        program: { cid: readerCid },
        params: { maxInputTokens },
        inputs: [{ step: 'long' }],
      },
    ],
  }
}

/** Adds a program (or any text) to a node's storage and returns its CID. */
export async function addText(node: PrsmNode, text: string): Promise<string> {
  const { cid } = await node.storage.add(
    (async function* () {
      yield new TextEncoder().encode(text)
    })(),
  )
  return cid
}

/** Waits until `node` knows offers of `capability` from every one of `providers`. */
export async function waitForOffers(
  node: PrsmNode,
  capability: string,
  providers: PrsmNode[],
): Promise<void> {
  await waitFor(
    `${capability} offers from ${providers.length} providers`,
    () => {
      const known = new Set(node.offers.knownOffers(capability).map((f) => f.provider))
      return providers.every((p) => known.has(p.peerId))
    },
    20_000,
  )
}
