// compute:js — the CO2 trend of one period (a shard) of the Mauna Loa monthly series.
// inputs[0]: co2-concentration.csv (Date,CO2,adjusted CO2). params: { from, to } (years, inclusive).
// Returns the least-squares slope of the seasonally adjusted series in ppm per decade, the fitted
// level at the start and end of the period, and the mean seasonal amplitude (max − min of the raw
// monthly readings within each calendar year that has at least 10 readings).
// biome-ignore lint/correctness/noUnusedVariables: the sandbox calls main
function main(inputs, params) {
  const { from, to } = params
  const xs = []
  const ys = []
  const byYear = new Map()
  for (const row of inputs[0].trim().split('\n').slice(1)) {
    const [date, raw, adjusted] = row.split(',')
    const year = Number(date.slice(0, 4))
    const month = Number(date.slice(5, 7))
    if (year < from || year > to) continue
    xs.push(year + (month - 0.5) / 12)
    ys.push(Number(adjusted))
    if (!byYear.has(year)) byYear.set(year, [])
    byYear.get(year).push(Number(raw))
  }
  if (xs.length < 2) throw new Error(`fewer than two readings in ${from}-${to}`)
  const { slope, intercept } = leastSquares(xs, ys)
  const amplitudes = [...byYear.values()]
    .filter((v) => v.length >= 10)
    .map((v) => Math.max(...v) - Math.min(...v))
  return {
    period: `${from}-${to}`,
    months: xs.length,
    ppmPerDecade: round(slope * 10, 2),
    startPpm: round(intercept + slope * xs[0], 1),
    endPpm: round(intercept + slope * xs[xs.length - 1], 1),
    seasonalAmplitudePpm: round(mean(amplitudes), 2),
  }
}

function leastSquares(xs, ys) {
  const mx = mean(xs)
  const my = mean(ys)
  let sxy = 0
  let sxx = 0
  for (let i = 0; i < xs.length; i++) {
    sxy += (xs[i] - mx) * (ys[i] - my)
    sxx += (xs[i] - mx) ** 2
  }
  const slope = sxy / sxx
  return { slope, intercept: my - slope * mx }
}

function mean(v) {
  return v.length === 0 ? Number.NaN : v.reduce((s, x) => s + x, 0) / v.length
}

function round(x, digits) {
  const f = 10 ** digits
  return Math.round(x * f) / f
}
