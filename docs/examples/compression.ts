// Context compression: fit a long input into a dependent step's token budget, and see how much of
// the original survived (ROUGE-L against the original). No network, no model.
import { compressForBudget, countTokens } from '@prsm/node'

const report = [
  'Provider A: CO2 at Mauna Loa rose 10.21 ppm per decade in 1958-1979.',
  'Provider B: CO2 at Mauna Loa rose 10.21 ppm per decade in 1958-1979.', // a k = 2 duplicate
  'Provider A: CO2 at Mauna Loa rose 15.28 ppm per decade in 1980-1999.',
  'Provider A: CO2 at Mauna Loa rose 22.01 ppm per decade in 2000-2020.',
  'Provider B: CO2 at Mauna Loa rose 22.01 ppm per decade in 2000-2020!', // a near duplicate
  'The global temperature anomaly rose 0.193 °C per decade in 1970-2023.',
  'Correlation of yearly CO2 and the temperature anomaly: r = 0.959 over 60 years.',
  'Operator note: the coffee machine on floor two is broken again.',
].join('\n')

const budget = 80
const result = await compressForBudget(report, budget)
console.log(
  `${countTokens(report)} tokens -> ${result.tokens.after} (budget ${budget}, ratio ${result.ratio.toFixed(2)})`,
)
console.log(
  `dropped ${result.stages.exactDuplicates} exact and ${result.stages.nearDuplicates} near duplicates`,
)
console.log(`preservation: ${result.preservation.method} ${result.preservation.score.toFixed(3)}`)
console.log(result.text)
if (result.tokens.after > budget) throw new Error('over budget')
