import { MemoryRateLimitStore, type Hit, type RateLimitStore } from '../../src/ratelimit/store'

/**
 * A request held between its authentication and everything after it (the body, the route, its
 * transaction): what another request, an instance or the admin CLI commits meanwhile is what a
 * request in flight meets. Deterministic, with no sleeps: the pause is the rate limiter's count
 * of the token's request (src/ratelimit/limiter.ts consumeAuthenticated), which the authorizer
 * awaits after the token was looked up and before anything else (src/auth/plugin.ts). Injected
 * as the runtime's rate-limit store (makeTestApp's `rateLimitStore`; the PostgreSQL look-up's own
 * counting is then not used: src/app.ts), so the production code is the one that runs.
 */
export class PausingStore implements RateLimitStore {
  private readonly inner = new MemoryRateLimitStore()
  private readonly held = new Map<string, { reached: () => void; released: Promise<void> }>()

  /**
   * Holds the next request authenticated with `tokenId` (a PAT's id, a CLI sign-in's session id)
   * once its token is known good. `reached` resolves when it is held; `release` lets it go on.
   */
  pauseNext(tokenId: string): { reached: Promise<void>; release: () => void } {
    return this.pauseKey(`tok:${tokenId}`)
  }

  /** The same for the next hit of any counter (`console:<user id>`: a signed-in console request, before its body is read). */
  pauseKey(key: string): { reached: Promise<void>; release: () => void } {
    let reached!: () => void
    let release!: () => void
    const whenReached = new Promise<void>((r) => (reached = r))
    const released = new Promise<void>((r) => (release = r))
    this.held.set(key, { reached, released })
    return { reached: whenReached, release }
  }

  hit(key: string, now: number, limit: number, windowMs: number): Hit | Promise<Hit> {
    const h = this.held.get(key)
    if (!h) return this.inner.hit(key, now, limit, windowMs)
    this.held.delete(key)
    h.reached()
    return h.released.then(() => this.inner.hit(key, now, limit, windowMs))
  }
}
