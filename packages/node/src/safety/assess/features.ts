/**
 * The pre-filter of tier 1. One native regex pass finds trigger phrases (each mapped to the rules
 * it can start) and long unbroken tokens (where keys and base64 live); a few `indexOf` calls and
 * one-shot tests find '@', role markers, PEM armour, digits and characters outside Latin-1. The
 * detectors then run only where these point. The state object is reused between calls.
 */

const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/ /g, '\\s+')

/** The bit a trigger carries when it means "look for long tokens" (key prefixes, key words). */
export const TOKEN_BIT = 1 << 30

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

export interface Features {
  /** Positions and rule masks of trigger phrases, in text order. */
  hitPos: Int32Array
  hitMask: Int32Array
  hits: number
  /** MARKER_* bits seen. */
  markers: number
  /** Index of the first '@' (-1 when none). */
  at: number
  /** Digits in the text, counted up to 16. */
  digits: number
  /** Whitespace-delimited tokens of 16+ characters (when a key or base64 may be present). */
  tokenStart: Int32Array
  tokenEnd: Int32Array
  tokens: number
  /** A PEM header ("-----BEGIN"). */
  dashes: boolean
  /** A character above U+00FF, or a soft hyphen. */
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
    tokenStart: new Int32Array(MAX_TOKENS),
    tokenEnd: new Int32Array(MAX_TOKENS),
    tokens: 0,
    dashes: false,
    nonLatin1: false,
  }
}

const NON_LATIN1 = /[\u0100-\uffff]/
const DIGIT = /\d/g
const BRACKET_MARKER = /\[(?:\/?inst|system)/i

// Lower-case then upper-case inside a run: base64 and most keys have it, prose rarely does.
const MIXED_CASE = /[a-z][A-Z]/
// A whitespace-delimited token of 16+ characters.
const LONG_TOKEN = /(?:^|\s)(\S{16,})/g

/** Fills `f` for `text` and returns it. */
export function extractFeatures(text: string, table: TriggerTable, f: Features): Features {
  f.hits = 0
  f.tokens = 0
  let wantTokens = false
  const re = table.regex()
  re.lastIndex = 0
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    const mask = table.lookup(m[1] as string)
    if ((mask & TOKEN_BIT) !== 0) wantTokens = true
    if ((mask & ~TOKEN_BIT) !== 0 && f.hits < MAX_HITS) {
      f.hitPos[f.hits] = m.index
      f.hitMask[f.hits] = mask & ~TOKEN_BIT
      f.hits++
    }
    // Overlapping phrases ("system message update") each count: resume one character on.
    re.lastIndex = m.index + 1
  }
  f.dashes = text.includes('-----BEGIN')
  if (wantTokens || f.dashes || MIXED_CASE.test(text)) {
    LONG_TOKEN.lastIndex = 0
    for (let m = LONG_TOKEN.exec(text); m !== null && f.tokens < MAX_TOKENS; m = LONG_TOKEN.exec(text)) {
      const token = m[1] as string
      const e = m.index + m[0].length
      f.tokenStart[f.tokens] = e - token.length
      f.tokenEnd[f.tokens] = e
      f.tokens++
    }
  }
  f.at = text.indexOf('@')
  f.markers =
    (text.includes('<|') || text.includes('<<') ? MARKER_LT : 0) |
    (text.includes('[') && BRACKET_MARKER.test(text) ? MARKER_BRACKET : 0) |
    (text.includes('##') ? MARKER_HASHES : 0)
  f.nonLatin1 = NON_LATIN1.test(text) || text.includes('\u00ad')
  DIGIT.lastIndex = 0
  let digits = 0
  while (digits < 16 && DIGIT.exec(text) !== null) digits++
  f.digits = digits
  return f
}
