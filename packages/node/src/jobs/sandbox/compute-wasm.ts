import { PrsmError } from '@prsm/core'
import type { ContentStorage } from '../../storage/storage.ts'
import type { Backend } from '../backend.ts'
import { type ComputeJsLimits, deriveSeed, fetchProgram, runInWorker, sandboxError } from './compute-js.ts'
import type { WasmResult, WasmTask } from './wasm-worker.ts'

/** Bytes of one WebAssembly page. */
export const WASM_PAGE_BYTES = 65_536

/**
 * The whole host interface a compute:wasm module may import, all from the module `prsm`. Any
 * other import is refused before the module runs.
 */
export const WASM_ABI = {
  /** The module's linear memory (it must import it: its maximum is the memory cap). */
  memory: 'memory',
  /** `() -> i32`: how many inputs the step has. */
  input_count: 'function',
  /** `(index: i32) -> i32`: the byte length of input `index` (-1 when there is none). */
  input_len: 'function',
  /** `(index: i32, ptr: i32, offset: i32, len: i32) -> i32`: copies bytes of an input into memory; returns how many. */
  input_read: 'function',
  /** `(ptr: i32, len: i32) -> i32`: appends memory bytes to the output; returns 0 (traps past the output cap). */
  output_write: 'function',
  /** `() -> i32`: the next 32 bits of the step's seeded PRNG (mulberry32). */
  random_u32: 'function',
} as const

/**
 * `compute:wasm`: a WebAssembly module, stored as content (`params.program` = its CID), runs over
 * the step's inputs (as bytes) in a fresh worker thread. It imports only {@link WASM_ABI} (its
 * memory included, capped at `memoryBytes`), exports `main: () -> i32` (0 = success) and writes
 * its output with `output_write`. No clock, filesystem, network or other host access exists for
 * it; the PRNG is seeded (`params.seed`, else a hash of the module and inputs). The worker is
 * terminated at the time cap. The same module and inputs give the same output bytes everywhere.
 */
export function computeWasmBackend(
  components: { storage: Pick<ContentStorage, 'cat'> },
  limits: ComputeJsLimits,
): Backend {
  return {
    name: 'compute:wasm',
    async *run(step, inputs, { signal }) {
      const params = step.params as Record<string, unknown>
      if (typeof params.program !== 'string') {
        throw new PrsmError('JOB_INPUT_INVALID', 'compute:wasm needs params.program (the CID of the module)')
      }
      const bytes = await fetchProgram(components.storage, params.program, signal)
      const data = inputs.map((i) => ('text' in i ? new TextEncoder().encode(i.text) : i.bytes))
      const maxPages = Math.floor(limits.memoryBytes / WASM_PAGE_BYTES)
      const { initialPages } = checkModule(bytes, maxPages)
      const seed =
        typeof params.seed === 'number' && Number.isInteger(params.seed)
          ? params.seed >>> 0
          : deriveSeed(bytes, data)
      const task: WasmTask = {
        module: bytes,
        inputs: data,
        seed,
        initialPages,
        maxPages,
        maxOutputBytes: limits.maxOutputBytes,
      }
      const result = await runInWorker<WasmTask, WasmResult>(
        new URL('./wasm-worker.ts', import.meta.url),
        task,
        signal,
        { killAfterMs: limits.timeMs, timeMs: limits.timeMs },
      )
      yield { type: 'usage', usage: { computeMs: result.computeMs } }
      if (!result.ok) throw sandboxError(result)
      yield { type: 'output', bytes: new Uint8Array(result.output) }
    },
  }
}

/**
 * Refuses, before anything runs, a module that does not compile, imports anything outside
 * {@link WASM_ABI}, defines its own memory (section 5: it would escape the cap), uses a shared or
 * 64-bit memory, needs more pages than the cap, or exports no `main` function. Resolves with
 * the pages its memory import asks for.
 */
export function checkModule(bytes: Uint8Array, maxPages: number): { initialPages: number } {
  const bad = (why: string): never => {
    throw new PrsmError('JOB_INPUT_INVALID', `compute:wasm module refused: ${why}`)
  }
  let module: WebAssembly.Module
  try {
    module = new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>)
  } catch (err) {
    return bad(`it does not compile (${(err as Error).message})`)
  }
  for (const i of WebAssembly.Module.imports(module)) {
    const kind = (WASM_ABI as Record<string, string>)[i.name]
    if (i.module !== 'prsm' || kind !== i.kind)
      bad(`import ${i.module}.${i.name} (${i.kind}) is not in the ABI`)
  }
  if (!WebAssembly.Module.exports(module).some((e) => e.name === 'main' && e.kind === 'function')) {
    bad('it exports no main function')
  }
  let initialPages = 0
  for (const { id, body } of sections(bytes)) {
    if (id === 5) bad('it defines its own memory (import prsm.memory instead)')
    if (id === 2) initialPages = importedMemoryMin(body) ?? 0
  }
  if (initialPages > maxPages) {
    throw new PrsmError(
      'JOB_COMPUTE_MEMORY_LIMIT',
      `the module needs ${initialPages} memory pages; the cap is ${maxPages}`,
      { details: { kind: 'memory' } },
    )
  }
  return { initialPages }
}

function* sections(bytes: Uint8Array): Generator<{ id: number; body: Uint8Array }> {
  let at = 8
  while (at < bytes.byteLength) {
    const id = bytes[at++] as number
    const [size, next] = leb(bytes, at)
    yield { id, body: bytes.subarray(next, next + size) }
    at = next + size
  }
}

/** The minimum pages of the `prsm.memory` import (the import section is already validated). */
function importedMemoryMin(body: Uint8Array): number | undefined {
  let [count, at] = leb(body, 0)
  const name = (): string => {
    const [len, start] = leb(body, at)
    at = start + len
    return new TextDecoder().decode(body.subarray(start, start + len))
  }
  while (count-- > 0) {
    name()
    name()
    const kind = body[at++]
    if (kind === 0) [, at] = leb(body, at)
    else if (kind === 1 || kind === 2) {
      if (kind === 1) at++
      const flags = body[at++] as number
      if (kind === 2 && flags > 1) {
        throw new PrsmError('JOB_INPUT_INVALID', 'compute:wasm module refused: shared or 64-bit memory')
      }
      const [min, afterMin] = leb(body, at)
      at = flags & 1 ? leb(body, afterMin)[1] : afterMin
      if (kind === 2) return min
    } else at += 2
  }
  return undefined
}

function leb(bytes: Uint8Array, start: number): [number, number] {
  let result = 0
  let shift = 0
  let at = start
  while (true) {
    const b = bytes[at++] as number
    result += (b & 0x7f) * 2 ** shift
    shift += 7
    if ((b & 0x80) === 0 || at >= bytes.byteLength) return [result, at]
  }
}
