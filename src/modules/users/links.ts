import { and, desc, eq, gt, inArray, isNull, sql } from 'drizzle-orm'
import { recordAudit } from '../../audit/log'
import { randomBase62 } from '../../auth/random'
import { withTx, type Ctx } from '../../context'
import type { Db } from '../../db/connection'
import { deleteBatch } from '../../db/batch-delete'
import { forUpdate } from '../../db/locks'
import { dbTime, memberships, oneTimeLinks, users, type OneTimeLink, type User } from '../../db/schema'
import { AppError } from '../../errors'
import { newId } from '../../ids'
import { membersElsewhere, validatePersonName } from '../members/service'
import { setPassword } from './passwords'

/**
 * One-time links: `/setup/<secret>` (first start, 1 hour) and `/set-password/<secret>` (a member
 * added in the console, 72 hours). 43 base62 characters (256 bits); only the SHA-256 is stored;
 * a link works once, and a new link for the same user and purpose replaces the old one.
 */
export type LinkPurpose = 'setup' | 'set_password'
export const LINK_TTL_MS: Record<LinkPurpose, number> = { setup: 3_600_000, set_password: 72 * 3_600_000 }
export const LINK_PATH: Record<LinkPurpose, string> = { setup: '/setup/', set_password: '/set-password/' }

const hash = (secret: string) => Bun.CryptoHasher.hash('sha256', secret, 'hex')

export async function createLink(ctx: Ctx, userId: string, organizationId: string | null, purpose: LinkPurpose): Promise<{ path: string; expiresAt: Date }> {
  const secret = randomBase62(43)
  const now = ctx.clock.now()
  const expiresAt = new Date(now + LINK_TTL_MS[purpose])
  await withTx(ctx, async (tx) => {
    await tx.db.delete(oneTimeLinks).where(and(eq(oneTimeLinks.userId, userId), eq(oneTimeLinks.purpose, purpose))).run()
    await tx.db.insert(oneTimeLinks).values({ id: newId('link'), secretHash: hash(secret), userId, organizationId, purpose, createdAt: new Date(now), expiresAt, usedAt: null }).run()
    await recordAudit(tx, { type: 'user.password_link_created', organizationId, targetType: 'user', targetId: userId, details: { purpose, expiresAt: expiresAt.toISOString() } })
  })
  return { path: LINK_PATH[purpose] + secret, expiresAt }
}

/** How long a link is kept after it was used or expired (it then opens nothing, as an unknown one). */
export const SPENT_LINK_KEEP_MS = 86_400_000

/**
 * Links used or expired over SPENT_LINK_KEEP_MS ago, at most `limit` (the hourly housekeeping,
 * src/housekeeping.ts: a person's link was otherwise deleted only when another was made for
 * them); returns how many went. The audit log keeps each link's creation.
 */
export async function deleteSpentLinks(db: Db, now: number, limit: number): Promise<number> {
  const l = oneTimeLinks
  const before = dbTime(now - SPENT_LINK_KEEP_MS)
  return deleteBatch(db, l, l.id, sql`${l.usedAt} < ${before} OR ${l.expiresAt} < ${before}`, limit)
}

/**
 * The first start's set-up link while it still works (unused, unexpired, its admin still without
 * a password): whom it is for and when it expires, or null. A later start within its hour (a
 * second replica of a Compose file, a restart) says where that link is, rather than only how to
 * set a password from the terminal. Never the link itself: only its hash is stored.
 */
export async function liveSetupLink(ctx: Ctx): Promise<{ email: string; expiresAt: Date } | null> {
  const row = await ctx.db
    .select({ email: users.email, expiresAt: oneTimeLinks.expiresAt })
    .from(oneTimeLinks)
    .innerJoin(users, eq(users.id, oneTimeLinks.userId))
    .where(and(eq(oneTimeLinks.purpose, 'setup'), isNull(oneTimeLinks.usedAt), gt(oneTimeLinks.expiresAt, new Date(ctx.clock.now())), isNull(users.passwordHash)))
    .orderBy(desc(oneTimeLinks.expiresAt))
    .limit(1)
    .get()
  return row ?? null
}

/** The unused, unexpired link of a secret and its user, or null. */
export async function findLink(ctx: Ctx, purpose: LinkPurpose, secret: string): Promise<{ link: OneTimeLink; user: User } | null> {
  if (!/^[0-9A-Za-z]{43}$/.test(secret)) return null
  const row = await ctx.db
    .select({ link: oneTimeLinks, user: users })
    .from(oneTimeLinks)
    .innerJoin(users, eq(users.id, oneTimeLinks.userId))
    .where(and(eq(oneTimeLinks.secretHash, hash(secret)), eq(oneTimeLinks.purpose, purpose), isNull(oneTimeLinks.usedAt), gt(oneTimeLinks.expiresAt, new Date(ctx.clock.now()))))
    .get()
  // The first start's link is for an admin without a password: one set since, however, ends it
  // (setPassword also marks the user's links used; this holds for a link made after that).
  if (row && purpose === 'setup' && row.user.passwordHash !== null) return null
  return row ?? null
}

/**
 * Those of `userIds` (members of `organizationId`) for whom that organization's admins may make
 * a set-password link: those without a password who belong to no other organization. A link sets
 * a password, so for anyone else it would hand one organization's admins another person's account.
 * Asked for the people a page shows (one page of Members, one person): it asked for the whole
 * organization, every passwordless member's id bound into one statement (20,000 members: 150 ms a
 * page; past PostgreSQL's 65,535 parameters (250,000 variables in Bun's SQLite) an error, a 500 page).
 */
export async function linkableUsers(ctx: Ctx, organizationId: string, userIds: readonly string[]): Promise<Set<string>> {
  if (userIds.length === 0) return new Set()
  const m = memberships
  const passwordless = await ctx.db
    .select({ id: users.id })
    .from(m)
    .innerJoin(users, eq(users.id, m.userId))
    .where(and(eq(m.organizationId, organizationId), inArray(m.userId, [...userIds]), isNull(users.passwordHash)))
    .all()
  const ids = passwordless.map((r) => r.id)
  const elsewhere = await membersElsewhere(ctx, ids, organizationId)
  return new Set(ids.filter((id) => !elsewhere.has(id)))
}

/** The refusal of a link whose account may no longer get one (linkableUsers; a set-up link: a password set since). */
function noLongerApplies(): AppError {
  return new AppError('not_found', 'This link no longer applies: the account has a password now or belongs to another organization too. Sign in with your password, or ask the operator (teamday users set-password on the server).')
}

/**
 * Uses a link: sets the password (ending the user's sessions) and, for the first start's
 * set-up, optionally the name. The claim and the password commit together; a second use fails.
 */
export async function useLink(ctx: Ctx, purpose: LinkPurpose, secret: string, input: { password: string; name?: string }): Promise<{ link: OneTimeLink; user: User }> {
  const found = await findLink(ctx, purpose, secret)
  if (!found) throw new AppError('not_found', 'This link is invalid, already used or expired. Ask an administrator for a new one (teamday users set-password on the server).')
  // Asked again now: since the link was made, the person may have set a password or joined
  // another organization, whose admins' accounts this link must not reach.
  if (purpose === 'set_password' && !(await linkableUsers(ctx, found.link.organizationId ?? '', [found.user.id])).has(found.user.id)) {
    throw noLongerApplies()
  }
  const name = validatePersonName(input.name)
  await withTx(ctx, async (tx) => {
    // Asked again in the claim's transaction, the user's row read with forUpdate (the password
    // written below changes it): a password set or another organization joined at the same moment
    // (its membership's insert holds the row's key share) is waited for and seen here. Asked only
    // before the transaction, such a link set the password of a person who had just joined
    // another organization, whose admins' account it must not reach.
    const user = await forUpdate(tx.db, tx.db.select({ passwordHash: users.passwordHash }).from(users).where(eq(users.id, found.user.id))).get()
    const applies = user !== undefined && (purpose === 'setup' ? user.passwordHash === null : (await linkableUsers(tx, found.link.organizationId ?? '', [found.user.id])).has(found.user.id))
    if (!applies) throw noLongerApplies()
    const claimed = await tx.db.update(oneTimeLinks).set({ usedAt: new Date(ctx.clock.now()) }).where(and(eq(oneTimeLinks.id, found.link.id), isNull(oneTimeLinks.usedAt))).returning({ id: oneTimeLinks.id }).get()
    if (!claimed) throw new AppError('not_found', 'This link was used already.')
    if (name !== null) await tx.db.update(users).set({ name }).where(eq(users.id, found.user.id)).run()
    await setPassword(tx, found.user.id, input.password, { organizationId: found.link.organizationId })
  })
  return found
}
