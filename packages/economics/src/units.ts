import { EconomicsError } from './errors.ts'

/** FTNS has 18 decimals, like ether: 1 FTNS = 10^18 wei. */
export const FTNS_DECIMALS = 18
/** Wei in one FTNS. */
export const WEI_PER_FTNS = 10n ** 18n
/** 100% in basis points. */
export const BPS_DENOMINATOR = 10_000n

/** A basis-point parameter: an integer in 0..10000, as a bigint or a number. */
export type Bps = bigint | number

/** Validates a basis-point value and returns it as a bigint. */
export function toBps(value: Bps, name = 'bps'): bigint {
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) {
      throw new EconomicsError('ECON_BPS_OUT_OF_RANGE', `${name} must be an integer, got ${value}`, {
        [name]: value,
      })
    }
    value = BigInt(value)
  } else if (typeof value !== 'bigint') {
    throw new EconomicsError('ECON_BPS_OUT_OF_RANGE', `${name} must be a number or bigint`, { [name]: value })
  }
  if (value < 0n || value > BPS_DENOMINATOR) {
    throw new EconomicsError('ECON_BPS_OUT_OF_RANGE', `${name} must be in 0..10000, got ${value}`, {
      [name]: value.toString(),
    })
  }
  return value
}

/** Throws unless `value` is a non-negative bigint. */
export function assertAmount(value: bigint, name = 'amount'): void {
  if (typeof value !== 'bigint') {
    throw new EconomicsError('ECON_NOT_BIGINT', `${name} must be a bigint (wei), got ${typeof value}`)
  }
  if (value < 0n) {
    throw new EconomicsError('ECON_NEGATIVE_AMOUNT', `${name} must not be negative, got ${value}`, {
      [name]: value.toString(),
    })
  }
}

/** `floor(amount × bps / 10000)`: the basis-point share of an amount, rounded down. */
export function mulBps(amount: bigint, bps: Bps): bigint {
  assertAmount(amount)
  return (amount * toBps(bps)) / BPS_DENOMINATOR
}

/** Parses a decimal FTNS amount ("0.002", "15") into wei; at most 18 decimals, no sign. */
export function parseFtns(text: string): bigint {
  const match = /^(\d+)(?:\.(\d{1,18}))?$/.exec(text.trim())
  if (match === null) {
    throw new EconomicsError(
      'ECON_PARSE_AMOUNT',
      `not an FTNS amount: ${JSON.stringify(text)} (use e.g. 0.002)`,
      {
        value: text,
      },
    )
  }
  const whole = BigInt(match[1] as string)
  const frac = BigInt((match[2] ?? '').padEnd(FTNS_DECIMALS, '0'))
  return whole * WEI_PER_FTNS + frac
}

/**
 * Formats wei as a decimal FTNS string without trailing zeros ("0.002"). With `maxDecimals`
 * the fraction is truncated (rounded toward zero) to that many digits.
 */
export function formatFtns(wei: bigint, maxDecimals: number = FTNS_DECIMALS): string {
  const sign = wei < 0n ? '-' : ''
  const abs = wei < 0n ? -wei : wei
  const whole = abs / WEI_PER_FTNS
  const digits = Math.max(0, Math.min(FTNS_DECIMALS, Math.trunc(maxDecimals)))
  const frac = (abs % WEI_PER_FTNS)
    .toString()
    .padStart(FTNS_DECIMALS, '0')
    .slice(0, digits)
    .replace(/0+$/, '')
  return `${sign}${whole}${frac === '' ? '' : `.${frac}`}`
}
