import type { Ctx, Services } from '../context'
import { contextOf } from '../context'
import { requestWorkStarted } from '../db/request-writes'
import type { Origin } from '../actor'
import type { Engine } from '../engine/runner'
import { forwardedAddresses, isLocalNetwork, isLoopback } from '../http/client-address'
import { userAgentOf } from '../http/context'
import { htmlResponse } from '../http/compression'
import { AppError } from '../errors'
import { holdsSecret } from '../auth/tokens'
import { resolveSession, sessionContext, SESSION_MAX_MS, type SignedIn } from './session'
import { browserBase } from '../http/host'
import { basePathOf } from '../http/base-path'

/**
 * The console's HTTP rules, in one place: the session cookie, the transport check, CSRF (Go
 * 1.25's CrossOriginProtection), the security headers every page carries, and the stable API
 * other console pages build on (`signedIn`, `toSignIn`, `safeNext`).
 */

export const COOKIE = 'teamday_session'
/** Over HTTPS the cookie is `__Host-` prefixed: Secure, Path=/, no Domain (browsers enforce it). */
export const SECURE_COOKIE = `__Host-${COOKIE}`

export const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  // A page of another site this one opens (or that opens it) gets no handle on its window.
  'cross-origin-opener-policy': 'same-origin',
}

type Set = { headers: Record<string, string | number>; status?: number | string }

export interface ConsoleDeps {
  services: Services
  /** The execution engine: the agents' chat page starts turns through the same service as the API's execute. */
  engine: Engine
  clientAddress: (request: Request) => string | null
  isHttps: (request: Request) => boolean
}

function readCookie(request: Request, name: string): string | null {
  const header = request.headers.get('cookie')
  if (!header) return null
  for (const part of header.split(';')) {
    const eq = part.indexOf('=')
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim()
  }
  return null
}

/**
 * Headers a proxy adds to what it forwards (RFC 7239's, HTTP's Via, and the de-facto ones): any
 * one of them on a request from loopback says a proxy forwarded it. nginx set up with only
 * `proxy_set_header X-Real-IP`, a common configuration, sends none of the X-Forwarded-* ones.
 */
const FORWARDING_HEADERS = ['forwarded', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-port', 'x-forwarded-server', 'x-real-ip', 'via', 'true-client-ip', 'cf-connecting-ip']

/** `localhost`, 127.0.0.0/8, [::1]: names a browser connects to on its own machine. */
function loopbackName(hostname: string): boolean {
  const name = hostname.toLowerCase()
  return name === 'localhost' || isLoopback(name.startsWith('[') && name.endsWith(']') ? name.slice(1, -1) : name)
}

/** The port of an http:// URL on a loopback name ("80" when it names none), else null. */
export function loopbackHttpPort(url: string): string | null {
  const u = new URL(url)
  return u.protocol === 'http:' && loopbackName(u.hostname) ? u.port || '80' : null
}

/** Whether the request's Host (as the browser sent it, a proxy passing it on) is a loopback name at `port`. */
function addressedToLoopback(request: Request, port: string): boolean {
  const host = request.headers.get('host')
  if (host === null) return false
  try {
    const u = new URL(`http://${host}`)
    return u.host.toLowerCase() === host.toLowerCase() && loopbackName(u.hostname) && (u.port || '80') === port
  } catch {
    return false
  }
}

/**
 * Whether everything known of where a request comes from is this machine or its own network: the
 * client address (the socket's peer, or what trusted proxies said), and each address a forwarding
 * header names. A request that went through a proxy (any forwarding header) must name at least
 * one address, all of them local: nginx on this host with `proxy_pass http://localhost:8080`
 * passes the Host a loopback public URL expects, and a remote browser behind it is refused by
 * the address it forwards (X-Forwarded-For, X-Real-IP), or for forwarding none (only Via, or
 * X-Forwarded-Proto).
 */
function fromLocalNetwork(request: Request, client: string | null): boolean {
  if (!isLocalNetwork(client)) return false
  const forwarded = forwardedAddresses(request)
  if (forwarded.length === 0) return !FORWARDING_HEADERS.some((h) => request.headers.has(h))
  return forwarded.every((a) => isLocalNetwork(a))
}

/** The CLI sign-in's approval page (src/console/routes/cli.tsx): its path is its login code. */
const CLI_APPROVAL_PAGE = /^\/cli\/authorize\/tdc_[A-Za-z0-9]{43}$/

/**
 * A same-origin relative path to return to after sign-in, or null: one leading slash, no
 * scheme, no `//` or `/\` (protocol-relative) before or after dot segments are resolved, no
 * control characters, no secret but the CLI approval page's login code; at most 512 characters.
 * `base`: the public URL's sub-path (`/teamday`, src/http/base-path.ts): a path that starts with
 * it (copied from the address bar) is taken without it, once, and then checked as any other, as
 * every Location gets the prefix on the way out: it went to `/teamday/teamday/…`.
 */
export function safeNext(given: unknown, base = ''): string | null {
  if (typeof given !== 'string' || given.length === 0 || given.length > 512) return null
  let next = given
  if (base !== '' && next.startsWith(base)) {
    const rest = next.slice(base.length)
    if (rest === '' || rest.startsWith('?')) next = '/' + rest
    else if (rest.startsWith('/')) next = rest
  }
  if (!next.startsWith('/') || next.startsWith('//') || next.startsWith('/\\') || /[\u0000-\u001f\u007f\\]/.test(next)) return null
  try {
    const u = new URL(next, 'http://console.invalid')
    if (u.origin !== 'http://console.invalid') return null
    // Checked again once normalised: dot segments collapse (`/.//evil.example` → `//evil.example`,
    // which a browser follows to another site).
    const path = u.pathname + u.search
    if (path.startsWith('//') || path.startsWith('/\\')) return null
    // A secret in it is dropped (the sign-in page would echo it in its form), but for the CLI
    // approval page's own login code, which its address holds by design.
    return holdsSecret(path) && !CLI_APPROVAL_PAGE.test(path) ? null : path
  } catch {
    return null
  }
}

export function consoleKit(deps: ConsoleDeps) {
  const { services, engine, clientAddress, isHttps } = deps
  const origin = (request: Request): Origin => {
    let ip: string | null | undefined
    return { ip: () => (ip === undefined ? (ip = clientAddress(request)) : ip), userAgent: userAgentOf(request) }
  }
  const requestIdOf = (set: Set) => String(set.headers['x-request-id'] ?? '') || null
  const publicUrl = services.config.publicUrl
  // Served at an https TEAMDAY_PUBLIC_URL, the browser's side is HTTPS even when this request
  // arrived in clear text from a proxy not declared in TEAMDAY_TRUSTED_PROXIES: the cookie is
  // Secure (and __Host-) all the same, never one a browser would send over plain HTTP.
  const publicHttps = publicUrl?.startsWith('https:') ?? false
  const secureCookie = (request: Request) => publicHttps || isHttps(request)
  // At an http TEAMDAY_PUBLIC_URL on a loopback name (http://localhost:8080, deploy/compose.yaml's),
  // its port: a browser that addressed a loopback name there connects to its own machine.
  const loopbackPublicPort = publicUrl === undefined ? null : loopbackHttpPort(publicUrl)
  const cookieName = (request: Request) => (secureCookie(request) ? SECURE_COOKIE : COOKIE)
  // The cookie's Path: `/` for __Host- (browsers require it); the plain one, under a sub-path
  // (TEAMDAY_PUBLIC_URL=http://host/teamday), only that path's: other sites of a shared host are
  // not sent it.
  const cookiePath = (secure: boolean) => (secure ? '/' : basePathOf(publicUrl) || '/')

  const signedInOf = new WeakMap<Request, Promise<SignedIn | null>>()

  const publicOrigin = publicUrl === undefined ? null : new URL(publicUrl).origin
  return {
    isHttps,
    engine,
    cookieName,
    /** safeNext, a path under TEAMDAY_PUBLIC_URL's sub-path taken without it. */
    safeNext: (next: unknown) => safeNext(next, basePathOf(publicUrl)),
        /** crossOriginRefused, with TEAMDAY_PUBLIC_URL's origin as this server's own. */
    crossOriginRefused: (request: Request) => crossOriginRefused(request, publicOrigin, isHttps),
    /** Where the browser reaches this server: TEAMDAY_PUBLIC_URL, else the request's scheme and Host (links, curl lines). */
    publicBase(request: Request): string {
      return browserBase(publicUrl, isHttps, request)
    },
    /** The session secret the request carries (the cookie of its transport), or null. */
    sessionSecret: (request: Request) => readCookie(request, cookieName(request)),

    /**
     * The signed-in person of a request, or null (no cookie, expired, signed out, no longer a
     * member). Read once per request: the console's check of a form's organization (index.ts) and
     * the route both ask, and each asking was a session read.
     */
    signedIn(request: Request): Promise<SignedIn | null> {
      let who = signedInOf.get(request)
      if (who === undefined) signedInOf.set(request, (who = resolveSession(services, readCookie(request, cookieName(request)))))
      return who
    },

    /** A 303 to the sign-in page that comes back to this request's path afterwards. */
    toSignIn(request: Request): Response {
      const u = new URL(request.url)
      const next = safeNext(u.pathname + u.search)
      return redirect(next && next !== '/login' ? `/login?next=${encodeURIComponent(next)}` : '/login')
    },

    /** The service context of a signed-in person's request (the same services as /api/v1). */
    ctxOf(who: SignedIn, request: Request, set: Set): Ctx {
      return sessionContext(services, who, { requestId: requestIdOf(set), origin: origin(request) })
    },

    /** A context for a request nobody is signed in to (sign-in, set-up links). */
    anonymousCtx(request: Request, set: Set): Ctx {
      requestWorkStarted()
      return contextOf(services, { kind: 'anonymous', via: 'console' }, { requestId: requestIdOf(set), origin: origin(request) })
    },

    /**
     * Sessions only over HTTPS, or from this machine (loopback, not through a proxy) over HTTP:
     * elsewhere the password and the cookie would cross the network in clear text (and browsers
     * drop Secure cookies there). Or at an http TEAMDAY_PUBLIC_URL on a loopback name, to a
     * browser that addressed a loopback name at its port (its Host): its connection stays on its
     * own machine (a secure context in the browser's own terms), and it may then arrive from this
     * machine's own network: Docker's published port hands it on from the bridge (172.x), where
     * deploy/compose.yaml's console was refused. Every address the request names must be local
     * (fromLocalNetwork): a browser elsewhere is refused whatever Host a proxy passed on for it.
     */
    mayStartSession(request: Request): boolean {
      if (isHttps(request)) return true
      if (loopbackPublicPort !== null && addressedToLoopback(request, loopbackPublicPort) && fromLocalNetwork(request, clientAddress(request))) return true
      if (!isLoopback(clientAddress(request))) return false
      // From this machine, but forwarded by a proxy not declared in TEAMDAY_TRUSTED_PROXIES (nginx
      // on the same host, the usual set-up): the browser is anywhere. Taken for a local one, it was
      // given a session over whatever the proxy serves, its cookie without Secure even behind TLS.
      // At an https TEAMDAY_PUBLIC_URL the browser's side is HTTPS (and the cookie Secure) all the same.
      return publicHttps || !FORWARDING_HEADERS.some((h) => request.headers.has(h))
    },

    /** Set-Cookie for a new session: HttpOnly, SameSite=Lax, Path=/ (or the public URL's path); Secure, __Host- and Path=/ over HTTPS (or at an https public URL). */
    sessionCookie(request: Request, secret: string): string {
      const secure = secureCookie(request)
      return `${secure ? SECURE_COOKIE : COOKIE}=${secret}; Path=${cookiePath(secure)}; Max-Age=${SESSION_MAX_MS / 1000}; HttpOnly; SameSite=Lax${secure ? '; Secure' : ''}`
    },

    clearCookie(request: Request): string {
      const secure = secureCookie(request)
      return `${secure ? SECURE_COOKIE : COOKIE}=; Path=${cookiePath(secure)}; Max-Age=0; HttpOnly; SameSite=Lax${secure ? '; Secure' : ''}`
    },
  }
}

export type ConsoleKit = ReturnType<typeof consoleKit>

/**
 * Go 1.25 CrossOriginProtection: a non-GET/HEAD/OPTIONS request passes when Sec-Fetch-Site is
 * `same-origin` or `none`; without Sec-Fetch-Site (an older browser), when Origin is absent or is
 * this server's own origin: scheme, host and port (the request's Host, its scheme `isHttps`
 * says), or `publicOrigin` (TEAMDAY_PUBLIC_URL's: a proxy that passes its own upstream address as
 * Host, nginx's default). Go compares the host only: a page on http://host (which anyone on the
 * network may write) posted to https://host as its own. An https Origin of the request's own
 * host passes a request that arrived in clear text (a TLS proxy not declared in
 * TEAMDAY_TRUSTED_PROXIES: the browser's side is HTTPS, and no stranger serves https://host),
 * unless TEAMDAY_PUBLIC_URL is https: then the request counts as HTTPS, and an http Origin is
 * refused. Everything else (a form posted from another site) is refused.
 */
export function crossOriginRefused(request: Request, publicOrigin?: string | null, isHttps: (request: Request) => boolean = (r) => r.url.startsWith('https:')): boolean {
  if (request.method === 'GET' || request.method === 'HEAD' || request.method === 'OPTIONS') return false
  const site = request.headers.get('sec-fetch-site')
  if (site !== null) return site !== 'same-origin' && site !== 'none'
  const origin = request.headers.get('origin')
  if (origin === null) return false
  const host = request.headers.get('host') ?? new URL(request.url).host
  try {
    const given = new URL(origin).origin
    if (given === publicOrigin) return false
    // Normalised as Origin is (a default port left out: Host `example.com:443` over HTTPS).
    const own = (scheme: 'http' | 'https') => new URL(`${scheme}://${host}`).origin
    // Served at an https TEAMDAY_PUBLIC_URL, the browser's side is HTTPS whatever the request
    // says (a proxy not declared in TEAMDAY_TRUSTED_PROXIES), as for the cookie (secureCookie):
    // a page on http://host is not this server.
    const secure = publicOrigin?.startsWith('https:') === true || isHttps(request)
    return given !== own(secure ? 'https' : 'http') && (secure || given !== own('https'))
  } catch {
    return true
  }
}

/** `details.reason` of the cross-origin refusal, which the console's error pages answer with its own page. */
export const CROSS_ORIGIN = 'cross_origin'

/** The refusal of a cross-origin form (crossOriginRefused), as the console's 403 page shows it (error-pages.tsx). */
export function crossOriginRefusal(): AppError {
  return new AppError('forbidden', 'Cross-origin request refused: this form was sent from another site. Go back to the console and try again.', { details: { reason: CROSS_ORIGIN } })
}

export function redirect(location: string, headers: Record<string, string> = {}): Response {
  return new Response(null, { status: 303, headers: { location, ...SECURITY_HEADERS, 'cache-control': 'no-store', ...headers } })
}

/**
 * An HTML page with the console's headers. `no-store` on every console page: they show private data.
 * Pages go out compressed when the browser accepts it, except a page that holds a secret (a new
 * token's plaintext, a set-up link's secret in its form): `secret: true` sends it as it is, so
 * that its length says nothing about the secret beside text the page repeats from its request
 * (the BREACH attack on compressed HTTPS responses).
 */
export function page(html: string, init: { status?: number; headers?: Record<string, string>; secret?: boolean } = {}): Response {
  const body = '<!doctype html>' + html
  const head = {
    status: init.status ?? 200,
    // Vary: Accept-Language: every page is in the language the request asks for (src/console/i18n.ts).
    headers: { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', vary: 'Accept-Language', ...SECURITY_HEADERS, ...init.headers },
  }
  return htmlResponse(body, head, !init.secret)
}

/** Where a signed-in person lands (sign-in, the organization switch, `/`): Settings → Profile. */
export const HOME = '/settings/profile'
