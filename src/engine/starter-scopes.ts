import { eq } from 'drizzle-orm'
import type { Db } from '../db/connection'
import { cliSessions, personalAccessTokens, type Execution } from '../db/schema'

/** Where a run's recovered limit came from (starterScopes). */
export type StarterScopesFrom = 'token' | 'cli_session' | 'unknown'

/**
 * The scopes of the credential that started a run recorded without them (executions.scope_limit
 * NULL: written by a build before that column, migration sqlite 0020 / pg 0008), for when its
 * turn comes. Read NULL as "no limit", such a run's `teamday_api` calls could do all the space's
 * TEAMDAY_TOKEN may, whatever the credential that started it; the rule is never more than that
 * credential. Its token is known by `token_id` (recorded since sqlite 0018 / pg 0006): a personal
 * access token's scopes never change after it is made, so they are what the run would have
 * recorded (revoked or not: what a revocation does to runs is decided elsewhere, as for any
 * run); a CLI sign-in's are `*`, as recorded for one. Without a token that is still stored (a run
 * from the console, or older than token_id, which cannot be told apart), none: its calls are
 * refused rather than let through with more than its starter may have had.
 */
export async function starterScopes(db: Db, run: Pick<Execution, 'tokenId'>): Promise<{ scopes: string[]; from: StarterScopesFrom }> {
  if (run.tokenId === null) return { scopes: [], from: 'unknown' }
  const pat = await db.select({ scopes: personalAccessTokens.scopes }).from(personalAccessTokens).where(eq(personalAccessTokens.id, run.tokenId)).get()
  if (pat) return { scopes: [...pat.scopes], from: 'token' }
  const cli = await db.select({ id: cliSessions.id }).from(cliSessions).where(eq(cliSessions.id, run.tokenId)).get()
  if (cli) return { scopes: ['*'], from: 'cli_session' }
  return { scopes: [], from: 'unknown' }
}
