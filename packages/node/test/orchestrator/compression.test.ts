import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { hasCode } from '@prsm/core'
import fc from 'fast-check'
import type { PrsmNode } from '../../src/index.ts'
import {
  compressForBudget,
  countTokens,
  dedupUnits,
  lcsLength,
  modelSummarizer,
  openAIEmbedder,
  rougeL,
  segment,
  truncateToTokens,
} from '../../src/orchestrator/compression/index.ts'
import { bootstrapAddr, startTestNode, stopAll } from '../helpers.ts'
import { addText, compressedPairWorkflow, waitForOffers } from './helpers.ts'

/** The textbook O(n·m) table, to check the bit-parallel LCS against. */
function lcsTable(a: string[], b: string[]): number {
  const row = new Array<number>(b.length + 1).fill(0)
  for (const x of a) {
    let diag = 0
    for (let j = 1; j <= b.length; j++) {
      const up = row[j] as number
      row[j] = x === b[j - 1] ? diag + 1 : Math.max(up, row[j - 1] as number)
      diag = up
    }
  }
  return row[b.length] as number
}

const PROSE = [
  'Atmospheric carbon dioxide at Mauna Loa has risen every decade since 1958.',
  'The seasonal cycle peaks in May and falls to a minimum in September or October.',
  'Burning fossil fuels is the main source of the added carbon dioxide.',
  'Atmospheric carbon dioxide at Mauna Loa has risen every decade since 1958.',
  'Atmospheric carbon dioxide at Mauna Loa has risen in every decade since 1958!',
  'Ocean uptake removes roughly a quarter of emitted carbon dioxide each year.',
  'The weather on the day of a measurement matters little for the monthly mean.',
]

describe('context compression', () => {
  it('counts tokens by the documented rule', () => {
    assert.equal(countTokens(''), 0)
    assert.equal(countTokens('the'), 1)
    assert.equal(countTokens('compression'), 2) // 11 letters: two started runs of 6
    assert.equal(countTokens('1958-03-01, 315.70'), 9) // 1958 - 03 - 01 , 315 . 70
    assert.equal(countTokens('  a \n b  '), 2)
  })

  it('computes the LCS of word sequences like the textbook table (bit-parallel across 32-bit blocks)', () => {
    const word = fc.constantFrom('a', 'b', 'c', 'd', 'e')
    fc.assert(
      fc.property(fc.array(word, { maxLength: 90 }), fc.array(word, { maxLength: 90 }), (a, b) => {
        assert.equal(lcsLength(a, b), lcsTable(a, b))
      }),
      { numRuns: 300 },
    )
  })

  it('scores ROUGE-L as the F1 of the LCS', () => {
    assert.equal(rougeL('the cat sat', 'the cat sat').f1, 1)
    assert.equal(rougeL('dogs bark', 'the cat sat').f1, 0)
    // LCS "the cat" = 2 of 3 candidate words and 2 of 4 reference words: F1 = 2·(2/3)(1/2)/(2/3+1/2)
    const r = rougeL('the cat ran', 'the big cat sat')
    assert.equal(r.lcs, 2)
    assert.ok(Math.abs(r.f1 - 4 / 7) < 1e-12)
  })

  it('drops exact and near-duplicate sentences and keeps the first occurrence', () => {
    const units = segment(PROSE.join(' '))
    assert.equal(units.length, PROSE.length)
    const { kept, exact, near } = dedupUnits(units)
    assert.equal(exact, 1)
    assert.equal(near, 1, 'the "in every decade … !" variant is a near duplicate')
    assert.deepEqual(
      kept.map((u) => u.index),
      [0, 1, 2, 5, 6],
    )
    // Lines are units too: repeated CSV rows count as exact duplicates, distinct rows stay.
    const csv = dedupUnits(segment('a,1\nb,2\na,1\nc,3\nb,2'))
    assert.deepEqual(
      csv.kept.map((u) => u.text),
      ['a,1', 'b,2', 'c,3'],
    )
    assert.equal(csv.exact, 2)
  })

  it('returns an input that already fits unchanged', async () => {
    const text = PROSE.slice(0, 2).join(' ')
    const r = await compressForBudget(text, 1_000)
    assert.equal(r.text, text)
    assert.equal(r.ratio, 1)
    assert.deepEqual(r.preservation, { method: 'rouge-l', score: 1 })
  })

  it('fits the budget by deduplication and extraction, in the original order, and records ratio and ROUGE-L', async () => {
    const topics = ['solar', 'ocean', 'forest', 'glacier', 'river', 'desert', 'tundra', 'reef']
    // off-topic asides, each sharing no content word with anything else
    const asides = [
      'Lunch arrived late.',
      'Somebody lost umbrellas.',
      'Parking fees went up.',
      'Quiz night: Tuesday.',
      'Printer jammed twice.',
      'Birthdays celebrated with cake.',
      'Elevator maintenance postponed.',
      'Chess club meets Fridays.',
    ]
    const paragraphs = topics.map((t, i) =>
      [
        `The ${t} section opens with carbon dioxide measurements and their trend ${i}.`,
        `Observers of the ${t} noted seasonal swings in carbon dioxide of several parts per million.`,
        asides[i] as string,
        `Observers of the ${t} noted seasonal swings in carbon dioxide of several parts per million.`,
      ].join(' '),
    )
    const text = paragraphs.join('\n')
    const before = countTokens(text)
    const budget = Math.floor(before / 3)
    const r = await compressForBudget(text, budget)
    assert.ok(r.tokens.after <= budget, `${r.tokens.after} tokens for a budget of ${budget}`)
    assert.equal(r.tokens.before, before)
    assert.equal(r.ratio, r.tokens.after / before)
    // each paragraph repeats its "Observers" sentence; those of other topics are near duplicates
    assert.equal(r.stages.exactDuplicates, topics.length)
    assert.equal(r.stages.nearDuplicates, topics.length - 1)
    assert.equal(r.stages.extracted, true)
    assert.equal(r.preservation.method, 'rouge-l')
    assert.equal(r.preservation.score, rougeL(r.text, text).f1)
    assert.ok(r.preservation.score > 0 && r.preservation.score < 1)
    // every kept sentence is a sentence of the original, in the original order
    const sentences = segment(text).map((u) => u.text)
    let last = -1
    for (const s of segment(r.text).map((u) => u.text)) {
      const at = sentences.indexOf(s, last + 1)
      assert.ok(at > last, `"${s}" out of order or not from the original`)
      last = at
    }
    // relevance: the off-topic asides are never chosen; the carbon-dioxide sentences are
    for (const aside of asides) assert.ok(!r.text.includes(aside), `chose the aside "${aside}"`)
    assert.ok((r.text.match(/carbon dioxide/g) ?? []).length >= 3)
  })

  it('prefers a new point to a paraphrase of one already chosen (maximal marginal relevance)', async () => {
    const lines = [
      'CO2 at Mauna Loa rose 10.21 ppm per decade in 1958-1979.',
      'In 1958-1979 the CO2 rise at Mauna Loa was 10.21 ppm per decade.', // Jaccard 0.75: not a near duplicate
      'The global temperature anomaly rose 0.193 °C per decade in 1970-2023.',
      'Yearly CO2 and the temperature anomaly correlate with r = 0.959.',
    ]
    assert.equal(dedupUnits(segment(lines.join('\n'))).kept.length, 4)
    const room = countTokens(lines[0] as string) + countTokens(lines[2] as string) + 2
    const r = await compressForBudget(lines.join('\n'), room)
    assert.ok(r.text.startsWith(lines[0] as string), r.text)
    assert.ok(!r.text.includes(lines[1] as string), `chose the paraphrase: ${r.text}`)
  })

  it('fills the budget in order from a text of unrelated items (no topic to select by)', async () => {
    const items = [
      'Apples ripen in autumn.',
      'Granite cools slowly.',
      'Owls hunt by night.',
      'Copper conducts heat.',
    ]
    const room =
      countTokens(items[0] as string) + countTokens(items[1] as string) + countTokens(items[2] as string) + 3
    const r = await compressForBudget(items.join('\n'), room)
    assert.equal(r.text, items.slice(0, 3).join('\n'))
  })

  it('cuts a single unit that alone exceeds the budget at a word boundary', async () => {
    const text = 'alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu'
    const r = await compressForBudget(text, 5) // epsilon has 7 letters: 2 tokens
    assert.equal(r.text, 'alpha beta gamma delta')
    assert.equal(truncateToTokens('abcdefghijklmnopqrstuvwxyz', 2), 'abcdefghijkl')
  })

  it('uses a model summary when one is given and it fits; falls back to the extract otherwise', async () => {
    const text = PROSE.join('\n').repeat(1)
    const calls: Array<{ text: string; budget: number }> = []
    const used = await compressForBudget(text, 20, {
      summarize: async (t, budget) => {
        calls.push({ text: t, budget })
        return 'Mauna Loa carbon dioxide rises every decade, mainly from fossil fuels.'
      },
    })
    assert.equal(used.stages.summary, 'used')
    assert.equal(used.text, 'Mauna Loa carbon dioxide rises every decade, mainly from fossil fuels.')
    assert.equal(calls[0]?.budget, 20)
    assert.ok(!calls[0]?.text.includes('in every decade'), 'the model sees the deduplicated text')

    const long = await compressForBudget(text, 20, { summarize: async (t) => t })
    assert.equal(long.stages.summary, 'over-budget')
    assert.ok(long.tokens.after <= 20)

    const failed = await compressForBudget(text, 20, {
      summarize: async () => {
        throw new Error('model unreachable')
      },
    })
    assert.equal(failed.stages.summary, 'failed')
    assert.match(failed.stages.summaryError ?? '', /model unreachable/)
    assert.equal(failed.text, long.text, 'the extract is used')
  })

  it('summarises through a model call with the budget in the prompt and a token cap under it', async () => {
    const calls: Array<{ prompt: string; system: string; maxTokens: number }> = []
    const summarize = modelSummarizer(async (prompt, { system, maxTokens }) => {
      calls.push({ prompt, system, maxTokens })
      return 'CO2 rose 10.21, 15.28 and 22.01 ppm per decade.'
    })
    const r = await compressForBudget(PROSE.join('\n'), 30, { summarize })
    assert.equal(r.stages.summary, 'used')
    assert.equal(r.text, 'CO2 rose 10.21, 15.28 and 22.01 ppm per decade.')
    assert.equal(calls.length, 1)
    assert.match(calls[0]?.prompt ?? '', /^Compress the following to at most 30 tokens\./)
    assert.ok(calls[0]?.prompt.includes(PROSE[1] as string), 'the text is in the prompt')
    assert.equal(calls[0]?.maxTokens, 27)
    assert.match(calls[0]?.system ?? '', /figure/)
  })

  it('scores preservation by embedding cosine when an embedding backend is given', async () => {
    // a bag-of-letters embedding: deterministic and enough to check the wiring and the maths
    const embed = async (texts: string[]) =>
      texts.map((t) => Array.from({ length: 26 }, (_, i) => t.split(String.fromCharCode(97 + i)).length - 1))
    const text = PROSE.join('\n')
    const r = await compressForBudget(text, 25, { embed })
    assert.equal(r.preservation.method, 'embedding')
    const [a, b] = await embed([text, r.text])
    const dot = (a as number[]).reduce((s, x, i) => s + x * ((b as number[])[i] as number), 0)
    const norm = (v: number[]) => Math.sqrt(v.reduce((s, x) => s + x * x, 0))
    assert.ok(Math.abs(r.preservation.score - dot / (norm(a as number[]) * norm(b as number[]))) < 1e-12)

    // A backend answering with the wrong shape does not fail the step: ROUGE-L, and why
    const fallback = await compressForBudget(text, 25, { embed: async () => [[1, 2]] })
    assert.equal(fallback.preservation.method, 'rouge-l')
    assert.equal(fallback.preservation.score, rougeL(fallback.text, text).f1)
    assert.match(fallback.stages.embeddingError ?? '', /^COMPRESSION_EMBEDDING_INVALID: /)
  })

  it('embeds through the OpenAI embeddings wire format (a stand-in server on loopback)', async () => {
    const letters = (t: string) =>
      Array.from({ length: 26 }, (_, i) => t.toLowerCase().split(String.fromCharCode(97 + i)).length - 1)
    const seen: Array<{ auth: string | undefined; model: string; input: string[] }> = []
    let mode: 'ok' | 'fail' | 'short' = 'ok'
    const server = createServer(async (req, res) => {
      let body = ''
      for await (const chunk of req) body += chunk
      const request = JSON.parse(body) as { model: string; input: string[] }
      seen.push({ auth: req.headers.authorization, ...request })
      if (req.url !== '/v1/embeddings' || mode === 'fail') return void res.writeHead(500).end()
      const data = request.input.map((t, index) => ({ object: 'embedding', index, embedding: letters(t) }))
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ object: 'list', data: mode === 'short' ? data.slice(1) : data.reverse() }))
    })
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    try {
      process.env.PRSM_TEST_EMBED_KEY = 'sk-embed-test'
      const embed = openAIEmbedder({
        baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/`,
        model: 'text-embedding-3-small',
        apiKeyEnv: 'PRSM_TEST_EMBED_KEY',
        maxInputTokens: 40,
      })
      const text = PROSE.join('\n')
      const r = await compressForBudget(text, 25, { embed })
      assert.equal(r.preservation.method, 'embedding')
      assert.deepEqual(seen[0]?.auth, 'Bearer sk-embed-test')
      assert.equal(seen[0]?.model, 'text-embedding-3-small')
      // the original was cut to 40 tokens before it was sent; vectors come back by index
      assert.equal(seen[0]?.input[0], truncateToTokens(text, 40))
      assert.equal(seen[0]?.input[1], r.text)
      const [a, b] = [letters(truncateToTokens(text, 40)), letters(r.text)]
      const cos =
        a.reduce((s, x, i) => s + x * (b[i] as number), 0) /
        Math.sqrt(a.reduce((s, x) => s + x * x, 0) * b.reduce((s, x) => s + x * x, 0))
      assert.ok(Math.abs(r.preservation.score - cos) < 1e-12)

      mode = 'short'
      await assert.rejects(embed(['a', 'b'], {}), (err) => hasCode(err, 'COMPRESSION_EMBEDDING_INVALID'))
      mode = 'fail'
      await assert.rejects(
        embed(['a', 'b'], {}),
        (err) =>
          hasCode(err, 'JOB_BACKEND_FAILED') && !String((err as Error).message).includes('sk-embed-test'),
      )
      // compressForBudget keeps going on ROUGE-L when the backend fails, and says why
      const fallback = await compressForBudget(text, 25, { embed })
      assert.equal(fallback.preservation.method, 'rouge-l')
      assert.match(fallback.stages.embeddingError ?? '', /^JOB_BACKEND_FAILED: .*HTTP 500/)
    } finally {
      delete process.env.PRSM_TEST_EMBED_KEY
      server.close()
    }
  })

  it('rejects a budget that is not a positive integer, and stops on abort', async () => {
    for (const budget of [0, -3, 1.5, Number.NaN]) {
      await assert.rejects(compressForBudget('some text', budget), (err) =>
        hasCode(err, 'COMPRESSION_BUDGET_INVALID'),
      )
    }
    const controller = new AbortController()
    const pending = compressForBudget(PROSE.join('\n'), 10, {
      signal: controller.signal,
      summarize: (_t, _b, { signal }) =>
        new Promise((_resolve, reject) => {
          signal?.addEventListener('abort', () => reject(signal.reason), { once: true })
          controller.abort(new Error('stopped'))
        }),
    })
    await assert.rejects(pending, /stopped/)
  })

  it('finds near duplicates among thousands of lines (prefix filtering keeps distinct rows)', () => {
    const row = (k: number) => `row ${k} measured value ${(k * 7) % 311}`
    const lines: string[] = []
    for (let k = 0; k < 5000; k++) lines.push(row(k), `${row(k)} today`, row(k).toUpperCase(), `${row(k)}.`)
    const { kept, exact, near } = dedupUnits(segment(lines.join('\n')))
    assert.equal(kept.length, 5000)
    assert.equal(near, 5000)
    assert.equal(exact, 10_000)
    assert.deepEqual(
      kept.slice(0, 2).map((u) => u.text),
      [row(0), row(1)],
    )
  })
})

describe('context compression in a workflow, with an embedding backend from config', () => {
  let provider: PrsmNode
  let client: PrsmNode
  const embedded: string[][] = []
  const server = createServer(async (req, res) => {
    let body = ''
    for await (const chunk of req) body += chunk
    const { input } = JSON.parse(body) as { input: string[] }
    embedded.push(input)
    // a deterministic stand-in: bag of letters
    const data = input.map((t, index) => ({
      index,
      embedding: Array.from(
        { length: 26 },
        (_, i) => t.toLowerCase().split(String.fromCharCode(97 + i)).length - 1,
      ),
    }))
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ data }))
  })

  before(async () => {
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`
    provider = await startTestNode({ config: { offers: [{ capability: 'compute:js', price: '0' }] } })
    client = await startTestNode({
      config: {
        bootstrap: [bootstrapAddr(provider)],
        compression: { embedding: { baseUrl, model: 'nomic-embed-text' } },
      },
    })
    await waitForOffers(client, 'compute:js', [provider])
  })
  after(async () => {
    await stopAll([provider, client].filter((n) => n !== undefined))
    server.close()
  })

  it('scores the compressed input of a dependent step by embedding similarity and records it in the trace', async () => {
    const long = await addText(
      client,
      `function main() { let out = ''; for (let i = 0; i < 60; i++) out += 'Month ' + i + ': CO2 at Mauna Loa was ' + (315 + i / 10) + ' ppm. '; return out }`,
    )
    const echo = await addText(client, 'function main(inputs) { return inputs[0] }')
    const run = await client.orchestrator.runWorkflow(compressedPairWorkflow(long, echo, 50))
    const result = await run.result
    const { steps } = await client.orchestrator.trace(result.traceCid)
    const record = steps.find((s) => s.record.step === 'short')?.record
    assert.equal(record?.compression.length, 1)
    assert.equal(record?.compression[0]?.method, 'embedding')
    // the backend saw the original (the long step's output) and the compressed text the step read
    const original = await client.orchestrator.text(
      steps.find((s) => s.record.step === 'long')?.record.output.toString() ?? '',
    )
    assert.equal(embedded.length, 1)
    assert.equal(embedded[0]?.[0], original)
    assert.equal(embedded[0]?.[1], result.answer)
    assert.ok(countTokens(result.answer) <= 50)
    assert.ok(Math.abs((record?.compression[0]?.score ?? 0) - cosine26(original, result.answer)) < 1e-9)
  })
})

function cosine26(a: string, b: string): number {
  const v = (t: string) =>
    Array.from({ length: 26 }, (_, i) => t.toLowerCase().split(String.fromCharCode(97 + i)).length - 1)
  const [x, y] = [v(a), v(b)]
  const dot = x.reduce((s, n, i) => s + n * (y[i] as number), 0)
  return dot / Math.sqrt(x.reduce((s, n) => s + n * n, 0) * y.reduce((s, n) => s + n * n, 0))
}
