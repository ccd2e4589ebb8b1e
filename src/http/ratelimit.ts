import { Elysia } from 'elysia'
import type { Origin } from '../actor'
import type { CountedHits } from '../auth/pg-lookup'
import type { Principal } from '../auth/principal'
import type { Config } from '../config'
import type { RateLimiter } from '../ratelimit/limiter'
import { ipBucket } from './ip'

const EXEMPT = /^\/(api\/health|swagger)(\/|$)/
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
    perIp(authenticates: (method: string, route: string) => boolean) {
      const plugin = new Elysia({ name: 'teamday-ratelimit', seed: ++seq })
      // Elysia awaits a hook only when it is an async function: the shared (PostgreSQL) store's
      // counting is awaited there; SQLite's in-process counting stays synchronous.
      if (limiter.shared) {
        return plugin.onBeforeHandle({ as: 'global' }, async ({ request, route, set }) => {
          if (!config.rateLimit || authenticates(request.method, route) || EXEMPT.test(route)) return
          const ip = clientIp(request)
          if (ip) await limiter.consume(`ip:${ipBucket(ip)}`, config.rateLimit, set)
        })
      }
      return plugin.onBeforeHandle({ as: 'global' }, ({ request, route, set }) => {
        if (!config.rateLimit || authenticates(request.method, route) || EXEMPT.test(route)) return
        const ip = clientIp(request)
        if (ip) limiter.consume(`ip:${ipBucket(ip)}`, config.rateLimit, set)
      })
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
