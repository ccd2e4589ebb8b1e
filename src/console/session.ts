import { and, desc, eq, gt, sql } from 'drizzle-orm'
import type { AuditInput } from '../audit/log'
import { revokeCliSessionsOfUser } from '../modules/cli-auth/service'
import { randomBase62 } from '../auth/random'
import type { Caller } from '../auth/principal'
import { stillMemberSql } from '../auth/current-role'
import { audited, contextOf, type Ctx, type Origin, type Services } from '../context'
import type { Db } from '../db/connection'
import { deleteBatch } from '../db/batch-delete'
import { forShare } from '../db/locks'
import { requestWorkStarted } from '../db/request-writes'
import { dbTime, memberships, organizations, sessions, users, type Organization, type Role, type Session } from '../db/schema'
import { newId } from '../ids'

/**
 * Console sessions: the cookie holds 43 base62 characters (256 bits) from the OS CSPRNG; the
 * database keeps only their SHA-256, so several instances share sessions and a database leak
 * signs nobody in. Idle expiry 12 h (last seen), absolute 7 days (created). The membership and
 * role are read on every request: a removed member's session stops at once. Sessions
 * authenticate console pages only; /api/v1 never reads the cookie.
 */
export const SESSION_IDLE_MS = 12 * 3_600_000
export const SESSION_MAX_MS = 7 * 86_400_000
/** lastSeenAt is written at most this often per session (a page view is not a write). */
const TOUCH_EVERY_MS = 60_000
const SECRET_LENGTH = 43

export const hashSecret = (secret: string) => Bun.CryptoHasher.hash('sha256', secret, 'hex')

/** A signed-in person on one request: who, in which organization, with which role. */
export interface SignedIn {
  sessionId: string
  user: { id: string; email: string; name: string | null; passwordChangedAt: Date | null }
  organization: Organization
  role: Role
  /**
   * When the person last proved their password on this session: its sign-in, or a later "Confirm
   * access" step (src/console/sudo.tsx). A session of an older binary has no confirmation: its sign-in.
   */
  passwordProvedAt: Date
  /** The caller the shared services act for (scopes `*`, bounded by the role; no token). */
  caller: Caller
}

/** Starts a session (always a new id: sign-in never reuses a cookie sent before it). */
export async function createSession(ctx: Ctx, userId: string, organizationId: string): Promise<{ secret: string; session: Session }> {
  const secret = randomBase62(SECRET_LENGTH)
  const now = ctx.clock.now()
  const id = newId('ses')
  const ip = ctx.origin?.ip() ?? null
  const ua = ctx.origin?.userAgent?.slice(0, 512) ?? null
  const session: Session = {
    id,
    secretHash: hashSecret(secret),
    userId,
    organizationId,
    createdAt: new Date(now),
    lastSeenAt: new Date(now),
    expiresAt: new Date(now + SESSION_MAX_MS),
    ipEnc: ip ? ctx.box.seal(ip, `session.ip:${id}`) : null,
    userAgentEnc: ua ? ctx.box.seal(ua, `session.ua:${id}`) : null,
    passwordConfirmedAt: null,
  }
  await ctx.db.insert(sessions).values(session).run()
  return { secret, session }
}

/**
 * The session of a sign-in whose password was just checked, started only while that password is
 * still the user's (its hash as verified, or as the check re-hashed it: every hash has its own
 * salt, so any change of the password changes it). A password
 * change (Settings → Profile, a set-password link, `teamday users set-password`) that committed
 * while the password was being verified (an argon2id verify takes 40-120 ms) has ended every
 * session, and one started after it with the old password outlived the change: 3 of 16 sign-ins
 * of a loop with the old password did, across a change made with the admin CLI (found from
 * outside). The user's row is read forShare in the session's transaction: a change under way is
 * waited for and seen, a later one waits for this insert and ends the session with the others.
 * Null when the password changed meanwhile.
 */
export async function startSignedInSession(
  ctx: Ctx,
  user: { id: string; passwordHash: string | null },
  organizationId: string,
): Promise<{ secret: string; session: Session } | null> {
  // The session, the user's last sign-in time and `user.signed_in` commit together (audited).
  return audited(
    ctx,
    async (tx) => {
      const now = await forShare(tx.db, tx.db.select({ passwordHash: users.passwordHash }).from(users).where(eq(users.id, user.id))).get()
      if (!now || user.passwordHash === null || now.passwordHash !== user.passwordHash) return null
      const into = await organizationToSignInTo(tx.db, user.id, organizationId)
      if (into === undefined) return null
      const started = await createSession(tx, user.id, into)
      await tx.db.update(users).set({ lastSignInAt: started.session.createdAt }).where(eq(users.id, user.id)).run()
      return started
    },
    (started): AuditInput | null =>
      started && { type: 'user.signed_in', organizationId: started.session.organizationId, actor: { userId: user.id, tokenId: null }, targetType: 'session', targetId: started.session.id },
  )
}

/**
 * The organization a sign-in's session opens in: `chosen` (chosen before the transaction) while
 * the person is still a member there, its membership read forShare so that a removal under way
 * is waited for; removed meanwhile, their oldest other membership; none left, undefined. A
 * session opened in an organization they had just left signed them in to nothing (every page
 * sent them back to sign in) and recorded `user.signed_in` there.
 */
async function organizationToSignInTo(tx: Db, userId: string, chosen: string): Promise<string | undefined> {
  const m = memberships
  if (await forShare(tx, tx.select({ id: m.id }).from(m).where(and(eq(m.userId, userId), eq(m.organizationId, chosen)))).get()) return chosen
  return (await tx.select({ organizationId: m.organizationId }).from(m).where(eq(m.userId, userId)).orderBy(m.createdAt).limit(1).get())?.organizationId
}

/** The session of a cookie value, still valid and still a member; touches lastSeenAt. Else null. */
export async function resolveSession(services: Services, secret: string | null): Promise<SignedIn | null> {
  if (!secret || secret.length !== SECRET_LENGTH || !/^[0-9A-Za-z]+$/.test(secret)) return null
  const { db, clock } = services
  const now = clock.now()
  const row = await db
    .select({ session: sessions, user: users, organization: organizations, role: memberships.role })
    .from(sessions)
    .innerJoin(users, eq(users.id, sessions.userId))
    .innerJoin(organizations, eq(organizations.id, sessions.organizationId))
    .innerJoin(memberships, and(eq(memberships.userId, sessions.userId), eq(memberships.organizationId, sessions.organizationId)))
    .where(eq(sessions.secretHash, hashSecret(secret)))
    .get()
  if (!row) return null
  const { session, user } = row
  if (session.expiresAt.getTime() <= now || session.lastSeenAt.getTime() + SESSION_IDLE_MS <= now) {
    await db.delete(sessions).where(eq(sessions.id, session.id)).run()
    return null
  }
  if (now - session.lastSeenAt.getTime() >= TOUCH_EVERY_MS) {
    await db.update(sessions).set({ lastSeenAt: new Date(now) }).where(eq(sessions.id, session.id)).run()
  }
  return {
    sessionId: session.id,
    user: { id: user.id, email: user.email, name: user.name, passwordChangedAt: user.passwordChangedAt },
    organization: row.organization,
    role: row.role,
    passwordProvedAt: session.passwordConfirmedAt ?? session.createdAt,
    caller: { userId: user.id, email: user.email, organizationId: row.organization.id, role: row.role, tokenId: null, scopes: ['*'] },
  }
}

/** A service context acting for a signed-in person (audited with source `console`). */
export function sessionContext(services: Services, who: SignedIn, request: { requestId: string | null; origin: Origin | null }): Ctx {
  // The request's work starts (src/db/request-writes.ts): the session's touch came before.
  requestWorkStarted()
  return contextOf(services, { kind: 'session', principal: who.caller, sessionId: who.sessionId }, request)
}

/** Sign out: ends one session. */
export async function endSession(ctx: Ctx, sessionId: string, reason: 'sign_out' | 'everywhere' = 'sign_out'): Promise<void> {
  await audited(
    ctx,
    (tx) => tx.db.delete(sessions).where(eq(sessions.id, sessionId)).returning().get(),
    (ended) => (ended ? sessionEnded(ended, reason) : null),
  )
}

/** `session.ended` for one console session ended (written with its deletion: audited). */
const sessionEnded = (ended: Session, reason: 'sign_out' | 'everywhere' | 'ended_by_user'): AuditInput => ({
  type: 'session.ended',
  organizationId: ended.organizationId,
  targetType: 'session',
  targetId: ended.id,
  details: { reason },
})

/** A signed-in browser as Settings → Profile lists it (GitLab's "Active sessions"). */
export interface SessionView {
  id: string
  /** The session of the request that asks. */
  current: boolean
  /** Where and with what it signed in (sealed at rest; null when not known). */
  ip: string | null
  userAgent: string | null
  createdAt: Date
  lastSeenAt: Date
  /** When it ends unless used again: the idle end or the absolute one, whichever is sooner. */
  endsAt: Date
}

/** The user's sessions still valid now, the most recently used first (the current one included). */
export async function listSessions(ctx: Ctx, userId: string, currentId: string): Promise<SessionView[]> {
  const now = ctx.clock.now()
  const rows = await ctx.db
    .select()
    .from(sessions)
    .where(and(eq(sessions.userId, userId), gt(sessions.expiresAt, new Date(now)), gt(sessions.lastSeenAt, new Date(now - SESSION_IDLE_MS))))
    .orderBy(desc(sessions.lastSeenAt), desc(sessions.id))
    .limit(100)
    .all()
  return rows.map((s) => ({
    id: s.id,
    current: s.id === currentId,
    ip: ctx.box.openOrNull(s.ipEnc, `session.ip:${s.id}`),
    userAgent: ctx.box.openOrNull(s.userAgentEnc, `session.ua:${s.id}`),
    createdAt: s.createdAt,
    lastSeenAt: s.lastSeenAt,
    endsAt: new Date(Math.min(s.expiresAt.getTime(), s.lastSeenAt.getTime() + SESSION_IDLE_MS)),
  }))
}

/** Ends one of the user's own sessions (another person's, or none, is false: the caller answers 404). */
export async function endOwnSession(ctx: Ctx, userId: string, sessionId: string): Promise<boolean> {
  const ended = await audited(
    ctx,
    (tx) => tx.db.delete(sessions).where(and(eq(sessions.id, sessionId), eq(sessions.userId, userId))).returning().get(),
    (ended) => (ended ? sessionEnded(ended, 'ended_by_user') : null),
  )
  return ended !== undefined
}

/** Ends the session of a cookie value, if any (sign-in ends a session cookie sent with it: no fixation). */
export async function endSessionBySecret(ctx: Ctx, secret: string): Promise<void> {
  await ctx.db.delete(sessions).where(eq(sessions.secretHash, hashSecret(secret))).run()
}

/** "Sign out everywhere": every session of the user, their terminals' browser sign-ins included. Returns how many console sessions ended. */
export async function endAllSessions(ctx: Ctx, userId: string, organizationId: string | null): Promise<number> {
  // The sessions, the CLI sign-ins and their events: one transaction (audited).
  const { ended } = await audited(
    ctx,
    async (tx) => ({
      ended: await tx.db.delete(sessions).where(eq(sessions.userId, userId)).returning({ id: sessions.id }).all(),
      cliEnded: await revokeCliSessionsOfUser(tx, userId, 'signed_out_everywhere'),
    }),
    ({ ended, cliEnded }): AuditInput => ({ type: 'session.ended', organizationId, targetType: 'user', targetId: userId, details: { reason: 'everywhere', sessionsEnded: ended.length, cliSessionsEnded: cliEnded.length } }),
  )
  return ended.length
}

/** Sessions of a user showing an organization (a removed member's), ended at once. */
export async function endSessionsInOrganization(ctx: Ctx, userId: string, organizationId: string): Promise<number> {
  const ended = await ctx.db
    .delete(sessions)
    .where(and(eq(sessions.userId, userId), eq(sessions.organizationId, organizationId)))
    .returning({ id: sessions.id })
    .all()
  return ended.length
}

/** The organization switcher: the session shows another organization the user belongs to. */
export async function switchOrganization(ctx: Ctx, sessionId: string, userId: string, organizationId: string): Promise<boolean> {
  // One statement, its condition the membership (stillMemberSql: on PostgreSQL read FOR KEY
  // SHARE, so a removal under way is waited for and seen). Looked up first, a removal committing
  // in between moved the session into an organization the person had left: signed in to nothing.
  const moved = await ctx.db
    .update(sessions)
    .set({ organizationId })
    .where(and(eq(sessions.id, sessionId), stillMemberSql(sql`${organizationId}`, sql`${userId}`)))
    .returning({ id: sessions.id })
    .get()
  return moved !== undefined
}

/**
 * Deletes up to `limit` ended sessions (past their absolute or their idle end, as resolveSession
 * reads them); returns how many. Run by the hourly housekeeping (src/housekeeping.ts), and for one
 * batch at each sign-in. One statement of bounded size: a backlog never holds the write lock long.
 */
export async function deleteEndedSessions(db: Db, now: number, limit: number): Promise<number> {
  return deleteBatch(db, sessions, sessions.id, sql`${sessions.expiresAt} <= ${dbTime(now)} OR ${sessions.lastSeenAt} <= ${dbTime(now - SESSION_IDLE_MS)}`, limit)
}

/** At a sign-in: one batch of ended sessions (the hourly housekeeping deletes the rest). */
export async function pruneSessions(ctx: Ctx): Promise<void> {
  await deleteEndedSessions(ctx.db, ctx.clock.now(), 1000)
}
