import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { createJobStore } from '../../src/jobs/job-store.ts'
import type { JobReceipt } from '../../src/jobs/messages.ts'

const receipt = (requestId: string, finishedAt: number): JobReceipt => ({
  requestId,
  client: 'peer-a',
  capability: 'model:x',
  status: 'ok',
  output: { bytes: new Uint8Array([1, 2, 3]) },
  outputHash: '0'.repeat(64),
  outputBytes: 3,
  usage: { tokensIn: 1, tokensOut: 2, computeMs: 3, bytesIn: 4, bytesOut: 3 },
  unitPrice: '1',
  unit: 'token',
  charged: '3',
  startedAt: finishedAt - 10,
  finishedAt,
})

describe('the job store', () => {
  it('claims an id once, keeps receipts across reopening, marks running jobs interrupted, forgets old jobs', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'prsm-job-store-'))
    const path = join(dir, 'jobs.db')
    try {
      let store = createJobStore({ path })
      const now = Date.now()
      assert.equal(store.claim('peer-a', 'req-00001', 'h1', now), true)
      assert.equal(store.claim('peer-a', 'req-00001', 'h1', now), false)
      assert.equal(store.claim('peer-b', 'req-00001', 'h1', now), true, 'ids are per client')
      store.finish('peer-a', 'req-00001', receipt('req-00001', now))
      assert.equal(store.claim('peer-a', 'req-00002', 'h2', now), true)
      store.release('peer-a', 'req-00002')
      assert.equal(store.get('peer-a', 'req-00002'), undefined, 'a released claim is gone')
      assert.equal(store.claim('peer-a', 'old-00001', 'h3', now - 10 * 24 * 3600_000), true)
      store.finish('peer-a', 'old-00001', receipt('old-00001', now - 10 * 24 * 3600_000))
      store.close()

      store = createJobStore({ path })
      const done = store.get('peer-a', 'req-00001')
      assert.equal(done?.status, 'done')
      assert.deepEqual(done?.status === 'done' ? done.receipt : undefined, receipt('req-00001', now))
      assert.equal(store.get('peer-b', 'req-00001')?.status, 'interrupted')
      assert.equal(store.get('peer-a', 'old-00001'), undefined, 'older than the retention')
      store.close()
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('keeps unpaid charges across reopening, oldest first per channel, until marked paid', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'prsm-job-store-'))
    const path = join(dir, 'jobs.db')
    const channel = `0x${'Ab'.repeat(32)}`
    try {
      let store = createJobStore({ path })
      assert.equal(store.accounted(channel), undefined)
      store.setAccounted(channel, 5n)
      store.addCharge({ client: 'peer-a', requestId: 'req-2', channel, amount: 7n, chargedAt: 2000 })
      store.addCharge({ client: 'peer-b', requestId: 'req-1', channel, amount: 3n, chargedAt: 1000 })
      store.addCharge({ client: 'peer-a', requestId: 'req-3', channel, amount: 9n, chargedAt: 3000 })
      // a second charge for one request is ignored (a request is billed once)
      store.addCharge({ client: 'peer-a', requestId: 'req-2', channel, amount: 100n, chargedAt: 4000 })
      store.close()

      store = createJobStore({ path })
      assert.equal(
        store.accounted(channel.toUpperCase().replace('0X', '0x')),
        5n,
        'channels compare lowercased',
      )
      assert.deepEqual(
        store.unpaid(channel).map((c) => [c.requestId, c.amount]),
        [
          ['req-1', 3n],
          ['req-2', 7n],
          ['req-3', 9n],
        ],
      )
      assert.equal(store.oldestUnpaid('peer-a')?.requestId, 'req-2')
      store.markPaid('peer-a', 'req-2', 5000)
      assert.equal(store.charge('peer-a', 'req-2')?.paidAt, 5000)
      assert.equal(store.oldestUnpaid('peer-a')?.requestId, 'req-3')
      assert.deepEqual(
        store.unpaid(channel).map((c) => c.requestId),
        ['req-1', 'req-3'],
      )
      assert.equal(store.charge('peer-a', 'req-9'), undefined)
      store.close()
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
