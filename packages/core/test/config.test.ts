import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { envName, loadConfig } from '../src/index.ts'

describe('config', () => {
  it('has documented defaults', () => {
    const { config } = loadConfig()
    assert.equal(config.messages.maxBytes, 256 * 1024)
    assert.equal(config.api.host, '127.0.0.1')
    assert.deepEqual(config.bootstrap, [])
  })

  it('applies defaults < file < environment < flags', () => {
    const { config } = loadConfig({
      file: { api: { port: 1000 }, mdns: true, messages: { maxBytes: 4096 } },
      env: { PRSM_API_PORT: '2000', PRSM_MESSAGES_MAX_BYTES: '8192' },
      flags: { api: { port: 3000 } },
    })
    assert.equal(config.api.port, 3000)
    assert.equal(config.messages.maxBytes, 8192)
    assert.equal(config.mdns, true)
    assert.equal(config.api.host, '127.0.0.1')
  })

  it('maps camelCase paths to PRSM_ names and parses lists and booleans', () => {
    assert.equal(envName(['messages', 'maxClockSkewMs']), 'PRSM_MESSAGES_MAX_CLOCK_SKEW_MS')
    const { config, warnings } = loadConfig({
      env: {
        PRSM_BOOTSTRAP: '/ip4/127.0.0.1/tcp/1/p2p/x, /ip4/127.0.0.1/tcp/2/p2p/y',
        PRSM_MDNS: 'true',
        PRSM_NOPE: '1',
      },
    })
    assert.equal(config.bootstrap.length, 2)
    assert.equal(config.mdns, true)
    assert.deepEqual(warnings, ['unknown environment variable PRSM_NOPE ignored'])
  })

  it('freezes the result', () => {
    const { config } = loadConfig()
    assert.throws(() => {
      ;(config.api as { port: number }).port = 5
    }, TypeError)
  })

  it('names the field path and reason of an invalid value', () => {
    try {
      loadConfig({ env: { PRSM_API_PORT: 'abc' } })
      assert.fail('expected an error')
    } catch (err) {
      const e = err as { code: string; details: { path: string; reason: string } }
      assert.equal(e.code, 'CONFIG_INVALID')
      assert.equal(e.details.path, 'api.port')
    }
    assert.throws(() => loadConfig({ file: { lisen: [] } }), /Unrecognized key/)
    assert.throws(() => loadConfig({ flags: { listen: ['not-an-addr'] } }), /listen\.0/)
  })
})
