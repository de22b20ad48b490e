import { capRoyalties, type RoyaltyTable } from '@prsm/economics'
import { Ledger } from './ledger.ts'
import { Market, MICRO, Stabiliser } from './market.ts'
import { clamp, Rng } from './prng.ts'
import { ROLES, type Role, type Scenario, type Skill } from './scenario.ts'

/** One economic actor. A sybil attacker is one agent with many accounts (identities). */
export interface Agent {
  readonly index: number
  readonly role: Role
  /** Quality of its work (contributors, creators, providers) or accuracy of its judgement (validators), 0..1. */
  readonly skill: number
  /** Its accounts; `accounts[0]` is the main one. */
  readonly accounts: number[]
  /** Sybil validator identities (a subset of `accounts`). */
  readonly validatorAccounts: number[]
  /** FTNS received today from the economy (payments, royalties, rewards, fees). */
  income: bigint
  /** FTNS spent on jobs today. */
  spent: bigint
  active: boolean
  /** Users: mean jobs per day. */
  demand: number
  /** Providers. */
  capacity: number
  capacityToday: number
  servedToday: number
  qualityToday: number
  reputation: number
  model: number
  cartel: boolean
  utilisation: number
  priceWei: bigint
  /** Validators: reviews done today. */
  reviews: number
  /** Freeloaders and sybils: how hard they spam (0.05..1), and what spamming cost them today. */
  drive: number
  spamCost: bigint
  /** Freeloaders and sybils: Σ (income − review fees paid − bonds slashed) over the run, wei. */
  spamPnl: bigint
  submittedToday: number
  /** Traders: dollars (micro) and their own price average. */
  cash: bigint
  ema: number
}

/** An accepted model: its creator, quality and capped royalty table. */
export interface Model {
  readonly creator: number
  readonly quality: number
  readonly judged: number
  readonly table: RoyaltyTable
}

/** Running totals for the run's metrics. */
export interface Totals {
  contribQualitySum: number
  contribCount: number
  jobQualitySum: number
  jobCount: number
  unserved: number
  submitted: number
  accepted: number
  rejected: number
  spamAccepted: number
  spamSubmitted: number
  auditsFailed: number
  reviewerSlashes: number
  providerSlashes: number
  slashedWei: bigint
  incomeByRole: Record<Role, bigint>
  /** Jobs served by cartel members (while the cartel is active). */
  cartelJobs: number
  royaltiesWei: bigint
  feesWei: bigint
  rewardsWei: bigint
}

/** The whole simulated economy. */
export interface World {
  readonly scenario: Scenario
  readonly days: number
  readonly ledger: Ledger
  readonly agents: Agent[]
  readonly byRole: Record<Role, Agent[]>
  /** Account → owning agent (−1 for system accounts). */
  readonly ownerOf: number[]
  /** Reputation per account, 0..1. */
  readonly reputation: number[]
  readonly treasury: number
  readonly external: number
  readonly market: Market
  readonly treasuryCash: { cash: bigint }
  readonly stabiliser: Stabiliser | null
  /** Accepted datasets: contributor account, true and judged quality, day accepted. */
  readonly datasets: { account: number[]; quality: number[]; judged: number[]; day: number[] }
  readonly models: Model[]
  readonly rng: { setup: Rng; contrib: Rng; jobs: Rng; market: Rng }
  readonly totals: Totals
  readonly initialSupply: bigint
  /** Each agent's starting wealth in wei (for wealth changes by role). */
  readonly initialWealth: bigint[]
  /** Accepted contributions of the current day (identity, judged quality, true quality). */
  today: { account: number[]; judged: number[]; quality: number[] }
}

/** FTNS (a float) to wei, at nano-FTNS precision. */
export function toWei(ftns: number): bigint {
  if (!(ftns > 0)) return 0n
  return BigInt(Math.round(ftns * 1e9)) * 1_000_000_000n
}

/** Wei to FTNS as a float. */
export function toFtns(wei: bigint): number {
  return Number(wei) / 1e18
}

/** The royalty-table creator id of an account. */
export function creatorId(account: number): string {
  return `a${account}`
}

export function accountOf(creator: string): number {
  return Number.parseInt(creator.slice(1), 10)
}

function drawSkill(rng: Rng, s: Skill): number {
  return clamp(s.mean + s.sd * rng.normal(), 0.02, 0.99)
}

/** How many agents of each role: shares apportioned by largest remainder (ties in role order). */
export function apportion(mix: Record<Role, number>, n: number): Record<Role, number> {
  let total = 0
  for (const r of ROLES) total += mix[r]
  const counts = {} as Record<Role, number>
  const rems: { role: Role; rem: number; i: number }[] = []
  let given = 0
  ROLES.forEach((role, i) => {
    const exact = (mix[role] / total) * n
    const c = Math.floor(exact)
    counts[role] = c
    given += c
    rems.push({ role, rem: exact - c, i })
  })
  rems.sort((a, b) => (b.rem === a.rem ? a.i - b.i : b.rem - a.rem))
  for (let k = 0; given < n; k++, given++) {
    const r = rems[k % rems.length] as { role: Role }
    counts[r.role]++
  }
  return counts
}

/** Builds the world for a run: agents, accounts, grants, stakes, genesis models, pool and treasury. */
export function createWorld(scenario: Scenario, agentCount: number, days: number, seed: number): World {
  const rng = {
    setup: new Rng(seed, 'setup'),
    contrib: new Rng(seed, 'contrib'),
    jobs: new Rng(seed, 'jobs'),
    market: new Rng(seed, 'market'),
  }
  const ledger = new Ledger()
  const ownerOf: number[] = []
  const reputation: number[] = []
  const counts = apportion(scenario.mix, agentCount)
  const agents: Agent[] = []
  const byRole = Object.fromEntries(ROLES.map((r) => [r, [] as Agent[]])) as Record<Role, Agent[]>
  const roles = scenario.roles
  const mechanisms = scenario.mechanisms
  const openAccount = (owner: number, initial = 0n): number => {
    const a = ledger.open(initial)
    ownerOf.push(owner)
    reputation.push(0.3)
    return a
  }

  for (const role of ROLES) {
    for (let k = 0; k < counts[role]; k++) {
      const index = agents.length
      const grant = toWei(rng.setup.uniform(scenario.grant.min, scenario.grant.max))
      const main = openAccount(index, grant)
      let skill = 0.5
      if (role === 'data') skill = drawSkill(rng.setup, roles.data.skill)
      else if (role === 'freeloader') skill = drawSkill(rng.setup, roles.freeloader.skill)
      else if (role === 'sybil') skill = drawSkill(rng.setup, roles.sybil.skill)
      else if (role === 'creator') skill = drawSkill(rng.setup, roles.creator.skill)
      else if (role === 'provider') skill = drawSkill(rng.setup, roles.provider.quality)
      else if (role === 'validator') skill = drawSkill(rng.setup, roles.validator.skill)
      const agent: Agent = {
        index,
        role,
        skill,
        accounts: [main],
        validatorAccounts: [],
        income: 0n,
        spent: 0n,
        active: false,
        demand:
          role === 'user'
            ? Math.max(1, roles.user.jobsPerDay.mean + roles.user.jobsPerDay.sd * rng.setup.normal())
            : 0,
        capacity: 0,
        capacityToday: 0,
        servedToday: 0,
        qualityToday: 0,
        reputation: 0.5,
        model: -1,
        cartel: false,
        utilisation: 7000,
        priceWei: 0n,
        reviews: 0,
        drive: 1,
        spamCost: 0n,
        spamPnl: 0n,
        submittedToday: 0,
        cash: role === 'trader' ? BigInt(Math.round(roles.trader.cash)) * MICRO : 0n,
        ema: scenario.market.initialPrice,
      }
      if (role === 'sybil') {
        for (let i = 0; i < roles.sybil.identities; i++) agent.accounts.push(openAccount(index))
        for (let i = 0; i < roles.sybil.validatorIdentities; i++) {
          const a = openAccount(index)
          agent.accounts.push(a)
          agent.validatorAccounts.push(a)
        }
      }
      if (role === 'provider') ledger.bondFrom(main, toWei(toFtns(grant) * roles.provider.stakeShare))
      if (role === 'validator') {
        ledger.bondFrom(main, toWei(toFtns(grant) * roles.validator.stakeShare))
        reputation[main] = 1 // the genesis validator set is established; identities that join later start at 0.3
      }
      agents.push(agent)
      byRole[role].push(agent)
    }
  }

  // providers' capacity: mean demand per provider × headroom; the first cartelShare of them form the cartel
  const providers = byRole.provider
  let demand = 0
  for (const u of byRole.user) demand += u.demand
  const perProvider = providers.length > 0 ? (demand / providers.length) * roles.provider.capacityHeadroom : 0
  const cartelSize = Math.ceil(roles.provider.cartelShare * providers.length)
  providers.forEach((p, i) => {
    p.capacity = Math.max(1, perProvider * (0.7 + 0.6 * rng.setup.next()))
    p.cartel = i < cartelSize
  })

  // system accounts: treasury, outside traders, pool, batch escrow
  const n = Math.max(1, agentCount)
  const treasury = openAccount(-1, toWei(scenario.treasury.ftnsPerAgent * n))
  const external = openAccount(-1, toWei(scenario.market.externalFtnsPerAgent * n))
  const poolFtns = scenario.market.poolFtnsPerAgent * n
  const pool = openAccount(-1, toWei(poolFtns))
  const escrow = openAccount(-1)
  const cash = BigInt(Math.round(poolFtns * scenario.market.initialPrice * 1e6))
  const market = new Market(pool, escrow, cash)
  const treasuryCash = { cash: BigInt(Math.round(scenario.treasury.cashPerAgent * n * 1e6)) }
  const stabiliser = mechanisms.stabiliser
    ? new Stabiliser(market.price(ledger), {
        bandBps: scenario.treasury.bandBps,
        referenceWeightBps: scenario.treasury.referenceWeightBps,
        maxSpendBps: scenario.treasury.maxSpendBps,
      })
    : null

  // genesis: every creator has one model (no dataset parents yet); providers start on a random one
  const models: Model[] = []
  for (const c of byRole.creator) {
    const table = capRoyalties(
      [{ creator: creatorId(c.accounts[0] as number), bps: scenario.economics.creatorRoyaltyBps }],
      scenario.economics.royaltyCapBps,
    )
    models.push({ creator: c.accounts[0] as number, quality: c.skill, judged: c.skill, table })
  }
  for (const p of providers) p.model = models.length > 0 ? rng.setup.int(models.length) : -1

  const incomeByRole = Object.fromEntries(ROLES.map((r) => [r, 0n])) as Record<Role, bigint>
  return {
    scenario,
    days,
    ledger,
    agents,
    byRole,
    ownerOf,
    reputation,
    treasury,
    external,
    market,
    treasuryCash,
    stabiliser,
    datasets: { account: [], quality: [], judged: [], day: [] },
    models,
    rng,
    totals: {
      contribQualitySum: 0,
      contribCount: 0,
      jobQualitySum: 0,
      jobCount: 0,
      unserved: 0,
      submitted: 0,
      accepted: 0,
      rejected: 0,
      spamAccepted: 0,
      spamSubmitted: 0,
      auditsFailed: 0,
      reviewerSlashes: 0,
      providerSlashes: 0,
      slashedWei: 0n,
      incomeByRole,
      cartelJobs: 0,
      royaltiesWei: 0n,
      feesWei: 0n,
      rewardsWei: 0n,
    },
    initialSupply: ledger.supply(),
    initialWealth: agents.map((a) => {
      let w = 0n
      for (const acc of a.accounts) w += ledger.wealth(acc)
      return w
    }),
    today: { account: [], judged: [], quality: [] },
  }
}

/** Credits economy income to the agent owning `account` (for sell decisions and income shares). */
export function credit(world: World, account: number, amount: bigint): void {
  const owner = world.ownerOf[account] as number
  if (owner < 0 || amount === 0n) return
  const agent = world.agents[owner] as Agent
  agent.income += amount
  world.totals.incomeByRole[agent.role] += amount
}
