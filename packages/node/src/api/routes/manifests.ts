import { PrsmError } from '@prsm/core'
import { z } from 'zod'
import type { ManifestService } from '../../storage/manifests.ts'
import type { ApiRoutes } from '../server.ts'

/** What the manifest routes need from the node. */
export interface ManifestRoutesComponents {
  manifests: Pick<ManifestService, 'publish' | 'ingest' | 'resolve' | 'list' | 'provenance'>
}

const ImportBody = z.object({ block: z.base64() }).strict()

/**
 * POST /api/v1/manifests (sign and publish), POST /api/v1/manifests/import (a signed block,
 * base64), GET /api/v1/manifests?name=, GET /api/v1/manifest?ref=CID|NAME[@VERSION],
 * GET /api/v1/provenance/:ref.
 */
export function manifestRoutes(components: ManifestRoutesComponents): ApiRoutes {
  const { manifests } = components
  return (app) => {
    app.post('/api/v1/manifests', async (req) => manifests.publish(req.body))
    app.post('/api/v1/manifests/import', async (req) => {
      const parsed = ImportBody.safeParse(req.body)
      if (!parsed.success) throw new PrsmError('VALIDATION_FAILED', 'expected { block: base64 dag-cbor }')
      return manifests.ingest(Buffer.from(parsed.data.block, 'base64'))
    })
    app.get<{ Querystring: { name?: string } }>('/api/v1/manifests', async (req) => ({
      manifests: manifests.list(req.query.name),
    }))
    app.get<{ Querystring: { ref?: string } }>('/api/v1/manifest', async (req) => {
      if (req.query.ref === undefined) throw new PrsmError('VALIDATION_FAILED', 'ref is required')
      return manifests.resolve(req.query.ref)
    })
    app.get<{ Params: { ref: string }; Querystring: { depth?: string } }>(
      '/api/v1/provenance/:ref',
      async (req) => {
        const depth = req.query.depth === undefined ? undefined : Number(req.query.depth)
        if (depth !== undefined && !(Number.isInteger(depth) && depth >= 0 && depth <= 256)) {
          throw new PrsmError('VALIDATION_FAILED', 'depth must be an integer 0-256')
        }
        return manifests.provenance(
          decodeURIComponent(req.params.ref),
          depth === undefined ? {} : { maxDepth: depth },
        )
      },
    )
  }
}
