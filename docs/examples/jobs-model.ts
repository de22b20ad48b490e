// A streamed model job between two nodes: the provider serves `model:tiny` with an
// OpenAI-compatible backend (here a stand-in upstream on loopback), the client streams the answer.
import { once } from 'node:events'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig } from '@prsm/core'
import { initIdentity, loadIdentity, PrsmNode } from '@prsm/node'

// The upstream: OpenAI chat completions, streamed as server-sent events.
const upstream = createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'text/event-stream' })
  for (const content of ['Hello', ' from', ' the', ' provider']) {
    res.write(`data: ${JSON.stringify({ choices: [{ index: 0, delta: { content } }] })}\n\n`)
  }
  res.write(`data: ${JSON.stringify({ choices: [], usage: { prompt_tokens: 5, completion_tokens: 4 } })}\n\n`)
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
        models: [{ capability: 'model:tiny', model: 'tiny-1b', outputCostPerMTok: '0.5' }],
      },
    ],
  },
})
const client = await start('client', { bootstrap: provider.multiaddrs() })

let text = ''
for await (const event of client.jobs.run(provider.peerId, {
  step: { capability: 'model:tiny', params: { max_tokens: 32 } },
  inputs: [{ text: 'Say hello' }],
  maxPrice: 0n, // a free offer: no voucher (a priced offer needs a chain and a channel)
})) {
  if (event.type === 'chunk') text += event.text ?? ''
  if (event.type === 'receipt') {
    const { status, usage, charged, outputHash } = event.receipt
    console.log(
      `${status}: "${text}" tokens ${usage.tokensIn}/${usage.tokensOut} charged ${charged} sha256 ${outputHash}`,
    )
  }
}

await client.stop()
await provider.stop()
upstream.close()
await rm(root, { recursive: true, force: true })
if (text !== 'Hello from the provider') throw new Error(`unexpected output: ${text}`)
