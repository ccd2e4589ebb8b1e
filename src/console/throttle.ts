import { eq, inArray, sql } from 'drizzle-orm'
import { withTx, type Ctx } from '../context'
import type { Db } from '../db/connection'
import type { SecretBox } from '../crypto/secretbox'
import { deleteBatch } from '../db/batch-delete'
import { dbTime, signInFailures } from '../db/schema'
import { ipBucket } from '../http/ip'

/**
 * Sign-in throttling, checked before any password hashing, kept in the database (every
 * instance sees the same counts). Per account: 5 failures within 15 minutes lock the account's
 * sign-in for 10 minutes. Per client IP: 20 failures (several people may share an address).
 * Both keys are keyed digests (SecretBox.digest, HMAC under the server key) of the e-mail and of
 * the address, so the table names nobody and holds no address: a plain SHA-256 of what was typed
 * in the e-mail field (sometimes a password) could be reversed by guessing, and the address was
 * stored in clear. Rows whose window and lock have passed are deleted as failures come in.
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
  return { account: `acct:${box.digest(email.trim().toLowerCase(), 'signin.account')}`, ip: ip ? `ip:${box.digest(ipBucket(ip), 'signin.ip')}` : null }
}

const list = (k: ThrottleKeys) => (k.ip ? [k.account, k.ip] : [k.account])

/** Milliseconds until a locked key frees, or 0 when sign-in may be tried. */
export async function lockedFor(ctx: Ctx, keys: ThrottleKeys): Promise<number> {
  const now = ctx.clock.now()
  const rows = await ctx.db.select().from(signInFailures).where(inArray(signInFailures.key, list(keys))).all()
  return Math.max(0, ...rows.map((r) => (r.lockedUntil ? r.lockedUntil.getTime() - now : 0)))
}

/** Counts a failure against each key; a key that reaches its limit is locked. */
export async function recordFailure(ctx: Ctx, keys: ThrottleKeys): Promise<void> {
  const now = ctx.clock.now()
  await withTx(ctx, async (tx) => {
    // What no longer counts (its window has passed and it is not locked), a bounded batch of it:
    // a failure never pays for a flood's backlog (the hourly housekeeping deletes the rest).
    await deleteStaleSignInFailures(tx.db, now, STALE_BATCH)
    for (const key of list(keys)) {
      const limit = key.startsWith('ip:') ? THROTTLE.ipFailures : THROTTLE.accountFailures
      const row = await tx.db.select().from(signInFailures).where(eq(signInFailures.key, key)).get()
      const fresh = !row || row.windowStart.getTime() + THROTTLE.windowMs <= now
      const failures = fresh ? 1 : row.failures + 1
      const lockedUntil = failures >= limit ? new Date(now + THROTTLE.lockMs) : null
      const values = { key, failures: lockedUntil ? 0 : failures, windowStart: fresh || lockedUntil ? new Date(now) : row!.windowStart, lockedUntil }
      await tx.db.insert(signInFailures).values(values).onConflictDoUpdate({ target: signInFailures.key, set: values }).run()
    }
  })
}

/** A successful sign-in clears the account's count (not the IP's). */
export async function clearFailures(ctx: Ctx, keys: ThrottleKeys): Promise<void> {
  await ctx.db.delete(signInFailures).where(eq(signInFailures.key, keys.account)).run()
}

/** Stale counts a failed sign-in deletes at most (recordFailure). */
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
