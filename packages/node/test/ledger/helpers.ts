import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type Deployment, type Devnet, startDevnet } from '@prsm/contracts'
import type { Hex } from 'viem'

export interface LedgerFixture {
  devnet: Devnet
  deployment: Deployment
  dir: string
  /** Dev account private key `i` (0 is the faucet/deployer). */
  key(i: number): Hex
  rpc(method: string, params?: unknown[]): Promise<unknown>
  increaseTime(seconds: number): Promise<void>
  stop(): Promise<void>
}

export async function setupLedgerChain(): Promise<LedgerFixture> {
  const devnet = await startDevnet()
  const dir = mkdtempSync(join(tmpdir(), 'prsm-ledger-'))
  const deployment = devnet.deployment
  let id = 0
  const rpc = async (method: string, params: unknown[] = []) => {
    const res = await fetch(deployment.rpcUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: ++id, method, params }),
    })
    const body = (await res.json()) as { result?: unknown; error?: { message: string } }
    if (body.error) throw new Error(body.error.message)
    return body.result
  }
  return {
    devnet,
    deployment,
    dir,
    key: (i) => {
      if (i === 0) return deployment.devnet?.faucet.privateKey as Hex
      return deployment.devnet?.accounts[i - 1]?.privateKey as Hex
    },
    rpc,
    increaseTime: async (seconds) => {
      await rpc('evm_increaseTime', [seconds])
      await rpc('evm_mine')
    },
    stop: async () => {
      await devnet.stop()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
