import type { RatePolicy } from '../config'
import { AppError } from '../errors'
import type { RateLimiter } from '../ratelimit/limiter'
import { ASSETS } from './assets'
import type { ConsoleKit } from './http'

type ResponseSet = { headers: Record<string, string | number> }

/**
 * The console's per-person budget (TEAMDAY_CONSOLE_RATE_LIMIT): every request to a console page
 * or form that carries a valid session counts against one budget of the session's user, all
 * their sessions and browsers together, so a signed-in person (or a stolen cookie) cannot hammer
 * the console's pages and forms without limit. The counter is the API's (src/ratelimit): in
 * process on SQLite, a row of rate_limit_counters shared by every instance on PostgreSQL; its key
 * (`console:<user id>`) is its own, so browsing spends nothing of the API's budgets. Requests
 * without a session (the sign-in page, set-up links) and the console's files are not counted
 * here (the per-address limit and the sign-in throttle cover them).
 *
 * `count` is called before the body is read: by the app's body parser for a request with a body
 * (src/app.ts) and by the console's transform hook for the others; each request counts once.
 * Over the budget: 429 `rate_limited` with Retry-After, which the console's error pages show as
 * its "Too many requests" page (src/console/error-pages.tsx).
 */
export function consoleRateLimit(kit: Pick<ConsoleKit, 'signedIn'>, limiter: RateLimiter, policy: RatePolicy | null, owned: () => readonly { method: string; path: string }[]) {
  const counted = new WeakSet<Request>()
  let pages: Set<string> | undefined
  const assets = new Set(ASSETS.map((a) => a.path))
  const isPage = (method: string, route: string) => {
    pages ??= new Set(owned().filter((r) => !assets.has(r.path)).map((r) => `${r.method} ${r.path}`))
    return pages.has(`${method} ${route}`) || (method === 'HEAD' && pages.has(`GET ${route}`))
  }
  return {
    /**
     * Counts `request` (on `route`, as the router matched it) when it is a console page's and
     * signed in. Every request with a body passes here (the app's body parser): one that is not
     * counted (the API's) gets nothing to await.
     */
    count(request: Request, route: string, set: ResponseSet): void | Promise<void> {
      if (!policy || counted.has(request) || !isPage(request.method, route)) return
      counted.add(request)
      return countSignedIn(request, policy, set)
    },
  }

  async function countSignedIn(request: Request, policy: RatePolicy, set: ResponseSet): Promise<void> {
    const who = await kit.signedIn(request)
    if (!who) return
    try {
      await limiter.consume(`console:${who.user.id}`, policy, set, 'console')
    } catch (e) {
      if (!(e instanceof AppError) || e.code !== 'rate_limited') throw e
      const seconds = (e.details as { retryAfterSeconds: number }).retryAfterSeconds
      throw new AppError(
        'rate_limited',
        `Too many requests from your account: the console allows ${policy.limit} requests per ${policy.windowMs / 1000} s for each person. Wait ${seconds} s, then reload the page.`,
        { details: e.details, headers: e.headers },
      )
    }
  }
}

export type ConsoleRateLimit = ReturnType<typeof consoleRateLimit>
