import { CapabilitySchema, type Config, PrsmError } from '@prsm/core'
import type { Logger } from 'pino'

/** Where Ollama listens by default. */
export const OLLAMA_DEFAULT_URL = 'http://127.0.0.1:11434'

/** A model found on a local Ollama, and the capability it is offered as. */
export interface LocalModel {
  /** The Ollama model name, e.g. `llama3.2:3b`. */
  name: string
  /** `model:<name>`. */
  capability: string
  /** Bytes on disk, as Ollama reports them. */
  size?: number
}

/**
 * Lists the models of a local Ollama (`GET {baseUrl}/api/tags`). Throws JOB_BACKEND_FAILED when
 * nothing answers there or the answer is not Ollama's. Models whose names do not make a valid
 * capability are skipped.
 */
export async function detectLocalModels(
  options: { baseUrl?: string; signal?: AbortSignal; timeoutMs?: number } = {},
): Promise<LocalModel[]> {
  const base = (options.baseUrl ?? OLLAMA_DEFAULT_URL).replace(/\/+$/, '')
  const signal = AbortSignal.any([
    AbortSignal.timeout(options.timeoutMs ?? 1_500),
    ...(options.signal ? [options.signal] : []),
  ])
  let body: unknown
  try {
    const res = await fetch(`${base}/api/tags`, { signal })
    if (!res.ok) throw new Error(`HTTP ${res.status}`)
    body = await res.json()
  } catch (err) {
    if (options.signal?.aborted) throw options.signal.reason
    throw new PrsmError('JOB_BACKEND_FAILED', `no local Ollama at ${base}: ${(err as Error).message}`, {
      cause: err,
      details: { url: base },
    })
  }
  const models = (body as { models?: unknown })?.models
  if (!Array.isArray(models)) {
    throw new PrsmError('JOB_BACKEND_FAILED', `${base}/api/tags did not answer like Ollama`)
  }
  const out: LocalModel[] = []
  for (const m of models as Array<{ name?: unknown; model?: unknown; size?: unknown }>) {
    const name = typeof m.name === 'string' ? m.name : typeof m.model === 'string' ? m.model : undefined
    if (name === undefined) continue
    const capability = `model:${name}`
    if (!CapabilitySchema.safeParse(capability).success) continue
    out.push({ name, capability, ...(typeof m.size === 'number' ? { size: m.size } : {}) })
  }
  return out
}

/**
 * The config with the local Ollama's models added, when `jobs.localModels.detect` is set: one
 * offer per model (`model:<name>`, priced per token at `jobs.localModels.price`, unless an offer
 * for it is configured already) served by an `openai-compatible` backend at `{url}/v1`. Without
 * an answer from Ollama the config is returned as it is (and a warning logged).
 */
export async function withLocalModels(
  config: Config,
  options: { logger?: Logger; signal?: AbortSignal } = {},
): Promise<Config> {
  const local = config.jobs.localModels
  if (!local.detect) return config
  let models: LocalModel[]
  try {
    models = await detectLocalModels({
      baseUrl: local.url,
      timeoutMs: local.timeoutMs,
      ...(options.signal ? { signal: options.signal } : {}),
    })
  } catch (err) {
    options.logger?.warn({ err: (err as Error).message, url: local.url }, 'no local models detected')
    return config
  }
  const offered = new Set(config.offers.map((o) => o.capability))
  const served = new Set(config.jobs.backends.flatMap((b) => b.models.map((m) => m.capability)))
  const fresh = models.filter((m) => !served.has(m.capability))
  options.logger?.info({ models: fresh.map((m) => m.name), url: local.url }, 'local models detected')
  if (fresh.length === 0) return config
  return {
    ...config,
    offers: [
      ...config.offers,
      ...fresh
        .filter((m) => !offered.has(m.capability))
        .map((m) => ({ capability: m.capability, price: local.price, unit: 'token' as const, limits: {} })),
    ],
    jobs: {
      ...config.jobs,
      backends: [
        ...config.jobs.backends,
        {
          type: 'openai-compatible',
          baseUrl: `${local.url.replace(/\/+$/, '')}/v1`,
          timeoutMs: 30_000,
          models: fresh.map((m) => ({
            capability: m.capability,
            model: m.name,
            inputCostPerMTok: '0',
            outputCostPerMTok: '0',
            maxTokens: 1024,
          })),
        },
      ],
    },
  }
}
