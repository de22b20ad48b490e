import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import * as dagCbor from '@ipld/dag-cbor'
import type { JobReceipt } from './messages.ts'

export interface JobStoreInit {
  /** Database file (created with its directory); ':memory:' for tests. */
  path: string
  /** Finished jobs older than this are forgotten when the store opens (default 7 days). */
  retentionMs?: number
}

/** How long receipts are kept for retries by default. */
export const DEFAULT_RECEIPT_RETENTION_MS = 7 * 24 * 3600_000

export type StoredJob =
  | { status: 'running'; requestHash: string; startedAt: number }
  | { status: 'interrupted'; requestHash: string; startedAt: number }
  | { status: 'done'; requestHash: string; startedAt: number; receipt: JobReceipt }

/**
 * The provider's journal of jobs by (client, request id): a request id is claimed before any
 * voucher is accepted or any work starts, and its receipt is stored when the job ends, so a
 * retried request gets the stored receipt instead of running or billing again. Jobs still
 * running when the node stopped are marked interrupted at the next start.
 */
export interface JobStore {
  get(client: string, requestId: string): StoredJob | undefined
  /** Claims a request id (false when the client already used it). */
  claim(client: string, requestId: string, requestHash: string, startedAt: number): boolean
  /** Stores the receipt of a claimed request. */
  finish(client: string, requestId: string, receipt: JobReceipt): void
  /** Releases a claim on a request that was refused before any work or payment. */
  release(client: string, requestId: string): void
  /** The client's unspent credit on a channel (vouchered amounts not charged), wei. */
  credit(client: string, channel: string): bigint
  /** Adds `delta` (may be negative) to the client's credit on a channel; returns the new credit. */
  addCredit(client: string, channel: string, delta: bigint): bigint
  close(): void
}

/** Opens (creating its directory) a SQLite database of the jobs area and creates its schema. */
export function openJobsDb(path: string, schema: string): DatabaseSync {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true })
  const db = new DatabaseSync(path)
  db.exec(`PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;\n${schema}`)
  return db
}

export function createJobStore(init: JobStoreInit): JobStore {
  const db = openJobsDb(
    init.path,
    `
    CREATE TABLE IF NOT EXISTS jobs (
      client TEXT NOT NULL,
      request_id TEXT NOT NULL,
      request_hash TEXT NOT NULL,
      status TEXT NOT NULL,
      started_at INTEGER NOT NULL,
      finished_at INTEGER,
      receipt BLOB,
      PRIMARY KEY (client, request_id)
    );
    UPDATE jobs SET status = 'interrupted' WHERE status = 'running';
    CREATE TABLE IF NOT EXISTS credits (
      client TEXT NOT NULL,
      channel TEXT NOT NULL,
      credit TEXT NOT NULL,
      PRIMARY KEY (client, channel)
    );
  `,
  )
  db.prepare('DELETE FROM jobs WHERE started_at < ?').run(
    Date.now() - (init.retentionMs ?? DEFAULT_RECEIPT_RETENTION_MS),
  )
  const select = db.prepare(
    'SELECT request_hash, status, started_at, receipt FROM jobs WHERE client = ? AND request_id = ?',
  )
  const insert = db.prepare(
    `INSERT INTO jobs (client, request_id, request_hash, status, started_at) VALUES (?, ?, ?, 'running', ?)
     ON CONFLICT DO NOTHING`,
  )
  const update = db.prepare(
    `UPDATE jobs SET status = 'done', finished_at = ?, receipt = ? WHERE client = ? AND request_id = ?`,
  )
  const remove = db.prepare(`DELETE FROM jobs WHERE client = ? AND request_id = ? AND status = 'running'`)
  const selectCredit = db.prepare('SELECT credit FROM credits WHERE client = ? AND channel = ?')
  const upsertCredit = db.prepare(
    `INSERT INTO credits (client, channel, credit) VALUES (?, ?, ?)
     ON CONFLICT (client, channel) DO UPDATE SET credit = excluded.credit`,
  )
  const credit = (client: string, channel: string): bigint => {
    const row = selectCredit.get(client, channel.toLowerCase()) as { credit: string } | undefined
    return row === undefined ? 0n : BigInt(row.credit)
  }

  return {
    get(client, requestId) {
      const row = select.get(client, requestId) as
        | { request_hash: string; status: string; started_at: number; receipt: Uint8Array | null }
        | undefined
      if (row === undefined) return undefined
      const base = { requestHash: row.request_hash, startedAt: row.started_at }
      if (row.status === 'done' && row.receipt !== null) {
        return { status: 'done', ...base, receipt: dagCbor.decode<JobReceipt>(row.receipt) }
      }
      return { status: row.status === 'running' ? 'running' : 'interrupted', ...base }
    },
    claim(client, requestId, requestHash, startedAt) {
      return insert.run(client, requestId, requestHash, startedAt).changes === 1
    },
    finish(client, requestId, receipt) {
      update.run(receipt.finishedAt, dagCbor.encode(stripUndefined(receipt)), client, requestId)
    },
    release(client, requestId) {
      remove.run(client, requestId)
    },
    credit,
    addCredit(client, channel, delta) {
      const next = credit(client, channel) + delta
      if (next < 0n) throw new Error('credit would go negative')
      upsertCredit.run(client, channel.toLowerCase(), next.toString())
      return next
    },
    close() {
      db.close()
    },
  }
}

function stripUndefined<T>(value: T): T {
  if (Array.isArray(value)) return value.map(stripUndefined) as T
  if (value !== null && typeof value === 'object' && !(value instanceof Uint8Array)) {
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = stripUndefined(v)
    return out as T
  }
  return value
}
