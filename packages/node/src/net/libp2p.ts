import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { autoNAT } from '@libp2p/autonat'
import { bootstrap } from '@libp2p/bootstrap'
import { circuitRelayServer, circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { dcutr } from '@libp2p/dcutr'
import { type GossipSub, gossipsub } from '@libp2p/gossipsub'
import { identify, identifyPush } from '@libp2p/identify'
import type { ConnectionGater, PrivateKey } from '@libp2p/interface'
import {
  type KadDHT,
  kadDHT,
  passthroughMapper,
  removePrivateAddressesMapper,
  removePublicAddressesMapper,
} from '@libp2p/kad-dht'
import { mdns } from '@libp2p/mdns'
import { type Ping, ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { webSockets } from '@libp2p/websockets'
import type { Config } from '@prsm/core'
import type { Datastore } from 'interface-datastore'
import { createLibp2p, type Libp2p, type Libp2pOptions } from 'libp2p'
import { noiseCrypto } from './noise-crypto.ts'

/** The PRSM DHT runs under its own protocol, apart from the public IPFS DHT. */
export const DHT_PROTOCOL = '/prsm/kad/1.0.0'

export type PrsmServices = {
  identify: unknown
  identifyPush: unknown
  ping: Ping
  dht: KadDHT
  pubsub: GossipSub
  autonat: unknown
  dcutr: unknown
  relay?: unknown
}

export type PrsmLibp2p = Libp2p<PrsmServices>

export interface Libp2pComponents {
  privateKey: PrivateKey
  datastore: Datastore
  connectionGater: ConnectionGater
}

const ADDRESS_MAPPERS = {
  all: passthroughMapper,
  public: removePrivateAddressesMapper,
  private: removePublicAddressesMapper,
}

/**
 * Builds (but does not start) the node's libp2p host from the config: TCP and WebSockets,
 * circuit-relay-v2 (client always, server with `relay`), Noise, Yamux, Kad-DHT in server mode on
 * {@link DHT_PROTOCOL}, gossipsub, identify, ping, AutoNAT, DCUtR, mDNS and bootstrap discovery.
 * The peer store and DHT records live in the given datastore.
 */
export async function buildLibp2p(config: Config, components: Libp2pComponents): Promise<PrsmLibp2p> {
  const peerDiscovery: NonNullable<Libp2pOptions['peerDiscovery']> = []
  if (config.bootstrap.length > 0) peerDiscovery.push(bootstrap({ list: [...config.bootstrap], timeout: 0 }))
  if (config.mdns) peerDiscovery.push(mdns({ interval: 5_000 }))

  // Service factories declare narrower component needs than libp2p's generic map type expresses.
  const services: Record<string, (components: never) => unknown> = {
    identify: identify(),
    identifyPush: identifyPush(),
    ping: ping(),
    dht: kadDHT({
      protocol: DHT_PROTOCOL,
      clientMode: false,
      peerInfoMapper: ADDRESS_MAPPERS[config.dht.addresses],
      initialQuerySelfInterval: 200,
    }),
    pubsub: gossipsub({
      allowPublishToZeroTopicPeers: true,
      emitSelf: false,
      // Our own envelope check runs in the topic validator; keep gossip's own cap above ours so
      // oversize messages reach it and are penalised with their code.
      maxInboundDataLength: config.messages.maxBytes * 4,
      scoreParams: {
        IPColocationFactorThreshold: config.gossip.ipColocationThreshold,
        IPColocationFactorWhitelist: new Set(config.gossip.ipColocationWhitelist),
      },
    }),
    autonat: autoNAT(),
    dcutr: dcutr(),
  }
  if (config.relay) services.relay = circuitRelayServer()

  return (await createLibp2p({
    start: false,
    privateKey: components.privateKey,
    datastore: components.datastore,
    connectionGater: components.connectionGater,
    addresses: { listen: [...config.listen], announce: [...config.announce] },
    transports: [tcp(), webSockets(), circuitRelayTransport()],
    connectionEncrypters: [noise({ crypto: noiseCrypto })],
    streamMuxers: [yamux()],
    connectionManager: {
      maxConnections: config.connections.maxConnections,
      maxParallelDials: config.connections.maxParallelDials,
      dialTimeout: config.connections.dialTimeoutMs,
      inboundConnectionThreshold: config.connections.inboundPerHostPerSecond,
      allow: [...config.connections.allow],
    },
    connectionMonitor: { pingInterval: config.connections.pingIntervalMs },
    peerDiscovery,
    services: services as NonNullable<Libp2pOptions['services']>,
    nodeInfo: { name: 'prsm', version: '0.1.0' },
  })) as unknown as PrsmLibp2p
}
