import { and, eq, isNull } from 'drizzle-orm'
import type { Ctx } from '../../context'
import { oneTimeLinks, personalAccessTokens, sessions } from '../../db/schema'
import { revokeCliSessionsOfMember } from '../cli-auth/service'
import { revocable } from './service'

/** Revocations that take other tokens along: a member leaving (and, in ./created-by.ts, a compromised creator). */

/**
 * Revokes every token a user has in an organization that is not revoked yet (expired ones too,
 * so that none shows as merely expired): when they leave it, and again when they are added (any
 * token then left belongs to an earlier membership, e.g. one ended before removal revoked tokens,
 * or by a row deleted by hand). Their CLI sign-ins (sessions of browser sign-in) and their web
 * console sessions showing that organization end with them, on every path that ends or renews a
 * membership (the API, the console, the admin CLI): a cookie kept from before a removal must not
 * come back to life when the person is added again. So do the set-password links this
 * organization's admins made for them and that were not used: refused while they are not a member
 * (useLink), such a link worked again once they were added back, and set the password of whoever
 * held it since. Returns the ids of the tokens.
 */
export async function revokeTokensOfMember(ctx: Ctx, userId: string, organizationId: string, by: string): Promise<string[]> {
  // Console sessions first: an approval of a terminal's sign-in written from one of them
  // meanwhile is then either refused or withdrawn with the CLI sign-ins (cli-auth/service.ts).
  await ctx.db.delete(sessions).where(and(eq(sessions.userId, userId), eq(sessions.organizationId, organizationId))).run()
  await revokeCliSessionsOfMember(ctx, userId, organizationId)
  const t = personalAccessTokens
  const now = ctx.clock.now()
  const l = oneTimeLinks
  await ctx.db.update(l).set({ usedAt: new Date(now) }).where(and(eq(l.userId, userId), eq(l.organizationId, organizationId), isNull(l.usedAt))).run()
  const rows = await ctx.db
    .update(t)
    .set({ revokedAt: new Date(now), revokedBy: by, revokedReason: 'membership_removed' })
    .where(and(eq(t.userId, userId), eq(t.organizationId, organizationId), revocable(now)))
    .returning({ id: t.id })
    .all()
  return rows.map((r) => r.id)
}
