import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { PrsmNode } from '../../src/index.ts'
import { stopAll } from '../helpers.ts'
import { computeCluster } from './helpers.ts'

describe('compute:js in a QuickJS sandbox on three providers', () => {
  let cluster: Awaited<ReturnType<typeof computeCluster>>
  let providers: PrsmNode[]
  const add = (bytes: Uint8Array | string) => cluster.add(bytes)
  const run: Awaited<ReturnType<typeof computeCluster>>['run'] = (...args) => cluster.run(...args)

  before(async () => {
    cluster = await computeCluster('compute:js')
    providers = cluster.providers
  })
  after(() => stopAll(cluster.nodes))

  it('gives identical output bytes and hashes on three nodes (seeded Math.random, CID inputs)', async () => {
    const program = await add(`
      function main(inputs, params) {
        const words = inputs.join(' ').split(/\\s+/)
        const shuffled = words.map((w) => [Math.random(), w]).sort((a, b) => a[0] - b[0]).map((p) => p[1])
        return { shuffled, rolls: [Math.random(), Math.random()], params }
      }`)
    const data = await add('lorem ipsum dolor sit amet consectetur adipiscing elit')
    const results = await Promise.all(
      providers.map((p) => run(p, program, [{ cid: data }, { text: 'x y z' }])),
    )
    for (const r of results) assert.equal(r.receipt.status, 'ok', r.receipt.error?.message)
    const hashes = new Set(results.map((r) => r.receipt.outputHash))
    assert.equal(hashes.size, 1, 'one output hash across the three nodes')
    const out = JSON.parse(Buffer.from(results[0]?.output ?? []).toString()) as {
      shuffled: string[]
      rolls: number[]
    }
    assert.equal(out.shuffled.length, 11)
    assert.ok(out.rolls.every((r) => r >= 0 && r < 1))
  })

  it('stops an infinite loop at the time cap', async () => {
    const { receipt } = await run(providers[0] as PrsmNode, await add('function main() { for (;;) {} }'))
    assert.equal(receipt.status, 'failed')
    assert.equal(receipt.error?.code, 'JOB_COMPUTE_TIME_LIMIT')
    // Thrashing the garbage collector near the memory cap never reaches QuickJS's interrupt
    // check: the worker is terminated from outside shortly after the time cap.
    const thrash = await add(
      `function main() { const a = []; for (;;) a.push('x'.repeat(1 << 20) + a.length) }`,
    )
    const killed = await run(providers[0] as PrsmNode, thrash)
    assert.equal(killed.receipt.error?.code, 'JOB_COMPUTE_TIME_LIMIT')
  })

  it('stops memory bombs at the memory cap', async () => {
    for (const bomb of [
      'new ArrayBuffer(256 << 20)',
      "const a = []; for (;;) a.push({ n: a.length, s: 'y' + a.length })",
    ]) {
      const { receipt } = await run(providers[1] as PrsmNode, await add(`function main() { ${bomb} }`))
      assert.equal(receipt.status, 'failed')
      assert.equal(receipt.error?.code, 'JOB_COMPUTE_MEMORY_LIMIT', bomb)
    }
  })

  it('has no process, modules, filesystem, network or clock; runaway recursion fails cleanly', async () => {
    const p = providers[2] as PrsmNode
    for (const body of [
      'return process.pid',
      "return require('fs').readFileSync('/etc/passwd', 'utf8')",
      "return fetch('http://127.0.0.1:1/')",
      'return Date.now()',
      "return new Function('return this')().process.env",
      'const f = (n) => f(n + 1) + 1; return f(0)',
    ]) {
      const { receipt } = await run(p, await add(`function main() { ${body} }`))
      assert.equal(receipt.status, 'failed', body)
      assert.equal(receipt.error?.code, 'JOB_COMPUTE_FAILED', `${body}: ${receipt.error?.message}`)
    }
    const inventory = await run(
      p,
      await add(`function main() {
        return ['process', 'require', 'fetch', 'Date', 'performance', 'setTimeout', 'std', 'os', 'WeakRef', 'XMLHttpRequest', 'WebSocket']
          .map((n) => n + ':' + typeof globalThis[n]).join(' ')
      }`),
    )
    assert.ok(
      Buffer.from(inventory.output)
        .toString()
        .split(' ')
        .every((e) => e.endsWith(':undefined')),
      Buffer.from(inventory.output).toString(),
    )
    // A program without main, and a missing program, are refused with their codes.
    assert.equal((await run(p, await add('const x = 1'))).receipt.error?.code, 'JOB_COMPUTE_FAILED')
    const missing = await cluster.client.jobs.request(p.peerId, {
      step: { capability: 'compute:js' },
      maxPrice: 0n,
    })
    assert.equal(missing.receipt.error?.code, 'JOB_INPUT_INVALID')
  })

  it('leaves the providers healthy after the failures', async () => {
    const ok = await add('function main(inputs) { return inputs[0].toUpperCase() }')
    for (const p of providers) {
      const r = await run(p, ok, [{ text: 'still fine' }])
      assert.equal(Buffer.from(r.output).toString(), 'STILL FINE')
      assert.equal(p.jobs.provider.stats().running, 0)
    }
  })
})
