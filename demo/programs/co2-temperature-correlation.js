// compute:js — how closely the yearly global temperature anomaly follows the CO2 concentration.
// inputs[0]: co2-concentration.csv, inputs[1]: global-temp.csv. Uses the years in which Mauna Loa
// has at least 10 monthly readings. Returns Pearson's r between the yearly mean CO2 (ppm) and the
// anomaly (°C), and the least-squares warming per 100 ppm.
// biome-ignore lint/correctness/noUnusedVariables: the sandbox calls main
function main(inputs) {
  const sums = new Map()
  for (const row of inputs[0].trim().split('\n').slice(1)) {
    const [date, raw] = row.split(',')
    const year = date.slice(0, 4)
    const s = sums.get(year) ?? { total: 0, n: 0 }
    s.total += Number(raw)
    s.n += 1
    sums.set(year, s)
  }
  const xs = []
  const ys = []
  for (const row of inputs[1].trim().split('\n').slice(1)) {
    const [year, anomaly] = row.split(',')
    const m = sums.get(year)
    if (m === undefined || m.n < 10) continue
    xs.push(m.total / m.n)
    ys.push(Number(anomaly))
  }
  if (xs.length < 3) throw new Error('fewer than three overlapping years')
  const mx = xs.reduce((s, x) => s + x, 0) / xs.length
  const my = ys.reduce((s, x) => s + x, 0) / ys.length
  let sxy = 0
  let sxx = 0
  let syy = 0
  for (let i = 0; i < xs.length; i++) {
    sxy += (xs[i] - mx) * (ys[i] - my)
    sxx += (xs[i] - mx) ** 2
    syy += (ys[i] - my) ** 2
  }
  return {
    years: xs.length,
    pearsonR: Math.round((sxy / Math.sqrt(sxx * syy)) * 1000) / 1000,
    degreesPer100Ppm: Math.round((sxy / sxx) * 100 * 1000) / 1000,
  }
}
