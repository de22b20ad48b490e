import { CapabilitySchema, type MessageRegistry } from '@prsm/core'
import { z } from 'zod'
import { VoucherJsonSchema } from '../market/payments.ts'

/** Request/response protocol on which a client asks a provider to run one step. */
export { JOB_PROTOCOL } from '../market/offers.ts'

const weiSchema = z.string().regex(/^\d{1,78}$/)
/** Client-chosen request ids: retries reuse the id, so a request never runs or bills twice. */
export const RequestIdSchema = z.string().regex(/^[A-Za-z0-9_-]{8,64}$/, 'must be 8-64 of [A-Za-z0-9_-]')
const codeSchema = z.string().max(64)
const bytesSchema = z.custom<Uint8Array>((v) => v instanceof Uint8Array, 'must be bytes')

/** What to run: the capability of one of the provider's offers, and backend parameters. */
export const JobStepSchema = z
  .object({
    kind: z.enum(['model', 'tool', 'compute']),
    capability: CapabilitySchema,
    /** Backend parameters (for models: max_tokens, temperature, system…). Plain JSON values. */
    params: z.record(z.string().max(64), z.json()).default({}),
  })
  .strict()
export type JobStep = z.output<typeof JobStepSchema>

/** One input: inline text or bytes, or a CID the provider fetches through its content storage. */
export const JobInputSchema = z.union([
  z.object({ text: z.string() }).strict(),
  z.object({ bytes: bytesSchema }).strict(),
  z.object({ cid: z.string().max(128) }).strict(),
])
export type JobInput = z.output<typeof JobInputSchema>

export const JobUsageSchema = z
  .object({
    tokensIn: z.number().int().min(0),
    tokensOut: z.number().int().min(0),
    computeMs: z.number().int().min(0),
    bytesIn: z.number().int().min(0),
    bytesOut: z.number().int().min(0),
  })
  .strict()
export type JobUsage = z.output<typeof JobUsageSchema>

export const JobRequestSchema = z
  .object({
    requestId: RequestIdSchema,
    step: JobStepSchema,
    inputs: z.array(JobInputSchema).max(64),
    /** The most the client pays for this job, in wei of FTNS. */
    maxPrice: weiSchema,
    /** Milliseconds since the epoch; the provider stops work at this time. */
    deadline: z.number().int().positive(),
    /**
     * Priced jobs: the channel to the provider that will pay for this job after delivery (0x + 64
     * hex digits). No voucher is sent with the request; its unspent escrow must cover `maxPrice`.
     */
    channel: z
      .string()
      .regex(/^0x[0-9a-fA-F]{64}$/)
      .optional(),
  })
  .strict()
export type JobRequest = z.output<typeof JobRequestSchema>
export type JobRequestInput = z.input<typeof JobRequestSchema>

/** The provider took the job (it may still wait in the queue). */
export const JobAcceptedSchema = z
  .object({
    requestId: RequestIdSchema,
    /** Offer price per unit, wei. */
    price: weiSchema,
    unit: z.string().max(16),
    /** True when the provider already has a receipt for this request id (a retry); no chunks follow. */
    replay: z.boolean(),
    /** On a replay of a priced job: what this request still owes (0 when it was paid), wei. */
    owed: weiSchema.optional(),
  })
  .strict()
export type JobAccepted = z.output<typeof JobAcceptedSchema>

/** Part of the output, streamed in order (tokens for models). */
export const JobChunkSchema = z
  .object({
    requestId: RequestIdSchema,
    seq: z.number().int().min(0),
    text: z.string().optional(),
    bytes: bytesSchema.optional(),
  })
  .strict()
export type JobChunk = z.output<typeof JobChunkSchema>

/**
 * The provider's signed statement of a finished job: what it produced (inline when small, and its
 * sha256 in any case), what it used and what it charged. A failed job has `error` and charges only
 * for the usage delivered before the failure.
 */
export const JobReceiptSchema = z
  .object({
    requestId: RequestIdSchema,
    /** The client's PeerId (the receipt is only valid for it). */
    client: z.string().max(128),
    capability: CapabilitySchema,
    status: z.enum(['ok', 'failed']),
    error: z
      .object({ code: codeSchema, message: z.string().max(512) })
      .strict()
      .optional(),
    output: z
      .object({
        text: z.string().optional(),
        bytes: bytesSchema.optional(),
        cid: z.string().max(128).optional(),
      })
      .strict(),
    /** Hex sha256 of the whole output (the concatenated chunks: UTF-8 text or bytes). */
    outputHash: z.string().regex(/^[0-9a-f]{64}$/),
    outputBytes: z.number().int().min(0),
    usage: JobUsageSchema,
    /** Offer price per unit and unit, wei. */
    unitPrice: weiSchema,
    unit: z.string().max(16),
    /** What this job costs the client, wei (≤ maxPrice). */
    charged: weiSchema,
    startedAt: z.number().int().min(0),
    finishedAt: z.number().int().min(0),
  })
  .strict()
export type JobReceipt = z.output<typeof JobReceiptSchema>

/**
 * The client's payment for a receipt, sent on the job stream after it: a voucher on the request's
 * channel whose cumulative amount adds the receipt's `charged`.
 */
export const JobPaymentSchema = z.object({ requestId: RequestIdSchema, voucher: VoucherJsonSchema }).strict()
export type JobPaymentVoucher = z.output<typeof JobPaymentSchema>['voucher']

/** The provider journalled the payment's voucher (`cumulativeAmount` is now its newest on the channel). */
export const JobPaidSchema = z
  .object({ requestId: RequestIdSchema, cumulativeAmount: weiSchema, increment: weiSchema })
  .strict()
export type JobPaid = z.output<typeof JobPaidSchema>

/** A refusal before any work: the request is not run and not charged. */
export const JobErrorSchema = z
  .object({ requestId: z.string().max(64), code: codeSchema, message: z.string().max(512) })
  .strict()
export type JobError = z.output<typeof JobErrorSchema>

/** The client stops a job; the provider answers with a failed receipt (JOB_CANCELLED). */
export const JobCancelSchema = z.object({ requestId: RequestIdSchema }).strict()

/**
 * A client's signed record that one provider's output for a step disagreed with the majority of a
 * redundant run: both providers' signed receipts (envelope bytes, verifiable on their own), the
 * hash of the step, and who agreed. Stored for slashing proposals.
 */
export const JobEvidenceSchema = z
  .object({
    /** Hex sha256 of the dag-cbor {step, inputs} every provider ran. */
    stepHash: z.string().regex(/^[0-9a-f]{64}$/),
    capability: CapabilitySchema,
    k: z.number().int().min(1).max(64),
    /** PeerIds whose outputs formed the majority. */
    agreeing: z.array(z.string().max(128)).max(64),
    majority: z
      .object({ provider: z.string().max(128), outputHash: z.string(), receipt: bytesSchema })
      .strict(),
    dissenter: z
      .object({ provider: z.string().max(128), outputHash: z.string(), receipt: bytesSchema })
      .strict(),
    createdAt: z.number().int().min(0),
  })
  .strict()
export type JobEvidence = z.output<typeof JobEvidenceSchema>

export function registerJobMessages(registry: MessageRegistry) {
  return {
    JobRequest: registry.register('job-request', 1, JobRequestSchema),
    JobAccepted: registry.register('job-accepted', 1, JobAcceptedSchema),
    JobChunk: registry.register('job-chunk', 1, JobChunkSchema),
    JobReceipt: registry.register('job-receipt', 1, JobReceiptSchema),
    JobError: registry.register('job-error', 1, JobErrorSchema),
    JobCancel: registry.register('job-cancel', 1, JobCancelSchema),
    JobPayment: registry.register('job-payment', 1, JobPaymentSchema),
    JobPaid: registry.register('job-paid', 1, JobPaidSchema),
    JobEvidence: registry.register('job-evidence', 1, JobEvidenceSchema),
  }
}
export type JobMessages = ReturnType<typeof registerJobMessages>

/** Provider → client frames after the request, each a separate signed envelope. */
export const PROVIDER_FRAME_TYPES = [
  'job-accepted',
  'job-chunk',
  'job-receipt',
  'job-paid',
  'job-error',
] as const

export function emptyUsage(): JobUsage {
  return { tokensIn: 0, tokensOut: 0, computeMs: 0, bytesIn: 0, bytesOut: 0 }
}
