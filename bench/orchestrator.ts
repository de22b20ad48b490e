/**
 * bench:orchestrator — what NWTN adds per step, and what parallel routing buys.
 *
 *   overhead per step   a chain of 10 and of 100 steps (each waits for the one before) on four
 *                       providers with an instant backend: the time from a parent's result to
 *                       its child's result, minus the time spent in the backend. This is routing,
 *                       input resolution, the job protocol (signed frames over libp2p on
 *                       loopback), the receipt check, storing the output and signing the trace
 *                       step. p50 and p99 over the steps.
 *                       Reported twice: with the job round trip (everything but the backend),
 *                       and NWTN's own share (the job round trip — dial, signed request,
 *                       provider admission, frames, receipt — taken out too).
 *   speedup             8 independent steps whose backend takes a fixed 500 ms (a remote model
 *                       call: waiting, not CPU), each provider serving one job at a time: routed
 *                       over 4 providers vs restricted to 1, in the same run.
 *
 * Free offers (no chain): payments add a voucher signature and its acceptance per step (see
 * bench:pay). Prints a table, then one JSON object as the last line.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig } from '@prsm/core'
import {
  type Backend,
  initIdentity,
  loadIdentity,
  Orchestrator,
  type ProgressEvent,
  PrsmNode,
} from '@prsm/node'

const BACKEND_MS = 500
const root = await mkdtemp(join(tmpdir(), 'prsm-bench-orchestrator-'))

/** Backend time per call, in call order. */
const backendMs: number[] = []
const instant: Backend = {
  name: 'instant',
  async *run(_step, inputs) {
    const t = performance.now()
    const text = inputs.map((i) => ('text' in i ? i.text : '')).join('')
    backendMs.push(performance.now() - t)
    yield { type: 'output', text: `${text.length}` }
  },
}
const sleeper: Backend = {
  name: 'sleep',
  async *run(_step, _inputs, { signal }) {
    await new Promise((resolve, reject) => {
      const timer = setTimeout(resolve, BACKEND_MS)
      signal.addEventListener('abort', () => {
        clearTimeout(timer)
        reject(signal.reason)
      })
    })
    yield { type: 'output', text: 'slept' }
  },
}

async function start(name: string, flags: Record<string, unknown>): Promise<PrsmNode> {
  const dataDir = join(root, name)
  await initIdentity(dataDir, { password: null })
  const { config } = loadConfig({
    flags: {
      logLevel: 'silent',
      listen: ['/ip4/127.0.0.1/tcp/0'],
      connections: { allow: ['/ip4/127.0.0.0/ipcidr/8'] },
      gossip: { ipColocationWhitelist: ['127.0.0.1'] },
      ...flags,
    },
  })
  const node = await PrsmNode.create({
    config,
    identity: await loadIdentity(dataDir, null),
    dataDir,
    api: false,
  })
  await node.start()
  return node
}

const offers = [
  { capability: 'compute:instant', price: '0' },
  { capability: 'compute:sleep', price: '0', limits: { maxConcurrency: 1 } },
]
const providers: PrsmNode[] = []
for (let i = 0; i < 4; i++) {
  const p = await start(`p${i}`, {
    offers,
    jobs: { maxConcurrent: 1, maxQueue: 64 },
    ...(i === 0 ? {} : { bootstrap: [providers[0]?.multiaddrs()[0]] }),
  })
  p.jobs.registerBackend('compute:instant', instant)
  p.jobs.registerBackend('compute:sleep', sleeper)
  providers.push(p)
}
const client = await start('client', {
  bootstrap: providers.map((p) => p.multiaddrs()[0]),
  orchestrator: { concurrency: 8 },
})
const deadline = Date.now() + 30_000
while (Date.now() < deadline) {
  const known = new Set(client.offers.knownOffers('compute:sleep').map((f) => f.provider))
  if (providers.every((p) => known.has(p.peerId))) break
  await new Promise((r) => setTimeout(r, 100))
}

async function collect(run: AsyncIterable<ProgressEvent>): Promise<ProgressEvent[]> {
  const events: ProgressEvent[] = []
  for await (const e of run) events.push(e)
  return events
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN
}

/** Time spent inside job round trips (call to last event), in call order. */
const jobMs: number[] = []

/** An orchestrator on the client's parts, routing only to `allowed`, timing each job round trip. */
function orchestratorFor(allowed: ReadonlySet<string>): Orchestrator {
  return new Orchestrator(
    {
      jobs: {
        async *run(provider, request, options) {
          const t = performance.now()
          try {
            yield* client.jobs.run(provider, request, options)
          } finally {
            jobMs.push(performance.now() - t)
          }
        },
      },
      findOffers: (capability, options) => client.findOffers(capability, options),
      knownOffers: () => client.offers.knownOffers(),
      storage: client.storage,
      manifests: client.manifests,
      ledger: client.ledger,
      payments: client.payments,
      privateKey: client.identity.nodeKey,
      peerId: client.peerId,
      safety: { routable: (provider) => allowed.has(provider) },
      logger: client.logger,
    },
    { ...client.config.orchestrator, concurrency: 8 },
  )
}

interface Overhead {
  p50: number
  p99: number
  mean: number
}
function stats(xs: number[]): Overhead {
  const sorted = [...xs].sort((a, b) => a - b)
  return {
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    mean: sorted.reduce((s, x) => s + x, 0) / sorted.length,
  }
}

/**
 * A chain of n instant steps. Per step: the interval from its parent's result to its own, minus
 * the backend time (`total`), and minus the whole job round trip (`nwtn`).
 */
async function chain(n: number): Promise<{ total: Overhead; nwtn: Overhead }> {
  const steps = Array.from({ length: n }, (_, i) => ({
    id: `s${i}`,
    kind: 'compute' as const,
    capability: 'compute:instant',
    inputs: i === 0 ? ['start'] : [{ step: `s${i - 1}` }],
  }))
  backendMs.length = 0
  jobMs.length = 0
  const orchestrator = orchestratorFor(new Set(providers.map((p) => p.peerId)))
  const run = await orchestrator.runWorkflow({ version: 1, steps })
  const events = await collect(run)
  await run.result
  const done = events.filter((e) => e.type === 'step-done') as Array<
    Extract<ProgressEvent, { type: 'step-done' }>
  >
  const first = events.find((e) => e.type === 'started') as Extract<ProgressEvent, { type: 'started' }>
  const total: number[] = []
  const nwtn: number[] = []
  let previous = first.at
  done.forEach((e, i) => {
    const interval = e.at - previous
    total.push(interval - (backendMs[i] ?? 0))
    nwtn.push(interval - (jobMs[i] ?? 0))
    previous = e.at
  })
  return { total: stats(total), nwtn: stats(nwtn) }
}

/** 8 independent sleeping steps, through an orchestrator that may route to `allowed` only. */
async function parallel(allowed: ReadonlySet<string>): Promise<number> {
  const orchestrator = orchestratorFor(allowed)
  const steps = Array.from({ length: 8 }, (_, i) => ({
    id: `p${i}`,
    kind: 'compute' as const,
    capability: 'compute:sleep',
    inputs: [`${i}`],
  }))
  const t = performance.now()
  const run = await orchestrator.runWorkflow({ version: 1, steps })
  await run.result
  return performance.now() - t
}

await chain(10) // warm-up: connections, streams, JIT
const ten = await chain(10)
const hundred = await chain(100)
const one = await parallel(new Set([providers[0]?.peerId as string]))
const four = await parallel(new Set(providers.map((p) => p.peerId)))
const speedup = one / four

const f = (x: number) => x.toFixed(2)
const met = { overhead: hundred.nwtn.p50 <= 10 && ten.nwtn.p50 <= 10, speedup: speedup >= 3 }
console.log('overhead per step (ms): all but the backend | NWTN alone (job round trip taken out too)')
for (const [name, o] of [
  ['10-step chain ', ten],
  ['100-step chain', hundred],
] as const) {
  console.log(
    `  ${name}  p50 ${f(o.total.p50)} p99 ${f(o.total.p99)} mean ${f(o.total.mean)} | p50 ${f(o.nwtn.p50)} p99 ${f(o.nwtn.p99)} mean ${f(o.nwtn.mean)}`,
  )
}
console.log(
  `8 independent ${BACKEND_MS} ms steps: 1 provider ${one.toFixed(0)} ms, 4 providers ${four.toFixed(0)} ms`,
)
console.log(`  speedup ${speedup.toFixed(2)}× (target ≥ 3×, ideal 4×)`)
console.log(
  `targets: NWTN overhead p50 ≤ 10 ms/step ${met.overhead ? 'met' : 'MISSED'}; speedup ≥ 3× ${met.speedup ? 'met' : 'MISSED'}`,
)

await Promise.allSettled([client, ...providers].map((n) => n.stop()))
await rm(root, { recursive: true, force: true })
const round = (o: Overhead) => ({ p50: +f(o.p50), p99: +f(o.p99), mean: +f(o.mean) })
console.log(
  JSON.stringify({
    bench: 'orchestrator',
    overheadMs: {
      steps10: { allButBackend: round(ten.total), nwtn: round(ten.nwtn) },
      steps100: { allButBackend: round(hundred.total), nwtn: round(hundred.nwtn) },
    },
    parallel: {
      steps: 8,
      backendMs: BACKEND_MS,
      oneProviderMs: Math.round(one),
      fourProvidersMs: Math.round(four),
      speedup: +speedup.toFixed(2),
    },
    targets: { overheadP50Ms: 10, speedup: 3 },
    met: met.overhead && met.speedup,
  }),
)
