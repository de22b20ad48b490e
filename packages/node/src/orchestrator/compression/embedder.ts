/**
 * An `Embed` for {@link compressForBudget} over the OpenAI embeddings wire format
 * (`POST {baseUrl}/embeddings` with `{ model, input: [texts] }`, answered with
 * `{ data: [{ index, embedding }] }`) — OpenAI, Ollama, vLLM, llama.cpp, LM Studio and TEI speak it.
 * Each text is cut to `maxInputTokens` first (embedding models have a context limit; the
 * original handed to a step can be far longer). The key is read from the environment variable
 * `apiKeyEnv` names at each call and is never logged or put in an error.
 */
import { PrsmError } from '@prsm/core'
import type { Embed } from './compress.ts'
import { truncateToTokens } from './extract.ts'

export interface EmbedderInit {
  baseUrl: string
  model: string
  /** NAME of the environment variable holding the API key (none: no Authorization header). */
  apiKeyEnv?: string
  /** Longest text sent, in (approximate) tokens; longer texts are cut (default 8,000). */
  maxInputTokens?: number
  timeoutMs?: number
}

export function openAIEmbedder(init: EmbedderInit): Embed {
  const url = `${init.baseUrl.replace(/\/+$/, '')}/embeddings`
  return async (texts, { signal } = {}) => {
    const key = init.apiKeyEnv === undefined ? undefined : process.env[init.apiKeyEnv]
    const input = texts.map((t) => truncateToTokens(t, init.maxInputTokens ?? 8_000))
    let res: Response
    try {
      res = await fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(key ? { authorization: `Bearer ${key}` } : {}),
        },
        body: JSON.stringify({ model: init.model, input }),
        signal: AbortSignal.any([AbortSignal.timeout(init.timeoutMs ?? 30_000), ...(signal ? [signal] : [])]),
      })
    } catch (err) {
      if (signal?.aborted) throw signal.reason
      throw new PrsmError(
        'JOB_BACKEND_FAILED',
        `the embedding backend at ${url} is unreachable: ${(err as Error).message}`,
        {
          details: { url },
        },
      )
    }
    if (!res.ok) {
      await res.body?.cancel()
      throw new PrsmError(
        'JOB_BACKEND_FAILED',
        `the embedding backend at ${url} answered HTTP ${res.status}`,
        {
          details: { url, status: res.status },
        },
      )
    }
    const body = (await res.json().catch(() => undefined)) as
      | { data?: Array<{ index?: unknown; embedding?: unknown }> }
      | undefined
    const data = Array.isArray(body?.data) ? body.data : []
    const vectors: number[][] = []
    for (const item of data) {
      if (typeof item.index === 'number' && Array.isArray(item.embedding))
        vectors[item.index] = item.embedding as number[]
    }
    let complete = vectors.length === texts.length
    for (let i = 0; i < texts.length; i++) complete &&= Array.isArray(vectors[i]) // holes included
    if (!complete) {
      throw new PrsmError(
        'COMPRESSION_EMBEDDING_INVALID',
        `the embedding backend at ${url} did not return one vector per text`,
        {
          details: { url, texts: texts.length, vectors: data.length },
        },
      )
    }
    return vectors
  }
}
