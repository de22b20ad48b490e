import assert from 'node:assert/strict'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { lineChart, simCli } from '../src/index.ts'

const dirs: string[] = []
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true })
})

/** Runs the CLI with its output captured. */
async function cli(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out: string[] = []
  const err: string[] = []
  const code = await simCli(argv, { out: (t) => out.push(t), err: (t) => err.push(t) })
  return { code, stdout: out.join(''), stderr: err.join('') }
}

describe('prsm sim CLI', () => {
  it('runs a scenario and writes the summary, series and plots', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'prsm-sim-cli-'))
    dirs.push(dir)
    const r = await cli([
      'run',
      '--scenario',
      'normal_growth',
      '--agents',
      '20',
      '--days',
      '10',
      '--seed',
      '4',
      '--out',
      dir,
      '--json',
    ])
    assert.equal(r.code, 0, r.stderr)
    const summary = JSON.parse(r.stdout)
    assert.equal(summary.scenario, 'normal_growth')
    assert.equal(summary.agents, 20)
    assert.equal(summary.days, 10)
    assert.equal(summary.seed, 4)
    assert.deepEqual((await readdir(dir)).sort(), [
      'gini.svg',
      'price.svg',
      'quality.svg',
      'series.csv',
      'summary.json',
    ])
  })

  it('exits 2 with a message on bad arguments', async () => {
    for (const argv of [
      ['run'],
      ['run', '--scenario', 'normal_growth', '--agents', 'many'],
      ['run', '--scenario', 'normal_growth', '--days', '0'],
      ['run', '--scenario', 'nope'],
      ['run', '--scenario', 'normal_growth', '--colour', 'red'],
      ['compare', '--seeds', '-1'],
      ['fly'],
      [],
    ]) {
      const r = await cli(argv)
      assert.equal(r.code, 2, `${argv.join(' ')} → ${r.code}`)
      if (argv.length > 0) assert.match(r.stderr, /prsm sim: /)
    }
  })

  it('compares scenarios over seeds', async () => {
    const r = await cli([
      'compare',
      '--seeds',
      '2',
      '--agents',
      '20',
      '--days',
      '10',
      '--scenarios',
      'normal_growth,sybil_attack',
      '--json',
    ])
    assert.equal(r.code, 0, r.stderr)
    const json = JSON.parse(r.stdout)
    assert.deepEqual(
      json.rows.map((row: { scenario: string }) => row.scenario),
      ['normal_growth', 'sybil_attack'],
    )
    const table = await cli([
      'compare',
      '--seeds',
      '2',
      '--agents',
      '20',
      '--days',
      '10',
      '--scenarios',
      'normal_growth',
    ])
    assert.match(table.stdout, /normal_growth .*0\.42/)
  })
})

describe('lineChart', () => {
  it('writes a self-contained, deterministic SVG', () => {
    const opts = {
      title: 'a < b',
      yLabel: 'y',
      x: [1, 2, 3],
      series: [{ name: 's', values: [0.1, 0.5, 0.3], color: '#000' }],
      bands: [{ from: 2, to: 3, label: 'w' }],
    }
    const svg = lineChart(opts)
    assert.ok(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"'))
    assert.match(svg, /<polyline /)
    assert.match(svg, /a &lt; b/)
    assert.equal(svg, lineChart(opts))
  })
})
