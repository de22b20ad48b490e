/**
 * Model backends the main job can use, found without configuration: a local Ollama (found with
 * the node's `detectLocalModels`, on OLLAMA_HOST or 127.0.0.1:11434, with a short timeout; the
 * serving node then detects and offers it itself through `jobs.localModels`), and the OpenAI and
 * Anthropic APIs when OPENAI_API_KEY / ANTHROPIC_API_KEY are set (OPENAI_BASE_URL /
 * ANTHROPIC_BASE_URL point them at another endpoint of the same wire format). Keys are never read
 * here: the backend config names the environment variable and the node reads it per job.
 */
import type { ConfigInput } from '@prsm/core'
import { detectLocalModels, OLLAMA_DEFAULT_URL } from '@prsm/node'

const MODEL_PRICE = '0.000002' // FTNS per token

export interface DetectedModel {
  capability: string
  label: string
  /** Configuration of the node that serves it (its offer included). */
  config: ConfigInput
  /** An offer to add to that node's offers (none when the node offers detected models itself). */
  offer?: { capability: string; price: string; unit: 'token' }
}

/** The first usable model: a local Ollama model, else OpenAI, else Anthropic; undefined when none. */
export async function detectModel(options: { timeoutMs?: number } = {}): Promise<DetectedModel | undefined> {
  const url = process.env.OLLAMA_HOST || OLLAMA_DEFAULT_URL
  const local = await detectLocalModels({ baseUrl: url, timeoutMs: options.timeoutMs ?? 500 }).catch(() => [])
  const first = local[0]
  if (first !== undefined) {
    return {
      capability: first.capability,
      label: `Ollama ${first.name} at ${url}`,
      config: { jobs: { localModels: { detect: true, url, price: MODEL_PRICE } } },
    }
  }
  if (process.env.OPENAI_API_KEY) {
    const baseUrl = process.env.OPENAI_BASE_URL || 'https://api.openai.com/v1'
    const capability = 'model:gpt-4o-mini'
    return {
      capability,
      label: `OpenAI gpt-4o-mini at ${baseUrl} (OPENAI_API_KEY)`,
      config: {
        jobs: {
          backends: [
            {
              type: 'openai-compatible',
              baseUrl,
              apiKeyEnv: 'OPENAI_API_KEY',
              models: [{ capability, model: 'gpt-4o-mini' }],
            },
          ],
        },
      },
      offer: { capability, price: MODEL_PRICE, unit: 'token' },
    }
  }
  if (process.env.ANTHROPIC_API_KEY) {
    const capability = 'model:claude-haiku'
    return {
      capability,
      label: 'Anthropic claude-3-5-haiku (ANTHROPIC_API_KEY)',
      config: {
        jobs: {
          backends: [
            {
              type: 'anthropic',
              baseUrl: process.env.ANTHROPIC_BASE_URL || 'https://api.anthropic.com',
              apiKeyEnv: 'ANTHROPIC_API_KEY',
              models: [{ capability, model: 'claude-3-5-haiku-latest' }],
            },
          ],
        },
      },
      offer: { capability, price: MODEL_PRICE, unit: 'token' },
    }
  }
  return undefined
}
