// compute:js — one line of notes per year of the Mauna Loa series: the yearly mean, the months of
// the seasonal maximum and minimum, and the rise over the previous year. A long text on purpose:
// the compile step reads it through context compression (its maxInputTokens).
// inputs[0]: co2-concentration.csv (Date,CO2,adjusted CO2). Years with fewer than 10 readings are skipped.
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']

// biome-ignore lint/correctness/noUnusedVariables: the sandbox calls main
function main(inputs) {
  const years = new Map()
  for (const row of inputs[0].trim().split('\n').slice(1)) {
    const [date, raw] = row.split(',')
    const year = Number(date.slice(0, 4))
    if (!years.has(year)) years.set(year, [])
    years.get(year).push({ month: Number(date.slice(5, 7)), ppm: Number(raw) })
  }
  const lines = []
  let previous
  for (const [year, readings] of years) {
    if (readings.length < 10) continue
    const mean = readings.reduce((s, r) => s + r.ppm, 0) / readings.length
    const max = readings.reduce((a, r) => (r.ppm > a.ppm ? r : a))
    const min = readings.reduce((a, r) => (r.ppm < a.ppm ? r : a))
    const rise =
      previous === undefined
        ? ''
        : ` The yearly mean rose ${(mean - previous).toFixed(2)} ppm over ${year - 1}.`
    lines.push(
      `In ${year} the CO2 concentration at Mauna Loa averaged ${mean.toFixed(2)} ppm, peaking in ${MONTHS[max.month - 1]} at ${max.ppm.toFixed(2)} ppm and lowest in ${MONTHS[min.month - 1]} at ${min.ppm.toFixed(2)} ppm.${rise}`,
    )
    previous = mean
  }
  return lines.join('\n')
}
