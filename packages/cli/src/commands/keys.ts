import type { Command } from 'commander'
import { callNode } from '../client.ts'
import { resolveDataDir } from '../data-dir.ts'
import { printJson, table } from '../output.ts'
import {
  type Amount,
  type CommonFlags,
  dataDirOption,
  fields,
  get,
  jsonOption,
  parseDuration,
  post,
} from './ledger-common.ts'

interface KeyJson {
  id: string
  name: string
  org: string
  member: string | null
  role: string
  rateLimitPerMinute: number | null
  dailyBudget: Amount | null
  createdAt: string
  expiresAt: string | null
  revokedAt: string | null
  key?: string
}

/** `prsm keys create|list|revoke`: API keys of the running node (authenticated with its token file). */
export function registerKeysCommands(program: Command): void {
  const keys = program.command('keys').description('API keys of the running node')
  keys
    .command('create')
    .description('create an API key (printed once: store it now)')
    .requiredOption('--name <name>', 'what the key is for')
    .option('--role <role>', 'admin, operator, user, auditor or guest', 'user')
    .option('--org <org>', 'organisation id or name (default: "default")')
    .option('--member <member>', 'organisation member the key acts for')
    .option('--rate-limit <n>', 'requests per minute')
    .option('--daily-budget <ftns>', 'FTNS the key may spend per UTC day')
    .option('--expires <duration>', 'lifetime, e.g. 90d, 12h')
    .addOption(dataDirOption())
    .addOption(jsonOption())
    .action(keysCreateCommand)
  keys
    .command('list')
    .description('list keys (never their secrets)')
    .option('--org <org>', 'only this organisation')
    .addOption(dataDirOption())
    .addOption(jsonOption())
    .action(keysListCommand)
  keys
    .command('revoke')
    .description('revoke a key by id (its tokens stop working too)')
    .argument('<id>', 'the key id (the 12 hex digits after prsm_)')
    .addOption(dataDirOption())
    .addOption(jsonOption())
    .action(keysRevokeCommand)
}

export async function keysCreateCommand(
  flags: CommonFlags & {
    name: string
    role: string
    org?: string
    member?: string
    rateLimit?: string
    dailyBudget?: string
    expires?: string
  },
): Promise<void> {
  const created = await post<KeyJson & { key: string }>(flags, '/api/v1/keys', {
    name: flags.name,
    role: flags.role,
    ...(flags.org === undefined ? {} : { org: flags.org }),
    ...(flags.member === undefined ? {} : { member: flags.member }),
    ...(flags.rateLimit === undefined ? {} : { rateLimitPerMinute: Number(flags.rateLimit) }),
    ...(flags.dailyBudget === undefined ? {} : { dailyBudget: flags.dailyBudget }),
    ...(flags.expires === undefined ? {} : { expiresInSeconds: parseDuration('--expires', flags.expires) }),
  })
  if (flags.json === true) return printJson(created)
  process.stdout.write(
    fields([
      ['key', created.key],
      ['id', created.id],
      ['role', created.role],
      ['org', created.org],
      ['expires', created.expiresAt ?? 'never'],
    ]),
  )
  process.stderr.write('the key is shown only now: store it (the node keeps only its hash)\n')
}

export async function keysListCommand(flags: CommonFlags & { org?: string }): Promise<void> {
  const query = flags.org === undefined ? '' : `?org=${encodeURIComponent(flags.org)}`
  const { keys } = await get<{ keys: KeyJson[] }>(flags, `/api/v1/keys${query}`)
  if (flags.json === true) return printJson({ keys })
  const status = (k: KeyJson): string =>
    k.revokedAt !== null
      ? 'revoked'
      : k.expiresAt !== null && Date.parse(k.expiresAt) <= Date.now()
        ? 'expired'
        : 'active'
  process.stdout.write(
    `${table(
      ['ID', 'NAME', 'ROLE', 'ORG', 'RATE/MIN', 'BUDGET/DAY', 'STATUS'],
      keys.map((k) => [
        k.id,
        k.name,
        k.role,
        k.org,
        k.rateLimitPerMinute === null ? 'default' : String(k.rateLimitPerMinute),
        k.dailyBudget === null ? '-' : `${k.dailyBudget.ftns} FTNS`,
        status(k),
      ]),
    )}\n`,
  )
}

export async function keysRevokeCommand(id: string, flags: CommonFlags): Promise<void> {
  const key = await callNode<KeyJson>(
    resolveDataDir(flags.dataDir),
    `/api/v1/keys/${encodeURIComponent(id)}`,
    {
      method: 'DELETE',
    },
  )
  if (flags.json === true) return printJson(key)
  process.stdout.write(`revoked ${key.id} (${key.name})\n`)
}
