import assert from 'node:assert/strict'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { multiaddr } from '@multiformats/multiaddr'
import type { PrsmNode } from '../src/index.ts'
import { bootstrapAddr, startTestNode, stopAll, waitFor } from './helpers.ts'

const CAP = 'model:llama-3-8b'

/** One bootstrap node and n-1 nodes that know only it; node 1 (the bootstrap) offers CAP. */
async function startNetwork(n: number, config: { gossip: boolean; dht: boolean }): Promise<PrsmNode[]> {
  const common = {
    gossip: { enabled: config.gossip },
    dht: { enabled: config.dht, addresses: 'all' as const },
  }
  const first = await startTestNode({ config: { ...common, offers: [{ capability: CAP, price: '0.002' }] } })
  const rest = await Promise.all(
    Array.from({ length: n - 1 }, () =>
      startTestNode({ config: { ...common, bootstrap: [bootstrapAddr(first)] } }),
    ),
  )
  return [first, ...rest]
}

describe('a network of 10 nodes from one bootstrap node', () => {
  const nodes: PrsmNode[] = []
  after(() => stopAll(nodes))

  it('finds node 1’s offer from node 10 through the DHT alone (gossip off)', async () => {
    nodes.push(...(await startNetwork(10, { gossip: false, dht: true })))
    // The network forms beyond the bootstrap node: DHT self-queries connect the nodes to each other.
    await waitFor(
      'every node to have at least 3 peers',
      () => nodes.every((n) => n.libp2p.getPeers().length >= 3),
      20_000,
    )
    const last = nodes[9] as PrsmNode
    assert.equal(last.offers.knownOffers(CAP).length, 0, 'nothing is known before the DHT search (no gossip)')
    const found = await waitFor('node 10 to find the offer in the DHT', async () => {
      const offers = await last.findOffers(CAP, { timeoutMs: 3_000 })
      return offers.length > 0 ? offers : undefined
    })
    assert.equal(found[0]?.provider, nodes[0]?.peerId)
    assert.equal(found[0]?.source, 'dht')
    assert.equal(found[0]?.offer.price, '2000000000000000')
    assert.equal(found[0]?.offer.unit, 'token')
    assert.ok((found[0]?.offer.expiry ?? 0) > Date.now())
  })
})

describe('a network of 10 nodes with the DHT off', () => {
  const nodes: PrsmNode[] = []
  after(() => stopAll(nodes))

  it('delivers node 1’s offer to node 10 through gossip alone', async () => {
    nodes.push(...(await startNetwork(10, { gossip: true, dht: false })))
    const last = nodes[9] as PrsmNode
    const found = await waitFor('node 10 to learn the offer by gossip', () => {
      const offers = last.offers.knownOffers(CAP)
      return offers.length > 0 ? offers : undefined
    })
    assert.equal(found[0]?.provider, nodes[0]?.peerId)
    assert.equal(found[0]?.source, 'gossip')
    // findOffers with the DHT off answers from gossip only
    const viaApi = await last.findOffers(CAP)
    assert.deepEqual(
      viaApi.map((f) => f.provider),
      [nodes[0]?.peerId],
    )
  })
})

describe('restart', () => {
  const nodes: PrsmNode[] = []
  after(() => stopAll(nodes))

  it('keeps its PeerId and reconnects to known peers without a bootstrap list', async () => {
    const hub = await startTestNode()
    nodes.push(hub)
    const dataDir = await mkdtemp(join(tmpdir(), 'prsm-restart-'))
    // a real filesystem datastore, so the peer store survives the restart
    const first = await startTestNode({
      dataDir,
      datastore: 'fs',
      config: { bootstrap: [bootstrapAddr(hub)] },
    })
    const peerId = first.peerId
    await waitFor('connection to the hub', () =>
      first.libp2p.getPeers().some((p) => p.toString() === hub.peerId),
    )
    // let the peer store record the hub's addresses and last-seen time
    await waitFor('hub recorded in the peer store', async () => {
      const peer = await first.libp2p.peerStore.get(hub.libp2p.peerId)
      return peer.addresses.length > 0 && peer.metadata.has('prsm/last-seen')
    })
    await first.stop()
    await waitFor(
      'hub to see the node leave',
      () => !hub.libp2p.getPeers().some((p) => p.toString() === peerId),
    )

    const again = await startTestNode({ dataDir, datastore: 'fs' })
    nodes.push(again)
    assert.equal(again.peerId, peerId)
    assert.deepEqual(again.config.bootstrap, [])
    await waitFor('reconnection to the hub', () =>
      again.libp2p.getPeers().some((p) => p.toString() === hub.peerId),
    )
  })
})

describe('circuit relay', () => {
  const nodes: PrsmNode[] = []
  after(() => stopAll(nodes))

  it('a node with --relay carries a connection to a node that listens only through it', async () => {
    const relay = await startTestNode({ config: { relay: true } })
    nodes.push(relay)
    assert.ok(relay.libp2p.getProtocols().includes('/libp2p/circuit/relay/0.2.0/hop'))
    const behind = await startTestNode({
      config: { listen: ['/ip4/127.0.0.1/tcp/0', '/p2p-circuit'], bootstrap: [bootstrapAddr(relay)] },
    })
    const outside = await startTestNode()
    nodes.push(behind, outside)
    const circuit = await waitFor('a relay reservation', () =>
      behind.multiaddrs().find((a) => a.includes(`/p2p/${relay.peerId}/p2p-circuit`)),
    )
    const connection = await outside.libp2p.dial(multiaddr(circuit))
    assert.equal(connection.remotePeer.toString(), behind.peerId)
    assert.match(connection.remoteAddr.toString(), /\/p2p-circuit\//)
  })
})
