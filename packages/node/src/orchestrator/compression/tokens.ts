/**
 * Token counting for context budgets. PRSM does not ship a model tokenizer, so budgets use a
 * documented approximation of BPE tokenizers on text: every run of letters or digits counts one
 * token per started 6 characters ("the" 1, "compression" 2, "1958" 1), every other visible
 * character (punctuation, symbols) counts one, whitespace counts nothing. On English prose this
 * lands close to the counts of common BPE vocabularies; it is a budget estimate, not a tokenizer.
 */
const PIECE = /[\p{L}\p{N}]+|[^\s\p{L}\p{N}]/gu
const WORD = /[\p{L}\p{N}]+/gu
const CHARS_PER_WORD_TOKEN = 6

/** Approximate token count of `text` (see the module comment for the rule). */
export function countTokens(text: string): number {
  let n = 0
  for (const m of text.matchAll(PIECE)) {
    const piece = m[0]
    n += /[\p{L}\p{N}]/u.test(piece) ? Math.ceil(piece.length / CHARS_PER_WORD_TOKEN) : 1
  }
  return n
}

/** Lower-cased words (runs of letters or digits): the units ROUGE-L, salience and dedup compare. */
export function words(text: string): string[] {
  return Array.from(text.toLowerCase().matchAll(WORD), (m) => m[0])
}
