import {
  type CompressionResult,
  type CompressOptions,
  compressForBudget,
  countTokens,
} from './compression/index.ts'

/** Compresses text handed to a dependent step down to a token budget (see compression/). */
export type Compressor = (
  text: string,
  budgetTokens: number,
  options: { signal?: AbortSignal },
) => Promise<Pick<CompressionResult, 'text' | 'ratio' | 'preservation'>>

/** The default compressor: dedup + extractive selection, and a model summary when `summarize` is given. */
export function defaultCompressor(extra: Pick<CompressOptions, 'summarize' | 'embed'> = {}): Compressor {
  return (text, budgetTokens, options) => compressForBudget(text, budgetTokens, { ...extra, ...options })
}

export { countTokens }
