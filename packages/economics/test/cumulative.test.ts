import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import {
  accrue,
  accrueVoucher,
  EMPTY_CUMULATIVE,
  isEconomicsError,
  resolveCumulative,
  royaltyDelta,
  splitDelta,
  splitPayment,
} from '../src/index.ts'

const params = {
  feeBps: 250,
  royalties: [
    { creator: 'model', bps: 500 },
    { creator: 'data', bps: 333 },
  ],
  royaltyCapBps: 1000,
}

describe('cumulative splits for payment-channel vouchers', () => {
  it('one increment resolves to exactly splitPayment of it', () => {
    for (const amount of [0n, 1n, 999n, 123_456_789n]) {
      const c = accrue(EMPTY_CUMULATIVE, { ...params, amount })
      assert.deepEqual(resolveCumulative(c), splitPayment({ ...params, amount }))
    }
  })

  it('many tiny vouchers do not lose the fee to rounding', () => {
    // 1000 vouchers of 1 wei each: per-voucher splits would floor every fee to 0.
    let c = EMPTY_CUMULATIVE
    for (let i = 1; i <= 1000; i++) c = accrueVoucher(c, { ...params, cumulativeAmount: BigInt(i) })
    const r = resolveCumulative(c)
    assert.equal(r.fee, 25n) // 1000 × 2.5%
    assert.deepEqual(r.royalties, [
      { creator: 'model', amount: 50n },
      { creator: 'data', amount: 33n },
    ])
    assert.equal(r.provider, 892n)
  })

  it('telescopes: the deltas add up to the final split, with changing manifests', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            amount: fc.bigInt({ min: 0n, max: 10n ** 20n }),
            creator: fc.constantFrom('a', 'b', 'c'),
            bps: fc.integer({ min: 0, max: 2000 }),
          }),
          { minLength: 1, maxLength: 20 },
        ),
        (steps) => {
          let c = EMPTY_CUMULATIVE
          let fee = 0n
          let total = 0n
          const owed = new Map<string, bigint>()
          for (const step of steps) {
            const next = accrue(c, {
              amount: step.amount,
              feeBps: 300,
              royalties: [{ creator: step.creator, bps: step.bps }],
              royaltyCapBps: 1500,
            })
            const d = splitDelta(c, next)
            fee += d.fee
            total += step.amount
            for (const r of d.royalties) {
              assert.ok(r.amount > 0n)
              owed.set(r.creator, (owed.get(r.creator) ?? 0n) + r.amount)
            }
            c = next
          }
          const final = resolveCumulative(c)
          assert.equal(final.fee, fee)
          assert.equal(c.total, total)
          for (const r of final.royalties) assert.equal(owed.get(r.creator) ?? 0n, r.amount)
          assert.equal(final.provider + final.fee + final.royalties.reduce((a, r) => a + r.amount, 0n), total)
          assert.ok(final.provider >= 0n)
        },
      ),
      { numRuns: 300, seed: 7 },
    )
  })

  it('royaltyDelta gives what each creator is newly owed', () => {
    const d = royaltyDelta(
      [
        { creator: 'a', amount: 10n },
        { creator: 'b', amount: 5n },
      ],
      [
        { creator: 'a', amount: 10n },
        { creator: 'b', amount: 9n },
        { creator: 'c', amount: 3n },
      ],
    )
    assert.deepEqual(d, [
      { creator: 'b', amount: 4n },
      { creator: 'c', amount: 3n },
    ])
  })

  it('refuses a voucher or table that goes backwards', () => {
    const c = accrue(EMPTY_CUMULATIVE, { ...params, amount: 100n })
    assert.throws(
      () => accrueVoucher(c, { ...params, cumulativeAmount: 99n }),
      (e) => isEconomicsError(e, 'ECON_CUMULATIVE_DECREASED'),
    )
    assert.throws(
      () => royaltyDelta([{ creator: 'a', amount: 2n }], [{ creator: 'a', amount: 1n }]),
      (e) => isEconomicsError(e, 'ECON_CUMULATIVE_DECREASED'),
    )
    assert.throws(
      () => royaltyDelta([{ creator: 'a', amount: 2n }], []),
      (e) => isEconomicsError(e, 'ECON_CUMULATIVE_DECREASED'),
    )
  })
})
