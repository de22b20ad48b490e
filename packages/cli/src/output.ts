import { PrsmError } from '@prsm/core'

/** Exit codes: 0 success, 1 failure at run time, 2 bad usage or configuration. */
export const EXIT = { OK: 0, FAILURE: 1, USAGE: 2 } as const

const USAGE_CODES = new Set([
  'CONFIG_INVALID',
  'CONFIG_FILE_UNREADABLE',
  'VALIDATION_FAILED',
  'KEYSTORE_NO_PASSWORD',
])

export function exitCodeFor(err: unknown): number {
  return err instanceof PrsmError && USAGE_CODES.has(err.code) ? EXIT.USAGE : EXIT.FAILURE
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? v.toString() : v), 2)}\n`)
}

/** Prints an error as `error CODE: message` (or its wire JSON with --json) and returns the exit code. */
export function reportError(err: unknown, json: boolean): number {
  const error =
    err instanceof PrsmError ? err : new PrsmError('INTERNAL', (err as Error)?.message ?? String(err))
  if (json) printJson(error.toWire())
  else {
    process.stderr.write(`error ${error.code}: ${error.message}\n`)
    const issues = error.details?.issues as Array<{ path: string; reason: string }> | undefined
    if (issues !== undefined && issues.length > 1) {
      for (const i of issues.slice(1)) process.stderr.write(`  also ${i.path}: ${i.reason}\n`)
    }
  }
  return exitCodeFor(error)
}

/** A plain left-aligned text table. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd()
  return [line(headers), ...rows.map(line)].join('\n')
}

/** Thrown by a command that has already reported its outcome and only sets the exit code. */
export class ExitRequest extends Error {
  readonly exitCode: number
  constructor(exitCode: number) {
    super(`exit ${exitCode}`)
    this.exitCode = exitCode
  }
}
