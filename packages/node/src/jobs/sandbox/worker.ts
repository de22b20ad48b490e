// Runs one deterministic program in QuickJS (WebAssembly) inside this worker thread. The program
// sees its inputs and params, a seeded Math.random, and nothing else: no Date, no process, no
// modules, no filesystem or network. Memory, stack and time are capped by the QuickJS runtime.
import { parentPort, workerData } from 'node:worker_threads'
import {
  getQuickJS,
  type QuickJSContext,
  type QuickJSHandle,
  shouldInterruptAfterDeadline,
} from 'quickjs-emscripten'

export interface SandboxTask {
  source: string
  inputs: string[]
  params: unknown
  seed: number
  memoryBytes: number
  timeMs: number
  maxStackBytes: number
  maxOutputBytes: number
}

export type SandboxResult =
  | { ok: true; output: string; computeMs: number }
  | { ok: false; kind: 'time' | 'memory' | 'error' | 'output'; message: string; computeMs: number }

/** Seeded PRNG (mulberry32) replacing Math.random; clock and GC-observable globals removed. */
const PRELUDE = `(() => {
  let s = __seed >>> 0
  const random = () => {
    s = (s + 0x6d2b79f5) | 0
    let t = Math.imul(s ^ (s >>> 15), 1 | s)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  Object.defineProperty(Math, 'random', { value: random, writable: false, configurable: false })
  for (const name of ['Date', 'WeakRef', 'FinalizationRegistry', '__seed']) delete globalThis[name]
})()`

const CALL_MAIN = `(() => {
  if (typeof main !== 'function') throw new TypeError('the program must define function main(inputs, params)')
  const r = main(__inputs, __params)
  return typeof r === 'string' ? r : JSON.stringify(r)
})()`

async function run(task: SandboxTask): Promise<SandboxResult> {
  const QuickJS = await getQuickJS()
  const runtime = QuickJS.newRuntime()
  const started = performance.now()
  const elapsed = (): number => Math.round(performance.now() - started)
  runtime.setMemoryLimit(task.memoryBytes)
  runtime.setMaxStackSize(task.maxStackBytes)
  runtime.setInterruptHandler(shouldInterruptAfterDeadline(Date.now() + task.timeMs))
  const vm = runtime.newContext()
  try {
    const set = (name: string, handle: QuickJSHandle): void => {
      vm.setProp(vm.global, name, handle)
      handle.dispose()
    }
    set('__seed', vm.newNumber(task.seed))
    set('__inputs', toHandle(vm, task.inputs))
    set('__params', toHandle(vm, task.params ?? {}))
    for (const [code, file] of [
      [PRELUDE, 'prelude.js'],
      [task.source, 'program.js'],
    ] as const) {
      const r = vm.evalCode(code, file)
      if (r.error) return failure(vm, r.error, elapsed())
      r.value.dispose()
    }
    const r = vm.evalCode(CALL_MAIN, 'main.js')
    if (r.error) return failure(vm, r.error, elapsed())
    const output = vm.getString(r.value)
    r.value.dispose()
    if (Buffer.byteLength(output) > task.maxOutputBytes) {
      return {
        ok: false,
        kind: 'output',
        message: `output over ${task.maxOutputBytes} bytes`,
        computeMs: elapsed(),
      }
    }
    return { ok: true, output, computeMs: elapsed() }
  } finally {
    vm.dispose()
    runtime.dispose()
  }
}

function toHandle(vm: QuickJSContext, value: unknown): QuickJSHandle {
  const json = vm.newString(JSON.stringify(value))
  const jsonObject = vm.getProp(vm.global, 'JSON')
  const parse = vm.getProp(jsonObject, 'parse')
  jsonObject.dispose()
  const r = vm.callFunction(parse, vm.undefined, json)
  parse.dispose()
  json.dispose()
  return vm.unwrapResult(r)
}

function failure(vm: QuickJSContext, handle: QuickJSHandle, computeMs: number): SandboxResult {
  const dumped = vm.dump(handle) as { name?: string; message?: string } | string
  handle.dispose()
  const message =
    typeof dumped === 'object' && dumped !== null
      ? `${dumped.name ?? 'Error'}: ${dumped.message ?? ''}`
      : String(dumped)
  if (/interrupted/i.test(message)) return { ok: false, kind: 'time', message, computeMs }
  if (/out of memory/i.test(message)) return { ok: false, kind: 'memory', message, computeMs }
  return { ok: false, kind: 'error', message: message.slice(0, 400), computeMs }
}

run(workerData as SandboxTask).then(
  (result) => parentPort?.postMessage(result),
  (err: unknown) =>
    parentPort?.postMessage({
      ok: false,
      kind: 'error',
      message: String((err as Error)?.message ?? err),
      computeMs: 0,
    }),
)
