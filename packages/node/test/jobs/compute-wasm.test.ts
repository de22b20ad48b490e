import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import type { PrsmNode } from '../../src/index.ts'
import { name, section, sleb, uleb, vec } from '../../src/wasm-encoding.ts'
import { stopAll } from '../helpers.ts'
import { computeCluster } from './helpers.ts'

const I32 = 0x7f
const fnType = (params: number[], results: number[]): number[] => [
  0x60,
  ...vec(params.map((p) => [p])),
  ...vec(results.map((r) => [r])),
]

interface ModuleSpec {
  /** Extra imports before the ABI ones: [module, field, type index]. */
  extraImports?: Array<[string, string, number]>
  /** Pages the memory import asks for (default 1); null: a memory defined by the module itself. */
  memoryPages?: number | null
  /** Body of main (`() -> i32`): locals then code, without the final `end`. */
  locals?: number[][]
  code: number[]
}

/** Imports: input_len (0), input_read (1), output_write (2), random_u32 (3), then extras; main follows. */
function wasmModule(spec: ModuleSpec): Uint8Array {
  const types = [
    fnType([], [I32]),
    fnType([I32], [I32]),
    fnType([I32, I32, I32, I32], [I32]),
    fnType([I32, I32], [I32]),
  ]
  const funcImports: Array<[string, string, number]> = [
    ['prsm', 'input_len', 1],
    ['prsm', 'input_read', 2],
    ['prsm', 'output_write', 3],
    ['prsm', 'random_u32', 0],
    ...(spec.extraImports ?? []),
  ]
  const imports = funcImports.map(([m, f, t]) => [...name(m), ...name(f), 0x00, ...uleb(t)])
  const pages = spec.memoryPages === undefined ? 1 : spec.memoryPages
  if (pages !== null) imports.push([...name('prsm'), ...name('memory'), 0x02, 0x00, ...uleb(pages)])
  const mainIndex = funcImports.length
  const body = [...vec(spec.locals ?? []), ...spec.code, 0x0b]
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, vec(types)),
    ...section(2, vec(imports)),
    ...section(3, vec([[0]])),
    ...(pages === null ? section(5, vec([[0x00, 0x01]])) : []),
    ...section(7, vec([[...name('main'), 0x00, ...uleb(mainIndex)]])),
    ...section(10, vec([[...uleb(body.length), ...body]])),
  ])
}

const call = (f: number): number[] => [0x10, ...uleb(f)]
const i32 = (n: number): number[] => [0x41, ...sleb(n)]
const DROP = 0x1a

/** Echoes input 0, then appends 4 bytes of the seeded PRNG. */
const echoRandom = wasmModule({
  locals: [[1, I32]],
  code: [
    [...i32(0), ...call(0), 0x21, 0x00], // len = input_len(0)
    [...i32(0), ...i32(0), ...i32(0), 0x20, 0x00, ...call(1), DROP], // input_read(0, 0, 0, len)
    [...i32(0), 0x20, 0x00, ...call(2), DROP], // output_write(0, len)
    [...i32(1024), ...call(3), 0x36, 0x02, 0x00], // store random_u32() at 1024
    [...i32(1024), ...i32(4), ...call(2), DROP], // output_write(1024, 4)
    i32(0),
  ].flat(),
})
/** loop br 0 end */
const spin = wasmModule({ code: [0x03, 0x40, 0x0c, 0x00, 0x0b, ...i32(0)] })
/** Grows memory one page at a time until memory.grow fails, then traps. */
const memoryBomb = wasmModule({
  code: [0x03, 0x40, ...i32(1), 0x40, 0x00, ...i32(-1), 0x47, 0x0d, 0x00, 0x0b, 0x00, ...i32(0)],
})

describe('compute:wasm in a worker on three providers', () => {
  let cluster: Awaited<ReturnType<typeof computeCluster>>
  let providers: PrsmNode[]
  const add = (bytes: Uint8Array | string) => cluster.add(bytes)
  const run: Awaited<ReturnType<typeof computeCluster>>['run'] = (...args) => cluster.run(...args)

  before(async () => {
    cluster = await computeCluster('compute:wasm')
    providers = cluster.providers
  })
  after(() => stopAll(cluster.nodes))

  it('gives identical output bytes and hashes on three nodes (CID inputs, seeded PRNG)', async () => {
    const program = await add(echoRandom)
    const data = await add(Buffer.from('reproducible science'))
    const results = await Promise.all(providers.map((p) => run(p, program, [{ cid: data }])))
    for (const r of results) assert.equal(r.receipt.status, 'ok', r.receipt.error?.message)
    assert.equal(new Set(results.map((r) => r.receipt.outputHash)).size, 1, 'one hash on three nodes')
    const out = Buffer.from(results[0]?.output ?? [])
    assert.equal(out.subarray(0, 20).toString(), 'reproducible science')
    assert.equal(out.byteLength, 24)
    assert.equal(results[0]?.receipt.outputHash, createHash('sha256').update(out).digest('hex'))
    // Another seed gives other random bytes; the same seed the same ones.
    const [a, b, c] = await Promise.all([
      run(providers[0] as PrsmNode, program, [{ cid: data }], { seed: 7 }),
      run(providers[1] as PrsmNode, program, [{ cid: data }], { seed: 7 }),
      run(providers[2] as PrsmNode, program, [{ cid: data }], { seed: 8 }),
    ])
    assert.equal(a.receipt.outputHash, b.receipt.outputHash)
    assert.notEqual(a.receipt.outputHash, c.receipt.outputHash)
  })

  it('stops an infinite loop at the time cap and a memory bomb at the memory cap; the node stays healthy', async () => {
    const provider = providers[0] as PrsmNode
    const looping = await run(provider, await add(spin))
    assert.equal(looping.receipt.status, 'failed')
    assert.equal(looping.receipt.error?.code, 'JOB_COMPUTE_TIME_LIMIT')
    const bomb = await run(provider, await add(memoryBomb))
    assert.equal(bomb.receipt.status, 'failed')
    assert.equal(bomb.receipt.error?.code, 'JOB_COMPUTE_MEMORY_LIMIT')
    const huge = await run(provider, await add(wasmModule({ memoryPages: 1000, code: i32(0) })))
    assert.equal(huge.receipt.error?.code, 'JOB_COMPUTE_MEMORY_LIMIT', 'asks for more pages than the cap')
    // Still serving, and quickly.
    const ok = await run(provider, await add(echoRandom), [{ text: 'alive' }])
    assert.equal(ok.receipt.status, 'ok')
    assert.equal(Buffer.from(ok.output).subarray(0, 5).toString(), 'alive')
    assert.deepEqual(provider.jobs.provider.stats(), { running: 0, waiting: 0 })
  })

  it('refuses modules that import anything outside the ABI (clock, WASI files, network) or bring their own memory', async () => {
    const provider = providers[1] as PrsmNode
    for (const [module, field] of [
      ['env', 'Date.now'],
      ['wasi_snapshot_preview1', 'fd_write'],
      ['wasi_snapshot_preview1', 'clock_time_get'],
      ['env', 'fetch'],
      ['prsm', 'process'],
    ] as const) {
      const program = await add(wasmModule({ extraImports: [[module, field, 0]], code: i32(0) }))
      const r = await run(provider, program)
      assert.equal(r.receipt.status, 'failed')
      assert.equal(r.receipt.error?.code, 'JOB_INPUT_INVALID', `${module}.${field}`)
      assert.match(r.receipt.error?.message ?? '', /not in the ABI/)
    }
    const own = await run(provider, await add(wasmModule({ memoryPages: null, code: i32(0) })))
    assert.equal(own.receipt.error?.code, 'JOB_INPUT_INVALID')
    assert.match(own.receipt.error?.message ?? '', /its own memory/)
    const garbage = await run(provider, await add(Buffer.from('not wasm at all')))
    assert.equal(garbage.receipt.error?.code, 'JOB_INPUT_INVALID')
    const failing = await run(provider, await add(wasmModule({ code: i32(3) })))
    assert.equal(failing.receipt.error?.code, 'JOB_COMPUTE_FAILED')
    assert.match(failing.receipt.error?.message ?? '', /main returned 3/)
  })
})
