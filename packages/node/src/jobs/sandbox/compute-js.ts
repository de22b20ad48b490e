import { createHash } from 'node:crypto'
import { Worker } from 'node:worker_threads'
import { PrsmError } from '@prsm/core'
import type { ContentStorage } from '../../storage/storage.ts'
import type { Backend, ResolvedInput } from '../backend.ts'
import type { SandboxResult, SandboxTask } from './worker.ts'

/** QuickJS's stack cap (the STACK decision: 256 KiB). */
export const SANDBOX_MAX_STACK_BYTES = 256 * 1024
/** Largest program source fetched for a compute step. */
export const MAX_PROGRAM_BYTES = 4 * 1024 * 1024
/** Time the worker gets beyond the in-VM deadline before it is terminated from outside. */
const HARD_KILL_GRACE_MS = 2_000

export interface ComputeJsLimits {
  memoryBytes: number
  timeMs: number
  maxOutputBytes: number
}

/**
 * `compute:js`: a deterministic JavaScript program, stored as content (`params.program` = its
 * CID), runs over the step's inputs (decoded as UTF-8 strings) in QuickJS in a fresh worker
 * thread. The program defines `function main(inputs, params)` and returns a string (the output
 * as is) or any JSON value (the output is its JSON). No clock, no I/O, no host objects; Math.random
 * is seeded (`params.seed`, else a hash of the program and inputs), so the same program and inputs
 * give the same output bytes on every node.
 */
export function computeJsBackend(
  components: { storage: Pick<ContentStorage, 'cat'> },
  limits: ComputeJsLimits,
): Backend {
  return {
    name: 'compute:js',
    async *run(step, inputs, { signal }) {
      const params = step.params as Record<string, unknown>
      if (typeof params.program !== 'string') {
        throw new PrsmError('JOB_INPUT_INVALID', 'compute:js needs params.program (the CID of the program)')
      }
      const source = new TextDecoder().decode(await fetchProgram(components.storage, params.program, signal))
      const texts = inputs.map(inputText)
      const seed =
        typeof params.seed === 'number' && Number.isInteger(params.seed)
          ? params.seed >>> 0
          : deriveSeed(source, texts)
      const { program: _p, seed: _s, ...programParams } = params
      const task: SandboxTask = {
        source,
        inputs: texts,
        params: programParams,
        seed,
        memoryBytes: limits.memoryBytes,
        timeMs: limits.timeMs,
        maxStackBytes: SANDBOX_MAX_STACK_BYTES,
        maxOutputBytes: limits.maxOutputBytes,
      }
      const result = await runInWorker(new URL('./worker.ts', import.meta.url), task, signal, {
        killAfterMs: task.timeMs + HARD_KILL_GRACE_MS,
        timeMs: task.timeMs,
      })
      yield { type: 'usage', usage: { computeMs: result.computeMs } }
      if (!result.ok) throw sandboxError(result)
      yield { type: 'output', text: result.output }
    },
  }
}

export async function fetchProgram(
  storage: Pick<ContentStorage, 'cat'>,
  cid: string,
  signal: AbortSignal,
): Promise<Uint8Array> {
  const parts: Uint8Array[] = []
  let size = 0
  try {
    for await (const chunk of storage.cat(cid, { signal })) {
      size += chunk.byteLength
      if (size > MAX_PROGRAM_BYTES)
        throw new PrsmError('JOB_INPUT_INVALID', `program over ${MAX_PROGRAM_BYTES} bytes`)
      parts.push(chunk)
    }
  } catch (err) {
    if (signal.aborted) throw signal.reason
    if (err instanceof PrsmError && err.code === 'JOB_INPUT_INVALID') throw err
    throw new PrsmError('JOB_INPUT_INVALID', `program ${cid}: ${(err as Error).message}`, { cause: err })
  }
  return Buffer.concat(parts)
}

function inputText(input: ResolvedInput): string {
  return 'text' in input ? input.text : new TextDecoder().decode(input.bytes)
}

/** 32-bit seed from sha256 of the program and each input (length-prefixed). */
export function deriveSeed(source: string | Uint8Array, inputs: ReadonlyArray<string | Uint8Array>): number {
  const h = createHash('sha256')
  for (const part of [source, ...inputs]) {
    const bytes = Buffer.from(part)
    const len = Buffer.alloc(8)
    len.writeBigUInt64BE(BigInt(bytes.byteLength))
    h.update(len).update(bytes)
  }
  return h.digest().readUInt32BE(0)
}

export type SandboxFailure = Extract<SandboxResult, { ok: false }>

/** The error of a failed sandbox run, by what stopped it. */
export function sandboxError(result: SandboxFailure): PrsmError {
  const code =
    result.kind === 'time'
      ? 'JOB_COMPUTE_TIME_LIMIT'
      : result.kind === 'memory'
        ? 'JOB_COMPUTE_MEMORY_LIMIT'
        : 'JOB_COMPUTE_FAILED'
  return new PrsmError(code, `${result.message}`.slice(0, 400), { details: { kind: result.kind } })
}

/**
 * One worker per run: a runaway program cannot outlive its caps or harm the node's thread. The
 * worker is terminated `killAfterMs` after it starts (a `time` result).
 */
export function runInWorker<T, R = SandboxResult>(
  url: URL,
  task: T,
  signal: AbortSignal,
  caps: { killAfterMs: number; timeMs: number },
): Promise<R | SandboxFailure> {
  signal.throwIfAborted()
  return new Promise<R | SandboxFailure>((resolve, reject) => {
    const worker = new Worker(url, {
      workerData: task,
      resourceLimits: { maxOldGenerationSizeMb: 256, maxYoungGenerationSizeMb: 32, stackSizeMb: 4 },
      env: {},
    })
    let settled = false
    const finish = (fn: () => void): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      signal.removeEventListener('abort', onAbort)
      void worker.terminate()
      fn()
    }
    const timer = setTimeout(
      () =>
        finish(() =>
          resolve({ ok: false, kind: 'time', message: 'terminated at the time cap', computeMs: caps.timeMs }),
        ),
      caps.killAfterMs,
    )
    const onAbort = (): void => finish(() => reject(signal.reason))
    signal.addEventListener('abort', onAbort, { once: true })
    worker.once('message', (result: R) => finish(() => resolve(result)))
    worker.once('error', (err) => {
      const memory = (err as { code?: string }).code === 'ERR_WORKER_OUT_OF_MEMORY'
      finish(() =>
        resolve({ ok: false, kind: memory ? 'memory' : 'error', message: err.message, computeMs: 0 }),
      )
    })
    worker.once('exit', (code) =>
      finish(() =>
        resolve({ ok: false, kind: 'error', message: `sandbox exited with ${code}`, computeMs: 0 }),
      ),
    )
  })
}
