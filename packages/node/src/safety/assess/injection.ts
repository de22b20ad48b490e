import { isAsciiLetter } from './code-units.ts'
import {
  CONTEXT_BIT,
  extractFeatures,
  type Features,
  loadedUnits,
  MARKER_BRACKET,
  MARKER_HASHES,
  MARKER_LT,
  MAX_HITS,
  newFeatures,
  TOKEN_BIT,
  TriggerTable,
} from './features.ts'
import {
  AUTHORITY_VOID,
  addressedToModelAt,
  authorityClaimAt,
  DISABLE_VERBS,
  DISABLED_SUBJECTS,
  disableSafetyAt,
  doAnythingNowAt,
  forgetEverythingAt,
  ignoreAndInsteadAt,
  jailbreakClaimAt,
  MALWARE,
  MALWARE_VERBS,
  malwareRequestAt,
  neverRefuseAt,
  overrideInstructionsAt,
  overridePolicyAt,
  specialModeAt,
  UNRESTRICTED_UNANCHORED,
  unrestrictedPersonaAt,
} from './injection-checks.ts'
import type { SafetyCategory, Violation } from './violation.ts'

/**
 * Prompt-injection, jailbreak and harmful-request patterns. Every pattern is written for the
 * lower-cased text and run case-insensitively on the sentence as it is (or on its lower-cased copy
 * when lower-casing would change it otherwise), is bounded (no nested unbounded quantifiers, gaps
 * limited to one sentence of a few dozen characters) and is only tried on the sentence around one
 * of its trigger words, found by the single pre-filter pass (features.ts), after the checks in
 * injection-checks.ts — most benign prompts cost that one pass.
 */
interface Rule {
  rule: string
  category: SafetyCategory
  severity: number
  re: RegExp
  /**
   * Every match starts with one of the rule's trigger phrases, at a word start (a verb the pattern
   * opens with): the search may then begin at the first such trigger the pre-filter found.
   */
  opensWithTrigger?: true
  /**
   * Every match holds one of these strings (lower case): a sentence without any of them is not
   * searched. Read off the pattern: each of its alternatives ends in a word containing one.
   */
  needs?: readonly string[]
}

// One sentence's worth of gap: no sentence end, bounded length.
const GAP = (n: number): string => `[^.!?\\n]{0,${n}}?`
const ALT = (xs: readonly string[]): string => `(?:${xs.join('|')})`

const OVERRIDE_VERBS = [
  'ignore',
  'disregard',
  'forget',
  'override',
  'overwrite',
  'bypass',
  'erase',
  'pay no attention to',
  'do not follow',
  "don't follow",
  'stop following',
]
// Words that may stand between the verb and the thing overridden ("all your previous ...").
const MODIFIERS = [
  'all',
  'any',
  'every',
  'each',
  'of',
  'the',
  'your',
  'you',
  'these',
  'those',
  'previous',
  'prior',
  'above',
  'earlier',
  'preceding',
  'original',
  'initial',
  'existing',
  'current',
  'old',
  'system',
  'safety',
  'content',
  'openai',
  'anthropic',
  'developer',
  'default',
  'ethical',
  'moral',
  'other',
  'built-in',
  'given',
  'such',
]
const TARGETS = [
  'instructions?',
  'rules',
  'guidelines',
  'directions',
  'directives?',
  'prompts?',
  'programming',
  'constraints',
  'polic(?:y|ies)',
  'protocols',
  'filters?',
  'restrictions',
  'training',
  'safeguards',
  'guardrails',
  'commands',
  'orders',
]

// unrestricted-persona's second half: "no/without ... restrictions".
const UNRESTRICTED =
  '\\b(?:no|without|zero|free of|freed from|broken free of|escaped)\\s+(?:any\\s+|all\\s+|your\\s+|its\\s+|the\\s+|typical\\s+)?(?:safety\\s+|content\\s+|ethical\\s+|moral\\s+)?(?:restrictions|limitations|limits|filters?|filtering|censorship|ethics|guidelines|moral compass|morals|rules|polic(?:y|ies)|safety training|alignment(?: training)?|confines)\\b'

const RULES: Rule[] = [
  {
    rule: 'override-instructions',
    opensWithTrigger: true,
    category: 'injection',
    severity: 0.85,
    re: new RegExp(`\\b${ALT(OVERRIDE_VERBS)}\\s+(?:${ALT(MODIFIERS)}\\s+){0,4}${ALT(TARGETS)}\\b`),
  },
  {
    rule: 'override-policy',
    opensWithTrigger: true,
    category: 'injection',
    severity: 0.8,
    re: /\b(?:ignores|ignoring|bypasses|bypassing|overrides|overriding)\s+(?:\w+\s+){0,2}?(?:content polic(?:y|ies)|polic(?:y|ies)|safety (?:rules|guidelines|filters?)|guidelines|guardrails)\b/,
  },
  {
    rule: 'ignore-and-instead',
    opensWithTrigger: true,
    category: 'injection',
    severity: 0.8,
    re: new RegExp(
      `\\b(?:ignore|disregard)\\b${GAP(50)}\\band\\s+(?:instead\\s+|now\\s+|just\\s+)?(?:say|reply|respond|write|output|print|send|tell|rate|dump|forward|recommend|click|return)\\b`,
    ),
  },
  {
    rule: 'forget-everything',
    opensWithTrigger: true,
    category: 'injection',
    severity: 0.8,
    re: /\bforget\s+(?:everything|all(?: of it)?|what)\s+(?:you\s+(?:were|have been|was)\s+told|you know|above|before|i said)/,
  },
  {
    rule: 'prompt-extraction',
    category: 'injection',
    severity: 0.75,
    re: new RegExp(
      `\\b(?:reveal|print|show|output|repeat|tell me|leak|dump|display|disclose|give me|share|write out|what (?:is|was|were|are))\\b${GAP(30)}\\b(?:(?:system|initial|hidden|original|secret|exact|developer|confidential|first)\\s+(?:prompt|message|instructions|rules|configuration|directives)|instructions you (?:were|have been) given|instructions you received|your (?:instructions|prompt|rules))\\b`,
    ),
  },
  {
    rule: 'text-above',
    category: 'injection',
    severity: 0.7,
    re: /\b(?:repeat|print|output|copy|dump)\s+(?:the|all the|all|everything|every word of the)\s*(?:text|words|content|messages?)?\s*(?:above|before this)|(?:written|said|text|stated)\s+(?:at|in)\s+the\s+(?:beginning|start|top)\s+of\s+(?:this|the)\s+(?:conversation|chat|context)|\bdump\s+all\s+(?:previous|prior|earlier)\s+messages/,
  },
  {
    rule: 'role-marker',
    category: 'injection',
    severity: 0.75,
    re: /<\|(?:im_start|im_end|system|endoftext)\|>|\[\/?inst\]|<<\/?sys>>|\[system\]|#{2,}\s*system\s*:|\bbegin system (?:override|prompt)|\bend of (?:user )?input\b/,
  },
  {
    rule: 'authority-claim',
    category: 'injection',
    severity: 0.75,
    re: /\b(?:system|admin|administrator|developer|root|safety) (?:override|message update|mode override)\b|\b(?:higher|highest)[- ]priority (?:instruction|directive|command)|\bnew (?:primary )?(?:instructions|directive|system prompt|policy)\s*(?::|loaded|overrides)|\boverrides? all (?:others|other|previous|prior)|\b(?:previous|prior|all other|earlier) (?:rules|instructions) (?:are|is) (?:now )?(?:void|cancelled|revoked|null)/,
  },
  {
    rule: 'addressed-to-model',
    category: 'injection',
    severity: 0.5,
    re: /\b(?:note to|attention|message to) (?:the |any |all )?(?:ai|assistant|llm|chatbot|language model|ai assistant)s?\b/,
  },
  {
    rule: 'do-anything-now',
    category: 'jailbreak',
    severity: 0.9,
    re: /\bdo anything now\b|\b(?:you are|you're|pretend to be|act as|respond as|activate|enable|be|as)\s+(?:now\s+)?(?:better)?dan\b|\b(?:better)?dan mode\b/,
  },
  {
    rule: 'unrestricted-persona',
    category: 'jailbreak',
    severity: 0.85,
    needs: [
      'restrictions',
      'limit',
      'filter',
      'censorship',
      'ethics',
      'guidelines',
      'moral',
      'rules',
      'polic',
      'training',
      'alignment',
      'confines',
    ],
    re: new RegExp(
      `\\b(?:you|act as|pretend|roleplay|role-play|simulate|imagine|persona|character|respond as|answer as|be an?|become)\\b${GAP(120)}${UNRESTRICTED}`,
    ),
  },
  {
    rule: 'unfiltered-persona',
    category: 'jailbreak',
    severity: 0.85,
    re: /\b(?:you are|you're|act as|as|be|become|pretend to be|roleplay as|simulate)\s+(?:an?|my|the|now an?|now)?\s*(?:\w+\s+){0,2}?(?:unfiltered|uncensored|unrestricted|amoral|jailbroken|unaligned|unethical|evil)\b/,
  },
  {
    rule: 'special-mode',
    category: 'jailbreak',
    severity: 0.85,
    re: /\b(?:switch to|enter|activate|enable|turn on|in)\s+(?:the\s+)?(?:unrestricted|god|jailbreak|jailbroken|opposite|evil|uncensored|unfiltered|dan|chaos|no-limits?)\s+mode\b|\bopposite mode\b|\bgod mode\b|\bdeveloper mode\b[^.!?\n]{0,60}?\b(?:no|without|ignore|ignores|uncensored|unfiltered|any content)\b|\byou are (?:now )?in developer mode\b/,
  },
  {
    rule: 'jailbreak-claim',
    category: 'jailbreak',
    severity: 0.85,
    re: /\b(?:you are|you're|now|been|is)\s+(?:now\s+)?jailbroken\b|\bjailbreak (?:successful|mode|enabled|activated|prompt:)|\bthis is a jailbreak\b/,
  },
  {
    rule: 'never-refuse',
    category: 'jailbreak',
    severity: 0.6,
    re: /\b(?:never|stop|don't|do not|will not|won't|must not)\s+(?:refuse|refuses|refusing|decline)\b|\bstay in character\b[^.!?\n]{0,40}?(?:no matter|whatever)|\bif you break character\b/,
  },
  {
    rule: 'disable-safety',
    category: 'jailbreak',
    severity: 0.8,
    needs: ['filter', 'safety', 'censorship', 'guardrails', 'moderation'],
    re: new RegExp(
      `\\b${ALT(DISABLE_VERBS)}\\s+(?:\\w+\\s+){0,2}?(?:content filter(?:ing|s)?|safety (?:filters?|features|protocols|checks|polic(?:y|ies)|guidelines|rules)|filters|censorship|guardrails|content moderation)\\b|\\b${ALT(DISABLED_SUBJECTS)}\\s+(?:are\\s+)?(?:disabled|off)\\b`,
    ),
  },
  {
    rule: 'persona-names',
    category: 'jailbreak',
    severity: 0.8,
    re: /\bmachiavellian chatbot|\bstrive to avoid norms\b|\bbetterdan\b|\bevilbot\b|\bevil confidant\b|\bno moral compass\b/,
  },
  {
    rule: 'weapon-or-drug-synthesis',
    category: 'harmful',
    severity: 0.9,
    re: /\b(?:make|making|build|building|synthesi[sz]e|synthesi[sz]ing|cook|cooking|manufacture|manufacturing|create|creating|assemble|assembling)\s+(?:a\s+|an\s+|the\s+|some\s+|homemade\s+)?(?:pipe\s+)?(?:bomb|bombs|napalm|methamphetamine|meth|nerve agent|sarin|ricin|explosives?|bioweapon|chemical weapon|weapon)\b/,
  },
  {
    rule: 'malware-request',
    category: 'harmful',
    severity: 0.85,
    re: new RegExp(
      `\\b${ALT(MALWARE_VERBS)}\\s+(?:me\\s+)?(?:a\\s+|an\\s+|some\\s+)?(?:working\\s+)?${ALT(MALWARE)}\\b`,
    ),
  },
]

/**
 * Trigger phrases per rule (a word-start prefix; `$` marks a whole word): a rule can only match a
 * sentence holding one of them. Role markers are found by the pre-filter's marker bits instead.
 */
const RULE_TRIGGERS: Record<string, string[]> = {
  'override-instructions': [
    'ignor',
    'disregard',
    'forget',
    'overrid',
    'overwrit',
    'bypass',
    'erase',
    'pay no attention',
    'do not follow',
    "don't follow",
    'stop following',
  ],
  'override-policy': ['ignor', 'bypass', 'overrid'],
  'ignore-and-instead': ['ignor', 'disregard'],
  'forget-everything': ['forget'],
  'prompt-extraction': [
    'system prompt',
    'system message',
    'system instructions',
    'system rules',
    'system configuration',
    'system directives',
    'initial prompt',
    'initial instructions',
    'initial message',
    'hidden instructions',
    'hidden rules',
    'hidden prompt',
    'hidden configuration',
    'hidden message',
    'original instructions',
    'original prompt',
    'secret instructions',
    'secret prompt',
    'exact instructions',
    'developer prompt',
    'developer message',
    'developer instructions',
    'confidential',
    'first prompt',
    'instructions you',
    'your instructions',
    'your prompt',
    'your rules',
  ],
  'text-above': ['above', 'before this', 'beginning of', 'start of', 'top of', 'dump'],
  'role-marker': ['begin system', 'end of input', 'end of user input'],
  'authority-claim': [
    'overrid',
    'priority',
    'void$',
    'cancelled',
    'revoked',
    'message update',
    'new instructions',
    'new directive',
    'new system prompt',
    'new policy',
    'new primary',
  ],
  'addressed-to-model': ['note to', 'attention', 'message to'],
  'do-anything-now': ['do anything now', 'dan$', 'betterdan'],
  'unrestricted-persona': [
    'no restrict',
    'no limit',
    'no filter',
    'no censor',
    'no ethic',
    'no guidelines',
    'no moral',
    'no rules',
    'no polic',
    'no safety',
    'no alignment',
    'no content',
    'no confines',
    'without',
    'free of',
    'freed',
    'broken free',
    'escaped',
    'zero restrict',
  ],
  'unfiltered-persona': [
    'unfiltered',
    'uncensored',
    'unrestricted',
    'amoral',
    'jailbroken',
    'unaligned',
    'unethical',
    'evil',
  ],
  'special-mode': [
    'unrestricted mode',
    'god mode',
    'jailbreak mode',
    'jailbroken mode',
    'opposite mode',
    'evil mode',
    'uncensored mode',
    'unfiltered mode',
    'dan mode',
    'chaos mode',
    'no-limit mode',
    'no-limits mode',
    'developer mode',
  ],
  'jailbreak-claim': ['jailbr', 'this is a jailbreak'],
  'never-refuse': ['refus', 'declin', 'stay in character', 'break character'],
  'disable-safety': [
    'disabl',
    'turn off',
    'switch off',
    'remov',
    'deactivat',
    'safety features',
    'all filters',
    'content filtering',
    'filters',
  ],
  'persona-names': [
    'machiavellian',
    'strive to avoid',
    'betterdan',
    'evilbot',
    'evil confidant',
    'no moral compass',
  ],
  'weapon-or-drug-synthesis': [
    'bomb',
    'napalm',
    'meth$',
    'methamphetamine',
    'nerve agent',
    'sarin',
    'ricin',
    'explosive',
    'bioweapon',
    'chemical weapon',
    'weapon',
  ],
  'malware-request': MALWARE,
}

/** Words that make the pre-filter look for long tokens: key prefixes and words that introduce keys. */
const TOKEN_TRIGGERS = [
  'sk-',
  'sk_',
  'rk_',
  'akia',
  'asia',
  'ghp_',
  'gho_',
  'ghu_',
  'ghs_',
  'ghr_',
  'github_pat_',
  'xox',
  'aiza',
  'hf_',
  'glpat-',
  'npm_',
  'eyj',
]
/** Words that introduce a hex private key (the key context is checked again next to the key). */
const CONTEXT_TRIGGERS = [
  'private key',
  'private_key',
  'private-key',
  'privatekey',
  'priv key',
  'privkey',
  'secret key',
  'secret_key',
  'secret-key',
  'seed',
  'mnemonic',
  'secret',
]

export const TRIGGERS = new TriggerTable()
for (const t of TOKEN_TRIGGERS) TRIGGERS.add(t, TOKEN_BIT)
for (const t of CONTEXT_TRIGGERS) TRIGGERS.add(t, CONTEXT_BIT)
let ROLE_MARKER_BIT = 0
for (const [i, r] of RULES.entries()) {
  const words = RULE_TRIGGERS[r.rule]
  if (words === undefined) throw new Error(`rule ${r.rule} has no triggers`)
  for (const w of words) TRIGGERS.add(w, 1 << i)
  if (r.rule === 'role-marker') ROLE_MARKER_BIT = 1 << i
}
const MARKERS = MARKER_LT | MARKER_BRACKET | MARKER_HASHES

/** Longest stretch searched on either side of a trigger (a sentence without punctuation is cut here). */
const WINDOW = 240

const isSentenceEnd = (c: number): boolean => c === 46 || c === 33 || c === 63 || c === 10

/** OR of the code units the last sentenceStart/sentenceEnd on loaded units passed over (< 128: ASCII). */
let passed = 0
/** Sentence ends by ASCII code unit (read as STOPS[c & 127] && c < 128: no branch on most units). */
const STOPS = new Uint8Array(128)
for (const c of [46, 33, 63, 10]) STOPS[c] = 1

// Bounded scans (at most WINDOW characters), so many triggers in a long text stay linear.
// `u`: the text's code units when the pre-filter still holds them (loadedUnits), else charCodeAt.
function sentenceStart(text: string, u: Uint16Array | undefined, at: number): number {
  const floor = Math.max(0, at - WINDOW)
  if (u !== undefined) {
    let or = 0
    for (let i = at - 1; i >= floor; i--) {
      const c = u[i] as number
      if (STOPS[c & 127] !== 0 && c < 128) {
        passed = or
        return i + 1
      }
      or |= c
    }
    passed = or
  } else for (let i = at - 1; i >= floor; i--) if (isSentenceEnd(text.charCodeAt(i))) return i + 1
  return floor
}
function sentenceEnd(text: string, u: Uint16Array | undefined, at: number): number {
  const ceil = Math.min(text.length, at + WINDOW)
  if (u !== undefined) {
    let or = 0
    for (let i = at; i < ceil; i++) {
      const c = u[i] as number
      if (STOPS[c & 127] !== 0 && c < 128) {
        passed = or
        return i + 1
      }
      or |= c
    }
    passed = or
  } else for (let i = at; i < ceil; i++) if (isSentenceEnd(text.charCodeAt(i))) return i + 1
  return ceil
}

/**
 * The rules that open with a trigger (Rule.opensWithTrigger), as bits, and a sticky copy of each
 * pattern to try at one offset. Checked here: no other trigger phrase extends one of theirs
 * (the pre-filter takes the longest phrase at a word start, which then would not carry the rule),
 * and no whole-word phrase is a prefix of one (its word end could end the walk first). The
 * patterns' opening verbs are ASCII letters without a 'k' (the only other characters whose
 * lower case is an ASCII letter are U+212A KELVIN SIGN, and U+0130, whose lower case is two code
 * units: a sentence that changes length when lower-cased is searched whole).
 */
let OPENS_WITH_TRIGGER = 0
const STICKY: RegExp[] = []
/** Case-insensitive copies of the patterns, for sentences searched as they are (see runRulesPlain). */
const STICKY_I: RegExp[] = []
const RULE_I: RegExp[] = RULES.map((r) => new RegExp(r.re.source, `${r.re.flags}i`))
/** Rule.needs as one case-insensitive pattern. */
const NEEDS_I: (RegExp | undefined)[] = RULES.map((r) =>
  r.needs === undefined ? undefined : new RegExp(r.needs.join('|'), 'i'),
)
function checkOpeners(): void {
  const all: [string, number][] = []
  for (const [i, r] of RULES.entries()) for (const w of RULE_TRIGGERS[r.rule] ?? []) all.push([w, 1 << i])
  for (const w of [...TOKEN_TRIGGERS, ...CONTEXT_TRIGGERS]) all.push([w, 0])
  for (const [i, r] of RULES.entries()) {
    if (r.opensWithTrigger !== true) continue
    for (const w of RULE_TRIGGERS[r.rule] ?? []) {
      const own = w.toLowerCase()
      for (const [other, mask] of all) {
        const o = other.toLowerCase()
        const extends_ = o !== own && o.replace(/\$$/, '').startsWith(own) && (mask & (1 << i)) === 0
        const wordPrefix = o.endsWith('$') && own.startsWith(o.slice(0, -1))
        if (extends_ || wordPrefix) throw new Error(`trigger ${other} hides ${w} of ${r.rule}`)
      }
    }
    OPENS_WITH_TRIGGER |= 1 << i
    STICKY[i] = new RegExp(r.re.source, `${r.re.flags}y`)
    STICKY_I[i] = new RegExp(r.re.source, `${r.re.flags}iy`)
  }
}
checkOpeners()

const ruleIndex = (name: string): number => RULES.findIndex((r) => r.rule === name)
/** Sticky checks at a trigger, by rule index (rules that open with their trigger). */
const STICKY_CHECK: ((u: Uint16Array, p: number, e: number, end: number) => boolean)[] = []
STICKY_CHECK[ruleIndex('override-instructions')] = overrideInstructionsAt
STICKY_CHECK[ruleIndex('override-policy')] = overridePolicyAt
STICKY_CHECK[ruleIndex('ignore-and-instead')] = ignoreAndInsteadAt
STICKY_CHECK[ruleIndex('forget-everything')] = forgetEverythingAt

type AnchorCheck = (u: Uint16Array, start: number, end: number, q: number) => boolean
const ANCHOR_CHECK: AnchorCheck[] = []
ANCHOR_CHECK[ruleIndex('jailbreak-claim')] = jailbreakClaimAt
ANCHOR_CHECK[ruleIndex('special-mode')] = specialModeAt
ANCHOR_CHECK[ruleIndex('do-anything-now')] = doAnythingNowAt
ANCHOR_CHECK[ruleIndex('malware-request')] = malwareRequestAt
ANCHOR_CHECK[ruleIndex('never-refuse')] = neverRefuseAt
ANCHOR_CHECK[ruleIndex('addressed-to-model')] = addressedToModelAt
ANCHOR_CHECK[ruleIndex('authority-claim')] = authorityClaimAt
ANCHOR_CHECK[ruleIndex('unrestricted-persona')] = unrestrictedPersonaAt
ANCHOR_CHECK[ruleIndex('disable-safety')] = disableSafetyAt
const UNRESTRICTED_PERSONA = ruleIndex('unrestricted-persona')
const AUTHORITY_CLAIM = ruleIndex('authority-claim')

/**
 * Checks what the anchored checks rely on: at a word start where a rule's trigger phrase begins,
 * the pre-filter's walk ends on a phrase carrying some rule (it takes the longest phrase on the
 * way, so no phrase extending a rule's trigger may carry only the token or context bits).
 */
function checkAnchors(): void {
  const masks = new Map<string, number>()
  const add = (w: string, mask: number): void => {
    const k = w.toLowerCase()
    masks.set(k, (masks.get(k) ?? 0) | mask)
  }
  for (const [i, r] of RULES.entries()) for (const w of RULE_TRIGGERS[r.rule] ?? []) add(w, 1 << i)
  for (const w of TOKEN_TRIGGERS) add(w, TOKEN_BIT)
  for (const w of CONTEXT_TRIGGERS) add(w, CONTEXT_BIT)
  const rules = ~(TOKEN_BIT | CONTEXT_BIT)
  const ruleless = [...masks].filter(([, m]) => (m & rules) === 0).map(([o]) => o)
  for (const [t, m] of masks) {
    if ((m & rules) === 0) continue
    const own = t.replace(/\$$/, '')
    for (const o of ruleless) if (o.startsWith(own)) throw new Error(`trigger ${o} hides ${t}`)
  }
}
checkAnchors()

function holdsAny(sentence: string, words: readonly string[]): boolean {
  for (const w of words) if (sentence.includes(w)) return true
  return false
}

/**
 * Runs the rules in `todo` on the sentence text[start, end). `f`, `h`: the pre-filter's hits, from
 * the first one in this sentence carrying these rules, when the hits are complete (else null). A
 * rule that opens with its trigger can only match where the pre-filter found one of its triggers
 * at a word start: it is tried there alone (sticky), in order, instead of searching the sentence.
 */
function runRules(
  text: string,
  start: number,
  end: number,
  todo: number,
  out: Violation[],
  f: Features | null,
  h: number,
): number {
  let found = 0
  const sentence = text.slice(start, end).toLowerCase()
  // A sentence cut at WINDOW inside a word may open with a verb the pre-filter saw no word start
  // for; and offsets only carry over when lower-casing kept the length.
  const atHits =
    f !== null &&
    (todo & OPENS_WITH_TRIGGER) !== 0 &&
    sentence.length === end - start &&
    (start === 0 || isSentenceEnd(text.charCodeAt(start - 1)))
  for (let i = 0; todo !== 0; i++, todo >>>= 1) {
    if ((todo & 1) === 0) continue
    const r = RULES[i] as Rule
    const bit = 1 << i
    let hit: RegExpExecArray | null = null
    if (atHits && (OPENS_WITH_TRIGGER & bit) !== 0) {
      const re = STICKY[i] as RegExp
      const { hitPos, hitMask, hits } = f as Features
      for (let k = h; k < hits; k++) {
        const pos = hitPos[k] as number
        if (pos >= end) break
        if (((hitMask[k] as number) & bit) === 0) continue
        re.lastIndex = pos - start
        hit = re.exec(sentence)
        if (hit !== null) break
      }
    } else if (r.needs === undefined || holdsAny(sentence, r.needs)) hit = r.re.exec(sentence)
    if (hit !== null) {
      found |= bit
      const s = start + hit.index
      out.push({ category: r.category, rule: r.rule, severity: r.severity, span: [s, s + hit[0].length] })
    }
  }
  return found
}

/**
 * runRules for a sentence the pre-filter's code units `u` still hold, without U+0130 and U+212A
 * (`ascii`: and all of it ASCII). The only characters whose lower case differs in length or is
 * ASCII while they are not are those two; so on the rest, the case-insensitive copy of a pattern
 * (RULE_I, STICKY_I) finds on the sentence as it is what the pattern finds on it lower-cased, at
 * the same offsets (case-insensitive matching without the u flag never folds a non-ASCII
 * character onto an ASCII one, and leaves `\s`, `\w`, `\b` and the classes of non-letters as they
 * are): no lower-cased copy is made. Before its pattern runs, a rule is checked on the code units
 * (STICKY_CHECK at each of its triggers; ANCHOR_CHECK, on ASCII sentences, at each hit in the
 * sentence, from `hs`, the first hit at or after `start`).
 */
function runRulesPlain(
  text: string,
  u: Uint16Array,
  start: number,
  end: number,
  todo: number,
  out: Violation[],
  f: Features | null,
  h: number,
  hs: number,
  ascii: boolean,
): number {
  let found = 0
  let sentence: string | undefined
  // A sentence cut at WINDOW inside a word may open with a verb the pre-filter saw no word start
  // for (and holds word starts and ends the text does not have).
  const atHits = f !== null && (start === 0 || isSentenceEnd(u[start - 1] as number))
  const anchored = ascii && atHits && (end === text.length || isSentenceEnd(u[end - 1] as number))
  for (; todo !== 0; todo &= todo - 1) {
    const bit = todo & -todo
    const i = 31 - Math.clz32(bit)
    const r = RULES[i] as Rule
    let hit: RegExpExecArray | null = null
    if (atHits && (OPENS_WITH_TRIGGER & bit) !== 0) {
      const re = STICKY_I[i] as RegExp
      const check = STICKY_CHECK[i]
      const { hitPos, hitMask, hits } = f as Features
      for (let k = h; k < hits; k++) {
        const pos = hitPos[k] as number
        if (pos >= end) break
        if (((hitMask[k] as number) & bit) === 0) continue
        if (check !== undefined) {
          let e = pos
          while (e < end && isAsciiLetter(u[e] as number)) e++
          if (!check(u, pos, e, end)) continue
        }
        sentence ??= text.slice(start, end)
        re.lastIndex = pos - start
        hit = re.exec(sentence)
        if (hit !== null) break
      }
    } else {
      const anchor = ANCHOR_CHECK[i]
      if (anchor !== undefined && anchored) {
        const { hitPos, hits } = f as Features
        let may = false
        for (let k = hs; !may && k < hits; k++) {
          const q = hitPos[k] as number
          if (q >= end) break
          may = anchor(u, start, end, q)
        }
        if (!may && (i === AUTHORITY_CLAIM || i === UNRESTRICTED_PERSONA)) {
          sentence ??= text.slice(start, end)
          may = (i === AUTHORITY_CLAIM ? AUTHORITY_VOID : UNRESTRICTED_UNANCHORED).test(sentence)
        }
        if (!may) continue
      }
      sentence ??= text.slice(start, end)
      const needs = NEEDS_I[i]
      if (needs === undefined || needs.test(sentence)) hit = (RULE_I[i] as RegExp).exec(sentence)
    }
    if (hit !== null) {
      found |= bit
      const s = start + hit.index
      out.push({ category: r.category, rule: r.rule, severity: r.severity, span: [s, s + hit[0].length] })
    }
  }
  return found
}

/** Whether u[start, end) holds U+0130 or U+212A (whose lower case is, or starts with, ASCII). */
function foldsToAscii(u: Uint16Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const c = u[i] as number
    if (c === 0x130 || c === 0x212a) return true
  }
  return false
}

/** Appends injection, jailbreak and harmful-request findings, given the pre-filter's features. */
export function scanInjection(text: string, f: Features, out: Violation[]): void {
  let found = 0
  if ((f.markers & MARKERS) !== 0) found |= runRules(text, 0, text.length, ROLE_MARKER_BIT, out, null, 0)
  // Past MAX_HITS the pre-filter dropped some: search every sentence whole.
  const complete = f.hits < MAX_HITS
  let units: Uint16Array | null | undefined
  let windowEnd = -1
  let windowStart = 0
  let plain = false
  let ascii = false
  let ran = 0
  for (let h = 0; h < f.hits; h++) {
    const pos = f.hitPos[h] as number
    if (pos >= windowEnd) {
      units ??= loadedUnits(text) ?? null
      windowStart = sentenceStart(text, units ?? undefined, pos)
      const before = passed
      windowEnd = sentenceEnd(text, units ?? undefined, pos + 1)
      ascii = units !== null && (before | passed | (units[pos] as number)) < 128
      plain = ascii || (units !== null && !foldsToAscii(units, windowStart, windowEnd))
      ran = 0
    }
    const todo = (f.hitMask[h] as number) & ~ran & ~found
    if (todo === 0) continue
    ran |= todo
    // The first hit in this sentence carrying these rules (an earlier one would have run them).
    const hits = complete ? f : null
    if (plain) {
      let hs = h
      while (hs > 0 && (f.hitPos[hs - 1] as number) >= windowStart) hs--
      found |= runRulesPlain(
        text,
        units as Uint16Array,
        windowStart,
        windowEnd,
        todo,
        out,
        hits,
        h,
        hs,
        ascii,
      )
    } else found |= runRules(text, windowStart, windowEnd, todo, out, hits, h)
  }
}

const scratch = newFeatures()

/** Scans a text of its own (e.g. a leetspeak-folded copy): pre-filter pass, then the rules. */
export function scanInjectionText(text: string, out: Violation[]): void {
  scanInjection(text, extractFeatures(text, TRIGGERS, scratch), out)
}
