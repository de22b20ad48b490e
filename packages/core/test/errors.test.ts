import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { fromWire, hasCode, PrsmError } from '../src/index.ts'

describe('PrsmError', () => {
  it('round-trips through the wire form by code', () => {
    const err = new PrsmError('MESSAGE_STALE', 'too old', { details: { skewMs: 200_000 } })
    const back = fromWire(err.toWire())
    assert.equal(back.code, 'MESSAGE_STALE')
    assert.equal(back.message, 'too old')
    assert.deepEqual(back.details, { skewMs: 200_000 })
    assert.ok(hasCode(back, 'MESSAGE_STALE'))
  })

  it('maps an unknown wire code to INTERNAL and keeps the original', () => {
    const back = fromWire({ error: { code: 'NOPE', message: 'x', details: {} } })
    assert.equal(back.code, 'INTERNAL')
    assert.equal(back.details?.originalCode, 'NOPE')
  })
})
