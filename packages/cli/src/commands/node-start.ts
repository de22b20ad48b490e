import { readFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { loadConfig, PrsmError } from '@prsm/core'
import { createLogger, installProcessGuards, PrsmNode, readRuntimeFile } from '@prsm/node'
import { resolveDataDir } from '../data-dir.ts'
import { unlockIdentity } from '../password.ts'

export interface NodeStartFlags {
  dataDir?: string
  listen?: string[]
  bootstrap?: string[]
  apiPort?: string
  offer?: string[]
  mdns?: boolean
  relay?: boolean
  detectLocalModels?: boolean
  logLevel?: string
  devnet?: string
}

/** `--offer CAP=PRICE[/UNIT]` → an offer config entry. */
export function parseOfferFlag(text: string): { capability: string; price: string; unit?: string } {
  const eq = text.lastIndexOf('=')
  if (eq <= 0) {
    throw new PrsmError(
      'VALIDATION_FAILED',
      `--offer ${text}: expected CAPABILITY=PRICE, e.g. model:llama-3-8b=0.002`,
    )
  }
  const capability = text.slice(0, eq)
  const [price, unit] = text.slice(eq + 1).split('/')
  return unit === undefined ? { capability, price: price ?? '' } : { capability, price: price ?? '', unit }
}

/** Command-line flags shaped like the config (only those given). */
export function flagsToConfig(flags: NodeStartFlags): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  if (flags.listen !== undefined && flags.listen.length > 0) out.listen = flags.listen
  if (flags.bootstrap !== undefined && flags.bootstrap.length > 0) out.bootstrap = flags.bootstrap
  if (flags.apiPort !== undefined) out.api = { port: Number(flags.apiPort) }
  if (flags.offer !== undefined && flags.offer.length > 0) out.offers = flags.offer.map(parseOfferFlag)
  if (flags.mdns === true) out.mdns = true
  if (flags.relay === true) out.relay = true
  if (flags.detectLocalModels === true) out.jobs = { localModels: { detect: true } }
  if (flags.logLevel !== undefined) out.logLevel = flags.logLevel
  if (flags.devnet !== undefined) out.chain = { deployment: resolve(flags.devnet) }
  return out
}

export async function readConfigFile(dataDir: string): Promise<unknown> {
  const path = join(dataDir, 'config.json')
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new PrsmError('CONFIG_FILE_UNREADABLE', `cannot read ${path}`, { cause: err })
  }
  try {
    return JSON.parse(text)
  } catch (err) {
    throw new PrsmError('CONFIG_FILE_UNREADABLE', `${path} is not valid JSON: ${(err as Error).message}`)
  }
}

/** `prsm node start`: runs a node in the foreground until SIGINT or SIGTERM. */
export async function nodeStartCommand(flags: NodeStartFlags): Promise<void> {
  const dataDir = resolveDataDir(flags.dataDir)
  const { config, warnings } = loadConfig({
    file: await readConfigFile(dataDir),
    env: process.env,
    flags: flagsToConfig(flags),
  })
  const running = await readRuntimeFile(dataDir).catch(() => undefined)
  if (running !== undefined) {
    throw new PrsmError(
      'NODE_ALREADY_RUNNING',
      `a node (pid ${running.pid}) is already running for ${dataDir}`,
    )
  }
  const identity = await unlockIdentity(dataDir)
  const logger = createLogger({ level: config.logLevel })
  for (const w of warnings) logger.warn(w)
  installProcessGuards(logger)

  const node = await PrsmNode.create({ config, identity, dataDir, logger })
  await node.start()
  process.stdout.write(
    [
      'PRSM node running',
      `  peer id   ${node.peerId}`,
      `  address   ${identity.address}`,
      ...node
        .multiaddrs()
        .map((a) => `  listen    ${a}/p2p/${node.peerId}`.replace(`/p2p/${node.peerId}/p2p/`, '/p2p/')),
      `  api       ${node.apiUrl}`,
      `  chain     ${node.ledger.enabled ? `${node.ledger.chain.deployment.chainId} (${node.ledger.chain.deployment.rpcUrl})` : '(none: paid features off)'}`,
      `  offers    ${
        node.offers
          .localOffers()
          .map((o) => o.offer.capability)
          .join(', ') || '(none)'
      }`,
      '',
    ].join('\n'),
  )

  await new Promise<void>((resolve) => {
    let stopping = false
    const stop = (signal: string): void => {
      if (stopping) {
        logger.warn('second signal: exiting now')
        process.exit(1)
      }
      stopping = true
      logger.info({ signal }, 'stopping')
      node.stop().then(resolve, (err: unknown) => {
        logger.error({ err }, 'error while stopping')
        resolve()
      })
    }
    process.on('SIGINT', () => stop('SIGINT'))
    process.on('SIGTERM', () => stop('SIGTERM'))
  })
  // The node is stopped and its files removed; do not wait for libraries' idle timers.
  process.exit(0)
}
