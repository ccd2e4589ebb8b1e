import type { Ctx } from '../../context'
import { createToken } from '../tokens/service'
import { countUsers, createUser } from './service'

export const BOOTSTRAP_ORG = 'default'
export const BOOTSTRAP_EMAIL = 'admin@localhost'

/**
 * First start on an empty database: organization `default`, user `admin@localhost` (admin)
 * and one admin token, returned once for the caller to print. Later starts return null.
 */
export async function bootstrapIfEmpty(ctx: Ctx): Promise<{ token: string; email: string; org: string; expiresAt: Date } | null> {
  if ((await countUsers(ctx)) > 0) return null
  const { user, organization } = await createUser(ctx, { email: BOOTSTRAP_EMAIL, orgSlug: BOOTSTRAP_ORG, role: 'admin', name: 'Administrator' })
  const { token, row } = await createToken(ctx, { userId: user.id, organizationId: organization.id }, { name: 'Initial admin token' })
  return { token, email: user.email, org: organization.slug, expiresAt: row.expiresAt }
}
