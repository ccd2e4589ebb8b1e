import { Elysia } from 'elysia'
import type { Deps } from '../deps'
import { AppError } from '../errors'
import type { RatePolicy } from './policy'
import { MemoryRateLimitStore, type RateLimitStore } from './store'

type Headers = Record<string, string | number>

/**
 * Rate limits for one app (one set of deps): per token and per user on authenticated routes
 * (counted by the auth plugin once the token is known), per client IP on unauthenticated ones (this module's
 * global hook), a stricter per-IP policy on leaked-credential reports, and a per-IP budget of
 * failed authentications. Nothing here touches the database.
 */
export class RateLimiter {
  /** `METHOD path` of routes that authenticate (they are limited per token instead of per IP). */
  private authenticatedRoutes = new Set<string>()

  constructor(
    private readonly deps: Deps,
    readonly store: RateLimitStore = new MemoryRateLimitStore(),
  ) {}

  /** Learns which routes authenticate, from their OpenAPI security requirement. */
  indexRoutes(routes: readonly { method: string; path: string; hooks?: any }[]) {
    for (const r of routes) {
      const security = r.hooks?.detail?.security
      if (Array.isArray(security) && security.length > 0) this.authenticatedRoutes.add(`${r.method} ${r.path}`)
    }
  }

  isAuthenticatedRoute(method: string, route: string): boolean {
    return this.authenticatedRoutes.has(`${method} ${route}`)
  }

  /**
   * Counts one request against `policy` for `key`, sets the rate-limit headers on the response,
   * and throws 429 `rate_limited` once the window's budget is spent.
   */
  consume(key: string, policy: RatePolicy | null, set: { headers: Headers }, name = 'default'): void {
    if (!policy) return
    const w = this.hit(key, policy, name)
    setHeaders(set.headers, [w], w)
    if (w.count > policy.limit) throw tooMany(w.resetIn, `Too many requests: the limit is ${policy.limit} requests per ${policy.windowMs / 1000} s`)
  }

  /**
   * An authenticated request counts against its token's budget (TEAMDAY_RATE_LIMIT) and against
   * one budget its user shares between all their tokens (TEAMDAY_USER_RATE_LIMIT), so that
   * more tokens do not mean more requests. A request refused for its token is not counted for
   * the user (one runaway token does not starve the user's others). X-RateLimit-* describe
   * whichever budget has less left; RateLimit-Policy / RateLimit list both ("default", "user").
   */
  consumeAuthenticated(tokenId: string, userId: string, set: { headers: Headers }): void {
    const { rateLimit, userRateLimit } = this.deps.config
    const tok = rateLimit ? this.hit(`tok:${tokenId}`, rateLimit, 'default') : null
    if (tok && tok.count > tok.policy.limit) {
      setHeaders(set.headers, [tok], tok)
      throw tooMany(tok.resetIn, `Too many requests: the limit is ${tok.policy.limit} requests per ${tok.policy.windowMs / 1000} s for each token`)
    }
    const user = userRateLimit ? this.hit(`user:${userId}`, userRateLimit, 'user') : null
    const windows = tok && user ? [tok, user] : tok ? [tok] : user ? [user] : []
    if (windows.length === 0) return
    const tightest = tok && user ? (user.remaining < tok.remaining ? user : tok) : windows[0]!
    setHeaders(set.headers, windows, tightest)
    if (user && user.count > user.policy.limit) {
      throw tooMany(user.resetIn, `Too many requests for this user: the limit is ${user.policy.limit} requests per ${user.policy.windowMs / 1000} s for all of the user's tokens together`)
    }
  }

  private hit(key: string, policy: RatePolicy, name: string): Window {
    const now = this.deps.clock.now()
    const { count, resetAt } = this.store.hit(key, now, policy.limit, policy.windowMs)
    return {
      policy,
      name,
      count,
      resetAt,
      resetIn: resetAt > now ? Math.ceil((resetAt - now) / 1000) : 0,
      remaining: count < policy.limit ? policy.limit - count : 0,
    }
  }

  /**
   * Called when an authentication attempt that presented credentials failed: counts it for the
   * IP and, once the IP is over its budget, throws 429 instead of the 401. Valid tokens are never
   * counted here, so they keep working from the same address.
   */
  authFailed(ip: string | null): void {
    const policy = this.deps.config.authFailureLimit
    if (!policy || !ip) return
    const now = this.deps.clock.now()
    const { count, resetAt } = this.store.hit(`authfail:${ip}`, now, policy.limit, policy.windowMs)
    if (count > policy.limit) {
      const resetIn = Math.max(1, Math.ceil((resetAt - now) / 1000))
      this.deps.logger.warn('auth_failures_throttled', { ip, limit: policy.limit })
      throw tooMany(resetIn, `Too many failed authentication attempts from your address: the limit is ${policy.limit} per ${policy.windowMs / 1000} s`)
    }
  }
}

interface Window {
  policy: RatePolicy
  name: string
  count: number
  resetAt: number
  resetIn: number
  remaining: number
}

/**
 * X-RateLimit-* (TeamDay's names) from `main`; draft-ietf-httpapi-ratelimit-headers-09's
 * RateLimit-Policy / RateLimit as structured-field lists with one item per window.
 */
function setHeaders(h: Headers, windows: readonly Window[], main: Window): void {
  h['x-ratelimit-limit'] = policyHeaders(main.policy, main.name).limit
  h['x-ratelimit-remaining'] = main.remaining
  h['x-ratelimit-reset'] = Math.ceil(main.resetAt / 1000)
  h['ratelimit-policy'] = windows.length === 1 ? policyHeaders(main.policy, main.name).policy : windows.map((w) => policyHeaders(w.policy, w.name).policy).join(', ')
  h['ratelimit'] = windows.map((w) => `"${w.name}";r=${w.remaining};t=${w.resetIn}`).join(', ')
}

const fixedHeaders = new WeakMap<RatePolicy, Map<string, { limit: string; policy: string }>>()

/** The header values that never change for a policy, built once. */
function policyHeaders(policy: RatePolicy, name: string): { limit: string; policy: string } {
  let byName = fixedHeaders.get(policy)
  if (!byName) fixedHeaders.set(policy, (byName = new Map()))
  let v = byName.get(name)
  if (!v) byName.set(name, (v = { limit: String(policy.limit), policy: `"${name}";q=${policy.limit};w=${Math.round(policy.windowMs / 1000)}` }))
  return v
}

function tooMany(retryAfter: number, message: string): AppError {
  const seconds = Math.max(1, retryAfter)
  return new AppError('rate_limited', `${message}. Retry in ${seconds} s.`, {
    details: { retryAfterSeconds: seconds },
    headers: { 'retry-after': String(seconds) },
  })
}

const limiters = new WeakMap<Deps, RateLimiter>()

/** The limiter of an app: one per deps object, shared by the auth plugin and the IP hook. */
export function rateLimiterFor(deps: Deps): RateLimiter {
  let l = limiters.get(deps)
  if (!l) limiters.set(deps, (l = new RateLimiter(deps)))
  return l
}

/** Replaces the counter store (e.g. a shared one), before the app is built. */
export function useRateLimitStore(deps: Deps, store: RateLimitStore): void {
  limiters.set(deps, new RateLimiter(deps, store))
}

const EXEMPT = /^\/(api\/health|swagger)(\/|$)/
let seq = 0

/**
 * Per-IP limit for the routes that do not authenticate. Mount it before the routes, then call
 * `rateLimiterFor(deps).indexRoutes(app.routes)` once they are all registered.
 */
export function rateLimitPlugin(deps: Deps, clientIp: (request: Request) => string | null) {
  const limiter = rateLimiterFor(deps)
  return new Elysia({ name: 'teamday-ratelimit', seed: ++seq }).onBeforeHandle({ as: 'global' }, ({ request, route, set }) => {
    if (!deps.config.rateLimit || limiter.isAuthenticatedRoute(request.method, route) || EXEMPT.test(route)) return
    // In-process requests (no socket, no trusted proxy header) have no address: not limited.
    const ip = clientIp(request)
    if (ip) limiter.consume(`ip:${ip}`, deps.config.rateLimit, set)
  })
}
