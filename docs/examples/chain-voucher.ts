// Sign a payment-channel voucher with a royalty table and verify it the way a payee does.
import assert from 'node:assert/strict'
import {
  createVoucherVerifier,
  normalizeRoyalties,
  royaltyCommitment,
  signVoucher,
  voucherDomain,
  voucherFromJson,
  voucherToJson,
} from '@prsm/contracts'
import { privateKeyToAccount } from 'viem/accounts'

// Anvil's first development key: never use a published key for real funds.
const payerKey = '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80'
const payer = privateKeyToAccount(payerKey).address
// The domain binds vouchers to one chain and one PaymentChannels contract.
const domain = voucherDomain(31337, '0x5FC8d32690cc91D4c39d9d3abcBD16989F875707')

// 2.5 FTNS paid so far on the channel, of which 0.2 and 0.05 are royalties to two creators.
const voucher = signVoucher(
  {
    channel: `0x${'ab'.repeat(32)}`,
    cumulativeAmount: 2_500_000_000_000_000_000n,
    royalties: normalizeRoyalties([
      { creator: '0x1111111111111111111111111111111111111111', amount: 200_000_000_000_000_000n },
      { creator: '0x2222222222222222222222222222222222222222', amount: 50_000_000_000_000_000n },
    ]),
  },
  { domain, privateKey: payerKey },
)

// Over the wire a voucher travels as JSON (amounts as decimal strings).
const wire = JSON.stringify(voucherToJson(voucher))
const received = voucherFromJson(JSON.parse(wire))

// The payee checks the signature against the channel's payer (its key is cached after the first).
const verifier = createVoucherVerifier(domain)
assert.equal(verifier.verify(received, payer), true)
assert.equal(verifier.verify({ ...received, cumulativeAmount: 3_000_000_000_000_000_000n }, payer), false)

console.log('royaltyRoot', royaltyCommitment(received.royalties))
console.log('voucher verified for payer', payer)
