/** Test fixture: a real anvil with every contract deployed from the generated artifacts. */
import assert from 'node:assert/strict'
import {
  type Abi,
  type Account,
  BaseError,
  type Chain,
  ContractFunctionRevertedError,
  createWalletClient,
  type Hex,
  http,
  type PublicActions,
  publicActions,
  type TransactionReceipt,
  type Transport,
  type WalletClient,
} from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { type Anvil, startAnvil } from '../src/anvil.ts'
import { deployAll, FTNS, type GovernanceSettings } from '../src/deploy.ts'
import type { Deployment } from '../src/deployment.ts'
import { chainOf } from '../src/devnet.ts'
import { ftnsTokenAbi } from '../src/generated/FTNSToken.ts'
import type { NetworkParameters } from '../src/parameters.ts'
import { type VoucherDomain, voucherDomain } from '../src/voucher.ts'

export type Client = WalletClient<Transport, Chain, Account> & PublicActions<Transport, Chain, Account>

export interface Fixture {
  anvil: Anvil
  deployment: Deployment
  domain: VoucherDomain
  /** Wallet+public client for anvil dev account `i` (0 is the deployer and faucet). */
  client(i: number): Client
  privateKey(i: number): Hex
  snapshot(): Promise<Hex>
  revert(id: Hex): Promise<void>
  /** Moves chain time forward and mines a block. */
  increaseTime(seconds: number | bigint): Promise<void>
  now(): Promise<bigint>
  stop(): Promise<void>
}

export const FUNDING = 1_000_000n * FTNS

export async function setupChain(
  options: { params?: Partial<NetworkParameters>; governance?: Partial<GovernanceSettings> } = {},
): Promise<Fixture> {
  const anvil = await startAnvil()
  try {
    const chain = chainOf(anvil)
    const clients = new Map<number, Client>()
    const client = (i: number): Client => {
      let c = clients.get(i)
      if (!c) {
        const acc = anvil.accounts[i]
        assert.ok(acc, `no dev account ${i}`)
        c = createWalletClient({
          account: privateKeyToAccount(acc.privateKey),
          chain,
          transport: http(anvil.rpcUrl),
        }).extend(publicActions) as Client
        clients.set(i, c)
      }
      return c
    }
    const deployer = client(0)
    const deployment = await deployAll(deployer, {
      devnet: true,
      rpcUrl: anvil.rpcUrl,
      ...(options.params === undefined ? {} : { params: options.params }),
      ...(options.governance === undefined ? {} : { governance: options.governance }),
    })
    for (let i = 1; i < anvil.accounts.length; i++) {
      await send(deployer, {
        address: deployment.addresses.token,
        abi: ftnsTokenAbi,
        functionName: 'transfer',
        args: [anvil.accounts[i]?.address, FUNDING],
      })
    }
    const rpc = (method: string, params: unknown[] = []): Promise<unknown> =>
      deployer.request({ method, params } as never)
    return {
      anvil,
      deployment,
      domain: voucherDomain(deployment.chainId, deployment.addresses.channels),
      client,
      privateKey: (i) => anvil.accounts[i]?.privateKey as Hex,
      snapshot: async () => (await rpc('evm_snapshot')) as Hex,
      revert: async (id) => {
        assert.equal(await rpc('evm_revert', [id]), true)
      },
      increaseTime: async (seconds) => {
        await rpc('evm_increaseTime', [Number(seconds)])
        await rpc('evm_mine')
      },
      now: async () => (await deployer.getBlock()).timestamp,
      stop: () => anvil.stop(),
    }
  } catch (err) {
    await anvil.stop()
    throw err
  }
}

export interface Call {
  address: `0x${string}`
  abi: Abi
  functionName: string
  args?: readonly unknown[]
}

/** Sends a transaction and waits for a successful receipt. */
export async function send(client: Client, call: Call): Promise<TransactionReceipt> {
  const hash = await client.writeContract(call as never)
  const receipt = await client.waitForTransactionReceipt({ hash })
  assert.equal(receipt.status, 'success', `${call.functionName} reverted`)
  return receipt
}

/** The custom error name a failed contract call reverted with, if any. */
export function revertName(err: unknown): string | undefined {
  if (!(err instanceof BaseError)) return undefined
  const revert = err.walk((e) => e instanceof ContractFunctionRevertedError)
  if (revert instanceof ContractFunctionRevertedError)
    return revert.data?.errorName ?? revert.reason ?? 'unknown'
  return undefined
}

/** Asserts that `promise` rejects with a contract revert named `name`. */
export async function expectRevert(promise: Promise<unknown>, name: string): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.equal(revertName(err), name, String((err as Error).message).slice(0, 600))
    return true
  })
}

export async function balanceOf(f: Fixture, who: `0x${string}`): Promise<bigint> {
  return f.client(0).readContract({
    address: f.deployment.addresses.token,
    abi: ftnsTokenAbi,
    functionName: 'balanceOf',
    args: [who],
  })
}
