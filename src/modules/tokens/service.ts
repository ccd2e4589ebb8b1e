import { and, desc, eq, gt, lte, sql } from 'drizzle-orm'
import { audited, callerOf, withTx, type Ctx } from '../../context'
import { bearerChallenge } from '../../auth/authenticate'
import { notRevokedSql, revocationInForce, revokedSql } from '../../auth/revoked'
import { ownerEmail } from '../../auth/lookup'
import { generateToken, hashToken, maskFromHint, stopsAt, tokenHint } from '../../auth/tokens'
import { DecryptionError } from '../../crypto/secretbox'
import type { Db } from '../../db/connection'
import { afterParams, cappedCount, countedPages, keysetPages, listPage, type ListPage, readPage } from '../../db/paging'
import { prepared } from '../../db/prepared'
import { cliSessions, dbTime, dialect, personalAccessTokens, type PersonalAccessToken } from '../../db/schema'
import { AppError } from '../../errors'
import { newId } from '../../ids'
import { assertBelowTokenCap, assertMayManage, assertNotSuperseded, assertRoomForGrace, canSeeToken, liveTokenSql, mayListOrganizationTokens, visibleTokensSql } from './access'
import { askedExpiry, earliestLimit, expiryWithin, resolveExpiry, validateScopes, validateTokenName, type CreateTokenInput, type MakerLimit } from './validation'
import type { Token } from './model'
import { cutText } from '../../text'

export { LAST_USED_RESOLUTION_MS } from '../../auth/lookup'
export type { CreateTokenInput } from './validation'

export type TokenStatus = 'active' | 'expired' | 'revoked'

/** The token as the API returns it (never the hash): the response schema is the one source of this shape. */
export type PublicToken = typeof Token.static

const iso = (d: Date | null) => (d ? d.toISOString() : null)

/**
 * The columns of a token the API shows (toPublicToken), and all a list reads: not its hash, nor
 * the revocation's and rotation's bookkeeping (who revoked it, its family, what it replaced), but
 * why it was revoked, which its status needs (a rotation's grace period is the only revocation
 * ahead of time: tokenStatus). A list's page materializes 14 columns a row instead of 18, and no
 * list ever holds a token's hash in memory.
 */
export const SHOWN_TOKEN_COLUMNS = ['id', 'nameEnc', 'hint', 'scopes', 'userId', 'organizationId', 'createdAt', 'expiresAt', 'lastUsedAt', 'lastUsedIpEnc', 'lastUsedUaEnc', 'revokedAt', 'revokedReason', 'createdByTokenId'] as const
export type ShownToken = Pick<PersonalAccessToken, (typeof SHOWN_TOKEN_COLUMNS)[number]>

function shownColumns() {
  const t = personalAccessTokens
  return Object.fromEntries(SHOWN_TOKEN_COLUMNS.map((k) => [k, t[k]])) as { [K in (typeof SHOWN_TOKEN_COLUMNS)[number]]: (typeof t)[K] }
}

/**
 * A token's status at `now`: revoked once its revocation is in force (revocationInForce, the one
 * rule: a rotation's grace period is active until it ends; any other revocation is in force once
 * committed, whatever its time says), else expired once its expiry has passed. "revoked_at at or
 * before now" showed `active` on every instance whose clock ran behind the one that revoked it.
 */
export function tokenStatus(row: Pick<PersonalAccessToken, 'revokedAt' | 'revokedReason' | 'expiresAt'>, now: number): TokenStatus {
  if (revocationInForce(row, now)) return 'revoked'
  if (row.expiresAt.getTime() <= now) return 'expired'
  return 'active'
}

/** What showing a token needs: the box opens its sealed fields, the clock says its status. */
type Shown = Pick<Ctx, 'box' | 'clock'>

function openField(deps: Shown, value: string | null, aad: string): string | null {
  if (value === null) return null
  try {
    return deps.box.open(value, aad)
  } catch (e) {
    if (e instanceof DecryptionError) {
      throw new AppError('decryption_failed', 'Stored token metadata could not be decrypted; the server encryption key may have changed. Ask the server operator to check TEAMDAY_ENCRYPTION_KEY.')
    }
    throw e
  }
}

export function toPublicToken(deps: Shown, row: ShownToken, userEmail: string): PublicToken {
  return shownAt(shownParts(deps, row), row, userEmail, deps.clock.now())
}

/** What toPublicToken shows of a row that does not depend on the time: its sealed fields opened, its instants written out. */
interface ShownParts {
  box: Shown['box']
  name: string
  maskedToken: string
  createdAt: string
  expiresAt: string
  lastUsedAt: string | null
  lastUsedIp: string | null
  lastUsedUserAgent: string | null
  revokedAt: string | null
}

function shownParts(deps: Shown, row: ShownToken): ShownParts {
  return {
    box: deps.box,
    name: openField(deps, row.nameEnc, `pat.name:${row.id}`)!,
    maskedToken: maskFromHint(row.hint),
    createdAt: row.createdAt.toISOString(),
    expiresAt: row.expiresAt.toISOString(),
    lastUsedAt: iso(row.lastUsedAt),
    lastUsedIp: openField(deps, row.lastUsedIpEnc, `pat.ip:${row.id}`),
    lastUsedUserAgent: openField(deps, row.lastUsedUaEnc, `pat.ua:${row.id}`),
    revokedAt: iso(row.revokedAt),
  }
}

/** The token as shown at `now`: its status, and when it stops working (a grace period's end, or its expiry). */
function shownAt(parts: ShownParts, row: ShownToken, userEmail: string, now: number): PublicToken {
  return {
    id: row.id,
    name: parts.name,
    maskedToken: parts.maskedToken,
    status: tokenStatus(row, now),
    scopes: row.scopes,
    userId: row.userId,
    userEmail,
    organizationId: row.organizationId,
    createdAt: parts.createdAt,
    expiresAt: stopsAt(row, now) === row.expiresAt ? parts.expiresAt : parts.revokedAt!,
    lastUsedAt: parts.lastUsedAt,
    lastUsedIp: parts.lastUsedIp,
    lastUsedUserAgent: parts.lastUsedUserAgent,
    revokedAt: parts.revokedAt,
    createdByTokenId: row.createdByTokenId,
  }
}

/**
 * The parts of shared results already shown (shownFound), by result object. A shared result is
 * the same frozen object for as long as the connection's row cache answers with the same row
 * (until the next commit: src/db/prepared.ts, `shared`), so this keeps no rule of its own: a
 * changed token or e-mail is a new result object, and an entry goes with its result. The box is
 * kept to compare: the parts opened by another runtime's box (tests run several) are not reused.
 */
const shownShared = new WeakMap<object, ShownParts>()

/**
 * toPublicToken of findVisible's result. Read through the row cache (SQLite, outside a
 * transaction), it is a shared, frozen object: its opened name and address, its mask and its
 * instants as text are then made once per result, not per request (a token's GET opened three
 * sealed values and wrote four instants every time); its status and end are still decided at the
 * request's time. Any other result (PostgreSQL, a transaction) is shown as toPublicToken shows it.
 */
function shownFound(deps: Shown, found: { token: ShownToken; email: string }): PublicToken {
  if (!Object.isFrozen(found)) return toPublicToken(deps, found.token, found.email)
  let parts = shownShared.get(found)
  if (parts === undefined || parts.box !== deps.box) shownShared.set(found, (parts = shownParts(deps, found.token)))
  return shownAt(parts, found.token, found.email, deps.clock.now())
}

export { DAY_MS, DEFAULT_EXPIRY_DAYS, MAX_EXPIRY_DAYS, MAX_NAME_LENGTH, MIN_EXPIRY_DAYS, resolveExpiry, validateScopes, validateTokenName } from './validation'

/**
 * Creates a token for a user in an organization. The plaintext is returned here and only here:
 * the database keeps its SHA-256, a 4+4 character hint, and the name encrypted. The per-user cap
 * is checked in the same transaction as the insert (joined when the caller is in one already).
 */
export async function createToken(
  ctx: Ctx,
  /** `createdByTokenId`: the token whose request makes this one (none from the admin CLI). */
  owner: { userId: string; organizationId: string; createdByTokenId?: string | null },
  input: CreateTokenInput,
  /** A rotation's successor: same family, a link to its predecessor, the expiry asked for; whether the predecessor keeps working a while. */
  lineage?: {
    familyId: string
    rotatedFromId: string
    /** The rotation's expiresInDays / expiresAt (neither: `lifetimeMs`, the old token's lifetime). */
    expiry: Pick<CreateTokenInput, 'expiresInDays' | 'expiresAt'>
    lifetimeMs: number
    graceful?: boolean
    /** The rotated token's own limit (expires_limit_at), when a token rotates it: rotateToken. */
    limit: MakerLimit | null
  },
): Promise<{ token: string; row: PersonalAccessToken }> {
  const name = validateTokenName(input.name)
  const now = ctx.clock.now()
  // Refused before the transaction when invalid whatever the maker's limit (read in it): a
  // token or a sign-in may make one for less than 7 days, up to its own end (resolveExpiry).
  const expiry = lineage?.expiry ?? input
  if (askedExpiry(expiry) !== null) resolveExpiry(expiry, now, owner.createdByTokenId || lineage?.limit ? now : Infinity)
  const scopes = validateScopes(input.scopes)
  return withTx(ctx, async (tx) => {
    // The time once this transaction holds the write lock, not before it waited for it: a leak
    // report committed meanwhile by another process revoked the creator at a time after the
    // request's, which then still counted it active, and the token it made outlived it (found
    // with three processes on one file); tokens revoked meanwhile counted against the cap.
    const at = tx.clock.now()
    // The rotated token itself was claimed (still unrevoked) in this very transaction.
    const creator = owner.createdByTokenId && owner.createdByTokenId !== lineage?.rotatedFromId ? await assertCreatorActive(tx, owner.createdByTokenId, at, lineage ? 'rotate' : 'create') : null
    // A token made by a token (or a terminal's sign-in) never outlives it, nor does a rotation
    // outlive the limit of the token it replaces: a leaked 7-day token must not become a year of
    // access. The limit is stored with the token, for what it makes and its own rotations.
    const limit = earliestLimit(creator, lineage?.limit)
    const expiresAt = expiryWithin(expiry, at, limit, lineage?.lifetimeMs)
    // A rotation replaces a token: only new tokens count against the per-user cap, and a
    // rotation's grace period may go one past it (assertRoomForGrace).
    if (!lineage) await assertBelowTokenCap(tx, owner.userId, owner.organizationId, at)
    else if (lineage.graceful) await assertRoomForGrace(tx, owner.userId, owner.organizationId, at)
    return insertToken(tx, owner, name, scopes, at, expiresAt, limit?.at ?? null, lineage)
  })
}

/**
 * The token (or CLI sign-in session) whose request creates a new token must still be unrevoked
 * when the new one is written, not only when its request authenticated: a leak report revokes a
 * token and then everything it created (revokeCreatedBy, in a transaction these exclude), and a
 * token created in between must not outlive it. 401 token_revoked, as its next request would get.
 */
async function assertCreatorActive(ctx: Ctx, creatorId: string, now: number, action: 'create' | 'rotate'): Promise<MakerLimit | null> {
  const t = personalAccessTokens
  const s = cliSessions
  const pat = await ctx.db.select({ revokedAt: t.revokedAt, reason: t.revokedReason, end: t.expiresAt, limit: t.expiresLimitAt }).from(t).where(eq(t.id, creatorId)).get()
  const session = pat ? undefined : await ctx.db.select({ revokedAt: s.revokedAt, reason: sql<string | null>`null`, end: s.refreshExpiresAt }).from(s).where(eq(s.id, creatorId)).get()
  const row = pat ?? session
  // Only a rotation's grace period revokes ahead of time: any other revocation is in force once
  // committed, whatever the clock of the instance that made it said (another machine's may run ahead).
  if (row && revocationInForce({ revokedAt: row.revokedAt, revokedReason: row.reason }, now)) {
    throw new AppError('token_revoked', 'Invalid token: the token this request authenticated with has been revoked meanwhile (no token was created).', {
      headers: { 'www-authenticate': bearerChallenge('invalid_token', 'Token revoked') },
    })
  }
  // In its grace period: it works on, but makes no token (checked here, under the write lock, so
  // that a rotation committed while this request waited counts too).
  if (row) await assertNotSuperseded(ctx.db, creatorId, action, ctx.clock.now(), row)
  // Its own end: a token's expiry (or its own limit, were that sooner), a terminal sign-in's (its
  // refresh token's: teamday login).
  if (pat) return { at: pat.limit && pat.limit.getTime() < pat.end.getTime() ? pat.limit : pat.end, source: 'creator' }
  return session ? { at: session.end, source: 'sign-in' } : null
}

async function insertToken(
  ctx: Ctx,
  owner: { userId: string; organizationId: string; createdByTokenId?: string | null },
  name: string,
  scopes: string[],
  now: number,
  expiresAt: Date,
  expiresLimitAt: Date | null,
  lineage?: { familyId: string; rotatedFromId: string },
): Promise<{ token: string; row: PersonalAccessToken }> {
  const token = generateToken()
  const id = newId('pat')
  const row: PersonalAccessToken = {
    id,
    userId: owner.userId,
    organizationId: owner.organizationId,
    tokenHash: hashToken(token),
    hint: tokenHint(token),
    nameEnc: ctx.box.seal(name, `pat.name:${id}`),
    scopes,
    createdAt: new Date(now),
    expiresAt,
    lastUsedAt: null,
    lastUsedIpEnc: null,
    lastUsedUaEnc: null,
    revokedAt: null,
    revokedBy: null,
    revokedReason: null,
    familyId: lineage?.familyId ?? id,
    rotatedFromId: lineage?.rotatedFromId ?? null,
    createdByTokenId: owner.createdByTokenId ?? null,
    expiresLimitAt,
  }
  await ctx.db.insert(personalAccessTokens).values(row).run()
  return { token, row }
}

/**
 * Which tokens a list holds: one status, or `unrevoked`, those of either other status (active or
 * expired: a rotated token in its grace period is active), as TeamDay CLI's list alias shows them.
 */
export type ListedStatus = TokenStatus | 'unrevoked'

export interface ListTokensOptions {
  /** Admins only: every token of the organization instead of the caller's own. */
  organization?: boolean
  status?: ListedStatus
  limit: number
  offset: number
  cursor?: string
}

/** The caller's token list statements for these options, and their parameters: admins only for the organization's. */
function tokenList(ctx: Ctx, opts: Pick<ListTokensOptions, 'organization' | 'status'>) {
  const principal = callerOf(ctx)
  if (opts.organization && !mayListOrganizationTokens(principal)) {
    throw new AppError('forbidden', 'Forbidden: only organization admins can list every token of the organization (access denied)')
  }
  const all = !!opts.organization
  const q = prepared(ctx.db, `tokens.list.${Number(all)}.${opts.status ?? 'any'}`, () => listStatements(ctx.db, all, opts.status))
  const params = { org: principal.organizationId, user: principal.userId, now: dbTime(ctx.clock.now()) }
  return { principal, all, q, params }
}

export async function listTokens(ctx: Ctx, opts: ListTokensOptions): Promise<{ tokens: PublicToken[] } & ListPage> {
  const { principal, all, q, params } = tokenList(ctx, opts)
  const page = await readPage('tokens', { all, status: opts.status, caller: [principal.organizationId, principal.userId] }, opts, {
    rows: (limit, offset, after) => (after ? q.after : q.first).all({ ...params, ...afterParams(after), limit, offset }),
    // A row with its token and owner's e-mail (drizzle nests a table one level only).
    counted: q.counted && (async (limit, offset, cap) => (await q.counted!.all({ ...params, limit, offset, cap })).map(({ token, email, n }) => ({ row: { token, email }, n }))),
    count: async (cap) => (await q.count.get({ ...params, cap }))?.n ?? 0,
    position: (r) => ({ t: r.token.createdAt.getTime(), id: r.token.id }),
  })
  return { tokens: page.rows.map((r) => toPublicToken(ctx, r.token, r.email)), ...listPage(page) }
}

/**
 * How many tokens listTokens lists with these options, counted up to `cap` (on the list's own
 * index, stopping there): where the last page is, for a page asked past the end (the console's
 * `?page=N`). Its total stops at TOTAL_CAP; halving between it and the page asked read up to 17
 * deep pages (100,000 tokens: 400 ms), one count up to the offset asked reads no more than that
 * page did.
 */
export async function countTokens(ctx: Ctx, opts: Pick<ListTokensOptions, 'organization' | 'status'>, cap: number): Promise<number> {
  const { q, params } = tokenList(ctx, opts)
  return (await q.count.get({ ...params, cap }))?.n ?? 0
}

/**
 * The caller's own tokens or (all) the organization's, optionally of one status, on
 * pat_user_org_idx / pat_org_idx. The status depends on the time: a filter on the rows the index
 * yields, not an index range; written on the columns (as tokenStatus decides it), so that
 * PostgreSQL estimates from their statistics how many rows pass (a CASE expression it cannot:
 * it guessed a handful of active tokens, then read and sorted all of them: test/list-plans.test.ts).
 */
function listStatements(db: Db, all: boolean, status: ListedStatus | undefined) {
  const t = personalAccessTokens
  const ph = sql.placeholder
  // As tokenStatus decides: revokedSql / notRevokedSql (src/auth/revoked.ts).
  const notRevoked = notRevokedSql(t, ph('now'))
  // Implied by notRevoked: named so that the active and expired lists walk pat_user_org_live_idx /
  // pat_org_live_idx, which hold no revoked history (liveTokenSql).
  const live = liveTokenSql(t)
  // The expiry as a range of pat_user_org_expiry_idx / pat_org_expiry_idx, where the tokens of
  // the other status are most of the working ones (a few expired among many working, or the
  // reverse): PostgreSQL weighs that range (and a sort of what it finds) against the walk in list
  // order by its statistics; without it, it read the whole table (100,000 tokens, 50 of them
  // expired: 150 ms a page of the expired ones). SQLite has no statistics of the values
  // (sqlite_stat1 only) and took the range for the active list, sorting every working token at
  // each page: there the lists walk in list order, as before (`+` keeps the term off any index).
  const expiry = (expired: boolean) => {
    if (dialect === 'pg') return expired ? lte(t.expiresAt, ph('now')) : gt(t.expiresAt, ph('now'))
    return expired ? sql`+${t.expiresAt} <= ${ph('now')}` : sql`+${t.expiresAt} > ${ph('now')}`
  }
  const byStatus = {
    // On pat_user_org_revoked_idx / pat_org_revoked_idx (revokedSql's first term: revoked_at IS NOT NULL).
    revoked: revokedSql(t, ph('now')),
    expired: and(notRevoked, live, expiry(true)),
    active: and(notRevoked, live, expiry(false)),
    // Before the page's limit: a list of the 200 newest that left the revoked out afterwards was
    // empty for a user with one working token behind 200 revoked ones (a CI job's token per run).
    unrevoked: and(notRevoked, live),
  }
  const where = [eq(t.organizationId, ph('org')), visibleTokensSql(all), status === undefined ? undefined : byStatus[status]]
  return {
    ...keysetPages(() => db.select({ token: shownColumns(), email: ownerEmail(db) }).from(t).$dynamic(), t, where),
    counted: countedPages(db, (n) => db.select({ token: shownColumns(), email: ownerEmail(db), n }).from(t).$dynamic(), t, where),
    count: cappedCount(db, t, and(...where)),
  }
}

/** A token the caller may see: their own, or any of the organization's for an admin. Else 404. */
export async function findVisible(ctx: Ctx, id: string) {
  const principal = callerOf(ctx)
  const found = await prepared(ctx.db, 'tokens.findInOrg', () => {
    const t = personalAccessTokens
    return ctx.db
      .select({ token: t, email: ownerEmail(ctx.db) })
      .from(t)
      .where(and(eq(t.id, sql.placeholder('id')), eq(t.organizationId, sql.placeholder('org'))))
      .prepare()
    // Shared: while the row cache answers with the same row, the same mapped object, read only
    // (a token's GET mapped its 19 columns again on every request).
  }, { shared: true }).get({ id, org: principal.organizationId })
  if (!found || !canSeeToken(principal, found.token)) {
    throw new AppError('not_found', `Token ${cutText(id, 100)} not found`)
  }
  return found
}

export async function getToken(ctx: Ctx, id: string): Promise<PublicToken> {
  const found = await findVisible(ctx, id)
  return shownFound(ctx, found)
}

/** Revokes at once (idempotent). The very next request with the token is refused. */
export async function revokeToken(ctx: Ctx, id: string): Promise<PublicToken> {
  const principal = callerOf(ctx)
  const found = await findVisible(ctx, id)
  await assertMayManage(ctx, found.token, 'revoke')
  const row = await audited(
    ctx,
    (tx) => revokeById(tx, id, principal.userId, 'manual'),
    (r) => (r ? { type: 'token.revoked', tokenId: id, targetType: 'token', targetId: id, details: { reason: 'manual' } } : null),
  )
  // Nothing changed: revoked already, maybe by a request racing this one since the read above.
  // The answer is the token as it is now (it said "active" for a token that was revoked).
  return toPublicToken(ctx, row ?? (await findTokenById(ctx, id)) ?? found.token, found.email)
}

export type RevokeReason = 'manual' | 'rotated' | 'rotated_now' | 'leak_report' | 'family_reuse' | 'admin_cli' | 'creator_revoked' | 'membership_removed'

/**
 * A token a revocation still changes: one whose revocation is not in force (src/auth/revoked.ts):
 * not revoked, or revoked later by a rotation's grace period.
 */
export function revocable(now: number) {
  return notRevokedSql(personalAccessTokens, new Date(now))
}

/**
 * Revokes now: a token not yet revoked, or one whose revocation is scheduled later (a rotation's
 * grace period). Returns the updated row, or undefined when it was already revoked.
 */

export function revokeById(ctx: Ctx, id: string, revokedBy: string, reason: RevokeReason): Promise<PersonalAccessToken | undefined> {
  const t = personalAccessTokens
  const now = ctx.clock.now()
  return ctx.db
    .update(t)
    .set({ revokedAt: new Date(now), revokedBy, revokedReason: reason })
    .where(and(eq(t.id, id), revocable(now)))
    .returning()
    .get()
}

export function findTokenById(ctx: Ctx, id: string): Promise<PersonalAccessToken | undefined> {
  const { db } = ctx
  return prepared(db, 'tokens.byId', () =>
    db.select().from(personalAccessTokens).where(eq(personalAccessTokens.id, sql.placeholder('id'))).prepare(),
  ).get({ id })
}

/**
 * A user's tokens in every organization, newest first, one page (admin CLI `tokens list --email`),
 * on pat_user_time_idx, with the total counted up to TOTAL_CAP as the API's lists. It read and
 * sorted every token of the user (5,000: 820 KB printed, 220 ms; the CI job's token per run piles up).
 */
export async function listTokensOfUser(ctx: Ctx, userId: string, email: string, req: { limit: number; cursor?: string }): Promise<{ tokens: PublicToken[] } & ListPage> {
  const q = prepared(ctx.db, 'tokens.ofUser', () => {
    const t = personalAccessTokens
    const where = [eq(t.userId, sql.placeholder('user'))]
    return {
      ...keysetPages(() => ctx.db.select({ token: shownColumns() }).from(t).$dynamic(), t, where),
      counted: countedPages(ctx.db, (n) => ctx.db.select({ token: shownColumns(), n }).from(t).$dynamic(), t, where),
      count: cappedCount(ctx.db, t, and(...where)),
    }
  })
  const page = await readPage('user-tokens', { user: userId }, { limit: req.limit, offset: 0, cursor: req.cursor }, {
    rows: (limit, offset, after) => (after ? q.after : q.first).all({ user: userId, ...afterParams(after), limit, offset }),
    counted: q.counted && (async (limit, offset, cap) => (await q.counted!.all({ user: userId, limit, offset, cap })).map(({ token, n }) => ({ row: { token }, n }))),
    count: async (cap) => (await q.count.get({ user: userId, cap }))?.n ?? 0,
    position: (r) => ({ t: r.token.createdAt.getTime(), id: r.token.id }),
  })
  return { tokens: page.rows.map((r) => toPublicToken(ctx, r.token, email)), ...listPage(page) }
}
