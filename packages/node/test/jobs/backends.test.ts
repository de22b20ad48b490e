import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import type { PrsmNode } from '../../src/index.ts'
import type { JobEvent } from '../../src/jobs/job-client.ts'
import { charge } from '../../src/jobs/job-provider.ts'
import { bootstrapAddr, startTestNode, stopAll, waitFor } from '../helpers.ts'

const OPENAI_KEY = 'sk-test-openai-0123456789'
const ANTHROPIC_KEY = 'sk-ant-test-0123456789'
process.env.PRSM_TEST_OPENAI_KEY = OPENAI_KEY
process.env.PRSM_TEST_ANTHROPIC_KEY = ANTHROPIC_KEY

const DELTAS = ['Hello', ', ', 'world', '!']

/**
 * An upstream that speaks the OpenAI chat completions and Anthropic Messages wire formats. The
 * model name chooses the behaviour: `ok`, `fail` (HTTP 500), `stall` (two deltas, then nothing)
 * or `drop` (two deltas, then the connection is cut).
 */
function upstream() {
  const bodies: Array<{ path: string; body: Record<string, unknown>; headers: IncomingMessage['headers'] }> =
    []
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let raw = ''
    req.on('data', (c: Buffer) => {
      raw += c.toString()
    })
    req.on('end', () => {
      const body = JSON.parse(raw) as { model: string; stream?: boolean }
      bodies.push({ path: req.url ?? '', body, headers: req.headers })
      const anthropic = req.url === '/v1/messages'
      const authorised = anthropic
        ? req.headers['x-api-key'] === ANTHROPIC_KEY && req.headers['anthropic-version'] === '2023-06-01'
        : req.headers.authorization === `Bearer ${OPENAI_KEY}`
      if (!authorised) {
        res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":{"message":"bad key"}}')
        return
      }
      if (body.model === 'fail') {
        res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":{"message":"overloaded"}}')
        return
      }
      if (body.stream === false) {
        res.writeHead(200, { 'content-type': 'application/json' })
        res.end(
          JSON.stringify(
            anthropic
              ? {
                  type: 'message',
                  role: 'assistant',
                  content: [{ type: 'text', text: DELTAS.join('') }],
                  usage: { input_tokens: 7, output_tokens: 4 },
                }
              : {
                  object: 'chat.completion',
                  choices: [{ index: 0, message: { role: 'assistant', content: DELTAS.join('') } }],
                  usage: { prompt_tokens: 7, completion_tokens: 4, total_tokens: 11 },
                },
          ),
        )
        return
      }
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
      const send = (event: string | undefined, data: unknown): void => {
        res.write(
          `${event ? `event: ${event}\n` : ''}data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`,
        )
      }
      const deltas = body.model === 'ok' ? DELTAS : DELTAS.slice(0, 2)
      if (anthropic) {
        send('message_start', {
          type: 'message_start',
          message: {
            id: 'msg_1',
            role: 'assistant',
            content: [],
            usage: { input_tokens: 7, output_tokens: 1 },
          },
        })
        send('content_block_start', {
          type: 'content_block_start',
          index: 0,
          content_block: { type: 'text', text: '' },
        })
        res.write(': ping\n\n')
        for (const text of deltas) {
          send('content_block_delta', {
            type: 'content_block_delta',
            index: 0,
            delta: { type: 'text_delta', text },
          })
        }
      } else {
        for (const content of deltas) {
          send(undefined, { object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content } }] })
        }
      }
      if (body.model === 'drop') {
        // Cut the connection once the deltas are on the wire (no terminating chunk).
        res.write(': bye\n\n', () => res.socket?.destroy())
        return
      }
      if (body.model === 'stall') return
      if (anthropic) {
        send('content_block_stop', { type: 'content_block_stop', index: 0 })
        send('message_delta', {
          type: 'message_delta',
          delta: { stop_reason: 'end_turn' },
          usage: { output_tokens: 4 },
        })
        send('message_stop', { type: 'message_stop' })
      } else {
        send(undefined, {
          object: 'chat.completion.chunk',
          choices: [],
          usage: { prompt_tokens: 7, completion_tokens: 4 },
        })
        send(undefined, '[DONE]')
      }
      res.end()
    })
  })
  return { server, bodies }
}

async function all(events: AsyncIterable<JobEvent>): Promise<JobEvent[]> {
  const out: JobEvent[] = []
  for await (const e of events) out.push(e)
  return out
}

describe('model backends behind a provider node (local upstreams speaking the real wire formats)', () => {
  const nodes: PrsmNode[] = []
  const { server, bodies } = upstream()
  let provider: PrsmNode
  let client: PrsmNode

  before(async () => {
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    const models = (prefix: string) =>
      ['ok', 'fail', 'stall', 'drop'].map((m) => ({
        capability: `model:${prefix}-${m}`,
        model: m,
        inputCostPerMTok: '2',
        outputCostPerMTok: '6',
      }))
    provider = await startTestNode({
      config: {
        offers: ['oa', 'an'].flatMap((p) =>
          ['ok', 'fail', 'stall', 'drop'].map((m) => ({ capability: `model:${p}-${m}`, price: '0' })),
        ),
        jobs: {
          backends: [
            {
              type: 'openai-compatible',
              baseUrl: `${base}/v1`,
              apiKeyEnv: 'PRSM_TEST_OPENAI_KEY',
              models: models('oa'),
            },
            { type: 'anthropic', baseUrl: base, apiKeyEnv: 'PRSM_TEST_ANTHROPIC_KEY', models: models('an') },
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

  for (const [api, prefix] of [
    ['OpenAI', 'oa'],
    ['Anthropic', 'an'],
  ] as const) {
    it(`${api}: a streamed completion flows from the upstream through the provider to the client`, async () => {
      const events = await all(
        client.jobs.run(provider.peerId, {
          step: {
            capability: `model:${prefix}-ok`,
            params: { system: 'be brief', max_tokens: 64, temperature: 0 },
          },
          inputs: [{ text: 'say hello' }],
          maxPrice: 0n,
        }),
      )
      assert.deepEqual(
        events.filter((e) => e.type === 'chunk').map((e) => e.text),
        DELTAS,
      )
      const last = events.at(-1)
      assert.equal(last?.type, 'receipt')
      if (last?.type !== 'receipt') return
      assert.equal(last.receipt.status, 'ok')
      assert.equal(last.receipt.output.text, 'Hello, world!')
      assert.equal(last.receipt.usage.tokensIn, 7)
      assert.equal(last.receipt.usage.tokensOut, 4)
      const sent = bodies.at(-1)
      assert.equal(sent?.body.model, 'ok')
      assert.equal(sent?.body.max_tokens, 64)
      assert.equal(sent?.body.temperature, 0)
      if (prefix === 'an') {
        assert.equal(sent?.path, '/v1/messages')
        assert.equal(sent?.body.system, 'be brief')
        assert.deepEqual(sent?.body.messages, [{ role: 'user', content: 'say hello' }])
      } else {
        assert.equal(sent?.path, '/v1/chat/completions')
        assert.deepEqual(sent?.body.stream_options, { include_usage: true })
        assert.deepEqual(sent?.body.messages, [
          { role: 'system', content: 'be brief' },
          { role: 'user', content: 'say hello' },
        ])
      }
    })

    it(`${api}: a non-streamed completion arrives whole with its usage`, async () => {
      const { receipt, output } = await client.jobs.request(provider.peerId, {
        step: { capability: `model:${prefix}-ok`, params: { stream: false } },
        inputs: [{ text: 'say hello' }],
        maxPrice: 0n,
      })
      assert.equal(Buffer.from(output).toString(), 'Hello, world!')
      assert.equal(receipt.status, 'ok')
      assert.deepEqual([receipt.usage.tokensIn, receipt.usage.tokensOut], [7, 4])
    })

    it(`${api}: an upstream 500 ends the job with JOB_BACKEND_FAILED and nothing delivered`, async () => {
      const { receipt, chunks } = await client.jobs.request(provider.peerId, {
        step: { capability: `model:${prefix}-fail` },
        inputs: [{ text: 'hi' }],
        maxPrice: 0n,
      })
      assert.equal(receipt.status, 'failed')
      assert.equal(receipt.error?.code, 'JOB_BACKEND_FAILED')
      assert.match(receipt.error?.message ?? '', /HTTP 500/)
      assert.equal(chunks, 0)
      assert.equal(receipt.usage.tokensOut, 0)
      assert.doesNotMatch(receipt.error?.message ?? '', /sk-/, 'the key never leaves the provider')
    })

    it(`${api}: a stream cut mid-way ends with JOB_BACKEND_FAILED, counting only the delivered tokens`, async () => {
      const { receipt, output } = await client.jobs.request(provider.peerId, {
        step: { capability: `model:${prefix}-drop` },
        inputs: [{ text: 'hi' }],
        maxPrice: 0n,
      })
      assert.equal(receipt.status, 'failed')
      assert.equal(receipt.error?.code, 'JOB_BACKEND_FAILED')
      assert.equal(Buffer.from(output).toString(), 'Hello, ')
      // the delivered deltas counted with the o200k tokenizer: 'Hello' 1 + ', ' 2
      assert.equal(receipt.usage.tokensOut, 3)
    })

    it(`${api}: an upstream that stalls past the deadline ends with JOB_DEADLINE_EXCEEDED`, async () => {
      const { receipt, output } = await client.jobs.request(provider.peerId, {
        step: { capability: `model:${prefix}-stall` },
        inputs: [{ text: 'hi' }],
        maxPrice: 0n,
        deadline: Date.now() + 1_000,
      })
      assert.equal(receipt.status, 'failed')
      assert.equal(receipt.error?.code, 'JOB_DEADLINE_EXCEEDED')
      assert.equal(Buffer.from(output).toString(), 'Hello, ')
      // the delivered deltas counted with the o200k tokenizer: 'Hello' 1 + ', ' 2
      assert.equal(receipt.usage.tokensOut, 3)
    })
  }

  it("knows the operator's margin per capability: what it charged against the upstream's cost", async () => {
    const earnings = Object.fromEntries(provider.jobs.provider.earnings().map((e) => [e.capability, e]))
    // each ok job used 7 tokens in at 2 FTNS/MTok and 4 out at 6 FTNS/MTok: 38e12 wei; two per API
    for (const cap of ['model:oa-ok', 'model:an-ok']) {
      assert.deepEqual(earnings[cap], {
        capability: cap,
        jobs: 2,
        charged: '0',
        upstreamCost: '76000000000000',
        margin: '-76000000000000',
      })
    }
    assert.equal(earnings['model:oa-fail']?.upstreamCost, '0')
    const status = (await provider.status()) as { jobs: { earnings: unknown[] } }
    assert.deepEqual(status.jobs.earnings, provider.jobs.provider.earnings())
  })

  it('charges per delivered unit, capped at the max price', () => {
    const usage = { tokensIn: 7, tokensOut: 2, computeMs: 40, bytesIn: 2, bytesOut: 7 }
    assert.equal(charge({ price: '1000', unit: 'token' }, usage, false, 10n ** 18n), 9000n)
    assert.equal(charge({ price: '1000', unit: 'token' }, usage, false, 5000n), 5000n)
    assert.equal(charge({ price: '1000', unit: 'call' }, usage, false, 10n ** 18n), 0n)
    assert.equal(charge({ price: '1000', unit: 'call' }, usage, true, 10n ** 18n), 1000n)
    assert.equal(charge({ price: '3', unit: 'ms' }, usage, true, 10n ** 18n), 120n)
  })
})
