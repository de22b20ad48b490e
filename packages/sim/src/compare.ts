import { runSimulation, type Summary } from './engine.ts'
import { fixed, pad } from './format.ts'
import { meanCi95 } from './metrics.ts'
import { baselineOf, loadScenario, SCENARIO_NAMES, type Scenario, withoutMechanisms } from './scenario.ts'

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

/** What each run contributes to the comparison: the headline metrics and the attack outcomes. */
export const FIGURE_NAMES = [
  'gini',
  'quality',
  'stability',
  'activity',
  'creatorShare',
  'nakamoto',
  'giniHonest',
  'giniInitial',
  'spamAccepted',
  'attackerPnl',
  'cartelJobShare',
  'jobPriceUsd',
] as const
export type FigureName = (typeof FIGURE_NAMES)[number]

export interface Stat {
  readonly mean: number
  readonly halfWidth: number
}

export type FigureStats = Record<FigureName, Stat>

/** One run's figures: the metrics plus attack outcomes from the details. */
export function figuresOf(s: Summary): Record<FigureName, number> {
  const d = s.details
  const attackers = d.roleCounts.freeloader + d.roleCounts.sybil
  return {
    ...s.metrics,
    giniHonest: d.giniHonest,
    giniInitial: d.giniInitial,
    spamAccepted: d.spamSubmitted > 0 ? d.spamAccepted / d.spamSubmitted : 0,
    attackerPnl: attackers > 0 ? d.spamPnlFtns / attackers : 0,
    cartelJobShare: d.cartelJobShare,
    jobPriceUsd: d.jobPriceUsd,
  }
}

export interface CompareRow {
  readonly scenario: string
  readonly runs: number
  readonly ours: FigureStats
  /** The same scenario with every mechanism off (only with `baseline`). */
  readonly baseline?: FigureStats
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
  /** Mechanisms to switch off in every run (ablation). */
  readonly disable?: readonly string[]
}

function stats(runs: Record<FigureName, number>[]): FigureStats {
  const out = {} as Record<FigureName, Stat>
  for (const k of FIGURE_NAMES) out[k] = meanCi95(runs.map((r) => r[k]))
  return out
}

/** Runs every scenario over seeds 1..K and aggregates each figure as mean ± 95% interval. */
export async function compareScenarios(options: CompareOptions): Promise<CompareRow[]> {
  const rows: CompareRow[] = []
  const run = (s: Scenario): Record<FigureName, number>[] => {
    const out: Record<FigureName, number>[] = []
    for (let seed = 1; seed <= options.seeds; seed++) {
      const opts = {
        seed,
        ...(options.agents ? { agents: options.agents } : {}),
        ...(options.days ? { days: options.days } : {}),
      }
      out.push(figuresOf(runSimulation(s, opts).summary))
    }
    return out
  }
  for (const name of options.scenarios ?? SCENARIO_NAMES) {
    const loaded = await loadScenario(name)
    const ours = stats(run(withoutMechanisms(loaded, options.disable ?? [])))
    rows.push({
      scenario: loaded.name,
      runs: options.seeds,
      ours,
      ...(options.baseline ? { baseline: stats(run(baselineOf(loaded))) } : {}),
      pass: {
        gini: ours.gini.mean <= TARGETS.gini,
        quality: ours.quality.mean >= TARGETS.quality,
        stability: ours.stability.mean >= TARGETS.stability,
      },
    })
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

/** A column for one figure, ours or the baseline's. */
function col(head: string, key: FigureName, digits: number, scale = 1, baseline = false): Column {
  return {
    head,
    cell: (r) => {
      const s = baseline ? r.baseline?.[key] : r.ours[key]
      return s === undefined ? '' : pm(s, digits, scale)
    },
  }
}

function headline(withBaseline: boolean): Column[] {
  const cols: Column[] = [
    { head: 'scenario', cell: (r) => r.scenario },
    col('Gini', 'gini', 3),
    { head: 'proto', cell: (r) => ref(r.scenario, 'gini') },
    col('quality %', 'quality', 1, 100),
    { head: 'proto', cell: (r) => ref(r.scenario, 'quality') },
    col('stability %', 'stability', 1, 100),
    { head: 'proto', cell: (r) => ref(r.scenario, 'stability') },
    { head: 'targets', cell: (r) => (r.pass.gini && r.pass.quality && r.pass.stability ? 'met' : 'MISSED') },
  ]
  if (withBaseline) {
    cols.push(
      col('baseline Gini', 'gini', 3, 1, true),
      col('baseline quality %', 'quality', 1, 100, true),
      col('baseline stability %', 'stability', 1, 100, true),
    )
  }
  return cols
}

function secondary(withBaseline: boolean): Column[] {
  const cols: Column[] = [
    { head: 'scenario', cell: (r) => r.scenario },
    col('activity %', 'activity', 1, 100),
    col("creators' share %", 'creatorShare', 1, 100),
    col('Nakamoto (1/3)', 'nakamoto', 2),
    col('Gini at start', 'giniInitial', 3),
    col('Gini w/o attackers', 'giniHonest', 3),
  ]
  if (withBaseline) {
    cols.push(
      col('baseline activity %', 'activity', 1, 100, true),
      col("baseline creators' share %", 'creatorShare', 1, 100, true),
      col('baseline Nakamoto', 'nakamoto', 2, 1, true),
    )
  }
  return cols
}

function attacks(withBaseline: boolean): Column[] {
  const cols: Column[] = [
    { head: 'scenario', cell: (r) => r.scenario },
    col('spam accepted %', 'spamAccepted', 1, 100),
    col('spam P&L per attacker (FTNS)', 'attackerPnl', 1),
    col('cartel job share %', 'cartelJobShare', 1, 100),
    col('$ per job', 'jobPriceUsd', 3),
  ]
  if (withBaseline) {
    cols.push(
      col('baseline spam accepted %', 'spamAccepted', 1, 100, true),
      col('baseline spam P&L', 'attackerPnl', 1, 1, true),
      col('baseline cartel job share %', 'cartelJobShare', 1, 100, true),
      col('baseline $ per job', 'jobPriceUsd', 3, 1, true),
    )
  }
  return cols
}

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
  const off =
    options.disable && options.disable.length > 0 ? ` Mechanisms off: ${options.disable.join(', ')}.` : ''
  return (
    `${rows[0]?.runs ?? 0} seeds per scenario (1..${rows[0]?.runs ?? 0}), ${agents} agents × ${days} days; ` +
    `mean ± 95% interval (Student t). proto = the assessment's prototype figures. ` +
    `Targets: Gini ≤ ${TARGETS.gini}, quality ≥ ${TARGETS.quality * 100}%, stability ≥ ${TARGETS.stability * 100}%.${off}`
  )
}

function tables(options: CompareOptions): Column[][] {
  const b = options.baseline === true
  return [headline(b), secondary(b), attacks(b)]
}

/** The comparison as plain-text tables: headline metrics, other metrics, attack outcomes. */
export function formatCompare(rows: readonly CompareRow[], options: CompareOptions): string {
  const parts = tables(options).map((cols) => textTable(cols, rows))
  return `${caption(rows, options)}\n\n${parts.join('\n\n')}\n`
}

/** The comparison as Markdown tables (as pasted into docs/simulator.md). */
export function formatCompareMarkdown(rows: readonly CompareRow[], options: CompareOptions): string {
  const parts = tables(options).map((cols) => markdownTable(cols, rows))
  return `${caption(rows, options)}\n\n${parts.join('\n\n')}\n`
}
