import { homedir } from 'node:os'
import { resolve } from 'node:path'

/** `--data-dir`, else `$PRSM_DATA_DIR`, else `~/.prsm`. */
export function resolveDataDir(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return resolve(flag ?? env.PRSM_DATA_DIR ?? `${homedir()}/.prsm`)
}
