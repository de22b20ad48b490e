import { totalStake } from '@prsm/economics'
import { adaptSpammers, buildReviewers, contributeData, payRewards, publishModels } from './contributions.ts'
import { prepareProviders, serveJobs, settleProviders } from './jobs.ts'
import { gini, mean, nakamoto, stability } from './metrics.ts'
import { effectsForDay, type Mechanisms, ROLES, type Role, type Scenario } from './scenario.ts'
import { tradeDay } from './trading.ts'
import { createWorld, toFtns, type World } from './world.ts'

export interface RunOptions {
  /** Agent count (default: the scenario's). */
  readonly agents?: number
  /** Days to simulate (default: the scenario's). */
  readonly days?: number
  /** The seed: the same seed gives the same run, byte for byte. */
  readonly seed: number
}

/** One day of the time series. */
export interface DayRecord {
  day: number
  /** Close price, dollars per FTNS. */
  price: number
  /** The stabiliser's reference price (the price itself when the stabiliser is off). */
  reference: number
  gini: number
  /** ½ mean quality of contributions accepted today + ½ mean quality of jobs served today. */
  quality: number
  jobs: number
  unserved: number
  submitted: number
  accepted: number
  activeShare: number
  treasuryFtns: number
  treasuryCash: number
}

/** The headline metrics (formulas in docs/simulator.md). */
export interface Metrics {
  gini: number
  quality: number
  stability: number
  activity: number
  creatorShare: number
  nakamoto: number
}

export interface Summary {
  scenario: string
  agents: number
  days: number
  seed: number
  mechanisms: Mechanisms
  metrics: Metrics
  details: {
    contributionQuality: number
    jobQuality: number
    jobsServed: number
    jobsUnserved: number
    submitted: number
    accepted: number
    rejected: number
    spamSubmitted: number
    spamAccepted: number
    auditsFailed: number
    reviewerSlashes: number
    providerSlashes: number
    slashedFtns: number
    paymentsFtns: number
    royaltiesFtns: number
    feesFtns: number
    rewardsFtns: number
    /** Agents per role. */
    roleCounts: Record<Role, number>
    incomeShareByRole: Record<Role, number>
    wealthShareByRole: Record<Role, number>
    /** Σ (final − initial FTNS wealth) of each role's agents (selling FTNS for dollars counts as a decrease). */
    wealthChangeByRole: Record<Role, number>
    /** What spamming earned freeloaders and sybils: Σ (income − review fees − slashed bonds), FTNS. */
    spamPnlFtns: number
    /** Gini of the agents' starting wealth (the grants and stakes before day 1). */
    giniInitial: number
    /** Gini over every account (a sybil's identities counted separately). */
    giniAccounts: number
    /** Gini over agents other than freeloaders and sybil attackers. */
    giniHonest: number
    /** Average paid per job, in FTNS and in dollars at the day's price. */
    jobPriceFtns: number
    jobPriceUsd: number
    /** Share of jobs served by cartel members (0 without a cartel). */
    cartelJobShare: number
    price: { initial: number; final: number; min: number; max: number }
    treasury: { ftns: number; cash: number; stabiliserSoldFtns: number; stabiliserSpentCash: number }
    supplyFtns: string
    supplyConserved: boolean
  }
}

export interface RunResult {
  readonly summary: Summary
  readonly series: DayRecord[]
}

/** Each agent's wealth in FTNS: liquid balance plus stake, over all its accounts. */
function agentWealth(world: World): number[] {
  return world.agents.map((a) => {
    let w = 0n
    for (const acc of a.accounts) w += world.ledger.wealth(acc)
    return toFtns(w)
  })
}

function ratio(num: number, den: number): number {
  return den > 0 ? num / den : 0
}

/** Runs one simulation. Deterministic: the same scenario, options and seed give the same result. */
export function runSimulation(scenario: Scenario, options: RunOptions): RunResult {
  const agentsN = options.agents ?? scenario.agents
  const days = options.days ?? scenario.days
  if (!Number.isInteger(agentsN) || agentsN < 1) throw new RangeError('agents must be an integer ≥ 1')
  if (!Number.isInteger(days) || days < 1) throw new RangeError('days must be an integer ≥ 1')
  const seed = options.seed >>> 0
  const world = createWorld(scenario, agentsN, days, seed)
  const { ledger, market, totals } = world
  const series: DayRecord[] = []
  const initialPrice = Number(market.price(ledger)) / 1e6
  let growth = 1
  let activitySum = 0
  let paymentsWei = 0n
  let paymentsUsd = 0

  for (let day = 1; day <= days; day++) {
    const effects = effectsForDay(scenario, day)
    if (day > 1) growth = Math.min(scenario.growth.max, growth * (1 + scenario.growth.dailyRate))
    for (const a of world.agents) {
      a.active = false
      a.income = 0n
    }
    world.today = { account: [], judged: [], quality: [] }
    for (let acc = 0; acc < ledger.size; acc++) if (ledger.isUnbonding(acc)) ledger.withdraw(acc, day)
    const jobQ0 = totals.jobQualitySum
    const jobN0 = totals.jobCount
    const unserved0 = totals.unserved
    const submitted0 = totals.submitted
    const priceUsd = Number(market.price(ledger)) / 1e6

    const reviewers = buildReviewers(world, effects)
    contributeData(world, day, effects, reviewers)
    publishModels(world, day, reviewers)
    payRewards(world, reviewers)
    adaptSpammers(world, day)
    const providers = prepareProviders(world, effects, priceUsd)
    serveJobs(world, effects, growth, providers)
    settleProviders(world, reviewers)
    let jobCost = 0
    for (const p of providers) jobCost += toFtns(p.priceWei) * scenario.economics.jobTokens
    jobCost = providers.length > 0 ? jobCost / providers.length : 0
    for (const u of world.byRole.user) {
      paymentsWei += u.spent
      paymentsUsd += toFtns(u.spent) * priceUsd
    }
    tradeDay(world, effects, priceUsd, jobCost, growth)

    let active = 0
    for (const a of world.agents) if (a.active) active++
    const activeShare = active / world.agents.length
    activitySum += activeShare
    const jobsToday = totals.jobCount - jobN0
    const cq = world.today.quality.length > 0 ? mean(world.today.quality) : null
    const jq = jobsToday > 0 ? (totals.jobQualitySum - jobQ0) / jobsToday : null
    const price = Number(market.price(ledger)) / 1e6
    series.push({
      day,
      price,
      reference: world.stabiliser !== null ? Number(world.stabiliser.reference) / 1e6 : price,
      gini: gini(agentWealth(world)),
      quality: cq === null ? (jq ?? 0) : jq === null ? cq : (cq + jq) / 2,
      jobs: jobsToday,
      unserved: totals.unserved - unserved0,
      submitted: totals.submitted - submitted0,
      accepted: world.today.quality.length,
      activeShare,
      treasuryFtns: toFtns(ledger.balance[world.treasury] as bigint),
      treasuryCash: Number(world.treasuryCash.cash) / 1e6,
    })
  }

  const wealth = agentWealth(world)
  const stakes = world.agents.map((a) => {
    let s = 0n
    for (const acc of a.accounts) s += totalStake(ledger.stake[acc] ?? { bonded: 0n, unbonding: [] })
    return toFtns(s)
  })
  const accountWealth: number[] = []
  for (const a of world.agents) for (const acc of a.accounts) accountWealth.push(toFtns(ledger.wealth(acc)))
  let incomeTotal = 0n
  for (const r of ROLES) incomeTotal += totals.incomeByRole[r]
  const wealthTotal = wealth.reduce((s, x) => s + x, 0)
  const incomeShareByRole = {} as Record<Role, number>
  const wealthShareByRole = {} as Record<Role, number>
  const wealthChangeByRole = {} as Record<Role, number>
  for (const r of ROLES) {
    incomeShareByRole[r] = ratio(Number(totals.incomeByRole[r]), Number(incomeTotal))
    let w = 0
    let change = 0
    for (const a of world.byRole[r]) {
      w += wealth[a.index] as number
      change += (wealth[a.index] as number) - toFtns(world.initialWealth[a.index] as bigint)
    }
    wealthShareByRole[r] = ratio(w, wealthTotal)
    wealthChangeByRole[r] = change
  }
  const honest = world.agents
    .filter((a) => a.role !== 'freeloader' && a.role !== 'sybil')
    .map((a) => wealth[a.index] as number)
  const contributionQuality = ratio(totals.contribQualitySum, totals.contribCount)
  const jobQuality = ratio(totals.jobQualitySum, totals.jobCount)
  const quality =
    totals.contribCount === 0
      ? jobQuality
      : totals.jobCount === 0
        ? contributionQuality
        : (contributionQuality + jobQuality) / 2
  const prices = series.map((d) => d.price)
  const supply = ledger.supply()
  const summary: Summary = {
    scenario: scenario.name,
    agents: agentsN,
    days,
    seed,
    mechanisms: { ...scenario.mechanisms },
    metrics: {
      gini: gini(wealth),
      quality,
      stability: stability(prices),
      activity: activitySum / days,
      creatorShare: incomeShareByRole.data + incomeShareByRole.creator,
      nakamoto: nakamoto(stakes),
    },
    details: {
      contributionQuality,
      jobQuality,
      jobsServed: totals.jobCount,
      jobsUnserved: totals.unserved,
      submitted: totals.submitted,
      accepted: totals.accepted,
      rejected: totals.rejected,
      spamSubmitted: totals.spamSubmitted,
      spamAccepted: totals.spamAccepted,
      auditsFailed: totals.auditsFailed,
      reviewerSlashes: totals.reviewerSlashes,
      providerSlashes: totals.providerSlashes,
      slashedFtns: toFtns(totals.slashedWei),
      paymentsFtns: toFtns(paymentsWei),
      royaltiesFtns: toFtns(totals.royaltiesWei),
      feesFtns: toFtns(totals.feesWei),
      rewardsFtns: toFtns(totals.rewardsWei),
      roleCounts: Object.fromEntries(ROLES.map((r) => [r, world.byRole[r].length])) as Record<Role, number>,
      incomeShareByRole,
      wealthShareByRole,
      wealthChangeByRole,
      spamPnlFtns: toFtns(
        [...world.byRole.freeloader, ...world.byRole.sybil].reduce((sum, a) => sum + a.spamPnl, 0n),
      ),
      giniInitial: gini(world.initialWealth.map(toFtns)),
      giniAccounts: gini(accountWealth),
      giniHonest: gini(honest),
      jobPriceFtns: ratio(toFtns(paymentsWei), totals.jobCount),
      jobPriceUsd: ratio(paymentsUsd, totals.jobCount),
      cartelJobShare: ratio(totals.cartelJobs, totals.jobCount),
      price: {
        initial: initialPrice,
        final: prices[prices.length - 1] ?? initialPrice,
        min: Math.min(...prices),
        max: Math.max(...prices),
      },
      treasury: {
        ftns: toFtns(ledger.balance[world.treasury] as bigint),
        cash: Number(world.treasuryCash.cash) / 1e6,
        stabiliserSoldFtns: world.stabiliser !== null ? toFtns(world.stabiliser.spentTokens) : 0,
        stabiliserSpentCash: world.stabiliser !== null ? Number(world.stabiliser.spentCash) / 1e6 : 0,
      },
      supplyFtns: supply.toString(),
      supplyConserved: supply === world.initialSupply,
    },
  }
  return { summary, series }
}
