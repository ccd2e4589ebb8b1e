/**
 * Events of Anthropic's stream that the AI SDK's Anthropic provider does not know. Anthropic adds
 * kinds of stream events, content blocks and deltas within an API version (its versioning
 * policy: "new variants to enum-like output values (for example, streaming event types)"; its
 * streaming guide: handle unknown event types gracefully). The provider reads each event against
 * a closed list of kinds, and one it does not know was an error part: the run failed (502,
 * "the provider sent a stream event that is not part of an answer this server can read") in the
 * middle of an answer that was otherwise whole. Such an event is skipped, as if it had not come:
 * an unknown event, an unknown content block (and the text or thinking deltas at its index, which
 * the provider would otherwise read into the answer), an unknown delta or citation. An event of a
 * known kind that does not read (a text_delta without its text, an event without a type) still
 * fails the run: that is a broken provider, not a newer one.
 *
 * In its place the stream has a part of kind SKIPPED_KIND, naming it: the run logs each kind once
 * (`provider_event_skipped`, src/engine/run.ts). Such a part is kept with the step's content and
 * goes back with the next turn's request, where the provider leaves out custom parts it does not
 * know (it reads only its own `anthropic.fallback`).
 */
import type { LanguageModelV4Middleware, LanguageModelV4StreamPart } from '@ai-sdk/provider'
import { clipped } from '../text'

/** Where in an event a kind is named, for each level the provider tells kinds apart. */
const KIND_PATHS = ['type', 'content_block.type', 'delta.type', 'delta.citation.type']

/** An event of a kind the provider does not know: the event's type, and the unknown kind (the same for an unknown event). */
export type UnknownKind = { event: string; kind: string; index: number | null }

/**
 * The unknown kind a validation failure of the provider is about, else undefined: its only
 * complaint is that no kind of its list matches (a discriminated union's), at one of KIND_PATHS,
 * and the event names that kind with a string.
 */
export function unknownKindOf(error: unknown): UnknownKind | undefined {
  const err = error as { name?: unknown; value?: unknown; cause?: { issues?: unknown } } | null
  if (err?.name !== 'AI_TypeValidationError') return undefined
  const issues = err.cause?.issues
  if (!Array.isArray(issues) || issues.length !== 1) return undefined
  const issue = issues[0] as { code?: unknown; path?: unknown }
  if (issue.code !== 'invalid_union' || !Array.isArray(issue.path) || !KIND_PATHS.includes(issue.path.join('.'))) return undefined
  let kind: unknown = err.value
  for (const key of issue.path) kind = (kind as Record<string, unknown> | null)?.[key as string]
  const event = (err.value as { type?: unknown } | null)?.type
  const index = (err.value as { index?: unknown }).index
  if (typeof kind !== 'string' || kind === '' || typeof event !== 'string') return undefined
  return { event, kind, index: typeof index === 'number' ? index : null }
}

/** The kind of the part that says an event was skipped; its providerMetadata.teamday is the UnknownKind. */
export const SKIPPED_KIND = 'teamday.skipped-event'

/**
 * The provider's stream without the events unknownKindOf finds (their error parts: a part of
 * SKIPPED_KIND instead), nor the
 * text and thinking deltas at the index of a content block skipped so (the provider passes on a
 * text_delta or thinking_delta at any index, known block or not).
 *
 * A stream that ends without its message_stop after output (a connection cut mid-answer) ends,
 * from the provider, with a finish of reason `interrupted` (src/engine/run.ts fails the run on
 * it); but not once it has passed an error part, an unknown event's too: the provider marks the
 * stream errored before this sees the part. So this keeps the provider's count (output since the
 * last response-metadata or finish; an error that is not an unknown event's) and, where the
 * provider would have said so but for the skipped events, ends the stream with that finish itself,
 * as the provider makes it.
 *
 * A stream cut after its message_delta, before its message_stop, has all of its answer and its
 * stop_reason (and usage) in that message_delta: the provider ended it `interrupted` all the same
 * (or, with no output, not at all: "No output generated"), and the run failed with its whole
 * answer. Such a finish is the stop_reason's, as the message_stop would have made it (an
 * OpenAI-compatible stream cut after its finish_reason completes the same way). What the
 * message_delta said is read from the raw chunks (src/engine/run.ts asks for them); without
 * them, the cut stream stays `interrupted`.
 */
export function skipUnknownEvents(): TransformStream<LanguageModelV4StreamPart, LanguageModelV4StreamPart> {
  const skippedBlocks = new Set<string>()
  let hasOutput = false
  let hasError = false
  let lastFinish: Extract<LanguageModelV4StreamPart, { type: 'finish' }> | undefined
  /** The stop_reason of the message under way, from its message_delta (none before it, and none once its finish is out). */
  let stopped: string | undefined
  const finishOf = (raw: string) => ({ unified: STOP_REASONS[raw] ?? ('other' as const), raw })
  return new TransformStream({
    transform(part, controller) {
      switch (part.type) {
        case 'raw': {
          const ev = part.rawValue as { type?: unknown; delta?: { stop_reason?: unknown } } | null
          if (ev?.type === 'message_start') stopped = undefined
          else if (ev?.type === 'message_delta' && typeof ev.delta?.stop_reason === 'string') stopped = ev.delta.stop_reason
          break
        }
        case 'response-metadata':
          hasOutput = false
          break
        case 'finish':
          hasOutput = false
          if (part.finishReason.unified === 'interrupted' && stopped !== undefined) part = { ...part, finishReason: finishOf(stopped) }
          stopped = undefined
          lastFinish = part
          break
        case 'text-delta':
        case 'reasoning-delta':
        case 'tool-input-delta':
          hasOutput ||= part.delta.length > 0
          break
        case 'tool-call':
          hasOutput = true
          break
      }
      if (part.type === 'error') {
        const malformed = malformedErrorEvent(part.error) ?? unsaidErrorEvent(part.error)
        if (malformed) part = { type: 'error', error: malformed }
        const unknown = malformed ? undefined : unknownKindOf(part.error)
        if (unknown) {
          if (unknown.event === 'content_block_start' && unknown.index !== null) skippedBlocks.add(String(unknown.index))
          controller.enqueue({ type: 'custom', kind: SKIPPED_KIND, providerMetadata: { teamday: unknown } })
          return
        }
        hasError = true
      } else if ((part.type === 'text-delta' || part.type === 'reasoning-delta') && skippedBlocks.has(part.id)) return
      controller.enqueue(part)
    },
    flush(controller) {
      // Where no event was skipped, the provider has sent this finish already: hasOutput is false
      // (and stopped undefined).
      if (hasError || (!hasOutput && stopped === undefined)) return
      controller.enqueue({
        type: 'finish',
        finishReason: stopped !== undefined ? finishOf(stopped) : { unified: 'interrupted', raw: undefined },
        usage: lastFinish?.usage ?? {
          inputTokens: { total: undefined, noCache: undefined, cacheRead: undefined, cacheWrite: undefined },
          outputTokens: { total: undefined, text: undefined, reasoning: undefined },
        },
        ...(lastFinish?.providerMetadata != null ? { providerMetadata: lastFinish.providerMetadata } : {}),
      })
    },
  })
}

/**
 * The statuses the AI SDK's provider gives an error event of these types, those that decide a
 * run's errorCode (src/engine/run.ts providerLimit); any other type is 500 to it, as api_error.
 */
const ERROR_STATUS: Record<string, number> = { overloaded_error: 529, rate_limit_error: 429 }

/** An error event's `error` as the provider's stream error has it: its message (one said for it when it has none) and type. */
function streamError(error: unknown): { message: string; type: string; statusCode: number; isRetryable: boolean; data: unknown } {
  const e = error as { type?: unknown; message?: unknown } | null | undefined
  const type = typeof e?.type === 'string' ? e.type : ''
  const message =
    typeof error === 'string' && error.trim() ? error : typeof e?.message === 'string' && e.message.trim() ? e.message : `the provider sent an error without a message${type || error === undefined ? '' : `: ${clipped(JSON.stringify(error) ?? String(error), 200)}`}`
  const statusCode = ERROR_STATUS[type] ?? 500
  return { message, type, statusCode, isRetryable: statusCode !== 500, data: error }
}

/**
 * An error event the provider could not read (`{"type": "error"}` without an `error` object or
 * its `message`, a string for an error): its validation failure, in the middle of the stream. It
 * failed the run as "a stream event that is not part of an answer", the error's type lost (an
 * `overloaded_error` was a 502, not the provider's overload): it is the error it says it is,
 * with what it has of a message.
 */
function malformedErrorEvent(error: unknown): ReturnType<typeof streamError> | undefined {
  const err = error as { name?: unknown; value?: unknown } | null
  if (err?.name !== 'AI_TypeValidationError') return undefined
  const value = err.value as { type?: unknown; error?: unknown } | null
  if (value?.type === 'error') return streamError(value.error)
  const other = errorOtherwiseSent(value, false)
  return other === undefined ? undefined : streamError(other)
}

/**
 * A well-formed error event whose message is blank (`""`, white space): as one without a message
 * (streamError), its type and status kept. The run said the SDK's class name for it
 * ("AI_StreamProviderError") or nothing.
 */
function unsaidErrorEvent(error: unknown): ReturnType<typeof streamError> | undefined {
  const e = error as { message?: unknown; type?: unknown; statusCode?: unknown; isRetryable?: unknown; data?: unknown } | null
  if (!e || typeof e !== 'object' || error instanceof Error || typeof e.message !== 'string' || e.message.trim()) return undefined
  const said = streamError(typeof e.type === 'string' && e.type ? { type: e.type } : undefined)
  return {
    ...said,
    ...(typeof e.statusCode === 'number' && { statusCode: e.statusCode }),
    ...(typeof e.isRetryable === 'boolean' && { isRetryable: e.isRetryable }),
    data: e.data ?? said.data,
  }
}

/**
 * The error of an error sent in another shape than Anthropic's `{"type": "error", "error": {…}}`,
 * else undefined: a gateway's `{"error": {…}}` (no `type`), or the error object itself,
 * `{"type": "overloaded_error", "message": "Overloaded"}`. Under `event: error` (`named`) any
 * `type` with a `message`, or a type that ends in `_error` (as each of Anthropic's error types
 * does) without one, is such an error; without the name (in the middle of the stream, where the
 * provider has read the data without it) only a type that ends in `_error` with a `message`. Such an event failed the run 502, "not part of an answer" (or
 * skipped as an event of an unknown kind, the bare one in the middle of the stream), where the same
 * body as a JSON document at HTTP 200 failed as the error it is (overloaded: 503).
 */
export function errorOtherwiseSent(value: unknown, named: boolean): unknown {
  const v = value as { type?: unknown; error?: unknown; message?: unknown } | null
  if (!v || typeof v !== 'object' || Array.isArray(v) || v.type === 'error') return undefined
  if (v.type === undefined && v.error !== undefined && v.error !== null) return v.error
  if (typeof v.type !== 'string') return undefined
  const errorType = /_error$/.test(v.type)
  const message = typeof v.message === 'string'
  return (named && (message || errorType)) || (errorType && message) ? v : undefined
}

/**
 * An error event before the message_start (the provider reads the first as the request's
 * failure), as the provider reads one: `event: error` whose data is not JSON (a proxy's text),
 * JSON without an `error` and its `message`, or an error in another shape (errorOtherwiseSent:
 * a gateway's `{"error": {…}}`, the bare error object). Its first event unread, the provider threw its
 * own assertion and the run said the stream "began with an event that is not part of an
 * answer": the provider's error and its type were lost. Undefined for an event the provider reads.
 */
function readableErrorEvent(event: string, type: string | undefined): string | undefined {
  const named = /^event:[ \t]*error[ \t]*$/m.test(event)
  if (type !== 'error' && !(type !== undefined && named)) return undefined
  const data = dataOf(event) ?? ''
  let value: { error?: unknown } | undefined
  try {
    value = JSON.parse(data) as { error?: unknown }
  } catch {
    value = undefined
  }
  // A gateway's {"error": {…}} or the bare error object, under `event: error`: the error it holds.
  const other = type === 'error' ? undefined : errorOtherwiseSent(value, true)
  // Another kind of event named `error` (its data an Anthropic event's): as it came.
  if (type !== 'error' && type !== '' && other === undefined) return undefined
  const error = type === 'error' ? value?.error : other !== undefined ? other : data.trim() ? data.trim() : undefined
  const e = error as { type?: unknown; message?: unknown } | null | undefined
  // A blank message is none: the provider would pass it on, and the run say nothing (or the SDK's class name).
  if (type === 'error' && typeof e?.type === 'string' && typeof e.message === 'string' && e.message.trim()) return undefined
  const { message, type: errorType } = streamError(error)
  return `event: error\ndata: ${JSON.stringify({ type: 'error', error: { type: errorType, message } })}\n\n`
}

/** Anthropic's stop reasons as the AI SDK's provider maps them (mapAnthropicStopReason); any other is `other`. */
const STOP_REASONS: Record<string, 'stop' | 'tool-calls' | 'length' | 'content-filter'> = {
  end_turn: 'stop',
  stop_sequence: 'stop',
  pause_turn: 'stop',
  tool_use: 'tool-calls',
  max_tokens: 'length',
  model_context_window_exceeded: 'length',
  refusal: 'content-filter',
}

/** The middleware that puts skipUnknownEvents on each stream of the Anthropic model (src/engine/providers.ts). */
export const skipUnknownAnthropicEvents: LanguageModelV4Middleware = {
  specificationVersion: 'v4',
  wrapStream: async ({ doStream }) => {
    const result = await doStream()
    return { ...result, stream: result.stream.pipeThrough(skipUnknownEvents()) }
  },
}

/** The most of the events before the message_start held back (characters: messageStartFirst); past it, the rest passes as it came. */
const MAX_HELD_BYTES = 64 * 1024
const enc = new TextEncoder()

/**
 * The stream's bytes with the events that came before its `message_start` (other than `ping` and
 * `error`) moved to right after it. The provider looks at the first part of a stream before it
 * hands it over, and one that is an event it cannot read (of a kind it does not know, or not an
 * event of Anthropic's at all) made it throw "Expected a normalized Anthropic stream error": the
 * run failed with those words, and a new kind of event sent first failed every run. After the
 * message_start, such an event is what it is anywhere else: skipped when of an unknown kind
 * (skipUnknownEvents), else the run's failure, naming it. Only the events before the
 * message_start are read here (at most MAX_HELD_BYTES of them held); the rest passes untouched.
 */
export function messageStartFirst(): TransformStream<Uint8Array, Uint8Array> {
  const dec = new TextDecoder()
  let passing = false
  let pending = ''
  // The bytes of a character the last chunk ended in the middle of: not yet decoded, so that at
  // the release they pass as they came (a decoder's own held bytes would be lost there).
  let tail = new Uint8Array(0)
  const held: string[] = []
  let heldBytes = 0
  const release = (controller: TransformStreamDefaultController<Uint8Array>) => {
    passing = true
    if (held.length > 0) controller.enqueue(enc.encode(held.join('')))
    held.length = 0
    if (pending) controller.enqueue(enc.encode(pending))
    pending = ''
    if (tail.length > 0) controller.enqueue(tail)
    tail = new Uint8Array(0)
  }
  return new TransformStream({
    transform(chunk, controller) {
      if (passing) {
        controller.enqueue(chunk)
        return
      }
      const bytes = tail.length > 0 ? Buffer.concat([tail, chunk]) : chunk
      const whole = wholeChars(bytes)
      tail = bytes.slice(whole)
      pending += dec.decode(bytes.subarray(0, whole), { stream: true })
      for (let end = eventEnd(pending); end !== -1 && !passing; end = eventEnd(pending)) {
        const event = pending.slice(0, end)
        pending = pending.slice(end)
        const type = eventType(event)
        const error = type !== undefined && type !== 'message_start' ? readableErrorEvent(event, type) : undefined
        if (type === 'message_start') {
          controller.enqueue(enc.encode(event))
          release(controller)
        } else if (error !== undefined) controller.enqueue(enc.encode(error))
        else if (type === 'ping' || type === 'error' || type === undefined) controller.enqueue(enc.encode(event))
        else {
          held.push(event)
          heldBytes += event.length
          if (heldBytes > MAX_HELD_BYTES) release(controller)
        }
      }
      if (!passing && heldBytes + pending.length > MAX_HELD_BYTES) release(controller)
    },
    flush(controller) {
      if (passing) return
      pending += dec.decode(tail)
      tail = new Uint8Array(0)
      release(controller)
    },
  })
}

/**
 * How many of `bytes` come before a UTF-8 character they end in the middle of (all of them if
 * they end on a character's end): its lead byte among the last 3, with fewer bytes after it than
 * the character has.
 */
function wholeChars(bytes: Uint8Array): number {
  for (let i = bytes.length - 1; i >= 0 && i >= bytes.length - 3; i--) {
    const b = bytes[i]!
    if (b < 0x80) return bytes.length
    if (b >= 0xc0) {
      const size = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : 2
      return bytes.length - i < size ? i : bytes.length
    }
  }
  return bytes.length
}

/**
 * The end of the first whole event in `text` (after its blank line), else -1. A blank line that
 * ends the text with a CR waits for the next byte: a LF after it is part of the same line end.
 */
function eventEnd(text: string): number {
  const m = /\r\n\r\n|\n\n|\r\r|\r\n\n|\n\r\n|\r\n\r|\n\r/.exec(text)
  if (!m) return -1
  const end = m.index + m[0].length
  return end === text.length && text.endsWith('\r') ? -1 : end
}

/**
 * An event's `type` as its data says it (a JSON object's `type`); `''` for data that is no such
 * object (held, as an unknown kind is); undefined for an event without data (a comment, blank lines).
 */
function eventType(event: string): string | undefined {
  const data = dataOf(event)
  if (data === undefined) return undefined
  try {
    const value = JSON.parse(data) as { type?: unknown } | null
    return typeof value?.type === 'string' ? value.type : ''
  } catch {
    return ''
  }
}

/** An event's data, its data lines joined (undefined when it has none). */
function dataOf(event: string): string | undefined {
  const data = event
    .split(/\r\n|\r|\n/)
    .filter((line) => line.startsWith('data:'))
    .map((line) => line.slice(5).replace(/^ /, ''))
  return data.length === 0 ? undefined : data.join('\n')
}

/** The tokens Anthropic reported of one turn (one message) so far. */
export type TurnUsage = { input: number; cacheWrite: number; cacheRead: number; output: number }

/**
 * `turn` with what an Anthropic stream's raw chunk (its parsed event) reports of it: its
 * message_start starts a turn's count (input, cache writes and reads, the output so far), its
 * message_delta brings the output (and whatever of the rest it repeats), as the SDK's provider
 * counts them. The SDK reports a turn's usage only once it ends (message_stop): a turn that broke
 * off (an error event, a cut stream, the run's cancel or timeout) counted no token of it, though
 * the provider had taken its input (src/engine/run.ts counts it from this).
 */
export function turnUsage(turn: TurnUsage | undefined, raw: unknown): TurnUsage | undefined {
  const ev = raw as { type?: unknown; message?: { usage?: unknown }; usage?: unknown } | null
  const num = (v: unknown, or: number) => (typeof v === 'number' && Number.isFinite(v) ? v : or)
  if (ev?.type === 'message_start') {
    const u = (ev.message?.usage ?? {}) as Record<string, unknown>
    return { input: num(u.input_tokens, 0), cacheWrite: num(u.cache_creation_input_tokens, 0), cacheRead: num(u.cache_read_input_tokens, 0), output: num(u.output_tokens, 0) }
  }
  if (ev?.type === 'message_delta' && turn) {
    const u = (ev.usage ?? {}) as Record<string, unknown>
    return { input: num(u.input_tokens, turn.input), cacheWrite: num(u.cache_creation_input_tokens, turn.cacheWrite), cacheRead: num(u.cache_read_input_tokens, turn.cacheRead), output: num(u.output_tokens, turn.output) }
  }
  return turn
}
