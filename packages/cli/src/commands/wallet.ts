import { PrsmError } from '@prsm/core'
import type { Command } from 'commander'
import { resolveDataDir } from '../data-dir.ts'
import { printJson } from '../output.ts'
import {
  type Amount,
  type CommonFlags,
  dataDirOption,
  fields,
  ftnsFlag,
  get,
  jsonOption,
  post,
  showAmount,
} from './ledger-common.ts'

/** `prsm wallet address|balance|transfer` and `prsm stake add|unbond|withdraw|status`. */
export function registerWalletCommands(program: Command): void {
  const wallet = program.command('wallet').description("the node's FTNS wallet")
  wallet
    .command('address')
    .description('the wallet address (read from the keystore; no running node needed)')
    .addOption(dataDirOption())
    .addOption(jsonOption())
    .action(walletAddressCommand)
  wallet
    .command('balance')
    .description('FTNS and gas balance of the wallet (or of any address with --of)')
    .option('--of <address>', 'another address')
    .addOption(dataDirOption())
    .addOption(jsonOption())
    .action(walletBalanceCommand)
  wallet
    .command('transfer')
    .description('send FTNS to an address')
    .requiredOption('--to <address>', 'recipient address')
    .requiredOption('--amount <ftns>', 'amount in FTNS, e.g. 12.5')
    .addOption(dataDirOption())
    .addOption(jsonOption())
    .action(walletTransferCommand)

  const stake = program.command('stake').description('provider stake in the ProviderRegistry')
  stake
    .command('add')
    .description('register as a provider with this stake (binding the PeerId), or add to the stake')
    .requiredOption('--amount <ftns>', 'amount in FTNS (at least minStake to register)')
    .option('--validator', 'register as a validator (counts in the validator set with validatorStake)')
    .addOption(dataDirOption())
    .addOption(jsonOption())
    .action(stakeAddCommand)
  stake
    .command('unbond')
    .description('start unbonding stake (all of it deregisters); withdraw after the unbonding period')
    .requiredOption('--amount <ftns>', 'amount in FTNS')
    .addOption(dataDirOption())
    .addOption(jsonOption())
    .action(stakeUnbondCommand)
  stake
    .command('withdraw')
    .description('withdraw stake whose unbonding period is over')
    .addOption(dataDirOption())
    .addOption(jsonOption())
    .action(stakeWithdrawCommand)
  stake
    .command('status')
    .description('stake, unbonding and registration (of this wallet or --of ADDRESS)')
    .option('--of <address>', 'another address')
    .addOption(dataDirOption())
    .addOption(jsonOption())
    .action(stakeStatusCommand)
}

export async function walletAddressCommand(flags: CommonFlags): Promise<void> {
  const { readPublicIdentity } = await import('@prsm/node')
  const dataDir = resolveDataDir(flags.dataDir)
  const identity = await readPublicIdentity(dataDir).catch((err: { code?: string }) => {
    if (err.code === 'KEYSTORE_MISSING') {
      throw new PrsmError(
        'DATA_DIR_MISSING',
        `${dataDir} has no keys: run prsm init --data-dir ${dataDir} first`,
      )
    }
    throw err
  })
  if (flags.json === true) return printJson({ address: identity.address, peerId: identity.peerId })
  process.stdout.write(`${identity.address}\n`)
}

interface Balance {
  address: string
  chainId: number
  ftns: Amount
  eth: { wei: string; eth: string }
}

export async function walletBalanceCommand(flags: CommonFlags & { of?: string }): Promise<void> {
  const query = flags.of === undefined ? '' : `?of=${encodeURIComponent(flags.of)}`
  const balance = await get<Balance>(flags, `/api/v1/wallet${query}`)
  if (flags.json === true) return printJson(balance)
  process.stdout.write(
    fields([
      ['address', balance.address],
      ['FTNS', showAmount(balance.ftns)],
      ['gas', `${balance.eth.eth} ETH`],
      ['chain id', String(balance.chainId)],
    ]),
  )
}

export async function walletTransferCommand(
  flags: CommonFlags & { to: string; amount: string },
): Promise<void> {
  const result = await post<{ from: string; to: string; amount: Amount; txHash: string }>(
    flags,
    '/api/v1/wallet/transfer',
    { to: flags.to, amount: ftnsFlag('--amount', flags.amount) },
  )
  if (flags.json === true) return printJson(result)
  process.stdout.write(`sent ${showAmount(result.amount)} to ${result.to}\n  tx ${result.txHash}\n`)
}

interface StakeStatus {
  address: string
  registered: boolean
  validator: boolean
  inValidatorSet: boolean
  stake: Amount
  unbonding: Amount
  unbondingEnd: number
  minStake: Amount
  peerId: string
}

export async function stakeAddCommand(
  flags: CommonFlags & { amount: string; validator?: boolean },
): Promise<void> {
  const result = await post<{ added: Amount; registered: boolean; txHash: string }>(flags, '/api/v1/stake', {
    amount: ftnsFlag('--amount', flags.amount),
    ...(flags.validator === true ? { validator: true } : {}),
  })
  if (flags.json === true) return printJson(result)
  process.stdout.write(
    `${result.registered ? 'registered as a provider with' : 'added'} ${showAmount(result.added)}\n  tx ${result.txHash}\n`,
  )
}

export async function stakeUnbondCommand(flags: CommonFlags & { amount: string }): Promise<void> {
  const result = await post<{ unbonding: Amount; withdrawableAt: string; txHash: string }>(
    flags,
    '/api/v1/stake/unbond',
    { amount: ftnsFlag('--amount', flags.amount) },
  )
  if (flags.json === true) return printJson(result)
  process.stdout.write(
    `unbonding ${showAmount(result.unbonding)}; withdraw from ${result.withdrawableAt}\n  tx ${result.txHash}\n`,
  )
}

export async function stakeWithdrawCommand(flags: CommonFlags): Promise<void> {
  const result = await post<{ withdrawn: Amount; txHash: string }>(flags, '/api/v1/stake/withdraw')
  if (flags.json === true) return printJson(result)
  process.stdout.write(`withdrew ${showAmount(result.withdrawn)}\n  tx ${result.txHash}\n`)
}

export async function stakeStatusCommand(flags: CommonFlags & { of?: string }): Promise<void> {
  const query = flags.of === undefined ? '' : `?of=${encodeURIComponent(flags.of)}`
  const s = await get<StakeStatus>(flags, `/api/v1/stake${query}`)
  if (flags.json === true) return printJson(s)
  const end =
    s.unbondingEnd > 0 ? ` (withdrawable from ${new Date(s.unbondingEnd * 1000).toISOString()})` : ''
  process.stdout.write(
    fields([
      ['address', s.address],
      ['registered', s.registered ? `yes${s.validator ? ', validator' : ''}` : 'no'],
      ['stake', showAmount(s.stake)],
      ['unbonding', `${showAmount(s.unbonding)}${end}`],
      ['in validator set', s.inValidatorSet ? 'yes' : 'no'],
      ['min stake', showAmount(s.minStake)],
    ]),
  )
}
