import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import type { PrsmNode } from '../../src/index.ts'
import { bootstrapAddr, startTestNode, stopAll, waitFor } from '../helpers.ts'

const HF_TOKEN = 'hf_test_0123456789abcdef'
process.env.PRSM_TEST_HF_TOKEN = HF_TOKEN
const TOKENS = ['The', ' answer', ' is', ' 42']

/**
 * A Text Generation Inference server's Messages API (`POST /v1/chat/completions`, SSE chunks as
 * TGI sends them: `tgi` as the model, a role on every delta, a final chunk with finish_reason and
 * usage). Model `tgi-nousage` streams without usage (older TGI); `tgi-overloaded` answers 503.
 */
function tgi() {
  const seen: Array<{ url: string; auth: string | undefined; body: Record<string, unknown> }> = []
  const server = createServer((req, res) => {
    let raw = ''
    req.on('data', (c: Buffer) => {
      raw += c.toString()
    })
    req.on('end', () => {
      const body = JSON.parse(raw) as { model: string; stream: boolean }
      seen.push({ url: req.url ?? '', auth: req.headers.authorization, body })
      if (req.url !== '/v1/chat/completions' || req.headers.authorization !== `Bearer ${HF_TOKEN}`) {
        res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not found"}')
        return
      }
      if (body.model === 'tgi-overloaded') {
        res.writeHead(503, { 'content-type': 'application/json' })
        res.end('{"error":"Model is overloaded","error_type":"overloaded"}')
        return
      }
      const chunk = (delta: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
        `data: ${JSON.stringify({
          object: 'chat.completion.chunk',
          id: '',
          created: 1732400000,
          model: 'tgi',
          system_fingerprint: '3.0.1-sha-0000000',
          choices: [{ index: 0, delta, logprobs: null, finish_reason: null }],
          ...extra,
        })}\n\n`
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      for (const content of TOKENS) res.write(chunk({ role: 'assistant', content }))
      res.write(
        chunk(
          { role: 'assistant', content: '' },
          body.model === 'tgi-nousage'
            ? {}
            : { usage: { prompt_tokens: 5, completion_tokens: 4, total_tokens: 9 } },
        ),
      )
      res.end('data: [DONE]\n\n')
    })
  })
  return { server, seen }
}

describe('huggingface backend (Text Generation Inference wire format, local server)', () => {
  const nodes: PrsmNode[] = []
  const { server, seen } = tgi()
  let provider: PrsmNode
  let client: PrsmNode

  before(async () => {
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    const models = ['tgi', 'tgi-nousage', 'tgi-overloaded']
    provider = await startTestNode({
      config: {
        offers: models.map((m) => ({ capability: `model:${m}`, price: '0' })),
        jobs: {
          backends: [
            {
              type: 'huggingface',
              baseUrl: base,
              apiKeyEnv: 'PRSM_TEST_HF_TOKEN',
              models: models.map((m) => ({
                capability: `model:${m}`,
                model: m,
                inputCostPerMTok: '1',
                outputCostPerMTok: '3',
              })),
            },
          ],
        },
      },
    })
    nodes.push(provider)
    client = await startTestNode({ config: { bootstrap: [bootstrapAddr(provider)] } })
    nodes.push(client)
    await waitFor('the client to connect', () => client.libp2p.getPeers().length > 0)
  })
  after(async () => {
    await stopAll(nodes)
    server.closeAllConnections()
    server.close()
  })

  it('streams tokens from TGI through the provider to the client with the upstream usage', async () => {
    const { receipt, output, chunks } = await client.jobs.request(provider.peerId, {
      step: { capability: 'model:tgi', params: { max_tokens: 16 } },
      inputs: [{ text: 'What is the answer?' }],
      maxPrice: 0n,
    })
    assert.equal(receipt.status, 'ok')
    assert.equal(Buffer.from(output).toString(), 'The answer is 42')
    assert.equal(chunks, 4, 'the empty final delta is not a chunk')
    assert.deepEqual([receipt.usage.tokensIn, receipt.usage.tokensOut], [5, 4])
    const sent = seen.at(-1)
    assert.equal(sent?.url, '/v1/chat/completions')
    assert.equal(sent?.body.max_tokens, 16)
    assert.equal(sent?.body.stream, true)
    assert.deepEqual(sent?.body.messages, [{ role: 'user', content: 'What is the answer?' }])
  })

  it('counts the delivered text with the tokenizer when TGI reports no usage', async () => {
    const { receipt } = await client.jobs.request(provider.peerId, {
      step: { capability: 'model:tgi-nousage' },
      inputs: [{ text: 'hi' }],
      maxPrice: 0n,
    })
    assert.equal(receipt.status, 'ok')
    assert.equal(receipt.output.text, 'The answer is 42')
    // o200k tokens of the deltas: 'The' 1, ' answer' 1, ' is' 1, ' 42' 2; of the prompt 'hi': 1
    assert.equal(receipt.usage.tokensOut, 5)
    assert.equal(receipt.usage.tokensIn, 1)
  })

  it('an overloaded TGI (503) ends the job with JOB_BACKEND_FAILED and the token stays on the provider', async () => {
    const { receipt, chunks } = await client.jobs.request(provider.peerId, {
      step: { capability: 'model:tgi-overloaded' },
      inputs: [{ text: 'hi' }],
      maxPrice: 0n,
    })
    assert.equal(receipt.status, 'failed')
    assert.equal(receipt.error?.code, 'JOB_BACKEND_FAILED')
    assert.match(receipt.error?.message ?? '', /503/)
    assert.doesNotMatch(receipt.error?.message ?? '', /hf_/)
    assert.equal(chunks, 0)
  })
})
