import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import { DatabaseSync, type StatementSync } from 'node:sqlite'
import type { RoyaltyTable, SignedVoucher } from '@prsm/contracts'
import type { Address, Hex } from 'viem'
import { LedgerError } from './errors.ts'

/**
 * The ledger's durable state in SQLite (WAL):
 *   - payee side: the newest accepted voucher per channel, and claims (intent → sent → result);
 *   - payer side: the newest voucher signed per channel, so a restart never signs a lower amount.
 *
 * Every write returns only after SQLite commits it. Voucher acceptances that arrive in the same
 * event-loop turn are committed together (group commit: one fsync for many requests). With
 * `synchronous=FULL` (the default) the WAL is fsynced at each commit, so an accepted voucher
 * survives a power loss, not only a process crash: a voucher is money for work already done.
 * `NORMAL` survives process crashes (SIGKILL) but may lose the last commits on power loss;
 * it is offered for nodes on battery-backed or replicated storage.
 *
 * Amounts are stored as 64-digit hex so SQL compares them as numbers, and the monotonic rule is
 * enforced in SQL (`WHERE excluded.cumulative > cumulative`), not only in memory.
 */
export interface VoucherJournalInit {
  /** Database file (created with its directory). ':memory:' for tests. */
  path: string
  synchronous?: 'FULL' | 'NORMAL'
}

export interface JournalledVoucher extends SignedVoucher {
  payer: Address
  acceptedAt: number
}

export type ClaimStatus = 'pending' | 'sent' | 'confirmed' | 'failed'

export interface ClaimRecord {
  channel: Hex
  cumulativeAmount: bigint
  status: ClaimStatus
  txHash: Hex | undefined
  detail: string | undefined
  updatedAt: number
}

/** The payer's record of a channel it opened and the newest voucher it signed on it. */
export interface PayerChannelRecord {
  channel: Hex
  payee: Address
  deposit: bigint
  expiry: bigint
  /** The channel's royalty cap, fixed at open. */
  royaltyCapBps: bigint
  /** Newest signed voucher (cumulativeAmount 0n and no signature before the first payment). */
  cumulativeAmount: bigint
  royalties: RoyaltyTable
  signature: Hex | undefined
  closed: boolean
}

export interface VoucherJournal {
  /** Payee: the newest accepted voucher on a channel. */
  newest(channel: Hex): JournalledVoucher | undefined
  /** Payee: every channel's newest accepted voucher. */
  accepted(): JournalledVoucher[]
  /**
   * Payee: durably stores `voucher` if it is above the newest one (resolves true once committed),
   * else leaves the journal unchanged (resolves false at once). The check against the newest is
   * synchronous, so concurrent calls are ordered; their writes share one commit (group commit).
   */
  accept(voucher: SignedVoucher, payer: Address): Promise<boolean>
  /** Payee: marks a channel settled (closed on chain); it leaves `accepted()`. */
  markSettled(channel: Hex): void
  isSettled(channel: Hex): boolean

  /** Claim bookkeeping, idempotent per (channel, cumulativeAmount). */
  recordClaim(
    channel: Hex,
    cumulativeAmount: bigint,
    status: ClaimStatus,
    txHash?: Hex,
    detail?: string,
  ): void
  claims(channel?: Hex): ClaimRecord[]

  /** Payer side. */
  payerChannel(channel: Hex): PayerChannelRecord | undefined
  payerChannels(): PayerChannelRecord[]
  savePayerChannel(record: PayerChannelRecord): void
  /**
   * Payer: durably records a newly signed voucher if it is above the stored one (false if not).
   */
  recordSigned(channel: Hex, voucher: SignedVoucher): boolean

  close(): void
}

const hex64 = (v: bigint): string => v.toString(16).padStart(64, '0')
const fromHex64 = (s: string): bigint => BigInt(`0x${s}`)

function encodeRoyalties(table: RoyaltyTable): string {
  return JSON.stringify(table.map((e) => [e.creator, e.amount.toString()]))
}

function decodeRoyalties(json: string): RoyaltyTable {
  return (JSON.parse(json) as [Address, string][]).map(([creator, amount]) => ({
    creator,
    amount: BigInt(amount),
  }))
}

export function createVoucherJournal(init: VoucherJournalInit): VoucherJournal {
  if (init.path !== ':memory:') mkdirSync(dirname(init.path), { recursive: true })
  const db = new DatabaseSync(init.path)
  db.exec(`
    PRAGMA journal_mode = WAL;
    PRAGMA synchronous = ${init.synchronous === 'NORMAL' ? 'NORMAL' : 'FULL'};
    PRAGMA busy_timeout = 5000;
    CREATE TABLE IF NOT EXISTS accepted_vouchers (
      channel TEXT PRIMARY KEY,
      payer TEXT NOT NULL,
      cumulative TEXT NOT NULL,
      royalties TEXT NOT NULL,
      signature TEXT NOT NULL,
      accepted_at INTEGER NOT NULL,
      settled INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE IF NOT EXISTS claims (
      channel TEXT NOT NULL,
      cumulative TEXT NOT NULL,
      status TEXT NOT NULL,
      tx_hash TEXT,
      detail TEXT,
      updated_at INTEGER NOT NULL,
      PRIMARY KEY (channel, cumulative)
    );
    CREATE TABLE IF NOT EXISTS payer_channels (
      channel TEXT PRIMARY KEY,
      payee TEXT NOT NULL,
      deposit TEXT NOT NULL,
      expiry INTEGER NOT NULL,
      royalty_cap INTEGER NOT NULL,
      cumulative TEXT NOT NULL,
      royalties TEXT NOT NULL,
      signature TEXT,
      closed INTEGER NOT NULL DEFAULT 0
    );
  `)

  const q = {
    accept: db.prepare(`
      INSERT INTO accepted_vouchers (channel, payer, cumulative, royalties, signature, accepted_at)
      VALUES (?, ?, ?, ?, ?, ?)
      ON CONFLICT (channel) DO UPDATE SET
        payer = excluded.payer, cumulative = excluded.cumulative, royalties = excluded.royalties,
        signature = excluded.signature, accepted_at = excluded.accepted_at
      WHERE excluded.cumulative > accepted_vouchers.cumulative`),
    allAccepted: db.prepare('SELECT * FROM accepted_vouchers'),
    acceptedOf: db.prepare('SELECT * FROM accepted_vouchers WHERE channel = ?'),
    settle: db.prepare('UPDATE accepted_vouchers SET settled = 1 WHERE channel = ?'),
    claim: db.prepare(`
      INSERT INTO claims (channel, cumulative, status, tx_hash, detail, updated_at) VALUES (?, ?, ?, ?, ?, ?)
      ON CONFLICT (channel, cumulative) DO UPDATE SET
        status = excluded.status, tx_hash = COALESCE(excluded.tx_hash, claims.tx_hash),
        detail = excluded.detail, updated_at = excluded.updated_at`),
    claimsAll: db.prepare('SELECT * FROM claims ORDER BY channel, cumulative'),
    claimsOf: db.prepare('SELECT * FROM claims WHERE channel = ? ORDER BY cumulative'),
    payerGet: db.prepare('SELECT * FROM payer_channels WHERE channel = ?'),
    payerAll: db.prepare('SELECT * FROM payer_channels'),
    payerSave: db.prepare(`
      INSERT INTO payer_channels (channel, payee, deposit, expiry, royalty_cap, cumulative, royalties, signature, closed)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (channel) DO UPDATE SET
        payee = excluded.payee, deposit = excluded.deposit, expiry = excluded.expiry,
        royalty_cap = excluded.royalty_cap, closed = excluded.closed,
        cumulative = MAX(payer_channels.cumulative, excluded.cumulative),
        royalties = CASE WHEN excluded.cumulative > payer_channels.cumulative
          THEN excluded.royalties ELSE payer_channels.royalties END,
        signature = CASE WHEN excluded.cumulative > payer_channels.cumulative
          THEN excluded.signature ELSE payer_channels.signature END`),
    signed: db.prepare(`
      UPDATE payer_channels SET cumulative = ?, royalties = ?, signature = ?
      WHERE channel = ? AND cumulative < ?`),
  } satisfies Record<string, StatementSync>

  // Read-through cache of the payee's newest vouchers (this process is the only writer).
  const newest = new Map<string, JournalledVoucher & { settled: boolean }>()
  const rowToVoucher = (row: Record<string, string | number>): JournalledVoucher & { settled: boolean } => ({
    channel: row.channel as Hex,
    payer: row.payer as Address,
    cumulativeAmount: fromHex64(row.cumulative as string),
    royalties: decodeRoyalties(row.royalties as string),
    signature: row.signature as Hex,
    acceptedAt: Number(row.accepted_at),
    settled: Number(row.settled) === 1,
  })
  for (const row of q.allAccepted.all() as Record<string, string | number>[]) {
    newest.set(row.channel as string, rowToVoucher(row))
  }

  interface PendingAccept {
    voucher: SignedVoucher
    channel: Hex
    payer: Address
    acceptedAt: number
    resolve(stored: boolean): void
    reject(err: unknown): void
  }
  let pending: PendingAccept[] = []
  let flushScheduled = false
  const flush = (): void => {
    flushScheduled = false
    const batch = pending
    pending = []
    if (batch.length === 0) return
    try {
      db.exec('BEGIN IMMEDIATE')
      for (const p of batch) {
        q.accept.run(
          p.channel,
          p.payer,
          hex64(p.voucher.cumulativeAmount),
          encodeRoyalties(p.voucher.royalties),
          p.voucher.signature,
          p.acceptedAt,
        )
      }
      db.exec('COMMIT')
    } catch (cause) {
      try {
        if (db.isTransaction) db.exec('ROLLBACK')
      } catch {}
      // Back to what is on disk for the channels of the failed batch.
      for (const p of batch) {
        newest.delete(p.channel)
        const row = q.acceptedOf.get(p.channel) as Record<string, string | number> | undefined
        if (row) newest.set(p.channel, rowToVoucher(row))
      }
      const err = new LedgerError('LEDGER_JOURNAL_FAILED', 'journal commit failed', { cause })
      for (const p of batch) p.reject(err)
      return
    }
    for (const p of batch) p.resolve(true)
  }

  const write = <T>(what: string, fn: () => T): T => {
    try {
      return fn()
    } catch (cause) {
      throw new LedgerError('LEDGER_JOURNAL_FAILED', `journal ${what} failed`, { cause })
    }
  }

  const toPayer = (row: Record<string, string | number | null>): PayerChannelRecord => ({
    channel: row.channel as Hex,
    payee: row.payee as Address,
    deposit: fromHex64(row.deposit as string),
    expiry: BigInt(row.expiry as number),
    royaltyCapBps: BigInt(row.royalty_cap as number),
    cumulativeAmount: fromHex64(row.cumulative as string),
    royalties: decodeRoyalties(row.royalties as string),
    signature: (row.signature as Hex | null) ?? undefined,
    closed: Number(row.closed) === 1,
  })

  const toClaim = (row: Record<string, string | number | null>): ClaimRecord => ({
    channel: row.channel as Hex,
    cumulativeAmount: fromHex64(row.cumulative as string),
    status: row.status as ClaimStatus,
    txHash: (row.tx_hash as Hex | null) ?? undefined,
    detail: (row.detail as string | null) ?? undefined,
    updatedAt: Number(row.updated_at),
  })

  return {
    newest(channel) {
      const v = newest.get(channel.toLowerCase())
      if (!v) return undefined
      const { settled: _settled, ...voucher } = v
      return voucher
    },
    accepted() {
      return [...newest.values()].filter((v) => !v.settled).map(({ settled: _s, ...v }) => v)
    },
    accept(voucher, payer) {
      const channel = voucher.channel.toLowerCase() as Hex
      const current = newest.get(channel)
      if (current && voucher.cumulativeAmount <= current.cumulativeAmount) return Promise.resolve(false)
      const acceptedAt = Date.now()
      // Reserve in memory now (orders concurrent calls); durable once the batch commits.
      newest.set(channel, { ...voucher, channel, payer, acceptedAt, settled: current?.settled ?? false })
      return new Promise<boolean>((resolve, reject) => {
        pending.push({ voucher, channel, payer, acceptedAt, resolve, reject })
        if (!flushScheduled) {
          flushScheduled = true
          setImmediate(flush)
        }
      })
    },
    markSettled(channel) {
      const id = channel.toLowerCase()
      write('settle', () => q.settle.run(id))
      const v = newest.get(id)
      if (v) v.settled = true
    },
    isSettled(channel) {
      return newest.get(channel.toLowerCase())?.settled ?? false
    },
    recordClaim(channel, cumulativeAmount, status, txHash, detail) {
      write('claim', () =>
        q.claim.run(
          channel.toLowerCase(),
          hex64(cumulativeAmount),
          status,
          txHash ?? null,
          detail ?? null,
          Date.now(),
        ),
      )
    },
    claims(channel) {
      const rows = (
        channel === undefined ? q.claimsAll.all() : q.claimsOf.all(channel.toLowerCase())
      ) as Record<string, string | number | null>[]
      return rows.map(toClaim)
    },
    payerChannel(channel) {
      const row = q.payerGet.get(channel.toLowerCase()) as Record<string, string | number | null> | undefined
      return row ? toPayer(row) : undefined
    },
    payerChannels() {
      return (q.payerAll.all() as Record<string, string | number | null>[]).map(toPayer)
    },
    savePayerChannel(r) {
      write('payer channel', () =>
        q.payerSave.run(
          r.channel.toLowerCase(),
          r.payee,
          hex64(r.deposit),
          Number(r.expiry),
          Number(r.royaltyCapBps),
          hex64(r.cumulativeAmount),
          encodeRoyalties(r.royalties),
          r.signature ?? null,
          r.closed ? 1 : 0,
        ),
      )
    },
    recordSigned(channel, voucher) {
      const amount = hex64(voucher.cumulativeAmount)
      const changes = write('signed voucher', () =>
        q.signed.run(
          amount,
          encodeRoyalties(voucher.royalties),
          voucher.signature,
          channel.toLowerCase(),
          amount,
        ),
      ).changes
      return Number(changes) === 1
    },
    close() {
      flush()
      if (db.isOpen) db.close()
    },
  }
}
