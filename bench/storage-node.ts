/**
 * One PRSM node for `bench/storage.ts`, run as a child process and driven over IPC:
 * `{ op: 'add', file }` imports a file, `{ op: 'fetch', cid, addr }` dials `addr` and streams the
 * file (fetching every block from the peer) to nowhere. Every reply carries the process's peak RSS.
 */
import { createReadStream } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { Session } from 'node:inspector/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import { loadConfig } from '@prsm/core'
import { createLogger, initIdentity, loadIdentity, PrsmNode } from '@prsm/node'

type Command =
  | { op: 'add'; file: string }
  | { op: 'fetch'; cid: string; addr: string }
  | { op: 'profile'; phase: string }
  | { op: 'cpu'; phase: 'start' | 'end' }
  | { op: 'stop' }

/**
 * With PRSM_BENCH_MEMORY, the peak of each `process.memoryUsage()` figure, sampled every 100 ms
 * (where the RSS goes; off by default: sampling costs CPU).
 */
const peak = { rss: 0, heapTotal: 0, heapUsed: 0, external: 0, arrayBuffers: 0 }
if (process.env.PRSM_BENCH_MEMORY !== undefined) {
  setInterval(() => {
    const m = process.memoryUsage()
    for (const k of Object.keys(peak) as Array<keyof typeof peak>) peak[k] = Math.max(peak[k], m[k])
  }, 100).unref()
}

const send = (msg: Record<string, unknown>): void => {
  process.send?.({ ...msg, maxRssBytes: process.resourceUsage().maxRSS * 1024, peakMemory: { ...peak } })
}

const dataDir = await mkdtemp(join(tmpdir(), 'prsm-bench-storage-'))
await initIdentity(dataDir, { password: null })
const identity = await loadIdentity(dataDir, null)
const { config } = loadConfig({
  flags: {
    listen: ['/ip4/127.0.0.1/tcp/0'],
    logLevel: 'silent',
    connections: { allow: ['/ip4/127.0.0.0/ipcidr/8'] },
    dht: { enabled: false },
    storage: {
      bitswap: false,
      ...(process.env.PRSM_BENCH_FETCH_CONCURRENCY === undefined
        ? {}
        : { fetchConcurrency: Number(process.env.PRSM_BENCH_FETCH_CONCURRENCY) }),
    },
  },
})
const node = await PrsmNode.create({
  config,
  identity,
  dataDir,
  logger: createLogger({ level: 'silent' }),
  api: false,
  runtimeFile: false,
})
await node.start()
const addr = node.multiaddrs().find((a) => a.includes('/tcp/') && !a.includes('/ws'))
send({ op: 'ready', addr })

process.on('message', (cmd: Command) => {
  void handle(cmd).catch((err: Error) => send({ op: 'error', message: err.stack ?? err.message }))
})

/** With PRSM_BENCH_PROFILE=DIR, each add/fetch/serve phase is CPU-profiled into DIR. */
const profileDir = process.env.PRSM_BENCH_PROFILE
let profiler: Session | undefined

async function profile(phase: 'start' | string): Promise<void> {
  if (profileDir === undefined) return
  if (phase === 'start') {
    profiler = new Session()
    profiler.connect()
    await profiler.post('Profiler.enable')
    await profiler.post('Profiler.start')
    return
  }
  const result = await profiler?.post('Profiler.stop')
  profiler?.disconnect()
  profiler = undefined
  if (result !== undefined) {
    await writeFile(join(profileDir, `${phase}-${process.pid}.cpuprofile`), JSON.stringify(result.profile))
  }
}

/** CPU time (user + system, all threads) used since `since`, in ms. */
function cpuMs(since: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(since)
  return Math.round((d.user + d.system) / 1000)
}

/** Marks the start of a phase whose CPU time a later `cpu` command reports. */
let phaseCpu = process.cpuUsage()

async function handle(cmd: Command): Promise<void> {
  if (cmd.op === 'cpu') {
    if (cmd.phase === 'start') phaseCpu = process.cpuUsage()
    send({ op: 'cpu', cpuMs: cpuMs(phaseCpu) })
  } else if (cmd.op === 'profile') {
    await profile(cmd.phase)
    send({ op: 'profiled' })
  } else if (cmd.op === 'add') {
    const started = performance.now()
    const cpu = process.cpuUsage()
    const added = await node.storage.add(createReadStream(cmd.file, { highWaterMark: 1024 * 1024 }))
    send({ op: 'added', ...added, ms: performance.now() - started, cpuMs: cpuMs(cpu) })
  } else if (cmd.op === 'fetch') {
    await node.libp2p.dial(multiaddr(cmd.addr))
    const started = performance.now()
    const cpu = process.cpuUsage()
    let bytes = 0
    try {
      for await (const chunk of node.storage.cat(cmd.cid)) bytes += chunk.byteLength
    } catch (err) {
      // which providers failed, and how (timeout, bad-block, dont-have, error)
      const failures = node.storage.exchange.failures()
      throw new Error(`${(err as Error).message} after ${bytes} bytes; failures ${JSON.stringify(failures)}`)
    }
    send({ op: 'fetched', bytes, ms: performance.now() - started, cpuMs: cpuMs(cpu) })
  } else {
    await node.stop()
    await rm(dataDir, { recursive: true, force: true })
    send({ op: 'stopped' })
    process.disconnect()
  }
}
