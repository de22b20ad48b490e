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
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { formatFtns, parseFtns } from '@prsm/core'
import { createLogger, installProcessGuards, type PrsmNode } from '@prsm/node'
import { publishDatasets } from '../demo/datasets.ts'
import { detectModel } from '../demo/models.ts'
import { type NodeSpec, startDemoNetwork } from '../demo/network.ts'
import { publishPrograms } from '../demo/programs.ts'
import { answerText, overlapLines, type StepFigures } from '../demo/report.ts'
import { climateWorkflow } from '../demo/workflow.ts'

const DATASET_ROYALTY_BPS = 500 // 5% of each payment for a step that reads the dataset
// a guard against a hang, not the performance target (a run takes ~15 s here; see docs/demo.md)
const DEADLINE_MS = 150_000
const CHANNEL_DEPOSIT = '10'

const started = Date.now()
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)} s`
const at = (ms: number) => `${((ms - started) / 1000).toFixed(2).padStart(6)}s`
const say = (line = '') => console.log(line)
const ftns = (wei: string | bigint) => `${formatFtns(BigInt(wei))} FTNS`
const indent = (text: string) =>
  text
    .trim()
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n')

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
    // publishes the datasets (its wallet is their creator, owed royalties); pins for others
    { name: 'curator', offers: [{ capability: 'storage:pin', price: '0.5' }] },
    {
      name: 'alpha',
      offers: [
        { capability: 'compute:js', price: '0.0002' },
        { capability: 'storage:pin', price: '0.5' },
      ],
    },
    { name: 'nwtn', offers: [], api: true },
    { name: 'beta', offers: [{ capability: 'compute:js', price: '0.0001' }] },
    {
      name: 'gamma',
      offers: [
        { capability: 'compute:js', price: '0.00015' },
        ...(model?.offer === undefined ? [] : [model.offer]),
      ],
      ...(model === undefined ? {} : { config: model.config }),
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

    const curator = net.node('curator')
    const datasets = await publishDatasets(curator, { royaltyBps: DATASET_ROYALTY_BPS, signal })
    for (const d of datasets) {
      say(`dataset     ${d.ref}  manifest ${d.cid}`)
      say(`            ${d.spec.file}, ${d.bytes} bytes, licence ${d.spec.license}`)
      say(`            source: ${d.spec.source}`)
      say(
        `            royalty ${DATASET_ROYALTY_BPS / 100}% of each payment for a step that reads it, to the curator (${d.creator})`,
      )
    }
    const programs = await publishPrograms(nwtn, { signal })
    for (const p of programs) say(`program     ${p.name}  manifest ${p.cid}`)

    const providers = await waitForProviders(nwtn, 'compute:js', 3, signal)
    say(
      `\nnwtn found compute:js on ${providers.length} providers (signed offers via gossip/DHT) (${elapsed()})`,
    )

    const workflow = climateWorkflow(model?.capability)
    say(`\nQuestion: ${workflow.query}`)
    say(
      `Workflow: ${workflow.steps.length} steps (${workflow.steps.filter((s) => s.kind === 'compute').length} compute:js shards with k=2${model === undefined ? '' : ', infer on the model'}, a compile step), budget ${workflow.budget} FTNS\n`,
    )
    // One payment channel from nwtn to each provider, opened one after the other. (The orchestrator
    // opens missing channels itself, but concurrent opens from one wallet can race on the token's
    // permit nonce; see docs/demo.md.)
    const deposit = parseFtns(CHANNEL_DEPOSIT)
    for (const provider of new Set(providers.map((p) => p.provider))) {
      const opened = await nwtn.payments.openChannel({ to: provider, deposit, expirySeconds: 86_400, signal })
      say(
        `channel     nwtn -> ${net.nameOf(provider).padEnd(6)} ${opened.channel.slice(0, 18)}…  deposit ${CHANNEL_DEPOSIT} FTNS`,
      )
    }
    say(`            (${elapsed()})\n`)
    const run = await nwtn.orchestrator.runWorkflow(workflow, { signal })
    for await (const event of run) {
      if (event.type === 'step-started') {
        say(
          `  ${at(event.at)} ${event.step.padEnd(28)} started on ${event.providers.map(net.nameOf).join(' + ')}${event.attempt > 1 ? ` (attempt ${event.attempt})` : ''}`,
        )
      } else if (event.type === 'step-failed') {
        say(
          `  ${' '.repeat(8)} ${event.step.padEnd(28)} failed on ${net.nameOf(event.provider)}: ${event.code}${event.rerouting ? ', rerouting' : ''}`,
        )
      } else if (event.type === 'step-done') {
        say(
          `  ${at(event.at)} ${event.step.padEnd(28)} done: ${event.agreeing.length > 1 ? `${event.agreeing.map(net.nameOf).join(' and ')} agree` : `by ${net.nameOf(event.provider)}`}, paid ${ftns(event.paid)} (royalties ${ftns(event.royalties)}), ${event.ms} ms`,
        )
      } else if (event.type === 'warning') {
        say(`  warning ${event.code}: ${event.message}`)
      }
    }
    const result = await run.result

    const figures: StepFigures[] = []
    for (const step of result.steps) {
      const text = await nwtn.orchestrator.text(step.output, { signal })
      try {
        figures.push({ id: step.step, output: JSON.parse(text) as unknown })
      } catch {
        figures.push({ id: step.step, output: text })
      }
    }
    say(`\n${answerText(figures)}`)
    if (model !== undefined)
      say(`\n  The model's synthesis (compile step on ${model.capability}):\n${indent(result.answer)}`)
    else
      say(
        `  (compiled without a model: a structured report, ${Buffer.byteLength(result.answer)} bytes at ${result.answerCid})`,
      )

    // Context compression, as the trace records it: which inputs were cut to a step's token budget.
    const trace = await nwtn.orchestrator.trace(result.traceCid, { signal })
    const compressed = trace.steps.flatMap(({ record }) =>
      record.compression.map((c) => ({ step: record.step, ...c })),
    )
    if (compressed.length > 0) say('\nContext compression (recorded in the trace):')
    for (const c of compressed) {
      const source = workflow.steps.find((s) => s.id === c.step)?.inputs[c.input]
      const what =
        typeof source === 'object' && 'step' in source
          ? `the output of ${source.step}`
          : `input ${c.input + 1}`
      const limit = workflow.steps.find((s) => s.id === c.step)?.params?.maxInputTokens
      say(
        `  ${c.step} read ${what} cut to its ${limit} token budget: ${(c.ratio * 100).toFixed(1)}% of the tokens, preservation (${c.method}) ${c.score.toFixed(3)}`,
      )
    }

    say('\nRan in parallel (overlapping timestamps in the trace):')
    for (const line of overlapLines(result.steps, net.nameOf, started)) say(`  ${line}`)

    say('\nCost breakdown')
    for (const p of result.cost.perProvider) {
      say(
        `  provider ${net.nameOf(p.provider).padEnd(8)} paid ${ftns(p.paid).padStart(14)}   network fee from it ${ftns(p.fee)}`,
      )
    }
    for (const r of result.cost.royalties) {
      const who =
        r.creator.toLowerCase() === curator.identity.address.toLowerCase() ? 'curator (datasets)' : r.creator
      say(`  royalty  ${who.padEnd(24)} ${ftns(r.amount)}`)
    }
    say(`  network fee (treasury, at claim)  ${ftns(result.cost.networkFee)}`)
    say(`  total                             ${ftns(result.cost.total)} of a ${workflow.budget} FTNS budget`)

    // Settlement: each provider claims its vouchers on chain; the contract pays the royalty table
    // of each voucher to the creators, so the curator's balance grows by its royalties.
    say('\nSettlement on the devnet')
    const owed = result.cost.royalties
      .filter((r) => r.creator.toLowerCase() === curator.identity.address.toLowerCase())
      .reduce((n, r) => n + BigInt(r.amount), 0n)
    const before = (await curator.ledger.wallet.balance({ signal })).ftns
    for (const name of ['alpha', 'beta', 'gamma']) {
      const claims = (await net.node(name).ledger.reconciler.reconcileOnce({ force: true, signal })).filter(
        (r) => r.action === 'claimed',
      )
      for (const c of claims) {
        say(
          `  ${name.padEnd(8)} claimed channel ${c.channel.slice(0, 18)}… at ${ftns(c.cumulativeAmount)} (tx ${c.txHash?.slice(0, 18)}…)`,
        )
      }
    }
    const received = (await curator.ledger.wallet.balance({ signal })).ftns - before
    say(`  curator  received ${ftns(received)} in royalties on chain (the run owed it ${ftns(owed)})`)
    if (received !== owed)
      throw new Error(`the curator received ${received} wei of royalties, expected ${owed}`)

    say(`\nTrace ${result.traceCid} (workflow ${result.workflowCid})`)
    const verifier = net.node('curator')
    const verdict = await verifier.orchestrator.verifyTrace(result.traceCid, { signal })
    const reexecuted = verdict.steps.filter((s) => s.reexecuted === 'match').length
    if (!verdict.ok) {
      for (const p of verdict.problems) say(`  problem: ${p}`)
      throw new Error(`trace verify failed on the curator: ${verdict.problems.length} problems`)
    }
    say(
      `trace verify on curator (a node that neither produced the trace nor ran a step): verified — ${verdict.steps.length} steps, every signature, hash and link checked, ${reexecuted} deterministic steps re-executed with matching output hashes`,
    )
    say(`\nThe API of nwtn was served at ${nwtn.apiUrl} during the run.`)
    say(`Done in ${elapsed()}.`)
  } finally {
    await net.stop()
    // A node's datastore may still be settling a last write: retry, and never fail the run on cleanup.
    await rm(root, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 }).catch((err: Error) =>
      console.error(`could not remove ${root}: ${err.message}`),
    )
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(`main job failed: ${(err as Error).message}`)
    process.exit(1)
  },
)
