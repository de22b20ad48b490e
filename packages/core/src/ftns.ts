import { EconomicsError, FTNS_DECIMALS, formatFtns, parseFtns as parseAmount } from '@prsm/economics'
import { PrsmError } from './errors.ts'

// The FTNS unit rules live once, in @prsm/economics; core only maps their errors to its catalogue.
export { FTNS_DECIMALS, formatFtns }

/** Parses a decimal FTNS amount ("0.002", "15") into wei. Throws `VALIDATION_FAILED` on bad input. */
export function parseFtns(text: string): bigint {
  try {
    return parseAmount(text)
  } catch (err) {
    if (err instanceof EconomicsError) {
      throw new PrsmError('VALIDATION_FAILED', err.message, { cause: err, details: { value: text } })
    }
    throw err
  }
}
