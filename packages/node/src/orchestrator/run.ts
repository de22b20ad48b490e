import { PrsmError } from '@prsm/core'
import type { ProgressEvent, RunResult } from './scheduler.ts'

export type RunStatus = 'running' | 'done' | 'failed' | 'cancelled'

/** A summary of a run for status and list answers. */
export interface RunSummary {
  runId: string
  query: string
  status: RunStatus
  startedAt: number
  finishedAt?: number
  steps: { done: number; running: string[] }
  traceCid?: string
  error?: { code: string; message: string }
}

/**
 * One workflow run: its progress events (kept, so a late reader gets them all from the start),
 * its result, and cancel. Iterating a run yields every event up to the final `done` or `error`.
 */
export class WorkflowRun implements AsyncIterable<ProgressEvent> {
  readonly id: string
  readonly query: string
  readonly startedAt = Date.now()
  readonly events: ProgressEvent[] = []
  readonly #controller = new AbortController()
  readonly signal: AbortSignal
  #status: RunStatus = 'running'
  #finishedAt: number | undefined
  #result!: Promise<RunResult>
  #wake: Array<() => void> = []
  #ended = false

  constructor(id: string, query: string, signal?: AbortSignal) {
    this.id = id
    this.query = query
    this.signal = signal ? AbortSignal.any([signal, this.#controller.signal]) : this.#controller.signal
  }

  get status(): RunStatus {
    return this.#status
  }

  /** Resolves with the answer, cost and trace CID; rejects with the run's PrsmError. */
  get result(): Promise<RunResult> {
    return this.#result
  }

  /** Attaches the running work (called once by the orchestrator). */
  begin(work: Promise<RunResult>): void {
    this.#result = work.then(
      (result) => {
        this.#status = 'done'
        this.push({ type: 'done', result })
        this.#end()
        return result
      },
      (err: unknown) => {
        const e =
          err instanceof PrsmError
            ? err
            : new PrsmError('INTERNAL', (err as Error)?.message ?? String(err), { cause: err })
        this.#status = e.code === 'JOB_CANCELLED' ? 'cancelled' : 'failed'
        this.push({ type: 'error', error: { code: e.code, message: e.message, details: e.details ?? {} } })
        this.#end()
        throw e
      },
    )
    // A run nobody awaits must not crash the process with an unhandled rejection.
    this.#result.catch(() => undefined)
  }

  push(event: ProgressEvent): void {
    this.events.push(event)
    for (const wake of this.#wake.splice(0)) wake()
  }

  cancel(reason = 'cancelled'): void {
    if (this.#status === 'running') this.#controller.abort(new PrsmError('JOB_CANCELLED', reason))
  }

  summary(): RunSummary {
    const done = new Set<string>()
    const running = new Set<string>()
    let traceCid: string | undefined
    let error: RunSummary['error']
    for (const e of this.events) {
      if (e.type === 'step-started') running.add(e.step)
      else if (e.type === 'step-done') {
        running.delete(e.step)
        done.add(e.step)
      } else if (e.type === 'done') traceCid = e.result.traceCid
      else if (e.type === 'error') error = { code: e.error.code, message: e.error.message }
    }
    return {
      runId: this.id,
      query: this.query,
      status: this.#status,
      startedAt: this.startedAt,
      ...(this.#finishedAt === undefined ? {} : { finishedAt: this.#finishedAt }),
      steps: { done: done.size, running: this.#status === 'running' ? [...running] : [] },
      ...(traceCid === undefined ? {} : { traceCid }),
      ...(error === undefined ? {} : { error }),
    }
  }

  #end(): void {
    this.#ended = true
    this.#finishedAt = Date.now()
    for (const wake of this.#wake.splice(0)) wake()
  }

  async *[Symbol.asyncIterator](): AsyncIterator<ProgressEvent> {
    let next = 0
    while (true) {
      while (next < this.events.length) yield this.events[next++] as ProgressEvent
      if (this.#ended) return
      await new Promise<void>((resolve) => this.#wake.push(resolve))
    }
  }
}
