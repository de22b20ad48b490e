import assert from 'node:assert/strict'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { baselineOf, loadScenario, runSimulation, SCENARIO_NAMES, writeRun } from '../src/index.ts'

const dirs: string[] = []
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true })
})

async function runToDir(name: string, seed: number): Promise<Map<string, Buffer>> {
  const scenario = await loadScenario(name)
  const result = runSimulation(scenario, { agents: 40, days: 30, seed })
  const dir = await mkdtemp(join(tmpdir(), 'prsm-sim-'))
  dirs.push(dir)
  await writeRun(dir, result, scenario)
  const files = new Map<string, Buffer>()
  for (const f of (await readdir(dir)).sort()) files.set(f, await readFile(join(dir, f)))
  return files
}

describe('runSimulation', () => {
  it('gives byte-identical output for the same seed', async () => {
    const a = await runToDir('economic_shock', 11)
    const b = await runToDir('economic_shock', 11)
    assert.deepEqual([...a.keys()], ['gini.svg', 'price.svg', 'quality.svg', 'series.csv', 'summary.json'])
    for (const [name, bytes] of a)
      assert.ok(bytes.equals(b.get(name) as Buffer), `${name} differs between runs`)
  })

  it('gives different output for a different seed', async () => {
    const a = await runToDir('economic_shock', 11)
    const b = await runToDir('economic_shock', 12)
    assert.ok(!(a.get('series.csv') as Buffer).equals(b.get('series.csv') as Buffer))
    assert.ok(!(a.get('summary.json') as Buffer).equals(b.get('summary.json') as Buffer))
  })

  it('conserves the token supply in every scenario, mechanisms on and off', async () => {
    for (const name of SCENARIO_NAMES) {
      const s = await loadScenario(name)
      for (const scenario of [s, baselineOf(s)]) {
        const r = runSimulation(scenario, { agents: 30, days: 20, seed: 3 })
        assert.ok(r.summary.details.supplyConserved, `${name}: supply changed`)
        assert.equal(r.series.length, 20)
        const m = r.summary.metrics
        for (const v of [m.gini, m.quality, m.activity, m.creatorShare]) assert.ok(v >= 0 && v <= 1)
      }
    }
  })

  it('keeps spam out with the mechanisms and lets it in without them', async () => {
    const s = await loadScenario('freeloader_surge')
    const on = runSimulation(s, { agents: 60, days: 30, seed: 5 }).summary
    const off = runSimulation(baselineOf(s), { agents: 60, days: 30, seed: 5 }).summary
    assert.ok(on.details.spamSubmitted > 0)
    assert.ok(on.details.spamAccepted / on.details.spamSubmitted < 0.05)
    assert.equal(off.details.spamAccepted, off.details.spamSubmitted)
    assert.ok(on.metrics.quality > off.metrics.quality + 0.1)
  })

  it('steadies the price with the stabiliser in a shock', async () => {
    const s = await loadScenario('economic_shock')
    const on = runSimulation(s, { agents: 40, days: 30, seed: 2 }).summary
    const off = runSimulation(
      { ...s, mechanisms: { ...s.mechanisms, stabiliser: false } },
      {
        agents: 40,
        days: 30,
        seed: 2,
      },
    ).summary
    assert.ok(on.metrics.stability > off.metrics.stability)
    assert.ok(on.details.treasury.stabiliserSpentCash > 0)
  })
})
