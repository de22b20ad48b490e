import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { vegaDatasets } from '../demo/datasets.ts'

const run = promisify(execFile)
const root = fileURLToPath(new URL('..', import.meta.url))
// No model unless a test names one: no local Ollama (a closed port), no keys.
const NO_MODEL = { OPENAI_API_KEY: '', ANTHROPIC_API_KEY: '', OLLAMA_HOST: 'http://127.0.0.1:9' }

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
    timeout: 200_000,
  }, async () => {
    const { stdout } = await run(process.execPath, [`${root}scripts/demo.ts`], {
      cwd: root,
      timeout: 180_000,
      env: { ...process.env, ...NO_MODEL },
    })
    // run() rejects on a non-zero exit, so reaching here means exit 0
    assert.match(stdout, /^Trace (b[a-z2-7]{50,}) \(workflow b[a-z2-7]{50,}\)$/m)
    assert.match(stdout, /trace verify on curator .*: verified — 8 steps/)
    // The yearly notes (a long text) reached the compile step through context compression.
    const compression = stdout.match(
      /report read the output of co2-yearly-notes cut to its 400 token budget: ([\d.]+)% of the tokens, preservation \(rouge-l\) ([\d.]+)/,
    )
    assert.ok(compression, 'compression line')
    assert.ok(Number(compression[1]) > 0 && Number(compression[1]) < 100)
    assert.ok(Number(compression[2]) > 0 && Number(compression[2]) < 1)

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
    assert.equal((stdout.match(/done: \w+ and \w+ agree/g) ?? []).length, 7)
    // The curator got exactly the royalties the run owed it when the providers claimed.
    const royalty = stdout.match(
      /curator {2}received ([\d.]+) FTNS in royalties on chain \(the run owed it ([\d.]+) FTNS\)/,
    )
    assert.ok(royalty, 'royalty line')
    assert.equal(royalty[1], royalty[2])
    assert.ok(Number(royalty[1]) > 0)
    assert.match(stdout, /The API of nwtn was served at http:\/\/127\.0\.0\.1:\d+ during the run\./)
    // Paid after delivery: what the providers claimed on chain is exactly the run's total (their
    // receipts' charges plus the royalties riding in their vouchers), and each provider claimed at
    // least what the breakdown says it was paid.
    const wei = (ftns: string): bigint => {
      const [whole = '0', frac = ''] = ftns.split('.')
      return BigInt(whole) * 10n ** 18n + BigInt(frac.padEnd(18, '0'))
    }
    const claimed = [...stdout.matchAll(/^ {2}(\w+) +claimed channel 0x[0-9a-f]+… at ([\d.]+) FTNS/gm)]
    const paid = [...stdout.matchAll(/^ {2}provider (\w+) +paid +([\d.]+) FTNS/gm)]
    const total = stdout.match(/^ {2}total +([\d.]+) FTNS of a/m)
    assert.ok(total && claimed.length >= 3 && paid.length === claimed.length, 'cost and settlement lines')
    assert.equal(
      claimed.reduce((n, m) => n + wei(m[2] as string), 0n),
      wei(total[1] as string),
    )
    for (const p of paid) {
      const c = claimed.find((m) => m[1] === p[1])
      assert.ok(c && wei(c[2] as string) >= wei(p[2] as string), `${p[1]} claimed what it was paid`)
    }
  })

  it('with a model (OpenAI wire format on loopback standing in for the paid API): an infer step and a model synthesis', {
    timeout: 200_000,
  }, async () => {
    const calls: Array<{ prompt: string; answer: string }> = []
    const upstream = createServer(async (req, res) => {
      let body = ''
      for await (const chunk of req) body += chunk
      if (req.url !== '/v1/chat/completions' || req.headers.authorization !== 'Bearer sk-demo-test') {
        res.writeHead(404).end()
        return
      }
      const request = JSON.parse(body) as { stream?: boolean; messages: Array<{ content: string }> }
      const prompt = request.messages.map((m) => m.content).join('\n')
      const text = `MODEL ANSWER ${calls.length + 1}: CO2 rises faster in every period.`
      calls.push({ prompt, answer: text })
      if (request.stream === false) {
        res.writeHead(200, { 'content-type': 'application/json' })
        res.end(
          JSON.stringify({
            choices: [{ index: 0, message: { role: 'assistant', content: text } }],
            usage: { prompt_tokens: 50, completion_tokens: 9 },
          }),
        )
        return
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      for (const content of text.split(/(?<= )/)) {
        res.write(`data: ${JSON.stringify({ choices: [{ index: 0, delta: { content } }] })}\n\n`)
      }
      res.write(
        `data: ${JSON.stringify({ choices: [], usage: { prompt_tokens: 50, completion_tokens: 9 } })}\n\n`,
      )
      res.end('data: [DONE]\n\n')
    })
    upstream.listen(0, '127.0.0.1')
    await once(upstream, 'listening')
    try {
      const { port } = upstream.address() as AddressInfo
      const { stdout } = await run(process.execPath, [`${root}scripts/demo.ts`], {
        cwd: root,
        timeout: 180_000,
        env: {
          ...process.env,
          ...NO_MODEL,
          OPENAI_API_KEY: 'sk-demo-test',
          OPENAI_BASE_URL: `http://127.0.0.1:${port}/v1`,
        },
      })
      assert.match(stdout, /gamma .* compute:js, model:gpt-4o-mini/)
      assert.match(stdout, /explain +done: by gamma/)
      assert.match(stdout, /report +done: by gamma/)
      assert.match(stdout, /trace verify on curator .*: verified — 9 steps/)
      // the infer step saw the shards' figures; the compile step saw the infer step's answer and
      // the question; the answer printed is the compile step's
      const explain = calls.find((c) => c.prompt.includes('In three sentences'))
      const compile = calls.find((c) => c.prompt.includes('Question: How fast has atmospheric CO2'))
      assert.ok(explain && compile, `${calls.length} model calls`)
      assert.match(explain.prompt, /"ppmPerDecade":10\.21/)
      assert.ok(compile.prompt.includes(explain.answer), 'the compile step read the infer answer')
      assert.ok(
        stdout.includes(`The model's synthesis (compile step on model:gpt-4o-mini):\n    ${compile.answer}`),
      )
    } finally {
      upstream.close()
    }
  })
})
