import type { JobBackendConfig } from '@prsm/core'
import type { Backend } from '../backend.ts'
import { anthropicBackend } from './anthropic.ts'
import { openAiBackend } from './openai.ts'

/** The backends of one `jobs.backends` entry, by the capability each model serves. */
export function backendsFromConfig(
  config: JobBackendConfig,
): Array<{ capability: string; backend: Backend }> {
  return config.models.map((model) => ({
    capability: model.capability,
    backend: config.type === 'anthropic' ? anthropicBackend(config, model) : openAiBackend(config, model),
  }))
}
