import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { formatFtns, parseFtns } from '../src/index.ts'

describe('FTNS amounts', () => {
  it('parses decimal FTNS into wei and formats it back', () => {
    assert.equal(parseFtns('0.002'), 2_000_000_000_000_000n)
    assert.equal(parseFtns('15'), 15n * 10n ** 18n)
    assert.equal(parseFtns('0.000000000000000001'), 1n)
    assert.equal(formatFtns(2_000_000_000_000_000n), '0.002')
    assert.equal(formatFtns(parseFtns('123.456')), '123.456')
  })

  it('rejects what is not an amount with VALIDATION_FAILED', () => {
    for (const bad of ['cheap', '-1', '1.', '0.0000000000000000001', '1e3', '']) {
      assert.throws(() => parseFtns(bad), { code: 'VALIDATION_FAILED' }, bad)
    }
  })
})
