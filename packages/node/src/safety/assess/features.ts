/**
 * The pre-filter of tier 1: one pass over the text's UTF-16 code units (copied natively into
 * WebAssembly memory) with a 65,536-entry class table finds the positions with something to do
 * (scan-wasm.ts): word starts whose first five letters can begin a trigger phrase, digits, '@',
 * role-marker openers, PEM armour, case flips, leetspeak sandwiches and obfuscation characters.
 * At those word starts the letters walk a precompiled trie of trigger phrases (Int32Array
 * transitions). The detectors then run only where these point. The state object is reused
 * between calls, and nothing is allocated on the clean path.
 */

import { isAsciiLetter, isLowerUnit, isUpperUnit } from './code-units.ts'
import { WasmScan } from './scan-wasm.ts'

/** The bit a trigger carries when a key may start at it (provider key prefixes). */
export const TOKEN_BIT = 1 << 30
/** The bit a trigger carries when a key may follow it ("private key", "mnemonic"). */
export const CONTEXT_BIT = 1 << 29

// Character classes (CLS). 1..5 are word characters for `\b` ([A-Za-z0-9_]).
const K_OTHER = 0 // nothing to note (space, most punctuation, scripts obfuscation does not use)
const K_LOWER = 1 // a-z
const K_UPPER = 2 // A-Z
const K_LEET_DIGIT = 3 // 0 1 3 4 5 7 (stand for letters in leetspeak)
const K_DIGIT = 4 // 2 6 8 9
const K_UNDERSCORE = 5
const K_LEET_SIGN = 6 // '@' '$'
const K_SPECIAL = 7 // '<' '['
const K_OBFUSCATION = 8 // invisible, Greek, Cyrillic, full-width Latin, soft hyphen, U+0261
const K_PAIR = 9 // '#' '-': only a pair of them ("##", "--") calls for a look

const CLS = new Uint8Array(65_536)
for (let c = 97; c <= 122; c++) CLS[c] = K_LOWER
for (let c = 65; c <= 90; c++) CLS[c] = K_UPPER
for (let c = 48; c <= 57; c++) CLS[c] = '013457'.includes(String.fromCharCode(c)) ? K_LEET_DIGIT : K_DIGIT
CLS[95] = K_UNDERSCORE
CLS[64] = K_LEET_SIGN
CLS[36] = K_LEET_SIGN
for (const ch of '<[') CLS[ch.charCodeAt(0)] = K_SPECIAL
for (const ch of '#-') CLS[ch.charCodeAt(0)] = K_PAIR

// Obfuscation characters, split by the check they call for.
const OBF_INVISIBLE = 1 // zero-width and invisible formatting, soft hyphen (stripInvisible)
const OBF_SCRIPT = 2 // Greek and Cyrillic (homoglyphs)
const OBF_WIDE = 4 // full-width Latin letters and digits
const OBF_OTHER = 8 // U+0261 and full-width punctuation in U+FF10..U+FF5A
// Not a class: a Greek or Cyrillic code unit with an ASCII letter right before or after it (a
// word mixing scripts, what the homoglyph check looks for; words wholly in those scripts have none).
const OBF_TOUCHES_LATIN = 16
const OBF = new Uint8Array(65_536)
const range = (from: number, to: number, kind: number): void => {
  for (let c = from; c <= to; c++) OBF[c] = kind
}
range(0x0261, 0x0261, OBF_OTHER)
range(0x0370, 0x052f, OBF_SCRIPT)
range(0xff10, 0xff5a, OBF_OTHER)
range(0xff10, 0xff19, OBF_WIDE)
range(0xff21, 0xff3a, OBF_WIDE)
range(0xff41, 0xff5a, OBF_WIDE)
for (const c of [0x00ad, 0x180e, 0x200b, 0x200c, 0x200d, 0x2060, 0x2061, 0x2062, 0x2063, 0x2064, 0xfeff])
  OBF[c] = OBF_INVISIBLE
for (let c = 0; c < 65_536; c++) if (OBF[c] !== 0) CLS[c] = K_OBFUSCATION

// `\s` of JavaScript regular expressions.
const SPACE = new Uint8Array(65_536)
for (const c of [9, 10, 11, 12, 13, 32, 0xa0, 0x1680, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000, 0xfeff])
  SPACE[c] = 1
for (let c = 0x2000; c <= 0x200a; c++) SPACE[c] = 1

/**
 * The gate's five-bit code of a code unit: letters 1..26 in either case, whitespace 0, digits 27,
 * '-' 28, '_' 29, "'" 30, anything else 31.
 */
const GCODE = new Uint8Array(65_536).fill(31)
for (let c = 0; c < 26; c++) {
  GCODE[97 + c] = c + 1
  GCODE[65 + c] = c + 1
}
for (let c = 0; c < 65_536; c++) if (SPACE[c] === 1) GCODE[c] = 0
for (let c = 48; c <= 57; c++) GCODE[c] = 27
GCODE[45] = 28
GCODE[95] = 29
GCODE[39] = 30
/** Index into a half of the gate of three gate codes; 0 is always clear. */
const gateIndex = (g0: number, g1: number, g2: number): number => 1 + ((g0 << 10) | (g1 << 5) | g2)
/** Where the gate's second half (second to fifth code units) starts. */
const GATE2 = 1 + 32 * 32 * 32

/**
 * Trigger phrases (a word-start prefix, or a whole word when it ends in `$`; a space stands for
 * any run of whitespace; letters match either case) → rule bit masks, compiled into a trie.
 * At each word start the trie is walked as far as the text allows and the longest phrase ending
 * on the way is taken — except that a whole-word phrase added before a longer phrase continuing
 * with a non-word character ends the walk where its word ends.
 */
export class TriggerTable {
  readonly #masks = new Map<string, number>()
  #trie: Trie | undefined

  add(phrase: string, mask: number): void {
    const key = phrase.toLowerCase()
    if (!/^[a-z]/.test(key)) throw new Error(`trigger ${phrase} must start with a letter`)
    this.#masks.set(key, (this.#masks.get(key) ?? 0) | mask)
    this.#trie = undefined
  }

  /** The compiled trie. */
  trie(): Trie {
    if (this.#trie === undefined) this.#trie = compile(this.#masks)
    return this.#trie
  }
}

interface Trie {
  /** Symbol per code unit (0: no phrase goes on with it). Letters of either case share one. */
  sym: Uint8Array
  /** Symbols per state (the transitions of a state's row; its info follows them). */
  width: number
  /**
   * A row of width + 1 entries per state, so one walk step reads one row: row[state * (width + 1)
   * + symbol] is the following state (0 when none; state 1 is the root), row[state * (width + 1)
   * + width] the state's info (0 when no phrase ends there, else an index into the arrays below).
   */
  row: Uint16Array | Int32Array
  /** Mask of the phrase ending at a state, by info. */
  end: Int32Array
  /** Mask of the whole-word phrase ending at a state, taken when the next character is not a word character; by info. */
  wordEnd: Int32Array
  /** By info * width + symbol: 1 when the symbol's transition was added after the state's whole-word end (a boundary there ends the walk first). */
  afterWordEnd: Uint8Array
  /** The symbol of whitespace. */
  space: number
  /**
   * The five-letter gate, two bitsets of 128 KB: bit (c3 & 31) of gate[gateIndex(c0, c1, c2)] is
   * set when a phrase may start with the code units c0..c3, and bit (c4 & 31) of
   * gate[GATE2 + gateIndex(c1, c2, c3)] when its second to fifth may be c1..c4.
   */
  gate: Int32Array
}

function compile(masks: Map<string, number>): Trie {
  const sym = new Uint8Array(65_536)
  let symbols = 1
  const space = symbols++
  for (let c = 0; c < 65_536; c++) if (SPACE[c] === 1) sym[c] = space
  for (const key of masks.keys()) {
    for (const ch of key.replace(/\$$/, '')) {
      const c = ch.charCodeAt(0)
      if (ch === ' ' || sym[c] !== 0) continue
      sym[c] = symbols
      if (c >= 97 && c <= 122) sym[c - 32] = symbols
      symbols++
    }
  }
  // Build with growable arrays, then pack.
  const next: number[][] = [[], []]
  const end: number[] = [0, 0]
  const wordEnd: number[] = [0, 0]
  const order: Map<number, number>[] = [new Map(), new Map()] // symbol → insertion rank per state
  const wordEndRank: number[] = [-1, -1]
  for (const [key, mask] of masks) {
    const whole = key.endsWith('$')
    const phrase = whole ? key.slice(0, -1) : key
    let state = 1
    for (let i = 0; i < phrase.length; i++) {
      const s = phrase[i] === ' ' ? space : (sym[phrase.charCodeAt(i)] as number)
      let to = (next[state] as number[])[s]
      if (to === undefined) {
        to = next.length
        next.push([])
        end.push(0)
        wordEnd.push(0)
        order.push(new Map())
        wordEndRank.push(-1)
        ;(next[state] as number[])[s] = to
        const ranks = order[state] as Map<number, number>
        ranks.set(s, ranks.size)
      }
      state = to
    }
    if (whole) {
      wordEnd[state] = (wordEnd[state] as number) | mask
      const ranks = order[state] as Map<number, number>
      if (wordEndRank[state] === -1) wordEndRank[state] = ranks.size
      ranks.set(-1, ranks.size)
    } else end[state] = (end[state] as number) | mask
    if (end[state] !== 0 && wordEnd[state] !== 0) throw new Error(`trigger ${key} both ends and ends a word`)
  }
  const width = symbols
  const stride = width + 1
  // 16-bit states while they fit: half the table, fewer cache misses on the walks.
  const row =
    next.length < 65_536 ? new Uint16Array(next.length * stride) : new Int32Array(next.length * stride)
  const ends = [0]
  const wordEnds = [0]
  const after: number[] = []
  for (let state = 0; state < next.length; state++) {
    const transitions = next[state] as number[]
    for (let s = 0; s < transitions.length; s++)
      if (transitions[s] !== undefined) row[state * stride + s] = transitions[s] as number
    if (end[state] === 0 && wordEnd[state] === 0) continue
    const info = ends.length
    if (info >= 65_536 && row instanceof Uint16Array) throw new Error('too many trigger phrases')
    row[state * stride + width] = info
    ends.push(end[state] as number)
    wordEnds.push(wordEnd[state] as number)
    const rank = wordEndRank[state] as number
    const afterThis = new Array<number>(width).fill(0)
    if (rank >= 0)
      for (const [s, r] of order[state] as Map<number, number>) if (s >= 0 && r > rank) afterThis[s] = 1
    while (after.length < info * width) after.push(0)
    after.push(...afterThis)
  }
  // The first five characters of each phrase as gate codes (letters of either case agree; codes
  // shared by several characters only add walks, which then fail). A phrase's space stands for a
  // run of any whitespace, so from it on a position may also hold whitespace or any phrase
  // character up to there; past the phrase's end any character matches.
  const gate = new Int32Array(2 * GATE2)
  const ANY = Array.from({ length: 32 }, (_, x) => x)
  const blank = [0]
  for (const key of masks.keys()) {
    const phrase = key.replace(/\$$/, '')
    const firstSpace = phrase.indexOf(' ')
    const codes: number[][] = []
    for (let p = 0; p < 5; p++) {
      const set = new Set<number>()
      const shift = firstSpace >= 0 && p > firstSpace ? p - firstSpace : 0
      for (let r = 0; r <= shift; r++) {
        const ch = phrase[p - r]
        if (ch === undefined) for (const x of ANY) set.add(x)
        else if (ch === ' ') for (const x of blank) set.add(x)
        else set.add(GCODE[phrase.charCodeAt(p - r)] as number)
      }
      if (firstSpace >= 0 && p > firstSpace) for (const x of blank) set.add(x)
      codes.push([...set])
    }
    for (const [base, from] of [
      [0, 0],
      [GATE2, 1],
    ] as const)
      for (const a of codes[from] as number[])
        for (const b of codes[from + 1] as number[])
          for (const c of codes[from + 2] as number[]) {
            const at = base + gateIndex(a, b, c)
            for (const d of codes[from + 3] as number[]) gate[at] = (gate[at] as number) | (1 << d)
          }
  }
  return {
    gate,
    sym,
    width,
    row,
    end: Int32Array.from(ends),
    wordEnd: Int32Array.from(wordEnds),
    afterWordEnd: Uint8Array.from(after),
    space,
  }
}

export const MARKER_LT = 1 // "<|" or "<<"
export const MARKER_BRACKET = 2 // "[inst", "[/inst", "[system"
export const MARKER_HASHES = 4 // "##"

/** Trigger hits kept per text (past it, injection searches every sentence whole). */
export const MAX_HITS = 256
const MAX_TOKENS = 64
const MAX_RUNS = 64
/** Leetspeak sandwiches whose places are kept (past this, the assessor finds them again itself). */
export const MAX_LEET = 256

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
  /** Which of those: OBF_* bits (invisible 1, Greek/Cyrillic 2, full-width Latin 4, other 8), and 16 when a Greek or Cyrillic code unit touches an ASCII letter. */
  obfuscation: number
  /** Letter, leet character, letter sandwiches ("1gn0r3" has n0r): how many, and where the first starts. */
  leet: number
  leetFrom: number
  /** Where the sandwiches start, in text order: all of them while `leet` <= MAX_LEET. */
  leetPos: Int32Array
}

export const OBFUSCATION_INVISIBLE = OBF_INVISIBLE
export const OBFUSCATION_SCRIPT = OBF_SCRIPT
export const OBFUSCATION_WIDE = OBF_WIDE
export const OBFUSCATION_TOUCHES_LATIN = OBF_TOUCHES_LATIN

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
    obfuscation: 0,
    leet: 0,
    leetFrom: -1,
    leetPos: new Int32Array(MAX_LEET),
  }
}

// Case flipping twice within a few characters ([a-z][A-Z][a-z0-9+/]{0,4}[A-Z]): base64 and random
// key bodies have it, prose (even "JavaScript", "iPhone", "McDonald") rarely does. Looked for from
// the first lower→upper flip.

/** Lower→upper flips kept per text (their places, scratch of extractFeatures). */
const MAX_FLIPS = 1024
const FLIPS = new Int32Array(MAX_FLIPS)

/** Whether [a-z][A-Z][a-z0-9+/]{0,4}[A-Z] matches at `p` (u[n..] are 0 sentinels). */
function mixedCaseAt(u: Uint16Array, p: number): boolean {
  if (!isLowerUnit(u[p] as number) || !isUpperUnit(u[p + 1] as number)) return false
  for (let q = p + 2; q <= p + 6; q++) {
    const c = u[q] as number
    if (isUpperUnit(c)) return true
    if (!(isLowerUnit(c) || (c >= 48 && c <= 57) || c === 43 || c === 47)) return false
  }
  return false
}
/** Characters after a key-introducing word ("private key:") searched for the key. */
const CONTEXT_REACH = 160
/** Longest token widened around a hint. */
const MAX_TOKEN = 16_384

function isSpace(c: number): boolean {
  return c === 32 || (c >= 9 && c <= 13) || c === 0xa0 || c === 0x3000 || c === 0x2028 || c === 0x2029
}

/** Adds the whitespace-delimited token around `pos` when it has 16+ characters; returns its end. */
function addTokenAt(u: Uint16Array, n: number, pos: number, f: Features): number {
  let s = pos
  const floor = Math.max(0, pos - MAX_TOKEN)
  while (s > floor && !isSpace(u[s - 1] as number)) s--
  let e = pos
  const ceil = Math.min(n, pos + MAX_TOKEN)
  while (e < ceil && !isSpace(u[e] as number)) e++
  if (e - s < 16 || f.tokens >= MAX_TOKENS) return e
  // Hints arrive roughly in order; skip a token already taken.
  for (let i = 0; i < f.tokens; i++) if (f.tokenStart[i] === s) return e
  f.tokenStart[f.tokens] = s
  f.tokenEnd[f.tokens] = e
  f.tokens++
  return e
}

const isWordClass = (k: number): boolean => k >= K_LOWER && k <= K_UNDERSCORE
const isSep = (c: number): boolean =>
  c === 32 || c === 40 || c === 41 || c === 46 || c === 47 || c === 43 || c === 45

/** "[inst", "[/inst" or "[system" (letters in either case) at `i` (the '['). */
function bracketMarker(u: Uint16Array, n: number, i: number): boolean {
  let j = i + 1
  if (j < n && u[j] === 47) j++
  const word = j < n && ((u[j] as number) | 32) === 105 ? 'inst' : j === i + 1 ? 'system' : ''
  if (word === '' || j + word.length > n) return false
  for (let k = 0; k < word.length; k++) if (((u[j + k] as number) | 32) !== word.charCodeAt(k)) return false
  return true
}

// What a character calls for given the class of the one before it (ACT[prev * K_COUNT + k]).
const A_NONE = 0
const A_WORD_START = 1 // a letter after a non-word character
const A_MIXED = 2 // an upper-case letter after a lower-case one
const A_LEET = 3 // a letter after a leet digit (a sandwich when a letter stands before that)
const A_DIGIT = 4
const A_SPECIAL = 5
const A_OBFUSCATION = 6
const A_WORD_START_LEET = 7 // a letter after '@' or '$' (a word start, maybe a sandwich)
const A_PAIR = 8 // the second of "##", "--" (or "#-", "-#": looked at and let go)
const K_COUNT = 10
const ACT = new Uint8Array(K_COUNT * K_COUNT)
for (let a = 0; a < K_COUNT; a++) {
  for (let k = 0; k < K_COUNT; k++) {
    let act = A_NONE
    if (k === K_LOWER || k === K_UPPER) {
      if (a === K_LEET_SIGN) act = A_WORD_START_LEET
      else if (!isWordClass(a)) act = A_WORD_START
      else if (a === K_LEET_DIGIT) act = A_LEET
      else if (a === K_LOWER && k === K_UPPER) act = A_MIXED
    } else if (k === K_LEET_DIGIT || k === K_DIGIT) act = A_DIGIT
    else if (k === K_LEET_SIGN || k === K_SPECIAL) act = A_SPECIAL
    else if (k === K_OBFUSCATION) act = A_OBFUSCATION
    else if (k === K_PAIR && a === K_PAIR) act = A_PAIR
    ACT[a * K_COUNT + k] = act
  }
}
/**
 * Whether the pass stops at a position (EVENT[prev * K_COUNT + k]): GATED for a word start (it
 * stops when the five-letter gate lets the word in), STOP for every other action.
 */
const STOP = 1
const GATED = 0x80
const EVENT = new Uint8Array(K_COUNT * K_COUNT)
for (let x = 0; x < K_COUNT * K_COUNT; x++) {
  const act = ACT[x] as number
  EVENT[x] = act === A_NONE ? 0 : act === A_WORD_START ? GATED : STOP
}

/**
 * True when a phrase may start at `i`: the five-letter gate (two lookups, no branch between them;
 * u[n..n + 3] are 0 sentinels).
 */
const gateOpen = (u: Uint16Array, i: number, gate: Int32Array): boolean => {
  const g1 = GCODE[u[i + 1] as number] as number
  const g2 = GCODE[u[i + 2] as number] as number
  const g3 = GCODE[u[i + 3] as number] as number
  const a = (gate[gateIndex(GCODE[u[i] as number] as number, g1, g2)] as number) >>> g3
  const b = (gate[GATE2 + gateIndex(g1, g2, g3)] as number) >>> (GCODE[u[i + 4] as number] as number)
  return (a & b & 1) !== 0
}

/**
 * Where the pre-filter has something to do, found by one pass over the code units: a position
 * whose EVENT (given the class of the code unit before it) is STOP, or GATED with the gate open;
 * `acts` gets each position's ACT.
 * The pass is a WebAssembly loop (scan-wasm.ts); this is the same loop in JavaScript, used where
 * WebAssembly is not available (e.g. node --jitless) and by the tests to check the two agree.
 */
export function scanPositions(
  u: Uint16Array,
  n: number,
  gate: Int32Array,
  out: Int32Array,
  acts: Uint8Array,
): number {
  let m = 0
  let prev = K_OTHER
  for (let i = 0; i < n; i++) {
    const k = CLS[u[i] as number] as number
    const e = EVENT[prev * K_COUNT + k] as number
    if (e !== 0 && (e === STOP || gateOpen(u, i, gate))) {
      acts[m] = ACT[prev * K_COUNT + k] as number
      out[m++] = i
    }
    prev = k
  }
  return m
}

interface Scanner {
  units: Uint16Array
  positions: Int32Array
  /** The ACT of each position. */
  acts: Uint8Array
  run(text: string): number
}

/** The JavaScript scanner: the text copied natively (Buffer.write) into a reused buffer. */
class JsScan implements Scanner {
  readonly #gate: Int32Array
  #bytes = Buffer.alloc(0)
  units = new Uint16Array(0)
  positions = new Int32Array(0)
  acts = new Uint8Array(0)
  constructor(gate: Int32Array) {
    this.#gate = gate
  }
  run(text: string): number {
    const n = text.length
    if (n + 4 > this.units.length) {
      const capacity = Math.max(n + 4, 64 * 1024)
      this.#bytes = Buffer.alloc(capacity * 2)
      this.units = new Uint16Array(this.#bytes.buffer, this.#bytes.byteOffset, capacity)
      this.positions = new Int32Array(capacity + 1)
      this.acts = new Uint8Array(capacity + 1)
    }
    this.#bytes.write(text, 0, 'utf16le')
    this.units.fill(0, n, n + 4)
    return scanPositions(this.units, n, this.#gate, this.positions, this.acts)
  }
}

/** The tables the WebAssembly pass reads (exported for the tests that compare it with scanPositions). */
export const SCAN_TABLES = {
  cls: CLS,
  gcode: GCODE,
  event: EVENT,
  act: ACT,
  classes: K_COUNT,
  stop: STOP,
  gated: GATED,
  gate2: GATE2,
} as const

/** Which scanner extractFeatures uses: WebAssembly when the runtime has it (tests may switch). */
export const scanners = { wasm: typeof WebAssembly === 'object' }
const built = new WeakMap<Trie, { wasm?: Scanner; js?: Scanner }>()

function scannerFor(t: Trie): Scanner {
  let entry = built.get(t)
  if (entry === undefined) {
    entry = {}
    built.set(t, entry)
  }
  if (scanners.wasm) {
    entry.wasm ??= new WasmScan(SCAN_TABLES, t.gate)
    return entry.wasm
  }
  entry.js ??= new JsScan(t.gate)
  return entry.js
}

let loaded: string | undefined
let loadedBy: Scanner | undefined

/**
 * The code units of `text` when it is the text extractFeatures loaded last (they stay until the
 * next call), else undefined: the detectors that run right after the pass read them instead of
 * calling charCodeAt.
 */
export function loadedUnits(text: string): Uint16Array | undefined {
  return loaded === text && loadedBy !== undefined ? loadedBy.units : undefined
}

/** Fills `f` for `text` and returns it. */
export function extractFeatures(text: string, table: TriggerTable, f: Features): Features {
  const n = text.length
  const t = table.trie()
  const scanner = scannerFor(t)
  const found = scanner.run(text)
  loaded = text
  loadedBy = scanner
  const u = scanner.units
  const at = scanner.positions
  const acts = scanner.acts
  at[found] = n
  f.hits = 0
  f.tokens = 0
  f.runs = 0
  f.markers = 0
  f.at = -1
  f.digits = 0
  f.anyDigit = false
  f.dashes = false
  f.obfuscation = 0
  f.leet = 0
  f.leetFrom = -1
  let mixedFrom = -1
  let flips = 0
  // The positions in order, each with its ACT (what it calls for given the class of the code unit
  // before it); a handler that consumes code units moves `i` on, and the positions it passed are
  // skipped.
  let x = 0
  for (let i = at[0] as number; i < n; ) {
    const act = acts[x] as number
    const c = u[i] as number
    if (act === A_WORD_START) {
      // The gate let it in.
      walk(u, n, i, t, f)
    } else if (act === A_WORD_START_LEET) {
      if (gateOpen(u, i, t.gate)) walk(u, n, i, t, f)
      if (i >= 2) {
        const k2 = CLS[u[i - 2] as number]
        if (k2 === K_LOWER || k2 === K_UPPER) leet(f, i - 2)
      }
    } else if (act === A_DIGIT) {
      // A chain of digits with at most two separators between neighbours, taken whole: a run
      // when it has 6+ digits. The pass goes on after its last digit.
      f.anyDigit = true
      let digits = 1
      let last = i
      for (let j = i + 1; j < n; ) {
        const d = u[j] as number
        if (d >= 48 && d <= 57) {
          digits++
          last = j++
        } else if (j - last < 3 && isSep(d)) j++
        else break
      }
      if (digits >= 6) run(f, i, last + 1, digits)
      i = last
    } else if (act === A_LEET) {
      if (i >= 2) {
        const k2 = CLS[u[i - 2] as number]
        if (k2 === K_LOWER || k2 === K_UPPER) leet(f, i - 2)
      }
    } else if (act === A_MIXED) {
      // Every lower→upper flip (where a mixed-case run may start), in order.
      if (mixedFrom < 0) mixedFrom = i - 1
      if (flips < MAX_FLIPS) FLIPS[flips] = i - 1
      flips++
    } else if (act === A_OBFUSCATION) {
      // The run of such characters; only its ends can touch a letter.
      let bits = OBF[c] as number
      if (bits === OBF_SCRIPT && i > 0 && isAsciiLetter(u[i - 1] as number)) bits |= OBF_TOUCHES_LATIN
      while (i + 1 < n && CLS[u[i + 1] as number] === K_OBFUSCATION) bits |= OBF[u[++i] as number] as number
      if (OBF[u[i] as number] === OBF_SCRIPT && isAsciiLetter(u[i + 1] as number)) bits |= OBF_TOUCHES_LATIN
      f.obfuscation |= bits
    } else if (act === A_PAIR) {
      // The second of two: "##" is a role marker, "--" may open a PEM header.
      const p = u[i - 1] as number
      if (c === 35) {
        if (p === 35) f.markers |= MARKER_HASHES
      } else if (p === 45 && !f.dashes && text.startsWith('-----BEGIN', i - 1)) f.dashes = true
    } else if (c === 64) {
      if (f.at < 0) f.at = i
    } else if (c === 60) {
      const d = u[i + 1]
      if (i + 1 < n && (d === 124 || d === 60)) f.markers |= MARKER_LT
    } else if (c === 91) {
      if (bracketMarker(u, n, i)) f.markers |= MARKER_BRACKET
    }
    x++
    while ((at[x] as number) <= i) x++
    i = at[x] as number
  }
  f.nonLatin1 = f.obfuscation !== 0
  if (mixedFrom >= 0) {
    // A mixed-case run starts at a flip: try the flips in order (or, past MAX_FLIPS, every place
    // from the first), each after the end of the last token taken.
    let after = mixedFrom
    if (flips <= MAX_FLIPS) {
      for (let x = 0; x < flips && f.tokens < MAX_TOKENS; x++) {
        const p = FLIPS[x] as number
        if (p >= after && mixedCaseAt(u, p)) after = Math.max(p + 1, addTokenAt(u, n, p, f))
      }
    } else {
      for (let p = mixedFrom; p < n - 2 && f.tokens < MAX_TOKENS; p++) {
        if (p >= after && mixedCaseAt(u, p)) after = Math.max(p + 1, addTokenAt(u, n, p, f))
      }
    }
  }
  return f
}

/** Walks the trie from the word start `i`; records the phrase taken (see TriggerTable). */
function walk(u: Uint16Array, n: number, i: number, t: Trie, f: Features): void {
  const { sym, width, row, end, wordEnd, afterWordEnd, space } = t
  const stride = width + 1
  let state = row[stride + (sym[u[i] as number] as number)] as number
  let mask = 0
  let stop = -1
  let j = i + 1
  while (state !== 0) {
    const at = state * stride
    const info = row[at + width] as number
    let boundary = false
    if (info !== 0) {
      if (end[info] !== 0) {
        mask = end[info] as number
        stop = j
      }
      const w = wordEnd[info] as number
      if (w !== 0 && (j >= n || !isWordClass(CLS[u[j] as number] as number))) {
        boundary = true
        mask = w
        stop = j
      }
    }
    if (j >= n) break
    const s = sym[u[j] as number] as number
    const to = row[at + s] as number
    if (to === 0 || (boundary && afterWordEnd[info * width + s] === 1)) break
    j++
    if (s === space) while (j < n && sym[u[j] as number] === space) j++
    state = to
  }
  if (mask !== 0) hit(u, n, f, i, stop, mask)
}

function hit(u: Uint16Array, n: number, f: Features, pos: number, stop: number, mask: number): void {
  if ((mask & TOKEN_BIT) !== 0) addTokenAt(u, n, pos, f)
  if ((mask & CONTEXT_BIT) !== 0) {
    // The key follows the word: take every long token within reach.
    const end = Math.min(n, pos + CONTEXT_REACH)
    for (let p = stop; p < end; p++) {
      if (!isSpace(u[p] as number)) p = addTokenAt(u, n, p, f)
    }
  }
  const rules = mask & ~(TOKEN_BIT | CONTEXT_BIT)
  if (rules !== 0 && f.hits < MAX_HITS) {
    f.hitPos[f.hits] = pos
    f.hitMask[f.hits] = rules
    f.hits++
  }
}

function run(f: Features, start: number, end: number, digits: number): void {
  if (f.runs >= MAX_RUNS) return
  f.runStart[f.runs] = start
  f.runEnd[f.runs] = end
  f.runDigits[f.runs] = digits
  f.runs++
  if (digits > f.digits) f.digits = digits
}

function leet(f: Features, from: number): void {
  if (f.leet === 0) f.leetFrom = from
  if (f.leet < MAX_LEET) f.leetPos[f.leet] = from
  f.leet++
}
