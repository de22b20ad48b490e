import assert from 'node:assert/strict'
import { rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import type { ConfigInput } from '@prsm/core'
import type { PrsmNode } from '@prsm/node'
import { prsm, startNode as startNodeIn } from './prsm-runner.ts'

const startNode = (config: ConfigInput, api: boolean) => startNodeIn(config, api, 'prsm-workflow-cli-')

describe('prsm workflow run / trace show / trace verify / query', () => {
  let provider: PrsmNode
  let node: PrsmNode
  let file: string

  before(async () => {
    provider = await startNode({ offers: [{ capability: 'compute:js', price: '0' }] }, false)
    node = await startNode({ bootstrap: provider.multiaddrs() }, true)
    const deadline = Date.now() + 20_000
    while (node.offers.knownOffers('compute:js').length === 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100))
    }
    const { cid } = await node.storage.add(
      (async function* () {
        yield new TextEncoder().encode(
          'function main(inputs) { return inputs[0].split(" ").reverse().join(" ") }',
        )
      })(),
    )
    file = join(node.dataDir, 'reverse.yaml')
    await writeFile(
      file,
      `version: 1
query: reverse the words
steps:
  - id: rev
    kind: compute
    capability: compute:js
    program: { cid: ${cid} }
    inputs: ["one two three"]
  - id: report
    kind: compile
    inputs: [{ step: rev }]
`,
    )
  })
  after(async () => {
    await Promise.allSettled([node?.stop(), provider?.stop()])
    await Promise.allSettled(
      [node, provider].map((n) => (n ? rm(n.dataDir, { recursive: true, force: true }) : undefined)),
    )
  })

  it('runs a workflow file, then shows and verifies its trace', async () => {
    const run = await prsm(['workflow', 'run', file, '--data-dir', node.dataDir])
    assert.equal(run.code, 0, run.stderr)
    assert.match(run.stdout, /three two one/)
    assert.match(run.stderr, /✓ rev by/)
    assert.match(run.stderr, /total 0 FTNS/)
    const cid = /trace (\S+)/.exec(run.stderr)?.[1] as string
    assert.ok(cid?.startsWith('bafy'), run.stderr)

    const show = await prsm(['trace', 'show', cid, '--data-dir', node.dataDir])
    assert.equal(show.code, 0, show.stderr)
    assert.match(show.stdout, /rev \[compute compute:js\]/)
    assert.match(show.stdout, /└ report \[compile\]/)

    const verify = await prsm(['trace', 'verify', cid, '--data-dir', node.dataDir])
    assert.equal(verify.code, 0, verify.stderr)
    assert.match(verify.stdout, /✓ rev \(re-executed: match\)/)
    assert.match(verify.stdout, /^verified: trace/m)

    const json = await prsm(['workflow', 'list', '--json', '--data-dir', node.dataDir])
    assert.equal((JSON.parse(json.stdout) as Array<{ status: string }>)[0]?.status, 'done')
  })

  it('reports a bad workflow and a query without a model with their codes (exit 1)', async () => {
    const bad = join(node.dataDir, 'cycle.json')
    await writeFile(
      bad,
      JSON.stringify({
        version: 1,
        steps: [
          { id: 'a', kind: 'compile', inputs: [{ step: 'b' }] },
          { id: 'b', kind: 'compile', inputs: [{ step: 'a' }] },
        ],
      }),
    )
    const cycle = await prsm(['workflow', 'run', bad, '--data-dir', node.dataDir])
    assert.equal(cycle.code, 1)
    assert.match(cycle.stderr, /error WORKFLOW_CYCLE/)
    const query = await prsm(['query', 'what is the CO2 trend?', '--data-dir', node.dataDir])
    assert.equal(query.code, 1)
    assert.match(query.stderr, /error PLANNER_NO_MODEL: .*openai-compatible/)
  })
})
