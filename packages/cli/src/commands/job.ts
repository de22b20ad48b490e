import type { Command } from 'commander'
import { resolveDataDir } from '../data-dir.ts'
import { printJson, table } from '../output.ts'

interface Flags {
  capability: string
  input?: string[]
  inputCid?: string[]
  provider?: string[]
  redundancy?: string
  maxPrice?: string
  param?: string[]
  deadlineMs?: string
  requestId?: string
  stream?: boolean
  dataDir?: string
  json?: boolean
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value]

/** `key=value` → [key, value], the value parsed as JSON when it is JSON (numbers, booleans…). */
function param(text: string): [string, unknown] {
  const eq = text.indexOf('=')
  if (eq <= 0) throw new Error(`--param ${text}: expected key=value`)
  const raw = text.slice(eq + 1)
  try {
    return [text.slice(0, eq), JSON.parse(raw)]
  } catch {
    return [text.slice(0, eq), raw]
  }
}

/**
 * `prsm job run --capability CAP --input TEXT … [--provider PEER…] [--max-price FTNS]
 * [--redundancy K]`.
 */
export function registerJobCommands(program: Command): void {
  const job = program.command('job').description('run jobs on other nodes (/prsm/job/1.0.0)')
  registerReadCommands(job)
  job
    .command('run')
    .description('run one step on a provider; the output streams to stdout, the receipt to stderr')
    .requiredOption('--capability <cap>', 'the capability, e.g. model:gpt-4o-mini')
    .option('--input <text>', 'a text input (repeatable)', collect)
    .option('--input-cid <cid>', 'an input stored as content (repeatable)', collect)
    .option(
      '--provider <peer>',
      'the provider PeerId (default: the cheapest other node offering it); repeatable with --redundancy',
      collect,
    )
    .option(
      '--redundancy <k>',
      'run on k providers at once and accept the output of a strict majority (dissenters get evidence)',
    )
    .option('--max-price <ftns>', 'the most this job may cost, in FTNS (0 for free offers)', '0')
    .option('--param <key=value>', 'a backend parameter, e.g. max_tokens=64 (repeatable)', collect)
    .option('--deadline-ms <ms>', 'time allowed for the job')
    .option('--request-id <id>', 'reuse an id to retry without running or paying twice')
    .option('--no-stream', 'ask the backend for a whole answer instead of a stream')
    .option('--data-dir <dir>', 'data directory (default: $PRSM_DATA_DIR or ~/.prsm)')
    .option('--json', 'print the receipt and output as JSON at the end')
    .action(async (flags: Flags) => {
      const { PrsmError, isErrorCode } = await import('@prsm/core')
      const { callNodeStream } = await import('../client.ts')
      let params: Record<string, unknown>
      try {
        params = Object.fromEntries((flags.param ?? []).map(param))
      } catch (err) {
        throw new PrsmError('VALIDATION_FAILED', (err as Error).message)
      }
      if (flags.stream === false) params.stream = false
      const deadlineMs = flags.deadlineMs === undefined ? undefined : Number(flags.deadlineMs)
      if (deadlineMs !== undefined && !Number.isInteger(deadlineMs)) {
        throw new PrsmError('VALIDATION_FAILED', '--deadline-ms must be an integer')
      }
      const redundancy = flags.redundancy === undefined ? undefined : Number(flags.redundancy)
      if (redundancy !== undefined && !(Number.isInteger(redundancy) && redundancy >= 1)) {
        throw new PrsmError('VALIDATION_FAILED', '--redundancy must be a positive integer')
      }
      const providers = flags.provider ?? []
      if (redundancy === undefined && providers.length > 1) {
        throw new PrsmError('VALIDATION_FAILED', 'several --provider need --redundancy')
      }
      const common = {
        capability: flags.capability,
        inputs: [
          ...(flags.input ?? []).map((text) => ({ text })),
          ...(flags.inputCid ?? []).map((cid) => ({ cid })),
        ],
        params,
        maxPrice: flags.maxPrice ?? '0',
        ...(deadlineMs === undefined ? {} : { deadlineMs }),
        ...(flags.requestId === undefined ? {} : { requestId: flags.requestId }),
      }
      if (redundancy !== undefined) {
        await runVerified(flags, {
          ...common,
          redundancy,
          ...(providers.length === 0 ? {} : { providers }),
        })
        return
      }
      const body = { ...common, ...(providers[0] === undefined ? {} : { provider: providers[0] }) }
      const res = await callNodeStream(resolveDataDir(flags.dataDir), '/api/v1/jobs', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      })
      const decoder = new TextDecoder()
      let buffer = ''
      let provider = ''
      let output = ''
      let receipt: Record<string, unknown> | undefined
      let failure: { code: string; message: string } | undefined
      const handle = (text: string): void => {
        if (text.trim() === '') return
        const e = JSON.parse(text) as {
          type: string
          provider?: string
          text?: string
          bytes?: string
          receipt?: Record<string, unknown>
          error?: { code: string; message: string }
        }
        if (e.type === 'provider') provider = e.provider ?? ''
        else if (e.type === 'chunk') {
          const piece = e.text ?? Buffer.from(e.bytes ?? '', 'base64').toString()
          output += piece
          if (flags.json !== true) process.stdout.write(piece)
        } else if (e.type === 'receipt') receipt = e.receipt
        else if (e.type === 'error') failure = e.error
      }
      for await (const part of res.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(part, { stream: true })
        let nl = buffer.indexOf('\n')
        while (nl >= 0) {
          handle(buffer.slice(0, nl))
          buffer = buffer.slice(nl + 1)
          nl = buffer.indexOf('\n')
        }
      }
      handle(buffer)
      const toError = (e: { code: string; message: string }) =>
        new PrsmError(isErrorCode(e.code) ? e.code : 'INTERNAL', e.message)
      if (receipt === undefined)
        throw toError(failure ?? { code: 'JOB_RECEIPT_INVALID', message: 'no receipt' })
      if (output === '') {
        const inline = receipt.output as { text?: string } | undefined
        output = inline?.text ?? ''
        if (flags.json !== true) process.stdout.write(output)
      }
      if (flags.json === true) printJson({ provider, output, receipt })
      else {
        const usage = receipt.usage as Record<string, number>
        process.stdout.write(output.endsWith('\n') || output === '' ? '' : '\n')
        process.stderr.write(
          `${receipt.status} ${receipt.requestId} from ${provider}: charged ${receipt.charged} wei, ` +
            `tokens ${usage.tokensIn}/${usage.tokensOut}, ${usage.computeMs} ms, sha256 ${receipt.outputHash}\n`,
        )
      }
      const error = receipt.error as { code: string; message: string } | undefined
      if (receipt.status !== 'ok' && error !== undefined) throw toError(error)
    })
}

interface ReputationRow {
  peer: string
  jobs: number
  successRate: number
  latencyEwmaMs: number | null
  disagreements: number
  safetyViolations: number
  score: number
}

/** `prsm job reputation [PEER]` and `prsm job evidence [--provider PEER]`: what the node has seen. */
function registerReadCommands(job: Command): void {
  job
    .command('reputation [peer]')
    .description("providers' reputation as this node saw them (best score first)")
    .option('--data-dir <dir>', 'data directory (default: $PRSM_DATA_DIR or ~/.prsm)')
    .option('--json', 'print JSON')
    .action(async (peer: string | undefined, flags: { dataDir?: string; json?: boolean }) => {
      const { callNode } = await import('../client.ts')
      const dataDir = resolveDataDir(flags.dataDir)
      const rows =
        peer === undefined
          ? (await callNode<{ providers: ReputationRow[] }>(dataDir, '/api/v1/reputation')).providers
          : [await callNode<ReputationRow>(dataDir, `/api/v1/reputation/${encodeURIComponent(peer)}`)]
      if (flags.json === true) return printJson(peer === undefined ? { providers: rows } : rows[0])
      console.log(
        table(
          ['PEER', 'JOBS', 'SUCCESS', 'LATENCY MS', 'DISAGREE', 'SAFETY', 'SCORE'],
          rows.map((r) => [
            r.peer,
            String(r.jobs),
            r.successRate.toFixed(2),
            r.latencyEwmaMs === null ? '-' : String(r.latencyEwmaMs),
            String(r.disagreements),
            String(r.safetyViolations),
            r.score.toFixed(3),
          ]),
        ),
      )
    })
  job
    .command('evidence')
    .description('signed evidence records of providers that disagreed with a verified majority')
    .option('--provider <peer>', 'only records against this provider')
    .option('--data-dir <dir>', 'data directory (default: $PRSM_DATA_DIR or ~/.prsm)')
    .option('--json', 'print JSON (with the signed envelopes, base64)')
    .action(async (flags: { provider?: string; dataDir?: string; json?: boolean }) => {
      const { callNode } = await import('../client.ts')
      const query = flags.provider === undefined ? '' : `?provider=${encodeURIComponent(flags.provider)}`
      const { evidence } = await callNode<{
        evidence: Array<{
          id: string
          provider: string
          majorityProvider: string
          capability: string
          createdAt: number
        }>
      }>(resolveDataDir(flags.dataDir), `/api/v1/evidence${query}`)
      if (flags.json === true) return printJson({ evidence })
      console.log(
        table(
          ['ID', 'DISSENTER', 'MAJORITY', 'CAPABILITY', 'AT'],
          evidence.map((e) => [
            e.id,
            e.provider,
            e.majorityProvider,
            e.capability,
            new Date(e.createdAt).toISOString(),
          ]),
        ),
      )
    })
}

interface VerifiedAnswer {
  provider: string
  outputHash: string
  text?: string
  bytes?: string
  receipt: { requestId: string; charged: string }
  agreeing: string[]
  dissenters: Array<{ provider: string; receipt: { outputHash: string } }>
  evidence: string[]
  failed: Array<{ provider: string; error: { code: string; message: string } }>
}

/** `--redundancy K`: POST /api/v1/jobs/verified; the majority output to stdout, a summary to stderr. */
async function runVerified(
  flags: Flags,
  body: Record<string, unknown> & { redundancy: number },
): Promise<void> {
  const { callNode } = await import('../client.ts')
  const deadlineMs = typeof body.deadlineMs === 'number' ? body.deadlineMs : 600_000
  const r = await callNode<VerifiedAnswer>(resolveDataDir(flags.dataDir), '/api/v1/jobs/verified', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(deadlineMs + 15_000),
  })
  const output = r.text ?? Buffer.from(r.bytes ?? '', 'base64').toString()
  if (flags.json === true) {
    printJson({ ...r, output })
    return
  }
  process.stdout.write(output.endsWith('\n') || output === '' ? output : `${output}\n`)
  const lines = [
    `ok ${r.receipt.requestId} verified by ${r.agreeing.length}/${body.redundancy} (${r.agreeing.join(', ')}): ` +
      `sha256 ${r.outputHash}`,
    ...r.dissenters.map(
      (d, i) => `dissenter ${d.provider}: sha256 ${d.receipt.outputHash}, evidence ${r.evidence[i]}`,
    ),
    ...r.failed.map((f) => `failed ${f.provider}: ${f.error.code} ${f.error.message}`),
  ]
  process.stderr.write(`${lines.join('\n')}\n`)
}
