/** A one-line progress bar on stderr, drawn only when stderr is a terminal. */
export class ProgressBar {
  readonly #total: number | undefined
  readonly #label: string
  readonly #started = Date.now()
  readonly #enabled: boolean
  #last = 0

  constructor(label: string, total: number | undefined, enabled = process.stderr.isTTY === true) {
    this.#label = label
    this.#total = total
    this.#enabled = enabled
  }

  update(done: number): void {
    if (!this.#enabled) return
    const now = Date.now()
    if (now - this.#last < 100 && done !== this.#total) return
    this.#last = now
    const rate = done / Math.max(0.001, (now - this.#started) / 1000)
    const width = 30
    let bar = ''
    if (this.#total !== undefined && this.#total > 0) {
      const fraction = Math.min(1, done / this.#total)
      const filled = Math.round(fraction * width)
      bar = `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${(fraction * 100).toFixed(0).padStart(3)}% `
    }
    const total = this.#total === undefined ? '' : ` / ${mib(this.#total)}`
    process.stderr.write(`\r${this.#label} ${bar}${mib(done)}${total}  ${mib(rate)}/s   `)
  }

  done(): void {
    if (this.#enabled) process.stderr.write('\n')
  }
}

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`
}
