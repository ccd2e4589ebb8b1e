import { sql } from 'drizzle-orm'
import { notRevokedSql } from '../../auth/revoked'
import type { Db } from '../../db/connection'
import { deleteBatch } from '../../db/batch-delete'
import { cliAccessTokens, cliLoginCodes, cliSessions, dbTime, personalAccessTokens } from '../../db/schema'

/**
 * What of browser sign-ins for CLIs is dead and may go (the hourly housekeeping, src/housekeeping.ts;
 * login codes also as new ones are started). Each statement deletes at most `limit` rows, so a
 * large backlog never holds the database's write lock for long; deleting the same rows twice (two
 * instances at once) deletes nothing the second time.
 */

/** How long finished login codes are kept (to tell "used" or "expired" from "unknown"). */
export const CODE_RETENTION_MS = 3_600_000

/**
 * How long a CLI session is kept after its refresh token expired or it was revoked (the console
 * lists only active ones): meanwhile a refresh with it is answered `token_expired` or
 * `token_revoked`, which say what happened, rather than "not one this server issued".
 */
export const CLI_SESSION_KEEP_MS = 30 * 86_400_000

/**
 * How long an access token's row is kept after it expired: a client whose clock runs behind still
 * hears `token_expired`, the answer on which it refreshes (src/client/http.ts), and not
 * `invalid_token` for a token the server forgot. (A refresh of the same session deletes its
 * expired ones at once, as before.)
 */
export const ACCESS_TOKEN_KEEP_MS = 86_400_000

/** Login codes that finished over CODE_RETENTION_MS ago; returns how many went. */
export async function deleteFinishedLoginCodes(db: Db, now: number, limit: number): Promise<number> {
  return deleteBatch(db, cliLoginCodes, cliLoginCodes.id, sql`${cliLoginCodes.expiresAt} < ${dbTime(now - CODE_RETENTION_MS)}`, limit)
}

/** Access tokens of any session that expired over ACCESS_TOKEN_KEEP_MS ago. */
export async function deleteExpiredAccessTokens(db: Db, now: number, limit: number): Promise<number> {
  return deleteBatch(db, cliAccessTokens, cliAccessTokens.id, sql`${cliAccessTokens.expiresAt} < ${dbTime(now - ACCESS_TOKEN_KEEP_MS)}`, limit)
}

/**
 * CLI sessions whose refresh token expired, or that were revoked, over CLI_SESSION_KEEP_MS ago,
 * with their access tokens (the foreign key cascades). Their audit events stay. A session through
 * which a personal access token was made that still works is kept as long as that token does:
 * a leak report of the session's refresh token revokes the tokens made through it
 * (src/modules/credentials/), and it can find them only from the session's row.
 */
export async function deleteEndedCliSessions(db: Db, now: number, limit: number): Promise<number> {
  const s = cliSessions
  const p = personalAccessTokens
  const before = dbTime(now - CLI_SESSION_KEEP_MS)
  const at = dbTime(now)
  const ended = sql`(${s.refreshExpiresAt} < ${before} OR ${s.revokedAt} < ${before})
    AND NOT EXISTS (SELECT 1 FROM ${p} WHERE ${p.createdByTokenId} = ${s.id} AND ${p.expiresAt} > ${at} AND ${notRevokedSql(p, new Date(now))})`
  return deleteBatch(db, s, s.id, ended, limit)
}
