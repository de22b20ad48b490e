import { parameterKey } from '@prsm/contracts'
import { type Config, PrsmError } from '@prsm/core'
import type { Logger } from 'pino'
import { z } from 'zod'
import type { AuditInput } from '../audit/audit-log.ts'
import type { Ledger } from '../ledger/ledger.ts'
import type { Manifest } from '../storage/manifest.ts'
import type { ManifestService } from '../storage/manifests.ts'
import type { ContentStorage } from '../storage/storage.ts'

/**
 * An evaluation report (a JSON file in IPFS named by the manifest's `evaluation` CID): scores per
 * capability and metric, e.g. `{"format":"prsm-eval/1","metrics":{"reasoning":{"mmlu":0.71}}}`.
 */
export const EvaluationReportSchema = z
  .object({
    format: z.literal('prsm-eval/1'),
    metrics: z.record(z.string().max(128), z.record(z.string().max(128), z.number().finite())),
  })
  .strip()
export type EvaluationReport = z.infer<typeof EvaluationReportSchema>

const MAX_REPORT_BYTES = 256 * 1024

/** The registry key an approving governance proposal sets to 1 for a manifest CID. */
export function lineageApprovalKey(manifestCid: string): `0x${string}` {
  return parameterKey(`lineageApproval:${manifestCid}`)
}

export interface CapabilityJump {
  parent: string
  capability: string
  metric: string
  before: number
  after: number
  /** Relative gain in basis points (Infinity when the parent scored 0). */
  jumpBps: number
}

export interface LineageVerdict {
  cid: string
  status: 'root' | 'within-bound' | 'approved' | 'approval-required'
  /** Gains over the bound. */
  jumps: CapabilityJump[]
  /** Metrics at or above their absolute cap. */
  capped: Array<{ capability: string; metric: string; value: number; cap: number }>
  maxCapabilityJumpBps: number
  approvalKey: string
}

export interface LineageServiceComponents {
  manifests: Pick<ManifestService, 'get'>
  storage: Pick<ContentStorage, 'cat'>
  ledger: Pick<Ledger, 'enabled' | 'parameters'>
  audit?: { append(input: AuditInput): unknown }
  logger: Logger
}

export interface LineageServiceInit {
  lineage: Config['lineage']
}

interface Analysis {
  parents: string[]
  jumps: CapabilityJump[]
  capped: LineageVerdict['capped']
}

/**
 * Model lineage safeguards. A model version with parents must carry an evaluation report; a
 * metric that gains more than `maxCapabilityJumpBps` over a parent's, or reaches an absolute cap
 * (`lineage.caps`), makes the version need an executed governance proposal that sets
 * {@link lineageApprovalKey}(cid) in the ParameterRegistry. Until then this node refuses jobs for
 * the capability it serves that version with (`lineage.models`), with LINEAGE_APPROVAL_REQUIRED.
 */
export class LineageService {
  readonly #c: LineageServiceComponents
  readonly #init: LineageServiceInit
  readonly #analyses = new Map<string, { bound: number; analysis: Analysis }>()
  readonly #refused = new Set<string>()
  readonly #models: Map<string, string>

  constructor(components: LineageServiceComponents, init: LineageServiceInit) {
    this.#c = components
    this.#init = init
    this.#models = new Map(Object.entries(init.lineage.models))
  }

  #bound(): number {
    return this.#c.ledger.enabled ? Number(this.#c.ledger.parameters.get('maxCapabilityJumpBps')) : 1_000
  }

  #approved(cid: string): boolean {
    if (!this.#c.ledger.enabled) return false
    return (this.#c.ledger.parameters.current().raw.get(lineageApprovalKey(cid)) ?? 0n) > 0n
  }

  /** Checks a model version (by manifest CID) against its parents. */
  async check(cid: string, options: { signal?: AbortSignal } = {}): Promise<LineageVerdict> {
    const bound = this.#bound()
    let cached = this.#analyses.get(cid)
    if (cached === undefined || cached.bound !== bound) {
      cached = { bound, analysis: await this.#analyse(cid, bound, options) }
      this.#analyses.set(cid, cached)
    }
    const { parents, jumps, capped } = cached.analysis
    const over = jumps.length > 0 || capped.length > 0
    const status: LineageVerdict['status'] =
      parents.length === 0 && !over
        ? 'root'
        : !over
          ? 'within-bound'
          : this.#approved(cid)
            ? 'approved'
            : 'approval-required'
    return { cid, status, jumps, capped, maxCapabilityJumpBps: bound, approvalKey: lineageApprovalKey(cid) }
  }

  async #manifest(cid: string, signal?: AbortSignal): Promise<Manifest> {
    const m = await this.#c.manifests.get(cid, signal ? { signal } : {})
    if (m === undefined) throw new PrsmError('MANIFEST_NOT_FOUND', `no manifest ${cid}`)
    return m
  }

  async #report(m: Manifest, cid: string, signal?: AbortSignal): Promise<EvaluationReport> {
    if (m.evaluation === undefined) {
      throw new PrsmError('LINEAGE_EVALUATION_MISSING', `model version ${cid} has no evaluation report`, {
        details: { cid },
      })
    }
    try {
      const parts: Uint8Array[] = []
      let size = 0
      for await (const chunk of this.#c.storage.cat(m.evaluation, signal ? { signal } : {})) {
        size += chunk.byteLength
        if (size > MAX_REPORT_BYTES) throw new Error(`report over ${MAX_REPORT_BYTES} bytes`)
        parts.push(chunk)
      }
      return EvaluationReportSchema.parse(JSON.parse(Buffer.concat(parts).toString('utf8')))
    } catch (err) {
      throw new PrsmError(
        'LINEAGE_EVALUATION_MISSING',
        `the evaluation report ${m.evaluation} of ${cid} cannot be read: ${(err as Error).message}`,
        { cause: err, details: { cid, evaluation: m.evaluation } },
      )
    }
  }

  async #analyse(cid: string, bound: number, options: { signal?: AbortSignal }): Promise<Analysis> {
    const m = await this.#manifest(cid, options.signal)
    const caps = this.#init.lineage.caps
    const hasCaps = Object.keys(caps).length > 0
    if (m.parents.length === 0 && (!hasCaps || m.evaluation === undefined)) {
      return { parents: [], jumps: [], capped: [] }
    }
    const report = await this.#report(m, cid, options.signal)
    const capped: Analysis['capped'] = []
    for (const [capability, metrics] of Object.entries(report.metrics)) {
      for (const [metric, value] of Object.entries(metrics)) {
        const cap = caps[metric]
        if (cap !== undefined && value >= cap) capped.push({ capability, metric, value, cap })
      }
    }
    const jumps: CapabilityJump[] = []
    for (const parentCid of m.parents) {
      const parent = await this.#manifest(parentCid, options.signal)
      const before = await this.#report(parent, parentCid, options.signal)
      for (const [capability, metrics] of Object.entries(report.metrics)) {
        for (const [metric, after] of Object.entries(metrics)) {
          const prior = before.metrics[capability]?.[metric]
          if (prior === undefined || after <= prior) continue
          const jumpBps =
            prior === 0 ? Number.POSITIVE_INFINITY : Math.round(((after - prior) * 10_000) / Math.abs(prior))
          if (jumpBps > bound)
            jumps.push({ parent: parentCid, capability, metric, before: prior, after, jumpBps })
        }
      }
    }
    return { parents: m.parents, jumps, capped }
  }

  /** The manifest CID this node serves a capability with, if configured. */
  manifestOf(capability: string): string | undefined {
    return this.#models.get(capability)
  }

  /** Binds a capability to the model version (manifest CID) this node serves it with (as `lineage.models`). */
  setModel(capability: string, cid: string): void {
    this.#models.set(capability, cid)
  }

  /** Throws LINEAGE_APPROVAL_REQUIRED (or LINEAGE_EVALUATION_MISSING) when the capability's model version may not be served. */
  async assertServable(capability: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    const cid = this.manifestOf(capability)
    if (cid === undefined) return
    let verdict: LineageVerdict
    try {
      verdict = await this.check(cid, options)
    } catch (err) {
      this.#audit(cid, capability, 'lineage.refused', { reason: (err as Error).message })
      throw err
    }
    if (verdict.status !== 'approval-required') {
      if (this.#refused.delete(cid))
        this.#audit(cid, capability, 'lineage.served', { status: verdict.status }, 'success')
      return
    }
    if (!this.#refused.has(cid)) {
      this.#refused.add(cid)
      this.#audit(cid, capability, 'lineage.refused', {
        jumps: verdict.jumps.length,
        capped: verdict.capped.length,
      })
    }
    throw new PrsmError(
      'LINEAGE_APPROVAL_REQUIRED',
      `${capability} (${cid}) exceeds the capability bound and needs an executed approval proposal`,
      {
        details: {
          cid,
          approvalKey: verdict.approvalKey,
          jumps: verdict.jumps.map((j) => ({ ...j, jumpBps: String(j.jumpBps) })),
          capped: verdict.capped,
        },
      },
    )
  }

  #audit(
    cid: string,
    capability: string,
    type: string,
    details: Record<string, unknown>,
    outcome: 'denied' | 'success' = 'denied',
  ): void {
    this.#c.audit?.append({
      category: 'compliance',
      type,
      subject: cid,
      outcome,
      risk: outcome === 'denied' ? 60 : 20,
      details: { capability, ...details },
    })
  }
}
