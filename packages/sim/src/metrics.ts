/**
 * The economy's metrics. Each function is pure and matches the formula in docs/simulator.md.
 */

/**
 * Gini coefficient of non-negative values: with x sorted ascending and i = 1..n,
 * G = 2 Σ i·x_i / (n Σ x) − (n + 1) / n. 0 = perfect equality; (n−1)/n = one holder has all.
 * Returns 0 for an empty list or an all-zero list.
 */
export function gini(values: ArrayLike<number>): number {
  const n = values.length
  if (n === 0) return 0
  const xs = Float64Array.from(values as ArrayLike<number>)
  xs.sort()
  let sum = 0
  let weighted = 0
  for (let i = 0; i < n; i++) {
    const x = xs[i] as number
    if (x < 0) throw new RangeError('gini: values must be non-negative')
    sum += x
    weighted += (i + 1) * x
  }
  if (sum === 0) return 0
  return (2 * weighted) / (n * sum) - (n + 1) / n
}

/** Arithmetic mean; 0 for an empty list. */
export function mean(values: ArrayLike<number>): number {
  const n = values.length
  if (n === 0) return 0
  let s = 0
  for (let i = 0; i < n; i++) s += values[i] as number
  return s / n
}

/** Population standard deviation (divides by n, as numpy's default). */
export function stdDev(values: ArrayLike<number>): number {
  const n = values.length
  if (n === 0) return 0
  const m = mean(values)
  let s = 0
  for (let i = 0; i < n; i++) {
    const d = (values[i] as number) - m
    s += d * d
  }
  return Math.sqrt(s / n)
}

/** Price stability: 1 − σ/μ of the daily prices (σ the population standard deviation). */
export function stability(prices: ArrayLike<number>): number {
  const m = mean(prices)
  if (m === 0) return 0
  return 1 - stdDev(prices) / m
}

/**
 * Nakamoto coefficient: the fewest holders whose combined stake exceeds `threshold` of the total
 * (default 1/3, the share that can block a 2f+1 validator certificate). 0 when nobody has stake.
 */
export function nakamoto(stakes: ArrayLike<number>, threshold = 1 / 3): number {
  const xs = Float64Array.from(stakes as ArrayLike<number>)
    .filter((x) => x > 0)
    .sort()
    .reverse()
  let total = 0
  for (const x of xs) total += x
  if (total === 0) return 0
  let acc = 0
  for (let i = 0; i < xs.length; i++) {
    acc += xs[i] as number
    if (acc > threshold * total) return i + 1
  }
  return xs.length
}

/** Two-sided 97.5% quantiles of Student's t for 1..30 degrees of freedom. */
const T975 = [
  12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131,
  2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042,
]

/**
 * Mean and half-width of the 95% confidence interval of the mean (Student's t with n − 1
 * degrees of freedom, sample standard deviation with n − 1). Half-width 0 for n < 2.
 */
export function meanCi95(values: readonly number[]): { mean: number; halfWidth: number } {
  const n = values.length
  const m = mean(values)
  if (n < 2) return { mean: m, halfWidth: 0 }
  let s = 0
  for (const v of values) s += (v - m) * (v - m)
  const sd = Math.sqrt(s / (n - 1))
  const t = n - 1 <= 30 ? (T975[n - 2] as number) : 1.96
  return { mean: m, halfWidth: (t * sd) / Math.sqrt(n) }
}
