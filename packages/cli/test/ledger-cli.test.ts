import assert from 'node:assert/strict'
import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { devnetFaucetVoter, parameterProposal, passProposalOnDevnet, readDeployment } from '@prsm/contracts'
import { formatFtns, parseFtns } from '@prsm/core'
import { splitPayment } from '@prsm/economics'

const BIN = fileURLToPath(new URL('../src/bin.ts', import.meta.url))
const execFileP = promisify(execFile)
const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('PRSM_')))

interface Result {
  code: number
  stdout: string
  stderr: string
}

/** Runs `prsm ARGS` to completion with Node 24 and no inherited PRSM_* settings. */
async function prsm(args: string[]): Promise<Result> {
  try {
    const { stdout, stderr } = await execFileP(process.execPath, [BIN, ...args], {
      env: { ...clean, PRSM_LOG_LEVEL: 'warn' },
      timeout: 120_000,
    })
    return { code: 0, stdout, stderr }
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string }
    return { code: e.code, stdout: e.stdout, stderr: e.stderr }
  }
}

/** `prsm ARGS --json`, expecting success; the parsed output. */
async function json<T = Record<string, unknown>>(args: string[]): Promise<T> {
  const result = await prsm([...args, '--json'])
  assert.equal(result.code, 0, `prsm ${args.join(' ')}: ${result.stderr}${result.stdout}`)
  return JSON.parse(result.stdout) as T
}

interface Amount {
  wei: string
  ftns: string
}

describe('FTNS on chain through the prsm CLI', () => {
  let root: string
  const children: ChildProcess[] = []
  const logs = new Map<string, string>()
  let anvilPid: number | undefined
  let deploymentFile: string
  let rpcUrl: string
  const dir = (name: string) => join(root, name)

  /** Spawns a long-running `prsm …` and collects its output under `name`. */
  function background(name: string, args: string[]): ChildProcess {
    const child = spawn(process.execPath, [BIN, ...args], {
      // nodes check the parameter registry often, so the governance test sees changes quickly
      env: { ...clean, PRSM_LOG_LEVEL: 'warn', PRSM_CHAIN_PARAMETER_POLL_MS: '200' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    children.push(child)
    logs.set(name, '')
    const append = (d: Buffer) => logs.set(name, `${logs.get(name)}${d.toString()}`)
    child.stdout?.on('data', append)
    child.stderr?.on('data', append)
    return child
  }

  async function startNode(name: string, args: string[]): Promise<{ peerId: string; multiaddrs: string[] }> {
    const child = background(name, ['node', 'start', '--data-dir', dir(name), ...args])
    const deadline = Date.now() + 60_000
    while (Date.now() < deadline && child.exitCode === null) {
      const info = await readFile(join(dir(name), 'node.json'), 'utf8').catch(() => undefined)
      if (info !== undefined) return JSON.parse(info) as { peerId: string; multiaddrs: string[] }
      await new Promise((r) => setTimeout(r, 100))
    }
    throw new Error(`node ${name} did not start: ${logs.get(name)}`)
  }

  const ftns = async (name: string, of?: string): Promise<bigint> =>
    BigInt(
      (
        await json<{ ftns: Amount }>([
          'wallet',
          'balance',
          '--data-dir',
          dir(name),
          ...(of === undefined ? [] : ['--of', of]),
        ])
      ).ftns.wei,
    )

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'prsm-ledger-cli-'))
    for (const name of ['a', 'b', 'c']) {
      assert.equal((await prsm(['init', '--data-dir', dir(name), '--insecure-no-password'])).code, 0)
    }
  })
  after(async () => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL')
    if (anvilPid !== undefined) {
      try {
        process.kill(anvilPid, 'SIGKILL')
      } catch {}
    }
    await rm(root, { recursive: true, force: true })
  })

  it('prsm devnet up starts anvil, deploys and writes the deployment file', async () => {
    const devnet = background('devnet', ['devnet', 'up', '--dir', dir('devnet'), '--json'])
    const line = await new Promise<string>((resolve, reject) => {
      let out = ''
      devnet.stdout?.on('data', (d: Buffer) => {
        out += d.toString()
        const nl = out.indexOf('\n')
        if (nl >= 0) resolve(out.slice(0, nl))
      })
      devnet.once('exit', (code) => reject(new Error(`devnet up exited ${code}: ${logs.get('devnet')}`)))
    })
    const ready = JSON.parse(line) as {
      deploymentFile: string
      rpcUrl: string
      chainId: number
      addresses: Record<string, string>
      anvilPid: number
    }
    anvilPid = ready.anvilPid
    deploymentFile = ready.deploymentFile
    rpcUrl = ready.rpcUrl
    assert.equal(deploymentFile, join(dir('devnet'), 'deployment.json'))
    assert.match(rpcUrl, /^http:\/\/127\.0\.0\.1:\d+$/)
    const written = JSON.parse(await readFile(deploymentFile, 'utf8')) as typeof ready
    assert.equal(written.rpcUrl, rpcUrl)
    assert.equal(written.chainId, 31_337)
    assert.deepEqual(Object.keys(written.addresses).sort(), [
      'channels',
      'governor',
      'parameters',
      'providers',
      'timelock',
      'token',
    ])
  })

  it('two nodes: one opens a channel to the other, pays five vouchers, the other claims; balances match to the wei', async () => {
    const a = await startNode('a', ['--devnet', deploymentFile])
    const boot = a.multiaddrs.find((m) => !m.includes('/ws')) as string
    const b = await startNode('b', ['--devnet', deploymentFile, '--bootstrap', boot])
    const deadline = Date.now() + 15_000
    while (Date.now() < deadline) {
      const peers = await json<Array<{ peerId: string }>>(['peers', '--data-dir', dir('a')])
      if (peers.some((p) => p.peerId === b.peerId)) break
    }

    // what the split will be, from the live parameters and the economics rules
    const { parameters } = await json<{ parameters: Record<string, string> }>([
      'chain',
      'params',
      '--data-dir',
      dir('a'),
    ])
    const feeBps = BigInt(parameters.networkFeeBps as string)
    const royaltyCapBps = BigInt(parameters.royaltyCapBps as string)
    const chain = await json<{ addresses: { timelock: string } }>(['chain', 'info', '--data-dir', dir('a')])
    const treasury = chain.addresses.timelock
    const creator = '0x000000000000000000000000000000000000c0de'
    const price = parseFtns('0.25')
    const royalties = [{ creator, bps: 500n }]
    const perVoucher = splitPayment({ amount: price, feeBps, royalties, royaltyCapBps })
    const royalty = perVoucher.royalties[0]?.amount as bigint

    const before = {
      a: await ftns('a'),
      b: await ftns('b'),
      treasury: await ftns('a', treasury),
      creator: await ftns('a', creator),
    }
    assert.equal(before.a, parseFtns('1000000'), 'node a was funded from the faucet')
    assert.equal(before.b, parseFtns('1000000'), 'node b was funded from the faucet')

    const opened = await json<{ channel: string; payee: string; peer: string; deposit: Amount }>([
      'channel',
      'open',
      '--to',
      b.peerId,
      '--deposit',
      '10',
      '--expiry',
      '1d',
      '--data-dir',
      dir('a'),
    ])
    assert.equal(opened.peer, b.peerId)
    assert.equal(opened.deposit.ftns, '10')
    for (let i = 1n; i <= 5n; i++) {
      const paid = await json<{ increment: Amount; cumulativeAmount: Amount }>([
        'channel',
        'pay',
        opened.channel,
        '--amount',
        '0.25',
        '--royalty',
        `${creator}=${formatFtns(royalty)}`,
        '--data-dir',
        dir('a'),
      ])
      assert.equal(paid.increment.wei, price.toString())
      assert.equal(paid.cumulativeAmount.wei, (i * price).toString())
    }
    const payeeView = await json<Array<{ channel: string; role: string; received: Amount; claimed: Amount }>>(
      ['channel', 'list', '--data-dir', dir('b')],
    )
    assert.deepEqual(
      payeeView.map((c) => [c.channel, c.role, c.received.wei, c.claimed.wei]),
      [[opened.channel, 'payee', (5n * price).toString(), '0']],
    )

    const claim = await json<{ action: string; claimedOnChain: Amount; txHash: string }>([
      'channel',
      'claim',
      opened.channel,
      '--data-dir',
      dir('b'),
    ])
    assert.equal(claim.action, 'claimed')
    assert.equal(claim.claimedOnChain.wei, (5n * price).toString())

    const total = 5n * price
    const expected = splitPayment({ amount: total, feeBps, royalties, royaltyCapBps })
    assert.equal(expected.provider + expected.fee + (expected.royalties[0]?.amount ?? 0n), total)
    const afterwards = {
      a: await ftns('a'),
      b: await ftns('b'),
      treasury: await ftns('a', treasury),
      creator: await ftns('a', creator),
    }
    assert.equal(before.a - afterwards.a, parseFtns('10'), 'the payer escrowed the deposit')
    assert.equal(afterwards.b - before.b, expected.provider, 'the payee got the rest')
    assert.equal(afterwards.treasury - before.treasury, expected.fee, 'the treasury got the fee')
    assert.equal(
      afterwards.creator - before.creator,
      expected.royalties[0]?.amount,
      'the creator got the royalty',
    )

    // the human forms
    const table = await prsm(['channel', 'list', '--data-dir', dir('a')])
    assert.match(table.stdout, new RegExp(`${opened.channel}\\s+payer\\s+${opened.payee}\\s+10\\s+1\\.25`))
    const balance = await prsm(['wallet', 'balance', '--data-dir', dir('b')])
    assert.match(
      balance.stdout,
      new RegExp(`FTNS\\s+${formatFtns(afterwards.b)} FTNS \\(${afterwards.b} wei\\)`),
    )
  })

  it('stake add, unbond, withdraw after the unbonding period, status; wallet transfer', async () => {
    const added = await json<{ registered: boolean }>([
      'stake',
      'add',
      '--amount',
      '100',
      '--data-dir',
      dir('b'),
    ])
    assert.equal(added.registered, true)
    const status = await json<{ registered: boolean; stake: Amount }>([
      'stake',
      'status',
      '--data-dir',
      dir('b'),
    ])
    assert.deepEqual([status.registered, status.stake.ftns], [true, '100'])
    const early = await prsm(['stake', 'withdraw', '--data-dir', dir('b'), '--json'])
    assert.equal(early.code, 1)
    assert.equal((JSON.parse(early.stdout) as { error: { code: string } }).error.code, 'STAKE_INVALID')
    const unbond = await json<{ unbonding: Amount }>([
      'stake',
      'unbond',
      '--amount',
      '100',
      '--data-dir',
      dir('b'),
    ])
    assert.equal(unbond.unbonding.ftns, '100')
    await rpc('evm_increaseTime', [61])
    await rpc('evm_mine')
    const before = await ftns('b')
    const withdrawn = await json<{ withdrawn: Amount }>(['stake', 'withdraw', '--data-dir', dir('b')])
    assert.equal(withdrawn.withdrawn.ftns, '100')
    assert.equal((await ftns('b')) - before, parseFtns('100'))

    const address = (await json<{ address: string }>(['wallet', 'address', '--data-dir', dir('c')])).address
    const sent = await json<{ txHash: string }>([
      'wallet',
      'transfer',
      '--to',
      address,
      '--amount',
      '2.5',
      '--data-dir',
      dir('b'),
    ])
    assert.match(sent.txHash, /^0x[0-9a-f]{64}$/)
    assert.equal(await ftns('b', address), parseFtns('2.5'))
  })

  it('governance: after propose → vote → queue → execute, prsm chain params on the running nodes shows the new value', async () => {
    const deployment = readDeployment(deploymentFile)
    const voter = await devnetFaucetVoter(deployment)
    await passProposalOnDevnet(
      voter,
      deployment,
      parameterProposal(deployment, { networkFeeBps: 125n }, 'Lower the network fee'),
    )
    for (const name of ['a', 'b']) {
      const deadline = Date.now() + 15_000
      let fee = ''
      while (Date.now() < deadline) {
        const { parameters } = await json<{ parameters: Record<string, string> }>([
          'chain',
          'params',
          '--data-dir',
          dir(name),
        ])
        fee = parameters.networkFeeBps as string
        if (fee === '125') break
      }
      assert.equal(fee, '125', `node ${name}`)
    }
    const table = await prsm(['chain', 'params', '--data-dir', dir('a')])
    assert.match(table.stdout, /networkFeeBps\s+125 bps \(1\.25 %\)/)
  })

  it('bad input exits 2; a node without a chain answers CHAIN_NOT_CONFIGURED', async () => {
    const usage = await prsm([
      'channel',
      'pay',
      `0x${'ab'.repeat(32)}`,
      '--amount',
      'lots',
      '--data-dir',
      dir('a'),
    ])
    assert.equal(usage.code, 2)
    assert.match(usage.stderr, /VALIDATION_FAILED/)
    const missing = await prsm(['node', 'start', '--data-dir', dir('c'), '--devnet', join(root, 'nope.json')])
    assert.equal(missing.code, 2)
    assert.match(missing.stderr, /CONFIG_INVALID: invalid configuration at chain\.deployment/)

    await startNode('c', [])
    for (const args of [
      ['wallet', 'balance'],
      ['stake', 'status'],
      ['channel', 'list'],
      ['chain', 'params'],
    ]) {
      const result = await prsm([...args, '--data-dir', dir('c'), '--json'])
      assert.equal(result.code, 1, args.join(' '))
      assert.equal(
        (JSON.parse(result.stdout) as { error: { code: string } }).error.code,
        'CHAIN_NOT_CONFIGURED',
      )
    }
  })

  it('prsm chain deploy deploys to any EVM chain from the data directory wallet', async () => {
    const address = (await json<{ address: string }>(['wallet', 'address', '--data-dir', dir('c')])).address
    await rpc('anvil_setBalance', [address, '0x8ac7230489e80000']) // 10 ETH for gas
    const out = join(root, 'deployed.json')
    const deployed = await json<{ chainId: number; addresses: Record<string, string>; deployer: string }>([
      'chain',
      'deploy',
      '--rpc',
      rpcUrl,
      '--out',
      out,
      '--data-dir',
      dir('c'),
    ])
    assert.equal(deployed.chainId, 31_337)
    assert.equal(deployed.deployer, address)
    const file = JSON.parse(await readFile(out, 'utf8')) as {
      addresses: Record<string, string>
      devnet?: unknown
    }
    assert.deepEqual(file.addresses, deployed.addresses)
    assert.equal(file.devnet, undefined, 'a real deployment carries no faucet keys')
    const devnet = JSON.parse(await readFile(deploymentFile, 'utf8')) as { addresses: Record<string, string> }
    assert.notEqual(file.addresses.channels, devnet.addresses.channels)
  })

  it('nodes and the devnet stop cleanly on SIGTERM', async () => {
    const exits = children.map((child) =>
      child.exitCode === null
        ? new Promise<number | null>((resolve) => child.once('exit', resolve))
        : Promise.resolve(child.exitCode),
    )
    for (const child of children) if (child.exitCode === null) child.kill('SIGTERM')
    assert.deepEqual(
      await Promise.all(exits),
      children.map(() => 0),
    )
    assert.throws(() => process.kill(anvilPid as number, 0), { code: 'ESRCH' })
    anvilPid = undefined
    await stat(join(dir('devnet'), 'anvil-state.json'))
  })

  let rpcId = 0
  async function rpc(method: string, params: unknown[] = []): Promise<unknown> {
    const res = await fetch(rpcUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: ++rpcId, method, params }),
    })
    const body = (await res.json()) as { result?: unknown; error?: { message: string } }
    if (body.error) throw new Error(body.error.message)
    return body.result
  }
})
