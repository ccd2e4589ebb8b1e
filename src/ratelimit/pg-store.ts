import type { SecretBox } from '../crypto/secretbox'
import type { PgConnection } from '../db/pg'
import { timedOut } from '../db/unavailable'
import type { ChainedHit, Hit, RateLimitStore } from './store'

const INT4_MAX = 2_147_483_647
/** Limiter keys stored as they are: ids, never a client address (see rowKey). */
const CLEAR_KEY = /^(tok|user|console):[A-Za-z0-9_-]+$/

interface Waiter<R> {
  ok: (r: R) => void
  fail: (e: unknown) => void
}

/** Requests for one id waiting to go to the database together as one statement. */
interface Batch<A, R> {
  arg: A
  now: number
  waiters: Waiter<R>[]
}

/**
 * One statement per id in flight: requests that arrive while an id's statement runs wait and
 * then go together as one statement for all of them (`send(arg, k, now)`, whose answer gives
 * each its own result by its place `i` in the batch). Under load this turns tens of statements
 * waiting on one row lock into one, at the price of waiting for the statement in flight (one
 * round trip at most). `now` is the latest of the batch's requests' times.
 */
export class StatementBatches<A, R> {
  /** Per id, the batch still gathering requests, if any. */
  private readonly gathering = new Map<string, Batch<A, R>>()
  /** Per id, the statement in flight, if any; it settles to its error when it failed. */
  private readonly inFlight = new Map<string, Promise<unknown>>()

  constructor(private readonly send: (arg: A, k: number, now: number) => Promise<(i: number) => R>) {}

  add(id: string, arg: A, now: number): Promise<R> {
    return new Promise((ok, fail) => {
      const gathering = this.gathering.get(id)
      if (gathering) {
        gathering.waiters.push({ ok, fail })
        gathering.now = Math.max(gathering.now, now)
        return
      }
      const batch: Batch<A, R> = { arg, now, waiters: [{ ok, fail }] }
      this.gathering.set(id, batch)
      // After the id's statement in flight (if any): requests arriving meanwhile join this batch.
      const run = (this.inFlight.get(id) ?? Promise.resolve()).then(async (failedBefore) => {
        if (this.gathering.get(id) === batch) this.gathering.delete(id)
        // Requests that waited for a statement the database did not answer in time share its
        // failure: their own would wait as long again (twice the timeout in all, measured 10 s
        // with a 5 s connect_timeout). A statement that failed at once (a reset connection) does
        // not: the next one may well be answered.
        if (failedBefore !== undefined && timedOut(failedBefore)) {
          for (const w of batch.waiters) w.fail(failedBefore)
          return undefined
        }
        try {
          const each = await this.send(batch.arg, batch.waiters.length, batch.now)
          batch.waiters.forEach((w, i) => w.ok(each(i)))
          return undefined
        } catch (e) {
          for (const w of batch.waiters) w.fail(e)
          return e
        }
      })
      this.inFlight.set(id, run)
      void run.finally(() => {
        if (this.inFlight.get(id) === run) this.inFlight.delete(id)
      })
    })
  }
}

/**
 * The SET of an upsert on rate_limit_counters (aliased `c`) adding EXCLUDED's hits: a fresh window
 * of the new hits once the stored one has ended, else the hits added. The column is an int4:
 * counts stop at its maximum instead of failing (a limit that large is never reached; counts
 * past a limit only keep refusing).
 *
 * A stored window that ends more than CLOCK_SLACK after a fresh one would (EXCLUDED.reset_at) was
 * made by a clock that has since been set back: it starts afresh too, instead of refusing every
 * request for as long as the clock went back. Within the slack, instances whose clocks differ a
 * little keep counting into one window.
 */
export function addingHits(client: PgConnection['client'], nowIso: string) {
  const fresh = client`(c.reset_at <= ${nowIso}::timestamptz OR c.reset_at > EXCLUDED.reset_at + ${`${CLOCK_SLACK_MS} milliseconds`}::interval)`
  return client`
        count = CASE WHEN ${fresh} THEN EXCLUDED.count ELSE LEAST(c.count::bigint + EXCLUDED.count, ${INT4_MAX}::bigint)::int END,
        reset_at = CASE WHEN ${fresh} THEN EXCLUDED.reset_at ELSE c.reset_at END`
}

/** How far instances' clocks may differ before a window one made looks like a clock set back to another (addingHits). */
export const CLOCK_SLACK_MS = 60_000

/**
 * Of a batch's `k` hits just added to a counter whose new total is the column `count` (a CTE's
 * RETURNING), how many are within `limit`: a chain's second counter takes only those.
 */
export function hitsWithin(client: PgConnection['client'], k: number, limit: number) {
  return client`LEAST(${k}::bigint, GREATEST(0, ${limit}::bigint - (count - ${k}::bigint)))::int`
}

/**
 * Each of a batch's `k` hits gets its own count: the count before the batch plus its place in it,
 * so the limit decides every request exactly as if each had its own statement. `added`: how many
 * of the batch's hits this counter took (all `k`, or, for a chain's second counter, those within
 * the first's limit, which come first).
 */
export function hitOfPlace(count: number, resetAt: number, added: number, i: number): Hit | null {
  return i < added ? { count: count - added + i + 1, resetAt } : null
}

/**
 * Rate-limit counters in PostgreSQL, shared by every instance on it: an upsert that starts a
 * fresh window when the stored one has ended and otherwise adds the hits, returning the count
 * and the window's end. Instances' hits on one key serialize on its row, so requests split
 * across instances add up to one limit. An authenticated request's two counters (token, user)
 * are one statement (hitChain): the user's is counted only for hits within the token's limit.
 * On the HTTP path that statement is also the token's look-up (src/auth/pg-lookup.ts, the same
 * counters, batching and commit).
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
 * Keys that name client addresses (`ip:…`, `authfail:…`, `leak:…`) are never stored in clear
 * (addresses are sealed everywhere else): their row's key is a keyed digest of the limiter's key
 * (SecretBox.digest), the same on every instance since they share the encryption key. Token and
 * user counters are keyed by the ids as they are (rowKey).
 */
export class PgRateLimitStore implements RateLimitStore {
  private lastSweep = 0
  private readonly batches = new StatementBatches<[ChainedHit, ChainedHit | null], [Hit, Hit | null]>((hits, k, now) => this.send(hits, k, now))

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
    return this.batches.add(id, [first, second], now)
  }

  /** One statement for a batch's `k` hits; each gets the counts of its place in it. */
  private async send([h1, h2]: [ChainedHit, ChainedHit | null], k: number, now: number): Promise<(i: number) => [Hit, Hit | null]> {
    const nowIso = new Date(now).toISOString()
    const [first, second] = h2 ? await this.chainStatement(h1, h2, k, now, nowIso) : [await this.oneStatement(h1, k, now, nowIso), null]
    this.sweep(now)
    // Hits within the first limit were counted for the second key, in order.
    return (i) => [hitOfPlace(first.count, first.resetAt, k, i)!, second ? hitOfPlace(second.count, second.resetAt, second.added, i) : null]
  }

  private async oneStatement(h: ChainedHit, k: number, now: number, nowIso: string): Promise<Hit> {
    const [row] = await this.conn.bounded(this.conn.client`
      INSERT INTO rate_limit_counters AS c (key, count, reset_at)
      SELECT ${this.rowKey(h.key)}, ${k}::int, ${new Date(now + h.windowMs).toISOString()}::timestamptz FROM (SELECT set_config('synchronous_commit', 'off', true)) AS async_commit
      ON CONFLICT (key) DO UPDATE SET ${addingHits(this.conn.client, nowIso)}
      RETURNING count, (extract(epoch FROM reset_at) * 1000)::bigint AS reset_ms`)
    return { count: Number(row!.count), resetAt: Number(row!.reset_ms) }
  }

  /**
   * Both counters in one statement (one round trip, one commit): the second upsert adds the
   * number of the batch's hits that are within the first limit (none: it does not run), so a
   * request refused for its token is not counted for its user. Rows are always locked in the
   * same order (first, then second), so concurrent chains cannot deadlock.
   */
  private async chainStatement(first: ChainedHit, second: ChainedHit, k: number, now: number, nowIso: string): Promise<[Hit, (Hit & { added: number }) | null]> {
    const rows = await this.conn.bounded(this.conn.client`
      WITH async_commit AS (SELECT set_config('synchronous_commit', 'off', true)),
      first AS (
        INSERT INTO rate_limit_counters AS c (key, count, reset_at)
        SELECT ${this.rowKey(first.key)}, ${k}::int, ${new Date(now + first.windowMs).toISOString()}::timestamptz FROM async_commit
        ON CONFLICT (key) DO UPDATE SET ${addingHits(this.conn.client, nowIso)}
        RETURNING count, reset_at
      ),
      within AS (SELECT ${hitsWithin(this.conn.client, k, first.limit)} AS n FROM first),
      second AS (
        INSERT INTO rate_limit_counters AS c (key, count, reset_at)
        SELECT ${this.rowKey(second.key)}, n, ${new Date(now + second.windowMs).toISOString()}::timestamptz FROM within WHERE n > 0
        ON CONFLICT (key) DO UPDATE SET ${addingHits(this.conn.client, nowIso)}
        RETURNING count, reset_at
      )
      SELECT 1 AS which, count, (extract(epoch FROM reset_at) * 1000)::bigint AS reset_ms, (SELECT n FROM within) AS added FROM first
      UNION ALL SELECT 2, count, (extract(epoch FROM reset_at) * 1000)::bigint, (SELECT n FROM within) FROM second`)
    const row = (n: number) => rows.find((r) => Number(r.which) === n)
    const a = row(1)!
    const b = row(2)
    return [{ count: Number(a.count), resetAt: Number(a.reset_ms) }, b ? { count: Number(b.count), resetAt: Number(b.reset_ms), added: Number(b.added) } : null]
  }

  /**
   * The row's key: a token's and a user's counters (`tok:…`, `user:…`; a user's console budget,
   * `console:…`) by the limiter's key as it is (ids; src/auth/pg-lookup.ts computes the first two
   * in SQL from the token's row), every other one
   * by a keyed digest of the limiter's key (no client address in clear). A digest is base64url:
   * it never contains the ':' of the former.
   */
  private rowKey(limiterKey: string): string {
    return CLEAR_KEY.test(limiterKey) ? limiterKey : this.box.digest(limiterKey, 'rate-limit')
  }

  /** Ended windows are deleted now and then (at most once a minute per instance). */
  sweep(now: number): void {
    if (now - this.lastSweep > 60_000) {
      this.lastSweep = now
      this.conn.bounded(this.conn.client`DELETE FROM rate_limit_counters WHERE reset_at < ${new Date(now).toISOString()}::timestamptz`).catch(() => {})
    }
  }
}
