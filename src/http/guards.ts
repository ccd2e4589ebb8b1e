import type { Config } from '../config'
import { AppError } from '../errors'
import { firstUndecodablePair, pathStart } from './url-path'
import { newId } from '../ids'
import { abortedBody } from './body'
import { withoutSecrets } from '../auth/tokens'
import { PERCENT_ENCODING_RULE } from '../modules/shared-models'
import { clipped, cutText } from '../text'
import { bodyChunkKept } from './incoming-bodies'
import { bodyArrived } from './listen'
import { validHost } from './host'

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/
/** Longest URL (path and query) answered: longer ones get 414 (see "Request limits" in the README). */
export const MAX_URL_BYTES = 8 * 1024
const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH'])

/**
 * `localhost` (and its subdomains), 127.0.0.0/8, [::1]: a browser's own machine. A trailing dot
 * is the same name to a browser (`localhost.`), which records HSTS without it.
 */
function loopbackHostname(hostname: string): boolean {
  const name = (hostname.endsWith('.') ? hostname.slice(0, -1) : hostname).toLowerCase()
  return name === 'localhost' || name.endsWith('.localhost') || name === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name)
}

/** The name part of a Host header (`[v6]` kept whole; the port dropped). */
function hostName(host: string): string {
  if (host.startsWith('[')) return host.slice(0, host.indexOf(']') + 1)
  const colon = host.indexOf(':')
  return colon < 0 ? host : host.slice(0, colon)
}

/**
 * Strict-Transport-Security, only where the site is HTTPS for good: teamday serves TLS itself
 * (every answer of its listener goes out encrypted), or the request is addressed to the host of
 * an https TEAMDAY_PUBLIC_URL (a proxy terminates TLS there). Never to a loopback name: a
 * browser that remembered it for localhost refused every other local server's plain HTTP. A
 * request addressed to another name (the server's IP at its port, over plain HTTP) gets none.
 * No URL is parsed per request: the public host is compared as the Host header says it.
 */
export function strictTransport(config: Pick<Config, 'hstsMaxAge' | 'tlsCert' | 'publicUrl'>): { value: string; sentTo(request: Request): boolean } | null {
  if (config.hstsMaxAge === null) return null
  const tls = config.tlsCert !== undefined
  const publicUrl = config.publicUrl?.startsWith('https:') ? new URL(config.publicUrl) : null
  const publicHost = publicUrl === null || loopbackHostname(publicUrl.hostname) ? null : publicUrl.host.toLowerCase()
  if (!tls && publicHost === null) return null
  return {
    value: `max-age=${config.hstsMaxAge}`,
    sentTo(request) {
      const header = request.headers.get('host')
      if (header === null || header === '') return false
      const host = header.toLowerCase()
      if (host === publicHost) return true
      return tls && !loopbackHostname(hostName(host))
    },
  }
}

type Context = { request: Request; set: { headers: Record<string, string | number> } }

/**
 * First thing on every request: its id (the client's X-Request-Id when well-formed), headers
 * every answer carries, and the limits that need no parsing (URL length, declared body size).
 */
export function requestGuards(config: Pick<Config, 'maxBodyBytes' | 'hstsMaxAge' | 'tlsCert' | 'publicUrl'>, drain: { closing: boolean; superseded?: string } = { closing: false }) {
  const hsts = strictTransport(config)
  // The last Host found valid (null before the first: an empty Host is no host, and was let
  // through while this began as '').
  let validSeen: string | null = null
  const tooLarge = () => new AppError('payload_too_large', `Request body too large: the limit is ${config.maxBodyBytes} bytes (1 MiB).`)
  return {
    /** The headers every answer carries, refusals included. */
    head({ request, set }: Context): void {
      const incoming = request.headers.get('x-request-id')
      // A token sent as the id (pasted into the wrong header), with its prefix or without, is not
      // kept: the id is echoed in the response and written to the log and to audit events, where a
      // token's plaintext never goes.
      set.headers['x-request-id'] = incoming && REQUEST_ID.test(incoming) && withoutSecrets(incoming) === incoming ? incoming : newId('req')
      set.headers['x-content-type-options'] = 'nosniff'
      if (hsts !== null && hsts.sentTo(request)) set.headers['strict-transport-security'] = hsts.value
      // API answers hold tokens and private data: never stored by a cache on the way.
      if (request.url.includes('/api/')) set.headers['cache-control'] = 'no-store'
      // A graceful stop's first moments: each kept-alive connection closes after this answer, so
      // that none is idle (and closed under a request just sent on it) when the listener stops.
      if (drain.closing) set.headers.connection = 'close'
    },
    /**
     * The limits that need no parsing. After CORS (app.ts): a page on an allowed origin gets its
     * 413 or 414 with the CORS headers, so it can read it instead of seeing a network error.
     */
    limits({ request }: Context): void {
      // A newer teamday migrated the database while this instance served (Runtime.checkSchema):
      // every request but liveness is refused, readiness included (by its own route, which logs
      // it), so a load balancer takes it out of rotation; it neither misreads what the newer
      // version writes nor writes what that version cannot read.
      if (drain.superseded !== undefined && !answeredWhenSuperseded(request.url)) throw new AppError('service_unavailable', drain.superseded)
      // A Host that is not `host[:port]` (a path, a user, two Host headers, an empty one): 400, as
      // RFC 9112 §3.2 and nginx have it. Taken as it was, it went into the console's links (its
      // set-up and token pages: `http://a b/c/…`), and the CLI sign-in URL and Swagger's servers
      // named `http://localhost` (port 80) instead. A request without Host (HTTP/1.0, HAProxy's
      // health check) is answered as before.
      // The last Host found valid is remembered: a steady Host costs one comparison.
      const host = request.headers.get('host')
      if (host !== null && host !== validSeen) {
        if (!validHost(host)) throw new AppError('bad_request', 'Bad request: the Host header must be a host name or IP address with an optional port (host[:port]), sent once.')
        validSeen = host
      }
      // Bun itself answers an empty 431 past its header limit (raised to 128 KiB, see package.json).
      // The path and query only: the scheme and the Host header are not the client's request target.
      if (request.url.length - pathStart(request.url) > MAX_URL_BYTES) throw new AppError('uri_too_long', `URL too long: the limit is ${MAX_URL_BYTES} bytes (8 KiB) for the path and query.`)
      if (request.url.includes('%00')) nulInUrl(request.url)
      const query = request.url.indexOf('?')
      if (query >= 0 && request.url.indexOf('%', query) >= 0) badQueryEscapes(request.url.slice(query + 1))
      const length = request.headers.get('content-length')
      if (length !== null && Number(length) > config.maxBodyBytes) throw tooLarge()
    },
    /**
     * A body that declares no Content-Length (chunked, or a Request built in-process) is counted
     * on a copy, stopping at the limit, so it is rejected before anything parses it. Bun.serve's
     * maxRequestBodySize guards the socket as well; this keeps app.handle() to the same rule.
     * Called by the body parser once the request is authenticated (app.ts), never before: an
     * unauthenticated request's body is never read.
     */
    async undeclaredBody({ request }: Pick<Context, 'request'>): Promise<void> {
      if (!BODY_METHODS.has(request.method) || request.headers.has('content-length') || request.body === null) return
      if (await bodyExceeds(request, config.maxBodyBytes)) throw tooLarge()
    },
  }
}

/**
 * What an instance turned away by a newer teamday's migrations still answers: liveness (it is
 * alive), and the proof a `serve --reuse-port` start asks of the port's holder (same database?):
 * that start is the newer version's, on this one's port (SQLite's rolling restart), which it
 * refused as "another database" when the proof was a 503. Readiness answers its own 503 (its
 * route, src/modules/system/index.ts): it logs its not-ready states (`not_ready`, once per state),
 * which this one was the only one refused here without a line.
 */
function answeredWhenSuperseded(url: string): boolean {
  const q = url.indexOf('?')
  const path = q < 0 ? url.slice(pathStart(url)) : url.slice(pathStart(url), q)
  return path === '/api/health' || path === '/api/health/database-proof' || path === '/api/health/ready'
}

/**
 * A URL with the NUL character (%00) is refused before anything reads it: PostgreSQL's text
 * cannot hold it, so no id or slug has one (404), and no filter may ask for one (422, naming
 * the query parameter). The same answer on SQLite.
 */
function nulInUrl(url: string): never {
  const q = url.indexOf('?')
  const path = q < 0 ? url : url.slice(0, q)
  if (path.includes('%00')) throw new AppError('not_found', 'Not found: no id or slug contains the NUL character (%00).')
  const names = [...new URLSearchParams(url.slice(q + 1))].filter(([, v]) => v.includes('\0')).map(([k]) => cutText(k, 100))
  const message = 'must not contain the NUL character (%00)'
  throw new AppError('validation_failed', `Validation failed: ${names.length > 0 ? names.join(', ') : 'a query parameter name'} ${message}`, {
    details: (names.length > 0 ? names : ['query']).map((field) => ({ field, message })),
  })
}

/**
 * A query parameter (its name or value) that is not valid percent-encoding (`%ZZ`, `50%`, a cut
 * UTF-8 sequence such as `%ED%A0%80`) is refused (422 naming it), as in a path or a form: it was
 * taken as the literal text, so `?assignedTo=a%ZZ` filtered for "a%ZZ" and a search for `%ED%A0%80`
 * ran. Any route, as the NUL rule above.
 */
function badQueryEscapes(query: string): void {
  const hash = query.indexOf('#')
  const bad = firstUndecodablePair(hash >= 0 ? query.slice(0, hash) : query)
  if (bad === null) return
  const decoded = bad.decodedName
  // A name that does not decode, or none (`?=%ZZ`): said of the query.
  const named = decoded !== null && decoded !== ''
  const field = !named ? 'query' : clipped(decoded, 100, '…')
  const message = PERCENT_ENCODING_RULE(named ? field : decoded === null ? 'a query parameter name' : 'a query parameter without a name')
  throw new AppError('validation_failed', `Validation failed: ${message}`, { details: [{ field, message }] })
}

async function bodyExceeds(request: Request, limit: number): Promise<boolean> {
  const reader = request.clone().body?.getReader()
  if (!reader) return false
  let total = 0
  for (;;) {
    let read: Awaited<ReturnType<typeof reader.read>>
    try {
      read = await reader.read()
    } catch (e) {
      throw abortedBody(e)
    }
    const { done, value } = read
    if (done) return false
    // The clone's other branch keeps what this one reads until the parser takes it.
    bodyChunkKept(request, value.byteLength, reader)
    bodyArrived(request)
    total += value.byteLength
    if (total > limit) {
      // Not awaited: a tee branch's cancel settles only when the other branch is cancelled too.
      reader.cancel().catch(() => {})
      return true
    }
  }
}
