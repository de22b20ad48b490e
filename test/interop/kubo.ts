/**
 * Kubo for the interop suite and the storage benchmark: built from source with the installed Go
 * and cached in `node_modules/.cache/kubo/<version>`, run as a daemon with its repo in a temp
 * dir and every address on 127.0.0.1.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)
export const KUBO_VERSION = 'v0.42.0'
const ROOT = resolve(import.meta.dirname, '../..')
export const KUBO_DIR = join(ROOT, 'node_modules/.cache/kubo', KUBO_VERSION)
export const KUBO_BIN = join(KUBO_DIR, 'ipfs')
const MiB = 1024 * 1024

/** Kubo's `ipfs add` flags that give PRSM's import layout (CIDv1, raw leaves, 1 MiB chunks). */
/**
 * `ipfs add` with PRSM's import parameters: CIDv1, raw leaves, 1 MiB chunks and up to 1024 links
 * per node (Kubo's default is 174, so without it files over 174 MiB get other CIDs).
 */
export const KUBO_ADD = [
  'add',
  '-Q',
  '--cid-version=1',
  '--raw-leaves',
  '--chunker=size-1048576',
  '--max-file-links=1024',
]

export async function goVersion(): Promise<string | undefined> {
  try {
    return (await run('go', ['version'])).stdout.trim()
  } catch {
    return undefined
  }
}

/**
 * Builds Kubo once into {@link KUBO_DIR}. A small module with a `tool` requirement is used
 * rather than `go install …@version`, which also asks the module proxy for the version list
 * (refused by some proxies and mirrors); the build is the same.
 */
export async function ensureKubo(): Promise<string> {
  if (existsSync(KUBO_BIN)) return KUBO_BIN
  const work = join(KUBO_DIR, 'build')
  await mkdir(work, { recursive: true })
  await writeFile(join(work, 'go.mod'), 'module prsm.kubo.build\n\ngo 1.25\n')
  const env = { ...process.env, GOFLAGS: '-mod=mod' }
  const opts = { cwd: work, env, maxBuffer: 64 * MiB }
  await run('go', ['get', '-tool', `github.com/ipfs/kubo/cmd/ipfs@${KUBO_VERSION}`], opts)
  await run('go', ['build', '-trimpath', '-o', KUBO_BIN, 'github.com/ipfs/kubo/cmd/ipfs'], opts)
  return KUBO_BIN
}

/** A Kubo daemon with its repo in a temp dir, every address on 127.0.0.1, no bootstrap, no routing. */
export class Kubo {
  readonly repo: string
  #proc: ChildProcess | undefined

  readonly bin: string

  private constructor(bin: string, repo: string) {
    this.bin = bin
    this.repo = repo
  }

  static async start(bin: string): Promise<Kubo> {
    const kubo = new Kubo(bin, await mkdtemp(join(tmpdir(), 'prsm-kubo-')))
    await kubo.ipfs('init', '--profile', 'test')
    const set = (key: string, value: unknown): Promise<unknown> =>
      kubo.ipfs('config', '--json', key, JSON.stringify(value))
    await set('Addresses.API', '/ip4/127.0.0.1/tcp/0')
    await set('Addresses.Gateway', '/ip4/127.0.0.1/tcp/0')
    await set('Addresses.Swarm', ['/ip4/127.0.0.1/tcp/0'])
    await set('Bootstrap', [])
    await set('Routing.Type', 'none')
    await set('AutoConf.Enabled', false).catch(() => undefined)
    await set('Discovery.MDNS.Enabled', false)
    const proc = spawn(bin, ['daemon', '--enable-gc=false'], {
      env: { ...process.env, IPFS_PATH: kubo.repo },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    kubo.#proc = proc
    let out = ''
    await new Promise<void>((ok, fail) => {
      const onData = (chunk: Buffer): void => {
        out += chunk.toString()
        if (out.includes('Daemon is ready')) {
          proc.stdout?.off('data', onData)
          ok()
        }
      }
      proc.stdout?.on('data', onData)
      proc.stderr?.on('data', (chunk: Buffer) => {
        out += chunk.toString()
      })
      proc.once('exit', (code) => fail(new Error(`ipfs daemon exited with ${code}: ${out}`)))
    })
    proc.stdout?.resume()
    proc.stderr?.resume()
    return kubo
  }

  get pid(): number | undefined {
    return this.#proc?.pid
  }

  /** Peak resident set size of the daemon in bytes (VmHWM). */
  async peakRss(): Promise<number | undefined> {
    if (this.pid === undefined) return undefined
    const status = await readFile(`/proc/${this.pid}/status`, 'utf8').catch(() => '')
    const kb = /VmHWM:\s+(\d+) kB/.exec(status)?.[1]
    return kb === undefined ? undefined : Number(kb) * 1024
  }

  /** The daemon's swarm address on 127.0.0.1 with its /p2p/ suffix. */
  async swarmAddr(): Promise<string> {
    const id = JSON.parse(await this.ipfs('id')) as { Addresses: string[] | null }
    const addr = (id.Addresses ?? []).find((a) => a.startsWith('/ip4/127.0.0.1/tcp/'))
    if (addr === undefined) throw new Error('kubo has no loopback TCP address')
    return addr
  }

  async ipfs(...args: string[]): Promise<string> {
    const { stdout } = await run(this.bin, args, {
      env: { ...process.env, IPFS_PATH: this.repo },
      maxBuffer: 1024 * MiB,
      encoding: 'buffer',
    })
    return stdout.toString()
  }

  async catBytes(cid: string): Promise<Buffer> {
    const { stdout } = await run(this.bin, ['cat', cid], {
      env: { ...process.env, IPFS_PATH: this.repo },
      maxBuffer: 1024 * MiB,
      encoding: 'buffer',
      timeout: 120_000,
    })
    return stdout
  }

  async stop(): Promise<void> {
    const proc = this.#proc
    if (proc !== undefined && proc.exitCode === null) {
      const exited = new Promise((ok) => proc.once('exit', ok))
      proc.kill('SIGTERM')
      const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000)
      await exited
      clearTimeout(timer)
    }
    await rm(this.repo, { recursive: true, force: true })
  }
}
