/**
 * bench:api — what the node API's request chain costs, in one run on this machine.
 *
 *   bare      node:http answering {"hello":"world"}
 *   fastify   a Fastify 5 hello route (no plugins)
 *   prsm      PRSM's full chain: bearer API key (hash + lookup), role check, per-key rate limit
 *             (RateLimit-* headers), zod validation of the query, structured request log, and a
 *             cheap endpoint (GET /api/v1/offers?dht=false → the node's known offers, none here)
 *
 * Each server runs in its own child process; autocannon (from npm) drives them from this one in
 * interleaved rounds with the same connections and duration. Prints the median req/s, p99
 * latency and server CPU time per request of each and the ratios, then one JSON object as the
 * last line.
 *
 * Targets (issue 7): prsm ≥ 50% of bare; Fastify's overhead over bare ≤ 10%.
 * Env: BENCH_API_SECONDS (default 4), BENCH_API_ROUNDS (default 3), BENCH_API_CONNECTIONS (default 10).
 */
import { type ChildProcess, fork } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:http'
import { availableParallelism, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import autocannon from 'autocannon'

const SECONDS = Number(process.env.BENCH_API_SECONDS ?? 4)
const ROUNDS = Number(process.env.BENCH_API_ROUNDS ?? 3)
const CONNECTIONS = Number(process.env.BENCH_API_CONNECTIONS ?? 10)
type Kind = 'bare' | 'fastify' | 'prsm'

/** Child process: serve one kind on a free loopback port and report `{ port, headers }`. */
async function serve(kind: Kind): Promise<void> {
  const send = (msg: unknown) => process.send?.(msg)
  // the CPU time this server has used, asked for before and after each run
  process.on('message', (m) => {
    if (m === 'cpu') send({ cpu: process.cpuUsage() })
  })
  if (kind === 'bare') {
    const server = createServer((_req, res) => {
      const body = JSON.stringify({ hello: 'world' })
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': body.length })
      res.end(body)
    })
    server.listen(0, '127.0.0.1', () => {
      send({ port: (server.address() as { port: number }).port, path: '/', headers: {} })
    })
    return
  }
  if (kind === 'fastify') {
    const { default: Fastify } = await import('fastify')
    const app = Fastify({ logger: false })
    app.get('/', async () => ({ hello: 'world' }))
    await app.listen({ host: '127.0.0.1', port: 0 })
    send({ port: (app.server.address() as { port: number }).port, path: '/', headers: {} })
    return
  }
  const dir = mkdtempSync(join(tmpdir(), 'prsm-bench-api-'))
  process.once('disconnect', () => {
    rmSync(dir, { recursive: true, force: true })
    process.exit(0)
  })
  const { ApiAuth, BufferedDestination, createApiServer, createLogger, nodeRoutes } = await import(
    '@prsm/node'
  )
  const auth = new ApiAuth(
    {},
    { path: join(dir, 'api-keys.db'), signingSecret: randomBytes(32), issuer: 'bench' },
  )
  const admin = await auth.authenticate(`Bearer ${auth.localToken}`)
  // a user key with a limit high enough never to trip during the run (the check still runs)
  const { key } = auth.createKey(admin, { name: 'bench', role: 'user', rateLimitPerMinute: 1_000_000_000 })
  const app = await createApiServer(
    // the request log is written by the node's own logger (redaction included) through the same
    // buffered destination as the node's stdout log, here to /dev/null
    {
      logger: createLogger({
        level: process.env.BENCH_API_LOG_LEVEL ?? 'info',
        destination: new BufferedDestination('/dev/null'),
      }),
      guard: auth,
    },
    { host: '127.0.0.1', port: 0 },
    [nodeRoutes({ status: () => ({}), peers: () => [], findOffers: async () => [] })],
  )
  send({
    port: (app.server.address() as { port: number }).port,
    path: '/api/v1/offers?dht=false&timeoutMs=0',
    headers: { authorization: `Bearer ${key}` },
  })
}

interface Figures {
  reqPerSec: number
  p50Ms: number
  p99Ms: number
  /** The server's CPU time (user + system, all its threads) per answered request. */
  cpuUsPerReq: number
  errors: number
  non2xx: number
}

interface Target {
  url: string
  headers: Record<string, string>
  child: ChildProcess
}

async function startServer(kind: Kind): Promise<Target> {
  const child: ChildProcess = fork(fileURLToPath(import.meta.url), ['--serve', kind], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  const target = await new Promise<{ port: number; path: string; headers: Record<string, string> }>(
    (resolve, reject) => {
      child.once('message', (m) => resolve(m as never))
      child.once('exit', (code) => reject(new Error(`${kind} server exited with ${code}`)))
    },
  )
  const url = `http://127.0.0.1:${target.port}${target.path}`
  const probe = await fetch(url, { headers: target.headers })
  if (probe.status !== 200) throw new Error(`${kind} answered ${probe.status}: ${await probe.text()}`)
  return { url, headers: target.headers, child }
}

function cpuOf(child: ChildProcess): Promise<number> {
  return new Promise((resolve) => {
    const onMessage = (m: { cpu?: NodeJS.CpuUsage }) => {
      if (m.cpu === undefined) return
      child.off('message', onMessage)
      resolve(m.cpu.user + m.cpu.system)
    }
    child.on('message', onMessage)
    child.send('cpu')
  })
}

async function run(target: Target, seconds: number): Promise<Figures> {
  const cpuBefore = await cpuOf(target.child)
  const r = await autocannon({
    url: target.url,
    headers: target.headers,
    connections: CONNECTIONS,
    duration: seconds,
  })
  const cpu = (await cpuOf(target.child)) - cpuBefore
  return {
    reqPerSec: Math.round(r.requests.average),
    p50Ms: r.latency.p50,
    p99Ms: r.latency.p99,
    cpuUsPerReq: Number((cpu / Math.max(1, r.requests.total)).toFixed(2)),
    errors: r.errors + r.timeouts,
    non2xx: r.non2xx,
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number

/**
 * The three servers run side by side; ROUNDS rounds each measure bare, fastify and prsm in turn
 * (in a rotating order), so a change in the machine's load hits all three alike. Figures are the
 * medians of the rounds.
 */
async function measureAll(): Promise<Record<Kind, Figures>> {
  const kinds: Kind[] = ['bare', 'fastify', 'prsm']
  const targets = await Promise.all(kinds.map(startServer))
  try {
    for (const t of targets) await run(t, 1) // warm-up (JIT, connections)
    const rounds: Record<Kind, Figures[]> = { bare: [], fastify: [], prsm: [] }
    for (let i = 0; i < ROUNDS; i++) {
      // the order rotates, so no server always runs right after another's load
      for (let j = 0; j < kinds.length; j++) {
        const k = (i + j) % kinds.length
        rounds[kinds[k] as Kind].push(await run(targets[k] as Target, SECONDS))
      }
    }
    const summary = (fs: Figures[]): Figures => ({
      reqPerSec: median(fs.map((f) => f.reqPerSec)),
      p50Ms: median(fs.map((f) => f.p50Ms)),
      p99Ms: median(fs.map((f) => f.p99Ms)),
      cpuUsPerReq: median(fs.map((f) => f.cpuUsPerReq)),
      errors: fs.reduce((a, f) => a + f.errors, 0),
      non2xx: fs.reduce((a, f) => a + f.non2xx, 0),
    })
    return { bare: summary(rounds.bare), fastify: summary(rounds.fastify), prsm: summary(rounds.prsm) }
  } finally {
    for (const t of targets) t.child.kill()
  }
}

if (process.argv[2] === '--serve') {
  await serve(process.argv[3] as Kind)
} else {
  const loadBefore = loadavg()[0] as number
  const { bare, fastify, prsm } = await measureAll()
  const ratio = (a: Figures, b: Figures) => Number((a.reqPerSec / b.reqPerSec).toFixed(3))
  const figures = {
    cpus: availableParallelism(),
    // other work on the machine shifts all figures: the ratios of interleaved rounds hold up best
    loadAverage1m: [Number(loadBefore.toFixed(2)), Number((loadavg()[0] as number).toFixed(2))],
    seconds: SECONDS,
    rounds: ROUNDS,
    connections: CONNECTIONS,
    bare,
    fastify,
    prsm,
    fastifyVsBare: ratio(fastify, bare),
    frameworkOverhead: Number((1 - ratio(fastify, bare)).toFixed(3)),
    prsmVsBare: ratio(prsm, bare),
    prsmVsFastify: ratio(prsm, fastify),
    // CPU per request depends less on where the scheduler puts the processes than req/s does:
    // how much more of it PRSM's chain takes than a bare server
    prsmCpuVsBare: Number((prsm.cpuUsPerReq / bare.cpuUsPerReq).toFixed(2)),
    targets: {
      prsmVsBareAtLeast: 0.5,
      frameworkOverheadAtMost: 0.1,
      prsmVsBareMet: ratio(prsm, bare) >= 0.5,
      frameworkOverheadMet: 1 - ratio(fastify, bare) <= 0.1,
    },
  }
  const row = (name: string, f: Figures) =>
    console.log(
      `${name.padEnd(10)} ${String(f.reqPerSec).padStart(9)} req/s   p50 ${String(f.p50Ms).padStart(4)} ms   p99 ${String(f.p99Ms).padStart(4)} ms   server CPU ${f.cpuUsPerReq.toFixed(1).padStart(5)} µs/req   errors ${f.errors + f.non2xx}`,
    )
  console.log(
    `PRSM API chain — autocannon, ${CONNECTIONS} connections, ${ROUNDS} rounds × ${SECONDS} s each (medians), loopback, ${figures.cpus} CPUs, load ${figures.loadAverage1m.join(' → ')}`,
  )
  row('bare', bare)
  row('fastify', fastify)
  row('prsm', prsm)
  console.log(
    `fastify/bare ${figures.fastifyVsBare} (overhead ${figures.frameworkOverhead}, target ≤ 0.1)   prsm/bare ${figures.prsmVsBare} (target ≥ 0.5)   prsm/fastify ${figures.prsmVsFastify}   CPU per request prsm/bare ${figures.prsmCpuVsBare}`,
  )
  console.log(JSON.stringify(figures))
}
