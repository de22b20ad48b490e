import { createHash } from 'node:crypto'
import type { DatabaseSync } from 'node:sqlite'
import * as dagCbor from '@ipld/dag-cbor'
import type { PrivateKey } from '@libp2p/interface'
import { type MessageRegistry, openEnvelope, PrsmError, sealEnvelope } from '@prsm/core'
import { openJobsDb } from './job-store.ts'
import type { JobEvidence, JobMessages, JobReceipt } from './messages.ts'

/** Largest evidence record accepted when verifying (two receipts with inline outputs ≤ 64 KiB each). */
export const EVIDENCE_MAX_BYTES = 1024 * 1024

/** A stored evidence record as listed: who disagreed with whom on which step, and the signed bytes. */
export interface EvidenceRecord {
  /** Hex sha256 of the signed envelope. */
  id: string
  /** The dissenting provider. */
  provider: string
  majorityProvider: string
  stepHash: string
  capability: string
  createdAt: number
  /** The signed `job-evidence` envelope (dag-cbor). */
  envelope: Uint8Array
}

export interface EvidenceStoreInit {
  /** Database file (created with its directory); ':memory:' for tests. */
  path: string
}

interface Row {
  id: string
  provider: string
  majority_provider: string
  step_hash: string
  capability: string
  created_at: number
  envelope: Uint8Array
}

/** Signed evidence records of disagreements, persisted in SQLite for slashing proposals. */
export class EvidenceStore {
  readonly #db: DatabaseSync

  constructor(init: EvidenceStoreInit) {
    this.#db = openJobsDb(
      init.path,
      `
      CREATE TABLE IF NOT EXISTS evidence (
        id TEXT PRIMARY KEY,
        provider TEXT NOT NULL,
        majority_provider TEXT NOT NULL,
        step_hash TEXT NOT NULL,
        capability TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        envelope BLOB NOT NULL
      );
      CREATE INDEX IF NOT EXISTS evidence_provider ON evidence (provider, created_at);
    `,
    )
  }

  /** Stores a signed record (idempotent); returns its id. */
  put(envelope: Uint8Array, evidence: JobEvidence): string {
    const id = createHash('sha256').update(envelope).digest('hex')
    this.#db
      .prepare(
        `INSERT OR IGNORE INTO evidence (id, provider, majority_provider, step_hash, capability, created_at,
          envelope) VALUES (?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        id,
        evidence.dissenter.provider,
        evidence.majority.provider,
        evidence.stepHash,
        evidence.capability,
        evidence.createdAt,
        envelope,
      )
    return id
  }

  get(id: string): EvidenceRecord | undefined {
    const row = this.#db.prepare('SELECT * FROM evidence WHERE id = ?').get(id) as Row | undefined
    return row === undefined ? undefined : toRecord(row)
  }

  /** Newest first; only those against `provider` when given. */
  list(options: { provider?: string; limit?: number } = {}): EvidenceRecord[] {
    const limit = Math.min(Math.max(options.limit ?? 100, 1), 1000)
    const rows = (options.provider === undefined
      ? this.#db.prepare('SELECT * FROM evidence ORDER BY created_at DESC, id LIMIT ?').all(limit)
      : this.#db
          .prepare('SELECT * FROM evidence WHERE provider = ? ORDER BY created_at DESC, id LIMIT ?')
          .all(options.provider, limit)) as unknown as Row[]
    return rows.map(toRecord)
  }

  close(): void {
    if (this.#db.isOpen) this.#db.close()
  }
}

function toRecord(r: Row): EvidenceRecord {
  return {
    id: r.id,
    provider: r.provider,
    majorityProvider: r.majority_provider,
    stepHash: r.step_hash,
    capability: r.capability,
    createdAt: r.created_at,
    envelope: new Uint8Array(r.envelope),
  }
}

/** Signs an evidence record with the recording client's node key. */
export async function sealEvidence(
  privateKey: PrivateKey,
  messages: Pick<JobMessages, 'JobEvidence'>,
  evidence: JobEvidence,
): Promise<Uint8Array> {
  return sealEnvelope(privateKey, messages.JobEvidence, evidence)
}

/**
 * Checks an evidence record on its own: the recorder's signature, both providers' signatures on
 * their receipts, that both receipts were issued to the recorder for the evidence's capability
 * and succeeded, and that their output hashes are the ones named and differ. Old records verify
 * (signatures are checked against their own timestamps). Throws JOB_EVIDENCE_INVALID.
 */
export async function verifyEvidence(
  bytes: Uint8Array,
  messages: Pick<JobMessages, 'JobEvidence' | 'JobReceipt'>,
  registry: MessageRegistry,
): Promise<{ recorder: string; evidence: JobEvidence; majority: JobReceipt; dissenter: JobReceipt }> {
  const open = async <P>(b: Uint8Array, expect: { type: string; version: number }) => {
    const at = (dagCbor.decode(b) as { timestamp?: unknown }).timestamp
    return openEnvelope<P>(b, {
      registry,
      maxBytes: EVIDENCE_MAX_BYTES,
      maxClockSkewMs: 0,
      expect,
      now: typeof at === 'number' ? at : 0,
    })
  }
  try {
    const { envelope } = await open<JobEvidence>(bytes, messages.JobEvidence)
    const evidence = envelope.payload
    const sides = [evidence.majority, evidence.dissenter] as const
    const receipts: JobReceipt[] = []
    for (const side of sides) {
      const r = await open<JobReceipt>(side.receipt, messages.JobReceipt)
      const receipt = r.envelope.payload
      if (r.envelope.sender !== side.provider) throw new Error('a receipt is not signed by its provider')
      if (receipt.client !== envelope.sender) throw new Error('a receipt was issued to another client')
      if (receipt.capability !== evidence.capability) throw new Error('a receipt is for another capability')
      if (receipt.status !== 'ok') throw new Error('a receipt is not of a successful job')
      if (receipt.outputHash !== side.outputHash) throw new Error('a receipt hash is not the one named')
      receipts.push(receipt)
    }
    if (evidence.majority.outputHash === evidence.dissenter.outputHash) {
      throw new Error('the two outputs agree')
    }
    if (evidence.majority.provider === evidence.dissenter.provider)
      throw new Error('one provider on both sides')
    return {
      recorder: envelope.sender,
      evidence,
      majority: receipts[0] as JobReceipt,
      dissenter: receipts[1] as JobReceipt,
    }
  } catch (err) {
    throw new PrsmError('JOB_EVIDENCE_INVALID', (err as Error).message, { cause: err })
  }
}
