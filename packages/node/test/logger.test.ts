import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { pino } from 'pino'
import { type AccessEntry, accessLogWriter, BufferedDestination, createLogger } from '../src/logger.ts'

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

/** A line's fields without its time (the two lines compared were written a moment apart). */
function withoutTime(line: Record<string, unknown> | undefined): Record<string, unknown> {
  const { time, ...rest } = line ?? {}
  assert.equal(typeof time, 'number')
  return rest
}

describe('access log lines', () => {
  const entry: AccessEntry = {
    reqId: 'req-7',
    method: 'GET',
    route: '/api/v1/content/:cid',
    status: 200,
    ms: 3,
    key: '0123456789ab',
    role: 'user',
  }

  it('are the lines logger.info writes, for the root logger and a child with bindings', () => {
    const { lines, logger } = capture()
    const child = logger.child({ component: 'api', token: 'SECRET-7' })
    for (const l of [logger, child]) {
      assert.equal(accessLogWriter(l, 'api request').direct, true, 'the line is built directly')
      accessLogWriter(l, 'api request')(entry)
      l.info({ ...entry }, 'api request')
      accessLogWriter(l, 'api request')({ ...entry, route: null, key: undefined, role: undefined })
      l.info({ ...entry, route: null, key: undefined, role: undefined }, 'api request')
    }
    assert.equal(lines.length, 8)
    for (let i = 0; i < 8; i += 2) assert.deepEqual(withoutTime(lines[i]), withoutTime(lines[i + 1]))
    assert.equal(lines[0]?.msg, 'api request')
    assert.equal(lines[0]?.route, '/api/v1/content/:cid')
    assert.equal(lines[2]?.route, null)
    assert.equal('key' in (lines[2] ?? {}), false, 'an absent key is left out, as pino does')
    assert.equal(lines[4]?.component, 'api')
    assert.equal(lines[4]?.token, '[redacted]', 'child bindings keep their redaction')
    assert.doesNotMatch(JSON.stringify(lines), /SECRET-/)
  })

  it('escape field values like JSON', () => {
    const { lines, logger } = capture()
    accessLogWriter(logger, 'api request')({ ...entry, reqId: 'a"b\\c\n', method: 'GËT' })
    assert.equal(lines[0]?.reqId, 'a"b\\c\n')
    assert.equal(lines[0]?.method, 'GËT')
  })

  it('follow the logger level, also when it changes', () => {
    const { lines, logger } = capture()
    const write = accessLogWriter(logger, 'api request')
    logger.level = 'warn'
    write(entry)
    assert.equal(lines.length, 0)
    logger.level = 'info'
    write(entry)
    assert.equal(lines.length, 1)
  })

  it('go through logger.info for a child that changes how lines are written, and for other loggers', () => {
    const { lines, logger } = capture()
    const child = logger.child({}, { serializers: { key: () => 'hidden' } })
    assert.equal(accessLogWriter(child, 'api request').direct, false)
    accessLogWriter(child, 'api request')(entry)
    assert.equal(lines[0]?.key, 'hidden')
    const formatted = logger.child({}, { formatters: { log: (o) => ({ ...o, extra: 1 }) } })
    assert.equal(accessLogWriter(formatted, 'api request').direct, false)
    accessLogWriter(formatted, 'api request')(entry)
    assert.equal(lines[1]?.extra, 1)
    const other: Array<Record<string, unknown>> = []
    const plain = pino({ base: null, timestamp: false }, { write: (s: string) => other.push(JSON.parse(s)) })
    assert.equal(accessLogWriter(plain, 'api request').direct, false)
    accessLogWriter(plain, 'api request')(entry)
    assert.deepEqual(other, [{ level: 30, ...entry, msg: 'api request' }])
  })
})

describe('buffered destination', () => {
  function fileLogger(options?: { maxBytes?: number; maxDelayMs?: number }) {
    const dir = mkdtempSync(join(tmpdir(), 'prsm-log-'))
    const file = join(dir, 'node.log')
    const destination = new BufferedDestination(file, options)
    const logger = createLogger({ level: 'info', destination })
    const read = (): Array<Record<string, unknown>> =>
      readFileSync(file, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l))
    return { logger, destination, read, cleanup: () => rmSync(dir, { recursive: true, force: true }) }
  }

  it('writes lines in batches: when maxBytes are waiting, after maxDelayMs, at once for errors, on flush', async () => {
    const { logger, read, cleanup } = fileLogger({ maxBytes: 1000, maxDelayMs: 200 })
    try {
      logger.info('one')
      logger.info('two')
      assert.deepEqual(read(), [], 'info lines wait')
      logger.error({ err: new Error('boom') }, 'three')
      assert.deepEqual(
        read().map((l) => l.msg),
        ['one', 'two', 'three'],
        'an error line is written at once, after the lines before it',
      )
      for (let i = 0; i < 20; i++) logger.info({ i, pad: 'x'.repeat(40) }, 'bulk')
      const written = read().length
      assert.ok(written > 3 && written < 23, `a full buffer is written without waiting (${written} lines)`)
      logger.info('four')
      await sleep(600)
      assert.equal(read().at(-1)?.msg, 'four', 'a waiting line is written after maxDelayMs')
      logger.info('five')
      await new Promise<void>((resolve, reject) => logger.flush((err) => (err ? reject(err) : resolve())))
      assert.equal(read().at(-1)?.msg, 'five', 'logger.flush() writes what is waiting')
      assert.equal(read().length, 25)
      const long = `${'é'.repeat(30_000)}\u{1F600}"`
      logger.info('before')
      logger.info({ long }, 'long')
      logger.info({ text: 'ünïcødé ✓' }, 'after')
      logger.flush()
      assert.deepEqual(
        read()
          .slice(25)
          .map((l) => [l.msg, l.long ?? l.text]),
        [
          ['before', undefined],
          ['long', long],
          ['after', 'ünïcødé ✓'],
        ],
        'a line longer than the buffer keeps its place; UTF-8 is written whole',
      )
    } finally {
      cleanup()
    }
  })

  it('loses no line when the process exits normally, calls process.exit() or dies of an uncaught exception', () => {
    const dir = mkdtempSync(join(tmpdir(), 'prsm-log-exit-'))
    const logger = fileURLToPath(new URL('../src/logger.ts', import.meta.url))
    try {
      for (const ending of ['', 'process.exit(3)', "throw new Error('crash')"]) {
        const file = join(dir, `${ending.length}.log`)
        const script = `
          import { BufferedDestination, createLogger } from ${JSON.stringify(logger)}
          const log = createLogger({ level: 'info', destination: new BufferedDestination(${JSON.stringify(file)}) })
          for (let i = 0; i < 1000; i++) log.info({ i }, 'line')
          setTimeout(() => { log.info({ i: 1000 }, 'last'); ${ending} }, 5)
        `
        spawnSync(process.execPath, ['--input-type=module', '-e', script], { stdio: 'ignore' })
        const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean)
        assert.equal(lines.length, 1001, `every line written (${ending || 'normal exit'})`)
        assert.equal(JSON.parse(lines.at(-1) as string).msg, 'last')
      }
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
