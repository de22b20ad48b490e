import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { Agent, request } from 'node:http'
import { Writable } from 'node:stream'
import { after, before, describe, it } from 'node:test'
import { PrsmError } from '@prsm/core'
import type { FastifyInstance } from 'fastify'
import { z } from 'zod'
import { ApiAuth } from '../../src/api/auth/api-auth.ts'
import { hashKey, newKeySecret } from '../../src/api/auth/key-store.ts'
import { route } from '../../src/api/route.ts'
import { keyRoutes } from '../../src/api/routes/keys.ts'
import { orgRoutes } from '../../src/api/routes/orgs.ts'
import { buildApiServer } from '../../src/api/server.ts'
import { createLogger } from '../../src/logger.ts'
import { memoryApiAuth } from '../helpers.ts'

const FTNS = 10n ** 18n

/** The real API server with the real auth service and the key/org routes, plus two test routes. */
async function setup(): Promise<{
  app: FastifyInstance
  auth: ApiAuth
  logs: string[]
  admin: string
  audit: Array<{ type: string; outcome: string }>
}> {
  const logs: string[] = []
  const audit: Array<{ type: string; outcome: string }> = []
  // the node's own logger (redaction, direct access lines)
  const logger = createLogger({
    level: 'info',
    destination: new Writable({
      write(chunk, _enc, cb) {
        logs.push(String(chunk))
        cb()
      },
    }),
  })
  const auth = memoryApiAuth(
    { audit: { append: (e) => audit.push({ type: e.type, outcome: e.outcome }) } },
    { defaultRateLimitPerMinute: 1000 },
  )
  const app = await buildApiServer(
    { logger, guard: auth },
    { bodyLimit: 4096, corsOrigins: ['https://app.example'] },
    [
      keyRoutes({ auth }),
      orgRoutes({ auth }),
      (a) => {
        // spends FTNS: `fail` makes the handler fail after the reservation
        route(a, {
          method: 'POST',
          url: '/api/v1/test/spend',
          summary: 'spend',
          tags: ['test'],
          permission: 'jobs:run',
          body: z.object({ wei: z.string().regex(/^\d+$/), fail: z.boolean().default(false) }).strict(),
          responses: { 200: z.object({ ok: z.literal(true) }) },
          cost: ({ body }) => BigInt(body.wei),
          handler: ({ body }) => {
            if (body.fail) throw new PrsmError('NOT_FOUND', 'failed on purpose')
            return { ok: true as const }
          },
        })
        // spends at most `wei`, really `spent`
        route(a, {
          method: 'POST',
          url: '/api/v1/test/settle',
          summary: 'settle',
          tags: ['test'],
          permission: 'jobs:run',
          body: z.object({ wei: z.string().regex(/^\d+$/), spent: z.string().regex(/^\d+$/) }).strict(),
          responses: { 200: z.object({ ok: z.literal(true) }) },
          cost: ({ body }) => BigInt(body.wei),
          handler: ({ body, settle }) => {
            settle(BigInt(body.spent))
            return { ok: true as const }
          },
        })
        // registered without route(): no declared permission
        a.get('/api/v1/test/legacy', async () => ({ legacy: true }))
      },
    ],
  )
  return { app, auth, logs, admin: auth.localToken, audit }
}

const bearer = (t: string) => ({ authorization: `Bearer ${t}` })

describe('API auth: keys, JWTs, roles, limits, budgets', () => {
  let s: Awaited<ReturnType<typeof setup>>
  before(async () => {
    s = await setup()
  })
  after(async () => {
    await s.app.close()
    s.auth.close()
  })

  async function createKey(
    body: Record<string, unknown>,
    as = s.admin,
  ): Promise<{ id: string; key: string }> {
    const res = await s.app.inject({
      method: 'POST',
      url: '/api/v1/keys',
      headers: bearer(as),
      payload: body,
    })
    assert.equal(res.statusCode, 201, res.body)
    return res.json()
  }

  it('refuses requests without or with a wrong credential (401 UNAUTHORIZED)', async () => {
    for (const headers of [
      {},
      bearer('nope'),
      bearer(`prsm_${'0'.repeat(12)}_${'a'.repeat(43)}`),
      bearer('a.b.c'),
    ]) {
      const res = await s.app.inject({ method: 'GET', url: '/api/v1/keys', headers })
      assert.equal(res.statusCode, 401)
      assert.equal(res.json().error.code, 'UNAUTHORIZED')
    }
  })

  it('creates a key once, stores only its hash, lists it without the secret, and revokes it', async () => {
    const created = await createKey({ name: 'ci', role: 'user' })
    assert.match(created.key, /^prsm_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/)
    const list = await s.app.inject({ method: 'GET', url: '/api/v1/keys', headers: bearer(s.admin) })
    assert.equal(list.statusCode, 200)
    assert.ok(!list.body.includes(created.key.slice(18)), 'the secret is never listed')
    const listed = list.json().keys.find((k: { id: string }) => k.id === created.id)
    assert.equal(listed.role, 'user')
    assert.equal(listed.revokedAt, null)
    assert.equal(s.auth.store.key(created.id)?.id, created.id)

    const who = await s.app.inject({
      method: 'GET',
      url: '/api/v1/auth/whoami',
      headers: bearer(created.key),
    })
    assert.equal(who.statusCode, 200)
    assert.deepEqual([who.json().role, who.json().via], ['user', 'api-key'])

    const tok = await s.app.inject({
      method: 'POST',
      url: '/api/v1/auth/token',
      headers: bearer(created.key),
      payload: {},
    })
    assert.equal(tok.statusCode, 200)
    const jwt = tok.json().token as string
    const viaJwt = await s.app.inject({ method: 'GET', url: '/api/v1/auth/whoami', headers: bearer(jwt) })
    assert.deepEqual([viaJwt.json().keyId, viaJwt.json().via], [created.id, 'jwt'])

    const revoked = await s.app.inject({
      method: 'DELETE',
      url: `/api/v1/keys/${created.id}`,
      headers: bearer(s.admin),
    })
    assert.equal(revoked.statusCode, 200)
    assert.notEqual(revoked.json().revokedAt, null)
    for (const credential of [created.key, jwt]) {
      const res = await s.app.inject({
        method: 'GET',
        url: '/api/v1/auth/whoami',
        headers: bearer(credential),
      })
      assert.equal(res.statusCode, 401, 'a revoked key and its tokens stop working')
    }
    assert.ok(s.audit.some((e) => e.type === 'key.revoked' && e.outcome === 'success'))
  })

  it('refuses tampered and foreign tokens', async () => {
    const { key } = await createKey({ name: 'jwt', role: 'guest' })
    const jwt = (
      await s.app.inject({ method: 'POST', url: '/api/v1/auth/token', headers: bearer(key), payload: {} })
    ).json().token as string
    const [h, p, sig] = jwt.split('.') as [string, string, string]
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString())
    const forged = `${h}.${Buffer.from(JSON.stringify({ ...claims, role: 'admin' })).toString('base64url')}.${sig}`
    const res = await s.app.inject({ method: 'GET', url: '/api/v1/keys', headers: bearer(forged) })
    assert.equal(res.statusCode, 401)
    const other = new ApiAuth({}, { path: ':memory:', signingSecret: randomBytes(32), issuer: 'test-node' })
    const foreignKey = other.createKey(await other.authenticate(`Bearer ${other.localToken}`), {
      name: 'x',
      role: 'admin',
    })
    const foreign = await other.issueToken(await other.authenticate(`Bearer ${foreignKey.key}`))
    other.close()
    const res2 = await s.app.inject({
      method: 'GET',
      url: '/api/v1/auth/whoami',
      headers: bearer(foreign.token),
    })
    assert.equal(res2.statusCode, 401)
  })

  it('refuses an expired key', async () => {
    const { id, key } = newKeySecret()
    // a key whose expiry has passed, as the store holds it
    s.auth.store.insertKey(
      {
        id,
        name: 'expired',
        org: 'default',
        member: null,
        role: 'user',
        rateLimitPerMinute: null,
        dailyBudgetWei: null,
        createdAt: Date.now() - 120_000,
        createdBy: 'test',
        expiresAt: Date.now() - 1,
        revokedAt: null,
      },
      hashKey(key),
    )
    const res = await s.app.inject({ method: 'GET', url: '/api/v1/auth/whoami', headers: bearer(key) })
    assert.equal(res.statusCode, 401)
    assert.match(res.json().error.message, /expired/)
    const past = await s.app.inject({
      method: 'POST',
      url: '/api/v1/keys',
      headers: bearer(s.admin),
      payload: { name: 'x', role: 'user', expiresInSeconds: 1 },
    })
    assert.equal(past.statusCode, 400)
  })

  it('answers validation failures with 400 VALIDATION_FAILED and the issues', async () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ role: 'user' }, 'body.name'],
      [{ name: 'x', role: 'root' }, 'body.role'],
      [{ name: 'x', role: 'user', dailyBudget: '-1' }, 'body.dailyBudget'],
      [{ name: 'x', role: 'user', extra: 1 }, 'body'],
    ]
    for (const [payload, path] of cases) {
      const res = await s.app.inject({
        method: 'POST',
        url: '/api/v1/keys',
        headers: bearer(s.admin),
        payload,
      })
      assert.equal(res.statusCode, 400)
      assert.equal(res.json().error.code, 'VALIDATION_FAILED')
      assert.ok(
        res.json().error.details.issues.some((i: { path: string }) => i.path.startsWith(path)),
        JSON.stringify(res.json()),
      )
    }
    const badId = await s.app.inject({ method: 'DELETE', url: '/api/v1/keys/zzz', headers: bearer(s.admin) })
    assert.equal(badId.json().error.code, 'VALIDATION_FAILED')
    const unknown = await s.app.inject({
      method: 'DELETE',
      url: '/api/v1/keys/0123456789ab',
      headers: bearer(s.admin),
    })
    assert.equal(unknown.statusCode, 404)
    const notJson = await s.app.inject({
      method: 'POST',
      url: '/api/v1/keys',
      headers: { ...bearer(s.admin), 'content-type': 'application/json' },
      payload: '{"name":',
    })
    assert.equal(notJson.json().error.code, 'VALIDATION_FAILED')
    const big = await s.app.inject({
      method: 'POST',
      url: '/api/v1/keys',
      headers: bearer(s.admin),
      payload: { name: 'x'.repeat(5000), role: 'user' },
    })
    assert.equal(big.statusCode, 413)
    assert.equal(big.json().error.code, 'PAYLOAD_TOO_LARGE')
    const missing = await s.app.inject({
      method: 'GET',
      url: '/api/v1/nothing-here',
      headers: bearer(s.admin),
    })
    assert.deepEqual([missing.statusCode, missing.json().error.code], [404, 'NOT_FOUND'])
  })

  it('a route registered without a permission is admin-only', async () => {
    const { key } = await createKey({ name: 'op', role: 'operator' })
    const denied = await s.app.inject({ method: 'GET', url: '/api/v1/test/legacy', headers: bearer(key) })
    assert.deepEqual([denied.statusCode, denied.json().error.code], [403, 'FORBIDDEN'])
    const ok = await s.app.inject({ method: 'GET', url: '/api/v1/test/legacy', headers: bearer(s.admin) })
    assert.equal(ok.statusCode, 200)
    assert.ok(s.audit.some((e) => e.type === 'access.denied' && e.outcome === 'denied'))
  })

  it('enforces the per-key rate limit and reports it in RateLimit-* headers', async () => {
    const { key } = await createKey({ name: 'slow', role: 'guest', rateLimitPerMinute: 3 })
    const remaining: string[] = []
    for (let i = 0; i < 3; i++) {
      const res = await s.app.inject({ method: 'GET', url: '/api/v1/auth/whoami', headers: bearer(key) })
      assert.equal(res.statusCode, 200)
      assert.equal(res.headers['ratelimit-limit'], '3')
      remaining.push(String(res.headers['ratelimit-remaining']))
      assert.ok(Number(res.headers['ratelimit-reset']) >= 1)
    }
    assert.deepEqual(remaining, ['2', '1', '0'])
    const limited = await s.app.inject({ method: 'GET', url: '/api/v1/auth/whoami', headers: bearer(key) })
    assert.deepEqual([limited.statusCode, limited.json().error.code], [429, 'RATE_LIMITED'])
    assert.ok(Number(limited.headers['retry-after']) >= 1)
    assert.deepEqual([limited.headers['ratelimit-limit'], limited.headers['ratelimit-remaining']], ['3', '0'])
    // another key is not affected
    const { key: other } = await createKey({ name: 'other', role: 'guest', rateLimitPerMinute: 3 })
    assert.equal(
      (await s.app.inject({ method: 'GET', url: '/api/v1/auth/whoami', headers: bearer(other) })).statusCode,
      200,
    )
  })

  it('enforces daily FTNS budgets per key and per organisation, reported in X-PRSM-Budget-* headers', async () => {
    const { key } = await createKey({ name: 'spender', role: 'user', dailyBudget: '1' })
    const spend = (wei: bigint, k = key, fail = false) =>
      s.app.inject({
        method: 'POST',
        url: '/api/v1/test/spend',
        headers: bearer(k),
        payload: { wei: wei.toString(), fail },
      })
    const first = await spend((6n * FTNS) / 10n)
    assert.equal(first.statusCode, 200)
    assert.equal(first.headers['x-prsm-budget-limit'], FTNS.toString())
    assert.equal(first.headers['x-prsm-budget-spent'], ((6n * FTNS) / 10n).toString())
    assert.equal(first.headers['x-prsm-budget-remaining'], ((4n * FTNS) / 10n).toString())
    const over = await spend((5n * FTNS) / 10n)
    assert.deepEqual([over.statusCode, over.json().error.code], [402, 'API_BUDGET_EXCEEDED'])
    // a failed request gives its reservation back
    const failed = await spend((3n * FTNS) / 10n, key, true)
    assert.equal(failed.statusCode, 404)
    const who = await s.app.inject({ method: 'GET', url: '/api/v1/auth/whoami', headers: bearer(key) })
    assert.equal(who.headers['x-prsm-budget-spent'], ((6n * FTNS) / 10n).toString())
    assert.equal((await spend((4n * FTNS) / 10n)).statusCode, 200)
    assert.equal((await spend(1n)).statusCode, 402)

    // organisation budget: two keys share it
    const org = await s.app.inject({
      method: 'POST',
      url: '/api/v1/orgs',
      headers: bearer(s.admin),
      payload: { name: 'acme', dailyBudget: '2' },
    })
    assert.equal(org.statusCode, 201)
    const a = await createKey({ name: 'a', role: 'user', org: 'acme' })
    const b = await createKey({ name: 'b', role: 'user', org: 'acme' })
    assert.equal((await spend(FTNS + FTNS / 2n, a.key)).statusCode, 200)
    const sharedOver = await spend(FTNS, b.key)
    assert.equal(sharedOver.statusCode, 402)
    assert.equal(sharedOver.json().error.details.scope, `org:${org.json().id}`)
    const rest = await spend(FTNS / 2n, b.key)
    assert.equal(rest.statusCode, 200)
    assert.equal(rest.headers['x-prsm-budget-remaining'], '0')
  })

  it('gives back the unspent part of a reservation when the operation settles what it spent', async () => {
    const { key } = await createKey({ name: 'settler', role: 'user', dailyBudget: '1' })
    const settle = (wei: bigint, spent: bigint) =>
      s.app.inject({
        method: 'POST',
        url: '/api/v1/test/settle',
        headers: bearer(key),
        payload: { wei: wei.toString(), spent: spent.toString() },
      })
    assert.equal((await settle((8n * FTNS) / 10n, (2n * FTNS) / 10n)).statusCode, 200)
    const who = await s.app.inject({ method: 'GET', url: '/api/v1/auth/whoami', headers: bearer(key) })
    assert.equal(who.headers['x-prsm-budget-spent'], ((2n * FTNS) / 10n).toString())
    // 0.2 spent + 0.8 reserved fits in 1; a further 0.1 does not
    assert.equal((await settle((8n * FTNS) / 10n, (8n * FTNS) / 10n)).statusCode, 200)
    assert.equal((await settle(FTNS / 10n, 0n)).statusCode, 402)
  })

  it('organisation admins manage only their own organisation; removing a member revokes their keys', async () => {
    const mk = async (name: string) =>
      (
        await s.app.inject({
          method: 'POST',
          url: '/api/v1/orgs',
          headers: bearer(s.admin),
          payload: { name },
        })
      ).json().id as string
    const red = await mk('red')
    await mk('blue')
    const redAdmin = await createKey({ name: 'red-admin', role: 'admin', org: 'red' })
    const put = await s.app.inject({
      method: 'PUT',
      url: `/api/v1/orgs/${red}/members/alice`,
      headers: bearer(redAdmin.key),
      payload: { role: 'user' },
    })
    assert.equal(put.statusCode, 200)
    const aliceKey = await createKey(
      { name: 'alice', role: 'user', org: 'red', member: 'alice' },
      redAdmin.key,
    )
    // a member's key holds at most the member's role
    const tooHigh = await s.app.inject({
      method: 'POST',
      url: '/api/v1/keys',
      headers: bearer(redAdmin.key),
      payload: { name: 'x', role: 'operator', member: 'alice' },
    })
    assert.equal(tooHigh.statusCode, 403)
    for (const [method, url, payload] of [
      ['POST', '/api/v1/keys', { name: 'x', role: 'user', org: 'blue' }],
      ['GET', '/api/v1/keys?org=blue', undefined],
      ['GET', '/api/v1/orgs/blue', undefined],
      ['POST', '/api/v1/orgs', { name: 'green' }],
      ['PUT', `/api/v1/orgs/${red}/budget`, { dailyBudget: '100' }],
    ] as const) {
      const res = await s.app.inject({
        method,
        url,
        headers: bearer(redAdmin.key),
        ...(payload ? { payload } : {}),
      })
      assert.equal(res.statusCode, 403, `${method} ${url}: ${res.body}`)
      assert.equal(res.json().error.code, 'FORBIDDEN')
    }
    const orgs = await s.app.inject({ method: 'GET', url: '/api/v1/orgs', headers: bearer(redAdmin.key) })
    assert.deepEqual(
      orgs.json().orgs.map((o: { name: string }) => o.name),
      ['red'],
    )
    const own = await s.app.inject({ method: 'GET', url: '/api/v1/keys', headers: bearer(redAdmin.key) })
    assert.ok(own.json().keys.every((k: { org: string }) => k.org === red))
    const removed = await s.app.inject({
      method: 'DELETE',
      url: `/api/v1/orgs/${red}/members/alice`,
      headers: bearer(redAdmin.key),
    })
    assert.deepEqual(removed.json().revokedKeys, [aliceKey.id])
    assert.equal(
      (await s.app.inject({ method: 'GET', url: '/api/v1/auth/whoami', headers: bearer(aliceKey.key) }))
        .statusCode,
      401,
    )
    const detail = await s.app.inject({ method: 'GET', url: `/api/v1/orgs/${red}`, headers: bearer(s.admin) })
    assert.deepEqual(detail.json().members, [])
  })

  it('audits refused credentials without letting a flood of them fill the audit log', () => {
    const events: string[] = []
    const auth = new ApiAuth(
      { audit: { append: (e) => events.push(e.type) } },
      { path: ':memory:', signingSecret: randomBytes(32), issuer: 'flood' },
    )
    for (let i = 0; i < 100; i++) {
      assert.throws(() => auth.authenticate(`Bearer junk-${i}`), { code: 'UNAUTHORIZED' })
    }
    auth.close()
    // one minute's allowance (the count of dropped ones goes into the next minute's first event)
    assert.equal(events.filter((t) => t === 'auth.failed').length, 60)
  })

  it('lets the allowed browser origin call with a bearer key (CORS), and no other origin', async () => {
    const { key } = await createKey({ name: 'browser', role: 'guest' })
    const preflight = await s.app.inject({
      method: 'OPTIONS',
      url: '/api/v1/auth/whoami',
      headers: {
        origin: 'https://app.example',
        'access-control-request-method': 'GET',
        'access-control-request-headers': 'authorization',
      },
    })
    assert.equal(preflight.statusCode, 204)
    assert.equal(preflight.headers['access-control-allow-origin'], 'https://app.example')
    assert.match(String(preflight.headers['access-control-allow-headers']), /authorization/)
    const call = await s.app.inject({
      method: 'GET',
      url: '/api/v1/auth/whoami',
      headers: { ...bearer(key), origin: 'https://app.example' },
    })
    assert.equal(call.statusCode, 200)
    assert.equal(call.headers['access-control-allow-origin'], 'https://app.example')
    assert.match(String(call.headers['access-control-expose-headers']), /ratelimit-remaining/)
    const other = await s.app.inject({
      method: 'OPTIONS',
      url: '/api/v1/auth/whoami',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'GET' },
    })
    assert.notEqual(other.statusCode, 204)
    assert.equal(other.headers['access-control-allow-origin'], undefined)
    const otherCall = await s.app.inject({
      method: 'GET',
      url: '/api/v1/auth/whoami',
      headers: { ...bearer(key), origin: 'https://evil.example' },
    })
    assert.equal(otherCall.headers['access-control-allow-origin'], undefined)
  })

  it('refuses a revoked key at once, also on a keep-alive connection that presented it before', async () => {
    const first = await createKey({ name: 'kept-alive', role: 'user' })
    const second = await createKey({ name: 'same-connection', role: 'auditor' })
    const app = await buildApiServer({ logger: createLogger({ level: 'silent' }), guard: s.auth }, {}, [
      keyRoutes({ auth: s.auth }),
    ])
    await app.listen({ host: '127.0.0.1', port: 0 })
    const { port } = app.server.address() as { port: number }
    const agent = new Agent({ keepAlive: true, maxSockets: 1 })
    const whoami = (credential: string) =>
      new Promise<{ status: number; reused: boolean }>((resolve, reject) => {
        const req = request(
          { host: '127.0.0.1', port, path: '/api/v1/auth/whoami', agent, headers: bearer(credential) },
          (res) => {
            res.resume()
            res.on('end', () => resolve({ status: res.statusCode ?? 0, reused: req.reusedSocket }))
          },
        )
        req.on('error', reject)
        req.end()
      })
    try {
      const seen: Array<{ status: number; reused: boolean }> = []
      for (const credential of [first.key, first.key, second.key, first.key])
        seen.push(await whoami(credential))
      assert.deepEqual(
        seen.map((r) => r.status),
        [200, 200, 200, 200],
      )
      assert.deepEqual(
        seen.map((r) => r.reused),
        [false, true, true, true],
        'one connection',
      )
      const admin = await s.auth.authenticate(`Bearer ${s.admin}`)
      s.auth.revokeKey(admin, first.id)
      const afterRevoke = await whoami(first.key)
      assert.deepEqual(afterRevoke, { status: 401, reused: true }, 'refused on the connection that used it')
      assert.equal((await whoami(second.key)).status, 200)
      const forged = `${second.key.slice(0, 18)}${'A'.repeat(43)}`
      assert.equal((await whoami(forged)).status, 401, 'same key id, another secret')
    } finally {
      agent.destroy()
      await app.close()
    }
  })

  it('logs one structured line per request with no credential in it', async () => {
    const { key } = await createKey({ name: 'logged', role: 'user' })
    const jwt = (
      await s.app.inject({ method: 'POST', url: '/api/v1/auth/token', headers: bearer(key), payload: {} })
    ).json().token as string
    await s.app.inject({ method: 'GET', url: `/api/v1/auth/whoami?secret=${key}`, headers: bearer(jwt) })
    const text = s.logs.join('')
    const line = text
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l))
      .findLast((l) => l.msg === 'api request')
    const { time, pid, reqId, ms, ...fixed } = line
    assert.deepEqual(fixed, {
      level: 30,
      name: 'prsm',
      method: 'GET',
      route: '/api/v1/auth/whoami',
      status: 200,
      key: key.slice(5, 17),
      role: 'user',
      msg: 'api request',
    })
    assert.equal(typeof time, 'number')
    assert.equal(pid, process.pid)
    assert.equal(typeof reqId, 'string')
    assert.equal(typeof ms, 'number')
    for (const secret of [key, jwt, s.admin, key.slice(18)]) assert.ok(!text.includes(secret))
  })
})
