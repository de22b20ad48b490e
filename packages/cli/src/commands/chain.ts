import { join, resolve } from 'node:path'
import { formatFtns, PrsmError } from '@prsm/core'
import type { Command } from 'commander'
import { resolveDataDir } from '../data-dir.ts'
import { printJson, table } from '../output.ts'
import { type CommonFlags, dataDirOption, fields, get, jsonOption } from './ledger-common.ts'

/** `prsm devnet up`, `prsm chain deploy|info|params`. */
export function registerChainCommands(program: Command): void {
  const devnet = program.command('devnet').description('a local development chain (anvil) with PRSM deployed')
  devnet
    .command('up')
    .description(
      'start anvil on a free loopback port, deploy the contracts, fund the development accounts and write the deployment file; runs until Ctrl-C',
    )
    .option('--dir <dir>', 'directory for deployment.json and the chain state (default: <data-dir>/devnet)')
    .addOption(dataDirOption())
    .option('--reset', 'discard the chain state kept in the directory and deploy afresh')
    .option('--json', 'print one JSON line once the devnet is ready')
    .action(devnetUpCommand)

  const chain = program.command('chain').description('the chain PRSM settles on')
  chain
    .command('deploy')
    .description("deploy the PRSM contracts to any EVM chain, paid by this data directory's wallet")
    .requiredOption('--rpc <url>', 'JSON-RPC URL of the chain')
    .addOption(dataDirOption())
    .option('--out <file>', 'where to write the deployment file (default: <data-dir>/deployment.json)')
    .addOption(jsonOption())
    .action(chainDeployCommand)
  chain
    .command('info')
    .description("the running node's chain: chain id, RPC URL, contract addresses, wallet")
    .addOption(dataDirOption())
    .addOption(jsonOption())
    .action(chainInfoCommand)
  chain
    .command('params')
    .description('network parameters as the running node sees them (governance changes apply live)')
    .addOption(dataDirOption())
    .addOption(jsonOption())
    .action(chainParamsCommand)
}

interface DevnetUpFlags {
  dir?: string
  dataDir?: string
  reset?: boolean
  json?: boolean
}

/** `prsm devnet up`: anvil + contracts + funded accounts, in the foreground until SIGINT/SIGTERM. */
export async function devnetUpCommand(flags: DevnetUpFlags): Promise<void> {
  const { rm } = await import('node:fs/promises')
  const { DEFAULT_DEV_FUNDING, DEPLOYMENT_FILE, startDevnet } = await import('@prsm/contracts')
  const { getAddress } = await import('viem')
  const dir = resolve(flags.dir ?? join(resolveDataDir(flags.dataDir), 'devnet'))
  if (flags.reset === true) {
    await rm(join(dir, 'anvil-state.json'), { force: true })
    await rm(join(dir, DEPLOYMENT_FILE), { force: true })
  }
  // A signal during start-up stops anvil too (it is only in our process group on a terminal).
  const starting = new AbortController()
  const abortStart = (): void => starting.abort(new Error('interrupted'))
  process.once('SIGINT', abortStart)
  process.once('SIGTERM', abortStart)
  let devnet: Awaited<ReturnType<typeof startDevnet>>
  try {
    devnet = await startDevnet({ dir, signal: starting.signal })
  } catch (err) {
    if (starting.signal.aborted) process.exit(1)
    throw new PrsmError('CHAIN_UNAVAILABLE', `the devnet did not start: ${(err as Error).message}`, {
      cause: err,
    })
  }
  process.off('SIGINT', abortStart)
  process.off('SIGTERM', abortStart)
  const { deployment, deploymentFile, anvil } = devnet
  const accounts = deployment.devnet?.accounts ?? []
  if (flags.json === true) {
    process.stdout.write(
      `${JSON.stringify({
        deploymentFile,
        rpcUrl: deployment.rpcUrl,
        chainId: deployment.chainId,
        addresses: deployment.addresses,
        faucet: deployment.devnet?.faucet.address,
        accounts: accounts.map((a) => a.address),
        anvilPid: anvil.pid,
      })}\n`,
    )
  } else {
    process.stdout.write(
      [
        'PRSM devnet running (Ctrl-C to stop)',
        fields(
          [
            ['rpc', deployment.rpcUrl],
            ['chain id', String(deployment.chainId)],
            ['deployment', String(deploymentFile)],
            ...Object.entries(deployment.addresses).map(([name, a]): [string, string] => [
              name,
              getAddress(a),
            ]),
            [
              'faucet',
              getAddress(deployment.devnet?.faucet.address ?? '0x0000000000000000000000000000000000000000'),
            ],
            [
              'dev accounts',
              `${accounts.length} × ${formatFtns(DEFAULT_DEV_FUNDING)} FTNS (anvil's published keys)`,
            ],
          ],
          '  ',
        ).trimEnd(),
        '',
        `Start a node on it:  prsm node start --devnet ${deploymentFile}`,
        '',
      ].join('\n'),
    )
  }

  const code = await new Promise<number>((done) => {
    let stopping = false
    const stop = (reason: string, exitCode: number): void => {
      if (stopping) return
      stopping = true
      clearInterval(watch)
      process.stderr.write(`${reason}: stopping the devnet\n`)
      devnet.stop().then(
        () => done(exitCode),
        () => done(1),
      )
    }
    // anvil dying on its own ends the command with a failure
    const watch = setInterval(() => {
      try {
        process.kill(anvil.pid, 0)
      } catch {
        stop('anvil exited', 1)
      }
    }, 1_000)
    process.on('SIGINT', () => stop('SIGINT', 0))
    process.on('SIGTERM', () => stop('SIGTERM', 0))
  })
  process.exit(code)
}

interface ChainDeployFlags extends CommonFlags {
  rpc: string
  out?: string
}

/** `prsm chain deploy --rpc URL`: the production profile (all supply to the treasury, real periods). */
export async function chainDeployCommand(flags: ChainDeployFlags): Promise<void> {
  const { chainOf, deployAll, writeDeployment } = await import('@prsm/contracts')
  const { unlockIdentity } = await import('../password.ts')
  const { createPublicClient, createWalletClient, formatEther, http } = await import('viem')
  const { privateKeyToAccount } = await import('viem/accounts')
  const dataDir = resolveDataDir(flags.dataDir)
  if (!/^(https?|wss?):\/\//.test(flags.rpc)) {
    throw new PrsmError('VALIDATION_FAILED', `--rpc ${flags.rpc}: expected an http(s) or ws(s) URL`)
  }
  const identity = await unlockIdentity(dataDir)
  const out = resolve(flags.out ?? join(dataDir, 'deployment.json'))
  let chainId: number
  let gas: bigint
  try {
    const probe = createPublicClient({ transport: http(flags.rpc) })
    chainId = await probe.getChainId()
    gas = await probe.getBalance({ address: identity.address })
  } catch (err) {
    throw new PrsmError('CHAIN_UNAVAILABLE', `cannot reach ${flags.rpc}: ${(err as Error).message}`, {
      cause: err,
    })
  }
  if (gas === 0n) {
    throw new PrsmError(
      'WALLET_INSUFFICIENT_FUNDS',
      `the deployer ${identity.address} has no gas on chain ${chainId}`,
      {
        details: { address: identity.address, chainId },
      },
    )
  }
  const wallet = createWalletClient({
    account: privateKeyToAccount(identity.walletKey),
    chain: chainOf({ chainId, rpcUrl: flags.rpc }),
    transport: http(flags.rpc),
  })
  let deployment: Awaited<ReturnType<typeof deployAll>>
  try {
    deployment = await deployAll(wallet, { devnet: false, rpcUrl: flags.rpc })
  } catch (err) {
    throw new PrsmError('CHAIN_TX_REVERTED', `deployment failed: ${(err as Error).message}`, { cause: err })
  }
  writeDeployment(out, deployment)
  const spent =
    gas - (await createPublicClient({ transport: http(flags.rpc) }).getBalance({ address: identity.address }))
  if (flags.json === true) {
    return printJson({
      deploymentFile: out,
      ...deployment,
      deployer: identity.address,
      gasCost: spent.toString(),
    })
  }
  process.stdout.write(
    fields([
      ['deployment', out],
      ['chain id', String(chainId)],
      ['rpc', flags.rpc],
      ['deployer', identity.address],
      ['gas cost', `${formatEther(spent)} ETH`],
      ...Object.entries(deployment.addresses).map(([name, a]): [string, string] => [name, a]),
    ]),
  )
}

/** `prsm chain info` */
export async function chainInfoCommand(flags: CommonFlags): Promise<void> {
  const info = await get<{
    chainId: number
    rpcUrl: string
    deployBlock: string
    addresses: Record<string, string>
    devnet: boolean
    wallet: string
  }>(flags, '/api/v1/chain')
  if (flags.json === true) return printJson(info)
  process.stdout.write(
    fields([
      ['chain id', `${info.chainId}${info.devnet ? ' (devnet)' : ''}`],
      ['rpc', info.rpcUrl],
      ['wallet', info.wallet],
      ...Object.entries(info.addresses).map(([name, a]): [string, string] => [name, a]),
    ]),
  )
}

/** `prsm chain params` */
export async function chainParamsCommand(flags: CommonFlags): Promise<void> {
  const result = await get<{ version: string; parameters: Record<string, string> }>(
    flags,
    '/api/v1/chain/parameters',
  )
  if (flags.json === true) return printJson(result)
  process.stdout.write(
    `${table(
      ['PARAMETER', 'VALUE'],
      Object.entries(result.parameters).map(([name, value]) => [name, describeParameter(name, value)]),
    )}\nregistry version ${result.version}\n`,
  )
}

/** A parameter in its unit: stakes in FTNS, rates in basis points and per cent, periods in seconds. */
export function describeParameter(name: string, value: string): string {
  if (name.endsWith('Stake')) return `${formatFtns(BigInt(value))} FTNS`
  if (name.endsWith('Bps')) return `${value} bps (${Number(value) / 100} %)`
  if (name.endsWith('Seconds') || name.endsWith('Period')) return `${value} s`
  return value
}
