// Run a scenario in-process and read its metrics (the CLI does the same and writes files).
import assert from 'node:assert/strict'
import { baselineOf, loadScenario, runSimulation } from '@prsm/sim'

const scenario = await loadScenario('freeloader_surge')
const withMechanisms = runSimulation(scenario, { agents: 40, days: 30, seed: 7 })
const prototypeRules = runSimulation(baselineOf(scenario), { agents: 40, days: 30, seed: 7 })

// The same seed gives the same run.
assert.deepEqual(runSimulation(scenario, { agents: 40, days: 30, seed: 7 }).summary, withMechanisms.summary)
// Every token is accounted for.
assert.ok(withMechanisms.summary.details.supplyConserved)
// Quality gating and bonds keep the spam out; the prototype-like rules let it in.
assert.ok(withMechanisms.summary.metrics.quality > prototypeRules.summary.metrics.quality)

for (const [label, r] of [
  ['mechanisms on ', withMechanisms],
  ['mechanisms off', prototypeRules],
] as const) {
  const m = r.summary.metrics
  process.stdout.write(
    `${label}: Gini ${m.gini.toFixed(3)}, quality ${(m.quality * 100).toFixed(1)}%, stability ${(m.stability * 100).toFixed(1)}%\n`,
  )
}
