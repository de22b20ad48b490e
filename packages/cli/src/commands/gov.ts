import { PrsmError } from '@prsm/core'
import type { Command } from 'commander'
import { printJson, table } from '../output.ts'
import { type CommonFlags, dataDirOption, fields, ftnsFlag, get, jsonOption, post } from './ledger-common.ts'

interface Proposal {
  id: string
  proposer: string
  description: string
  state: string
  voteStart: string
  voteEnd: string
  votes: { against: string; for: string; abstain: string }
  changes: Array<{ key: string; name?: string; value: string }>
  slashes?: Array<{ provider: string; amount: string; evidence: string }>
}

interface ProposeFlags extends CommonFlags {
  set?: string[]
  approve?: string[]
  slash?: string
  slashAmount?: string
  description?: string
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value]

/** `--set networkFeeBps=150` → ['networkFeeBps', '150'] */
function parseSet(text: string): [string, string] {
  const m = /^([A-Za-z][A-Za-z0-9]*)=(\d{1,78})$/.exec(text)
  if (m === null) throw new PrsmError('VALIDATION_FAILED', `--set ${text}: expected NAME=INTEGER`)
  return [m[1] as string, m[2] as string]
}

function shortId(id: string): string {
  return id.length > 16 ? `${id.slice(0, 8)}…${id.slice(-6)}` : id
}

/** `prsm gov propose|vote|execute|list|show` over the on-chain Governor. */
export function registerGovCommands(program: Command): void {
  const gov = program.command('gov').description('governance: proposals and votes on the on-chain Governor')
  gov
    .command('propose')
    .description("propose parameter changes and/or model-version approvals with this node's wallet")
    .option('--set <name=value>', 'a parameter change, e.g. networkFeeBps=150 (repeatable)', collect)
    .option(
      '--approve <manifest-cid>',
      'approve a model version over the capability bound (repeatable)',
      collect,
    )
    .requiredOption('--description <text>', 'what and why (part of the proposal id)')
    .addOption(dataDirOption())
    .addOption(jsonOption())
    .action(govProposeCommand)
  gov
    .command('vote')
    .argument('<id>', 'proposal id')
    .argument('<support>', 'for, against or abstain')
    .description("vote with this wallet's delegated FTNS")
    .addOption(dataDirOption())
    .addOption(jsonOption())
    .action(govVoteCommand)
  gov
    .command('execute')
    .argument('<id>', 'proposal id')
    .description('queue a succeeded proposal in the timelock, or execute a queued one after its delay')
    .addOption(dataDirOption())
    .addOption(jsonOption())
    .action(async (id: string, flags: CommonFlags) => {
      const r = await post<{ id: string; state: string }>(flags, `/api/v1/governance/proposals/${id}/execute`)
      if (flags.json) return printJson(r)
      process.stdout.write(`proposal ${r.id} is ${r.state}\n`)
    })
  gov
    .command('list')
    .description('proposals, newest first, with state and tallies')
    .addOption(dataDirOption())
    .addOption(jsonOption())
    .action(govListCommand)
  gov
    .command('show')
    .argument('<id>', 'proposal id')
    .description('one proposal: state, tallies, decoded parameter changes')
    .addOption(dataDirOption())
    .addOption(jsonOption())
    .action(govShowCommand)
}

export async function govProposeCommand(flags: ProposeFlags): Promise<void> {
  const parameters = Object.fromEntries((flags.set ?? []).map(parseSet))
  const approveManifests = flags.approve ?? []
  if (Object.keys(parameters).length === 0 && approveManifests.length === 0 && flags.slash === undefined) {
    throw new PrsmError(
      'VALIDATION_FAILED',
      'give at least one --set NAME=VALUE, --approve CID or --slash EVIDENCE',
    )
  }
  const slash =
    flags.slash === undefined
      ? undefined
      : { evidence: flags.slash, amount: ftnsFlag('--slash-amount', flags.slashAmount) }
  const r = await post<{ id: string }>(flags, '/api/v1/governance/proposals', {
    parameters,
    approveManifests,
    ...(slash === undefined ? {} : { slash }),
    description: flags.description,
  })
  if (flags.json) return printJson(r)
  process.stdout.write(`proposal ${r.id}\n`)
}

export async function govVoteCommand(id: string, support: string, flags: CommonFlags): Promise<void> {
  if (!['for', 'against', 'abstain'].includes(support)) {
    throw new PrsmError('VALIDATION_FAILED', `support ${support}: expected for, against or abstain`)
  }
  const r = await post<{ id: string; support: string; tx: string }>(
    flags,
    `/api/v1/governance/proposals/${id}/votes`,
    { support },
  )
  if (flags.json) return printJson(r)
  process.stdout.write(`voted ${r.support} on ${r.id} (tx ${r.tx})\n`)
}

export async function govListCommand(flags: CommonFlags): Promise<void> {
  const { proposals } = await get<{ proposals: Proposal[] }>(flags, '/api/v1/governance/proposals')
  if (flags.json) return printJson({ proposals })
  if (proposals.length === 0) {
    process.stdout.write('no proposals\n')
    return
  }
  process.stdout.write(
    `${table(
      ['id', 'state', 'for', 'against', 'description'],
      proposals.map((p) => [
        shortId(p.id),
        p.state,
        p.votes.for,
        p.votes.against,
        p.description.length > 50 ? `${p.description.slice(0, 47)}...` : p.description,
      ]),
    )}\n`,
  )
}

export async function govShowCommand(id: string, flags: CommonFlags): Promise<void> {
  const p = await get<Proposal>(flags, `/api/v1/governance/proposals/${id}`)
  if (flags.json) return printJson(p)
  process.stdout.write(
    fields([
      ['id', p.id],
      ['state', p.state],
      ['proposer', p.proposer],
      ['voting', `${p.voteStart} → ${p.voteEnd} (chain time)`],
      ['votes', `for ${p.votes.for}, against ${p.votes.against}, abstain ${p.votes.abstain}`],
      ['description', p.description],
      ...p.changes.map((c): [string, string] => ['change', `${c.name ?? c.key} = ${c.value}`]),
      ...(p.slashes ?? []).map((x): [string, string] => [
        'slash',
        `${x.provider} ${x.amount} wei (evidence ${x.evidence})`,
      ]),
    ]),
  )
}
