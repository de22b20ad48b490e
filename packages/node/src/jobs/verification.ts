import { createHash, randomBytes } from 'node:crypto'
import * as dagCbor from '@ipld/dag-cbor'
import type { PrivateKey } from '@libp2p/interface'
import { PrsmError, stripUndefined } from '@prsm/core'
import { type EvidenceStore, sealEvidence } from './evidence.ts'
import type { RunJobRequest } from './job-client.ts'
import { type JobMessages, type JobReceipt, RequestIdSchema } from './messages.ts'
import type { ReputationStore } from './reputation.ts'

/** Most providers one verified step may run on. */
export const MAX_REDUNDANCY = 16

/** What a verified run needs: a way to run a job to its end, and where to record the outcome. */
export interface VerificationComponents {
  request: (
    provider: string,
    request: RunJobRequest,
    options: { signal?: AbortSignal },
  ) => Promise<{ receipt: JobReceipt; signed: Uint8Array; output: Uint8Array; paid?: bigint }>
  reputation: Pick<ReputationStore, 'recordDisagreement'>
  evidence: Pick<EvidenceStore, 'put'>
  privateKey: PrivateKey
  messages: Pick<JobMessages, 'JobEvidence'>
}

export interface VerifiedOptions {
  /** Candidate providers (PeerIds); the first `k` run the step. */
  providers: string[]
  /** How many providers run the step; the output of a strict majority of them is accepted. */
  k: number
  signal?: AbortSignal
}

export interface VerifiedResult {
  /** The majority's output. */
  output: Uint8Array
  outputHash: string
  /** The receipt of the first provider of the majority. */
  receipt: JobReceipt
  provider: string
  /** Providers whose output is the majority's (including `provider`). */
  agreeing: string[]
  /** Providers that returned a different output, with their receipts. */
  dissenters: Array<{ provider: string; receipt: JobReceipt }>
  /** What each provider with a receipt was paid after delivery (its receipt's charge), wei. */
  payments: Array<{ provider: string; amount: bigint }>
  /** Ids of the evidence records stored, one per dissenter. */
  evidence: string[]
  /** Providers whose job failed or was refused (no vote), with the error. */
  failed: Array<{ provider: string; error: { code: string; message: string } }>
}

/**
 * Runs one step on `k` providers at once (the same step, inputs and max price each, under
 * distinct request ids derived from the request's id, so a retried verified run is idempotent on
 * every provider) and compares the output hashes of their receipts. The output of a strict
 * majority of `k` is accepted; each provider with another output gets a signed evidence record
 * (the majority's and its own signed receipts) and a disagreement in its reputation. Failed jobs
 * are no vote. Without a strict majority: JOB_NO_MAJORITY. A paid step pays each provider.
 */
export async function runVerified(
  c: VerificationComponents,
  request: RunJobRequest,
  options: VerifiedOptions,
): Promise<VerifiedResult> {
  const { k } = options
  if (!Number.isInteger(k) || k < 1 || k > MAX_REDUNDANCY) {
    throw new PrsmError('VALIDATION_FAILED', `redundancy must be 1..${MAX_REDUNDANCY}`, { details: { k } })
  }
  const providers = options.providers.slice(0, k)
  if (providers.length < k || new Set(providers).size !== providers.length) {
    throw new PrsmError('VALIDATION_FAILED', `a redundancy of ${k} needs ${k} distinct providers`, {
      details: { k, providers: options.providers.length },
    })
  }
  const base = request.requestId ?? randomBytes(12).toString('base64url')
  if (!RequestIdSchema.safeParse(base).success) {
    throw new PrsmError('VALIDATION_FAILED', 'the request id must be 8-64 of [A-Za-z0-9_-]')
  }
  const stem = base.length <= 56 ? base : createHash('sha256').update(base).digest('base64url').slice(0, 43)
  const runs = await Promise.allSettled(
    providers.map((provider, i) =>
      c.request(
        provider,
        { ...request, requestId: `${stem}-v${i}` },
        options.signal === undefined ? {} : { signal: options.signal },
      ),
    ),
  )
  if (options.signal?.aborted) throw new PrsmError('JOB_CANCELLED', 'the verified run was cancelled')
  const failed: VerifiedResult['failed'] = []
  const votes = new Map<
    string,
    Array<{ provider: string; receipt: JobReceipt; signed: Uint8Array; output: Uint8Array }>
  >()
  runs.forEach((run, i) => {
    const provider = providers[i] as string
    if (run.status === 'rejected' || run.value.receipt.status !== 'ok') {
      const e =
        run.status === 'rejected'
          ? run.reason instanceof PrsmError
            ? run.reason
            : new PrsmError('INTERNAL', String((run.reason as Error)?.message ?? run.reason))
          : new PrsmError('JOB_BACKEND_FAILED', run.value.receipt.error?.message ?? 'the job failed')
      const code = run.status === 'fulfilled' ? (run.value.receipt.error?.code ?? e.code) : e.code
      failed.push({ provider, error: { code, message: e.message } })
      return
    }
    const hash = run.value.receipt.outputHash
    const group = votes.get(hash) ?? []
    group.push({ provider, ...run.value })
    votes.set(hash, group)
  })
  const ranked = [...votes.entries()].sort((a, b) => b[1].length - a[1].length)
  const top = ranked[0]
  if (top === undefined || top[1].length * 2 <= k) {
    throw new PrsmError('JOB_NO_MAJORITY', `no output was returned by a strict majority of ${k} providers`, {
      details: {
        k,
        votes: Object.fromEntries(ranked.map(([h, g]) => [h, g.map((v) => v.provider)])),
        failed,
      },
    })
  }
  const [outputHash, majority] = top
  const first = majority[0] as NonNullable<(typeof majority)[0]>
  const dissenters = ranked.slice(1).flatMap(([, group]) => group)
  const stepHash = hashStep(request)
  const evidence: string[] = []
  for (const d of dissenters) {
    const record = {
      stepHash,
      capability: request.step.capability,
      k,
      agreeing: majority.map((v) => v.provider),
      majority: { provider: first.provider, outputHash, receipt: first.signed },
      dissenter: { provider: d.provider, outputHash: d.receipt.outputHash, receipt: d.signed },
      createdAt: Date.now(),
    }
    evidence.push(c.evidence.put(await sealEvidence(c.privateKey, c.messages, record), record))
    c.reputation.recordDisagreement(d.provider)
  }
  return {
    output: first.output,
    outputHash,
    receipt: first.receipt,
    provider: first.provider,
    agreeing: majority.map((v) => v.provider),
    dissenters: dissenters.map((d) => ({ provider: d.provider, receipt: d.receipt })),
    payments: runs.flatMap((run, i) =>
      run.status === 'fulfilled' ? [{ provider: providers[i] as string, amount: run.value.paid ?? 0n }] : [],
    ),
    evidence,
    failed,
  }
}

/** Hex sha256 of the dag-cbor {step, inputs} of a request: what every provider was asked to run. */
export function hashStep(request: Pick<RunJobRequest, 'step' | 'inputs'>): string {
  const step = { kind: request.step.capability.split(':')[0], params: {}, ...request.step }
  const body = dagCbor.encode(stripUndefined({ step, inputs: request.inputs ?? [] }))
  return createHash('sha256').update(body).digest('hex')
}
