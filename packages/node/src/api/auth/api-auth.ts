import { randomBytes, timingSafeEqual } from 'node:crypto'
import { PrsmError } from '@prsm/core'
import type { ApiGuard, BudgetState, RateState } from '../server.ts'
import { TokenSigner } from './jwt.ts'
import {
  type ApiKeyRecord,
  DEFAULT_ORG,
  hashKey,
  KEY_PATTERN,
  KeyStore,
  type MemberRecord,
  newKeySecret,
  type OrgRecord,
  utcDay,
} from './key-store.ts'
import { type Role, roleRank } from './permissions.ts'
import type { Principal } from './principal.ts'

/** Where audit-relevant events go (the node's audit log; default nowhere). */
export interface AuditSink {
  append(entry: {
    category: string
    type: string
    actor?: string
    subject?: string
    outcome: 'success' | 'failure' | 'denied'
    risk?: number
    details?: Record<string, unknown>
  }): void
}

export interface ApiAuthComponents {
  audit?: AuditSink
}

export interface ApiAuthInit {
  /** The key database file (`<dataDir>/api-keys.db`), or ':memory:'. */
  path: string
  /** Secret the JWT signing key is derived from (the node identity key's bytes). */
  signingSecret: Uint8Array
  /** JWT issuer (the node's PeerId). */
  issuer: string
  tokenTtlSeconds?: number
  defaultRateLimitPerMinute?: number
}

export interface CreateKeyInput {
  name: string
  role: Role
  org?: string
  member?: string
  rateLimitPerMinute?: number
  /** wei per UTC day */
  dailyBudgetWei?: bigint
  expiresAt?: number
}

const WINDOW_MS = 60_000
const FAILURES_PER_MINUTE = 60

/** Constant time for credentials of the same length (a length is no secret: the formats are public). */
function equal(a: string, b: string): boolean {
  if (a.length !== b.length) return false
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}

/** How a principal is named in the audit log. */
function actorOf(p: Principal | null): string {
  return p === null ? 'anonymous' : `key:${p.keyId}`
}

/**
 * API authentication and accounting: the node's token file (node-wide admin), API keys (stored
 * hashed, scoped to a role and an organisation, revocable, optional expiry) and JWTs exchanged
 * for a key; per-key rate limits (fixed one-minute windows, in memory) and daily FTNS budgets per
 * key and per organisation (in SQLite, so they survive restarts).
 */
export class ApiAuth implements ApiGuard {
  readonly store: KeyStore
  readonly #signer: TokenSigner
  readonly #audit: AuditSink | undefined
  readonly #ttl: number
  readonly #defaultRate: number
  readonly #windows = new Map<string, { start: number; count: number }>()
  /** key hash → record, dropped on revocation (the SQLite lookup stays off the hot path). */
  readonly #cache = new Map<string, ApiKeyRecord>()
  /**
   * Per connection: the API key it last presented and that key's SHA-256, so a keep-alive client
   * sending the same key again is not hashed again. Only the hash is reused: the key's record is
   * still looked up and checked (revocation, expiry) on every request. The key stays referenced
   * only while its connection lives, as it does in that connection's request buffers.
   */
  readonly #connectionKeys = new WeakMap<object, { key: string; hash: string }>()
  /** org id → record (budgets are read on every request of a key without its own budget). */
  readonly #orgs = new Map<string, OrgRecord | undefined>()
  #localToken: string
  #failures = { start: 0, count: 0, dropped: 0 }

  constructor(components: ApiAuthComponents, init: ApiAuthInit) {
    this.store = new KeyStore(init.path)
    this.#signer = new TokenSigner(init.signingSecret, init.issuer)
    this.#audit = components.audit
    this.#ttl = init.tokenTtlSeconds ?? 900
    this.#defaultRate = init.defaultRateLimitPerMinute ?? 600
    this.#localToken = randomBytes(32).toString('hex')
  }

  /** The node's own token (written to `<dataDir>/api.token`, regenerated at every start). */
  get localToken(): string {
    return this.#localToken
  }

  rotateLocalToken(): string {
    this.#localToken = randomBytes(32).toString('hex')
    return this.#localToken
  }

  close(): void {
    this.store.close()
  }

  #event(
    type: string,
    actor: Principal | null,
    outcome: 'success' | 'failure' | 'denied',
    details: Record<string, unknown>,
    subject?: string,
  ): void {
    this.#audit?.append({
      category: 'auth',
      type,
      actor: actorOf(actor),
      outcome,
      ...(subject === undefined ? {} : { subject }),
      risk: outcome === 'success' ? 1 : 3,
      details,
    })
  }

  /**
   * A refused credential is an audit event, but at most FAILURES_PER_MINUTE of them a minute: a
   * client spraying bad keys cannot flood the audit log (the next event counts what was dropped).
   */
  #failed(details: Record<string, unknown>, subject?: string): void {
    const now = Date.now()
    if (now - this.#failures.start >= WINDOW_MS)
      this.#failures = { start: now, count: 0, dropped: this.#failures.dropped }
    if (this.#failures.count >= FAILURES_PER_MINUTE) {
      this.#failures.dropped++
      return
    }
    this.#failures.count++
    const dropped = this.#failures.dropped
    this.#failures.dropped = 0
    this.#event('auth.failed', null, 'failure', dropped > 0 ? { ...details, dropped } : details, subject)
  }

  // ---- ApiGuard ---------------------------------------------------------------------------

  /**
   * Synchronous for the token file and API keys; a JWT is verified asynchronously. `connection`
   * (the request's socket) lets a connection's repeated API key skip its hashing.
   */
  authenticate(authorization: string | undefined, connection?: object): Principal | Promise<Principal> {
    const credential = authorization?.startsWith('Bearer ') ? authorization.slice(7).trim() : ''
    if (credential === '') throw new PrsmError('UNAUTHORIZED', 'a bearer token or API key is required')
    if (equal(credential, this.#localToken)) return this.#localPrincipal()
    if (KEY_PATTERN.test(credential)) return this.#principal(this.#liveKey(credential, connection), 'api-key')
    if (credential.split('.').length === 3) return this.#fromJwt(credential)
    this.#failed({ reason: 'unknown credential' })
    throw new PrsmError('UNAUTHORIZED', 'the credential is not a valid token, API key or JWT')
  }

  async #fromJwt(token: string): Promise<Principal> {
    const claims = await this.#signer.verify(token)
    if (claims.keyId === 'local') return { ...this.#localPrincipal(), via: 'jwt' }
    // a revoked or expired key takes its tokens with it
    const record = this.store.key(claims.keyId)
    this.#check(record)
    return this.#principal(record as ApiKeyRecord, 'jwt')
  }

  #localPrincipal(): Principal {
    return {
      keyId: 'local',
      role: 'admin',
      org: null,
      via: 'token-file',
      rateLimitPerMinute: null,
      dailyBudgetWei: null,
    }
  }

  #liveKey(key: string, connection: object | undefined): ApiKeyRecord {
    const seen = connection === undefined ? undefined : this.#connectionKeys.get(connection)
    let hash: string
    if (seen !== undefined && seen.key === key) hash = seen.hash
    else {
      hash = hashKey(key)
      if (connection !== undefined) this.#connectionKeys.set(connection, { key, hash })
    }
    let record = this.#cache.get(hash)
    if (record === undefined) {
      record = this.store.keyByHash(hash)
      if (record !== undefined) this.#cache.set(hash, record)
    }
    this.#check(record)
    return record as ApiKeyRecord
  }

  #check(record: ApiKeyRecord | undefined): void {
    if (record === undefined) {
      this.#failed({ reason: 'unknown key' })
      throw new PrsmError('UNAUTHORIZED', 'unknown API key')
    }
    if (record.revokedAt !== null) {
      this.#failed({ reason: 'revoked' }, `key:${record.id}`)
      throw new PrsmError('UNAUTHORIZED', 'the API key was revoked', { details: { keyId: record.id } })
    }
    if (record.expiresAt !== null && record.expiresAt <= Date.now()) {
      throw new PrsmError('UNAUTHORIZED', 'the API key has expired', { details: { keyId: record.id } })
    }
  }

  #principal(record: ApiKeyRecord, via: Principal['via']): Principal {
    return {
      keyId: record.id,
      role: record.role,
      org: record.org,
      via,
      rateLimitPerMinute: record.rateLimitPerMinute ?? this.#defaultRate,
      dailyBudgetWei: record.dailyBudgetWei,
    }
  }

  hit(principal: Principal): RateState | null {
    const limit = principal.rateLimitPerMinute
    if (limit === null) return null
    const now = Date.now()
    let w = this.#windows.get(principal.keyId)
    if (w === undefined || now - w.start >= WINDOW_MS) {
      w = { start: now, count: 0 }
      this.#windows.set(principal.keyId, w)
    }
    const resetSeconds = Math.max(1, Math.ceil((w.start + WINDOW_MS - now) / 1000))
    if (w.count >= limit) {
      throw new PrsmError('RATE_LIMITED', `rate limit of ${limit} requests per minute reached`, {
        details: { limit, retryAfterSeconds: resetSeconds },
      })
    }
    w.count++
    return { limit, remaining: limit - w.count, resetSeconds }
  }

  #org(id: string | null): OrgRecord | undefined {
    if (id === null) return undefined
    if (!this.#orgs.has(id)) this.#orgs.set(id, this.store.org(id))
    return this.#orgs.get(id)
  }

  /** The tightest budget that applies: the key's own, else its organisation's. */
  #budgetScope(p: Principal): { scope: string; limit: bigint } | null {
    if (p.dailyBudgetWei !== null) return { scope: `key:${p.keyId}`, limit: p.dailyBudgetWei }
    const org = this.#org(p.org)
    if (org?.dailyBudgetWei != null) return { scope: `org:${org.id}`, limit: org.dailyBudgetWei }
    return null
  }

  budget(principal: Principal): BudgetState | null {
    const b = this.#budgetScope(principal)
    return b === null ? null : { limit: b.limit, spent: this.store.spent(b.scope, utcDay()) }
  }

  reserve(principal: Principal, wei: bigint): BudgetState | null {
    const day = utcDay()
    const org = this.#org(principal.org)
    const checks: { scope: string; limit: bigint | null }[] = [
      { scope: `key:${principal.keyId}`, limit: principal.dailyBudgetWei },
      ...(org === undefined ? [] : [{ scope: `org:${org.id}`, limit: org.dailyBudgetWei }]),
    ]
    for (const c of checks) {
      if (c.limit === null) continue
      const spent = this.store.spent(c.scope, day)
      if (spent + wei > c.limit) {
        this.#event('budget.exceeded', principal, 'denied', {
          scope: c.scope,
          limit: c.limit.toString(),
          spent: spent.toString(),
          requested: wei.toString(),
        })
        throw new PrsmError('API_BUDGET_EXCEEDED', `the daily budget of ${c.scope} would be exceeded`, {
          details: {
            scope: c.scope,
            limitWei: c.limit.toString(),
            spentWei: spent.toString(),
            requestedWei: wei.toString(),
          },
        })
      }
    }
    for (const c of checks) this.store.addSpend(c.scope, day, wei)
    return this.budget(principal)
  }

  release(principal: Principal, wei: bigint): void {
    const day = utcDay()
    this.store.addSpend(`key:${principal.keyId}`, day, -wei)
    if (principal.org !== null) this.store.addSpend(`org:${principal.org}`, day, -wei)
  }

  denied(principal: Principal | null, what: string, details: Record<string, unknown>): void {
    this.#event('access.denied', principal, 'denied', { ...details, operation: what })
  }

  // ---- management (the keys and orgs routes) -----------------------------------------------

  /** Node admins manage every organisation; an organisation's admin only its own. */
  #orgFor(actor: Principal, org: string | undefined): OrgRecord {
    const wanted = org ?? actor.org ?? DEFAULT_ORG
    const record = this.store.org(wanted)
    if (record === undefined) throw new PrsmError('NOT_FOUND', `no organisation ${wanted}`)
    if (actor.org !== null && actor.org !== record.id) {
      this.denied(actor, 'manage another organisation', { org: record.id })
      throw new PrsmError('FORBIDDEN', 'an organisation admin manages only its own organisation', {
        details: { org: record.id },
      })
    }
    return record
  }

  /** Creates a key; the secret is in the answer only. */
  createKey(actor: Principal, input: CreateKeyInput): { key: string; record: ApiKeyRecord } {
    const org = this.#orgFor(actor, input.org)
    if (roleRank(input.role) < roleRank(actor.role)) {
      throw new PrsmError('FORBIDDEN', `a ${actor.role} cannot create a ${input.role} key`)
    }
    if (input.member !== undefined) {
      const member = this.store.member(org.id, input.member)
      if (member === undefined) {
        throw new PrsmError('NOT_FOUND', `${input.member} is not a member of ${org.name}`)
      }
      if (roleRank(input.role) < roleRank(member.role)) {
        throw new PrsmError(
          'FORBIDDEN',
          `member ${member.member} holds role ${member.role}, not ${input.role}`,
        )
      }
    }
    if (input.expiresAt !== undefined && input.expiresAt <= Date.now()) {
      throw new PrsmError('VALIDATION_FAILED', 'expiresAt must be in the future')
    }
    const { id, key } = newKeySecret()
    const record: ApiKeyRecord = {
      id,
      name: input.name,
      org: org.id,
      member: input.member ?? null,
      role: input.role,
      rateLimitPerMinute: input.rateLimitPerMinute ?? null,
      dailyBudgetWei: input.dailyBudgetWei ?? null,
      createdAt: Date.now(),
      createdBy: actorOf(actor),
      expiresAt: input.expiresAt ?? null,
      revokedAt: null,
    }
    this.store.insertKey(record, hashKey(key))
    this.#event('key.created', actor, 'success', { role: record.role, org: record.org }, `key:${id}`)
    return { key, record }
  }

  listKeys(actor: Principal, org?: string): ApiKeyRecord[] {
    if (actor.org === null && org === undefined) return this.store.keys(undefined)
    return this.store.keys(this.#orgFor(actor, org).id)
  }

  revokeKey(actor: Principal, id: string): ApiKeyRecord {
    const record = this.store.key(id)
    if (record === undefined) throw new PrsmError('NOT_FOUND', `no API key ${id}`)
    this.#orgFor(actor, record.org)
    this.store.revokeKey(id, Date.now())
    this.#cache.clear()
    this.#event('key.revoked', actor, 'success', { org: record.org }, `key:${id}`)
    return this.store.key(id) as ApiKeyRecord
  }

  /** A short-lived JWT for the calling key (ttl capped at the configured lifetime). */
  issueToken(actor: Principal, ttlSeconds?: number): Promise<{ token: string; expiresAt: number }> {
    const ttl = Math.min(ttlSeconds ?? this.#ttl, this.#ttl)
    this.#event('token.issued', actor, 'success', { ttlSeconds: ttl })
    return this.#signer.sign({ keyId: actor.keyId, role: actor.role, org: actor.org }, ttl)
  }

  createOrg(actor: Principal, input: { name: string; dailyBudgetWei?: bigint }): OrgRecord {
    if (actor.org !== null) throw new PrsmError('FORBIDDEN', 'only a node admin creates organisations')
    if (this.store.org(input.name) !== undefined) {
      throw new PrsmError('VALIDATION_FAILED', `organisation ${input.name} exists`)
    }
    const record: OrgRecord = {
      id: `org_${randomBytes(6).toString('hex')}`,
      name: input.name,
      dailyBudgetWei: input.dailyBudgetWei ?? null,
      createdAt: Date.now(),
    }
    this.store.insertOrg(record)
    this.#orgs.clear()
    this.#event('org.created', actor, 'success', { name: input.name }, record.id)
    return record
  }

  listOrgs(actor: Principal): OrgRecord[] {
    return actor.org === null ? this.store.orgs() : [this.#orgFor(actor, actor.org)]
  }

  getOrg(actor: Principal, org: string): OrgRecord & { members: MemberRecord[] } {
    const record = this.#orgFor(actor, org)
    return { ...record, members: this.store.members(record.id) }
  }

  setOrgBudget(actor: Principal, org: string, wei: bigint | null): OrgRecord {
    if (actor.org !== null)
      throw new PrsmError('FORBIDDEN', "only a node admin sets an organisation's budget")
    const record = this.#orgFor(actor, org)
    this.store.setOrgBudget(record.id, wei)
    this.#orgs.clear()
    this.#event('org.budget', actor, 'success', { dailyBudgetWei: wei?.toString() ?? null }, record.id)
    return this.store.org(record.id) as OrgRecord
  }

  setMember(actor: Principal, org: string, member: string, role: Role): MemberRecord {
    const record = this.#orgFor(actor, org)
    if (roleRank(role) < roleRank(actor.role)) {
      throw new PrsmError('FORBIDDEN', `a ${actor.role} cannot make a member ${role}`)
    }
    this.store.upsertMember({ org: record.id, member, role, addedAt: Date.now() })
    this.#event('member.set', actor, 'success', { role }, `${record.id}/${member}`)
    return this.store.member(record.id, member) as MemberRecord
  }

  /** Removes a member and revokes the keys that act for them. */
  removeMember(actor: Principal, org: string, member: string): { revokedKeys: string[] } {
    const record = this.#orgFor(actor, org)
    if (!this.store.removeMember(record.id, member)) {
      throw new PrsmError('NOT_FOUND', `${member} is not a member of ${record.name}`)
    }
    const revokedKeys = this.store.revokeMemberKeys(record.id, member, Date.now())
    this.#cache.clear()
    this.#event('member.removed', actor, 'success', { revokedKeys }, `${record.id}/${member}`)
    return { revokedKeys }
  }
}
