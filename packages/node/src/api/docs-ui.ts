import { readFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { FastifyInstance } from 'fastify'
import { z } from 'zod'
import { route } from './route.ts'

/** Swagger UI's static files, from the pinned @fastify/swagger-ui package: nothing comes from a CDN. */
const STATIC_DIR = join(dirname(fileURLToPath(import.meta.resolve('@fastify/swagger-ui'))), 'static')

const FILES: Record<string, string> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'index.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'swagger-ui-standalone-preset.js': 'text/javascript; charset=utf-8',
  'favicon-32x32.png': 'image/png',
  'favicon-16x16.png': 'image/png',
}

const PAGE = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<title>PRSM node API</title>
<link rel="stylesheet" href="/docs/static/swagger-ui.css">
<link rel="stylesheet" href="/docs/static/index.css">
<link rel="icon" type="image/png" href="/docs/static/favicon-32x32.png" sizes="32x32">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/static/swagger-ui-bundle.js"></script>
<script src="/docs/static/swagger-ui-standalone-preset.js"></script>
<script src="/docs/init.js"></script>
</body>
</html>
`

const INIT = `window.ui = SwaggerUIBundle({
  url: '/openapi.json',
  dom_id: '#swagger-ui',
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
  layout: 'StandaloneLayout',
  validatorUrl: null,
  persistAuthorization: false
})
`

const CSP = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'"

/** GET /docs: Swagger UI over /openapi.json, served from local files with a same-origin CSP. */
export function docsUiRoutes(app: FastifyInstance): void {
  const cache = new Map<string, Buffer>()
  const html = { 200: { contentType: 'text/html', description: 'The docs UI' } }
  route(app, {
    method: 'GET',
    url: '/docs',
    summary: 'Interactive API documentation (Swagger UI)',
    tags: ['meta'],
    permission: 'public',
    responses: html,
    handler: ({ reply }) =>
      reply
        .header('content-type', 'text/html; charset=utf-8')
        .header('content-security-policy', CSP)
        .send(PAGE),
  })
  route(app, {
    method: 'GET',
    url: '/docs/init.js',
    summary: 'The docs UI start script',
    tags: ['meta'],
    permission: 'public',
    responses: { 200: { contentType: 'text/javascript', description: 'Script' } },
    handler: ({ reply }) => reply.header('content-type', 'text/javascript; charset=utf-8').send(INIT),
  })
  route(app, {
    method: 'GET',
    url: '/docs/static/:file',
    summary: 'A static file of the docs UI',
    tags: ['meta'],
    permission: 'public',
    params: z.object({ file: z.enum(Object.keys(FILES) as [string, ...string[]]) }).strict(),
    responses: { 200: { contentType: 'application/octet-stream', description: 'The file' } },
    errors: ['VALIDATION_FAILED'],
    handler: async ({ params, reply }) => {
      let body = cache.get(params.file)
      if (body === undefined) {
        body = await readFile(join(STATIC_DIR, params.file))
        cache.set(params.file, body)
      }
      return reply
        .header('content-type', FILES[params.file] as string)
        .header('cache-control', 'public, max-age=86400')
        .send(body)
    },
  })
}
