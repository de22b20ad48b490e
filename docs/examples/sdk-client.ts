// @prsm/sdk against a running node: typed calls, a key with a role, typed errors, idempotent POSTs.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig } from '@prsm/core'
import { initIdentity, loadIdentity, PrsmNode, readRuntimeFile } from '@prsm/node'
import { isPrsmApiError, PrsmClient } from '@prsm/sdk'

const dataDir = await mkdtemp(join(tmpdir(), 'prsm-example-'))
await initIdentity(dataDir, { password: null }) // development only: keys without a password
const { config } = loadConfig({ flags: { logLevel: 'warn', listen: ['/ip4/127.0.0.1/tcp/0'] } })
const node = await PrsmNode.create({ config, identity: await loadIdentity(dataDir, null), dataDir })
await node.start()

// The node's own token (admin) creates a key for an application with the `user` role.
const { apiUrl, token } = await readRuntimeFile(dataDir)
const admin = new PrsmClient({ baseUrl: apiUrl, token })
const created = await admin.post('/api/v1/keys', {
  body: { name: 'my-app', role: 'user', rateLimitPerMinute: 600 },
  idempotencyKey: 'create-my-app-key', // sent again, the node answers the same key instead of a second one
})
const again = await admin.post('/api/v1/keys', {
  body: { name: 'my-app', role: 'user', rateLimitPerMinute: 600 },
  idempotencyKey: 'create-my-app-key',
})
console.log(
  `key ${created.id} (${created.role}); the retry returned the same key: ${again.id === created.id}`,
)

const app = new PrsmClient({ baseUrl: apiUrl, token: created.key })
const status = await app.get('/api/v1/node/status')
console.log(`node ${status.peerId} answered the app`)
try {
  await app.get('/api/v1/keys') // only admins manage keys
} catch (err) {
  if (!isPrsmApiError(err, 'FORBIDDEN')) throw err
  console.log(`${err.code} (${err.status}): ${err.message}`)
}

await node.stop()
await rm(dataDir, { recursive: true, force: true })
