/**
 * Kubo interop: a real Kubo daemon and a PRSM node on loopback, connected directly. Kubo reads
 * what PRSM added (PRSM serves it over Bitswap), PRSM reads what Kubo added, and the same file
 * gives the same CID in both. Kubo is built from source with the installed Go and cached in
 * `node_modules/.cache/kubo/<version>`; without Go the suite is skipped.
 *
 * Run with `npm run test:interop`.
 */
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { buffer as collect } from 'node:stream/consumers'
import { after, before, describe, it } from 'node:test'
import { loadConfig } from '@prsm/core'
import { createLogger, initIdentity, loadIdentity, PrsmNode } from '@prsm/node'
import { MemoryDatastore } from 'datastore-core'
import { ensureKubo, goVersion, KUBO_ADD, KUBO_VERSION, Kubo } from './kubo.ts'

// (the root project cannot import packages/node/test helpers: another TypeScript project)
const MiB = 1024 * 1024
const chunks = (data: Uint8Array): AsyncIterable<Uint8Array> => Readable.from([data])
const digest = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')

async function startPrsmNode(storage: { chunkSize?: number } = {}): Promise<PrsmNode> {
  const dataDir = await mkdtemp(join(tmpdir(), 'prsm-interop-'))
  await initIdentity(dataDir, { password: null })
  const identity = await loadIdentity(dataDir, null)
  const { config } = loadConfig({
    flags: {
      listen: ['/ip4/127.0.0.1/tcp/0'],
      logLevel: 'silent',
      connections: { allow: ['/ip4/127.0.0.0/ipcidr/8'] },
      storage: { providerLookupTimeoutMs: 1000, ...storage },
    },
  })
  const node = await PrsmNode.create({
    config,
    identity,
    dataDir,
    logger: createLogger({ level: process.env.PRSM_TEST_LOG ?? 'silent' }),
    datastore: new MemoryDatastore(),
    api: false,
  })
  await node.start()
  return node
}

const go = await goVersion()
const skip =
  go === undefined ? 'go is not installed: the Kubo interop suite needs Go (≥ 1.25) to build Kubo' : false

describe(`interop with Kubo ${KUBO_VERSION}`, { skip }, () => {
  let kubo: Kubo
  let node: PrsmNode
  let dir: string

  before(
    async () => {
      const bin = await ensureKubo()
      dir = await mkdtemp(join(tmpdir(), 'prsm-interop-files-'))
      ;[kubo, node] = await Promise.all([Kubo.start(bin), startPrsmNode()])
      const addr = node.multiaddrs().find((a) => a.includes('/tcp/') && !a.includes('/ws'))
      assert.ok(addr, 'the PRSM node has a TCP address')
      await kubo.ipfs('swarm', 'connect', addr.includes('/p2p/') ? addr : `${addr}/p2p/${node.peerId}`)
    },
    { timeout: 30 * 60_000 },
  )
  after(async () => {
    await Promise.allSettled([kubo?.stop(), node?.stop()])
    if (node !== undefined) await rm(node.dataDir, { recursive: true, force: true })
    if (dir !== undefined) await rm(dir, { recursive: true, force: true })
  })

  it('Kubo cats a file added in PRSM (served over Bitswap), byte-identical', async () => {
    const data = randomBytes(3 * MiB + 777)
    const { cid } = await node.storage.add(chunks(data))
    const got = await kubo.catBytes(cid)
    assert.equal(got.byteLength, data.byteLength)
    assert.equal(digest(got), digest(data))
  })

  it('PRSM fetches a file added in Kubo (CIDv1, raw leaves, 1 MiB chunks), byte-identical', async () => {
    const data = randomBytes(4 * MiB + 99)
    const file = join(dir, 'from-kubo.bin')
    await writeFile(file, data)
    const cid = (await kubo.ipfs(...KUBO_ADD, file)).trim()
    assert.equal((await node.storage.stat(cid)).local, false)
    const got = await collect(node.storage.cat(cid))
    assert.equal(digest(got), digest(data))
  })

  it('the same file added in both gives the same CID', async () => {
    for (const size of [1000, MiB, 5 * MiB + 1]) {
      const data = randomBytes(size)
      const file = join(dir, `same-${size}.bin`)
      await writeFile(file, data)
      const inKubo = (await kubo.ipfs(...KUBO_ADD, file)).trim()
      const inPrsm = (await node.storage.add(chunks(data))).cid
      assert.equal(inPrsm, inKubo, `CIDs differ for ${size} bytes`)
    }
  })

  it('the same CID for a file whose DAG has more than one level (over 1024 chunks)', async () => {
    // 16 KiB chunks make a two-level DAG from 17 MiB (1,100 leaves) without a 1 GiB file
    const small = await startPrsmNode({ chunkSize: 16384 })
    try {
      const data = randomBytes(1100 * 16384 + 5)
      const file = join(dir, 'two-level.bin')
      await writeFile(file, data)
      const add = KUBO_ADD.map((a) => (a.startsWith('--chunker=') ? '--chunker=size-16384' : a))
      const inKubo = (await kubo.ipfs(...add, file)).trim()
      const inPrsm = (await small.storage.add(chunks(data))).cid
      assert.equal(inPrsm, inKubo)
    } finally {
      await small.stop()
      await rm(small.dataDir, { recursive: true, force: true })
    }
  })
})
