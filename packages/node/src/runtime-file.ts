import { readFile, rename, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { PrsmError } from '@prsm/core'
import { writePrivateFile } from './identity/keystore.ts'

/** `<data-dir>/node.json`: how local tools find a running node. */
export interface RuntimeInfo {
  pid: number
  peerId: string
  multiaddrs: string[]
  apiUrl: string
}

export const RUNTIME_FILE = 'node.json'
/** The local API bearer token, regenerated at each start, mode 0600. */
export const TOKEN_FILE = 'api.token'

export async function writeRuntimeFile(
  dataDir: string,
  info: RuntimeInfo & { token: string },
): Promise<void> {
  const { token, ...rest } = info
  await writePrivateFile(join(dataDir, TOKEN_FILE), `${token}\n`)
  // atomic (temp file + rename): a reader never sees a half-written file
  const path = join(dataDir, RUNTIME_FILE)
  const tmp = `${path}.${process.pid}.tmp`
  await writeFile(tmp, `${JSON.stringify(rest, null, 2)}\n`, { mode: 0o644 })
  await rename(tmp, path)
}

export async function removeRuntimeFile(dataDir: string): Promise<void> {
  await rm(join(dataDir, RUNTIME_FILE), { force: true })
  await rm(join(dataDir, TOKEN_FILE), { force: true })
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * Reads node.json and the token of the node running on `dataDir`. Throws NODE_NOT_RUNNING when
 * there is none, or when the file is left over from a process that no longer exists.
 */
export async function readRuntimeFile(dataDir: string): Promise<RuntimeInfo & { token: string }> {
  let info: RuntimeInfo
  try {
    info = JSON.parse(await readFile(join(dataDir, RUNTIME_FILE), 'utf8')) as RuntimeInfo
  } catch {
    throw new PrsmError(
      'NODE_NOT_RUNNING',
      `no node is running for ${dataDir} (start one with prsm node start)`,
    )
  }
  if (!processAlive(info.pid)) {
    throw new PrsmError('NODE_NOT_RUNNING', `the node for ${dataDir} (pid ${info.pid}) is no longer running`)
  }
  const token = (await readFile(join(dataDir, TOKEN_FILE), 'utf8').catch(() => '')).trim()
  return { ...info, token }
}
