import { PrsmError } from '@prsm/core'

/**
 * A concurrency limit with a bounded FIFO queue. `acquire` resolves with a release function when a
 * slot is free, refuses at once with JOB_BUSY when the queue is full, and leaves the queue when its
 * signal aborts.
 */
export class JobQueue {
  readonly #maxRunning: number
  readonly #maxWaiting: number
  #running = 0
  readonly #waiting: Array<() => void> = []

  constructor(maxRunning: number, maxWaiting: number) {
    this.#maxRunning = maxRunning
    this.#maxWaiting = maxWaiting
  }

  get running(): number {
    return this.#running
  }

  get waiting(): number {
    return this.#waiting.length
  }

  /** True when `acquire` would not refuse right now. */
  hasRoom(): boolean {
    return this.#running < this.#maxRunning || this.#waiting.length < this.#maxWaiting
  }

  async acquire(signal?: AbortSignal): Promise<() => void> {
    signal?.throwIfAborted()
    if (this.#running < this.#maxRunning) {
      this.#running++
      return this.#releaser()
    }
    if (this.#waiting.length >= this.#maxWaiting) {
      throw new PrsmError('JOB_BUSY', undefined, {
        details: { running: this.#running, waiting: this.#waiting.length },
      })
    }
    await new Promise<void>((resolve, reject) => {
      const wake = (): void => {
        signal?.removeEventListener('abort', onAbort)
        resolve()
      }
      const onAbort = (): void => {
        const i = this.#waiting.indexOf(wake)
        if (i >= 0) this.#waiting.splice(i, 1)
        reject(signal?.reason)
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      this.#waiting.push(wake)
    })
    return this.#releaser()
  }

  #releaser(): () => void {
    let released = false
    return () => {
      if (released) return
      released = true
      const next = this.#waiting.shift()
      // The slot passes straight to the next waiter; `running` stays the same.
      if (next) next()
      else this.#running--
    }
  }
}
