/**
 * Checks on the code units the pre-filter loaded, run before an injection rule's pattern (by
 * runRulesPlain in injection.ts). Most sentences around a trigger hold no match, and a pattern run
 * costs more than looking at a few code units: before a rule's pattern runs, what every match of it must hold is checked at the triggers. Each check is a
 * necessary condition read off its pattern: it may let through a sentence the pattern then
 * rejects, never the other way round. They run on sentences without U+0130 and U+212A, where
 * lower-casing maps no other character to ASCII: a letter of a pattern stands for itself in
 * either case, and nothing else.
 */

import { isAsciiLetter } from './code-units.ts'

const WORD_UNIT = new Uint8Array(128)
for (let c = 0; c < 128; c++) WORD_UNIT[c] = /\w/.test(String.fromCharCode(c)) ? 1 : 0
/** `\w`. */
const isWordUnit = (c: number): boolean => c < 128 && WORD_UNIT[c] === 1
/** `\s`. */
const isSpaceUnit = (c: number): boolean =>
  c === 32 ||
  (c >= 9 && c <= 13) ||
  (c >= 0xa0 &&
    (c === 0xa0 ||
      c === 0x1680 ||
      (c >= 0x2000 && c <= 0x200a) ||
      c === 0x2028 ||
      c === 0x2029 ||
      c === 0x202f ||
      c === 0x205f ||
      c === 0x3000 ||
      c === 0xfeff))

/** Whether u[j, end) starts with `w` once lower-cased (`w`: lower case; a letter matches either case). */
function at(u: Uint16Array, j: number, end: number, w: string): boolean {
  const n = w.length
  if (j + n > end) return false
  for (let k = 0; k < n; k++) {
    const x = w.charCodeAt(k)
    const c = u[j + k] as number
    if (c !== x && (x < 97 || x > 122 || c !== x - 32)) return false
  }
  return true
}
/** Whether one of `ws` starts at j (see `at`). */
function atAny(u: Uint16Array, j: number, end: number, ws: readonly string[]): boolean {
  for (const w of ws) if (at(u, j, end, w)) return true
  return false
}
/** Words by their first letter, for lookups at a position: LEXICON[letter - 97]. */
function byFirst(ws: readonly string[]): string[][] {
  const out: string[][] = Array.from({ length: 26 }, () => [])
  for (const w of ws) (out[w.charCodeAt(0) - 97] as string[]).push(w)
  return out
}
const NONE: readonly string[] = []
/** Whether one of the words (by first letter) starts at j. */
function atLexicon(u: Uint16Array, j: number, end: number, lex: string[][]): boolean {
  if (j >= end) return false
  const l = (u[j] as number) | 32
  return l >= 97 && l <= 122 && atAny(u, j, end, lex[l - 97] ?? NONE)
}
function skipSpaces(u: Uint16Array, j: number, end: number): number {
  while (j < end && isSpaceUnit(u[j] as number)) j++
  return j
}
/** Whether u[from, to) is the (lower-case) letters of `w`. */
function isWord(u: Uint16Array, from: number, to: number, w: string): boolean {
  return to - from === w.length && at(u, from, to, w)
}
function isWordIn(u: Uint16Array, from: number, to: number, ws: readonly string[]): boolean {
  for (const w of ws) if (isWord(u, from, to, w)) return true
  return false
}
/**
 * The letters right before the whitespace that ends at `j` (j - 1 must be whitespace), as
 * [wordFrom, j') in `prevFrom`/`prevTo`; false when there is no whitespace or no letter before it.
 */
let prevFrom = 0
let prevTo = 0
function previousWord(u: Uint16Array, start: number, j: number): boolean {
  if (j - 1 < start || !isSpaceUnit(u[j - 1] as number)) return false
  let b = j - 1
  while (b > start && isSpaceUnit(u[b - 1] as number)) b--
  let a = b
  while (a > start && isAsciiLetter(u[a - 1] as number)) a--
  prevFrom = a
  prevTo = b
  return a < b
}

/*
 * Sticky checks, at a hit `p` carrying the rule: the pre-filter found one of the rule's trigger
 * phrases there, at a word start (and no other phrase extends it without the rule: checkOpeners).
 * `e`: the end of the letters from p.
 */
// override-instructions: the single-word verbs are whole words (followed by \s+); the others
// ("pay no attention to", "do not follow", "don't follow", "stop following") pass.
export function overrideInstructionsAt(u: Uint16Array, p: number, e: number, end: number): boolean {
  const n = e - p
  if (n !== 6 && n !== 9 && n !== 8 && n !== 5) return n < 5
  return e < end && isSpaceUnit(u[e] as number)
}
// override-policy: (ignores|ignoring|bypasses|bypassing|overrides|overriding)\s+: 7 to 10 letters
// ending in s or g.
export function overridePolicyAt(u: Uint16Array, p: number, e: number, end: number): boolean {
  const n = e - p
  const last = (u[e - 1] as number) | 32
  return n >= 7 && n <= 10 && (last === 115 || last === 103) && e < end && isSpaceUnit(u[e] as number)
}
// ignore-and-instead: (ignore|disregard)\b, 6 or 9 letters and no \w after them, then within 50
// characters \band\s+.
export function ignoreAndInsteadAt(u: Uint16Array, p: number, e: number, end: number): boolean {
  const n = e - p
  if ((n !== 6 && n !== 9) || (e < end && isWordUnit(u[e] as number))) return false
  const last = Math.min(e + 50, end - 4)
  for (let j = e; j <= last; j++)
    if (
      ((u[j] as number) | 32) === 97 &&
      ((u[j + 1] as number) | 32) === 110 &&
      ((u[j + 2] as number) | 32) === 100 &&
      isSpaceUnit(u[j + 3] as number) &&
      !isWordUnit(u[j - 1] as number)
    )
      return true
  return false
}
// forget-everything: forget\s+(everything|all|what).
export function forgetEverythingAt(u: Uint16Array, p: number, e: number, end: number): boolean {
  if (e - p !== 6 || e >= end || !isSpaceUnit(u[e] as number)) return false
  const c = skipSpaces(u, e, end)
  if (c >= end) return false
  const l = (u[c] as number) | 32
  return l === 101 || l === 97 || l === 119
}

/*
 * Anchored checks. Every match of these rules holds, at a word start, one of the trigger phrases
 * (of any rule: the pre-filter notes a hit at every word start where a trigger phrase begins,
 * checked below with checkAnchors); so when the hits are complete and the sentence was cut at
 * neither end (a cut can make a word start or a word end the text does not have), a sentence
 * where no hit passes the rule's check holds no match. Each check reads around the hit `q`.
 */

// jailbreak-claim: ... jailbroken\b | jailbreak (successful|mode|enabled|activated|prompt:) | this is a jailbreak\b
const JAILBREAK_NEXT = ['successful', 'mode', 'enabled', 'activated', 'prompt:']
export function jailbreakClaimAt(u: Uint16Array, start: number, end: number, q: number): boolean {
  if (at(u, q, end, 'jailbroken')) return true
  if (!at(u, q, end, 'jailbreak')) return false
  if (
    q - 10 >= start &&
    at(u, q - 10, end, 'this is a ') &&
    (q + 9 >= end || !isWordUnit(u[q + 9] as number))
  )
    return true
  return u[q + 9] === 32 && atAny(u, q + 10, end, JAILBREAK_NEXT)
}

// special-mode: X\s+mode | opposite mode | god mode | developer mode\b...(no|without|...)\b | you are (now )?in developer mode
const MODE_WORDS = [
  'unrestricted',
  'god',
  'jailbreak',
  'jailbroken',
  'opposite',
  'evil',
  'uncensored',
  'unfiltered',
  'dan',
  'chaos',
  'no-limit',
  'no-limits',
]
const DEVELOPER_NEXT = byFirst(['no', 'without', 'ignore', 'uncensored', 'unfiltered', 'any content'])
const MODE_LEX = byFirst(MODE_WORDS)
export function specialModeAt(u: Uint16Array, start: number, end: number, q: number): boolean {
  const l = (u[q] as number) | 32
  for (const w of (l >= 97 && l <= 122 ? MODE_LEX[l - 97] : undefined) ?? NONE) {
    if (!at(u, q, end, w)) continue
    const c = q + w.length
    if (c < end && isSpaceUnit(u[c] as number) && at(u, skipSpaces(u, c, end), end, 'mode')) return true
  }
  if (!at(u, q, end, 'developer mode')) return false
  if (q - 3 >= start && u[q - 1] === 32 && at(u, q - 3, end, 'in')) return true
  const from = q + 14
  const last = Math.min(from + 60, end - 1)
  for (let j = from; j <= last; j++) {
    const l = (u[j] as number) | 32
    if (
      (l === 110 || l === 119 || l === 105 || l === 117 || l === 97) &&
      atLexicon(u, j, end, DEVELOPER_NEXT)
    )
      return true
  }
  return false
}

// do-anything-now: do anything now | (you are|...|as)\s+(now\s+)?(better)?dan\b | (better)?dan mode\b
const DAN_BEFORE = ['are', 're', 'be', 'as', 'activate', 'enable', 'now']
export function doAnythingNowAt(u: Uint16Array, start: number, end: number, q: number): boolean {
  if (at(u, q, end, 'do anything now') || at(u, q, end, 'betterdan')) return true
  if (!at(u, q, end, 'dan') || (q + 3 < end && isWordUnit(u[q + 3] as number))) return false
  if (at(u, q + 3, end, ' mode')) return true
  return previousWord(u, start, q) && isWordIn(u, prevFrom, prevTo, DAN_BEFORE)
}

// malware-request: verb\s+(me\s+)?(a\s+|an\s+|some\s+)?(working\s+)?target
/** What malware-request asks to have made (also its triggers and the end of its pattern: injection.ts). */
export const MALWARE = [
  'malware',
  'ransomware',
  'keylogger',
  'computer virus',
  'trojan',
  'botnet',
  'credential stealer',
]
/** The verbs malware-request's pattern opens with. */
export const MALWARE_VERBS = ['write', 'create', 'build', 'code', 'generate', 'make']
const MALWARE_BETWEEN = ['me', 'a', 'an', 'some', 'working']
export function malwareRequestAt(u: Uint16Array, start: number, end: number, q: number): boolean {
  if (!atAny(u, q, end, MALWARE)) return false
  let j = q
  for (let k = 0; k < 4; k++) {
    if (!previousWord(u, start, j)) return false
    if (isWordIn(u, prevFrom, prevTo, MALWARE_VERBS)) return true
    if (!isWordIn(u, prevFrom, prevTo, MALWARE_BETWEEN)) return false
    j = prevFrom
  }
  return false
}

// never-refuse: (never|stop|don't|do not|will not|won't|must not)\s+(refuse|refuses|refusing|decline)\b
// | stay in character... | if you break character
const REFUSE = ['refuse', 'refuses', 'refusing', 'decline']
const REFUSE_BEFORE = ['never', 'stop', 't', 'not']
export function neverRefuseAt(u: Uint16Array, start: number, end: number, q: number): boolean {
  if (at(u, q, end, 'stay in character') || at(u, q, end, 'break character')) return true
  let e = q
  while (e < end && isAsciiLetter(u[e] as number)) e++
  if (!isWordIn(u, q, e, REFUSE)) return false
  return previousWord(u, start, q) && isWordIn(u, prevFrom, prevTo, REFUSE_BEFORE)
}

// addressed-to-model: (note to|attention|message to) (the |any |all )?(ai|assistant|llm|chatbot|language model)
const ADDRESSED = ['note to ', 'attention ', 'message to ']
const ADDRESSEES = ['ai', 'assistant', 'llm', 'chatbot', 'language model']
export function addressedToModelAt(u: Uint16Array, _start: number, end: number, q: number): boolean {
  for (const a of ADDRESSED) {
    if (!at(u, q, end, a)) continue
    const c = q + a.length
    if (atAny(u, c, end, ADDRESSEES)) return true
    return atAny(u, c, end, ['the ', 'any ', 'all ']) && atAny(u, c + 4, end, ADDRESSEES)
  }
  return false
}

// authority-claim: (system|admin|...) (override|message update|mode override)\b | (higher|highest)[- ]priority ...
// | new (primary )?(instructions|...)... | overrides? all (others|other|previous|prior) | the unanchored last
// alternative, (rules|instructions) (are|is) (now )?(void|cancelled|revoked|null), looked for with AUTHORITY_VOID.
const AUTHORITY_ROLES = ['system', 'admin', 'administrator', 'developer', 'root', 'safety', 'mode']
export function authorityClaimAt(u: Uint16Array, start: number, end: number, q: number): boolean {
  if (at(u, q, end, 'overrid')) {
    if (at(u, q, end, 'override all ') || at(u, q, end, 'overrides all ')) return true
    return u[q - 1] === 32 && previousWord(u, start, q) && isWordIn(u, prevFrom, prevTo, AUTHORITY_ROLES)
  }
  if (at(u, q, end, 'message update') || at(u, q, end, 'new ')) return true
  if (!at(u, q, end, 'priority') || q - 1 < start || (u[q - 1] !== 32 && u[q - 1] !== 45)) return false
  let a = q - 1
  while (a > start && isAsciiLetter(u[a - 1] as number)) a--
  return isWordIn(u, a, q - 1, ['higher', 'highest'])
}
/** What the last alternative needs, searched when no hit passes authorityClaimAt. */
export const AUTHORITY_VOID = /(?:rules|instructions) (?:are|is) (?:now )?(?:void|cancelled|revoked|null)/i

// unrestricted-persona: its second half, (no|without|zero|free of|freed from|broken free of|escaped)\s+
// (any|all|your|its|the|typical)?\s+ (safety|content|ethical|moral)?\s+ target. Its openers are
// triggers but for "no" before a determiner and "zero" before anything but "restrict": those are
// looked for with UNRESTRICTED_UNANCHORED.
const UNRESTRICTED_OPENERS = ['without', 'free of', 'freed from', 'broken free of', 'escaped', 'no', 'zero']
const UNRESTRICTED_DETERMINERS = ['any', 'all', 'your', 'its', 'the', 'typical']
const UNRESTRICTED_QUALIFIERS = ['safety', 'content', 'ethical', 'moral']
const UNRESTRICTED_TARGETS = [
  'restrictions',
  'limitations',
  'limits',
  'filter',
  'censorship',
  'ethics',
  'guidelines',
  'moral compass',
  'morals',
  'rules',
  'polic',
  'safety training',
  'alignment',
  'confines',
]
export const UNRESTRICTED_UNANCHORED = /\b(?:no\s+(?:any|all|your|its|the|typical)|zero)\s/i
/** Where one of `ws` followed by \s+ starts at j, the position after the whitespace; else -1. */
function afterWordIn(u: Uint16Array, j: number, end: number, ws: readonly string[]): number {
  if (j >= end) return -1
  const l = (u[j] as number) | 32
  for (const w of ws) {
    if (w.charCodeAt(0) !== l) continue
    const e = j + w.length
    if (e < end && isSpaceUnit(u[e] as number) && at(u, j, end, w)) return skipSpaces(u, e, end)
  }
  return -1
}
export function unrestrictedPersonaAt(u: Uint16Array, _start: number, end: number, q: number): boolean {
  const c0 = afterWordIn(u, q, end, UNRESTRICTED_OPENERS)
  if (c0 < 0) return false
  // Each optional word taken or not.
  const c1 = afterWordIn(u, c0, end, UNRESTRICTED_DETERMINERS)
  for (const c of [c0, c1]) {
    if (c < 0) continue
    if (atAny(u, c, end, UNRESTRICTED_TARGETS)) return true
    const c2 = afterWordIn(u, c, end, UNRESTRICTED_QUALIFIERS)
    if (c2 >= 0 && atAny(u, c2, end, UNRESTRICTED_TARGETS)) return true
  }
  return false
}

// disable-safety: (disable|disabled|turn off|switch off|remove|deactivate)\s+(\w+\s+){0,2}? target
// | (safety features|all filters|content filtering|filters)\s+(are\s+)?(disabled|off)\b
/** disable-safety's opening verbs (also in its pattern: injection.ts). */
export const DISABLE_VERBS = ['disable', 'disabled', 'turn off', 'switch off', 'remove', 'deactivate']
const DISABLE_TARGETS = [
  'content filter',
  'safety ',
  'filters',
  'censorship',
  'guardrails',
  'content moderation',
]
/** What its second alternative says is disabled or off (also in its pattern). */
export const DISABLED_SUBJECTS = ['safety features', 'all filters', 'content filtering', 'filters']
export function disableSafetyAt(u: Uint16Array, _start: number, end: number, q: number): boolean {
  let c = afterWordIn(u, q, end, DISABLE_VERBS)
  if (c >= 0) {
    for (let k = 0; ; k++) {
      if (atAny(u, c, end, DISABLE_TARGETS)) return true
      if (k === 2) break
      let w = c
      while (w < end && isWordUnit(u[w] as number)) w++
      if (w === c || w >= end || !isSpaceUnit(u[w] as number)) break
      c = skipSpaces(u, w, end)
    }
  }
  c = afterWordIn(u, q, end, DISABLED_SUBJECTS)
  if (c < 0) return false
  const c1 = afterWordIn(u, c, end, ['are'])
  return (
    at(u, c, end, 'disabled') ||
    at(u, c, end, 'off') ||
    (c1 >= 0 && (at(u, c1, end, 'disabled') || at(u, c1, end, 'off')))
  )
}
