import { isDigitUnit, isUpperUnit } from './code-units.ts'
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

/** Digits in text[s, e). */
function digitCount(text: string, s: number, e: number): number {
  let n = 0
  for (let i = s; i < e; i++) {
    const c = text.charCodeAt(i)
    if (c >= 48 && c <= 57) n++
  }
  return n
}

/**
 * Whether the digits of text[s, e) (13 to 19 of them) are a card number: an issuer prefix of the
 * card networks (Visa 4, Mastercard 51-55 and 22-27, Amex 34/37, Discover 6011/64x/65, JCB 35,
 * Diners 30/36/38, Maestro 50/56-59/6x, UnionPay 62: as first two digits 4x, 5x, 22-27,
 * 30/34-38, 6x), not one digit repeated, Luhn.
 */
function isCardAt(text: string, s: number, e: number): boolean {
  let n = 0
  let d0 = -1
  let d1 = -1
  let same = true
  let sum = 0
  // Luhn from the last digit: every second one from the right doubled; parity fixed at the end.
  let even = 0
  let odd = 0
  for (let i = e - 1; i >= s; i--) {
    const v = text.charCodeAt(i) - 48
    if (v < 0 || v > 9) continue
    if (n > 0 && v !== d0) same = false
    d1 = d0
    d0 = v
    if ((n & 1) === 0) even += v
    else odd += v > 4 ? 2 * v - 9 : 2 * v
    n++
  }
  if (n < 13 || n > 19 || same) return false
  sum = even + odd
  const ok =
    d0 === 4 ||
    d0 === 5 ||
    d0 === 6 ||
    (d0 === 2 && d1 >= 2 && d1 <= 7) ||
    (d0 === 3 && (d1 === 0 || (d1 >= 4 && d1 <= 8)))
  return ok && sum % 10 === 0
}

/** Findings of one kind kept per text (enough to redact a document; bounds the work on hostile input). */
export const MAX_FINDINGS = 256
/** Longest PEM block looked at. */
const PEM_MAX = 16 * 1024

// ASCII code units of an address: 1 in its domain ([A-Za-z0-9.-]), 2 only in its local part ([_%+]).
const EMAIL_CHARS = new Uint8Array(128)
for (const ch of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-')
  EMAIL_CHARS[ch.charCodeAt(0)] = 1
for (const ch of '_%+') EMAIL_CHARS[ch.charCodeAt(0)] = 2
const isLocalChar = (c: number): boolean => c < 128 && EMAIL_CHARS[c] !== 0
const isDomainChar = (c: number): boolean => c < 128 && EMAIL_CHARS[c] === 1

/** Emails, found by growing the address out of each '@' (from `from`, the first '@'). */
export function scanEmails(text: string, out: Violation[], from = text.indexOf('@')): void {
  let found = 0
  for (let at = from; at >= 0 && found < MAX_FINDINGS; at = text.indexOf('@', at + 1)) {
    let s = at
    while (s > 0 && at - s < 64 && isLocalChar(text.charCodeAt(s - 1))) s--
    let e = at + 1
    while (e < text.length && e - at < 256 && isDomainChar(text.charCodeAt(e))) e++
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
  const u = loadedUnits(text)
  const unit = (i: number): number => (u !== undefined ? (u[i] as number) : text.charCodeAt(i))
  let i = 0
  while (i < runs.count) {
    let start = Math.max(0, (runs.start[i] as number) - RUN_BEFORE)
    const floor = Math.max(0, start - 32)
    while (start > floor && isWordChar(unit(start - 1))) start--
    let end = Math.min(text.length, (runs.end[i] as number) + RUN_AFTER)
    let digits = runs.digits[i] as number
    // Merge the runs whose windows touch.
    while (i + 1 < runs.count && (runs.start[i + 1] as number) - RUN_BEFORE <= end) {
      i++
      end = Math.min(text.length, (runs.end[i] as number) + RUN_AFTER)
      digits = Math.max(digits, runs.digits[i] as number)
    }
    while (end < text.length && end - (runs.end[i] as number) < 32 && isWordChar(unit(end))) end++
    scanWindow(text, start, end, digits, out)
    i++
  }
}

// Code units of a window when the pre-filter no longer holds the text (scratch).
let windowUnits = new Uint16Array(256)
// Spans taken in the window being scanned (start, end pairs; scratch of scanWindow).
const taken: number[] = []

function overlaps(m: RegExpExecArray): boolean {
  const s = m.index
  const e = s + m[0].length
  for (let k = 0; k < taken.length; k += 2)
    if (s < (taken[k + 1] as number) && e > (taken[k] as number)) return true
  return false
}

function take(out: Violation[], offset: number, rule: string, severity: number, m: RegExpExecArray): void {
  const e = m.index + m[0].length
  taken.push(m.index, e)
  out.push({ category: 'pii', rule, severity, span: [offset + m.index, offset + e] })
}

// What a code unit is to scanWindow's pass: 0 nothing, else one of these.
const N_DIGIT = 1
const N_UPPER = 2
const N_PLUS = 3
const N_DASH = 4 // also a NANP separator
const N_SEPARATOR = 5 // ' ' or '.': a NANP separator
const NUMBER_CLASS = new Uint8Array(65_536)
for (let c = 48; c <= 57; c++) NUMBER_CLASS[c] = N_DIGIT
for (let c = 65; c <= 90; c++) NUMBER_CLASS[c] = N_UPPER
NUMBER_CLASS[43] = N_PLUS
NUMBER_CLASS[45] = N_DASH
NUMBER_CLASS[32] = N_SEPARATOR
NUMBER_CLASS[46] = N_SEPARATOR

/**
 * The number patterns on full[offset, end), `digits` the most digits of a run in it. One pass over
 * the window's code units first notes what each pattern needs, so that a pattern that cannot
 * match there is not run (and a window where none can is not sliced): besides `digits`, IBANs need
 * two upper-case letters, NINOs three, SSNs two dashes, international numbers a '+' (as before);
 * and, read off the patterns, cards 13 digits and NANP / national numbers 10 digits with at most
 * two other characters between neighbours; NANP numbers end in three digits, [ .-], four digits
 * and no digit; national ones start with a '0' that no digit, '+', '.' or ',' precedes; SSNs have
 * three digits, '-', two digits, '-', four digits; IBANs and NINOs two upper-case letters then a
 * digit (for NINOs maybe after a space).
 */
function scanWindow(full: string, offset: number, end: number, digits: number, out: Violation[]): void {
  let u = loadedUnits(full)
  let base = 0
  if (u === undefined) {
    // Not the text the pre-filter holds (a caller of its own): copy the window.
    if (windowUnits.length < end - offset) windowUnits = new Uint16Array(end - offset)
    for (let i = offset; i < end; i++) windowUnits[i - offset] = full.charCodeAt(i)
    u = windowUnits
    base = offset
  }
  // Indexes below are into u.
  let upper = 0
  let dashes = 0
  let plus = false
  let chain = 0
  let longest = 0
  let nanp = false
  let zero = false
  let ssn = false
  let caps = false
  // Digits joined by at most one ' ' or '-' (what a card match spans), whether a space joins two,
  // and whether such a group can hold a card match: 13 to 19 digits, or 13+ with a space (a
  // match starts and ends at the group's ends, or where a space splits it).
  let cardDigits = 0
  let cardSpace = false
  let cardFits = false
  let cardLongest = 0
  const first = offset - base
  const stop = end - base
  let lastDigit = first - 8
  for (let i = first; i < stop; i++) {
    const k = NUMBER_CLASS[u[i] as number] as number
    if (k === 0) continue
    if (k === N_DIGIT) {
      if (lastDigit === i - 1) {
        chain++
        cardDigits++
      } else {
        // The first digit of a group: what stands before it.
        const p = i > first ? (u[i - 1] as number) : 0
        if (i === first) {
          if (u[i] === 48) zero = true
        } else {
          if (u[i] === 48 && p !== 43 && p !== 46 && p !== 44) zero = true
          if (isUpperUnit(p)) {
            if (i - 1 > first && isUpperUnit(u[i - 2] as number)) caps = true
          } else if (
            p === 32 &&
            i - 2 > first &&
            isUpperUnit(u[i - 2] as number) &&
            isUpperUnit(u[i - 3] as number)
          )
            caps = true
        }
        chain = i - lastDigit <= 3 ? chain + 1 : 1
        if (lastDigit === i - 2 && (p === 32 || p === 45)) {
          cardDigits++
          if (p === 32) cardSpace = true
        } else {
          if (cardDigits >= 13 && (cardDigits <= 19 || cardSpace)) cardFits = true
          cardDigits = 1
          cardSpace = false
        }
      }
      if (chain > longest) longest = chain
      if (cardDigits > cardLongest) cardLongest = cardDigits
      lastDigit = i
    } else if (k === N_UPPER) upper++
    else if (k === N_PLUS) plus = true
    else {
      if (k === N_DASH) {
        dashes++
        // ddd-dd-dddd with this as the second dash.
        if (
          i - 6 >= first &&
          i + 4 < stop &&
          u[i - 3] === 45 &&
          isDigitUnit(u[i - 1] as number) &&
          isDigitUnit(u[i - 2] as number) &&
          isDigitUnit(u[i - 4] as number) &&
          isDigitUnit(u[i - 5] as number) &&
          isDigitUnit(u[i - 6] as number) &&
          isDigitUnit(u[i + 1] as number) &&
          isDigitUnit(u[i + 2] as number) &&
          isDigitUnit(u[i + 3] as number) &&
          isDigitUnit(u[i + 4] as number)
        )
          ssn = true
      }
      // A NANP separator ([ .-]): ddd[ .-]dddd and no digit after.
      if (lastDigit === i - 1 && !nanp)
        nanp =
          i - 3 >= first &&
          i + 4 < stop &&
          isDigitUnit(u[i - 2] as number) &&
          isDigitUnit(u[i - 3] as number) &&
          isDigitUnit(u[i + 1] as number) &&
          isDigitUnit(u[i + 2] as number) &&
          isDigitUnit(u[i + 3] as number) &&
          isDigitUnit(u[i + 4] as number) &&
          (i + 5 >= stop || !isDigitUnit(u[i + 5] as number))
    }
  }
  if (cardDigits >= 13 && (cardDigits <= 19 || cardSpace)) cardFits = true
  // Below 8 digits only SSNs and NINOs are looked for.
  if (digits < 8 && dashes < 2 && upper < 3) return
  const card = digits >= 13 && cardFits
  const iban = digits >= 8 && upper >= 2 && caps
  const ssnRe = dashes >= 2 && ssn
  const nino = upper >= 3 && caps
  const intl = digits >= 8 && plus
  const nanpRe = digits >= 8 && longest >= 10 && nanp
  const national = digits >= 8 && cardLongest >= 10 && zero
  if (!(card || iban || ssnRe || nino || intl || nanpRe || national)) return
  const text = full.slice(offset, end)
  taken.length = 0
  if (card) {
    CARD.lastIndex = 0
    for (let m = CARD.exec(text); m !== null; m = CARD.exec(text))
      if (isCardAt(text, m.index, m.index + m[0].length)) take(out, offset, 'card-number', 0.6, m)
  }
  if (iban) {
    IBAN.lastIndex = 0
    for (let m = IBAN.exec(text); m !== null; m = IBAN.exec(text)) {
      if (ibanValid(m[0].replace(/ /g, ''))) take(out, offset, 'iban', 0.5, m)
    }
  }
  if (ssnRe) {
    SSN.lastIndex = 0
    for (let m = SSN.exec(text); m !== null; m = SSN.exec(text))
      if (!overlaps(m)) take(out, offset, 'us-ssn', 0.6, m)
  }
  if (nino) {
    NINO.lastIndex = 0
    for (let m = NINO.exec(text); m !== null; m = NINO.exec(text))
      if (!overlaps(m)) take(out, offset, 'uk-nino', 0.5, m)
  }
  if (intl) {
    INTERNATIONAL.lastIndex = 0
    for (let m = INTERNATIONAL.exec(text); m !== null; m = INTERNATIONAL.exec(text)) {
      const n = digitCount(text, m.index, m.index + m[0].length)
      if (n >= 8 && n <= 15 && !overlaps(m)) take(out, offset, 'phone', 0.35, m)
    }
  }
  if (nanpRe) {
    NANP.lastIndex = 0
    for (let m = NANP.exec(text); m !== null; m = NANP.exec(text))
      if (!overlaps(m)) take(out, offset, 'phone', 0.35, m)
  }
  if (national) {
    NATIONAL.lastIndex = 0
    for (let m = NATIONAL.exec(text); m !== null; m = NATIONAL.exec(text)) {
      const n = digitCount(text, m.index, m.index + m[0].length)
      if (n >= 10 && n <= 11 && !overlaps(m)) take(out, offset, 'phone', 0.35, m)
    }
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
