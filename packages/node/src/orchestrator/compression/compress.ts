/**
 * Context compression for a dependent step: when an input exceeds the step's token budget it is
 * deduplicated (exact and near-duplicate units), reduced by extractive selection to the budget,
 * and — when a model is available — summarised by it. The result records the compression ratio
 * and how much of the original it preserves (ROUGE-L, or embedding similarity when an embedding
 * backend is given).
 */
import { PrsmError } from '@prsm/core'
import { dedupUnits } from './dedup.ts'
import { selectUnits, truncateToTokens } from './extract.ts'
import { cosine, rougeL } from './preservation.ts'
import { joinUnits, segment } from './segment.ts'
import { countTokens } from './tokens.ts'

/** A model summary: at most `budgetTokens` tokens of `text` (longer answers are not used). */
export type Summarize = (
  text: string,
  budgetTokens: number,
  options: { signal?: AbortSignal },
) => Promise<string>
/** One embedding vector per text, all of the same size. */
export type Embed = (texts: string[], options: { signal?: AbortSignal }) => Promise<number[][]>

export interface CompressOptions {
  summarize?: Summarize
  embed?: Embed
  signal?: AbortSignal
  /** Jaccard similarity from which two units count as near duplicates (default 0.8). */
  nearDuplicate?: number
  /** The most tokens handed to `summarize` (an extract of the deduplicated text; default 8 × budget). */
  maxSummaryInputTokens?: number
}

export interface CompressionResult {
  text: string
  /** Tokens after ÷ tokens before (1 when the input already fit). */
  ratio: number
  preservation: { method: 'rouge-l' | 'embedding'; score: number }
  tokens: { before: number; after: number }
  /** What was done: duplicates dropped, whether units were selected, and the summary's fate. */
  stages: {
    exactDuplicates: number
    nearDuplicates: number
    extracted: boolean
    summary: 'none' | 'used' | 'over-budget' | 'failed'
    summaryError?: string
    /** Why the embedding backend could not score (preservation fell back to ROUGE-L). */
    embeddingError?: string
  }
}

export async function compressForBudget(
  text: string,
  budgetTokens: number,
  options: CompressOptions = {},
): Promise<CompressionResult> {
  if (!Number.isSafeInteger(budgetTokens) || budgetTokens < 1) {
    throw new PrsmError(
      'COMPRESSION_BUDGET_INVALID',
      `token budget ${String(budgetTokens)} is not a positive integer`,
      {
        details: { budgetTokens: String(budgetTokens) },
      },
    )
  }
  const { signal } = options
  signal?.throwIfAborted()
  const before = countTokens(text)
  const stages: CompressionResult['stages'] = {
    exactDuplicates: 0,
    nearDuplicates: 0,
    extracted: false,
    summary: 'none',
  }
  if (before <= budgetTokens) {
    const method = options.embed === undefined ? 'rouge-l' : 'embedding'
    return { text, ratio: 1, preservation: { method, score: 1 }, tokens: { before, after: before }, stages }
  }

  const deduped = dedupUnits(segment(text), options.nearDuplicate)
  stages.exactDuplicates = deduped.exact
  stages.nearDuplicates = deduped.near
  let out = joinUnits(deduped.kept)
  if (countTokens(out) > budgetTokens) {
    out = selectUnits(deduped.kept, budgetTokens)
    stages.extracted = true
  }

  if (options.summarize !== undefined) {
    const maxInput = options.maxSummaryInputTokens ?? 8 * budgetTokens
    const source = selectUnits(deduped.kept, maxInput)
    try {
      const summary = (
        await options.summarize(source, budgetTokens, signal === undefined ? {} : { signal })
      ).trim()
      if (summary !== '' && countTokens(summary) <= budgetTokens) {
        out = summary
        stages.summary = 'used'
      } else {
        stages.summary = 'over-budget'
      }
    } catch (err) {
      signal?.throwIfAborted()
      stages.summary = 'failed'
      stages.summaryError = describe(err)
    }
  }
  // The extract is within budget by construction; this only guards a pathological segmentation.
  out = truncateToTokens(out, budgetTokens)
  const after = countTokens(out)
  let preservation: CompressionResult['preservation']
  try {
    preservation = await preserved(out, text, options)
  } catch (err) {
    // The score is a record, not a gate: a failing embedding backend does not fail the step.
    signal?.throwIfAborted()
    stages.embeddingError = describe(err)
    preservation = { method: 'rouge-l', score: rougeL(out, text).f1 }
  }
  return { text: out, ratio: after / before, preservation, tokens: { before, after }, stages }
}

function describe(err: unknown): string {
  return err instanceof PrsmError ? `${err.code}: ${err.message}` : String((err as Error)?.message ?? err)
}

async function preserved(
  compressed: string,
  original: string,
  options: CompressOptions,
): Promise<CompressionResult['preservation']> {
  if (options.embed === undefined) return { method: 'rouge-l', score: rougeL(compressed, original).f1 }
  const vectors = await options.embed(
    [original, compressed],
    options.signal === undefined ? {} : { signal: options.signal },
  )
  const [a, b] = Array.isArray(vectors) ? vectors : []
  const valid = (v: unknown): v is number[] =>
    Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'number' && Number.isFinite(x))
  if (!Array.isArray(vectors) || vectors.length !== 2 || !valid(a) || !valid(b) || a.length !== b.length) {
    throw new PrsmError(
      'COMPRESSION_EMBEDDING_INVALID',
      'the embedding backend must return two vectors of one size',
      {
        details: { vectors: Array.isArray(vectors) ? vectors.length : 0 },
      },
    )
  }
  return { method: 'embedding', score: cosine(a, b) }
}
