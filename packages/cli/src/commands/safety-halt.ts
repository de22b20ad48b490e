import type { Command } from 'commander'
import { printJson, table } from '../output.ts'
import { type CommonFlags, dataDirOption, get, jsonOption, post } from './ledger-common.ts'

interface VoteFlags extends CommonFlags {
  scope: string
  reason?: string
  epoch?: string
}

interface HaltStatus {
  enabled: boolean
  validators: Array<{ peerId: string; address: string }>
  quorum: number | null
  halted: Array<{ scope: string; epoch: number; reason: string; appliedAt: number; voters: string[] }>
  certificates: Array<{ scope: string; epoch: number; action: string; voters: string[]; appliedAt: number }>
  pending: Array<{ scope: string; epoch: number; halt: string[]; resume: string[]; equivocators: string[] }>
  evidence: Array<{ id: string; validator: string; address?: string; scope: string; epoch: number }>
}

const short = (peer: string) => (peer.length > 16 ? `${peer.slice(0, 6)}…${peer.slice(-6)}` : peer)

/**
 * `prsm safety halt|resume --scope … --reason …` and `prsm safety status`, added to the `safety`
 * command by safety.ts.
 */
export function addHaltCommands(safety: Command): void {
  for (const action of ['halt', 'resume'] as const) {
    safety
      .command(action)
      .description(
        action === 'halt'
          ? "sign this validator's halt vote for a scope and gossip it; a quorum of validators forms a certificate"
          : "sign this validator's resume vote for a halted scope",
      )
      .requiredOption('--scope <scope>', 'network, provider:PEER_ID, model:NAME or capability:KIND:NAME')
      .option('--reason <text>', 'why (signed into the vote)', '')
      .option('--epoch <n>', 'vote epoch (default: one past the newest certificate of the scope)')
      .addOption(dataDirOption())
      .addOption(jsonOption())
      .action((flags: VoteFlags) => haltVoteCommand(action, flags))
  }
  safety
    .command('status')
    .description('validator set, quorum, halted scopes, pending votes and equivocation evidence')
    .addOption(dataDirOption())
    .addOption(jsonOption())
    .action(haltStatusCommand)
}

export async function haltVoteCommand(action: 'halt' | 'resume', flags: VoteFlags): Promise<void> {
  const r = await post<{ vote: { vote: { epoch: number } }; certificate?: { votes: unknown[] } }>(
    flags,
    '/api/v1/safety/halts/votes',
    {
      scope: flags.scope,
      action,
      reason: flags.reason ?? '',
      ...(flags.epoch === undefined ? {} : { epoch: Number(flags.epoch) }),
    },
  )
  if (flags.json) return printJson(r)
  process.stdout.write(`${action} vote for ${flags.scope} (epoch ${r.vote.vote.epoch}) signed and gossiped\n`)
  if (r.certificate !== undefined) {
    process.stdout.write(`quorum reached: certificate with ${r.certificate.votes.length} votes is enforced\n`)
  }
}

export async function haltStatusCommand(flags: CommonFlags): Promise<void> {
  const s = await get<HaltStatus>(flags, '/api/v1/safety/halts')
  if (flags.json) return printJson(s)
  const out: string[] = []
  out.push(
    s.enabled
      ? `validators  ${s.validators.length} (quorum ${s.quorum ?? '-'})`
      : 'validators  none: no chain configured (halts cannot be verified)',
  )
  out.push(
    s.halted.length === 0
      ? 'halted      nothing'
      : table(
          ['halted scope', 'epoch', 'since', 'votes', 'reason'],
          s.halted.map((h) => [
            h.scope,
            String(h.epoch),
            new Date(h.appliedAt).toISOString(),
            String(h.voters.length),
            h.reason,
          ]),
        ),
  )
  if (s.certificates.length > 0) {
    out.push(
      table(
        ['certificate scope', 'epoch', 'action', 'votes'],
        s.certificates.map((c) => [c.scope, String(c.epoch), c.action, String(c.voters.length)]),
      ),
    )
  }
  if (s.pending.length > 0) {
    out.push(
      table(
        ['pending scope', 'epoch', 'halt', 'resume', 'equivocators'],
        s.pending.map((p) => [
          p.scope,
          String(p.epoch),
          String(p.halt.length),
          String(p.resume.length),
          p.equivocators.map(short).join(',') || '-',
        ]),
      ),
    )
  }
  if (s.evidence.length > 0) {
    out.push(
      table(
        ['evidence', 'validator', 'wallet', 'scope', 'epoch'],
        s.evidence.map((e) => [
          e.id.slice(0, 16),
          short(e.validator),
          e.address ?? '-',
          e.scope,
          String(e.epoch),
        ]),
      ),
    )
  }
  process.stdout.write(`${out.join('\n\n')}\n`)
}
