/**
 * Extractive selection: picks the most salient units that fit a token budget and returns them in
 * their original order. A unit's score is the mean salience of its content words (a word's
 * salience is log(1 + its count in the whole text); stop words count nothing) plus a position
 * bonus for the opening units of the text and the first sentence of each paragraph. Units are
 * taken greedily by score per token; a unit that does not fit is skipped for smaller ones. When
 * not even one unit fits, the best unit is cut to the budget at a word boundary.
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
const OPENING_UNITS = 3
const OPENING_BONUS = 0.5
const PARAGRAPH_START_BONUS = 0.25

export function selectUnits(units: readonly Unit[], budgetTokens: number): string {
  const counts = new Map<string, number>()
  const unitWords = units.map((u) => words(u.text).filter((w) => !STOP_WORDS.has(w)))
  for (const ws of unitWords) for (const w of ws) counts.set(w, (counts.get(w) ?? 0) + 1)
  const maxSalience = Math.log1p(Math.max(1, ...counts.values()))
  const scored = units.map((unit, i) => {
    const ws = unitWords[i] ?? []
    let salience = 0
    for (const w of ws) salience += Math.log1p(counts.get(w) ?? 0) / maxSalience
    const mean = ws.length === 0 ? 0 : salience / ws.length
    const bonus =
      (unit.index < OPENING_UNITS ? OPENING_BONUS : 0) + (unit.sentence === 0 ? PARAGRAPH_START_BONUS : 0)
    const tokens = countTokens(unit.text) + 1 // + the separator
    return { unit, score: mean + bonus, tokens }
  })
  const order = [...scored].sort(
    (a, b) => b.score / b.tokens - a.score / a.tokens || a.unit.index - b.unit.index,
  )
  const chosen: Unit[] = []
  let used = 0
  for (const s of order) {
    if (used + s.tokens > budgetTokens) continue
    chosen.push(s.unit)
    used += s.tokens
  }
  if (chosen.length === 0) {
    const best = [...scored].sort((a, b) => b.score - a.score || a.unit.index - b.unit.index)[0]
    return best === undefined ? '' : truncateToTokens(best.unit.text, budgetTokens)
  }
  chosen.sort((a, b) => a.index - b.index)
  return joinUnits(chosen)
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
