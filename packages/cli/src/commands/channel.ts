import { PrsmError } from '@prsm/core'
import type { Command } from 'commander'
import { printJson, table } from '../output.ts'
import {
  type Amount,
  type CommonFlags,
  dataDirOption,
  fields,
  ftnsFlag,
  get,
  jsonOption,
  parseDuration,
  post,
  showAmount,
} from './ledger-common.ts'

const collect = (value: string, previous: string[] = []): string[] => [...previous, value]

/** `prsm channel open|list|pay|topup|extend|claim|close`. */
export function registerChannelCommands(program: Command): void {
  const channel = program.command('channel').description('FTNS payment channels')
  channel
    .command('open')
    .description('escrow a deposit for a payee (a PeerId or a 0x address) in a new channel')
    .requiredOption('--to <peerOrAddress>', 'the payee: its PeerId (12D3KooW…) or wallet address (0x…)')
    .requiredOption('--deposit <ftns>', 'deposit in FTNS, e.g. 10')
    .option('--expiry <duration>', 'lifetime, e.g. 3600, 90m, 12h, 7d (default 7d)')
    .addOption(dataDirOption())
    .addOption(jsonOption())
    .action(channelOpenCommand)
  channel
    .command('list')
    .description('channels this node pays through and is paid through')
    .addOption(dataDirOption())
    .addOption(jsonOption())
    .action(channelListCommand)
  channel
    .command('pay')
    .description("sign the next voucher on a channel and deliver it to the payee's node")
    .argument('<channel>', 'channel id (0x…)')
    .requiredOption('--amount <ftns>', 'amount in FTNS added by this voucher')
    .option(
      '--royalty <creator=ftns>',
      'part of the amount owed to a creator, e.g. 0xabc…=0.01 (repeatable)',
      collect,
    )
    .option('--peer <peerId>', 'deliver to this node (default: the one the channel was opened to)')
    .addOption(dataDirOption())
    .addOption(jsonOption())
    .action(channelPayCommand)
  channel
    .command('topup')
    .description('add to the deposit of a channel this node pays through')
    .argument('<channel>', 'channel id (0x…)')
    .requiredOption('--amount <ftns>', 'amount in FTNS')
    .addOption(dataDirOption())
    .addOption(jsonOption())
    .action(channelTopUpCommand)
  channel
    .command('extend')
    .description('move the expiry of a channel this node pays through')
    .argument('<channel>', 'channel id (0x…)')
    .requiredOption('--expiry <duration>', 'new lifetime from now, e.g. 7d')
    .addOption(dataDirOption())
    .addOption(jsonOption())
    .action(channelExtendCommand)
  channel
    .command('claim')
    .description('payee: claim the newest accepted voucher on chain now (the channel stays open)')
    .argument('<channel>', 'channel id (0x…)')
    .addOption(dataDirOption())
    .addOption(jsonOption())
    .action(channelClaimCommand)
  channel
    .command('close')
    .description('payee: final claim and close (rest back to the payer); payer: reclaim after expiry')
    .argument('<channel>', 'channel id (0x…)')
    .addOption(dataDirOption())
    .addOption(jsonOption())
    .action(channelCloseCommand)
}

interface PayerChannel {
  channel: string
  role: 'payer'
  payee: string
  peer: string | null
  deposit: Amount
  paid: Amount
  remaining: Amount
  expiresAt: string
  closed: boolean
}

interface PayeeChannel {
  channel: string
  role: 'payee'
  payer: string
  received: Amount
  claimed: Amount
  unclaimed: Amount
  deposit: Amount | null
  expiresAt: string | null
  closed: boolean
}

function channelArg(channel: string): string {
  if (!/^0x[0-9a-fA-F]{64}$/.test(channel)) {
    throw new PrsmError('VALIDATION_FAILED', `${channel}: expected a channel id (0x and 64 hex digits)`)
  }
  return channel.toLowerCase()
}

export async function channelOpenCommand(
  flags: CommonFlags & { to: string; deposit: string; expiry?: string },
): Promise<void> {
  const body = {
    to: flags.to,
    deposit: ftnsFlag('--deposit', flags.deposit),
    ...(flags.expiry === undefined ? {} : { expirySeconds: parseDuration('--expiry', flags.expiry) }),
  }
  const opened = await post<PayerChannel & { txHash: string; gasUsed: string }>(
    flags,
    '/api/v1/channels',
    body,
  )
  if (flags.json === true) return printJson(opened)
  process.stdout.write(
    fields([
      ['channel', opened.channel],
      ['payee', `${opened.payee}${opened.peer ? ` (${opened.peer})` : ''}`],
      ['deposit', showAmount(opened.deposit)],
      ['expires', opened.expiresAt],
      ['tx', `${opened.txHash} (gas ${opened.gasUsed})`],
    ]),
  )
}

export async function channelListCommand(flags: CommonFlags): Promise<void> {
  const { channels } = await get<{ channels: Array<PayerChannel | PayeeChannel> }>(flags, '/api/v1/channels')
  if (flags.json === true) return printJson(channels)
  if (channels.length === 0) {
    process.stdout.write('no channels\n')
    return
  }
  const state = (c: { closed: boolean }) => (c.closed ? 'closed' : 'open')
  process.stdout.write(
    `${table(
      ['CHANNEL', 'ROLE', 'COUNTERPARTY', 'DEPOSIT', 'PAID', 'CLAIMED', 'EXPIRES', 'STATE'],
      channels.map((c) =>
        c.role === 'payer'
          ? [c.channel, 'payer', c.payee, c.deposit.ftns, c.paid.ftns, '', c.expiresAt, state(c)]
          : [
              c.channel,
              'payee',
              c.payer,
              c.deposit?.ftns ?? '?',
              c.received.ftns,
              c.claimed.ftns,
              c.expiresAt ?? '?',
              state(c),
            ],
      ),
    )}\namounts in FTNS\n`,
  )
}

/** `--royalty CREATOR=FTNS` → `{ creator, amount }` (wei string). */
export function parseRoyaltyFlag(text: string): { creator: string; amount: string } {
  const eq = text.indexOf('=')
  const creator = text.slice(0, eq)
  if (eq <= 0 || !/^0x[0-9a-fA-F]{40}$/.test(creator)) {
    throw new PrsmError(
      'VALIDATION_FAILED',
      `--royalty ${text}: expected CREATOR_ADDRESS=FTNS, e.g. 0xabc…=0.01`,
    )
  }
  return { creator, amount: ftnsFlag('--royalty', text.slice(eq + 1)) }
}

export async function channelPayCommand(
  channel: string,
  flags: CommonFlags & { amount: string; royalty?: string[]; peer?: string },
): Promise<void> {
  const id = channelArg(channel)
  const body = {
    amount: ftnsFlag('--amount', flags.amount),
    ...(flags.royalty === undefined ? {} : { royalties: flags.royalty.map(parseRoyaltyFlag) }),
    ...(flags.peer === undefined ? {} : { peer: flags.peer }),
  }
  const receipt = await post<{
    channel: string
    peer: string
    payee: string
    amount: Amount
    increment: Amount
    cumulativeAmount: Amount
  }>(flags, `/api/v1/channels/${id}/pay`, body)
  if (flags.json === true) return printJson(receipt)
  process.stdout.write(
    `paid ${showAmount(receipt.increment)} to ${receipt.peer}; ${receipt.cumulativeAmount.ftns} FTNS in total on the channel\n`,
  )
}

export async function channelTopUpCommand(
  channel: string,
  flags: CommonFlags & { amount: string },
): Promise<void> {
  const result = await post<PayerChannel & { txHash: string }>(
    flags,
    `/api/v1/channels/${channelArg(channel)}/topup`,
    {
      amount: ftnsFlag('--amount', flags.amount),
    },
  )
  if (flags.json === true) return printJson(result)
  process.stdout.write(`deposit now ${showAmount(result.deposit)}\n  tx ${result.txHash}\n`)
}

export async function channelExtendCommand(
  channel: string,
  flags: CommonFlags & { expiry: string },
): Promise<void> {
  const result = await post<PayerChannel & { txHash: string }>(
    flags,
    `/api/v1/channels/${channelArg(channel)}/extend`,
    {
      expirySeconds: parseDuration('--expiry', flags.expiry),
    },
  )
  if (flags.json === true) return printJson(result)
  process.stdout.write(`expires ${result.expiresAt}\n  tx ${result.txHash}\n`)
}

interface SettleResult {
  channel: string
  action: string
  cumulativeAmount?: Amount
  claimedOnChain?: Amount
  refunded?: Amount
  txHash: string | null
  detail?: string
}

function printSettle(result: SettleResult): void {
  const rows: Array<[string, string]> = [
    ['channel', result.channel],
    ['action', result.action],
  ]
  if (result.claimedOnChain) rows.push(['claimed', showAmount(result.claimedOnChain)])
  if (result.refunded) rows.push(['refunded', showAmount(result.refunded)])
  if (result.txHash) rows.push(['tx', result.txHash])
  if (result.detail) rows.push(['detail', result.detail])
  process.stdout.write(fields(rows))
}

/** A claim that failed or came too late is an error (exit 1) carrying the reconciler's result. */
function settled(verb: string, result: SettleResult): void {
  if (result.action === 'failed' || result.action === 'expired') {
    throw new PrsmError('CHAIN_TX_REVERTED', `${verb} ${result.action}: ${result.detail ?? ''}`, {
      details: { ...result },
    })
  }
}

export async function channelClaimCommand(channel: string, flags: CommonFlags): Promise<void> {
  const result = await post<SettleResult>(flags, `/api/v1/channels/${channelArg(channel)}/claim`)
  settled('claim', result)
  if (flags.json === true) return printJson(result)
  printSettle(result)
}

export async function channelCloseCommand(channel: string, flags: CommonFlags): Promise<void> {
  const result = await post<SettleResult>(flags, `/api/v1/channels/${channelArg(channel)}/close`)
  settled('close', result)
  if (flags.json === true) return printJson(result)
  printSettle(result)
}
