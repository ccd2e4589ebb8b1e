import { and, count, eq } from 'drizzle-orm'
import { withTx, type Ctx } from '../../context'
import { memberships, organizations, users, type Membership, type Organization, type Role, type User } from '../../db/schema'
import { AppError } from '../../errors'
import { newId } from '../../ids'
import { addMember, findUserByTypedEmail, normalizeEmail, removeMember as removeMemberOf, setMemberRole, validateRole, type AddedMember } from '../members/service'

export { normalizeEmail, validateRole } from '../members/service'

/** Organizations and users for the admin CLI; memberships are members/service.ts. */

const SLUG = /^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$/

export function validateSlug(slug: string): string {
  const s = slug.trim().toLowerCase()
  if (!SLUG.test(s)) {
    throw new AppError('validation_failed', 'Validation failed: organization slug must be 1-64 lower-case letters, digits or dashes, not starting or ending with a dash')
  }
  return s
}

export function findOrganizationBySlug(ctx: Ctx, slug: string): Promise<Organization | undefined> {
  return ctx.db.select().from(organizations).where(eq(organizations.slug, slug)).get()
}

export function findUserByEmail(ctx: Ctx, email: string): Promise<User | undefined> {
  normalizeEmail(email)
  return findUserByTypedEmail(ctx.db, email)
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

export interface CreateUserResult extends AddedMember {
  organization: Organization
  createdOrganization: boolean
}

/**
 * Adds a user to an organization (the admin CLI), creating either when missing; the membership
 * itself is members/service.ts addMember (the same as the API's): a member already is a conflict,
 * leftover tokens of an earlier membership are revoked, and it is audited.
 */
export async function createUser(ctx: Ctx, input: CreateUserInput): Promise<CreateUserResult> {
  normalizeEmail(input.email)
  const slug = validateSlug(input.orgSlug)
  validateRole(input.role ?? 'member')
  return withTx(ctx, async (tx) => {
    let organization = await tx.db.select().from(organizations).where(eq(organizations.slug, slug)).get()
    const createdOrganization = !organization
    if (!organization) {
      organization = { id: newId('org'), slug, name: slug, createdAt: new Date(tx.clock.now()) }
      await tx.db.insert(organizations).values(organization).run()
    }
    const added = await addMember(tx, organization.id, { email: input.email, role: input.role, name: input.name })
    return { ...added, organization, createdOrganization }
  })
}

/** Changes a member's role (the admin CLI; members/service.ts setMemberRole); takes effect on that user's next request. */
export async function setRole(ctx: Ctx, email: string, orgSlug: string, role: string): Promise<{ role: Role }> {
  const r = validateRole(role)
  const user = await requireUser(ctx, email)
  const org = await requireOrganization(ctx, orgSlug)
  await assertMember(ctx, user, org)
  return { role: (await setMemberRole(ctx, org.id, user.id, r)).member.role }
}

/**
 * Removes a member (the admin CLI; members/service.ts removeMember, as the API does) and revokes
 * every token they have in that organization, in the same transaction and audited.
 */
export async function removeMember(ctx: Ctx, email: string, orgSlug: string): Promise<{ role: Role; revokedTokenIds: string[] }> {
  const user = await requireUser(ctx, email)
  const org = await requireOrganization(ctx, orgSlug)
  await assertMember(ctx, user, org)
  const r = await removeMemberOf(ctx, org.id, user.id)
  return { role: r.member.role, revokedTokenIds: r.revokedTokenIds }
}

/** The admin CLI names members by e-mail and organization slug: say so when it is not one. */
async function assertMember(ctx: Ctx, user: User, org: Organization): Promise<void> {
  if (!(await getMembership(ctx, user.id, org.id))) throw new AppError('not_found', `${user.email} is not a member of ${org.slug}`)
}
