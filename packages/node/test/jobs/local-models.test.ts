import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { hasCode } from '@prsm/core'
import { detectLocalModels, type PrsmNode } from '../../src/index.ts'
import { bootstrapAddr, startTestNode, stopAll, waitFor } from '../helpers.ts'

/** A local Ollama: GET /api/tags and its OpenAI-compatible POST /v1/chat/completions (streamed). */
function ollama() {
  const chats: Array<{ model: string }> = []
  const server = createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/api/tags') {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(
        JSON.stringify({
          models: [
            {
              name: 'llama3.2:3b',
              model: 'llama3.2:3b',
              modified_at: '2026-11-01T10:00:00Z',
              size: 2019393189,
              digest: 'a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72',
              details: {
                format: 'gguf',
                family: 'llama',
                parameter_size: '3.2B',
                quantization_level: 'Q4_K_M',
              },
            },
            { name: 'qwen2.5:0.5b', model: 'qwen2.5:0.5b', size: 397821319 },
            { name: 'bad name with spaces', model: 'bad name with spaces', size: 1 },
          ],
        }),
      )
      return
    }
    let raw = ''
    req.on('data', (c: Buffer) => {
      raw += c.toString()
    })
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/chat/completions') {
        res.writeHead(404).end()
        return
      }
      const body = JSON.parse(raw) as { model: string }
      chats.push(body)
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      for (const content of ['Hi', ' from', ` ${body.model}`]) {
        res.write(
          `data: ${JSON.stringify({ id: 'chatcmpl-1', object: 'chat.completion.chunk', model: body.model, choices: [{ index: 0, delta: { role: 'assistant', content }, finish_reason: null }] })}\n\n`,
        )
      }
      res.write(
        `data: ${JSON.stringify({ object: 'chat.completion.chunk', model: body.model, choices: [], usage: { prompt_tokens: 3, completion_tokens: 3, total_tokens: 6 } })}\n\n`,
      )
      res.end('data: [DONE]\n\n')
    })
  })
  return { server, chats }
}

describe('local models: a node offers the models of a local Ollama (--detect-local-models)', () => {
  const nodes: PrsmNode[] = []
  const { server, chats } = ollama()
  let url: string

  before(async () => {
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })
  after(async () => {
    await stopAll(nodes)
    server.closeAllConnections()
    server.close()
  })

  it('detectLocalModels lists the models as capabilities (names that are no capability skipped)', async () => {
    const models = await detectLocalModels({ baseUrl: url })
    assert.deepEqual(
      models.map((m) => m.capability),
      ['model:llama3.2:3b', 'model:qwen2.5:0.5b'],
    )
    assert.equal(models[0]?.size, 2019393189)
  })

  it('detectLocalModels fails with JOB_BACKEND_FAILED when nothing answers', async () => {
    const closed = createServer()
    closed.listen(0, '127.0.0.1')
    await once(closed, 'listening')
    const port = (closed.address() as AddressInfo).port
    closed.close()
    await once(closed, 'close')
    await assert.rejects(detectLocalModels({ baseUrl: `http://127.0.0.1:${port}` }), (err) =>
      hasCode(err, 'JOB_BACKEND_FAILED'),
    )
  })

  it('a node started with detection offers them and serves a streamed job from the local model', async () => {
    const provider = await startTestNode({ config: { jobs: { localModels: { detect: true, url } } } })
    nodes.push(provider)
    assert.deepEqual(
      provider.offers
        .localOffers()
        .map((o) => [o.offer.capability, o.offer.price, o.offer.unit])
        .sort(),
      [
        ['model:llama3.2:3b', '0', 'token'],
        ['model:qwen2.5:0.5b', '0', 'token'],
      ],
    )
    assert.deepEqual(
      provider.jobs.provider
        .backends()
        .filter((b) => b.capability.startsWith('model:'))
        .map((b) => b.backend),
      ['openai-compatible', 'openai-compatible'],
    )
    const client = await startTestNode({ config: { bootstrap: [bootstrapAddr(provider)] } })
    nodes.push(client)
    await waitFor('the client to connect', () => client.libp2p.getPeers().length > 0)
    const { receipt, output, chunks } = await client.jobs.request(provider.peerId, {
      step: { capability: 'model:qwen2.5:0.5b' },
      inputs: [{ text: 'hello' }],
      maxPrice: 0n,
    })
    assert.equal(receipt.status, 'ok')
    assert.equal(Buffer.from(output).toString(), 'Hi from qwen2.5:0.5b')
    assert.equal(chunks, 3)
    assert.deepEqual([receipt.usage.tokensIn, receipt.usage.tokensOut], [3, 3])
    assert.equal(chats.at(-1)?.model, 'qwen2.5:0.5b')
  })

  it('a node whose probe gets no answer starts without local offers', async () => {
    const node = await startTestNode({
      config: { jobs: { localModels: { detect: true, url: 'http://127.0.0.1:9', timeoutMs: 200 } } },
    })
    nodes.push(node)
    assert.deepEqual(node.offers.localOffers(), [])
  })
})
