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
 * The provider's safety check, called on every request before it is accepted. The circuit
 * breakers of the safety issue implement it; the default lets everything through.
 */
export interface SafetyHook {
  checkRequest(
    request: { capability: string; step: JobStep; inputs: readonly ResolvedInput[] },
    context: { client: string },
  ): Promise<SafetyVerdict>
}

export const passThroughSafety: SafetyHook = {
  async checkRequest() {
    return { allow: true }
  },
}
