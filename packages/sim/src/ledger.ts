import {
  beginUnbond,
  bond,
  EMPTY_STAKE,
  type PaymentSplit,
  type StakePosition,
  slash,
  splitSlash,
  totalStake,
  transfer,
  withdrawUnbonded,
} from '@prsm/economics'

/**
 * The simulator's token ledger: a liquid balance and a stake position per account. Every
 * movement goes through `@prsm/economics` (`transfer`, `bond`, `slash`, `splitSlash`), so the
 * simulated economy obeys the node's rules and the total supply never changes.
 */
export class Ledger {
  readonly balance: bigint[] = []
  readonly stake: StakePosition[] = []

  /** Opens an account with a starting balance; returns its index. */
  open(initial = 0n): number {
    this.balance.push(initial)
    this.stake.push(EMPTY_STAKE)
    return this.balance.length - 1
  }

  get size(): number {
    return this.balance.length
  }

  /** Moves `amount` from one account's liquid balance to another's (throws on overdraft). */
  move(from: number, to: number, amount: bigint): void {
    if (amount === 0n || from === to) return
    const [a, b] = transfer(this.balance[from] as bigint, this.balance[to] as bigint, amount)
    this.balance[from] = a
    this.balance[to] = b
  }

  /** Pays a split payment from `payer`: provider share, fee to `treasury`, royalties to their accounts. */
  paySplit(
    payer: number,
    provider: number,
    treasury: number,
    split: PaymentSplit,
    creatorAccount: (id: string) => number,
  ): void {
    this.move(payer, provider, split.provider)
    this.move(payer, treasury, split.fee)
    for (const r of split.royalties) this.move(payer, creatorAccount(r.creator), r.amount)
  }

  /** Bonds `amount` of an account's liquid balance as stake. */
  bondFrom(account: number, amount: bigint): void {
    if (amount <= 0n) return
    const [rest] = transfer(this.balance[account] as bigint, 0n, amount)
    this.balance[account] = rest
    this.stake[account] = bond(this.stake[account] as StakePosition, amount)
  }

  /** Starts unbonding `amount` of an account's bonded stake, released after `period` days. */
  unbond(account: number, amount: bigint, now: number, period: number): void {
    this.stake[account] = beginUnbond(this.stake[account] as StakePosition, amount, {
      now,
      unbondingPeriod: period,
    })
  }

  /** Returns every released unbonding entry of an account to its liquid balance. */
  withdraw(account: number, now: number): bigint {
    const { position, withdrawn } = withdrawUnbonded(this.stake[account] as StakePosition, now)
    if (withdrawn === 0n) return 0n
    this.stake[account] = position
    this.balance[account] = (this.balance[account] as bigint) + withdrawn
    return withdrawn
  }

  /** True when the account has stake waiting out its unbonding period. */
  isUnbonding(account: number): boolean {
    return (this.stake[account] as StakePosition).unbonding.length > 0
  }

  /**
   * Slashes `bps` of an account's stake; the reporter's share goes to `reporter`'s liquid balance,
   * the rest to `treasury`. Returns the amount slashed.
   */
  slashStake(account: number, bps: number, reporterBps: number, reporter: number, treasury: number): bigint {
    const { position, slashed } = slash(this.stake[account] as StakePosition, bps)
    this.stake[account] = position
    const parts = splitSlash(slashed, reporterBps)
    this.balance[reporter] = (this.balance[reporter] as bigint) + parts.reporter
    this.balance[treasury] = (this.balance[treasury] as bigint) + parts.treasury
    return slashed
  }

  bonded(account: number): bigint {
    return (this.stake[account] as StakePosition).bonded
  }

  /** Liquid balance plus all stake of an account. */
  wealth(account: number): bigint {
    return (this.balance[account] as bigint) + totalStake(this.stake[account] as StakePosition)
  }

  /** Σ of every balance and stake: the total supply, which must never change. */
  supply(): bigint {
    let s = 0n
    for (let i = 0; i < this.balance.length; i++) s += this.wealth(i)
    return s
  }
}
