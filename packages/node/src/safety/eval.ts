import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { PrsmError } from '@prsm/core'
import { assessText } from './assess/assessor.ts'
import { DEFAULT_POLICY, type SafetyPolicy } from './policy.ts'

/** The corpora kept in the repository (benign.jsonl and malicious.jsonl). */
export const DEFAULT_CORPUS_DIR = fileURLToPath(new URL('../../test/safety/corpus', import.meta.url))

export interface CorpusCase {
  id: string
  label: 'benign' | 'malicious'
  category: string
  text: string
  source: string
}

export interface EvalReport {
  corpus: string
  malicious: number
  benign: number
  /** Malicious cases with at least one finding / malicious cases. */
  recall: number
  /** Benign cases with at least one finding / benign cases. */
  falsePositiveRate: number
  byCategory: Record<string, { cases: number; flagged: number }>
  missed: { id: string; category: string; text: string }[]
  falsePositives: { id: string; category: string; text: string; rules: string[] }[]
}

/** Reads every *.jsonl file in `dir` as corpus cases (CORPUS_INVALID on a bad line). */
export async function loadCorpus(dir: string, options: { signal?: AbortSignal } = {}): Promise<CorpusCase[]> {
  let names: string[]
  try {
    names = (await readdir(dir)).filter((n) => n.endsWith('.jsonl')).sort()
  } catch (cause) {
    throw new PrsmError('SAFETY_CORPUS_INVALID', `cannot read corpus directory ${dir}`, { cause })
  }
  const cases: CorpusCase[] = []
  for (const name of names) {
    options.signal?.throwIfAborted()
    const lines = (await readFile(join(dir, name), 'utf8')).split('\n')
    for (const [i, line] of lines.entries()) {
      if (line.trim() === '') continue
      let c: Partial<CorpusCase>
      try {
        c = JSON.parse(line) as Partial<CorpusCase>
      } catch (cause) {
        throw new PrsmError('SAFETY_CORPUS_INVALID', `${name}:${i + 1} is not JSON`, { cause })
      }
      if ((c.label !== 'benign' && c.label !== 'malicious') || typeof c.text !== 'string') {
        throw new PrsmError('SAFETY_CORPUS_INVALID', `${name}:${i + 1} needs label benign|malicious and text`)
      }
      cases.push({
        id: String(c.id ?? `${name}:${i + 1}`),
        label: c.label,
        category: String(c.category ?? 'unlabelled'),
        text: c.text,
        source: String(c.source ?? ''),
      })
    }
  }
  if (cases.length === 0) throw new PrsmError('SAFETY_CORPUS_INVALID', `no cases in ${dir}`)
  return cases
}

/** Runs tier 1 over a corpus: recall on malicious cases, false-positive rate on benign ones. */
export async function evaluateCorpus(
  dir: string = DEFAULT_CORPUS_DIR,
  options: { policy?: SafetyPolicy; signal?: AbortSignal } = {},
): Promise<EvalReport> {
  const policy = options.policy ?? DEFAULT_POLICY
  const cases = await loadCorpus(dir, options)
  const report: EvalReport = {
    corpus: dir,
    malicious: 0,
    benign: 0,
    recall: 0,
    falsePositiveRate: 0,
    byCategory: {},
    missed: [],
    falsePositives: [],
  }
  let caught = 0
  let fp = 0
  for (const c of cases) {
    const a = assessText(c.text, policy)
    const flagged = a.violations.length > 0
    const key = `${c.label}/${c.category}`
    const bucket = report.byCategory[key] ?? { cases: 0, flagged: 0 }
    bucket.cases++
    if (flagged) bucket.flagged++
    report.byCategory[key] = bucket
    if (c.label === 'malicious') {
      report.malicious++
      if (flagged) caught++
      else report.missed.push({ id: c.id, category: c.category, text: c.text })
    } else {
      report.benign++
      if (flagged) {
        fp++
        report.falsePositives.push({
          id: c.id,
          category: c.category,
          text: c.text,
          rules: a.violations.map((v) => `${v.category}/${v.rule}`),
        })
      }
    }
  }
  report.recall = report.malicious === 0 ? 0 : caught / report.malicious
  report.falsePositiveRate = report.benign === 0 ? 0 : fp / report.benign
  return report
}
