import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  dynamicPrice,
  formatFtns,
  isEconomicsError,
  parseFtns,
  quote,
  stabilisationAction,
  stabilisationBudget,
  transfer,
  updateReference,
} from '../src/index.ts'

describe('pricing', () => {
  it('quotes price × units with a minimum charge', () => {
    assert.equal(quote({ price: parseFtns('0.002') }, 1500n), parseFtns('3'))
    assert.equal(quote({ price: 1n, minCharge: 100n }, 5n), 100n)
  })

  it('raises the price with utilisation, within floor and ceiling', () => {
    const base = 1_000_000n
    assert.equal(dynamicPrice({ basePrice: base, utilisationBps: 7000 }), base)
    // 100% utilisation: +30 points × 0.5 = +15%
    assert.equal(dynamicPrice({ basePrice: base, utilisationBps: 10000 }), 1_150_000n)
    // idle: −70 points × 0.5 = −35%
    assert.equal(dynamicPrice({ basePrice: base, utilisationBps: 0 }), 650_000n)
    assert.equal(dynamicPrice({ basePrice: base, utilisationBps: 0, floorBps: 8000 }), 800_000n)
    assert.equal(dynamicPrice({ basePrice: base, utilisationBps: 90000, ceilingBps: 20000 }), 2_000_000n)
  })
})

describe('units and transfers', () => {
  it('parses and formats FTNS exactly', () => {
    assert.equal(parseFtns('1.5'), 1_500_000_000_000_000_000n)
    assert.equal(formatFtns(parseFtns('0.002')), '0.002')
    assert.equal(formatFtns(parseFtns('12.3456'), 2), '12.34')
    assert.equal(formatFtns(-5n), '-0.000000000000000005')
    assert.throws(
      () => parseFtns('1e3'),
      (e) => isEconomicsError(e, 'ECON_PARSE_AMOUNT'),
    )
  })

  it('moves balances and refuses overdrafts', () => {
    assert.deepEqual(transfer(10n, 5n, 4n), [6n, 9n])
    assert.throws(
      () => transfer(3n, 0n, 4n),
      (e) => isEconomicsError(e, 'ECON_INSUFFICIENT_BALANCE'),
    )
    assert.throws(
      () => transfer(3n, 0n, -1n),
      (e) => isEconomicsError(e, 'ECON_NEGATIVE_AMOUNT'),
    )
  })
})

describe('stabilisation buffer', () => {
  it('acts only outside the band', () => {
    assert.deepEqual(stabilisationAction(1_040_000n, 1_000_000n, 500), { side: 'none' })
    assert.deepEqual(stabilisationAction(1_100_000n, 1_000_000n, 500), {
      side: 'sell',
      targetPrice: 1_050_000n,
    })
    assert.deepEqual(stabilisationAction(900_000n, 1_000_000n, 500), { side: 'buy', targetPrice: 950_000n })
  })

  it('moves the reference slowly and caps spending', () => {
    assert.equal(updateReference(1_000_000n, 2_000_000n, 500), 1_050_000n)
    assert.equal(stabilisationBudget(1000n, 1000), 100n)
  })
})
