import { and, eq, gt, inArray, isNull, lte, or, sql } from 'drizzle-orm'
import type { Ctx } from '../context'
import type { Db } from '../db/connection'
import type { SecretBox } from '../crypto/secretbox'
import { deleteBatch } from '../db/batch-delete'
import { dbTime, signInFailures } from '../db/schema'
import { ipBucket } from '../http/ip'
import { emailKey } from '../text'

/**
 * Sign-in throttling, checked before any password hashing, kept in the database (every
 * instance sees the same counts). Per account: 5 failures within 15 minutes lock the account's
 * sign-in for 10 minutes. Per client IP: 20 (several people may share an address). Every attempt
 * counts from before its password is checked (reserveAttempt), so parallel attempts cannot pass
 * together; only failures lock.
 * Both keys are keyed digests (SecretBox.digest, HMAC under the server key) of the e-mail and of
 * the address, so the table names nobody and holds no address: a plain SHA-256 of what was typed
 * in the e-mail field (sometimes a password) could be reversed by guessing, and the address was
 * stored in clear. Rows whose window and lock have passed are deleted as attempts come in.
 */
export const THROTTLE = {
  windowMs: 15 * 60_000,
  lockMs: 10 * 60_000,
  accountFailures: 5,
  ipFailures: 20,
} as const

export interface ThrottleKeys {
  account: string
  ip: string | null
}

export function throttleKeys(box: SecretBox, email: string, ip: string | null): ThrottleKeys {
  return { account: `acct:${box.digest(emailKey(email), 'signin.account')}`, ip: ip ? `ip:${box.digest(ipBucket(ip), 'signin.ip')}` : null }
}

const list = (k: ThrottleKeys) => (k.ip ? [k.account, k.ip] : [k.account])

/**
 * Reserves one password check against each key, before any hashing: answers 0 when it may go
 * ahead (counted as a failure from now on, until attemptSucceeded gives it back), else the
 * milliseconds to wait. Each key is one statement that reads and bumps its count at once: with a
 * look first and a count after the check, a burst of parallel attempts all passed the look before
 * any failure was counted, and a failure counted after a lock wrote `locked_until = null` over it
 * (395 guesses in 8 s from one address, never a 429).
 *
 * A key lets `limit` attempts be under way or failed in its window; one more is refused (given
 * back at once) without a lock: only failures lock (attemptFailed), so correct passwords sent at
 * the same moment never lock anyone out. The address is reserved first; a refusal by the account
 * gives the address's reservation back.
 */
export async function reserveAttempt(ctx: Ctx, keys: ThrottleKeys): Promise<number> {
  const now = ctx.clock.now()
  await deleteStaleSignInFailures(ctx.db, now, STALE_BATCH)
  const reserved: string[] = []
  for (const key of keys.ip ? [keys.ip, keys.account] : [keys.account]) {
    const wait = await reserve(ctx.db, key, limitOf(key), now)
    if (wait > 0) {
      for (const done of reserved) await giveBack(ctx.db, done)
      return wait
    }
    reserved.push(key)
  }
  return 0
}

/**
 * The password was right: the account's count is cleared, and the address's reservation given
 * back (a sign-in that works does not count against the people sharing an address).
 */
export async function attemptSucceeded(ctx: Ctx, keys: ThrottleKeys): Promise<void> {
  await ctx.db.delete(signInFailures).where(inArray(signInFailures.key, [keys.account, `${keys.account}:failed`])).run()
  if (keys.ip) await giveBack(ctx.db, keys.ip)
}

/**
 * The password was wrong (its reservation stays counted): the failure is counted on its own (a
 * key's `:failed` row), and a key whose failures reach its limit is locked for THROTTLE.lockMs, a
 * new window starting. The reservations' count could not decide it: it holds the attempts still
 * under way too, and an address's right passwords under way at the moment of one wrong one locked
 * everyone there (11 failures locked an address whose limit is 20). A lock in force is never touched.
 */
export async function attemptFailed(ctx: Ctx, keys: ThrottleKeys): Promise<void> {
  const now = ctx.clock.now()
  const f = signInFailures
  for (const key of list(keys)) {
    const failed = await ctx.db
      .insert(f)
      .values({ key: `${key}:failed`, failures: 1, windowStart: new Date(now), lockedUntil: null })
      .onConflictDoUpdate({
        target: f.key,
        set: {
          failures: sql`CASE WHEN ${freshWindow(now)} THEN 1 ELSE ${was('failures')} + 1 END`,
          windowStart: sql`CASE WHEN ${freshWindow(now)} THEN ${dbTime(now)} ELSE ${was('window_start')} END`,
        },
      })
      .returning({ failures: f.failures })
      .get()
    if ((failed?.failures ?? 0) < limitOf(key)) continue
    await ctx.db
      .update(f)
      .set({ failures: 0, windowStart: new Date(now), lockedUntil: new Date(now + THROTTLE.lockMs) })
      .where(and(eq(f.key, key), or(isNull(f.lockedUntil), lte(f.lockedUntil, new Date(now)))))
      .run()
    await ctx.db.delete(f).where(eq(f.key, `${key}:failed`)).run()
  }
}

const limitOf = (key: string) => (key.startsWith('ip:') ? THROTTLE.ipFailures : THROTTLE.accountFailures)

/**
 * How far a stored window may start after now, or a lock end after a lock made now would, before
 * it counts as made by a clock since set back (or by an instance whose clock is ahead by more):
 * instances whose clocks differ a little share one window, as with the rate limits
 * (src/ratelimit/pg-store.ts CLOCK_SLACK_MS).
 */
const CLOCK_SLACK_MS = 60_000

/**
 * A window whose count starts afresh: it has ended, or it starts after now (made by a clock since
 * set back). Kept, a clock set back an hour kept counting failures into one window for an hour
 * and a quarter (found reading the code for clock jumps, 2026-12-05).
 */
const freshWindow = (now: number) => sql`(${was('window_start')} <= ${dbTime(now - THROTTLE.windowMs)} OR ${was('window_start')} > ${dbTime(now + CLOCK_SLACK_MS)})`

/** How long a refusal without a lock (attempts under way already fill the count) asks to wait. */
const BUSY_WAIT_MS = 60_000

/** The existing row's column, named whole (what an upsert's SET reads is the row as it was). */
const was = (name: 'failures' | 'window_start' | 'locked_until') => sql.raw(`"sign_in_failures"."${name}"`)

async function reserve(db: Db, key: string, limit: number, now: number): Promise<number> {
  const f = signInFailures
  const locked = sql`${was('locked_until')} > ${dbTime(now)}`
  const fresh = freshWindow(now)
  // A lock that ends later than one made now would: made before the clock was set back. It ends a
  // lock from now, not as much later as the clock went back (an hour set back locked the account
  // for 70 minutes); it is never shortened below that.
  const lockEnd = now + THROTTLE.lockMs
  const lockedUntil = sql`CASE WHEN ${was('locked_until')} > ${dbTime(lockEnd + CLOCK_SLACK_MS)} THEN ${dbTime(lockEnd)} ELSE ${was('locked_until')} END`
  const row = await db
    .insert(f)
    .values({ key, failures: 1, windowStart: new Date(now), lockedUntil: null })
    .onConflictDoUpdate({
      target: f.key,
      set: {
        failures: sql`CASE WHEN ${locked} THEN ${was('failures')} WHEN ${fresh} THEN 1 ELSE ${was('failures')} + 1 END`,
        windowStart: sql`CASE WHEN ${locked} THEN ${was('window_start')} WHEN ${fresh} THEN ${dbTime(now)} ELSE ${was('window_start')} END`,
        lockedUntil: sql`CASE WHEN ${locked} THEN ${lockedUntil} ELSE NULL END`,
      },
    })
    .returning({ failures: f.failures, lockedUntil: f.lockedUntil })
    .get()
  const until = row?.lockedUntil?.getTime() ?? 0
  if (until > now) return until - now
  if ((row?.failures ?? 0) <= limit) return 0
  await giveBack(db, key)
  return BUSY_WAIT_MS
}

/** One reservation back: the count one lower (never below 0), a lock left as it is. */
async function giveBack(db: Db, key: string): Promise<void> {
  const f = signInFailures
  await db.update(f).set({ failures: sql`${f.failures} - 1` }).where(and(eq(f.key, key), gt(f.failures, 0))).run()
}

/** Stale counts a sign-in attempt deletes at most (reserveAttempt). */
const STALE_BATCH = 100

/**
 * Counts that no longer count (their window passed, no lock), at most `limit` (the hourly
 * housekeeping, src/housekeeping.ts: failures from addresses never seen again were deleted only
 * when another failure came in); returns how many went.
 */
export async function deleteStaleSignInFailures(db: Db, now: number, limit: number): Promise<number> {
  const f = signInFailures
  return deleteBatch(db, f, f.key, sql`${f.windowStart} < ${dbTime(now - THROTTLE.windowMs)} AND (${f.lockedUntil} IS NULL OR ${f.lockedUntil} < ${dbTime(now)})`, limit)
}
