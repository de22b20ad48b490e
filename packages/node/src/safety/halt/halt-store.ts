import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import * as dagCbor from '@ipld/dag-cbor'
import type { HaltCertificate, HaltEvidence } from './quorum.ts'

/** Certificates and evidence, kept across restarts (`<dataDir>/halt.db`). */
export interface HaltStore {
  saveCertificate(cert: HaltCertificate, receivedAt: number): void
  /** Every stored certificate, oldest epoch first per scope. */
  certificates(): Array<{ certificate: HaltCertificate; receivedAt: number }>
  saveEvidence(e: HaltEvidence): boolean
  evidence(): HaltEvidence[]
  close(): void
}

export function createHaltStore(path: string): HaltStore {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true })
  const db = new DatabaseSync(path)
  db.exec(`
    PRAGMA journal_mode = WAL;
    PRAGMA synchronous = NORMAL;
    PRAGMA busy_timeout = 5000;
    CREATE TABLE IF NOT EXISTS certificates (
      scope TEXT NOT NULL,
      epoch INTEGER NOT NULL,
      action TEXT NOT NULL,
      body BLOB NOT NULL,
      received_at INTEGER NOT NULL,
      PRIMARY KEY (scope, epoch)
    );
    CREATE TABLE IF NOT EXISTS evidence (
      id TEXT PRIMARY KEY,
      validator TEXT NOT NULL,
      body BLOB NOT NULL,
      time INTEGER NOT NULL
    );
  `)
  const putCert = db.prepare(
    'INSERT OR IGNORE INTO certificates (scope, epoch, action, body, received_at) VALUES (?, ?, ?, ?, ?)',
  )
  const putEvidence = db.prepare(
    'INSERT OR IGNORE INTO evidence (id, validator, body, time) VALUES (?, ?, ?, ?)',
  )
  return {
    saveCertificate(cert, receivedAt) {
      putCert.run(cert.scope, cert.epoch, cert.action, dagCbor.encode(cert), receivedAt)
    },
    certificates() {
      const rows = db
        .prepare('SELECT body, received_at FROM certificates ORDER BY scope, epoch')
        .all() as Array<{ body: Uint8Array; received_at: number }>
      return rows.map((r) => ({
        certificate: dagCbor.decode(r.body) as HaltCertificate,
        receivedAt: r.received_at,
      }))
    },
    saveEvidence(e) {
      return putEvidence.run(e.id, e.validator, dagCbor.encode(e), e.time).changes > 0
    },
    evidence() {
      const rows = db.prepare('SELECT body FROM evidence ORDER BY time').all() as Array<{ body: Uint8Array }>
      return rows.map((r) => dagCbor.decode(r.body) as HaltEvidence)
    },
    close() {
      db.close()
    },
  }
}
