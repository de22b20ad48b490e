/**
 * A `Summarize` for {@link compressForBudget} on top of any model call: it asks for a summary
 * within the budget that keeps figures, names and units, and passes the model's answer through
 * (compressForBudget itself rejects an answer over budget and keeps the extract then).
 */
import type { Summarize } from './compress.ts'

/** Runs one model completion: a system prompt, a user prompt, and a cap on output tokens. */
export type Infer = (
  prompt: string,
  options: { system: string; maxTokens: number; signal?: AbortSignal },
) => Promise<string>

export const SUMMARY_SYSTEM_PROMPT =
  'You compress text for another model. Keep every figure with its unit, every name and every ' +
  'conclusion; drop repetition and filler. Answer with the compressed text only.'

export function modelSummarizer(infer: Infer): Summarize {
  return (text, budgetTokens, { signal } = {}) =>
    infer(`Compress the following to at most ${budgetTokens} tokens.\n\n${text}`, {
      system: SUMMARY_SYSTEM_PROMPT,
      // a little under the budget: the model's tokenizer and ours differ
      maxTokens: Math.max(1, Math.floor(budgetTokens * 0.9)),
      ...(signal === undefined ? {} : { signal }),
    })
}
