/**
 * `npm run bench:net` — the P2P network at 25, 50 and 100 real nodes in one process, on loopback TCP.
 *
 * - Gossip: 1 KB signed envelopes published by random nodes; each message is verified by every
 *   receiver's message gate (signature, schema, replay) as real traffic is. Figures: delivery
 *   ratio and time until the message has reached every node (p50/p99).
 * - DHT: 10 nodes announce provider records for random capability keys; random other nodes look
 *   them up. Figure: time to the first provider found (p50/p99) and to lookup completion.
 *
 * Prints a table, then one JSON object on the last line. Targets: 100% delivery; p99 propagation
 * under 1 s at 100 nodes; findProviders p50 under 50 ms at 100 nodes.
 * Usage: node bench/net.ts [sizes=25,50,100] [messages=30] [lookups=40] [maxConnections=30]
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { TopicValidatorResult } from '@libp2p/gossipsub'
import { capabilityCid, loadConfig, MessageRegistry, sealEnvelope } from '@prsm/core'
import { createLogger, initIdentity, installProcessGuards, loadIdentity, PrsmNode } from '@prsm/node'
import { MemoryDatastore } from 'datastore-core'
import { z } from 'zod'

const sizes = (process.argv[2] ?? '25,50,100').split(',').map(Number)
const MESSAGES = Number(process.argv[3] ?? 30)
const LOOKUPS = Number(process.argv[4] ?? 40)
/** Connection budget per node: real nodes keep a bounded set of peers, not the whole network. */
const MAX_CONNECTIONS = Number(process.argv[5] ?? 30)
const TOPIC = '/prsm/bench/1'
const Bench = new MessageRegistry().register(
  'bench',
  1,
  z.object({ id: z.number(), pad: z.string() }).strict(),
)

function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number
}
const round = (n: number) => Math.round(n * 10) / 10
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
let seed = 42
const rand = (n: number) => {
  seed = (seed * 1103515245 + 12345) % 2 ** 31
  return seed % n
}

async function startNodes(n: number, root: string): Promise<PrsmNode[]> {
  const nodes: PrsmNode[] = []
  const logger = createLogger({ level: 'silent' })
  for (let i = 0; i < n; i++) {
    const dataDir = join(root, `n${n}-${i}`)
    await initIdentity(dataDir, { password: null })
    const bootstrap =
      nodes.length === 0
        ? []
        : [...new Set([0, rand(nodes.length), rand(nodes.length)])].map(
            (j) => (nodes[j] as PrsmNode).multiaddrs()[0] as string,
          )
    const { config } = loadConfig({
      flags: {
        listen: ['/ip4/127.0.0.1/tcp/0'],
        bootstrap,
        logLevel: 'silent',
        connections: { allow: ['/ip4/127.0.0.0/ipcidr/8'], maxConnections: MAX_CONNECTIONS },
        gossip: { ipColocationWhitelist: ['127.0.0.1'] },
      },
    })
    const node = await PrsmNode.create({
      config,
      identity: await loadIdentity(dataDir, null),
      dataDir,
      logger,
      datastore: new MemoryDatastore(),
      api: false,
    })
    node.registry.register('bench', 1, z.object({ id: z.number(), pad: z.string() }).strict())
    await node.start()
    nodes.push(node)
  }
  return nodes
}

async function benchSize(n: number, root: string) {
  const startedAt = Date.now()
  const nodes = await startNodes(n, root)
  const arrivals = new Map<number, number[]>()
  for (const node of nodes) {
    const pubsub = node.libp2p.services.pubsub
    pubsub.topicValidators.set(TOPIC, async (from, msg) => {
      try {
        const { envelope } = await node.gate.receive<{ id: number }>(msg.data, from, Bench)
        arrivals.get(envelope.payload.id)?.push(performance.now())
        return TopicValidatorResult.Accept
      } catch {
        return TopicValidatorResult.Reject
      }
    })
    pubsub.subscribe(TOPIC)
  }
  // let the DHT routing tables fill and the gossip meshes form (several heartbeats)
  const formDeadline = Date.now() + 30_000
  while (Date.now() < formDeadline) {
    const ready = nodes.every(
      (node) =>
        node.libp2p.getPeers().length >= Math.min(6, n - 1) &&
        node.libp2p.services.pubsub.getSubscribers(TOPIC).length >= Math.min(4, n - 1),
    )
    if (ready) break
    await sleep(250)
  }
  await sleep(3_000)
  const formMs = Date.now() - startedAt
  process.stderr.write(`  ${n} nodes formed in ${formMs} ms\n`)

  // gossip propagation
  const times: number[] = []
  let delivered = 0
  const pad = 'x'.repeat(1024)
  for (let id = 0; id < MESSAGES; id++) {
    const publisher = nodes[rand(n)] as PrsmNode
    arrivals.set(id, [])
    const bytes = await sealEnvelope(publisher.identity.nodeKey, Bench, { id, pad })
    const t0 = performance.now()
    await publisher.libp2p.services.pubsub.publish(TOPIC, bytes)
    const deadline = performance.now() + 5_000
    while ((arrivals.get(id)?.length ?? 0) < n - 1 && performance.now() < deadline) await sleep(2)
    const got = arrivals.get(id) ?? []
    delivered += got.length
    if (got.length === n - 1) times.push(Math.max(...got) - t0)
    await sleep(50)
  }

  process.stderr.write(`  gossip done: ${times.length}/${MESSAGES} fully delivered\n`)
  // DHT provider lookups
  const providers = Array.from({ length: 10 }, () => nodes[rand(n)] as PrsmNode)
  const keys = await Promise.all(providers.map((_, i) => capabilityCid(`compute:bench-${n}-${i}`)))
  await Promise.all(providers.map((p, i) => p.libp2p.contentRouting.provide(keys[i] as never)))
  const first: number[] = []
  let found = 0
  for (let i = 0; i < LOOKUPS; i++) {
    const k = rand(keys.length)
    let searcher = nodes[rand(n)] as PrsmNode
    while (searcher === providers[k]) searcher = nodes[rand(n)] as PrsmNode
    const t0 = performance.now()
    let firstAt = Number.NaN
    // a caller needs one provider: stop the lookup at the first one (as findOffers' fetches start)
    for await (const peer of searcher.libp2p.contentRouting.findProviders(keys[k] as never, {
      signal: AbortSignal.timeout(10_000),
    })) {
      if (peer.id.equals(providers[k]?.libp2p.peerId)) {
        firstAt = performance.now() - t0
        break
      }
    }
    if (!Number.isNaN(firstAt)) {
      found++
      first.push(firstAt)
    }
  }

  const result = {
    nodes: n,
    formMs,
    gossipMessages: MESSAGES,
    deliveryRatio: delivered / (MESSAGES * (n - 1)),
    propagationP50Ms: round(percentile(times, 50)),
    propagationP99Ms: round(percentile(times, 99)),
    lookups: LOOKUPS,
    lookupsFound: found,
    findProvidersP50Ms: round(percentile(first, 50)),
    findProvidersP99Ms: round(percentile(first, 99)),
  }
  await Promise.allSettled(nodes.map((node) => node.stop()))
  return result
}

installProcessGuards(createLogger({ level: 'warn', name: 'bench' }))
const root = await mkdtemp(join(tmpdir(), 'prsm-bench-net-'))
const results = []
try {
  for (const n of sizes) {
    process.stderr.write(`running ${n} nodes…\n`)
    results.push(await benchSize(n, root))
  }
} finally {
  await rm(root, { recursive: true, force: true })
}
console.log(
  'nodes  delivery  prop p50 ms  prop p99 ms  findProv p50 ms  findProv p99 ms  found  lookup done p50 ms  form ms',
)
for (const r of results) {
  console.log(
    [
      String(r.nodes).padEnd(5),
      `${(r.deliveryRatio * 100).toFixed(1)}%`.padEnd(8),
      String(r.propagationP50Ms).padEnd(11),
      String(r.propagationP99Ms).padEnd(11),
      String(r.findProvidersP50Ms).padEnd(15),
      String(r.findProvidersP99Ms).padEnd(15),
      `${r.lookupsFound}/${r.lookups}`.padEnd(5),
      String(r.formMs),
    ].join('  '),
  )
}
const at100 = results.find((r) => r.nodes === 100)
console.log(
  JSON.stringify({
    bench: 'net',
    results,
    targets:
      at100 === undefined
        ? undefined
        : {
            delivery100: at100.deliveryRatio === 1,
            propagationP99Under1s: at100.propagationP99Ms < 1000,
            findProvidersP50Under50ms: at100.findProvidersP50Ms < 50,
          },
  }),
)
process.exit(0)
