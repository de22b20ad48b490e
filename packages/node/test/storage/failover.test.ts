import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { lpStream } from '@libp2p/utils'
import { CID } from 'multiformats/cid'
import type { PrsmNode } from '../../src/node.ts'
import { BLOCK_PROTOCOL } from '../../src/storage/block-exchange.ts'
import { bootstrapAddr, startTestNode, stopAll, waitFor } from '../helpers.ts'
import { chunks, collect, digest, leafCid, MiB } from './bytes.ts'

/** Storage without the DHT or Bitswap, so only the sources a test sets up can serve blocks. */
const isolated = (storage: Record<string, unknown> = {}) => ({
  dht: { enabled: false },
  storage: { bitswap: false, blockTimeoutMs: 1000, providerLookupTimeoutMs: 200, ...storage },
})

describe('content: a provider that stalls', () => {
  it('is skipped after blockTimeoutMs and the fetch completes from another provider', async () => {
    const data = randomBytes(3 * MiB)
    const stalled = await startTestNode({ config: isolated() })
    const good = await startTestNode({ config: isolated() })
    const fetcher = await startTestNode({ config: { ...isolated(), bootstrap: [bootstrapAddr(stalled)] } })
    try {
      const { cid } = await stalled.storage.add(chunks(data))
      // the stalled peer answers its first request (the root), then accepts requests and never
      // answers; the good peer holds the leaves only, so the root must come from the stalled one
      await stalled.libp2p.unhandle(BLOCK_PROTOCOL)
      let answered = 0
      await stalled.libp2p.handle(BLOCK_PROTOCOL, async (stream) => {
        const lp = lpStream(stream)
        while (true) {
          const request = await lp.read().catch(() => undefined)
          if (request === undefined) return
          if (answered++ > 0) continue
          const block = await stalled.storage.block(CID.decode(request.subarray()).toString())
          await lp.write(Buffer.concat([Uint8Array.of(0), block]))
        }
      })
      for (let i = 0; i < 3; i++) {
        await good.storage.localBlocks.put(await leafCid(data, i), data.subarray(i * MiB, (i + 1) * MiB))
      }
      await fetcher.libp2p.dial(good.libp2p.getMultiaddrs()[0] as never)
      await waitFor('fetcher knows both providers', async () => {
        const protocols = await Promise.all(
          [stalled, good].map(async (n) => (await fetcher.libp2p.peerStore.get(n.libp2p.peerId)).protocols),
        )
        return protocols.every((p) => p.includes(BLOCK_PROTOCOL))
      })

      const fetched = await collect(fetcher.storage.cat(cid))
      assert.equal(digest(fetched), digest(data))
      const failures = fetcher.storage.exchange.failures()
      assert.ok(
        failures.some((f) => f.peer === stalled.peerId && f.reason === 'timeout'),
        `the stalled peer timed out: ${JSON.stringify(failures)}`,
      )
      assert.ok(answered >= 2, 'the stalled peer was asked for leaves')
      // slow is not malicious: no penalty
      assert.equal(fetcher.penalties.get(stalled.peerId), undefined)
    } finally {
      await stopAll([fetcher, good, stalled])
    }
  })
})

interface Seen {
  method: string
  url: string
  accept: string | undefined
}

/**
 * A local HTTP server speaking the trustless-gateway (`GET /ipfs/<cid>?format=raw`) and Kubo RPC
 * (`POST /api/v0/block/get?arg=<cid>`) wire formats, serving raw blocks from a node's blockstore;
 * `corrupt` makes it answer with wrong bytes.
 */
async function blockServer(
  source: PrsmNode,
): Promise<{ url: string; seen: Seen[]; corrupt: boolean; server: Server }> {
  const state = { url: '', seen: [] as Seen[], corrupt: false, server: undefined as unknown as Server }
  const cidOf = (req: IncomingMessage): string | undefined => {
    const url = new URL(req.url ?? '/', 'http://x')
    if (
      req.method === 'GET' &&
      url.pathname.startsWith('/ipfs/') &&
      url.searchParams.get('format') === 'raw'
    ) {
      return url.pathname.slice('/ipfs/'.length)
    }
    if (req.method === 'POST' && url.pathname === '/api/v0/block/get')
      return url.searchParams.get('arg') ?? undefined
    return undefined
  }
  state.server = createServer((req, res) => {
    state.seen.push({ method: req.method ?? '', url: req.url ?? '', accept: req.headers.accept })
    const cid = cidOf(req)
    if (cid === undefined) {
      res.writeHead(400).end('bad request')
      return
    }
    const answer = async (): Promise<void> => {
      if (!(await source.storage.localBlocks.has(CID.parse(cid)))) {
        res.writeHead(404).end('not found')
        return
      }
      const block = await source.storage.block(cid)
      const body = state.corrupt ? randomBytes(block.byteLength) : block
      res.writeHead(200, { 'content-type': 'application/vnd.ipld.raw', 'content-length': body.byteLength })
      res.end(body)
    }
    answer().catch(() => res.writeHead(500).end())
  })
  await new Promise<void>((ok) => state.server.listen(0, '127.0.0.1', ok))
  state.url = `http://127.0.0.1:${(state.server.address() as AddressInfo).port}`
  return state
}

describe('content: HTTP fallbacks', () => {
  let source: PrsmNode
  const data = randomBytes(2 * MiB + 777)
  let cid: string
  let gateway: Awaited<ReturnType<typeof blockServer>>
  let kubo: Awaited<ReturnType<typeof blockServer>>

  before(async () => {
    source = await startTestNode({ config: isolated() })
    cid = (await source.storage.add(chunks(data))).cid
    gateway = await blockServer(source)
    kubo = await blockServer(source)
  })
  after(async () => {
    gateway.server.close()
    kubo.server.close()
    await stopAll([source])
  })

  /** A node connected to nobody, fetching only through the given fallbacks. */
  async function fetchVia(fallbacks: { gateways?: string[]; kuboRpc?: string[] }): Promise<Buffer> {
    const fetcher = await startTestNode({ config: isolated(fallbacks) })
    try {
      return await collect(fetcher.storage.cat(cid))
    } finally {
      await stopAll([fetcher])
    }
  }

  it('fetches and verifies every block from a trustless gateway (raw blocks)', async () => {
    gateway.seen.length = 0
    assert.equal(digest(await fetchVia({ gateways: [gateway.url] })), digest(data))
    // root + 3 leaves, each one GET in the trustless-gateway form
    assert.equal(gateway.seen.length, 4)
    for (const s of gateway.seen) {
      assert.equal(s.method, 'GET')
      assert.match(s.url, /^\/ipfs\/b[a-z2-7]+\?format=raw$/)
      assert.equal(s.accept, 'application/vnd.ipld.raw')
    }
  })

  it('fetches and verifies every block from a Kubo RPC endpoint', async () => {
    kubo.seen.length = 0
    assert.equal(digest(await fetchVia({ kuboRpc: [kubo.url] })), digest(data))
    assert.equal(kubo.seen.length, 4)
    for (const s of kubo.seen) {
      assert.equal(s.method, 'POST')
      assert.match(s.url, /^\/api\/v0\/block\/get\?arg=b[a-z2-7]+$/)
    }
  })

  it('rejects bad blocks from a fallback and takes them from the next one', async () => {
    gateway.seen.length = 0
    kubo.seen.length = 0
    gateway.corrupt = true
    try {
      assert.equal(digest(await fetchVia({ gateways: [gateway.url], kuboRpc: [kubo.url] })), digest(data))
      // every block was asked of the corrupting gateway first, rejected, then served by Kubo RPC
      assert.equal(gateway.seen.length, 4)
      assert.equal(kubo.seen.length, 4)

      // with only the corrupting source, nothing unverified is ever returned
      await assert.rejects(
        fetchVia({ gateways: [gateway.url] }),
        (err: { code?: string }) => err.code === 'CONTENT_NOT_FOUND',
      )
    } finally {
      gateway.corrupt = false
    }
  })
})
