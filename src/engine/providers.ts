import type { LanguageModel } from 'ai'
import { trimEndChar } from '../text'
import type { Config } from '../config'
import { AppError } from '../errors'
import { resolveAlias } from './model-aliases'
import { messageStartFirst, skipUnknownAnthropicEvents } from './anthropic-events'
import { aiSdk, anthropicSdk, openaiCompatibleSdk, zodSdk } from './sdk'
import { openaiErrorStructure } from './openai-events'
import { boundedProviderFetch, eventBytesFor } from './provider-fetch'
import { withThinkTags } from './think-tags'

export type ProviderName = 'openai' | 'anthropic'

export interface SelectedModel {
  provider: ProviderName
  /** The id sent to the provider (after TEAMDAY_MODEL_ALIASES). */
  modelId: string
  /** The agent's model, else the default, before aliases (absent: the same as modelId). */
  requestedModel?: string
  model: LanguageModel
}

/**
 * Resolves a model id to a provider client (built by createRuntime from the config, or given to
 * it). Throws AppError `no_model_provider` (nothing configured: the API answers 501) or
 * `model_not_served` with `details.model` (the execution is recorded as failed with the message).
 */
export interface ModelProviders {
  select(modelId: string | null | undefined): SelectedModel
}

const NO_PROVIDER =
  'No model provider is configured: set OPENAI_BASE_URL (and OPENAI_API_KEY if the server needs one) for an OpenAI-compatible server such as OpenAI, Ollama or vLLM, or ANTHROPIC_API_KEY (and optionally ANTHROPIC_BASE_URL) for Anthropic, then restart teamday.'

/** Anthropic's own SDKs take the base URL without /v1; the AI SDK wants it with. Accept both. */
export function anthropicBaseUrl(url: string | undefined): string | undefined {
  if (!url) return undefined
  const trimmed = trimEndChar(url, '/')
  return /\/v1$/.test(trimmed) ? trimmed : `${trimmed}/v1`
}

const PROVIDER_LABEL: Record<ProviderName, string> = {
  openai: 'openai (the OpenAI-compatible server at OPENAI_BASE_URL)',
  anthropic: 'anthropic (ANTHROPIC_API_KEY)',
}

/**
 * A model no configured provider serves: the execution fails with this message (422
 * `model_not_served` to a synchronous execute). `details.model` is the id it would have run as.
 */
export function modelNotServed(requested: string, modelId: string, wanted: ProviderName, configured: ProviderName[], forced: boolean): AppError {
  const what = requested === modelId ? `Model "${modelId}"` : `Model "${modelId}" (TEAMDAY_MODEL_ALIASES maps "${requested}" to it)`
  const why = forced
    ? `TEAMDAY_PROVIDER=${wanted} sends every model to ${wanted}, which is not configured`
    : wanted === 'anthropic'
      ? 'claude-* models go to Anthropic, which is not configured (ANTHROPIC_API_KEY)'
      : 'models other than claude-* go to the OpenAI-compatible provider, which is not configured (OPENAI_BASE_URL)'
  const fix =
    wanted === 'anthropic'
      ? `map it to a model your server has with TEAMDAY_MODEL_ALIASES (e.g. "${requested.replace(/-\d{8}$/, '')}*=llama3.1:8b"), change the agent's model, or set TEAMDAY_PROVIDER=openai if your OpenAI-compatible server serves it`
      : `map it to a Claude model with TEAMDAY_MODEL_ALIASES (e.g. "${requested}=claude-sonnet-4-5"), change the agent's model, or configure OPENAI_BASE_URL`
  return new AppError('model_not_served', `${what} is not served by this server: ${why}. Providers configured: ${configured.map((n) => PROVIDER_LABEL[n]).join(', ')}. To run it, ${fix}.`, {
    details: { model: modelId, requestedModel: requested, providers: configured },
  })
}

/**
 * Provider selection: the agent's model, else TEAMDAY_DEFAULT_MODEL, mapped by
 * TEAMDAY_MODEL_ALIASES. TEAMDAY_PROVIDER forces a provider; otherwise `claude-*` goes to
 * Anthropic and everything else to the OpenAI-compatible endpoint. A model whose provider is not
 * configured is not served (`model_not_served`: the execution fails naming the model and the
 * providers configured); with no provider at all, 501 `no_model_provider` before anything runs.
 */
export function configProviders(config: Config): ModelProviders {
  // The clients (and the SDK packages behind them, src/engine/sdk.ts) are built on first use.
  const openaiUrl = config.openaiBaseUrl
  const anthropicKey = config.anthropicApiKey
  let openai: ((modelId: string) => LanguageModel) | undefined
  let anthropic: ReturnType<Anthropic['createAnthropic']> | undefined
  // What a provider sends is read no further than a run can use (src/engine/provider-fetch.ts).
  const fetch = boundedProviderFetch(eventBytesFor(config.outputLimits.answerChars))
  // The chat model made as createOpenAICompatible makes it (its URL, the key as a bearer token), with
  // the reading of events that are not chunks of the answer, which its settings do not pass on
  // (src/engine/openai-events.ts).
  const openaiClient = () => {
    if (openai) return openai
    const { OpenAICompatibleChatLanguageModel } = openaiCompatibleSdk()
    const baseURL = trimEndChar(openaiUrl!, '/')
    const apiKey = config.openaiApiKey
    const errorStructure = openaiErrorStructure(zodSdk())
    const headers = (): Record<string, string> => (apiKey ? { Authorization: `Bearer ${apiKey}` } : {})
    // A leading <think>…</think> in the text is reasoning, not the answer (src/engine/think-tags.ts).
    return (openai = (modelId) =>
      withThinkTags(new OpenAICompatibleChatLanguageModel(modelId, { provider: 'openai.chat', url: ({ path }) => `${baseURL}${path}`, headers, fetch, includeUsage: true, errorStructure })))
  }
  // Anthropic's with the events before its message_start moved after it (src/engine/anthropic-events.ts).
  const anthropicFetch = boundedProviderFetch(eventBytesFor(config.outputLimits.answerChars), undefined, messageStartFirst)
  const anthropicClient = () => (anthropic ??= anthropicSdk().createAnthropic({ apiKey: anthropicKey, baseURL: anthropicBaseUrl(config.anthropicBaseUrl), fetch: anthropicFetch }))
  // Its stream without the events of kinds the provider does not know, which failed the run
  // (src/engine/anthropic-events.ts).
  const anthropicModel = (modelId: string) => aiSdk().wrapLanguageModel({ model: anthropicClient()(modelId), middleware: skipUnknownAnthropicEvents })
  const configured = [openaiUrl && ('openai' as const), anthropicKey && ('anthropic' as const)].filter((n): n is ProviderName => !!n)
  const aliases = config.modelAliases ?? []
  return {
    select(agentModel) {
      if (configured.length === 0) throw new AppError('no_model_provider', NO_PROVIDER)
      // Trimmed: a model of only spaces (stored before the API refused it) is none, the default's.
      const requested = agentModel?.trim() || config.defaultModel || (config.provider === 'anthropic' || (!openaiUrl && anthropicKey) ? 'claude-sonnet-4-5' : 'gpt-4o-mini')
      const modelId = resolveAlias(aliases, requested)
      const name: ProviderName = config.provider ?? (/^claude-/i.test(modelId) ? 'anthropic' : 'openai')
      if ((name === 'openai' && !openaiUrl) || (name === 'anthropic' && !anthropicKey)) throw modelNotServed(requested, modelId, name, configured, config.provider !== undefined)
      const model = name === 'openai' ? openaiClient()(modelId) : anthropicModel(modelId)
      return { provider: name, modelId, requestedModel: requested, model }
    },
  }
}

type OpenAICompatible = typeof import('@ai-sdk/openai-compatible')
type Anthropic = typeof import('@ai-sdk/anthropic')
