import { dynamicPrice, quote, splitWithTable } from '@prsm/economics'
import type { Reviewers } from './contributions.ts'
import { clamp } from './prng.ts'
import type { Effects } from './scenario.ts'
import { type Agent, accountOf, credit, toFtns, toWei, type World } from './world.ts'

/**
 * Providers set today's offers: a dollar price (cost × (1 + margin), × markup for an active
 * cartel) converted to FTNS per token at the market price, then adjusted for yesterday's
 * utilisation by `dynamicPrice`. They keep their stake at the minimum if they can, and
 * reconsider which model to serve.
 */
export function prepareProviders(world: World, effects: Effects, priceUsd: number): Agent[] {
  const { ledger, scenario } = world
  const p = scenario.roles.provider
  const eco = scenario.economics
  const m = scenario.mechanisms
  const rng = world.rng.jobs
  const min = toWei(eco.minProviderStake)
  const active: Agent[] = []
  for (const a of world.byRole.provider) {
    a.servedToday = 0
    a.qualityToday = 0
    const main = a.accounts[0] as number
    if (m.stakeGate && ledger.bonded(main) < min) {
      const need = min - ledger.bonded(main)
      if ((ledger.balance[main] as bigint) >= need) ledger.bondFrom(main, need)
      else {
        a.capacityToday = 0
        continue
      }
    }
    const cartel = a.cartel && effects.cartel > 0
    a.capacityToday = Math.floor(a.capacity * effects.capacity * (cartel ? 1 - p.cartelWithhold : 1))
    if (a.capacityToday <= 0) continue
    const usdPerJob = p.costPerJob * (1 + p.margin) * (cartel ? p.cartelMarkup : 1)
    const basePrice = toWei(usdPerJob / priceUsd / eco.jobTokens)
    a.priceWei = dynamicPrice({ basePrice, utilisationBps: a.utilisation })
    if (a.priceWei === 0n) a.priceWei = 1n
    // model choice: by judged quality among a few candidates (reputationRouting) or at random
    if (world.models.length > 0 && (a.model < 0 || rng.chance(0.25))) {
      if (m.reputationRouting) {
        let best = a.model
        for (let i = 0; i < 5; i++) {
          const c = rng.int(world.models.length)
          if (best < 0 || (world.models[c]?.judged ?? 0) > (world.models[best]?.judged ?? 0)) best = c
        }
        a.model = best
      } else {
        a.model = rng.int(world.models.length)
      }
    }
    if (a.model >= 0) active.push(a)
  }
  return active
}

/**
 * Users buy jobs. Each looks at a few providers with capacity left and picks the best value:
 * reputation² / price (reputationRouting) or the lowest price. It pays through `quote` and
 * `splitWithTable` (provider share, network fee, capped royalties to the model's creator and its
 * parent datasets' contributors). Jobs no provider can take are unserved.
 */
export function serveJobs(world: World, effects: Effects, growth: number, providers: Agent[]): void {
  const { ledger, scenario, totals, treasury } = world
  const eco = scenario.economics
  const rng = world.rng.jobs
  const users = world.byRole.user
  const sample = Math.max(1, scenario.roles.user.sampleSize)
  const byReputation = scenario.mechanisms.reputationRouting
  const jobTokens = BigInt(eco.jobTokens)
  const open = providers.filter((p) => p.capacityToday > 0)
  if (users.length === 0) return
  const start = rng.int(users.length)
  for (let n = 0; n < users.length; n++) {
    const u = users[(start + n) % users.length] as Agent
    u.spent = 0n
    let remaining = rng.poisson(u.demand * effects.demand * growth)
    const main = u.accounts[0] as number
    for (let attempt = 0; attempt < 2 && remaining > 0 && open.length > 0; attempt++) {
      let best: Agent | null = null
      let bestScore = -1
      for (let i = 0; i < sample; i++) {
        const c = open[rng.int(open.length)] as Agent
        if (c.servedToday >= c.capacityToday) continue
        const price = toFtns(c.priceWei)
        const score = byReputation ? (c.reputation * c.reputation) / price : 1 / price
        if (score > bestScore) {
          bestScore = score
          best = c
        }
      }
      if (best === null) continue
      const perJob = quote({ price: best.priceWei }, jobTokens)
      const affordable = Number((ledger.balance[main] as bigint) / perJob)
      const jobs = Math.min(remaining, best.capacityToday - best.servedToday, affordable)
      if (jobs <= 0) break
      const model = world.models[best.model]
      if (model === undefined) continue
      const cost = quote({ price: best.priceWei }, jobTokens * BigInt(jobs))
      const split = splitWithTable(cost, eco.feeBps, model.table)
      const provider = best.accounts[0] as number
      ledger.paySplit(main, provider, treasury, split, accountOf)
      credit(world, provider, split.provider)
      for (const r of split.royalties) {
        credit(world, accountOf(r.creator), r.amount)
        totals.royaltiesWei += r.amount
      }
      totals.feesWei += split.fee
      u.spent += cost
      u.active = true
      best.active = true
      const quality = clamp(0.5 * best.skill + 0.5 * model.quality + 0.05 * rng.normal(), 0, 1)
      best.servedToday += jobs
      if (best.cartel && effects.cartel > 0) totals.cartelJobs += jobs
      best.qualityToday += quality * jobs
      totals.jobQualitySum += quality * jobs
      totals.jobCount += jobs
      const observed = clamp(quality + 0.05 * rng.normal(), 0, 1)
      best.reputation += 0.1 * (observed - best.reputation)
      remaining -= jobs
    }
    totals.unserved += remaining
  }
}

/**
 * After the day's jobs: validators spot-check providers and slash those whose served quality
 * fails (stakeGate); providers update utilisation and grow or shrink capacity with demand.
 */
export function settleProviders(world: World, reviewers: Reviewers): void {
  const { ledger, scenario, totals, treasury } = world
  const eco = scenario.economics
  const rng = world.rng.jobs
  for (const a of world.byRole.provider) {
    if (a.capacityToday > 0) a.utilisation = Math.round((a.servedToday / a.capacityToday) * 10_000)
    const util = a.utilisation / 10_000
    if (util >= 0.95) a.capacity *= 1.05
    else if (util < 0.4) a.capacity = Math.max(1, a.capacity * 0.98)
    if (!scenario.mechanisms.stakeGate || a.servedToday === 0 || reviewers.total <= 0) continue
    if (!rng.chance(eco.spotCheckRate)) continue
    const r = reviewers.accounts[rng.int(reviewers.accounts.length)] as number
    const judgeSkill = (world.agents[world.ownerOf[r] as number] as Agent).skill
    const judged = a.qualityToday / a.servedToday + (0.03 + 0.15 * (1 - judgeSkill)) * rng.normal()
    if (judged < eco.spotCheckThreshold) {
      const slashed = ledger.slashStake(
        a.accounts[0] as number,
        eco.providerSlashBps,
        eco.reporterBps,
        r,
        treasury,
      )
      totals.slashedWei += slashed
      totals.providerSlashes++
      credit(world, r, (slashed * BigInt(eco.reporterBps)) / 10_000n)
      a.reputation *= 0.8
    }
  }
}
