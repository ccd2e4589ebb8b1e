import { withTx, type Ctx } from '../context'
import type { Role } from '../db/schema'
import { addMember as addToOrganization, listMembers as listOfOrganization, membersAmong, removeMember, setMemberRole, getMember, type PublicMember } from '../modules/members/service'
import { createLink, linkableUsers } from '../modules/users/links'
import { AppError } from '../errors'
import { endSessionsInOrganization, type SignedIn } from './session'
import { ConfirmationNeeded } from './sudo'

/**
 * The Members page over the members service of /api/v1/organizations/{orgId}/members
 * (src/modules/members/): the same rules (admins only, the last admin stays, removal revokes the
 * member's tokens), with two console additions: a one-time "set your password" link for a
 * person without a password, and ending the removed member's console sessions.
 *
 * A link sets a password, so it is an account's keys: an admin may hand one out only for a person
 * who has no password and belongs to no other organization (linkableUsers in
 * src/modules/users/links.ts, asked again when the link is used). Otherwise an admin of
 * one organization could add anyone's e-mail, take a link for them, set their password and sign
 * in as them, admin of their own organizations included. Such a person changes their own password
 * (Settings → Profile), or the operator does (`teamday users set-password`).
 */

/** A member, and whether an admin of this organization may give them a password link. */
export type MemberRow = PublicMember & { linkAllowed: boolean }

/** Members on one page of Organization → Members. */
export const MEMBERS_PAGE = 200

/** The Members page with `params` (`done`: its notice) and, for a later page, its `cursor`. */
export function membersPath(params: Record<string, string>, cursor?: string | null): string {
  const query = new URLSearchParams(params)
  if (cursor) query.set('cursor', cursor)
  return query.size > 0 ? `/org/members?${query}` : '/org/members'
}

/**
 * One page of the organization's members, newest first, and the cursor of the next (null on the
 * last). The page read 200 at a time until it had 2,000 and showed those: the older members of a
 * larger organization were on no page.
 */
export async function listMembers(ctx: Ctx, who: SignedIn, cursor?: string): Promise<{ members: MemberRow[]; next: string | null }> {
  const page = await listOfOrganization(ctx, who.organization.id, { limit: MEMBERS_PAGE, offset: 0, cursor })
  const allowed = await linkableUsers(ctx, who.organization.id, page.members.map((m) => m.userId))
  return { members: page.members.map((m) => ({ ...m, linkAllowed: allowed.has(m.userId) })), next: page.nextCursor }
}

/**
 * The people of an audit log page, e-mail by id: its person filter's choices, the newest
 * PEOPLE_CHOICES members (a longer list is no choice to scroll), and the members among `also` (the
 * page's actors and the person it filters on), wherever they are in the list; each actor's e-mail
 * on the page links to the log filtered on them (AuditPage). The choices were the newest 2,000:
 * an organization of 2,000 members or more read ten pages of members for every page of the log,
 * and sent 150 KB of `<option>`s with it.
 */
export async function memberChoices(ctx: Ctx, who: SignedIn, also: readonly string[] = []): Promise<PublicMember[]> {
  const out = (await listOfOrganization(ctx, who.organization.id, { limit: PEOPLE_CHOICES, offset: 0 })).members
  const known = new Set(out.map((m) => m.userId))
  const missing = [...new Set(also)].filter((id) => !known.has(id))
  return missing.length === 0 ? out : [...out, ...(await membersAmong(ctx, who.organization.id, missing))]
}

/** The newest members an audit log page's person filter offers (beside its actors and the person filtered on). */
export const PEOPLE_CHOICES = 100

/** Null when an admin of `organizationId` may give `userId` a password link; else why not. */
async function linkRefused(ctx: Ctx, organizationId: string, userId: string, email: string): Promise<string | null> {
  if ((await linkableUsers(ctx, organizationId, [userId])).has(userId)) return null
  return `No password link for ${email}: they already have a password or belong to another organization too, so only they can set it (Settings → Profile) or the operator (teamday users set-password --email ${email}).`
}

/**
 * Adds a member; a person without a password and in no other organization gets a one-time "set
 * your password" link (72 h); `noLink` says why a person without a password got none.
 * `proved`: whether the admin's password was proved within Confirm access's window
 * (src/console/sudo.tsx); without it, every add throws ConfirmationNeeded once its own refusals
 * are passed, its transaction (the membership, the account) rolled back. A stolen admin session
 * added its thief's address as an admin with a link, and so a password of their own; one without
 * a link (a former member re-added, an account with a password of its own) gave its thief's own
 * account lasting access just as well, without being asked.
 */
export async function addMember(ctx: Ctx, who: SignedIn, email: string, role: string, proved: boolean): Promise<{ email: string; link: string | null; noLink?: string }> {
  return withTx(ctx, async (tx) => {
    const r = await addToOrganization(tx, who.organization.id, { email, role })
    const refused = await linkRefused(tx, who.organization.id, r.user.id, r.user.email)
    if (!proved) throw new ConfirmationNeeded()
    const link = refused === null ? (await createLink(tx, r.user.id, who.organization.id, 'set_password')).path : null
    return { email: r.user.email, link, ...(r.user.passwordHash === null && refused !== null ? { noLink: refused } : {}) }
  })
}

function notSelf(who: SignedIn, userId: string): void {
  if (userId === who.user.id) throw new AppError('forbidden', 'You cannot change your own membership here; ask another admin (access denied)')
}

const RANK: Record<Role, number> = { viewer: 0, member: 1, admin: 2 }

/**
 * Changes a member's role. `proved`: as addMember's: a change that raises the role (a viewer
 * made a member, anyone made an admin: GitHub asks for sudo to make an owner) throws
 * ConfirmationNeeded once its own refusals are passed, rolled back; one that lowers it (taking
 * away, as removing and revoking) never asks.
 */
export async function changeRole(ctx: Ctx, who: SignedIn, userId: string, role: string, proved: boolean): Promise<void> {
  notSelf(who, userId)
  await withTx(ctx, async (tx) => {
    const r = await setMemberRole(tx, who.organization.id, userId, role)
    if (!proved && RANK[r.member.role] > RANK[r.previousRole]) throw new ConfirmationNeeded()
  })
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

/**
 * A new "set your password" link for a member without a password who belongs to no other
 * organization (replaces an unused one); ends nothing until used. Anyone else: 403. `proved`: as
 * addMember's (ConfirmationNeeded, once the link would be given, before it is made).
 */
export async function passwordLink(ctx: Ctx, who: SignedIn, userId: string, proved: boolean): Promise<{ email: string; path: string }> {
  notSelf(who, userId)
  const member = await getMember(ctx, who.organization.id, userId)
  const refused = await linkRefused(ctx, who.organization.id, userId, member.email)
  if (refused !== null) throw new AppError('forbidden', refused)
  if (!proved) throw new ConfirmationNeeded()
  return { email: member.email, path: (await createLink(ctx, userId, who.organization.id, 'set_password')).path }
}
