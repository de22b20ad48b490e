/** `@prsm/sim`: the agent-based simulator of the FTNS economy, driven by `@prsm/economics`. */
export type { SimIo } from './cli.ts'
export { simCli } from './cli.ts'
export type { CompareOptions, CompareRow, FigureName, FigureStats, Stat } from './compare.ts'
export {
  ASSESSMENT,
  compareScenarios,
  FIGURE_NAMES,
  figuresOf,
  formatCompare,
  formatCompareMarkdown,
  TARGETS,
} from './compare.ts'
export type { DayRecord, Metrics, RunOptions, RunResult, Summary } from './engine.ts'
export { runSimulation } from './engine.ts'
export { gini, mean, meanCi95, nakamoto, stability, stdDev } from './metrics.ts'
export { plots, seriesCsv, summaryJson, writeRun } from './output.ts'
export { Rng } from './prng.ts'
export type { Condition, Effects, Mechanisms, Role, Scenario } from './scenario.ts'
export {
  baselineOf,
  DEFAULT_SCENARIO,
  effectsForDay,
  loadScenario,
  MECHANISM_NAMES,
  ROLES,
  resolveScenario,
  SCENARIO_NAMES,
  ScenarioError,
  withoutMechanisms,
} from './scenario.ts'
export type { ChartOptions, ChartSeries } from './svg.ts'
export { lineChart } from './svg.ts'
