import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import type { AbortOptions } from '@libp2p/interface'
import { FsBlockstore } from 'blockstore-fs'
import type { CID } from 'multiformats/cid'
import { readRuntimeFile } from '../../src/index.ts'
import type { PrsmNode } from '../../src/node.ts'
import { bootstrapAddr, startTestNode, stopAll, waitFor } from '../helpers.ts'
import { chunks, collect, digest, leafCid, MiB } from './bytes.ts'

/** A peer's storage that answers one CID with wrong bytes (the network around it is real). */
class CorruptingBlockstore extends FsBlockstore {
  bad: CID | undefined
  override async *get(cid: CID, options?: AbortOptions): AsyncGenerator<Uint8Array> {
    if (this.bad?.equals(cid) === true) {
      yield randomBytes(MiB)
      return
    }
    yield* super.get(cid, options)
  }
}

describe('content: files between two nodes', () => {
  let a: PrsmNode
  let b: PrsmNode
  const data = randomBytes(5 * MiB + 12345)
  let cid: string

  before(async () => {
    a = await startTestNode({ datastore: 'fs', api: true })
    b = await startTestNode({ datastore: 'fs', api: true, config: { bootstrap: [bootstrapAddr(a)] } })
    cid = (await a.storage.add(chunks(data))).cid
    await waitFor('b connected to a', () => b.libp2p.getPeers().length > 0)
  })
  after(() => stopAll([a, b]))

  it('imports as CIDv1 with raw leaves and 1 MiB chunks, and the other node fetches it byte-identical', async () => {
    assert.match(cid, /^bafy/) // dag-pb root, CIDv1
    const stat = await a.storage.stat(cid)
    assert.equal(stat.size, data.byteLength)
    assert.equal(stat.pinned, true)
    assert.equal((await b.storage.stat(cid)).local, false)
    const fetched = await collect(b.storage.cat(cid))
    assert.equal(digest(fetched), digest(data))
    assert.equal(await b.storage.localBlocks.has(await leafCid(data, 2)), true)
    // the serving node counted a serve of the root, the fetching node a fetch
    assert.equal(a.storage.usage.get(cid).serves, 1)
    assert.equal(b.storage.usage.get(cid).fetches, 1)
    assert.equal(b.storage.usage.get(cid).bytesFetched, data.byteLength)
  })

  it('streams uploads and ranged downloads over the HTTP API', async () => {
    const rt = await readRuntimeFile(b.dataDir)
    const auth = { authorization: `Bearer ${rt.token}` }
    const small = randomBytes(3 * MiB)
    const up = await fetch(`${rt.apiUrl}/api/v1/content`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/octet-stream' },
      body: small,
    })
    assert.equal(up.status, 200)
    const added = (await up.json()) as { cid: string; size: number }
    assert.equal(added.size, small.byteLength)

    const whole = await fetch(`${rt.apiUrl}/api/v1/content/${added.cid}`, { headers: auth })
    assert.equal(whole.headers.get('content-length'), String(small.byteLength))
    assert.equal(digest(Buffer.from(await whole.arrayBuffer())), digest(small))

    const part = await fetch(`${rt.apiUrl}/api/v1/content/${added.cid}`, {
      headers: { ...auth, range: `bytes=${MiB - 10}-${MiB + 9}` },
    })
    assert.equal(part.status, 206)
    assert.equal(part.headers.get('content-range'), `bytes ${MiB - 10}-${MiB + 9}/${small.byteLength}`)
    assert.deepEqual(Buffer.from(await part.arrayBuffer()), small.subarray(MiB - 10, MiB + 10))

    const bad = await fetch(`${rt.apiUrl}/api/v1/content/${added.cid}`, {
      headers: { ...auth, range: `bytes=${small.byteLength}-` },
    })
    assert.equal(bad.status, 416)
    assert.equal(((await bad.json()) as { error: { code: string } }).error.code, 'CONTENT_RANGE_INVALID')

    const nocid = await fetch(`${rt.apiUrl}/api/v1/content/not-a-cid/stat`, { headers: auth })
    assert.equal(((await nocid.json()) as { error: { code: string } }).error.code, 'CONTENT_INVALID_CID')
  })

  it('pins, unpins and garbage-collects unpinned blocks', async () => {
    assert.ok((await b.storage.pins()).every((p) => p !== cid))
    await b.storage.pin(cid)
    assert.ok((await b.storage.pins()).includes(cid))
    assert.equal((await b.storage.gc()).removed, 0)
    await b.storage.unpin(cid)
    const { removed } = await b.storage.gc()
    assert.ok(removed >= 6, `removed ${removed}`)
    assert.equal(await b.storage.localBlocks.has(await leafCid(data, 0)), false)
    assert.equal(await a.storage.localBlocks.has(await leafCid(data, 0)), true)
  })
})

describe('content: a provider serving a corrupted block', () => {
  it('is detected and penalised, and the fetch completes from another provider', async () => {
    const data = randomBytes(4 * MiB)
    const badDir = await mkdtemp(join(tmpdir(), 'prsm-test-'))
    const corrupting = new CorruptingBlockstore(join(badDir, 'blocks'))
    await corrupting.open()
    const bad = await startTestNode({ dataDir: badDir, blockstore: corrupting })
    const good = await startTestNode()
    const fetcher = await startTestNode({ config: { bootstrap: [bootstrapAddr(bad)] } })
    try {
      const { cid } = await bad.storage.add(chunks(data))
      const leaf = await leafCid(data, 2)
      corrupting.bad = leaf
      // the good provider holds the block the bad one corrupts (and nothing else)
      await good.storage.localBlocks.put(leaf, data.subarray(2 * MiB, 3 * MiB))
      await fetcher.libp2p.dial(good.libp2p.getMultiaddrs()[0] as never)
      await waitFor('fetcher knows both providers', async () => {
        const protocols = await Promise.all(
          [bad, good].map(async (n) => (await fetcher.libp2p.peerStore.get(n.libp2p.peerId)).protocols),
        )
        return protocols.every((p) => p.includes('/prsm/block/1.0.0'))
      })

      const fetched = await collect(fetcher.storage.cat(cid))
      assert.equal(digest(fetched), digest(data))
      const record = fetcher.penalties.get(bad.peerId)
      assert.equal(record?.offences.CONTENT_BAD_BLOCK, 1)
      assert.ok(
        fetcher.storage.exchange.failures().some((f) => f.peer === bad.peerId && f.reason === 'bad-block'),
      )
      assert.equal(fetcher.penalties.get(good.peerId), undefined)
    } finally {
      await stopAll([fetcher, good, bad])
      await corrupting.close()
    }
  })
})
