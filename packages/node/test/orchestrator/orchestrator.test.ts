import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { hasCode } from '@prsm/core'
import type { PrsmNode } from '../../src/index.ts'
import type { ProgressEvent } from '../../src/orchestrator/scheduler.ts'
import { bootstrapAddr, startTestNode, stopAll } from '../helpers.ts'
import { addText, MERGE_PROGRAM, SUM_PROGRAM, waitForOffers } from './helpers.ts'

describe('orchestrator on free offers (three nodes)', () => {
  let a: PrsmNode
  let b: PrsmNode
  let client: PrsmNode
  let sum: string
  let merge: string

  before(async () => {
    const offers = [{ capability: 'compute:js', price: '0' }]
    a = await startTestNode({ config: { offers } })
    b = await startTestNode({ config: { offers, bootstrap: [bootstrapAddr(a)] } })
    client = await startTestNode({ config: { bootstrap: [bootstrapAddr(a), bootstrapAddr(b)] } })
    await waitForOffers(client, 'compute:js', [a, b])
    sum = await addText(client, SUM_PROGRAM)
    merge = await addText(client, MERGE_PROGRAM)
  })
  after(() => stopAll([a, b, client].filter((n) => n !== undefined)))

  it('runs independent steps at once on different providers, compiles, and writes a trace another node verifies', async () => {
    const run = await client.orchestrator.runWorkflow({
      version: 1,
      query: 'sum of two shards',
      steps: [
        {
          id: 's1',
          kind: 'compute',
          capability: 'compute:js',
          program: { cid: sum },
          params: { spin: 3_000_000 },
          inputs: ['1,2,3'],
        },
        {
          id: 's2',
          kind: 'compute',
          capability: 'compute:js',
          program: { cid: sum },
          params: { spin: 3_000_000 },
          inputs: ['4,5'],
        },
        {
          id: 'm',
          kind: 'compute',
          capability: 'compute:js',
          program: { cid: merge },
          inputs: [{ step: 's1' }, { step: 's2' }],
        },
        { id: 'report', kind: 'compile', inputs: [{ step: 'm' }, { step: 's1' }, { step: 's2' }] },
      ],
    })
    const events: ProgressEvent[] = []
    for await (const e of run) events.push(e)
    const result = await run.result
    assert.equal(run.status, 'done')
    assert.match(result.answer, /"total": 15/)
    assert.match(result.answer, /^# sum of two shards/)
    const byStep = new Map(result.steps.map((s) => [s.step, s]))
    const s1 = byStep.get('s1')
    const s2 = byStep.get('s2')
    assert.ok(s1 && s2)
    assert.notEqual(s1.provider, s2.provider, 'the two shards ran on different providers')
    assert.ok(
      s1.startedAt < s2.finishedAt && s2.startedAt < s1.finishedAt,
      'the two shards overlapped in time',
    )
    assert.equal(byStep.get('report')?.provider, client.peerId, 'the compile ran on the orchestrator')
    assert.deepEqual(events.filter((e) => e.type === 'step-done').length, 4)
    assert.equal(result.cost.total, '0')

    const verdict = await a.orchestrator.verifyTrace(result.traceCid)
    assert.equal(verdict.ok, true, JSON.stringify(verdict, null, 1))
    assert.equal(verdict.signer, client.peerId)
    const reexecuted = new Map(verdict.steps.map((s) => [s.step, s.reexecuted]))
    assert.deepEqual(Object.fromEntries(reexecuted), {
      s1: 'match',
      s2: 'match',
      m: 'match',
      report: 'match',
    })
  })

  it('rejects a workflow naming a capability nobody offers, before running anything', async () => {
    await assert.rejects(
      client.orchestrator.runWorkflow({
        version: 1,
        steps: [{ id: 'x', kind: 'infer', capability: 'model:nobody', inputs: ['hi'] }],
      }),
      (e: { code?: string; details?: { step?: string } }) =>
        e.code === 'WORKFLOW_UNKNOWN_CAPABILITY' && e.details?.step === 'x',
    )
  })

  it('says which backends it could use when no model can plan a query', async () => {
    await assert.rejects(client.orchestrator.query('what is the CO2 trend?'), (e) =>
      hasCode(e, 'PLANNER_NO_MODEL'),
    )
  })

  it('cancels a run: steps in flight stop and the run ends JOB_CANCELLED', async () => {
    const run = await client.orchestrator.runWorkflow({
      version: 1,
      steps: [
        {
          id: 'slow',
          kind: 'compute',
          capability: 'compute:js',
          program: { cid: sum },
          params: { spin: 2_000_000_000 },
          inputs: ['1'],
        },
      ],
    })
    for await (const e of run) {
      if (e.type === 'step-started') run.cancel()
    }
    await assert.rejects(run.result, (e) => hasCode(e, 'JOB_CANCELLED'))
    assert.equal(run.status, 'cancelled')
  })
})
