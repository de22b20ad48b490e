import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { vegaDatasets } from '../demo/datasets.ts'

const run = promisify(execFile)
const root = fileURLToPath(new URL('..', import.meta.url))

/** Runs a demo program in this process (V8, not the QuickJS sandbox the providers use). */
function local(
  program: string,
  inputs: string[],
  params: Record<string, unknown> = {},
): Record<string, number> {
  const source = readFileSync(`${root}demo/programs/${program}`, 'utf8')
  const main = new Function(`${source}\nreturn main`)() as (i: string[], p: unknown) => Record<string, number>
  return main(inputs, params)
}

describe('the main job (npm start)', () => {
  it('runs the workflow on a local network, pays, settles royalties and verifies the trace', {
    timeout: 150_000,
  }, async () => {
    const { stdout } = await run(process.execPath, [`${root}scripts/demo.ts`], {
      cwd: root,
      timeout: 140_000,
      env: { ...process.env, OPENAI_API_KEY: '', ANTHROPIC_API_KEY: '', OLLAMA_HOST: 'http://127.0.0.1:9' },
    })
    // run() rejects on a non-zero exit, so reaching here means exit 0
    assert.match(stdout, /^Trace (b[a-z2-7]{50,}) \(workflow b[a-z2-7]{50,}\)$/m)
    assert.match(stdout, /trace verify on curator .*: verified — 7 steps/)

    // The figures printed are those of the programs run here on the same files.
    const { dir } = vegaDatasets()
    const co2 = readFileSync(`${dir}/co2-concentration.csv`, 'utf8')
    const temp = readFileSync(`${dir}/global-temp.csv`, 'utf8')
    for (const [from, to] of [
      [1958, 1979],
      [1980, 1999],
      [2000, 2020],
    ]) {
      const f = local('co2-trend.js', [co2], { from, to })
      assert.ok(
        stdout.includes(`${from}-${to}: +${(f.ppmPerDecade as number).toFixed(2)} ppm/decade`),
        `CO2 ${from}-${to}`,
      )
    }
    const t = local('temperature-trend.js', [temp], { from: 1970, to: 2023 })
    assert.ok(stdout.includes(`1970-2023: +${(t.degreesPerDecade as number).toFixed(3)} °C/decade`))
    const r = local('co2-temperature-correlation.js', [co2, temp])
    assert.ok(stdout.includes(`Pearson r = ${(r.pearsonR as number).toFixed(3)}`))

    // Independent shards ran at the same time (overlapping in the trace), each agreed by two providers.
    const inFlight = stdout.match(/at most (\d+) steps in flight at once/)
    assert.ok(inFlight && Number(inFlight[1]) >= 2, `steps in flight: ${inFlight?.[1]}`)
    assert.equal((stdout.match(/done: \w+ and \w+ agree/g) ?? []).length, 6)
    // The curator got exactly the royalties the run owed it when the providers claimed.
    const royalty = stdout.match(
      /curator {2}received ([\d.]+) FTNS in royalties on chain \(the run owed it ([\d.]+) FTNS\)/,
    )
    assert.ok(royalty, 'royalty line')
    assert.equal(royalty[1], royalty[2])
    assert.ok(Number(royalty[1]) > 0)
    assert.match(stdout, /The API of nwtn was served at http:\/\/127\.0\.0\.1:\d+ during the run\./)
  })
})
