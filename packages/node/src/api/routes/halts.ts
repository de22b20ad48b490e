import { PrsmError } from '@prsm/core'
import { z } from 'zod'
import type { HaltService } from '../../safety/halt/halt-service.ts'
import type { HaltCertificate, HaltEvidence, SignedHaltVote } from '../../safety/halt/quorum.ts'
import { route } from '../route.ts'
import type { ApiRoutes } from '../server.ts'

export interface HaltRoutesComponents {
  halts: Pick<
    HaltService,
    | 'status'
    | 'vote'
    | 'receiveVote'
    | 'importCertificate'
    | 'certificate'
    | 'evidence'
    | 'isHalted'
    | 'refreshValidators'
  >
}

/** A signed vote on the wire: the signature in base64. */
export function voteToJson(v: SignedHaltVote): { vote: SignedHaltVote['vote']; signature: string } {
  return { vote: v.vote, signature: Buffer.from(v.signature).toString('base64') }
}

function voteFromJson(v: unknown): SignedHaltVote {
  const o = v as { vote?: unknown; signature?: unknown }
  if (typeof o?.signature !== 'string')
    throw new PrsmError('VALIDATION_FAILED', 'vote.signature must be base64')
  return {
    vote: o.vote as SignedHaltVote['vote'],
    signature: new Uint8Array(Buffer.from(o.signature, 'base64')),
  }
}

export function certificateToJson(c: HaltCertificate): Record<string, unknown> {
  return { ...c, votes: c.votes.map(voteToJson) }
}

export function certificateFromJson(c: unknown): unknown {
  const o = c as { votes?: unknown }
  if (typeof o !== 'object' || o === null || !Array.isArray(o.votes)) return c
  return { ...o, votes: o.votes.map(voteFromJson) }
}

function evidenceToJson(e: HaltEvidence): Record<string, unknown> {
  return { ...e, votes: e.votes.map(voteToJson) }
}

const VoteBody = z
  .object({
    scope: z
      .string()
      .min(1)
      .max(160)
      .describe('network, provider:PEER_ID, model:NAME or capability:KIND:NAME'),
    action: z.enum(['halt', 'resume']),
    reason: z.string().max(256).default(''),
    epoch: z
      .number()
      .int()
      .min(1)
      .optional()
      .describe('Default: one past the newest certificate of the scope'),
  })
  .strict()

const Json = z.looseObject({})

/** Paths where a request for a halted capability or provider is answered with HALTED. */
const JOB_PATHS = new Set([
  '/api/v1/jobs',
  '/api/v1/jobs/verified',
  '/api/v1/queries',
  '/api/v1/workflows',
  '/v1/chat/completions',
])

/**
 * GET /api/v1/safety/halts (status), POST /api/v1/safety/halts/votes (this node's vote),
 * POST /api/v1/safety/halts/votes/import (a vote signed elsewhere), POST
 * /api/v1/safety/halts/certificates (verify and enforce a certificate), GET
 * /api/v1/safety/halts/certificate?scope=, GET /api/v1/safety/halts/evidence. Requests to run work
 * on a halted network, provider or model are answered with HALTED before they reach their route.
 */
export function haltRoutes(components: HaltRoutesComponents): ApiRoutes {
  const { halts } = components
  return (app) => {
    app.addHook('preHandler', async (req) => {
      if (req.method !== 'POST' || !JOB_PATHS.has(req.url.split('?')[0] ?? '')) return
      const body = (typeof req.body === 'object' && req.body !== null ? req.body : {}) as Record<
        string,
        unknown
      >
      const capability =
        typeof body.capability === 'string'
          ? body.capability
          : typeof body.model === 'string'
            ? `model:${body.model}`
            : undefined
      const providers = [
        ...(typeof body.provider === 'string' ? [body.provider] : []),
        ...(Array.isArray(body.providers)
          ? body.providers.filter((p): p is string => typeof p === 'string')
          : []),
      ]
      const targets = providers.length === 0 ? [undefined] : providers
      const cert = targets
        .map((provider) =>
          halts.isHalted({
            ...(provider === undefined ? {} : { provider }),
            ...(capability === undefined ? {} : { capability }),
          }),
        )
        .find((c) => c !== undefined)
      if (cert !== undefined) {
        throw new PrsmError(
          'HALTED',
          `${cert.scope} is halted by a validator certificate (epoch ${cert.epoch})`,
          {
            details: { scope: cert.scope, epoch: cert.epoch },
          },
        )
      }
    })
    route(app, {
      method: 'GET',
      url: '/api/v1/safety/halts',
      summary: 'Validator set, quorum, halted scopes, newest certificates, pending votes and evidence',
      tags: ['safety'],
      permission: 'safety:read',
      responses: { 200: Json },
      handler: async ({ signal }) => {
        // A fresh read of the validator set (a stale one is shown if the chain does not answer).
        await halts.refreshValidators({ signal }).catch(() => undefined)
        const s = halts.status()
        return { ...s, evidence: s.evidence.map(evidenceToJson) }
      },
    })
    route(app, {
      method: 'POST',
      url: '/api/v1/safety/halts/votes',
      summary: "Sign this node's halt or resume vote for a scope and gossip it (validators only)",
      tags: ['safety'],
      permission: 'safety:operate',
      body: VoteBody,
      errors: ['NOT_A_VALIDATOR', 'HALT_VOTE_INVALID', 'CHAIN_NOT_CONFIGURED'],
      responses: { 200: Json },
      handler: async ({ body, signal }) => {
        const r = await halts.vote(
          {
            scope: body.scope,
            action: body.action,
            reason: body.reason,
            ...(body.epoch === undefined ? {} : { epoch: body.epoch }),
          },
          { signal },
        )
        return {
          vote: voteToJson(r.vote),
          ...(r.certificate === undefined ? {} : { certificate: certificateToJson(r.certificate) }),
        }
      },
    })
    route(app, {
      method: 'POST',
      url: '/api/v1/safety/halts/votes/import',
      summary: 'Count a vote signed by another validator (as if it came by gossip)',
      tags: ['safety'],
      permission: 'safety:operate',
      body: z.object({ vote: Json, signature: z.string().max(200) }).strict(),
      errors: ['HALT_VOTE_INVALID'],
      responses: { 200: z.object({ counted: z.boolean() }).strict() },
      handler: async ({ body }) => ({ counted: await halts.receiveVote(voteFromJson(body), 'api') }),
    })
    route(app, {
      method: 'POST',
      url: '/api/v1/safety/halts/certificates',
      summary: 'Verify a halt or resume certificate against the validator set and enforce it',
      tags: ['safety'],
      permission: 'safety:operate',
      body: z.object({ certificate: Json }).strict(),
      errors: ['HALT_CERTIFICATE_INVALID'],
      responses: { 200: z.object({ applied: z.boolean() }).strict() },
      handler: async ({ body }) => ({
        applied: await halts.importCertificate(certificateFromJson(body.certificate), 'api'),
      }),
    })
    route(app, {
      method: 'GET',
      url: '/api/v1/safety/halts/certificate',
      summary: 'The newest certificate of a scope, with every signed vote',
      tags: ['safety'],
      permission: 'safety:read',
      query: z.object({ scope: z.string().min(1).max(160) }).strict(),
      errors: ['NOT_FOUND'],
      responses: { 200: Json },
      handler: ({ query }) => {
        const c = halts.certificate(query.scope)
        if (c === undefined) throw new PrsmError('NOT_FOUND', `no certificate for ${query.scope}`)
        return certificateToJson(c)
      },
    })
    route(app, {
      method: 'GET',
      url: '/api/v1/safety/halts/evidence',
      summary: 'Equivocation evidence: pairs of conflicting votes by one validator in one epoch',
      tags: ['safety'],
      permission: 'safety:read',
      responses: { 200: z.object({ evidence: z.array(Json) }).strict() },
      handler: () => ({ evidence: halts.evidence().map(evidenceToJson) }),
    })
  }
}
