import type { PgConnection } from '../db/pg'
import type { ChainedHit, Hit, RateLimitStore } from './store'

const INT4_MAX = 2_147_483_647

/**
 * Rate-limit counters in PostgreSQL, shared by every instance on it: one statement per hit, an
 * upsert that starts a fresh window when the stored one has ended and otherwise counts on (stopping
 * at limit + 1, as the in-process store does), returning the count and the window's end. Two
 * instances' hits on one key serialize on its row, so requests split across instances add up to
 * one limit. An authenticated request's two counters (token, user) are one statement (hitChain).
 *
 * The statements commit asynchronously (`synchronous_commit` off for their own transaction
 * only, set by `set_config(…, true)` inside them): every hit of one token and of one user
 * updates the same row, and the row stays locked until the commit returns; waiting for the WAL
 * flush there (about 5 ms on the development VM's disk) allowed one hit per key per flush, some
 * 200 requests a second per token whatever the pool or the number of instances. A count is
 * visible to every other transaction as soon as it commits, as before; only a crash of
 * PostgreSQL itself may forget the last few hundred milliseconds of counts (wal_writer_delay).
 */
export class PgRateLimitStore implements RateLimitStore {
  private lastSweep = 0

  constructor(private readonly conn: PgConnection) {}

  async hit(key: string, now: number, limit: number, windowMs: number): Promise<Hit> {
    const sql = this.conn.client
    const nowIso = new Date(now).toISOString()
    const [row] = await sql`
      INSERT INTO rate_limit_counters AS c (key, count, reset_at)
      SELECT ${key}, 1, ${new Date(now + windowMs).toISOString()}::timestamptz FROM (SELECT set_config('synchronous_commit', 'off', true)) AS async_commit
      ON CONFLICT (key) DO UPDATE SET ${this.counting(nowIso, limit)}
      RETURNING count, (extract(epoch FROM reset_at) * 1000)::bigint AS reset_ms`
    this.sweep(now, nowIso)
    return { count: Number(row!.count), resetAt: Number(row!.reset_ms) }
  }

  /**
   * The token's and the user's counters of an authenticated request in one statement (one round
   * trip, one commit): the second upsert reads the first one's count and runs only when the
   * first is within its limit, so a request refused for its token is not counted for its user,
   * as with two separate hits. Rows are always locked in the same order (first, then second),
   * so concurrent chains cannot deadlock.
   */
  async hitChain(first: ChainedHit, second: ChainedHit, now: number): Promise<[Hit, Hit | null]> {
    const sql = this.conn.client
    const nowIso = new Date(now).toISOString()
    const rows = await sql`
      WITH async_commit AS (SELECT set_config('synchronous_commit', 'off', true)),
      first AS (
        INSERT INTO rate_limit_counters AS c (key, count, reset_at)
        SELECT ${first.key}, 1, ${new Date(now + first.windowMs).toISOString()}::timestamptz FROM async_commit
        ON CONFLICT (key) DO UPDATE SET ${this.counting(nowIso, first.limit)}
        RETURNING count, reset_at
      ),
      second AS (
        INSERT INTO rate_limit_counters AS c (key, count, reset_at)
        SELECT ${second.key}, 1, ${new Date(now + second.windowMs).toISOString()}::timestamptz FROM first WHERE first.count <= ${first.limit}::bigint
        ON CONFLICT (key) DO UPDATE SET ${this.counting(nowIso, second.limit)}
        RETURNING count, reset_at
      )
      SELECT 1 AS n, count, (extract(epoch FROM reset_at) * 1000)::bigint AS reset_ms FROM first
      UNION ALL SELECT 2, count, (extract(epoch FROM reset_at) * 1000)::bigint FROM second`
    this.sweep(now, nowIso)
    const hit = (n: number): Hit | null => {
      const row = rows.find((r) => Number(r.n) === n)
      return row ? { count: Number(row.count), resetAt: Number(row.reset_ms) } : null
    }
    return [hit(1)!, hit(2)]
  }

  /** The update of an existing counter: a fresh window once the stored one has ended, else one more (up to limit + 1). */
  private counting(nowIso: string, limit: number) {
    // The column is an int4: a limit beyond it (a benchmark's "unreachable" one, or a per-user
    // limit of 3 × a large per-token one) counts on to the column's maximum instead of failing.
    const cap = Math.min(limit + 1, INT4_MAX)
    return this.conn.client`
        count = CASE WHEN c.reset_at <= ${nowIso}::timestamptz THEN 1 ELSE LEAST(c.count + 1, ${cap}::int) END,
        reset_at = CASE WHEN c.reset_at <= ${nowIso}::timestamptz THEN EXCLUDED.reset_at ELSE c.reset_at END`
  }

  /** Ended windows are deleted now and then (at most once a minute per instance). */
  private sweep(now: number, nowIso: string): void {
    if (now - this.lastSweep > 60_000) {
      this.lastSweep = now
      this.conn.client`DELETE FROM rate_limit_counters WHERE reset_at < ${nowIso}::timestamptz`.catch(() => {})
    }
  }
}
