import { readFile } from 'node:fs/promises'
import { isAbsolute } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The kinds of agent. */
export const ROLES = [
  'data',
  'creator',
  'user',
  'provider',
  'validator',
  'freeloader',
  'trader',
  'sybil',
] as const
export type Role = (typeof ROLES)[number]

/** The scenarios shipped in packages/sim/scenarios, in report order. */
export const SCENARIO_NAMES = [
  'normal_growth',
  'market_volatility',
  'economic_shock',
  'data_oversupply',
  'sybil_attack',
  'freeloader_surge',
  'provider_cartel',
] as const

/** A quality distribution: normal(mean, sd) clamped to [0.02, 0.99]. */
export interface Skill {
  mean: number
  sd: number
}

/** The knobs a condition can turn on the days it is active. */
export interface Effects {
  /** × jobs demanded by users. */
  demand: number
  /** × standard deviation of the outside market's daily order flow. */
  noise: number
  /** + mean of the outside market's daily order flow, as a share of the pool's cash (negative = net selling). */
  flowDrift: number
  /** × providers' capacity. */
  capacity: number
  /** × data contributors' submission rate. */
  dataSubmissions: number
  /** + quality of data contributions (e.g. −0.1 in a flood of mediocre data). */
  dataQuality: number
  /** × freeloaders' submission rate. */
  spamSubmissions: number
  /** + share of its liquid FTNS every non-trader sells per day (panic selling). */
  sellPressure: number
  /** 1 = the provider cartel is active. */
  cartel: number
  /** 1 = sybil attackers are active. */
  sybil: number
}

export const NEUTRAL_EFFECTS: Readonly<Effects> = Object.freeze({
  demand: 1,
  noise: 1,
  flowDrift: 0,
  capacity: 1,
  dataSubmissions: 1,
  dataQuality: 0,
  spamSubmissions: 1,
  sellPressure: 0,
  cartel: 0,
  sybil: 0,
})

/** A condition active on days `from`..`to` (1-based, inclusive); it ends when its window ends. */
export interface Condition {
  name: string
  from: number
  /** Last active day; omitted = until the end of the run. */
  to?: number
  effects: Partial<Effects>
}

/** The protocol mechanisms; `--baseline` turns them all off (prototype-like rules). */
export interface Mechanisms {
  /** Validators reject contributions they judge below `economics.acceptThreshold`. Off: everything is accepted. */
  qualityGate: boolean
  /** Contribution bonds, review fees, slashing of rejected work and failed spot checks, minimum provider/validator stake. */
  stakeGate: boolean
  /** Contributor rewards from a fixed daily pool, weighted by quality × reputation, capped per identity. Off: a flat reward per accepted contribution. */
  qualityRewards: boolean
  /** Users choose providers by reputation-adjusted price; providers serve models by judged quality. Off: cheapest provider, random model. */
  reputationRouting: boolean
  /** Reviewers are drawn in proportion to stake. Off: uniformly per validator identity. */
  stakeWeightedReview: boolean
  /** The treasury's price-stabilisation buffer. Off: the price is whatever the pool says. */
  stabiliser: boolean
}

export interface Scenario {
  name: string
  description: string
  /** Default agent count and length when the CLI does not say. */
  agents: number
  days: number
  /** Share of agents per role (normalised; apportioned by largest remainder). */
  mix: Record<Role, number>
  /** Every agent's starting FTNS: uniform in [min, max]. */
  grant: { min: number; max: number }
  roles: {
    data: { skill: Skill; submitRate: number; sellShare: number }
    /** `adaptive`: cut submissions by 30% after each day the spam lost money, raise them by 25% after a profitable one. */
    freeloader: { skill: Skill; submitRate: number; sellShare: number; adaptive: boolean }
    sybil: {
      skill: Skill
      identities: number
      validatorIdentities: number
      submitRate: number
      sellShare: number
      adaptive: boolean
    }
    creator: { skill: Skill; publishRate: number; parents: number; sellShare: number }
    provider: {
      quality: Skill
      /** Capacity (jobs/day) as a multiple of the mean demand per provider. */
      capacityHeadroom: number
      /** Operating cost per job, in dollars. */
      costPerJob: number
      /** Price = cost × (1 + margin) at the target utilisation. */
      margin: number
      /** Share of the grant bonded as stake at the start. */
      stakeShare: number
      /** Share of income beyond costs sold each day. */
      sellShare: number
      /** Share of providers in the cartel (when active), their price markup and capacity withheld. */
      cartelShare: number
      cartelMarkup: number
      cartelWithhold: number
    }
    validator: { skill: Skill; stakeShare: number; sellShare: number }
    user: { jobsPerDay: Skill; reserveDays: number; sampleSize: number }
    trader: { cash: number; band: number; tradeShare: number }
  }
  economics: {
    /** Network fee to the treasury on every payment. */
    feeBps: number
    /** Cap on the sum of royalty rates per payment. */
    royaltyCapBps: number
    creatorRoyaltyBps: number
    datasetRoyaltyBps: number
    /** Tokens per job. */
    jobTokens: number
    /** Judged quality at or above which a contribution is accepted (qualityGate). */
    acceptThreshold: number
    /** FTNS paid by the submitter to the reviewer per contribution (stakeGate). */
    reviewFee: number
    /** FTNS each contributing identity must have bonded (stakeGate). */
    contributionBond: number
    /** Share of the bond slashed when a contribution is rejected (stakeGate). */
    rejectSlashBps: number
    /** Identities with reputation below this need a second review before their work is accepted (qualityGate). */
    secondReviewBelow: number
    /** Probability any other accepted contribution is audited by a second validator (qualityGate + stakeGate). */
    auditRate: number
    /** A first review judging more than this above the second counts as negligent or colluding. */
    auditTolerance: number
    /** Share of such a reviewer's stake slashed (stakeGate). */
    reviewerSlashBps: number
    /** Share of slashed stake paid to the validator who found the fault. */
    reporterBps: number
    minProviderStake: number
    minValidatorStake: number
    /** Probability a provider is spot-checked each day, the judged quality below which it fails, and the slash. */
    spotCheckRate: number
    spotCheckThreshold: number
    providerSlashBps: number
    unbondingDays: number
    /** Share of the treasury's FTNS paid to contributors per day (qualityRewards). */
    rewardEmissionBps: number
    /** Share of the treasury's FTNS paid to validators per day, by reviews done. */
    validatorEmissionBps: number
    /** No identity gets more than this share of a day's contributor pool (qualityRewards). */
    rewardCapBps: number
    reputationFloorBps: number
    /** FTNS per accepted contribution × judged quality when qualityRewards is off. */
    flatReward: number
  }
  market: {
    /** Dollars per FTNS at the start. */
    initialPrice: number
    /** FTNS in the trading pool, and held by outside traders, per agent. */
    poolFtnsPerAgent: number
    externalFtnsPerAgent: number
    /** Standard deviation of the outside market's daily net order flow, as a share of the pool's cash. */
    noise: number
  }
  treasury: {
    /** FTNS and dollars held by the treasury at the start, per agent. */
    ftnsPerAgent: number
    cashPerAgent: number
    bandBps: number
    referenceWeightBps: number
    maxSpendBps: number
  }
  /** Daily growth of user demand (normal growth), compounding, up to `max` times the start. */
  growth: { dailyRate: number; max: number }
  mechanisms: Mechanisms
  conditions: Condition[]
}

/** The defaults every scenario file overrides. Documented field by field in docs/simulator.md. */
export const DEFAULT_SCENARIO: Readonly<Scenario> = Object.freeze({
  name: 'default',
  description: 'Default economy with no conditions',
  agents: 40,
  days: 30,
  mix: {
    data: 0.22,
    creator: 0.12,
    user: 0.3,
    provider: 0.14,
    validator: 0.12,
    freeloader: 0.05,
    trader: 0.05,
    sybil: 0,
  },
  grant: { min: 100, max: 1000 },
  roles: {
    data: { skill: { mean: 0.72, sd: 0.12 }, submitRate: 0.6, sellShare: 0.5 },
    freeloader: { skill: { mean: 0.25, sd: 0.1 }, submitRate: 2, sellShare: 0.8, adaptive: true },
    sybil: {
      skill: { mean: 0.3, sd: 0.1 },
      identities: 10,
      validatorIdentities: 3,
      submitRate: 1,
      sellShare: 0.8,
      adaptive: true,
    },
    creator: { skill: { mean: 0.78, sd: 0.1 }, publishRate: 0.2, parents: 3, sellShare: 0.5 },
    provider: {
      quality: { mean: 0.78, sd: 0.1 },
      capacityHeadroom: 1.4,
      costPerJob: 0.3,
      margin: 0.6,
      stakeShare: 0.5,
      sellShare: 0.3,
      cartelShare: 0,
      cartelMarkup: 1.8,
      cartelWithhold: 0.4,
    },
    validator: { skill: { mean: 0.8, sd: 0.1 }, stakeShare: 0.6, sellShare: 0.5 },
    user: { jobsPerDay: { mean: 6, sd: 2 }, reserveDays: 5, sampleSize: 4 },
    trader: { cash: 800, band: 0.04, tradeShare: 0.25 },
  },
  economics: {
    feeBps: 250,
    royaltyCapBps: 1000,
    creatorRoyaltyBps: 500,
    datasetRoyaltyBps: 200,
    jobTokens: 1000,
    acceptThreshold: 0.6,
    reviewFee: 0.2,
    contributionBond: 20,
    rejectSlashBps: 1000,
    secondReviewBelow: 0.5,
    auditRate: 0.1,
    auditTolerance: 0.2,
    reviewerSlashBps: 2000,
    reporterBps: 5000,
    minProviderStake: 50,
    minValidatorStake: 100,
    spotCheckRate: 0.2,
    spotCheckThreshold: 0.45,
    providerSlashBps: 500,
    unbondingDays: 7,
    rewardEmissionBps: 10,
    validatorEmissionBps: 2,
    rewardCapBps: 1000,
    reputationFloorBps: 2000,
    flatReward: 5,
  },
  market: { initialPrice: 1, poolFtnsPerAgent: 300, externalFtnsPerAgent: 300, noise: 0.015 },
  treasury: {
    ftnsPerAgent: 400,
    cashPerAgent: 100,
    bandBps: 500,
    referenceWeightBps: 500,
    maxSpendBps: 1000,
  },
  growth: { dailyRate: 0, max: 1 },
  mechanisms: {
    qualityGate: true,
    stakeGate: true,
    qualityRewards: true,
    reputationRouting: true,
    stakeWeightedReview: true,
    stabiliser: true,
  },
  conditions: [],
} satisfies Scenario)

export class ScenarioError extends Error {
  override name = 'ScenarioError'
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** Deep-merges `override` onto `base`, refusing keys the base does not have and values of another type. */
function merge(base: unknown, override: unknown, path: string): unknown {
  if (override === undefined) return structuredClone(base)
  if (Array.isArray(base)) {
    if (!Array.isArray(override)) throw new ScenarioError(`${path}: expected an array`)
    return structuredClone(override)
  }
  if (isPlainObject(base)) {
    if (!isPlainObject(override)) throw new ScenarioError(`${path}: expected an object`)
    const out: Record<string, unknown> = {}
    for (const key of Object.keys(override)) {
      if (!Object.hasOwn(base, key)) throw new ScenarioError(`${path}.${key}: unknown field`)
    }
    for (const key of Object.keys(base)) out[key] = merge(base[key], override[key], `${path}.${key}`)
    return out
  }
  if (typeof base !== typeof override) {
    throw new ScenarioError(`${path}: expected a ${typeof base}, got ${JSON.stringify(override)}`)
  }
  if (typeof override === 'number' && !Number.isFinite(override))
    throw new ScenarioError(`${path}: not a finite number`)
  return override
}

function validateConditions(conditions: Condition[]): void {
  conditions.forEach((c, i) => {
    const at = `conditions[${i}]`
    if (!isPlainObject(c)) throw new ScenarioError(`${at}: expected an object`)
    for (const key of Object.keys(c)) {
      if (!['name', 'from', 'to', 'effects'].includes(key))
        throw new ScenarioError(`${at}.${key}: unknown field`)
    }
    if (typeof c.name !== 'string') throw new ScenarioError(`${at}.name: expected a string`)
    if (!Number.isInteger(c.from) || c.from < 1) throw new ScenarioError(`${at}.from: expected a day ≥ 1`)
    if (c.to !== undefined && (!Number.isInteger(c.to) || c.to < c.from)) {
      throw new ScenarioError(`${at}.to: expected a day ≥ from`)
    }
    if (!isPlainObject(c.effects)) throw new ScenarioError(`${at}.effects: expected an object`)
    for (const [key, value] of Object.entries(c.effects)) {
      if (!Object.hasOwn(NEUTRAL_EFFECTS, key))
        throw new ScenarioError(`${at}.effects.${key}: unknown effect`)
      if (typeof value !== 'number' || !Number.isFinite(value)) {
        throw new ScenarioError(`${at}.effects.${key}: expected a number`)
      }
    }
  })
}

/** Builds a full scenario from a (partial) scenario object, validating every field. */
export function resolveScenario(input: unknown): Scenario {
  if (!isPlainObject(input)) throw new ScenarioError('scenario: expected a JSON object')
  const s = merge(DEFAULT_SCENARIO, input, 'scenario') as Scenario
  validateConditions(s.conditions)
  let mixTotal = 0
  for (const role of ROLES) {
    const share = s.mix[role]
    if (share < 0) throw new ScenarioError(`scenario.mix.${role}: must be ≥ 0`)
    mixTotal += share
  }
  if (mixTotal <= 0) throw new ScenarioError('scenario.mix: shares must add up to more than 0')
  if (!Number.isInteger(s.agents) || s.agents < 1)
    throw new ScenarioError('scenario.agents: expected an integer ≥ 1')
  if (!Number.isInteger(s.days) || s.days < 1)
    throw new ScenarioError('scenario.days: expected an integer ≥ 1')
  if (s.grant.min < 0 || s.grant.max < s.grant.min)
    throw new ScenarioError('scenario.grant: need 0 ≤ min ≤ max')
  if (s.market.initialPrice <= 0) throw new ScenarioError('scenario.market.initialPrice: must be > 0')
  return s
}

/** The directory of the scenarios shipped with the simulator. */
export const SCENARIO_DIR = fileURLToPath(new URL('../scenarios/', import.meta.url))

/** Loads a scenario by name (from packages/sim/scenarios) or by path to a JSON file. */
export async function loadScenario(nameOrPath: string): Promise<Scenario> {
  const isPath = nameOrPath.endsWith('.json') || nameOrPath.includes('/') || isAbsolute(nameOrPath)
  if (!isPath && !/^[a-z0-9_-]+$/.test(nameOrPath))
    throw new ScenarioError(`bad scenario name: ${nameOrPath}`)
  const file = isPath ? nameOrPath : `${SCENARIO_DIR}${nameOrPath}.json`
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch {
    throw new ScenarioError(
      isPath
        ? `cannot read scenario file ${file}`
        : `unknown scenario ${nameOrPath} (known: ${SCENARIO_NAMES.join(', ')})`,
    )
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (err) {
    throw new ScenarioError(`${file}: invalid JSON (${(err as Error).message})`)
  }
  return resolveScenario(json)
}

/** The effects in force on `day` (1-based): multiplicative knobs multiply, additive ones add, flags take the max. */
export function effectsForDay(scenario: Scenario, day: number): Effects {
  const e: Effects = { ...NEUTRAL_EFFECTS }
  for (const c of scenario.conditions) {
    if (day < c.from || (c.to !== undefined && day > c.to)) continue
    const x = c.effects
    if (x.demand !== undefined) e.demand *= x.demand
    if (x.noise !== undefined) e.noise *= x.noise
    if (x.flowDrift !== undefined) e.flowDrift += x.flowDrift
    if (x.capacity !== undefined) e.capacity *= x.capacity
    if (x.dataSubmissions !== undefined) e.dataSubmissions *= x.dataSubmissions
    if (x.dataQuality !== undefined) e.dataQuality += x.dataQuality
    if (x.spamSubmissions !== undefined) e.spamSubmissions *= x.spamSubmissions
    if (x.sellPressure !== undefined) e.sellPressure += x.sellPressure
    if (x.cartel !== undefined) e.cartel = Math.max(e.cartel, x.cartel)
    if (x.sybil !== undefined) e.sybil = Math.max(e.sybil, x.sybil)
  }
  return e
}

export const MECHANISM_NAMES = [
  'qualityGate',
  'stakeGate',
  'qualityRewards',
  'reputationRouting',
  'stakeWeightedReview',
  'stabiliser',
] as const satisfies readonly (keyof Mechanisms)[]

/** The scenario with the named mechanisms switched off (for ablation studies). */
export function withoutMechanisms(scenario: Scenario, names: readonly string[]): Scenario {
  const mechanisms = { ...scenario.mechanisms }
  for (const name of names) {
    if (!(MECHANISM_NAMES as readonly string[]).includes(name)) {
      throw new ScenarioError(
        `unknown mechanism ${JSON.stringify(name)} (known: ${MECHANISM_NAMES.join(', ')})`,
      )
    }
    mechanisms[name as keyof Mechanisms] = false
  }
  return { ...scenario, mechanisms }
}

/** The scenario with every mechanism switched off (the prototype-like rules). */
export function baselineOf(scenario: Scenario): Scenario {
  return {
    ...scenario,
    mechanisms: {
      qualityGate: false,
      stakeGate: false,
      qualityRewards: false,
      reputationRouting: false,
      stakeWeightedReview: false,
      stabiliser: false,
    },
  }
}
