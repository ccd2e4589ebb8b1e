/**
 * The AI SDK and its provider packages, loaded on first use rather than at start-up: with zod
 * they were half of the server bundle's code, and most starts (and every admin command) run no
 * execution. In the compiled binary they are a bundle of their own (src/engine/sdk-entry.ts), so
 * that `teamday serve` does not even load their code; `require` keeps the callers synchronous
 * (see docs/performance.md).
 */

/**
 * Set by scripts/build.ts (`--define`): the SDK bundle's path in the compiled binary, relative to
 * the admin bundle (which requires it). Unset when run from source.
 */
declare const TEAMDAY_SDK_ENTRY: string | undefined

type Sdk = typeof import('./sdk-entry')
let sdk: Sdk | undefined

/**
 * src/engine/sdk-entry.ts, required on first use. The specifier is computed, not a literal, so
 * that the bundler leaves the SDK out of the admin bundle (as src/cli/admin-bundle.ts does for
 * the admin bundle itself): the compiled binary carries it as an entry point of its own.
 */
function load(): Sdk {
  if (!sdk) {
    // The AI SDK prints compatibility warnings (e.g. unknown model ids of local servers) to the
    // console; the execution log is where run details belong.
    ;(globalThis as { AI_SDK_LOG_WARNINGS?: boolean }).AI_SDK_LOG_WARNINGS = false
    const spec = typeof TEAMDAY_SDK_ENTRY === 'string' ? ['.', TEAMDAY_SDK_ENTRY].join('/') : ['.', 'sdk-entry.ts'].join('/')
    sdk = require(spec) as Sdk
  }
  return sdk
}

let ai: ReturnType<Sdk['ai']> | undefined
let anthropic: ReturnType<Sdk['anthropic']> | undefined
let openaiCompatible: ReturnType<Sdk['openaiCompatible']> | undefined
let zod: ReturnType<Sdk['zod']> | undefined

export const aiSdk = () => (ai ??= load().ai())
export const anthropicSdk = () => (anthropic ??= load().anthropic())
export const openaiCompatibleSdk = () => (openaiCompatible ??= load().openaiCompatible())
export const zodSdk = () => (zod ??= load().zod())
