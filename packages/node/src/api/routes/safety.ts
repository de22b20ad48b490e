import { z } from 'zod'
import type { SafetyService } from '../../safety/safety-service.ts'
import { route } from '../route.ts'
import type { ApiRoutes } from '../server.ts'

export interface SafetyRoutesComponents {
  safety: Pick<SafetyService, 'status' | 'breakerList' | 'assess'>
}

const Json = z.looseObject({})

const ViolationJson = z
  .object({
    category: z.string(),
    rule: z.string(),
    severity: z.number(),
    span: z.tuple([z.number(), z.number()]).optional(),
  })
  .strict()

const AssessmentJson = z
  .object({
    score: z.number(),
    threatLevel: z.enum(['NONE', 'LOW', 'MEDIUM', 'HIGH', 'CRITICAL', 'EMERGENCY']),
    violations: z.array(ViolationJson),
    categories: z.array(z.string()),
    actions: z.array(
      z.object({ category: z.string(), action: z.enum(['block', 'redact', 'flag']) }).strict(),
    ),
    blocked: z.boolean(),
    redacted: z.string().optional(),
    errors: z.array(z.string()).optional(),
  })
  .strict()

const BreakerJson = z
  .object({
    key: z.string(),
    state: z.enum(['closed', 'open', 'half-open']),
    failureRate: z.number(),
    violationRate: z.number(),
    samples: z.number(),
    openedAt: z.number().optional(),
    remoteOpen: z.number(),
  })
  .strict()

/**
 * GET /api/v1/safety/status (policy, tiers, thresholds, breaker summary), GET
 * /api/v1/safety/breakers (every breaker), POST /api/v1/safety/assess (tiers 1–3 on a text under
 * the node's current policy).
 */
export function safetyRoutes(components: SafetyRoutesComponents): ApiRoutes {
  const { safety } = components
  return (app) => {
    route(app, {
      method: 'GET',
      url: '/api/v1/safety/status',
      summary: 'Safety policy (name, CID, source), tiers, breaker thresholds and a breaker summary',
      tags: ['safety'],
      permission: 'safety:read',
      responses: { 200: Json },
      handler: async () => safety.status() as unknown as Record<string, unknown>,
    })
    route(app, {
      method: 'GET',
      url: '/api/v1/safety/breakers',
      summary: 'Circuit breakers per provider and per model: state, rates, samples, remote reports',
      tags: ['safety'],
      permission: 'safety:read',
      responses: { 200: z.object({ breakers: z.array(BreakerJson) }).strict() },
      handler: async () => ({ breakers: safety.breakerList() }),
    })
    route(app, {
      method: 'POST',
      url: '/api/v1/safety/assess',
      summary: 'Assess a text (tier 1, and tiers 2/3 when configured) under the current policy',
      tags: ['safety'],
      permission: 'safety:read',
      body: z.object({ text: z.string().max(1_000_000) }).strict(),
      responses: { 200: AssessmentJson },
      errors: ['SAFETY_CHECK_FAILED'],
      handler: async ({ body, signal }) => {
        const a = await safety.assess(body.text, { signal })
        return { ...a, violations: a.violations.map((v) => ({ ...v })) }
      },
    })
  }
}
