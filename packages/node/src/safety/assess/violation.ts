/** The categories a tier-1, tier-2 or tier-3 check can report. Policies map each to an action. */
export const SAFETY_CATEGORIES = [
  'injection',
  'jailbreak',
  'harmful',
  'pii',
  'secret',
  'obfuscation',
  'size',
  'rate',
  'budget',
  'classifier',
  'judge',
] as const

export type SafetyCategory = (typeof SAFETY_CATEGORIES)[number]

/** One finding. `span` is [start, end) in the assessed text when the finding maps onto it. */
export interface Violation {
  category: SafetyCategory
  /** A stable rule name, e.g. `override-instructions`, `card-number`, `zero-width`. */
  rule: string
  /** 0..1: how strongly this finding alone indicates a threat. */
  severity: number
  span?: [number, number]
}
