import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { type Address, getAddress, type Hex, isAddress, isHex } from 'viem'
import type { DevAccount } from './anvil.ts'

export const DEPLOYMENT_FORMAT = 'prsm-deployment/1'

export interface DeploymentAddresses {
  token: Address
  timelock: Address
  governor: Address
  parameters: Address
  providers: Address
  channels: Address
}

/** What a node needs to use a deployment: where the chain is and where the contracts are. */
export interface Deployment {
  format: typeof DEPLOYMENT_FORMAT
  chainId: number
  rpcUrl: string
  /** Block of the first deployment transaction (start point for log queries). */
  deployBlock: bigint
  addresses: DeploymentAddresses
  /**
   * Development networks only: the faucet holding the devnet supply and the funded development
   * accounts, with their (publicly known) private keys. Absent on real networks.
   */
  devnet?: { faucet: DevAccount; accounts: DevAccount[] }
}

const ADDRESS_KEYS = ['token', 'timelock', 'governor', 'parameters', 'providers', 'channels'] as const

/** Writes the deployment as JSON (atomically: temp file then rename). */
export function writeDeployment(file: string, deployment: Deployment): void {
  mkdirSync(dirname(file), { recursive: true })
  const json = JSON.stringify(deployment, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2)
  const tmp = `${file}.${process.pid}.tmp`
  writeFileSync(tmp, `${json}\n`, { mode: 0o600 })
  renameSync(tmp, file)
}

/** Reads and validates a deployment file; throws with the offending field on bad input. */
export function readDeployment(file: string): Deployment {
  let raw: unknown
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'))
  } catch (cause) {
    throw new Error(`cannot read deployment file ${file}`, { cause })
  }
  return parseDeployment(raw)
}

/** Validates a deployment object (for example one received over the API). */
export function parseDeployment(raw: unknown): Deployment {
  const fail = (field: string, why: string): never => {
    throw new Error(`invalid deployment: ${field} ${why}`)
  }
  if (typeof raw !== 'object' || raw === null) return fail('(root)', 'is not an object')
  const o = raw as Record<string, unknown>
  if (o.format !== DEPLOYMENT_FORMAT) fail('format', `must be "${DEPLOYMENT_FORMAT}"`)
  if (typeof o.chainId !== 'number' || !Number.isSafeInteger(o.chainId) || o.chainId <= 0) {
    fail('chainId', 'must be a positive integer')
  }
  if (typeof o.rpcUrl !== 'string' || !/^(https?|wss?):\/\//.test(o.rpcUrl)) fail('rpcUrl', 'must be a URL')
  if (typeof o.deployBlock !== 'string' && typeof o.deployBlock !== 'number')
    fail('deployBlock', 'is missing')
  let deployBlock = 0n
  try {
    deployBlock = BigInt(o.deployBlock as string)
  } catch {
    fail('deployBlock', 'is not an integer')
  }
  const a = o.addresses as Record<string, unknown> | undefined
  if (typeof a !== 'object' || a === null) return fail('addresses', 'is missing')
  const addresses = {} as Record<(typeof ADDRESS_KEYS)[number], Address>
  for (const key of ADDRESS_KEYS) {
    const v = a[key]
    if (typeof v !== 'string' || !isAddress(v, { strict: false }))
      fail(`addresses.${key}`, 'is not an address')
    addresses[key] = getAddress(v as string)
  }
  const deployment: Deployment = {
    format: DEPLOYMENT_FORMAT,
    chainId: o.chainId as number,
    rpcUrl: o.rpcUrl as string,
    deployBlock,
    addresses,
  }
  if (o.devnet !== undefined) {
    const d = o.devnet as { faucet?: unknown; accounts?: unknown }
    const account = (v: unknown, field: string): DevAccount => {
      const acc = v as { address?: unknown; privateKey?: unknown } | null
      if (typeof acc?.address !== 'string' || !isAddress(acc.address, { strict: false })) {
        fail(`${field}.address`, 'is not an address')
      }
      if (typeof acc?.privateKey !== 'string' || !isHex(acc.privateKey) || acc.privateKey.length !== 66) {
        fail(`${field}.privateKey`, 'is not a 32-byte hex key')
      }
      return { address: getAddress(acc?.address as string), privateKey: acc?.privateKey as Hex }
    }
    if (!Array.isArray(d.accounts)) fail('devnet.accounts', 'is not an array')
    deployment.devnet = {
      faucet: account(d.faucet, 'devnet.faucet'),
      accounts: (d.accounts as unknown[]).map((v, i) => account(v, `devnet.accounts[${i}]`)),
    }
  }
  return deployment
}
