import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { type ConfigInput, loadConfig } from '@prsm/core'
import { createLogger, initIdentity, loadIdentity, PrsmNode } from '@prsm/node'

const BIN = fileURLToPath(new URL('../src/bin.ts', import.meta.url))
const execFileP = promisify(execFile)

async function prsm(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('PRSM_')))
  try {
    const { stdout, stderr } = await execFileP(process.execPath, [BIN, ...args], {
      env: clean,
      timeout: 90_000,
    })
    return { code: 0, stdout, stderr }
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string }
    return { code: e.code, stdout: e.stdout, stderr: e.stderr }
  }
}

async function startNode(config: ConfigInput, api: boolean): Promise<PrsmNode> {
  const dataDir = await mkdtemp(join(tmpdir(), 'prsm-workflow-cli-'))
  await initIdentity(dataDir, { password: null })
  const { config: loaded } = loadConfig({
    flags: {
      listen: ['/ip4/127.0.0.1/tcp/0'],
      logLevel: 'silent',
      connections: { allow: ['/ip4/127.0.0.0/ipcidr/8'] },
      gossip: { ipColocationWhitelist: ['127.0.0.1'] },
      api: { port: 0 },
      ...(config as object),
    },
  })
  const node = await PrsmNode.create({
    config: loaded,
    identity: await loadIdentity(dataDir, null),
    dataDir,
    logger: createLogger({ level: 'silent' }),
    api,
  })
  await node.start()
  return node
}

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
