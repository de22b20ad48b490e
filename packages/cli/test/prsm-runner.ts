import { execFile } from 'node:child_process'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { type ConfigInput, loadConfig } from '@prsm/core'
import { createLogger, initIdentity, loadIdentity, PrsmNode } from '@prsm/node'

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

/**
 * Starts an in-process node on loopback with fresh keys in a new temporary directory (its API on
 * a free port when `api` is true), for CLI tests that talk to a running node.
 */
export async function startNode(config: ConfigInput, api: boolean, prefix = 'prsm-cli-'): Promise<PrsmNode> {
  const dataDir = await mkdtemp(join(tmpdir(), prefix))
  await initIdentity(dataDir, { password: null })
  const { config: loaded } = loadConfig({
    flags: {
      listen: ['/ip4/127.0.0.1/tcp/0'],
      logLevel: 'silent',
      connections: { allow: ['/ip4/127.0.0.0/ipcidr/8'] },
      gossip: { ipColocationWhitelist: ['127.0.0.1'] },
      api: { port: 0 },
      ...(config as object),
    },
  })
  const node = await PrsmNode.create({
    config: loaded,
    identity: await loadIdentity(dataDir, null),
    dataDir,
    logger: createLogger({ level: 'silent' }),
    api,
  })
  await node.start()
  return node
}
