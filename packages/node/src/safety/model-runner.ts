import { PrsmError } from '@prsm/core'
import type { JobEvent, RunJobRequest } from '../jobs/job-client.ts'
import type { FoundOffer } from '../market/offers.ts'
import type { ModelRunner } from './tiers.ts'

export interface JobModelRunnerComponents {
  jobs: {
    run(provider: string, request: RunJobRequest, options: { signal?: AbortSignal }): AsyncIterable<JobEvent>
  }
  findOffers(capability: string, options: { signal?: AbortSignal }): Promise<FoundOffer[]>
  /** This node's peer id (its own offers cannot be dialled). */
  self: string
}

/** Tokens a tier-2/3 answer may be charged for, when the offer is priced per token. */
export const SAFETY_MAX_TOKENS = 4096n

/**
 * Runs tier-2/3 models as ordinary PRSM jobs: the named provider, or the cheapest other provider
 * offering the capability; the prompt is the one text input; the answer is the concatenated text
 * chunks of a job whose receipt is ok.
 */
export function jobModelRunner(c: JobModelRunnerComponents): ModelRunner {
  return async (capability, prompt, options) => {
    let provider = options.provider
    let maxPrice = 0n
    if (provider === undefined || provider === c.self) {
      const offers = (await c.findOffers(capability, { signal: options.signal }))
        .filter((o) => o.provider !== c.self)
        .sort((a, b) => (BigInt(a.offer.price) < BigInt(b.offer.price) ? -1 : 1))
      const best = offers[0]
      if (best === undefined) {
        throw new PrsmError('SAFETY_CHECK_FAILED', `no provider offers ${capability}`, {
          details: { capability },
        })
      }
      provider = best.provider
      maxPrice = BigInt(best.offer.price) * (best.offer.unit === 'token' ? SAFETY_MAX_TOKENS : 1n)
    } else {
      const found = (await c.findOffers(capability, { signal: options.signal })).find(
        (o) => o.provider === provider,
      )
      if (found !== undefined) {
        maxPrice = BigInt(found.offer.price) * (found.offer.unit === 'token' ? SAFETY_MAX_TOKENS : 1n)
      }
    }
    let text = ''
    for await (const event of c.jobs.run(
      provider,
      {
        step: { kind: 'model', capability, params: { temperature: 0 } },
        inputs: [{ text: prompt }],
        maxPrice,
      },
      { signal: options.signal },
    )) {
      if (event.type === 'chunk' && event.text !== undefined) text += event.text
      if (event.type === 'receipt' && event.receipt.status !== 'ok') {
        throw new PrsmError(
          'SAFETY_CHECK_FAILED',
          `the ${capability} job failed: ${event.receipt.error?.code ?? 'failed'}`,
        )
      }
    }
    return text
  }
}
