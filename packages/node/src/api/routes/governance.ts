import { z } from 'zod'
import type { GovernanceService } from '../../governance/governance-service.ts'
import type { LineageService } from '../../safety/lineage.ts'
import { route } from '../route.ts'
import type { ApiRoutes } from '../server.ts'

export interface GovernanceRoutesComponents {
  governance: Pick<GovernanceService, 'list' | 'show' | 'propose' | 'vote' | 'execute'>
  lineage: Pick<LineageService, 'check'>
}

const Id = z
  .object({
    id: z
      .string()
      .regex(/^\d{1,80}$/)
      .describe('Proposal id (decimal)'),
  })
  .strict()
const Json = z.looseObject({})

/**
 * GET /api/v1/governance/proposals[/:id], POST /api/v1/governance/proposals (parameter changes
 * and lineage approvals), POST …/:id/votes, POST …/:id/execute (queue, then execute), and
 * GET /api/v1/lineage/:cid (a model version's lineage verdict).
 */
export function governanceRoutes(components: GovernanceRoutesComponents): ApiRoutes {
  const { governance } = components
  return (app) => {
    route(app, {
      method: 'GET',
      url: '/api/v1/governance/proposals',
      summary: 'Proposals to the Governor, newest first, with state, tallies and decoded parameter changes',
      tags: ['governance'],
      permission: 'governance:read',
      errors: ['CHAIN_NOT_CONFIGURED', 'CHAIN_UNAVAILABLE'],
      responses: { 200: z.object({ proposals: z.array(Json) }).strict() },
      handler: async ({ signal }) => ({ proposals: await governance.list({ signal }) }),
    })
    route(app, {
      method: 'GET',
      url: '/api/v1/governance/proposals/:id',
      summary: 'One proposal',
      tags: ['governance'],
      permission: 'governance:read',
      params: Id,
      errors: ['PROPOSAL_INVALID', 'CHAIN_NOT_CONFIGURED'],
      responses: { 200: Json },
      handler: ({ params }) => governance.show(params.id),
    })
    route(app, {
      method: 'POST',
      url: '/api/v1/governance/proposals',
      summary: "Propose parameter changes and/or lineage approvals with this node's wallet",
      tags: ['governance'],
      permission: 'governance:vote',
      body: z
        .object({
          parameters: z
            .record(z.string().max(64), z.string().regex(/^\d{1,78}$/))
            .default({})
            .describe('Parameter name → new integer value'),
          approveManifests: z
            .array(z.string().min(1).max(128))
            .max(32)
            .default([])
            .describe('Manifest CIDs of model versions to approve'),
          slash: z
            .object({
              evidence: z.string().regex(/^[0-9a-f]{64}$/),
              amount: z.string().regex(/^\d{1,78}$/),
            })
            .strict()
            .optional()
            .describe("Slash a validator's stake (wei) citing halt equivocation evidence"),
          description: z.string().min(1).max(4096),
        })
        .strict(),
      errors: ['PROPOSAL_INVALID', 'CHAIN_NOT_CONFIGURED', 'CHAIN_TX_REVERTED'],
      responses: { 200: z.object({ id: z.string() }).strict() },
      handler: ({ body }) =>
        governance.propose({
          parameters: body.parameters,
          approveManifests: body.approveManifests,
          description: body.description,
          ...(body.slash === undefined ? {} : { slash: body.slash }),
        }),
    })
    route(app, {
      method: 'POST',
      url: '/api/v1/governance/proposals/:id/votes',
      summary: "Vote for, against or abstain with this node's delegated FTNS votes",
      tags: ['governance'],
      permission: 'governance:vote',
      params: Id,
      body: z.object({ support: z.enum(['for', 'against', 'abstain']) }).strict(),
      errors: ['PROPOSAL_INVALID', 'CHAIN_NOT_CONFIGURED', 'CHAIN_TX_REVERTED'],
      responses: { 200: Json },
      handler: ({ params, body }) => governance.vote(params.id, body.support),
    })
    route(app, {
      method: 'POST',
      url: '/api/v1/governance/proposals/:id/execute',
      summary: 'Queue a succeeded proposal in the timelock, or execute a queued one',
      tags: ['governance'],
      permission: 'governance:vote',
      params: Id,
      errors: ['PROPOSAL_INVALID', 'CHAIN_NOT_CONFIGURED', 'CHAIN_TX_REVERTED'],
      responses: { 200: Json },
      handler: ({ params }) => governance.execute(params.id),
    })
    route(app, {
      method: 'GET',
      url: '/api/v1/lineage/:cid',
      summary: "A model version's lineage verdict: capability jumps over its parents, caps, approval",
      tags: ['safety'],
      permission: 'safety:read',
      params: z.object({ cid: z.string().min(1).max(128) }).strict(),
      errors: ['MANIFEST_NOT_FOUND', 'LINEAGE_EVALUATION_MISSING'],
      responses: { 200: Json },
      handler: async ({ params, signal }) => {
        const v = await components.lineage.check(params.cid, { signal })
        return { ...v, jumps: v.jumps.map((j) => ({ ...j, jumpBps: String(j.jumpBps) })) }
      },
    })
  }
}
