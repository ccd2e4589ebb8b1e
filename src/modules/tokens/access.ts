import { and, count, eq, gt, isNull, sql, type SQL, type SQLWrapper } from 'drizzle-orm'
import { recordAuditOnce } from '../../audit/log'
import { bearerChallenge } from '../../auth/authenticate'
import { notRevokedSql, wasRotated } from '../../auth/revoked'
import { isOrgAdmin, scopesCover, uncoveredScopes } from '../../auth/roles'
import { callerOf, type Ctx } from '../../context'
import type { Db } from '../../db/connection'
import { personalAccessTokens, type PersonalAccessToken } from '../../db/schema'
import { AppError } from '../../errors'
import { validateScopes } from './validation'
import type { Viewer } from '../viewer'

/**
 * What a token may do to tokens (issue 11): `tokens:write` is not as good as a full token.
 * - it creates only tokens whose scopes it covers (`*` only from `*`);
 * - it rotates or revokes only itself or tokens whose scopes it covers;
 * - a token in a rotation's grace period creates none, and rotates or revokes only itself;
 * - a user has at most TEAMDAY_MAX_TOKENS_PER_USER active tokens per organization.
 * Visibility (another user's or organization's token is 404) is decided before, in findVisible.
 */

const list = (scopes: readonly string[]) => scopes.join(', ')

/**
 * Who may see a personal access token (and so rotate, revoke or read it, each with its own further
 * checks): its owner, and an organization admin any of the organization's. The one rule: a token's
 * routes ask canSeeToken (findVisible), the lists visibleTokensSql; another's token is 404.
 */
export function canSeeToken(v: Viewer, t: Pick<PersonalAccessToken, 'organizationId' | 'userId'>): boolean {
  return t.organizationId === v.organizationId && (t.userId === v.userId || isOrgAdmin(v.role))
}

/** Whether `v` may list every token of the organization (`GET /tokens?all=true`): canSeeToken of any of them. */
export function mayListOrganizationTokens(v: Viewer): boolean {
  return isOrgAdmin(v.role)
}

/**
 * The rule as a list condition on `personal_access_tokens`, within the organization: the caller's
 * own tokens (binds `user`), or every one for an admin's organization-wide list (`all`, which
 * mayListOrganizationTokens allows). Undefined: nothing more to add.
 */
export function visibleTokensSql(all: boolean): SQL | undefined {
  return all ? undefined : eq(personalAccessTokens.userId, sql.placeholder('user'))
}

/**
 * The scopes of a token the caller creates: the ones asked for (default: the calling token's
 * own, `*` for a full token), refused with 403 unless the calling token covers them.
 */
export async function scopesForNewToken(ctx: Ctx, requested: string[] | undefined): Promise<string[]> {
  const principal = callerOf(ctx)
  const scopes = validateScopes(requested ?? [...principal.scopes])
  if (scopesCover(principal.scopes, scopes)) return scopes
  const missing = uncoveredScopes(principal.scopes, scopes)
  await denied(ctx, 'create', null, { requestedScopes: scopes, missingScopes: missing })
  throw new AppError(
    'insufficient_scope',
    `Forbidden: a token can only create tokens with scopes it has itself (access denied). This token has ${list(principal.scopes)} and lacks ${list(missing)}. Ask for a subset of its scopes, or use a token that has them (\`*\` only from a \`*\` token).`,
    { details: { requestedScopes: scopes, tokenScopes: principal.scopes, missingScopes: missing }, headers: scopeChallenge(missing) },
  )
}

/** Rotating or revoking `target` through the API: the calling token itself, or one whose scopes it covers. */
export async function assertMayManage(ctx: Ctx, target: PersonalAccessToken, action: 'rotate' | 'revoke'): Promise<void> {
  const principal = callerOf(ctx)
  if (target.id === principal.tokenId) return assertMayEndItself(ctx, target.scopes, action)
  if (principal.tokenId !== null) await assertNotSuperseded(ctx.db, principal.tokenId, action, ctx.clock.now())
  if (scopesCover(principal.scopes, target.scopes)) return
  const missing = uncoveredScopes(principal.scopes, target.scopes)
  await denied(ctx, action, target.id, { targetScopes: target.scopes, missingScopes: missing })
  throw new AppError(
    'insufficient_scope',
    `Forbidden: this token cannot ${action} token ${target.id} (access denied): a token may rotate or revoke only itself or tokens whose scopes it has all of, and ${target.id} also has ${list(missing)}. Use a token with at least its scopes (or \`*\`).`,
    { details: { targetTokenId: target.id, targetScopes: target.scopes, tokenScopes: principal.scopes, missingScopes: missing }, headers: scopeChallenge(missing) },
  )
}

/**
 * A token ends itself (revokes or rotates itself) whatever its scopes: it gives nothing away. An
 * agent run's request is the exception: it carries the space's TEAMDAY_TOKEN with only the scopes
 * the credential that started the run has too (src/auth/plugin.ts, narrowed), and ends that token
 * only when those cover it, as for any other token: a run started with `agents:execute` or
 * `tokens:write` revoked the space's `*` token through DELETE /tokens/self or /tokens/{its id}.
 * `ownScopes`: the calling token's own (a CLI sign-in's: `*`).
 */
export async function assertMayEndItself(ctx: Ctx, ownScopes: readonly string[], action: 'rotate' | 'revoke'): Promise<void> {
  const principal = callerOf(ctx)
  if (scopesCover(principal.scopes, ownScopes)) return
  const missing = uncoveredScopes(principal.scopes, ownScopes)
  await denied(ctx, action, principal.tokenId, { targetScopes: ownScopes, missingScopes: missing })
  throw new AppError(
    'insufficient_scope',
    `Forbidden: this agent run cannot ${action} the token it calls with (access denied): a run's teamday_api calls may do only what both the space's TEAMDAY_TOKEN and the credential that started the run may, and that token also has ${list(missing)}, which the run lacks. Start the run with a token that has at least its scopes (or \`*\`).`,
    { details: { targetTokenId: principal.tokenId, targetScopes: ownScopes, tokenScopes: principal.scopes, missingScopes: missing }, headers: scopeChallenge(missing) },
  )
}

/**
 * A token in a rotation's grace period (rotated, working on until the grace ends so that its
 * clients can move to the successor) does nothing to tokens but give itself up: it creates no
 * token (a rotation's successor included) and rotates or revokes no other. Either would let the
 * secret being retired outlive its rotation: a token it made lives on after the grace, and
 * rotating its own successor handed whoever held the old secret a new one while revoking the
 * owner's (found from outside). `state`: the token's revocation, when the caller read it already.
 * Tokens of CLI sign-ins are never rotated (their ids are no personal access token's).
 */
export async function assertNotSuperseded(
  db: Db,
  tokenId: string,
  action: 'create' | 'rotate' | 'revoke',
  now: number,
  state?: { revokedAt: Date | null; reason: string | null },
): Promise<void> {
  const t = personalAccessTokens
  const row = state ?? (await db.select({ revokedAt: t.revokedAt, reason: t.revokedReason }).from(t).where(eq(t.id, tokenId)).get())
  if (!row?.revokedAt || !wasRotated(row.reason)) return
  // The token to use now: the rotation chain's active end (the direct successor may be rotated too).
  const family = (await db.select({ familyId: t.familyId }).from(t).where(eq(t.id, tokenId)).get())?.familyId ?? tokenId
  const successor = await activeFamilyMember(db, family, tokenId, now)
  const what = action === 'create' ? 'create a token' : `${action} another token`
  throw new AppError(
    'forbidden',
    `Forbidden: this token was rotated${successor ? ` (its successor is ${successor})` : ''} and works only until ${row.revokedAt.toISOString()}, the end of its grace period, and not on tokens: it cannot ${what} (access denied), as that would let the secret being retired outlive its rotation. Use the successor.`,
  )
}

/**
 * The one active token of a rotation family (a family is one line of rotations: at most one of its
 * members is neither revoked nor expired), unless it is `exceptId`; undefined when none is.
 */
export async function activeFamilyMember(db: Db, familyId: string, exceptId: string, now: number): Promise<string | undefined> {
  const t = personalAccessTokens
  const row = await db
    .select({ id: t.id })
    .from(t)
    .where(and(eq(t.familyId, familyId), isNull(t.revokedAt), gt(t.expiresAt, new Date(now))))
    .get()
  return row?.id === exceptId ? undefined : row?.id
}

/**
 * The challenge of an `insufficient_scope` 403 (RFC 6750 §3: the scopes needed, space-separated),
 * as a route's own scope check sends it: these refusals had none, though the document says every
 * insufficient_scope answer carries one.
 */
function scopeChallenge(missing: readonly string[]): Record<string, string> {
  return { 'www-authenticate': `${bearerChallenge('insufficient_scope')}, scope="${missing.join(' ')}"` }
}

/**
 * An attempt to exceed the calling token is worth knowing (at most one event a minute per kind).
 * Alone, outside any transaction: the attempt is refused and writes nothing the event must
 * commit with (src/auth/plugin.ts says the same of a route's scope refusal).
 */
async function denied(ctx: Ctx, action: string, targetId: string | null, details: Record<string, unknown>): Promise<void> {
  const principal = callerOf(ctx)
  await recordAuditOnce(ctx, `escalation:${principal.tokenId}:${action}:${targetId ?? ''}`, {
    type: 'token.scope_denied',
    tokenId: principal.tokenId,
    targetType: targetId ? 'token' : null,
    targetId,
    details: { action, tokenScopes: principal.scopes, ...details },
  })
}

/**
 * The predicate of pat_user_org_live_idx and pat_org_live_idx, as their WHERE reads it: the tokens
 * that may still work (not revoked, or revoked ahead of time by a rotation's grace period), without
 * the revoked history, which stays for good (a CI job that makes and revokes a token per run
 * leaves one a run). Implied by notRevokedSql; named beside it so that the database may walk those
 * indexes. Literals: a bound parameter never matches a partial index's WHERE on SQLite.
 */
export function liveTokenSql(t: { revokedAt: SQLWrapper; revokedReason: SQLWrapper }): SQL {
  return sql`(${t.revokedAt} IS NULL OR ${t.revokedReason} = 'rotated')`
}

/**
 * Tokens of a user in an organization that still work at `now` (a rotation's grace period counts),
 * on pat_user_org_live_idx: the revoked history is not read. On pat_user_org_idx this count (at
 * every token creation) read every token the user ever had: 1.0 ms at 1,000 revoked tokens, 12 ms
 * at 50,000 (bench/history.ts).
 */
export async function countActiveTokens(db: Db, userId: string, organizationId: string, now: number): Promise<number> {
  return (await activeTokenCount(db, userId, organizationId, now).get())?.n ?? 0
}

/** countActiveTokens' statement (test/token-cap-history.test.ts explains it). */
export function activeTokenCount(db: Db, userId: string, organizationId: string, now: number) {
  const t = personalAccessTokens
  const at = new Date(now)
  return db
    .select({ n: count() })
    .from(t)
    .where(and(eq(t.userId, userId), eq(t.organizationId, organizationId), liveTokenSql(t), notRevokedSql(t, at), gt(t.expiresAt, at)))
}

/**
 * The per-user cap (TEAMDAY_MAX_TOKENS_PER_USER): without it the per-token rate limit multiplies
 * with the number of tokens. Rotation is exempt: it replaces a token rather than adding one.
 */
export async function assertBelowTokenCap(ctx: Ctx, userId: string, organizationId: string, now: number): Promise<void> {
  const max = ctx.config.maxTokensPerUser
  const active = await countActiveTokens(ctx.db, userId, organizationId, now)
  if (active < max) return
  throw tooManyTokens(active, max)
}

/**
 * A rotation with a grace period adds a token for that time (the old one keeps working): it may
 * take the user one past the cap, no further. Else a chain of such rotations (each rotating the
 * one before's successor) kept a day's worth of working tokens, past any cap. Counted after the
 * old token was claimed (it counts while its grace lasts). A rotation without grace replaces the
 * token at once and is never refused.
 */
export async function assertRoomForGrace(ctx: Ctx, userId: string, organizationId: string, now: number): Promise<void> {
  const max = ctx.config.maxTokensPerUser
  const active = await countActiveTokens(ctx.db, userId, organizationId, now)
  if (active <= max) return
  throw new AppError(
    'token_limit_reached',
    `Too many tokens for a rotation with a grace period: this user has ${active} active tokens in this organization (tokens still in a rotation's grace period count), the limit is ${max} (TEAMDAY_MAX_TOKENS_PER_USER), and the old token would keep working beside the new one. Rotate with gracePeriodSeconds 0, wait for the earlier grace period to end, or revoke tokens that are no longer used.`,
    { details: { activeTokens: active, maxTokensPerUser: max } },
  )
}

function tooManyTokens(active: number, max: number): AppError {
  return new AppError(
    'token_limit_reached',
    `Too many tokens: this user already has ${active} active tokens in this organization, the limit is ${max} (TEAMDAY_MAX_TOKENS_PER_USER). Revoke tokens that are no longer used (teamday tokens list / teamday tokens revoke ID), then create the new one.`,
    { details: { activeTokens: active, maxTokensPerUser: max } },
  )
}
