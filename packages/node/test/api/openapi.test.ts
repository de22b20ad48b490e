import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { PrsmNode } from '../../src/index.ts'
import { startTestNode, stopAll } from '../helpers.ts'

type Doc = {
  openapi: string
  paths: Record<string, Record<string, Record<string, unknown>>>
  components: { schemas: Record<string, unknown>; securitySchemes: Record<string, unknown> }
}

describe('the OpenAPI document, the docs UI and the node routes on a real node', () => {
  let node: PrsmNode
  let guest: string
  let doc: Doc

  before(async () => {
    node = await startTestNode({ api: true })
    const res = await fetch(`${node.apiUrl}/api/v1/keys`, {
      method: 'POST',
      headers: { authorization: `Bearer ${node.apiAuth.localToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'guest', role: 'guest' }),
    })
    guest = ((await res.json()) as { key: string }).key
    doc = (await (await fetch(`${node.apiUrl}/openapi.json`)).json()) as Doc
  })
  after(() => stopAll([node]))

  it('is OpenAPI 3.1 with a unique operation id, a permission and the error answers for every operation', () => {
    assert.equal(doc.openapi, '3.1.0')
    assert.ok(doc.components.securitySchemes.bearer)
    assert.ok(doc.components.schemas.Error)
    const ids = new Set<string>()
    let count = 0
    for (const [path, methods] of Object.entries(doc.paths)) {
      assert.ok(/^\/(api\/v1|v1)\/|^\/openapi\.json$|^\/docs/.test(path), path)
      for (const [method, op] of Object.entries(methods)) {
        count++
        const where = `${method} ${path}`
        assert.equal(typeof op.operationId, 'string', where)
        assert.ok(!ids.has(op.operationId as string), `duplicate operationId at ${where}`)
        ids.add(op.operationId as string)
        assert.ok(typeof op.summary === 'string' && op.summary.length > 0, where)
        const responses = op.responses as Record<string, unknown>
        assert.ok(
          Object.keys(responses).some((s) => s.startsWith('2')),
          `${where} documents no success`,
        )
        if (op['x-prsm-permission'] !== 'public') {
          for (const status of ['400', '401', '403', '429', '500'])
            assert.ok(status in responses, `${where} ${status}`)
        }
        for (const p of (op.parameters ?? []) as Array<{ in: string; name: string }>) {
          if (p.in === 'path') assert.ok(path.includes(`{${p.name}}`), `${where} ${p.name}`)
        }
      }
    }
    assert.ok(count >= 30, `${count} operations`)
    // limits are documented as response headers
    const status = doc.paths['/api/v1/node/status']?.get as {
      responses: Record<string, { headers?: object }>
    }
    assert.ok(status.responses['200']?.headers && 'RateLimit-Remaining' in status.responses['200'].headers)
    assert.ok(status.responses['429']?.headers && 'Retry-After' in status.responses['429'].headers)
    // the key routes are there with their schemas
    const create = doc.paths['/api/v1/keys']?.post as { requestBody: { content: Record<string, unknown> } }
    assert.ok(create.requestBody.content['application/json'])
  })

  it('serves the docs UI from local files only (no CDN)', async () => {
    const page = await fetch(`${node.apiUrl}/docs`)
    assert.equal(page.status, 200)
    assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'self'/)
    const html = await page.text()
    const init = await (await fetch(`${node.apiUrl}/docs/init.js`)).text()
    for (const text of [html, init]) assert.ok(!/https?:\/\//.test(text), 'no absolute URLs')
    assert.match(init, /url: '\/openapi\.json'/)
    for (const src of html.matchAll(/(?:src|href)="([^"]+)"/g)) {
      const res = await fetch(`${node.apiUrl}${src[1]}`)
      assert.equal(res.status, 200, src[1])
      assert.ok((await res.arrayBuffer()).byteLength > 100)
    }
    const bad = await fetch(`${node.apiUrl}/docs/static/..%2Fpackage.json`)
    assert.equal(bad.status, 400)
  })

  it('answers the node routes for a guest key, and validates their input', async () => {
    const get = (path: string, key = guest) =>
      fetch(`${node.apiUrl}${path}`, { headers: { authorization: `Bearer ${key}` } })
    const health = await fetch(`${node.apiUrl}/api/v1/health`)
    assert.deepEqual(await health.json(), { ok: true })
    const status = await get('/api/v1/node/status')
    assert.equal(status.status, 200)
    assert.equal(((await status.json()) as { peerId: string }).peerId, node.peerId)
    assert.equal(status.headers.get('ratelimit-limit'), '600')
    const peers = await get('/api/v1/peers')
    assert.deepEqual(await peers.json(), { peers: [] })
    const offers = await get('/api/v1/offers?dht=false')
    assert.deepEqual(await offers.json(), { offers: [] })
    for (const bad of ['/api/v1/offers?timeoutMs=-1', '/api/v1/offers?dht=maybe', '/api/v1/offers?x=1']) {
      const res = await get(bad)
      assert.equal(res.status, 400, bad)
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'VALIDATION_FAILED')
    }
    const denied = await get('/api/v1/pins')
    assert.equal(denied.status, 403)
    // every GET answers HEAD too, behind the same checks
    const head = await fetch(`${node.apiUrl}/api/v1/node/status`, {
      method: 'HEAD',
      headers: { authorization: `Bearer ${guest}` },
    })
    assert.equal(head.status, 200)
    assert.equal((await head.text()).length, 0)
    assert.equal((await fetch(`${node.apiUrl}/api/v1/node/status`, { method: 'HEAD' })).status, 401)
  })
})
