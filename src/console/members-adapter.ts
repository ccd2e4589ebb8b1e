import { withTx, type Ctx } from '../context'
import { addMember as addToOrganization, listMembers as listOfOrganization, removeMember, setMemberRole, getMember, type PublicMember } from '../modules/members/service'
import { createLink } from '../modules/users/links'
import { AppError } from '../errors'
import { endSessionsInOrganization, type SignedIn } from './session'

/**
 * The Members page over the members service of /api/v1/organizations/{orgId}/members
 * (src/modules/members/): the same rules (admins only, the last admin stays, removal revokes the
 * member's tokens), with two console additions: a one-time "set your password" link for a
 * person without a password, and ending the removed member's console sessions.
 */

export type MemberRow = PublicMember & { hasPassword: boolean }

export async function listMembers(ctx: Ctx, who: SignedIn): Promise<PublicMember[]> {
  const out: PublicMember[] = []
  let cursor: string | undefined
  do {
    const page = await listOfOrganization(ctx, who.organization.id, { limit: 200, offset: 0, cursor })
    out.push(...page.members)
    cursor = page.nextCursor ?? undefined
  } while (cursor && out.length < 2000)
  return out
}

/** Adds a member; a person without a password gets a one-time "set your password" link (72 h). */
export async function addMember(ctx: Ctx, who: SignedIn, email: string, role: string): Promise<{ email: string; link: string | null }> {
  return withTx(ctx, async (tx) => {
    const r = await addToOrganization(tx, who.organization.id, { email, role })
    const link = r.user.passwordHash ? null : (await createLink(tx, r.user.id, who.organization.id, 'set_password')).path
    return { email: r.user.email, link }
  })
}

function notSelf(who: SignedIn, userId: string): void {
  if (userId === who.user.id) throw new AppError('forbidden', 'You cannot change your own membership here; ask another admin (access denied)')
}

export async function changeRole(ctx: Ctx, who: SignedIn, userId: string, role: string): Promise<void> {
  notSelf(who, userId)
  await setMemberRole(ctx, who.organization.id, userId, role)
}

/** Removes a member: their tokens of this organization are revoked and their sessions in it end, at once. */
export async function removeMemberNow(ctx: Ctx, who: SignedIn, userId: string): Promise<number> {
  notSelf(who, userId)
  return withTx(ctx, async (tx) => {
    const r = await removeMember(tx, who.organization.id, userId)
    await endSessionsInOrganization(tx, userId, who.organization.id)
    return r.revokedTokenIds.length
  })
}

/** A new "set your password" link for a member (replaces an unused one); ends nothing until used. */
export async function passwordLink(ctx: Ctx, who: SignedIn, userId: string): Promise<{ email: string; path: string }> {
  notSelf(who, userId)
  const member = await getMember(ctx, who.organization.id, userId)
  return { email: member.email, path: (await createLink(ctx, userId, who.organization.id, 'set_password')).path }
}
