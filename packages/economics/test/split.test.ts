import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { capRoyalties, isEconomicsError, parseFtns, splitPayment, splitWithTable } from '../src/index.ts'

const F = parseFtns

describe('splitPayment', () => {
  it('splits 100 FTNS with a 2.5% fee and two royalties', () => {
    const s = splitPayment({
      amount: F('100'),
      feeBps: 250,
      royalties: [
        { creator: 'model', bps: 500 },
        { creator: 'data', bps: 200 },
      ],
      royaltyCapBps: 1000,
    })
    assert.equal(s.fee, F('2.5'))
    assert.deepEqual(s.royalties, [
      { creator: 'model', amount: F('5') },
      { creator: 'data', amount: F('2') },
    ])
    assert.equal(s.provider, F('90.5'))
  })

  it('rounds fee and royalties down and gives the dust to the provider', () => {
    // 999 wei: fee 2.5% = 24.975 → 24; royalty 3.33% = 33.2667 → 33; provider 942
    const s = splitPayment({
      amount: 999n,
      feeBps: 250,
      royalties: [{ creator: 'a', bps: 333 }],
      royaltyCapBps: 1000,
    })
    assert.equal(s.fee, 24n)
    assert.deepEqual(s.royalties, [{ creator: 'a', amount: 33n }])
    assert.equal(s.provider, 942n)
  })

  it('scales royalties down to the cap, exactly', () => {
    // 500 + 300 + 300 = 1100 bps requested, cap 1000: exact shares 454.55, 272.73, 272.73;
    // floors 454 + 272 + 272 = 998, the 2 bps left go to the largest remainders (0.73, 0.73)
    const t = capRoyalties(
      [
        { creator: 'm', bps: 500 },
        { creator: 'd1', bps: 300 },
        { creator: 'd2', bps: 300 },
      ],
      1000,
    )
    assert.equal(t.capped, true)
    assert.equal(t.requestedBps, 1100n)
    assert.equal(t.totalBps, 1000n)
    assert.deepEqual(
      t.rates.map((r) => [r.creator, r.bps]),
      [
        ['m', 454n],
        ['d1', 273n],
        ['d2', 273n],
      ],
    )
  })

  it('rejects royalties above the cap in reject mode', () => {
    assert.throws(
      () =>
        splitPayment({
          amount: 10n,
          feeBps: 0,
          royalties: [{ creator: 'a', bps: 2000 }],
          royaltyCapBps: 1500,
          capMode: 'reject',
        }),
      (err) => isEconomicsError(err, 'ECON_ROYALTY_CAP_EXCEEDED'),
    )
  })

  it('merges duplicate creators and drops zero rates', () => {
    const s = splitPayment({
      amount: 10_000n,
      feeBps: 0,
      royalties: [
        { creator: 'a', bps: 100 },
        { creator: 'z', bps: 0 },
        { creator: 'a', bps: 50n },
      ],
      royaltyCapBps: 10000,
    })
    assert.deepEqual(s.royalties, [{ creator: 'a', amount: 150n }])
    assert.equal(s.provider, 9850n)
  })

  it('validates its inputs with stable codes', () => {
    const base = { amount: 1n, feeBps: 100, royaltyCapBps: 100 }
    const code = (fn: () => unknown, c: string) =>
      assert.throws(fn, (e) => isEconomicsError(e) && e.code === c)
    code(() => splitPayment({ ...base, amount: -1n }), 'ECON_NEGATIVE_AMOUNT')
    code(() => splitPayment({ ...base, feeBps: 10001 }), 'ECON_BPS_OUT_OF_RANGE')
    code(() => splitPayment({ ...base, feeBps: 1.5 }), 'ECON_BPS_OUT_OF_RANGE')
    code(() => splitPayment({ ...base, royalties: [{ creator: '', bps: 1 }] }), 'ECON_INVALID_CREATOR')
    code(
      () =>
        splitPayment({
          amount: 1n,
          feeBps: 9000,
          royalties: [{ creator: 'a', bps: 2000 }],
          royaltyCapBps: 5000,
        }),
      'ECON_SHARES_EXCEED_TOTAL',
    )
    code(() => splitPayment({ ...base, amount: 1 as unknown as bigint }), 'ECON_NOT_BIGINT')
  })

  it('never creates or destroys wei (property)', () => {
    const royalty = fc.record({
      creator: fc.constantFrom('a', 'b', 'c', 'd', 'e'),
      bps: fc.integer({ min: 0, max: 4000 }),
    })
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: 10n ** 30n }),
        fc.integer({ min: 0, max: 3000 }),
        fc.integer({ min: 0, max: 7000 }),
        fc.array(royalty, { maxLength: 8 }),
        (amount, feeBps, capBps, royalties) => {
          const s = splitPayment({ amount, feeBps, royalties, royaltyCapBps: capBps })
          const sum = s.provider + s.fee + s.royalties.reduce((a, r) => a + r.amount, 0n)
          assert.equal(sum, amount)
          assert.ok(s.provider >= 0n && s.fee >= 0n)
          for (const r of s.royalties) assert.ok(r.amount >= 0n)
          const royaltyTotal = s.royalties.reduce((a, r) => a + r.amount, 0n)
          assert.ok(royaltyTotal <= (amount * BigInt(capBps)) / 10000n)
        },
      ),
      { numRuns: 500, seed: 42 },
    )
  })

  it('gives the same result with a prepared table', () => {
    const royalties = [
      { creator: 'x', bps: 700 },
      { creator: 'y', bps: 900 },
    ]
    const table = capRoyalties(royalties, 1200)
    for (const amount of [0n, 1n, 12_345n, F('3.14159')]) {
      assert.deepEqual(
        splitWithTable(amount, 250, table),
        splitPayment({ amount, feeBps: 250, royalties, royaltyCapBps: 1200 }),
      )
    }
  })
})
