/**
 * bench:jobs — the per-job cost of /prsm/job/1.0.0 between two nodes over loopback TCP, against a
 * bare libp2p request/response echo measured in the same run on the same connection.
 *
 *   echo        a new stream per request: one length-prefixed frame there and back (the floor)
 *   job         a free job with a trivial backend (one output chunk): signed request, accepted,
 *               chunk and receipt frames, each checked; the provider's journal and the client's
 *               reputation store written per job
 *   overhead    job − echo at p50 and p99 (target: p50 ≤ 5 ms)
 *   throughput  jobs per second on one provider with 32 jobs in flight
 *
 *   npm run bench:jobs             # 1000 sequential jobs and echoes, 3 s of throughput
 *   npm run bench:jobs -- 300 1    # fewer samples, 1 s of throughput
 *
 * Both nodes run in this process (one event loop serves both sides, as for the echo).
 * Prints a table, then one JSON object as the last line.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { lpStream } from '@libp2p/utils'
import { loadConfig } from '@prsm/core'
import { type Backend, createLogger, initIdentity, loadIdentity, PrsmNode } from '@prsm/node'

const samples = Number(process.argv[2] ?? 1000)
const throughputSeconds = Number(process.argv[3] ?? 3)
const ECHO = '/prsm-bench/echo/1.0.0'
const CAPABILITY = 'tool:bench-echo'
const INFLIGHT = 32

async function startNode(config: Record<string, unknown>): Promise<PrsmNode> {
  const dataDir = await mkdtemp(join(tmpdir(), 'prsm-bench-jobs-'))
  await initIdentity(dataDir, { password: null })
  const { config: loaded } = loadConfig({
    flags: {
      listen: ['/ip4/127.0.0.1/tcp/0'],
      logLevel: 'silent',
      connections: { allow: ['/ip4/127.0.0.0/ipcidr/8'] },
      gossip: { ipColocationWhitelist: ['127.0.0.1'] },
      ...config,
    },
  })
  const node = await PrsmNode.create({
    config: loaded,
    identity: await loadIdentity(dataDir, null),
    dataDir,
    logger: createLogger({ level: 'silent' }),
    api: false,
  })
  await node.start()
  return node
}

/** The trivial backend: answers its first input back as one chunk. */
const trivial: Backend = {
  name: 'bench-echo',
  async *run(_step, inputs) {
    const first = inputs[0]
    yield { type: 'output', text: first !== undefined && 'text' in first ? first.text : '' }
  },
}

const percentile = (sorted: number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number
const round = (ms: number): number => Math.round(ms * 1000) / 1000

const provider = await startNode({
  offers: [{ capability: CAPABILITY, price: '0', unit: 'call' }],
  jobs: { maxConcurrent: 64, maxQueue: 1024 },
})
provider.jobs.registerBackend(CAPABILITY, trivial)
const addr = provider.multiaddrs().find((a) => a.includes('/tcp/') && !a.includes('/ws')) as string
const client = await startNode({ bootstrap: [addr] })
try {
  while (client.libp2p.getPeers().length === 0) await new Promise((r) => setTimeout(r, 20))
  const peer = provider.libp2p.peerId

  // The floor: a bare request/response echo on a fresh stream, like a job's.
  await provider.libp2p.handle(ECHO, async (stream) => {
    const lp = lpStream(stream)
    const frame = await lp.read()
    await lp.write(frame.subarray())
    await stream.close()
  })
  const payload = new Uint8Array(320).fill(7) // about the size of a signed job request
  const echo = async (): Promise<void> => {
    const stream = await client.libp2p.dialProtocol(peer, ECHO)
    const lp = lpStream(stream)
    await lp.write(payload)
    await lp.read()
    await stream.close()
  }
  let n = 0
  const job = async (): Promise<void> => {
    n++
    for await (const e of client.jobs.run(peer, {
      step: { capability: CAPABILITY },
      inputs: [{ text: `hello ${n}` }],
      maxPrice: 0n,
    })) {
      if (e.type === 'receipt' && e.receipt.status !== 'ok')
        throw new Error(`job failed: ${e.receipt.error?.code}`)
    }
  }
  const time = async (fn: () => Promise<void>): Promise<number> => {
    const t = performance.now()
    await fn()
    return performance.now() - t
  }

  for (let i = 0; i < Math.min(200, samples); i++) {
    await echo()
    await job()
  }
  // Interleaved, so both see the same machine load.
  const echoMs: number[] = []
  const jobMs: number[] = []
  for (let i = 0; i < samples; i++) {
    echoMs.push(await time(echo))
    jobMs.push(await time(job))
  }
  echoMs.sort((a, b) => a - b)
  jobMs.sort((a, b) => a - b)

  let done = 0
  const until = performance.now() + throughputSeconds * 1000
  const started = performance.now()
  await Promise.all(
    Array.from({ length: INFLIGHT }, async () => {
      while (performance.now() < until) {
        await job()
        done++
      }
    }),
  )
  const jobsPerSecond = done / ((performance.now() - started) / 1000)
  let echoes = 0
  const echoUntil = performance.now() + throughputSeconds * 1000
  const echoStarted = performance.now()
  await Promise.all(
    Array.from({ length: INFLIGHT }, async () => {
      while (performance.now() < echoUntil) {
        await echo()
        echoes++
      }
    }),
  )
  const echoesPerSecond = echoes / ((performance.now() - echoStarted) / 1000)

  const figures = {
    bench: 'jobs',
    samples,
    echoP50Ms: round(percentile(echoMs, 50)),
    echoP99Ms: round(percentile(echoMs, 99)),
    jobP50Ms: round(percentile(jobMs, 50)),
    jobP99Ms: round(percentile(jobMs, 99)),
    overheadP50Ms: round(percentile(jobMs, 50) - percentile(echoMs, 50)),
    overheadP99Ms: round(percentile(jobMs, 99) - percentile(echoMs, 99)),
    jobToEchoP50: Math.round((percentile(jobMs, 50) / percentile(echoMs, 50)) * 100) / 100,
    jobsPerSecond: Math.round(jobsPerSecond),
    echoesPerSecond: Math.round(echoesPerSecond),
    inflight: INFLIGHT,
    targetOverheadP50Ms: 5,
    meetsTarget: percentile(jobMs, 50) - percentile(echoMs, 50) <= 5,
  }
  const row = (name: string, value: string | number | boolean): void =>
    console.log(`${name.padEnd(34)} ${String(value).padStart(12)}`)
  console.log('PRSM jobs — two nodes over loopback TCP, one process')
  row('echo p50 / p99 (ms)', `${figures.echoP50Ms} / ${figures.echoP99Ms}`)
  row('job p50 / p99 (ms)', `${figures.jobP50Ms} / ${figures.jobP99Ms}`)
  row('overhead p50 / p99 (ms)', `${figures.overheadP50Ms} / ${figures.overheadP99Ms}`)
  row('job / echo at p50', figures.jobToEchoP50)
  row(`jobs/s (one provider, ${INFLIGHT} in flight)`, figures.jobsPerSecond)
  row(`echoes/s (${INFLIGHT} in flight)`, figures.echoesPerSecond)
  row('overhead p50 ≤ 5 ms', figures.meetsTarget)
  console.log(JSON.stringify(figures))
} finally {
  await Promise.allSettled([client.stop(), provider.stop()])
  await Promise.allSettled([client, provider].map((n) => rm(n.dataDir, { recursive: true, force: true })))
}
