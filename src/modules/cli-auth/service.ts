import { and, desc, eq, gt, isNull, lt, sql } from 'drizzle-orm'
import type { AuditInput } from '../../audit/log'
import { roleIn } from '../../auth/current-role'
import { notRevokedSql, revocationInForce } from '../../auth/revoked'
import { loginCodeDisplay } from '../../auth/login-code'
import { touchCliSession } from '../../auth/lookup'
import { ACCESS_TOKEN_PREFIX, checkTokenFormat, generateToken, hashToken, LOGIN_CODE_PREFIX, REFRESH_TOKEN_PREFIX } from '../../auth/tokens'
import { audited, withTx, type Ctx } from '../../context'
import type { Db } from '../../db/connection'
import { prepared } from '../../db/prepared'
import { valuesPresent } from '../../db/values-present'
import { cliAccessTokens, cliLoginCodes, cliSessions, memberships, organizations, sessions, type CliLoginCode, type CliSession, type Role } from '../../db/schema'
import { forShare } from '../../db/locks'
import { AppError } from '../../errors'
import { newId } from '../../ids'
import { CLI_SESSION_KEEP_MS, deleteFinishedLoginCodes } from './cleanup'
import { revokeCreatedBy } from '../tokens/created-by'
import { cancelRunsOfLeakedTokens } from '../executions/leaked'

/**
 * Browser sign-in for command-line tools (TeamDay CLI's polling flow, and `teamday login`):
 * initiate → a person approves in the console → the first poll takes an access token (15 min)
 * and a refresh token (90 days) → refresh while the session lives. Nothing secret is stored:
 * codes and tokens are kept as SHA-256, the requesting address and user agent sealed.
 */

export const LOGIN_CODE_TTL_MS = 300_000
export const ACCESS_TOKEN_TTL_MS = 15 * 60_000
export const REFRESH_TOKEN_TTL_MS = 90 * 86_400_000
/** `expiresAt` is reported this much early, so a client with a slow clock refreshes in time. */
export const EXPIRY_SKEW_MS = 60_000

const iso = (ms: number) => new Date(ms).toISOString()

export interface Initiated {
  id: string
  code: string
  expiresIn: number
}

/**
 * A new login code for the requesting CLI (its address and user agent come from `ctx.origin`).
 * Also drops codes that finished long ago (bounded work per call).
 */
export async function initiateLogin(ctx: Ctx): Promise<Initiated> {
  const now = ctx.clock.now()
  const code = generateToken(LOGIN_CODE_PREFIX)
  const id = newId('clic')
  const ip = ctx.origin?.ip() ?? null
  const ua = ctx.origin?.userAgent ?? null
  const c = cliLoginCodes
  await deleteFinishedLoginCodes(ctx.db, now, 100)
  await ctx.db
    .insert(c)
    .values({
      id,
      codeHash: hashToken(code),
      state: 'pending',
      requestIpEnc: ip ? ctx.box.seal(ip, `clic.ip:${id}`) : null,
      requestUaEnc: ua ? ctx.box.seal(ua.slice(0, 512), `clic.ua:${id}`) : null,
      createdAt: new Date(now),
      expiresAt: new Date(now + LOGIN_CODE_TTL_MS),
    })
    .run()
  return { id, code, expiresIn: LOGIN_CODE_TTL_MS / 1000 }
}

function findCode(ctx: Ctx, code: string): Promise<CliLoginCode | undefined> {
  if (checkTokenFormat(code, LOGIN_CODE_PREFIX) !== null) return Promise.resolve(undefined)
  return prepared(ctx.db, 'cliAuth.codeByHash', () =>
    ctx.db.select().from(cliLoginCodes).where(eq(cliLoginCodes.codeHash, sql.placeholder('hash'))).prepare(),
  ).get({ hash: hashToken(code) })
}

/** What the approval page shows about a login code; undefined when there is no such code. */
export interface LoginRequest {
  id: string
  code: string
  shortCode: string
  state: CliLoginCode['state'] | 'expired'
  requestIp: string | null
  userAgent: string | null
  createdAt: string
  expiresAt: string
  /** Who decided it (approved or denied), and the organization an approval signs the terminal in to; null while pending. */
  decidedBy: string | null
  organizationId: string | null
}

export async function describeLoginRequest(ctx: Ctx, code: string): Promise<LoginRequest | undefined> {
  const row = await findCode(ctx, code)
  if (!row) return undefined
  const expired = row.expiresAt.getTime() <= ctx.clock.now() && (row.state === 'pending' || row.state === 'approved')
  return {
    id: row.id,
    code,
    shortCode: loginCodeDisplay(code),
    state: expired ? 'expired' : row.state,
    requestIp: ctx.box.openOrNull(row.requestIpEnc, `clic.ip:${row.id}`),
    userAgent: ctx.box.openOrNull(row.requestUaEnc, `clic.ua:${row.id}`),
    createdAt: row.createdAt.toISOString(),
    expiresAt: row.expiresAt.toISOString(),
    decidedBy: row.userId,
    organizationId: row.organizationId,
  }
}

/** The organizations a person may approve a login for (where they are a member), by name. */
export async function organizationsOf(ctx: Ctx, userId: string): Promise<{ id: string; slug: string; name: string; role: Role }[]> {
  return ctx.db
    .select({ id: organizations.id, slug: organizations.slug, name: organizations.name, role: memberships.role })
    .from(memberships)
    .innerJoin(organizations, eq(organizations.id, memberships.organizationId))
    .where(eq(memberships.userId, userId))
    .orderBy(organizations.name)
    .all()
}

/**
 * A signed-in person approves (for one of their organizations) or denies a pending code. Only a
 * pending, unexpired code changes, once: a second decision, or one after expiry, is 409.
 */
export async function decideLogin(ctx: Ctx, code: string, who: { userId: string; organizationId?: string }, decision: 'approve' | 'deny'): Promise<LoginRequest> {
  const row = await findCode(ctx, code)
  if (!row) throw new AppError('not_found', 'This sign-in link is not valid: no such login code. Start again from your terminal.')
  const now = ctx.clock.now()
  let organizationId: string | null = null
  if (decision === 'approve') {
    const orgs = await organizationsOf(ctx, who.userId)
    const chosen = who.organizationId ? orgs.find((o) => o.id === who.organizationId) : orgs.length === 1 ? orgs[0] : undefined
    if (!chosen) {
      throw new AppError('validation_failed', orgs.length === 0 ? 'You are not a member of any organization, so there is nothing to sign in to.' : 'Validation failed: choose one of your organizations.', {
        details: [{ field: 'organizationId', message: 'must be one of your organizations' }],
      })
    }
    organizationId = chosen.id
  }
  const c = cliLoginCodes
  // The decision and its event (`cli.login_approved`, `cli.login_denied`) commit together (audited).
  const changed = await audited(ctx, async (tx) => {
    // Decided in the console: its session must still be there when the decision is written. A
    // password change (or a sign-out everywhere) that ended it while this request was under way
    // withdrew the approvals it found; one written after it was collected, as a terminal of 90
    // days. The session is read forShare: an end under way is waited for and seen, a later one
    // waits for this write and then withdraws it with the others.
    if (tx.actor.kind === 'session') {
      const alive = await forShare(tx.db, tx.db.select({ id: sessions.id }).from(sessions).where(eq(sessions.id, tx.actor.sessionId))).get()
      if (!alive) throw new AppError('invalid_state', 'This sign-in request was not decided: your console session ended meanwhile (signed out, or the password changed). Sign in again, then start again from your terminal.')
    }
    // The organization approved for is still theirs, asked here with the membership read
    // forShare: a removal under way is waited for and seen. Chosen before this transaction only,
    // an approval written after the removal had withdrawn the person's approvals (revokeCliSessionsOfMember)
    // signed the terminal in to an organization they had left: its poll answered `authorized`
    // with tokens every request then refused.
    if (organizationId !== null) {
      const m = memberships
      const still = await forShare(tx.db, tx.db.select({ id: m.id }).from(m).where(and(eq(m.userId, who.userId), eq(m.organizationId, organizationId)))).get()
      if (!still) {
        throw new AppError('validation_failed', 'Validation failed: you are no longer a member of the organization chosen (removed meanwhile); choose one of your organizations.', {
          details: [{ field: 'organizationId', message: 'must be one of your organizations' }],
        })
      }
    }
    const done = await tx.db
      .update(c)
      .set({ state: decision === 'approve' ? 'approved' : 'denied', userId: who.userId, organizationId, decidedAt: new Date(now) })
      .where(and(eq(c.id, row.id), eq(c.state, 'pending'), gt(c.expiresAt, new Date(now))))
      .returning({ id: c.id })
      .get()
    // A denial names no organization: the event goes to the person's first one.
    return done ? { organizationId: organizationId ?? (await organizationsOf(tx, who.userId))[0]?.id ?? null } : null
  }, (done): AuditInput | null => done && {
    type: decision === 'approve' ? 'cli.login_approved' : 'cli.login_denied',
    organizationId: done.organizationId,
    actor: { userId: who.userId, tokenId: null },
    targetType: 'cli_login',
    targetId: row.id,
    details: { requestIp: ctx.box.openOrNull(row.requestIpEnc, `clic.ip:${row.id}`), userAgent: ctx.box.openOrNull(row.requestUaEnc, `clic.ua:${row.id}`) },
  })
  if (!changed) {
    const why = row.expiresAt.getTime() <= now ? 'it has expired (codes last 5 minutes); start again from your terminal' : `it was already ${row.state}`
    throw new AppError('invalid_state', `This sign-in request cannot be ${decision === 'approve' ? 'approved' : 'denied'}: ${why}.`)
  }
  return (await describeLoginRequest(ctx, code))!
}

/**
 * A poll of a code whose tokens went to an earlier poll: the code is the secret of the approval
 * link and of the polls alike, so a second poller holds it too (a link seen on a shared screen,
 * in a synced history). As OAuth has it for a code used twice (RFC 6749 §4.1.2), the sign-in it
 * gave is revoked, with every token made through it: whoever polled first, thief or terminal,
 * holds nothing that works, and the person starts again. Audited as `cli.session_revoked` with
 * reason `code_reused` (and `token.revoked`, reason `creator_revoked`, for each token it took).
 */
async function codeReused(ctx: Ctx, codeId: string): Promise<AppError> {
  const row = await ctx.db.select({ sessionId: cliLoginCodes.sessionId }).from(cliLoginCodes).where(eq(cliLoginCodes.id, codeId)).get()
  const session = row?.sessionId ? await findCliSession(ctx, row.sessionId) : undefined
  // The session, what was made through it, its runs and their events: one transaction.
  const { revoked, cascaded } = await withTx(ctx, async (tx) => {
    const revoked = session ? await revokeCliSessionById(tx, session, { userId: null, reason: 'code_reused' }) : false
    // What the first poller made with the session goes with it (a `*` PAT minted in the seconds
    // before the terminal's own poll outlived it): as for a leaked CLI token. Also when the session
    // was revoked before: it may have created tokens while it worked.
    if (!session) return { revoked, cascaded: [] }
    const cascaded = await revokeCreatedBy(tx, [session.id], { cause: 'code_reused', by: 'code_reused', audit: { organizationId: session.organizationId, actor: null } })
    await cancelRunsOfLeakedTokens(tx, [session.id], 'code_reused')
    return { revoked, cascaded }
  })
  if (session && cascaded.length) ctx.log.warn('cli_code_reused', { cliSessionId: session.id, createdTokensRevoked: cascaded.length, requestId: ctx.requestId })
  return new AppError(
    'login_code_used',
    `Login code already used: its tokens were delivered to the first poll after approval.${revoked ? ' A second poll means someone else may hold the code, so that sign-in has been revoked.' : ''} Start again: teamday login.`,
  )
}

export type PollResult =
  | { status: 'pending' }
  | { status: 'authorized'; accessToken: string; refreshToken: string; expiresAt: string; userId: string; organizationId: string; sessionId: string }

/**
 * One poll. Pending → pending. Approved → the CLI session and its tokens are made now and
 * handed out exactly once (the code becomes `delivered` in the same transaction). Every other
 * state is a 400 with its own code: unknown, expired, denied, already used.
 */
export async function pollLogin(ctx: Ctx, code: string): Promise<PollResult> {
  const row = await findCode(ctx, code)
  if (!row) throw new AppError('invalid_login_code', 'Invalid login code: it is not one this server issued (or it finished over an hour ago). Start again: teamday login.')
  const now = ctx.clock.now()
  if (row.state === 'denied') throw loginDenied()
  if (row.state === 'delivered') throw await codeReused(ctx, row.id)
  if (row.expiresAt.getTime() <= now) throw new AppError('login_code_expired', 'Login code expired: it was not approved within 5 minutes. Start again: teamday login.')
  if (row.state === 'pending') return { status: 'pending' }
  const delivered = await withTx(ctx, async (tx) => {
    const c = cliLoginCodes
    const sessionId = newId('clis')
    const claimed = await tx.db
      .update(c)
      .set({ state: 'delivered', sessionId })
      .where(and(eq(c.id, row.id), eq(c.state, 'approved')))
      .returning({ userId: c.userId, organizationId: c.organizationId })
      .get()
    // Claimed by a poll at the same moment (it read the code approved too, and committed first):
    // a second poll like any other, answered once this transaction is over (nothing written in
    // it), when that poll's sign-in is there to revoke. Revoking from inside it went through the
    // outer ctx: a 500 on PostgreSQL, and the first poller's sign-in kept working.
    if (!claimed?.userId || !claimed.organizationId) return null
    const refreshToken = generateToken(REFRESH_TOKEN_PREFIX)
    const ua = tx.box.openOrNull(row.requestUaEnc, `clic.ua:${row.id}`)
    const ip = tx.box.openOrNull(row.requestIpEnc, `clic.ip:${row.id}`)
    await tx.db
      .insert(cliSessions)
      .values({
        id: sessionId,
        userId: claimed.userId,
        organizationId: claimed.organizationId,
        refreshTokenHash: hashToken(refreshToken),
        refreshExpiresAt: new Date(now + REFRESH_TOKEN_TTL_MS),
        userAgentEnc: ua ? tx.box.seal(ua, `clis.ua:${sessionId}`) : null,
        createdIpEnc: ip ? tx.box.seal(ip, `clis.cip:${sessionId}`) : null,
        createdAt: new Date(now),
        lastUsedAt: null,
        lastUsedIpEnc: null,
        revokedAt: null,
        revokedBy: null,
        revokedReason: null,
      })
      .run()
    const access = await issueAccessToken(tx, sessionId, now)
    return { status: 'authorized' as const, ...access, refreshToken, userId: claimed.userId, organizationId: claimed.organizationId, sessionId }
  })
  if (delivered === null) {
    // Lost the claim: to a poll at the same moment, or to a withdrawal of the approval.
    const now = await ctx.db.select({ state: cliLoginCodes.state }).from(cliLoginCodes).where(eq(cliLoginCodes.id, row.id)).get()
    throw now?.state === 'denied' ? loginDenied() : await codeReused(ctx, row.id)
  }
  return delivered
}

const loginDenied = () =>
  new AppError(
    'login_denied',
    "Sign-in denied: the request was denied in the browser, or its approval was withdrawn (the account's password changed, it signed out everywhere, or it left the organization) before the terminal collected it. Start again if that was a mistake.",
  )

async function issueAccessToken(ctx: Ctx, sessionId: string, now: number): Promise<{ accessToken: string; expiresAt: string }> {
  const accessToken = generateToken(ACCESS_TOKEN_PREFIX)
  const expiresAt = now + ACCESS_TOKEN_TTL_MS
  await ctx.db
    .insert(cliAccessTokens)
    .values({ id: newId('clia'), sessionId, tokenHash: hashToken(accessToken), createdAt: new Date(now), expiresAt: new Date(expiresAt) })
    .run()
  return { accessToken, expiresAt: iso(expiresAt - EXPIRY_SKEW_MS) }
}

const refreshFailure = (code: 'invalid_token' | 'token_revoked' | 'token_expired' | 'membership_revoked', message: string) =>
  new AppError(code, `${message} Sign in again: teamday login (TeamDay's CLI: teamday auth login).`, {
    headers: { 'www-authenticate': `Bearer realm="teamday", error="invalid_token", error_description="${code}"` },
  })

const noLongerMember = () => refreshFailure('membership_revoked', 'Invalid refresh token: its user is no longer a member of the organization it was issued for.')

function findSessionByRefresh(ctx: Ctx, refreshToken: string): Promise<CliSession | undefined> {
  if (checkTokenFormat(refreshToken.trim(), REFRESH_TOKEN_PREFIX) !== null) return Promise.resolve(undefined)
  return prepared(ctx.db, 'cliAuth.sessionByRefresh', () =>
    ctx.db.select().from(cliSessions).where(eq(cliSessions.refreshTokenHash, sql.placeholder('hash'))).prepare(),
  ).get({ hash: hashToken(refreshToken.trim()) })
}

/** 401 unless `session` may hand out an access token at `now`: unrevoked, its refresh token unexpired, its user still a member. */
async function assertRefreshable(db: Db, session: CliSession, now: number): Promise<void> {
  if (revocationInForce(session, now)) {
    // Revoked because its user left the organization (and not back since): that is what to say.
    if (session.revokedReason === 'membership_removed' && (await roleIn(db, session.organizationId, session.userId)) === undefined) throw noLongerMember()
    throw refreshFailure('token_revoked', 'Invalid refresh token: its CLI session has been revoked (signed out).')
  }
  if (session.refreshExpiresAt.getTime() <= now) throw refreshFailure('token_expired', `Invalid refresh token: it expired on ${session.refreshExpiresAt.toISOString()} (refresh tokens last 90 days).`)
  if ((await roleIn(db, session.organizationId, session.userId)) === undefined) throw noLongerMember()
}

/**
 * A new access token for a refresh token. The refresh token is not rotated (TeamDay's CLI keeps
 * the one it has): it works until its session is revoked or 90 days have passed. Access tokens
 * handed out before stay valid until their own expiry (a second terminal sharing the login is
 * not cut off).
 */
export async function refreshAccess(ctx: Ctx, refreshToken: string): Promise<{ accessToken: string; expiresAt: string; sessionId: string }> {
  const session = await findSessionByRefresh(ctx, refreshToken)
  if (!session) throw refreshFailure('invalid_token', `Invalid refresh token: it is not one this server issued (or its sign-in expired or was revoked over ${CLI_SESSION_KEEP_MS / 86_400_000} days ago).`)
  const now = ctx.clock.now()
  await assertRefreshable(ctx.db, session, now)
  // The new access token and its `cli.token_refreshed` event commit together (audited).
  const access = await audited(
    ctx,
    async (tx) => {
      // Asked again in the transaction that issues the token, the session read forShare: a sign-out
      // (or a removal, a leak report) under way is waited for and seen, one after waits for this
      // commit. Asked only before it, a refresh at the same moment answered 200 with an access
      // token for a sign-in already revoked, and recorded `cli.token_refreshed` after its end.
      const current = await forShare(tx.db, tx.db.select().from(cliSessions).where(eq(cliSessions.id, session.id))).get()
      if (!current) throw refreshFailure('token_revoked', 'Invalid refresh token: its CLI session has been revoked (signed out).')
      await assertRefreshable(tx.db, current, now)
      // Expired access tokens of this session are of no further use.
      await tx.db.delete(cliAccessTokens).where(and(eq(cliAccessTokens.sessionId, session.id), lt(cliAccessTokens.expiresAt, new Date(now)))).run()
      return issueAccessToken(tx, session.id, now)
    },
    (): AuditInput => ({
      type: 'cli.token_refreshed',
      organizationId: session.organizationId,
      actor: { userId: session.userId, tokenId: session.id },
      tokenId: session.id,
      targetType: 'cli_session',
      targetId: session.id,
    }),
  )
  await touchCliSession(ctx, session.id, now)
  return { ...access, sessionId: session.id }
}

export type CliRevokeReason = 'manual' | 'logout' | 'leak_report' | 'membership_removed' | 'code_reused' | 'password_changed' | 'signed_out_everywhere'

/**
 * Revokes a session: its refresh token and every access token it handed out stop at once (the
 * token look-up reads the session's revocation, so they answer 401 token_revoked). Idempotent; returns whether it changed anything.
 */
export async function revokeCliSessionById(ctx: Ctx, session: Pick<CliSession, 'id' | 'userId' | 'organizationId'>, by: { userId: string | null; reason: CliRevokeReason }): Promise<boolean> {
  const s = cliSessions
  const now = ctx.clock.now()
  // The revocation and its `cli.session_revoked` event commit together (audited; inside a
  // member's removal or a password change, with it).
  const done = await audited(
    ctx,
    (tx) =>
      tx.db
        .update(s)
        .set({ revokedAt: new Date(now), revokedBy: by.userId ?? by.reason, revokedReason: by.reason })
        .where(and(eq(s.id, session.id), isNull(s.revokedAt)))
        .returning({ id: s.id })
        .get(),
    (done): AuditInput | null =>
      done
        ? {
            type: 'cli.session_revoked',
            organizationId: session.organizationId,
            actor: by.userId ? { userId: by.userId, tokenId: by.reason === 'logout' ? session.id : null } : null,
            tokenId: session.id,
            targetType: 'cli_session',
            targetId: session.id,
            details: { reason: by.reason, ownerUserId: session.userId },
          }
        : null,
  )
  return done !== undefined
}

/**
 * Sign-ins a person approved that no terminal has collected yet (approved, not delivered): they
 * are withdrawn (`denied`: the poll answers login_denied) wherever the person's sign-ins end, or
 * one approved by whoever was signed in as them a minute before a password change was collected
 * after it, as a CLI session of 90 days the change was meant to end (found from outside). Before
 * the sessions are read: a poll claiming one of these codes at the same moment either committed
 * first (its session is then there to revoke) or finds it withdrawn.
 */
async function withdrawApprovals(ctx: Ctx, userId: string, organizationId?: string): Promise<void> {
  const c = cliLoginCodes
  await ctx.db
    .update(c)
    .set({ state: 'denied' })
    .where(and(eq(c.userId, userId), eq(c.state, 'approved'), organizationId ? eq(c.organizationId, organizationId) : undefined))
    .run()
}

/** A member leaves an organization: their CLI sessions there end with it (never come back if re-added). */
export async function revokeCliSessionsOfMember(ctx: Ctx, userId: string, organizationId: string): Promise<string[]> {
  await withdrawApprovals(ctx, userId, organizationId)
  const s = cliSessions
  const open = await ctx.db.select().from(s).where(and(eq(s.userId, userId), eq(s.organizationId, organizationId), isNull(s.revokedAt))).all()
  for (const session of open) await revokeCliSessionById(ctx, session, { userId: null, reason: 'membership_removed' })
  return open.map((x) => x.id)
}

/**
 * Every CLI sign-in of a person, in every organization: their password changed, or they signed
 * out everywhere. A browser sign-in for a terminal is a sign-in too, and its refresh token lasts
 * 90 days: someone recovering an account by doing both must not leave an intruder's terminal
 * signed in. Returns the ids ended.
 */
export async function revokeCliSessionsOfUser(ctx: Ctx, userId: string, reason: 'password_changed' | 'signed_out_everywhere'): Promise<string[]> {
  await withdrawApprovals(ctx, userId)
  const s = cliSessions
  const open = await ctx.db.select().from(s).where(and(eq(s.userId, userId), isNull(s.revokedAt))).all()
  for (const session of open) await revokeCliSessionById(ctx, session, { userId, reason })
  return open.map((x) => x.id)
}

/**
 * Of `candidates` (a leak report's strings), the well-formed CLI refresh and access tokens
 * (`tdr_…`, `tdo_…`) this server issued: one statement per 500 of each kind, where a look-up each
 * held a pooled PostgreSQL connection for a report of 1,000 made-up ones (as td_ tokens did:
 * valuesPresent). Only these are then looked up one by one (findLeakedCliSession).
 */
export async function knownCliTokens(ctx: Ctx, candidates: readonly string[]): Promise<Set<string>> {
  const byHash = new Map<string, string>()
  const refresh: string[] = []
  const access: string[] = []
  for (const c of candidates) {
    const kind = checkTokenFormat(c, REFRESH_TOKEN_PREFIX) === null ? refresh : checkTokenFormat(c, ACCESS_TOKEN_PREFIX) === null ? access : null
    if (kind === null) continue
    const h = hashToken(c)
    if (byHash.has(h)) continue
    byHash.set(h, c)
    kind.push(h)
  }
  const present = [...(await valuesPresent(ctx.db, cliSessions, cliSessions.refreshTokenHash, refresh)), ...(await valuesPresent(ctx.db, cliAccessTokens, cliAccessTokens.tokenHash, access))]
  return new Set(present.map((h) => byHash.get(h)!))
}

/**
 * The CLI session of a well-formed access or refresh token (`tdo_`, `tdr_`), revoked or not; none
 * for anything else, without a query when the string is not of that form (prefix, length, checksum).
 */
export async function findLeakedCliSession(ctx: Ctx, candidate: string): Promise<CliSession | undefined> {
  if (checkTokenFormat(candidate, REFRESH_TOKEN_PREFIX) === null) return findSessionByRefresh(ctx, candidate)
  if (checkTokenFormat(candidate, ACCESS_TOKEN_PREFIX) !== null) return undefined
  const a = await ctx.db.select({ sessionId: cliAccessTokens.sessionId }).from(cliAccessTokens).where(eq(cliAccessTokens.tokenHash, hashToken(candidate))).get()
  return a ? findCliSession(ctx, a.sessionId) : undefined
}

/**
 * A reported leak of a CLI access or refresh token (POST /api/v1/credentials/revoke): its session
 * is revoked, audited with reason `leak_report`. Returns the session when the string was one of
 * ours, for the caller to revoke the tokens made through it (src/modules/credentials/service.ts).
 */
export async function revokeLeakedCliToken(ctx: Ctx, candidate: string): Promise<CliSession | undefined> {
  const session = await findLeakedCliSession(ctx, candidate)
  if (!session) return undefined
  await revokeCliSessionById(ctx, session, { userId: null, reason: 'leak_report' })
  return session
}

/**
 * `teamday logout`: the holder of a refresh token ends its session. Like RFC 7009, an unknown or
 * already revoked token is not an error (the answer says nothing about which tokens exist).
 */
export async function revokeByRefreshToken(ctx: Ctx, refreshToken: string): Promise<void> {
  const session = await findSessionByRefresh(ctx, refreshToken)
  if (session) await revokeCliSessionById(ctx, session, { userId: session.userId, reason: 'logout' })
}

/** A person revokes one of their own CLI sessions (console). Another person's is not found. */
export async function revokeOwnCliSession(ctx: Ctx, userId: string, sessionId: string): Promise<void> {
  const session = await ctx.db.select().from(cliSessions).where(and(eq(cliSessions.id, sessionId), eq(cliSessions.userId, userId))).get()
  if (!session) throw new AppError('not_found', `CLI session ${sessionId} not found`)
  await revokeCliSessionById(ctx, session, { userId, reason: 'manual' })
}

export interface PublicCliSession {
  id: string
  organizationId: string
  device: string | null
  createdIp: string | null
  createdAt: string
  lastUsedAt: string | null
  lastUsedIp: string | null
  refreshExpiresAt: string
  status: 'active' | 'expired' | 'revoked'
  revokedAt: string | null
}

/**
 * A person's active CLI sessions (newest first, at most 100), for the console's tokens page. Active
 * in the query, before the limit: the 100 newest, filtered afterwards, were all revoked or expired
 * for someone whose working sign-in was older (a CI runner's `teamday login` per job), and the page
 * said no command-line tool was signed in (the token list had the same bug: tokens/service.ts).
 */
export async function listCliSessions(ctx: Ctx, userId: string, organizationId?: string): Promise<PublicCliSession[]> {
  const s = cliSessions
  const now = ctx.clock.now()
  const at = new Date(now)
  const rows = await ctx.db
    .select()
    .from(s)
    .where(and(eq(s.userId, userId), organizationId ? eq(s.organizationId, organizationId) : undefined, notRevokedSql(s, at), gt(s.refreshExpiresAt, at)))
    .orderBy(desc(s.createdAt), desc(s.id))
    .limit(100)
    .all()
  return rows.map((r) => ({
    id: r.id,
    organizationId: r.organizationId,
    device: ctx.box.openOrNull(r.userAgentEnc, `clis.ua:${r.id}`),
    createdIp: ctx.box.openOrNull(r.createdIpEnc, `clis.cip:${r.id}`),
    createdAt: r.createdAt.toISOString(),
    lastUsedAt: r.lastUsedAt ? r.lastUsedAt.toISOString() : null,
    lastUsedIp: ctx.box.openOrNull(r.lastUsedIpEnc, `clis.ip:${r.id}`),
    refreshExpiresAt: r.refreshExpiresAt.toISOString(),
    status: revocationInForce(r, now) ? 'revoked' : r.refreshExpiresAt.getTime() <= now ? 'expired' : 'active',
    revokedAt: r.revokedAt ? r.revokedAt.toISOString() : null,
  }))
}

/** A CLI session by id (for GET /tokens/self with a CLI access token). */
export function findCliSession(ctx: Ctx, id: string): Promise<CliSession | undefined> {
  return ctx.db.select().from(cliSessions).where(eq(cliSessions.id, id)).get()
}
