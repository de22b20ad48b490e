/**
 * The pre-filter of tier 1. One native regex pass finds trigger phrases (each mapped to the rules
 * it can start) and long unbroken tokens (where keys and base64 live); a few `indexOf` calls and
 * one-shot tests find '@', role markers, PEM armour, digits and characters outside Latin-1. The
 * detectors then run only where these point. The state object is reused between calls.
 */

const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/ /g, '\\s+')

/** The bit a trigger carries when a key may start at it (provider key prefixes). */
export const TOKEN_BIT = 1 << 30
/** The bit a trigger carries when a key may follow it ("private key", "mnemonic"). */
export const CONTEXT_BIT = 1 << 29

type Trie = Map<string, Trie>
const END = ''

/** Splits an escaped phrase into regex units (`\\s+`, `\\b`, `\\x`, or one character). */
function units(s: string): string[] {
  const out: string[] = []
  for (let i = 0; i < s.length; ) {
    const two = s.slice(i, i + 2)
    if (s.startsWith('\\s+', i)) {
      out.push('\\s+')
      i += 3
    } else if (two[0] === '\\') {
      out.push(two)
      i += 2
    } else {
      out.push(s.charAt(i))
      i++
    }
  }
  return out
}

/** A trie-shaped alternation: the regex engine dispatches on the first letters instead of trying every phrase. */
function trieSource(phrases: string[]): string {
  const root: Trie = new Map()
  for (const p of phrases) {
    let node = root
    for (const u of units(p)) {
      let next = node.get(u)
      if (next === undefined) {
        next = new Map()
        node.set(u, next)
      }
      node = next
    }
    node.set(END, new Map())
  }
  const emit = (node: Trie): string => {
    const parts: string[] = []
    let ends = false
    for (const [u, child] of node) {
      if (u === END) ends = true
      else parts.push(u + emit(child))
    }
    if (parts.length === 0) return ''
    if (ends) return `(?:${parts.join('|')})?`
    return parts.length === 1 ? (parts[0] as string) : `(?:${parts.join('|')})`
  }
  return emit(root)
}

/** Trigger phrases (a word-start prefix, or a whole word when it ends in `$`) → rule bit masks. */
export class TriggerTable {
  readonly #masks = new Map<string, number>()
  #re: RegExp | undefined

  add(phrase: string, mask: number): void {
    const key = phrase.toLowerCase()
    this.#masks.set(key, (this.#masks.get(key) ?? 0) | mask)
    this.#re = undefined
  }

  /** The mask for a matched phrase (whitespace runs count as one space). */
  lookup(matched: string): number {
    const key = matched.toLowerCase()
    return (
      this.#masks.get(key) ?? this.#masks.get(key.replace(/\s+/g, ' ')) ?? this.#masks.get(`${key}$`) ?? 0
    )
  }

  /** All trigger phrases, each at a word start. */
  regex(): RegExp {
    if (this.#re === undefined) {
      const alts = [...this.#masks.keys()].map((k) =>
        k.endsWith('$') ? `${escapeRe(k.slice(0, -1))}\\b` : escapeRe(k),
      )
      this.#re = new RegExp(`\\b(${trieSource(alts)})`, 'gi')
    }
    return this.#re
  }
}

export const MARKER_LT = 1 // "<|" or "<<"
export const MARKER_BRACKET = 2 // "[inst", "[/inst", "[system"
export const MARKER_HASHES = 4 // "##"

const MAX_HITS = 256
const MAX_TOKENS = 64
const MAX_RUNS = 64

export interface Features {
  /** Positions and rule masks of trigger phrases, in text order. */
  hitPos: Int32Array
  hitMask: Int32Array
  hits: number
  /** MARKER_* bits seen. */
  markers: number
  /** Index of the first '@' (-1 when none). */
  at: number
  /** Digits in the longest run of 6+ digits (spaces, dashes, dots, brackets between); 0 when none. */
  digits: number
  /** Any digit at all. */
  anyDigit: boolean
  /** The runs of 6+ digits: [start, end) and their digit counts. */
  runStart: Int32Array
  runEnd: Int32Array
  runDigits: Int32Array
  runs: number
  /** Whitespace-delimited tokens of 16+ characters where a key or base64 may be: at key prefixes, after key words, around mixed-case runs. */
  tokenStart: Int32Array
  tokenEnd: Int32Array
  tokens: number
  /** A PEM header ("-----BEGIN"). */
  dashes: boolean
  /** A character obfuscation uses (invisible, Greek, Cyrillic, full-width Latin, soft hyphen). */
  nonLatin1: boolean
}

export function newFeatures(): Features {
  return {
    hitPos: new Int32Array(MAX_HITS),
    hitMask: new Int32Array(MAX_HITS),
    hits: 0,
    markers: 0,
    at: -1,
    digits: 0,
    anyDigit: false,
    runStart: new Int32Array(MAX_RUNS),
    runEnd: new Int32Array(MAX_RUNS),
    runDigits: new Int32Array(MAX_RUNS),
    runs: 0,
    tokenStart: new Int32Array(MAX_TOKENS),
    tokenEnd: new Int32Array(MAX_TOKENS),
    tokens: 0,
    dashes: false,
    nonLatin1: false,
  }
}

// The characters obfuscation uses: soft hyphen, Greek, Cyrillic, invisible formatting, full-width Latin.
// (All above U+00FF, so a one-byte string is answered without a scan; the soft hyphen, in
// Latin-1, is looked for with includes.)
const OBFUSCATION_CHARS =
  /[\u0261\u0370-\u03ff\u0400-\u052f\u180e\u200b-\u200d\u2060-\u2064\ufeff\uff10-\uff5a]/
const ANY_DIGIT = /\d/
const NUMBER_RUN = /\d(?:[ ()./+-]{0,2}\d){5,}/g
const isDigit = (c: number): boolean => c >= 48 && c <= 57
const BRACKET_MARKER = /\[(?:\/?inst|system)/i

// Case flipping twice within a few characters: base64 and random key bodies have it, prose
// (even "JavaScript", "iPhone", "McDonald") rarely does.
const MIXED_CASE = /[a-z][A-Z][a-z0-9+/]{0,4}[A-Z]/g
/** Characters after a key-introducing word ("private key:") searched for the key. */
const CONTEXT_REACH = 160
/** Longest token widened around a hint. */
const MAX_TOKEN = 16_384

function isSpace(c: number): boolean {
  return c === 32 || (c >= 9 && c <= 13) || c === 0xa0 || c === 0x3000 || c === 0x2028 || c === 0x2029
}

/** Adds the whitespace-delimited token around `pos` when it has 16+ characters; returns its end. */
function addTokenAt(text: string, pos: number, f: Features): number {
  let s = pos
  const floor = Math.max(0, pos - MAX_TOKEN)
  while (s > floor && !isSpace(text.charCodeAt(s - 1))) s--
  let e = pos
  const ceil = Math.min(text.length, pos + MAX_TOKEN)
  while (e < ceil && !isSpace(text.charCodeAt(e))) e++
  if (e - s < 16 || f.tokens >= MAX_TOKENS) return e
  // Hints arrive roughly in order; skip a token already taken.
  for (let i = 0; i < f.tokens; i++) if (f.tokenStart[i] === s) return e
  f.tokenStart[f.tokens] = s
  f.tokenEnd[f.tokens] = e
  f.tokens++
  return e
}

/** Fills `f` for `text` and returns it. */
export function extractFeatures(text: string, table: TriggerTable, f: Features): Features {
  f.hits = 0
  f.tokens = 0
  const re = table.regex()
  re.lastIndex = 0
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    const mask = table.lookup(m[1] as string)
    if ((mask & TOKEN_BIT) !== 0) addTokenAt(text, m.index, f)
    if ((mask & CONTEXT_BIT) !== 0) {
      // The key follows the word: take every long token within reach.
      const end = Math.min(text.length, m.index + CONTEXT_REACH)
      for (let p = m.index + m[0].length; p < end; p++) {
        if (!isSpace(text.charCodeAt(p))) p = addTokenAt(text, p, f)
      }
    }
    const rules = mask & ~(TOKEN_BIT | CONTEXT_BIT)
    if (rules !== 0 && f.hits < MAX_HITS) {
      f.hitPos[f.hits] = m.index
      f.hitMask[f.hits] = rules
      f.hits++
    }
    // Overlapping phrases ("system message update") each count: resume one character on.
    re.lastIndex = m.index + 1
  }
  f.dashes = text.includes('-----BEGIN')
  MIXED_CASE.lastIndex = 0
  for (let m = MIXED_CASE.exec(text); m !== null && f.tokens < MAX_TOKENS; m = MIXED_CASE.exec(text)) {
    MIXED_CASE.lastIndex = Math.max(m.index + 1, addTokenAt(text, m.index, f))
  }
  f.at = text.indexOf('@')
  f.markers =
    (text.includes('<|') || text.includes('<<') ? MARKER_LT : 0) |
    (text.includes('[') && BRACKET_MARKER.test(text) ? MARKER_BRACKET : 0) |
    (text.includes('##') ? MARKER_HASHES : 0)
  f.nonLatin1 = OBFUSCATION_CHARS.test(text) || text.includes('\u00ad')
  // The longest run of digits (separators allowed) that could be a number identifying someone.
  let digits = 0
  f.runs = 0
  if (ANY_DIGIT.test(text)) {
    NUMBER_RUN.lastIndex = 0
    for (let m = NUMBER_RUN.exec(text); m !== null && f.runs < MAX_RUNS; m = NUMBER_RUN.exec(text)) {
      let n = 0
      for (let i = 0; i < m[0].length; i++) if (isDigit(m[0].charCodeAt(i))) n++
      if (n > digits) digits = n
      f.runStart[f.runs] = m.index
      f.runEnd[f.runs] = m.index + m[0].length
      f.runDigits[f.runs] = n
      f.runs++
    }
  }
  f.digits = digits
  f.anyDigit = digits > 0 || ANY_DIGIT.test(text)
  return f
}
