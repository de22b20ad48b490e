import { type JobBackendConfig, PrsmError, parseFtns } from '@prsm/core'
import type { Backend, BackendEvent } from '../backend.ts'
import { apiKey, chatMessages, parseSse, postJson, readJson, upstreamCost } from './http.ts'

type ModelConfig = JobBackendConfig['models'][number]

interface OpenAiUsage {
  prompt_tokens?: number
  completion_tokens?: number
}

/** Sampling parameters passed through to the upstream as they are. */
const PASSTHROUGH = ['temperature', 'top_p', 'stop', 'seed', 'presence_penalty', 'frequency_penalty'] as const

/**
 * OpenAI chat completions (`POST {baseUrl}/chat/completions`), streamed (SSE `data:` deltas with
 * `stream_options.include_usage`) or not (`params.stream: false`). Serves OpenAI, Ollama, vLLM,
 * llama.cpp server, LM Studio, and Hugging Face TGI (whose Messages API speaks this format at
 * `{baseUrl}/v1`). Token usage comes from the upstream's `usage`.
 */
export function openAiBackend(config: JobBackendConfig, model: ModelConfig): Backend {
  const base = config.baseUrl.replace(/\/+$/, '')
  const url = config.type === 'huggingface' ? `${base}/v1/chat/completions` : `${base}/chat/completions`
  const inCost = parseFtns(model.inputCostPerMTok)
  const outCost = parseFtns(model.outputCostPerMTok)
  const usageEvent = (u: OpenAiUsage): BackendEvent => {
    const tokensIn = u.prompt_tokens ?? 0
    const tokensOut = u.completion_tokens ?? 0
    return {
      type: 'usage',
      usage: { tokensIn, tokensOut },
      upstreamCost: upstreamCost(tokensIn, tokensOut, inCost, outCost),
    }
  }
  return {
    name: config.type,
    async *run(step, inputs, { signal }) {
      const params = step.params as Record<string, unknown>
      const messages = chatMessages(params, inputs)
      if (typeof params.system === 'string') messages.unshift({ role: 'system', content: params.system })
      const stream = params.stream !== false
      const body: Record<string, unknown> = {
        model: model.model,
        messages,
        max_tokens: typeof params.max_tokens === 'number' ? params.max_tokens : model.maxTokens,
        stream,
        ...(stream ? { stream_options: { include_usage: true } } : {}),
      }
      for (const k of PASSTHROUGH) if (params[k] !== undefined) body[k] = params[k]
      const key = apiKey(config.apiKeyEnv)
      const response = await postJson(
        url,
        key === undefined ? {} : { authorization: `Bearer ${key}` },
        body,
        {
          signal,
          timeoutMs: config.timeoutMs,
        },
      )
      if (!stream) {
        const json = (await readJson(response, signal)) as {
          choices?: Array<{ message?: { content?: string } }>
          usage?: OpenAiUsage
        }
        const content = json.choices?.[0]?.message?.content
        if (typeof content !== 'string')
          throw new PrsmError('JOB_BACKEND_FAILED', 'the upstream answer has no content')
        yield { type: 'output', text: content }
        if (json.usage) yield usageEvent(json.usage)
        return
      }
      if (response.body === null) throw new PrsmError('JOB_BACKEND_FAILED', 'the upstream answer has no body')
      let done = false
      for await (const event of parseSse(response.body)) {
        if (event.data === '[DONE]') {
          done = true
          break
        }
        let json: {
          choices?: Array<{ delta?: { content?: string | null } }>
          usage?: OpenAiUsage | null
          error?: { message?: string }
        }
        try {
          json = JSON.parse(event.data)
        } catch {
          throw new PrsmError('JOB_BACKEND_FAILED', 'the upstream sent an event that is not JSON')
        }
        if (json.error) {
          throw new PrsmError('JOB_BACKEND_FAILED', `upstream error: ${json.error.message ?? 'unknown'}`)
        }
        const text = json.choices?.[0]?.delta?.content
        if (typeof text === 'string' && text !== '') yield { type: 'output', text }
        if (json.usage) yield usageEvent(json.usage)
      }
      signal.throwIfAborted()
      if (!done) throw new PrsmError('JOB_BACKEND_FAILED', 'the upstream stream ended before [DONE]')
    },
  }
}
