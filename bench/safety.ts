/**
 * bench:safety — tier-1 assessments per second on one core (this process, one thread) for
 * 1 KB prompts and 10 KB documents, with p50/p99 latency per assessment.
 *
 * Each measurement follows a warm-up of at least one second (and 20,000 calls), so that V8 has
 * finished optimising the code on its background threads, whose CPU time the process figure counts.
 *
 * Inputs are built from the repository's corpora: benign cases concatenated to the target size,
 * with one in ten inputs also carrying a malicious case (so the slow paths — matches, checksum
 * validation, base64 decoding, redaction — are part of the figure). The baseline, measured in the
 * same run on the same inputs, is a prototype-style keyword matcher (lower-case the text, look
 * for each of a list of phrases with `includes`): the kind of check the old 24,130/s claim was for.
 * Target: >= 250,000 assessments/s for 1 KB prompts with p99 < 1 ms.
 */
import { loadavg } from 'node:os'
import { assessText, type CorpusCase, DEFAULT_CORPUS_DIR, DEFAULT_POLICY, loadCorpus } from '@prsm/node'

const TARGET_PER_SEC = 250_000
const TARGET_P99_MS = 1
const DISTINCT = 1_000

function rng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = Math.imul(a ^ (a >>> 15), a | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function buildInputs(cases: CorpusCase[], size: number, seed: number): string[] {
  const rand = rng(seed)
  const benign = cases.filter((c) => c.label === 'benign')
  const malicious = cases.filter((c) => c.label === 'malicious')
  const out: string[] = []
  for (let i = 0; i < DISTINCT; i++) {
    let text = ''
    if (i % 10 === 0) text = `${(malicious[Math.floor(rand() * malicious.length)] as CorpusCase).text} `
    while (text.length < size) text += `${(benign[Math.floor(rand() * benign.length)] as CorpusCase).text} `
    // Cut back to the size on a code-point boundary.
    let cut = size
    const code = text.charCodeAt(cut - 1)
    if (code >= 0xd800 && code <= 0xdbff) cut--
    out.push(text.slice(0, cut))
  }
  return out
}

const PHRASES = [
  'ignore previous instructions',
  'ignore all previous',
  'disregard',
  'jailbreak',
  'developer mode',
  'do anything now',
  'system prompt',
  'pretend you are',
  'no restrictions',
  'bypass',
  'password',
  'credit card',
  'social security',
  'api key',
  'private key',
]
function keywordBaseline(text: string): number {
  const lower = text.toLowerCase()
  let hits = 0
  for (const p of PHRASES) if (lower.includes(p)) hits++
  return hits
}

let sink = 0
/** Warm-up before each measurement: V8 tiers the JavaScript, the regular expressions and the WebAssembly pass up on background threads, whose CPU time would otherwise count. */
const WARM_UP_MS = 1_000
const threadCpu = (process as { threadCpuUsage?: (prev?: NodeJS.CpuUsage) => NodeJS.CpuUsage }).threadCpuUsage
/**
 * Assessments per second of wall time and per second of this process's CPU time (user + system,
 * all threads), after a warm-up; `mainThread` is the share of that CPU time spent on the thread
 * running the assessments. On a shared machine the CPU-time figure is the one-core throughput;
 * wall time also counts the time other processes held the core.
 */
function throughput(
  inputs: string[],
  fn: (t: string) => unknown,
  minMs: number,
): { wall: number; cpu: number; mainThread: number } {
  const warm = performance.now()
  for (let i = 0; i < 20_000 || performance.now() - warm < WARM_UP_MS; i++)
    sink ^= fn(inputs[i % inputs.length] as string) ? 1 : 0
  let n = 0
  const start = performance.now()
  const cpu0 = process.cpuUsage()
  const thread0 = threadCpu?.call(process)
  let now = start
  while (now - start < minMs) {
    for (let i = 0; i < 5_000; i++) sink ^= fn(inputs[(n + i) % inputs.length] as string) ? 1 : 0
    n += 5_000
    now = performance.now()
  }
  const cpu = process.cpuUsage(cpu0)
  const thread = thread0 === undefined ? undefined : threadCpu?.call(process, thread0)
  const total = cpu.user + cpu.system
  return {
    wall: (n * 1000) / (now - start),
    cpu: (n * 1e6) / total,
    mainThread: thread === undefined ? 1 : (thread.user + thread.system) / total,
  }
}

function latencies(inputs: string[], fn: (t: string) => unknown, count: number): number[] {
  const ms = new Array<number>(count)
  for (let i = 0; i < count; i++) {
    const t0 = process.hrtime.bigint()
    sink ^= fn(inputs[i % inputs.length] as string) ? 1 : 0
    ms[i] = Number(process.hrtime.bigint() - t0) / 1e6
  }
  return ms.sort((a, b) => a - b)
}
const pct = (sorted: number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? 0

const cases = await loadCorpus(DEFAULT_CORPUS_DIR)
const ours = (t: string): unknown => assessText(t, DEFAULT_POLICY).blocked
const p1k = buildInputs(cases, 1024, 1)
const p10k = buildInputs(cases, 10 * 1024, 2)
const flagged1k = p1k.filter((t) => assessText(t, DEFAULT_POLICY).violations.length > 0).length

const ours1k = throughput(p1k, ours, 3_000)
const base1k = throughput(p1k, keywordBaseline, 1_500)
const ours10k = throughput(p10k, ours, 3_000)
const base10k = throughput(p10k, keywordBaseline, 1_500)
const lat1k = latencies(p1k, ours, 100_000)
const lat10k = latencies(p10k, ours, 20_000)

const figures = {
  bench: 'safety',
  inputs: `${DISTINCT} distinct inputs per size from the repo corpora, 10% carrying a malicious case`,
  loadAverage: Number(loadavg()[0]?.toFixed(2)),
  flaggedShare1k: Number((flagged1k / p1k.length).toFixed(3)),
  assessPerCpuSec1k: Math.round(ours1k.cpu),
  assessPerSec1k: Math.round(ours1k.wall),
  mainThreadCpuShare1k: Number(ours1k.mainThread.toFixed(3)),
  p50Ms1k: Number(pct(lat1k, 50).toFixed(4)),
  p99Ms1k: Number(pct(lat1k, 99).toFixed(4)),
  assessPerCpuSec10k: Math.round(ours10k.cpu),
  assessPerSec10k: Math.round(ours10k.wall),
  p50Ms10k: Number(pct(lat10k, 50).toFixed(4)),
  p99Ms10k: Number(pct(lat10k, 99).toFixed(4)),
  baselineKeywordPerCpuSec1k: Math.round(base1k.cpu),
  baselineKeywordPerCpuSec10k: Math.round(base10k.cpu),
  ratioToBaseline1k: Number((ours1k.cpu / base1k.cpu).toFixed(2)),
  ratioToBaseline10k: Number((ours10k.cpu / base10k.cpu).toFixed(2)),
  ratioToTarget1k: Number((ours1k.cpu / TARGET_PER_SEC).toFixed(2)),
  ratioToPrototypeClaim1k: Number((ours1k.cpu / 24_130).toFixed(1)),
  meetsTarget: ours1k.cpu >= TARGET_PER_SEC && pct(lat1k, 99) < TARGET_P99_MS,
}
const row = (name: string, value: string | number): void =>
  console.log(`${name.padEnd(40)} ${String(value).padStart(14)}`)
console.log(`PRSM safety tier 1 — one core (load average ${figures.loadAverage})`)
row('1 KB prompts: assessments/CPU-s', figures.assessPerCpuSec1k)
row('  per wall-clock second', figures.assessPerSec1k)
row('  share of CPU on the assessing thread', figures.mainThreadCpuShare1k)
row('  p50 / p99 latency (ms)', `${figures.p50Ms1k} / ${figures.p99Ms1k}`)
row('  share of inputs with findings', figures.flaggedShare1k)
row('10 KB documents: assessments/CPU-s', figures.assessPerCpuSec10k)
row('  per wall-clock second', figures.assessPerSec10k)
row('  p50 / p99 latency (ms)', `${figures.p50Ms10k} / ${figures.p99Ms10k}`)
row('baseline keyword matcher 1 KB /CPU-s', figures.baselineKeywordPerCpuSec1k)
row('baseline keyword matcher 10 KB /CPU-s', figures.baselineKeywordPerCpuSec10k)
row('ours / baseline (1 KB, 10 KB)', `${figures.ratioToBaseline1k}x, ${figures.ratioToBaseline10k}x`)
row('ours / target 250,000/s (1 KB)', `${figures.ratioToTarget1k}x`)
row('meets target (>=250k/s, p99<1ms)', String(figures.meetsTarget))
if (sink === 42) console.log('')
console.log(JSON.stringify(figures))
