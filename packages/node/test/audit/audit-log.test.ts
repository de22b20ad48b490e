import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { after, before, describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import {
  type AlertDelivery,
  type AuditSigner,
  createAuditAlerts,
  createAuditLog,
  entryHash,
  verifyAuditFile,
} from '../../src/audit/index.ts'

let dir: string
let signer: AuditSigner
let other: AuditSigner
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'prsm-audit-'))
  const make = async (): Promise<AuditSigner> => {
    const key = await generateKeyPair('Ed25519')
    return { peerId: peerIdFromPrivateKey(key).toString(), sign: (d) => key.sign(d) }
  }
  signer = await make()
  other = await make()
})
after(() => rmSync(dir, { recursive: true, force: true }))

let n = 0
/** A log of `count` entries (checkpoint every 5) in a fresh file; returns its path. */
async function writeLog(count: number): Promise<string> {
  const path = join(dir, `audit-${++n}.db`)
  const log = createAuditLog({ path, checkpointEvery: 5 }, { signer })
  for (let i = 1; i <= count; i++) {
    log.append({
      category: i % 2 ? 'authentication' : 'governance',
      type: `event-${i}`,
      actor: 'tester',
      subject: `s${i}`,
      outcome: 'success',
      risk: i,
      details: { i },
    })
  }
  await log.flush()
  log.close()
  await log.flush()
  return path
}

/** Opens the file as an attacker with write access would (triggers dropped). */
function tamper(path: string, sql: string, ...args: Array<string | number>): void {
  const db = new DatabaseSync(path)
  db.exec('DROP TRIGGER entries_no_update; DROP TRIGGER entries_no_delete;')
  db.prepare(sql).run(...args)
  db.close()
}

describe('audit log', () => {
  it('an intact log verifies, with signed checkpoints', async () => {
    const path = await writeLog(12)
    const r = await verifyAuditFile(path, { signer: signer.peerId })
    assert.equal(r.ok, true)
    assert.equal(r.entries, 12)
    assert.equal(r.checkpoints, 2)
  })

  it('refuses UPDATE and DELETE through SQL (append-only triggers)', async () => {
    const path = await writeLog(3)
    const db = new DatabaseSync(path)
    assert.throws(
      () => db.prepare("UPDATE entries SET outcome = 'failure' WHERE seq = 2").run(),
      /append-only/,
    )
    assert.throws(() => db.prepare('DELETE FROM entries WHERE seq = 2').run(), /append-only/)
    db.close()
  })

  it('an edited entry is detected and named', async () => {
    const path = await writeLog(12)
    tamper(path, "UPDATE entries SET outcome = 'failure' WHERE seq = 7")
    const r = await verifyAuditFile(path)
    assert.equal(r.ok, false)
    assert.equal(r.ok === false && r.firstBadSeq, 7)
    assert.equal(r.ok === false && r.problem, 'hash-mismatch')
  })

  it('a deleted entry is detected and named (middle and tail)', async () => {
    const path = await writeLog(12)
    tamper(path, 'DELETE FROM entries WHERE seq = 4')
    const r = await verifyAuditFile(path)
    assert.equal(r.ok === false && r.firstBadSeq, 4)
    assert.equal(r.ok === false && r.problem, 'missing-entry')
    // The tail up to a checkpoint: the signed checkpoint still names seq 10.
    const tail = await writeLog(10)
    tamper(tail, 'DELETE FROM entries WHERE seq >= 9')
    const t = await verifyAuditFile(tail)
    assert.equal(t.ok === false && t.firstBadSeq, 9)
  })

  it('reordered entries are detected and the first one named', async () => {
    const path = await writeLog(12)
    // Swap the contents (with their hashes) of entries 5 and 6, keeping the seq numbers.
    const db = new DatabaseSync(path)
    db.exec('DROP TRIGGER entries_no_update; DROP TRIGGER entries_no_delete;')
    db.exec(`
      UPDATE entries SET seq = -5 WHERE seq = 5;
      UPDATE entries SET seq = 5 WHERE seq = 6;
      UPDATE entries SET seq = 6 WHERE seq = -5;
    `)
    db.close()
    const r = await verifyAuditFile(path)
    assert.equal(r.ok, false)
    assert.equal(r.ok === false && r.firstBadSeq, 5)
  })

  it('a chain rewritten with fresh hashes is caught by the signed checkpoint', async () => {
    const path = await writeLog(12)
    // Rewrite entry 3 and recompute every hash after it, as an attacker without the node key can.
    const db = new DatabaseSync(path)
    db.exec('DROP TRIGGER entries_no_update; DROP TRIGGER entries_no_delete;')
    db.prepare("UPDATE entries SET actor = 'mallory' WHERE seq = 3").run()
    const rows = db.prepare('SELECT * FROM entries ORDER BY seq').all() as Array<{
      seq: number
      details: string
    }>
    let prev = '0'.repeat(64)
    for (const r of rows) {
      const hash = entryHash(prev, { ...(r as object), detailsJson: r.details } as never)
      db.prepare('UPDATE entries SET prev_hash = ?, hash = ? WHERE seq = ?').run(prev, hash, r.seq)
      prev = hash
    }
    db.close()
    const r = await verifyAuditFile(path)
    assert.equal(r.ok, false)
    assert.equal(r.ok === false && r.problem, 'checkpoint-mismatch')
    assert.equal(r.ok === false && r.firstBadSeq, 1)
  })

  it('a checkpoint signed by another key is rejected when the signer is named', async () => {
    const path = join(dir, 'other.db')
    const log = createAuditLog({ path, checkpointEvery: 2 }, { signer: other })
    log.append({ category: 'system_integrity', type: 'a', outcome: 'info' })
    log.append({ category: 'system_integrity', type: 'b', outcome: 'info' })
    assert.equal((await log.verify()).ok, true)
    const r = await log.verify({ signer: signer.peerId })
    assert.equal(r.ok === false && r.problem, 'bad-signature')
    log.close()
  })

  it('query filters by time, category and risk; bad input is refused', async () => {
    const log = createAuditLog({ path: ':memory:' })
    const t0 = Date.now()
    log.append({ category: 'governance', type: 'vote', outcome: 'success', risk: 10 })
    log.append({ category: 'threat_detection', type: 'injection', outcome: 'denied', risk: 80 })
    assert.deepEqual(
      log.query({ category: 'threat_detection' }).map((e) => e.type),
      ['injection'],
    )
    assert.deepEqual(
      log.query({ minRisk: 50, since: t0 }).map((e) => e.seq),
      [2],
    )
    assert.throws(
      () => log.append({ category: 'nonsense' as never, type: 'x', outcome: 'info' }),
      (e: { code?: string }) => e.code === 'VALIDATION_FAILED',
    )
    assert.throws(
      () => log.append({ category: 'governance', type: 'x', outcome: 'info', risk: 101 }),
      (e: { code?: string }) => e.code === 'VALIDATION_FAILED',
    )
    assert.equal(log.head().seq, 2)
    log.close()
  })
})

describe('audit alerts', () => {
  it('POSTs matching entries to the webhook, retrying until it answers 2xx', async () => {
    let calls = 0
    const bodies: unknown[] = []
    const server = createServer((req, res) => {
      let body = ''
      req.on('data', (c) => {
        body += c
      })
      req.on('end', () => {
        calls++
        bodies.push(JSON.parse(body))
        res.statusCode = calls <= 2 ? 500 : 204
        res.end()
      })
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`
    const deliveries: AlertDelivery[] = []
    const alerts = createAuditAlerts(
      [{ url, categories: ['threat_detection'], minRisk: 50, retryDelayMs: 10 }],
      { onDelivery: (d) => deliveries.push(d) },
    )
    const log = createAuditLog({ path: ':memory:' }, { onAppend: (e) => alerts.notify(e) })
    log.append({ category: 'threat_detection', type: 'low', outcome: 'denied', risk: 10 })
    log.append({ category: 'governance', type: 'other-category', outcome: 'info', risk: 90 })
    log.append({ category: 'threat_detection', type: 'injection', outcome: 'denied', risk: 90 })
    await alerts.idle()
    server.close()
    log.close()
    assert.equal(calls, 3)
    assert.deepEqual(deliveries, [{ url, seq: 3, attempts: 3, ok: true, status: 204 }])
    assert.equal((bodies[2] as { alert: { type: string } }).alert.type, 'injection')
  })
})
