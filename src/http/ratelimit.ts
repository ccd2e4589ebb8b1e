import { Elysia } from 'elysia'
import type { Origin } from '../actor'
import type { CountedHits } from '../auth/pg-lookup'
import type { Principal } from '../auth/principal'
import type { Config } from '../config'
import type { RateLimiter } from '../ratelimit/limiter'
import { ipBucket } from './ip'

const EXEMPT = /^\/(api\/health|swagger)(\/|$)/

/** Routes no limit counts: the health checks (liveness and readiness) and the API docs. The OpenAPI document asks this too. */
export function unlimitedRoute(route: string): boolean {
  return EXEMPT.test(route)
}
let seq = 0

type Set = { headers: Record<string, string | number> }

/**
 * Rate limits on HTTP (the counting is src/ratelimit/limiter.ts):
 * - `perIp`: a plugin limiting per client IP the routes that do not authenticate (`authenticates`
 *   tells them apart); in-process requests (no socket, no trusted proxy header) have no address
 *   and are not limited;
 * - `onAuthenticated` / `onRefused`: for the authorizer (src/auth/plugin.ts), which calls them
 *   before the body is read: each authenticated request counts against its token's and its
 *   user's budgets, and each refused credential against its address's budget of failures.
 */
export function rateLimits(limiter: RateLimiter, config: Pick<Config, 'rateLimit'>, clientIp: (request: Request) => string | null) {
  return {
    /**
     * Counted before the request is validated (a transform hook), and for a request with a body
     * before it is read (`count`, called by the body parser, src/app.ts): a request refused as
     * invalid (422) counts too, and a client over its budget gets its 429 without its up to 1 MiB
     * body being read and parsed. Each request is counted once.
     */
    perIp(authenticates: (method: string, route: string) => boolean) {
      const counted = new WeakSet<Request>()
      const count = (request: Request, route: string, set: Set): void | Promise<void> => {
        if (!config.rateLimit || counted.has(request) || authenticates(request.method, route) || unlimitedRoute(route)) return
        counted.add(request)
        const ip = clientIp(request)
        if (ip) return limiter.consume(`ip:${ipBucket(ip)}`, config.rateLimit, set)
      }
      const plugin = new Elysia({ name: 'teamday-ratelimit', seed: ++seq })
      // Elysia awaits a hook only when it is an async function: the shared (PostgreSQL) store's
      // counting is awaited there; SQLite's in-process counting stays synchronous.
      return {
        count,
        plugin: limiter.shared
          ? plugin.onTransform({ as: 'global' }, async ({ request, route, set }) => {
              await count(request, route, set)
            })
          : plugin.onTransform({ as: 'global' }, ({ request, route, set }) => {
              count(request, route, set)
            }),
      }
    },
    onAuthenticated(principal: Principal, set: Set, counted?: CountedHits): void | Promise<void> {
      // Counted by the token look-up's own statement (src/auth/pg-lookup.ts): decide on those hits.
      if (counted) return limiter.decideCounted(counted, set)
      return limiter.consumeAuthenticated(principal.tokenId, principal.userId, set)
    },
    onRefused(origin: Origin | null): void | Promise<void> {
      return limiter.authFailed(origin?.ip() ?? null)
    },
  }
}
