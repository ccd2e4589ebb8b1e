import { and, count, eq, inArray, ne, sql, type SQL } from 'drizzle-orm'
import { recordAudit } from '../../audit/log'
import { withTx, type Ctx } from '../../context'
import type { Db } from '../../db/connection'
import { cappedCount, countedPages, keysetPages, listPage, type ListPage, type PageRequest, readPage, statementReads } from '../../db/paging'
import { prepared } from '../../db/prepared'
import { auditEvents, memberships, ROLES, users, type Membership, type Role, type User } from '../../db/schema'
import { AppError, invalidField } from '../../errors'
import { newId } from '../../ids'
import { cleanName, cutText, emailKey, HIDDEN_CHARACTER, legacyEmailKey, MAX_PERSON_NAME_LENGTH, nameTrouble } from '../../text'
import { revokeTokensOfMember } from '../tokens/revocation'
import { holdsSecret } from '../../auth/tokens'
import { assertCanManageMembers, mayLeaveWithoutAdmin } from './access'
import type { Member as MemberModel } from './model'

/**
 * The members of an organization: list, add (creating the user when new), change a role, remove
 * (revoking the member's tokens there). One implementation for the API (an admin's token) and the
 * admin CLI (the operator); who may do what is members/access.ts. Every change is audited:
 * `member.added`, `member.role_changed`, `member.removed` (and `token.revoked` per token).
 */

/** The member as the API returns it: the response schema is the one source of this shape. */
export type PublicMember = typeof MemberModel.static

const EMAIL = /^[^\s@]+@[^\s@]+$/

/** An address as sent, in its one form (emailKey: trimmed, NFKC, lower case), else 422 naming `email`. */
export function normalizeEmail(email: string): string {
  const e = emailKey(email)
  if (HIDDEN_CHARACTER.test(e)) {
    // Not echoed: the address's own characters would hide or reorder the message around them.
    const message = 'an e-mail address must not contain control, zero-width or bidirectional formatting characters'
    throw invalidField('email', message)
  }
  if (!EMAIL.test(e) || e.length > 254) {
    const message = `"${cutText(email, 254)}" is not a valid e-mail address`
    throw invalidField('email', message)
  }
  return e
}

/**
 * The user with this address as a person typed it: the one stored in emailKey's form, else one
 * stored before that rule in the form the old one gave (trimmed and lower-cased only), so an
 * account made then with a full-width or compatibility character is still found. Nothing is
 * refused here (a sign-in answers an address that is no address as it answers an unknown one).
 */
export async function findUserByTypedEmail(db: Db, email: string): Promise<User | undefined> {
  const key = emailKey(email)
  const forms = [key, legacyEmailKey(email)].filter((f, i, all) => f.length <= 254 && all.indexOf(f) === i)
  if (forms.length === 0) return undefined
  if (forms.length === 1) return (await db.select().from(users).where(eq(users.email, forms[0]!)).get()) ?? legacyTwinOf(db, key)
  const rows = await db.select().from(users).where(inArray(users.email, forms)).all()
  return rows.find((r) => r.email === key) ?? rows[0] ?? legacyTwinOf(db, key)
}

/**
 * legacyEmailTwin for a lookup: the account stored before the rule in another form of the address
 * (`ａnna@…` for `anna@…`) is found by the rule's form too, as adding a member with it attaches it.
 * Only when the address has no ASCII-only form stored, and only addresses holding a character
 * outside ASCII are read.
 */
function legacyTwinOf(db: Db, key: string): Promise<User | undefined> {
  return key.length <= 254 ? legacyEmailTwin(db, key) : Promise.resolve(undefined)
}

/**
 * An account stored before emailKey's rule (trimmed and lower-cased only) whose address is `key`
 * under it, but not `exceptId`'s: one with a full-width or compatibility character (`ａnna@…` for
 * `anna@…`). A new account or an address change to `key` beside it made two accounts a person
 * reads as one, and sign-in then found the new one. Only an address with a character outside
 * ASCII can be such a twin, so only those are read (the rule cannot run in either database).
 */
export async function legacyEmailTwin(db: Db, key: string, exceptId?: string): Promise<User | undefined> {
  const rows = await db.select().from(users).where(sql`octet_length(${users.email}) <> length(${users.email})`).orderBy(users.createdAt, users.id).all()
  return rows.find((r) => r.id !== exceptId && r.email !== key && emailKey(r.email) === key)
}

/**
 * What a new address must look like (a user created, an e-mail changed), beyond normalizeEmail:
 * a dot-atom local part (RFC 5322's atext, Unicode letters and digits too as RFC 6531 allows, dots
 * only between characters; at most 64) and a domain of labels of letters, digits and inner hyphens
 * (a single label, as `localhost`, too; no trailing dot). `<a@example.com>`, `a@example.com.` (a
 * second account beside `a@example.com`) and `x"><b>@example.com` were taken as addresses.
 * Quoted local parts ("a b"@example.com) are refused: no mail client needs them here. Look-ups of
 * existing users keep normalizeEmail's rule, so an address stored before still finds its user.
 */
const ATEXT = "[\\p{L}\\p{N}!#$%&'*+/=?^_`{|}~-]+"
const LOCAL_PART = new RegExp(`^${ATEXT}(?:\\.${ATEXT})*$`, 'u')
const DOMAIN_LABEL = /^[\p{L}\p{N}](?:[\p{L}\p{N}-]{0,61}[\p{L}\p{N}])?$/u

export function checkNewEmail(email: string): void {
  const at = email.lastIndexOf('@')
  const local = email.slice(0, at)
  const domain = email.slice(at + 1)
  if (at > 0 && local.length <= 64 && LOCAL_PART.test(local) && domain.split('.').every((label) => DOMAIN_LABEL.test(label))) return
  const message = `"${cutText(email, 254)}" is not a valid e-mail address: send name@domain, with letters, digits and . _ + - (no spaces, quotes, angle brackets or trailing dot)`
  throw invalidField('email', message)
}

export { MAX_PERSON_NAME_LENGTH }

/** A person's display name as sent (the console's profile and set-up forms, a member added over the API): trimmed, null when empty. */
export function validatePersonName(raw: string | undefined | null): string | null {
  const name = cleanName(raw ?? '')
  if (name === '') return null
  // A secret pasted as a name would be stored and shown to the organization's members in clear.
  const trouble =
    name.length > MAX_PERSON_NAME_LENGTH
      ? `must be at most ${MAX_PERSON_NAME_LENGTH} characters`
      : (nameTrouble(name) ?? (holdsSecret(name) ? 'must not contain a token or another secret: a name is stored and shown to the organization\'s members' : null))
  if (trouble) throw new AppError('validation_failed', `Validation failed: name ${trouble}`, { details: [{ field: 'name', message: trouble }] })
  return name
}

export function validateRole(role: string): Role {
  if (!(ROLES as readonly string[]).includes(role)) {
    const message = `role must be one of ${ROLES.join(', ')}`
    throw invalidField('role', message)
  }
  return role as Role
}

type MemberRow = { userId: string; email: string; name: string | null; role: Role; createdAt: Date; lastSignInAt?: Date | null }

export function toPublicMember(r: MemberRow): PublicMember {
  return { userId: r.userId, email: r.email, name: r.name, role: r.role, joinedAt: r.createdAt.toISOString(), lastSignInAt: r.lastSignInAt ? r.lastSignInAt.toISOString() : null }
}

// Tables are read where used, never kept at module level: they follow the database's dialect
// (src/db/schema/index.ts).
const memberColumns = () => ({ userId: memberships.userId, email: users.email, name: users.name, role: memberships.role, createdAt: memberships.createdAt, id: memberships.id, lastSignInAt: users.lastSignInAt })

function listStatements(db: Db) {
  const where = [eq(memberships.organizationId, sql.placeholder('org'))]
  const select = () => db.select(memberColumns()).from(memberships).innerJoin(users, eq(users.id, memberships.userId)).$dynamic()
  const counted = (n: SQL.Aliased<number>) => db.select({ row: memberColumns(), n }).from(memberships).innerJoin(users, eq(users.id, memberships.userId)).$dynamic()
  return { ...keysetPages(select, memberships, where), counted: countedPages(db, counted, memberships, where), count: cappedCount(db, memberships, and(...where)) }
}

/** The organization's members, newest first, one page (memberships_org_time_idx). */
export async function listMembers(ctx: Ctx, organizationId: string, req: PageRequest): Promise<{ members: PublicMember[] } & ListPage> {
  assertCanManageMembers(ctx.actor, organizationId)
  const q = prepared(ctx.db, 'members.list', () => listStatements(ctx.db))
  const params = { org: organizationId }
  const page = await readPage('members', { org: organizationId }, req, {
    ...statementReads(q, params),
    position: (r) => ({ t: r.createdAt.getTime(), id: r.id }),
  })
  return { members: page.rows.map(toPublicMember), ...listPage(page) }
}

/** The members of the organization among `userIds` (a page's people: a few dozen ids), in no order. */
export async function membersAmong(ctx: Ctx, organizationId: string, userIds: readonly string[]): Promise<PublicMember[]> {
  assertCanManageMembers(ctx.actor, organizationId)
  if (userIds.length === 0) return []
  const rows = await ctx.db
    .select(memberColumns())
    .from(memberships)
    .innerJoin(users, eq(users.id, memberships.userId))
    .where(and(eq(memberships.organizationId, organizationId), inArray(memberships.userId, [...userIds])))
    .all()
  return rows.map(toPublicMember)
}

/** The membership of `userId` in the organization with its user, else 404. */
async function findMember(ctx: Ctx, organizationId: string, userId: string): Promise<MemberRow> {
  const row = await ctx.db
    .select(memberColumns())
    .from(memberships)
    .innerJoin(users, eq(users.id, memberships.userId))
    .where(and(eq(memberships.organizationId, organizationId), eq(memberships.userId, userId)))
    .get()
  if (!row) throw new AppError('not_found', `User ${cutText(userId, 100)} is not a member of this organization`)
  return row
}

export async function getMember(ctx: Ctx, organizationId: string, userId: string): Promise<PublicMember> {
  assertCanManageMembers(ctx.actor, organizationId)
  return toPublicMember(await findMember(ctx, organizationId, userId))
}

async function adminCount(ctx: Ctx, organizationId: string): Promise<number> {
  return (await ctx.db.select({ n: count() }).from(memberships).where(and(eq(memberships.organizationId, organizationId), eq(memberships.role, 'admin'))).get())?.n ?? 0
}

/**
 * Refuses (409 `last_admin`) a change that takes the admin role from the organization's only
 * admin, unless the actor may leave it without one (the operator). Read and write happen in one
 * write transaction, which SQLite runs one at a time (BEGIN IMMEDIATE): two admins demoting each
 * other at once cannot both pass.
 */
async function keepAnAdmin(ctx: Ctx, organizationId: string, target: MemberRow, what: string): Promise<void> {
  if (target.role !== 'admin' || mayLeaveWithoutAdmin(ctx.actor)) return
  if ((await adminCount(ctx, organizationId)) > 1) return
  throw new AppError(
    'last_admin',
    `Conflict: ${target.email} is the last admin of this organization; make another member admin first, then ${what} this one (last admin).`,
    { details: { userId: target.userId, role: target.role } },
  )
}

export interface AddMemberInput {
  email: string
  role?: string
  /** For a user created now; an existing user keeps their name. */
  name?: string
}

export interface AddedMember {
  member: PublicMember
  user: User
  membership: Membership
  createdUser: boolean
  /** Tokens left from an earlier membership of this organization, revoked now. */
  revokedTokenIds: string[]
}

/**
 * Adds a user to the organization, creating the user when no user has the e-mail. A member
 * already is a conflict (409 `already_member`: change the role instead). A re-added member never
 * gets an old token back: any token of theirs for the organization still unrevoked is from an
 * earlier membership (one ended some other way than removeMember) and is revoked here.
 */
export async function addMember(ctx: Ctx, organizationId: string, input: AddMemberInput): Promise<AddedMember> {
  assertCanManageMembers(ctx.actor, organizationId)
  const email = normalizeEmail(input.email)
  const role = validateRole(input.role ?? 'member')
  const name = validatePersonName(input.name)
  const now = new Date(ctx.clock.now())
  return withTx(ctx, async (tx) => {
    // Again with the caller's role as of now (withTx): one being demoted or removed meanwhile is refused.
    assertCanManageMembers(tx.actor, organizationId)
    // One stored before emailKey's rule in another form of this address is that person's account (findUserByTypedEmail finds it).
    let user = await findUserByTypedEmail(tx.db, input.email)
    const createdUser = !user
    if (!user) {
      checkNewEmail(email)
      user = { id: newId('user'), email, name, createdAt: now, passwordHash: null, passwordChangedAt: null, lastSignInAt: null }
      await tx.db.insert(users).values(user).run()
    }
    const existing = await tx.db.select().from(memberships).where(and(eq(memberships.userId, user.id), eq(memberships.organizationId, organizationId))).get()
    if (!existing && !createdUser && tx.actor.kind !== 'operator' && !(await joinable(tx, user, organizationId))) {
      throw new AppError(
        'conflict',
        `Conflict: an account with the e-mail ${email} already exists on this server (in another organization, or with a password this organization did not give it), and it was never a member here. E-mail addresses are not verified here (no mail is sent), so anyone could have taken this one first: an organization admin cannot attach it. The server operator can, once sure it is that person's: teamday users create --email ${email} --org <slug> --role ${role}.`,
      )
    }
    if (existing) {
      const how =
        tx.actor.kind === 'operator'
          ? 'use "teamday users set-role"'
          : tx.actor.kind === 'session'
            ? 'use the Change button of their row on this page'
            : `use PATCH /api/v1/organizations/${organizationId}/members/${user.id}`
      throw new AppError('already_member', `Conflict: ${email} is already a member of this organization (role ${existing.role}); to change the role, ${how}`, {
        details: { userId: user.id, role: existing.role },
      })
    }
    const membership: Membership = { id: newId('mem'), organizationId, userId: user.id, role, createdAt: now, updatedAt: now }
    await tx.db.insert(memberships).values(membership).run()
    const revokedTokenIds = createdUser ? [] : await revokeTokensOfMember(tx, user.id, organizationId, revokerOf(tx))
    await recordAudit(tx, { organizationId, type: 'member.added', targetType: 'user', targetId: user.id, details: { role, createdUser } })
    await auditRevoked(tx, organizationId, user.id, revokedTokenIds)
    return { member: toPublicMember({ ...user, userId: user.id, role, createdAt: now }), user, membership, createdUser, revokedTokenIds }
  })
}

/**
 * Whether an organization admin may add an existing account (found by its e-mail) to
 * `organizationId`: one that was a member here before (its removal is in this organization's
 * audit log), or one that belongs to no other organization and has no password yet (this
 * organization then gives it one: a set-password link). Any other account may have been claimed
 * by someone else: e-mail addresses are not verified, so a member of another organization could
 * change theirs to an address this organization will add (Profile), or an admin elsewhere create
 * it first and set its password, and the add would let them in. The operator (admin CLI) adds anyone.
 */
async function joinable(ctx: Ctx, user: { id: string; passwordHash: string | null }, organizationId: string): Promise<boolean> {
  const removedHere = await ctx.db
    .select({ id: auditEvents.id })
    .from(auditEvents)
    .where(and(eq(auditEvents.organizationId, organizationId), eq(auditEvents.type, 'member.removed'), eq(auditEvents.targetId, user.id)))
    .get()
  if (removedHere) return true
  return user.passwordHash === null && (await membersElsewhere(ctx, [user.id], organizationId)).size === 0
}

/** Those of `userIds` who are members of an organization other than `organizationId`. */
export async function membersElsewhere(ctx: Ctx, userIds: string[], organizationId: string): Promise<Set<string>> {
  if (userIds.length === 0) return new Set()
  const m = memberships
  const rows = await ctx.db.select({ id: m.userId }).from(m).where(and(inArray(m.userId, userIds), ne(m.organizationId, organizationId))).all()
  return new Set(rows.map((r) => r.id))
}

/** Changes a member's role; it applies to their tokens from their next request. */
export async function setMemberRole(ctx: Ctx, organizationId: string, userId: string, role: string): Promise<{ member: PublicMember; previousRole: Role }> {
  assertCanManageMembers(ctx.actor, organizationId)
  const r = validateRole(role)
  return withTx(ctx, async (tx) => {
    assertCanManageMembers(tx.actor, organizationId)
    const current = await findMember(tx, organizationId, userId)
    if (current.role === r) return { member: toPublicMember(current), previousRole: r }
    if (r !== 'admin') await keepAnAdmin(tx, organizationId, current, 'demote')
    await tx.db
      .update(memberships)
      .set({ role: r, updatedAt: new Date(tx.clock.now()) })
      .where(and(eq(memberships.organizationId, organizationId), eq(memberships.userId, userId)))
      .run()
    await recordAudit(tx, { organizationId, type: 'member.role_changed', targetType: 'user', targetId: userId, details: { from: current.role, to: r } })
    return { member: toPublicMember({ ...current, role: r }), previousRole: current.role }
  })
}

/**
 * Removes a member and revokes every token they have in the organization, in one transaction
 * and audited (`member.removed`, and a `token.revoked` per token with reason
 * `membership_removed`): adding them again later never brings an old token back. Their next
 * request with any of those tokens is refused (401 token_revoked).
 */
export async function removeMember(ctx: Ctx, organizationId: string, userId: string): Promise<{ member: PublicMember; revokedTokenIds: string[] }> {
  assertCanManageMembers(ctx.actor, organizationId)
  return withTx(ctx, async (tx) => {
    assertCanManageMembers(tx.actor, organizationId)
    const current = await findMember(tx, organizationId, userId)
    await keepAnAdmin(tx, organizationId, current, 'remove')
    await tx.db.delete(memberships).where(and(eq(memberships.organizationId, organizationId), eq(memberships.userId, userId))).run()
    const revokedTokenIds = await revokeTokensOfMember(tx, userId, organizationId, revokerOf(tx))
    await recordAudit(tx, { organizationId, type: 'member.removed', targetType: 'user', targetId: userId, details: { role: current.role, revokedTokenIds } })
    await auditRevoked(tx, organizationId, userId, revokedTokenIds)
    return { member: toPublicMember(current), revokedTokenIds }
  })
}

/** `revoked_by` of tokens revoked with a membership: the admin's user id, or "cli". */
function revokerOf(ctx: Ctx): string {
  return ctx.actor.kind === 'token' || ctx.actor.kind === 'session' ? ctx.actor.principal.userId : 'cli'
}

async function auditRevoked(ctx: Ctx, organizationId: string, ownerUserId: string, ids: string[]): Promise<void> {
  for (const id of ids) {
    await recordAudit(ctx, { organizationId, type: 'token.revoked', tokenId: id, targetType: 'token', targetId: id, details: { reason: 'membership_removed', ownerUserId } })
  }
}
