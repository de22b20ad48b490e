import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import type { PrsmNode } from '@prsm/node'
import { prsm, startNode } from './prsm-runner.ts'

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')

/** `prsm ARGS --json` expecting success: the parsed output. */
async function json<T>(args: string[]): Promise<T> {
  const r = await prsm([...args, '--json'])
  assert.equal(r.code, 0, `prsm ${args.join(' ')}: ${r.stderr}${r.stdout}`)
  return JSON.parse(r.stdout) as T
}

describe('prsm content add/get/stat against running nodes', () => {
  let a: PrsmNode
  let b: PrsmNode
  let dir: string
  const data = randomBytes(3 * 1024 * 1024 + 17)

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'prsm-content-cli-files-'))
    a = await startNode({}, true, 'prsm-content-cli-')
    const addr = a.multiaddrs().find((m) => m.includes('/tcp/') && !m.includes('/ws')) as string
    b = await startNode({ bootstrap: [addr] }, true, 'prsm-content-cli-')
  })
  after(async () => {
    await Promise.allSettled([a.stop(), b.stop()])
    await Promise.allSettled(
      [a, b, { dataDir: dir }].map((n) => rm(n.dataDir, { recursive: true, force: true })),
    )
  })

  it('adds a file on one node, fetches it by CID on the other byte-identical, and reports its stat', async () => {
    const file = join(dir, 'in.bin')
    await writeFile(file, data)
    const added = await json<{ cid: string; size: number }>(['content', 'add', file, '--data-dir', a.dataDir])
    assert.equal(added.size, data.byteLength)
    assert.match(added.cid, /^bafy/)

    const out = join(dir, 'out.bin')
    const got = await json<{ cid: string; size: number; sha256: string; output: string }>([
      'content',
      'get',
      added.cid,
      '-o',
      out,
      '--data-dir',
      b.dataDir,
    ])
    assert.equal(got.size, data.byteLength)
    assert.equal(got.sha256, sha256(data))
    assert.equal(sha256(await readFile(out)), sha256(data))

    const there = await json<{ type: string; size: number; local: boolean; pinned: boolean }>([
      'content',
      'stat',
      added.cid,
      '--data-dir',
      b.dataDir,
    ])
    assert.deepEqual(
      { type: there.type, size: there.size, local: there.local, pinned: there.pinned },
      { type: 'file', size: data.byteLength, local: true, pinned: false },
    )
    const home = await json<{ pinned: boolean }>(['content', 'stat', added.cid, '--data-dir', a.dataDir])
    assert.equal(home.pinned, true)
  })

  it('reports bad input with its code and exit code 1', async () => {
    const r = await prsm(['content', 'stat', 'not-a-cid', '--data-dir', a.dataDir, '--json'])
    assert.equal(r.code, 1)
    assert.equal((JSON.parse(r.stdout) as { error: { code: string } }).error.code, 'CONTENT_INVALID_CID')
    const missing = await prsm(['content', 'add', join(dir, 'nope.bin'), '--data-dir', a.dataDir, '--json'])
    assert.notEqual(missing.code, 0)
  })
})
