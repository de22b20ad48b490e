import { peerIdFromString } from '@libp2p/peer-id'
import { PrsmError, parseFtns } from '@prsm/core'
import { z } from 'zod'
import type { EvidenceRecord, EvidenceStore } from '../../jobs/evidence.ts'
import type { JobService } from '../../jobs/job-service.ts'
import type { JobReceipt } from '../../jobs/messages.ts'
import type { ReputationStore } from '../../jobs/reputation.ts'
import { MAX_REDUNDANCY } from '../../jobs/verification.ts'
import type { FoundOffer } from '../../market/offers.ts'
import { route } from '../route.ts'
import type { ApiRoutes } from '../server.ts'
import { RunBody } from './jobs.ts'

/** What the reputation, evidence and verified-job routes need from the node. */
export interface ReputationRoutesComponents {
  jobs: Pick<JobService, 'runVerified' | 'verifyEvidence'>
  reputation: Pick<ReputationStore, 'get' | 'list' | 'rank'>
  evidence: Pick<EvidenceStore, 'get' | 'list'>
  peerId: string
  findOffers: (capability: string, options: { signal?: AbortSignal }) => Promise<FoundOffer[]>
}

const EvidenceQuery = z
  .object({
    provider: z.string().max(128).optional(),
    limit: z.coerce.number().int().min(1).max(1000).optional(),
  })
  .strict()

const VerifiedBody = RunBody.omit({ provider: true })
  .extend({
    /** How many providers run the step (max price is per provider). */
    redundancy: z.number().int().min(1).max(MAX_REDUNDANCY),
    /** Providers to use (default: other nodes offering the capability, best reputation first). */
    providers: z
      .array(
        z
          .string()
          .max(128)
          .refine((p) => {
            try {
              peerIdFromString(p)
              return true
            } catch {
              return false
            }
          }, 'must be a PeerId'),
      )
      .max(MAX_REDUNDANCY)
      .optional(),
  })
  .strict()

const Reputation = z.looseObject({
  peer: z.string(),
  jobs: z.number(),
  successRate: z.number(),
  latencyEwmaMs: z.number().nullable(),
  disagreements: z.number(),
  safetyViolations: z.number(),
  score: z.number(),
})
const Evidence = z.looseObject({
  id: z.string(),
  provider: z.string(),
  majorityProvider: z.string(),
  stepHash: z.string(),
  capability: z.string(),
  createdAt: z.number(),
  envelope: z.string().describe('the signed job-evidence envelope, base64 dag-cbor'),
})
const Receipt = z.looseObject({ requestId: z.string(), status: z.string(), outputHash: z.string() })

/**
 * GET /api/v1/reputation (every known provider, best first), GET /api/v1/reputation/:peer,
 * GET /api/v1/evidence?provider=&limit= (evidence records, newest first, signed envelope in
 * base64), GET /api/v1/evidence/:id (with the verified content), and POST /api/v1/jobs/verified
 * (one step on `redundancy` providers, majority output accepted; JSON answer).
 */
export function reputationRoutes(components: ReputationRoutesComponents): ApiRoutes {
  const { reputation, evidence, jobs } = components
  return (app) => {
    route(app, {
      method: 'GET',
      url: '/api/v1/reputation',
      summary: 'Reputation of every provider this node has used, best score first',
      tags: ['jobs'],
      permission: 'jobs:read',
      responses: { 200: z.object({ providers: z.array(Reputation) }).strict() },
      handler: () => ({ providers: reputation.list() }),
    })
    route(app, {
      method: 'GET',
      url: '/api/v1/reputation/:peer',
      summary: "One provider's reputation (a fresh record when unknown)",
      tags: ['jobs'],
      permission: 'jobs:read',
      params: z.object({ peer: z.string().min(1).max(128) }).strict(),
      responses: { 200: Reputation },
      handler: ({ params }) => reputation.get(params.peer),
    })
    route(app, {
      method: 'GET',
      url: '/api/v1/evidence',
      summary: 'Signed evidence records of providers that disagreed with a verified majority',
      tags: ['jobs'],
      permission: 'jobs:read',
      query: EvidenceQuery,
      responses: { 200: z.object({ evidence: z.array(Evidence) }).strict() },
      handler: ({ query }) => {
        const records = evidence.list({
          ...(query.provider === undefined ? {} : { provider: query.provider }),
          ...(query.limit === undefined ? {} : { limit: query.limit }),
        })
        return { evidence: records.map(evidenceJson) }
      },
    })
    route(app, {
      method: 'GET',
      url: '/api/v1/evidence/:id',
      summary: 'One evidence record, verified, with both receipts',
      tags: ['jobs'],
      permission: 'jobs:read',
      params: z.object({ id: z.string().regex(/^[0-9a-f]{64}$/) }).strict(),
      responses: {
        200: Evidence.extend({
          recorder: z.string(),
          agreeing: z.array(z.string()),
          k: z.number(),
          majorityReceipt: Receipt,
          dissenterReceipt: Receipt,
        }),
      },
      errors: ['JOB_EVIDENCE_NOT_FOUND', 'JOB_EVIDENCE_INVALID'],
      handler: async ({ params }) => {
        const record = evidence.get(params.id)
        if (record === undefined) {
          throw new PrsmError('JOB_EVIDENCE_NOT_FOUND', undefined, { details: { id: params.id } })
        }
        const verified = await jobs.verifyEvidence(record.envelope)
        return {
          ...evidenceJson(record),
          recorder: verified.recorder,
          agreeing: verified.evidence.agreeing,
          k: verified.evidence.k,
          majorityReceipt: receiptJson(verified.majority),
          dissenterReceipt: receiptJson(verified.dissenter),
        }
      },
    })
    route(app, {
      method: 'POST',
      url: '/api/v1/jobs/verified',
      summary: 'Run one step on k providers and accept the output of a strict majority',
      tags: ['jobs'],
      permission: 'jobs:run',
      body: VerifiedBody,
      responses: {
        200: z.looseObject({
          provider: z.string(),
          outputHash: z.string(),
          text: z.string().optional(),
          bytes: z.string().optional(),
          receipt: Receipt,
          agreeing: z.array(z.string()),
          dissenters: z.array(z.object({ provider: z.string(), receipt: Receipt }).strict()),
          evidence: z.array(z.string()),
          failed: z.array(z.looseObject({ provider: z.string() })),
        }),
      },
      errors: ['JOB_NO_MAJORITY', 'JOB_NO_OFFER', 'CHAIN_NOT_CONFIGURED', 'PEER_UNREACHABLE'],
      // every provider may charge up to the max price
      cost: ({ body }) => parseFtns(body.maxPrice) * BigInt(body.redundancy),
      handler: async ({ body, signal }) => {
        const providers = body.providers ?? (await candidates(components, body.capability, signal))
        const result = await jobs.runVerified(
          {
            step: { capability: body.capability, params: body.params },
            inputs: body.inputs,
            maxPrice: parseFtns(body.maxPrice),
            ...(body.deadlineMs === undefined ? {} : { deadline: Date.now() + body.deadlineMs }),
            ...(body.requestId === undefined ? {} : { requestId: body.requestId }),
          },
          { providers, k: body.redundancy, signal },
        )
        const text = result.receipt.output.bytes === undefined && result.receipt.output.cid === undefined
        return {
          provider: result.provider,
          outputHash: result.outputHash,
          ...(text
            ? { text: Buffer.from(result.output).toString() }
            : { bytes: Buffer.from(result.output).toString('base64') }),
          receipt: receiptJson(result.receipt),
          agreeing: result.agreeing,
          dissenters: result.dissenters.map((d) => ({
            provider: d.provider,
            receipt: receiptJson(d.receipt),
          })),
          evidence: result.evidence,
          failed: result.failed,
        }
      },
    })
  }
}

/** Other nodes offering `capability` (current offers, one per provider), best reputation first. */
async function candidates(
  c: ReputationRoutesComponents,
  capability: string,
  signal: AbortSignal,
): Promise<string[]> {
  const offers = (await c.findOffers(capability, { signal })).filter(
    (o) => o.provider !== c.peerId && o.offer.expiry > Date.now(),
  )
  offers.sort((a, b) => (BigInt(a.offer.price) < BigInt(b.offer.price) ? -1 : 1))
  return c.reputation.rank([...new Set(offers.map((o) => o.provider))])
}

function evidenceJson(r: EvidenceRecord) {
  return {
    id: r.id,
    provider: r.provider,
    majorityProvider: r.majorityProvider,
    stepHash: r.stepHash,
    capability: r.capability,
    createdAt: r.createdAt,
    envelope: Buffer.from(r.envelope).toString('base64'),
  }
}

function receiptJson(receipt: JobReceipt) {
  const { output, ...rest } = receipt
  return {
    ...rest,
    output:
      output.bytes === undefined
        ? output
        : { ...output, bytes: Buffer.from(output.bytes).toString('base64') },
  }
}
