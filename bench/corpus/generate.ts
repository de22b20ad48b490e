/**
 * Writes the generated documents of the compression corpus (bench/corpus/*.txt|md marked
 * "generated" in README.md). Deterministic: a seeded PRNG (mulberry32), no clock, so running it
 * again rewrites the same bytes. Run: ./node_modules/.bin/node bench/corpus/generate.ts
 */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'

const here = import.meta.dirname

function mulberry32(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** A CI build log: repeated progress lines, the same warnings many times, a few real failures. */
function buildLog(): string {
  const rnd = mulberry32(1)
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T
  const packages = ['core', 'economics', 'contracts', 'node', 'cli', 'sim']
  const files = [
    'config.ts',
    'errors.ts',
    'offers.ts',
    'ledger.ts',
    'job-client.ts',
    'replication.ts',
    'trace.ts',
  ]
  const warnings = [
    'warning: unused variable `scratch` in packages/node/src/jobs/job-queue.ts',
    'warning: deprecated option `experimentalDecorators` in tsconfig.base.json',
    'npm warn Unknown user config "nodedir". This will stop working in the next major version of npm.',
  ]
  const lines: string[] = ['== build 4711 on runner linux-x64-2core ==']
  for (let i = 0; i < 400; i++) {
    const r = rnd()
    if (r < 0.55) lines.push(`compiling packages/${pick(packages)}/src/${pick(files)}`)
    else if (r < 0.8) lines.push(pick(warnings))
    else if (r < 0.97)
      lines.push(
        `test ok: ${pick(packages)} ${pick(['offers', 'vouchers', 'channels', 'jobs', 'pins'])} suite`,
      )
    else
      lines.push(
        `test FAILED: ${pick(packages)} jobs suite — expected receipt status ok, got failed (JOB_DEADLINE_EXCEEDED after ${Math.floor(rnd() * 9000 + 1000)} ms)`,
      )
  }
  lines.push('== build 4711 finished: 2 failures, see above ==')
  return `${lines.join('\n')}\n`
}

/** Outputs of redundant analysis steps (k = 2) handed to a compile step: pairs of identical or near-identical paragraphs. */
function stepOutputs(): string {
  const rnd = mulberry32(2)
  const out: string[] = []
  const decades = ['1960s', '1970s', '1980s', '1990s', '2000s', '2010s']
  let ppm = 317
  for (const [i, decade] of decades.entries()) {
    const rise = 8 + i * 2.5 + rnd()
    ppm += rise
    const text =
      `Shard ${i + 1} (${decade}): the seasonally adjusted CO2 concentration rose by ${rise.toFixed(2)} ppm over the decade, ` +
      `ending near ${ppm.toFixed(1)} ppm. The seasonal cycle had a mean amplitude of ${(5.8 + rnd()).toFixed(2)} ppm, ` +
      `with the maximum in May and the minimum in September or October. ${Math.floor(110 + rnd() * 10)} monthly readings were used.`
    // provider A and provider B of the same shard: the second copy is identical or differs in one rounding
    out.push(`Provider A, ${text}`)
    out.push(
      rnd() < 0.5
        ? `Provider B, ${text}`
        : `Provider B, ${text.replace(/(\d+\.\d)\d ppm over/, '$1 ppm over')}`,
    )
  }
  out.push(
    'Temperature shard: the global land-ocean temperature anomaly rose by about 0.19 degrees Celsius per decade since 1970, ' +
      'and the correlation between the yearly mean CO2 concentration and the anomaly over 1959-2020 is 0.96.',
  )
  out.push(
    'Temperature shard (second provider): the global land-ocean temperature anomaly rose by about 0.19 degrees Celsius per decade since 1970, ' +
      'and the correlation between the yearly mean CO2 concentration and the anomaly over 1959-2020 is 0.96.',
  )
  return `${out.join('\n\n')}\n`
}

writeFileSync(join(here, 'ci-build-log.txt'), buildLog())
writeFileSync(join(here, 'step-outputs.txt'), stepOutputs())
