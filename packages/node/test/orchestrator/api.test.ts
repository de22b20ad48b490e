import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { PrsmNode } from '../../src/index.ts'
import { readRuntimeFile } from '../../src/runtime-file.ts'
import { bootstrapAddr, startTestNode, stopAll } from '../helpers.ts'
import { addText, SUM_PROGRAM, slowWorkflow, waitForOffers } from './helpers.ts'

describe('workflow API: submit, stream (SSE), status, cancel', () => {
  let provider: PrsmNode
  let node: PrsmNode
  let api: (path: string, init?: RequestInit) => Promise<Response>
  let sum: string

  before(async () => {
    provider = await startTestNode({ config: { offers: [{ capability: 'compute:js', price: '0' }] } })
    node = await startTestNode({
      config: { bootstrap: [bootstrapAddr(provider)], api: { port: 0 } },
      api: true,
    })
    await waitForOffers(node, 'compute:js', [provider])
    const { apiUrl, token } = await readRuntimeFile(node.dataDir)
    api = (path, init = {}) =>
      fetch(`${apiUrl}${path}`, {
        ...init,
        headers: {
          authorization: `Bearer ${token}`,
          ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
        },
      })
    sum = await addText(node, SUM_PROGRAM)
  })
  after(() => stopAll([provider, node].filter((n) => n !== undefined)))

  it('streams a run as server-sent events and cancels it; its status says cancelled', async () => {
    const submit = await api('/api/v1/workflows', {
      method: 'POST',
      body: JSON.stringify({
        budget: '1',
        workflow: slowWorkflow(sum),
      }),
    })
    assert.equal(submit.status, 202)
    const { runId } = (await submit.json()) as { runId: string }
    const events = await api(`/api/v1/workflows/${runId}/events`)
    assert.match(events.headers.get('content-type') ?? '', /^text\/event-stream/)
    const seen: string[] = []
    let buffer = ''
    const decoder = new TextDecoder()
    for await (const part of events.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(part, { stream: true })
      for (const m of buffer.matchAll(/^event: (\S+)$/gm))
        if (!seen.includes(m[1] as string)) seen.push(m[1] as string)
      if (seen.includes('step-started') && !seen.includes('cancel-sent')) {
        seen.push('cancel-sent')
        const cancel = await api(`/api/v1/workflows/${runId}/cancel`, { method: 'POST' })
        assert.equal(cancel.status, 200)
      }
    }
    assert.deepEqual(
      seen.filter((e) => e !== 'cancel-sent'),
      ['started', 'step-started', 'error'],
    )
    assert.match(buffer, /"code":"JOB_CANCELLED"/)
    const status = (await (await api(`/api/v1/workflows/${runId}`)).json()) as {
      status: string
      error?: { code: string }
    }
    assert.equal(status.status, 'cancelled')
    assert.equal(status.error?.code, 'JOB_CANCELLED')
  })

  it('answers workflow errors with their codes and statuses', async () => {
    const cycle = await api('/api/v1/workflows', {
      method: 'POST',
      body: JSON.stringify({
        workflow: 'version: 1\nsteps:\n  - { id: a, kind: compile, inputs: [{ step: a }] }\n',
      }),
    })
    assert.equal(cycle.status, 400)
    assert.equal(((await cycle.json()) as { error: { code: string } }).error.code, 'WORKFLOW_CYCLE')
    const missing = await api('/api/v1/workflows/nope')
    assert.equal(missing.status, 404)
    assert.equal(((await missing.json()) as { error: { code: string } }).error.code, 'WORKFLOW_NOT_FOUND')
    const notTrace = await api('/api/v1/traces/bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy')
    assert.equal(notTrace.status, 422)
    assert.equal(((await notTrace.json()) as { error: { code: string } }).error.code, 'TRACE_INVALID')
  })
})
