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
  options: { signal?: AbortSignal; summarize?: CompressOptions['summarize'] },
) => Promise<
  Pick<CompressionResult, 'text' | 'ratio' | 'preservation'> & { stages?: CompressionResult['stages'] }
>

/**
 * The default compressor: dedup + extractive selection, and a model summary when `summarize` is
 * given (the orchestrator passes one when a model is offered on the network).
 */
export function defaultCompressor(extra: Pick<CompressOptions, 'summarize' | 'embed'> = {}): Compressor {
  return (text, budgetTokens, options) => {
    const summarize = options.summarize ?? extra.summarize
    return compressForBudget(text, budgetTokens, {
      ...(extra.embed === undefined ? {} : { embed: extra.embed }),
      ...(summarize === undefined ? {} : { summarize }),
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    })
  }
}

export { countTokens }
