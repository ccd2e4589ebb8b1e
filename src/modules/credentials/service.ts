import type { AuditInput } from '../../audit/log'
import { afterOtherRequests } from '../../next-turn'
import { findTokenForAuth } from '../../auth/lookup'
import { ACCESS_TOKEN_PREFIX, checkTokenFormat, hashToken, REFRESH_TOKEN_PREFIX } from '../../auth/tokens'
import { audited, withTx, type Ctx } from '../../context'
import { personalAccessTokens } from '../../db/schema'
import { valuesPresent } from '../../db/values-present'
import { findLeakedCliSession, knownCliTokens, revokeLeakedCliToken } from '../cli-auth/service'
import { revokeCreatedBy } from '../tokens/created-by'
import { revokeById } from '../tokens/service'
import { cancelRunsOfLeakedTokens } from '../executions/leaked'

/** Tokens looked up between two turns of the event loop. */
const LOOKUPS_PER_TURN = 20

/**
 * Leaked-credential report (GitHub's credential revocation API): every well-formed token (prefix,
 * length, checksum) that exists is revoked at once, with every token it created (transitively), and
 * audited with source `leak_report` (a report that changes nothing is not recorded again). `ctx`
 * is the reporting request's (anonymous).
 * Returns nothing about what matched: the caller answers the same for every input. Each
 * candidate costs the same work (format check, SHA-256, its place in one indexed look-up of all of
 * them) whether or not it matches, so timing says little either; a match then costs its revocation.
 */
export async function reportLeakedCredentials(ctx: Ctx, credentials: readonly string[]): Promise<void> {
  const seen = new Set<string>()
  let looked = 0
  // The personal access tokens among them, found together (valuesPresent): each well-formed
  // candidate is still checked and hashed alike, matched or not.
  const hashes = new Map<string, string>()
  for (const raw of credentials) {
    const candidate = raw.trim()
    if (!hashes.has(candidate) && checkTokenFormat(candidate) === null) hashes.set(candidate, hashToken(candidate))
  }
  const known = await valuesPresent(ctx.db, personalAccessTokens, personalAccessTokens.tokenHash, [...hashes.values()])
  const knownCli = await knownCliTokens(ctx, credentials.map((c) => c.trim()))
  for (const raw of credentials) {
    const candidate = raw.trim()
    if (seen.has(candidate)) continue
    // A report may name up to 1,000 real tokens, each a few statements: other requests get a
    // turn every few (before, 1,000 revoked tokens held the server for 0.4-0.8 s, unauthenticated).
    if (looked > 0 && looked % LOOKUPS_PER_TURN === 0) await afterOtherRequests()
    // A CLI sign-in's access or refresh token (tdo_, tdr_): its whole session goes, with every
    // token made through it (a PAT created with a tdo_ records the session as its creator).
    if (candidate.startsWith(ACCESS_TOKEN_PREFIX) || candidate.startsWith(REFRESH_TOKEN_PREFIX)) {
      seen.add(candidate)
      looked++
      // Looked up first, outside a transaction, as a td_ token is: only one that exists opens one.
      // Each candidate opened a transaction (on SQLite BEGIN IMMEDIATE, the write lock), so an
      // unauthenticated report of 1,000 made-up `tdo_…` strings took the write lock 1,000 times
      // (1-2 s; 5-6 s of a pooled connection on PostgreSQL), where 1,000 `td_…` took 0.2 s.
      if (!knownCli.has(candidate) || !(await findLeakedCliSession(ctx, candidate))) continue
      // The session, what was made through it, its runs and their events: one transaction.
      const found = await withTx(ctx, async (tx) => {
        const session = await revokeLeakedCliToken(tx, candidate)
        if (!session) return null
        const audit = { organizationId: session.organizationId, source: 'leak_report' as const, actor: null }
        const cascaded = await revokeCreatedBy(tx, [session.id], { cause: 'leak_report', by: 'leak_report', audit })
        const cancelled = await cancelRunsOfLeakedTokens(tx, [session.id], 'leak_report')
        return { session, cascaded, cancelled }
      })
      if (found?.cancelled.length) ctx.log.warn('token_leak_reported', { cliSessionId: found.session.id, executionsCancelled: found.cancelled.length, requestId: ctx.requestId })
      if (found?.cascaded.length) ctx.log.warn('token_leak_reported', { cliSessionId: found.session.id, createdTokensRevoked: found.cascaded.length, requestId: ctx.requestId })
      continue
    }
    const hash = hashes.get(candidate)
    if (hash === undefined) continue
    seen.add(candidate)
    looked++
    if (!known.has(hash)) continue
    const row = await findTokenForAuth(ctx.db, hash)
    if (!row) continue
    const audit = { organizationId: row.organizationId, source: 'leak_report' as const, actor: null }
    // The token, what it made, its runs and `token.leak_reported`: one transaction (audited).
    const { revoked, cascaded, cancelled } = await audited(
      ctx,
      async (tx) => {
        const revoked = await revokeById(tx, row.id, 'leak_report', 'leak_report')
        // Also when the token was already revoked: it may have created tokens while it worked.
        const cascaded = await revokeCreatedBy(tx, [row.id], { cause: 'leak_report', by: 'leak_report', audit })
        // Runs it (or a token it made) started and that are still under way stop too, also when it
        // was revoked before (a run started before a plain revocation may still be going).
        const cancelled = await cancelRunsOfLeakedTokens(tx, [row.id], 'leak_report')
        return { revoked, cascaded, cancelled }
      },
      // A report that changes nothing (a token revoked before, nothing made through it, no run
      // under way) is not recorded again: anyone may repeat one, and the audit log would fill with
      // them. One that stopped runs is, also when no token was left to revoke.
      ({ revoked, cascaded, cancelled }): AuditInput | null =>
        !revoked && cascaded.length === 0 && cancelled.length === 0
          ? null
          : {
              ...audit,
              type: 'token.leak_reported',
              tokenId: row.id,
              targetType: 'token',
              targetId: row.id,
              details: { ownerUserId: row.userId, revokedNow: revoked !== undefined, createdTokenIdsRevoked: cascaded, executionsCancelled: cancelled },
            },
    )
    if (!revoked && cascaded.length === 0 && cancelled.length === 0) continue
    ctx.log.warn('token_leak_reported', { tokenId: row.id, createdTokensRevoked: cascaded.length, executionsCancelled: cancelled.length, requestId: ctx.requestId })
  }
}
