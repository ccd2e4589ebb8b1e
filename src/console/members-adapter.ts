import { and, asc, eq } from 'drizzle-orm'
import { recordAudit } from '../audit/log'
import { withTx, type Ctx } from '../context'
import { memberships, users, type Role } from '../db/schema'
import { AppError } from '../errors'
import { createLink } from '../modules/users/links'
import { createUser, removeMember, setRole, validateRole } from '../modules/users/service'
import { endSessionsInOrganization, type SignedIn } from './session'

/**
 * The one place the Members page reaches the membership services. Today those are main's
 * organization-membership functions of src/modules/users/service.ts (written for the admin CLI:
 * they take e-mail and slug and check no caller), so the admin check is here. When the members
 * service of src/modules/members/ lands (issue 14), switch these five functions to it.
 */

export interface MemberRow {
  userId: string
  email: string
  name: string | null
  role: Role
  since: Date
  lastSignInAt: Date | null
  hasPassword: boolean
}

function assertAdmin(who: SignedIn): void {
  if (who.role !== 'admin') throw new AppError('forbidden', 'Forbidden: only organization admins manage members (access denied)')
}

export async function listMembers(ctx: Ctx, who: SignedIn): Promise<MemberRow[]> {
  assertAdmin(who)
  const rows = await ctx.db
    .select({ userId: users.id, email: users.email, name: users.name, role: memberships.role, since: memberships.createdAt, lastSignInAt: users.lastSignInAt, passwordHash: users.passwordHash })
    .from(memberships)
    .innerJoin(users, eq(users.id, memberships.userId))
    .where(eq(memberships.organizationId, who.organization.id))
    .orderBy(asc(memberships.createdAt))
    .all()
  return rows.map(({ passwordHash, ...r }) => ({ ...r, hasPassword: passwordHash !== null }))
}

/** Adds a member; a person without a password gets a one-time "set your password" link (72 h). */
export async function addMember(ctx: Ctx, who: SignedIn, email: string, role: string): Promise<{ email: string; link: string | null }> {
  assertAdmin(who)
  const r = await createUser(ctx, { email, orgSlug: who.organization.slug, role: validateRole(role) })
  await recordAudit(ctx, { type: 'member.added', targetType: 'user', targetId: r.user.id, details: { role: r.membership.role, createdUser: r.createdUser, revokedTokenIds: r.revokedTokenIds } })
  const link = r.user.passwordHash ? null : (await createLink(ctx, r.user.id, who.organization.id, 'set_password')).path
  return { email: r.user.email, link }
}

async function memberEmail(ctx: Ctx, who: SignedIn, userId: string): Promise<string> {
  const row = await ctx.db
    .select({ email: users.email })
    .from(memberships)
    .innerJoin(users, eq(users.id, memberships.userId))
    .where(and(eq(memberships.userId, userId), eq(memberships.organizationId, who.organization.id)))
    .get()
  if (!row) throw new AppError('not_found', 'No such member of this organization')
  if (userId === who.user.id) throw new AppError('forbidden', 'You cannot change your own membership here; ask another admin (access denied)')
  return row.email
}

export async function changeRole(ctx: Ctx, who: SignedIn, userId: string, role: string): Promise<void> {
  assertAdmin(who)
  const email = await memberEmail(ctx, who, userId)
  const m = await setRole(ctx, email, who.organization.slug, role)
  await recordAudit(ctx, { type: 'member.role_changed', targetType: 'user', targetId: userId, details: { role: m.role } })
}

/** Removes a member: their tokens of this organization are revoked and their sessions in it end, at once. */
export async function removeMemberNow(ctx: Ctx, who: SignedIn, userId: string): Promise<number> {
  assertAdmin(who)
  const email = await memberEmail(ctx, who, userId)
  return withTx(ctx, async (tx) => {
    const r = await removeMember(tx, email, who.organization.slug)
    await endSessionsInOrganization(tx, userId, who.organization.id)
    return r.revokedTokenIds.length
  })
}

/** A new "set your password" link for a member (replaces an unused one). */
export async function passwordLink(ctx: Ctx, who: SignedIn, userId: string): Promise<string> {
  assertAdmin(who)
  await memberEmail(ctx, who, userId)
  return (await createLink(ctx, userId, who.organization.id, 'set_password')).path
}
