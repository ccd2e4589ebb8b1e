import { and, eq, gt, isNull, or, sql } from 'drizzle-orm'
import type { Principal } from '../../auth/principal'
import { organizations, personalAccessTokens, type PersonalAccessToken } from '../../db/schema'
import { prepared } from '../../db/prepared'
import type { Deps } from '../../deps'
import { AppError } from '../../errors'
import { auditContext, recordAuditEvent, type AuditInput } from '../audit/service'
import { assertMayManage, scopesForNewToken } from './access'
import { revokeCreatedBy } from './revocation'
import { createToken, findTokenById, findVisible, toPublicToken, type CreateTokenInput, type PublicToken } from './service'
import { DAY_MS, MAX_EXPIRY_DAYS, MIN_EXPIRY_DAYS, resolveExpiry } from './validation'

export const MAX_GRACE_SECONDS = 86_400

/** Records `token.created` for a token made through the API or the admin CLI. */
export function auditTokenCreated(deps: Deps, row: PersonalAccessToken, ctx: Omit<AuditInput, 'type'>): void {
  recordAuditEvent(deps, {
    ...ctx,
    type: 'token.created',
    tokenId: row.id,
    targetType: 'token',
    targetId: row.id,
    details: { scopes: row.scopes, expiresAt: row.expiresAt.toISOString(), ownerUserId: row.userId },
  })
}

/** POST /tokens: a token for the caller, in the caller's organization, audited. */
export function createTokenForCaller(deps: Deps, principal: Principal, input: CreateTokenInput): { token: string; row: PersonalAccessToken } {
  const scopes = scopesForNewToken(deps, principal, input.scopes)
  const owner = { userId: principal.userId, organizationId: principal.organizationId, createdByTokenId: principal.tokenId }
  const created = createToken(deps, owner, { ...input, scopes })
  auditTokenCreated(deps, created.row, auditContext(principal))
  return created
}

export interface RotateInput {
  expiresInDays?: number
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
 * token that is already revoked means someone holds a superseded secret: the whole family is
 * revoked (GitLab's reuse detection), with every token its members created, and 409 says so.
 */
export function rotateToken(deps: Deps, principal: Principal, id: string, input: RotateInput): Rotated {
  const found = findVisible(deps, principal, id)
  const old = found.token
  if (old.userId !== principal.userId) {
    throw new AppError('forbidden', "Forbidden: only a token's owner can rotate it (access denied); an admin can revoke it instead.")
  }
  assertMayManage(deps, principal, old, 'rotate')
  const now = deps.clock.now()
  const family = old.familyId ?? old.id
  if (old.revokedAt && old.revokedAt.getTime() <= now) {
    const { revoked, members } = revokeFamily(deps, family, principal.userId, now)
    // Any member may have been used by whoever held the leaked secret: what they created goes too.
    const cascaded = revokeCreatedBy(deps, members, now, { cause: 'family_reuse', by: principal.userId, audit: auditContext(principal) })
    recordAuditEvent(deps, {
      ...auditContext(principal),
      type: 'token.family_revoked',
      tokenId: old.id,
      targetType: 'token_family',
      targetId: family,
      details: { reason: 'family_reuse', rotatedTokenId: old.id, revokedTokenIds: revoked, createdTokenIdsRevoked: cascaded },
    })
    const also = cascaded.length ? `, and so have the ${cascaded.length} token(s) they created` : ''
    throw new AppError(
      'token_reuse_detected',
      `Token reuse detected: token ${old.id} was already revoked, so rotating it suggests its secret leaked. Every token of its rotation family (${revoked.length} still active) has been revoked${also}; create a new token.`,
      { details: { familyId: family, revokedTokenIds: revoked, createdTokenIdsRevoked: cascaded } },
    )
  }
  if (old.revokedAt) {
    const successor = deps.db.select({ id: personalAccessTokens.id }).from(personalAccessTokens).where(eq(personalAccessTokens.rotatedFromId, old.id)).get()
    throw new AppError('invalid_state', `Token ${old.id} was already rotated${successor ? ` (its successor is ${successor.id})` : ''} and stops working at ${old.revokedAt.toISOString()}; rotate the successor instead.`)
  }
  if (old.expiresAt.getTime() <= now) {
    throw new AppError('invalid_state', `Token ${old.id} expired on ${old.expiresAt.toISOString()} and cannot be rotated; create a new token.`)
  }
  const grace = input.gracePeriodSeconds ?? 0
  if (!Number.isInteger(grace) || grace < 0 || grace > MAX_GRACE_SECONDS) {
    throw new AppError('validation_failed', `Validation failed: gracePeriodSeconds must be an integer between 0 and ${MAX_GRACE_SECONDS}`, {
      details: [{ field: 'gracePeriodSeconds', message: `must be an integer between 0 and ${MAX_GRACE_SECONDS}` }],
    })
  }
  // Without expiresInDays the new token gets the old one's lifetime (within 7-365 days).
  const lifetime = Math.min(MAX_EXPIRY_DAYS * DAY_MS, Math.max(MIN_EXPIRY_DAYS * DAY_MS, old.expiresAt.getTime() - old.createdAt.getTime()))
  const expiresAt = input.expiresInDays !== undefined ? resolveExpiry({ expiresInDays: input.expiresInDays }, now) : new Date(now + lifetime)
  const revokeAt = new Date(now + grace * 1000)
  const t = personalAccessTokens
  const created = deps.db.transaction(() => {
    const claimed = deps.db
      .update(t)
      .set({ revokedAt: revokeAt, revokedBy: principal.userId, revokedReason: 'rotated' })
      .where(and(eq(t.id, old.id), isNull(t.revokedAt)))
      .returning({ id: t.id })
      .get()
    if (!claimed) throw new AppError('invalid_state', `Token ${old.id} was rotated or revoked by a concurrent request; list your tokens and retry.`)
    const name = toPublicToken(deps, old, found.email).name
    const owner = { userId: principal.userId, organizationId: principal.organizationId, createdByTokenId: principal.tokenId }
    return createToken(deps, owner, { name, scopes: old.scopes }, { familyId: family, rotatedFromId: old.id, expiresAt })
  })
  recordAuditEvent(deps, {
    ...auditContext(principal),
    type: 'token.rotated',
    tokenId: old.id,
    targetType: 'token',
    targetId: created.row.id,
    details: { newTokenId: created.row.id, gracePeriodSeconds: grace, previousRevokedAt: revokeAt.toISOString() },
  })
  return { ...created, email: found.email, previous: { ...old, revokedAt: revokeAt, revokedBy: principal.userId, revokedReason: 'rotated' } }
}

/**
 * Revokes every still-active token of a rotation family; tokens from before families count as
 * their own. Returns those it revoked and every member (revoked before or now).
 */
export function revokeFamily(deps: Deps, familyId: string, by: string, now: number): { revoked: string[]; members: string[] } {
  const t = personalAccessTokens
  const inFamily = or(eq(t.familyId, familyId), and(isNull(t.familyId), eq(t.id, familyId)))
  const revoked = deps.db
    .update(t)
    .set({ revokedAt: new Date(now), revokedBy: by, revokedReason: 'family_reuse' })
    .where(and(inFamily, or(isNull(t.revokedAt), gt(t.revokedAt, new Date(now)))))
    .returning({ id: t.id })
    .all()
    .map((r) => r.id)
  const members = deps.db.select({ id: t.id }).from(t).where(inFamily).all().map((r) => r.id)
  return { revoked, members }
}

export interface SelfToken extends Pick<PublicToken, 'id' | 'name' | 'scopes' | 'organizationId' | 'userId' | 'createdAt' | 'lastUsedAt' | 'expiresAt' | 'maskedToken'> {
  role: Principal['role']
  organizationSlug: string | null
  email: string
}

/** GET /tokens/self: what the calling token is, never its secret. */
export function describeSelf(deps: Deps, principal: Principal): SelfToken {
  const row = findTokenById(deps.db, principal.tokenId)
  if (!row) throw new AppError('not_found', `Token ${principal.tokenId} not found`)
  const pub = toPublicToken(deps, row, principal.email)
  const org = prepared(deps.db, 'organizations.slug', () =>
    deps.db.select({ slug: organizations.slug }).from(organizations).where(eq(organizations.id, sql.placeholder('id'))).prepare(),
  ).get({ id: row.organizationId })
  return {
    id: pub.id,
    name: pub.name,
    scopes: pub.scopes,
    role: principal.role,
    organizationId: pub.organizationId,
    organizationSlug: org?.slug ?? null,
    userId: pub.userId,
    email: principal.email,
    createdAt: pub.createdAt,
    lastUsedAt: pub.lastUsedAt,
    expiresAt: pub.expiresAt,
    maskedToken: pub.maskedToken,
  }
}
