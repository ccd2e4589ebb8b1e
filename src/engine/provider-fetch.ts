import { clipped } from '../text'
import { errorOtherwiseSent } from './anthropic-events'
/**
 * The `fetch` the provider clients use (src/engine/providers.ts): the provider's answer, read no
 * further than a run can use. The AI SDK reads a provider's answer without a bound of its own:
 * an SSE line that never ends (eventsource-parser keeps what it has of an unfinished event) or an
 * error body that never ends (read whole, for its message) grew the server by some 25 MB a
 * second, for as long as the run's timeout (5 minutes by default: gigabytes), measured against
 * the compiled binary. The output limits (src/engine/output-limits.ts) count only what the SDK
 * has parsed, and it parses nothing of an event until the event ends.
 */

/** An error status's body is read up to this many bytes: its message (cut to 1000 characters in the run's error) is at the front. */
export const ERROR_BODY_BYTES = 64 * 1024

/**
 * The most one event of a provider's stream may hold, in bytes, for a run whose models may write
 * `answerChars` characters: one delta of the whole allowed answer, each character escaped in JSON
 * (`\uXXXX`, 6 bytes per UTF-16 code unit), and 64 KiB for the rest of the event. An event past
 * it carries more than the run may keep anyway.
 */
export const eventBytesFor = (answerChars: number): number => answerChars * 6 + 64 * 1024

/** The path of an OpenAI-compatible chat completion (the one request of that provider's client). */
export const CHAT_COMPLETIONS = /\/chat\/completions$/

/**
 * An answer of the provider's that the server will not read on: the run fails with this message
 * (providerMessage, src/engine/run.ts, finds it in the cause chain of the AI SDK's own error,
 * "Failed to process successful response" or "Cannot connect to API").
 */
export class ProviderAnswerRefused extends Error {}

/** The failure of a stream that passed `limit` bytes without ending an event. */
export const eventTooLong = (limit: number) =>
  new ProviderAnswerRefused(`the provider sent more than ${limit.toLocaleString('en-US')} bytes without ending a stream event, more than any answer this server keeps; its answer was abandoned`)

/** `e`, or an error in its `cause` chain, that is a ProviderAnswerRefused. */
export function answerRefusedIn(e: unknown): ProviderAnswerRefused | undefined {
  for (let c = e, depth = 0; c && depth < 8; c = (c as { cause?: unknown }).cause, depth++) if (c instanceof ProviderAnswerRefused) return c
  return undefined
}

/**
 * The header boundedProviderFetch adds to each answer it hands over with a body: the provider's
 * HTTP status. The AI SDK's error keeps an answer's headers but not its status where the stream's
 * first event is an error (it gives the error a status of its own, from its type: 529 for
 * `overloaded_error`); src/engine/run.ts streamErrorType tells such an error (HTTP 200) from an
 * error status (429, 529) whose body was labelled `text/event-stream` by this.
 */
export const PROVIDER_STATUS_HEADER = 'x-teamday-provider-status'

/** Redirects followed within the provider's own origin, at most. */
const MAX_REDIRECTS = 5

/**
 * Bytes since the last blank line (the end of an SSE event: a line ending `\n`, `\r\n` or `\r`
 * right after another), counted chunk by chunk: the failure once past `limit`. The line ends
 * are found with the native indexOf and the bytes between them counted at once: a loop over every byte in JavaScript held
 * the event loop 60-70 ms for a 4 MiB answer's chunk (test/large-answer-off-loop.test.ts).
 */
function eventBound(limit: number): (chunk: Uint8Array) => ProviderAnswerRefused | undefined {
  let eventLen = 0
  let lineLen = 0
  let afterCR = false
  return (chunk) => {
    const n = chunk.length
    // The next LF and CR at or after i, each searched again only once i has passed it.
    let lf = chunk.indexOf(10)
    let cr = chunk.indexOf(13)
    for (let i = 0; i < n; ) {
      if (lf !== -1 && lf < i) lf = chunk.indexOf(10, i)
      if (cr !== -1 && cr < i) cr = chunk.indexOf(13, i)
      const end = lf === -1 ? (cr === -1 ? n : cr) : cr === -1 ? lf : Math.min(lf, cr)
      if (end > i) {
        afterCR = false
        lineLen += end - i
        eventLen += end - i
        if (eventLen > limit) return eventTooLong(limit)
      }
      if (end === n) break
      if (chunk[end] === 10 && afterCR) afterCR = false
      else {
        afterCR = chunk[end] === 13
        if (lineLen === 0) eventLen = 0
        else {
          lineLen = 0
          eventLen++
        }
      }
      i = end + 1
    }
    return undefined
  }
}

const DATA = new TextEncoder().encode('data:')
const DATA_SPACE = new TextEncoder().encode('data: ')
const DONE = new TextEncoder().encode('[DONE]')
const DATA_DONE = new TextEncoder().encode('data: [DONE]')
const ERROR_FIELD = new TextEncoder().encode('error:')
const DATA_ERROR = new TextEncoder().encode('data: {"error":')
const CLOSE_BRACE = new TextEncoder().encode('}')

/**
 * The stream without its empty data lines (`data:` with nothing, or only spaces and tabs, after
 * it): some gateways send them as keep-alives. The SSE parser the AI SDK uses makes an event of
 * each (its data the empty string, as the SSE standard says), which it then failed to parse as
 * JSON, and the run failed ("JSON parsing failed", 502) in the middle of a good answer. A
 * provider's events are JSON, to which white space between tokens means nothing: such a line is
 * nothing, within an event or alone, so it is dropped (with its line end, CRLF whole), and the
 * white space at the start of a data line's value with it. Only the start of each line is looked
 * at, byte by byte (at most `data:` and its white space); the rest of the line passes as it came.
 *
 * `errorField` (an OpenAI-compatible stream's): llama.cpp's server writes an error in the middle
 * of its stream as an SSE field of its own, `error: {"code":500,"message":…}`, not as `data:`. An
 * SSE parser ignores a field it does not know: the message was lost and the run failed "Response
 * stream ended without a finish reason" (or, after a whole answer, not at all). Each such line
 * becomes `data: {"error": …}`, the error event the chunk's schema reads
 * (src/engine/openai-events.ts): the run fails with the server's message.
 *
 * `end` (finishAtDone), given, sees each chunk too, and what it has to say before `data: [DONE]`
 * goes out right before it.
 *
 * `bound` (eventBound), given, sees each chunk first and fails the stream with what it returns.
 * Each of these was a transform of its own, a stage every chunk went through (one stage is the
 * same work in 0.5-0.9 of the time, bench of 3 MB in 4 KiB and 256-byte chunks).
 */
export function withoutEmptyData(o: { bound?: (chunk: Uint8Array) => ProviderAnswerRefused | undefined; end?: StreamEnd; errorField?: boolean } = {}): TransformStream<Uint8Array, Uint8Array> {
  const { bound, end, errorField = false } = o
  // At a line's start: how many bytes of `data:` it has begun with, withheld (5: all, then only
  // white space, `spaced` if any). -1: the rest of the line passes as it is.
  let matched = 0
  let spaced = false
  // At a line's start (errorField): how many bytes of `error:` it has begun with, withheld; and,
  // once all of it has gone out as `data: {"error":`, whether the line's end is to get its `}`.
  let errored = 0
  let inError = false
  // After `data:` and its white space: how many bytes of `[DONE]` follow (withheld; -1: none),
  // and whether white space came after all of it. OpenAI's end of stream with white space after
  // it (`data: [DONE] `) was not `[DONE]` to the AI SDK, which failed to parse it as JSON and
  // failed a run whose answer was whole: it is `data: [DONE]`.
  let done = -1
  let trailing = false
  const withheld = (controller: TransformStreamDefaultController<Uint8Array>) => {
    if (errored > 0) controller.enqueue(ERROR_FIELD.subarray(0, errored))
    errored = 0
    if (matched === 5) controller.enqueue(spaced ? DATA_SPACE : DATA)
    else if (matched > 0) controller.enqueue(DATA.subarray(0, matched))
    if (done > 0) controller.enqueue(DONE.subarray(0, done))
    if (trailing) controller.enqueue(DATA_SPACE.subarray(5))
    matched = -1
    spaced = false
    done = -1
    trailing = false
  }
  // A dropped line ended with CR: a LF right after it is the same line end, dropped with it.
  let dropLf = false
  return new TransformStream({
    transform(chunk, controller) {
      const refused = bound?.(chunk)
      if (refused) {
        controller.error(refused)
        return
      }
      end?.scan(chunk)
      const n = chunk.length
      let lf = chunk.indexOf(10)
      let cr = chunk.indexOf(13)
      let from = 0
      const pass = (end: number) => {
        if (end > from) controller.enqueue(chunk.subarray(from, end))
      }
      for (let i = 0; i < n; ) {
        if (dropLf) {
          dropLf = false
          if (chunk[i] === 10) {
            from = ++i
            continue
          }
        }
        if (matched < 0) {
          // The rest of the line, to its end (found with the native indexOf, each searched again only once passed).
          if (lf !== -1 && lf < i) lf = chunk.indexOf(10, i)
          if (cr !== -1 && cr < i) cr = chunk.indexOf(13, i)
          const end = lf === -1 ? cr : cr === -1 ? lf : Math.min(lf, cr)
          if (end === -1) break
          if (inError) {
            pass(end)
            controller.enqueue(CLOSE_BRACE)
            from = end
            inError = false
          }
          i = end + 1
          matched = 0
          continue
        }
        const b = chunk[i]!
        if (errorField && matched === 0 && b === ERROR_FIELD[errored]) {
          if (errored === 0) pass(i)
          from = ++i
          if (++errored === ERROR_FIELD.length) {
            controller.enqueue(DATA_ERROR)
            errored = 0
            inError = true
            matched = -1
          }
          continue
        }
        // A line begun as `error:` that is not one (`errdata:`): what was withheld of it goes on, then the rest as it came.
        if (errored > 0) {
          withheld(controller)
          continue
        }
        if (matched < 5) {
          if (b === DATA[matched]) {
            if (matched === 0) pass(i)
            matched++
            from = ++i
            continue
          }
        } else if (done >= 0) {
          if (done < 6 && b === DONE[done]) {
            done++
            from = ++i
            continue
          }
          if (done === 6 && (b === 32 || b === 9)) {
            trailing = true
            from = ++i
            continue
          }
          if (done === 6 && (b === 10 || b === 13)) {
            // `data: [DONE]`, its white space gone; the line end passes as it came.
            const before = end?.beforeDone()
            if (before) controller.enqueue(before)
            controller.enqueue(DATA_DONE)
            matched = -1
            spaced = false
            done = -1
            trailing = false
            continue
          }
        } else if (b === 91) {
          done = 1
          from = ++i
          continue
        } else if (b === 32 || b === 9) {
          spaced = true
          from = ++i
          continue
        } else if (b === 10 || b === 13) {
          // An empty data line: dropped, its line end too.
          matched = 0
          spaced = false
          dropLf = b === 13
          from = ++i
          continue
        }
        // Not an empty data line: what was withheld of it goes on, then the rest as it came.
        withheld(controller)
      }
      pass(n)
    },
    flush(controller) {
      // A line the stream ended in: a begun `data` field name goes on (an empty data line is nothing).
      if (done === 6) {
        const before = end?.beforeDone()
        if (before) controller.enqueue(before)
        controller.enqueue(DATA_DONE)
      } else if (inError) controller.enqueue(CLOSE_BRACE)
      else if ((matched > 0 && matched < 5) || done > 0 || errored > 0) withheld(controller)
    },
  })
}

/** What withoutEmptyData tells of a stream's end: each chunk (`scan`), then, at `data: [DONE]`, what goes before it, if anything. */
export type StreamEnd = { scan(chunk: Uint8Array): void; beforeDone(): Uint8Array | undefined }

const FINISH_KEY = new TextEncoder().encode('"finish_reason"')
const DELTA_KEY = new TextEncoder().encode('"delta"')
/** The chunk that ends an answer no chunk gave a finish reason (finishAtDone). */
const FINISH_STOP = new TextEncoder().encode('data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n')
/** Bytes of a chunk kept for the next (a key and its `:` split between them): more than the key and the white space a server writes around its colon. */
const EDGE = 64

/**
 * An OpenAI-compatible stream that ends with `data: [DONE]` after its chunks though none of them
 * gave a finish reason (every `finish_reason` null or absent): vllm-mlx on a natural stop,
 * llama-cpp-python's stream, gateways that drop it. The AI SDK failed such a run, "Response
 * stream ended without a finish reason" (502), whatever answer had come: the server said the
 * answer was over. Before that `[DONE]` comes a chunk with finish reason `stop`, the end the
 * server meant; the answer completes as it came. A stream that ends without `[DONE]` (a
 * connection cut) still fails, and one without a single chunk (a `delta`) before it too.
 *
 * Each chunk is searched (natively, Buffer's indexOf) for the key `"finish_reason"` followed by
 * `:` and a string, until one is found, and for `"delta"` until found; the bytes at each chunk's
 * start are searched with the last EDGE bytes of the one before. Inside a JSON string each quote
 * is escaped: `"finish_reason"` there is `\"finish_reason\"`, never the key.
 */
export function finishAtDone(): StreamEnd {
  let finish = false
  let delta = false
  let edge = new Uint8Array(0)
  const look = (b: Buffer) => {
    if (!delta && b.indexOf(DELTA_KEY) !== -1) delta = true
    for (let i = b.indexOf(FINISH_KEY); i !== -1 && !finish; i = b.indexOf(FINISH_KEY, i + 1)) {
      if (i > 0 && b[i - 1] === 92) continue
      let j = i + FINISH_KEY.length
      while (j < b.length && (b[j] === 32 || b[j] === 9 || b[j] === 10 || b[j] === 13)) j++
      if (b[j] !== 58) continue
      for (j++; j < b.length && (b[j] === 32 || b[j] === 9 || b[j] === 10 || b[j] === 13); j++);
      if (b[j] === 34) finish = true
    }
  }
  return {
    scan(chunk) {
      if (finish) return
      const b = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
      if (edge.length > 0) look(Buffer.concat([edge, b.subarray(0, EDGE)]))
      look(b)
      edge = b.length >= EDGE ? b.slice(b.length - EDGE) : Buffer.concat([edge, b]).slice(-EDGE)
    },
    beforeDone() {
      if (finish || !delta) return undefined
      // Once: a second [DONE] finds the finish given.
      finish = true
      return FINISH_STOP
    },
  }
}


/** The first `limit` bytes of a body, then its end (the rest is not read: the source is cancelled). */
function firstBytes(limit: number): TransformStream<Uint8Array, Uint8Array> {
  let left = limit
  return new TransformStream({
    transform(chunk, controller) {
      if (chunk.length < left) {
        left -= chunk.length
        controller.enqueue(chunk)
        return
      }
      if (left > 0) controller.enqueue(chunk.subarray(0, left))
      left = 0
      controller.terminate()
    },
  })
}

/** A body's first `limit` bytes as text, or the failure `tooLong` once it has more. */
async function boundedText(body: ReadableStream<Uint8Array>, limit: number, tooLong: () => Error): Promise<string> {
  const parts: Uint8Array[] = []
  let size = 0
  for await (const chunk of body) {
    size += chunk.length
    if (size > limit) {
      await body.cancel().catch(() => {})
      throw tooLong()
    }
    parts.push(chunk)
  }
  return new TextDecoder().decode(Buffer.concat(parts))
}

const shortText = (s: string): string => clipped(s.replace(/\s+/g, ' ').trim(), 200)

/** A JSON document answered where an event stream was asked: its object (undefined for other JSON), or the run refused saying what came. */
function jsonObjectOf(text: string): Record<string, unknown> | undefined {
  let doc: unknown
  try {
    doc = JSON.parse(text)
  } catch {
    throw new ProviderAnswerRefused(`the provider answered with a body that is not JSON (labelled JSON, or beginning as JSON), where an event stream was asked: ${shortText(text)}`)
  }
  return doc && typeof doc === 'object' && !Array.isArray(doc) ? (doc as Record<string, unknown>) : undefined
}

/**
 * A chat completion's answer to a request for a stream that came as one JSON document
 * (`chat.completion`: a proxy or gateway that drops `stream`, a server that does not stream), as
 * the stream it stands for: one chunk whose delta is its message (its text, reasoning and tool
 * calls, each call given its index) with its finish reason and usage, then `[DONE]`. The AI SDK
 * read the document as an event stream with no event in it: the run failed, "Response stream
 * ended without a finish reason", whatever the answer was. An error (`{"error": …}`, vLLM's
 * `{"object": "error", …}`) goes on as an event, to fail the run with its message as in a stream;
 * JSON that is neither fails the run saying what came.
 */
export function chatCompletionAsEvents(text: string): string {
  const o = jsonObjectOf(text)
  if (o && ((o.error !== undefined && o.error !== null) || o.object === 'error')) return `data: ${JSON.stringify(o)}\n\n`
  if (!o || !Array.isArray(o.choices) || !o.choices.every((c) => c && typeof c === 'object' && (c as { message?: unknown }).message && typeof (c as { message?: unknown }).message === 'object')) {
    throw new ProviderAnswerRefused(`the provider answered with JSON that is not a chat completion, where an event stream was asked: ${shortText(text)}`)
  }
  const choices = (o.choices as { index?: unknown; message: Record<string, unknown>; finish_reason?: unknown }[]).map((c, i) => {
    const { tool_calls: calls, ...message } = c.message
    return {
      index: typeof c.index === 'number' ? c.index : i,
      delta: { ...message, ...(Array.isArray(calls) ? { tool_calls: calls.map((call, index) => (call && typeof call === 'object' ? { index, ...call } : call)) } : {}) },
      // The document is the whole answer: one without a finish reason ended all the same (finishAtDone).
      finish_reason: c.finish_reason ?? 'stop',
    }
  })
  const { id, created, model, usage } = o
  return `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model, choices, ...(usage !== undefined ? { usage } : {}) })}\n\ndata: [DONE]\n\n`
}

/**
 * An Anthropic answer to a request for a stream that came as one JSON document: its error
 * (`{"type": "error", "error": {…}}`, a gateway's `{"error": …}`) as the error event it stands
 * for, to fail the run with its message and type as in a stream (an error event first is the
 * request's failure to the AI SDK; src/engine/anthropic-events.ts reads one without a message).
 * It failed the run "No output generated", the provider's message lost. JSON that is no error
 * fails the run saying what came.
 */
export function anthropicJsonAsEvents(text: string): string {
  const o = jsonObjectOf(text)
  if (o && (o.type === 'error' || (o.error !== undefined && o.error !== null))) return `event: error\ndata: ${JSON.stringify({ type: 'error', error: o.error ?? null })}\n\n`
  // The bare error object, {"type": "overloaded_error", "message": …}, as the same under `event: error`.
  const bare = errorOtherwiseSent(o, false)
  if (bare !== undefined) return `event: error\ndata: ${JSON.stringify({ type: 'error', error: bare })}\n\n`
  throw new ProviderAnswerRefused(`the provider answered with JSON that is not an event stream, where one was asked: ${shortText(text)}`)
}

/** The most bytes of a beginning looked at (`retry:` and a byte: past the longest SSE field name a stream begins with). */
const BEGINNING = 7

/**
 * `body` as it came, and what its first bytes other than white space are (read no further than
 * BEGINNING of them, or than 64 KiB of white space): `{`, a JSON document (an event stream never
 * begins with it); an SSE field (`data:`, `event:`, `id:`, `retry:`) or comment (`:`), an event
 * stream; else `other` (nothing, or text).
 */
async function beginning(body: ReadableStream<Uint8Array>): Promise<{ body: ReadableStream<Uint8Array>; begins: 'brace' | 'stream' | 'other' }> {
  const reader = body.getReader()
  const read: Uint8Array[] = []
  let start: Uint8Array | undefined
  for (let seen = 0; seen <= 64 * 1024; ) {
    const { value, done } = await reader.read()
    if (done) break
    read.push(value)
    if (start) start = Buffer.concat([start, value]).subarray(0, BEGINNING)
    else {
      const i = value.findIndex((b) => b !== 32 && b !== 9 && b !== 10 && b !== 13)
      if (i !== -1) start = value.subarray(i, i + BEGINNING)
    }
    if (start && kindOf(start) !== undefined) break
    seen += value.length
  }
  const again = new ReadableStream<Uint8Array>({
    start(c) {
      for (const chunk of read) c.enqueue(chunk)
    },
    async pull(c) {
      const { value, done } = await reader.read()
      if (done) c.close()
      else c.enqueue(value)
    },
    cancel: (reason) => reader.cancel(reason),
  })
  return { body: again, begins: (start && kindOf(start)) || 'other' }
}

const FIELDS = ['data:', 'event:', 'id:', 'retry:']
/** What a body beginning with `start` is, or undefined while `start` may still begin an SSE field (`da`: more is read, so that a stream's first comment or field is not waited on past it). */
function kindOf(start: Uint8Array): 'brace' | 'stream' | 'other' | undefined {
  const text = new TextDecoder().decode(start)
  if (text.startsWith('{')) return 'brace'
  if (/^(?:data|event|id|retry)?:/.test(text)) return 'stream'
  return FIELDS.some((f) => f.startsWith(text)) ? undefined : 'other'
}

/**
 * A successful answer that is neither an event stream nor, for a chat completion, JSON: an HTML
 * page (OPENAI_BASE_URL at a web interface or a landing page rather than its API, which answers
 * any path with its page, HTTP 200) failed the run as a stream that "ended without a finish
 * reason". Said as what it is, and where to look.
 */
const htmlAnswer = (url: URL, type: string, chat: boolean) =>
  new ProviderAnswerRefused(
    `the provider at ${url.origin} answered ${url.pathname} with a web page (HTTP 200, ${type}), not its API's event stream: set ${chat ? 'OPENAI_BASE_URL to the address of its API, e.g. http://localhost:11434/v1 for Ollama' : "ANTHROPIC_BASE_URL to the address of Anthropic's API"}`,
  )

/**
 * `base` with each answer's body bounded: a successful one (a stream) fails once an event passes
 * `eventBytes`; an error status's is cut at ERROR_BODY_BYTES, so its error is read at once.
 *
 * Redirects are followed only within the origin asked (the same request again): fetch follows
 * one to anywhere, and Bun's drops only `Authorization` on the way, so Anthropic's key (its
 * `x-api-key` header) went to whatever host a redirect named. One elsewhere fails the run,
 * naming the origin to configure instead.
 */
/**
 * Redirects not followed (boundedProviderFetch), and never printed by Bun: with
 * BUN_CONFIG_VERBOSE_FETCH in the server's environment (`curl`, `1`), Bun wrote each request with
 * its headers on the server's output, the service's log: the API key in full (`curl`), Anthropic's
 * `x-api-key` either way. `verbose: false` wins over the variable (the client's QUIET does the same).
 */
const UNLOGGED = { redirect: 'manual', verbose: false } as RequestInit

/** `then`, given: a transform of a successful answer's bytes after the bound (the Anthropic client's: messageStartFirst, src/engine/anthropic-events.ts). */
export function boundedProviderFetch(eventBytes: number, base: typeof fetch = fetch, then?: () => TransformStream<Uint8Array, Uint8Array>): typeof fetch {
  const bounded = async (input: Parameters<typeof fetch>[0], init?: Parameters<typeof fetch>[1]): Promise<Response> => {
    // The AI SDK asks with a URL string and `init` (its headers and body), never a Request.
    let url = new URL(input instanceof Request ? input.url : String(input))
    let res = await base(url, { ...init, ...UNLOGGED })
    for (let hops = 0; res.status >= 300 && res.status < 400 && res.headers.has('location'); hops++) {
      const to = URL.canParse(res.headers.get('location')!, url.href) ? new URL(res.headers.get('location')!, url) : undefined
      await res.body?.cancel()
      if (!to || to.origin !== url.origin || hops >= MAX_REDIRECTS) {
        const where = to ? (to.origin === url.origin ? `${hops + 1} times` : `to ${to.origin}`) : 'to an address that is not a URL'
        throw new ProviderAnswerRefused(`the provider at ${url.origin} redirected (HTTP ${res.status}) ${where}: not followed, so that its API key goes nowhere else; configure the address it redirects to (OPENAI_BASE_URL or ANTHROPIC_BASE_URL)`)
      }
      url = to
      res = await base(url, { ...init, ...UNLOGGED })
    }
    if (!res.body) return res
    const headers = new Headers(res.headers)
    headers.delete('content-length')
    headers.set(PROVIDER_STATUS_HEADER, String(res.status))
    const type = (res.headers.get('content-type') ?? '').toLowerCase()
    const chat = CHAT_COMPLETIONS.test(url.pathname)
    if (res.ok && /^text\/html\b/.test(type)) {
      await res.body.cancel().catch(() => {})
      throw htmlAnswer(url, type, chat)
    }
    let body = res.body
    let json = /^application\/([\w.-]+\+)?json\b/.test(type)
    // A JSON document labelled otherwise (text/plain, none: a gateway's error at HTTP 200) is JSON
    // all the same: it failed the run as a stream without an event, its message lost. An event
    // stream passes as it came, however labelled: one labelled JSON too (read whole as one
    // document, it failed the run as a body "that is not JSON").
    if (res.ok && !/^text\/event-stream\b/.test(type)) {
      let begins: Awaited<ReturnType<typeof beginning>>['begins']
      ;({ body, begins } = await beginning(body))
      json = json ? begins !== 'stream' : begins === 'brace'
    }
    if (res.ok && json) {
      // One JSON document for a stream asked: read (no further than an event may be) as the stream it stands for.
      const text = await boundedText(body, eventBytes, () => eventTooLong(eventBytes))
      const events = new Response(chat ? chatCompletionAsEvents(text) : anthropicJsonAsEvents(text)).body!
      headers.set('content-type', 'text/event-stream')
      return new Response(then ? events.pipeThrough(then()) : events, { status: res.status, statusText: res.statusText, headers })
    }
    const bounded = res.ok ? body.pipeThrough(withoutEmptyData({ bound: eventBound(eventBytes), ...(chat && { end: finishAtDone(), errorField: true }) })) : body.pipeThrough(firstBytes(ERROR_BODY_BYTES))
    return new Response(res.ok && then ? bounded.pipeThrough(then()) : bounded, { status: res.status, statusText: res.statusText, headers })
  }
  return Object.assign(bounded, { preconnect: base.preconnect }) as typeof fetch
}
