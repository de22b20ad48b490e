/**
 * One worker thread of `bench/net.ts`: hosts a share of the benchmark's nodes and answers the
 * main thread's commands. Times are absolute (performance.timeOrigin + now) so that the threads
 * of one process compare them directly.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parentPort, workerData } from 'node:worker_threads'
import { TopicValidatorResult } from '@libp2p/gossipsub'
import { capabilityCid, loadConfig, MessageRegistry, sealEnvelope } from '@prsm/core'
import { createLogger, initIdentity, installProcessGuards, loadIdentity, PrsmNode } from '@prsm/node'
import { MemoryDatastore } from 'datastore-core'
import { z } from 'zod'

export const TOPIC = '/prsm/bench/1'
const BenchSchema = z.object({ id: z.number(), pad: z.string() }).strict()
const Bench = new MessageRegistry().register('bench', 1, BenchSchema)
const now = () => performance.timeOrigin + performance.now()

export type Command =
  | { op: 'start'; index: number; bootstrap: string[] }
  | { op: 'subscribe' }
  | { op: 'ready'; minPeers: number; minSubscribers: number }
  | { op: 'publish'; index: number; id: number }
  | { op: 'provide'; index: number; key: string }
  | { op: 'lookup'; index: number; key: string; provider: string }
  | { op: 'stop' }

if (parentPort === null) throw new Error('bench/net-worker.ts runs as a worker thread')
const port = parentPort
const { maxConnections } = workerData as { maxConnections: number }
const logger = createLogger({ level: 'silent' })
installProcessGuards(logger)
const root = await mkdtemp(join(tmpdir(), 'prsm-bench-net-'))
const nodes = new Map<number, PrsmNode>()
const pad = 'x'.repeat(1024)

async function handle(cmd: Command): Promise<unknown> {
  switch (cmd.op) {
    case 'start': {
      const dataDir = join(root, `n${cmd.index}`)
      await initIdentity(dataDir, { password: null })
      const { config } = loadConfig({
        flags: {
          listen: ['/ip4/127.0.0.1/tcp/0'],
          bootstrap: cmd.bootstrap,
          logLevel: 'silent',
          connections: { allow: ['/ip4/127.0.0.0/ipcidr/8'], maxConnections },
          gossip: { ipColocationWhitelist: ['127.0.0.1'] },
        },
      })
      const node = await PrsmNode.create({
        config,
        identity: await loadIdentity(dataDir, null),
        dataDir,
        logger,
        datastore: new MemoryDatastore(),
        api: false,
      })
      node.registry.register('bench', 1, BenchSchema)
      await node.start()
      nodes.set(cmd.index, node)
      return { addr: node.multiaddrs()[0], peerId: node.peerId }
    }
    case 'subscribe':
      for (const node of nodes.values()) {
        const pubsub = node.libp2p.services.pubsub
        pubsub.topicValidators.set(TOPIC, async (from, msg) => {
          try {
            const { envelope } = await node.gate.receive<{ id: number }>(msg.data, from, Bench)
            port.postMessage({ arrival: envelope.payload.id, at: now() })
            return TopicValidatorResult.Accept
          } catch {
            return TopicValidatorResult.Reject
          }
        })
        pubsub.subscribe(TOPIC)
      }
      return null
    case 'ready':
      return [...nodes.values()].every(
        (node) =>
          node.libp2p.getPeers().length >= cmd.minPeers &&
          node.libp2p.services.pubsub.getSubscribers(TOPIC).length >= cmd.minSubscribers,
      )
    case 'publish': {
      const node = nodes.get(cmd.index) as PrsmNode
      const bytes = await sealEnvelope(node.identity.nodeKey, Bench, { id: cmd.id, pad })
      const t0 = now()
      await node.libp2p.services.pubsub.publish(TOPIC, bytes)
      return t0
    }
    case 'provide': {
      const cid = await capabilityCid(cmd.key)
      await (nodes.get(cmd.index) as PrsmNode).libp2p.contentRouting.provide(cid)
      return null
    }
    case 'lookup': {
      const node = nodes.get(cmd.index) as PrsmNode
      const cid = await capabilityCid(cmd.key)
      const t0 = now()
      // a caller needs one provider: stop the lookup at the first one (as findOffers' fetches start)
      for await (const peer of node.libp2p.contentRouting.findProviders(cid, {
        signal: AbortSignal.timeout(10_000),
      })) {
        if (peer.id.toString() === cmd.provider) return now() - t0
      }
      return null
    }
    case 'stop':
      await Promise.allSettled([...nodes.values()].map((n) => n.stop()))
      await rm(root, { recursive: true, force: true })
      return null
  }
}

port.on('message', (msg: { seq: number; cmd: Command }) => {
  handle(msg.cmd).then(
    (result) => port.postMessage({ seq: msg.seq, result }),
    (err: unknown) => port.postMessage({ seq: msg.seq, error: String((err as Error)?.message ?? err) }),
  )
})
port.postMessage({ ready: true })
