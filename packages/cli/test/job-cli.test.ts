import assert from 'node:assert/strict'
import { rm } from 'node:fs/promises'
import { after, before, describe, it } from 'node:test'
import { type ConfigInput, loadConfig } from '@prsm/core'
import type { Backend, PrsmNode } from '@prsm/node'
import { prsm, startNode as startNodeIn } from './prsm-runner.ts'

const startNode = (config: ConfigInput, api: boolean) => startNodeIn(config, api, 'prsm-job-cli-')

/** Upper-cases its text inputs, one chunk per word. */
const shout: Backend = {
  name: 'shout',
  async *run(_step, inputs) {
    const words = inputs.flatMap((i) => ('text' in i ? i.text.toUpperCase().split(/(?<= )/) : []))
    for (const text of words) yield { type: 'output', text }
    yield { type: 'usage', usage: { tokensIn: words.length, tokensOut: words.length } }
  },
}

/** Answers the upper-cased input, or (a liar) something else. */
const voter = (lie: boolean): Backend => ({
  name: lie ? 'liar' : 'voter',
  async *run(_step, inputs) {
    const text = inputs.map((i) => ('text' in i ? i.text.toUpperCase() : '')).join('')
    yield { type: 'output', text: lie ? `${text}?` : text }
  },
})

describe('prsm job run (CLI → node API → /prsm/job/1.0.0 → provider)', () => {
  let provider: PrsmNode
  let client: PrsmNode
  const voters: PrsmNode[] = []

  before(async () => {
    provider = await startNode(
      {
        offers: [
          { capability: 'model:shout', price: '0' },
          { capability: 'compute:js', price: '0' },
        ],
      },
      false,
    )
    provider.jobs.registerBackend('model:shout', shout)
    const addr = provider.multiaddrs().find((a) => a.includes('/tcp/')) as string
    client = await startNode({ bootstrap: [addr] }, true)
    const clientAddr = client.multiaddrs().find((a) => a.includes('/tcp/')) as string
    for (const lie of [false, false, true]) {
      const v = await startNode(
        { bootstrap: [clientAddr], offers: [{ capability: 'model:vote', price: '0' }] },
        false,
      )
      v.jobs.registerBackend('model:vote', voter(lie))
      voters.push(v)
    }
  })
  after(async () => {
    for (const n of [client, provider, ...voters]) {
      await n?.stop()
      if (n) await rm(n.dataDir, { recursive: true, force: true })
    }
  })

  it('streams the output to stdout and the receipt summary to stderr', async () => {
    const r = await prsm([
      'job',
      'run',
      '--data-dir',
      client.dataDir,
      '--capability',
      'model:shout',
      '--input',
      'hello there world',
      '--provider',
      provider.peerId,
    ])
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.stdout, 'HELLO THERE WORLD\n')
    assert.match(r.stderr, /^ok \S+ from 12D3KooW\S+: charged 0 wei, tokens 3\/3/)
  })

  it('finds a provider by its offer and prints JSON with --json', async () => {
    const r = await prsm([
      'job',
      'run',
      '--data-dir',
      client.dataDir,
      '--capability',
      'model:shout',
      '--input',
      'found you',
      '--request-id',
      'cli-json-0001',
      '--json',
    ])
    assert.equal(r.code, 0, r.stderr)
    const out = JSON.parse(r.stdout) as {
      provider: string
      output: string
      receipt: { requestId: string; status: string }
    }
    assert.equal(out.provider, provider.peerId)
    assert.equal(out.output, 'FOUND YOU')
    assert.equal(out.receipt.requestId, 'cli-json-0001')
    assert.equal(out.receipt.status, 'ok')
  })

  it('runs a compute:js program stored as content', async () => {
    const source = 'function main(inputs) { return inputs[0].split(" ").reverse().join(" ") }'
    const { cid } = await client.storage.add(
      (async function* () {
        yield Buffer.from(source)
      })(),
    )
    const r = await prsm([
      'job',
      'run',
      '--data-dir',
      client.dataDir,
      '--capability',
      'compute:js',
      '--param',
      `program=${cid}`,
      '--input',
      'a b c',
      '--provider',
      provider.peerId,
    ])
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.stdout, 'c b a\n')
  })

  it('--redundancy 3 accepts the majority output and names the dissenter and its evidence', async () => {
    const [honest1, honest2, liar] = voters.map((v) => v.peerId)
    const args = ['job', 'run', '--data-dir', client.dataDir, '--capability', 'model:vote', '--input', 'aye']
    const r = await prsm([
      ...args,
      ...voters.flatMap((v) => ['--provider', v.peerId]),
      '--redundancy',
      '3',
      '--request-id',
      'cli-vote-0001',
    ])
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.stdout, 'AYE\n')
    const [summary, dissent] = r.stderr.trim().split('\n')
    assert.match(
      summary ?? '',
      new RegExp(`^ok cli-vote-0001-v0 verified by 2/3 \\(${honest1}, ${honest2}\\)`),
    )
    assert.match(dissent ?? '', new RegExp(`^dissenter ${liar}: sha256 [0-9a-f]{64}, evidence [0-9a-f]{64}$`))
    assert.equal(client.reputation.get(liar as string).disagreements, 1)

    const json = await prsm([
      ...args,
      ...voters.flatMap((v) => ['--provider', v.peerId]),
      '--redundancy',
      '3',
      '--json',
    ])
    assert.equal(json.code, 0, json.stderr)
    const out = JSON.parse(json.stdout) as {
      output: string
      dissenters: Array<{ provider: string }>
      evidence: string[]
    }
    assert.equal(out.output, 'AYE')
    assert.deepEqual(
      out.dissenters.map((d) => d.provider),
      [liar],
    )
    assert.equal(out.evidence.length, 1)

    const rep = await prsm(['job', 'reputation', liar as string, '--data-dir', client.dataDir, '--json'])
    assert.equal(rep.code, 0, rep.stderr)
    assert.equal((JSON.parse(rep.stdout) as { disagreements: number }).disagreements, 2)
    const listed = await prsm(['job', 'reputation', '--data-dir', client.dataDir])
    assert.equal(listed.code, 0, listed.stderr)
    assert.equal(listed.stdout.trim().split('\n').at(-1)?.split(/\s+/)[0], liar, 'the liar ranks last')
    const ev = await prsm([
      'job',
      'evidence',
      '--provider',
      liar as string,
      '--data-dir',
      client.dataDir,
      '--json',
    ])
    assert.equal(ev.code, 0, ev.stderr)
    const records = (JSON.parse(ev.stdout) as { evidence: Array<{ id: string; provider: string }> }).evidence
    assert.equal(records.length, 2)
    assert.ok(records.every((e) => e.provider === liar))
    assert.ok(records.some((e) => e.id === out.evidence[0]))

    const split = await prsm([
      ...args,
      '--provider',
      honest1 as string,
      '--provider',
      liar as string,
      '--redundancy',
      '2',
    ])
    assert.equal(split.code, 1)
    assert.match(split.stderr, /^error JOB_NO_MAJORITY: /)
  })

  it('node start --detect-local-models sets jobs.localModels.detect', async () => {
    const { flagsToConfig } = await import('../src/commands/node-start.ts')
    const { config } = loadConfig({ flags: flagsToConfig({ detectLocalModels: true }) })
    assert.equal(config.jobs.localModels.detect, true)
    assert.equal(config.jobs.localModels.url, 'http://127.0.0.1:11434')
    assert.equal(loadConfig({ flags: flagsToConfig({}) }).config.jobs.localModels.detect, false)
    const help = await prsm(['node', 'start', '--help'])
    assert.match(help.stdout, /--detect-local-models/)
  })

  it('exits 1 with the provider refusal code', async () => {
    const r = await prsm([
      'job',
      'run',
      '--data-dir',
      client.dataDir,
      '--capability',
      'model:nothing-here',
      '--provider',
      provider.peerId,
    ])
    assert.equal(r.code, 1)
    assert.match(r.stderr, /^error JOB_NO_OFFER: /)
  })
})
