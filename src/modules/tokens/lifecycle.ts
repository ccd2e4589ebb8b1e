import { and, eq, isNull, sql } from 'drizzle-orm'
import type { AuditInput } from '../../audit/log'
import { audited, callerOf, type Ctx } from '../../context'
import type { Caller, Principal } from '../../auth/principal'
import { cliSessions, organizations, personalAccessTokens, type PersonalAccessToken } from '../../db/schema'
import { prepared } from '../../db/prepared'
import { AppError } from '../../errors'
import { activeFamilyMember, assertMayEndItself, assertMayManage, scopesForNewToken } from './access'
import { assertCredentialUnrevoked, revocationInForce, ROTATED_GRACE, ROTATED_NOW, wasRotated } from '../../auth/revoked'
import { revokeCliSessionById } from '../cli-auth/service'
import { createToken, findTokenById, findVisible, revokeById, toPublicToken, type CreateTokenInput, type PublicToken, type RevokeReason } from './service'
import { askedExpiry, DAY_MS, MAX_EXPIRY_DAYS, MIN_EXPIRY_DAYS, resolveExpiry, type MakerLimit } from './validation'

export const MAX_GRACE_SECONDS = 86_400

/** `token.created` for a token made through the API, the console or the admin CLI (written with it: audited). */
export function tokenCreatedEvent(row: PersonalAccessToken): AuditInput {
  return {
    organizationId: row.organizationId,
    type: 'token.created',
    tokenId: row.id,
    targetType: 'token',
    targetId: row.id,
    details: { scopes: row.scopes, expiresAt: row.expiresAt.toISOString(), ownerUserId: row.userId },
  }
}

/** POST /tokens: a token for the caller, in the caller's organization, audited. */
export async function createTokenForCaller(ctx: Ctx, input: CreateTokenInput): Promise<{ token: string; row: PersonalAccessToken }> {
  const principal = callerOf(ctx)
  const scopes = await scopesForNewToken(ctx, input.scopes)
  const owner = { userId: principal.userId, organizationId: principal.organizationId, createdByTokenId: principal.tokenId }
  return audited(ctx, (tx) => createToken(tx, owner, { ...input, scopes }), (created) => tokenCreatedEvent(created.row))
}

export interface RotateInput {
  /** The new token's lifetime (7-365 days), or its expiry (`expiresAt`, as at creation): at most one; default the old token's lifetime. */
  expiresInDays?: number
  expiresAt?: string
  gracePeriodSeconds?: number
}

export interface Rotated {
  token: string
  row: PersonalAccessToken
  email: string
  previous: PersonalAccessToken
}

/**
 * Rotation (Unkey's reroll, GitLab's rotate): a new token with the same name, scopes and
 * family; the old one is revoked now or when the grace period ends. Only the owner rotates
 * (an admin revokes instead), with the token itself or one that covers its scopes. Rotating a
 * token that is no longer active is 409 invalid_state naming its successor, and changes nothing:
 * the caller presented another credential (a console session, another token), which shows that
 * its page or script is stale, not that the old secret leaked.
 */
export async function rotateToken(ctx: Ctx, id: string, input: RotateInput): Promise<Rotated> {
  const principal = callerOf(ctx)
  const found = await findVisible(ctx, id)
  const old = found.token
  if (old.userId !== principal.userId) {
    throw new AppError('forbidden', "Forbidden: only a token's owner can rotate it (access denied); an admin can revoke it instead.")
  }
  await assertMayManage(ctx, old, 'rotate')
  const now = ctx.clock.now()
  // The new lifetime as creation decides it (7-365 days, `expiresInDays` or `expiresAt`, not
  // both), refused before anything changes (createToken, within the limits it reads); without
  // either, the old token's (within 7-365 days).
  const lifetime = Math.min(MAX_EXPIRY_DAYS * DAY_MS, Math.max(MIN_EXPIRY_DAYS * DAY_MS, old.expiresAt.getTime() - old.createdAt.getTime()))
  const expiry = { expiresInDays: input.expiresInDays, expiresAt: input.expiresAt }
  if (askedExpiry(expiry) !== null) resolveExpiry(expiry, now, principal.tokenId === null ? Infinity : now)
  const family = old.familyId ?? old.id
  if (revocationInForce(old, now)) {
    // This request authenticated with the very token, so it was valid when the request came in:
    // a rotation or revocation that committed since (a client's retry racing its first attempt,
    // across instances on PostgreSQL) is no sign of a leaked secret, and must not revoke the
    // successor that the other request has just handed out.
    if (principal.tokenId === old.id) throw await concurrentlyRevoked(ctx, old)
    // Any other caller (a console session, another of the owner's tokens) holds a different
    // credential: rotating a token no longer active by its id (ids are listed to the owner) shows
    // a stale page or script, not that the old secret leaked, whenever it comes. It revokes nothing
    // (its family's successor may already be in use) and names the successor to rotate instead.
    // The old secret itself is refused at authentication (401 token_revoked) before it gets here.
    throw await noLongerActive(ctx, old)
  }
  if (old.revokedAt) {
    const successor = await activeSuccessor(ctx, old, now)
    throw new AppError(
      'invalid_state',
      successor
        ? `Token ${old.id} was already rotated (its successor is ${successor}) and stops working at ${old.revokedAt.toISOString()}; rotate the successor instead.`
        : `Token ${old.id} was already rotated and stops working at ${old.revokedAt.toISOString()}, and no token of its rotation family is active any more; create a new token.`,
    )
  }
  if (old.expiresAt.getTime() <= now) {
    throw new AppError('invalid_state', `Token ${old.id} expired on ${old.expiresAt.toISOString()} and cannot be rotated; create a new token.`)
  }
  // A person signed in to the console may make any token, so may renew any (the new token has no
  // limit): only a token or a sign-in is held to the limit the old token was made with.
  const limit: MakerLimit | null = principal.tokenId === null || !old.expiresLimitAt ? null : { at: old.expiresLimitAt, source: 'rotated' }
  if (limit && limit.at.getTime() <= now) {
    throw new AppError('invalid_state', `Token ${old.id} was made by another token or a sign-in to expire no later than ${limit.at.toISOString()}: rotating renews a secret, not its lifetime, and that time has passed. Create a new token.`)
  }
  const grace = input.gracePeriodSeconds ?? 0
  if (!Number.isInteger(grace) || grace < 0 || grace > MAX_GRACE_SECONDS) {
    throw new AppError('validation_failed', `Validation failed: gracePeriodSeconds must be an integer between 0 and ${MAX_GRACE_SECONDS}`, {
      details: [{ field: 'gracePeriodSeconds', message: `must be an integer between 0 and ${MAX_GRACE_SECONDS}` }],
    })
  }
  const revokeAt = new Date(now + grace * 1000)
  // Without a grace period the old token is revoked from this commit on, on every instance,
  // whatever their clocks (ROTATED_NOW); a grace period ends by the clock at `revokeAt`.
  const reason: RevokeReason = grace > 0 ? ROTATED_GRACE : ROTATED_NOW
  const t = personalAccessTokens
  // The claim on the old token, its successor and the `token.rotated` event commit together, or none does.
  const lost = new Error('rotated or revoked by a concurrent request')
  const created = await audited(ctx, async (tx) => {
    const claimed = await tx.db
      .update(t)
      .set({ revokedAt: revokeAt, revokedBy: principal.userId, revokedReason: reason })
      .where(and(eq(t.id, old.id), isNull(t.revokedAt)))
      .returning({ id: t.id })
      .get()
    if (!claimed) throw lost
    const name = toPublicToken(tx, old, found.email).name
    const owner = { userId: principal.userId, organizationId: principal.organizationId, createdByTokenId: principal.tokenId }
    return createToken(tx, owner, { name, scopes: old.scopes }, { familyId: family, rotatedFromId: old.id, expiry, lifetimeMs: lifetime, graceful: grace > 0, limit })
  }, (made): AuditInput => ({
    type: 'token.rotated',
    tokenId: old.id,
    targetType: 'token',
    targetId: made.row.id,
    details: { newTokenId: made.row.id, gracePeriodSeconds: grace, previousRevokedAt: revokeAt.toISOString() },
  })).catch(async (e) => {
    // Once this transaction is over the other request's rotation is committed (it held the row):
    // the 409 names its successor, as the retry of a finished rotation does (it named none). The
    // same when that rotation of the calling token itself committed before this transaction
    // began, which refuses a revoked caller (withTx: 401 token_revoked): concurrentlyRevoked
    // tells a rotation (409) from any other revocation (401 again).
    const selfRevoked = e instanceof AppError && e.code === 'token_revoked' && principal.tokenId === old.id
    throw e === lost || selfRevoked ? await concurrentlyRevoked(ctx, old) : e
  })
  return { ...created, email: found.email, previous: { ...old, revokedAt: revokeAt, revokedBy: principal.userId, revokedReason: reason } }
}

/**
 * POST /tokens/self/rotate: the calling token rotates itself (a CI job renewing its own secret
 * without looking up its id, as GitLab's `POST /personal_access_tokens/self/rotate`), exactly as
 * POST /tokens/{its id}/rotate would: the same scope (tokens:write, on the route), rules, refusals
 * and event. A terminal's browser sign-in (a CLI access token) is no personal access token and
 * has no rotation: 409, where its id on the rotate route is 404.
 */
export async function rotateSelf(ctx: Ctx, input: RotateInput): Promise<Rotated> {
  const principal = callerOf(ctx)
  if (principal.tokenId === null) throw new Error('rotateSelf needs a token: a console session has none')
  if (ctx.actor.kind === 'token' && ctx.actor.principal.credential === 'cli') {
    throw new AppError(
      'invalid_state',
      "This request's credential is a terminal's browser sign-in (teamday login), not a personal access token: it cannot be rotated (its access token is renewed by its refresh token). Create a personal access token (POST /api/v1/tokens) for a credential you rotate.",
    )
  }
  return rotateToken(ctx, principal.tokenId, input)
}

async function successorOf(ctx: Ctx, id: string): Promise<string | undefined> {
  const t = personalAccessTokens
  return (await ctx.db.select({ id: t.id }).from(t).where(eq(t.rotatedFromId, id)).get())?.id
}

/**
 * The token to rotate instead of `old`, which is no longer active or in its grace period: the
 * active token of its rotation family (ids never named to a caller other than the owner, who sees
 * them listed). Not merely `old`'s direct successor, which may itself have been rotated or revoked
 * since (A -> B -> C: rotating A named B, and rotating B was refused in turn). A family is one line
 * of rotations, each token rotated at most once, so at most one of its members is neither revoked
 * nor in a grace period: the one at its end, if it is still active (not revoked, not expired).
 */
function activeSuccessor(ctx: Ctx, old: PersonalAccessToken, now: number): Promise<string | undefined> {
  return activeFamilyMember(ctx.db, old.familyId ?? old.id, old.id, now)
}

/** 409: the token was rotated or revoked by another request while this one was under way. */
async function concurrentlyRevoked(ctx: Ctx, old: PersonalAccessToken): Promise<AppError> {
  // The calling token itself, revoked meanwhile by other than a rotation (a DELETE, a leak report,
  // its user's removal): this request is refused as its next one is, 401 token_revoked or
  // membership_revoked; a 409 "retry" sent whoever held it back to try again.
  if (callerOf(ctx).tokenId === old.id) {
    const now = await findTokenById(ctx, old.id)
    if (!wasRotated(now?.revokedReason ?? null)) await assertCredentialUnrevoked(ctx.db, ctx.actor, ctx.clock.now())
  }
  const successor = await successorOf(ctx, old.id)
  return new AppError(
    'invalid_state',
    `Token ${old.id} was rotated or revoked by a concurrent request${successor ? ` (its successor is ${successor})` : ''}; list your tokens and retry.`,
  )
}

/** 409: the token is no longer active (rotated, or revoked), for a caller other than the token itself. */
async function noLongerActive(ctx: Ctx, old: PersonalAccessToken): Promise<AppError> {
  const successor = await activeSuccessor(ctx, old, ctx.clock.now())
  return new AppError(
    'invalid_state',
    successor
      ? `Token ${old.id} was already rotated or revoked; rotate its successor ${successor} instead (list your tokens).`
      : `Token ${old.id} was already revoked and cannot be rotated; create a new token.`,
  )
}

export interface SelfToken extends Pick<PublicToken, 'id' | 'name' | 'scopes' | 'organizationId' | 'userId' | 'createdAt' | 'lastUsedAt' | 'expiresAt' | 'maskedToken' | 'revokedAt'> {
  role: Caller['role']
  organizationSlug: string | null
  email: string
  /** The token's own scopes; `scopes` is what this request may use (narrower inside an agent run). */
  tokenScopes: string[]
  /** The agent run this request is from (its `teamday_api` call), and the scopes of its starter; else null. */
  agentRun: { executionId: string; starterScopes: string[] } | null
}

/**
 * What the calling request may use, in GET /tokens/self: `scopes` is the principal's, so inside an
 * agent run the intersection of the space token's and its starter's (src/auth/plugin.ts,
 * narrowed), as the authorizer checks them; `tokenScopes` the token's own.
 */
function effectiveScopes(principal: Pick<Principal, 'scopes' | 'run'>, tokenScopes: string[]): Pick<SelfToken, 'scopes' | 'tokenScopes' | 'agentRun'> {
  return {
    scopes: [...principal.scopes],
    tokenScopes,
    agentRun: principal.run ? { executionId: principal.run.executionId, starterScopes: [...principal.run.starterScopes] } : null,
  }
}

/** GET /tokens/self: what the calling token is, never its secret. */
export async function describeSelf(ctx: Ctx): Promise<SelfToken> {
  const principal = callerOf(ctx)
  if (principal.tokenId === null) throw new Error('describeSelf needs a token: a console session has none')
  if (ctx.actor.kind === 'token' && ctx.actor.principal.credential === 'cli') return describeCliSelf(ctx, ctx.actor.principal)
  const row = await findTokenById(ctx, principal.tokenId)
  if (!row) throw new AppError('not_found', `Token ${principal.tokenId} not found`)
  const pub = toPublicToken(ctx, row, principal.email)
  const org = await organizationSlug(ctx, row.organizationId)
  return {
    id: pub.id,
    name: pub.name,
    ...effectiveScopes(ctx.actor.kind === 'token' ? ctx.actor.principal : principal, pub.scopes),
    role: principal.role,
    organizationId: pub.organizationId,
    organizationSlug: org,
    userId: pub.userId,
    email: principal.email,
    createdAt: pub.createdAt,
    lastUsedAt: pub.lastUsedAt,
    expiresAt: pub.expiresAt,
    maskedToken: pub.maskedToken,
    // Authenticated, so a revocation time is in the future: a rotation's grace period.
    revokedAt: pub.revokedAt,
  }
}

/**
 * DELETE /tokens/self: the calling token revokes itself (a CI job ending, a script done with its
 * credential), whatever its scopes: revoking oneself gives nothing away (but for an agent run's
 * call made with fewer scopes than the token's: assertMayEndItself). A personal access token
 * is revoked as DELETE /tokens/{id} would (audited `token.revoked`, reason `manual`), a grace
 * period running included; a terminal's browser sign-in ends its whole CLI session, as
 * `teamday logout` does. Answers what the token was, with its revocation time.
 */
export async function revokeSelf(ctx: Ctx): Promise<SelfToken> {
  const principal = callerOf(ctx)
  const before = await describeSelf(ctx)
  const cli = ctx.actor.kind === 'token' && ctx.actor.principal.credential === 'cli'
  await assertMayEndItself(ctx, before.tokenScopes, 'revoke')
  if (cli) {
    await revokeCliSessionById(ctx, { id: before.id, userId: before.userId, organizationId: before.organizationId }, { userId: principal.userId, reason: 'logout' })
    return { ...before, revokedAt: new Date(ctx.clock.now()).toISOString() }
  }
  const row = await audited(
    ctx,
    (tx) => revokeById(tx, before.id, principal.userId, 'manual'),
    (r) => (r ? { type: 'token.revoked', tokenId: r.id, targetType: 'token', targetId: r.id, details: { reason: 'manual', self: true } } : null),
  )
  return { ...before, revokedAt: (row?.revokedAt ?? new Date(ctx.clock.now())).toISOString() }
}

async function organizationSlug(ctx: Ctx, id: string): Promise<string | null> {
  const org = await prepared(ctx.db, 'organizations.slug', () =>
    ctx.db.select({ slug: organizations.slug }).from(organizations).where(eq(organizations.id, sql.placeholder('id'))).prepare(),
  ).get({ id })
  return org?.slug ?? null
}

/**
 * A CLI session's access token (browser sign-in): the session is what identifies it (its id is
 * the principal's tokenId); no scopes beyond the user's role.
 */
async function describeCliSelf(ctx: Ctx, principal: Principal): Promise<SelfToken> {
  const session = await ctx.db.select().from(cliSessions).where(eq(cliSessions.id, principal.tokenId)).get()
  if (!session) throw new AppError('not_found', `CLI session ${principal.tokenId} not found`)
  return {
    id: session.id,
    name: 'CLI session (browser sign-in)',
    // A CLI sign-in's access token has every scope its role allows (src/auth/lookup.ts).
    ...effectiveScopes(principal, ['*']),
    role: principal.role,
    organizationId: session.organizationId,
    organizationSlug: await organizationSlug(ctx, session.organizationId),
    userId: session.userId,
    email: principal.email,
    createdAt: session.createdAt.toISOString(),
    lastUsedAt: session.lastUsedAt ? session.lastUsedAt.toISOString() : null,
    expiresAt: principal.tokenExpiresAt.toISOString(),
    maskedToken: 'tdo_…',
    revokedAt: null,
  }
}
