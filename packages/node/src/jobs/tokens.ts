/**
 * Token counting for model jobs whose upstream reports no usage (and for output delivered before
 * a failure, whose final count never arrived): the o200k_base BPE of gpt-tokenizer, loaded on
 * first use. For models with other tokenizers (Llama, Qwen…) it is an approximation.
 */
type Counter = (text: string) => number

let counter: Counter | undefined
let loading: Promise<Counter> | undefined

/** Loads the tokenizer (once); later calls to {@link countTokens} are synchronous. */
export function loadTokenizer(): Promise<Counter> {
  if (counter !== undefined) return Promise.resolve(counter)
  loading ??= import('gpt-tokenizer/encoding/o200k_base').then((m) => {
    counter = (text: string) => m.countTokens(text)
    return counter
  })
  return loading
}

/** Tokens in `text` (the tokenizer must have been loaded with {@link loadTokenizer}). */
export function countTokens(text: string): number {
  if (counter === undefined) throw new Error('tokenizer not loaded')
  return text === '' ? 0 : counter(text)
}
