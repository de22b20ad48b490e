import { hash, randomBytes } from 'node:crypto'
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import { DatabaseSync, type StatementSync } from 'node:sqlite'
import type { Role } from './permissions.ts'

/** An API key as stored: the secret itself is never stored, only its SHA-256. */
export interface ApiKeyRecord {
  id: string
  name: string
  org: string
  /** The organisation member the key acts for, if any. */
  member: string | null
  role: Role
  rateLimitPerMinute: number | null
  dailyBudgetWei: bigint | null
  createdAt: number
  createdBy: string
  expiresAt: number | null
  revokedAt: number | null
}

export interface OrgRecord {
  id: string
  name: string
  dailyBudgetWei: bigint | null
  createdAt: number
}

export interface MemberRecord {
  org: string
  member: string
  role: Role
  addedAt: number
}

/** Keys look like `prsm_<12 hex id>_<43 base64url chars>`; the id is public, the rest is the secret. */
export const KEY_PATTERN = /^prsm_([0-9a-f]{12})_[A-Za-z0-9_-]{43}$/

/** The organisation keys created without one belong to. */
export const DEFAULT_ORG = 'default'

/** SHA-256 of a key (hex), what the store keeps; one-shot `crypto.hash` (no Hash object per request). */
export function hashKey(key: string): string {
  return hash('sha256', key, 'hex')
}

export function newKeySecret(): { id: string; key: string } {
  const id = randomBytes(6).toString('hex')
  return { id, key: `prsm_${id}_${randomBytes(32).toString('base64url')}` }
}

/** The UTC day a spend counts against. */
export function utcDay(now = Date.now()): string {
  return new Date(now).toISOString().slice(0, 10)
}

type Row = Record<string, unknown>

const big = (v: unknown): bigint | null => (v === null || v === undefined ? null : BigInt(v as string))
const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v))

function keyFromRow(r: Row): ApiKeyRecord {
  return {
    id: r.id as string,
    name: r.name as string,
    org: r.org_id as string,
    member: (r.member as string | null) ?? null,
    role: r.role as Role,
    rateLimitPerMinute: num(r.rate_limit),
    dailyBudgetWei: big(r.daily_budget_wei),
    createdAt: Number(r.created_at),
    createdBy: r.created_by as string,
    expiresAt: num(r.expires_at),
    revokedAt: num(r.revoked_at),
  }
}

function orgFromRow(r: Row): OrgRecord {
  return {
    id: r.id as string,
    name: r.name as string,
    dailyBudgetWei: big(r.daily_budget_wei),
    createdAt: Number(r.created_at),
  }
}

/**
 * API keys, organisations, their members and daily FTNS spend, in `<dataDir>/api-keys.db`
 * (node:sqlite). Plain storage: who may do what is decided by ApiAuth.
 */
export class KeyStore {
  readonly #db: DatabaseSync
  readonly #statements = new Map<string, StatementSync>()

  /** A prepared statement, compiled once. */
  #sql(text: string): StatementSync {
    let statement = this.#statements.get(text)
    if (statement === undefined) {
      statement = this.#db.prepare(text)
      this.#statements.set(text, statement)
    }
    return statement
  }

  constructor(path: string) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true })
    this.#db = new DatabaseSync(path)
    this.#db.exec(`
      PRAGMA journal_mode = WAL;
      PRAGMA synchronous = NORMAL;
      PRAGMA busy_timeout = 5000;
      CREATE TABLE IF NOT EXISTS orgs (
        id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, daily_budget_wei TEXT, created_at INTEGER NOT NULL
      );
      CREATE TABLE IF NOT EXISTS members (
        org_id TEXT NOT NULL, member TEXT NOT NULL, role TEXT NOT NULL, added_at INTEGER NOT NULL,
        PRIMARY KEY (org_id, member)
      );
      CREATE TABLE IF NOT EXISTS keys (
        id TEXT PRIMARY KEY, hash TEXT NOT NULL UNIQUE, name TEXT NOT NULL, org_id TEXT NOT NULL,
        member TEXT, role TEXT NOT NULL, rate_limit INTEGER, daily_budget_wei TEXT,
        created_at INTEGER NOT NULL, created_by TEXT NOT NULL, expires_at INTEGER, revoked_at INTEGER
      );
      CREATE TABLE IF NOT EXISTS spend (
        scope TEXT NOT NULL, day TEXT NOT NULL, wei TEXT NOT NULL, PRIMARY KEY (scope, day)
      );
    `)
    this.#db
      .prepare('INSERT OR IGNORE INTO orgs (id, name, daily_budget_wei, created_at) VALUES (?, ?, NULL, ?)')
      .run(DEFAULT_ORG, DEFAULT_ORG, Date.now())
  }

  close(): void {
    if (this.#db.isOpen) this.#db.close()
  }

  insertKey(record: ApiKeyRecord, hash: string): void {
    this.#sql(
      `INSERT INTO keys (id, hash, name, org_id, member, role, rate_limit, daily_budget_wei, created_at,
           created_by, expires_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)`,
    ).run(
      record.id,
      hash,
      record.name,
      record.org,
      record.member,
      record.role,
      record.rateLimitPerMinute,
      record.dailyBudgetWei?.toString() ?? null,
      record.createdAt,
      record.createdBy,
      record.expiresAt,
    )
  }

  keyByHash(hash: string): ApiKeyRecord | undefined {
    const row = this.#sql('SELECT * FROM keys WHERE hash = ?').get(hash) as Row | undefined
    return row === undefined ? undefined : keyFromRow(row)
  }

  key(id: string): ApiKeyRecord | undefined {
    const row = this.#sql('SELECT * FROM keys WHERE id = ?').get(id) as Row | undefined
    return row === undefined ? undefined : keyFromRow(row)
  }

  keys(org: string | undefined): ApiKeyRecord[] {
    const rows =
      org === undefined
        ? this.#sql('SELECT * FROM keys ORDER BY created_at').all()
        : this.#sql('SELECT * FROM keys WHERE org_id = ? ORDER BY created_at').all(org)
    return (rows as Row[]).map(keyFromRow)
  }

  revokeKey(id: string, at: number): void {
    this.#sql('UPDATE keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL').run(at, id)
  }

  insertOrg(record: OrgRecord): void {
    this.#sql('INSERT INTO orgs (id, name, daily_budget_wei, created_at) VALUES (?, ?, ?, ?)').run(
      record.id,
      record.name,
      record.dailyBudgetWei?.toString() ?? null,
      record.createdAt,
    )
  }

  setOrgBudget(id: string, wei: bigint | null): void {
    this.#sql('UPDATE orgs SET daily_budget_wei = ? WHERE id = ?').run(wei?.toString() ?? null, id)
  }

  org(idOrName: string): OrgRecord | undefined {
    const row = this.#sql('SELECT * FROM orgs WHERE id = ? OR name = ?').get(idOrName, idOrName) as
      | Row
      | undefined
    return row === undefined ? undefined : orgFromRow(row)
  }

  orgs(): OrgRecord[] {
    return (this.#sql('SELECT * FROM orgs ORDER BY created_at').all() as Row[]).map(orgFromRow)
  }

  upsertMember(record: MemberRecord): void {
    this.#sql(
      `INSERT INTO members (org_id, member, role, added_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (org_id, member) DO UPDATE SET role = excluded.role`,
    ).run(record.org, record.member, record.role, record.addedAt)
  }

  removeMember(org: string, member: string): boolean {
    return this.#sql('DELETE FROM members WHERE org_id = ? AND member = ?').run(org, member).changes > 0
  }

  member(org: string, member: string): MemberRecord | undefined {
    const row = this.#sql('SELECT * FROM members WHERE org_id = ? AND member = ?').get(org, member) as
      | Row
      | undefined
    return row === undefined
      ? undefined
      : { org, member, role: row.role as Role, addedAt: Number(row.added_at) }
  }

  members(org: string): MemberRecord[] {
    return (this.#sql('SELECT * FROM members WHERE org_id = ? ORDER BY added_at').all(org) as Row[]).map(
      (r) => ({ org, member: r.member as string, role: r.role as Role, addedAt: Number(r.added_at) }),
    )
  }

  /** Revokes every live key acting for a member (the member was removed). */
  revokeMemberKeys(org: string, member: string, at: number): string[] {
    const rows = this.#sql('SELECT id FROM keys WHERE org_id = ? AND member = ? AND revoked_at IS NULL').all(
      org,
      member,
    ) as Row[]
    this.#sql('UPDATE keys SET revoked_at = ? WHERE org_id = ? AND member = ? AND revoked_at IS NULL').run(
      at,
      org,
      member,
    )
    return rows.map((r) => r.id as string)
  }

  spent(scope: string, day: string): bigint {
    const row = this.#sql('SELECT wei FROM spend WHERE scope = ? AND day = ?').get(scope, day) as
      | Row
      | undefined
    return row === undefined ? 0n : BigInt(row.wei as string)
  }

  /** Adds `delta` (may be negative) to a scope's spend for the day. */
  addSpend(scope: string, day: string, delta: bigint): bigint {
    const next = this.spent(scope, day) + delta
    const value = next < 0n ? 0n : next
    this.#sql(
      `INSERT INTO spend (scope, day, wei) VALUES (?, ?, ?)
         ON CONFLICT (scope, day) DO UPDATE SET wei = excluded.wei`,
    ).run(scope, day, value.toString())
    return value
  }
}
