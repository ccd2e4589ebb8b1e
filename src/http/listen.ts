import type { KeptHeaders } from './kept-headers'
import type { BunAdapter } from 'elysia/adapter/bun'
import { pathStart } from './url-path'

type Adapter = typeof BunAdapter
type Serve = Parameters<typeof Bun.serve>[0]
/**
 * What `app.listen(options)` takes here: Bun.serve's options, less the handler; and
 * `handlingTimeout`, the seconds a request may take once it is in (handlingTime).
 */
export type ListenOptions = Omit<Serve, 'fetch' | 'routes' | 'websocket'> & { handlingTimeout?: number }

/** Seconds a connection may stay silent: an idle keep-alive connection, a request's head and body on their way. */
export const IDLE_TIMEOUT_S = 30
/** The most Bun's per-request timeout takes (seconds; 0 is none). */
export const MAX_TIMEOUT_S = 255
type Fetch = (request: Request, server: Bun.Server<unknown>) => Response | Promise<Response>

/**
 * An adapter that listens once, with the app's own handler (`app.fetch`) for every request.
 *
 * Elysia's Bun adapter listens twice over: it compiles the app, hands Bun one handler per route
 * (`routes`), then, once the app's asynchronously loaded plugins have settled (teamday has none),
 * compiles the app a second time, builds every route's handler again, reloads the server with
 * them and asks for a garbage collection. On the development machine that second pass took
 * 5–12 ms of a 60–90 ms start (bench/startup.ts; docs/performance.md). Here the app is compiled
 * once and Bun.serve gets `app.fetch`, Elysia's compiled handler that routes the request itself:
 * the very function in-process tests reach through `app.handle`, so the tested path and the
 * served one are the same, but for `sentWhole` below.
 *
 * No WebSocket routes (teamday has none) and no static routes (every handler is a function).
 */
export function listenOnce(adapter: Adapter): Adapter {
  return {
    ...adapter,
    listen: (app) => (options, callback) => {
      if (typeof options !== 'object') throw new TypeError('listen takes Bun.serve options')
      app.compile()
      const { handlingTimeout, ...serve } = options as ListenOptions
      const idle = serve.idleTimeout ?? IDLE_TIMEOUT_S
      // Over teamday's own TLS (serve --tls-cert) a request that names no usable host came over HTTPS all the same.
      const fetch = sentWhole(shortHostsRouted(app.fetch as Fetch, serve.tls ? NO_HOST_ORIGIN_TLS : NO_HOST_ORIGIN))
      const serveOptions = { development: false, ...serve, idleTimeout: idle, fetch: handlingTimeout === undefined ? fetch : handlingTime(fetch, idle, handlingTimeout) } as Serve
      app.server = Bun.serve(serveOptions)
      idleTimeouts.set(app.server, idle)
      served.set(app.server, serveOptions)
      for (const hook of app.event.start ?? []) hook.fn(app)
      callback?.(app.server)
    },
  }
}

/** Each listening server's Bun.serve options (listenAgain starts another with them). */
const served = new WeakMap<object, Serve>()

/**
 * A second listener on `server`'s port, with `server`'s options and handler but the certificate
 * and key `tls` (a renewed certificate: Bun's `server.reload` ignores `tls`, and Bun has no other
 * way to swap it). Both share the port by SO_REUSEPORT (the first must have been started with
 * `reusePort`): from now on the kernel hands new connections to either, until the caller stops
 * the first (retire). Throws what Bun.serve throws (an OpenSSL refusal of the files, a port it
 * cannot bind), `server` untouched.
 */
export function listenAgain(server: Bun.Server<unknown>, tls: { cert: string; key: string }): Bun.Server<unknown> {
  const options = served.get(server)
  if (!options) throw new Error('listenAgain: this server was not started by listenOnce')
  const next = { ...options, port: server.port, reusePort: true, tls } as Serve
  const started = Bun.serve(next)
  served.set(started, next)
  const idle = idleTimeouts.get(server)
  if (idle !== undefined) idleTimeouts.set(started, idle)
  return started
}

/**
 * A listener being replaced (listenAgain): for `closingMs` it still accepts, and every answer it
 * gives says `Connection: close` (a kept-alive connection on it closes after its answer, rather
 * than idle under a request its client sends as the listener stops), then it stops accepting
 * (`closed`: from then on every new connection goes to the other listeners) and lets its
 * requests in flight (event streams, synchronous executes) end (`drained`). Readiness is not
 * touched: the process keeps serving on the new listener.
 */
export function retire(server: Bun.Server<unknown>, closingMs: number): { closed: Promise<void>; drained: Promise<void> } {
  const options = served.get(server)
  if (options) {
    const fetch = options.fetch as Fetch
    server.reload({
      development: false,
      fetch: (request: Request, s: Bun.Server<unknown>) => {
        const answer = fetch(request, s)
        return answer instanceof Promise ? answer.then(closing) : closing(answer)
      },
    } as Serve)
  }
  let drained!: Promise<void>
  const closed = new Promise<void>((resolve) =>
    setTimeout(() => {
      // stop() closes the listener at once; its promise is the end of the connections still open.
      drained = server.stop().then(() => {})
      resolve()
    }, closingMs),
  )
  return { closed, drained: closed.then(() => drained) }
}

function closing(res: Response): Response {
  try {
    res.headers.set('connection', 'close')
  } catch {
    // Headers that cannot be changed (a response fetched from elsewhere): the stop closes its connection when idle.
  }
  return res
}

/**
 * Bun closes a connection that has been silent for its idle timeout, also while the request on it
 * is being handled: a request that waited longer than that for the database (a lock, a statement
 * running into TEAMDAY_DB_STATEMENT_TIMEOUT_MS, 30 s by default, as long as the idle timeout) got
 * an empty reply instead of its 503, and nginx made it a 502. So while a request is handled its
 * connection may stay silent for `handling` seconds (what the database may take, and more), and
 * once its answer is ready again for `idle` only (an idle keep-alive connection). A synchronous
 * execute, which waits for its run, lifts the bound for itself (withoutTimeout). Answers made
 * without waiting cost nothing here.
 */
export function handlingTime(fetch: Fetch, idle: number, handling: number): Fetch {
  bounds = { idle, handling }
  return (request, server) => {
    // Before the handler runs: one that lifts the bound (withoutTimeout) does so synchronously.
    server.timeout(request, handling)
    const back = () => server.timeout(request, idle)
    const answer = fetch(request, server)
    if (!(answer instanceof Promise)) {
      back()
      return answer
    }
    return answer.finally(back)
  }
}

/** The bounds handlingTime serves with (null: none set, as in process for tests). */
let bounds: { idle: number; handling: number } | null = null

/**
 * While a request's body comes in: its connection may be silent only the idle timeout (a client
 * that stops sending its body mid-way holds a connection 30 s, not the handling bound: anyone
 * could, no token needed), counted from the last chunk that arrived (bodyArrived); the function
 * returned gives it the handling bound back.
 */
export function receiving(server: { timeout(request: Request, seconds: number): void } | null | undefined, request: Request): () => void {
  if (!server || bounds === null || request.body === null) return () => {}
  const { idle, handling } = bounds
  const again = () => server.timeout(request, idle)
  again()
  arriving.set(request, again)
  return () => {
    arriving.delete(request)
    server.timeout(request, handling)
  }
}

/** The requests whose bodies are coming in (receiving): what gives each its idle bound again. */
const arriving = new WeakMap<Request, () => void>()

/**
 * Some of `request`'s body arrived: its connection may be silent the idle timeout again, from
 * now. Bun's per-request timeout is a deadline that bytes coming in do not move: a body sent
 * steadily, a byte a second, was cut 30-34 s after it began, without an answer (an upload of
 * 1 MiB slower than ~30 KB/s never got through). Called by whatever reads a body (src/http/body.ts,
 * src/http/guards.ts) at each chunk; nothing outside receiving().
 */
export function bodyArrived(request: Request): void {
  arriving.get(request)?.()
}

/** Each listening server's idle timeout, in seconds (idleTimeoutOf). */
const idleTimeouts = new WeakMap<object, number>()

/** Bun looks at connections' timeouts every 4 s (closeWhenSilent). */
export const TIMEOUT_TICK_S = 4

/**
 * `server`'s idle timeout (seconds), and the least silence after which it closes a connection
 * for it: Bun closes one silent for its idle timeout at its next look, which may come up to a
 * look early (an idle timeout of 10 s closed connections silent for 8 to 12 s). A body sent as it
 * is produced whose client took nothing for `closesAfter` and whose connection then closed was
 * closed by this server, not by its client (src/http/streamed-json.ts). Null in process, or when
 * the timeout is too short to tell (a close at once may be Bun's).
 */
export function idleTimeoutOf(server: object | null | undefined): { idle: number; closesAfter: number } | null {
  const idle = server ? idleTimeouts.get(server) : undefined
  if (idle === undefined || idle - TIMEOUT_TICK_S < 1) return null
  return { idle, closesAfter: idle - TIMEOUT_TICK_S }
}

/** Seconds a connection whose answer was given up (closeWhenSilent) may stay silent. */
export const GIVEN_UP_TIMEOUT_S = 1

/**
 * Closes a request's connection once it has been silent GIVEN_UP_TIMEOUT_S: for an answer this
 * server gave up on while its client read nothing (a dropped event stream). Erroring the body's
 * stream does not close it: Bun notices the error only once the socket takes what it still holds,
 * and a client that reads nothing kept its connection (and the kernel's buffers for it, megabytes)
 * until the idle timeout, 30 s after the last byte it took. Bun looks at timeouts every 4 s: it is
 * closed 1 to 5 s on. A client still reading takes what is left and then meets the error.
 */
export function closeWhenSilent(server: { timeout(request: Request, seconds: number): void } | null | undefined, request: Request): void {
  server?.timeout(request, GIVEN_UP_TIMEOUT_S)
}

/** A request that may be silent for as long as it takes (a synchronous execute, bounded by its run's timeout), until its answer is ready. */
export function withoutTimeout(server: { timeout(request: Request, seconds: number): void } | null | undefined, request: Request): void {
  server?.timeout(request, 0)
}

/**
 * The origin given to a request whose URL has none that can be parsed (see shortHostsRouted):
 * without one, nothing but the client's path is known about where it was sent.
 */
export const NO_HOST_ORIGIN = 'http://localhost'
/** NO_HOST_ORIGIN of a server with TLS: the request came over HTTPS (the console's and Swagger's scheme follow the URL's). */
export const NO_HOST_ORIGIN_TLS = 'https://localhost'

/**
 * Elysia's router looks for the path from the URL's 12th character on (`http://` and a host of
 * at least four characters): with a shorter Host header (`Host: api`, `Host: x`) it skipped the
 * path's first segment, so `/zz/api/v1/tasks` ran the task list while the access log wrote
 * `/zz/…`, and `/api/health` was a 404. Such a request's URL gets its port written out (`x:80`,
 * or `a:01` for `a:1`): the same URL once parsed, long enough for the router.
 *
 * Without a usable Host (none, as HTTP/1.0 health checks send, or `Host: a/b`) Bun gives a
 * relative URL (`/api/health`), and for some hosts an absolute one the URL parser refuses
 * (`Host: a:b`, `Host: [::1`, `Host: 1.2.3.4.5`). The router then took the path's first segment
 * for the host (`GET /api/health HTTP/1.0` was a 404; `/a/bcdefgh/api/v1/tokens/self` ran
 * /api/v1/tokens/self while the log wrote the whole path), and every `new URL(request.url)` threw
 * (a 500). Such a request's URL gets the origin NO_HOST_ORIGIN (NO_HOST_ORIGIN_TLS over
 * teamday's own TLS) before the path it sent. A Host that is there but no host is then refused
 * (400, src/http/guards.ts); one without Host (HTTP/1.0) is answered.
 *
 * The request keeps everything else. The last origin seen to parse is remembered, so a steady
 * Host costs two indexOf calls and one startsWith, not a parse.
 */
export function shortHostsRouted(fetch: Fetch, noHostOrigin = NO_HOST_ORIGIN): Fetch {
  let parsed = ''
  const parses = (url: string, slash: number): boolean => {
    if (slash === parsed.length - 1 && url.startsWith(parsed)) return true
    // The path and query of an http(s) URL always parse: only the scheme and authority can fail.
    const origin = url.slice(0, slash + 1)
    if (!URL.canParse(origin)) return false
    parsed = origin
    return true
  }
  return (request, server) => {
    let url = request.url
    const slash = pathStart(url)
    // A base URL configured with a trailing slash (`http://host:3000/` + `/api/v1/agents`, as
    // TeamDay's CLI joins them) asks for `//api/v1/agents`: the path meant is the one with a
    // single leading slash (web servers merge such slashes too). One character compared per request.
    if (slash >= 0 && url.charCodeAt(slash + 1) === 47) {
      let end = slash + 1
      while (url.charCodeAt(end) === 47) end++
      url = url.slice(0, slash + 1) + url.slice(end)
      setUrl(request, url)
    }
    if (slash === 0 || (slash > 0 && !parses(url, slash))) setUrl(request, noHostOrigin + url.slice(slash))
    else if (slash > 0 && slash < 11) setUrl(request, routableUrl(url, slash))
    return fetch(request, server)
  }
}

function setUrl(request: Request, url: string): void {
  Object.defineProperty(request, 'url', { value: url, configurable: true })
}

/** `url` with its authority padded to end at index 11 or later, meaning the same (see shortHostsRouted). */
export function routableUrl(url: string, slash: number): string {
  const start = url.indexOf('//') + 2
  const authority = url.slice(start, slash)
  const colon = authority.lastIndexOf(':')
  const missing = 11 - slash
  const padded =
    colon >= 0 && !authority.endsWith(']')
      ? `${authority.slice(0, colon + 1)}${'0'.repeat(missing)}${authority.slice(colon + 1)}`
      : `${authority}:${url.startsWith('https:') ? '443' : '80'}`
  return url.slice(0, start) + padded + url.slice(slash)
}

/**
 * Bodies from this size on are sent as one chunk of a stream when their response was made after
 * the event loop had turned (below). Bun assembles a response in a 16 KiB buffer only while it
 * handles the request's own event; headers included, a body of 14 KiB may not fit.
 */
export const WHOLE_FROM_BYTES = 12 * 1024

/** What a served response may be re-sent as: in-memory JSON, HTML or text (the metrics), never a stream of events or a file. */
const REWRAPPED = /^(application\/json|text\/html|text\/plain)\b/

/**
 * Responses that are ready only after the event loop has turned (every one on PostgreSQL, which
 * awaits the database; on SQLite those that read a request body) go out in one send.
 *
 * Bun writes such a response without corking the socket: with a body from about 15 KiB on, each
 * fragment of the status line and the headers becomes a send(2) of its own, then the body:
 * 63 sends for a 24 KB body with twelve headers, each a TCP segment of a few bytes (a bare
 * Bun.serve that awaits a timer before answering: 2,400 req/s against 20,000 with the fix; the
 * agent list on PostgreSQL for clients that send no Accept-Encoding, docs/performance.md). A
 * body handed over as a stream is written corked: the status line, headers and the one chunk
 * leave in one send(2), the chunked encoding's end in a second. So a JSON, HTML or plain-text
 * body (the metrics) of WHOLE_FROM_BYTES or more, ready after a turn, is re-sent as one chunk of a
 * stream, with the same status and headers (Bun replaces Content-Length with Transfer-Encoding:
 * chunked). Responses ready in the turn that read the request, smaller bodies and everything
 * else (event streams, files) leave as they are.
 *
 * A turn is counted by one setImmediate scheduled by the first request of a turn, not one per
 * request.
 */
let turn = 0
let counting = false
const turned = () => {
  turn++
  counting = false
}
const STARTED = Symbol('teamday.startedTurn')

export function sentWhole(fetch: Fetch): Fetch {
  return (request, server) => {
    const started = turn
    ;(request as { [STARTED]?: number })[STARTED] = started
    const answer = fetch(request, server)
    if (!(answer instanceof Promise)) return answer
    if (!counting) {
      counting = true
      setImmediate(turned)
    }
    return answer.then((res) => (turn === started || request.method === 'HEAD' ? res : whole(res)))
  }
}

/**
 * The response for `request` of `bytes` (held, never changed afterwards) with `headers`, made as
 * whole() would send it when the request's turn has passed (a GET served by sentWhole, after an
 * await: every list on PostgreSQL), so that no Response from a Blob is made only to be made again;
 * null when Bun can send a Blob's Response as it is (same turn, a small body, HEAD).
 */
export function wholeNow(request: Request, bytes: Uint8Array, headers: Record<string, string>, kept?: KeptHeaders): Response | null {
  const started = (request as { [STARTED]?: number })[STARTED]
  if (started === undefined || started === turn || bytes.byteLength < WHOLE_FROM_BYTES || request.method !== 'GET') return null
  return sentAsItComes(noteSentBytes(new Response(oneChunk(bytes), { headers: kept ? kept.of(headers) : headers }), bytes.byteLength))
}

const SENT_BYTES = Symbol('teamday.sentBytes')

/**
 * Records the size of `res`'s body where the code that made it knows it (the cached lists, the
 * compressing adapter's JSON), so that a response after a turn is not read only to learn that it
 * is small: reading and re-wrapping a 1.7 KB compressed agent list cost it about 15 % of its
 * rate in one interleaved run on PostgreSQL.
 */
export function noteSentBytes<R extends Response>(res: R, bytes: number): R {
  ;(res as { [SENT_BYTES]?: number })[SENT_BYTES] = bytes
  return res
}

const SENT_BODY = Symbol('teamday.sentBody')

/**
 * noteSentBytes with the body's bytes themselves, for a producer that holds them already (the
 * cached agent list): a response after a turn is then re-sent from them, without reading its
 * body back (`blob()` then `bytes()`, a copy and two awaits each time; the cached list on
 * PostgreSQL paid them on every request). The bytes must not change afterwards: they may go out
 * in several responses at once.
 */
export function noteSentBody<R extends Response>(res: R, body: Uint8Array): R {
  ;(res as { [SENT_BODY]?: Uint8Array })[SENT_BODY] = body
  return noteSentBytes(res, body.byteLength)
}

const AS_IT_COMES = Symbol('teamday.asItComes')

type AsItComes = Response & { [AS_IT_COMES]?: true }

/** A response whose body is made while it is sent (a large list page, streamed): whole() leaves it alone. */
export function sentAsItComes<R extends Response>(res: R): R {
  ;(res as AsItComes)[AS_IT_COMES] = true
  return res
}

/** `made`, marked as `from` was (sentAsItComes): Elysia answers a Response with headers set as a new one. */
export function asItCameFrom(from: Response, made: unknown): void {
  if ((from as AsItComes)[AS_IT_COMES] && made instanceof Response) sentAsItComes(made)
}

async function whole(res: Response): Promise<Response> {
  if ((res as AsItComes)[AS_IT_COMES]) return res
  const known = (res as { [SENT_BYTES]?: number })[SENT_BYTES]
  if (known !== undefined && known < WHOLE_FROM_BYTES) return res
  if (res.bodyUsed || NO_BODY.has(res.status) || !REWRAPPED.test(res.headers.get('content-type') ?? '')) return res
  const init = { status: res.status, statusText: res.statusText, headers: res.headers }
  const noted = (res as { [SENT_BODY]?: Uint8Array })[SENT_BODY]
  if (noted !== undefined) return new Response(oneChunk(noted), init)
  const blob = await res.blob()
  if (blob.size < WHOLE_FROM_BYTES) return new Response(blob, init)
  return new Response(oneChunk(await blob.bytes()), init)
}

/**
 * `bytes` as a stream of one chunk, which Bun writes corked with the status line and headers. A
 * direct stream (Bun's `type: 'direct'`: the bytes written to the response as they are handed
 * over, no queue of chunks): 31 against 35 µs of CPU a response for a default stream with one
 * enqueued chunk, in a bare server answering 24.6 KB after a turn.
 */
function oneChunk(bytes: Uint8Array): ReadableStream<Uint8Array> {
  return new ReadableStream({
    type: 'direct',
    pull(c) {
      c.write(bytes)
      c.end()
    },
  }) as ReadableStream<Uint8Array>
}

/** Statuses that carry no body (RFC 9110). */
const NO_BODY = new Set([101, 204, 205, 304])
