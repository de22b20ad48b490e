import { PrsmError, parseFtns } from '@prsm/core'
import { Option } from 'commander'
import { callNode } from '../client.ts'
import { resolveDataDir } from '../data-dir.ts'

/** Flags every ledger command takes. */
export interface CommonFlags {
  dataDir?: string
  json?: boolean
}

export const dataDirOption = () =>
  new Option('--data-dir <dir>', 'data directory (default: $PRSM_DATA_DIR or ~/.prsm)')
export const jsonOption = () => new Option('--json', 'print JSON')

/** An amount as the API returns it: exact wei and decimal FTNS. */
export interface Amount {
  wei: string
  ftns: string
}

/** `1.25 FTNS (1250000000000000000 wei)` */
export function showAmount(a: Amount): string {
  return `${a.ftns} FTNS (${a.wei} wei)`
}

/** A decimal FTNS amount from a flag (`--deposit 10`) as a wei string for the API. */
export function ftnsFlag(flag: string, value: string | undefined): string {
  if (value === undefined) throw new PrsmError('VALIDATION_FAILED', `${flag} is required (an FTNS amount)`)
  const wei = parseFtns(value)
  if (wei <= 0n) throw new PrsmError('VALIDATION_FAILED', `${flag} must be a positive FTNS amount`)
  return wei.toString()
}

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 }

/** `90`, `90s`, `30m`, `12h`, `7d`, `2w` → seconds. */
export function parseDuration(flag: string, text: string): number {
  const match = /^(\d+)([smhdw]?)$/.exec(text.trim())
  if (match === null) {
    throw new PrsmError(
      'VALIDATION_FAILED',
      `${flag} ${text}: expected a duration such as 3600, 90m, 12h or 7d`,
    )
  }
  return Number(match[1]) * (UNITS[match[2] || 's'] ?? 1)
}

/** Calls the running node's API with a JSON body. */
export function post<T>(flags: CommonFlags, path: string, body: unknown = {}): Promise<T> {
  return callNode<T>(resolveDataDir(flags.dataDir), path, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    // transactions wait for their receipts
    signal: AbortSignal.timeout(120_000),
  })
}

export function get<T>(flags: CommonFlags, path: string): Promise<T> {
  return callNode<T>(resolveDataDir(flags.dataDir), path)
}

/** Prints `label  value` lines, aligned (each line starting with `indent`). */
export function fields(rows: Array<[string, string]>, indent = ''): string {
  const width = Math.max(...rows.map(([label]) => label.length))
  return `${rows.map(([label, value]) => `${indent}${label.padEnd(width)}  ${value}`).join('\n')}\n`
}
