import { recordAudit } from '../../audit/log'
import { findTokenForAuth } from '../../auth/lookup'
import { checkTokenFormat, hashToken } from '../../auth/tokens'
import type { Ctx } from '../../context'
import { revokeLeakedCliToken } from '../cli-auth/service'
import { revokeCreatedBy } from '../tokens/revocation'
import { revokeById } from '../tokens/service'

/**
 * Leaked-credential report (GitHub's credential revocation API): every well-formed token (prefix,
 * length, checksum) that exists is revoked at once, with every token it created (transitively), and
 * audited with source `leak_report`. `ctx` is the reporting request's (anonymous).
 * Returns nothing about what matched: the caller answers the same for every input. Each
 * candidate costs the same work (format check, SHA-256, one indexed look-up) whether or not it
 * matches, so timing says little either.
 */
export async function reportLeakedCredentials(ctx: Ctx, credentials: readonly string[]): Promise<void> {
  const seen = new Set<string>()
  for (const raw of credentials) {
    const candidate = raw.trim()
    if (seen.has(candidate)) continue
    // A CLI sign-in's access or refresh token (tdo_, tdr_): its whole session goes, with every
    // token made through it (a PAT created with a tdo_ records the session as its creator).
    if (candidate.startsWith('tdo_') || candidate.startsWith('tdr_')) {
      seen.add(candidate)
      const session = await revokeLeakedCliToken(ctx, candidate)
      if (session) {
        const audit = { organizationId: session.organizationId, source: 'leak_report' as const, actor: null }
        const cascaded = await revokeCreatedBy(ctx, [session.id], { cause: 'leak_report', by: 'leak_report', audit })
        if (cascaded.length) ctx.log.warn('token_leak_reported', { cliSessionId: session.id, createdTokensRevoked: cascaded.length, requestId: ctx.requestId })
      }
      continue
    }
    if (checkTokenFormat(candidate) !== null) continue
    seen.add(candidate)
    const row = await findTokenForAuth(ctx.db, hashToken(candidate))
    if (!row) continue
    const revoked = await revokeById(ctx, row.id, 'leak_report', 'leak_report')
    const audit = { organizationId: row.organizationId, source: 'leak_report' as const, actor: null }
    // Also when the token was already revoked: it may have created tokens while it worked.
    const cascaded = await revokeCreatedBy(ctx, [row.id], { cause: 'leak_report', by: 'leak_report', audit })
    await recordAudit(ctx, {
      ...audit,
      type: 'token.leak_reported',
      tokenId: row.id,
      targetType: 'token',
      targetId: row.id,
      details: { ownerUserId: row.userId, revokedNow: revoked !== undefined, createdTokenIdsRevoked: cascaded },
    })
    if (revoked || cascaded.length) ctx.log.warn('token_leak_reported', { tokenId: row.id, createdTokensRevoked: cascaded.length, requestId: ctx.requestId })
  }
}
