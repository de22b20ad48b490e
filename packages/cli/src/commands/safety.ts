import { readFile } from 'node:fs/promises'
import { PrsmError } from '@prsm/core'
import type { Assessment, BreakerStatus, EvalReport } from '@prsm/node'
import type { Command } from 'commander'
import { EXIT, ExitRequest, printJson, table } from '../output.ts'
import { type CommonFlags, dataDirOption, get, jsonOption, post } from './ledger-common.ts'
import { addHaltCommands } from './safety-halt.ts'

/** Thresholds `prsm safety eval` holds the tier-1 corpora to (the issue's acceptance). */
export const EVAL_MIN_RECALL = 0.95
export const EVAL_MAX_FALSE_POSITIVE_RATE = 0.02

interface AssessFlags extends CommonFlags {
  file?: string
  local?: boolean
}

/** `prsm safety assess|eval|breakers` (and halt|resume|status from safety-halt.ts). */
export function registerSafetyCommands(program: Command): void {
  const safety = program.command('safety').description('circuit breakers, safety policy, emergency halts')
  safety
    .command('assess')
    .description('assess a text with the node (tiers 1-3 under its policy); exit 1 when it would be blocked')
    .argument('[text]', 'the text (or use --file)')
    .option('--file <path>', 'read the text from a file')
    .option('--local', 'run tier 1 in this process with the default policy (no node needed)')
    .addOption(dataDirOption())
    .addOption(jsonOption())
    .action(assessCommand)
  safety
    .command('eval')
    .description(
      `run tier 1 over labelled corpora (JSONL: label, category, text); exit 1 below ${EVAL_MIN_RECALL * 100}% recall or above ${EVAL_MAX_FALSE_POSITIVE_RATE * 100}% false positives`,
    )
    .option('--corpus <dir>', 'directory of *.jsonl corpora (default: the corpora kept in the repository)')
    .option('--show <n>', 'list up to n misses and false positives', '10')
    .addOption(jsonOption())
    .action(evalCommand)
  safety
    .command('breakers')
    .description('circuit breakers per provider and per model: state, failure and violation rates')
    .addOption(dataDirOption())
    .addOption(jsonOption())
    .action(breakersCommand)
  addHaltCommands(safety)
}

async function assessCommand(text: string | undefined, flags: AssessFlags): Promise<void> {
  if ((text === undefined) === (flags.file === undefined)) {
    throw new PrsmError('VALIDATION_FAILED', 'give the text as an argument or with --file, not both')
  }
  const input = flags.file === undefined ? (text as string) : await readFile(flags.file, 'utf8')
  let a: Assessment
  if (flags.local) {
    const { assessText, DEFAULT_POLICY } = await import('@prsm/node')
    a = assessText(input, DEFAULT_POLICY)
  } else {
    a = await post<Assessment>(flags, '/api/v1/safety/assess', { text: input })
  }
  if (flags.json) printJson(a)
  else {
    process.stdout.write(
      `threat level ${a.threatLevel}  score ${a.score}  ${a.blocked ? 'BLOCKED' : 'allowed'}\n`,
    )
    if (a.violations.length > 0) {
      process.stdout.write(
        `${table(
          ['category', 'rule', 'severity', 'span'],
          a.violations.map((v) => [v.category, v.rule, String(v.severity), v.span ? v.span.join('-') : '']),
        )}\n`,
      )
      process.stdout.write(`actions: ${a.actions.map((x) => `${x.category}=${x.action}`).join(', ')}\n`)
    }
    if (a.redacted !== undefined) process.stdout.write(`redacted: ${a.redacted}\n`)
  }
  if (a.blocked) throw new ExitRequest(EXIT.FAILURE)
}

async function evalCommand(flags: { corpus?: string; show: string; json?: boolean }): Promise<void> {
  const { evaluateCorpus } = await import('@prsm/node')
  const r: EvalReport = await evaluateCorpus(flags.corpus)
  const pass = r.recall >= EVAL_MIN_RECALL && r.falsePositiveRate <= EVAL_MAX_FALSE_POSITIVE_RATE
  if (flags.json) printJson({ ...r, pass })
  else {
    const pct = (x: number) => `${(x * 100).toFixed(2)}%`
    const show = Number(flags.show) || 0
    process.stdout.write(`corpus ${r.corpus}\n`)
    process.stdout.write(
      `recall ${pct(r.recall)} on ${r.malicious} malicious cases (need >= ${pct(EVAL_MIN_RECALL)})\n`,
    )
    process.stdout.write(
      `false positives ${pct(r.falsePositiveRate)} on ${r.benign} benign cases (need <= ${pct(EVAL_MAX_FALSE_POSITIVE_RATE)})\n`,
    )
    process.stdout.write(
      `${table(
        ['label/category', 'cases', 'flagged'],
        Object.entries(r.byCategory).map(([k, v]) => [k, String(v.cases), String(v.flagged)]),
      )}\n`,
    )
    for (const m of r.missed.slice(0, show))
      process.stdout.write(`missed ${m.id} [${m.category}] ${m.text.slice(0, 100)}\n`)
    for (const f of r.falsePositives.slice(0, show)) {
      process.stdout.write(
        `false positive ${f.id} [${f.category}] ${f.rules.join(',')}: ${f.text.slice(0, 100)}\n`,
      )
    }
    process.stdout.write(pass ? 'PASS\n' : 'FAIL\n')
  }
  if (!pass) throw new ExitRequest(EXIT.FAILURE)
}

async function breakersCommand(flags: CommonFlags): Promise<void> {
  const { breakers } = await get<{ breakers: BreakerStatus[] }>(flags, '/api/v1/safety/breakers')
  if (flags.json) return printJson({ breakers })
  if (breakers.length === 0) {
    process.stdout.write('no breakers yet (no outcomes recorded)\n')
    return
  }
  const rate = (x: number) => `${(x * 100).toFixed(1)}%`
  process.stdout.write(
    `${table(
      ['breaker', 'state', 'failures', 'violations', 'samples', 'remote open'],
      breakers.map((b) => [
        b.key,
        b.state,
        rate(b.failureRate),
        rate(b.violationRate),
        String(b.samples),
        String(b.remoteOpen),
      ]),
    )}\n`,
  )
}
