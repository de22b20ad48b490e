/**
 * Model backends the main job can use, found without configuration: a local Ollama (its
 * OpenAI-compatible API on 127.0.0.1:11434, asked for its models with a short timeout), and the
 * OpenAI and Anthropic APIs when OPENAI_API_KEY / ANTHROPIC_API_KEY are set (OPENAI_BASE_URL /
 * ANTHROPIC_BASE_URL point them at another endpoint of the same wire format). Keys are never read
 * here: the backend config names the environment variable and the node reads it per job.
 */
import type { ConfigInput } from '@prsm/core'

export interface DetectedModel {
  capability: string
  label: string
  backend: NonNullable<NonNullable<ConfigInput['jobs']>['backends']>[number]
}

const OLLAMA_URL = process.env.OLLAMA_HOST ?? 'http://127.0.0.1:11434'

async function ollamaModels(signal: AbortSignal): Promise<string[]> {
  try {
    const res = await fetch(`${OLLAMA_URL.replace(/\/$/, '')}/api/tags`, { signal })
    if (!res.ok) return []
    const body = (await res.json()) as { models?: Array<{ name?: unknown }> }
    return (body.models ?? []).map((m) => m.name).filter((n): n is string => typeof n === 'string')
  } catch {
    return [] // not running
  }
}

/** The first usable model: a local Ollama model, else OpenAI, else Anthropic; undefined when none. */
export async function detectModel(options: { timeoutMs?: number } = {}): Promise<DetectedModel | undefined> {
  const local = await ollamaModels(AbortSignal.timeout(options.timeoutMs ?? 500))
  const name = local[0]
  if (name !== undefined) {
    return {
      capability: `model:${name.replace(/[^A-Za-z0-9._-]/g, '-')}`,
      label: `Ollama ${name} at ${OLLAMA_URL}`,
      backend: {
        type: 'openai-compatible',
        baseUrl: `${OLLAMA_URL.replace(/\/$/, '')}/v1`,
        models: [{ capability: `model:${name.replace(/[^A-Za-z0-9._-]/g, '-')}`, model: name }],
      },
    }
  }
  if (process.env.OPENAI_API_KEY) {
    const baseUrl = process.env.OPENAI_BASE_URL || 'https://api.openai.com/v1'
    return {
      capability: 'model:gpt-4o-mini',
      label: `OpenAI gpt-4o-mini at ${baseUrl} (OPENAI_API_KEY)`,
      backend: {
        type: 'openai-compatible',
        baseUrl,
        apiKeyEnv: 'OPENAI_API_KEY',
        models: [{ capability: 'model:gpt-4o-mini', model: 'gpt-4o-mini' }],
      },
    }
  }
  if (process.env.ANTHROPIC_API_KEY) {
    return {
      capability: 'model:claude-haiku',
      label: 'Anthropic claude-3-5-haiku (ANTHROPIC_API_KEY)',
      backend: {
        type: 'anthropic',
        baseUrl: process.env.ANTHROPIC_BASE_URL || 'https://api.anthropic.com',
        apiKeyEnv: 'ANTHROPIC_API_KEY',
        models: [{ capability: 'model:claude-haiku', model: 'claude-3-5-haiku-latest' }],
      },
    }
  }
  return undefined
}
