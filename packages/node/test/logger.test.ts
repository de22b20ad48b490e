import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { describe, it } from 'node:test'
import { createLogger } from '../src/logger.ts'

function capture() {
  const lines: Array<Record<string, unknown>> = []
  const destination = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line))
      done()
    },
  })
  return { lines, logger: createLogger({ level: 'info', destination }) }
}

describe('node logger', () => {
  it('censors secret fields at any of the first levels, in arrays too, without touching the caller object', () => {
    const { lines, logger } = capture()
    const object = {
      token: 'SECRET-1',
      nested: { apiKey: 'SECRET-2', kept: 1 },
      req: { headers: { authorization: 'Bearer SECRET-3', host: 'h' } },
      list: [{ password: 'SECRET-4' }],
      keep: 'visible',
    }
    logger.info(object, 'line')
    const text = JSON.stringify(lines)
    assert.doesNotMatch(text, /SECRET-/)
    assert.equal(lines[0]?.keep, 'visible')
    assert.deepEqual(lines[0]?.nested, { apiKey: '[redacted]', kept: 1 })
    assert.deepEqual(lines[0]?.req, { headers: { authorization: '[redacted]', host: 'h' } })
    assert.equal(object.token, 'SECRET-1', 'the caller object is not modified')
  })

  it('censors secret fields of child bindings and of child log lines', () => {
    const { lines, logger } = capture()
    logger.child({ walletKey: 'SECRET-5', part: 'x' }).info({ privateKey: 'SECRET-6' }, 'child line')
    assert.doesNotMatch(JSON.stringify(lines), /SECRET-/)
    assert.equal(lines[0]?.part, 'x')
  })
})
