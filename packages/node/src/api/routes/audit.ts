import { z } from 'zod'
import { AUDIT_CATEGORIES, type AuditQuery } from '../../audit/audit-log.ts'
import type { NodeAudit } from '../../audit/node-audit.ts'
import { route } from '../route.ts'
import type { ApiRoutes } from '../server.ts'

export interface AuditRoutesComponents {
  audit: Pick<NodeAudit, 'query' | 'verify' | 'head' | 'checkpoints'>
  peerId: string
}

/** A time given as milliseconds since the epoch or an ISO 8601 date. */
const Time = z
  .string()
  .max(64)
  .transform((s, ctx) => {
    const n = /^\d+$/.test(s) ? Number(s) : Date.parse(s)
    if (!Number.isFinite(n)) {
      ctx.addIssue({ code: 'custom', message: 'must be milliseconds since the epoch or an ISO date' })
      return z.NEVER
    }
    return n
  })

const Query = z
  .object({
    since: Time.optional().describe('Entries at or after this time (ms or ISO date)'),
    until: Time.optional().describe('Entries before this time (ms or ISO date)'),
    category: z.enum(AUDIT_CATEGORIES).optional(),
    type: z.string().max(128).optional(),
    minRisk: z.coerce.number().min(0).max(100).optional(),
    afterSeq: z.coerce.number().int().min(0).optional().describe('Entries after this seq (paging)'),
    limit: z.coerce.number().int().min(1).max(100_000).optional(),
  })
  .strict()

function toQuery(q: z.output<typeof Query>): AuditQuery {
  return Object.fromEntries(Object.entries(q).filter(([, v]) => v !== undefined)) as AuditQuery
}

/** GET /api/v1/audit (query), GET /api/v1/audit/export (JSON lines), GET /api/v1/audit/verify. */
export function auditRoutes(components: AuditRoutesComponents): ApiRoutes {
  const { audit } = components
  return (app) => {
    route(app, {
      method: 'GET',
      url: '/api/v1/audit',
      summary: 'Audit entries by time, category, type and risk (oldest first)',
      tags: ['audit'],
      permission: 'audit:read',
      query: Query,
      responses: {
        200: z
          .object({ entries: z.array(z.looseObject({ seq: z.number() })), head: z.looseObject({}) })
          .strict(),
      },
      handler: ({ query }) => ({ entries: audit.query(toQuery(query)), head: audit.head() }),
    })
    route(app, {
      method: 'GET',
      url: '/api/v1/audit/export',
      summary: 'Audit entries as JSON lines (one entry per line)',
      tags: ['audit'],
      permission: 'audit:read',
      query: Query.extend({ format: z.enum(['jsonl']).default('jsonl') }),
      responses: { 200: { contentType: 'application/x-ndjson', description: 'One JSON entry per line' } },
      handler: ({ query, reply }) => {
        const { format: _format, ...rest } = query
        const lines = audit.query({ limit: 100_000, ...toQuery(rest) }).map((e) => `${JSON.stringify(e)}\n`)
        return reply.type('application/x-ndjson').send(lines.join(''))
      },
    })
    route(app, {
      method: 'GET',
      url: '/api/v1/audit/verify',
      summary: 'Re-checks the hash chain and the signed checkpoints; names the first bad entry',
      tags: ['audit'],
      permission: 'audit:read',
      responses: { 200: z.looseObject({ ok: z.boolean() }) },
      handler: () => audit.verify({ signer: components.peerId }),
    })
  }
}
