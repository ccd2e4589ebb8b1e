import { eq, inArray } from 'drizzle-orm'
import { withTx, type Ctx } from '../context'
import { signInFailures } from '../db/schema'
import { ipBucket } from '../http/ip'

/**
 * Sign-in throttling, checked before any password hashing, kept in the database (every
 * instance sees the same counts). Per account: 5 failures within 15 minutes lock the account's
 * sign-in for 10 minutes. Per client IP: 20 failures (several people may share an address).
 * The account key is a hash of the e-mail, so the table names nobody.
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

export function throttleKeys(email: string, ip: string | null): ThrottleKeys {
  return { account: `acct:${Bun.CryptoHasher.hash('sha256', email.trim().toLowerCase(), 'hex')}`, ip: ip ? `ip:${ipBucket(ip)}` : null }
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
