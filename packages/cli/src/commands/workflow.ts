import { readFile } from 'node:fs/promises'
import { formatFtns, isErrorCode, PrsmError } from '@prsm/core'
import type { Command } from 'commander'
import { callNode, callNodeStream } from '../client.ts'
import { resolveDataDir } from '../data-dir.ts'
import { printJson, table } from '../output.ts'

interface RunFlags {
  budget?: string
  query?: string
  stream?: boolean
  dataDir?: string
  json?: boolean
}

interface Summary {
  runId: string
  status: string
  query: string
  steps: { done: number; running: string[] }
  traceCid?: string
  error?: { code: string; message: string }
  result?: RunResultJson
}

interface RunResultJson {
  answer: string
  traceCid: string
  cost: {
    perProvider: Array<{ provider: string; paid: string; fee: string }>
    royalties: Array<{ creator: string; amount: string }>
    networkFee: string
    total: string
  }
  steps: Array<{ step: string; provider: string; agreeing: string[] }>
}

type Event = { type: string; [k: string]: unknown }

const short = (peer: string) => (peer.length > 16 ? `…${peer.slice(-10)}` : peer)
const ftns = (wei: string) => `${formatFtns(BigInt(wei))} FTNS`

/**
 * Follows a run's server-sent events: progress per step on stderr (chunks of streamed steps on
 * stdout with `stream`), then the answer on stdout and the cost breakdown and trace CID on stderr.
 * A failed run throws its PrsmError.
 */
export async function followRun(dataDir: string, runId: string, flags: RunFlags): Promise<void> {
  const res = await callNodeStream(dataDir, `/api/v1/workflows/${encodeURIComponent(runId)}/events`)
  const decoder = new TextDecoder()
  let buffer = ''
  let result: RunResultJson | undefined
  let failure: { code: string; message: string } | undefined
  const say = (line: string) => {
    if (flags.json !== true) process.stderr.write(`${line}\n`)
  }
  const handle = (block: string) => {
    const data = block
      .split('\n')
      .filter((l) => l.startsWith('data: '))
      .map((l) => l.slice(6))
      .join('\n')
    if (data === '') return
    const e = JSON.parse(data) as Event
    switch (e.type) {
      case 'started':
        say(`run ${e.runId}: ${(e.steps as string[]).length} steps, workflow ${e.workflow}`)
        break
      case 'step-started':
        say(
          `  ▶ ${e.step} on ${(e.providers as string[]).map(short).join(', ')}${(e.attempt as number) > 1 ? ` (attempt ${e.attempt})` : ''}`,
        )
        break
      case 'step-chunk':
        if (flags.stream === true && flags.json !== true) process.stdout.write(String(e.text))
        break
      case 'step-failed':
        say(
          `  ✗ ${e.step} on ${short(String(e.provider))}: ${e.code} ${e.message}${e.rerouting ? ' — rerouting' : ''}`,
        )
        break
      case 'step-done':
        say(
          `  ✓ ${e.step} by ${(e.agreeing as string[]).map(short).join(', ')} in ${e.ms} ms, paid ${ftns(String(e.paid))}, output ${e.output}`,
        )
        break
      case 'warning':
        say(`  ! ${e.code}: ${e.message}`)
        break
      case 'done':
        result = e.result as RunResultJson
        break
      case 'error':
        failure = e.error as { code: string; message: string }
        break
    }
  }
  for await (const part of res.body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(part, { stream: true })
    let end = buffer.indexOf('\n\n')
    while (end >= 0) {
      handle(buffer.slice(0, end))
      buffer = buffer.slice(end + 2)
      end = buffer.indexOf('\n\n')
    }
  }
  if (result === undefined) {
    const e = failure ?? { code: 'INTERNAL', message: 'the event stream ended without a result' }
    throw new PrsmError(isErrorCode(e.code) ? e.code : 'INTERNAL', e.message)
  }
  if (flags.json === true) {
    printJson(result)
    return
  }
  if (flags.stream === true) process.stdout.write('\n')
  process.stdout.write(result.answer.endsWith('\n') ? result.answer : `${result.answer}\n`)
  printCost(result)
}

function printCost(result: RunResultJson): void {
  const rows = result.cost.perProvider.map((p) => [short(p.provider), ftns(p.paid), ftns(p.fee)])
  for (const r of result.cost.royalties) rows.push([`royalty ${r.creator}`, ftns(r.amount), ''])
  process.stderr.write(`\ncost\n${table(['to', 'paid', 'network fee'], rows)}\n`)
  process.stderr.write(`network fee ${ftns(result.cost.networkFee)}, total ${ftns(result.cost.total)}\n`)
  process.stderr.write(`trace ${result.traceCid}\n`)
}

/** `prsm workflow run FILE [--budget FTNS]`, `prsm workflow status ID`, `prsm workflow cancel ID`, `prsm workflow list`. */
export function registerWorkflowCommands(program: Command): void {
  const workflow = program.command('workflow').description('run workflows (DAGs of steps) on the network')
  workflow
    .command('run <file>')
    .description(
      'run a workflow file (JSON or YAML): progress per step, the answer, the cost and the trace CID',
    )
    .option('--budget <ftns>', 'the most the whole run may spend, in FTNS')
    .option('--query <text>', 'the question the workflow answers (default: its own query)')
    .option('--stream', 'print the output of streamed steps as it arrives')
    .option('--data-dir <dir>', 'data directory (default: $PRSM_DATA_DIR or ~/.prsm)')
    .option('--json', 'print the result as JSON')
    .action(async (file: string, flags: RunFlags) => {
      let text: string
      try {
        text = await readFile(file, 'utf8')
      } catch (cause) {
        throw new PrsmError('VALIDATION_FAILED', `cannot read ${file}: ${(cause as Error).message}`)
      }
      const dataDir = resolveDataDir(flags.dataDir)
      const run = await callNode<Summary>(dataDir, '/api/v1/workflows', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          workflow: text,
          ...(flags.budget === undefined ? {} : { budget: flags.budget }),
          ...(flags.query === undefined ? {} : { query: flags.query }),
        }),
      })
      await followRun(dataDir, run.runId, flags)
    })
  workflow
    .command('status <id>')
    .description('the status of a run (and its result once done)')
    .option('--data-dir <dir>', 'data directory (default: $PRSM_DATA_DIR or ~/.prsm)')
    .option('--json', 'print JSON')
    .action(async (id: string, flags: RunFlags) => {
      const s = await callNode<Summary>(
        resolveDataDir(flags.dataDir),
        `/api/v1/workflows/${encodeURIComponent(id)}`,
      )
      if (flags.json === true) return printJson(s)
      process.stdout.write(
        `${s.runId} ${s.status}: ${s.steps.done} steps done${s.steps.running.length > 0 ? `, running ${s.steps.running.join(', ')}` : ''}\n`,
      )
      if (s.error !== undefined) process.stdout.write(`error ${s.error.code}: ${s.error.message}\n`)
      if (s.traceCid !== undefined) process.stdout.write(`trace ${s.traceCid}\n`)
    })
  workflow
    .command('cancel <id>')
    .description('cancel a run: steps in flight stop and nothing more is paid')
    .option('--data-dir <dir>', 'data directory (default: $PRSM_DATA_DIR or ~/.prsm)')
    .option('--json', 'print JSON')
    .action(async (id: string, flags: RunFlags) => {
      const s = await callNode<Summary>(
        resolveDataDir(flags.dataDir),
        `/api/v1/workflows/${encodeURIComponent(id)}/cancel`,
        {
          method: 'POST',
        },
      )
      if (flags.json === true) return printJson(s)
      process.stdout.write(`${s.runId} ${s.status}\n`)
    })
  workflow
    .command('list')
    .description('runs this node knows (running and recently finished)')
    .option('--data-dir <dir>', 'data directory (default: $PRSM_DATA_DIR or ~/.prsm)')
    .option('--json', 'print JSON')
    .action(async (flags: RunFlags) => {
      const { runs } = await callNode<{ runs: Summary[] }>(resolveDataDir(flags.dataDir), '/api/v1/workflows')
      if (flags.json === true) return printJson(runs)
      process.stdout.write(
        `${table(
          ['run', 'status', 'steps done', 'trace'],
          runs.map((r) => [r.runId, r.status, String(r.steps.done), r.traceCid ?? '']),
        )}\n`,
      )
    })
}
