import { count, sql } from 'drizzle-orm'
import { withTx, type Ctx } from '../../context'
import { users } from '../../db/schema'
import { AppError } from '../../errors'
import { createLink } from './links'
import { setPassword, validatePassword } from './passwords'
import { countUsers, createUser, normalizeEmail } from './service'

export const BOOTSTRAP_ORG = 'default'
export const BOOTSTRAP_EMAIL = 'admin@localhost'

export type Bootstrap =
  | { kind: 'setup_link'; email: string; org: string; path: string; expiresAt: Date }
  | { kind: 'password_file'; email: string; org: string }

/**
 * First start on an empty database: organization `default` and an admin user. No long-lived
 * credential is printed: either the operator gave the admin's e-mail and a password file
 * (TEAMDAY_ADMIN_EMAIL, TEAMDAY_ADMIN_PASSWORD_FILE: unattended starts), or the caller prints a
 * one-time `/setup/<secret>` link (1 hour) where the admin chooses a password. Later starts: null.
 */
export async function bootstrapIfEmpty(ctx: Ctx, admin: { email?: string; password?: string } = {}): Promise<Bootstrap | null> {
  if ((await countUsers(ctx)) > 0) return null
  // Checked before anything is created: a bad password file must not leave an admin without one.
  if (admin.password !== undefined) validatePassword(admin.password)
  const email = admin.email ? normalizeEmail(admin.email) : BOOTSTRAP_EMAIL
  const password = admin.password
  try {
    // The admin, its organization and its password or set-up link, with their events: one
    // transaction. Apart, a failure between (an audit event refused, a crash) left an admin with
    // neither, and a next start, finding a user, made no link.
    return await withTx(ctx, async (tx): Promise<Bootstrap> => {
      const { user, organization } = await createUser(tx, { email, orgSlug: BOOTSTRAP_ORG, role: 'admin', name: 'Administrator' })
      if (password !== undefined) {
        await setPassword(tx, user.id, password, { organizationId: organization.id })
        return { kind: 'password_file', email: user.email, org: organization.slug }
      }
      const link = await createLink(tx, user.id, organization.id, 'setup')
      return { kind: 'setup_link', email: user.email, org: organization.slug, ...link }
    })
  } catch (e) {
    // Another process on the same database (--reuse-port) bootstrapped first: nothing to do here.
    if (e instanceof AppError && (e.code === 'already_member' || e.code === 'conflict')) return null
    throw e
  }
}

/**
 * The earliest admin membership's (any organization) user e-mail or organization slug, as a
 * scalar subquery: whom the start's no-password hint names (the first start's admin is
 * TEAMDAY_ADMIN_EMAIL's, not necessarily admin@localhost, and may have left). Written as SQL, not
 * with drizzle's builder of joins, order and limit: that was the start's one use of them, and
 * their first run took ~1.5 ms before the start's first request was answered.
 */
function firstAdmins(column: 'u.email' | 'o.slug') {
  return sql<string | null>`(select ${sql.raw(column)} from memberships m inner join users u on u.id = m.user_id inner join organizations o on o.id = m.organization_id where m.role = 'admin' order by m.created_at, m.id limit 1)`
}

/**
 * How many users there are, how many can sign in to the console (have a password), and the
 * earliest admin membership (whom the no-password hint names; null when there is none): what a
 * start needs to know, in one statement (each statement of a start delays its first request).
 */
export async function userCounts(ctx: Ctx): Promise<{ users: number; withPassword: number; firstAdmin: { email: string; org: string } | null }> {
  const row = await ctx.db
    .select({ users: count(), withPassword: count(users.passwordHash), adminEmail: firstAdmins('u.email'), adminOrg: firstAdmins('o.slug') })
    .from(users)
    .get()
  const firstAdmin = row?.adminEmail != null && row.adminOrg != null ? { email: row.adminEmail, org: row.adminOrg } : null
  return { users: row?.users ?? 0, withPassword: row?.withPassword ?? 0, firstAdmin }
}
