import type { PgConnection } from '../db/pg'
import type { Hit, RateLimitStore } from './store'

const INT4_MAX = 2_147_483_647

/**
 * Rate-limit counters in PostgreSQL, shared by every instance on it: one statement per hit, an
 * upsert that starts a fresh window when the stored one has ended and otherwise counts on (stopping
 * at limit + 1, as the in-process store does), returning the count and the window's end. Two
 * instances' hits on one key serialize on its row, so requests split across instances add up to
 * one limit. Ended windows are deleted now and then (at most once a minute per instance).
 */
export class PgRateLimitStore implements RateLimitStore {
  private lastSweep = 0

  constructor(private readonly conn: PgConnection) {}

  async hit(key: string, now: number, limit: number, windowMs: number): Promise<Hit> {
    const sql = this.conn.client
    const nowIso = new Date(now).toISOString()
    const resetIso = new Date(now + windowMs).toISOString()
    // The column is an int4: a limit beyond it (a benchmark's "unreachable" one, or a per-user
    // limit of 3 × a large per-token one) counts on to the column's maximum instead of failing.
    const cap = Math.min(limit + 1, INT4_MAX)
    const [row] = await sql`
      INSERT INTO rate_limit_counters AS c (key, count, reset_at) VALUES (${key}, 1, ${resetIso}::timestamptz)
      ON CONFLICT (key) DO UPDATE SET
        count = CASE WHEN c.reset_at <= ${nowIso}::timestamptz THEN 1 ELSE LEAST(c.count + 1, ${cap}::int) END,
        reset_at = CASE WHEN c.reset_at <= ${nowIso}::timestamptz THEN EXCLUDED.reset_at ELSE c.reset_at END
      RETURNING count, (extract(epoch FROM reset_at) * 1000)::bigint AS reset_ms`
    if (now - this.lastSweep > 60_000) {
      this.lastSweep = now
      sql`DELETE FROM rate_limit_counters WHERE reset_at < ${nowIso}::timestamptz`.catch(() => {})
    }
    return { count: Number(row!.count), resetAt: Number(row!.reset_ms) }
  }
}
