import { ruleFor, type SafetyAction, type SafetyPolicy } from '../policy.ts'
import {
  extractFeatures,
  type Features,
  MAX_LEET,
  newFeatures,
  OBFUSCATION_INVISIBLE,
  OBFUSCATION_SCRIPT,
  OBFUSCATION_TOUCHES_LATIN,
  OBFUSCATION_WIDE,
} from './features.ts'
import { scanInjection, scanInjectionText, TRIGGERS } from './injection.ts'
import { decodeBase64Runs, foldHomoglyphs, foldLeet, foldLeetAt, stripInvisible } from './obfuscation.ts'
import { scanEmails, scanNumbers, scanSecrets } from './pii.ts'
import type { SafetyCategory, Violation } from './violation.ts'

export const THREAT_LEVELS = ['NONE', 'LOW', 'MEDIUM', 'HIGH', 'CRITICAL', 'EMERGENCY'] as const
export type ThreatLevel = (typeof THREAT_LEVELS)[number]

/** The result of assessing one text under a policy. */
export interface Assessment {
  /** 0..1, combined over the distinct findings (noisy-or of their severities). */
  score: number
  threatLevel: ThreatLevel
  violations: Violation[]
  categories: SafetyCategory[]
  /** The action the policy took per category found. */
  actions: { category: SafetyCategory; action: SafetyAction }[]
  /** True when any action is block (or the score reaches the policy's blockScore). */
  blocked: boolean
  /** The text with redacted spans replaced, when a redact action applied. */
  redacted?: string
}

export const CLEAN: Assessment = Object.freeze({
  score: 0,
  threatLevel: 'NONE',
  violations: Object.freeze([]) as unknown as Violation[],
  categories: Object.freeze([]) as unknown as SafetyCategory[],
  actions: Object.freeze([]) as unknown as Assessment['actions'],
  blocked: false,
}) as Assessment

export function threatLevel(score: number): ThreatLevel {
  if (score <= 0) return 'NONE'
  if (score < 0.3) return 'LOW'
  if (score < 0.6) return 'MEDIUM'
  if (score < 0.85) return 'HIGH'
  if (score < 0.97) return 'CRITICAL'
  return 'EMERGENCY'
}

// One pre-filter state per depth (scans nest once for normalised copies); reused across calls.
const FEATURES = [newFeatures(), newFeatures()]

/**
 * Tier-1 scan: every finding in `text`. One pre-filter pass decides which detectors run.
 * Obfuscated content (invisible characters, homoglyphs, leetspeak, base64) is normalised and
 * scanned once more; findings only visible after normalisation are added without a span.
 */
export function scanText(text: string, out: Violation[] = [], depth = 0): Violation[] {
  const f = extractFeatures(text, TRIGGERS, FEATURES[depth] as Features)
  scanInjection(text, f, out)
  if (f.at >= 0) scanEmails(text, out, f.at)
  if (f.runs > 0)
    scanNumbers(text, out, { start: f.runStart, end: f.runEnd, digits: f.runDigits, count: f.runs })
  const tokens = { start: f.tokenStart, end: f.tokenEnd, count: f.tokens }
  if (f.tokens > 0 || f.dashes) scanSecrets(text, tokens, f.dashes, out)
  if (depth > 0) return out

  if (f.nonLatin1) {
    let normal = text
    const invisible = (f.obfuscation & OBFUSCATION_INVISIBLE) !== 0 ? stripInvisible(normal) : undefined
    if (invisible !== undefined) normal = invisible.text
    // A lookalike inside a Latin word needs a Greek or Cyrillic letter touching a Latin one: in
    // the text as it is, or once invisible characters between them are gone.
    const script =
      (f.obfuscation & OBFUSCATION_SCRIPT) !== 0 &&
      (invisible !== undefined || (f.obfuscation & OBFUSCATION_TOUCHES_LATIN) !== 0)
    const wide = (f.obfuscation & OBFUSCATION_WIDE) !== 0
    const homo = script || wide ? foldHomoglyphs(normal, script, wide) : undefined
    if (homo !== undefined) normal = homo.text
    if (invisible !== undefined) out.push(invisible.violation)
    if (homo !== undefined) out.push(homo.violation)
    if (normal !== text) addDerived(out, scanText(normal, [], depth + 1))
  }
  // Leetspeak needs two letter-digit-letter sandwiches.
  if (f.leet >= 2) {
    const found: Violation[] = []
    const windows = f.leet <= MAX_LEET ? foldLeetAt(text, f.leetPos, f.leet) : foldLeet(text, f.leetFrom)
    for (const window of windows) scanInjectionText(window, found)
    if (addDerived(out, found) > 0) out.push({ category: 'obfuscation', rule: 'leetspeak', severity: 0.5 })
  }
  if (f.tokens > 0) {
    for (const d of decodeBase64Runs(text, tokens)) {
      const inner = scanText(d.text, [], depth + 1)
      if (inner.length === 0) continue
      out.push({ category: 'obfuscation', rule: 'base64-payload', severity: 0.6, span: d.span })
      addDerived(out, inner)
    }
  }
  return out
}

/** Adds findings from a normalised copy that the plain text did not already show (no spans). */
function addDerived(out: Violation[], found: Violation[]): number {
  let added = 0
  for (const v of found) {
    if (out.some((o) => o.rule === v.rule && o.category === v.category)) continue
    out.push({ category: v.category, rule: v.rule, severity: v.severity })
    added++
  }
  return added
}

/** Combines findings under a policy into an assessment (score, level, actions, redaction). */
export function judge(text: string, found: readonly Violation[], policy: SafetyPolicy): Assessment {
  const violations: Violation[] = []
  for (const v of found) if (v.severity >= ruleFor(policy, v.category).minSeverity) violations.push(v)
  if (violations.length === 0) return CLEAN
  // Noisy-or over the distinct (category, rule) pairs, each at its strongest, multiplied in the
  // order the pairs first occur. Pairs are few (one per rule at most), so a list beats a Map.
  const pairRule: string[] = []
  const pairCategory: SafetyCategory[] = []
  const strongest: number[] = []
  const categories: SafetyCategory[] = []
  for (const v of violations) {
    let k = 0
    while (k < pairRule.length && (pairRule[k] !== v.rule || pairCategory[k] !== v.category)) k++
    if (k === pairRule.length) {
      pairRule.push(v.rule)
      pairCategory.push(v.category)
      strongest.push(Math.max(0, v.severity))
    } else strongest[k] = Math.max(strongest[k] as number, v.severity)
    if (!categories.includes(v.category)) categories.push(v.category)
  }
  let clean = 1
  for (const s of strongest) clean *= 1 - s
  const score = Math.round((1 - clean) * 1e4) / 1e4
  let blocked = score >= policy.blockScore
  let redacting = false
  const actions: Assessment['actions'] = []
  for (const category of categories) {
    const action = ruleFor(policy, category).action
    actions.push({ category, action })
    if (action === 'block') blocked = true
    else if (action === 'redact') redacting = true
  }
  let redactSpans: [number, number, string][] | undefined
  if (redacting) {
    for (const v of violations) {
      if (ruleFor(policy, v.category).action !== 'redact') continue
      // A finding that cannot be located cannot be redacted: refuse instead.
      if (v.span === undefined) blocked = true
      else {
        redactSpans ??= []
        redactSpans.push([v.span[0], v.span[1], v.rule])
      }
    }
  }
  const a: Assessment = { score, threatLevel: threatLevel(score), violations, categories, actions, blocked }
  if (redactSpans !== undefined) a.redacted = redact(text, redactSpans)
  return a
}

function redact(text: string, spans: [number, number, string][]): string {
  spans.sort((x, y) => x[0] - y[0])
  let out = ''
  let at = 0
  for (const [s, e, rule] of spans) {
    if (e <= at) continue
    out += `${text.slice(at, Math.max(at, s))}[REDACTED:${rule}]`
    at = e
  }
  return out + text.slice(at)
}

/** Tier 1 under a policy: size limit, scan, judge. */
export function assessText(text: string, policy: SafetyPolicy): Assessment {
  if (text.length > policy.limits.maxChars) {
    return judge(text, [{ category: 'size', rule: 'max-chars', severity: 0.5 }], policy)
  }
  const found = scanText(text)
  return found.length === 0 ? CLEAN : judge(text, found, policy)
}
