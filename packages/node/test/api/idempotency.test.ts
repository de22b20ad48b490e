import assert from 'node:assert/strict'
import type { AddressInfo } from 'node:net'
import { Readable } from 'node:stream'
import { after, before, describe, it } from 'node:test'
import { PrsmError } from '@prsm/core'
import Fastify, { type FastifyInstance } from 'fastify'
import pino from 'pino'
import { z } from 'zod'
import type { ApiAuth } from '../../src/api/auth/api-auth.ts'
import { registerIdempotency } from '../../src/api/idempotency.ts'
import { route } from '../../src/api/route.ts'
import { keyRoutes } from '../../src/api/routes/keys.ts'
import { buildApiServer } from '../../src/api/server.ts'
import { memoryApiAuth, waitFor } from '../helpers.ts'

const FTNS = 10n ** 18n
const bearer = (t: string) => ({ authorization: `Bearer ${t}` })

describe('server-side idempotency (Idempotency-Key on POSTs, real API server and auth)', () => {
  let app: FastifyInstance
  let auth: ApiAuth
  const runs = { count: 0, stream: 0, flaky: 0, hang: 0 }
  let release: (() => void) | undefined
  let entered: (() => void) | undefined

  before(async () => {
    auth = memoryApiAuth({ audit: { append: () => {} } })
    app = await buildApiServer({ logger: pino({ level: 'silent' }), guard: auth }, {}, [
      keyRoutes({ auth }),
      (a) => {
        route(a, {
          method: 'POST',
          url: '/api/v1/test/count',
          summary: 'count',
          tags: ['test'],
          permission: 'jobs:run',
          body: z.object({ note: z.string().max(64), wei: z.string().regex(/^\d+$/).default('0') }).strict(),
          responses: { 201: z.object({ n: z.number(), note: z.string() }) },
          cost: ({ body }) => BigInt(body.wei),
          handler: ({ body, reply }) => {
            runs.count++
            reply.code(201).header('x-prsm-run', String(runs.count))
            return { n: runs.count, note: body.note }
          },
        })
        route(a, {
          method: 'POST',
          url: '/api/v1/test/stream',
          summary: 'stream',
          tags: ['test'],
          permission: 'jobs:run',
          body: z.object({ lines: z.number().int().min(0).max(100_000) }).strict(),
          responses: { 200: { contentType: 'application/x-ndjson', description: 'lines' } },
          handler: ({ body, reply }) => {
            runs.stream++
            const run = runs.stream
            async function* lines() {
              for (let i = 0; i < body.lines; i++)
                yield `${JSON.stringify({ run, i, pad: 'x'.repeat(20) })}\n`
            }
            reply.header('content-type', 'application/x-ndjson')
            return reply.send(Readable.from(lines()))
          },
        })
        route(a, {
          method: 'POST',
          url: '/api/v1/test/hang',
          summary: 'streams one line, then waits until the client goes away',
          tags: ['test'],
          permission: 'jobs:run',
          body: z.object({}).strict(),
          responses: { 200: { contentType: 'application/x-ndjson', description: 'one line' } },
          handler: ({ reply, signal }) => {
            runs.hang++
            async function* lines() {
              yield '{"first":true}\n'
              await new Promise((r) => signal.addEventListener('abort', r, { once: true }))
            }
            reply.header('content-type', 'application/x-ndjson')
            return reply.send(Readable.from(lines()))
          },
        })
        route(a, {
          method: 'POST',
          url: '/api/v1/test/slow',
          summary: 'slow',
          tags: ['test'],
          permission: 'jobs:run',
          body: z.object({}).strict(),
          responses: { 200: z.object({ done: z.literal(true) }) },
          handler: async () => {
            await new Promise<void>((r) => {
              release = r
              entered?.()
            })
            return { done: true as const }
          },
        })
        route(a, {
          method: 'POST',
          url: '/api/v1/test/flaky',
          summary: 'fails with a 5xx the first time',
          tags: ['test'],
          permission: 'jobs:run',
          body: z.object({}).strict(),
          responses: { 200: z.object({ run: z.number() }) },
          handler: () => {
            runs.flaky++
            if (runs.flaky === 1) throw new PrsmError('PEER_UNREACHABLE', 'not this time')
            return { run: runs.flaky }
          },
        })
      },
    ])
  })
  after(async () => {
    await app.close()
    auth.close()
  })

  async function createKey(body: Record<string, unknown>): Promise<string> {
    const res = await app.inject({
      method: 'POST',
      url: '/api/v1/keys',
      headers: bearer(auth.localToken),
      payload: body,
    })
    assert.equal(res.statusCode, 201, res.body)
    return (res.json() as { key: string }).key
  }

  function post(url: string, key: string, payload: unknown, token = auth.localToken) {
    return app.inject({
      method: 'POST',
      url,
      headers: { ...bearer(token), ...(key === '' ? {} : { 'idempotency-key': key }) },
      payload: payload as Record<string, unknown>,
    })
  }

  it('runs a POST once per key: a retry with the same body gets the stored answer, marked as replayed', async () => {
    const first = await post('/api/v1/test/count', 'k-1', { note: 'a' })
    assert.equal(first.statusCode, 201)
    assert.equal(first.headers['idempotent-replayed'], undefined)
    const again = await post('/api/v1/test/count', 'k-1', { note: 'a' })
    assert.equal(again.statusCode, 201)
    assert.equal(again.body, first.body)
    assert.equal(again.headers['idempotent-replayed'], 'true')
    assert.equal(again.headers['x-prsm-run'], first.headers['x-prsm-run'])
    assert.match(String(again.headers['content-type']), /application\/json/)
    assert.equal(runs.count, 1)
    // without a key, or with another key, it runs again
    assert.equal((await post('/api/v1/test/count', '', { note: 'a' })).json().n, 2)
    assert.equal((await post('/api/v1/test/count', 'k-2', { note: 'a' })).json().n, 3)
  })

  it('the same key with a different body is IDEMPOTENCY_KEY_REUSED and runs nothing', async () => {
    const before = runs.count
    await post('/api/v1/test/count', 'k-body', { note: 'a' })
    const other = await post('/api/v1/test/count', 'k-body', { note: 'b' })
    assert.equal(other.statusCode, 422)
    assert.equal(other.json().error.code, 'IDEMPOTENCY_KEY_REUSED')
    const otherRoute = await post('/api/v1/test/flaky', 'k-body', {})
    assert.equal(otherRoute.json().error.code, 'IDEMPOTENCY_KEY_REUSED')
    assert.equal(runs.count, before + 1)
  })

  it('keys are per API key: another caller with the same Idempotency-Key runs its own request', async () => {
    const alice = await createKey({ name: 'alice', role: 'user' })
    const bob = await createKey({ name: 'bob', role: 'user' })
    const a = await post('/api/v1/test/count', 'shared', { note: 'x' }, alice)
    const b = await post('/api/v1/test/count', 'shared', { note: 'x' }, bob)
    assert.notEqual(a.json().n, b.json().n)
    assert.equal(b.headers['idempotent-replayed'], undefined)
    assert.equal((await post('/api/v1/test/count', 'shared', { note: 'x' }, bob)).json().n, b.json().n)
  })

  it('a retry while the first request runs is IDEMPOTENCY_IN_PROGRESS; afterwards it replays', async () => {
    const started = new Promise<void>((r) => {
      entered = r
    })
    const first = post('/api/v1/test/slow', 'k-slow', {})
    await started
    const during = await post('/api/v1/test/slow', 'k-slow', {})
    assert.equal(during.statusCode, 409)
    assert.equal(during.json().error.code, 'IDEMPOTENCY_IN_PROGRESS')
    release?.()
    assert.deepEqual((await first).json(), { done: true })
    const after = await post('/api/v1/test/slow', 'k-slow', {})
    assert.equal(after.headers['idempotent-replayed'], 'true')
    assert.deepEqual(after.json(), { done: true })
  })

  it('a server error is not stored: the retry runs again', async () => {
    const first = await post('/api/v1/test/flaky', 'k-flaky', {})
    assert.equal(first.statusCode, 502)
    const retry = await post('/api/v1/test/flaky', 'k-flaky', {})
    assert.equal(retry.statusCode, 200)
    assert.deepEqual(retry.json(), { run: 2 })
    assert.deepEqual((await post('/api/v1/test/flaky', 'k-flaky', {})).json(), { run: 2 })
  })

  it('a streamed answer is replayed byte for byte; one over the cap is IDEMPOTENCY_NOT_REPLAYABLE', async () => {
    const first = await post('/api/v1/test/stream', 'k-stream', { lines: 50 })
    assert.equal(first.body.split('\n').length, 51)
    const again = await post('/api/v1/test/stream', 'k-stream', { lines: 50 })
    assert.equal(again.body, first.body)
    assert.equal(again.headers['content-type'], 'application/x-ndjson')
    assert.equal(runs.stream, 1)
    // ~40 bytes a line: 40,000 lines are over the 1 MiB cap
    const big = await post('/api/v1/test/stream', 'k-big', { lines: 40_000 })
    assert.equal(big.statusCode, 200)
    assert.ok(big.body.length > 1024 * 1024)
    const retry = await post('/api/v1/test/stream', 'k-big', { lines: 40_000 })
    assert.equal(retry.statusCode, 409)
    assert.equal(retry.json().error.code, 'IDEMPOTENCY_NOT_REPLAYABLE')
    assert.equal(runs.stream, 2)
  })

  it('a replay reserves nothing against the daily budget', async () => {
    const spender = await createKey({ name: 'spender', role: 'user', dailyBudget: '1' })
    const body = { note: 'pay', wei: ((6n * FTNS) / 10n).toString() }
    const first = await post('/api/v1/test/count', 'k-pay', body, spender)
    assert.equal(first.headers['x-prsm-budget-spent'], body.wei)
    const again = await post('/api/v1/test/count', 'k-pay', body, spender)
    assert.equal(again.statusCode, 201)
    assert.equal(again.headers['idempotent-replayed'], 'true')
    assert.equal(again.headers['x-prsm-budget-spent'], body.wei)
  })

  it('an answer cut short (the client went away mid-stream) is not stored: the retry runs again', async () => {
    await app.listen({ host: '127.0.0.1', port: 0 })
    const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/api/v1/test/hang`
    const headers = {
      ...bearer(auth.localToken),
      'idempotency-key': 'k-hang',
      'content-type': 'application/json',
    }
    /** Sends the request, reads the first line, then goes away. */
    async function attempt(): Promise<number> {
      const controller = new AbortController()
      const res = await fetch(url, { method: 'POST', headers, body: '{}', signal: controller.signal })
      if (res.status !== 200) {
        assert.equal(
          ((await res.json()) as { error: { code: string } }).error.code,
          'IDEMPOTENCY_IN_PROGRESS',
        )
        return res.status
      }
      assert.equal(res.headers.get('idempotent-replayed'), null)
      const reader = (res.body as ReadableStream<Uint8Array>).getReader()
      assert.match(new TextDecoder().decode((await reader.read()).value), /first/)
      controller.abort()
      await reader.closed.catch(() => {})
      return res.status
    }
    assert.equal(await attempt(), 200)
    assert.equal(runs.hang, 1)
    // until the server has seen the connection close the first run counts as in progress
    await waitFor('the retry to run again', async () => (await attempt()) === 200)
    assert.equal(runs.hang, 2)
  })

  it('refuses a malformed key', async () => {
    const res = await post('/api/v1/test/count', 'x'.repeat(256), { note: 'a' })
    assert.equal(res.statusCode, 400)
    assert.equal(res.json().error.code, 'VALIDATION_FAILED')
  })
})

describe('idempotency store limits', () => {
  it('forgets keys after the TTL and the oldest finished keys past the entry cap', async () => {
    let clock = 1_000_000
    let runs = 0
    const app = Fastify()
    registerIdempotency(app, { ttlMs: 1000, maxEntries: 2, now: () => clock })
    app.post('/x', async () => ({ run: ++runs }))
    const call = (key: string) =>
      app.inject({ method: 'POST', url: '/x', headers: { 'idempotency-key': key }, payload: {} })
    assert.equal((await call('a')).json().run, 1)
    assert.equal((await call('a')).json().run, 1)
    clock += 1001
    assert.equal((await call('a')).json().run, 2, 'expired: runs again')
    await call('b')
    await call('c') // three keys: 'a' (the oldest) is forgotten at the next request
    assert.equal((await call('c')).json().run, 4)
    assert.equal((await call('a')).json().run, 5)
    await app.close()
  })
})
