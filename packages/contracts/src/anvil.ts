import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import type { Address, Hex } from 'viem'

/** The chain id anvil uses unless told otherwise. */
export const DEFAULT_DEVNET_CHAIN_ID = 31_337
/** How long to wait for anvil to print its listening address. */
const START_TIMEOUT_MS = 15_000
const STOP_TIMEOUT_MS = 5_000

export interface AnvilInit {
  /** Chain id (default 31337). */
  chainId?: number
  /** Number of funded development accounts (default 10). */
  accounts?: number
  /** Persist the chain to this JSON file on exit and load it on start (anvil `--state`). */
  stateFile?: string
  /** Mine a block every N seconds instead of on every transaction. */
  blockTime?: number
  /** Stops anvil when aborted. */
  signal?: AbortSignal
  /** Path of the anvil binary (default: the one shipped in the @foundry-rs/anvil npm package). */
  binary?: string
}

export interface DevAccount {
  address: Address
  privateKey: Hex
}

export interface Anvil {
  rpcUrl: string
  chainId: number
  /** The development accounts anvil funded with ETH, with their well-known private keys. */
  accounts: DevAccount[]
  pid: number
  /** Stops anvil (SIGTERM, then SIGKILL) and waits for it to exit. Safe to call twice. */
  stop(): Promise<void>
}

/** Finds the anvil binary inside the platform package that @foundry-rs/anvil depends on. */
export function anvilBinaryPath(): string {
  const require = createRequire(import.meta.url)
  const arch = process.arch === 'x64' ? 'amd64' : process.arch
  const platformPackage = `@foundry-rs/anvil-${process.platform}-${arch}`
  const exe = process.platform === 'win32' ? 'anvil.exe' : 'anvil'
  let pkgJson: string
  try {
    // Resolve through the wrapper package so its own optional dependency is found.
    const wrapper = require.resolve('@foundry-rs/anvil/package.json')
    pkgJson = createRequire(wrapper).resolve(`${platformPackage}/package.json`)
  } catch (cause) {
    throw new Error(`anvil is not installed for ${process.platform}-${process.arch} (${platformPackage})`, {
      cause,
    })
  }
  const binary = join(dirname(pkgJson), 'bin', exe)
  if (!existsSync(binary)) throw new Error(`anvil binary missing at ${binary}`)
  return binary
}

/**
 * Starts anvil on a free 127.0.0.1 port (the OS picks it) and resolves once it listens.
 * Always call `stop()` (or abort the signal) so no process is left behind.
 */
export async function startAnvil(init: AnvilInit = {}): Promise<Anvil> {
  const chainId = init.chainId ?? DEFAULT_DEVNET_CHAIN_ID
  const configDir = mkdtempSync(join(tmpdir(), 'prsm-anvil-'))
  const configFile = join(configDir, 'config.json')
  const args = [
    '--host',
    '127.0.0.1',
    '--port',
    '0',
    '--chain-id',
    String(chainId),
    '--accounts',
    String(init.accounts ?? 10),
    '--config-out',
    configFile,
  ]
  if (init.stateFile !== undefined) args.push('--state', init.stateFile)
  if (init.blockTime !== undefined) args.push('--block-time', String(init.blockTime))
  init.signal?.throwIfAborted()

  const child = spawn(init.binary ?? anvilBinaryPath(), args, { stdio: ['ignore', 'pipe', 'pipe'] })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  let stopped = false
  const stop = async (): Promise<void> => {
    if (!stopped) {
      stopped = true
      init.signal?.removeEventListener('abort', onAbort)
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM')
        const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS)
        await exited
        clearTimeout(timer)
      }
      rmSync(configDir, { recursive: true, force: true })
    }
    await exited
  }
  const onAbort = (): void => void stop()
  init.signal?.addEventListener('abort', onAbort, { once: true })

  try {
    const port = await waitForListening(child, init.signal)
    const config = JSON.parse(readFileSync(configFile, 'utf8')) as {
      available_accounts: Address[]
      private_keys: Hex[]
    }
    const accounts = config.available_accounts.map((address, i) => ({
      address,
      privateKey: config.private_keys[i] as Hex,
    }))
    return { rpcUrl: `http://127.0.0.1:${port}`, chainId, accounts, pid: child.pid ?? -1, stop }
  } catch (err) {
    await stop()
    throw err
  }
}

function waitForListening(child: ChildProcess, signal: AbortSignal | undefined): Promise<number> {
  return new Promise((resolve, reject) => {
    let output = ''
    const timer = setTimeout(
      () => fail(new Error(`anvil did not start within ${START_TIMEOUT_MS} ms`)),
      START_TIMEOUT_MS,
    )
    const onData = (chunk: Buffer): void => {
      output += chunk.toString()
      const match = /Listening on 127\.0\.0\.1:(\d+)/.exec(output)
      if (match) {
        cleanup()
        // Keep draining so anvil never blocks on a full pipe.
        child.stdout?.resume()
        resolve(Number(match[1]))
      }
    }
    const onExit = (code: number | null): void =>
      fail(new Error(`anvil exited (code ${code}) before listening: ${output.slice(-2000)}`))
    const onAbort = (): void => fail(signal?.reason ?? new Error('aborted'))
    function cleanup(): void {
      clearTimeout(timer)
      child.stdout?.off('data', onData)
      child.off('exit', onExit)
      signal?.removeEventListener('abort', onAbort)
    }
    function fail(err: unknown): void {
      cleanup()
      reject(err)
    }
    child.stdout?.on('data', onData)
    child.stderr?.on('data', (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-4000)
    })
    child.once('exit', onExit)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}
