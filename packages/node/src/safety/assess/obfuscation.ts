import { isAsciiLetter } from './code-units.ts'
import { loadedUnits } from './features.ts'
import type { Violation } from './violation.ts'

/**
 * Obfuscation: zero-width characters inside words, homoglyphs (Cyrillic/Greek letters mixed into
 * Latin words), base64-wrapped payloads and leetspeak. Each detector yields a normalised copy of
 * the text that the assessor scans again, so a hidden injection is still found.
 */

// Zero-width and invisible formatting characters (ZWJ only counts between letters: emoji use it).
const INVISIBLE_BETWEEN_LETTERS = /\p{L}(?:\u200d|[\u200b\u200c\u2060-\u2064\ufeff\u00ad\u180e])+\p{L}/u

/** Lookalike letters folded onto Latin (Cyrillic, Greek, full-width and a few symbols). */
const CONFUSABLES: Record<string, string> = {
  а: 'a',
  в: 'b',
  е: 'e',
  ё: 'e',
  к: 'k',
  м: 'm',
  н: 'h',
  о: 'o',
  р: 'p',
  с: 'c',
  т: 't',
  у: 'y',
  х: 'x',
  ѕ: 's',
  і: 'i',
  ї: 'i',
  ј: 'j',
  ԁ: 'd',
  ɡ: 'g',
  һ: 'h',
  ӏ: 'l',
  ԛ: 'q',
  ԝ: 'w',
  ү: 'y',
  А: 'A',
  В: 'B',
  Е: 'E',
  К: 'K',
  М: 'M',
  Н: 'H',
  О: 'O',
  Р: 'P',
  С: 'C',
  Т: 'T',
  Х: 'X',
  У: 'Y',
  І: 'I',
  Ј: 'J',
  Ѕ: 'S',
  α: 'a',
  ο: 'o',
  ρ: 'p',
  ν: 'v',
  τ: 't',
  ι: 'i',
  κ: 'k',
  χ: 'x',
  υ: 'u',
  ε: 'e',
  Α: 'A',
  Β: 'B',
  Ε: 'E',
  Ζ: 'Z',
  Η: 'H',
  Ι: 'I',
  Κ: 'K',
  Μ: 'M',
  Ν: 'N',
  Ο: 'O',
  Ρ: 'P',
  Τ: 'T',
  Υ: 'Y',
  Χ: 'X',
}
// Runs of Greek or Cyrillic letters; a run with a Latin letter right before or after it, where
// the touching letter is a lookalike, is a mixed word. (One scan; texts in those scripts have one
// match per word, texts without them none.)
const OTHER_RUN = /[\u0370-\u052f]+/g
const INVISIBLE_ANY = /(?:\u200d|[\u200b\u200c\u2060-\u2064\ufeff\u00ad\u180e])/

function mixedWord(text: string): [number, number] | undefined {
  OTHER_RUN.lastIndex = 0
  for (let m = OTHER_RUN.exec(text); m !== null; m = OTHER_RUN.exec(text)) {
    const s = m.index
    const e = s + m[0].length
    if (isAsciiLetter(text.charCodeAt(s - 1)) && CONFUSABLES[m[0].charAt(0)] !== undefined)
      return [s - 1, s + 1]
    if (isAsciiLetter(text.charCodeAt(e)) && CONFUSABLES[m[0].charAt(m[0].length - 1)] !== undefined)
      return [e - 1, e + 1]
  }
  return undefined
}
// Full-width Latin letters and digits (CJK text uses full-width punctuation legitimately).
const FULLWIDTH = /[\uff10-\uff19\uff21-\uff3a\uff41-\uff5a]/g

// Code unit → its Latin letter when it is a lookalike or full-width Latin (else itself).
const HOMOGLYPH_FOLD = new Uint16Array(65_536)
for (let c = 0; c < 65_536; c++) HOMOGLYPH_FOLD[c] = c
for (const [k, v] of Object.entries(CONFUSABLES)) HOMOGLYPH_FOLD[k.charCodeAt(0)] = v.charCodeAt(0)
for (const [from, to] of [
  [0xff10, 0xff19],
  [0xff21, 0xff3a],
  [0xff41, 0xff5a],
])
  for (let c = from as number; c <= (to as number); c++) HOMOGLYPH_FOLD[c] = c - 0xfee0
let foldUnitBytes = Buffer.alloc(8192)

/** `text` with every code unit c replaced by table[c]. */
function foldUnits(text: string, table: Uint16Array): string {
  const size = text.length * 2
  if (size > foldUnitBytes.length) foldUnitBytes = Buffer.alloc(Math.max(size, 2 * foldUnitBytes.length))
  const bytes = foldUnitBytes
  bytes.write(text, 0, 'utf16le')
  const u = new Uint16Array(bytes.buffer, bytes.byteOffset, text.length)
  for (let i = 0; i < u.length; i++) u[i] = table[u[i] as number] as number
  return bytes.toString('utf16le', 0, size)
}

export interface Normalised {
  text: string
  violation: Violation
}

// The code units INVISIBLE_ANY matches.
const IS_INVISIBLE = new Uint8Array(65_536)
for (let c = 0; c < 65_536; c++) if (INVISIBLE_ANY.test(String.fromCharCode(c))) IS_INVISIBLE[c] = 1

/** `text` without its invisible characters. */
function dropInvisible(text: string): string {
  const size = text.length * 2
  if (size > foldUnitBytes.length) foldUnitBytes = Buffer.alloc(Math.max(size, 2 * foldUnitBytes.length))
  const bytes = foldUnitBytes
  bytes.write(text, 0, 'utf16le')
  const u = new Uint16Array(bytes.buffer, bytes.byteOffset, text.length)
  let k = 0
  for (let i = 0; i < u.length; i++) {
    const c = u[i] as number
    if (IS_INVISIBLE[c] === 0) u[k++] = c
  }
  return bytes.toString('utf16le', 0, 2 * k)
}

/** Zero-width characters between letters: the stripped text and one finding, or undefined. */
export function stripInvisible(text: string): Normalised | undefined {
  if (!INVISIBLE_ANY.test(text)) return undefined
  const m = INVISIBLE_BETWEEN_LETTERS.exec(text)
  if (m === null) return undefined
  return {
    text: dropInvisible(text),
    violation: {
      category: 'obfuscation',
      rule: 'zero-width',
      severity: 0.5,
      span: [m.index, m.index + m[0].length],
    },
  }
}

/**
 * Lookalike letters inside Latin words (or full-width Latin): the folded text and one finding.
 * `script` / `wide`: whether the text has Greek or Cyrillic letters / full-width Latin at all
 * (the pre-filter knows; a check that cannot match is skipped).
 */
export function foldHomoglyphs(text: string, script = true, wideLatin = true): Normalised | undefined {
  const mixed = script ? mixedWord(text) : undefined
  const wide = mixed === undefined && wideLatin ? FULLWIDTH.test(text) : false
  FULLWIDTH.lastIndex = 0
  if (mixed === undefined && !wide) return undefined
  const folded = foldUnits(text, HOMOGLYPH_FOLD)
  return {
    text: folded,
    violation: {
      category: 'obfuscation',
      rule: mixed === undefined ? 'full-width' : 'homoglyph',
      severity: 0.5,
      ...(mixed === undefined ? {} : { span: mixed }),
    },
  }
}

// Two letter-digit-letter sandwiches ("1gn0r3" has n0r); units and versions (mp3, x86, sha256) have none.
const LEET_HINT = /[a-z][013457@$][a-z][\s\S]{0,40}?[a-z][013457@$][a-z]/i
const LEET: Record<string, string> = {
  '0': 'o',
  '1': 'i',
  '3': 'e',
  '4': 'a',
  '5': 's',
  '7': 't',
  '@': 'a',
  $: 's',
}

const LEET_HINTS = new RegExp(LEET_HINT.source, 'gi')
/** Characters around a leetspeak hint that are folded and scanned again. */
const LEET_REACH = 240
const MAX_LEET_WINDOWS = 16

/**
 * Leetspeak folded back to (lower-case) letters: the stretches around each place where digits sit
 * inside words (hashes and ids have such places too; only these stretches are scanned again).
 * `from`: where the first such place may start (the pre-filter knows).
 */
export function foldLeet(text: string, from = 0): string[] {
  const windows: string[] = []
  LEET_HINTS.lastIndex = from
  for (
    let m = LEET_HINTS.exec(text);
    m !== null && windows.length < MAX_LEET_WINDOWS;
    m = LEET_HINTS.exec(text)
  ) {
    const start = Math.max(0, m.index - LEET_REACH)
    const end = Math.min(text.length, m.index + m[0].length + LEET_REACH)
    windows.push(foldWindow(text, start, end))
    LEET_HINTS.lastIndex = end
  }
  return windows
}

/**
 * foldLeet given where every letter-leet-letter sandwich starts (in text order; the pre-filter
 * notes them), without a regular expression: a hint is the first sandwich from the last window's
 * end with another one starting 3 to 43 characters after it (LEET_HINT), and ends where the
 * nearest such one ends.
 */
export function foldLeetAt(text: string, sandwiches: Int32Array, count: number): string[] {
  const windows: string[] = []
  let after = 0
  let b = 0
  for (let a = 0; a < count && windows.length < MAX_LEET_WINDOWS; a++) {
    const first = sandwiches[a] as number
    if (first < after) continue
    if (b <= a) b = a + 1
    while (b < count && (sandwiches[b] as number) < first + 3) b++
    if (b >= count) break
    const second = sandwiches[b] as number
    if (second > first + 43) continue
    const start = Math.max(0, first - LEET_REACH)
    const end = Math.min(text.length, second + 3 + LEET_REACH)
    windows.push(foldWindow(text, start, end))
    after = end
  }
  return windows
}

// Lower-cased code unit → its letter when it is a leet character (else itself).
const LEET_FOLD = new Uint16Array(65_536)
for (let c = 0; c < 65_536; c++) LEET_FOLD[c] = c
for (const [k, v] of Object.entries(LEET)) LEET_FOLD[k.charCodeAt(0)] = v.charCodeAt(0)
// ASCII code unit → lower-cased, then its letter when it is a leet character.
const ASCII_FOLD = new Uint8Array(128)
for (let c = 0; c < 128; c++)
  ASCII_FOLD[c] = LEET_FOLD[String.fromCharCode(c).toLowerCase().charCodeAt(0)] as number
// Code unit → lower-cased, then its letter when it is a leet character; 0 where lower-casing one
// code unit alone does not tell (surrogates, U+0130 which lower-cases to two, capital sigma whose
// lower case depends on the letters around it).
const UNIT_FOLD = new Uint16Array(65_536)
for (let c = 0; c < 65_536; c++) {
  const lower = String.fromCharCode(c).toLowerCase()
  if (lower.length === 1 && !(c >= 0xd800 && c <= 0xdfff) && c !== 0x03a3)
    UNIT_FOLD[c] = LEET_FOLD[lower.charCodeAt(0)] as number
}
// Windows are at most 2 * LEET_REACH + 46 code units (a hint spans at most 46).
const foldAscii = Buffer.alloc(1024)
const foldWide = Buffer.alloc(2048)
const foldWideUnits = new Uint16Array(foldWide.buffer, foldWide.byteOffset, 1024)
let foldBytes = Buffer.alloc(4096)

/** text[start, end) lower-cased, leet characters replaced by their letters. */
function foldWindow(text: string, start: number, end: number): string {
  // One table lookup per code unit (the code units of the pre-filter when it still holds this
  // text): into bytes read back as Latin-1 while all are ASCII, else into 16-bit units.
  const n = end - start
  let i = 0
  if (n <= foldAscii.length) {
    const u = loadedUnits(text)
    const bytes = foldAscii
    if (u !== undefined) {
      for (; i < n; i++) {
        const c = u[start + i] as number
        if (c >= 128) break
        bytes[i] = ASCII_FOLD[c] as number
      }
    } else {
      for (; i < n; i++) {
        const c = text.charCodeAt(start + i)
        if (c >= 128) break
        bytes[i] = ASCII_FOLD[c] as number
      }
    }
    if (i === n) return bytes.toString('latin1', 0, n)
    const w = foldWideUnits
    for (let k = 0; k < i; k++) w[k] = bytes[k] as number
    for (; i < n; i++) {
      const f = UNIT_FOLD[u !== undefined ? (u[start + i] as number) : text.charCodeAt(start + i)] as number
      if (f === 0) break
      w[i] = f
    }
    if (i === n) return foldWide.toString('utf16le', 0, 2 * n)
  }
  // Lower-casing that needs the whole text (surrogate pairs, U+0130, capital sigma), or a long window.
  const lower = text.slice(start, end).toLowerCase()
  const size = lower.length * 2
  if (size > foldBytes.length) foldBytes = Buffer.alloc(size)
  foldBytes.write(lower, 0, 'utf16le')
  const w = new Uint16Array(foldBytes.buffer, foldBytes.byteOffset, lower.length)
  for (let k = 0; k < w.length; k++) w[k] = LEET_FOLD[w[k] as number] as number
  return foldBytes.toString('utf16le', 0, size)
}

// Base64 (and base64url) characters [A-Za-z0-9+/_-]: upper case, lower case or digit, '+' or '/',
// '-' or '_' (base64url); 0 for the rest.
const B64_UPPER = 1
const B64_LOWER_DIGIT = 2
const B64_SIGN = 3
const B64_URL = 4
const B64_CLASS = new Uint8Array(128)
for (let c = 65; c <= 90; c++) B64_CLASS[c] = B64_UPPER
for (let c = 97; c <= 122; c++) B64_CLASS[c] = B64_LOWER_DIGIT
for (let c = 48; c <= 57; c++) B64_CLASS[c] = B64_LOWER_DIGIT
B64_CLASS[43] = B64_SIGN
B64_CLASS[47] = B64_SIGN
B64_CLASS[45] = B64_URL
B64_CLASS[95] = B64_URL
const b64Class = (c: number): number => (c < 128 ? (B64_CLASS[c] as number) : 0)
const MAX_DECODED = 64 * 1024

/**
 * Base64 (or base64url) runs inside the given long tokens that decode to readable UTF-8 text.
 * Returns the decoded texts with their spans; the caller scans them and reports
 * `base64-payload` only when they hide something.
 */
export function decodeBase64Runs(
  text: string,
  tokens: { start: Int32Array; end: Int32Array; count: number },
): { text: string; span: [number, number] }[] {
  const found: { text: string; span: [number, number] }[] = []
  let budget = MAX_DECODED
  for (let t = 0; t < tokens.count && budget > 0; t++) {
    const end = tokens.end[t] as number
    // Runs: 16+ base64 characters with no such character before them (in the token), then up to
    // two '='.
    let i = tokens.start[t] as number
    while (i < end && budget > 0) {
      if (b64Class(text.charCodeAt(i)) === 0) {
        i++
        continue
      }
      const runStart = i
      let upper = false
      let lowerDigit = false
      let url = false
      for (; i < end; i++) {
        const k = b64Class(text.charCodeAt(i))
        if (k === 0) break
        if (k === B64_UPPER) upper = true
        else if (k === B64_LOWER_DIGIT) lowerDigit = true
        else if (k === B64_URL) url = true
      }
      if (i - runStart < 16) continue
      const letters = i
      while (i < end && i - letters < 2 && text.charCodeAt(i) === 61) i++
      // Plain words and identifiers are not base64: require mixed case or digits.
      if (!upper || !lowerDigit) continue
      const run = text.slice(runStart, i)
      const bytes = Buffer.from(run, url ? 'base64url' : 'base64')
      if (bytes.length < 8) continue
      budget -= bytes.length
      const decoded = bytes.toString('utf8')
      if (!readable(decoded)) continue
      found.push({ text: decoded, span: [runStart, i] })
    }
  }
  return found
}

function readable(s: string): boolean {
  // At least 90% printable: stop once too many are not for that to hold.
  const n = s.length
  const need = n * 0.9
  let bad = 0
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i)
    if ((c >= 32 && c < 127) || c === 10 || c === 13 || c === 9 || (c >= 0xa0 && c !== 0xfffd)) continue
    bad++
    if (n - bad < need) return false
  }
  return n - bad >= need
}
