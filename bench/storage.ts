/**
 * Storage benchmark: import throughput, and transfer throughput of a generated file between two
 * PRSM nodes run as separate processes over loopback TCP, with each process's peak RSS. When the
 * Kubo binary built by the interop suite is cached, the same transfer between two Kubo daemons
 * runs too, and the ratio is reported. Prints a table, then one JSON object as the last line.
 *
 *   npm run bench:storage            # 1 GiB
 *   npm run bench:storage -- 256     # size in MiB
 *   PRSM_BENCH_PROFILE=/tmp/prof npm run bench:storage -- 256
 *                                    # CPU profiles of the add, serve and fetch phases
 *   PRSM_BENCH_MEMORY=1 npm run bench:storage -- 256   # peak heap/external figures of both nodes
 *   PRSM_BENCH_NODE_ARGS='--max-semi-space-size=16' npm run bench:storage
 *                                    # extra Node flags for the two node processes (after the
 *                                    # flags `prsm node start` uses, which they override)
 *
 * MB are 10^6 bytes.
 */
import { type ChildProcess, fork, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdtemp, open, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { NODE_START_FLAGS } from '@prsm/cli/runtime-flags'
import { KUBO_ADD, KUBO_BIN, KUBO_VERSION, Kubo } from '../test/interop/kubo.ts'

const MiB = 1024 * 1024
const sizeMiB = Number(process.argv[2] ?? 1024)
if (!Number.isFinite(sizeMiB) || sizeMiB <= 0) throw new Error('usage: node bench/storage.ts [size in MiB]')
const size = Math.round(sizeMiB * MiB)
const mbps = (bytes: number, ms: number): number => Math.round((bytes / 1e6 / (ms / 1000)) * 10) / 10
const mb = (bytes: number | undefined): number | undefined =>
  bytes === undefined ? undefined : Math.round(bytes / 1e6)

const dir = await mkdtemp(join(tmpdir(), 'prsm-bench-storage-'))
const file = join(dir, 'data.bin')
{
  const fh = await open(file, 'w')
  for (let done = 0; done < size; done += 16 * MiB)
    await fh.write(randomBytes(Math.min(16 * MiB, size - done)))
  await fh.close()
}

interface Reply {
  op: string
  maxRssBytes: number
  [key: string]: unknown
}

class Child {
  readonly proc: ChildProcess
  readonly #waiting: Array<(r: Reply) => void> = []
  last: Reply | undefined

  constructor() {
    this.proc = fork(join(import.meta.dirname, 'storage-node.ts'), [], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      // the V8 flags `prsm node start` runs a node with, then any given for the bench
      execArgv: [
        ...process.execArgv,
        ...NODE_START_FLAGS,
        ...(process.env.PRSM_BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? []),
      ],
    })
    this.proc.on('message', (r: Reply) => {
      this.last = r
      if (r.op === 'error') {
        console.error(r.message)
        process.exitCode = 1
      }
      this.#waiting.shift()?.(r)
    })
  }

  next(): Promise<Reply> {
    return new Promise((ok) => this.#waiting.push(ok))
  }

  async call(cmd: Record<string, unknown>): Promise<Reply> {
    const reply = this.next()
    this.proc.send(cmd)
    const r = await reply
    if (r.op === 'error') throw new Error(String(r.message))
    return r
  }
}

// PRSM: two node processes (killed if this process ends early)
const a = new Child()
const b = new Child()
process.on('exit', () => {
  for (const c of [a, b]) if (c.proc.exitCode === null) c.proc.kill()
})
const [readyA] = await Promise.all([a.next(), b.next()])
await a.call({ op: 'profile', phase: 'start' })
const added = await a.call({ op: 'add', file })
await a.call({ op: 'profile', phase: 'add' })
const cid = String(added.cid)
await Promise.all([a.call({ op: 'profile', phase: 'start' }), b.call({ op: 'profile', phase: 'start' })])
await a.call({ op: 'cpu', phase: 'start' })
const fetched = await b.call({ op: 'fetch', cid, addr: String(readyA.addr) })
const served = await a.call({ op: 'cpu', phase: 'end' })
await Promise.all([a.call({ op: 'profile', phase: 'serve' }), b.call({ op: 'profile', phase: 'fetch' })])
if (fetched.bytes !== size) throw new Error(`fetched ${fetched.bytes} bytes, expected ${size}`)
/** CPU ms (all threads) per GB handled: independent of how busy the machine is, unlike MB/s. */
const cpuPerGB = (ms: unknown): number => Math.round(Number(ms) / (size / 1e9))
const prsm = {
  importMBps: mbps(size, Number(added.ms)),
  transferMBps: mbps(size, Number(fetched.ms)),
  cpuMsPerGB: {
    import: cpuPerGB(added.cpuMs),
    serve: cpuPerGB(served.cpuMs),
    fetch: cpuPerGB(fetched.cpuMs),
  },
  rssMB: { provider: mb(a.last?.maxRssBytes), fetcher: mb(fetched.maxRssBytes) } as {
    provider?: number | undefined
    fetcher?: number | undefined
  },
}
if (process.env.PRSM_BENCH_MEMORY !== undefined) {
  console.error('provider peak memory', a.last?.peakMemory, '\nfetcher peak memory', fetched.peakMemory)
}
const stoppedA = await a.call({ op: 'stop' })
const stoppedB = await b.call({ op: 'stop' })
prsm.rssMB = { provider: mb(stoppedA.maxRssBytes), fetcher: mb(stoppedB.maxRssBytes) }

// Kubo: two daemons, when the interop suite has built the binary
let kubo:
  | {
      version: string
      importMBps: number
      transferMBps: number
      rssMB: { provider?: number | undefined; fetcher?: number | undefined }
    }
  | undefined
if (existsSync(KUBO_BIN)) {
  const [ka, kb] = await Promise.all([Kubo.start(KUBO_BIN), Kubo.start(KUBO_BIN)])
  try {
    let t = performance.now()
    const kcid = (await ka.ipfs(...KUBO_ADD, file)).trim()
    const importMs = performance.now() - t
    if (kcid !== cid) console.error(`note: Kubo CID ${kcid} differs from PRSM CID ${cid}`)
    await kb.ipfs('swarm', 'connect', await ka.swarmAddr())
    t = performance.now()
    const bytes = await catCount(kb, kcid)
    const transferMs = performance.now() - t
    if (bytes !== size) throw new Error(`kubo fetched ${bytes} bytes, expected ${size}`)
    kubo = {
      version: KUBO_VERSION,
      importMBps: mbps(size, importMs),
      transferMBps: mbps(size, transferMs),
      rssMB: { provider: mb(await ka.peakRss()), fetcher: mb(await kb.peakRss()) },
    }
  } finally {
    await Promise.allSettled([ka.stop(), kb.stop()])
  }
}
await rm(dir, { recursive: true, force: true })

/** `ipfs cat` into a byte counter (the bytes never touch the disk or the heap). */
function catCount(k: Kubo, c: string): Promise<number> {
  return new Promise((ok, fail) => {
    const proc = spawn(k.bin, ['cat', c], {
      env: { ...process.env, IPFS_PATH: k.repo },
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    let n = 0
    proc.stdout.on('data', (chunk: Buffer) => {
      n += chunk.byteLength
    })
    proc.once('error', fail)
    proc.once('exit', (code) => (code === 0 ? ok(n) : fail(new Error(`ipfs cat exited with ${code}`))))
  })
}

const ratio = kubo === undefined ? undefined : Math.round((prsm.transferMBps / kubo.transferMBps) * 100) / 100
const rows: Array<[string, string, string]> = [
  ['', 'PRSM', kubo === undefined ? 'Kubo (not built)' : `Kubo ${kubo.version}`],
  ['import MB/s', String(prsm.importMBps), String(kubo?.importMBps ?? '-')],
  ['transfer MB/s', String(prsm.transferMBps), String(kubo?.transferMBps ?? '-')],
  ['CPU ms/GB import', String(prsm.cpuMsPerGB.import), '-'],
  ['CPU ms/GB serve', String(prsm.cpuMsPerGB.serve), '-'],
  ['CPU ms/GB fetch', String(prsm.cpuMsPerGB.fetch), '-'],
  ['peak RSS provider MB', String(prsm.rssMB.provider), String(kubo?.rssMB.provider ?? '-')],
  ['peak RSS fetcher MB', String(prsm.rssMB.fetcher), String(kubo?.rssMB.fetcher ?? '-')],
]
console.log(`storage bench: ${sizeMiB} MiB file, two processes over loopback TCP`)
for (const [k, p, q] of rows) console.log(`${k.padEnd(22)} ${p.padStart(10)} ${q.padStart(18)}`)
if (ratio !== undefined) console.log(`transfer ratio PRSM/Kubo ${ratio}`)
console.log(
  JSON.stringify({
    sizeBytes: size,
    cid,
    prsm,
    kubo: kubo ?? null,
    ratio: ratio ?? null,
    targets: {
      transferMBps: { target: 150, met: prsm.transferMBps >= 150 },
      rssMB: { target: 300, met: Math.max(prsm.rssMB.provider ?? 0, prsm.rssMB.fetcher ?? 0) <= 300 },
      kuboRatio: { target: 1, met: ratio === undefined ? null : ratio >= 1 },
    },
  }),
)
