import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import type { PrsmNode } from '../../src/index.ts'
import type { ProgressEvent } from '../../src/orchestrator/scheduler.ts'
import { bootstrapAddr, startTestNode, stopAll } from '../helpers.ts'
import { waitForOffers } from './helpers.ts'

/**
 * A stand-in model upstream speaking OpenAI's chat-completions wire format (streamed SSE or a
 * whole answer). It answers the planner with a workflow (first with an invalid one, to be
 * re-asked), a synthesis request with a synthesis, and anything else by echoing the question.
 */
function fakeOpenAi(): { server: Server; prompts: string[] } {
  const prompts: string[] = []
  let plans = 0
  const server = createServer((req, res) => {
    let body = ''
    req.on('data', (c) => {
      body += c
    })
    req.on('end', () => {
      const { messages, stream } = JSON.parse(body) as {
        messages: Array<{ role: string; content: string }>
        stream?: boolean
      }
      const system = messages.find((m) => m.role === 'system')?.content ?? ''
      const user = messages.filter((m) => m.role === 'user').at(-1)?.content ?? ''
      prompts.push(`${system.slice(0, 40)} | ${user.slice(0, 200)}`)
      let answer: string
      if (system.includes('PRSM workflow')) {
        plans++
        answer =
          plans === 1
            ? '{"version": 1, "steps": [{"id": "x", "kind": "infer", "capability": "model:absent"}]}'
            : JSON.stringify({
                version: 1,
                steps: [
                  {
                    id: 'facts',
                    kind: 'infer',
                    capability: 'model:tiny',
                    inputs: ['List two facts about CO2'],
                  },
                  {
                    id: 'risks',
                    kind: 'infer',
                    capability: 'model:tiny',
                    inputs: ['List two risks of warming'],
                  },
                  {
                    id: 'answer',
                    kind: 'compile',
                    capability: 'model:tiny',
                    inputs: [{ step: 'facts' }, { step: 'risks' }],
                  },
                ],
              })
      } else if (system.includes('Summarise the text')) {
        answer = 'A short summary of the readings.'
      } else if (user === 'LONG') {
        answer = Array.from(
          { length: 60 },
          (_, i) => `Reading ${i} of the series was ${(i * 37) % 101} units.`,
        ).join(' ')
      } else if (system.includes('combine the results')) {
        answer = `SYNTHESIS of ${(user.match(/## /g) ?? []).length} results`
      } else {
        answer = `echo: ${user}`
      }
      if (stream === false) {
        res.writeHead(200, { 'content-type': 'application/json' })
        res.end(
          JSON.stringify({
            choices: [{ index: 0, message: { role: 'assistant', content: answer } }],
            usage: { prompt_tokens: 5, completion_tokens: 5 },
          }),
        )
        return
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      for (const content of answer.match(/.{1,12}/gs) ?? []) {
        res.write(`data: ${JSON.stringify({ choices: [{ index: 0, delta: { content } }] })}\n\n`)
      }
      res.write(
        `data: ${JSON.stringify({ choices: [], usage: { prompt_tokens: 5, completion_tokens: 5 } })}\n\n`,
      )
      res.end('data: [DONE]\n\n')
    })
  })
  return { server, prompts }
}

describe('queries planned by a model (OpenAI wire format on loopback)', () => {
  let provider: PrsmNode
  let client: PrsmNode
  const upstream = fakeOpenAi()

  before(async () => {
    upstream.server.listen(0, '127.0.0.1')
    await once(upstream.server, 'listening')
    process.env.TINY_QUERY_KEY = 'sk-test'
    provider = await startTestNode({
      config: {
        offers: [{ capability: 'model:tiny', price: '0' }],
        jobs: {
          backends: [
            {
              type: 'openai-compatible',
              baseUrl: `http://127.0.0.1:${(upstream.server.address() as AddressInfo).port}/v1`,
              apiKeyEnv: 'TINY_QUERY_KEY',
              models: [{ capability: 'model:tiny', model: 'tiny-1b' }],
            },
          ],
        },
      },
    })
    client = await startTestNode({ config: { bootstrap: [bootstrapAddr(provider)] } })
    await waitForOffers(client, 'model:tiny', [provider])
  })
  after(async () => {
    await stopAll([provider, client].filter((n) => n !== undefined))
    upstream.server.close()
  })

  it('plans (re-asking after an invalid plan), runs the infer steps, streams, and synthesises', async () => {
    const run = await client.orchestrator.query('How does CO2 relate to warming?')
    const events: ProgressEvent[] = []
    for await (const e of run) events.push(e)
    const result = await run.result
    assert.equal(result.answer, 'SYNTHESIS of 2 results')
    assert.equal(upstream.prompts.filter((p) => p.includes('PRSM workflow')).length, 2, 'asked twice')
    assert.ok(
      upstream.prompts.some((p) => p.includes('not a valid workflow')),
      're-asked with the error',
    )
    const chunks = events
      .filter((e) => e.type === 'step-chunk')
      .map((e) => e as { step: string; text: string })
    assert.equal(
      chunks
        .filter((c) => c.step === 'facts')
        .map((c) => c.text)
        .join(''),
      'echo: List two facts about CO2',
    )
    const { root, steps } = await provider.orchestrator.trace(result.traceCid)
    assert.equal(root.query, 'How does CO2 relate to warming?')
    assert.deepEqual(steps.map((s) => s.record.step).sort(), ['answer', 'facts', 'risks'])
    const verdict = await provider.orchestrator.verifyTrace(result.traceCid)
    assert.equal(verdict.ok, true, JSON.stringify(verdict.steps))
    assert.ok(
      verdict.steps.every((s) => s.reexecuted === 'skipped'),
      'model steps are not re-executed',
    )
  })

  it('compresses a long input with a model summary when a model is offered', async () => {
    const run = await client.orchestrator.runWorkflow({
      version: 1,
      steps: [
        { id: 'long', kind: 'infer', capability: 'model:tiny', inputs: ['LONG'] },
        {
          id: 'next',
          kind: 'infer',
          capability: 'model:tiny',
          params: { maxInputTokens: 40 },
          inputs: [{ step: 'long' }],
        },
      ],
    })
    const result = await run.result
    assert.equal(result.answer, 'echo: A short summary of the readings.')
    const { steps } = await client.orchestrator.trace(result.traceCid)
    const next = steps.find((s) => s.record.step === 'next')?.record
    assert.equal(next?.compression.length, 1)
    assert.ok((next?.compression[0]?.ratio ?? 1) < 0.1)
  })
})
