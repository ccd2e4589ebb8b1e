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

/**
 * The failure of a stream that passed `limit` bytes without ending an event. The AI SDK passes it
 * on as the cause of its own error ("Failed to process successful response"); the run's error
 * says this one (providerMessage, src/engine/run.ts).
 */
export class ProviderEventTooLong extends Error {
  constructor(limit: number) {
    super(`the provider sent more than ${limit.toLocaleString('en-US')} bytes without ending a stream event, more than any answer this server keeps; its answer was abandoned`)
  }
}

/** `e`, or an error in its `cause` chain, that is a ProviderEventTooLong. */
export function eventTooLongIn(e: unknown): ProviderEventTooLong | undefined {
  for (let c = e, depth = 0; c && depth < 8; c = (c as { cause?: unknown }).cause, depth++) if (c instanceof ProviderEventTooLong) return c
  return undefined
}

/**
 * Bytes since the last blank line (the end of an SSE event: a line ending `\n`, `\r\n` or `\r`
 * right after another), failing the stream past `limit`.
 */
function eventBound(limit: number): TransformStream<Uint8Array, Uint8Array> {
  let eventLen = 0
  let lineLen = 0
  let afterCR = false
  return new TransformStream({
    transform(chunk, controller) {
      for (let i = 0; i < chunk.length; i++) {
        const b = chunk[i]!
        if (b === 10 || b === 13) {
          if (b === 10 && afterCR) {
            afterCR = false
            continue
          }
          afterCR = b === 13
          if (lineLen === 0) eventLen = 0
          else {
            lineLen = 0
            eventLen++
          }
        } else {
          afterCR = false
          lineLen++
          if (++eventLen > limit) {
            controller.error(new ProviderEventTooLong(limit))
            return
          }
        }
      }
      controller.enqueue(chunk)
    },
  })
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

/**
 * `base` with each answer's body bounded: a successful one (a stream) fails once an event passes
 * `eventBytes`; an error status's is cut at ERROR_BODY_BYTES, so its error is read at once.
 */
export function boundedProviderFetch(eventBytes: number, base: typeof fetch = fetch): typeof fetch {
  const bounded = async (input: Parameters<typeof fetch>[0], init?: Parameters<typeof fetch>[1]): Promise<Response> => {
    const res = await base(input, init)
    if (!res.body) return res
    const headers = new Headers(res.headers)
    headers.delete('content-length')
    const body = res.body.pipeThrough(res.ok ? eventBound(eventBytes) : firstBytes(ERROR_BODY_BYTES))
    return new Response(body, { status: res.status, statusText: res.statusText, headers })
  }
  return Object.assign(bounded, { preconnect: base.preconnect }) as typeof fetch
}
