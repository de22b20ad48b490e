import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import type { FastifyInstance } from 'fastify'
import pino from 'pino'
import type { ApiAuth } from '../../src/api/auth/api-auth.ts'
import { contentRoutes } from '../../src/api/routes/content.ts'
import { buildApiServer } from '../../src/api/server.ts'
import type { PrsmNode } from '../../src/node.ts'
import { bootstrapAddr, memoryApiAuth, startTestNode, stopAll, waitFor } from '../helpers.ts'
import { digest, MiB } from './bytes.ts'

/** The content and replication routes on the real API server (auth included) over a real node. */
describe('API: content and replication routes', () => {
  let node: PrsmNode
  let holder: PrsmNode
  let auth: ApiAuth
  let app: FastifyInstance
  let headers: Record<string, string>
  const data = randomBytes(2 * MiB + 99)
  let cid: string

  before(async () => {
    node = await startTestNode()
    holder = await startTestNode({
      config: { bootstrap: [bootstrapAddr(node)], offers: [{ capability: 'storage:pin', price: '0.001' }] },
    })
    auth = memoryApiAuth({ audit: { append: () => undefined } })
    app = await buildApiServer({ logger: pino({ level: 'silent' }), guard: auth }, {}, [
      contentRoutes({ storage: node.storage, replication: node.replication }),
    ])
    headers = { authorization: `Bearer ${auth.localToken}` }
    await waitFor(
      'the node knows the storage:pin offer',
      () => node.offers.knownOffers('storage:pin').length === 1,
    )
  })
  after(async () => {
    await app.close()
    auth.close()
    await stopAll([holder, node])
  })

  const errorCode = (res: { json(): unknown }): string | undefined =>
    (res.json() as { error?: { code?: string } }).error?.code

  it('uploads a streamed body and downloads it whole and by range', async () => {
    const up = await app.inject({
      method: 'POST',
      url: '/api/v1/content',
      headers: { ...headers, 'content-type': 'application/octet-stream' },
      payload: data,
    })
    assert.equal(up.statusCode, 200, up.body)
    const added = up.json() as { cid: string; size: number }
    assert.equal(added.size, data.byteLength)
    assert.match(added.cid, /^bafy/)
    cid = added.cid

    const down = await app.inject({ method: 'GET', url: `/api/v1/content/${cid}`, headers })
    assert.equal(down.statusCode, 200)
    assert.equal(down.headers['content-length'], String(data.byteLength))
    assert.equal(digest(down.rawPayload), digest(data))

    const part = await app.inject({
      method: 'GET',
      url: `/api/v1/content/${cid}`,
      headers: { ...headers, range: `bytes=${MiB - 10}-${MiB + 9}` },
    })
    assert.equal(part.statusCode, 206)
    assert.equal(part.headers['content-range'], `bytes ${MiB - 10}-${MiB + 9}/${data.byteLength}`)
    assert.deepEqual(part.rawPayload, data.subarray(MiB - 10, MiB + 10))

    const stat = await app.inject({ method: 'GET', url: `/api/v1/content/${cid}/stat`, headers })
    assert.equal(stat.statusCode, 200)
    assert.deepEqual(
      (({ type, size, local, pinned }) => ({ type, size, local, pinned }))(
        stat.json() as Record<string, unknown>,
      ),
      { type: 'file', size: data.byteLength, local: true, pinned: true },
    )
  })

  it('pins, lists, unpins and garbage-collects', async () => {
    const pins = await app.inject({ method: 'GET', url: '/api/v1/pins', headers })
    assert.ok((pins.json() as { pins: string[] }).pins.includes(cid))
    const unpin = await app.inject({ method: 'DELETE', url: `/api/v1/content/${cid}/pin`, headers })
    assert.equal(unpin.statusCode, 200)
    const again = await app.inject({ method: 'DELETE', url: `/api/v1/content/${cid}/pin`, headers })
    assert.equal(again.statusCode, 404)
    assert.equal(errorCode(again), 'NOT_FOUND')
    const gc = await app.inject({ method: 'POST', url: '/api/v1/content/gc', headers })
    assert.equal(gc.statusCode, 200)
    assert.ok((gc.json() as { removed: number }).removed >= 4, 'root and three leaves removed')
  })

  it('rejects bad input with its code and changes nothing', async () => {
    const badCid = await app.inject({ method: 'GET', url: '/api/v1/content/not-a-cid/stat', headers })
    assert.equal(badCid.statusCode, 400)
    assert.equal(errorCode(badCid), 'CONTENT_INVALID_CID')

    const json = await app.inject({
      method: 'POST',
      url: '/api/v1/content',
      headers: { ...headers, 'content-type': 'application/json' },
      payload: { not: 'a file' },
    })
    assert.ok(json.statusCode >= 400 && json.statusCode < 500, json.body)

    const small = randomBytes(1000)
    const { cid: smallCid } = (
      await app.inject({
        method: 'POST',
        url: '/api/v1/content',
        headers: { ...headers, 'content-type': 'application/octet-stream' },
        payload: small,
      })
    ).json() as { cid: string }
    const range = await app.inject({
      method: 'GET',
      url: `/api/v1/content/${smallCid}`,
      headers: { ...headers, range: 'bytes=5000-6000' },
    })
    assert.equal(range.statusCode, 416)
    assert.equal(errorCode(range), 'CONTENT_RANGE_INVALID')

    for (const payload of [{ replicas: 0 }, { replicas: 65 }, { replicas: 1, extra: true }]) {
      const res = await app.inject({
        method: 'POST',
        url: `/api/v1/content/${smallCid}/replicate`,
        headers,
        payload,
      })
      assert.equal(res.statusCode, 400, JSON.stringify(payload))
      assert.equal(errorCode(res), 'VALIDATION_FAILED')
    }
    assert.equal(node.replication.get(smallCid).replicas, 0, 'no replication was started')

    const noToken = await app.inject({ method: 'GET', url: `/api/v1/content/${smallCid}/stat` })
    assert.equal(noToken.statusCode, 401)
  })

  it('replicates to a storage provider and reports replicas and spot checks', async () => {
    const { cid: file } = await node.storage.add(
      (async function* () {
        yield randomBytes(3000)
      })(),
    )
    const res = await app.inject({
      method: 'POST',
      url: `/api/v1/content/${file}/replicate`,
      headers,
      payload: { replicas: 1 },
    })
    assert.equal(res.statusCode, 200, res.body)
    const state = res.json() as { replicas: number; holders: Array<{ holder: string; receipt: string }> }
    assert.equal(state.replicas, 1)
    assert.equal(state.holders[0]?.holder, holder.peerId)

    const replicas = await app.inject({ method: 'GET', url: `/api/v1/content/${file}/replicas`, headers })
    assert.deepEqual((replicas.json() as { holders: unknown[] }).holders.length, 1)
    const all = await app.inject({ method: 'GET', url: '/api/v1/replicas', headers })
    assert.ok((all.json() as { replicas: Array<{ cid: string }> }).replicas.some((r) => r.cid === file))
    const check = await app.inject({ method: 'POST', url: `/api/v1/content/${file}/spot-check`, headers })
    assert.equal(check.statusCode, 200)
    assert.deepEqual(
      (check.json() as { results: Array<{ holder: string; ok: boolean }> }).results.map((r) => [
        r.holder,
        r.ok,
      ]),
      [[holder.peerId, true]],
    )

    // asking for more replicas than there are providers fails with its code
    const short = await app.inject({
      method: 'POST',
      url: `/api/v1/content/${file}/replicate`,
      headers,
      payload: { replicas: 3 },
    })
    assert.equal(short.statusCode, 502)
    assert.equal(errorCode(short), 'REPLICATION_FAILED')
    assert.equal(node.replication.get(file).replicas, 1)
  })
})
