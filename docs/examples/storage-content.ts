// Two PRSM nodes on loopback: one adds a file and publishes a signed manifest, the other
// fetches the file by CID and verifies the manifest itself.
import { createHash, randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig } from '@prsm/core'
import { initIdentity, loadIdentity, manifestSignatureValid, PrsmNode } from '@prsm/node'

const root = await mkdtemp(join(tmpdir(), 'prsm-example-'))

async function start(name: string, flags: Record<string, unknown>): Promise<PrsmNode> {
  const dataDir = join(root, name)
  await initIdentity(dataDir, { password: null }) // development only: keys without a password
  const { config } = loadConfig({ flags: { logLevel: 'warn', ...flags } })
  const node = await PrsmNode.create({ config, identity: await loadIdentity(dataDir, null), dataDir })
  await node.start()
  return node
}

const creator = await start('creator', {})
const user = await start('user', { bootstrap: creator.multiaddrs() })

const weights = randomBytes(3 * 1024 * 1024)
const { cid } = await creator.storage.add(
  (async function* () {
    yield weights
  })(),
)
const published = await creator.manifests.publish({
  kind: 'model',
  name: 'example/tiny',
  version: '1.0.0',
  files: [{ path: 'weights.bin', cid }],
  royaltyBps: 250,
  license: 'MIT',
})

const hash = createHash('sha256')
for await (const chunk of user.storage.cat(cid)) hash.update(chunk)
const same = hash.digest('hex') === createHash('sha256').update(weights).digest('hex')
const { manifest } = await user.manifests.resolve('example/tiny@1.0.0')
console.log(`file ${cid}: fetched ${same ? 'byte-identical' : 'DIFFERENT'}`)
console.log(`manifest ${published.cid}: ${manifest.name}@${manifest.version} by ${manifest.creator}`)
console.log(`signature valid: ${await manifestSignatureValid(manifest)}`)

await user.stop()
await creator.stop()
await rm(root, { recursive: true, force: true })
if (!same) throw new Error('fetched bytes differ')
