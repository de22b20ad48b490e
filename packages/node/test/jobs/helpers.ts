import { PrsmError } from '@prsm/core'
import type { PrsmNode } from '../../src/index.ts'
import type { Backend, BackendEvent } from '../../src/jobs/backend.ts'
import { bootstrapAddr, startTestNode, waitFor } from '../helpers.ts'

/**
 * A client and three providers offering `capability` for free with small compute caps (3 s,
 * 16 MiB), connected; `run` runs a compute step by program CID on one of them.
 */
export async function computeCluster(capability: 'compute:js' | 'compute:wasm') {
  const client = await startTestNode()
  const providers = await Promise.all(
    [0, 1, 2].map(() =>
      startTestNode({
        config: {
          bootstrap: [bootstrapAddr(client)],
          offers: [{ capability, price: '0' }],
          jobs: { compute: { timeMs: 3_000, memoryBytes: 16 * 1024 * 1024 } },
        },
      }),
    ),
  )
  await waitFor('the providers to connect', () => client.libp2p.getPeers().length >= 3)
  const run = (
    provider: PrsmNode,
    program: string,
    inputs: Array<{ text: string } | { cid: string }> = [],
    params: Record<string, number> = {},
  ) =>
    client.jobs.request(provider.peerId, {
      step: { capability, params: { program, ...params } },
      inputs,
      maxPrice: 0n,
    })
  const add = async (bytes: Uint8Array | string): Promise<string> =>
    (
      await client.storage.add(
        (async function* () {
          yield typeof bytes === 'string' ? Buffer.from(bytes) : bytes
        })(),
      )
    ).cid
  return { client, providers, nodes: [client, ...providers], run, add }
}

/** Echoes its text inputs back word by word (one chunk per word), reporting words as tokens. */
export function echoBackend(): Backend & { runs: number } {
  const backend = {
    name: 'echo',
    runs: 0,
    async *run(_step, inputs): AsyncGenerator<BackendEvent> {
      backend.runs++
      const words = inputs.flatMap((i) => ('text' in i ? i.text.split(/(?<= )/) : []))
      yield { type: 'usage', usage: { tokensIn: words.length } }
      for (const w of words) yield { type: 'output', text: w }
      yield { type: 'usage', usage: { tokensOut: words.length } }
    },
  } satisfies Backend & { runs: number }
  return backend
}

/**
 * A backend under the test's control: it yields `before` chunks, then waits until the test calls
 * `finish()` (then yields "done") or the job's signal aborts (then throws its reason), or fails
 * with JOB_BACKEND_FAILED when `fail()` is called.
 */
export function gatedBackend(before = 1) {
  let started!: () => void
  const state = {
    runs: 0,
    started: new Promise<void>((r) => {
      started = r
    }),
    waiters: [] as Array<(how: 'finish' | 'fail') => void>,
    finish() {
      for (const w of state.waiters.splice(0)) w('finish')
    },
    fail() {
      for (const w of state.waiters.splice(0)) w('fail')
    },
  }
  const backend: Backend = {
    name: 'gated',
    async *run(_step, _inputs, { signal }) {
      state.runs++
      for (let i = 0; i < before; i++) yield { type: 'output', text: `part${i} ` }
      const how = await new Promise<'finish' | 'fail'>((resolve, reject) => {
        state.waiters.push(resolve)
        started()
        signal.addEventListener(
          'abort',
          () => {
            state.waiters.splice(state.waiters.indexOf(resolve), 1)
            reject(signal.reason)
          },
          { once: true },
        )
      })
      if (how === 'fail') throw new PrsmError('JOB_BACKEND_FAILED', 'upstream went away')
      yield { type: 'output', text: 'done' }
    },
  }
  return { backend, state }
}
