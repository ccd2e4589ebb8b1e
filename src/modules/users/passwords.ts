import { and, eq, isNull, ne } from 'drizzle-orm'
import { recordAudit } from '../../audit/log'
import { withTx, type Ctx } from '../../context'
import { memberships, oneTimeLinks, sessions, users, type User } from '../../db/schema'
import { AppError } from '../../errors'
import { revokeCliSessionsOfUser } from '../cli-auth/service'
import { findUserByTypedEmail } from '../members/service'
import { hashPrefix, type PasswordHashing } from './password-hashing'

/**
 * Human passwords (console sign-in), hashed with argon2id at the runtime's cost
 * (Config.passwordHashing; PASSWORD_HASHING on a server: src/modules/users/password-hashing.ts).
 * Hashes carry their parameters (PHC string): raising them later re-hashes a user's password at
 * their next sign-in.
 */
export const MIN_PASSWORD_LENGTH = 12
export const MAX_PASSWORD_LENGTH = 256

export function validatePassword(password: unknown): string {
  if (typeof password !== 'string' || password.length < MIN_PASSWORD_LENGTH || password.length > MAX_PASSWORD_LENGTH) {
    throw new AppError('validation_failed', `Validation failed: a password must be ${MIN_PASSWORD_LENGTH}-${MAX_PASSWORD_LENGTH} characters`, {
      details: [{ field: 'password', message: `must be ${MIN_PASSWORD_LENGTH}-${MAX_PASSWORD_LENGTH} characters` }],
    })
  }
  return password
}

export function hashPassword(password: string, params: PasswordHashing): Promise<string> {
  return Bun.password.hash(password, params)
}

// A real hash of a random password at the runtime's cost: verifying against it costs what a real
// verify costs, so an unknown e-mail answers in the same time as a wrong password. One per cost
// (a process has one, but for tests that build runtimes of either).
const dummies = new Map<string, Promise<string>>()
function dummyHash(params: PasswordHashing): Promise<string> {
  const key = hashPrefix(params)
  let dummy = dummies.get(key)
  if (!dummy) dummies.set(key, (dummy = hashPassword(crypto.randomUUID(), params)))
  return dummy
}

/**
 * What a password check found: `user`, the user whose e-mail and password these are, or null;
 * `named`, the user the e-mail names whatever the password (a failed sign-in is audited as an
 * attempt on that account), or null when it names no one.
 */
export interface PasswordCheck {
  user: User | null
  named: User | null
}

/**
 * Checks an e-mail and password with one read of the user. Always one argon2id verify, whether
 * the user exists, has no password yet, or not (a second one only for the right password of an
 * old-parameter hash that another sign-in re-hashed meanwhile).
 */
export async function checkPassword(ctx: Ctx, email: string, password: string): Promise<PasswordCheck> {
  const named = (await findUserByTypedEmail(ctx.db, email)) ?? null
  const pw = password.slice(0, MAX_PASSWORD_LENGTH)
  const params = ctx.config.passwordHashing
  const ok = await Bun.password.verify(pw, named?.passwordHash ?? (await dummyHash(params)))
  if (!named?.passwordHash || !ok) return { user: null, named }
  if (!named.passwordHash.startsWith(hashPrefix(params))) {
    // Only over the hash just verified: a password changed while it was verified stays changed
    // (the old one was written back over it, and signed in again).
    const rehashed = await ctx.db
      .update(users)
      .set({ passwordHash: await hashPassword(pw, params) })
      .where(and(eq(users.id, named.id), eq(users.passwordHash, named.passwordHash)))
      .returning({ passwordHash: users.passwordHash })
      .get()
    // The user as stored now: `passwordHash` is the hash this check stands for (startSignedInSession).
    if (rehashed) return { user: { ...named, passwordHash: rehashed.passwordHash }, named }
    // Another hash is stored now. Another sign-in with this same password may have re-hashed it
    // first (two tabs, a retry): that is no password change, and this one was refused as a wrong
    // password (audited so, counted against the throttle). The hash stored now decides: a new
    // password does not verify and stays refused (startSignedInSession), the same one does.
    const now = await ctx.db.select({ passwordHash: users.passwordHash }).from(users).where(eq(users.id, named.id)).get()
    if (now?.passwordHash && now.passwordHash !== named.passwordHash && (await Bun.password.verify(pw, now.passwordHash))) {
      return { user: { ...named, passwordHash: now.passwordHash }, named }
    }
  }
  return { user: named, named }
}

/**
 * Sets a user's password and ends every session of theirs; audited as user.password_changed.
 * `renewSession`: the console session that changed it, which goes on under a new id: it is ended
 * with the others and `renew` starts its successor in the same transaction (its result returned;
 * undefined when that session had ended meanwhile). Kept under its id, a copy of its cookie (the
 * theft a password change is meant to end) went on working after the change.
 */
export async function setPassword<T>(
  ctx: Ctx,
  userId: string,
  password: string,
  opts: { renewSession?: { id: string; renew: (tx: Ctx) => Promise<T> }; organizationId?: string | null } = {},
): Promise<T | undefined> {
  const hash = await hashPassword(validatePassword(password), ctx.config.passwordHashing)
  const now = new Date(ctx.clock.now())
  return withTx(ctx, async (tx) => {
    const updated = await tx.db.update(users).set({ passwordHash: hash, passwordChangedAt: now }).where(eq(users.id, userId)).returning({ id: users.id }).get()
    if (!updated) throw new AppError('not_found', `User ${userId} not found`)
    const renewing = opts.renewSession
    const others = renewing ? and(eq(sessions.userId, userId), ne(sessions.id, renewing.id)) : eq(sessions.userId, userId)
    const ended = await tx.db.delete(sessions).where(others).returning({ id: sessions.id }).all()
    // The session that made the change: ended too, and started again under a new id.
    const renewed = renewing && (await tx.db.delete(sessions).where(and(eq(sessions.userId, userId), eq(sessions.id, renewing.id))).returning({ id: sessions.id }).get())
    // Terminals signed in through the browser (`teamday login`) end too.
    const cliEnded = await revokeCliSessionsOfUser(tx, userId, 'password_changed')
    // And every unused set-up or set-password link of the user: a password chosen another way
    // (the admin CLI, the profile page) must not leave a link in old logs that sets it again.
    await tx.db.update(oneTimeLinks).set({ usedAt: now }).where(and(eq(oneTimeLinks.userId, userId), isNull(oneTimeLinks.usedAt))).run()
    // In the organization it was changed from; set by the admin CLI, in each of the user's
    // organizations, where their admins read it (none: the operator's alone).
    const orgIds = opts.organizationId ? [opts.organizationId] : (await tx.db.select({ id: memberships.organizationId }).from(memberships).where(eq(memberships.userId, userId)).all()).map((m) => m.id)
    for (const organizationId of orgIds.length > 0 ? orgIds : [null]) {
      await recordAudit(tx, {
        type: 'user.password_changed',
        organizationId,
        targetType: 'user',
        targetId: userId,
        // sessionsEnded: the user's other sessions; the one that made the change (console
        // Settings → Password) is not among them: it goes on under a new id (sessionRenewed).
        details: { sessionsEnded: ended.length, cliSessionsEnded: cliEnded.length, ...(renewed ? { sessionRenewed: true } : {}) },
      })
    }
    return renewed ? renewing.renew(tx) : undefined
  })
}
