import { Elysia } from 'elysia'
import type { Deps } from '../deps'
import { AppError } from '../errors'
import type { RatePolicy } from './policy'
import { MemoryRateLimitStore, type RateLimitStore } from './store'

type Headers = Record<string, string | number>

/**
 * Rate limits for one app (one set of deps): per token on authenticated routes (counted by the
 * auth plugin once the token is known), per client IP on unauthenticated ones (this module's
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
    const now = this.deps.clock.now()
    const { count, resetAt } = this.store.hit(key, now, policy.limit, policy.windowMs)
    const resetIn = resetAt > now ? Math.ceil((resetAt - now) / 1000) : 0
    const remaining = count < policy.limit ? policy.limit - count : 0
    const fixed = policyHeaders(policy, name)
    const h = set.headers
    h['x-ratelimit-limit'] = fixed.limit
    h['x-ratelimit-remaining'] = remaining
    h['x-ratelimit-reset'] = Math.ceil(resetAt / 1000)
    // draft-ietf-httpapi-ratelimit-headers-09: structured-field lists of named policies.
    h['ratelimit-policy'] = fixed.policy
    h['ratelimit'] = `"${name}";r=${remaining};t=${resetIn}`
    if (count > policy.limit) throw tooMany(resetIn, `Too many requests: the limit is ${policy.limit} requests per ${policy.windowMs / 1000} s`)
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
