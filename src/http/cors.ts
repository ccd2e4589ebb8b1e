import { Elysia } from 'elysia'
import type { Config } from '../config'
import { pathStart } from './url-path'

/** What a page may send: the token, a JSON body, the retry key, its own request id. */
const ALLOW_HEADERS = 'authorization, content-type, idempotency-key, x-request-id'
const ALLOW_METHODS = 'GET, POST, PUT, PATCH, DELETE'
/** What a page may read beyond the CORS-safelisted headers: paging, limits, ids, where a created resource is, expiry, errors. */
const EXPOSE_HEADERS = [
  'x-request-id',
  'link',
  'x-next-cursor',
  'x-total-count',
  'x-total-count-estimate',
  'x-ratelimit-limit',
  'x-ratelimit-remaining',
  'x-ratelimit-reset',
  'ratelimit',
  'ratelimit-policy',
  'retry-after',
  'teamday-token-expiration',
  'idempotency-status',
  'x-execution-id',
  // Where a 201's resource (or an async execute's 202's execution) is read: not safelisted, so
  // a page on another origin saw it as null.
  'location',
  'www-authenticate',
  'allow',
].join(', ')
/** How long a browser may reuse a preflight's answer (Chromium caps it at two hours). */
const PREFLIGHT_MAX_AGE_S = 600

type Context = { request: Request; set: { headers: Record<string, string | number> } }

/**
 * CORS for web pages on other origins (TEAMDAY_CORS_ORIGINS; off by default), as an onRequest
 * hook: no routes of its own. Only `/api/` answers carry it: the console (cookies, forms) and the
 * docs never do. No credentials mode: a page sends `Authorization: Bearer td_…` itself, so a
 * browser never attaches cookies to these requests. A preflight (OPTIONS with
 * Access-Control-Request-Method) from an allowed origin is answered 204 before authentication,
 * as browsers send it without the token; from another origin it gets what it got before.
 */
export function cors(config: Pick<Config, 'corsOrigins'>, answeredEarly: (request: Request, set: Context['set'], response: Response) => void = () => {}) {
  const plugin = new Elysia({ name: 'teamday-cors' })
  const hook = corsHook(config, answeredEarly)
  // Off: no hook at all, nothing to pay per request.
  return hook ? plugin.onRequest(hook) : plugin
}

function corsHook(config: Pick<Config, 'corsOrigins'>, answeredEarly: (request: Request, set: Context['set'], response: Response) => void): ((c: Context) => Response | undefined) | null {
  if (config.corsOrigins.length === 0) return null
  const any = config.corsOrigins[0] === '*'
  const allowed = new Set(config.corsOrigins)
  return ({ request, set }) => {
    const origin = request.headers.get('origin')
    if (origin === null || !(any || allowed.has(origin))) return
    const url = request.url
    const path = pathStart(url)
    if (path < 0 || !url.startsWith('/api/', path)) return
    const allowOrigin = any ? '*' : origin
    if (request.method === 'OPTIONS' && request.headers.has('access-control-request-method')) {
      const headers: Record<string, string> = {
        'access-control-allow-origin': allowOrigin,
        'access-control-allow-methods': ALLOW_METHODS,
        'access-control-allow-headers': ALLOW_HEADERS,
        'access-control-max-age': String(PREFLIGHT_MAX_AGE_S),
      }
      const id = set.headers['x-request-id']
      if (id !== undefined) headers['x-request-id'] = String(id)
      if (!any) headers.vary = 'origin'
      const response = new Response(null, { status: 204, headers })
      // Answered before routing: no afterResponse hook runs, so its access line is written from here.
      answeredEarly(request, set, response)
      return response
    }
    set.headers['access-control-allow-origin'] = allowOrigin
    set.headers['access-control-expose-headers'] = EXPOSE_HEADERS
  }
}
