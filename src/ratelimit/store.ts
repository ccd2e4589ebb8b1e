/** A hit's count so far in its window (this hit included) and when the window ends (epoch ms). */
export interface Hit {
  count: number
  resetAt: number
}

/**
 * The counter behind every rate limit. One interface so a shared store can replace the
 * in-process one when several instances serve the same database: on PostgreSQL the runtime uses
 * src/ratelimit/pg-store.ts (asynchronous); on SQLite one process serves the file, so the
 * in-process store below counts every request there is (synchronously, no statement per hit).
 */
export interface RateLimitStore {
  /**
   * Counts one hit for `key` in the current window of `windowMs`. `limit` lets a store stop
   * counting past it.
   */
  hit(key: string, now: number, limit: number, windowMs: number): Hit | Promise<Hit>
  /**
   * Optional, for a store where each hit is a round trip: counts a hit for `first`, then one for
   * `second` only when `first` is within its limit (its count <= limit), in one round trip.
   * The same as `hit(first)` and then, if within, `hit(second)`; `null` when `second` was not counted.
   */
  hitChain?(first: ChainedHit, second: ChainedHit, now: number): Promise<[Hit, Hit | null]>
}

export interface ChainedHit {
  key: string
  limit: number
  windowMs: number
}

interface Bucket {
  count: number
  resetAt: number
}

/**
 * In-process fixed-window counter: one small object per active key, no timers. Memory is
 * bounded: past `maxKeys`, expired windows are swept, then the oldest keys are dropped (a dropped
 * key merely starts a fresh window, erring towards allowing).
 */
export class MemoryRateLimitStore implements RateLimitStore {
  private buckets = new Map<string, Bucket>()
  constructor(private readonly maxKeys = 100_000) {}

  hit(key: string, now: number, limit: number, windowMs: number): { count: number; resetAt: number } {
    let b = this.buckets.get(key)
    // A window ending more than a window from now was opened before the clock was set back: a
    // fresh one, not a refusal for as long as the clock went back.
    if (!b || b.resetAt <= now || b.resetAt - now > windowMs) {
      if (b) this.buckets.delete(key)
      else if (this.buckets.size >= this.maxKeys) this.evict(now)
      b = { count: 0, resetAt: now + windowMs }
      this.buckets.set(key, b)
    }
    // Past the limit the exact count no longer matters: stop at limit + 2, so that the first
    // refusal of a window (limit + 1) is told from the later ones (RateLimiter.authFailed logs
    // only that one), as a shared store's exact counts tell it.
    if (b.count <= limit + 1) b.count++
    return { count: b.count, resetAt: b.resetAt }
  }

  get size(): number {
    return this.buckets.size
  }

  private evict(now: number) {
    for (const [k, b] of this.buckets) if (b.resetAt <= now) this.buckets.delete(k)
    // Map iteration is insertion order: the first keys are the oldest windows.
    let excess = this.buckets.size - Math.floor(this.maxKeys * 0.9)
    for (const k of this.buckets.keys()) {
      if (excess-- <= 0) break
      this.buckets.delete(k)
    }
  }
}
