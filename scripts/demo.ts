/**
 * The main job (`npm start`): a local PRSM network on loopback doing real, paid, verified work.
 *
 * 1. A devnet: anvil with every contract deployed (as `prsm devnet up` does).
 * 2. Four nodes with fresh keys in a temporary directory, each funded from the devnet faucet:
 *    `nwtn` (the orchestrating client, serving the HTTP API), `alpha` (compute:js and storage:pin;
 *    the curator of the datasets), `beta` (compute:js), `gamma` (compute:js, plus a model when
 *    one is available: a local Ollama, OPENAI_API_KEY or ANTHROPIC_API_KEY).
 * 3. Two real datasets shipped in the npm package vega-datasets — Mauna Loa CO2 (Scripps CO2
 *    Program, CC BY 4.0) and the GISTEMP global temperature anomaly (NASA GISS, public domain) —
 *    published by alpha as signed dataset manifests with their sources and licences; the
 *    compute:js programs of demo/programs/ published as tool manifests.
 * 4. The workflow demo/climate.workflow.json: six compute:js shards run in parallel across the
 *    providers, each on two providers that must agree (k = 2), paid over payment channels, then a
 *    compile step.
 * 5. Prints the answer with its figures, the cost breakdown, the trace CID and the result of
 *    verifying the trace, and where the API was. Exits 0 on success, 1 on failure.
 */
import { readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { FTNS } from '@prsm/contracts'
import { formatFtns } from '@prsm/core'
import { createLogger, installProcessGuards, type PrsmNode } from '@prsm/node'
import { publishDatasets } from '../demo/datasets.ts'
import { runDirect } from '../demo/direct.ts'
import { detectModel } from '../demo/models.ts'
import { type NodeSpec, startDemoNetwork } from '../demo/network.ts'
import { publishPrograms } from '../demo/programs.ts'
import { answerText, type StepFigures } from '../demo/report.ts'

const WORKFLOW_FILE = join(import.meta.dirname, '..', 'demo', 'climate.workflow.json')
const DATASET_ROYALTY_BPS = 500 // 5% of each payment for a step that reads the dataset
const DEADLINE_MS = 55_000

const started = Date.now()
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)} s`
const say = (line = '') => console.log(line)

async function waitForProviders(client: PrsmNode, capability: string, count: number, signal: AbortSignal) {
  for (;;) {
    signal.throwIfAborted()
    const found = await client.findOffers(capability, { timeoutMs: 2_000 })
    const providers = [...new Set(found.map((f) => f.provider))].filter((p) => p !== client.peerId)
    if (providers.length >= count) return found.filter((f) => providers.includes(f.provider))
    await new Promise((r) => setTimeout(r, 100))
  }
}

async function main(): Promise<void> {
  installProcessGuards(createLogger({ level: 'warn', name: 'demo' }))
  const signal = AbortSignal.timeout(DEADLINE_MS)
  const root = await mkdtemp(join(tmpdir(), 'prsm-main-job-'))
  say('PRSM main job: a local network doing real, paid, verified work\n')
  const model = await detectModel()
  const specs: NodeSpec[] = [
    {
      name: 'alpha',
      offers: [
        { capability: 'compute:js', price: '0.0002' },
        { capability: 'storage:pin', price: '0.5' },
      ],
    },
    { name: 'nwtn', offers: [], api: process.env.PRSM_DEMO_NO_API === undefined },
    { name: 'beta', offers: [{ capability: 'compute:js', price: '0.0001' }] },
    {
      name: 'gamma',
      offers: [
        { capability: 'compute:js', price: '0.00015' },
        ...(model === undefined
          ? []
          : [{ capability: model.capability, price: '0.000002', unit: 'token' as const }]),
      ],
      ...(model === undefined ? {} : { config: { jobs: { backends: [model.backend] } } }),
    },
  ]
  const net = await startDemoNetwork(root, specs, { signal })
  try {
    const nwtn = net.node('nwtn')
    say(
      `devnet      anvil at ${net.devnet.deployment.rpcUrl}, contracts deployed, chain id ${net.devnet.deployment.chainId}`,
    )
    for (const spec of specs) {
      const node = net.node(spec.name)
      const offers = node.offers.localOffers().map((o) => o.offer.capability)
      say(
        `${spec.name.padEnd(11)} ${node.peerId.slice(0, 16)}…  wallet ${node.identity.address.slice(0, 10)}…  ${offers.length === 0 ? 'orchestrator (client), HTTP API' : offers.join(', ')}`,
      )
    }
    say(
      model === undefined
        ? 'models      none found (no Ollama on 127.0.0.1:11434, no OPENAI_API_KEY/ANTHROPIC_API_KEY): compile makes a structured report'
        : `models      ${model.label} served by gamma as ${model.capability}`,
    )
    say(`            (${elapsed()})\n`)

    const alpha = net.node('alpha')
    const datasets = await publishDatasets(alpha, { royaltyBps: DATASET_ROYALTY_BPS, signal })
    for (const d of datasets) {
      say(`dataset     ${d.ref}  manifest ${d.cid}`)
      say(`            ${d.spec.file}, ${d.bytes} bytes, licence ${d.spec.license}`)
      say(`            source: ${d.spec.source}`)
      say(`            royalty ${DATASET_ROYALTY_BPS / 100}% to the curator alpha (${d.creator})`)
    }
    const programs = await publishPrograms(nwtn, { signal })
    for (const p of programs) say(`program     ${p.name}  manifest ${p.cid}`)

    const providers = await waitForProviders(nwtn, 'compute:js', 3, signal)
    say(
      `\nnwtn found compute:js on ${providers.length} providers (signed offers via gossip/DHT) (${elapsed()})`,
    )
    const workflow = JSON.parse(readFileSync(WORKFLOW_FILE, 'utf8')) as Parameters<typeof runDirect>[1] & {
      query: string
    }
    say(`\nQuestion: ${workflow.query}\n`)

    // Paid compute: one channel from nwtn to each provider.
    const peers = providers.map((p) => p.provider)
    await Promise.all(
      peers.map((to) => nwtn.payments.openChannel({ to, deposit: 5n * FTNS, expirySeconds: 86_400 })),
    )
    const results = await runDirect(nwtn, workflow, { providers: peers, maxPrice: FTNS / 2n, signal })
    const figures: StepFigures[] = []
    for (const r of results) {
      say(
        `step ${r.id.padEnd(28)} k=${r.runs.length} agree  ${r.runs.map((x) => `${net.nameOf(x.provider)} ${x.startedAt - started}-${x.finishedAt - started} ms charged ${formatFtns(BigInt(x.receipt.charged))}`).join(' | ')}`,
      )
      figures.push({ id: r.id, output: r.output })
    }
    say(`\n${answerText(figures)}`)
    say(`\nThe API of nwtn was served at ${nwtn.apiUrl} during the run.`)
    say(`Done in ${elapsed()}.`)
  } finally {
    await net.stop()
    await rm(root, { recursive: true, force: true })
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(`main job failed: ${(err as Error).message}`)
    process.exit(1)
  },
)
