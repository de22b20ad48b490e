import { PrsmError } from './errors.ts'

/** FTNS has 18 decimals, like ether: 1 FTNS = 10^18 wei. */
export const FTNS_DECIMALS = 18
const SCALE = 10n ** BigInt(FTNS_DECIMALS)

/** Parses a decimal FTNS amount ("0.002", "15") into wei. Throws `VALIDATION_FAILED` on bad input. */
export function parseFtns(text: string): bigint {
  const match = /^(\d+)(?:\.(\d{1,18}))?$/.exec(text.trim())
  if (match === null) {
    throw new PrsmError('VALIDATION_FAILED', `not an FTNS amount: ${JSON.stringify(text)} (use e.g. 0.002)`, {
      details: { value: text },
    })
  }
  const whole = BigInt(match[1] as string)
  const frac = BigInt((match[2] ?? '').padEnd(FTNS_DECIMALS, '0'))
  return whole * SCALE + frac
}

/** Formats wei as a decimal FTNS string without trailing zeros ("0.002"). */
export function formatFtns(wei: bigint): string {
  const sign = wei < 0n ? '-' : ''
  const abs = wei < 0n ? -wei : wei
  const whole = abs / SCALE
  const frac = (abs % SCALE).toString().padStart(FTNS_DECIMALS, '0').replace(/0+$/, '')
  return `${sign}${whole}${frac === '' ? '' : `.${frac}`}`
}
