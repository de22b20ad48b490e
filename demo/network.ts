/**
 * The main job's local network: a devnet (anvil with every contract deployed, as `prsm devnet up`
 * does) and PRSM nodes on loopback with fresh keys in a temporary directory. Every node joins
 * the chain (funded from the devnet faucet when it starts) and the first node's address.
 */
import { join } from 'node:path'
import { type Devnet, startDevnet } from '@prsm/contracts'
import { type ConfigInput, loadConfig } from '@prsm/core'
import { createLogger, initIdentity, loadIdentity, PrsmNode } from '@prsm/node'

export interface NodeSpec {
  name: string
  /** What the node offers (and so which backends it serves). */
  offers: NonNullable<ConfigInput['offers']>
  /** Extra configuration (jobs backends, orchestrator settings…). */
  config?: ConfigInput
  /** Serve the local HTTP API (on a free loopback port). */
  api?: boolean
}

export interface DemoNetwork {
  devnet: Devnet
  nodes: Map<string, PrsmNode>
  node(name: string): PrsmNode
  /** The demo name of a node by its PeerId (the PeerId itself when it is not a demo node). */
  nameOf(peerId: string): string
  stop(): Promise<void>
}

async function startNode(root: string, spec: NodeSpec, shared: ConfigInput): Promise<PrsmNode> {
  const dataDir = join(root, spec.name)
  await initIdentity(dataDir, { password: null }) // a throwaway demo identity: no password
  const identity = await loadIdentity(dataDir, null)
  const { config } = loadConfig({
    env: process.env,
    flags: {
      logLevel: process.env.PRSM_DEMO_LOG ?? 'error',
      listen: ['/ip4/127.0.0.1/tcp/0'],
      ...shared,
      ...spec.config,
      offers: spec.offers,
      // every node shares 127.0.0.1: exempt loopback from per-host limits and the same-IP gossip penalty
      connections: { allow: ['/ip4/127.0.0.0/ipcidr/8'] },
      gossip: { ipColocationWhitelist: ['127.0.0.1'] },
    },
  })
  const node = await PrsmNode.create({
    config,
    identity,
    dataDir,
    logger: createLogger({ level: config.logLevel, name: spec.name }),
    api: spec.api ?? false,
  })
  await node.start()
  return node
}

/** Starts the devnet, then the nodes (the others bootstrapping through the first). */
export async function startDemoNetwork(
  root: string,
  specs: readonly NodeSpec[],
  options: { signal?: AbortSignal } = {},
): Promise<DemoNetwork> {
  const devnet = await startDevnet({
    dir: join(root, 'devnet'),
    ...(options.signal ? { signal: options.signal } : {}),
  })
  const nodes = new Map<string, PrsmNode>()
  const stop = async () => {
    await Promise.allSettled([...nodes.values()].map((n) => n.stop()))
    await devnet.stop()
  }
  try {
    const chain = { deployment: devnet.deploymentFile as string, reconcileIntervalMs: 60_000 }
    const [first, ...rest] = specs
    if (first === undefined) throw new Error('no nodes to start')
    nodes.set(first.name, await startNode(root, first, { chain }))
    const bootstrap = (nodes.get(first.name) as PrsmNode).multiaddrs().filter((a) => !a.includes('/ws'))
    // One after the other: each is funded from the one faucet account as it starts.
    for (const spec of rest) {
      options.signal?.throwIfAborted()
      nodes.set(spec.name, await startNode(root, spec, { chain, bootstrap }))
    }
  } catch (err) {
    await stop()
    throw err
  }
  return {
    devnet,
    nodes,
    node(name) {
      const node = nodes.get(name)
      if (node === undefined) throw new Error(`no demo node named ${name}`)
      return node
    },
    nameOf(peerId) {
      for (const [name, node] of nodes) if (node.peerId === peerId) return name
      return peerId
    },
    stop,
  }
}
