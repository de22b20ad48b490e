// compute:js — the global temperature anomaly trend over a period.
// inputs[0]: global-temp.csv (year,temp: the GISTEMP land-ocean anomaly in °C against 1951–1980).
// params: { from, to } (years, inclusive). Returns the least-squares slope in °C per decade, the
// mean anomaly of the period, and its warmest year.
// biome-ignore lint/correctness/noUnusedVariables: the sandbox calls main
function main(inputs, params) {
  const { from, to } = params
  const years = []
  const anomalies = []
  let warmest
  for (const row of inputs[0].trim().split('\n').slice(1)) {
    const [y, t] = row.split(',')
    const year = Number(y)
    const anomaly = Number(t)
    if (year < from || year > to) continue
    years.push(year)
    anomalies.push(anomaly)
    if (warmest === undefined || anomaly > warmest.anomaly) warmest = { year, anomaly }
  }
  if (years.length < 2) throw new Error(`fewer than two years in ${from}-${to}`)
  const mx = years.reduce((s, x) => s + x, 0) / years.length
  const my = anomalies.reduce((s, x) => s + x, 0) / anomalies.length
  let sxy = 0
  let sxx = 0
  for (let i = 0; i < years.length; i++) {
    sxy += (years[i] - mx) * (anomalies[i] - my)
    sxx += (years[i] - mx) ** 2
  }
  return {
    period: `${from}-${to}`,
    years: years.length,
    degreesPerDecade: Math.round((sxy / sxx) * 10 * 1000) / 1000,
    meanAnomaly: Math.round(my * 1000) / 1000,
    warmestYear: warmest.year,
    warmestAnomaly: warmest.anomaly,
  }
}
