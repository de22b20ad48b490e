/**
 * The answer of the main job in words, from the figures the compute steps returned (each step's
 * output is the JSON its program returned; see demo/programs/).
 */
export interface StepFigures {
  id: string
  output: unknown
}

interface Co2Trend {
  period: string
  months: number
  ppmPerDecade: number
  startPpm: number
  endPpm: number
  seasonalAmplitudePpm: number
}
interface TemperatureTrend {
  period: string
  years: number
  degreesPerDecade: number
  meanAnomaly: number
  warmestYear: number
  warmestAnomaly: number
}
interface Correlation {
  years: number
  pearsonR: number
  degreesPer100Ppm: number
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null

export function answerText(steps: readonly StepFigures[]): string {
  const lines: string[] = ['Answer']
  const co2 = steps
    .filter((s) => isObject(s.output) && 'ppmPerDecade' in s.output)
    .map((s) => s.output as Co2Trend)
  const temps = steps
    .filter((s) => isObject(s.output) && 'degreesPerDecade' in s.output)
    .map((s) => s.output as TemperatureTrend)
  const corr = steps.find((s) => isObject(s.output) && 'pearsonR' in s.output)?.output as
    | Correlation
    | undefined
  if (co2.length > 0) {
    lines.push('  CO2 at Mauna Loa (seasonally adjusted, least-squares trend per period):')
    for (const c of co2) {
      lines.push(
        `    ${c.period}: +${c.ppmPerDecade.toFixed(2)} ppm/decade, ${c.startPpm.toFixed(1)} -> ${c.endPpm.toFixed(1)} ppm, seasonal swing ${c.seasonalAmplitudePpm.toFixed(2)} ppm (${c.months} months)`,
      )
    }
    const first = co2[0] as Co2Trend
    const last = co2.at(-1) as Co2Trend
    if (co2.length > 1) {
      lines.push(
        `    the rise is accelerating: ${(last.ppmPerDecade / first.ppmPerDecade).toFixed(1)}x faster in ${last.period} than in ${first.period}`,
      )
    }
  }
  if (temps.length > 0) {
    lines.push('  Global land-ocean temperature anomaly (GISTEMP, vs 1951-1980):')
    for (const t of temps) {
      lines.push(
        `    ${t.period}: ${t.degreesPerDecade >= 0 ? '+' : ''}${t.degreesPerDecade.toFixed(3)} °C/decade, mean ${t.meanAnomaly.toFixed(2)} °C, warmest ${t.warmestYear} (${t.warmestAnomaly.toFixed(2)} °C)`,
      )
    }
  }
  if (corr !== undefined) {
    lines.push(
      `  CO2 and temperature move together: Pearson r = ${corr.pearsonR.toFixed(3)} over ${corr.years} years, about ${corr.degreesPer100Ppm.toFixed(2)} °C per 100 ppm`,
    )
  }
  return lines.join('\n')
}

/** For each step, which other steps ran at the same time (their [start, end) overlap). */
export function overlapLines(
  steps: ReadonlyArray<{
    step: string
    provider: string
    agreeing: string[]
    startedAt: number
    finishedAt: number
  }>,
  nameOf: (peer: string) => string,
  origin: number,
): string[] {
  const at = (ms: number) => `${((ms - origin) / 1000).toFixed(2).padStart(6)}s`
  let most = 0
  const lines: string[] = []
  for (const s of steps) {
    const together = steps.filter((o) => o !== s && o.startedAt < s.finishedAt && s.startedAt < o.finishedAt)
    most = Math.max(most, together.length + 1)
    const who = s.agreeing.length > 0 ? s.agreeing : [s.provider]
    lines.push(
      `${s.step.padEnd(28)} ${at(s.startedAt)} - ${at(s.finishedAt)}  on ${who.map(nameOf).join(' + ').padEnd(14)} overlaps ${together.length} other steps`,
    )
  }
  lines.push(`at most ${most} steps in flight at once`)
  return lines
}
