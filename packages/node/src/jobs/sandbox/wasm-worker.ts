// Runs one compute:wasm module inside this worker thread. The module gets the prsm ABI (its
// memory, capped; input reads; output writes; a seeded PRNG) and nothing else. The parent
// terminates this thread at the time cap.
import { parentPort, workerData } from 'node:worker_threads'

export interface WasmTask {
  module: Uint8Array
  inputs: Uint8Array[]
  seed: number
  /** The pages the module's memory import asks for (0 when it imports no memory). */
  initialPages: number
  maxPages: number
  maxOutputBytes: number
}

export type WasmResult =
  | { ok: true; output: Uint8Array; computeMs: number }
  | { ok: false; kind: 'memory' | 'error' | 'output'; message: string; computeMs: number }

class OutputCapError extends Error {}

async function run(task: WasmTask): Promise<WasmResult> {
  const started = performance.now()
  const elapsed = (): number => Math.round(performance.now() - started)
  const module = await WebAssembly.compile(task.module as Uint8Array<ArrayBuffer>)
  const memory = new WebAssembly.Memory({ initial: task.initialPages, maximum: task.maxPages })
  const bytes = (): Uint8Array => new Uint8Array(memory.buffer)
  const out: Uint8Array[] = []
  let outBytes = 0
  let s = task.seed | 0
  const prsm = {
    memory,
    input_count: () => task.inputs.length,
    input_len: (i: number) => task.inputs[i]?.byteLength ?? -1,
    input_read: (i: number, ptr: number, offset: number, len: number) => {
      const input = task.inputs[i]
      if (input === undefined || offset < 0 || len < 0) return -1
      const part = input.subarray(offset, offset + len)
      bytes().set(part, ptr >>> 0)
      return part.byteLength
    },
    output_write: (ptr: number, len: number) => {
      if (len < 0) return -1
      outBytes += len
      if (outBytes > task.maxOutputBytes) throw new OutputCapError(`output over ${task.maxOutputBytes} bytes`)
      out.push(bytes().slice(ptr >>> 0, (ptr >>> 0) + len))
      return 0
    },
    random_u32: () => {
      s = (s + 0x6d2b79f5) | 0
      let t = Math.imul(s ^ (s >>> 15), 1 | s)
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
      return (t ^ (t >>> 14)) | 0
    },
  }
  try {
    const instance = await WebAssembly.instantiate(module, { prsm })
    const main = instance.exports.main as () => number
    const code = main()
    if (code !== 0)
      return { ok: false, kind: 'error', message: `main returned ${code}`, computeMs: elapsed() }
  } catch (err) {
    if (err instanceof OutputCapError)
      return { ok: false, kind: 'output', message: err.message, computeMs: elapsed() }
    // A trap with the memory grown to its cap is the cap being hit (memory.grow returned -1).
    const atCap = memory.buffer.byteLength >= task.maxPages * 65_536
    return {
      ok: false,
      kind: atCap ? 'memory' : 'error',
      message: atCap
        ? `memory cap of ${task.maxPages} pages reached (${(err as Error).message})`
        : `${(err as Error).name}: ${(err as Error).message}`,
      computeMs: elapsed(),
    }
  }
  const output = new Uint8Array(outBytes)
  let at = 0
  for (const p of out) {
    output.set(p, at)
    at += p.byteLength
  }
  return { ok: true, output, computeMs: elapsed() }
}

run(workerData as WasmTask).then(
  (result) => parentPort?.postMessage(result),
  (err: unknown) =>
    parentPort?.postMessage({
      ok: false,
      kind: 'error',
      message: String((err as Error)?.message ?? err),
      computeMs: 0,
    }),
)
