import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

const BIN = fileURLToPath(new URL('../src/bin.ts', import.meta.url))
const execFileP = promisify(execFile)
const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('PRSM_')))

export interface PrsmResult {
  code: number
  stdout: string
  stderr: string
}

/** Runs `prsm ARGS` to completion with this Node and no inherited PRSM_* settings. */
export async function prsm(args: string[], env: Record<string, string> = {}): Promise<PrsmResult> {
  try {
    const { stdout, stderr } = await execFileP(process.execPath, [BIN, ...args], {
      env: { ...clean, ...env },
      timeout: 120_000,
    })
    return { code: 0, stdout, stderr }
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string }
    return { code: e.code, stdout: e.stdout, stderr: e.stderr }
  }
}
