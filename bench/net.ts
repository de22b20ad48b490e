/**
 * `npm run bench:net` — the P2P network at 25, 50 and 100 real nodes in one process, on loopback TCP.
 *
 * The nodes are spread over worker threads (one per core by default) so that one process can
 * use the whole machine; every node is a complete PrsmNode (libp2p, Kad-DHT, gossipsub, message
 * gate). Each joins through the first node and a random earlier one.
 *
 * - Gossip: 1 KB signed envelopes published by random nodes; every receiver verifies them with
 *   its message gate (signature, schema, replay) as it does real traffic. Figures: delivery ratio
 *   and the time until a message has reached every node (p50/p99).
 * - DHT: 10 nodes announce provider records for capability keys; random other nodes look them up.
 *   Figure: time until the provider is found (p50/p99).
 *
 * Prints a table, then one JSON object on the last line. Targets: 100% delivery; p99 propagation
 * under 1 s at 100 nodes; findProviders p50 under 50 ms at 100 nodes.
 * Usage: node bench/net.ts [sizes=25,50,100] [messages=30] [lookups=40] [threads=cores] [maxConnections=300]
 */
import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'
import type { Command } from './net-worker.ts'

const sizes = (process.argv[2] ?? '25,50,100').split(',').map(Number)
const MESSAGES = Number(process.argv[3] ?? 30)
const LOOKUPS = Number(process.argv[4] ?? 40)
const THREADS = Number(process.argv[5] ?? availableParallelism())
const MAX_CONNECTIONS = Number(process.argv[6] ?? 300)

const percentile = (values: number[], p: number): number => {
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

/** A worker thread hosting some of the nodes; `call` sends a command and awaits its answer. */
class Host {
  readonly worker: Worker
  readonly #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>()
  #seq = 0
  onArrival: (id: number, at: number) => void = () => undefined

  constructor() {
    this.worker = new Worker(new URL('./net-worker.ts', import.meta.url), {
      workerData: { maxConnections: MAX_CONNECTIONS },
    })
    this.worker.on(
      'message',
      (msg: { seq?: number; result?: unknown; error?: string; arrival?: number; at?: number }) => {
        if (msg.arrival !== undefined) return this.onArrival(msg.arrival, msg.at as number)
        if (msg.seq === undefined) return
        const pending = this.#pending.get(msg.seq)
        this.#pending.delete(msg.seq)
        if (msg.error !== undefined) pending?.reject(new Error(msg.error))
        else pending?.resolve(msg.result)
      },
    )
  }

  ready(): Promise<void> {
    return new Promise((resolve) => this.worker.once('message', () => resolve()))
  }

  call<T>(cmd: Command): Promise<T> {
    const seq = ++this.#seq
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(seq, { resolve: resolve as (v: unknown) => void, reject })
      this.worker.postMessage({ seq, cmd })
    })
  }
}

async function benchSize(n: number) {
  const startedAt = Date.now()
  const hosts = Array.from({ length: Math.min(THREADS, n) }, () => new Host())
  await Promise.all(hosts.map((h) => h.ready()))
  const hostOf = (i: number) => hosts[i % hosts.length] as Host
  const nodes: Array<{ addr: string; peerId: string }> = []
  for (let i = 0; i < n; i++) {
    const bootstrap =
      i === 0 ? [] : [...new Set([0, rand(i)])].map((j) => (nodes[j] as { addr: string }).addr)
    nodes.push(await hostOf(i).call({ op: 'start', index: i, bootstrap }))
  }
  await Promise.all(hosts.map((h) => h.call({ op: 'subscribe' })))
  // let the routing tables fill and the gossip meshes form (several heartbeats)
  const formDeadline = Date.now() + 30_000
  const want = { op: 'ready' as const, minPeers: Math.min(6, n - 1), minSubscribers: Math.min(4, n - 1) }
  while (Date.now() < formDeadline) {
    if ((await Promise.all(hosts.map((h) => h.call<boolean>(want)))).every(Boolean)) break
    await sleep(250)
  }
  await sleep(3_000)
  const formMs = Date.now() - startedAt
  process.stderr.write(`  ${n} nodes on ${hosts.length} threads formed in ${formMs} ms\n`)

  const arrivals = new Map<number, number[]>()
  for (const host of hosts) host.onArrival = (id, at) => arrivals.get(id)?.push(at)
  const times: number[] = []
  let delivered = 0
  for (let id = 0; id < MESSAGES; id++) {
    arrivals.set(id, [])
    const publisher = rand(n)
    const t0 = await hostOf(publisher).call<number>({ op: 'publish', index: publisher, id })
    const deadline = Date.now() + 5_000
    while ((arrivals.get(id)?.length ?? 0) < n - 1 && Date.now() < deadline) await sleep(2)
    const got = arrivals.get(id) ?? []
    delivered += got.length
    if (got.length === n - 1) times.push(Math.max(...got) - t0)
    await sleep(50)
  }
  process.stderr.write(`  gossip: ${times.length}/${MESSAGES} messages reached every node\n`)

  const providers = Array.from({ length: 10 }, () => rand(n))
  const keys = providers.map((_, k) => `compute:bench-${n}-${k}`)
  await Promise.all(
    providers.map((p, k) => hostOf(p).call({ op: 'provide', index: p, key: keys[k] as string })),
  )
  const found: number[] = []
  for (let i = 0; i < LOOKUPS; i++) {
    const k = rand(keys.length)
    let searcher = rand(n)
    while (searcher === providers[k]) searcher = rand(n)
    const provider = (nodes[providers[k] as number] as { peerId: string }).peerId
    const ms = await hostOf(searcher).call<number | null>({
      op: 'lookup',
      index: searcher,
      key: keys[k] as string,
      provider,
    })
    if (ms !== null) found.push(ms)
  }

  await Promise.all(hosts.map((h) => h.call({ op: 'stop' })))
  await Promise.all(hosts.map((h) => h.worker.terminate()))
  return {
    nodes: n,
    threads: hosts.length,
    maxConnections: MAX_CONNECTIONS,
    formMs,
    gossipMessages: MESSAGES,
    deliveryRatio: delivered / (MESSAGES * (n - 1)),
    propagationP50Ms: round(percentile(times, 50)),
    propagationP99Ms: round(percentile(times, 99)),
    lookups: LOOKUPS,
    lookupsFound: found.length,
    findProvidersP50Ms: round(percentile(found, 50)),
    findProvidersP99Ms: round(percentile(found, 99)),
  }
}

const results = []
for (const n of sizes) {
  process.stderr.write(`running ${n} nodes…\n`)
  results.push(await benchSize(n))
}
console.log(
  'nodes  threads  delivery  prop p50 ms  prop p99 ms  findProv p50 ms  findProv p99 ms  found  form ms',
)
for (const r of results) {
  console.log(
    [
      String(r.nodes).padEnd(5),
      String(r.threads).padEnd(7),
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
