import { type JobBackendConfig, PrsmError, parseFtns } from '@prsm/core'
import type { Backend, BackendEvent } from '../backend.ts'
import { apiKey, chatMessages, parseSse, postJson, readJson, upstreamCost } from './http.ts'

type ModelConfig = JobBackendConfig['models'][number]

/** The Messages API version this backend speaks. */
export const ANTHROPIC_VERSION = '2023-06-01'
const PASSTHROUGH = ['temperature', 'top_p', 'top_k', 'stop_sequences'] as const

/**
 * The Anthropic Messages API (`POST {baseUrl}/v1/messages`), streamed (SSE `message_start`,
 * `content_block_delta`, `message_delta`, `message_stop`) or not (`params.stream: false`).
 * Input tokens come from `message_start`, output tokens from `message_delta`.
 */
export function anthropicBackend(config: JobBackendConfig, model: ModelConfig): Backend {
  const url = `${config.baseUrl.replace(/\/+$/, '')}/v1/messages`
  const inCost = parseFtns(model.inputCostPerMTok)
  const outCost = parseFtns(model.outputCostPerMTok)
  const usage = (tokensIn: number, tokensOut: number): BackendEvent => ({
    type: 'usage',
    usage: { tokensIn, tokensOut },
    upstreamCost: upstreamCost(tokensIn, tokensOut, inCost, outCost),
  })
  return {
    name: 'anthropic',
    async *run(step, inputs, { signal }) {
      const params = step.params as Record<string, unknown>
      const messages = chatMessages(params, inputs).filter((m) => m.role !== 'system')
      const stream = params.stream !== false
      const body: Record<string, unknown> = {
        model: model.model,
        messages,
        max_tokens: typeof params.max_tokens === 'number' ? params.max_tokens : model.maxTokens,
        stream,
        ...(typeof params.system === 'string' ? { system: params.system } : {}),
      }
      for (const k of PASSTHROUGH) if (params[k] !== undefined) body[k] = params[k]
      const key = apiKey(config.apiKeyEnv)
      const headers: Record<string, string> = { 'anthropic-version': ANTHROPIC_VERSION }
      if (key !== undefined) headers['x-api-key'] = key
      const response = await postJson(url, headers, body, { signal, timeoutMs: config.timeoutMs })
      if (!stream) {
        const json = (await readJson(response, signal)) as {
          content?: Array<{ type?: string; text?: string }>
          usage?: { input_tokens?: number; output_tokens?: number }
        }
        if (!Array.isArray(json.content))
          throw new PrsmError('JOB_BACKEND_FAILED', 'the upstream answer has no content')
        const text = json.content
          .map((b) => (b.type === 'text' && typeof b.text === 'string' ? b.text : ''))
          .join('')
        yield { type: 'output', text }
        yield usage(json.usage?.input_tokens ?? 0, json.usage?.output_tokens ?? 0)
        return
      }
      if (response.body === null) throw new PrsmError('JOB_BACKEND_FAILED', 'the upstream answer has no body')
      let tokensIn = 0
      let stopped = false
      for await (const event of parseSse(response.body)) {
        let json: {
          message?: { usage?: { input_tokens?: number; output_tokens?: number } }
          delta?: { type?: string; text?: string }
          usage?: { output_tokens?: number }
          error?: { type?: string; message?: string }
        }
        try {
          json = JSON.parse(event.data)
        } catch {
          throw new PrsmError('JOB_BACKEND_FAILED', 'the upstream sent an event that is not JSON')
        }
        switch (event.event) {
          case 'message_start':
            tokensIn = json.message?.usage?.input_tokens ?? 0
            yield usage(tokensIn, json.message?.usage?.output_tokens ?? 0)
            break
          case 'content_block_delta':
            if (
              json.delta?.type === 'text_delta' &&
              typeof json.delta.text === 'string' &&
              json.delta.text !== ''
            ) {
              yield { type: 'output', text: json.delta.text }
            }
            break
          case 'message_delta':
            if (json.usage?.output_tokens !== undefined) yield usage(tokensIn, json.usage.output_tokens)
            break
          case 'message_stop':
            stopped = true
            break
          case 'error':
            throw new PrsmError(
              'JOB_BACKEND_FAILED',
              `upstream error: ${json.error?.type ?? 'error'}: ${json.error?.message ?? ''}`,
            )
        }
        if (stopped) break
      }
      signal.throwIfAborted()
      if (!stopped) throw new PrsmError('JOB_BACKEND_FAILED', 'the upstream stream ended before message_stop')
    },
  }
}
