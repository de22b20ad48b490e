import { Readable } from 'node:stream'
import { CapabilitySchema, PrsmError, parseFtns } from '@prsm/core'
import { z } from 'zod'
import type { JobEvent } from '../../jobs/job-client.ts'
import type { JobService } from '../../jobs/job-service.ts'
import type { FoundOffer } from '../../market/offers.ts'
import { route } from '../route.ts'
import type { ApiRoutes } from '../server.ts'

/** What the job routes need from the node. */
export interface JobRoutesComponents {
  jobs: Pick<JobService, 'run'>
  peerId: string
  findOffers: (capability: string, options: { signal?: AbortSignal }) => Promise<FoundOffer[]>
}

/** The body of POST /api/v1/jobs (also the base of POST /api/v1/jobs/verified). */
export const RunBody = z
  .object({
    capability: CapabilitySchema,
    /** The provider's PeerId (default: the cheapest other node offering the capability). */
    provider: z.string().max(128).optional(),
    inputs: z
      .array(
        z.union([z.object({ text: z.string() }).strict(), z.object({ cid: z.string().max(128) }).strict()]),
      )
      .max(64)
      .default([]),
    params: z.record(z.string().max(64), z.json()).default({}),
    /** Decimal FTNS; 0 for free offers. */
    maxPrice: z
      .string()
      .regex(/^\d+(\.\d{1,18})?$/)
      .default('0'),
    deadlineMs: z.number().int().min(100).max(3_600_000).optional(),
    requestId: z.string().max(64).optional(),
  })
  .strict()

/**
 * POST /api/v1/jobs: runs one job on a provider and streams its events as NDJSON lines
 * (`{type:"accepted"}`, `{type:"chunk",text|bytes(base64)}`, then `{type:"receipt",receipt}`;
 * a failure after the stream started ends with `{type:"error",error:{code,message}}`). A refusal
 * before anything was streamed is an ordinary error answer with its code.
 */
export function jobRoutes(components: JobRoutesComponents): ApiRoutes {
  return (app) => {
    route(app, {
      method: 'POST',
      url: '/api/v1/jobs',
      summary: 'Run one job on a provider and stream its events (NDJSON)',
      tags: ['jobs'],
      permission: 'jobs:run',
      body: RunBody,
      responses: {
        200: {
          contentType: 'application/x-ndjson',
          description: 'provider, accepted, chunk… then receipt (or error) events, one JSON object a line',
        },
      },
      errors: [
        'JOB_NO_OFFER',
        'JOB_NO_BACKEND',
        'JOB_PRICE_TOO_LOW',
        'JOB_REFUSED',
        'JOB_BUSY',
        'JOB_DEADLINE_EXCEEDED',
        'JOB_DUPLICATE',
        'JOB_INPUT_INVALID',
        'JOB_BACKEND_FAILED',
        'CHAIN_NOT_CONFIGURED',
        'PEER_UNREACHABLE',
      ],
      // the most the job may cost is reserved against the key's daily budget
      cost: ({ body }) => parseFtns(body.maxPrice),
      handler: async ({ body, reply, settle }) => {
        const controller = new AbortController()
        reply.raw.once('close', () => {
          if (!reply.raw.writableFinished)
            controller.abort(new PrsmError('JOB_CANCELLED', 'the API client went away'))
        })
        const provider = body.provider ?? (await pickProvider(components, body.capability, controller.signal))
        const events = components.jobs.run(
          provider,
          {
            step: { capability: body.capability, params: body.params },
            inputs: body.inputs,
            maxPrice: parseFtns(body.maxPrice),
            ...(body.deadlineMs === undefined ? {} : { deadline: Date.now() + body.deadlineMs }),
            ...(body.requestId === undefined ? {} : { requestId: body.requestId }),
          },
          { signal: controller.signal },
        )
        // The first event decides between an error answer and a stream.
        const first = await events.next()
        // the receipt says what the job cost: the rest of maxPrice goes back to the key's budget
        const seen = (e: JobEvent): string => {
          if (e.type === 'receipt') settle(BigInt(e.receipt.charged))
          return line(e)
        }
        async function* lines(): AsyncGenerator<string> {
          yield line({ type: 'provider', provider })
          if (!first.done) yield seen(first.value)
          try {
            for await (const e of events) yield seen(e)
          } catch (err) {
            const e = err instanceof PrsmError ? err : new PrsmError('INTERNAL', (err as Error).message)
            yield `${JSON.stringify({ type: 'error', error: { code: e.code, message: e.message } })}\n`
          }
        }
        reply.header('content-type', 'application/x-ndjson')
        return reply.send(Readable.from(lines()))
      },
    })
  }
}

function line(e: JobEvent | { type: 'provider'; provider: string }): string {
  if (e.type === 'chunk' && e.bytes !== undefined) {
    return `${JSON.stringify({ type: 'chunk', seq: e.seq, bytes: Buffer.from(e.bytes).toString('base64') })}\n`
  }
  if (e.type === 'receipt') {
    const { output, ...rest } = e.receipt
    const inline =
      output.bytes === undefined ? output : { ...output, bytes: Buffer.from(output.bytes).toString('base64') }
    return `${JSON.stringify({ type: 'receipt', receipt: { ...rest, output: inline } })}\n`
  }
  return `${JSON.stringify(e)}\n`
}

/** The cheapest current offer of `capability` from another node (JOB_NO_OFFER when there is none). */
export async function bestOffer(
  c: Pick<JobRoutesComponents, 'findOffers' | 'peerId'>,
  capability: string,
  signal: AbortSignal,
): Promise<FoundOffer> {
  const offers = (await c.findOffers(capability, { signal })).filter(
    (o) => o.provider !== c.peerId && o.offer.expiry > Date.now(),
  )
  offers.sort((a, b) => (BigInt(a.offer.price) < BigInt(b.offer.price) ? -1 : 1))
  const best = offers[0]
  if (best === undefined) {
    throw new PrsmError('JOB_NO_OFFER', `no other node offers ${capability}`, { details: { capability } })
  }
  return best
}

async function pickProvider(
  c: JobRoutesComponents,
  capability: string,
  signal: AbortSignal,
): Promise<string> {
  return (await bestOffer(c, capability, signal)).provider
}
