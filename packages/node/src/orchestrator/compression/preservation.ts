/**
 * How much of the original a compressed text preserves: ROUGE-L (the F1 measure of the longest
 * common subsequence of their lower-cased words) or, with an embedding backend, the cosine
 * similarity of the two texts' embeddings.
 *
 * The LCS is computed with the bit-parallel algorithm of Crochemore et al. (2001) over the
 * shorter word sequence, so a 50,000-word original against a 5,000-word summary costs about
 * 50,000 × 5,000 / 32 word operations, not a full dynamic-programming table.
 */
import { words } from './tokens.ts'

export interface RougeL {
  precision: number
  recall: number
  f1: number
  lcs: number
}

/** ROUGE-L of `candidate` against `reference` (F1, β = 1). */
export function rougeL(candidate: string, reference: string): RougeL {
  const c = words(candidate)
  const r = words(reference)
  const lcs = lcsLength(c, r)
  if (lcs === 0) return { precision: 0, recall: 0, f1: 0, lcs: 0 }
  const precision = lcs / c.length
  const recall = lcs / r.length
  return { precision, recall, f1: (2 * precision * recall) / (precision + recall), lcs }
}

/** Length of the longest common subsequence of two sequences of words. */
export function lcsLength(x: readonly string[], y: readonly string[]): number {
  const [a, b] = x.length <= y.length ? [x, y] : [y, x]
  const m = a.length
  if (m === 0) return 0
  const blocks = Math.ceil(m / 32)
  const masks = new Map<string, Uint32Array>()
  for (const [i, w] of a.entries()) {
    let mask = masks.get(w)
    if (mask === undefined) {
      mask = new Uint32Array(blocks)
      masks.set(w, mask)
    }
    mask[i >>> 5] = ((mask[i >>> 5] as number) | (1 << (i & 31))) >>> 0
  }
  // V has a 0 bit for every position of `a` matched so far; V' = (V + (V & M)) | (V & ~M).
  const v = new Uint32Array(blocks).fill(0xffffffff)
  for (const w of b) {
    const mask = masks.get(w)
    if (mask === undefined) continue // V & M = 0: V' = V
    let carry = 0
    for (let k = 0; k < blocks; k++) {
      const vk = v[k] as number
      const mk = mask[k] as number
      const u = (vk & mk) >>> 0
      const sum = vk + u + carry
      carry = sum > 0xffffffff ? 1 : 0
      v[k] = ((sum >>> 0) | (vk & ~mk)) >>> 0
    }
  }
  let zeros = 0
  for (let i = 0; i < m; i++) if ((((v[i >>> 5] as number) >>> (i & 31)) & 1) === 0) zeros++
  return zeros
}

/** Cosine similarity of two vectors (0 when either is all zeros). */
export function cosine(a: readonly number[], b: readonly number[]): number {
  if (a.length !== b.length) throw new RangeError(`embedding sizes differ: ${a.length} and ${b.length}`)
  let dot = 0
  let na = 0
  let nb = 0
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as number
    const y = b[i] as number
    dot += x * y
    na += x * x
    nb += y * y
  }
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb)
}
