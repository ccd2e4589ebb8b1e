import { and, eq } from 'drizzle-orm'
import { audited } from '../../context'
import { forShare } from '../../db/locks'
import { memberships } from '../../db/schema'
import { tokenCreatedEvent } from '../../modules/tokens/lifecycle'
import { createToken, findTokenById, listTokensOfUser, revokeById } from '../../modules/tokens/service'
import { listMemberships, requireOrganization, requireUser } from '../../modules/users/service'
import { AppError } from '../../errors'
import { printToken, table, tokenRows, UsageError } from '../common'
import { cursorRefusal, limitOf, nextPageNote } from './paging'
import { dbArgument, withRuntime } from './runtime'
import type { Run } from '../spec'

/**
 * `teamday tokens create|list|revoke` in admin mode: on the database file, no token needed
 * (options and usage: src/cli/registry.ts, which checks the required options before this code
 * loads; without --email/--org/--db: src/cli/client/tokens.ts).
 */

export function create({ values, io }: Run<{ email?: string; org?: string; name?: string; 'expires-in-days'?: string; scopes?: string; db?: string }>): Promise<void> {
  const email = values.email!
  const name = values.name!
  const daysRaw = values['expires-in-days']
  const days = daysRaw === undefined ? undefined : Number(daysRaw)
  if (daysRaw !== undefined && (!/^\d+$/.test(daysRaw) || !Number.isInteger(days))) throw new UsageError('--expires-in-days must be a whole number of days (7-365)')
  const scopes = values.scopes === undefined ? undefined : values.scopes.split(',').map((s) => s.trim()).filter(Boolean)
  return withRuntime(io, values.db, async (rt, ctx) => {
    const user = await requireUser(ctx, email)
    const orgs = await listMemberships(ctx, user.id)
    let orgId: string
    if (values.org) {
      const org = await requireOrganization(ctx, values.org)
      if (!orgs.some((m) => m.organization.id === org.id)) throw new AppError('not_found', `${user.email} is not a member of ${org.slug}`)
      orgId = org.id
    } else if (orgs.length === 1) {
      orgId = orgs[0]!.organization.id
    } else if (orgs.length === 0) {
      throw new AppError('not_found', `${user.email} belongs to no organization; add them with "teamday users create"`)
    } else {
      throw new UsageError(`${user.email} belongs to several organizations (${orgs.map((m) => m.organization.slug).join(', ')}); pass --org`)
    }
    const { token, row } = await audited(
      ctx,
      async (tx) => {
        // Still a member, asked in the token's transaction (the membership read forShare): a
        // removal committed since the look-up above (an admin on the API, another command) made
        // a token here that every request refused, printed as if it worked.
        if (!(await forShare(tx.db, tx.db.select({ id: memberships.id }).from(memberships).where(and(eq(memberships.userId, user.id), eq(memberships.organizationId, orgId)))).get())) {
          throw new AppError('not_found', `${user.email} is no longer a member of that organization (removed meanwhile); no token was created`)
        }
        return createToken(tx, { userId: user.id, organizationId: orgId }, { name, expiresInDays: days, scopes })
      },
      (created) => tokenCreatedEvent(created.row),
    )
    await printToken(io, token, (why) => new Error(`token ${row.id} was created, but ${why}: nobody received it. Revoke it: teamday tokens revoke ${row.id} --db ${dbArgument(rt.config.dbPath)}`))
  })
}

/** One page of the user's tokens in every organization, newest first (--limit, --cursor: src/cli/admin/paging.ts). */
export function list({ values, io }: Run<{ email?: string; limit?: string; cursor?: string; json?: boolean; db?: string }>): Promise<void> {
  const email = values.email!
  const limit = limitOf(values.limit, 100)
  return withRuntime(io, values.db, async (_rt, ctx) => {
    const user = await requireUser(ctx, email)
    const page = await listTokensOfUser(ctx, user.id, user.email, { limit, cursor: values.cursor }).catch((e) => cursorRefusal(e, `teamday tokens list --email ${user.email}`, 'the newest tokens'))
    const { tokens } = page
    if (values.json) io.out(JSON.stringify({ tokens, total: page.total, totalIsEstimate: page.totalIsEstimate, nextCursor: page.nextCursor }, null, 2))
    else if (tokens.length === 0) io.out(`${user.email} has no tokens`)
    else io.out(table(tokenRows(tokens) as any, ['id', 'name', 'maskedToken', 'status', 'organizationId', 'createdAt', 'expiresAt', 'revokedAt', 'lastUsedAt', 'lastUsedIp']))
    nextPageNote(io, tokens.length, 'tokens', page)
  })
}

export function revoke({ values, positionals, io }: Run<{ db?: string }>): Promise<void> {
  const id = positionals[0]!
  return withRuntime(io, values.db, async (_rt, ctx) => {
    const existing = await findTokenById(ctx, id)
    if (!existing) throw new AppError('not_found', `Token ${id} not found`)
    const revoked = await audited(
      ctx,
      (tx) => revokeById(tx, id, 'cli', 'admin_cli'),
      (r) => (r ? { type: 'token.revoked', organizationId: r.organizationId, tokenId: id, targetType: 'token', targetId: id, details: { reason: 'admin_cli' } } : null),
    )
    if (revoked) io.out(`revoked token ${id}; requests using it are refused from now on`)
    else io.out(`token ${id} was already revoked at ${existing.revokedAt!.toISOString()}`)
  })
}
