/**
 * Child process for the crash-safety test: a payee that accepts vouchers from a file and claims
 * them, printing `ACK <channel> <amount>` (synchronously, after the journal commit) and
 * `CLAIM <channel> <amount>`. The parent SIGKILLs it at random points and restarts it.
 *
 *   node crash-child.ts <deployment.json> <vouchers.json> <journal.db>   (PRSM_KEY = payee key)
 */
import { readFileSync, writeSync } from 'node:fs'
import { readDeployment, type VoucherJson, voucherFromJson } from '@prsm/contracts'
import type { Hex } from 'viem'
import { isLedgerError } from '../../src/ledger/errors.ts'
import { createLedger } from '../../src/ledger/ledger.ts'

const [deploymentFile, vouchersFile, journalPath] = process.argv.slice(2) as [string, string, string]
const say = (line: string): void => {
  writeSync(1, `${line}\n`)
}

const deployment = readDeployment(deploymentFile)
const vouchers = (JSON.parse(readFileSync(vouchersFile, 'utf8')) as VoucherJson[]).map((v) =>
  voucherFromJson(v),
)
const ledger = createLedger(
  {
    journalPath,
    reconcile: false,
    pollingIntervalMs: 20,
    reconciler: { claimThreshold: 1n },
    payee: { expiryMarginSeconds: 60 },
  },
  { deployment, privateKey: process.env.PRSM_KEY as Hex },
)
await ledger.start()

// Resume after the newest journalled voucher of each channel.
const todo = vouchers.filter(
  (v) => v.cumulativeAmount > (ledger.journal.newest(v.channel)?.cumulativeAmount ?? 0n),
)
say(`READY ${todo.length}`)

const claimEvery = 7
let n = 0
for (const v of todo) {
  try {
    await ledger.payee.acceptVoucher(v)
    say(`ACK ${v.channel} ${v.cumulativeAmount}`)
  } catch (err) {
    if (!isLedgerError(err, 'VOUCHER_NOT_MONOTONIC')) throw err
  }
  if (++n % claimEvery === 0) {
    for (const r of await ledger.reconciler.reconcileOnce()) {
      if (r.action === 'claimed') say(`CLAIM ${r.channel} ${r.cumulativeAmount}`)
      if (r.action === 'failed') say(`CLAIMFAIL ${r.channel} ${r.detail}`)
    }
  }
}
for (const r of await ledger.reconciler.reconcileOnce({ force: true })) {
  if (r.action === 'claimed') say(`CLAIM ${r.channel} ${r.cumulativeAmount}`)
  if (r.action === 'failed') say(`CLAIMFAIL ${r.channel} ${r.detail}`)
}
await ledger.stop()
say('DONE')
