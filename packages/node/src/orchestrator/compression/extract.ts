/**
 * Extractive selection: picks units that fit a token budget and returns them in their original
 * order. Units are represented by TF-IDF vectors of their content words (numbers included: they
 * carry the figures). A unit's relevance is its cosine similarity to the rest of the text (centrality),
 * plus a small bonus for the opening units. Units are chosen greedily by maximal marginal
 * relevance — relevance minus similarity to what was already chosen, so a second copy of a point
 * loses to a new point — per square root of its tokens, while any unit still fits; a unit sharing
 * no content word with the rest of the text is left out when most units do share words (a text
 * of unrelated items is filled in order instead). When not even
 * one unit fits, the most relevant unit is cut to the budget at a word boundary. Above
 * {@link MMR_MAX_UNITS} units the redundancy term is left out (selection by relevance alone).
 */
import { joinUnits, type Unit } from './segment.ts'
import { countTokens, words } from './tokens.ts'

const STOP_WORDS = new Set(
  (
    'a an and are as at be been but by can could did do does for from had has have he her his how i if in ' +
    'into is it its me more most my no not of on or our she so some such than that the their them then ' +
    'there these they this those to too us was we were what when where which while who why will with would you your'
  ).split(' '),
)
const OPENING_UNITS = 2
const OPENING_BONUS = 0.1
/** Weight of relevance against redundancy in the selection (1: relevance only). */
const LAMBDA = 0.5
export const MMR_MAX_UNITS = 5000

type Vector = Map<string, number>

function vectors(units: readonly Unit[]): {
  vecs: Vector[]
  norms: number[]
  centroid: Vector
  centroidNorm: number
} {
  const tfs = units.map((u) => {
    const tf: Vector = new Map()
    for (const w of words(u.text)) if (!STOP_WORDS.has(w)) tf.set(w, (tf.get(w) ?? 0) + 1)
    return tf
  })
  const df = new Map<string, number>()
  for (const tf of tfs) for (const w of tf.keys()) df.set(w, (df.get(w) ?? 0) + 1)
  const n = units.length
  const centroid: Vector = new Map()
  const vecs = tfs.map((tf) => {
    const v: Vector = new Map()
    for (const [w, c] of tf) {
      const x = c * Math.log(1 + n / (df.get(w) ?? 1))
      v.set(w, x)
      centroid.set(w, (centroid.get(w) ?? 0) + x)
    }
    return v
  })
  return { vecs, norms: vecs.map(norm), centroid, centroidNorm: norm(centroid) }
}

function norm(v: Vector): number {
  let s = 0
  for (const x of v.values()) s += x * x
  return Math.sqrt(s)
}

function dot(a: Vector, b: Vector): number {
  const [small, large] = a.size <= b.size ? [a, b] : [b, a]
  let s = 0
  for (const [w, x] of small) {
    const y = large.get(w)
    if (y !== undefined) s += x * y
  }
  return s
}

export function selectUnits(units: readonly Unit[], budgetTokens: number): string {
  if (units.length === 0) return ''
  const { vecs, norms, centroid, centroidNorm } = vectors(units)
  // Centrality against the rest of the text (the centroid without the unit itself), so a unit
  // sharing no words with anything else scores 0 however rare its own words are.
  const relevance = units.map((u, i) => {
    const own = norms[i] as number
    const withSelf = dot(vecs[i] as Vector, centroid)
    const rest = Math.sqrt(Math.max(0, centroidNorm ** 2 - 2 * withSelf + own ** 2))
    const central = own === 0 || rest === 0 ? 0 : (withSelf - own ** 2) / (own * rest)
    return (central > 1e-9 ? central : 0) + (u.index < OPENING_UNITS ? OPENING_BONUS : 0) // 1e-9: rounding
  })
  // Off-topic units are left out only when the text has a topic: most units share words.
  const onTopic = relevance.filter(
    (r, i) => r > ((units[i] as Unit).index < OPENING_UNITS ? OPENING_BONUS : 0),
  )
  const dropOffTopic = onTopic.length * 2 >= units.length
  const tokens = units.map((u) => countTokens(u.text) + 1) // + the separator
  const eligible = (i: number) => !(dropOffTopic && (relevance[i] as number) === 0)
  const gainOf = (i: number, redundancy: number) =>
    (LAMBDA * (relevance[i] as number) - (1 - LAMBDA) * redundancy) / Math.sqrt(tokens[i] as number)
  const chosen: number[] = []
  let used = 0
  if (units.length > MMR_MAX_UNITS) {
    // Relevance alone: the gains do not change, so one pass in gain order.
    const order = [...units.keys()].filter(eligible).sort((a, b) => gainOf(b, 0) - gainOf(a, 0) || a - b)
    for (const i of order) {
      if (used + (tokens[i] as number) > budgetTokens) continue
      chosen.push(i)
      used += tokens[i] as number
    }
  } else {
    // Redundancy: each unit's highest cosine similarity to a chosen unit, updated after each pick
    // through an inverted index (only units sharing a word with the pick can change).
    const postings = new Map<string, Array<[number, number]>>()
    for (const [i, v] of vecs.entries()) {
      for (const [w, x] of v) {
        const list = postings.get(w)
        if (list === undefined) postings.set(w, [[i, x]])
        else list.push([i, x])
      }
    }
    const redundancy = new Float64Array(units.length)
    const acc = new Float64Array(units.length)
    const remaining = new Set([...units.keys()].filter(eligible))
    for (;;) {
      let best = -1
      let bestGain = Number.NEGATIVE_INFINITY
      for (const i of remaining) {
        if (used + (tokens[i] as number) > budgetTokens) continue
        const gain = gainOf(i, redundancy[i] as number)
        if (gain > bestGain) {
          bestGain = gain
          best = i
        }
      }
      if (best === -1) break
      remaining.delete(best)
      chosen.push(best)
      used += tokens[best] as number
      const touched: number[] = []
      for (const [w, x] of vecs[best] as Vector) {
        for (const [j, y] of postings.get(w) ?? []) {
          if (acc[j] === 0) touched.push(j)
          acc[j] = (acc[j] as number) + x * y
        }
      }
      const nb = norms[best] as number
      for (const j of touched) {
        const d = (norms[j] as number) * nb
        if (d > 0) redundancy[j] = Math.max(redundancy[j] as number, (acc[j] as number) / d)
        acc[j] = 0
      }
    }
  }
  if (chosen.length === 0) {
    let top = 0
    for (const i of units.keys()) if ((relevance[i] as number) > (relevance[top] as number)) top = i
    return truncateToTokens((units[top] as Unit).text, budgetTokens)
  }
  chosen.sort((a, b) => a - b)
  return joinUnits(chosen.map((i) => units[i] as Unit))
}

/** The longest prefix of `text` ending at a word boundary whose token count is within `budget`. */
export function truncateToTokens(text: string, budget: number): string {
  if (countTokens(text) <= budget) return text
  // Token counts add up across whitespace (no counted piece spans it), so count part by part.
  let out = ''
  let used = 0
  for (const part of text.split(/(?<=\s)/)) {
    const tokens = countTokens(part)
    if (used + tokens > budget) break
    out += part
    used += tokens
  }
  if (out !== '') return out.trimEnd()
  // The first word alone is over the budget: the longest character prefix that fits.
  const chars = Array.from(text)
  let lo = 0
  let hi = chars.length
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2)
    if (countTokens(chars.slice(0, mid).join('')) <= budget) lo = mid
    else hi = mid - 1
  }
  return chars.slice(0, lo).join('')
}
