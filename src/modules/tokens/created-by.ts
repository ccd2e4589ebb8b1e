import { sql } from 'drizzle-orm'
import { recordAudit, type AuditInput } from '../../audit/log'
import { withTx, type Ctx } from '../../context'
import { dbTime } from '../../db/schema'
import { revocable } from './service'

/**
 * A compromised creator's tokens. Its own module (not ./revocation.ts, which ends CLI sessions):
 * the CLI sign-in's code-reuse revocation (src/modules/cli-auth/service.ts) takes along the tokens
 * made through the session it ends.
 */

/** Why a token is taken for leaked, and what it created with it (a leak report, a CLI code polled twice). */
export type LeakCause = 'leak_report' | 'code_reused'

/**
 * Revokes every still-active token created, directly or through other tokens, by one of `roots`
 * (`created_by_token_id`): whoever held a leaked secret may have minted tokens with it, and
 * those must not survive it. The walk goes on through tokens revoked earlier (they too may have
 * created tokens while they worked). Each revoked token gets a `token.revoked` audit event with
 * reason `creator_revoked`. Returns their ids.
 */
export async function revokeCreatedBy(
  ctx: Ctx,
  roots: readonly string[],
  opts: { cause: LeakCause; by: string; audit?: Pick<AuditInput, 'organizationId' | 'source' | 'actor'> },
): Promise<string[]> {
  if (roots.length === 0) return []
  // In a transaction: a token being created by one of the roots right now either committed
  // before (and is found here) or finds its creator revoked (createToken checks it in its own
  // transaction, which these exclude: src/db/pg.ts, SQLite's one writer).
  return withTx(ctx, (tx) => revokeCreatedByNow(tx, roots, opts))
}

/**
 * Every token created, directly or through other tokens, by one of `roots` (PAT ids or CLI
 * sign-in ids), revoked or not: what a leaked secret may have minted, whose runs stop with it
 * (src/modules/executions/leaked.ts).
 */
export async function createdByTransitive(ctx: Ctx, roots: readonly string[]): Promise<string[]> {
  if (roots.length === 0) return []
  const rootList = sql.join(roots.map((id) => sql`${id}`), sql`, `)
  const rows = await ctx.db.all<[string]>(sql`
    WITH RECURSIVE created(id) AS (
      SELECT id FROM personal_access_tokens WHERE created_by_token_id IN (${rootList})
      UNION
      SELECT p.id FROM personal_access_tokens p JOIN created c ON p.created_by_token_id = c.id
    )
    SELECT id FROM created`)
  return rows.map(([id]) => id)
}

async function revokeCreatedByNow(ctx: Ctx, roots: readonly string[], opts: Parameters<typeof revokeCreatedBy>[2]): Promise<string[]> {
  const now = ctx.clock.now()
  const rootList = sql.join(roots.map((id) => sql`${id}`), sql`, `)
  // A statement without a select list: rows come back as value arrays, in RETURNING's order.
  const rows = await ctx.db.all<[string, string | null]>(sql`
    UPDATE personal_access_tokens
    SET revoked_at = ${dbTime(now)}, revoked_by = ${opts.by}, revoked_reason = 'creator_revoked'
    WHERE id IN (
      WITH RECURSIVE created(id) AS (
        SELECT id FROM personal_access_tokens WHERE created_by_token_id IN (${rootList})
        UNION
        SELECT p.id FROM personal_access_tokens p JOIN created c ON p.created_by_token_id = c.id
      )
      SELECT id FROM created
    ) AND ${revocable(now)}
    RETURNING id, created_by_token_id AS createdBy`)
  const revoked = rows.map(([id, createdBy]) => ({ id, createdBy }))
  for (const r of revoked) {
    await recordAudit(ctx, {
      ...opts.audit,
      type: 'token.revoked',
      tokenId: r.id,
      targetType: 'token',
      targetId: r.id,
      details: { reason: 'creator_revoked', cause: opts.cause, createdByTokenId: r.createdBy },
    })
  }
  return revoked.map((r) => r.id)
}

