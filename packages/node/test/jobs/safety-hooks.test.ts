import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { PrsmError } from '@prsm/core'
import type { PrsmNode } from '../../src/index.ts'
import { bootstrapAddr, startTestNode, stopAll, waitFor } from '../helpers.ts'
import { echoBackend, gatedBackend } from './helpers.ts'

describe('provider-side safety: output checks and cancelRunning', () => {
  const nodes: PrsmNode[] = []
  let provider: PrsmNode
  let client: PrsmNode
  const seen: string[] = []
  const gated = gatedBackend(2)

  before(async () => {
    provider = await startTestNode({
      safety: {
        async checkRequest() {
          return { allow: true }
        },
        async checkOutput({ text }) {
          seen.push(text)
          if (text.includes('boom')) return { allow: false, reason: 'explosive output' }
          if (text.includes('secret')) return { allow: true, text: text.replace('secret', '[redacted]') }
          return { allow: true }
        },
      },
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
    client = await startTestNode({ config: { bootstrap: [bootstrapAddr(provider)] } })
    nodes.push(client)
    await waitFor('the client to connect', () => client.libp2p.getPeers().length > 0)
  })
  after(() => stopAll(nodes))

  const run = (text: string) =>
    client.jobs.request(provider.peerId, {
      step: { capability: 'model:echo' },
      inputs: [{ text }],
      maxPrice: 0n,
    })

  it('redacts a chunk when the hook returns replacement text; checks the whole output at the end', async () => {
    seen.length = 0
    const { receipt, output } = await run('my secret plan')
    assert.equal(receipt.status, 'ok')
    assert.equal(Buffer.from(output).toString(), 'my [redacted] plan')
    assert.equal(receipt.output.text, 'my [redacted] plan')
    assert.deepEqual(seen, ['my ', 'secret ', 'plan', 'my [redacted] plan'])
  })

  it('stops a job whose output is refused with JOB_REFUSED, charged only for what was delivered', async () => {
    const { receipt, output } = await run('one two boom three')
    assert.equal(receipt.status, 'failed')
    assert.equal(receipt.error?.code, 'JOB_REFUSED')
    assert.equal(Buffer.from(output).toString(), 'one two ', 'the refused chunk is never streamed')
    assert.equal(receipt.usage.tokensOut, 4, "o200k tokens of 'one ' 2 + 'two ' 2")
  })

  it('cancelRunning stops matching running jobs with the given error and leaves others', async () => {
    const job = client.jobs.request(provider.peerId, {
      step: { capability: 'model:gated' },
      inputs: [{ text: 'x' }],
      maxPrice: 0n,
    })
    await gated.state.started
    assert.equal(
      provider.jobs.cancelRunning((j) => j.capability === 'model:other', new PrsmError('JOB_REFUSED')),
      0,
    )
    const halted = provider.jobs.cancelRunning(
      (j) => j.client === client.peerId && j.capability === 'model:gated',
      new PrsmError('JOB_REFUSED', 'safety halt'),
    )
    assert.equal(halted, 1)
    const { receipt, output } = await job
    assert.equal(receipt.status, 'failed')
    assert.equal(receipt.error?.code, 'JOB_REFUSED')
    assert.match(receipt.error?.message ?? '', /safety halt/)
    assert.equal(Buffer.from(output).toString(), 'part0 part1 ')
    assert.equal(receipt.usage.tokensOut, 6, "o200k tokens of 'part0 ' 3 + 'part1 ' 3")
    assert.deepEqual(provider.jobs.provider.stats(), { running: 0, waiting: 0 })
    // The node keeps serving.
    assert.equal((await run('still fine')).receipt.status, 'ok')
  })
})
