// A workflow run by NWTN over three nodes: two providers serve compute:js, the third node
// orchestrates. Two shards run at once on different providers, a merge step waits for both, a
// compile step writes the report; the signed trace is then verified by one of the providers.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig } from '@prsm/core'
import { initIdentity, loadIdentity, PrsmNode } from '@prsm/node'

const root = await mkdtemp(join(tmpdir(), 'prsm-example-'))
async function start(name: string, flags: Record<string, unknown>): Promise<PrsmNode> {
  const dataDir = join(root, name)
  await initIdentity(dataDir, { password: null }) // development only: keys without a password
  const { config } = loadConfig({
    flags: {
      logLevel: 'error',
      listen: ['/ip4/127.0.0.1/tcp/0'],
      connections: { allow: ['/ip4/127.0.0.0/ipcidr/8'] },
      gossip: { ipColocationWhitelist: ['127.0.0.1'] },
      ...flags,
    },
  })
  const node = await PrsmNode.create({
    config,
    identity: await loadIdentity(dataDir, null),
    dataDir,
    api: false,
  })
  await node.start()
  return node
}

const offers = [{ capability: 'compute:js', price: '0' }] // free offers: no chain needed
const a = await start('a', { offers })
const b = await start('b', { offers, bootstrap: a.multiaddrs() })
const nwtn = await start('nwtn', { bootstrap: [...a.multiaddrs(), ...b.multiaddrs()] })
while (new Set(nwtn.offers.knownOffers('compute:js').map((f) => f.provider)).size < 2) {
  await new Promise((resolve) => setTimeout(resolve, 100)) // offers arrive by gossip
}

// Programs are content: `main(inputs, params)` runs in QuickJS on the provider.
const add = async (text: string) =>
  (
    await nwtn.storage.add(
      (async function* () {
        yield new TextEncoder().encode(text)
      })(),
    )
  ).cid
const stats = await add(`function main(inputs) {
  const xs = inputs[0].split(',').map(Number)
  return { n: xs.length, sum: xs.reduce((s, x) => s + x, 0) }
}`)
const merge = await add(`function main(inputs) {
  const parts = inputs.map((t) => JSON.parse(t))
  const n = parts.reduce((s, p) => s + p.n, 0)
  return { n, mean: parts.reduce((s, p) => s + p.sum, 0) / n }
}`)

const run = await nwtn.orchestrator.runWorkflow({
  version: 1,
  query: 'What is the mean of both series?',
  steps: [
    { id: 'shard1', kind: 'compute', capability: 'compute:js', program: { cid: stats }, inputs: ['3,5,7'] },
    { id: 'shard2', kind: 'compute', capability: 'compute:js', program: { cid: stats }, inputs: ['10,20'] },
    {
      id: 'mean',
      kind: 'compute',
      capability: 'compute:js',
      program: { cid: merge },
      inputs: [{ step: 'shard1' }, { step: 'shard2' }],
    },
    { id: 'report', kind: 'compile', inputs: [{ step: 'mean' }] },
  ],
})
for await (const event of run) {
  if (event.type === 'step-done')
    console.log(`${event.step} done by …${event.provider.slice(-6)} in ${event.ms} ms`)
}
const result = await run.result
console.log(result.answer)
console.log(`trace ${result.traceCid}`)

// Any node can check the trace: signatures, hashes, links, and compute steps re-run locally.
const verdict = await a.orchestrator.verifyTrace(result.traceCid)
console.log(`verified: ${verdict.ok} (${verdict.steps.map((s) => `${s.step} ${s.reexecuted}`).join(', ')})`)

await Promise.all([nwtn.stop(), b.stop(), a.stop()])
await rm(root, { recursive: true, force: true })
if (!verdict.ok || !result.answer.includes('"mean": 9')) throw new Error('unexpected result')
