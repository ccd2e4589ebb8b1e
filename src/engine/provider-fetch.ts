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

/** Redirects followed within the provider's own origin, at most. */
const MAX_REDIRECTS = 5

/**
 * Bytes since the last blank line (the end of an SSE event: a line ending `\n`, `\r\n` or `\r`
 * right after another), failing the stream past `limit`. The line ends are found with the native
 * indexOf and the bytes between them counted at once: a loop over every byte in JavaScript held
 * the event loop 60-70 ms for a 4 MiB answer's chunk (test/large-answer-off-loop.test.ts).
 */
function eventBound(limit: number): TransformStream<Uint8Array, Uint8Array> {
  let eventLen = 0
  let lineLen = 0
  let afterCR = false
  return new TransformStream({
    transform(chunk, controller) {
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
          if (eventLen > limit) {
            controller.error(eventTooLong(limit))
            return
          }
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

export function boundedProviderFetch(eventBytes: number, base: typeof fetch = fetch): typeof fetch {
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
    const body = res.body.pipeThrough(res.ok ? eventBound(eventBytes) : firstBytes(ERROR_BODY_BYTES))
    return new Response(body, { status: res.status, statusText: res.statusText, headers })
  }
  return Object.assign(bounded, { preconnect: base.preconnect }) as typeof fetch
}
