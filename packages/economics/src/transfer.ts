import { EconomicsError } from './errors.ts'
import { assertAmount } from './units.ts'

/**
 * Moves `amount` from one balance to another and returns the two new balances. Throws
 * `ECON_NEGATIVE_AMOUNT` for a negative amount and `ECON_INSUFFICIENT_BALANCE` when the payer
 * has less than `amount`. The sum of the two balances is unchanged.
 */
export function transfer(from: bigint, to: bigint, amount: bigint): readonly [bigint, bigint] {
  assertAmount(amount)
  if (amount > from) {
    throw new EconomicsError(
      'ECON_INSUFFICIENT_BALANCE',
      `transfer of ${amount} exceeds the balance ${from}`,
      {
        balance: from.toString(),
        amount: amount.toString(),
      },
    )
  }
  return [from - amount, to + amount]
}
