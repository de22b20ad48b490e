import { loadedUnits } from './features.ts'
import type { Violation } from './violation.ts'

/**
 * Personal data and secrets: emails, phone numbers, card numbers (Luhn), IBANs (ISO 13616
 * mod-97), US SSNs, UK NINOs, API keys of common providers, PEM and hex private keys.
 * Candidates are found with bounded, linear patterns and then checked (checksums, number
 * ranges) so that order numbers, ISBNs, hashes and dates are not reported.
 */

const EMAIL = /^[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){0,8}\.[A-Za-z]{2,24}$/
// RFC 2606 / 6761 names reserved for documentation.
const RESERVED_DOMAIN =
  /@(?:[a-z0-9-]+\.)*(?:example\.(?:com|org|net)|[a-z0-9-]+\.(?:example|invalid|localhost))$/i

const NANP = /(?<![\d+.,])\(?[2-9]\d{2}\)?[ .-]?[2-9]\d{2}[ .-]\d{4}(?!\d)/g
const INTERNATIONAL = /\+\d[\d .()-]{6,20}\d(?!\d)/g
const NATIONAL = /(?<![\d+.,])0\d{2,4}[ -]?\d{3,4}[ -]?\d{3,4}(?!\d)/g
const CARD = /(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])/g
const IBAN = /\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b/g
const SSN = /(?<![\d-])(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![\d-])/g
const NINO = /\b(?!BG|GB|NK|KN|TN|NT|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b/g

const API_KEY =
  /(?<![A-Za-z0-9_-])(?:sk-(?:proj-|ant-(?:api\d\d-)?|svcacct-)?[A-Za-z0-9_-]{20,}|(?:AKIA|ASIA)[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{50,}|xox[abprs]-[A-Za-z0-9-]{10,}|AIza[0-9A-Za-z_-]{35}|(?:sk|rk)_live_[A-Za-z0-9]{20,}|hf_[A-Za-z]{30,}|glpat-[A-Za-z0-9_-]{20}|npm_[A-Za-z0-9]{36}|eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,})/g
const PEM_PRIVATE = /-----BEGIN (?:[A-Z0-9]+ ){0,3}PRIVATE KEY-----/g

/** Luhn check over the digits of `s` (non-digits skipped). */
export function luhnValid(digits: string): boolean {
  let sum = 0
  let double = false
  for (let i = digits.length - 1; i >= 0; i--) {
    let v = digits.charCodeAt(i) - 48
    if (double) {
      v *= 2
      if (v > 9) v -= 9
    }
    sum += v
    double = !double
  }
  return sum % 10 === 0
}

/** ISO 13616 check: move the first four characters to the end, letters to numbers, mod 97 = 1. */
export function ibanValid(iban: string): boolean {
  if (iban.length < 15 || iban.length > 34) return false
  const s = iban.slice(4) + iban.slice(0, 4)
  let rem = 0
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c >= 48 && c <= 57) rem = (rem * 10 + (c - 48)) % 97
    else if (c >= 65 && c <= 90) rem = (rem * 100 + (c - 55)) % 97
    else return false
  }
  return rem === 1
}

function digitsOf(s: string): string {
  return s.replace(/\D/g, '')
}

// Issuer prefixes of the card networks (Visa, Mastercard, Amex, Discover, JCB, Diners, Maestro, UnionPay).
const CARD_PREFIX = /^(?:4|5[1-5]|2[2-7]|3[47]|6011|64[4-9]|65|35|3[068]|5[06-9]|6[0-9]|62)/

function isCard(d: string): boolean {
  if (d.length < 13 || d.length > 19 || !CARD_PREFIX.test(d)) return false
  if (/^(\d)\1+$/.test(d)) return false
  return luhnValid(d)
}

/** Findings of one kind kept per text (enough to redact a document; bounds the work on hostile input). */
export const MAX_FINDINGS = 256
/** Longest PEM block looked at. */
const PEM_MAX = 16 * 1024

const LOCAL_CHARS = /[A-Za-z0-9._%+-]/
const DOMAIN_CHARS = /[A-Za-z0-9.-]/

/** Emails, found by growing the address out of each '@' (from `from`, the first '@'). */
export function scanEmails(text: string, out: Violation[], from = text.indexOf('@')): void {
  let found = 0
  for (let at = from; at >= 0 && found < MAX_FINDINGS; at = text.indexOf('@', at + 1)) {
    let s = at
    while (s > 0 && at - s < 64 && LOCAL_CHARS.test(text.charAt(s - 1))) s--
    let e = at + 1
    while (e < text.length && e - at < 256 && DOMAIN_CHARS.test(text.charAt(e))) e++
    while (e > at + 1 && (text.charAt(e - 1) === '.' || text.charAt(e - 1) === '-')) e--
    const candidate = text.slice(s, e)
    if (s === at || !EMAIL.test(candidate) || RESERVED_DOMAIN.test(candidate)) continue
    out.push({ category: 'pii', rule: 'email', severity: 0.35, span: [s, e] })
    found++
  }
}

/** Characters around a digit run that a number check may need (an IBAN's country and bank code before, its alphanumeric tail after). */
const RUN_BEFORE = 16
const RUN_AFTER = 24

const isWordChar = (c: number): boolean =>
  (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122)

/**
 * Numbers that identify people or accounts (cards, IBANs, SSNs, NINOs, phone numbers), looked for
 * only in short windows around the runs of 6+ digits the pre-filter found.
 */
export function scanNumbers(
  text: string,
  out: Violation[],
  runs: { start: Int32Array; end: Int32Array; digits: Int32Array; count: number },
): void {
  let i = 0
  while (i < runs.count) {
    let start = Math.max(0, (runs.start[i] as number) - RUN_BEFORE)
    const floor = Math.max(0, start - 32)
    while (start > floor && isWordChar(text.charCodeAt(start - 1))) start--
    let end = Math.min(text.length, (runs.end[i] as number) + RUN_AFTER)
    let digits = runs.digits[i] as number
    // Merge the runs whose windows touch.
    while (i + 1 < runs.count && (runs.start[i + 1] as number) - RUN_BEFORE <= end) {
      i++
      end = Math.min(text.length, (runs.end[i] as number) + RUN_AFTER)
      digits = Math.max(digits, runs.digits[i] as number)
    }
    while (end < text.length && end - (runs.end[i] as number) < 32 && isWordChar(text.charCodeAt(end))) end++
    scanWindow(text, start, end, digits, out)
    i++
  }
}

/** The number patterns on full[offset, end), `digits` the most digits of a run in it. */
function scanWindow(full: string, offset: number, end: number, digits: number, out: Violation[]): void {
  // What the patterns below need besides digits: IBANs two upper-case letters, NINOs three,
  // SSNs two dashes, international numbers a '+'. Counted once so most windows skip them (read
  // from the pre-filter's code units while it holds this text).
  let upper = 0
  let dashes = 0
  let plus = false
  const u = loadedUnits(full)
  for (let i = offset; i < end; i++) {
    const c = u !== undefined ? (u[i] as number) : full.charCodeAt(i)
    if (c >= 65 && c <= 90) upper++
    else if (c === 45) dashes++
    else if (c === 43) plus = true
  }
  // Below 8 digits only SSNs and NINOs are looked for.
  if (digits < 8 && dashes < 2 && upper < 3) return
  const text = full.slice(offset, end)
  const taken: [number, number][] = []
  const overlaps = (m: RegExpExecArray): boolean => {
    const s = m.index
    const e = s + m[0].length
    for (const [a, b] of taken) if (s < b && e > a) return true
    return false
  }
  const take = (rule: string, severity: number, m: RegExpExecArray): void => {
    taken.push([m.index, m.index + m[0].length])
    out.push({ category: 'pii', rule, severity, span: [offset + m.index, offset + m.index + m[0].length] })
  }
  if (digits >= 13) {
    CARD.lastIndex = 0
    for (let m = CARD.exec(text); m !== null; m = CARD.exec(text))
      if (isCard(digitsOf(m[0]))) take('card-number', 0.6, m)
  }
  if (digits >= 8 && upper >= 2) {
    IBAN.lastIndex = 0
    for (let m = IBAN.exec(text); m !== null; m = IBAN.exec(text)) {
      if (ibanValid(m[0].replace(/ /g, ''))) take('iban', 0.5, m)
    }
  }
  if (dashes >= 2) {
    SSN.lastIndex = 0
    for (let m = SSN.exec(text); m !== null; m = SSN.exec(text)) if (!overlaps(m)) take('us-ssn', 0.6, m)
  }
  if (upper >= 3) {
    NINO.lastIndex = 0
    for (let m = NINO.exec(text); m !== null; m = NINO.exec(text)) if (!overlaps(m)) take('uk-nino', 0.5, m)
  }
  if (digits < 8) return
  if (plus) {
    INTERNATIONAL.lastIndex = 0
    for (let m = INTERNATIONAL.exec(text); m !== null; m = INTERNATIONAL.exec(text)) {
      const n = digitsOf(m[0]).length
      if (n >= 8 && n <= 15 && !overlaps(m)) take('phone', 0.35, m)
    }
  }
  NANP.lastIndex = 0
  for (let m = NANP.exec(text); m !== null; m = NANP.exec(text)) if (!overlaps(m)) take('phone', 0.35, m)
  NATIONAL.lastIndex = 0
  for (let m = NATIONAL.exec(text); m !== null; m = NATIONAL.exec(text)) {
    const n = digitsOf(m[0]).length
    if (n >= 10 && n <= 11 && !overlaps(m)) take('phone', 0.35, m)
  }
}

const HEX_KEY = /(?<![0-9a-fA-F])(?:0x)?[0-9a-fA-F]{64}(?![0-9a-fA-F])/
const KEY_CONTEXT = /(?:priv(?:ate)?[ _-]?key|secret[ _-]?key|privkey|seed|mnemonic|secret)/i

/**
 * API keys and private keys, looked for only in the long tokens the pre-filter found (keys are
 * long unbroken runs) and after a PEM header.
 */
export function scanSecrets(
  text: string,
  tokens: { start: Int32Array; end: Int32Array; count: number },
  pem: boolean,
  out: Violation[],
): void {
  for (let t = 0; t < tokens.count; t++) {
    const start = tokens.start[t] as number
    const token = text.slice(start, tokens.end[t] as number)
    API_KEY.lastIndex = 0
    for (let m = API_KEY.exec(token); m !== null; m = API_KEY.exec(token)) {
      out.push({
        category: 'secret',
        rule: 'api-key',
        severity: 0.85,
        span: [start + m.index, start + m.index + m[0].length],
      })
    }
    const hex = HEX_KEY.exec(token)
    if (hex !== null) {
      const s = start + hex.index
      if (KEY_CONTEXT.test(text.slice(Math.max(0, s - 48), s))) {
        out.push({ category: 'secret', rule: 'private-key-hex', severity: 0.9, span: [s, s + hex[0].length] })
      }
    }
  }
  if (pem && text.includes('-----BEGIN')) {
    PEM_PRIVATE.lastIndex = 0
    let found = 0
    for (let m = PEM_PRIVATE.exec(text); m !== null && found < MAX_FINDINGS; m = PEM_PRIVATE.exec(text)) {
      found++
      // A key block is a few KB at most: look for its end that far only.
      const block = text.slice(m.index + m[0].length, m.index + m[0].length + PEM_MAX)
      const endAt = block.indexOf('-----END')
      const end = endAt < 0 ? -1 : m.index + m[0].length + endAt
      const tail = end < 0 ? -1 : text.slice(end + 8, end + 100).indexOf('-----')
      const close = tail < 0 ? -1 : end + 8 + tail
      const stop = close < 0 ? m.index + m[0].length : close + 5
      out.push({ category: 'secret', rule: 'private-key-pem', severity: 0.95, span: [m.index, stop] })
    }
  }
}
