import {
  DEFAULT_PARAMETERS,
  type NetworkParameters,
  type ParameterName,
  parameterName,
  parameterRegistryAbi,
} from '@prsm/contracts'
import type { Hex } from 'viem'
import { chainError, type LedgerChain } from './chain.ts'

export const DEFAULT_PARAMETER_POLL_MS = 5_000

export interface ParameterChange {
  name: ParameterName | undefined
  key: Hex
  previous: bigint | undefined
  value: bigint
}

export interface ParameterSnapshot {
  /** Known parameters (defaults where the registry has no value). */
  values: NetworkParameters
  /** Every registry entry by key, known or not. */
  raw: ReadonlyMap<Hex, bigint>
  /** The registry's change counter. */
  version: bigint
}

export interface ParameterWatcherInit {
  /** How often to poll the registry's version (default 5 s). */
  pollIntervalMs?: number
}

export interface ParameterWatcherComponents {
  chain: Pick<LedgerChain, 'publicClient' | 'deployment'>
  logger?: { warn(obj: object, msg: string): void }
}

/**
 * Live network parameters. Polls the ParameterRegistry's `version` (one cheap call) and, when it
 * moves, re-reads every entry and tells listeners what changed — so an executed governance
 * proposal takes effect on a running node without a restart.
 */
export interface ParameterWatcher {
  start(options?: { signal?: AbortSignal }): Promise<void>
  stop(): void
  current(): ParameterSnapshot
  get(name: ParameterName): bigint
  /** Re-reads now; resolves with the changes (empty when none). */
  refresh(options?: { signal?: AbortSignal }): Promise<ParameterChange[]>
  /** Subscribes to changes; returns the unsubscribe function. */
  onChange(listener: (changes: ParameterChange[], snapshot: ParameterSnapshot) => void): () => void
}

export function createParameterWatcher(
  components: ParameterWatcherComponents,
  init: ParameterWatcherInit = {},
): ParameterWatcher {
  const { publicClient, deployment } = components.chain
  const address = deployment.addresses.parameters
  const pollMs = init.pollIntervalMs ?? DEFAULT_PARAMETER_POLL_MS
  const listeners = new Set<(changes: ParameterChange[], snapshot: ParameterSnapshot) => void>()
  let snapshot: ParameterSnapshot = { values: { ...DEFAULT_PARAMETERS }, raw: new Map(), version: -1n }
  let timer: NodeJS.Timeout | undefined
  let polling: Promise<unknown> = Promise.resolve()

  const readAll = async (): Promise<ParameterChange[]> => {
    let keys: readonly Hex[]
    let values: readonly bigint[]
    let version: bigint
    try {
      ;[keys, values, version] = await publicClient.readContract({
        address,
        abi: parameterRegistryAbi,
        functionName: 'all',
      })
    } catch (cause) {
      throw chainError(cause, 'read parameters')
    }
    const raw = new Map<Hex, bigint>()
    for (const [i, k] of keys.entries()) raw.set(k.toLowerCase() as Hex, values[i] ?? 0n)
    const changes: ParameterChange[] = []
    for (const [key, value] of raw) {
      const previous = snapshot.raw.get(key)
      if (previous !== value) changes.push({ key, name: parameterName(key), previous, value })
    }
    const known = { ...DEFAULT_PARAMETERS }
    for (const [key, value] of raw) {
      const name = parameterName(key)
      if (name) known[name] = value
    }
    const first = snapshot.version < 0n
    snapshot = { values: known, raw, version: BigInt(version) }
    if (!first && changes.length > 0) {
      for (const l of listeners) {
        try {
          l(changes, snapshot)
        } catch (err) {
          components.logger?.warn({ err: String(err) }, 'parameter listener failed')
        }
      }
    }
    return first ? [] : changes
  }

  const refresh: ParameterWatcher['refresh'] = async (options = {}) => {
    options.signal?.throwIfAborted()
    const version = await publicClient
      .readContract({ address, abi: parameterRegistryAbi, functionName: 'version' })
      .catch((cause: unknown) => {
        throw chainError(cause, 'read parameter version')
      })
    if (BigInt(version) === snapshot.version) return []
    return readAll()
  }

  const poll = (): void => {
    polling = refresh()
      .catch((err: unknown) => components.logger?.warn({ err: String(err) }, 'parameter poll failed'))
      .finally(() => {
        if (timer !== undefined) timer = setTimeout(poll, pollMs)
      })
  }

  return {
    async start(options = {}) {
      await refresh(options)
      if (timer === undefined) timer = setTimeout(poll, pollMs)
    },
    stop() {
      if (timer !== undefined) clearTimeout(timer)
      timer = undefined
      void polling
    },
    current: () => snapshot,
    get: (name) => snapshot.values[name],
    refresh,
    onChange(listener) {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
  }
}
