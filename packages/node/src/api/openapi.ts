import { ERROR_CATALOGUE } from '@prsm/core'
import { z } from 'zod'
import { PERMISSIONS } from './auth/permissions.ts'
import { type AnyRouteSpec, documentedStatuses, ErrorWireSchema, type StreamResponse } from './route.ts'

export interface OpenApiInfo {
  title: string
  version: string
}

type JsonSchema = Record<string, unknown>

function isStream(value: z.ZodType | StreamResponse): value is StreamResponse {
  return typeof (value as StreamResponse).contentType === 'string'
}

/** JSON Schema (2020-12, what OpenAPI 3.1 uses) of a zod schema, as a request or an answer sees it. */
export function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  const out = z.toJSONSchema(schema, {
    target: 'draft-2020-12',
    io,
    unrepresentable: 'any',
    reused: 'inline',
  }) as JsonSchema
  delete out.$schema
  return out
}

/** `/api/v1/content/:cid` → `/api/v1/content/{cid}` */
export function openApiPath(url: string): string {
  return url.replace(/:([A-Za-z0-9_]+)/g, '{$1}')
}

function parameters(spec: AnyRouteSpec): JsonSchema[] {
  const out: JsonSchema[] = []
  const pathNames = [...spec.url.matchAll(/:([A-Za-z0-9_]+)/g)].map((m) => m[1] as string)
  const params = spec.params === undefined ? undefined : jsonSchema(spec.params, 'input')
  const paramProps = (params?.properties ?? {}) as Record<string, JsonSchema>
  for (const name of pathNames) {
    out.push({ name, in: 'path', required: true, schema: paramProps[name] ?? { type: 'string' } })
  }
  if (spec.query !== undefined) {
    const query = jsonSchema(spec.query, 'input')
    const required = new Set((query.required ?? []) as string[])
    for (const [name, schema] of Object.entries((query.properties ?? {}) as Record<string, JsonSchema>)) {
      out.push({ name, in: 'query', required: required.has(name), schema })
    }
  }
  return out
}

function describePermission(spec: AnyRouteSpec): string {
  if (spec.permission === 'public') return 'No credentials needed.'
  const roles = PERMISSIONS[spec.permission]
  return `Permission \`${spec.permission}\` (roles: ${roles.join(', ')}).`
}

const intHeader = (description: string): JsonSchema => ({ description, schema: { type: 'integer' } })
const RATE_HEADERS: Record<string, JsonSchema> = {
  'RateLimit-Limit': intHeader("Requests per minute allowed to the caller's key"),
  'RateLimit-Remaining': intHeader('Requests left in the current minute'),
  'RateLimit-Reset': intHeader('Seconds until the window starts again'),
}
const weiHeader = (description: string): JsonSchema => ({
  description,
  schema: { type: 'string', pattern: '^[0-9]+$' },
})
const BUDGET_HEADERS: Record<string, JsonSchema> = {
  'X-PRSM-Budget-Limit': weiHeader("The key's (else its organisation's) daily FTNS budget, wei"),
  'X-PRSM-Budget-Spent': weiHeader('Spent (and reserved) today, wei'),
  'X-PRSM-Budget-Remaining': weiHeader('Left today, wei'),
}

function operation(spec: AnyRouteSpec): JsonSchema {
  const responses: Record<string, JsonSchema> = {}
  // answers to authenticated calls carry the limits (budget headers only when a budget applies)
  const headers = spec.permission === 'public' ? undefined : { ...RATE_HEADERS, ...BUDGET_HEADERS }
  for (const status of documentedStatuses(spec)) {
    const declared = spec.responses[status]
    if (declared !== undefined) {
      responses[String(status)] = {
        ...(isStream(declared)
          ? {
              description: declared.description,
              content: { [declared.contentType]: { schema: { type: 'string', format: 'binary' } } },
            }
          : {
              description: declared.description ?? 'OK',
              content: { 'application/json': { schema: jsonSchema(declared, 'output') } },
            }),
        ...(headers === undefined ? {} : { headers }),
      }
      continue
    }
    const codes = Object.entries(ERROR_CATALOGUE)
      .filter(([, v]) => v.status === status)
      .map(([code]) => code)
    responses[String(status)] = {
      description: `Error (codes with this status: ${codes.join(', ')})`,
      content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
      ...(status === 429
        ? { headers: { 'Retry-After': intHeader('Seconds to wait'), ...RATE_HEADERS } }
        : {}),
    }
  }
  const op: JsonSchema = {
    operationId: operationId(spec),
    summary: spec.summary,
    description: [spec.description, describePermission(spec)].filter(Boolean).join('\n\n'),
    tags: spec.tags,
    'x-prsm-permission': spec.permission,
    parameters: parameters(spec),
    responses,
  }
  if (spec.permission === 'public') op.security = []
  if (spec.body !== undefined) {
    op.requestBody = {
      required: !spec.body.safeParse(undefined).success && !spec.body.safeParse({}).success,
      content: { 'application/json': { schema: jsonSchema(spec.body, 'input') } },
    }
  } else if (spec.rawBody !== undefined) {
    op.requestBody = {
      required: true,
      description: spec.rawBody.description,
      content: { [spec.rawBody.contentType]: { schema: { type: 'string', format: 'binary' } } },
    }
  }
  if (spec.cost !== undefined) op['x-prsm-spends-ftns'] = true
  return op
}

/** A stable operation id: method + path words, e.g. `getApiV1ContentCidStat`. */
export function operationId(spec: Pick<AnyRouteSpec, 'method' | 'url'>): string {
  const words = spec.url
    .split('/')
    .filter(Boolean)
    .map((w) =>
      w
        .replace(/^:/, '')
        .replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ?? '').toUpperCase()),
    )
  return [spec.method.toLowerCase(), ...words.map((w) => w.charAt(0).toUpperCase() + w.slice(1))].join('')
}

/** The OpenAPI 3.1 document of every route in the table. */
export function openApiDocument(routes: AnyRouteSpec[], info: OpenApiInfo): JsonSchema {
  const paths: Record<string, Record<string, JsonSchema>> = {}
  for (const spec of [...routes].sort((a, b) => a.url.localeCompare(b.url))) {
    const path = openApiPath(spec.url)
    paths[path] ??= {}
    ;(paths[path] as Record<string, JsonSchema>)[spec.method.toLowerCase()] = operation(spec)
  }
  return {
    openapi: '3.1.0',
    info: {
      ...info,
      description:
        'The PRSM node API. Authenticate with `Authorization: Bearer <key or token>`: the token file in the data dir, an API key (`prsm_…`) or a JWT from POST /api/v1/auth/token. Every error is `{ error: { code, message, details } }` with a code from docs/errors.md.',
    },
    servers: [{ url: '/' }],
    security: [{ bearer: [] }],
    paths,
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: { Error: jsonSchema(ErrorWireSchema, 'output') },
    },
  }
}
