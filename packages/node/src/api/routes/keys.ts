import { formatFtns, parseFtns } from '@prsm/core'
import { z } from 'zod'
import type { ApiAuth } from '../auth/api-auth.ts'
import type { ApiKeyRecord } from '../auth/key-store.ts'
import { ROLES } from '../auth/permissions.ts'
import type { Principal } from '../auth/principal.ts'
import { route } from '../route.ts'
import type { ApiRoutes } from '../server.ts'

/** What the key routes need: the node's API auth service. */
export interface KeyRoutesComponents {
  auth: Pick<ApiAuth, 'createKey' | 'listKeys' | 'revokeKey' | 'issueToken'>
}

/** A decimal FTNS amount on the API (e.g. "2.5"). */
export const FtnsAmount = z
  .string()
  .regex(/^\d{1,30}(\.\d{1,18})?$/, 'must be a decimal FTNS amount, e.g. 2.5')
  .describe('Decimal FTNS')

/** An amount in both forms: wei (exact) and decimal FTNS. */
export const FtnsJson = z.object({ wei: z.string(), ftns: z.string() }).strict()

export const ftnsJson = (wei: bigint | null): { wei: string; ftns: string } | null =>
  wei === null ? null : { wei: wei.toString(), ftns: formatFtns(wei) }

const CreateKeyBody = z
  .object({
    name: z.string().min(1).max(100),
    role: z.enum(ROLES),
    org: z
      .string()
      .min(1)
      .max(100)
      .optional()
      .describe('Organisation id or name (default: the caller’s, else "default")'),
    member: z.string().min(1).max(200).optional().describe('The organisation member the key acts for'),
    rateLimitPerMinute: z.number().int().min(1).max(1_000_000).optional(),
    dailyBudget: FtnsAmount.optional().describe('FTNS the key may spend per UTC day'),
    expiresInSeconds: z
      .number()
      .int()
      .min(60)
      .max(10 * 365 * 86_400)
      .optional(),
  })
  .strict()

export const KeyJson = z
  .object({
    id: z.string(),
    name: z.string(),
    org: z.string(),
    member: z.string().nullable(),
    role: z.enum(ROLES),
    rateLimitPerMinute: z.number().nullable(),
    dailyBudget: FtnsJson.nullable(),
    createdAt: z.string(),
    createdBy: z.string(),
    expiresAt: z.string().nullable(),
    revokedAt: z.string().nullable(),
  })
  .strict()

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString())

export function keyJson(r: ApiKeyRecord): z.output<typeof KeyJson> {
  return {
    id: r.id,
    name: r.name,
    org: r.org,
    member: r.member,
    role: r.role,
    rateLimitPerMinute: r.rateLimitPerMinute,
    dailyBudget: ftnsJson(r.dailyBudgetWei),
    createdAt: new Date(r.createdAt).toISOString(),
    createdBy: r.createdBy,
    expiresAt: iso(r.expiresAt),
    revokedAt: iso(r.revokedAt),
  }
}

const PrincipalJson = z
  .object({
    keyId: z.string(),
    role: z.enum(ROLES),
    org: z.string().nullable(),
    via: z.enum(['token-file', 'api-key', 'jwt']),
    rateLimitPerMinute: z.number().nullable(),
    dailyBudget: FtnsJson.nullable(),
  })
  .strict()

function principalJson(p: Principal): z.output<typeof PrincipalJson> {
  const { dailyBudgetWei, ...rest } = p
  return { ...rest, dailyBudget: ftnsJson(dailyBudgetWei) }
}

/**
 * POST/GET /api/v1/keys, DELETE /api/v1/keys/:id (admins; an organisation's admin within it),
 * POST /api/v1/auth/token (a short-lived JWT for the calling key), GET /api/v1/auth/whoami.
 */
export function keyRoutes(components: KeyRoutesComponents): ApiRoutes {
  const { auth } = components
  return (app) => {
    route(app, {
      method: 'POST',
      url: '/api/v1/keys',
      summary: 'Create an API key (the secret is shown in this answer only)',
      tags: ['auth'],
      permission: 'keys:manage',
      body: CreateKeyBody,
      responses: { 201: KeyJson.extend({ key: z.string().describe('The secret; store it now') }).strict() },
      errors: ['NOT_FOUND'],
      handler: ({ body, principal, reply }) => {
        const { key, record } = auth.createKey(principal, {
          name: body.name,
          role: body.role,
          ...(body.org === undefined ? {} : { org: body.org }),
          ...(body.member === undefined ? {} : { member: body.member }),
          ...(body.rateLimitPerMinute === undefined ? {} : { rateLimitPerMinute: body.rateLimitPerMinute }),
          ...(body.dailyBudget === undefined ? {} : { dailyBudgetWei: parseFtns(body.dailyBudget) }),
          ...(body.expiresInSeconds === undefined
            ? {}
            : { expiresAt: Date.now() + body.expiresInSeconds * 1000 }),
        })
        void reply.code(201)
        return { ...keyJson(record), key }
      },
    })
    route(app, {
      method: 'GET',
      url: '/api/v1/keys',
      summary: 'List API keys (never their secrets)',
      tags: ['auth'],
      permission: 'keys:manage',
      query: z.object({ org: z.string().min(1).max(100).optional() }).strict(),
      responses: { 200: z.object({ keys: z.array(KeyJson) }).strict() },
      errors: ['NOT_FOUND'],
      handler: ({ query, principal }) => ({ keys: auth.listKeys(principal, query.org).map(keyJson) }),
    })
    route(app, {
      method: 'DELETE',
      url: '/api/v1/keys/:id',
      summary: 'Revoke an API key (its JWTs stop working too)',
      tags: ['auth'],
      permission: 'keys:manage',
      params: z.object({ id: z.string().regex(/^[0-9a-f]{12}$/, 'must be a key id') }).strict(),
      responses: { 200: KeyJson },
      errors: ['NOT_FOUND'],
      handler: ({ params, principal }) => keyJson(auth.revokeKey(principal, params.id)),
    })
    route(app, {
      method: 'POST',
      url: '/api/v1/auth/token',
      summary: 'Exchange the calling credential for a short-lived JWT (EdDSA)',
      tags: ['auth'],
      permission: 'auth:self',
      body: z.object({ ttlSeconds: z.number().int().min(30).max(86_400).optional() }).strict(),
      responses: {
        200: z.object({ token: z.string(), tokenType: z.literal('Bearer'), expiresAt: z.string() }).strict(),
      },
      handler: async ({ body, principal }) => {
        const { token, expiresAt } = await auth.issueToken(principal, body.ttlSeconds)
        return { token, tokenType: 'Bearer' as const, expiresAt: new Date(expiresAt).toISOString() }
      },
    })
    route(app, {
      method: 'GET',
      url: '/api/v1/auth/whoami',
      summary: 'The calling key, its role, organisation and limits',
      tags: ['auth'],
      permission: 'auth:self',
      responses: { 200: PrincipalJson },
      handler: ({ principal }) => principalJson(principal),
    })
  }
}
