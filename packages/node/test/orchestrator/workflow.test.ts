import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { hasCode } from '@prsm/core'
import type { FoundOffer } from '../../src/index.ts'
import { extractJson, planWorkflow } from '../../src/orchestrator/planner.ts'
import { Router } from '../../src/orchestrator/router.ts'
import { Budget, royaltiesFor } from '../../src/orchestrator/spending.ts'
import { parseWorkflow, stepSpecHash, validateWorkflow } from '../../src/orchestrator/workflow.ts'

const PROGRAM = 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy'
const step = (id: string, inputs: unknown[] = [], extra: Record<string, unknown> = {}) => ({
  id,
  kind: 'compute',
  capability: 'compute:js',
  program: { cid: PROGRAM },
  inputs,
  ...extra,
})

function rejects(input: unknown, code: string, stepId?: string, offered?: Set<string>): void {
  assert.throws(
    () => validateWorkflow(input, offered ? { offered } : {}),
    (err: { code?: string; details?: { step?: string } }) => {
      assert.equal(err.code, code)
      if (stepId !== undefined) assert.equal(err.details?.step, stepId)
      return true
    },
  )
}

describe('workflow validation', () => {
  it('orders steps after their parents and picks the compile step as the output', () => {
    const valid = validateWorkflow({
      version: 1,
      steps: [
        { id: 'report', kind: 'compile', inputs: [{ step: 'b' }, { step: 'a' }] },
        step('b', [{ step: 'a' }]),
        step('a', ['literal text']),
        step('c', [{ cid: 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy' }]),
      ],
    })
    assert.deepEqual([...valid.order].sort(), ['a', 'b', 'c', 'report'])
    const at = (id: string) => valid.order.indexOf(id)
    assert.ok(at('a') < at('b') && at('b') < at('report') && at('a') < at('report'))
    assert.deepEqual(valid.parents.get('report'), ['b', 'a'])
    assert.equal(valid.output, 'report')
    assert.equal(valid.workflow.steps[1]?.redundancy, 1, 'redundancy defaults to 1')
  })

  it('rejects cycles, naming a step on the cycle', () => {
    rejects(
      {
        version: 1,
        steps: [
          step('a', [{ step: 'c' }]),
          step('b', [{ step: 'a' }]),
          step('c', [{ step: 'b' }]),
          step('d'),
        ],
      },
      'WORKFLOW_CYCLE',
    )
    rejects({ version: 1, steps: [step('self', [{ step: 'self' }])] }, 'WORKFLOW_CYCLE', 'self')
  })

  it('rejects dangling references with the offending step', () => {
    rejects({ version: 1, steps: [step('a'), step('b', [{ step: 'nope' }])] }, 'WORKFLOW_DANGLING_REF', 'b')
    rejects({ version: 1, output: 'zzz', steps: [step('a')] }, 'WORKFLOW_DANGLING_REF', 'zzz')
  })

  it('rejects capabilities that do not fit the kind or that nobody offers', () => {
    rejects(
      { version: 1, steps: [step('a', [], { capability: 'model:x' })] },
      'WORKFLOW_UNKNOWN_CAPABILITY',
      'a',
    )
    rejects(
      { version: 1, steps: [step('a'), { id: 'q', kind: 'infer', capability: 'model:absent' }] },
      'WORKFLOW_UNKNOWN_CAPABILITY',
      'q',
      new Set(['compute:js']),
    )
  })

  it('rejects schema errors with the path and step, duplicate ids, and a wrong version', () => {
    rejects({ version: 2, steps: [step('a')] }, 'WORKFLOW_INVALID')
    rejects({ version: 1, steps: [step('a'), { id: 'b', kind: 'dance' }] }, 'WORKFLOW_INVALID', 'b')
    rejects({ version: 1, steps: [step('a'), step('a')] }, 'WORKFLOW_INVALID', 'a')
    rejects({ version: 1, steps: [{ id: 'n', kind: 'infer' }] }, 'WORKFLOW_INVALID', 'n')
    rejects(
      { version: 1, steps: [step('a'), { id: 'p', kind: 'compute', capability: 'compute:js' }] },
      'WORKFLOW_INVALID',
      'p',
    )
    assert.throws(
      () => parseWorkflow('version: [1'),
      (e) => hasCode(e, 'WORKFLOW_INVALID'),
    )
  })

  it('reads YAML and JSON to the same workflow and spec hashes', () => {
    const yaml = parseWorkflow(`
version: 1
query: trend
steps:
  - id: a
    kind: compute
    capability: compute:js
    params: { program: bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy, window: 12 }
    inputs: ["x"]
`)
    const json = parseWorkflow(
      JSON.stringify({
        version: 1,
        query: 'trend',
        steps: [
          {
            inputs: ['x'],
            capability: 'compute:js',
            kind: 'compute',
            id: 'a',
            params: { window: 12, program: 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy' },
          },
        ],
      }),
    )
    assert.deepEqual(yaml.workflow, json.workflow)
    assert.equal(stepSpecHash(yaml.workflow.steps[0] as never), stepSpecHash(json.workflow.steps[0] as never))
  })
})

describe('budget and royalties', () => {
  it('refuses a reservation over the limit and keeps what was committed', () => {
    const budget = new Budget(10n)
    budget.reserve(6n, 'a')
    assert.throws(
      () => budget.reserve(5n, 'b'),
      (e) => hasCode(e, 'BUDGET_EXCEEDED'),
    )
    assert.equal(budget.committed, 6n)
    budget.release(2n)
    budget.reserve(6n, 'b')
    assert.equal(budget.left, 0n)
  })

  it('caps royalty rates at the governance cap (scaled down)', () => {
    const r = royaltiesFor(
      10_000n,
      [
        { creator: '0xA', bps: 3000 },
        { creator: '0xB', bps: 1000 },
      ],
      2000n,
    )
    assert.deepEqual(r, [
      { creator: '0xA', amount: 1500n },
      { creator: '0xB', amount: 500n },
    ])
    assert.deepEqual(royaltiesFor(10_000n, [{ creator: '0xA', bps: 500 }], 2000n), [
      { creator: '0xA', amount: 500n },
    ])
  })
})

describe('router', () => {
  const offer = (provider: string, price: string, capability = 'compute:js'): FoundOffer => ({
    provider,
    offer: {
      capability,
      price,
      unit: 'ms',
      limits: {},
      protocol: '/prsm/job/1.0.0',
      addrs: [],
      expiry: Date.now() + 60_000,
    },
    signedAt: Date.now(),
    source: 'gossip',
    receivedAt: Date.now(),
  })

  it('prefers cheaper, less loaded and more reliable providers and skips refused ones', () => {
    const halted = new Set(['p-halted'])
    const router = new Router({ safety: { routable: (p) => !halted.has(p) } })
    const offers = [offer('p-cheap', '1'), offer('p-dear', '100'), offer('p-halted', '0')]
    assert.deepEqual(
      router.pick({ capability: 'compute:js', offers, count: 3 }).map((f) => f.provider),
      ['p-cheap', 'p-dear'],
    )
    // load: four steps in flight on the cheap one make the dear one better
    const ends = [1, 2, 3, 4, 5, 6, 7, 8].map(() => router.begin('p-cheap'))
    assert.equal(router.pick({ capability: 'compute:js', offers, count: 1 })[0]?.provider, 'p-dear')
    for (const end of ends) end()
    // reputation: failures on the cheap one
    for (let i = 0; i < 5; i++) router.observe('p-cheap', { ok: false, latencyMs: 10 })
    router.observe('p-dear', { ok: true, latencyMs: 10 })
    assert.equal(router.pick({ capability: 'compute:js', offers, count: 1 })[0]?.provider, 'p-dear')
    assert.deepEqual(
      router
        .pick({ capability: 'compute:js', offers, count: 2, exclude: new Set(['p-dear']), maxPrice: 50n })
        .map((f) => f.provider),
      ['p-cheap'],
    )
  })
})

describe('planner', () => {
  it('re-asks on invalid output and accepts a valid workflow', async () => {
    const answers = [
      'Sure! here it is: {"version": 1, "steps": [{"id": "a", "kind": "infer", "capability": "model:none"}]}',
      '```json\n{"version": 1, "steps": [{"id": "a", "kind": "infer", "capability": "model:tiny", "inputs": ["hi"]}, {"id": "c", "kind": "compile", "inputs": [{"step": "a"}]}]}\n```',
    ]
    const prompts: string[] = []
    const valid = await planWorkflow({
      query: 'say hi',
      model: 'model:tiny',
      offered: new Set(['model:tiny']),
      maxAttempts: 3,
      infer: async (prompt) => {
        prompts.push(prompt)
        return answers.shift() as string
      },
    })
    assert.equal(valid.output, 'c')
    assert.equal(valid.workflow.query, 'say hi')
    assert.match(prompts[1] as string, /no provider offers model:none/)
  })

  it('gives up after the allowed attempts with PLANNER_INVALID_OUTPUT', async () => {
    let calls = 0
    await assert.rejects(
      planWorkflow({
        query: 'q',
        model: 'model:tiny',
        offered: new Set(['model:tiny']),
        maxAttempts: 2,
        infer: async () => {
          calls++
          return 'no JSON here'
        },
      }),
      (e) => hasCode(e, 'PLANNER_INVALID_OUTPUT'),
    )
    assert.equal(calls, 2)
    assert.throws(
      () => extractJson('nothing'),
      (e) => hasCode(e, 'WORKFLOW_INVALID'),
    )
  })
})
