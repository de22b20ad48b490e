// Two PRSM nodes on loopback: one offers a model, the other finds the signed offer.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { formatFtns, loadConfig } from '@prsm/core'
import { initIdentity, loadIdentity, PrsmNode } from '@prsm/node'

const root = await mkdtemp(join(tmpdir(), 'prsm-example-'))

async function start(name: string, flags: Record<string, unknown>): Promise<PrsmNode> {
  const dataDir = join(root, name)
  await initIdentity(dataDir, { password: null }) // development only: keys without a password
  const { config } = loadConfig({ flags: { logLevel: 'warn', ...flags } })
  const node = await PrsmNode.create({ config, identity: await loadIdentity(dataDir, null), dataDir })
  await node.start()
  return node
}

const provider = await start('provider', { offers: [{ capability: 'model:llama-3-8b', price: '0.000002' }] })
const client = await start('client', { bootstrap: provider.multiaddrs() })

const offers = await client.findOffers('model:llama-3-8b')
for (const { provider: peer, offer } of offers) {
  console.log(`${offer.capability} at ${formatFtns(BigInt(offer.price))} FTNS per ${offer.unit} from ${peer}`)
}

await client.stop()
await provider.stop()
await rm(root, { recursive: true, force: true })
if (offers.length !== 1) throw new Error('expected exactly one offer')
