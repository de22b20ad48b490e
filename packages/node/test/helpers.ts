import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type ConfigInput, loadConfig } from '@prsm/core'
import { MemoryDatastore } from 'datastore-core'
import type { Blockstore } from 'interface-blockstore'
import type { Datastore } from 'interface-datastore'
import { ApiAuth, type ApiAuthComponents, type ApiAuthInit } from '../src/api/auth/api-auth.ts'
import { createLogger, initIdentity, loadIdentity, PrsmNode, type SafetyHook } from '../src/index.ts'

export interface TestNodeOptions {
  config?: ConfigInput
  dataDir?: string
  /** Defaults to an in-memory datastore; 'fs' uses the node's real filesystem datastore in the data dir. */
  datastore?: Datastore | 'fs'
  api?: boolean
  /** Replaces the node's filesystem blockstore (e.g. a wrapper modelling a faulty peer). */
  blockstore?: Blockstore
  /** The provider's safety check on job requests. */
  safety?: SafetyHook
}

/** A real node on loopback TCP with a fresh insecure identity in a temp data dir. */
export async function startTestNode(options: TestNodeOptions = {}): Promise<PrsmNode> {
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'prsm-test-')))
  await initIdentity(dataDir, { password: null }).catch((err: { code?: string }) => {
    if (err.code !== 'KEYSTORE_EXISTS') throw err
  })
  const identity = await loadIdentity(dataDir, null)
  const { config } = loadConfig({
    flags: {
      listen: ['/ip4/127.0.0.1/tcp/0'],
      logLevel: 'silent',
      ...(options.config as object),
      // many nodes on one host: exempt loopback from the per-host inbound rate limit
      connections: { allow: ['/ip4/127.0.0.0/ipcidr/8'], ...(options.config?.connections as object) },
      gossip: { ipColocationWhitelist: ['127.0.0.1'], ...(options.config?.gossip as object) },
    },
  })
  const node = await PrsmNode.create({
    config,
    identity,
    dataDir,
    logger: createLogger({ level: process.env.PRSM_TEST_LOG ?? 'silent' }),
    ...(options.datastore === 'fs' ? {} : { datastore: options.datastore ?? new MemoryDatastore() }),
    api: options.api ?? false,
    ...(options.blockstore === undefined ? {} : { blockstore: options.blockstore }),
    ...(options.safety === undefined ? {} : { safety: options.safety }),
  })
  await node.start()
  return node
}

export async function stopAll(nodes: PrsmNode[]): Promise<void> {
  await Promise.allSettled(nodes.map((n) => n.stop()))
  await Promise.allSettled(nodes.map((n) => rm(n.dataDir, { recursive: true, force: true })))
}

/** Polls `check` until it returns a truthy value or the timeout passes (then throws with `what`). */
export async function waitFor<T>(
  what: string,
  check: () => T | Promise<T>,
  timeoutMs = 10_000,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  while (Date.now() < deadline) {
    try {
      const value = await check()
      if (value) return value as NonNullable<T>
    } catch (err) {
      last = err
    }
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`timed out waiting for ${what}${last === undefined ? '' : `: ${String(last)}`}`)
}

export function bootstrapAddr(node: PrsmNode): string {
  const addr = node.multiaddrs().find((a) => a.includes('/tcp/') && !a.includes('/ws'))
  if (addr === undefined) throw new Error('node has no TCP address')
  return addr
}

/**
 * The API's auth service on an in-memory key database with a fresh signing secret, short-lived
 * tokens and a rate limit tests do not reach (each overridable).
 */
export function memoryApiAuth(components: ApiAuthComponents = {}, init: Partial<ApiAuthInit> = {}): ApiAuth {
  return new ApiAuth(components, {
    path: ':memory:',
    signingSecret: randomBytes(32),
    issuer: 'test-node',
    tokenTtlSeconds: 60,
    defaultRateLimitPerMinute: 10_000,
    ...init,
  })
}
