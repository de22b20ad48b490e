import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { DayRecord, RunResult, Summary } from './engine.ts'
import { fixed, round } from './format.ts'
import type { Scenario } from './scenario.ts'
import { lineChart } from './svg.ts'

/** The summary as JSON, every float rounded to 6 decimals so the text is stable. */
export function summaryJson(summary: Summary): string {
  return `${JSON.stringify(summary, (_k, v: unknown) => (typeof v === 'number' ? round(v, 6) : v), 2)}\n`
}

const COLUMNS: readonly (readonly [keyof DayRecord, number])[] = [
  ['day', 0],
  ['price', 6],
  ['reference', 6],
  ['gini', 6],
  ['quality', 6],
  ['jobs', 0],
  ['unserved', 0],
  ['submitted', 0],
  ['accepted', 0],
  ['activeShare', 6],
  ['treasuryFtns', 3],
  ['treasuryCash', 2],
]

/** The daily time series as CSV (one header line, one line per day). */
export function seriesCsv(series: readonly DayRecord[]): string {
  const lines = [COLUMNS.map(([k]) => k).join(',')]
  for (const d of series) lines.push(COLUMNS.map(([k, digits]) => fixed(d[k], digits)).join(','))
  return `${lines.join('\n')}\n`
}

/** The three plots of a run: price (with the stabiliser's reference), Gini and quality over time. */
export function plots(
  result: RunResult,
  scenario: Scenario,
): { price: string; gini: string; quality: string } {
  const s = result.series
  const x = s.map((d) => d.day)
  const bands = scenario.conditions
    .filter((c) => c.from <= result.summary.days)
    .map((c) => ({
      from: c.from,
      to: Math.min(c.to ?? result.summary.days, result.summary.days),
      label: c.name,
    }))
  const sub = `${result.summary.scenario}, ${result.summary.agents} agents, seed ${result.summary.seed}`
  return {
    price: lineChart({
      title: `FTNS price — ${sub}`,
      yLabel: 'dollars per FTNS',
      x,
      bands,
      series: [
        { name: 'price', values: s.map((d) => d.price), color: '#1f77b4' },
        { name: 'reference', values: s.map((d) => d.reference), color: '#7f7f7f', dashed: true },
      ],
    }),
    gini: lineChart({
      title: `Gini of balances — ${sub}`,
      yLabel: 'Gini',
      x,
      bands,
      yRange: [0, 1],
      guides: [{ y: 0.4, label: 'target ≤ 0.40' }],
      series: [{ name: 'Gini', values: s.map((d) => d.gini), color: '#d62728' }],
    }),
    quality: lineChart({
      title: `Quality — ${sub}`,
      yLabel: 'quality',
      x,
      bands,
      yRange: [0, 1],
      guides: [{ y: 0.75, label: 'target ≥ 0.75' }],
      series: [{ name: 'quality', values: s.map((d) => d.quality), color: '#2ca02c' }],
    }),
  }
}

/** Writes summary.json, series.csv, price.svg, gini.svg and quality.svg into `dir`. Returns the paths. */
export async function writeRun(dir: string, result: RunResult, scenario: Scenario): Promise<string[]> {
  await mkdir(dir, { recursive: true })
  const p = plots(result, scenario)
  const files: [string, string][] = [
    ['summary.json', summaryJson(result.summary)],
    ['series.csv', seriesCsv(result.series)],
    ['price.svg', p.price],
    ['gini.svg', p.gini],
    ['quality.svg', p.quality],
  ]
  const paths: string[] = []
  for (const [name, text] of files) {
    const path = join(dir, name)
    await writeFile(path, text)
    paths.push(path)
  }
  return paths
}
