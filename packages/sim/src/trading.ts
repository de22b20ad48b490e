import type { Effects } from './scenario.ts'
import { type Agent, toFtns, toWei, type World } from './world.ts'

/**
 * The day's market: everyone places orders, the batch clears against the pool, then the
 * treasury's stabiliser (if on) acts. Users buy back what they spent (they pay for AI work with
 * dollars) and top up to `reserveDays` of spending; providers sell enough to cover their dollar
 * costs plus a share of the rest; contributors, creators and validators sell a share of their
 * income; everyone but traders sells `sellPressure` of their holdings in a panic; traders buy
 * below their moving average and sell above it (and hoard in between); outside traders add
 * random flow.
 */
export function tradeDay(
  world: World,
  effects: Effects,
  priceUsd: number,
  jobCostFtns: number,
  growth: number,
): void {
  const { ledger, market, scenario } = world
  const roles = scenario.roles
  const rng = world.rng.market
  const escrow = market.escrowAccount
  const buys: bigint[] = []
  const buyers: number[] = []
  const sellers: number[] = []
  const sells: bigint[] = []
  const traderOrders: { agent: Agent; buy: number; sell: number }[] = []
  const micro = BigInt(Math.round(priceUsd * 1e6))

  const sell = (account: number, wei: bigint): number => {
    const bal = ledger.balance[account] as bigint
    const amount = wei > bal ? bal : wei
    if (amount <= 0n) return -1
    ledger.move(account, escrow, amount)
    sellers.push(account)
    sells.push(amount)
    return sells.length - 1
  }
  const buy = (account: number, wei: bigint): number => {
    const cash = (wei * micro) / 10n ** 18n
    if (cash <= 0n) return -1
    buyers.push(account)
    buys.push(cash)
    return buys.length - 1
  }

  const reserveFtns = roles.user.reserveDays * jobCostFtns * growth * effects.demand
  for (const a of world.agents) {
    const main = a.accounts[0] as number
    if (a.role === 'sybil') {
      // sweep identities' earnings to the main account, keeping enough for a few review fees
      const keep = toWei(scenario.economics.reviewFee * 3)
      for (let i = 1; i < a.accounts.length; i++) {
        const acc = a.accounts[i] as number
        const bal = ledger.balance[acc] as bigint
        if (bal > keep) ledger.move(acc, main, bal - keep)
      }
    }
    if (a.role === 'trader') {
      const o = { agent: a, buy: -1, sell: -1 }
      if (priceUsd < a.ema * (1 - roles.trader.band) && a.cash > 0n) {
        const cash = BigInt(Math.floor(Number(a.cash) * roles.trader.tradeShare))
        if (cash > 0n) {
          buyers.push(main)
          buys.push(cash)
          a.cash -= cash
          o.buy = buys.length - 1
        }
      } else if (priceUsd > a.ema * (1 + roles.trader.band)) {
        o.sell = sell(main, toWei(toFtns(ledger.balance[main] as bigint) * roles.trader.tradeShare))
      }
      a.ema = 0.9 * a.ema + 0.1 * priceUsd
      if (o.buy >= 0 || o.sell >= 0) {
        a.active = true
        traderOrders.push(o)
      }
      continue
    }
    let out = 0
    if (a.role === 'user') {
      const balance = toFtns(ledger.balance[main] as bigint)
      const want = Math.max(toFtns(a.spent), reserveFtns - balance)
      if (want > 0) buy(main, toWei(want))
    } else if (a.role === 'provider') {
      const costFtns = (a.servedToday * roles.provider.costPerJob) / priceUsd
      const income = toFtns(a.income)
      out = costFtns + roles.provider.sellShare * Math.max(0, income - costFtns)
    } else {
      const share =
        a.role === 'data'
          ? roles.data.sellShare
          : a.role === 'creator'
            ? roles.creator.sellShare
            : a.role === 'validator'
              ? roles.validator.sellShare
              : a.role === 'freeloader'
                ? roles.freeloader.sellShare
                : roles.sybil.sellShare
      out = share * toFtns(a.income)
    }
    if (effects.sellPressure > 0) out += effects.sellPressure * toFtns(ledger.balance[main] as bigint)
    if (out > 0) sell(main, toWei(out))
  }

  // outside traders: random net flow (and drift), as a share of the pool's dollars
  const flow =
    (effects.flowDrift + scenario.market.noise * effects.noise * rng.normal()) * (Number(market.cash) / 1e6)
  if (flow > 0) buy(world.external, toWei(flow / priceUsd))
  else if (flow < 0) sell(world.external, toWei(-flow / priceUsd))

  const result = market.clear(ledger, buys, buyers, sells)
  for (const o of traderOrders) {
    if (o.sell >= 0) o.agent.cash += result.cash[o.sell] ?? 0n
  }
  if (world.stabiliser !== null) world.stabiliser.act(ledger, market, world.treasury, world.treasuryCash)
}
