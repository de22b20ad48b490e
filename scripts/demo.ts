/**
 * The main job (`npm start`), on embedded defaults: a small local PRSM network on loopback.
 * Three real libp2p nodes start with fresh identities in a temporary directory; the second and
 * third join through the first; each offers a different capability; every node then finds every
 * other node's signed offers (gossip and DHT) and prints them. Later issues grow this into the
 * full demo (a devnet, paid jobs, a verified trace).
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type ConfigInput, formatFtns, loadConfig } from '@prsm/core'
import {
  createLogger,
  type FoundOffer,
  initIdentity,
  installProcessGuards,
  loadIdentity,
  PrsmNode,
} from '@prsm/node'

const NODES: Array<{ name: string; offers: NonNullable<ConfigInput['offers']> }> = [
  { name: 'alpha', offers: [{ capability: 'model:llama-3-8b', price: '0.000002' }] },
  {
    name: 'beta',
    offers: [
      { capability: 'compute:wasm', price: '0.0001' },
      { capability: 'storage:pin', price: '0.5' },
    ],
  },
  { name: 'gamma', offers: [{ capability: 'tool:web-search', price: '0.001' }] },
]
const TIMEOUT_MS = 20_000

async function startNode(root: string, name: string, config: ConfigInput): Promise<PrsmNode> {
  const dataDir = join(root, name)
  await initIdentity(dataDir, { password: null })
  const identity = await loadIdentity(dataDir, null)
  const loaded = loadConfig({
    env: process.env,
    flags: {
      logLevel: 'warn',
      ...config,
      // all nodes share 127.0.0.1: exempt loopback from per-host limits and the same-IP gossip penalty
      connections: { allow: ['/ip4/127.0.0.0/ipcidr/8'] },
      gossip: { ipColocationWhitelist: ['127.0.0.1'] },
    },
  })
  const node = await PrsmNode.create({
    config: loaded.config,
    identity,
    dataDir,
    logger: createLogger({ level: loaded.config.logLevel, name }),
  })
  await node.start()
  return node
}

function row(found: FoundOffer): string {
  const price = `${formatFtns(BigInt(found.offer.price))} FTNS/${found.offer.unit}`
  return `    ${found.offer.capability.padEnd(18)} ${price.padEnd(26)} from ${found.provider.slice(0, 12)}…${found.provider.slice(-6)} (${found.source})`
}

async function main(): Promise<void> {
  installProcessGuards(createLogger({ level: 'warn', name: 'demo' }))
  const started = Date.now()
  const root = await mkdtemp(join(tmpdir(), 'prsm-demo-'))
  const nodes: PrsmNode[] = []
  try {
    console.log('PRSM local network demo\n')
    const [first, ...rest] = NODES
    if (first === undefined) throw new Error('no nodes configured')
    const alpha = await startNode(root, first.name, { offers: first.offers })
    nodes.push(alpha)
    const bootstrap = alpha.multiaddrs().filter((a) => !a.includes('/ws'))
    for (const spec of rest) nodes.push(await startNode(root, spec.name, { offers: spec.offers, bootstrap }))

    for (const [i, node] of nodes.entries()) {
      console.log(
        `  ${NODES[i]?.name.padEnd(6)} ${node.peerId}  offers ${node.offers
          .localOffers()
          .map((o) => o.offer.capability)
          .join(', ')}`,
      )
    }
    console.log(
      '\nEach node looks up every capability the others offer (gossip + Kad-DHT, signatures verified):\n',
    )

    const capabilities = NODES.flatMap((n) => n.offers.map((o) => o.capability))
    const deadline = Date.now() + TIMEOUT_MS
    for (const [i, node] of nodes.entries()) {
      const wanted = capabilities.filter(
        (c) => !node.offers.localOffers().some((o) => o.offer.capability === c),
      )
      let found: FoundOffer[] = []
      while (Date.now() < deadline) {
        found = (await Promise.all(wanted.map((c) => node.findOffers(c, { timeoutMs: 2_000 })))).flat()
        if (wanted.every((c) => found.some((f) => f.offer.capability === c))) break
        await new Promise((r) => setTimeout(r, 200))
      }
      const missing = wanted.filter((c) => !found.some((f) => f.offer.capability === c))
      console.log(`  ${NODES[i]?.name} (${node.libp2p.getPeers().length} peers) found:`)
      for (const f of found) console.log(row(f))
      if (missing.length > 0)
        throw new Error(`${NODES[i]?.name} did not find offers for ${missing.join(', ')}`)
    }
    console.log(
      `\nAll offers found in ${((Date.now() - started) / 1000).toFixed(1)} s. Stopping the network.`,
    )
  } finally {
    await Promise.allSettled(nodes.map((n) => n.stop()))
    await rm(root, { recursive: true, force: true })
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(`demo failed: ${(err as Error).message}`)
    process.exit(1)
  },
)
