import { and, eq, gt, isNotNull, isNull, lte, ne, or, sql, type Placeholder, type SQL, type SQLWrapper } from 'drizzle-orm'
import type { Actor } from '../actor'
import type { Db } from '../db/connection'
import { cliSessions, dialect, memberships, personalAccessTokens, sessions } from '../db/schema'
import { AppError } from '../errors'
import { noLongerMemberMeanwhile, roleIn } from './current-role'

/**
 * `revoked_reason` of a rotation with a grace period: `revoked_at` is when that period ends, and
 * the clock decides when the token stops (the only revocation made ahead of time).
 */
export const ROTATED_GRACE = 'rotated'
/**
 * `revoked_reason` of a rotation without a grace period (`gracePeriodSeconds` 0): in force from
 * its commit, as any revocation but a grace period's. Written as 'rotated' with `revoked_at` the
 * rotation's time, it was judged by the clock: a token rotated through an instance 10 min ahead
 * kept working on the others for those 10 min. Rows older builds wrote that way are still read as
 * grace periods, ended by their time.
 */
export const ROTATED_NOW = 'rotated_now'

/** Whether a token was revoked by a rotation (its own grace period or none): it has a successor. */
export function wasRotated(reason: string | null): boolean {
  return reason === ROTATED_GRACE || reason === ROTATED_NOW
}

/**
 * When a revocation is in force: the one rule for a personal access token and a CLI sign-in,
 * wherever a credential is judged (authentication, the watch over requests still open, a token
 * list's status, the per-user cap, the checks inside a write's transaction).
 *
 * Only a rotation's grace period revokes ahead of time (`revoked_reason` 'rotated', ROTATED_GRACE,
 * `revoked_at` the end of the grace). Any other revocation (a rotation without grace, 'rotated_now',
 * included) is in force once it has committed, whatever its time says: the time is the clock of
 * the instance that made it, and another machine's clock may run ahead of this one's. Read as
 * "revoked at or before now", a revocation made through an instance whose clock was 5 s ahead let
 * the token in on every other instance for those 5 s. The same rule, as SQL: notRevokedSql,
 * revokedSql (which PgCountedLookup's statement of raw SQL renders too: src/auth/pg-lookup.ts).
 */
export function revocationInForce<R extends { revokedAt: Date | null; revokedReason: string | null }>(row: R, now: number): row is R & { revokedAt: Date } {
  return row.revokedAt !== null && (row.revokedReason !== ROTATED_GRACE || row.revokedAt.getTime() <= now)
}

/**
 * A credential's revocation columns: a table's, or (src/auth/pg-lookup.ts) the names in a statement
 * of raw SQL, which take a placeholder for `now` (drizzle maps a Date through a column's type only).
 */
type RevocationColumns = { revokedAt: SQLWrapper; revokedReason: SQLWrapper }

/**
 * The rows whose revocation is not in force at `now` (revocationInForce, as a condition): not
 * revoked, or revoked later by a rotation's grace period. Also what a revocation still changes:
 * not "revoked_at later than now" (two revocations at once each read their own `now`, and the one
 * whose `now` was a millisecond earlier found the other's revocation "in the future" and revoked
 * the token a second time). `now` may be a prepared statement's placeholder.
 */
export function notRevokedSql(t: RevocationColumns, now: Date | Placeholder): SQL {
  return or(isNull(t.revokedAt), and(eq(t.revokedReason, ROTATED_GRACE), gt(t.revokedAt, now)))!
}

/** The rows whose revocation is in force at `now` (revocationInForce, as a condition). */
export function revokedSql(t: RevocationColumns, now: Date | Placeholder): SQL {
  return and(isNotNull(t.revokedAt), or(isNull(t.revokedReason), ne(t.revokedReason, ROTATED_GRACE), lte(t.revokedAt, now)))!
}

/** Which credential a request authenticated with, as credentialInForceSql asks about it. */
export type CredentialKind = 'pat' | 'cli' | 'session'

/** The credential of a request's actor (its kind and the row's id); null for the server's own actors. */
export function credentialOf(actor: Actor): { kind: CredentialKind; id: string } | null {
  if (actor.kind === 'session') return { kind: 'session', id: actor.sessionId }
  if (actor.kind !== 'token') return null
  return { kind: actor.principal.credential === 'cli' ? 'cli' : 'pat', id: actor.principal.tokenId }
}

/**
 * A condition, for a write's own statement, that the credential `id` of `kind` is still in force
 * at `now` (notRevokedSql; a console session: still there): what assertCredentialUnrevoked asks,
 * without a statement of its own (withCurrentRole reads it with the role; a task's single-statement
 * write has it in its WHERE).
 *
 * PostgreSQL: the row is locked for the rest of the write's transaction (a single statement's:
 * until it commits). A token or a CLI sign-in is read `FOR SHARE`: a revocation is an UPDATE of
 * columns that are no key (it takes `FOR NO KEY UPDATE`), which `FOR SHARE` blocks and
 * `FOR KEY SHARE` would let through. A revocation under way is then waited for and its outcome
 * seen (READ COMMITTED reads the row's latest version after the wait: revoked, the condition is
 * false); one after it waits for the write's commit. Read as a separate look-up, a revocation
 * committing between the look-up and the write's commit slipped through. A console session is
 * ended by a DELETE, which `FOR KEY SHARE` blocks; its once-a-minute `last_seen_at` update is not
 * held up by writes in flight. SQLite: nothing to add, its one writer runs the write whole.
 */
export function credentialInForceSql(kind: CredentialKind, id: SQLWrapper, now: Date | Placeholder): SQL {
  const pg = dialect === 'pg'
  if (kind === 'session') return sql`exists (select 1 from ${sessions} where ${sessions.id} = ${id}${sql.raw(pg ? ' for key share' : '')})`
  const t = kind === 'cli' ? cliSessions : personalAccessTokens
  return sql`exists (select 1 from ${t} where ${t.id} = ${id} and ${notRevokedSql(t, now)}${sql.raw(pg ? ' for share' : '')})`
}

/**
 * The actor with the role its user holds now and its credential still in force, read through `db`
 * (a transaction's handle) in one statement (withCurrentRole, src/auth/current-role.ts, and
 * assertCredentialUnrevoked's question, with the credential's row lock: credentialInForceSql). No
 * longer a member: 401 membership_revoked; its credential revoked (or its console session ended)
 * since it was let in: as assertCredentialUnrevoked answers. The server's own actors as they are.
 */
export async function currentActor(db: Db, actor: Actor, now: number): Promise<Actor> {
  const credential = credentialOf(actor)
  if (credential === null || (actor.kind !== 'token' && actor.kind !== 'session')) return actor
  const p = actor.principal
  const m = memberships
  const row = await db
    .select({ role: m.role, inForce: credentialInForceSql(credential.kind, sql`${credential.id}`, new Date(now)) })
    .from(m)
    .where(and(eq(m.organizationId, p.organizationId), eq(m.userId, p.userId)))
    .get()
  if (!row) throw noLongerMemberMeanwhile()
  // A boolean on PostgreSQL, 0 or 1 on SQLite.
  if (!row.inForce) await assertCredentialUnrevoked(db, actor, now)
  if (row.role === p.role) return actor
  return { ...actor, principal: { ...actor.principal, role: row.role } } as Actor
}

/**
 * Why a write whose statement carries stillMemberSql and credentialInForceSql wrote nothing, asked
 * only then (a task's single statement: src/modules/tasks/service.ts): its user no longer a member
 * (401 membership_revoked), its credential revoked (401 token_revoked; a console session ended:
 * invalid_token), as withCurrentRole and assertCredentialUnrevoked answer in that order; else
 * undefined (the row it was to change is gone).
 */
export async function whyNotWritten(db: Db, actor: Actor, now: number): Promise<AppError | undefined> {
  if (actor.kind !== 'token' && actor.kind !== 'session') return undefined
  if ((await roleIn(db, actor.principal.organizationId, actor.principal.userId)) === undefined) return noLongerMemberMeanwhile()
  try {
    await assertCredentialUnrevoked(db, actor, now)
  } catch (e) {
    if (e instanceof AppError) return e
    throw e
  }
  return undefined
}

/**
 * For a write whose result a revocation of the request's credential must take along, in that
 * write's transaction (`db`): the credential the request authenticated with (a personal access
 * token; a CLI sign-in) has no revocation in force now. A request is let in while its token is
 * good, and a leak report (or a rotation's reuse, a CLI code polled twice) committed while it was
 * under way cancels the runs the token started and revokes the tokens it made: a run recorded
 * after that sweep escaped it and ran on for whoever held the leaked secret. Refused as the
 * request's next one would be: 401 token_revoked (membership_revoked once its user left), nothing
 * written. A console session likewise must still be open (assertSessionOpen); the server's own
 * actors have no such credential.
 */
export async function assertCredentialUnrevoked(db: Db, actor: Actor, now: number): Promise<void> {
  if (actor.kind === 'session') return assertSessionOpen(db, actor.sessionId)
  if (actor.kind !== 'token') return
  const p = actor.principal
  const t = p.credential === 'cli' ? cliSessions : personalAccessTokens
  const row = await db.select({ revokedAt: t.revokedAt, revokedReason: t.revokedReason }).from(t).where(eq(t.id, p.tokenId)).get()
  if (row && !revocationInForce(row, now)) return
  if (row?.revokedReason === 'membership_removed' && (await roleIn(db, p.organizationId, p.userId)) === undefined) throw noLongerMemberMeanwhile()
  throw new AppError('token_revoked', 'Invalid token: the token this request authenticated with was revoked while the request ran. Nothing was started or changed.', {
    // bearerChallenge's answer (src/auth/authenticate.ts, which this cannot import: it needs the context).
    headers: { 'www-authenticate': 'Bearer realm="teamday", error="invalid_token", error_description="Token revoked"' },
  })
}

/**
 * A console session still open: a form let in before its session ended (signed out, "sign out
 * everywhere", ended from another browser) and written after it (a stolen cookie's form still
 * uploading, a token created and shown to it) changes nothing: 401, as its next page would send
 * it to sign in. Ended sessions are deleted; an expiry meanwhile does not end a request let in
 * while the session was valid.
 */
async function assertSessionOpen(db: Db, sessionId: string): Promise<void> {
  if (await db.select({ id: sessions.id }).from(sessions).where(eq(sessions.id, sessionId)).get()) return
  throw new AppError('invalid_token', 'Your console session ended (signed out) while this request ran: nothing was changed. Sign in again.')
}
