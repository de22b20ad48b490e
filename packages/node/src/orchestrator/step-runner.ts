import { createHash } from 'node:crypto'
import { formatFtns, isErrorCode, PrsmError } from '@prsm/core'
import type { Hex } from 'viem'
import type { JobEvent, RunJobRequest } from '../jobs/job-client.ts'
import type { JobReceipt } from '../jobs/messages.ts'
import type { FoundOffer } from '../market/offers.ts'
import type { Router } from './router.ts'
import { type Budget, type ChannelKeeper, type RoyaltyRate, royaltiesFor } from './spending.ts'

/** Errors that end a step at once instead of moving it to another provider. */
const STEP_FATAL = new Set([
  'CHAIN_NOT_CONFIGURED',
  'CHAIN_UNAVAILABLE',
  'WALLET_INSUFFICIENT_FUNDS',
  'BUDGET_EXCEEDED',
  'JOB_CANCELLED',
])

/** What `JobService.runVerified` answers: the majority output of k providers. */
export interface VerifiedResult {
  output: Uint8Array
  outputHash: string
  receipt: JobReceipt
  provider: string
  agreeing: string[]
  dissenters: Array<{ provider: string; receipt?: JobReceipt }>
  /** What each provider was paid after delivery, wei. */
  payments?: Array<{ provider: string; amount: bigint }>
  evidence: string[]
}

export interface StepJobs {
  run(
    provider: string,
    request: RunJobRequest,
    options: { signal?: AbortSignal },
  ): AsyncGenerator<JobEvent, void, undefined>
  runVerified?(
    request: RunJobRequest,
    options: { providers: string[]; k: number; signal?: AbortSignal },
  ): Promise<VerifiedResult>
}

export interface StepRunnerComponents {
  jobs: StepJobs
  router: Router
  keeper: ChannelKeeper
  findOffers(capability: string, options: { signal?: AbortSignal; dht?: boolean }): Promise<FoundOffer[]>
  /** This node's PeerId: never routed to. */
  self: string
  /** The default royalty cap (governance parameter), used when no channel is open yet. */
  royaltyCapBps(): bigint
}

export interface StepRunRequest {
  step: string
  capability: string
  kind: 'model' | 'tool' | 'compute'
  params: Record<string, unknown>
  inputs: NonNullable<RunJobRequest['inputs']>
  redundancy: number
  /** Price per provider, wei; undefined: derived from the budget by `price`. */
  price: (cheapest: bigint) => bigint
  royalties: readonly RoyaltyRate[]
  timeoutMs: number
  maxAttempts: number
  budget: Budget
  signal: AbortSignal
  onEvent(event: StepRunEvent): void
}

export type StepRunEvent =
  | { type: 'attempt'; provider: string; providers: string[]; attempt: number; at: number }
  | { type: 'chunk'; text: string }
  | { type: 'failed'; provider: string; code: string; message: string; paid: bigint; rerouting: boolean }

export interface StepRunResult {
  output: Uint8Array
  outputHash: string
  provider: string
  agreeing: string[]
  receipt: JobReceipt
  /** The receipt's signed envelope, when the job client gives it (single-provider steps). */
  signedReceipt?: Uint8Array
  /** What the vouchers of the accepted attempt added, wei (all providers). */
  paid: bigint
  /** Per provider of the accepted attempt. */
  payments: Array<{ provider: string; amount: bigint }>
  royalties: Array<{ creator: string; amount: bigint }>
  channel: Hex | undefined
  startedAt: number
  finishedAt: number
  failures: Array<{ provider: string; code: string; paid: string }>
}

/**
 * Runs one step on the network: finds offers, routes to the best provider(s), reserves the price
 * (and royalties) in the budget, makes sure a channel with room exists, runs the job, and on a
 * failed or silent provider reroutes to the next best one (at most `maxAttempts` providers).
 * Providers are paid after delivery, by the job client: a provider killed or silent before its
 * receipt gets nothing, and a failed receipt is paid only what it charged for delivered output;
 * the rest of the reservation is given back.
 */
export async function runStep(c: StepRunnerComponents, r: StepRunRequest): Promise<StepRunResult> {
  const exclude = new Set([c.self])
  const failures: StepRunResult['failures'] = []
  let attempt = 0
  while (attempt < r.maxAttempts) {
    r.signal.throwIfAborted()
    // Offers already known (gossip); the DHT is asked only when none of them qualifies.
    let offers = await c.findOffers(r.capability, { signal: r.signal, dht: false })
    if (c.router.rank({ capability: r.capability, offers, exclude }).length < r.redundancy) {
      offers = await c.findOffers(r.capability, { signal: r.signal })
    }
    const ranked = c.router.rank({ capability: r.capability, offers, exclude })
    if (ranked.length === 0) break
    const cheapest = ranked.reduce(
      (m, x) => (BigInt(x.found.offer.price) < m ? BigInt(x.found.offer.price) : m),
      BigInt(ranked[0]?.found.offer.price ?? 0),
    )
    const price = r.price(cheapest)
    const affordable = c.router.pick({
      capability: r.capability,
      offers,
      exclude,
      maxPrice: price,
      count: r.redundancy,
    })
    if (affordable.length === 0) {
      throw new PrsmError(
        'BUDGET_EXCEEDED',
        `step ${r.step}: the cheapest offer of ${r.capability} costs ${formatFtns(cheapest)} FTNS per unit, above the ${formatFtns(price)} FTNS the budget leaves for it`,
        { details: { step: r.step, price: price.toString(), cheapest: cheapest.toString() } },
      )
    }
    if (affordable.length < r.redundancy) break
    attempt++
    const providers = affordable.map((f) => f.provider)
    const paying = affordable.map((f) => (BigInt(f.offer.price) === 0n ? 0n : price))
    const royaltyReserve = royaltiesFor(price, r.royalties, c.royaltyCapBps()).reduce(
      (n, x) => n + x.amount,
      0n,
    )
    const total = paying.reduce((n, p) => n + p, 0n) + (paying[0] === 0n ? 0n : royaltyReserve)
    // Counted as load from the moment they are picked, so steps routed meanwhile spread out.
    const ends = providers.map((p) => c.router.begin(p))
    let channels: Array<Hex | undefined>
    try {
      r.budget.reserve(total, r.step)
    } catch (err) {
      for (const end of ends) end()
      throw err
    }
    // A provider that cannot be paid (its wallet unresolvable, the open refused) is skipped like
    // a failed one; no chain or no funds ends the step.
    const opened = await Promise.allSettled(
      providers.map((p, i) =>
        (paying[i] ?? 0n) > 0n
          ? c.keeper.ensure(p, (paying[i] ?? 0n) + royaltyReserve, { signal: r.signal })
          : Promise.resolve(undefined),
      ),
    )
    // The room each channel holds for this attempt, given back when it ends.
    const releaseRoom = (): void => {
      opened.forEach((o, i) => {
        if (o.status === 'fulfilled' && o.value !== undefined) {
          c.keeper.release(o.value, (paying[i] ?? 0n) + royaltyReserve)
        }
      })
    }
    const unpayable = opened.flatMap((o, i) =>
      o.status === 'rejected' ? [{ provider: providers[i] as string, err: o.reason }] : [],
    )
    if (unpayable.length > 0) {
      r.budget.release(total)
      releaseRoom()
      for (const end of ends) end()
      const fatal = unpayable.find(
        ({ err }) => STEP_FATAL.has((err as { code?: string })?.code ?? '') || r.signal.aborted,
      )
      if (fatal !== undefined) throw fatal.err
      for (const { provider, err } of unpayable) {
        const e = asPrsmError(err, false)
        exclude.add(provider)
        failures.push({ provider, code: e.code, paid: '0' })
        r.onEvent({
          type: 'failed',
          provider,
          code: e.code,
          message: e.message,
          paid: 0n,
          rerouting: attempt < r.maxAttempts,
        })
      }
      continue
    }
    channels = opened.map((o) => (o.status === 'fulfilled' ? o.value : undefined))
    const startedAt = Date.now()
    r.onEvent({ type: 'attempt', provider: providers[0] as string, providers, attempt, at: startedAt })
    const timeout = AbortSignal.timeout(r.timeoutMs)
    const signal = AbortSignal.any([r.signal, timeout])
    const request: RunJobRequest = {
      step: {
        kind: r.kind,
        capability: r.capability,
        params: r.params as NonNullable<RunJobRequest['step']['params']>,
      },
      inputs: r.inputs,
      maxPrice: price,
      deadline: startedAt + r.timeoutMs,
    }
    // k > 1: what the vouchers of this attempt add, per provider, measured on the channels.
    const signedBefore = channels.map((ch) => c.keeper.signed(ch))
    const added = () => channels.map((ch, i) => c.keeper.signed(ch) - (signedBefore[i] ?? 0n))
    try {
      const result =
        r.redundancy === 1
          ? await runOne(
              c,
              providers[0] as string,
              { ...request, ...(channels[0] ? { channel: channels[0] } : {}) },
              signal,
              r,
            )
          : await runMany(c, providers, request, signal, r)
      const finishedAt = Date.now()
      for (const p of providers)
        c.router.observe(p, { ok: result.agreeing.includes(p), latencyMs: finishedAt - startedAt })
      const payments = providers.map((provider, i) => ({
        provider,
        amount:
          (result as { paid?: bigint }).paid ??
          (result as { payments?: Array<{ provider: string; amount: bigint }> }).payments?.find(
            (x) => x.provider === provider,
          )?.amount ??
          added()[i] ??
          0n,
      }))
      const paid = payments.reduce((n, p) => n + p.amount, 0n)
      const royalties =
        paid === 0n
          ? []
          : royaltiesFor(paid, r.royalties, channels[0] ? c.keeper.capBps(channels[0]) : c.royaltyCapBps())
      const unused = total - paid - royalties.reduce((n, x) => n + x.amount, 0n)
      if (unused > 0n) r.budget.release(unused)
      const index = providers.indexOf(result.provider)
      return {
        ...result,
        paid,
        payments,
        royalties,
        channel: channels[index] ?? undefined,
        startedAt,
        finishedAt,
        failures,
      }
    } catch (err) {
      const e = asPrsmError(err, timeout.aborted && !r.signal.aborted)
      if (r.signal.aborted) throw new PrsmError('JOB_CANCELLED', 'the workflow was cancelled', { cause: err })
      // Paid after delivery: a failed receipt's charge for delivered output (k = 1: as the job
      // client paid it; k > 1: measured on the channels); no receipt, no payment.
      const single = (err as { paid?: bigint }).paid
      const paid = single ?? added().reduce((n, a) => n + a, 0n)
      r.budget.release(total - paid)
      const failed =
        (e.details?.peer as string | undefined) ??
        (providers.length === 1 ? (providers[0] as string) : undefined)
      for (const p of failed === undefined ? providers : [failed]) {
        exclude.add(p)
        c.router.observe(p, { ok: false, latencyMs: Date.now() - startedAt })
      }
      failures.push({ provider: failed ?? providers.join(','), code: e.code, paid: paid.toString() })
      r.onEvent({
        type: 'failed',
        provider: failed ?? providers.join(','),
        code: e.code,
        message: e.message,
        paid,
        rerouting: attempt < r.maxAttempts,
      })
      if (e.code === 'BUDGET_EXCEEDED') throw e
    } finally {
      releaseRoom()
      for (const end of ends) end()
    }
  }
  throw new PrsmError(
    'WORKFLOW_STEP_FAILED',
    failures.length === 0
      ? `step ${r.step}: no provider offers ${r.capability}${r.redundancy > 1 ? ` ${r.redundancy} times` : ''}`
      : `step ${r.step} failed on ${failures.length} provider(s): ${failures.map((f) => `${f.provider.slice(-8)} ${f.code}`).join(', ')}`,
    { details: { step: r.step, capability: r.capability, failures } },
  )
}

async function runOne(
  c: StepRunnerComponents,
  provider: string,
  request: RunJobRequest,
  signal: AbortSignal,
  r: StepRunRequest,
): Promise<{
  output: Uint8Array
  outputHash: string
  provider: string
  agreeing: string[]
  receipt: JobReceipt
  signedReceipt?: Uint8Array
  paid: bigint
}> {
  const parts: Uint8Array[] = []
  let paid = 0n
  try {
    // The event loop runs to its end (the job client closes the stream after the receipt):
    // leaving it at the receipt would leave the stream half-open.
    let receipt: JobReceipt | undefined
    let signed: Uint8Array | undefined
    for await (const event of c.jobs.run(provider, request, { signal })) {
      if (event.type === 'payment') {
        if (event.error === undefined) paid += BigInt(event.amount)
      } else if (event.type === 'chunk') {
        if (event.text !== undefined) {
          parts.push(Buffer.from(event.text))
          r.onEvent({ type: 'chunk', text: event.text })
        } else if (event.bytes !== undefined) parts.push(event.bytes)
      } else if (event.type === 'receipt') {
        receipt = event.receipt
        signed = event.signed
      }
    }
    if (receipt === undefined) {
      throw new PrsmError('JOB_RECEIPT_INVALID', 'the job ended without a receipt', {
        details: { peer: provider },
      })
    }
    if (receipt.status !== 'ok') {
      const code = receipt.error?.code
      throw new PrsmError(
        isErrorCode(code) ? code : 'JOB_BACKEND_FAILED',
        receipt.error?.message ?? 'the job failed',
        {
          details: { peer: provider },
        },
      )
    }
    return {
      output: Buffer.concat(parts),
      outputHash: receipt.outputHash,
      provider,
      agreeing: [provider],
      receipt,
      ...(signed === undefined ? {} : { signedReceipt: signed }),
      paid,
    }
  } catch (err) {
    throw Object.assign(asPrsmError(err, false), { paid })
  }
}

/** k providers at once: JobService.runVerified when the node has it, else a local majority vote. */
async function runMany(
  c: StepRunnerComponents,
  providers: string[],
  request: RunJobRequest,
  signal: AbortSignal,
  r: StepRunRequest,
): Promise<{
  output: Uint8Array
  outputHash: string
  provider: string
  agreeing: string[]
  receipt: JobReceipt
  payments?: Array<{ provider: string; amount: bigint }>
}> {
  if (c.jobs.runVerified !== undefined) {
    try {
      const v = await c.jobs.runVerified(request, { providers, k: providers.length, signal })
      return {
        output: v.output,
        outputHash: v.outputHash,
        provider: v.provider,
        agreeing: v.agreeing,
        receipt: v.receipt,
        ...(v.payments === undefined ? {} : { payments: v.payments }),
      }
    } catch (err) {
      throw asPrsmError(err, false)
    }
  }
  const settled = await Promise.allSettled(
    providers.map((p) => runOne(c, p, request, signal, { ...r, onEvent: () => {} })),
  )
  const byHash = new Map<string, Array<{ output: Uint8Array; provider: string; receipt: JobReceipt }>>()
  for (const s of settled) {
    if (s.status !== 'fulfilled') continue
    const list = byHash.get(s.value.outputHash) ?? []
    list.push(s.value)
    byHash.set(s.value.outputHash, list)
  }
  const best = [...byHash.entries()].sort((a, b) => b[1].length - a[1].length)[0]
  if (best === undefined || best[1].length * 2 <= providers.length) {
    const failed = settled.find((s) => s.status === 'rejected')
    throw new PrsmError('WORKFLOW_STEP_FAILED', `no majority among ${providers.length} providers`, {
      ...(failed?.status === 'rejected' ? { cause: failed.reason } : {}),
      details: { step: r.step },
    })
  }
  const [hash, agreeing] = best
  const first = agreeing[0] as { output: Uint8Array; provider: string; receipt: JobReceipt }
  if (createHash('sha256').update(first.output).digest('hex') !== hash) {
    throw new PrsmError('JOB_RECEIPT_INVALID', 'output does not match its receipt')
  }
  return {
    output: first.output,
    outputHash: hash,
    provider: first.provider,
    agreeing: agreeing.map((a) => a.provider),
    receipt: first.receipt,
    payments: settled.map((s, i) => ({
      provider: providers[i] as string,
      amount: s.status === 'fulfilled' ? s.value.paid : ((s.reason as { paid?: bigint }).paid ?? 0n),
    })),
  }
}

function asPrsmError(err: unknown, timedOut: boolean): PrsmError {
  if (timedOut)
    return new PrsmError('JOB_DEADLINE_EXCEEDED', 'the provider did not answer in time', { cause: err })
  if (err instanceof PrsmError) return err
  const code = (err as { code?: unknown })?.code
  if (isErrorCode(code)) return new PrsmError(code, (err as Error).message, { cause: err })
  return new PrsmError('PEER_UNREACHABLE', (err as Error)?.message ?? String(err), { cause: err })
}
