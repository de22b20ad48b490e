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

/** A priced job's charge: what the client owes for a delivered receipt, and when it paid. */
export interface StoredCharge {
  client: string
  requestId: string
  channel: string
  amount: bigint
  chargedAt: number
  paidAt: number | undefined
}

export type StoredJob =
  | { status: 'running'; requestHash: string; startedAt: number }
  | { status: 'interrupted'; requestHash: string; startedAt: number }
  | { status: 'done'; requestHash: string; startedAt: number; receipt: JobReceipt }

/**
 * The provider's journal of jobs by (client, request id): a request id is claimed before any
 * work starts, and its receipt is stored when the job ends, so a retried request gets the stored
 * receipt instead of running or billing again. Priced jobs leave a charge, unpaid until the
 * client's voucher after delivery covers it (kept across restarts). Jobs still
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
  /** Records what a finished priced job charged, unpaid until a voucher on `channel` covers it. */
  addCharge(charge: Omit<StoredCharge, 'paidAt'>): void
  /** The charge of one request, when it was priced. */
  charge(client: string, requestId: string): StoredCharge | undefined
  /** Unpaid charges on a channel (every client), oldest first. */
  unpaid(channel: string): StoredCharge[]
  /** The oldest unpaid charge of a client (any channel). */
  oldestUnpaid(client: string): StoredCharge | undefined
  markPaid(client: string, requestId: string, at: number): void
  /**
   * Per channel: the provider's net share (cumulative amount − royalties) of the newest voucher
   * already counted against charges; undefined before the first charge on the channel.
   */
  accounted(channel: string): bigint | undefined
  setAccounted(channel: string, amount: bigint): void
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
    CREATE TABLE IF NOT EXISTS charges (
      client TEXT NOT NULL,
      request_id TEXT NOT NULL,
      channel TEXT NOT NULL,
      amount TEXT NOT NULL,
      charged_at INTEGER NOT NULL,
      paid_at INTEGER,
      PRIMARY KEY (client, request_id)
    );
    CREATE INDEX IF NOT EXISTS charges_unpaid ON charges (channel, charged_at) WHERE paid_at IS NULL;
    CREATE TABLE IF NOT EXISTS channel_marks (
      channel TEXT PRIMARY KEY,
      accounted TEXT NOT NULL
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
  const insertCharge = db.prepare(
    `INSERT INTO charges (client, request_id, channel, amount, charged_at) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT DO NOTHING`,
  )
  const columns = 'client, request_id, channel, amount, charged_at, paid_at'
  const selectCharge = db.prepare(`SELECT ${columns} FROM charges WHERE client = ? AND request_id = ?`)
  const selectUnpaid = db.prepare(
    `SELECT ${columns} FROM charges WHERE channel = ? AND paid_at IS NULL ORDER BY charged_at, request_id`,
  )
  const selectOldest = db.prepare(
    `SELECT ${columns} FROM charges WHERE client = ? AND paid_at IS NULL ORDER BY charged_at LIMIT 1`,
  )
  const updatePaid = db.prepare(
    'UPDATE charges SET paid_at = ? WHERE client = ? AND request_id = ? AND paid_at IS NULL',
  )
  const selectMark = db.prepare('SELECT accounted FROM channel_marks WHERE channel = ?')
  const upsertMark = db.prepare(
    `INSERT INTO channel_marks (channel, accounted) VALUES (?, ?)
     ON CONFLICT (channel) DO UPDATE SET accounted = excluded.accounted`,
  )
  type ChargeRow = {
    client: string
    request_id: string
    channel: string
    amount: string
    charged_at: number
    paid_at: number | null
  }
  const toCharge = (row: ChargeRow | undefined): StoredCharge | undefined =>
    row === undefined
      ? undefined
      : {
          client: row.client,
          requestId: row.request_id,
          channel: row.channel,
          amount: BigInt(row.amount),
          chargedAt: row.charged_at,
          paidAt: row.paid_at ?? undefined,
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
    addCharge(c) {
      insertCharge.run(c.client, c.requestId, c.channel.toLowerCase(), c.amount.toString(), c.chargedAt)
    },
    charge(client, requestId) {
      return toCharge(selectCharge.get(client, requestId) as ChargeRow | undefined)
    },
    unpaid(channel) {
      return (selectUnpaid.all(channel.toLowerCase()) as ChargeRow[]).map((r) => toCharge(r) as StoredCharge)
    },
    oldestUnpaid(client) {
      return toCharge(selectOldest.get(client) as ChargeRow | undefined)
    },
    markPaid(client, requestId, at) {
      updatePaid.run(at, client, requestId)
    },
    accounted(channel) {
      const row = selectMark.get(channel.toLowerCase()) as { accounted: string } | undefined
      return row === undefined ? undefined : BigInt(row.accounted)
    },
    setAccounted(channel, amount) {
      upsertMark.run(channel.toLowerCase(), amount.toString())
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
