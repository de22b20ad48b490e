import { PrsmError, parseFtns } from '@prsm/core'
import { z } from 'zod'
import type { EvidenceRecord, EvidenceStore } from '../../jobs/evidence.ts'
import type { JobService } from '../../jobs/job-service.ts'
import type { JobReceipt } from '../../jobs/messages.ts'
import type { ReputationStore } from '../../jobs/reputation.ts'
import { MAX_REDUNDANCY } from '../../jobs/verification.ts'
import type { FoundOffer } from '../../market/offers.ts'
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
    providers: z.array(z.string().max(128)).max(MAX_REDUNDANCY).optional(),
  })
  .strict()

/**
 * GET /api/v1/reputation (every known provider, best first), GET /api/v1/reputation/:peer,
 * GET /api/v1/evidence?provider=&limit= (evidence records, newest first, signed envelope in
 * base64), GET /api/v1/evidence/:id (with the verified content), and POST /api/v1/jobs/verified
 * (one step on `redundancy` providers, majority output accepted; JSON answer).
 */
export function reputationRoutes(components: ReputationRoutesComponents): ApiRoutes {
  const { reputation, evidence, jobs } = components
  return (app) => {
    app.get('/api/v1/reputation', async () => ({ providers: reputation.list() }))
    app.get<{ Params: { peer: string } }>('/api/v1/reputation/:peer', async (req) =>
      reputation.get(req.params.peer),
    )
    app.get('/api/v1/evidence', async (req) => {
      const parsed = EvidenceQuery.safeParse(req.query)
      if (!parsed.success) throw new PrsmError('VALIDATION_FAILED', parsed.error.message.slice(0, 500))
      const { provider, limit } = parsed.data
      const records = evidence.list({
        ...(provider === undefined ? {} : { provider }),
        ...(limit === undefined ? {} : { limit }),
      })
      return { evidence: records.map(evidenceJson) }
    })
    app.get<{ Params: { id: string } }>('/api/v1/evidence/:id', async (req) => {
      const record = evidence.get(req.params.id)
      if (record === undefined) {
        throw new PrsmError('JOB_EVIDENCE_NOT_FOUND', undefined, { details: { id: req.params.id } })
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
    })
    app.post('/api/v1/jobs/verified', async (req) => {
      const parsed = VerifiedBody.safeParse(req.body)
      if (!parsed.success) throw new PrsmError('VALIDATION_FAILED', parsed.error.message.slice(0, 500))
      const body = parsed.data
      const controller = new AbortController()
      req.raw.once('close', () => {
        if (req.raw.destroyed) controller.abort(new PrsmError('JOB_CANCELLED', 'the API client went away'))
      })
      const providers = body.providers ?? (await candidates(components, body.capability, controller.signal))
      const result = await jobs.runVerified(
        {
          step: { capability: body.capability, params: body.params },
          inputs: body.inputs,
          maxPrice: parseFtns(body.maxPrice),
          ...(body.deadlineMs === undefined ? {} : { deadline: Date.now() + body.deadlineMs }),
          ...(body.requestId === undefined ? {} : { requestId: body.requestId }),
        },
        { providers, k: body.redundancy, signal: controller.signal },
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
        dissenters: result.dissenters.map((d) => ({ provider: d.provider, receipt: receiptJson(d.receipt) })),
        evidence: result.evidence,
        failed: result.failed,
      }
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
