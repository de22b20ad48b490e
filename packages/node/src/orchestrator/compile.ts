/** One parent output handed to a compile step. */
export interface CompileSource {
  step: string
  capability: string | null
  provider: string
  text: string
}

/** Largest share of one source kept in a structured report, characters. */
export const REPORT_SOURCE_MAX_CHARS = 16_384

/**
 * The structured report a compile step produces without a model: the question, then each source
 * step's output (JSON pretty-printed, text as is, cut at {@link REPORT_SOURCE_MAX_CHARS}) with
 * where it came from. Deterministic: the same sources give the same bytes, so `trace verify`
 * re-creates it and compares hashes.
 */
export function structuredReport(query: string, sources: readonly CompileSource[]): string {
  const lines: string[] = []
  lines.push(`# ${query.trim() === '' ? 'Results' : query.trim()}`, '')
  for (const s of sources) {
    lines.push(`## ${s.step}${s.capability === null ? '' : ` (${s.capability} on ${s.provider})`}`, '')
    lines.push(render(s.text), '')
  }
  return `${lines.join('\n').trimEnd()}\n`
}

function render(text: string): string {
  const cut = text.length > REPORT_SOURCE_MAX_CHARS ? `${text.slice(0, REPORT_SOURCE_MAX_CHARS)}\n…` : text
  try {
    const value = JSON.parse(text) as unknown
    if (value !== null && typeof value === 'object') {
      const pretty = JSON.stringify(value, null, 2)
      return `\`\`\`json\n${pretty.length > REPORT_SOURCE_MAX_CHARS ? `${pretty.slice(0, REPORT_SOURCE_MAX_CHARS)}\n…` : pretty}\n\`\`\``
    }
  } catch {
    // not JSON: shown as text
  }
  return cut.trim()
}

/** The system prompt of a model compile step (synthesis of the sources into one answer). */
export const SYNTHESIS_SYSTEM_PROMPT =
  'You combine the results of several analysis steps into one clear answer to the question. ' +
  'Use only the figures given in the results; quote them with their units; say which step each comes from. ' +
  'Be concise.'

/** The user message of a model compile step: the question and each source. */
export function synthesisPrompt(query: string, sources: readonly CompileSource[]): string {
  return `Question: ${query}\n\n${structuredReport('Results', sources)}`
}
