import type { Clock } from '../clock'
import type { Config, RatePolicy } from '../config'
import { AppError } from '../errors'
import type { Logger } from '../logger'
import { MemoryRateLimitStore, type Hit, type RateLimitStore } from './store'
import { ipBucket } from '../http/ip'

type Headers = Record<string, string | number>

/**
 * The rate limits of one runtime: per token and per user on authenticated requests, per client
 * IP on the others, a stricter per-IP policy on leaked-credential reports, and a per-IP budget
 * of failed authentications. Nothing here touches the database or HTTP routing: app.ts decides
 * which requests count against what (src/http/ratelimit.ts).
 */
export class RateLimiter {
  /** Header values that never change for a policy, built once. */
  private readonly fixedHeaders = new Map<RatePolicy, Map<string, FixedHeaders>>()
  /** The counters' keys of tokens and users, by id (ids only: never a token's text). */
  private readonly tokenKeys = new KeyTexts('tok:')
  private readonly userKeys = new KeyTexts('user:')

  constructor(
    private readonly deps: { config: Config; clock: Clock; log: Logger },
    readonly store: RateLimitStore = new MemoryRateLimitStore(),
  ) {}

  /** Whether counting goes through a shared, asynchronous store (PostgreSQL). */
  get shared(): boolean {
    return !(this.store instanceof MemoryRateLimitStore)
  }

  /**
   * Counts one request against `policy` for `key`, sets the rate-limit headers on the response,
   * and throws 429 `rate_limited` once the window's budget is spent.
   */
  consume(key: string, policy: RatePolicy | null, set: { headers: Headers }, name = 'default'): void | Promise<void> {
    if (!policy) return
    const done = (w: Window) => {
      this.setHeaders(set.headers, w)
      if (w.count > policy.limit) throw tooMany(w.resetIn, `Too many requests: the limit is ${policy.limit} requests per ${policy.windowMs / 1000} s`)
    }
    const w = this.hit(key, policy, name)
    return w instanceof Promise ? w.then(done) : done(w)
  }

  /**
   * An authenticated request counts against its token's budget (TEAMDAY_RATE_LIMIT) and against
   * one budget its user shares between all their tokens (TEAMDAY_USER_RATE_LIMIT), so that
   * more tokens do not mean more requests. A request refused for its token is not counted for
   * the user (one runaway token does not starve the user's others). X-RateLimit-* describe
   * whichever budget has less left; RateLimit-Policy / RateLimit list both ("default", "user").
   * Synchronous with the in-process store; a promise with a shared (database) store.
   */
  consumeAuthenticated(tokenId: string, userId: string, set: { headers: Headers }): void | Promise<void> {
    const { rateLimit, userRateLimit } = this.deps.config
    if (rateLimit && userRateLimit && this.store.hitChain) {
      // A shared store counts both in one round trip, the user's only when the token's is within.
      const now = this.deps.clock.now()
      const chained = this.store.hitChain(
        { key: this.tokenKeys.of(tokenId), limit: rateLimit.limit, windowMs: rateLimit.windowMs },
        { key: this.userKeys.of(userId), limit: userRateLimit.limit, windowMs: userRateLimit.windowMs },
        now,
      )
      return chained.then(([t, u]) => {
        const tok = toWindow(t, rateLimit, 'default', now)
        this.checkToken(tok, set)
        this.afterUser(tok, u && toWindow(u, userRateLimit, 'user', now), set)
      })
    }
    const tok = rateLimit ? this.hit(this.tokenKeys.of(tokenId), rateLimit, 'default') : null
    if (tok instanceof Promise) return tok.then((t) => this.afterToken(t, userId, set))
    return this.afterToken(tok, userId, set)
  }

  /**
   * The same decision and headers as consumeAuthenticated, on hits already counted (by the token
   * look-up's statement on PostgreSQL, src/auth/pg-lookup.ts, under the same rules).
   */
  decideCounted(counted: { now: number; token: Hit | null; user: Hit | null }, set: { headers: Headers }): void {
    const { rateLimit, userRateLimit } = this.deps.config
    const tok = rateLimit && counted.token ? toWindow(counted.token, rateLimit, 'default', counted.now) : null
    this.checkToken(tok, set)
    this.afterUser(tok, userRateLimit && counted.user ? toWindow(counted.user, userRateLimit, 'user', counted.now) : null, set)
  }

  private checkToken(tok: Window | null, set: { headers: Headers }): void {
    if (tok && tok.count > tok.policy.limit) {
      this.setHeaders(set.headers, tok)
      throw tooMany(tok.resetIn, `Too many requests: the limit is ${tok.policy.limit} requests per ${tok.policy.windowMs / 1000} s for each token`)
    }
  }

  private afterToken(tok: Window | null, userId: string, set: { headers: Headers }): void | Promise<void> {
    const { userRateLimit } = this.deps.config
    this.checkToken(tok, set)
    const user = userRateLimit ? this.hit(this.userKeys.of(userId), userRateLimit, 'user') : null
    if (user instanceof Promise) return user.then((u) => this.afterUser(tok, u, set))
    return this.afterUser(tok, user, set)
  }

  private afterUser(tok: Window | null, user: Window | null, set: { headers: Headers }): void {
    if (tok === null && user === null) return
    // X-RateLimit-* describe the budget with less left; a refusal's, the budget that refused
    // (on a tie at 0 the token's was chosen while the 429 named the user's limit).
    const over = user !== null && user.count > user.policy.limit
    if (tok !== null && user !== null) this.setHeaders(set.headers, tok, over || user.remaining < tok.remaining ? user : tok, user)
    else this.setHeaders(set.headers, (tok ?? user)!)
    if (user && over) {
      throw tooMany(user.resetIn, `Too many requests for this user: the limit is ${user.policy.limit} requests per ${user.policy.windowMs / 1000} s for all of the user's tokens together`)
    }
  }

  private hit(key: string, policy: RatePolicy, name: string): Window | Promise<Window> {
    const now = this.deps.clock.now()
    const h = this.store.hit(key, now, policy.limit, policy.windowMs)
    return h instanceof Promise ? h.then((x) => toWindow(x, policy, name, now)) : toWindow(h, policy, name, now)
  }

  /**
   * Called when an authentication attempt that presented credentials failed: counts it for the
   * IP and, once the IP is over its budget, throws 429 instead of the 401. Valid tokens are never
   * counted here, so they keep working from the same address. The warning is logged for the
   * window's first refusal only (the hit that takes the count to limit + 1: exactly one per
   * address bucket and window, on every instance together with a shared store): a flood of bad
   * tokens already has an access-log line per request, and a warning for each doubled the log.
   */
  authFailed(ip: string | null): void | Promise<void> {
    const policy = this.deps.config.authFailureLimit
    if (!policy || !ip) return
    const now = this.deps.clock.now()
    const done = ({ count, resetAt }: Hit) => {
      if (count > policy.limit) {
        const resetIn = Math.max(1, Math.ceil((resetAt - now) / 1000))
        if (count === policy.limit + 1) this.deps.log.warn('auth_failures_throttled', { ip, limit: policy.limit, windowSeconds: policy.windowMs / 1000, until: new Date(resetAt).toISOString() })
        throw tooMany(resetIn, `Too many failed authentication attempts from your address: the limit is ${policy.limit} per ${policy.windowMs / 1000} s`, FAILED_AUTHENTICATIONS)
      }
    }
    const h = this.store.hit(`authfail:${ipBucket(ip)}`, now, policy.limit, policy.windowMs)
    return h instanceof Promise ? h.then(done) : done(h)
  }

  /**
   * X-RateLimit-* (TeamDay's names) from `main`; draft-ietf-httpapi-ratelimit-headers-09's
   * RateLimit-Policy / RateLimit as structured-field lists with one item per window: `first`, and
   * `second` when two budgets counted (the token's and the user's). Every authenticated request
   * sets these five: the policy list is built once per pair of policies, the rest by concatenation.
   */
  private setHeaders(h: Headers, first: Window, main: Window = first, second?: Window): void {
    const fixed = this.policyHeaders(main.policy, main.name)
    h['x-ratelimit-limit'] = fixed.limit
    h['x-ratelimit-remaining'] = main.remaining
    h['x-ratelimit-reset'] = Math.ceil(main.resetAt / 1000)
    const one = `"${first.name}";r=${first.remaining};t=${first.resetIn}`
    if (second === undefined) {
      h['ratelimit-policy'] = this.policyHeaders(first.policy, first.name).policy
      h['ratelimit'] = one
      return
    }
    h['ratelimit-policy'] = this.policyHeaders(first.policy, first.name).pairedWith(this.policyHeaders(second.policy, second.name))
    h['ratelimit'] = `${one}, "${second.name}";r=${second.remaining};t=${second.resetIn}`
  }

  private policyHeaders(policy: RatePolicy, name: string): FixedHeaders {
    let byName = this.fixedHeaders.get(policy)
    if (!byName) this.fixedHeaders.set(policy, (byName = new Map()))
    let v = byName.get(name)
    if (!v) byName.set(name, (v = new FixedHeaders(String(policy.limit), `"${name}";q=${policy.limit};w=${Math.round(policy.windowMs / 1000)}`)))
    return v
  }
}

/**
 * A counter key per id, kept: the same string on each request, whose hash a Map look-up computes
 * once, instead of a new string concatenated, flattened and hashed each time. Bounded (cleared
 * past 10,000 ids: a key is then made again).
 */
class KeyTexts {
  private readonly keys = new Map<string, string>()

  constructor(private readonly prefix: string) {}

  of(id: string): string {
    let key = this.keys.get(id)
    if (key === undefined) {
      if (this.keys.size >= 10_000) this.keys.clear()
      this.keys.set(id, (key = this.prefix + id))
    }
    return key
  }
}

/** A policy's header values that never change: its limit, its RateLimit-Policy item, and its lists with another policy's. */
class FixedHeaders {
  private readonly pairs = new Map<FixedHeaders, string>()

  constructor(
    readonly limit: string,
    readonly policy: string,
  ) {}

  /** RateLimit-Policy listing this policy, then `other`. */
  pairedWith(other: FixedHeaders): string {
    let v = this.pairs.get(other)
    if (v === undefined) this.pairs.set(other, (v = `${this.policy}, ${other.policy}`))
    return v
  }
}

function toWindow({ count, resetAt }: Hit, policy: RatePolicy, name: string, now: number): Window {
  return {
    policy,
    name,
    count,
    resetAt,
    resetIn: resetAt > now ? Math.ceil((resetAt - now) / 1000) : 0,
    remaining: count < policy.limit ? policy.limit - count : 0,
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
 * `details.reason` of the 429 that replaces a refused credential's 401 once its address is over
 * TEAMDAY_AUTH_FAILURE_LIMIT: a client tells it from a spent budget (retrying it with the same
 * credential only counts more failures).
 */
export const FAILED_AUTHENTICATIONS = 'failed_authentications'

function tooMany(retryAfter: number, message: string, reason?: string): AppError {
  const seconds = Math.max(1, retryAfter)
  return new AppError('rate_limited', `${message}. Retry in ${seconds} s.`, {
    details: reason ? { retryAfterSeconds: seconds, reason } : { retryAfterSeconds: seconds },
    headers: { 'retry-after': String(seconds) },
  })
}
