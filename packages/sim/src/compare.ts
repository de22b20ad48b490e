import { type Metrics, runSimulation } from './engine.ts'
import { fixed, pad } from './format.ts'
import { meanCi95 } from './metrics.ts'
import { baselineOf, loadScenario, SCENARIO_NAMES } from './scenario.ts'

/** The prototype's reported stress-test figures (40 agents, 30 days, unseeded), from the assessment. */
export const ASSESSMENT: Readonly<Record<string, { gini: number; quality: number; stability: number }>> =
  Object.freeze({
    normal_growth: { gini: 0.42, quality: 0.732, stability: 0.89 },
    market_volatility: { gini: 0.38, quality: 0.718, stability: 0.84 },
    economic_shock: { gini: 0.44, quality: 0.691, stability: 0.82 },
    data_oversupply: { gini: 0.41, quality: 0.753, stability: 0.87 },
  })

/** The targets the mechanisms are tuned for. */
export const TARGETS = Object.freeze({ gini: 0.4, quality: 0.75, stability: 0.9 })

export const METRIC_NAMES = ['gini', 'quality', 'stability', 'activity', 'creatorShare', 'nakamoto'] as const

export interface Stat {
  readonly mean: number
  readonly halfWidth: number
}

export type MetricStats = Record<keyof Metrics, Stat>

export interface CompareRow {
  readonly scenario: string
  readonly runs: number
  readonly ours: MetricStats
  /** The same scenario with every mechanism off (only with `baseline`). */
  readonly baseline?: MetricStats
  /** Whether the mean meets each target. */
  readonly pass: { readonly gini: boolean; readonly quality: boolean; readonly stability: boolean }
}

export interface CompareOptions {
  readonly seeds: number
  readonly agents?: number
  readonly days?: number
  readonly scenarios?: readonly string[]
  /** Also run every scenario with all mechanisms off. */
  readonly baseline?: boolean
}

function stats(runs: Metrics[]): MetricStats {
  const out = {} as Record<keyof Metrics, Stat>
  for (const k of METRIC_NAMES) out[k] = meanCi95(runs.map((r) => r[k]))
  return out
}

/** Runs every scenario over seeds 1..K and aggregates each metric as mean ± 95% interval. */
export async function compareScenarios(options: CompareOptions): Promise<CompareRow[]> {
  const rows: CompareRow[] = []
  for (const name of options.scenarios ?? SCENARIO_NAMES) {
    const scenario = await loadScenario(name)
    const run = (s: typeof scenario): Metrics[] => {
      const out: Metrics[] = []
      for (let seed = 1; seed <= options.seeds; seed++) {
        const opts = {
          seed,
          ...(options.agents ? { agents: options.agents } : {}),
          ...(options.days ? { days: options.days } : {}),
        }
        out.push(runSimulation(s, opts).summary.metrics)
      }
      return out
    }
    const ours = stats(run(scenario))
    const row: CompareRow = {
      scenario: scenario.name,
      runs: options.seeds,
      ours,
      ...(options.baseline ? { baseline: stats(run(baselineOf(scenario))) } : {}),
      pass: {
        gini: ours.gini.mean <= TARGETS.gini,
        quality: ours.quality.mean >= TARGETS.quality,
        stability: ours.stability.mean >= TARGETS.stability,
      },
    }
    rows.push(row)
  }
  return rows
}

function pm(s: Stat, digits: number, scale = 1): string {
  return `${fixed(s.mean * scale, digits)} ± ${fixed(s.halfWidth * scale, digits)}`
}

function ref(name: string, key: 'gini' | 'quality' | 'stability'): string {
  const a = ASSESSMENT[name]
  if (a === undefined) return '—'
  return key === 'gini' ? fixed(a.gini, 2) : fixed(a[key] * 100, 1)
}

interface Column {
  readonly head: string
  readonly cell: (r: CompareRow) => string
}

function columns(withBaseline: boolean): Column[] {
  const cols: Column[] = [
    { head: 'scenario', cell: (r) => r.scenario },
    { head: 'Gini', cell: (r) => pm(r.ours.gini, 3) },
    { head: 'proto', cell: (r) => ref(r.scenario, 'gini') },
    { head: 'quality %', cell: (r) => pm(r.ours.quality, 1, 100) },
    { head: 'proto', cell: (r) => ref(r.scenario, 'quality') },
    { head: 'stability %', cell: (r) => pm(r.ours.stability, 1, 100) },
    { head: 'proto', cell: (r) => ref(r.scenario, 'stability') },
    {
      head: 'targets',
      cell: (r) => (r.pass.gini && r.pass.quality && r.pass.stability ? 'met' : 'MISSED'),
    },
  ]
  if (withBaseline) {
    cols.push(
      { head: 'baseline Gini', cell: (r) => (r.baseline ? pm(r.baseline.gini, 3) : '') },
      { head: 'baseline quality %', cell: (r) => (r.baseline ? pm(r.baseline.quality, 1, 100) : '') },
      { head: 'baseline stability %', cell: (r) => (r.baseline ? pm(r.baseline.stability, 1, 100) : '') },
    )
  }
  return cols
}

const OTHER: Column[] = [
  { head: 'scenario', cell: (r) => r.scenario },
  { head: 'activity %', cell: (r) => pm(r.ours.activity, 1, 100) },
  { head: "creators' share %", cell: (r) => pm(r.ours.creatorShare, 1, 100) },
  { head: 'Nakamoto (1/3)', cell: (r) => pm(r.ours.nakamoto, 2) },
]

function textTable(cols: Column[], rows: readonly CompareRow[]): string {
  const cells = rows.map((r) => cols.map((c) => c.cell(r)))
  const widths = cols.map((c, i) => Math.max(c.head.length, ...cells.map((row) => (row[i] as string).length)))
  const line = (vals: string[]): string =>
    vals
      .map((v, i) => pad(v, widths[i] as number, i > 0))
      .join('  ')
      .trimEnd()
  return [line(cols.map((c) => c.head)), ...cells.map(line)].join('\n')
}

function markdownTable(cols: Column[], rows: readonly CompareRow[]): string {
  const head = `| ${cols.map((c) => c.head).join(' | ')} |`
  const rule = `|${cols.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`
  const body = rows.map((r) => `| ${cols.map((c) => c.cell(r)).join(' | ')} |`)
  return [head, rule, ...body].join('\n')
}

function caption(rows: readonly CompareRow[], options: CompareOptions): string {
  const agents = options.agents ?? 40
  const days = options.days ?? 30
  return (
    `${rows[0]?.runs ?? 0} seeds per scenario (1..${rows[0]?.runs ?? 0}), ${agents} agents × ${days} days; ` +
    `mean ± 95% interval (Student t). proto = the assessment's prototype figures. ` +
    `Targets: Gini ≤ ${TARGETS.gini}, quality ≥ ${TARGETS.quality * 100}%, stability ≥ ${TARGETS.stability * 100}%.`
  )
}

/** The comparison as plain-text tables. */
export function formatCompare(rows: readonly CompareRow[], options: CompareOptions): string {
  return `${caption(rows, options)}\n\n${textTable(columns(options.baseline === true), rows)}\n\n${textTable(OTHER, rows)}\n`
}

/** The comparison as Markdown tables (as pasted into docs/simulator.md). */
export function formatCompareMarkdown(rows: readonly CompareRow[], options: CompareOptions): string {
  return `${caption(rows, options)}\n\n${markdownTable(columns(options.baseline === true), rows)}\n\n${markdownTable(OTHER, rows)}\n`
}
