import { createHash } from 'node:crypto'
import * as dagCbor from '@ipld/dag-cbor'
import { isErrorCode, type Offer, PrsmError, stripUndefined } from '@prsm/core'
import type { Logger } from 'pino'
import type { ContentStorage } from '../storage/storage.ts'
import type { ResolvedInput } from './backend.ts'
import type { JobRequest, JobStep, JobUsage } from './messages.ts'

/** sha256 of what makes a request (not its deadline or voucher): a retry must match it. */
export function hashRequest(request: JobRequest): string {
  const body = dagCbor.encode(
    stripUndefined({ step: request.step, inputs: request.inputs, maxPrice: request.maxPrice }),
  )
  return createHash('sha256').update(body).digest('hex')
}

/** Price × units, where the units of a failed job are only those delivered; capped at `max`. */
export function charge(
  offer: Pick<Offer, 'price' | 'unit'>,
  usage: JobUsage,
  ok: boolean,
  max: bigint,
): bigint {
  const price = BigInt(offer.price)
  let units: bigint
  switch (offer.unit) {
    case 'token':
      units = BigInt(usage.tokensIn + usage.tokensOut)
      break
    case 'ms':
      units = BigInt(usage.computeMs)
      break
    case 'byte':
      units = BigInt(usage.bytesOut)
      break
    default:
      units = ok ? 1n : 0n
  }
  const total = price * units
  return total > max ? max : total
}

export function toPrsmError(err: unknown): PrsmError {
  if (err instanceof PrsmError) return err
  const code = (err as { code?: unknown })?.code
  if (isErrorCode(code)) return new PrsmError(code, (err as Error).message)
  if ((err as Error)?.name === 'AbortError' || (err as Error)?.name === 'TimeoutError') {
    return new PrsmError('JOB_CANCELLED', (err as Error).message)
  }
  return new PrsmError('JOB_BACKEND_FAILED', (err as Error)?.message ?? String(err), { cause: err })
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.byteLength
  }
  return out
}

/**
 * Output tokens of a model step: as reported upstream, else the tokens of the delivered text
 * (counted with the tokenizer as it streamed). A failed model job counts the delivered text: the
 * upstream's final count never arrived and its running count may be stale.
 */
export function deliveredTokens(
  kind: string,
  reported: number | undefined,
  deliveredTextTokens: number,
  failed: boolean,
): number {
  if (kind !== 'model') return reported ?? 0
  return failed ? deliveredTextTokens : (reported ?? deliveredTextTokens)
}

/** The text a model step sends upstream as its prompt: `params.system`, messages, text inputs. */
export function promptText(step: JobStep, inputs: readonly ResolvedInput[]): string {
  const params = step.params as Record<string, unknown>
  const parts: string[] = []
  if (typeof params.system === 'string') parts.push(params.system)
  if (Array.isArray(params.messages)) {
    for (const m of params.messages as Array<{ content?: unknown }>) {
      if (typeof m?.content === 'string') parts.push(m.content)
    }
  }
  for (const i of inputs) if ('text' in i) parts.push(i.text)
  return parts.join('\n')
}

/**
 * Streams an output into content storage (UnixFS, pinned) while it is delivered; `finish`
 * resolves with its CID (undefined if storing failed: the receipt then has only the hash).
 */
export function spillOutput(storage: Pick<ContentStorage, 'add'>, logger: Logger, requestId: string) {
  const queue: Uint8Array[] = []
  let wake: (() => void) | undefined
  let ended = false
  const source = async function* (): AsyncGenerator<Uint8Array> {
    while (true) {
      const next = queue.shift()
      if (next !== undefined) {
        yield next
        continue
      }
      if (ended) return
      await new Promise<void>((resolve) => {
        wake = resolve
      })
      wake = undefined
    }
  }
  const added = storage.add(source()).then((r) => r.cid)
  added.catch(() => undefined)
  return {
    push: (bytes: Uint8Array): void => {
      queue.push(bytes)
      wake?.()
    },
    finish: async (): Promise<string | undefined> => {
      ended = true
      wake?.()
      try {
        return await added
      } catch (err) {
        logger.warn({ err: (err as Error).message, requestId }, 'job output not stored')
        return undefined
      }
    },
  }
}
