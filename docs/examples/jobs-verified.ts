// One step on three providers, one of which lies: the majority output is accepted, the liar gets a
// signed evidence record and a disagreement in this node's reputation store.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig } from '@prsm/core'
import { type Backend, initIdentity, loadIdentity, PrsmNode } from '@prsm/node'

const root = await mkdtemp(join(tmpdir(), 'prsm-example-'))
async function start(name: string, flags: Record<string, unknown>): Promise<PrsmNode> {
  const dataDir = join(root, name)
  await initIdentity(dataDir, { password: null }) // development only: keys without a password
  const { config } = loadConfig({ flags: { logLevel: 'warn', listen: ['/ip4/127.0.0.1/tcp/0'], ...flags } })
  const node = await PrsmNode.create({ config, identity: await loadIdentity(dataDir, null), dataDir })
  await node.start()
  return node
}

/** Counts the words of its input — or, for the liar, reports one more. */
const counter = (lie: boolean): Backend => ({
  name: lie ? 'liar' : 'counter',
  async *run(_step, inputs) {
    const text = inputs.map((i) => ('text' in i ? i.text : '')).join(' ')
    const words = text.split(/\s+/).filter(Boolean).length
    yield { type: 'output', text: String(lie ? words + 1 : words) }
  },
})

const client = await start('client', {})
const providers: PrsmNode[] = []
for (const [i, lie] of [false, false, true].entries()) {
  const p = await start(`provider-${i}`, {
    bootstrap: client.multiaddrs(),
    offers: [{ capability: 'tool:word-count', price: '0', unit: 'call' }],
  })
  p.jobs.registerBackend('tool:word-count', counter(lie))
  providers.push(p)
}

const result = await client.jobs.runVerified(
  { step: { capability: 'tool:word-count' }, inputs: [{ text: 'the quick brown fox' }], maxPrice: 0n },
  { providers: providers.map((p) => p.peerId), k: 3 },
)
const answer = Buffer.from(result.output).toString()
console.log(`accepted "${answer}" from ${result.agreeing.length}/3 providers`)
for (const d of result.dissenters) {
  const rep = client.reputation.get(d.provider)
  console.log(
    `dissenter ${d.provider} said "${d.receipt.output.text}": ${rep.disagreements} disagreement(s), score ${rep.score}`,
  )
}
// The evidence record verifies on its own: the client's signature and both providers' receipts.
const record = client.jobs.evidence.get(result.evidence[0] as string)
const checked = await client.jobs.verifyEvidence(record?.envelope as Uint8Array)
console.log(
  `evidence ${record?.id.slice(0, 16)}…: majority ${checked.majority.outputHash.slice(0, 12)}…, dissenter ${checked.dissenter.outputHash.slice(0, 12)}…`,
)

for (const n of [client, ...providers]) await n.stop()
await rm(root, { recursive: true, force: true })
if (answer !== '4' || result.dissenters[0]?.provider !== providers[2]?.peerId)
  throw new Error('unexpected result')
