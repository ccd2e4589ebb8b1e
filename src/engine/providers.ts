import { createAnthropic } from '@ai-sdk/anthropic'
import { createOpenAICompatible } from '@ai-sdk/openai-compatible'
import type { LanguageModel } from 'ai'
import type { Config } from '../config'
import { AppError } from '../errors'

// The AI SDK prints compatibility warnings (e.g. unknown model ids of local servers) to the
// console; the execution log is where run details belong.
;(globalThis as { AI_SDK_LOG_WARNINGS?: boolean }).AI_SDK_LOG_WARNINGS = false

export type ProviderName = 'openai' | 'anthropic'

export interface SelectedModel {
  provider: ProviderName
  modelId: string
  model: LanguageModel
}

/** Resolves a model id to a provider client (built by createRuntime from the config, or given to it). */
export interface ModelProviders {
  select(modelId: string | null | undefined): SelectedModel
}

const NO_PROVIDER =
  'No model provider is configured: set OPENAI_BASE_URL (and OPENAI_API_KEY if the server needs one) for an OpenAI-compatible server such as OpenAI, Ollama or vLLM, or ANTHROPIC_API_KEY (and optionally ANTHROPIC_BASE_URL) for Anthropic, then restart teamday.'

/** Anthropic's own SDKs take the base URL without /v1; the AI SDK wants it with. Accept both. */
export function anthropicBaseUrl(url: string | undefined): string | undefined {
  if (!url) return undefined
  const trimmed = url.replace(/\/+$/, '')
  return /\/v1$/.test(trimmed) ? trimmed : `${trimmed}/v1`
}

/**
 * Provider selection: the agent's model, else TEAMDAY_DEFAULT_MODEL; TEAMDAY_PROVIDER forces a
 * provider; otherwise `claude-*` goes to Anthropic when it is configured and everything else to
 * the OpenAI-compatible endpoint (falling back to whichever one is configured).
 */
export function configProviders(config: Config): ModelProviders {
  const openai = config.openaiBaseUrl
    ? createOpenAICompatible({ name: 'openai', baseURL: config.openaiBaseUrl.replace(/\/+$/, ''), apiKey: config.openaiApiKey, includeUsage: true })
    : undefined
  const anthropic = config.anthropicApiKey
    ? createAnthropic({ apiKey: config.anthropicApiKey, baseURL: anthropicBaseUrl(config.anthropicBaseUrl) })
    : undefined
  return {
    select(agentModel) {
      if (!openai && !anthropic) throw new AppError('no_model_provider', NO_PROVIDER)
      const modelId = agentModel || config.defaultModel || (config.provider === 'anthropic' || (!openai && anthropic) ? 'claude-sonnet-4-5' : 'gpt-4o-mini')
      let name: ProviderName
      if (config.provider) name = config.provider
      else if (/^claude-/i.test(modelId) && anthropic) name = 'anthropic'
      else name = openai ? 'openai' : 'anthropic'
      if (name === 'openai' && !openai) {
        throw new AppError('no_model_provider', `TEAMDAY_PROVIDER=openai but OPENAI_BASE_URL is not set. ${NO_PROVIDER}`)
      }
      if (name === 'anthropic' && !anthropic) {
        throw new AppError('no_model_provider', `TEAMDAY_PROVIDER=anthropic but ANTHROPIC_API_KEY is not set. ${NO_PROVIDER}`)
      }
      const model = name === 'openai' ? openai!.chatModel(modelId) : anthropic!(modelId)
      return { provider: name, modelId, model }
    },
  }
}
