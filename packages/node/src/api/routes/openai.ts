import { randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import { formatFtns, isErrorCode, PrsmError, parseFtns } from '@prsm/core'
import type { FastifyInstance, FastifyReply } from 'fastify'
import { z } from 'zod'
import type { JobEvent } from '../../jobs/job-client.ts'
import type { JobService } from '../../jobs/job-service.ts'
import type { JobReceipt } from '../../jobs/messages.ts'
import type { FoundOffer } from '../../market/offers.ts'
import type { Principal } from '../auth/principal.ts'
import { route } from '../route.ts'
import type { ApiRoutes } from '../server.ts'
import { bestOffer } from './jobs.ts'

/** The `model` that asks the node's planner instead of one model capability. */
export const AUTO_MODEL = 'prsm/auto'
/** Output tokens assumed for the default max price of a paid model when `max_tokens` is not given. */
export const DEFAULT_PRICED_OUTPUT_TOKENS = 4096

/** What the planner gives back for a query (the orchestrator's `query`). */
export interface PlannerAnswer {
  text: string
  /** What the query cost, wei of FTNS. */
  cost: bigint
  usage?: { tokensIn: number; tokensOut: number }
  /** An id to look the run up by (workflow run or trace id). */
  id?: string
}

export type PlannerQuery = (
  text: string,
  options: { budget?: bigint; signal?: AbortSignal },
) => Promise<PlannerAnswer>

/** What the OpenAI-compatible routes need from the node. */
export interface OpenAiRoutesComponents {
  jobs: Pick<JobService, 'run'>
  peerId: string
  findOffers: (capability: string | undefined, options: { signal?: AbortSignal }) => Promise<FoundOffer[]>
  /** The planner for `prsm/auto`; without it such requests answer PLANNER_NO_MODEL. */
  planner?: PlannerQuery
}

const ContentPart = z.object({ type: z.literal('text'), text: z.string() })
const Message = z.object({
  role: z.enum(['system', 'developer', 'user', 'assistant']),
  content: z.union([z.string(), z.array(ContentPart).max(256)]),
  name: z.string().max(64).optional(),
})
const Decimal = z.string().regex(/^\d+(\.\d{1,18})?$/, 'must be a decimal FTNS amount such as 0.5')

/**
 * The chat completion request: OpenAI's fields PRSM can honour (others are ignored, as OpenAI
 * ignores what a model does not support) and the `prsm` extension.
 */
export const ChatCompletionRequestSchema = z.object({
  model: z.string().min(1).max(160),
  messages: z.array(Message).min(1).max(256),
  stream: z.boolean().nullish(),
  stream_options: z.object({ include_usage: z.boolean().nullish() }).nullish(),
  max_tokens: z.number().int().min(1).max(1_000_000).nullish(),
  max_completion_tokens: z.number().int().min(1).max(1_000_000).nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().min(0).max(1).nullish(),
  stop: z.union([z.string().max(256), z.array(z.string().max(256)).max(4)]).nullish(),
  seed: z.number().int().nullish(),
  presence_penalty: z.number().min(-2).max(2).nullish(),
  frequency_penalty: z.number().min(-2).max(2).nullish(),
  n: z.literal(1).nullish(),
  user: z.string().max(256).nullish(),
  /** PRSM extension: the most to pay (decimal FTNS), a provider to use, a deadline. */
  prsm: z
    .object({
      max_price: Decimal.optional(),
      provider: z.string().max(128).optional(),
      deadline_ms: z.number().int().min(100).max(3_600_000).optional(),
    })
    .strict()
    .optional(),
})
export type ChatCompletionRequest = z.output<typeof ChatCompletionRequestSchema>

function asPrsmError(err: unknown): PrsmError {
  if (err instanceof PrsmError) return err
  const code = (err as { code?: unknown })?.code
  if (isErrorCode(code)) return new PrsmError(code, (err as Error).message)
  return new PrsmError('INTERNAL', 'internal error', { cause: err })
}

/** Flattens a message's content parts into one string. */
function contentText(content: z.output<typeof Message>['content']): string {
  return typeof content === 'string' ? content : content.map((p) => p.text).join('')
}

/**
 * Job parameters for a chat: system and developer turns become `system` (every backend places it
 * where its API wants it), the rest `messages`; sampling parameters pass through.
 */
export function chatParams(body: ChatCompletionRequest): Record<string, z.core.util.JSONType> {
  const system = body.messages
    .filter((m) => m.role === 'system' || m.role === 'developer')
    .map((m) => contentText(m.content))
  const params: Record<string, z.core.util.JSONType> = {
    messages: body.messages
      .filter((m) => m.role === 'user' || m.role === 'assistant')
      .map((m) => ({ role: m.role, content: contentText(m.content) })),
  }
  if (system.length > 0) params.system = system.join('\n\n')
  const maxTokens = body.max_completion_tokens ?? body.max_tokens
  if (maxTokens != null) params.max_tokens = maxTokens
  for (const k of [
    'temperature',
    'top_p',
    'stop',
    'seed',
    'presence_penalty',
    'frequency_penalty',
  ] as const) {
    const v = body[k]
    if (v != null) params[k] = v
  }
  return params
}

/**
 * The most a chat may cost when the request names no `prsm.max_price`: free offers cost 0; a
 * per-token offer is bounded by (input characters + max output tokens) tokens, since a token is at
 * least one character; a per-call offer by its price. Other units need an explicit max price.
 */
export function defaultMaxPrice(offer: FoundOffer['offer'], body: ChatCompletionRequest): bigint {
  const price = BigInt(offer.price)
  if (price === 0n) return 0n
  if (offer.unit === 'call') return price
  if (offer.unit === 'token') {
    const chars = body.messages.reduce((n, m) => n + contentText(m.content).length, 0)
    const out =
      body.max_completion_tokens ??
      body.max_tokens ??
      offer.limits.maxOutputTokens ??
      DEFAULT_PRICED_OUTPUT_TOKENS
    return price * BigInt(chars + out)
  }
  throw new PrsmError(
    'VALIDATION_FAILED',
    `the offer for ${offer.capability} is priced per ${offer.unit}: give prsm.max_price`,
  )
}

interface Completion {
  id: string
  model: string
  created: number
}

function usageOf(receipt: Pick<JobReceipt, 'usage'>) {
  const { tokensIn, tokensOut } = receipt.usage
  return { prompt_tokens: tokensIn, completion_tokens: tokensOut, total_tokens: tokensIn + tokensOut }
}

type PrsmCostJson = {
  cost: string
  cost_wei: string
  provider: string
  receipt_id: string
  capability: string
}
type UsageJson = ReturnType<typeof usageOf>

function prsmOf(receipt: JobReceipt, provider: string): PrsmCostJson {
  return {
    cost: formatFtns(BigInt(receipt.charged)),
    cost_wei: receipt.charged,
    provider,
    receipt_id: receipt.requestId,
    capability: receipt.capability,
  }
}

/** The whole answer: OpenAI's `chat.completion` plus the `prsm` cost object. */
function completionJson(c: Completion, text: string, usage: UsageJson, prsm: PrsmCostJson) {
  return {
    ...c,
    object: 'chat.completion' as const,
    system_fingerprint: null,
    choices: [
      {
        index: 0,
        message: { role: 'assistant' as const, content: text, refusal: null },
        logprobs: null,
        finish_reason: 'stop' as const,
      },
    ],
    usage,
    prsm,
  }
}

/** One `chat.completion.chunk` SSE event. */
function chunkLine(c: Completion, choices: unknown[], extra: Record<string, unknown> = {}): string {
  const chunk = { ...c, object: 'chat.completion.chunk', system_fingerprint: null, choices, ...extra }
  return `data: ${JSON.stringify(chunk)}\n\n`
}

const delta = (d: Record<string, unknown>, finish: 'stop' | null = null) => [
  { index: 0, delta: d, logprobs: null, finish_reason: finish },
]

/** The closing chunks: `finish_reason` with the cost, then (when asked for) the usage. */
function closingLines(c: Completion, usage: UsageJson, prsm: PrsmCostJson, includeUsage: boolean): string[] {
  return [
    chunkLine(c, delta({}, 'stop'), { ...(includeUsage ? { usage: null } : {}), prsm }),
    ...(includeUsage ? [chunkLine(c, [], { usage, prsm })] : []),
  ]
}

function failure(receipt: JobReceipt): PrsmError {
  const code = receipt.error?.code
  return new PrsmError(isErrorCode(code) ? code : 'JOB_BACKEND_FAILED', receipt.error?.message, {
    details: { receiptId: receipt.requestId, charged: receipt.charged },
  })
}

/** A job's events as OpenAI `chat.completion.chunk` SSE lines, ending with `data: [DONE]`. */
async function* sseChunks(
  c: Completion,
  provider: string,
  includeUsage: boolean,
  events: AsyncGenerator<JobEvent, void, undefined>,
): AsyncGenerator<string> {
  yield chunkLine(c, delta({ role: 'assistant', content: '' }))
  try {
    for await (const e of events) {
      if (e.type === 'chunk') {
        const text = e.text ?? (e.bytes === undefined ? '' : new TextDecoder().decode(e.bytes))
        if (text !== '') yield chunkLine(c, delta({ content: text }))
      } else if (e.type === 'receipt') {
        if (e.receipt.status !== 'ok') throw failure(e.receipt)
        yield* closingLines(c, usageOf(e.receipt), prsmOf(e.receipt, provider), includeUsage)
      }
    }
    yield 'data: [DONE]\n\n'
  } catch (err) {
    // After the stream started, an error is an SSE event OpenAI clients raise as an APIError.
    yield `data: ${JSON.stringify(asPrsmError(err).toWire())}\n\n`
  }
}

async function chatWithPlanner(
  c: OpenAiRoutesComponents,
  body: ChatCompletionRequest,
  completion: Completion,
  reply: FastifyReply,
  signal: AbortSignal,
) {
  if (c.planner === undefined) {
    throw new PrsmError('PLANNER_NO_MODEL', `${AUTO_MODEL} needs the node's planner, which is not running`)
  }
  const text = body.messages.map((m) => `${m.role}: ${contentText(m.content)}`).join('\n')
  const budget = body.prsm?.max_price === undefined ? undefined : parseFtns(body.prsm.max_price)
  const answer = await c.planner(text, { ...(budget === undefined ? {} : { budget }), signal })
  const usage = answer.usage ?? { tokensIn: 0, tokensOut: 0 }
  const prsm: PrsmCostJson = {
    cost: formatFtns(answer.cost),
    cost_wei: answer.cost.toString(),
    provider: c.peerId,
    receipt_id: answer.id ?? completion.id,
    capability: AUTO_MODEL,
  }
  reply.header('x-prsm-cost', prsm.cost).header('x-prsm-receipt-id', prsm.receipt_id)
  const u = usageOf({ usage: { ...usage, computeMs: 0, bytesIn: 0, bytesOut: 0 } })
  if (body.stream !== true) return completionJson(completion, answer.text, u, prsm)
  const lines = [
    chunkLine(completion, delta({ role: 'assistant', content: answer.text })),
    ...closingLines(completion, u, prsm, body.stream_options?.include_usage === true),
  ]
  reply.header('content-type', 'text/event-stream; charset=utf-8').header('cache-control', 'no-cache')
  return reply.send(`${lines.join('')}data: [DONE]\n\n`)
}

const Usage = z.object({
  prompt_tokens: z.number().int(),
  completion_tokens: z.number().int(),
  total_tokens: z.number().int(),
})
const PrsmCost = z.object({
  cost: z.string().describe('What the answer cost, decimal FTNS'),
  cost_wei: z.string(),
  provider: z.string().describe("The provider's PeerId (this node for prsm/auto)"),
  receipt_id: z.string().describe('The job request id of the signed receipt (or the run id)'),
  capability: z.string(),
})
/** The whole answer as documented in /openapi.json. */
export const ChatCompletionSchema = z.object({
  id: z.string(),
  object: z.literal('chat.completion'),
  created: z.number().int(),
  model: z.string(),
  system_fingerprint: z.null(),
  choices: z.array(
    z.object({
      index: z.number().int(),
      message: z.object({ role: z.literal('assistant'), content: z.string(), refusal: z.null() }),
      logprobs: z.null(),
      finish_reason: z.literal('stop'),
    }),
  ),
  usage: Usage,
  prsm: PrsmCost,
})
const ModelSchema = z.object({
  id: z.string(),
  object: z.literal('model'),
  created: z.number().int(),
  owned_by: z.string(),
  prsm: z.object({ providers: z.number().int(), min_price: z.string() }),
})
const ModelListSchema = z.object({ object: z.literal('list'), data: z.array(ModelSchema) })

function listModels(c: OpenAiRoutesComponents, offers: FoundOffer[]): z.output<typeof ModelListSchema> {
  const byModel = new Map<string, { providers: Set<string>; minPrice: bigint; seen: number }>()
  for (const o of offers) {
    if (!o.offer.capability.startsWith('model:') || o.offer.expiry <= Date.now()) continue
    const m = byModel.get(o.offer.capability) ?? { providers: new Set(), minPrice: -1n, seen: o.signedAt }
    m.providers.add(o.provider)
    const price = BigInt(o.offer.price)
    if (m.minPrice < 0n || price < m.minPrice) m.minPrice = price
    m.seen = Math.min(m.seen, o.signedAt)
    byModel.set(o.offer.capability, m)
  }
  const data = [...byModel.entries()]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([id, m]) => ({
      id,
      object: 'model' as const,
      created: Math.floor(m.seen / 1000),
      owned_by: 'prsm',
      prsm: { providers: m.providers.size, min_price: formatFtns(m.minPrice) },
    }))
  data.push({
    id: AUTO_MODEL,
    object: 'model',
    created: 0,
    owned_by: 'prsm',
    prsm: { providers: c.planner === undefined ? 0 : 1, min_price: '0' },
  })
  return { object: 'list', data }
}

/** The provider and the most to pay for a chat on a model capability. */
async function chooseProvider(
  c: OpenAiRoutesComponents,
  body: ChatCompletionRequest,
  principal: Principal,
  signal: AbortSignal,
): Promise<{ provider: string; maxPrice: bigint }> {
  const explicit = body.prsm?.max_price === undefined ? undefined : parseFtns(body.prsm.max_price)
  const named = body.prsm?.provider
  if (named !== undefined && explicit !== undefined) return { provider: named, maxPrice: explicit }
  const found =
    named === undefined
      ? await bestOffer(c, body.model, signal)
      : (await c.findOffers(body.model, { signal })).find((o) => o.provider === named)
  if (found === undefined) {
    throw new PrsmError('JOB_NO_OFFER', `${named} does not offer ${body.model}`, {
      details: { capability: body.model },
    })
  }
  if (explicit !== undefined) return { provider: found.provider, maxPrice: explicit }
  const maxPrice = defaultMaxPrice(found.offer, body)
  // Only an explicit max price is reserved against a key's daily budget before the request runs.
  if (maxPrice > 0n && principal.dailyBudgetWei !== null) {
    throw new PrsmError(
      'VALIDATION_FAILED',
      `${body.model} is paid: a key with a daily budget must give prsm.max_price`,
    )
  }
  return { provider: found.provider, maxPrice }
}

/**
 * The OpenAI-compatible front door: `POST /v1/chat/completions` (streamed as SSE chunks or whole),
 * `GET /v1/models` and `GET /v1/models/{model}`. A `model` names a capability (`model:llama-3-8b`),
 * run as a job on the cheapest other node offering it, or `prsm/auto`, answered by the planner. Answers carry
 * OpenAI's `usage` plus a `prsm` object (cost, provider, receipt id) and `x-prsm-*` headers.
 * Errors are PRSM's `{ error: { code, message, details } }`, which OpenAI clients read as theirs.
 */
export function openAiRoutes(c: OpenAiRoutesComponents): ApiRoutes {
  return (app: FastifyInstance) => {
    route(app, {
      method: 'GET',
      url: '/v1/models',
      summary: 'OpenAI-compatible: the model capabilities offered on the network, and prsm/auto',
      tags: ['openai'],
      permission: 'node:read',
      responses: { 200: ModelListSchema },
      handler: async ({ signal }) => listModels(c, await c.findOffers(undefined, { signal })),
    })

    route(app, {
      method: 'GET',
      url: '/v1/models/:model',
      summary: 'OpenAI-compatible: one model capability offered on the network, or prsm/auto',
      tags: ['openai'],
      permission: 'node:read',
      params: z.object({ model: z.string().min(1).max(160) }).strict(),
      responses: { 200: ModelSchema },
      errors: ['NOT_FOUND'],
      handler: async ({ params, signal }) => {
        const found = listModels(c, await c.findOffers(undefined, { signal })).data.find(
          (m) => m.id === params.model,
        )
        if (found === undefined) {
          throw new PrsmError('NOT_FOUND', `no node offers ${params.model}`, {
            details: { model: params.model },
          })
        }
        return found
      },
    })

    route(app, {
      method: 'POST',
      url: '/v1/chat/completions',
      summary: 'OpenAI-compatible chat completion, run as a PRSM job (or by the planner for prsm/auto)',
      description:
        'With `stream: true` the answer is `text/event-stream`: `data: {chat.completion.chunk}` events, the last ones with `usage` (when `stream_options.include_usage`) and a `prsm` cost object, then `data: [DONE]`; a failure after the stream started is a `data: {"error":{code,message,details}}` event.',
      tags: ['openai'],
      permission: 'jobs:run',
      body: ChatCompletionRequestSchema,
      responses: { 200: ChatCompletionSchema },
      errors: [
        'JOB_NO_OFFER',
        'JOB_NO_BACKEND',
        'JOB_PRICE_TOO_LOW',
        'JOB_PAYMENT_REQUIRED',
        'JOB_REFUSED',
        'JOB_BUSY',
        'JOB_DEADLINE_EXCEEDED',
        'JOB_INPUT_INVALID',
        'JOB_BACKEND_FAILED',
        'CHAIN_NOT_CONFIGURED',
        'PEER_UNREACHABLE',
        'PLANNER_NO_MODEL',
      ],
      // an explicit max price is reserved against the key's daily budget
      cost: ({ body }) => (body.prsm?.max_price === undefined ? 0n : parseFtns(body.prsm.max_price)),
      handler: async ({ body, principal, signal, reply }) => {
        const completion: Completion = {
          id: `chatcmpl-${randomBytes(12).toString('base64url')}`,
          model: body.model,
          created: Math.floor(Date.now() / 1000),
        }
        if (body.model === AUTO_MODEL) return chatWithPlanner(c, body, completion, reply, signal)
        if (!body.model.startsWith('model:')) {
          throw new PrsmError(
            'VALIDATION_FAILED',
            `model must be a model capability (model:NAME) or ${AUTO_MODEL}`,
            {
              details: { model: body.model },
            },
          )
        }
        const { provider, maxPrice } = await chooseProvider(c, body, principal, signal)
        const events = c.jobs.run(
          provider,
          {
            step: { capability: body.model, params: chatParams(body) },
            maxPrice,
            ...(body.prsm?.deadline_ms === undefined ? {} : { deadline: Date.now() + body.prsm.deadline_ms }),
          },
          { signal: signal },
        )
        // The first event (accepted, or a refusal thrown) decides between an error answer and a stream.
        const first = await events.next()
        reply.header('x-prsm-provider', provider)
        if (body.stream === true) {
          async function* all(): AsyncGenerator<JobEvent, void, undefined> {
            if (!first.done) yield first.value
            yield* events
          }
          reply
            .header('content-type', 'text/event-stream; charset=utf-8')
            .header('cache-control', 'no-cache')
            .header('x-accel-buffering', 'no')
          const includeUsage = body.stream_options?.include_usage === true
          return reply.send(Readable.from(sseChunks(completion, provider, includeUsage, all())))
        }
        let text = ''
        let receipt: JobReceipt | undefined
        const decoder = new TextDecoder()
        for await (const e of events) {
          if (e.type === 'chunk')
            text += e.text ?? (e.bytes === undefined ? '' : decoder.decode(e.bytes, { stream: true }))
          else if (e.type === 'receipt') receipt = e.receipt
        }
        text += decoder.decode()
        if (receipt === undefined)
          throw new PrsmError('JOB_RECEIPT_INVALID', 'the job ended without a receipt')
        if (receipt.status !== 'ok') throw failure(receipt)
        // A replayed output may come only in the receipt.
        if (text === '' && receipt.output.text !== undefined) text = receipt.output.text
        const prsm = prsmOf(receipt, provider)
        reply.header('x-prsm-cost', prsm.cost).header('x-prsm-receipt-id', prsm.receipt_id)
        return completionJson(completion, text, usageOf(receipt), prsm)
      },
    })
  }
}
