import { checkTokenFormat, hashToken } from '../../auth/tokens'
import type { Deps } from '../../deps'
import { recordAuditEvent } from '../audit/service'
import { revokeCreatedBy } from '../tokens/revocation'
import { findTokenForAuth, revokeById } from '../tokens/service'

export interface ReporterContext {
  ip: string | null
  userAgent: string | null
  requestId: string | null
}

/**
 * Leaked-credential report (GitHub's credential revocation API): every well-formed token (prefix,
 * length, checksum) that exists is revoked at once, with every token it created (transitively), and
 * audited with source `leak_report`.
 * Returns nothing about what matched: the caller answers the same for every input. Each
 * candidate costs the same work (format check, SHA-256, one indexed look-up) whether or not it
 * matches, so timing says little either.
 */
export function reportLeakedCredentials(deps: Deps, credentials: readonly string[], ctx: ReporterContext): void {
  const seen = new Set<string>()
  for (const raw of credentials) {
    const candidate = raw.trim()
    if (seen.has(candidate) || checkTokenFormat(candidate) !== null) continue
    seen.add(candidate)
    const row = findTokenForAuth(deps.db, hashToken(candidate))
    if (!row) continue
    const now = deps.clock.now()
    const revoked = revokeById(deps.db, row.id, 'leak_report', now, 'leak_report')
    const audit = { organizationId: row.organizationId, source: 'leak_report' as const, actor: null, ip: ctx.ip, userAgent: ctx.userAgent, requestId: ctx.requestId }
    // Also when the token was already revoked: it may have created tokens while it worked.
    const cascaded = revokeCreatedBy(deps, [row.id], now, { cause: 'leak_report', by: 'leak_report', audit })
    recordAuditEvent(deps, {
      ...audit,
      type: 'token.leak_reported',
      tokenId: row.id,
      targetType: 'token',
      targetId: row.id,
      details: { ownerUserId: row.userId, revokedNow: revoked !== undefined, createdTokenIdsRevoked: cascaded },
    })
    if (revoked || cascaded.length) deps.logger.warn('token_leak_reported', { tokenId: row.id, createdTokensRevoked: cascaded.length, requestId: ctx.requestId })
  }
}
