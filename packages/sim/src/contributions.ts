import {
  capRoyalties,
  contributionWeight,
  distributeCapped,
  distributeProRata,
  mulBps,
  type RoyaltyShare,
  splitPayment,
} from '@prsm/economics'
import { clamp, type Rng } from './prng.ts'
import type { Effects } from './scenario.ts'
import { type Agent, accountOf, creatorId, credit, toFtns, toWei, type World } from './world.ts'

/** The accounts that may review today, with sampling weights (stake, or 1 each). */
export interface Reviewers {
  readonly accounts: number[]
  readonly cumulative: number[]
  readonly total: number
  /** Reviews done today per account (parallel to `accounts`). */
  readonly reviews: number[]
}

/**
 * Builds the reviewer set: validators with the minimum stake (stakeGate) and, while the attack
 * runs, sybil validator identities. With stakeWeightedReview a reviewer is drawn with weight
 * stake × reputation; otherwise every identity is equally likely.
 */
export function buildReviewers(world: World, effects: Effects): Reviewers {
  const { ledger, scenario } = world
  const m = scenario.mechanisms
  const min = toWei(scenario.economics.minValidatorStake)
  const accounts: number[] = []
  const consider = (account: number, owner: Agent): void => {
    if (m.stakeGate && ledger.bonded(account) < min) {
      // a sybil funds a validator identity's stake from its main account if it can
      if (owner.role !== 'sybil') return
      const need = min - ledger.bonded(account)
      const main = owner.accounts[0] as number
      if ((ledger.balance[main] as bigint) < need) return
      ledger.move(main, account, need)
      ledger.bondFrom(account, need)
    }
    accounts.push(account)
  }
  for (const v of world.byRole.validator) consider(v.accounts[0] as number, v)
  if (effects.sybil > 0)
    for (const s of world.byRole.sybil) for (const a of s.validatorAccounts) consider(a, s)
  const cumulative: number[] = []
  let total = 0
  for (const a of accounts) {
    // stake × reviewer reputation: a fresh validator identity carries little weight until audits vouch for it
    total += m.stakeWeightedReview ? toFtns(ledger.bonded(a)) * (world.reputation[a] as number) : 1
    cumulative.push(total)
  }
  return { accounts, cumulative, total, reviews: accounts.map(() => 0) }
}

/** Draws a reviewer index (−1 when there is none). */
function pickReviewer(r: Reviewers, rng: Rng, not = -1): number {
  if (r.total <= 0) return -1
  for (let attempt = 0; attempt < 3; attempt++) {
    const u = rng.next() * r.total
    let lo = 0
    let hi = r.cumulative.length - 1
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if ((r.cumulative[mid] as number) > u) hi = mid
      else lo = mid + 1
    }
    if (lo !== not) return lo
  }
  return -1
}

/** A reviewer's judgement of a contribution's quality; sybil reviewers wave their own group's work through. */
function judge(world: World, reviewer: number, quality: number, fromSybil: boolean, rng: Rng): number {
  const owner = world.agents[world.ownerOf[reviewer] as number] as Agent
  if (owner.role === 'sybil') return fromSybil ? 0.95 : clamp(quality + 0.1 * rng.normal(), 0, 1)
  const sigma = 0.03 + 0.15 * (1 - owner.skill)
  return clamp(quality + sigma * rng.normal(), 0, 1)
}

/** One review: the submitter pays the reviewer's fee (stakeGate) and gets its judgement. */
function review(
  world: World,
  reviewers: Reviewers,
  index: number,
  submitter: number,
  fee: bigint,
  quality: number,
  fromSybil: boolean,
): number {
  const { ledger, scenario, totals, treasury } = world
  const eco = scenario.economics
  const reviewer = reviewers.accounts[index] as number
  if (scenario.mechanisms.stakeGate && (ledger.balance[submitter] as bigint) >= fee) {
    const split = splitPayment({ amount: fee, feeBps: eco.feeBps, royaltyCapBps: eco.royaltyCapBps })
    ledger.paySplit(submitter, reviewer, treasury, split, accountOf)
    const payer = world.agents[world.ownerOf[submitter] as number] as Agent
    payer.spamCost += fee
    credit(world, reviewer, split.provider)
    totals.feesWei += split.fee
  }
  reviewers.reviews[index] = (reviewers.reviews[index] as number) + 1
  const owner = world.agents[world.ownerOf[reviewer] as number] as Agent
  owner.active = true
  return judge(world, reviewer, quality, fromSybil, world.rng.contrib)
}

export type Kind = 'data' | 'model' | 'spam'

/**
 * One submission through the protocol: bond check, review fee, review, optional audit, slashing
 * of rejected work. Returns the judged quality and whether it was accepted, or null when the
 * identity could not afford to submit.
 */
export function submit(
  world: World,
  agent: Agent,
  account: number,
  quality: number,
  kind: Kind,
  reviewers: Reviewers,
): { accepted: boolean; judged: number } | null {
  const { ledger, scenario, totals, treasury } = world
  const rng = world.rng.contrib
  const eco = scenario.economics
  const m = scenario.mechanisms
  const main = agent.accounts[0] as number
  const fee = toWei(eco.reviewFee)
  if (m.stakeGate) {
    const bond = toWei(eco.contributionBond)
    const bonded = ledger.bonded(account)
    if (bonded < bond) {
      const need = bond - bonded
      if (account !== main && (ledger.balance[account] as bigint) < need) {
        if ((ledger.balance[main] as bigint) < need) return null
        ledger.move(main, account, need)
      }
      if ((ledger.balance[account] as bigint) < need) return null
      ledger.bondFrom(account, need)
    }
    if ((ledger.balance[account] as bigint) < fee) {
      if (account === main || (ledger.balance[main] as bigint) < fee) return null
      ledger.move(main, account, fee)
    }
  }
  const fromSybil = agent.role === 'sybil'
  const r = pickReviewer(reviewers, rng)
  let judged: number
  if (r < 0) {
    judged = clamp(quality + 0.15 * rng.normal(), 0, 1)
  } else {
    judged = review(world, reviewers, r, account, fee, quality, fromSybil)
  }
  let accepted = !m.qualityGate || judged >= eco.acceptThreshold
  // reputation-gated acceptance: a low-reputation identity's accepted work needs a second,
  // independent review; everyone else's is audited at auditRate (stakeGate)
  const lowReputation = (world.reputation[account] as number) < eco.secondReviewBelow
  if (accepted && r >= 0 && m.qualityGate && (lowReputation || (m.stakeGate && rng.chance(eco.auditRate)))) {
    const a = pickReviewer(reviewers, rng, r)
    if (a >= 0) {
      const second = review(world, reviewers, a, account, fee, quality, fromSybil)
      const first = reviewers.accounts[r] as number
      const auditor = reviewers.accounts[a] as number
      if (second < eco.acceptThreshold) {
        accepted = false
        totals.auditsFailed++
      }
      if (judged - second > eco.auditTolerance) {
        // the first reviewer waved through work far below its judgement: slash it and cut its reputation
        world.reputation[first] = (world.reputation[first] as number) * 0.5
        if (m.stakeGate) {
          const slashed = ledger.slashStake(first, eco.reviewerSlashBps, eco.reporterBps, auditor, treasury)
          totals.slashedWei += slashed
          totals.reviewerSlashes++
          credit(world, auditor, (slashed * BigInt(eco.reporterBps)) / 10_000n)
        }
      } else {
        const rr = world.reputation[first] as number
        world.reputation[first] = rr + 0.05 * (1 - rr)
      }
      judged = (judged + second) / 2
    }
  }
  if (!accepted && m.stakeGate && r >= 0) {
    const reviewer = reviewers.accounts[r] as number
    const slashed = ledger.slashStake(account, eco.rejectSlashBps, eco.reporterBps, reviewer, treasury)
    agent.spamCost += slashed
    totals.slashedWei += slashed
    credit(world, reviewer, (slashed * BigInt(eco.reporterBps)) / 10_000n)
  }
  const rep = world.reputation[account] as number
  world.reputation[account] = rep + 0.1 * ((accepted ? judged : 0) - rep)
  totals.submitted++
  agent.submittedToday++
  if (kind === 'spam') totals.spamSubmitted++
  if (accepted) {
    totals.accepted++
    if (kind === 'spam') totals.spamAccepted++
    totals.contribQualitySum += quality
    totals.contribCount++
    world.today.account.push(account)
    world.today.judged.push(judged)
    world.today.quality.push(quality)
  } else {
    totals.rejected++
  }
  return { accepted, judged }
}

/** Data contributors, freeloaders and (while active) sybil identities submit datasets. */
export function contributeData(world: World, day: number, effects: Effects, reviewers: Reviewers): void {
  const rng = world.rng.contrib
  const roles = world.scenario.roles
  const ds = world.datasets
  const offer = (agent: Agent, account: number, rate: number, shift: number, kind: Kind): void => {
    const k = rng.poisson(rate)
    for (let i = 0; i < k; i++) {
      const quality = clamp(agent.skill + 0.08 * rng.normal() + shift, 0, 1)
      const res = submit(world, agent, account, quality, kind, reviewers)
      if (res === null) return
      agent.active = true
      if (res.accepted) {
        ds.account.push(account)
        ds.quality.push(quality)
        ds.judged.push(res.judged)
        ds.day.push(day)
      }
    }
  }
  for (const a of world.byRole.data) {
    offer(
      a,
      a.accounts[0] as number,
      roles.data.submitRate * effects.dataSubmissions,
      effects.dataQuality,
      'data',
    )
  }
  for (const a of world.byRole.freeloader) {
    const drive = roles.freeloader.adaptive ? a.drive : 1
    offer(
      a,
      a.accounts[0] as number,
      roles.freeloader.submitRate * effects.spamSubmissions * drive,
      0,
      'spam',
    )
  }
  if (effects.sybil > 0) {
    for (const a of world.byRole.sybil) {
      for (let i = 1; i < a.accounts.length; i++) {
        const account = a.accounts[i] as number
        if (a.validatorAccounts.includes(account)) continue
        offer(a, account, roles.sybil.submitRate * (roles.sybil.adaptive ? a.drive : 1), 0, 'spam')
      }
    }
  }
}

/** First index of a dataset accepted on or after `day` (datasets are stored in day order). */
function firstDatasetFrom(world: World, day: number): number {
  const days = world.datasets.day
  let lo = 0
  let hi = days.length
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if ((days[mid] as number) < day) lo = mid + 1
    else hi = mid
  }
  return lo
}

/** Model creators publish new models trained on recent datasets, which become royalty parents. */
export function publishModels(world: World, day: number, reviewers: Reviewers): void {
  const rng = world.rng.contrib
  const { scenario } = world
  const roles = scenario.roles
  const eco = scenario.economics
  const ds = world.datasets
  const start = firstDatasetFrom(world, day - 14)
  const available = ds.account.length - start
  for (const c of world.byRole.creator) {
    if (!rng.chance(roles.creator.publishRate)) continue
    const parents: number[] = []
    if (available > 0) {
      const candidates: number[] = []
      for (let i = 0; i < 8; i++) candidates.push(start + rng.int(available))
      if (scenario.mechanisms.reputationRouting)
        candidates.sort((x, y) => (ds.judged[y] as number) - (ds.judged[x] as number) || x - y)
      for (const i of candidates) {
        if (parents.length >= roles.creator.parents) break
        if (!parents.includes(i)) parents.push(i)
      }
    }
    let dataQuality = c.skill
    if (parents.length > 0) {
      dataQuality = 0
      for (const i of parents) dataQuality += ds.quality[i] as number
      dataQuality /= parents.length
    }
    const quality = clamp(0.6 * c.skill + 0.4 * dataQuality + 0.05 * rng.normal(), 0, 1)
    const main = c.accounts[0] as number
    const res = submit(world, c, main, quality, 'model', reviewers)
    if (res === null) continue
    c.active = true
    if (!res.accepted) continue
    const shares: RoyaltyShare[] = [{ creator: creatorId(main), bps: eco.creatorRoyaltyBps }]
    for (const i of parents)
      shares.push({ creator: creatorId(ds.account[i] as number), bps: eco.datasetRoyaltyBps })
    world.models.push({
      creator: main,
      quality,
      judged: res.judged,
      table: capRoyalties(shares, eco.royaltyCapBps),
    })
  }
}

/**
 * Pays the day's contributor and validator rewards out of the treasury. With qualityRewards: a
 * fixed share of the treasury, divided by quality × reputation and capped per identity, and
 * validators paid by reviews done. Without: a flat reward per accepted contribution while the
 * treasury lasts, and validators paid by stake.
 */
export function payRewards(world: World, reviewers: Reviewers): void {
  const { ledger, scenario, treasury, totals } = world
  const eco = scenario.economics
  const today = world.today
  const pay = (account: number, amount: bigint): void => {
    if (amount === 0n) return
    ledger.move(treasury, account, amount)
    credit(world, account, amount)
    totals.rewardsWei += amount
  }
  if (scenario.mechanisms.qualityRewards) {
    const pool = mulBps(ledger.balance[treasury] as bigint, eco.rewardEmissionBps)
    const index = new Map<number, number>()
    const accounts: number[] = []
    const weights: bigint[] = []
    today.account.forEach((account, i) => {
      const w = contributionWeight(
        {
          qualityBps: Math.round((today.judged[i] as number) * 10_000),
          reputationBps: Math.round((world.reputation[account] as number) * 10_000),
        },
        {
          minQualityBps: Math.round(eco.acceptThreshold * 10_000),
          reputationFloorBps: eco.reputationFloorBps,
        },
      )
      const at = index.get(account)
      if (at === undefined) {
        index.set(account, accounts.length)
        accounts.push(account)
        weights.push(w)
      } else {
        weights[at] = (weights[at] as bigint) + w
      }
    })
    const { amounts } = distributeCapped(pool, weights, eco.rewardCapBps)
    amounts.forEach((amount, i) => {
      pay(accounts[i] as number, amount)
    })
  } else {
    today.account.forEach((account, i) => {
      const amount = toWei(eco.flatReward * (today.judged[i] as number))
      if ((ledger.balance[treasury] as bigint) >= amount) pay(account, amount)
    })
  }
  const pool = mulBps(ledger.balance[treasury] as bigint, eco.validatorEmissionBps)
  const weights = reviewers.accounts.map((a, i) =>
    scenario.mechanisms.qualityRewards ? BigInt(reviewers.reviews[i] as number) : ledger.bonded(a),
  )
  if (weights.some((w) => w > 0n)) {
    const amounts = distributeProRata(pool, weights)
    amounts.forEach((amount, i) => {
      pay(reviewers.accounts[i] as number, amount)
    })
  }
}

/**
 * Spammers respond to what spam earns them: after a day on which their submissions cost more
 * (review fees, slashed bonds) than they brought in, they cut their rate by 30% (down to 5%, so
 * they keep probing); after a profitable day they raise it by 25% (up to the full rate). Once at
 * the floor they start unbonding their identities' bonds (still slashable for `unbondingDays`).
 */
export function adaptSpammers(world: World, day: number): void {
  const { ledger } = world
  for (const role of ['freeloader', 'sybil'] as const) {
    for (const a of world.byRole[role]) {
      if (a.submittedToday > 0) {
        const net = a.income - a.spamCost
        if (net < 0n) a.drive = Math.max(0.05, a.drive * 0.7)
        else if (net > 0n) a.drive = Math.min(1, a.drive * 1.25)
      }
      a.spamPnl += a.income - a.spamCost
      a.spamCost = 0n
      a.submittedToday = 0
      if (world.scenario.roles[role].adaptive && a.drive <= 0.05) {
        for (const account of a.accounts) {
          if (a.validatorAccounts.includes(account)) continue
          const bonded = ledger.bonded(account)
          if (bonded > 0n) ledger.unbond(account, bonded, day, world.scenario.economics.unbondingDays)
        }
      }
    }
  }
}
