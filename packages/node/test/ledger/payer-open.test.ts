import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { FTNS, paymentChannelsAbi } from '@prsm/contracts'
import type { Ledger } from '../../src/ledger/ledger.ts'
import { type LedgerFixture, setupLedgerChain } from './helpers.ts'

describe('payer channel opens', () => {
  let f: LedgerFixture
  let payer: Ledger
  let payee: Ledger

  before(async () => {
    f = await setupLedgerChain()
    payer = f.ledger(1, 'payer')
    payee = f.ledger(2, 'payee')
    for (const l of [payer, payee]) await l.start()
  })
  after(async () => {
    for (const l of [payer, payee]) await l?.stop()
    await f?.stop()
  })

  it('opens three channels from one wallet at once (each permit gets its own nonce)', async () => {
    const deposits = [1n * FTNS, 2n * FTNS, 3n * FTNS]
    const opened = await Promise.all(
      deposits.map((deposit) =>
        payer.payer.openChannel({ payee: payee.wallet.address, deposit, expirySeconds: 3600 }),
      ),
    )
    assert.equal(new Set(opened.map((o) => o.channel)).size, 3)
    for (const [i, o] of opened.entries()) {
      const onChain = await payee.chain.publicClient.readContract({
        address: f.deployment.addresses.channels,
        abi: paymentChannelsAbi,
        functionName: 'getChannel',
        args: [o.channel],
      })
      assert.equal(onChain.deposit, deposits[i])
      assert.equal(onChain.closed, false)
    }
    assert.equal(payer.payer.channels().length, 3)
  })
})
