import type { SecretBox } from '../crypto/secretbox'
import type { PgConnection } from '../db/pg'
import type { ChainedHit, Hit, RateLimitStore } from './store'

const INT4_MAX = 2_147_483_647

interface Waiter {
  ok: (hits: [Hit, Hit | null]) => void
  fail: (e: unknown) => void
}

/** Hits on one key (or one chain of two keys) waiting to go to the database together. */
interface Batch {
  first: ChainedHit
  second: ChainedHit | null
  now: number
  waiters: Waiter[]
}

/**
 * Rate-limit counters in PostgreSQL, shared by every instance on it: an upsert that starts a
 * fresh window when the stored one has ended and otherwise adds the hits, returning the count
 * and the window's end. Instances' hits on one key serialize on its row, so requests split
 * across instances add up to one limit. An authenticated request's two counters (token, user)
 * are one statement (hitChain): the user's is counted only for hits within the token's limit.
 *
 * Every request of one token updates the same row (and of one user, another). Two things keep
 * that hot row cheap:
 * - **One statement per key in flight per instance.** Hits that arrive while a key's statement
 *   runs wait and then go together as one upsert that adds their number; each hit gets its own
 *   count (the count before the batch plus its place in it), so the limit decides every request
 *   exactly as if each had its own statement, across instances too. Under load this turns tens
 *   of statements waiting on one row lock into one, at the price of waiting for the statement
 *   in flight (one round trip at most).
 * - **Asynchronous commit** (`synchronous_commit` off for the statement's own transaction, set by
 *   `set_config(…, true)` inside it): the row stays locked until the commit returns, and waiting
 *   there for the WAL flush (about 5 ms on the development VM's disk) allowed one hit per key per
 *   flush, some 200 requests a second per token. A count is visible to every transaction as soon
 *   as it commits, as before; only a crash of PostgreSQL itself may forget the last few hundred
 *   milliseconds of counts (wal_writer_delay).
 *
 * Keys name client addresses (`ip:…`, `authfail:…`, `leak:…`), which are never stored in clear
 * (they are sealed everywhere else): a row's key is a keyed digest of the limiter's key
 * (SecretBox.digest), the same on every instance since they share the encryption key.
 */
export class PgRateLimitStore implements RateLimitStore {
  private lastSweep = 0
  /** Per key (or chain), the batch still gathering hits, if any. */
  private readonly gathering = new Map<string, Batch>()
  /** Per key (or chain), the statement in flight, if any. */
  private readonly inFlight = new Map<string, Promise<void>>()

  constructor(
    private readonly conn: PgConnection,
    private readonly box: Pick<SecretBox, 'digest'>,
  ) {}

  async hit(key: string, now: number, limit: number, windowMs: number): Promise<Hit> {
    return (await this.enqueue({ key, limit, windowMs }, null, now))[0]
  }

  hitChain(first: ChainedHit, second: ChainedHit, now: number): Promise<[Hit, Hit | null]> {
    return this.enqueue(first, second, now)
  }

  private enqueue(first: ChainedHit, second: ChainedHit | null, now: number): Promise<[Hit, Hit | null]> {
    const id = `${first.key} ${first.limit}/${first.windowMs}` + (second ? ` ${second.key} ${second.limit}/${second.windowMs}` : '')
    return new Promise((ok, fail) => {
      const gathering = this.gathering.get(id)
      if (gathering) {
        gathering.waiters.push({ ok, fail })
        gathering.now = Math.max(gathering.now, now)
        return
      }
      const batch: Batch = { first, second, now, waiters: [{ ok, fail }] }
      this.gathering.set(id, batch)
      // After the key's statement in flight (if any): hits arriving meanwhile join this batch.
      const run = (this.inFlight.get(id) ?? Promise.resolve()).then(() => {
        if (this.gathering.get(id) === batch) this.gathering.delete(id)
        return this.send(batch)
      })
      this.inFlight.set(id, run)
      void run.finally(() => {
        if (this.inFlight.get(id) === run) this.inFlight.delete(id)
      })
    })
  }

  /** One statement for the batch's hits; each waiter gets the counts of its place in it. */
  private async send(b: Batch): Promise<void> {
    const k = b.waiters.length
    try {
      const nowIso = new Date(b.now).toISOString()
      const [first, second] = b.second ? await this.chainStatement(b.first, b.second, k, b.now, nowIso) : [await this.oneStatement(b.first, k, b.now, nowIso), null]
      this.sweep(b.now, nowIso)
      const firstBefore = first.count - k
      // Hits within the first limit were counted for the second key, in order.
      const within = second ? second.added : 0
      const secondBefore = second ? second.count - second.added : 0
      b.waiters.forEach((w, i) =>
        w.ok([{ count: firstBefore + i + 1, resetAt: first.resetAt }, second && i < within ? { count: secondBefore + i + 1, resetAt: second.resetAt } : null]),
      )
    } catch (e) {
      for (const w of b.waiters) w.fail(e)
    }
  }

  private async oneStatement(h: ChainedHit, k: number, now: number, nowIso: string): Promise<Hit> {
    const [row] = await this.conn.client`
      INSERT INTO rate_limit_counters AS c (key, count, reset_at)
      SELECT ${this.rowKey(h.key)}, ${k}::int, ${new Date(now + h.windowMs).toISOString()}::timestamptz FROM (SELECT set_config('synchronous_commit', 'off', true)) AS async_commit
      ON CONFLICT (key) DO UPDATE SET ${this.adding(nowIso)}
      RETURNING count, (extract(epoch FROM reset_at) * 1000)::bigint AS reset_ms`
    return { count: Number(row!.count), resetAt: Number(row!.reset_ms) }
  }

  /**
   * Both counters in one statement (one round trip, one commit): the second upsert adds the
   * number of the batch's hits that are within the first limit (none: it does not run), so a
   * request refused for its token is not counted for its user. Rows are always locked in the
   * same order (first, then second), so concurrent chains cannot deadlock.
   */
  private async chainStatement(first: ChainedHit, second: ChainedHit, k: number, now: number, nowIso: string): Promise<[Hit, (Hit & { added: number }) | null]> {
    const rows = await this.conn.client`
      WITH async_commit AS (SELECT set_config('synchronous_commit', 'off', true)),
      first AS (
        INSERT INTO rate_limit_counters AS c (key, count, reset_at)
        SELECT ${this.rowKey(first.key)}, ${k}::int, ${new Date(now + first.windowMs).toISOString()}::timestamptz FROM async_commit
        ON CONFLICT (key) DO UPDATE SET ${this.adding(nowIso)}
        RETURNING count, reset_at
      ),
      within AS (SELECT LEAST(${k}::bigint, GREATEST(0, ${first.limit}::bigint - (count - ${k}::bigint)))::int AS n FROM first),
      second AS (
        INSERT INTO rate_limit_counters AS c (key, count, reset_at)
        SELECT ${this.rowKey(second.key)}, n, ${new Date(now + second.windowMs).toISOString()}::timestamptz FROM within WHERE n > 0
        ON CONFLICT (key) DO UPDATE SET ${this.adding(nowIso)}
        RETURNING count, reset_at
      )
      SELECT 1 AS which, count, (extract(epoch FROM reset_at) * 1000)::bigint AS reset_ms, (SELECT n FROM within) AS added FROM first
      UNION ALL SELECT 2, count, (extract(epoch FROM reset_at) * 1000)::bigint, (SELECT n FROM within) FROM second`
    const row = (n: number) => rows.find((r) => Number(r.which) === n)
    const a = row(1)!
    const b = row(2)
    return [{ count: Number(a.count), resetAt: Number(a.reset_ms) }, b ? { count: Number(b.count), resetAt: Number(b.reset_ms), added: Number(b.added) } : null]
  }

  /** An existing counter: a fresh window of the new hits once the stored one has ended, else the hits added. */
  private adding(nowIso: string) {
    // The column is an int4: counts stop at its maximum instead of failing (a limit that large
    // is never reached; counts past a limit only keep refusing).
    return this.conn.client`
        count = CASE WHEN c.reset_at <= ${nowIso}::timestamptz THEN EXCLUDED.count ELSE LEAST(c.count::bigint + EXCLUDED.count, ${INT4_MAX}::bigint)::int END,
        reset_at = CASE WHEN c.reset_at <= ${nowIso}::timestamptz THEN EXCLUDED.reset_at ELSE c.reset_at END`
  }

  /** The row's key: a keyed digest of the limiter's key (no client address in clear). */
  private rowKey(limiterKey: string): string {
    return this.box.digest(limiterKey, 'rate-limit')
  }

  /** Ended windows are deleted now and then (at most once a minute per instance). */
  private sweep(now: number, nowIso: string): void {
    if (now - this.lastSweep > 60_000) {
      this.lastSweep = now
      this.conn.client`DELETE FROM rate_limit_counters WHERE reset_at < ${nowIso}::timestamptz`.catch(() => {})
    }
  }
}
