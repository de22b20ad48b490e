import type { Command } from 'commander'
import { callNode } from '../client.ts'
import { resolveDataDir } from '../data-dir.ts'
import { printJson } from '../output.ts'

interface Flags {
  dataDir?: string
  json?: boolean
}

/** `prsm content add|get|stat|pin|unpin|pins|gc|usage`: thin clients of the node's content API. */
export function registerContentCommands(program: Command): void {
  const content = program.command('content').description('add, fetch and pin content (IPFS)')
  const common = (cmd: Command): Command =>
    cmd
      .option('--data-dir <dir>', 'data directory (default: $PRSM_DATA_DIR or ~/.prsm)')
      .option('--json', 'print JSON')

  common(content.command('add').argument('<file>').description('import a file; prints its CID')).action(
    async (file: string, flags: Flags) => {
      const { createReadStream } = await import('node:fs')
      const { stat } = await import('node:fs/promises')
      const { Readable } = await import('node:stream')
      const { callNodeStream } = await import('../client.ts')
      const { ProgressBar } = await import('../progress.ts')
      const size = (await stat(file)).size
      const bar = new ProgressBar('add', size)
      let sent = 0
      const source = createReadStream(file, { highWaterMark: 1024 * 1024 })
      source.on('data', (chunk) => {
        sent += chunk.length
        bar.update(sent)
      })
      const res = await callNodeStream(resolveDataDir(flags.dataDir), '/api/v1/content', {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream' },
        body: Readable.toWeb(source) as ReadableStream,
      })
      const added = (await res.json()) as { cid: string; size: number }
      bar.done()
      if (flags.json === true) printJson(added)
      else process.stdout.write(`${added.cid}\n`)
    },
  )

  common(
    content
      .command('get')
      .argument('<cid>')
      .requiredOption('-o, --output <file>', 'where to write the file')
      .description('fetch content by CID (from this node or the network) into a file'),
  ).action(async (cid: string, flags: Flags & { output: string }) => {
    const { createWriteStream } = await import('node:fs')
    const { rename } = await import('node:fs/promises')
    const { Readable, Transform } = await import('node:stream')
    const { pipeline } = await import('node:stream/promises')
    const { createHash } = await import('node:crypto')
    const { callNodeStream } = await import('../client.ts')
    const { ProgressBar } = await import('../progress.ts')
    const started = Date.now()
    const res = await callNodeStream(
      resolveDataDir(flags.dataDir),
      `/api/v1/content/${encodeURIComponent(cid)}`,
    )
    const size = Number(res.headers.get('content-length') ?? Number.NaN)
    const bar = new ProgressBar('get', Number.isFinite(size) ? size : undefined)
    const hash = createHash('sha256')
    let received = 0
    const tmp = `${flags.output}.part`
    await pipeline(
      Readable.fromWeb(res.body as never),
      new Transform({
        transform(chunk: Buffer, _enc, done) {
          received += chunk.length
          hash.update(chunk)
          bar.update(received)
          done(null, chunk)
        },
      }),
      createWriteStream(tmp),
    )
    bar.done()
    await rename(tmp, flags.output)
    const result = {
      cid,
      output: flags.output,
      size: received,
      sha256: hash.digest('hex'),
      ms: Date.now() - started,
    }
    if (flags.json === true) printJson(result)
    else process.stdout.write(`${flags.output}: ${received} bytes, sha256 ${result.sha256}\n`)
  })

  common(
    content.command('stat').argument('<cid>').description('size, kind, local/pinned state and usage'),
  ).action(async (cid: string, flags: Flags) => {
    const stat = await callNode<Record<string, unknown>>(
      resolveDataDir(flags.dataDir),
      `/api/v1/content/${encodeURIComponent(cid)}/stat`,
    )
    if (flags.json === true) return printJson(stat)
    const usage = stat.usage as { serves: number; fetches: number }
    process.stdout.write(
      `cid      ${stat.cid}\ntype     ${stat.type}\nsize     ${stat.size}\nlocal    ${stat.local}\npinned   ${stat.pinned}\nusage    ${usage.serves} serves, ${usage.fetches} fetches\n`,
    )
  })

  common(
    content.command('pin').argument('<cid>').description('pin recursively (fetching what is missing)'),
  ).action(async (cid: string, flags: Flags) => {
    const r = await callNode<{ cid: string; blocks: number }>(
      resolveDataDir(flags.dataDir),
      `/api/v1/content/${encodeURIComponent(cid)}/pin`,
      { method: 'POST', signal: AbortSignal.timeout(24 * 3600_000) },
    )
    if (flags.json === true) printJson(r)
    else process.stdout.write(`pinned ${r.cid}\n`)
  })
  common(
    content.command('unpin').argument('<cid>').description('remove a pin (blocks go at the next gc)'),
  ).action(async (cid: string, flags: Flags) => {
    const r = await callNode<{ cid: string }>(
      resolveDataDir(flags.dataDir),
      `/api/v1/content/${encodeURIComponent(cid)}/pin`,
      { method: 'DELETE' },
    )
    if (flags.json === true) printJson(r)
    else process.stdout.write(`unpinned ${r.cid}\n`)
  })
  common(content.command('pins').description('list pinned CIDs')).action(async (flags: Flags) => {
    const r = await callNode<{ pins: string[] }>(resolveDataDir(flags.dataDir), '/api/v1/pins')
    if (flags.json === true) printJson(r.pins)
    else process.stdout.write(r.pins.map((p) => `${p}\n`).join(''))
  })
  common(
    content
      .command('replicate')
      .argument('<cid>')
      .option('--replicas <n>', 'providers to hold the content', '3')
      .option('--days <n>', 'how long the providers keep it', '30')
      .description('ask providers offering storage:pin to hold the content; prints their signed receipts'),
  ).action(async (cid: string, flags: Flags & { replicas: string; days: string }) => {
    const replicas = Number(flags.replicas)
    const durationMs = Math.round(Number(flags.days) * 24 * 3600_000)
    const r = await callNode<ReplicationState>(
      resolveDataDir(flags.dataDir),
      `/api/v1/content/${encodeURIComponent(cid)}/replicate`,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ replicas, durationMs }),
        signal: AbortSignal.timeout(24 * 3600_000),
      },
    )
    if (flags.json === true) printJson(r)
    else process.stdout.write(replicasText(r))
  })
  common(
    content
      .command('replicas')
      .argument('<cid>')
      .option('--check', 'spot-check every holder now (and replace those that fail)')
      .description('holders of the content, their receipts and the last spot check'),
  ).action(async (cid: string, flags: Flags & { check?: boolean }) => {
    const dir = resolveDataDir(flags.dataDir)
    const path = `/api/v1/content/${encodeURIComponent(cid)}`
    if (flags.check === true) {
      await callNode(dir, `${path}/spot-check`, { method: 'POST', signal: AbortSignal.timeout(3600_000) })
    }
    const r = await callNode<ReplicationState>(dir, `${path}/replicas`)
    if (flags.json === true) printJson(r)
    else process.stdout.write(replicasText(r))
  })
  common(content.command('gc').description('delete blocks not reachable from a pin')).action(
    async (flags: Flags) => {
      const r = await callNode<{ removed: number }>(resolveDataDir(flags.dataDir), '/api/v1/content/gc', {
        method: 'POST',
        signal: AbortSignal.timeout(3600_000),
      })
      if (flags.json === true) printJson(r)
      else process.stdout.write(`removed ${r.removed} blocks\n`)
    },
  )
  common(content.command('usage').argument('[cid]').description('serve and fetch counters per CID')).action(
    async (cid: string | undefined, flags: Flags) => {
      const dir = resolveDataDir(flags.dataDir)
      const r =
        cid === undefined
          ? (await callNode<{ usage: unknown[] }>(dir, '/api/v1/usage')).usage
          : await callNode<unknown>(dir, `/api/v1/usage/${encodeURIComponent(cid)}`)
      printJson(r)
    },
  )
}

interface ReplicationState {
  cid: string
  replicas: number
  holders: Array<{
    holder: string
    price: string
    unit: string
    expiry: number
    size: number
    lastCheckedAt?: number
  }>
  failed: string[]
}

function replicasText(r: ReplicationState): string {
  const lines = [`${r.cid}: ${r.holders.length} of ${r.replicas} replicas`]
  for (const h of r.holders) {
    const checked =
      h.lastCheckedAt === undefined ? 'not checked yet' : `checked ${new Date(h.lastCheckedAt).toISOString()}`
    lines.push(
      `  ${h.holder}  ${h.size} bytes  price ${h.price} wei/${h.unit}  until ${new Date(h.expiry).toISOString()}  ${checked}`,
    )
  }
  for (const f of r.failed) lines.push(`  ${f}  dropped (failed a spot check)`)
  return `${lines.join('\n')}\n`
}
