import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { multiaddr } from '@multiformats/multiaddr'
import type { PrsmNode } from '../../src/node.ts'
import { startTestNode, stopAll, waitFor } from '../helpers.ts'
import { chunks, collect, digest, MiB } from './bytes.ts'

const IDENTIFY = '/ipfs/id/1.0.0'
const IDENTIFY_PUSH = '/ipfs/id/push/1.0.0'

/**
 * Regression test for 240c399: a fetch started right after dialling a peer, before identify had
 * finished, found no provider. libp2p records a stream's negotiated protocol (identify's own)
 * in the peer store before identify completes, so "the peer has protocols, and not the block
 * protocol" does not mean the peer does not serve blocks. Here the provider never answers
 * identify and the fetcher takes no identify pushes, so the fetcher is held in exactly that state
 * for the whole test (the old code failed it with CONTENT_NOT_FOUND).
 */
describe('storage: fetching from a peer whose identify has not finished', () => {
  let provider: PrsmNode
  let fetcher: PrsmNode
  const data = randomBytes(2 * MiB + 77)
  let cid: string

  before(async () => {
    const solo = {
      dht: { enabled: false },
      storage: { bitswap: false, blockTimeoutMs: 3_000, providerLookupTimeoutMs: 500 },
    }
    provider = await startTestNode({ config: solo })
    fetcher = await startTestNode({ config: solo })
    cid = (await provider.storage.add(chunks(data))).cid
    // identify streams to the provider are accepted and never answered
    await provider.libp2p.unhandle(IDENTIFY)
    await provider.libp2p.handle(IDENTIFY, () => undefined)
    await fetcher.libp2p.unhandle(IDENTIFY_PUSH)
  })
  after(() => stopAll([provider, fetcher]))

  it('asks the connected peer and gets the file', async () => {
    const addr = provider.multiaddrs().find((a) => a.includes('/tcp/') && !a.includes('/ws'))
    assert.ok(addr)
    await fetcher.libp2p.dial(multiaddr(addr))
    // the state the bug needed: identify's protocol recorded, identify not done
    const info = await waitFor('identify negotiated', async () => {
      const peer = await fetcher.libp2p.peerStore.get(provider.libp2p.peerId).catch(() => undefined)
      return peer?.protocols.includes(IDENTIFY) === true ? peer : undefined
    })
    assert.equal(info.metadata.has('AgentVersion'), false)
    assert.equal(info.protocols.includes('/prsm/block/1.0.0'), false)

    const fetched = await collect(fetcher.storage.cat(cid, { signal: AbortSignal.timeout(20_000) }))
    assert.equal(digest(fetched), digest(data))
    assert.equal(fetcher.storage.usage.get(cid).bytesFetched, data.byteLength)
  })
})
