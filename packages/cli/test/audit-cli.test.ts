import assert from 'node:assert/strict'
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { after, before, describe, it } from 'node:test'
import type { PrsmNode } from '@prsm/node'
import { startTestNode } from '../../node/test/helpers.ts'
import { prsm } from './prsm-runner.ts'

describe('prsm audit', () => {
  let node: PrsmNode
  let dataDir: string
  before(async () => {
    node = await startTestNode({ api: true, config: { audit: { checkpointEvery: 4 } } })
    dataDir = node.dataDir
    for (let i = 0; i < 9; i++) {
      node.audit.append({
        category: i % 3 === 0 ? 'threat_detection' : 'user_activity',
        type: `test.${i}`,
        outcome: 'info',
        risk: i * 10,
      })
    }
    await node.audit.flush()
  })
  after(async () => {
    await node?.stop().catch(() => undefined)
    if (dataDir) await rm(dataDir, { recursive: true, force: true })
  })

  it('list, export (JSON lines, filtered) and verify against the running node', async () => {
    const list = await prsm([
      'audit',
      'list',
      '--category',
      'threat_detection',
      '--data-dir',
      dataDir,
      '--json',
    ])
    assert.equal(list.code, 0, list.stderr)
    const { entries } = JSON.parse(list.stdout) as { entries: Array<{ type: string }> }
    assert.deepEqual(
      entries.map((e) => e.type),
      ['test.0', 'test.3', 'test.6'],
    )
    const exported = await prsm([
      'audit',
      'export',
      '--min-risk',
      '50',
      '--format',
      'jsonl',
      '--data-dir',
      dataDir,
    ])
    assert.equal(exported.code, 0, exported.stderr)
    const lines = exported.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { risk: number; hash: string })
    assert.deepEqual(
      lines.map((l) => l.risk),
      [50, 60, 70, 80],
    )
    assert.ok(lines.every((l) => /^[0-9a-f]{64}$/.test(l.hash)))
    const verify = await prsm(['audit', 'verify', '--data-dir', dataDir])
    assert.equal(verify.code, 0, verify.stderr)
    assert.match(verify.stdout, /audit log ok: \d+ entries, \d+ signed checkpoints/)
    const bad = await prsm(['audit', 'export', '--format', 'csv', '--data-dir', dataDir])
    assert.equal(bad.code, 2)
  })

  it('verify --offline on a stopped node names the first edited entry', async () => {
    await node.stop()
    const ok = await prsm(['audit', 'verify', '--offline', '--data-dir', dataDir, '--json'])
    assert.equal(ok.code, 0, ok.stderr)
    assert.equal((JSON.parse(ok.stdout) as { ok: boolean }).ok, true)
    const db = new DatabaseSync(join(dataDir, 'audit.db'))
    db.exec('DROP TRIGGER entries_no_update')
    db.prepare("UPDATE entries SET outcome = 'success' WHERE type = 'test.4'").run()
    const seq = (db.prepare("SELECT seq FROM entries WHERE type = 'test.4'").get() as { seq: number }).seq
    db.close()
    const tampered = await prsm(['audit', 'verify', '--offline', '--data-dir', dataDir])
    assert.equal(tampered.code, 1)
    assert.match(
      tampered.stderr,
      new RegExp(`AUDIT_LOG_TAMPERED: first bad entry ${seq} \\(hash-mismatch\\)`),
    )
  })
})
