import { and, eq, gt, isNotNull, isNull, lte, ne, or, type Column, type SQL } from 'drizzle-orm'

/**
 * When a revocation is in force: the one rule for a personal access token and a CLI sign-in,
 * wherever a credential is judged (authentication, the watch over requests still open, a token
 * list's status, the per-user cap, the checks inside a write's transaction).
 *
 * Only a rotation's grace period revokes ahead of time (`revoked_reason` 'rotated', `revoked_at`
 * the end of the grace). Any other revocation is in force once it has committed, whatever its
 * time says: the time is the clock of the instance that made it, and another machine's clock may
 * run ahead of this one's. Read as "revoked at or before now", a revocation made through an
 * instance whose clock was 5 s ahead let the token in on every other instance for those 5 s.
 */
export function revocationInForce<R extends { revokedAt: Date | null; revokedReason: string | null }>(row: R, now: number): row is R & { revokedAt: Date } {
  return row.revokedAt !== null && (row.revokedReason !== 'rotated' || row.revokedAt.getTime() <= now)
}

/**
 * The rows whose revocation is not in force at `now` (revocationInForce, as a condition): not
 * revoked, or revoked later by a rotation's grace period. Also what a revocation still changes:
 * not "revoked_at later than now" (two revocations at once each read their own `now`, and the one
 * whose `now` was a millisecond earlier found the other's revocation "in the future" and revoked
 * the token a second time).
 */
export function notRevokedSql(t: { revokedAt: Column; revokedReason: Column }, now: Date): SQL {
  return or(isNull(t.revokedAt), and(eq(t.revokedReason, 'rotated'), gt(t.revokedAt, now)))!
}

/** The rows whose revocation is in force at `now` (revocationInForce, as a condition). */
export function revokedSql(t: { revokedAt: Column; revokedReason: Column }, now: Date): SQL {
  return and(isNotNull(t.revokedAt), or(isNull(t.revokedReason), ne(t.revokedReason, 'rotated'), lte(t.revokedAt, now)))!
}

