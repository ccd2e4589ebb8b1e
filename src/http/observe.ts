import { Elysia } from 'elysia'
import { withoutSecrets } from '../auth/tokens'
import type { Principal } from '../auth/principal'
import type { Logger } from '../logger'
import type { Metrics } from '../metrics/recorder'
import { pathStart } from './url-path'
import { idPattern } from '../ids'

/**
 * Routes whose query strings are never written down, whatever they hold (sign-in and set-up
 * flows), also asked for in another case or after more slashes (the 404s that still carry a secret).
 */
const SENSITIVE_ROUTES = /^\/+(api\/+auth|setup)(\/|$)/i
/** Query parameters whose values are secrets by their name. */
const SECRET_PARAM = /token|secret|passw|key|code|auth|signature|session|credential|cookie/i
/** `sig` as a word of a parameter's name (sig, url_sig, apiSig, API_SIG, sigV4), not inside a word (assignedTo, design). */
const SIG_WORD = /(^|[^A-Za-z])(sig|Sig|SIG)([^a-z]|$)|[a-z0-9](Sig|SIG)([^a-z]|$)/
const secretName = (name: string) => SECRET_PARAM.test(name) || SIG_WORD.test(name)
/** A value that looks like a credential: long, one word of token characters, letters and digits mixed. */
const CREDENTIAL_LIKE = /^(?=.*[0-9])(?=.*[A-Za-z])[A-Za-z0-9_\-.~+/=]{20,}$/
const REDACTED = '[redacted]'
/**
 * An id of an object the API names in its query filters (src/ids.ts: `space_`, `char_`, `user_`…
 * and 20 base62 characters): credential-like by its shape, but no secret, and what an operator
 * reading the log needs to see (`?spaceId=space_…`). Ids of sessions, links and secrets are not
 * among them: they stay redacted like any long value.
 */
const SHOWN_ID = idPattern(['org', 'user', 'mem', 'pat', 'req', 'char', 'space', 'task', 'exec', 'evt', 'inst'])
const credentialLike = (v: string) => v.length >= 20 && CREDENTIAL_LIKE.test(v) && !SHOWN_ID.test(v)
/**
 * `/setup/<secret>` and `/set-password/<secret>`: the secret is never written down. The segment
 * after either, in any case and after any run of slashes, anywhere in the path: `//set-password/…`,
 * `/set-password//…` or `/SETUP/…` are 404s, but the secret they carry still opens the real link.
 */
const ONE_TIME_LINK = /(\/(?:setup|set-password)\/+)[^/]+/gi
/** A run of percent-escapes, decoded together (a UTF-8 character takes several). */
const ESCAPES = /(?:%[0-9A-Fa-f]{2})+/g
/** One percent-escape of an ASCII character. */
const ASCII_ESCAPE = /%[0-7][0-9A-Fa-f]/g

/**
 * `s` percent-decoded (`+` as a space). When some escape is malformed (`%ZZ`, a cut UTF-8
 * sequence), decodeURIComponent refuses the whole string: then every run of escapes that decodes
 * is decoded, and in one that does not, its ASCII escapes, so a token written `td%5F…` next to a
 * `%ZZ` still shows as one (and is redacted).
 */
function decode(s: string): string {
  if (!s.includes('%') && !s.includes('+')) return s
  const spaced = s.replace(/\+/g, ' ')
  try {
    return decodeURIComponent(spaced)
  } catch {
    return spaced.replace(ESCAPES, decodeRun)
  }
}

function decodeRun(run: string): string {
  try {
    return decodeURIComponent(run)
  } catch {
    return run.replace(ASCII_ESCAPE, (e) => String.fromCharCode(Number.parseInt(e.slice(1), 16)))
  }
}

/**
 * The path and query of a request URL as the log may hold them: a token anywhere in the path is
 * redacted (also when percent-encoded); the query string of sensitive routes is dropped; any
 * other query value is redacted when its name says secret or it looks like a credential.
 */
export function loggedTarget(url: string): string {
  const start = pathStart(url)
  if (start < 0) return '/'
  const path = loggedPath(url)
  const q = url.indexOf('?', start)
  if (q < 0 || q === url.length - 1) return path
  if (SENSITIVE_ROUTES.test(path)) return path
  const params = url.slice(q + 1).split('&').map((pair) => {
    const eq = pair.indexOf('=')
    // A name is read like a value (decoded): a secret sent as a name (`?td%5F…=1`) is no name.
    const name = decode(eq < 0 ? pair : pair.slice(0, eq))
    if (credentialLike(name) || withoutSecrets(name) !== name) return REDACTED
    if (eq < 0) return pair
    const value = decode(pair.slice(eq + 1))
    if (secretName(name) || credentialLike(value) || withoutSecrets(value) !== value) return `${pair.slice(0, eq)}=${REDACTED}`
    return pair
  })
  return withoutSecrets(`${path}?${params.join('&')}`)
}

/** The path of a request URL without its query, as loggedTarget writes it (an error message may quote it). */
export function loggedPath(url: string): string {
  const start = pathStart(url)
  if (start < 0) return '/'
  const q = url.indexOf('?', start)
  return shownPath(q < 0 ? url.slice(start) : url.slice(start, q))
}

/**
 * A token anywhere in the path redacted, and the one-time links' secrets; also when
 * percent-encoded (the path is shown decoded when that reveals either).
 */
function shownPath(raw: string): string {
  let path = raw
  if (path.includes('%')) {
    const decoded = decode(path)
    if (withoutSecrets(decoded) !== decoded || withoutLinkSecrets(decoded) !== decoded) path = decoded
  }
  return withoutLinkSecrets(withoutSecrets(path))
}

/** The console's one-time links carry their secret in the path (src/modules/users/links.ts). */
function withoutLinkSecrets(path: string): string {
  return path.replace(ONE_TIME_LINK, `$1${REDACTED}`)
}

const BODY_SIZE = Symbol('teamday.bodySize')

/** A handler that builds its own Response of known bytes (a cached Blob) says its size here, for the access log. */
export function noteBodySize(response: Response, bytes: number): Response {
  ;(response as { [BODY_SIZE]?: number })[BODY_SIZE] = bytes
  return response
}

/** Bytes of a response body, when known without reading it. */
function bodyBytes(value: unknown): number | null {
  if (typeof value === 'string') return Buffer.byteLength(value)
  if (value instanceof Response) {
    const declared = (value as { [BODY_SIZE]?: number })[BODY_SIZE]
    if (declared !== undefined) return declared
    const length = value.headers.get('content-length')
    if (length !== null) return Number(length)
    // No body at all (a 204, a redirect made without one): nothing was sent.
    return value.body === null ? 0 : null
  }
  if (value === undefined || value === null) return 0
  return null
}

export interface ObserveOptions {
  log: Logger
  metrics: Metrics
  clientAddress: (request: Request) => string | null
  /** The principal a request authenticated as, if it did (src/auth/plugin.ts). */
  principalOf: (request: Request) => Principal | undefined
}

/**
 * The access log and the request metrics: a start time when a request arrives, then one line
 * and one observation after its answer was sent, whatever answered it (a route, onError, a
 * 404). Registered first in app.ts, so every other hook runs inside the measured time.
 */
/** What observe notes on a request while it is answered: one object, no WeakMaps (cheaper under load). */
interface Observed {
  t0: number
  ip: string | null
  id: string | undefined
  bytes: number | undefined
  /** A body sent as it is produced (bodyMeter): its bytes so far, and the access line once it ends. */
  stream?: Streamed
  /** The server's log, for a body that ends early (bodyMeter's end). */
  log: Logger
}
interface Streamed {
  bytes: number
  ended: boolean
  /** The access line, written when the body ends (set when the answer went out before that). */
  write?: () => void
}
const OBSERVED = Symbol('teamday.observed')
type Noted = Request & { [OBSERVED]?: Observed }

/** A value Elysia sends as JSON: a plain object or an array. */
export function plainJson(value: unknown): boolean {
  if (value === null || typeof value !== 'object') return false
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === Array.prototype
}

/**
 * The size of the JSON a request is answered with, told by the one place that serializes it (the
 * compressing adapter, src/http/compression.ts), so that the access log need not serialize the
 * value a second time to count its bytes.
 */
export function noteJsonBytes(request: Request, bytes: number): void {
  const noted = (request as Noted)[OBSERVED]
  if (noted !== undefined) noted.bytes = bytes
}

/** What a body sent as it is produced tells the access log (bodyMeter). */
export interface BodyMeter {
  /** `bytes` more were handed to the server. */
  sent(bytes: number): void
  /**
   * The body ended, however it did (complete, failed, the client gone); again: nothing. `failed`:
   * the server ended it early, and why (no secret in it: it is written to the log as
   * `answer_ended_early`, whether or not the access log is on).
   */
  end(failed?: string): void
}

const NO_METER: BodyMeter = { sent() {}, end() {} }

/**
 * For a Response whose body is produced as it is sent (an execution's Server-Sent Events, a
 * large list page: src/http/streamed-json.ts): its maker counts the bytes of each chunk it hands
 * over, and says when the body ended. The request's access line then waits for that end, and
 * logs the bytes counted and the time until then; a body that ends before the answer goes out
 * is logged at once. Made when the Response is (a route that fails before is logged as usual).
 */
export function bodyMeter(request: Request): BodyMeter {
  const noted = (request as Noted)[OBSERVED]
  if (noted === undefined) return NO_METER
  const stream: Streamed = { bytes: 0, ended: false }
  noted.stream = stream
  return {
    sent(bytes) {
      stream.bytes += bytes
    },
    end(failed) {
      if (stream.ended) return
      stream.ended = true
      if (failed !== undefined) {
        noted.log.warn('answer_ended_early', { requestId: noted.id ?? null, method: request.method, path: loggedTarget(request.url), bytes: stream.bytes, reason: failed })
      }
      stream.write?.()
    },
  }
}

/** Requests this process has begun and not yet logged (every app's: the API's and the metrics listener's). */
let unlogged = 0
/** When a request's line was last written. */
let lastLogged = 0

/**
 * Resolves once every request begun has had its access-log line written (a request's line is
 * written after its answer is sent, a moment after the server counted it as done), or no line
 * came for 100 ms (a request whose client went away mid-way may never have its line), or after
 * `ms`: a graceful stop waits for it before its last flush, so that the line of a request
 * answered during the stop is not lost.
 */
export async function requestsLogged(ms: number): Promise<void> {
  const start = performance.now()
  for (;;) {
    const now = performance.now()
    if (unlogged === 0 || now - start >= ms || (now - start >= 100 && now - lastLogged >= 100)) return
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

export function observe({ log, metrics, clientAddress, principalOf }: ObserveOptions) {
  const logging = log.accessEnabled
  const plugin = new Elysia({ name: 'teamday-observe' })
    .onRequest(({ request }) => {
      unlogged++
      // The client address while the connection is there to ask (after the answer it may be gone).
      ;(request as Noted)[OBSERVED] = { t0: performance.now(), ip: logging ? clientAddress(request) : null, id: undefined, bytes: undefined, log }
    })
    // A route's JSON body has its size told by the adapter that serializes it (noteJsonBytes,
    // from src/http/compression.ts), a Response by its maker (noteBodySize) or its length: on a
    // route's answer this hook returns nothing (the next hook runs). On the error path it returns
    // the value it was given (Elysia's unmatched-route path sends whatever the hook returns,
    // mapped without the adapter's JSON step), after measuring it when it is JSON.
    .mapResponse({ as: 'global' }, (c) => {
      if ((c as { code?: unknown }).code === undefined) return undefined
      const value = (c as { responseValue?: unknown }).responseValue
      if (logging && plainJson(value)) noteJsonBytes(c.request, Buffer.byteLength(JSON.stringify(value)))
      return value as Response
    })
    // The context's parts named, never the context itself: Elysia reads each hook's source to
    // learn what a route's context needs (its "sucrose" inference), and a context handed whole to
    // a function counts as needing everything: every route then parsed the Cookie header (and
    // answered a cached Response by copying it into a new one), built an object of all request
    // headers, and defined a `server` getter, on every request.
    .onAfterResponse({ as: 'global' }, ({ request, set, responseValue, route }) => answered({ request, set, responseValue, route }))
  /**
   * A request's metrics and access line, once its answer is out. `route`: the route that answered
   * (none for a 404 or an answer given before routing).
   */
  function answered(c: { request: Request; set: { headers: Record<string, string | number>; status?: number | string }; responseValue?: unknown; route?: string }): void {
    const { request, set } = c
    const value = c.responseValue
    const noted = (request as Noted)[OBSERVED]
    const ms = noted === undefined ? 0 : performance.now() - noted.t0
    const status = value instanceof Response ? value.status : typeof set.status === 'number' ? set.status : 200
    const route = c.route || 'unmatched'
    metrics.request(request.method, route, status, ms / 1000)
    if (!logging) {
      unlogged = Math.max(0, unlogged - 1)
      lastLogged = performance.now()
      return
    }
    const principal = principalOf(request)
    const requestId = noted?.id ?? set.headers['x-request-id'] ?? (value instanceof Response ? value.headers.get('x-request-id') : null)
    const line = {
      requestId: requestId === null || requestId === undefined ? null : String(requestId),
      method: request.method,
      path: loggedTarget(request.url),
      status,
      durationMs: Math.round(ms * 100) / 100,
      // HEAD: the answer's headers alone go out (Bun drops the body), so no body was sent.
      bytes: request.method === 'HEAD' ? 0 : (noted?.bytes ?? bodyBytes(value)),
      tokenId: principal?.tokenId,
      organizationId: principal?.organizationId,
      ip: noted?.ip ?? null,
    }
    // A body sent as it is produced (bodyMeter) is logged once it ended, with its bytes and the
    // time until then (the metrics take the time to the answer, as for every request). HEAD
    // sends no body: logged now.
    const stream = value instanceof Response && request.method !== 'HEAD' ? noted?.stream : undefined
    if (stream === undefined) return written(line)
    const ended = () => {
      line.bytes = stream.bytes
      line.durationMs = Math.round((performance.now() - noted!.t0) * 100) / 100
      written(line)
    }
    if (stream.ended) ended()
    else stream.write = ended
  }
  /** Writes a request's access line. */
  function written(line: Parameters<Logger['access']>[0]): void {
    unlogged = Math.max(0, unlogged - 1)
    lastLogged = performance.now()
    log.access(line)
  }
  return {
    plugin,
    /**
     * For an onRequest hook that answers itself (a CORS preflight): Elysia runs no later hook for
     * such an answer, this one's afterResponse included, so the hook reports it here (metrics and
     * access line, after the event loop turns, as for other answers).
     */
    answeredEarly(request: Request, set: { headers: Record<string, string | number> }, response: Response): void {
      setImmediate(() => answered({ request, set, responseValue: response }))
    },
    /** An onRequest hook for right after the request guards: notes the request id they set. */
    noteRequestId({ request, set }: { request: Request; set: { headers: Record<string, string | number> } }): void {
      const noted = (request as Noted)[OBSERVED]
      if (!logging || noted === undefined) return
      const id = set.headers['x-request-id']
      if (id !== undefined) noted.id = String(id)
    },
  }
}
