import { type MessageRegistry, openEnvelope, PriceUnitSchema, PrsmError } from '@prsm/core'
import { z } from 'zod'
import { VoucherJsonSchema } from '../market/payments.ts'
import { parseCid } from './storage.ts'

/** Signed messages of {@link PIN_PROTOCOL}: request, receipt, refusal, and the pin payment. */
export const PIN_PROTOCOL = '/prsm/pin/1.0.0'
export const RECEIPT_MAX_AGE_MS = 10 * 365 * 24 * 3600_000
const cidText = z.string().min(1).max(256)
const wei = z.string().regex(/^\d{1,78}$/)
const hex32 = z.string().regex(/^0x[0-9a-fA-F]{64}$/)
const GIB = 1024n ** 3n
const MONTH_MS = 30n * 24n * 3600_000n

/**
 * What a pin costs for its term: the offer's price times the content's size and duration in the
 * offer's unit (rounded up to a whole wei): `gib-month` → size/GiB × duration/30 days, `byte` →
 * size, `ms` → duration, `call`/`token` → one unit.
 */
export function pinCharge(price: string, unit: string, size: number, durationMs: number): bigint {
  const p = BigInt(price)
  const ceilDiv = (a: bigint, b: bigint) => (a + b - 1n) / b
  if (unit === 'gib-month') return ceilDiv(p * BigInt(size) * BigInt(durationMs), GIB * MONTH_MS)
  if (unit === 'byte') return p * BigInt(size)
  if (unit === 'ms') return p * BigInt(durationMs)
  return p
}

export const PinReceiptSchema = z
  .object({
    cid: cidText,
    holder: z.string().max(128),
    /** Wei per unit, from the holder's `storage:pin` offer. */
    price: z.string().regex(/^\d+$/).max(80),
    unit: PriceUnitSchema,
    /** Milliseconds since the epoch until which the holder keeps the pin. */
    expiry: z.number().int().nonnegative(),
    /** Size of the content in bytes. */
    size: z.number().int().nonnegative(),
    /** Wei due for the term ({@link pinCharge}); paid after this receipt when a chain is used. */
    amount: wei.optional(),
  })
  .strict()
export type PinReceipt = z.output<typeof PinReceiptSchema>

const PinPaidSchema = z.discriminatedUnion('ok', [
  z.object({ ok: z.literal(true), cid: cidText, channel: hex32, cumulativeAmount: wei }).strict(),
  z.object({ ok: z.literal(false), code: z.string().max(64), message: z.string().max(512) }).strict(),
])
export type PinPaid = z.output<typeof PinPaidSchema>

export function registerPinMessages(registry: MessageRegistry) {
  return {
    PinRequest: registry.register(
      'pin-request',
      1,
      z
        .object({
          cid: cidText,
          durationMs: z.number().int().positive().max(RECEIPT_MAX_AGE_MS),
        })
        .strict(),
    ),
    PinReceipt: registry.register('pin-receipt', 1, PinReceiptSchema),
    PinRefusal: registry.register(
      'pin-refusal',
      1,
      z.object({ cid: cidText, reason: z.string().max(512), code: z.string().max(64).optional() }).strict(),
    ),
    /** Requester → holder, after a verified receipt: the voucher paying `amount` for the pin of `cid`. */
    PinPayment: registry.register(
      'pin-payment',
      1,
      z.object({ cid: cidText, voucher: VoucherJsonSchema }).strict(),
    ),
    /** Holder → requester: the payment was accepted (or a refusal with the code). */
    PinPaid: registry.register('pin-paid', 1, PinPaidSchema),
  }
}
export type PinMessages = ReturnType<typeof registerPinMessages>

/**
 * Verifies a stored receipt: a `pin-receipt` envelope signed by `expected.holder`'s node key for
 * `expected.cid`. Throws MESSAGE_* errors (bad signature, wrong type) or PIN_REFUSED on a
 * mismatch; returns the receipt.
 */
export async function verifyPinReceipt(
  bytes: Uint8Array,
  registry: MessageRegistry,
  expected: { cid?: string; holder?: string },
): Promise<PinReceipt> {
  const messages = pinMessagesOf(registry)
  const { envelope } = await openEnvelope<PinReceipt>(bytes, {
    registry,
    maxBytes: 64 * 1024,
    maxClockSkewMs: RECEIPT_MAX_AGE_MS,
    expect: messages.PinReceipt,
  })
  checkReceipt(envelope.sender, envelope.payload, expected)
  return envelope.payload
}

export function checkReceipt(
  sender: string,
  receipt: PinReceipt,
  expected: { cid?: string; holder?: string },
): void {
  if (receipt.holder !== sender) {
    throw new PrsmError('MESSAGE_BAD_SIGNATURE', 'pin receipt not signed by the holder it names', {
      details: { holder: receipt.holder, sender },
    })
  }
  if (expected.holder !== undefined && sender !== expected.holder) {
    throw new PrsmError('MESSAGE_BAD_SIGNATURE', 'pin receipt signed by another peer than the one asked', {
      details: { expected: expected.holder, sender },
    })
  }
  if (expected.cid !== undefined && parseCid(receipt.cid).toString() !== parseCid(expected.cid).toString()) {
    throw new PrsmError('PIN_REFUSED', `pin receipt is for ${receipt.cid}, not ${expected.cid}`)
  }
}

const registered = new WeakMap<MessageRegistry, PinMessages>()

/** The pin messages of `registry` (registered once per registry). */
export function pinMessagesOf(registry: MessageRegistry): PinMessages {
  let m = registered.get(registry)
  if (m === undefined) {
    m = registerPinMessages(registry)
    registered.set(registry, m)
  }
  return m
}
