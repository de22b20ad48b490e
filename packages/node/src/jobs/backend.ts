import type { JobStep, JobUsage } from './messages.ts'

/** An input as a backend sees it: inline inputs as given, CID inputs fetched from storage. */
export type ResolvedInput = { text: string } | { bytes: Uint8Array; cid?: string }

/** What a backend yields while it runs: output in order, and usage whenever it learns it. */
export type BackendEvent =
  | { type: 'output'; text: string }
  | { type: 'output'; bytes: Uint8Array }
  | {
      type: 'usage'
      /** Usage as reported upstream (each field replaces what was reported before). */
      usage: Partial<JobUsage>
      /** The operator's own upstream cost for this usage, wei of FTNS (from its price table). */
      upstreamCost?: bigint
    }

export interface BackendRunOptions {
  /** Aborted on cancel, on the deadline, or when the client goes away. */
  signal: AbortSignal
  /** Milliseconds since the epoch. */
  deadline: number
}

/**
 * Runs one step for the provider. `run` yields output events as they are produced; the provider
 * pulls the next event only after the previous one was written to the client (backpressure).
 * A failure is thrown as a PrsmError (JOB_BACKEND_FAILED, JOB_INPUT_INVALID…); whatever was
 * yielded before it counts as delivered and is what the client is charged for.
 */
export interface Backend {
  /** A short name for logs (`openai-compatible`, `anthropic`, `echo`…). */
  readonly name: string
  run(
    step: JobStep,
    inputs: readonly ResolvedInput[],
    options: BackendRunOptions,
  ): AsyncIterable<BackendEvent>
}

/** Verdict of a {@link SafetyHook} on a request. */
export type SafetyVerdict = { allow: true } | { allow: false; reason: string }

/**
 * The provider's safety checks. `checkRequest` is called on every request before it is accepted;
 * `checkOutput` (optional) on each text chunk of the output before it is streamed, and once on
 * the whole text output at the end. A refusal (`allow: false`) of a request refuses it with
 * JOB_REFUSED; a refusal of an output stops the job with JOB_REFUSED (the client is charged only
 * for what was delivered before). A `text` in an output verdict replaces the chunk (redaction);
 * on the final whole-output check it is ignored (the chunks were already delivered). The circuit
 * breakers of the safety issue implement it; the default lets everything through.
 */
export interface SafetyHook {
  checkRequest(
    request: { capability: string; step: JobStep; inputs: readonly ResolvedInput[] },
    context: { client: string },
  ): Promise<SafetyVerdict>
  checkOutput?(
    output: { capability: string; text: string },
    context: { client: string },
  ): Promise<SafetyVerdict & { text?: string }>
}

export const passThroughSafety: SafetyHook = {
  async checkRequest() {
    return { allow: true }
  },
  async checkOutput() {
    return { allow: true }
  },
}
