// The official `openai` client against a PRSM node: change the base URL, keep the code.
// A provider node serves `model:tiny` with an OpenAI-compatible backend (here a stand-in upstream
// on loopback); the client node's API answers /v1/chat/completions by running it as a job.
import { once } from 'node:events'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig } from '@prsm/core'
import { initIdentity, loadIdentity, PrsmNode, readRuntimeFile } from '@prsm/node'
import OpenAI from 'openai'

const upstream = createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'text/event-stream' })
  for (const content of ['Hello', ' from', ' PRSM']) {
    res.write(`data: ${JSON.stringify({ choices: [{ index: 0, delta: { content } }] })}\n\n`)
  }
  res.write(`data: ${JSON.stringify({ choices: [], usage: { prompt_tokens: 5, completion_tokens: 3 } })}\n\n`)
  res.end('data: [DONE]\n\n')
})
upstream.listen(0, '127.0.0.1')
await once(upstream, 'listening')
process.env.TINY_API_KEY = 'sk-example' // the config names the variable, never the key

const root = await mkdtemp(join(tmpdir(), 'prsm-example-'))
async function start(name: string, flags: Record<string, unknown>): Promise<PrsmNode> {
  const dataDir = join(root, name)
  await initIdentity(dataDir, { password: null }) // development only: keys without a password
  const { config } = loadConfig({ flags: { logLevel: 'warn', listen: ['/ip4/127.0.0.1/tcp/0'], ...flags } })
  const node = await PrsmNode.create({ config, identity: await loadIdentity(dataDir, null), dataDir })
  await node.start()
  return node
}
const provider = await start('provider', {
  offers: [{ capability: 'model:tiny', price: '0' }],
  jobs: {
    backends: [
      {
        type: 'openai-compatible',
        baseUrl: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/v1`,
        apiKeyEnv: 'TINY_API_KEY',
        models: [{ capability: 'model:tiny', model: 'tiny-1b' }],
      },
    ],
  },
})
const node = await start('client', { bootstrap: provider.multiaddrs() })
while ((await node.findOffers('model:tiny', { timeoutMs: 2_000 })).length === 0) {}

// The client side: any OpenAI client, pointed at the node's API with a PRSM key or token.
const { apiUrl, token } = await readRuntimeFile(node.dataDir)
const openai = new OpenAI({ baseURL: `${apiUrl}/v1`, apiKey: token })

const models = await openai.models.list()
console.log('models:', models.data.map((m) => m.id).join(', '))

let text = ''
const stream = await openai.chat.completions.create({
  model: 'model:tiny',
  messages: [{ role: 'user', content: 'Say hello' }],
  stream: true,
  stream_options: { include_usage: true },
})
for await (const chunk of stream) {
  text += chunk.choices[0]?.delta.content ?? ''
  const cost = (chunk as { prsm?: { cost: string; provider: string } }).prsm
  if (chunk.usage) console.log(`usage ${chunk.usage.prompt_tokens}/${chunk.usage.completion_tokens} tokens`)
  if (cost && chunk.usage) console.log(`cost ${cost.cost} FTNS, provider …${cost.provider.slice(-6)}`)
}
console.log(text)

await node.stop()
await provider.stop()
upstream.close()
await rm(root, { recursive: true, force: true })
if (text !== 'Hello from PRSM') throw new Error(`unexpected output: ${text}`)
