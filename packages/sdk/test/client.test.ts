import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer, request, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { type PrsmNode, readRuntimeFile } from '@prsm/node'
import { bootstrapAddr, startTestNode, stopAll, waitFor } from '../../node/test/helpers.ts'
import { echoBackend, gatedBackend } from '../../node/test/jobs/helpers.ts'
import { isPrsmApiError, PrsmApiError, PrsmClient, PrsmConnectionError } from '../src/index.ts'
import { jsonEvents } from '../src/streams.ts'

/**
 * A faulty hop in front of the node: answers the first requests with `statuses` itself, then
 * forwards requests, but for the first `drops` of them waits for the node's whole answer and then
 * cuts the client's connection (the answer is lost).
 */
async function lossyProxy(
  target: string,
  drops: number,
  statuses: number[] = [],
): Promise<{ server: Server; url: string; seen: string[] }> {
  const seen: string[] = []
  const { hostname, port } = new URL(target)
  const server = createServer((req, res) => {
    seen.push(String(req.headers['idempotency-key'] ?? ''))
    // like a gateway in front of the node: answer these statuses itself first
    const status = statuses.shift()
    if (status !== undefined) {
      req.resume()
      res.writeHead(status, { 'retry-after': '0', 'content-type': 'text/plain' }).end('busy')
      return
    }
    const drop = drops-- > 0
    const upstream = request(
      { hostname, port, path: req.url, method: req.method, headers: req.headers },
      (answer) => {
        if (drop) {
          answer.resume()
          answer.on('end', () => res.socket?.destroy())
          return
        }
        res.writeHead(answer.statusCode ?? 502, answer.headers)
        answer.pipe(res)
      },
    )
    req.pipe(upstream)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen }
}

describe('@prsm/sdk against a real node', () => {
  const nodes: PrsmNode[] = []
  let node: PrsmNode
  let provider: PrsmNode
  let prsm: PrsmClient
  let apiUrl: string
  let token: string
  const gated = gatedBackend(1)

  before(async () => {
    provider = await startTestNode({
      config: {
        offers: [
          { capability: 'model:echo', price: '0' },
          { capability: 'model:gated', price: '0' },
        ],
      },
    })
    nodes.push(provider)
    provider.jobs.registerBackend('model:echo', echoBackend())
    provider.jobs.registerBackend('model:gated', gated.backend)
    node = await startTestNode({ api: true, config: { bootstrap: [bootstrapAddr(provider)] } })
    nodes.push(node)
    ;({ apiUrl, token } = await readRuntimeFile(node.dataDir))
    prsm = new PrsmClient({ baseUrl: apiUrl, token, retryDelayMs: 10 })
  })
  after(() => stopAll(nodes))

  it('calls typed operations (path parameters, query, body)', async () => {
    const status = await prsm.get('/api/v1/node/status')
    assert.equal(status.peerId, node.peerId)
    const { offers } = await prsm.get('/api/v1/offers', { query: { capability: 'model:echo', dht: 'false' } })
    assert.ok(Array.isArray(offers))
    const created = await prsm.post('/api/v1/keys', { body: { name: 'sdk-user', role: 'user' } })
    assert.match(created.key, /^prsm_/)
    const revoked = await prsm.delete('/api/v1/keys/{id}', { params: { id: created.id } })
    assert.equal(revoked.id, created.id)
    assert.notEqual(revoked.revokedAt, null)
  })

  it('rebuilds typed errors from wire codes', async () => {
    await assert.rejects(
      prsm.get('/api/v1/content/{cid}/stat', { params: { cid: 'not-a-cid' } }),
      (err: unknown) => {
        assert.ok(err instanceof PrsmApiError)
        assert.equal(err.status, 400)
        assert.equal(err.code, 'CONTENT_INVALID_CID')
        return true
      },
    )
    const stranger = new PrsmClient({ baseUrl: apiUrl, token: 'wrong', retries: 0 })
    await assert.rejects(stranger.get('/api/v1/node/status'), (err) => isPrsmApiError(err, 'UNAUTHORIZED'))
    await assert.rejects(
      prsm.post('/api/v1/keys', { body: { name: '', role: 'user' } }),
      (err) => isPrsmApiError(err, 'VALIDATION_FAILED') && err.status === 400 && 'issues' in err.details,
    )
  })

  it('streams NDJSON job events as an async iterator', async () => {
    await waitFor(
      'the echo offer',
      async () => (await node.findOffers('model:echo', { timeoutMs: 2_000 })).length > 0,
      20_000,
    )
    const events: Array<{ type: string; text?: string; receipt?: { status: string } }> = []
    for await (const e of prsm.stream('POST', '/api/v1/jobs', {
      body: { capability: 'model:echo', inputs: [{ text: 'one two three' }] },
    })) {
      events.push(e as (typeof events)[number])
    }
    assert.deepEqual(
      events.map((e) => e.type),
      ['provider', 'accepted', 'chunk', 'chunk', 'chunk', 'receipt'],
    )
    assert.equal(
      events
        .filter((e) => e.type === 'chunk')
        .map((e) => e.text)
        .join(''),
      'one two three',
    )
    assert.equal(events.at(-1)?.receipt?.status, 'ok')
  })

  it('timeoutMs bounds the wait for the answer, not a stream that runs longer', async () => {
    const quick = new PrsmClient({ baseUrl: apiUrl, token, timeoutMs: 300, retries: 0 })
    const types: string[] = []
    for await (const e of quick.stream('POST', '/api/v1/jobs', {
      body: { capability: 'model:gated', provider: provider.peerId },
    })) {
      const event = e as { type: string }
      types.push(event.type)
      if (event.type === 'chunk' && types.filter((t) => t === 'chunk').length === 1) {
        await gated.state.started
        // the stream stays open past the client's timeout before the backend finishes
        setTimeout(() => gated.state.finish(), 600)
      }
    }
    assert.deepEqual(types, ['provider', 'accepted', 'chunk', 'chunk', 'receipt'])
  })

  it('a refused stream throws its code before any event', async () => {
    const run = async () => {
      for await (const _ of prsm.stream('POST', '/api/v1/jobs', {
        body: { capability: 'model:unoffered', provider: provider.peerId },
      })) {
        assert.fail('no event expected')
      }
    }
    await assert.rejects(run(), (err) => isPrsmApiError(err, 'JOB_NO_OFFER') && err.status === 404)
  })

  it('retries a POST whose answer was lost with the same Idempotency-Key: the node runs it once', async () => {
    const proxy = await lossyProxy(apiUrl, 1)
    try {
      const client = new PrsmClient({ baseUrl: proxy.url, token, retryDelayMs: 10 })
      const created = await client.post('/api/v1/keys', { body: { name: 'created-once', role: 'guest' } })
      assert.equal(proxy.seen.length, 2, 'the first answer was lost, the retry got one')
      assert.equal(proxy.seen[0], proxy.seen[1])
      assert.ok((proxy.seen[0] ?? '').length > 0)
      const { keys } = await prsm.get('/api/v1/keys')
      const named = keys.filter((k) => k.name === 'created-once')
      assert.equal(named.length, 1, 'one key was created, not two')
      assert.equal(named[0]?.id, created.id)
    } finally {
      proxy.server.closeAllConnections()
      proxy.server.close()
    }
  })

  it('retries 429 and 503 answers (honouring Retry-After), then returns the answer', async () => {
    const proxy = await lossyProxy(apiUrl, 0, [503, 429])
    const proxy2 = await lossyProxy(apiUrl, 0, [503, 503])
    try {
      const client = new PrsmClient({ baseUrl: proxy.url, token, retryDelayMs: 5 })
      assert.equal((await client.get('/api/v1/node/status')).peerId, node.peerId)
      assert.equal(proxy.seen.length, 3)
      // out of retries: the last answer is the error (not a PRSM body: INTERNAL with the status)
      const once = new PrsmClient({ baseUrl: proxy2.url, token, retries: 1, retryDelayMs: 5 })
      await assert.rejects(
        once.get('/api/v1/node/status'),
        (err) => isPrsmApiError(err, 'INTERNAL') && err.status === 503,
      )
      assert.equal(proxy2.seen.length, 2)
    } finally {
      for (const p of [proxy, proxy2]) {
        p.server.closeAllConnections()
        p.server.close()
      }
    }
  })

  it('gives up after the retries with a PrsmConnectionError', async () => {
    const proxy = await lossyProxy(apiUrl, 100)
    try {
      const client = new PrsmClient({ baseUrl: proxy.url, token, retries: 2, retryDelayMs: 5 })
      await assert.rejects(client.get('/api/v1/node/status'), PrsmConnectionError)
      assert.equal(proxy.seen.length, 3)
      // without an idempotency key a POST is sent once only
      const once = proxy.seen.length
      await assert.rejects(
        client.post('/api/v1/keys', { body: { name: 'x', role: 'guest' }, idempotencyKey: false }),
        PrsmConnectionError,
      )
      assert.equal(proxy.seen.length, once + 1)
      assert.equal(proxy.seen.at(-1), '')
    } finally {
      proxy.server.closeAllConnections()
      proxy.server.close()
    }
  })
})

describe('stream parsing', () => {
  const response = (body: string, type: string) => new Response(body, { headers: { 'content-type': type } })

  it('reads SSE data events up to [DONE], split across chunks and with CRLF', async () => {
    const text =
      'data: {"a":1}\r\n\r\n: comment\n\nevent: x\ndata: {"b":\ndata: 2}\n\ndata: [DONE]\n\ndata: {"c":3}\n\n'
    const bytes = new TextEncoder().encode(text)
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < bytes.length; i += 7) controller.enqueue(bytes.slice(i, i + 7))
        controller.close()
      },
    })
    const got: unknown[] = []
    for await (const v of jsonEvents(
      new Response(body, { headers: { 'content-type': 'text/event-stream' } }),
    ))
      got.push(v)
    assert.deepEqual(got, [{ a: 1 }, { b: 2 }])
  })

  it('throws the code of an error event (NDJSON and SSE)', async () => {
    const ndjson = response(
      '{"type":"chunk"}\n{"type":"error","error":{"code":"JOB_BACKEND_FAILED","message":"x"}}\n',
      'application/x-ndjson',
    )
    const seen: unknown[] = []
    await assert.rejects(
      (async () => {
        for await (const v of jsonEvents(ndjson)) seen.push(v)
      })(),
      (err) => isPrsmApiError(err, 'JOB_BACKEND_FAILED') && err.status === 0,
    )
    assert.deepEqual(seen, [{ type: 'chunk' }])
    const sse = response(
      'data: {"error":{"code":"NO_SUCH_CODE","message":"m","details":{}}}\n\n',
      'text/event-stream',
    )
    await assert.rejects(
      (async () => {
        for await (const _ of jsonEvents(sse)) assert.fail('no event expected')
      })(),
      (err) => isPrsmApiError(err, 'INTERNAL') && err.details.originalCode === 'NO_SUCH_CODE',
    )
  })
})
