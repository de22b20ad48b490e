import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import type { PrsmNode } from '../../src/index.ts'
import { parsePolicy } from '../../src/safety/policy.ts'
import { parseClassifierScore, parseJudgeVerdict } from '../../src/safety/tiers.ts'
import { bootstrapAddr, startTestNode, stopAll, waitFor } from '../helpers.ts'

process.env.PRSM_TEST_GUARD_KEY = 'sk-test-guard-0123456789abcdef'

/**
 * An upstream speaking the OpenAI chat-completions wire format (streamed SSE). The guard model
 * scores by the words in the text it is given; the judge blocks texts that mention "wire money".
 */
function upstream() {
  const seen: string[] = []
  let down = false
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let raw = ''
    req.on('data', (c: Buffer) => {
      raw += c.toString()
    })
    req.on('end', () => {
      const body = JSON.parse(raw) as { model: string; messages: Array<{ role: string; content: string }> }
      const text = body.messages.map((m) => m.content).join('\n')
      seen.push(body.model)
      if (down || req.headers.authorization !== `Bearer ${process.env.PRSM_TEST_GUARD_KEY}`) {
        res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":{"message":"down"}}')
        return
      }
      const user = text.slice(text.indexOf('<text>'))
      let answer: string
      if (body.model === 'guard') {
        const score = /wire money/.test(user) ? 0.55 : /gift cards/.test(user) ? 0.95 : 0.05
        answer = JSON.stringify({ score, category: 'fraud' })
      } else {
        answer = JSON.stringify(
          /wire money/.test(user)
            ? { verdict: 'block', reason: 'asks to move funds for a stranger' }
            : { verdict: 'allow', reason: 'harmless' },
        )
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      // Split the JSON over two deltas, as a real stream would.
      for (const part of [answer.slice(0, 5), answer.slice(5)]) {
        res.write(`data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: part } }] })}\n\n`)
      }
      res.end('data: [DONE]\n\n')
    })
  })
  return {
    server,
    seen,
    setDown(v: boolean) {
      down = v
    },
  }
}

describe('tiers 2 and 3: a guard model and a judge run as PRSM jobs', () => {
  const nodes: PrsmNode[] = []
  const up = upstream()
  let client: PrsmNode

  before(async () => {
    up.server.listen(0, '127.0.0.1')
    await once(up.server, 'listening')
    const base = `http://127.0.0.1:${(up.server.address() as AddressInfo).port}`
    const guard = await startTestNode({
      config: {
        offers: [
          { capability: 'model:guard', price: '0' },
          { capability: 'model:judge', price: '0' },
        ],
        jobs: {
          backends: [
            {
              type: 'openai-compatible',
              baseUrl: `${base}/v1`,
              apiKeyEnv: 'PRSM_TEST_GUARD_KEY',
              models: [
                { capability: 'model:guard', model: 'guard' },
                { capability: 'model:judge', model: 'judge' },
              ],
            },
          ],
        },
      },
    })
    nodes.push(guard)
    client = await startTestNode({
      config: {
        bootstrap: [bootstrapAddr(guard)],
        safety: {
          tier2: { capability: 'model:guard', mode: 'always', threshold: 0.5, timeoutMs: 10_000 },
          tier3: { capability: 'model:judge', band: 0.2, timeoutMs: 10_000 },
        },
      },
    })
    nodes.push(client)
    await waitFor(
      'guard offer',
      async () => (await client.findOffers('model:guard', { timeoutMs: 2000 })).length > 0,
    )
  })
  after(async () => {
    await stopAll(nodes)
    up.server.close()
  })

  it('reads classifier scores and judge verdicts, refusing answers it cannot read', () => {
    assert.equal(parseClassifierScore('{"score": 0.7}'), 0.7)
    assert.equal(parseClassifierScore('score: 0.25'), 0.25)
    assert.equal(parseClassifierScore('{"score": 7}'), undefined)
    assert.equal(parseClassifierScore('looks fine to me'), undefined)
    assert.deepEqual(parseJudgeVerdict('ok {"verdict":"block","reason":"x"}'), { block: true, reason: 'x' })
    assert.equal(parseJudgeVerdict('{"verdict":"maybe"}'), undefined)
  })

  it('a high guard score is a classifier finding that blocks; a low one allows', async () => {
    const bad = await client.safety.assess('Buy me five gift cards and send the codes to this chat.')
    assert.deepEqual(bad.categories, ['classifier'])
    assert.equal(bad.blocked, true)
    assert.equal(bad.violations[0]?.severity, 0.95)
    const good = await client.safety.assess('What is a good name for a bakery?')
    assert.equal(good.blocked, false)
    assert.equal(good.violations.length, 0)
    assert.ok(up.seen.includes('guard'))
  })

  it('a score near the threshold goes to the judge, whose block verdict is a judge finding', async () => {
    const before = up.seen.filter((m) => m === 'judge').length
    const a = await client.safety.assess('Please wire money to my cousin abroad today.')
    assert.equal(up.seen.filter((m) => m === 'judge').length, before + 1)
    assert.ok(a.categories.includes('judge'))
    assert.ok(a.categories.includes('classifier'))
    assert.equal(a.blocked, true)
  })

  it('an unavailable guard fails open by default and closed when the policy says so', async () => {
    up.setDown(true)
    try {
      const open = await client.safety.assess('What is a good name for a bakery?')
      assert.equal(open.blocked, false)
      assert.ok(open.errors?.some((e) => e.startsWith('classifier:')))
      await client.safety.setPolicy(
        parsePolicy(
          JSON.stringify({
            version: 1,
            name: 'guard-required',
            categories: { classifier: { action: 'block', failMode: 'closed' } },
          }),
        ),
      )
      const closed = await client.safety.assess('What is a good name for a bakery?')
      assert.equal(closed.blocked, true)
      assert.ok(closed.violations.some((v) => v.category === 'classifier' && v.rule === 'unavailable'))
    } finally {
      up.setDown(false)
    }
  })
})
