import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { ChatOpenAI } from '@langchain/openai'
import OpenAI from 'openai'
import { AUTO_MODEL, ChatCompletionSchema, chatParams, defaultMaxPrice } from '../../src/api/routes/openai.ts'
import { type PrsmNode, readRuntimeFile } from '../../src/index.ts'
import { bootstrapAddr, startTestNode, stopAll, waitFor } from '../helpers.ts'

const UPSTREAM_KEY = 'sk-test-upstream-0123456789'
process.env.PRSM_TEST_OPENAI_FRONT_KEY = UPSTREAM_KEY
const DELTAS = ['Hello', ', ', 'world', '!']
/** What the planner model answers: a one-step workflow asking model:llama-test. */
const PLAN = JSON.stringify({
  version: 1,
  steps: [{ id: 'answer', kind: 'infer', capability: 'model:llama-test', inputs: ['say hello'] }],
})

interface Seen {
  body: { model: string; stream?: boolean; messages: unknown[]; max_tokens?: number; temperature?: number }
}

/**
 * A local server speaking OpenAI's chat completions wire format (the provider node's backend).
 * Model `ok` answers DELTAS, `plan` a workflow; `drop` streams two deltas and cuts the connection.
 */
async function openAiUpstream(): Promise<{ server: Server; base: string; seen: Seen[] }> {
  const seen: Seen[] = []
  const server = createServer((req: IncomingMessage, res) => {
    let raw = ''
    req.on('data', (c: Buffer) => {
      raw += c.toString()
    })
    req.on('end', () => {
      const body = JSON.parse(raw) as Seen['body']
      seen.push({ body })
      if (req.headers.authorization !== `Bearer ${UPSTREAM_KEY}` || req.url !== '/v1/chat/completions') {
        res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":{"message":"bad key"}}')
        return
      }
      if (body.stream === false) {
        res.writeHead(200, { 'content-type': 'application/json' }).end(
          JSON.stringify({
            object: 'chat.completion',
            choices: [
              {
                index: 0,
                message: { role: 'assistant', content: body.model === 'plan' ? PLAN : DELTAS.join('') },
              },
            ],
            usage: { prompt_tokens: 7, completion_tokens: 4, total_tokens: 11 },
          }),
        )
        return
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      const send = (data: unknown) => res.write(`data: ${JSON.stringify(data)}\n\n`)
      const deltas = body.model === 'ok' ? DELTAS : body.model === 'plan' ? [PLAN] : DELTAS.slice(0, 2)
      for (const content of deltas)
        send({ object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content } }] })
      if (body.model === 'drop') {
        res.write(': bye\n\n', () => res.socket?.destroy())
        return
      }
      send({
        object: 'chat.completion.chunk',
        choices: [],
        usage: { prompt_tokens: 7, completion_tokens: 4 },
      })
      res.end('data: [DONE]\n\n')
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return { server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen }
}

describe('OpenAI-compatible front door: the openai client and LangChain against a node', () => {
  const nodes: PrsmNode[] = []
  let upstream: Awaited<ReturnType<typeof openAiUpstream>>
  let provider: PrsmNode
  let client: PrsmNode
  let baseURL: string
  let token: string
  let openai: OpenAI

  before(async () => {
    upstream = await openAiUpstream()
    provider = await startTestNode({
      config: {
        offers: [
          { capability: 'model:llama-test', price: '0' },
          { capability: 'model:llama-drop', price: '0' },
          { capability: 'model:planner-test', price: '0' },
          { capability: 'model:paid-test', price: '0.001' },
        ],
        jobs: {
          backends: [
            {
              type: 'openai-compatible',
              baseUrl: `${upstream.base}/v1`,
              apiKeyEnv: 'PRSM_TEST_OPENAI_FRONT_KEY',
              models: [
                { capability: 'model:llama-test', model: 'ok' },
                { capability: 'model:llama-drop', model: 'drop' },
                { capability: 'model:planner-test', model: 'plan' },
                { capability: 'model:paid-test', model: 'ok' },
              ],
            },
          ],
        },
      },
    })
    nodes.push(provider)
    client = await startTestNode({
      api: true,
      config: { bootstrap: [bootstrapAddr(provider)], orchestrator: { plannerModel: 'model:planner-test' } },
    })
    nodes.push(client)
    const rt = await readRuntimeFile(client.dataDir)
    baseURL = `${rt.apiUrl}/v1`
    token = rt.token
    openai = new OpenAI({ baseURL, apiKey: token, maxRetries: 0 })
    await waitFor(
      "the provider's offers to reach the client",
      async () => (await client.findOffers('model:llama-test', { timeoutMs: 2_000 })).length > 0,
      20_000,
    )
  })
  after(async () => {
    await stopAll(nodes)
    upstream.server.closeAllConnections()
    upstream.server.close()
  })

  it('the openai client streams a chat completion with usage and the PRSM cost', async () => {
    const stream = await openai.chat.completions.create({
      model: 'model:llama-test',
      messages: [
        { role: 'system', content: 'be brief' },
        { role: 'user', content: 'say hello' },
      ],
      max_tokens: 32,
      temperature: 0,
      stream: true,
      stream_options: { include_usage: true },
    })
    const deltas: string[] = []
    let usage: OpenAI.CompletionUsage | null | undefined
    let finish: string | null | undefined
    let prsm: { cost: string; provider: string; receipt_id: string } | undefined
    for await (const chunk of stream) {
      assert.equal(chunk.object, 'chat.completion.chunk')
      const choice = chunk.choices[0]
      if (choice?.delta.content) deltas.push(choice.delta.content)
      if (choice?.finish_reason) finish = choice.finish_reason
      if (chunk.usage) usage = chunk.usage
      const ext = (chunk as { prsm?: typeof prsm }).prsm
      if (ext) prsm = ext
    }
    assert.deepEqual(deltas, DELTAS)
    assert.equal(finish, 'stop')
    assert.deepEqual(usage, { prompt_tokens: 7, completion_tokens: 4, total_tokens: 11 })
    assert.equal(prsm?.provider, provider.peerId)
    assert.equal(prsm?.cost, '0')
    assert.match(prsm?.receipt_id ?? '', /^[A-Za-z0-9_-]{8,64}$/)
    const sent = upstream.seen.at(-1)?.body
    assert.equal(sent?.model, 'ok')
    assert.equal(sent?.max_tokens, 32)
    assert.equal(sent?.temperature, 0)
    assert.deepEqual(sent?.messages, [
      { role: 'system', content: 'be brief' },
      { role: 'user', content: 'say hello' },
    ])
  })

  it('the openai client gets a whole completion with usage, the PRSM extension and headers', async () => {
    const { data, response } = await openai.chat.completions
      .create({
        model: 'model:llama-test',
        messages: [{ role: 'user', content: [{ type: 'text', text: 'say hello' }] }],
      })
      .withResponse()
    ChatCompletionSchema.parse(data) // the answer is what /openapi.json documents
    assert.equal(data.object, 'chat.completion')
    assert.equal(data.model, 'model:llama-test')
    assert.equal(data.choices[0]?.message.content, 'Hello, world!')
    assert.equal(data.choices[0]?.finish_reason, 'stop')
    assert.deepEqual(data.usage, { prompt_tokens: 7, completion_tokens: 4, total_tokens: 11 })
    const prsm = (data as unknown as { prsm: { provider: string; cost: string; receipt_id: string } }).prsm
    assert.equal(prsm.provider, provider.peerId)
    assert.equal(response.headers.get('x-prsm-provider'), provider.peerId)
    assert.equal(response.headers.get('x-prsm-cost'), prsm.cost)
    assert.equal(response.headers.get('x-prsm-receipt-id'), prsm.receipt_id)
  })

  it('lists the model capabilities offered on the network and prsm/auto', async () => {
    await waitFor(
      'the paid offer',
      async () => (await client.findOffers('model:paid-test', { timeoutMs: 2_000 })).length > 0,
      20_000,
    )
    const models: Array<{ id: string; prsm: { providers: number; min_price: string } }> = []
    for await (const m of openai.models.list()) models.push(m as unknown as (typeof models)[number])
    assert.deepEqual(
      models.map((m) => m.id),
      ['model:llama-drop', 'model:llama-test', 'model:paid-test', 'model:planner-test', AUTO_MODEL],
    )
    assert.deepEqual(models[2]?.prsm, { providers: 1, min_price: '0.001' })
    const one = await openai.models.retrieve('model:paid-test')
    assert.deepEqual({ ...one }, models[2])
    assert.equal((await openai.models.retrieve(AUTO_MODEL)).id, AUTO_MODEL)
    await assert.rejects(
      openai.models.retrieve('model:nobody'),
      (err) => err instanceof OpenAI.NotFoundError && err.code === 'NOT_FOUND',
    )
  })

  it('LangChain ChatOpenAI invokes and streams through the node', async () => {
    const chat = new ChatOpenAI({
      model: 'model:llama-test',
      apiKey: token,
      configuration: { baseURL },
      maxRetries: 0,
      temperature: 0,
    })
    const answer = await chat.invoke([
      ['system', 'be brief'],
      ['human', 'say hello'],
    ])
    assert.equal(answer.content, 'Hello, world!')
    const usage = (answer as unknown as { usage_metadata?: { input_tokens: number; output_tokens: number } })
      .usage_metadata
    assert.equal(usage?.input_tokens, 7)
    assert.equal(usage?.output_tokens, 4)
    const parts: string[] = []
    for await (const chunk of await chat.stream('say hello')) {
      if (typeof chunk.content === 'string' && chunk.content !== '') parts.push(chunk.content)
    }
    assert.deepEqual(parts, DELTAS)
    assert.deepEqual(upstream.seen.at(-1)?.body.messages, [{ role: 'user', content: 'say hello' }])
  })

  it('prsm/auto is answered by the planner: a model plans a workflow that runs on the network', async () => {
    await waitFor(
      'the planner offer',
      async () => (await client.findOffers('model:planner-test', { timeoutMs: 2_000 })).length > 0,
      20_000,
    )
    const answer = await openai.chat.completions.create({
      model: AUTO_MODEL,
      messages: [{ role: 'user', content: 'greet me' }],
    })
    ChatCompletionSchema.parse(answer)
    assert.equal(answer.choices[0]?.message.content, 'Hello, world!')
    const prsm = (answer as unknown as { prsm: { cost: string; receipt_id: string; provider: string } }).prsm
    assert.equal(prsm.cost, '0')
    assert.equal(prsm.provider, client.peerId)
    assert.match(prsm.receipt_id, /^baf/, 'the id is the CID of the signed reasoning trace')
    const planned = upstream.seen.filter((r) => r.body.model === 'plan')
    assert.ok(planned.length >= 1)
    assert.match(JSON.stringify(planned.at(-1)?.body.messages), /greet me/)

    const parts: string[] = []
    for await (const chunk of await openai.chat.completions.create({
      model: AUTO_MODEL,
      messages: [{ role: 'user', content: 'greet me again' }],
      stream: true,
    })) {
      if (chunk.choices[0]?.delta.content) parts.push(chunk.choices[0].delta.content)
    }
    assert.equal(parts.join(''), 'Hello, world!')
  })

  it('answers bad requests with PRSM codes that the openai client raises as its error classes', async () => {
    const cases: Array<[Record<string, unknown>, number, string]> = [
      [{ model: 'model:llama-test', messages: [] }, 400, 'VALIDATION_FAILED'],
      [{ model: 'model:llama-test', messages: [{ role: 'robot', content: 'x' }] }, 400, 'VALIDATION_FAILED'],
      [{ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] }, 400, 'VALIDATION_FAILED'],
      [{ model: 'model:nobody-offers', messages: [{ role: 'user', content: 'x' }] }, 404, 'JOB_NO_OFFER'],
    ]
    for (const [body, status, code] of cases) {
      await assert.rejects(
        openai.chat.completions.create(body as never),
        (err: InstanceType<typeof OpenAI.APIError>) => {
          assert.ok(err instanceof OpenAI.APIError, `${code}: ${err}`)
          assert.equal(err.status, status)
          assert.equal(err.code, code)
          return true
        },
      )
    }
    const stranger = new OpenAI({ baseURL, apiKey: 'not-the-token', maxRetries: 0 })
    await assert.rejects(
      stranger.chat.completions.create({
        model: 'model:llama-test',
        messages: [{ role: 'user', content: 'x' }],
      }),
      (err) => err instanceof OpenAI.AuthenticationError && err.code === 'UNAUTHORIZED',
    )
    await assert.rejects(stranger.models.list(), OpenAI.AuthenticationError)
  })

  it('a paid model: a key with a daily budget must name prsm.max_price, which is reserved against the budget', async () => {
    const res = await fetch(`${baseURL.slice(0, -3)}/api/v1/keys`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'budgeted', role: 'user', dailyBudget: '1' }),
    })
    assert.equal(res.status, 201)
    const budgeted = new OpenAI({
      baseURL,
      apiKey: ((await res.json()) as { key: string }).key,
      maxRetries: 0,
    })
    const ask = (prsm?: { max_price: string }) =>
      budgeted.chat.completions.create({
        model: 'model:paid-test',
        messages: [{ role: 'user', content: 'hi' }],
        ...(prsm === undefined ? {} : { prsm }),
      } as never)
    await assert.rejects(
      ask(),
      (err) => err instanceof OpenAI.BadRequestError && err.code === 'VALIDATION_FAILED',
    )
    await assert.rejects(
      ask({ max_price: '2' }),
      (err) => err instanceof OpenAI.APIError && err.code === 'API_BUDGET_EXCEEDED',
    )
    // within the budget it is sent; this node has no chain to pay with, and the reservation is given back
    await assert.rejects(
      ask({ max_price: '0.5' }),
      (err) => err instanceof OpenAI.APIError && err.code === 'CHAIN_NOT_CONFIGURED',
    )
    const { response } = await budgeted.models.list().withResponse()
    assert.equal(response.headers.get('x-prsm-budget-spent'), '0')
  })

  it('a provider failure after the stream started reaches the openai client as an APIError with its code', async () => {
    const stream = await openai.chat.completions.create({
      model: 'model:llama-drop',
      messages: [{ role: 'user', content: 'hi' }],
      stream: true,
    })
    const got: string[] = []
    await assert.rejects(
      (async () => {
        for await (const chunk of stream)
          if (chunk.choices[0]?.delta.content) got.push(chunk.choices[0].delta.content)
      })(),
      (err) => err instanceof OpenAI.APIError && err.code === 'JOB_BACKEND_FAILED',
    )
    assert.deepEqual(got, DELTAS.slice(0, 2))
  })
})

describe('chat requests as jobs', () => {
  const offer = {
    capability: 'model:x',
    price: '1000',
    unit: 'token' as const,
    limits: {},
    protocol: '/prsm/job/1.0.0',
    addrs: [],
    expiry: Date.now() + 60_000,
  }
  const body = {
    model: 'model:x',
    messages: [
      { role: 'system' as const, content: 'sys' },
      { role: 'developer' as const, content: [{ type: 'text' as const, text: 'dev' }] },
      { role: 'user' as const, content: 'hello' },
      { role: 'assistant' as const, content: 'hi' },
    ],
    max_completion_tokens: 10,
    stop: ['\n'],
  }

  it('system and developer turns become the system parameter; sampling parameters pass through', () => {
    assert.deepEqual(chatParams(body), {
      system: 'sys\n\ndev',
      messages: [
        { role: 'user', content: 'hello' },
        { role: 'assistant', content: 'hi' },
      ],
      max_tokens: 10,
      stop: ['\n'],
    })
  })

  it('the default max price bounds a per-token offer by characters in plus max tokens out', () => {
    assert.equal(defaultMaxPrice(offer, body), 1000n * BigInt('sysdevhellohi'.length + 10))
    assert.equal(defaultMaxPrice({ ...offer, price: '0' }, body), 0n)
    assert.equal(defaultMaxPrice({ ...offer, unit: 'call' }, body), 1000n)
    assert.throws(() => defaultMaxPrice({ ...offer, unit: 'ms' }, body), { code: 'VALIDATION_FAILED' })
  })
})
