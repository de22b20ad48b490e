import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { compareScenarios, formatCompare, formatCompareMarkdown } from './compare.ts'
import { runSimulation } from './engine.ts'
import { fixed, round } from './format.ts'
import { summaryJson, writeRun } from './output.ts'
import { baselineOf, loadScenario, SCENARIO_NAMES, ScenarioError, withoutMechanisms } from './scenario.ts'

const USAGE = `Usage: prsm sim <command> [options]

Commands:
  run       Run one scenario and write summary.json, series.csv and SVG plots
            --scenario NAME|FILE.json  (required; see "prsm sim list")
            --agents N   --days D   --seed S (default 1)
            --out DIR    (default sim-out/NAME-aN-dD-sS)
            --baseline   turn every mechanism off (prototype-like rules)
            --disable m1,m2  turn some mechanisms off (qualityGate, stakeGate, qualityRewards,
                         reputationRouting, stakeWeightedReview, stabiliser)
            --json       print the summary as JSON instead of a table
  compare   Run every scenario over K seeds and print mean ± 95% interval beside the assessment
            --seeds K (default 20)   --agents N (default 40)   --days D (default 30)
            --scenarios a,b,...   --baseline (add mechanisms-off columns)   --disable m1,m2
            --json | --markdown
  list      List the shipped scenarios
`

/** Where the CLI writes; tests pass their own. */
export interface SimIo {
  readonly out: (text: string) => void
  readonly err: (text: string) => void
}

const STDIO: SimIo = {
  out: (text) => {
    process.stdout.write(text)
  },
  err: (text) => {
    process.stderr.write(text)
  },
}

function fail(io: SimIo, message: string): number {
  io.err(`prsm sim: ${message}\n\n${USAGE}`)
  return 2
}

function list(value: string | undefined): string[] {
  return value === undefined ? [] : value.split(',').filter((x) => x.length > 0)
}

function int(value: string | undefined, name: string, min: number): number | string {
  if (value === undefined) return Number.NaN
  if (!/^\d+$/.test(value) || Number(value) < min || !Number.isSafeInteger(Number(value))) {
    return `--${name} must be an integer ≥ ${min}, got ${JSON.stringify(value)}`
  }
  return Number(value)
}

async function run(args: string[], io: SimIo): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      scenario: { type: 'string' },
      agents: { type: 'string' },
      days: { type: 'string' },
      seed: { type: 'string' },
      out: { type: 'string' },
      json: { type: 'boolean', default: false },
      baseline: { type: 'boolean', default: false },
      disable: { type: 'string' },
    },
    strict: true,
    allowPositionals: false,
  })
  if (values.scenario === undefined) return fail(io, 'run needs --scenario')
  const agents = int(values.agents, 'agents', 1)
  const days = int(values.days, 'days', 1)
  const seed = values.seed === undefined ? 1 : int(values.seed, 'seed', 0)
  for (const v of [agents, days, seed]) if (typeof v === 'string') return fail(io, v)
  if ((seed as number) > 0xffffffff) return fail(io, '--seed must be below 2^32')
  let scenario = await loadScenario(values.scenario)
  if (values.baseline) scenario = baselineOf(scenario)
  const disabled = list(values.disable)
  scenario = withoutMechanisms(scenario, disabled)
  const opts = {
    seed: seed as number,
    ...(Number.isNaN(agents) ? {} : { agents: agents as number }),
    ...(Number.isNaN(days) ? {} : { days: days as number }),
  }
  const result = runSimulation(scenario, opts)
  const s = result.summary
  const dir = resolve(
    values.out ??
      join(
        'sim-out',
        `${scenario.name}${values.baseline ? '-baseline' : ''}${disabled.length > 0 ? `-without-${disabled.join('-')}` : ''}-a${s.agents}-d${s.days}-s${s.seed}`,
      ),
  )
  const files = await writeRun(dir, result, scenario)
  if (values.json) {
    io.out(summaryJson(s))
    return 0
  }
  const m = s.metrics
  io.out(
    [
      `scenario ${s.scenario}${values.baseline ? ' (baseline: mechanisms off)' : ''}${disabled.length > 0 ? ` (off: ${disabled.join(', ')})` : ''}: ${s.agents} agents × ${s.days} days, seed ${s.seed}`,
      `  Gini of balances      ${fixed(m.gini, 3)}`,
      `  quality               ${fixed(m.quality * 100, 1)}%  (contributions ${fixed(s.details.contributionQuality * 100, 1)}%, jobs ${fixed(s.details.jobQuality * 100, 1)}%)`,
      `  price stability       ${fixed(m.stability * 100, 1)}%  (price ${fixed(s.details.price.min, 3)}–${fixed(s.details.price.max, 3)}, final ${fixed(s.details.price.final, 3)})`,
      `  activity              ${fixed(m.activity * 100, 1)}% of agents active per day`,
      `  creators' share       ${fixed(m.creatorShare * 100, 1)}% of income`,
      `  Nakamoto (1/3 stake)  ${round(m.nakamoto, 0)}`,
      `  jobs ${s.details.jobsServed} served, ${s.details.jobsUnserved} unserved; contributions ${s.details.accepted} accepted, ${s.details.rejected} rejected (spam accepted ${s.details.spamAccepted}/${s.details.spamSubmitted})`,
      `  supply conserved      ${s.details.supplyConserved ? 'yes' : 'NO'}`,
      `wrote ${files.length} files to ${dir}`,
      '',
    ].join('\n'),
  )
  return 0
}

async function compare(args: string[], io: SimIo): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      seeds: { type: 'string' },
      agents: { type: 'string' },
      days: { type: 'string' },
      scenarios: { type: 'string' },
      baseline: { type: 'boolean', default: false },
      disable: { type: 'string' },
      json: { type: 'boolean', default: false },
      markdown: { type: 'boolean', default: false },
    },
    strict: true,
    allowPositionals: false,
  })
  const seeds = values.seeds === undefined ? 20 : int(values.seeds, 'seeds', 1)
  const agents = values.agents === undefined ? 40 : int(values.agents, 'agents', 1)
  const days = values.days === undefined ? 30 : int(values.days, 'days', 1)
  for (const v of [seeds, agents, days]) if (typeof v === 'string') return fail(io, v)
  const scenarios = values.scenarios === undefined ? [...SCENARIO_NAMES] : list(values.scenarios)
  const options = {
    seeds: seeds as number,
    agents: agents as number,
    days: days as number,
    scenarios,
    baseline: values.baseline,
    disable: list(values.disable),
  }
  const rows = await compareScenarios(options)
  if (values.json)
    io.out(
      `${JSON.stringify({ ...options, rows }, (_k, v: unknown) => (typeof v === 'number' ? round(v, 6) : v), 2)}\n`,
    )
  else if (values.markdown) io.out(formatCompareMarkdown(rows, options))
  else io.out(formatCompare(rows, options))
  return 0
}

/**
 * `prsm sim …`: `argv` is everything after `sim`. Returns the exit code (2 for bad arguments).
 * Output goes to stdout/stderr unless `stdio` says otherwise.
 */
export async function simCli(argv: string[], stdio: SimIo = STDIO): Promise<number> {
  const [command, ...rest] = argv
  try {
    switch (command) {
      case 'run':
        return await run(rest, stdio)
      case 'compare':
        return await compare(rest, stdio)
      case 'list':
        stdio.out(`${SCENARIO_NAMES.join('\n')}\n`)
        return 0
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        if (command === undefined) {
          stdio.err(USAGE)
          return 2
        }
        stdio.out(USAGE)
        return 0
      default:
        return fail(stdio, `unknown command ${JSON.stringify(command)}`)
    }
  } catch (err) {
    const code = (err as { code?: unknown }).code
    if (err instanceof ScenarioError || (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS'))) {
      return fail(stdio, (err as Error).message)
    }
    throw err
  }
}
