/**
 * Splits text into units for deduplication and extractive selection: every non-empty line is a
 * paragraph, and a paragraph of prose is split further into sentences. Joining the units back
 * (`joinUnits`) keeps the line structure: units of one line with a space, lines with a newline.
 */
export interface Unit {
  /** Position of the unit in the text (units are numbered in order). */
  index: number
  /** The line (paragraph) it came from. */
  line: number
  /** Position of the unit within its line (0 = first sentence of the paragraph). */
  sentence: number
  text: string
}

// A sentence ends at . ! or ? followed by space and an upper-case letter, digit or quote.
const SENTENCE_END = /(?<=[.!?]["')\]]?)\s+(?=["'([]?[\p{Lu}\p{N}])/u

export function segment(text: string): Unit[] {
  const units: Unit[] = []
  const lines = text.split(/\r?\n/)
  for (const [line, raw] of lines.entries()) {
    const trimmed = raw.trim()
    if (trimmed === '') continue
    for (const [sentence, part] of trimmed.split(SENTENCE_END).entries()) {
      const t = part.trim()
      if (t !== '') units.push({ index: units.length, line, sentence, text: t })
    }
  }
  return units
}

export function joinUnits(units: readonly Unit[]): string {
  let out = ''
  let line = -1
  for (const u of units) {
    if (line === -1) out = u.text
    else out += u.line === line ? ` ${u.text}` : `\n${u.text}`
    line = u.line
  }
  return out
}
