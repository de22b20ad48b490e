// Two wallets on a devnet: open a channel, pay five vouchers, the payee claims; balances to the wei.
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { FTNS, startDevnet, voucherToJson } from '@prsm/contracts'
import { createLedger, formatFtns } from '@prsm/node/ledger'

const dir = await mkdtemp(join(tmpdir(), 'prsm-pay-'))
const devnet = await startDevnet()
const [alice, bob] = devnet.deployment.devnet?.accounts ?? []
if (!alice || !bob) throw new Error('devnet without accounts')
const ledger = (name: string, privateKey: `0x${string}`) =>
  createLedger(
    { journalPath: join(dir, `${name}.db`), reconcile: false },
    { deployment: devnet.deployment, privateKey },
  )
const payer = ledger('alice', alice.privateKey)
const payee = ledger('bob', bob.privateKey)
try {
  await payer.start()
  await payee.start()
  const before = await payee.wallet.balance()

  // Alice escrows 10 FTNS for Bob for a day (one transaction, with an EIP-2612 permit).
  const channel = await payer.payer.openChannel({
    payee: bob.address,
    deposit: 10n * FTNS,
    expirySeconds: 86_400,
  })

  // Five paid requests: each voucher carries the running total; Bob journals it before working.
  for (let i = 0; i < 5; i++) {
    const voucher = payer.payer.pay(channel.channel, FTNS / 4n)
    const accepted = await payee.payee.acceptVoucher(voucherToJson(voucher))
    console.log(
      'accepted',
      formatFtns(accepted.cumulativeAmount),
      'FTNS (+',
      formatFtns(accepted.increment),
      ')',
    )
  }

  // Bob claims the newest voucher: 1.25 FTNS less the 2 % network fee.
  const claim = await payee.reconciler.claim(channel.channel)
  const after = await payee.wallet.balance()
  const fee = (((5n * FTNS) / 4n) * 200n) / 10_000n
  assert.equal(after.ftns - before.ftns, (5n * FTNS) / 4n - fee)
  console.log(
    claim.action,
    'in',
    claim.txHash,
    '— bob received',
    formatFtns(after.ftns - before.ftns),
    'FTNS',
  )
} finally {
  await payer.stop()
  await payee.stop()
  await devnet.stop()
  await rm(dir, { recursive: true, force: true })
}
