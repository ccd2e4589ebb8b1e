/**
 * The AI SDK and its provider packages: the third entry point of the compiled binary
 * (scripts/build.ts), required by src/engine/sdk.ts on the first execution. In the server's
 * bundle they were half of its code, which every `teamday serve` loaded at start-up even though
 * it evaluated them only on first use (README, Performance).
 */
export * as ai from 'ai'
export * as anthropic from '@ai-sdk/anthropic'
export * as openaiCompatible from '@ai-sdk/openai-compatible'
