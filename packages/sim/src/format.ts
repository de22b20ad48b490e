/** Deterministic number formatting for JSON, CSV and SVG output. */

/** Rounds to `digits` decimals and returns a number (−0 becomes 0). */
export function round(x: number, digits = 6): number {
  if (!Number.isFinite(x)) return 0
  const r = Number(x.toFixed(digits))
  return r === 0 ? 0 : r
}

/** Fixed-decimal string (−0 and non-finite become 0). */
export function fixed(x: number, digits = 6): string {
  return round(x, digits).toFixed(digits)
}

/** Pads a string to `width` on the left (numbers) or right (text). */
export function pad(text: string, width: number, left = false): string {
  if (text.length >= width) return text
  return left ? text.padStart(width) : text.padEnd(width)
}
