/**
 * The AI SDK and its provider packages, evaluated on first use rather than at start-up: with
 * zod they are the largest modules of the server bundle, and most starts (and every admin
 * command) run no execution. `require` keeps the callers synchronous; Bun's bundler wraps a
 * required module so that it is evaluated when first required (see README, Performance).
 */
type Ai = typeof import('ai')
type Anthropic = typeof import('@ai-sdk/anthropic')
type OpenAICompatible = typeof import('@ai-sdk/openai-compatible')

let ai: Ai | undefined
let anthropic: Anthropic | undefined
let openaiCompatible: OpenAICompatible | undefined

function quiet(): void {
  // The AI SDK prints compatibility warnings (e.g. unknown model ids of local servers) to the
  // console; the execution log is where run details belong.
  ;(globalThis as { AI_SDK_LOG_WARNINGS?: boolean }).AI_SDK_LOG_WARNINGS = false
}

export function aiSdk(): Ai {
  if (!ai) {
    quiet()
    ai = require('ai') as Ai
  }
  return ai
}

export function anthropicSdk(): Anthropic {
  if (!anthropic) {
    quiet()
    anthropic = require('@ai-sdk/anthropic') as Anthropic
  }
  return anthropic
}

export function openaiCompatibleSdk(): OpenAICompatible {
  if (!openaiCompatible) {
    quiet()
    openaiCompatible = require('@ai-sdk/openai-compatible') as OpenAICompatible
  }
  return openaiCompatible
}
