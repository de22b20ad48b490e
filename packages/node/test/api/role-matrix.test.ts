import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { allows, PERMISSIONS, permissionTable, ROLES, type Role } from '../../src/api/auth/permissions.ts'
import { type RouteEntry, routeTable } from '../../src/api/server.ts'
import type { PrsmNode } from '../../src/index.ts'
import { startTestNode, stopAll } from '../helpers.ts'

/**
 * A request that reaches the route: path parameters filled with a placeholder, no body, and an
 * unknown query parameter (routes with a strict query schema answer 400 without doing any work).
 */
function target(entry: RouteEntry): { method: string; url: string } {
  const path = entry.url.replace(/:([A-Za-z0-9_]+)/g, 'x').replace(/\*$/, 'x')
  return { method: entry.method, url: `${path}?matrix=1` }
}

/** True when the answer is the permission check refusing (not a handler's own 403). */
function isPermissionDenial(status: number, body: string): boolean {
  if (status !== 403) return false
  const error = JSON.parse(body).error
  return error?.code === 'FORBIDDEN' && typeof error.details?.permission === 'string'
}

describe('the role × route matrix of a real node (generated from its route table)', () => {
  let node: PrsmNode
  const keys = new Map<Role, string>()
  let routes: RouteEntry[]

  before(async () => {
    node = await startTestNode({ api: true })
    const admin = node.apiAuth.localToken
    for (const role of ROLES) {
      const res = await node.api?.inject({
        method: 'POST',
        url: '/api/v1/keys',
        headers: { authorization: `Bearer ${admin}` },
        payload: { name: `matrix-${role}`, role, rateLimitPerMinute: 100_000 },
      })
      assert.equal(res?.statusCode, 201, res?.body)
      keys.set(role, res?.json().key)
    }
    routes = routeTable(node.api as NonNullable<PrsmNode['api']>)
  })
  after(() => stopAll([node]))

  it('every route is declared with route() and one known permission (else it is admin-only and this fails)', () => {
    assert.ok(routes.length > 20)
    const undeclared = routes
      .filter(
        (r) => r.spec === undefined || !(r.spec.permission === 'public' || r.spec.permission in PERMISSIONS),
      )
      .map((r) => `${r.method} ${r.url}`)
    assert.deepEqual(undeclared, [], `routes without a declared permission: ${undeclared.join(', ')}`)
  })

  it('only /api/v1, /v1 (OpenAI-compatible), /openapi.json and /docs are served', () => {
    const stray = routes.filter((r) => !/^\/(api\/v1|v1)\/|^\/openapi\.json$|^\/docs(\/|$)/.test(r.url))
    assert.deepEqual(
      stray.map((r) => r.url),
      [],
    )
  })

  it('answers 401 to every non-public route without credentials', async () => {
    for (const entry of routes.filter((r) => r.spec?.permission !== 'public')) {
      const res = await node.api?.inject(target(entry))
      assert.equal(res?.statusCode, 401, `${entry.method} ${entry.url}`)
      assert.equal(res?.json().error.code, 'UNAUTHORIZED')
    }
  })

  it('allows exactly the roles the permission table names, for every route', async () => {
    const failures: string[] = []
    let checked = 0
    for (const entry of routes) {
      const permission = entry.spec?.permission
      for (const role of ROLES) {
        const expected = allows(role, permission)
        const res = await node.api?.inject({
          ...target(entry),
          headers: { authorization: `Bearer ${keys.get(role)}` },
        })
        const status = res?.statusCode ?? 0
        const denied = isPermissionDenial(status, res?.body ?? '{}')
        checked++
        if (status === 401) failures.push(`${role} ${entry.method} ${entry.url}: 401`)
        else if (expected && denied)
          failures.push(`${role} ${entry.method} ${entry.url}: denied, expected allowed`)
        else if (!expected && !denied)
          failures.push(`${role} ${entry.method} ${entry.url}: ${status}, expected 403 FORBIDDEN`)
      }
    }
    assert.deepEqual(failures, [])
    assert.equal(checked, routes.length * ROLES.length)
  })

  it('docs/api.md carries the permission table as the code has it', async () => {
    const doc = await readFile(fileURLToPath(new URL('../../../../docs/api.md', import.meta.url)), 'utf8')
    const block = /<!-- permissions: generated from PERMISSIONS -->\n([\s\S]*?)\n<!-- \/permissions -->/.exec(
      doc,
    )
    assert.equal(block?.[1], permissionTable(), 'regenerate the table in docs/api.md from permissionTable()')
  })
})
