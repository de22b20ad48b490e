/**
 * Deduplication of units: exact duplicates (same words after lower-casing and dropping
 * punctuation and spacing) and near duplicates (Jaccard similarity of their word sets at least
 * `threshold`, for units of at least `MIN_NEAR_WORDS` distinct words). The first occurrence is
 * kept. Near duplicates are found with prefix filtering (words ordered rarest first: two sets
 * with Jaccard ≥ t share a word among the first |A| − ⌈t·|A|⌉ + 1 of each), so typical inputs
 * cost far less than comparing every pair.
 */
import type { Unit } from './segment.ts'
import { words } from './tokens.ts'

export const DEFAULT_NEAR_DUPLICATE = 0.8
const MIN_NEAR_WORDS = 4

export interface DedupResult {
  kept: Unit[]
  exact: number
  near: number
}

export function dedupUnits(units: readonly Unit[], threshold = DEFAULT_NEAR_DUPLICATE): DedupResult {
  const sets = units.map((u) => [...new Set(words(u.text))])
  const df = new Map<string, number>()
  for (const set of sets) for (const w of set) df.set(w, (df.get(w) ?? 0) + 1)
  const seen = new Set<string>()
  const prefixIndex = new Map<string, number[]>() // word → kept units whose prefix holds it
  const keptSets: Array<Set<string>> = []
  const kept: Unit[] = []
  let exact = 0
  let near = 0
  for (const [i, unit] of units.entries()) {
    const set = sets[i] ?? []
    const key = set.length === 0 ? unit.text : words(unit.text).join(' ')
    if (seen.has(key)) {
      exact++
      continue
    }
    let prefix: string[] = []
    if (set.length >= MIN_NEAR_WORDS) {
      const ordered = [...set].sort((a, b) => (df.get(a) ?? 0) - (df.get(b) ?? 0) || (a < b ? -1 : 1))
      prefix = ordered.slice(0, set.length - Math.ceil(threshold * set.length) + 1)
      const mine = new Set(set)
      const candidates = new Set<number>()
      for (const w of prefix) for (const k of prefixIndex.get(w) ?? []) candidates.add(k)
      let duplicate = false
      for (const k of candidates) {
        const other = keptSets[k] as Set<string>
        if (jaccard(mine, other) >= threshold) {
          duplicate = true
          break
        }
      }
      if (duplicate) {
        near++
        seen.add(key) // a later exact repeat of it counts as an exact duplicate
        continue
      }
      keptSets.push(mine)
    } else {
      keptSets.push(new Set(set))
    }
    seen.add(key)
    const slot = kept.length
    kept.push(unit)
    for (const w of prefix) {
      const list = prefixIndex.get(w)
      if (list === undefined) prefixIndex.set(w, [slot])
      else list.push(slot)
    }
  }
  return { kept, exact, near }
}

export function jaccard(a: ReadonlySet<string>, b: ReadonlySet<string>): number {
  if (a.size === 0 && b.size === 0) return 1
  const [small, large] = a.size <= b.size ? [a, b] : [b, a]
  let inter = 0
  for (const w of small) if (large.has(w)) inter++
  return inter / (a.size + b.size - inter)
}
