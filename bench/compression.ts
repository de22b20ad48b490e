/**
 * bench:compression — context compression over the fixed corpus in bench/corpus/: for each
 * document, compress to a quarter of its tokens and report the ratio and the ROUGE-L preservation
 * score, against a baseline measured in the same run (the head of the document cut to the same
 * number of tokens as the compressed text). Last line: one JSON object.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { compressForBudget, countTokens, rougeL, truncateToTokens } from '@prsm/node'

const BUDGET_FRACTION = 0.25
const REPEAT = 5
const dir = join(import.meta.dirname, 'corpus')
const files = readdirSync(dir)
  .filter((f) => /\.(txt|csv)$/.test(f))
  .sort()

interface Row {
  doc: string
  tokens: number
  budget: number
  after: number
  ratio: number
  rougeL: number
  baselineRougeL: number
  exactDuplicates: number
  nearDuplicates: number
  ms: number
}
const rows: Row[] = []
for (const file of files) {
  const text = readFileSync(join(dir, file), 'utf8')
  const tokens = countTokens(text)
  const budget = Math.max(1, Math.floor(tokens * BUDGET_FRACTION))
  let result = await compressForBudget(text, budget)
  const times: number[] = []
  for (let i = 0; i < REPEAT; i++) {
    const t0 = performance.now()
    result = await compressForBudget(text, budget)
    times.push(performance.now() - t0)
  }
  times.sort((a, b) => a - b)
  // the baseline: the head of the document cut to as many tokens as the compressed text has
  const baseline = truncateToTokens(text, result.tokens.after)
  rows.push({
    doc: file,
    tokens,
    budget,
    after: result.tokens.after,
    ratio: Number(result.ratio.toFixed(3)),
    rougeL: Number(result.preservation.score.toFixed(3)),
    baselineRougeL: Number(rougeL(baseline, text).f1.toFixed(3)),
    exactDuplicates: result.stages.exactDuplicates,
    nearDuplicates: result.stages.nearDuplicates,
    ms: Number((times[Math.floor(times.length / 2)] ?? 0).toFixed(2)),
  })
}

// Scale: a generated text of many distinct sentences (seeded, 12 words from a 2,000-word
// vocabulary each) compressed to half its tokens; time per run, median of 3.
function scaleText(units: number): string {
  let seed = 7
  const next = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff
    return seed / 0x7fffffff
  }
  const vocabulary = Array.from({ length: 2000 }, (_, i) => `w${i.toString(36)}`)
  return Array.from(
    { length: units },
    () =>
      `${Array.from({ length: 12 }, () => vocabulary[Math.floor(next() * vocabulary.length)]).join(' ')}.`,
  ).join('\n')
}
const scale: Array<{ units: number; tokens: number; ms: number }> = []
for (const units of [1_000, 5_000, 20_000]) {
  const text = scaleText(units)
  const tokens = countTokens(text)
  const times: number[] = []
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now()
    await compressForBudget(text, Math.floor(tokens / 2))
    times.push(performance.now() - t0)
  }
  times.sort((a, b) => a - b)
  scale.push({ units, tokens, ms: Math.round(times[1] as number) })
}

const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length
console.log(`PRSM context compression — ${files.length} documents, budget ${BUDGET_FRACTION * 100}% of each`)
console.log(
  `${'document'.padEnd(24)} ${'tokens'.padStart(7)} ${'budget'.padStart(7)} ${'after'.padStart(6)} ${'ratio'.padStart(6)} ${'ROUGE-L'.padStart(8)} ${'head-cut'.padStart(9)} ${'dups'.padStart(9)} ${'ms'.padStart(7)}`,
)
for (const r of rows) {
  console.log(
    `${r.doc.padEnd(24)} ${String(r.tokens).padStart(7)} ${String(r.budget).padStart(7)} ${String(r.after).padStart(6)} ${r.ratio.toFixed(3).padStart(6)} ${r.rougeL.toFixed(3).padStart(8)} ${r.baselineRougeL.toFixed(3).padStart(9)} ${`${r.exactDuplicates}+${r.nearDuplicates}`.padStart(9)} ${r.ms.toFixed(2).padStart(7)}`,
  )
}
const summary = {
  bench: 'compression',
  documents: rows.length,
  budgetFraction: BUDGET_FRACTION,
  meanRatio: Number(mean(rows.map((r) => r.ratio)).toFixed(3)),
  meanRougeL: Number(mean(rows.map((r) => r.rougeL)).toFixed(3)),
  meanBaselineRougeL: Number(mean(rows.map((r) => r.baselineRougeL)).toFixed(3)),
  rougeLVsBaseline: Number(
    (mean(rows.map((r) => r.rougeL)) / mean(rows.map((r) => r.baselineRougeL))).toFixed(2),
  ),
  meanMsPerDocument: Number(mean(rows.map((r) => r.ms)).toFixed(2)),
  perDocument: rows,
  scale,
}
console.log(
  `mean ratio ${summary.meanRatio}, mean ROUGE-L ${summary.meanRougeL} vs head-cut ${summary.meanBaselineRougeL} (${summary.rougeLVsBaseline}x)`,
)
for (const x of scale) {
  console.log(`scale: ${x.units} distinct sentences (${x.tokens} tokens) to half: ${x.ms} ms`)
}
console.log(JSON.stringify(summary))
