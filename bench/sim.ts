/**
 * `npm run bench:sim` — the economic simulator at scale: 10,000 agents × 365 days of the
 * normal_growth scenario (seed 1), every payment, reward, stake and trade going through
 * @prsm/economics on bigint amounts.
 *
 * Prints a table, then one JSON object on the last line. Target: under 30 s wall time on a
 * 2-core machine. Peak memory is the process's maximum resident set size.
 * Usage: node bench/sim.ts [agents=10000] [days=365] [scenario=normal_growth] [seed=1]
 */
import { loadScenario, runSimulation } from '@prsm/sim'

const agents = Number(process.argv[2] ?? 10_000)
const days = Number(process.argv[3] ?? 365)
const name = process.argv[4] ?? 'normal_growth'
const seed = Number(process.argv[5] ?? 1)
const TARGET_SECONDS = 30

const scenario = await loadScenario(name)
let peakSampled = process.memoryUsage().rss
const sampler = setInterval(() => {
  peakSampled = Math.max(peakSampled, process.memoryUsage().rss)
}, 50)
const start = performance.now()
// the run is synchronous; sample memory once more right after it
const result = runSimulation(scenario, { agents, days, seed })
const wallSeconds = (performance.now() - start) / 1000
peakSampled = Math.max(peakSampled, process.memoryUsage().rss)
clearInterval(sampler)
const peakRssMb = Math.max(process.resourceUsage().maxRSS / 1024, peakSampled / 1024 / 1024)
const s = result.summary
const figures = {
  bench: 'sim',
  scenario: name,
  agents,
  days,
  seed,
  wallSeconds: Number(wallSeconds.toFixed(3)),
  agentDaysPerSecond: Math.round((agents * days) / wallSeconds),
  peakRssMb: Number(peakRssMb.toFixed(1)),
  jobsServed: s.details.jobsServed,
  contributions: s.details.submitted,
  supplyConserved: s.details.supplyConserved,
  gini: Number(s.metrics.gini.toFixed(4)),
  quality: Number(s.metrics.quality.toFixed(4)),
  stability: Number(s.metrics.stability.toFixed(4)),
  targetSeconds: TARGET_SECONDS,
  met: wallSeconds < TARGET_SECONDS,
}
const rows: [string, string][] = [
  ['scenario', `${name} (seed ${seed})`],
  ['agents × days', `${agents.toLocaleString('en')} × ${days}`],
  [
    'wall time',
    `${wallSeconds.toFixed(2)} s  (target < ${TARGET_SECONDS} s: ${figures.met ? 'met' : 'MISSED'})`,
  ],
  ['agent-days / s', figures.agentDaysPerSecond.toLocaleString('en')],
  ['peak RSS', `${figures.peakRssMb} MB`],
  ['jobs served', s.details.jobsServed.toLocaleString('en')],
  ['contributions', s.details.submitted.toLocaleString('en')],
  ['supply conserved', s.details.supplyConserved ? 'yes' : 'NO'],
  ['Gini / quality / stability', `${figures.gini} / ${figures.quality} / ${figures.stability}`],
]
const width = Math.max(...rows.map(([k]) => k.length))
for (const [k, v] of rows) console.log(`${k.padEnd(width)}  ${v}`)
console.log(JSON.stringify(figures))
