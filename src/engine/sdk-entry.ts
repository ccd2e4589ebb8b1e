/**
 * The AI SDK and its provider packages: the third entry point of the compiled binary
 * (scripts/build.ts), required by src/engine/sdk.ts on the first execution. In the server's
 * bundle they were half of its code, which every `teamday serve` loaded at start-up even though
 * it evaluated them only on first use (docs/performance.md).
 */
// Each package is evaluated when first asked for, as before it had a bundle of its own: an
// OpenAI-compatible run does not evaluate Anthropic's provider.
export const ai = (): typeof import('ai') => require('ai')
export const anthropic = (): typeof import('@ai-sdk/anthropic') => require('@ai-sdk/anthropic')
export const openaiCompatible = (): typeof import('@ai-sdk/openai-compatible') => require('@ai-sdk/openai-compatible')
export const zod = (): typeof import('zod') => require('zod')
