import { type Offer, PrsmError } from '@prsm/core'
import type { ContentStorage } from '../storage/storage.ts'
import type { ResolvedInput } from './backend.ts'
import { concat } from './job-accounting.ts'
import type { JobRequest } from './messages.ts'

/** Default cap on the bytes of all inputs of one job when the offer sets none. */
export const DEFAULT_MAX_INPUT_BYTES = 64 * 1024 * 1024

/**
 * The inputs of a request as a backend sees them: inline ones as they are, CIDs fetched through
 * content storage; all together at most the offer's `limits.maxInputBytes` (JOB_INPUT_INVALID).
 */
export async function resolveInputs(
  storage: Pick<ContentStorage, 'cat'> | undefined,
  request: JobRequest,
  offer: Offer,
  signal: AbortSignal,
): Promise<ResolvedInput[]> {
  const cap = offer.limits.maxInputBytes ?? DEFAULT_MAX_INPUT_BYTES
  let total = 0
  const count = (n: number): void => {
    total += n
    if (total > cap)
      throw new PrsmError('JOB_INPUT_INVALID', `inputs exceed ${cap} bytes`, { details: { cap } })
  }
  const out: ResolvedInput[] = []
  for (const input of request.inputs) {
    if ('text' in input) {
      count(Buffer.byteLength(input.text))
      out.push({ text: input.text })
    } else if ('bytes' in input) {
      count(input.bytes.byteLength)
      out.push({ bytes: input.bytes })
    } else {
      if (storage === undefined) throw new PrsmError('JOB_INPUT_INVALID', 'this node cannot fetch CID inputs')
      const parts: Uint8Array[] = []
      try {
        for await (const chunk of storage.cat(input.cid, { signal })) {
          count(chunk.byteLength)
          parts.push(chunk)
        }
      } catch (err) {
        if (err instanceof PrsmError && err.code === 'JOB_INPUT_INVALID') throw err
        throw new PrsmError('JOB_INPUT_INVALID', `input ${input.cid}: ${(err as Error).message}`, {
          cause: err,
          details: { cid: input.cid },
        })
      }
      out.push({ bytes: concat(parts), cid: input.cid })
    }
  }
  return out
}
