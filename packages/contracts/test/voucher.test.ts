import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { type Address, encodeAbiParameters, getAddress, type Hex, keccak256 } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import {
  createVoucherVerifier,
  normalizeRoyalties,
  recoverVoucherSigner,
  royaltyCommitment,
  type SignedVoucher,
  signVoucher,
  signVoucherWithAccount,
  voucherDomain,
  voucherFromJson,
  voucherToJson,
} from '../src/voucher.ts'

const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n
const key = (): Hex => `0x${randomBytes(32).toString('hex')}`
const addr = (): Address => getAddress(`0x${randomBytes(20).toString('hex')}`)
const domain = voucherDomain(31337, '0x5FbDB2315678afecb367f032d93F642f64180aa3')
const channel = `0x${'ab'.repeat(32)}` as Hex

describe('vouchers', () => {
  it('fast signing gives the same bytes as viem signTypedData', async () => {
    const pk = key()
    const voucher = {
      channel,
      cumulativeAmount: 123_456_789n,
      royalties: normalizeRoyalties([
        { creator: addr(), amount: 7n },
        { creator: addr(), amount: 9n },
      ]),
    }
    const fast = signVoucher(voucher, { domain, privateKey: pk })
    const slow = await signVoucherWithAccount(voucher, { domain, account: privateKeyToAccount(pk) })
    assert.equal(fast.signature, slow.signature)
    assert.equal(await recoverVoucherSigner(domain, fast), privateKeyToAccount(pk).address)
  })

  it('verifies against the payer, first by recovery, then with the cached key', () => {
    const pk = key()
    const payer = privateKeyToAccount(pk).address
    const verifier = createVoucherVerifier(domain)
    const v1 = signVoucher({ channel, cumulativeAmount: 1n, royalties: [] }, { domain, privateKey: pk })
    const v2 = signVoucher({ channel, cumulativeAmount: 2n, royalties: [] }, { domain, privateKey: pk })
    assert.equal(verifier.verify(v1, addr()), false)
    assert.equal(verifier.cachedKeys, 0)
    assert.equal(verifier.verify(v1, payer), true)
    assert.equal(verifier.cachedKeys, 1)
    assert.equal(verifier.verify(v2, payer), true)
    assert.equal(verifier.verify({ ...v2, cumulativeAmount: 3n }, payer), false)
    assert.equal(verifier.verify({ ...v2, channel: `0x${'cd'.repeat(32)}` }, payer), false)
    assert.equal(verifier.verify({ ...v2, royalties: [{ creator: addr(), amount: 0n }] }, payer), false)
    assert.equal(verifier.verify(v2, privateKeyToAccount(key()).address), false)
    const otherDomain = createVoucherVerifier(voucherDomain(1, domain.verifyingContract))
    assert.equal(otherDomain.verify(v1, payer), false)
  })

  it('rejects malformed and high-s signatures, and fixes a wrong v for the chain', async () => {
    const pk = key()
    const payer = privateKeyToAccount(pk).address
    const verifier = createVoucherVerifier(domain)
    const v = signVoucher({ channel, cumulativeAmount: 10n, royalties: [] }, { domain, privateKey: pk })
    assert.equal(verifier.verify({ ...v, signature: '0x1234' }, payer), false)
    assert.equal(verifier.verify({ ...v, signature: `0x${'00'.repeat(65)}` }, payer), false)
    const r = v.signature.slice(2, 66)
    const s = BigInt(`0x${v.signature.slice(66, 130)}`)
    const vByte = Number.parseInt(v.signature.slice(130), 16)
    const highS = `0x${r}${(N - s).toString(16).padStart(64, '0')}${(55 - vByte).toString(16)}` as Hex
    // Mathematically valid, but malleable: the contract (OpenZeppelin ECDSA) refuses it, so do we.
    assert.equal(verifier.verify({ ...v, signature: highS }, payer), false)
    const flipped: SignedVoucher = {
      ...v,
      signature: `0x${v.signature.slice(2, 130)}${(55 - vByte).toString(16)}`,
    }
    assert.equal(verifier.verify(flipped, payer), true)
    const fixed = verifier.chainSignature(flipped, payer)
    assert.equal(fixed, v.signature)
    assert.equal(await recoverVoucherSigner(domain, { ...v, signature: fixed }), payer)
  })

  it('royaltyCommitment equals abi.encode(address[], uint256[]) hashed', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            fc.uint8Array({ minLength: 20, maxLength: 20 }),
            fc.bigInt({ min: 0n, max: 2n ** 256n - 1n }),
          ),
          {
            maxLength: 8,
          },
        ),
        (rows) => {
          const seen = new Set<string>()
          const table = normalizeRoyalties(
            rows
              .map(([a, amount]) => ({ creator: getAddress(`0x${Buffer.from(a).toString('hex')}`), amount }))
              .filter((e) => !seen.has(e.creator) && seen.add(e.creator)),
          )
          const expected = keccak256(
            encodeAbiParameters(
              [{ type: 'address[]' }, { type: 'uint256[]' }],
              [table.map((e) => e.creator), table.map((e) => e.amount)],
            ),
          )
          assert.equal(royaltyCommitment(table), expected)
        },
      ),
      { numRuns: 200 },
    )
  })

  it('round-trips through JSON and rejects malformed JSON', () => {
    const v = signVoucher(
      {
        channel,
        cumulativeAmount: 2n ** 200n,
        royalties: normalizeRoyalties([{ creator: addr(), amount: 5n }]),
      },
      { domain, privateKey: key() },
    )
    const json = JSON.parse(JSON.stringify(voucherToJson(v)))
    assert.deepEqual(voucherFromJson(json), v)
    const bad = [
      null,
      { ...json, channel: '0x12' },
      { ...json, cumulativeAmount: '-1' },
      { ...json, cumulativeAmount: 5 },
      { ...json, cumulativeAmount: (2n ** 256n).toString() },
      { ...json, signature: '0x00' },
      { ...json, royalties: [{ creator: 'nope', amount: '1' }] },
      { ...json, royalties: [json.royalties[0], json.royalties[0]] },
    ]
    for (const b of bad) assert.throws(() => voucherFromJson(b), TypeError)
  })

  it('normalizeRoyalties sorts and rejects duplicates', () => {
    const [a, b] = [addr(), addr()]
    const t = normalizeRoyalties([
      { creator: a, amount: 1n },
      { creator: b, amount: 2n },
    ])
    assert.ok(BigInt(t[0]?.creator ?? 0) < BigInt(t[1]?.creator ?? 0))
    assert.throws(() =>
      normalizeRoyalties([
        { creator: a, amount: 1n },
        { creator: a.toLowerCase() as Address, amount: 2n },
      ]),
    )
  })
})
