import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type Deployment, type Devnet, FTNS, startDevnet } from '@prsm/contracts'
import type { Hex } from 'viem'
import { createLedger, type Ledger } from '../../src/ledger/ledger.ts'

export interface LedgerFixture {
  devnet: Devnet
  deployment: Deployment
  dir: string
  /** Dev account private key `i` (0 is the faucet/deployer). */
  key(i: number): Hex
  /**
   * A ledger (not started) for dev account `i` with its journal `<name>.db` in `dir`: no
   * background reconciliation, claims from 10 FTNS.
   */
  ledger(i: number, name: string): Ledger
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
  const key = (i: number): Hex => {
    if (i === 0) return deployment.devnet?.faucet.privateKey as Hex
    return deployment.devnet?.accounts[i - 1]?.privateKey as Hex
  }
  return {
    devnet,
    deployment,
    dir,
    key,
    ledger: (i, name) =>
      createLedger(
        {
          journalPath: join(dir, `${name}.db`),
          reconcile: false,
          reconciler: { claimThreshold: 10n * FTNS },
        },
        { deployment, privateKey: key(i) },
      ),
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
