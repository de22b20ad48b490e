import type { ErrorCode } from '@prsm/core'
import { z } from 'zod'
import { ManifestInputSchema } from '../../storage/manifest.ts'
import type { ManifestService } from '../../storage/manifests.ts'
import { route } from '../route.ts'
import type { ApiRoutes } from '../server.ts'

/** What the manifest routes need from the node. */
export interface ManifestRoutesComponents {
  manifests: Pick<ManifestService, 'publish' | 'ingest' | 'resolve' | 'list' | 'provenance'>
}

const ImportBody = z.object({ block: z.base64() }).strict()

const Stored = z.object({ cid: z.string(), manifest: z.looseObject({ name: z.string() }) }).strict()
const MANIFEST_ERRORS: ErrorCode[] = [
  'MANIFEST_NOT_FOUND',
  'MANIFEST_BAD_SIGNATURE',
  'MANIFEST_INVALID',
  'CONTENT_INVALID_CID',
  'CONTENT_NOT_FOUND',
]

/**
 * POST /api/v1/manifests (sign and publish), POST /api/v1/manifests/import (a signed block,
 * base64), GET /api/v1/manifests?name=, GET /api/v1/manifest?ref=CID|NAME[@VERSION],
 * GET /api/v1/provenance/:ref.
 */
export function manifestRoutes(components: ManifestRoutesComponents): ApiRoutes {
  const { manifests } = components
  return (app) => {
    route(app, {
      method: 'POST',
      url: '/api/v1/manifests',
      summary: "Sign a manifest with the node's wallet, store, pin and announce it",
      tags: ['manifests'],
      permission: 'content:write',
      body: ManifestInputSchema,
      responses: { 200: Stored },
      errors: [...MANIFEST_ERRORS, 'MANIFEST_FILE_MISMATCH'],
      // the service parses the manifest itself (defaults, normalisation)
      handler: ({ req }) => manifests.publish(req.body),
    })
    route(app, {
      method: 'POST',
      url: '/api/v1/manifests/import',
      summary: 'Import a signed manifest block (dag-cbor, base64) after verifying it',
      tags: ['manifests'],
      permission: 'content:write',
      body: ImportBody,
      responses: { 200: Stored },
      errors: [...MANIFEST_ERRORS, 'MANIFEST_FILE_MISMATCH'],
      handler: ({ body }) => manifests.ingest(Buffer.from(body.block, 'base64')),
    })
    route(app, {
      method: 'GET',
      url: '/api/v1/manifests',
      summary: 'Known verified manifests (optionally of one name)',
      tags: ['manifests'],
      permission: 'content:read',
      query: z.object({ name: z.string().min(1).max(256).optional() }).strict(),
      responses: { 200: z.object({ manifests: z.array(Stored) }).strict() },
      handler: ({ query }) => ({ manifests: manifests.list(query.name) }),
    })
    route(app, {
      method: 'GET',
      url: '/api/v1/manifest',
      summary: 'Resolve a manifest by CID or NAME[@VERSION] (local, then the network)',
      tags: ['manifests'],
      permission: 'content:read',
      query: z.object({ ref: z.string().min(1).max(512) }).strict(),
      responses: { 200: Stored },
      errors: MANIFEST_ERRORS,
      // the service bounds the network lookup itself (10 s)
      handler: ({ query }) => manifests.resolve(query.ref),
    })
    route(app, {
      method: 'GET',
      url: '/api/v1/provenance/:ref',
      summary: 'The provenance graph of a manifest: ancestors and descendants',
      tags: ['manifests'],
      permission: 'content:read',
      params: z.object({ ref: z.string().min(1).max(512) }).strict(),
      query: z.object({ depth: z.coerce.number().int().min(0).max(256).optional() }).strict(),
      responses: { 200: z.looseObject({}) },
      errors: MANIFEST_ERRORS,
      handler: ({ params, query }) =>
        manifests.provenance(
          decodeURIComponent(params.ref),
          query.depth === undefined ? {} : { maxDepth: query.depth },
        ),
    })
  }
}
