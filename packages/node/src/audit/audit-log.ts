import { createHash } from 'node:crypto'
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { peerIdFromString } from '@libp2p/peer-id'
import { PrsmError } from '@prsm/core'

/** The audit categories (issue 8). */
export const AUDIT_CATEGORIES = [
  'authentication',
  'authorization',
  'data_access',
  'api_security',
  'network_security',
  'crypto_operations',
  'governance',
  'marketplace',
  'web3_operations',
  'user_activity',
  'system_integrity',
  'compliance',
  'threat_detection',
  'incident_response',
] as const
export type AuditCategory = (typeof AUDIT_CATEGORIES)[number]
export type AuditOutcome = 'success' | 'failure' | 'denied' | 'info'

/** What a part of the node appends. */
export interface AuditInput {
  category: AuditCategory
  type: string
  actor?: string
  subject?: string
  outcome: AuditOutcome
  /** 0 (none) … 100 (critical). */
  risk?: number
  details?: Record<string, unknown>
}

export interface AuditEntry {
  seq: number
  time: number
  category: AuditCategory
  type: string
  actor: string
  subject: string
  outcome: AuditOutcome
  risk: number
  details: Record<string, unknown>
  prevHash: string
  hash: string
}

export interface AuditCheckpoint {
  seq: number
  hash: string
  signer: string
  signature: string
  time: number
}

export interface AuditQuery {
  since?: number
  until?: number
  category?: AuditCategory
  type?: string
  minRisk?: number
  afterSeq?: number
  limit?: number
}

/** The result of `verify`: the first bad entry is named by its seq. */
export type AuditVerification =
  | { ok: true; entries: number; checkpoints: number; head: string }
  | {
      ok: false
      entries: number
      checkpoints: number
      /** The first entry that does not verify (or the first missing seq). */
      firstBadSeq: number
      problem: 'hash-mismatch' | 'chain-broken' | 'missing-entry' | 'checkpoint-mismatch' | 'bad-signature'
      message: string
    }

/** Signs checkpoints: the node key. */
export interface AuditSigner {
  peerId: string
  sign(data: Uint8Array): Uint8Array | Promise<Uint8Array>
}

export interface AuditLogInit {
  /** SQLite file (`<dataDir>/audit.db`); ':memory:' for tests. */
  path: string
  /** A signed checkpoint every this many entries (default 100). */
  checkpointEvery?: number
}

export interface AuditLogComponents {
  signer?: AuditSigner
  /** Called after every append (alert rules). */
  onAppend?: (entry: AuditEntry) => void
  logger?: { warn(obj: object, msg: string): void }
}

export interface AuditLog {
  append(input: AuditInput): AuditEntry
  query(q?: AuditQuery): AuditEntry[]
  checkpoints(): AuditCheckpoint[]
  head(): { seq: number; hash: string }
  /** Re-checks every entry's hash, the chain, the seq sequence and every checkpoint signature. */
  verify(options?: { signer?: string }): Promise<AuditVerification>
  /** Resolves when every pending checkpoint signature is written. */
  flush(): Promise<void>
  close(): void
}

export const AUDIT_FILE = 'audit.db'
export const GENESIS_HASH = '0'.repeat(64)
const CHECKPOINT_DOMAIN = 'prsm-audit-checkpoint-v1:'
const MAX_DETAILS_BYTES = 16 * 1024

/** The hash of an entry: sha256 over the previous hash and the entry's stored fields. */
export function entryHash(
  prevHash: string,
  e: Omit<AuditEntry, 'hash' | 'prevHash' | 'details'> & { detailsJson: string },
): string {
  return createHash('sha256')
    .update(
      JSON.stringify([
        prevHash,
        e.seq,
        e.time,
        e.category,
        e.type,
        e.actor,
        e.subject,
        e.outcome,
        e.risk,
        e.detailsJson,
      ]),
    )
    .digest('hex')
}

function checkpointBytes(seq: number, hash: string): Uint8Array {
  return new TextEncoder().encode(`${CHECKPOINT_DOMAIN}${seq}:${hash}`)
}

interface Row {
  seq: number
  time: number
  category: string
  type: string
  actor: string
  subject: string
  outcome: string
  risk: number
  details: string
  prev_hash: string
  hash: string
}

function toEntry(r: Row): AuditEntry {
  return {
    seq: r.seq,
    time: r.time,
    category: r.category as AuditCategory,
    type: r.type,
    actor: r.actor,
    subject: r.subject,
    outcome: r.outcome as AuditOutcome,
    risk: r.risk,
    details: JSON.parse(r.details) as Record<string, unknown>,
    prevHash: r.prev_hash,
    hash: r.hash,
  }
}

function validate(input: AuditInput): void {
  if (!(AUDIT_CATEGORIES as readonly string[]).includes(input.category)) {
    throw new PrsmError('VALIDATION_FAILED', `unknown audit category ${JSON.stringify(input.category)}`)
  }
  if (typeof input.type !== 'string' || input.type.length === 0 || input.type.length > 128) {
    throw new PrsmError('VALIDATION_FAILED', 'audit type must be a string of 1-128 characters')
  }
  const risk = input.risk ?? 0
  if (!Number.isFinite(risk) || risk < 0 || risk > 100) {
    throw new PrsmError('VALIDATION_FAILED', 'audit risk must be a number from 0 to 100')
  }
}

/**
 * The node's audit log: append-only entries in SQLite (UPDATE and DELETE are refused by
 * triggers), each hash-chained to the one before, with a checkpoint of the head signed by the
 * node key every `checkpointEvery` entries. Anyone with the file can `verify` it: an edited,
 * deleted or reordered entry is named by its seq; an entry rewritten together with every later
 * hash is caught by the signed checkpoints.
 */
export function createAuditLog(init: AuditLogInit, components: AuditLogComponents = {}): AuditLog {
  if (init.path !== ':memory:') mkdirSync(dirname(init.path), { recursive: true })
  const db = new DatabaseSync(init.path)
  db.exec(`
    PRAGMA journal_mode = WAL;
    PRAGMA synchronous = NORMAL;
    PRAGMA busy_timeout = 5000;
    CREATE TABLE IF NOT EXISTS entries (
      seq INTEGER PRIMARY KEY,
      time INTEGER NOT NULL,
      category TEXT NOT NULL,
      type TEXT NOT NULL,
      actor TEXT NOT NULL,
      subject TEXT NOT NULL,
      outcome TEXT NOT NULL,
      risk REAL NOT NULL,
      details TEXT NOT NULL,
      prev_hash TEXT NOT NULL,
      hash TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS entries_time ON entries (time);
    CREATE TABLE IF NOT EXISTS checkpoints (
      seq INTEGER PRIMARY KEY,
      hash TEXT NOT NULL,
      signer TEXT NOT NULL,
      signature TEXT NOT NULL,
      time INTEGER NOT NULL
    );
    CREATE TRIGGER IF NOT EXISTS entries_no_update BEFORE UPDATE ON entries
      BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    CREATE TRIGGER IF NOT EXISTS entries_no_delete BEFORE DELETE ON entries
      BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
  `)
  const every = init.checkpointEvery ?? 100
  const insert = db.prepare(
    'INSERT INTO entries (seq, time, category, type, actor, subject, outcome, risk, details, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
  )
  const insertCheckpoint = db.prepare(
    'INSERT OR REPLACE INTO checkpoints (seq, hash, signer, signature, time) VALUES (?, ?, ?, ?, ?)',
  )
  const last = db.prepare('SELECT seq, hash FROM entries ORDER BY seq DESC LIMIT 1').get() as
    | { seq: number; hash: string }
    | undefined
  let head = { seq: last?.seq ?? 0, hash: last?.hash ?? GENESIS_HASH }
  let pending: Promise<void> = Promise.resolve()
  let closed = false

  const checkpoint = (seq: number, hash: string): void => {
    const signer = components.signer
    if (signer === undefined) return
    pending = pending.then(async () => {
      try {
        const signature = await signer.sign(checkpointBytes(seq, hash))
        if (!closed)
          insertCheckpoint.run(
            seq,
            hash,
            signer.peerId,
            Buffer.from(signature).toString('base64'),
            Date.now(),
          )
      } catch (err) {
        components.logger?.warn({ err: String(err), seq }, 'audit checkpoint signing failed')
      }
    })
  }

  const log: AuditLog = {
    append(input) {
      if (closed) throw new PrsmError('INTERNAL', 'the audit log is closed')
      validate(input)
      const detailsJson = JSON.stringify(input.details ?? {})
      if (detailsJson.length > MAX_DETAILS_BYTES) {
        throw new PrsmError('VALIDATION_FAILED', `audit details exceed ${MAX_DETAILS_BYTES} bytes`)
      }
      const fields = {
        seq: head.seq + 1,
        time: Date.now(),
        category: input.category,
        type: input.type,
        actor: input.actor ?? '',
        subject: input.subject ?? '',
        outcome: input.outcome,
        risk: input.risk ?? 0,
        detailsJson,
      }
      const hash = entryHash(head.hash, fields)
      insert.run(
        fields.seq,
        fields.time,
        fields.category,
        fields.type,
        fields.actor,
        fields.subject,
        fields.outcome,
        fields.risk,
        detailsJson,
        head.hash,
        hash,
      )
      const entry: AuditEntry = {
        seq: fields.seq,
        time: fields.time,
        category: fields.category,
        type: fields.type,
        actor: fields.actor,
        subject: fields.subject,
        outcome: fields.outcome,
        risk: fields.risk,
        details: JSON.parse(detailsJson) as Record<string, unknown>,
        prevHash: head.hash,
        hash,
      }
      head = { seq: fields.seq, hash }
      if (fields.seq % every === 0) checkpoint(fields.seq, hash)
      try {
        components.onAppend?.(entry)
      } catch (err) {
        components.logger?.warn({ err: String(err) }, 'audit listener failed')
      }
      return entry
    },
    query(q = {}) {
      const where: string[] = []
      const args: Array<string | number> = []
      const filters: Array<[string, string | number | undefined]> = [
        ['time >= ?', q.since],
        ['time < ?', q.until],
        ['category = ?', q.category],
        ['type = ?', q.type],
        ['risk >= ?', q.minRisk],
        ['seq > ?', q.afterSeq],
      ]
      for (const [clause, value] of filters) {
        if (value === undefined) continue
        where.push(clause)
        args.push(value)
      }
      const sql = `SELECT * FROM entries${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY seq LIMIT ?`
      args.push(Math.min(Math.max(q.limit ?? 1000, 1), 100_000))
      return (db.prepare(sql).all(...args) as unknown as Row[]).map(toEntry)
    },
    checkpoints: () => readCheckpoints(db),
    head: () => ({ ...head }),
    async verify(options = {}) {
      await pending
      return verifyDatabase(db, options)
    },
    flush: () => pending,
    close() {
      if (closed) return
      closed = true
      void pending.finally(() => db.close())
    },
  }
  return log
}

function readCheckpoints(db: DatabaseSync): AuditCheckpoint[] {
  return db
    .prepare('SELECT seq, hash, signer, signature, time FROM checkpoints ORDER BY seq')
    .all() as unknown as AuditCheckpoint[]
}

async function verifySignature(c: AuditCheckpoint): Promise<boolean> {
  try {
    const key = peerIdFromString(c.signer).publicKey
    if (key === undefined) return false
    return await key.verify(checkpointBytes(c.seq, c.hash), Buffer.from(c.signature, 'base64'))
  } catch {
    return false
  }
}

/**
 * Verifies an audit database: every seq present from 1, every hash recomputed, every prevHash
 * the hash before it, every checkpoint signed (by `signer` when given) and matching the entry it
 * covers. Reports the first bad entry.
 */
export async function verifyDatabase(
  db: DatabaseSync,
  options: { signer?: string } = {},
): Promise<AuditVerification> {
  const checkpoints = readCheckpoints(db)
  const bySeq = new Map(checkpoints.map((c) => [c.seq, c]))
  let count = 0
  let prev = GENESIS_HASH
  let expected = 1
  const fail = (
    firstBadSeq: number,
    problem: Extract<AuditVerification, { ok: false }>['problem'],
    message: string,
  ): AuditVerification => ({
    ok: false,
    entries: count,
    checkpoints: checkpoints.length,
    firstBadSeq,
    problem,
    message,
  })
  // Checkpoint signatures first: a rewritten chain is located by the first checkpoint it breaks.
  for (const c of checkpoints) {
    if (!(await verifySignature(c)) || (options.signer !== undefined && c.signer !== options.signer)) {
      return fail(c.seq, 'bad-signature', `checkpoint at seq ${c.seq} is not signed by the node key`)
    }
  }
  let lastGoodCheckpoint = 0
  for (const r of db.prepare('SELECT * FROM entries ORDER BY seq').iterate() as Iterable<Row>) {
    count++
    if (r.seq !== expected) {
      return fail(expected, 'missing-entry', `entry ${expected} is missing (next entry is ${r.seq})`)
    }
    if (r.prev_hash !== prev) {
      return fail(
        r.seq,
        'chain-broken',
        `entry ${r.seq} does not follow entry ${r.seq - 1} (previous hash differs)`,
      )
    }
    const hash = entryHash(prev, {
      ...r,
      category: r.category as AuditCategory,
      outcome: r.outcome as AuditOutcome,
      detailsJson: r.details,
    })
    if (hash !== r.hash) {
      return fail(r.seq, 'hash-mismatch', `entry ${r.seq} was changed after it was written (hash differs)`)
    }
    const c = bySeq.get(r.seq)
    if (c !== undefined) {
      if (c.hash !== r.hash) {
        return fail(
          lastGoodCheckpoint + 1,
          'checkpoint-mismatch',
          `entries ${lastGoodCheckpoint + 1}-${r.seq} do not match the signed checkpoint at seq ${r.seq}`,
        )
      }
      lastGoodCheckpoint = r.seq
    }
    prev = r.hash
    expected++
  }
  const lastCheckpoint = checkpoints.at(-1)
  if (lastCheckpoint !== undefined && lastCheckpoint.seq >= expected) {
    return fail(
      expected,
      'missing-entry',
      `entries from ${expected} are missing (a checkpoint covers seq ${lastCheckpoint.seq})`,
    )
  }
  return { ok: true, entries: count, checkpoints: checkpoints.length, head: prev }
}

/** Verifies an audit file without a running node (`prsm audit verify --data-dir`). */
export async function verifyAuditFile(
  path: string,
  options: { signer?: string } = {},
): Promise<AuditVerification> {
  let db: DatabaseSync
  try {
    db = new DatabaseSync(path, { readOnly: true })
  } catch (err) {
    throw new PrsmError('NOT_FOUND', `no audit log at ${path}`, { cause: err })
  }
  try {
    return await verifyDatabase(db, options)
  } finally {
    db.close()
  }
}
