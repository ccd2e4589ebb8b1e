import { clipped } from '../text'

/**
 * What the server log keeps of a model provider's error (`execution_failed`): the provider's
 * error type and code, as its JSON answer names them (OpenAI's `error.type` / `error.code`,
 * Anthropic's `error.type`), and its message only when that quotes none of the run's input.
 * Providers often echo the request in their errors (a bad message's content, the prompt over a
 * length limit, a filtered text), and operators who read the log are not meant to read users'
 * prompts. The run's own error, shown to its user, is not this (run.ts providerMessage).
 */

/** An identifier as providers name error types and codes; anything else is not kept. */
const IDENTIFIER = /^[A-Za-z0-9_.:-]{1,64}$/
/** Echoed runs of input this long or longer are found (the window and half of it as the stride). */
const WINDOW = 16
const STRIDE = 8
/** An input this short or shorter is looked for whole only when it has at least this many characters. */
const SHORTEST_WHOLE = 8
const MAX_LOGGED = 300

const identifier = (v: unknown): string | undefined => (typeof v === 'string' && IDENTIFIER.test(v) ? v : undefined)

/**
 * The error's `type` and `code`: on the error itself (a stream's error event), else in its JSON
 * body: its `error`'s, or its own when it has no `error` (the body the AI SDK gives an error event
 * that came first in a stream is the event's error: `{"type": "overloaded_error", …}`).
 */
function typeAndCode(answer: { type?: unknown; code?: unknown; responseBody?: unknown } | undefined): { type?: string; code?: string } {
  if (!answer) return {}
  let type = identifier(answer.type)
  let code = identifier(answer.code)
  if ((type === undefined || code === undefined) && typeof answer.responseBody === 'string' && answer.responseBody.length <= 64 * 1024) {
    try {
      const body = JSON.parse(answer.responseBody) as { type?: unknown; code?: unknown; error?: { type?: unknown; code?: unknown } | unknown }
      const error = typeof body?.error === 'object' && body.error !== null ? (body.error as { type?: unknown; code?: unknown }) : undefined
      type ??= identifier((error ?? body)?.type)
      code ??= identifier((error ?? body)?.code)
    } catch {
      // Not JSON: no type or code.
    }
  }
  return { ...(type !== undefined && { type }), ...(code !== undefined && { code }) }
}

/**
 * Whether `message` quotes any of `inputs`: a run of WINDOW + STRIDE characters or more of one of
 * them (every such run holds one of the message's windows whole), or a short input whole.
 */
export function echoesInput(message: string, inputs: readonly string[]): boolean {
  const texts = inputs.filter((s) => s.length > 0)
  for (const text of texts) {
    if (text.length <= WINDOW + STRIDE && text.trim().length >= SHORTEST_WHOLE && message.includes(text)) return true
  }
  for (let i = 0; i + WINDOW <= message.length; i += STRIDE) {
    const window = message.slice(i, i + WINDOW)
    // Blank space alone is in most texts and says nothing.
    if (window.trim().length < WINDOW / 2) continue
    if (texts.some((text) => text.includes(window))) return true
  }
  return false
}

/**
 * The log fields of a provider's error: `providerErrorType` and `providerErrorCode` when the
 * provider named them, and `providerError`, its (already scrubbed) message cut to 300 characters,
 * or null when it quotes the run's input.
 */
export function providerErrorFields(
  answer: { type?: unknown; code?: unknown; responseBody?: unknown } | undefined,
  message: string,
  inputs: readonly string[],
): { providerErrorType?: string; providerErrorCode?: string; providerError: string | null } {
  const { type, code } = typeAndCode(answer)
  // Only what would be logged is looked at: the whole message (a stream's error event may hold
  // megabytes) against a long prompt held the event loop for seconds (2 MB against 190,000
  // characters: 13 s).
  // A little past the cut, so that a quote beginning inside the logged part is found whole
  // (echoesInput finds a run of WINDOW + STRIDE characters or more).
  const logged = clipped(message, MAX_LOGGED)
  const shown = echoesInput(message.slice(0, MAX_LOGGED + WINDOW + STRIDE), inputs) ? null : logged
  return { ...(type !== undefined && { providerErrorType: type }), ...(code !== undefined && { providerErrorCode: code }), providerError: shown }
}
