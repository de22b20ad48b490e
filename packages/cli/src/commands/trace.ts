import { formatFtns, PrsmError } from '@prsm/core'
import type { Command } from 'commander'
import { callNode } from '../client.ts'
import { resolveDataDir } from '../data-dir.ts'
import { printJson } from '../output.ts'

interface Flags {
  dataDir?: string
  json?: boolean
  reexecute?: boolean
}

interface StepJson {
  step: string
  kind: string
  capability: string | null
  provider: string
  agreeing: string[]
  output: string
  outputHash: string
  parents: string[]
  startedAt: number
  finishedAt: number
  cost: { paid: string; royalties: Array<{ creator: string; amount: string }> }
  failures: Array<{ provider: string; code: string }>
  compression: Array<{ input: number; ratio: number; method: string; score: number }>
}

interface TraceJson {
  root: {
    query: string
    workflow: string
    output: string
    signer: string
    startedAt: number
    finishedAt: number
    cost: { total: string; networkFee: string; royalties: Array<{ creator: string; amount: string }> }
  }
  steps: Array<{ cid: string; record: StepJson }>
}

interface Verdict {
  ok: boolean
  root: string
  signer: string
  steps: Array<{ step: string; cid: string; provider: string; reexecuted: string; problems: string[] }>
  problems: string[]
}

/** The steps as a tree: each step under the steps it read from (roots first, in trace order). */
export function traceTree(trace: TraceJson): string {
  const byCid = new Map(trace.steps.map((s) => [s.cid, s.record]))
  const children = new Map<string, string[]>()
  for (const s of trace.steps) {
    for (const p of s.record.parents) children.set(p, [...(children.get(p) ?? []), s.cid])
  }
  const t0 = trace.root.startedAt
  const lines: string[] = []
  const line = (cid: string, depth: number, seen: Set<string>) => {
    const r = byCid.get(cid)
    if (r === undefined) return
    const who = r.agreeing.length > 1 ? `${r.agreeing.length} agreeing` : `…${r.provider.slice(-10)}`
    const extra = [
      `+${r.startedAt - t0}–${r.finishedAt - t0} ms`,
      BigInt(r.cost.paid) > 0n ? `paid ${formatFtns(BigInt(r.cost.paid))}` : '',
      r.failures.length > 0
        ? `rerouted from ${r.failures.map((f) => `…${f.provider.slice(-10)} ${f.code}`).join(', ')}`
        : '',
      r.compression.length > 0
        ? `compressed ${r.compression.map((c) => `${c.ratio.toFixed(2)} (${c.method} ${c.score.toFixed(2)})`).join(', ')}`
        : '',
    ].filter((x) => x !== '')
    lines.push(
      `${'  '.repeat(depth)}${depth > 0 ? '└ ' : ''}${r.step} [${r.kind}${r.capability ? ` ${r.capability}` : ''}] by ${who} ${extra.join(', ')} → ${r.output}`,
    )
    if (seen.has(cid)) return
    seen.add(cid)
    for (const child of children.get(cid) ?? []) line(child, depth + 1, seen)
  }
  const seen = new Set<string>()
  for (const s of trace.steps) if (s.record.parents.length === 0) line(s.cid, 0, seen)
  return lines.join('\n')
}

/** `prsm trace show CID`, `prsm trace verify CID`. */
export function registerTraceCommands(program: Command): void {
  const trace = program
    .command('trace')
    .description('signed reasoning traces (dag-cbor DAGs in content storage)')
  trace
    .command('show <cid>')
    .description('print a trace as a tree of steps (fetched from the network if needed)')
    .option('--data-dir <dir>', 'data directory (default: $PRSM_DATA_DIR or ~/.prsm)')
    .option('--json', 'print the records as JSON')
    .action(async (cid: string, flags: Flags) => {
      const t = await callNode<TraceJson>(
        resolveDataDir(flags.dataDir),
        `/api/v1/traces/${encodeURIComponent(cid)}`,
      )
      if (flags.json === true) return printJson(t)
      const r = t.root
      process.stdout.write(
        `trace ${cid}\nquery: ${r.query}\nsigned by ${r.signer}\nworkflow ${r.workflow}\n` +
          `${traceTree(t)}\nanswer ${r.output}\ncost ${formatFtns(BigInt(r.cost.total))} FTNS (network fee ${formatFtns(BigInt(r.cost.networkFee))}, royalties ${r.cost.royalties.map((x) => `${x.creator} ${formatFtns(BigInt(x.amount))}`).join(', ') || 'none'}), ${r.finishedAt - r.startedAt} ms\n`,
      )
    })
  trace
    .command('verify <cid>')
    .description('check every signature, hash and link and re-execute deterministic steps here')
    .option('--no-reexecute', 'skip re-executing deterministic steps')
    .option('--data-dir <dir>', 'data directory (default: $PRSM_DATA_DIR or ~/.prsm)')
    .option('--json', 'print the verdict as JSON')
    .action(async (cid: string, flags: Flags) => {
      const v = await callNode<Verdict>(
        resolveDataDir(flags.dataDir),
        `/api/v1/traces/${encodeURIComponent(cid)}/verify?reexecute=${flags.reexecute === false ? 'false' : 'true'}`,
        { signal: AbortSignal.timeout(300_000) },
      )
      if (flags.json === true) printJson(v)
      else {
        for (const s of v.steps) {
          process.stdout.write(
            `${s.problems.length === 0 ? '✓' : '✗'} ${s.step} (re-executed: ${s.reexecuted})${s.problems.map((p) => `\n    ${p}`).join('')}\n`,
          )
        }
        for (const p of v.problems) process.stdout.write(`✗ ${p}\n`)
        process.stdout.write(`${v.ok ? 'verified' : 'NOT verified'}: trace ${cid} signed by ${v.signer}\n`)
      }
      if (!v.ok) {
        throw new PrsmError('TRACE_INVALID', `trace ${cid} failed verification`, {
          details: {
            problems: [...v.problems, ...v.steps.flatMap((s) => s.problems.map((p) => `${s.step}: ${p}`))],
          },
        })
      }
    })
}
