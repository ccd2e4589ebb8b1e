import { and, count, eq } from 'drizzle-orm'
import { recordAudit } from '../../audit/log'
import { withTx, type Ctx } from '../../context'
import { memberships, organizations, ROLES, users, type Membership, type Organization, type Role, type User } from '../../db/schema'
import { AppError } from '../../errors'
import { newId } from '../../ids'
import { revokeTokensOfMember } from '../tokens/revocation'

/** Organizations, users and memberships: the admin CLI's domain (no HTTP routes yet). */

const SLUG = /^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$/
const EMAIL = /^[^\s@]+@[^\s@]+$/

export function normalizeEmail(email: string): string {
  const e = email.trim().toLowerCase()
  if (!EMAIL.test(e) || e.length > 254) throw new AppError('validation_failed', `Validation failed: "${email}" is not a valid e-mail address`)
  return e
}

export function validateSlug(slug: string): string {
  const s = slug.trim().toLowerCase()
  if (!SLUG.test(s)) {
    throw new AppError('validation_failed', 'Validation failed: organization slug must be 1-64 lower-case letters, digits or dashes, not starting or ending with a dash')
  }
  return s
}

export function validateRole(role: string): Role {
  if (!(ROLES as readonly string[]).includes(role)) {
    throw new AppError('validation_failed', `Validation failed: role must be one of ${ROLES.join(', ')}`)
  }
  return role as Role
}

export function findOrganizationBySlug(ctx: Ctx, slug: string): Promise<Organization | undefined> {
  return ctx.db.select().from(organizations).where(eq(organizations.slug, slug)).get()
}

export function findUserByEmail(ctx: Ctx, email: string): Promise<User | undefined> {
  return ctx.db.select().from(users).where(eq(users.email, normalizeEmail(email))).get()
}

export function getOrganization(ctx: Ctx, id: string): Promise<Organization | undefined> {
  return ctx.db.select().from(organizations).where(eq(organizations.id, id)).get()
}

export async function countUsers(ctx: Ctx): Promise<number> {
  return (await ctx.db.select({ n: count() }).from(users).get())?.n ?? 0
}

export async function requireOrganization(ctx: Ctx, slug: string): Promise<Organization> {
  const org = await findOrganizationBySlug(ctx, validateSlug(slug))
  if (!org) throw new AppError('not_found', `Organization "${slug}" not found`)
  return org
}

export async function requireUser(ctx: Ctx, email: string): Promise<User> {
  const user = await findUserByEmail(ctx, email)
  if (!user) throw new AppError('not_found', `User "${email}" not found`)
  return user
}

export function getMembership(ctx: Ctx, userId: string, organizationId: string): Promise<Membership | undefined> {
  return ctx.db
    .select()
    .from(memberships)
    .where(and(eq(memberships.userId, userId), eq(memberships.organizationId, organizationId)))
    .get()
}

/** The organizations a user belongs to, oldest membership first. */
export function listMemberships(ctx: Ctx, userId: string): Promise<{ organization: Organization; role: Role }[]> {
  return ctx.db
    .select({ organization: organizations, role: memberships.role })
    .from(memberships)
    .innerJoin(organizations, eq(organizations.id, memberships.organizationId))
    .where(eq(memberships.userId, userId))
    .orderBy(memberships.createdAt)
    .all()
}

export interface CreateUserInput {
  email: string
  orgSlug: string
  role?: Role
  name?: string
}

export interface CreateUserResult {
  user: User
  organization: Organization
  membership: Membership
  createdUser: boolean
  createdOrganization: boolean
  /** Tokens left from an earlier membership of this organization, revoked now (to be audited). */
  revokedTokenIds: string[]
}

/**
 * Adds a user to an organization, creating either when missing. Adding an existing member
 * again is a conflict (use setRole to change a role). A re-added member never gets an old token
 * back: any token of theirs for the organization still unrevoked is from an earlier membership
 * (removeMember revokes them, but not a membership ended some other way) and is revoked here.
 */
export async function createUser(ctx: Ctx, input: CreateUserInput): Promise<CreateUserResult> {
  const email = normalizeEmail(input.email)
  const slug = validateSlug(input.orgSlug)
  const role = validateRole(input.role ?? 'member')
  const now = new Date(ctx.clock.now())
  return withTx(ctx, async (tx) => {
    let organization = await tx.db.select().from(organizations).where(eq(organizations.slug, slug)).get()
    const createdOrganization = !organization
    if (!organization) {
      organization = { id: newId('org'), slug, name: slug, createdAt: now }
      await tx.db.insert(organizations).values(organization).run()
    }
    let user = await tx.db.select().from(users).where(eq(users.email, email)).get()
    const createdUser = !user
    if (!user) {
      user = { id: newId('user'), email, name: input.name?.trim() || null, createdAt: now, passwordHash: null, passwordChangedAt: null, lastSignInAt: null }
      await tx.db.insert(users).values(user).run()
    }
    const existing = await tx.db
      .select()
      .from(memberships)
      .where(and(eq(memberships.userId, user.id), eq(memberships.organizationId, organization.id)))
      .get()
    if (existing) {
      throw new AppError('conflict', `${email} is already a ${existing.role} of ${slug}; use "users set-role" to change the role`)
    }
    const membership: Membership = {
      id: newId('mem'),
      organizationId: organization.id,
      userId: user.id,
      role,
      createdAt: now,
      updatedAt: now,
    }
    await tx.db.insert(memberships).values(membership).run()
    const revokedTokenIds = createdUser || createdOrganization ? [] : await revokeTokensOfMember(tx, user.id, organization.id, 'cli')
    return { user, organization, membership, createdUser, createdOrganization, revokedTokenIds }
  })
}

/** Changes a member's role; takes effect on that user's next request. */
export async function setRole(ctx: Ctx, email: string, orgSlug: string, role: string): Promise<Membership> {
  const r = validateRole(role)
  const user = await requireUser(ctx, email)
  const org = await requireOrganization(ctx, orgSlug)
  const updated = await ctx.db
    .update(memberships)
    .set({ role: r, updatedAt: new Date(ctx.clock.now()) })
    .where(and(eq(memberships.userId, user.id), eq(memberships.organizationId, org.id)))
    .returning()
    .get()
  if (!updated) throw new AppError('not_found', `${user.email} is not a member of ${org.slug}`)
  return updated
}

/**
 * Removes a member (the admin CLI; the only way a membership ends) and revokes every token they
 * have in that organization, in the same transaction and audited (`member.removed`, and a
 * `token.revoked` per token with reason `membership_removed`): adding them again later never
 * brings an old token back.
 */
export async function removeMember(ctx: Ctx, email: string, orgSlug: string): Promise<{ role: Role; revokedTokenIds: string[] }> {
  const user = await requireUser(ctx, email)
  const org = await requireOrganization(ctx, orgSlug)
  return withTx(ctx, async (tx) => {
    const removed = await tx.db
      .delete(memberships)
      .where(and(eq(memberships.userId, user.id), eq(memberships.organizationId, org.id)))
      .returning({ role: memberships.role })
      .get()
    if (!removed) throw new AppError('not_found', `${user.email} is not a member of ${org.slug}`)
    const revokedTokenIds = await revokeTokensOfMember(tx, user.id, org.id, 'cli')
    const audit = { organizationId: org.id }
    await recordAudit(tx, { ...audit, type: 'member.removed', targetType: 'user', targetId: user.id, details: { role: removed.role, revokedTokenIds } })
    for (const id of revokedTokenIds) {
      await recordAudit(tx, { ...audit, type: 'token.revoked', tokenId: id, targetType: 'token', targetId: id, details: { reason: 'membership_removed', ownerUserId: user.id } })
    }
    return { role: removed.role, revokedTokenIds }
  })
}
