import { PrsmError } from '@prsm/core'
import type { AuditEntry, AuditVerification as Verification } from '@prsm/node'
import type { Command } from 'commander'
import { callNodeStream } from '../client.ts'
import { resolveDataDir } from '../data-dir.ts'
import { EXIT, ExitRequest, printJson, table } from '../output.ts'
import { type CommonFlags, dataDirOption, get, jsonOption } from './ledger-common.ts'

type Entry = Pick<AuditEntry, 'seq' | 'time' | 'category' | 'type' | 'actor' | 'subject' | 'outcome' | 'risk'>

interface QueryFlags extends CommonFlags {
  since?: string
  until?: string
  category?: string
  type?: string
  minRisk?: string
  limit?: string
  format?: string
  offline?: boolean
}

function queryString(flags: QueryFlags): string {
  const q = new URLSearchParams()
  if (flags.since !== undefined) q.set('since', flags.since)
  if (flags.until !== undefined) q.set('until', flags.until)
  if (flags.category !== undefined) q.set('category', flags.category)
  if (flags.type !== undefined) q.set('type', flags.type)
  if (flags.minRisk !== undefined) q.set('minRisk', flags.minRisk)
  if (flags.limit !== undefined) q.set('limit', flags.limit)
  const s = q.toString()
  return s === '' ? '' : `?${s}`
}

/** `prsm audit verify|export|list`. */
export function registerAuditCommands(program: Command): void {
  const audit = program.command('audit').description('the tamper-evident audit log')
  audit
    .command('verify')
    .description(
      'check the hash chain and the signed checkpoints; names the first bad entry (exit 1). Works on a stopped node with --offline',
    )
    .option('--offline', 'read <data-dir>/audit.db directly instead of asking the running node')
    .addOption(dataDirOption())
    .addOption(jsonOption())
    .action(auditVerifyCommand)
  audit
    .command('export')
    .description('entries as JSON lines on stdout')
    .option('--since <time>', 'ISO date or milliseconds since the epoch')
    .option('--until <time>', 'ISO date or milliseconds since the epoch')
    .option('--category <category>', 'one of the 14 audit categories (docs/safety.md)')
    .option('--type <type>', 'entry type, e.g. halt.vote.halt')
    .option('--min-risk <n>', 'least risk score 0-100')
    .option('--format <format>', 'jsonl (the only format)', 'jsonl')
    .addOption(dataDirOption())
    .action(auditExportCommand)
  audit
    .command('list')
    .description('recent entries as a table')
    .option('--since <time>', 'ISO date or milliseconds since the epoch')
    .option('--category <category>', 'one of the 14 audit categories')
    .option('--type <type>', 'entry type')
    .option('--min-risk <n>', 'least risk score 0-100')
    .option('--limit <n>', 'at most this many entries', '50')
    .addOption(dataDirOption())
    .addOption(jsonOption())
    .action(auditListCommand)
}

export async function auditVerifyCommand(flags: QueryFlags): Promise<void> {
  let result: Verification
  if (flags.offline) {
    const { join } = await import('node:path')
    const { existsSync } = await import('node:fs')
    const { AUDIT_FILE, readPublicIdentity, verifyAuditFile } = await import('@prsm/node')
    const dataDir = resolveDataDir(flags.dataDir)
    const file = join(dataDir, AUDIT_FILE)
    if (!existsSync(file)) throw new PrsmError('NOT_FOUND', `no audit log at ${file}`)
    const signer = await readPublicIdentity(dataDir)
      .then((i) => i.peerId)
      .catch(() => undefined)
    result = await verifyAuditFile(file, signer === undefined ? {} : { signer })
  } else {
    result = await get<Verification>(flags, '/api/v1/audit/verify')
  }
  if (flags.json) {
    printJson(result)
    if (!result.ok) throw new ExitRequest(EXIT.FAILURE)
    return
  }
  if (result.ok) {
    process.stdout.write(
      `audit log ok: ${result.entries} entries, ${result.checkpoints} signed checkpoints\n`,
    )
    return
  }
  throw new PrsmError(
    'AUDIT_LOG_TAMPERED',
    `first bad entry ${result.firstBadSeq} (${result.problem}): ${result.message}`,
    { details: { firstBadSeq: result.firstBadSeq, problem: result.problem } },
  )
}

export async function auditExportCommand(flags: QueryFlags): Promise<void> {
  if (flags.format !== undefined && flags.format !== 'jsonl') {
    throw new PrsmError('VALIDATION_FAILED', `--format ${flags.format}: only jsonl is supported`)
  }
  const res = await callNodeStream(resolveDataDir(flags.dataDir), `/api/v1/audit/export${queryString(flags)}`)
  process.stdout.write(await res.text())
}

export async function auditListCommand(flags: QueryFlags): Promise<void> {
  const { entries } = await get<{ entries: Entry[] }>(flags, `/api/v1/audit${queryString(flags)}`)
  if (flags.json) return printJson({ entries })
  process.stdout.write(
    `${table(
      ['seq', 'time', 'category', 'type', 'outcome', 'risk', 'subject'],
      entries.map((e) => [
        String(e.seq),
        new Date(e.time).toISOString(),
        e.category,
        e.type,
        e.outcome,
        String(e.risk),
        e.subject.length > 40 ? `${e.subject.slice(0, 37)}...` : e.subject,
      ]),
    )}\n`,
  )
}
