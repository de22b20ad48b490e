import { z } from 'zod'
import type { Orchestrator } from '../../orchestrator/orchestrator.ts'
import { traceToJson } from '../../orchestrator/trace-json.ts'
import { CidParams, route } from '../route.ts'
import type { ApiRoutes } from '../server.ts'

export interface TraceRoutesComponents {
  orchestrator: Pick<Orchestrator, 'trace' | 'verifyTrace'>
}

const VerdictJson = z
  .object({
    ok: z.boolean(),
    root: z.string(),
    signer: z.string(),
    query: z.string(),
    steps: z.array(
      z.object({
        step: z.string(),
        cid: z.string(),
        provider: z.string(),
        reexecuted: z.enum(['match', 'mismatch', 'skipped']),
        problems: z.array(z.string()),
      }),
    ),
    problems: z.array(z.string()),
  })
  .meta({ id: 'TraceVerdict' })

/** Reasoning traces: read one (root and steps, fetched from the network if needed) and verify it. */
export function traceRoutes(components: TraceRoutesComponents): ApiRoutes {
  const { orchestrator } = components
  return (app) => {
    route(app, {
      method: 'GET',
      url: '/api/v1/traces/:cid',
      summary: 'A reasoning trace: its signed root and steps (CIDs as strings, bytes as base64)',
      tags: ['traces'],
      permission: 'jobs:read',
      params: CidParams,
      responses: {
        200: z.object({
          root: z.unknown(),
          steps: z.array(z.object({ cid: z.string(), record: z.unknown() })),
        }),
      },
      errors: ['TRACE_INVALID', 'CONTENT_NOT_FOUND'],
      handler: async ({ params, signal }) => {
        // blocks missing here are fetched from the network, for at most 30 s
        const { root, steps } = await orchestrator.trace(params.cid, {
          signal: AbortSignal.any([signal, AbortSignal.timeout(30_000)]),
        })
        return {
          root: traceToJson(root),
          steps: steps.map((s) => ({ cid: s.cid, record: traceToJson(s.record) })),
        }
      },
    })
    route(app, {
      method: 'GET',
      url: '/api/v1/traces/:cid/verify',
      summary: 'Verify a trace: signatures, hashes, links; deterministic steps re-executed here',
      tags: ['traces'],
      permission: 'jobs:read',
      params: CidParams,
      query: z.object({ reexecute: z.enum(['true', 'false']).optional() }).strict(),
      responses: { 200: VerdictJson },
      errors: ['TRACE_INVALID', 'CONTENT_NOT_FOUND'],
      handler: async ({ params, query, signal }) =>
        orchestrator.verifyTrace(params.cid, {
          signal: AbortSignal.any([signal, AbortSignal.timeout(300_000)]),
          reexecute: query.reexecute !== 'false',
        }),
    })
  }
}
