import { and, eq, isNull, lt, or, sql, type AnyColumn } from 'drizzle-orm'
import { audited, type Ctx } from '../context'
import type { Db } from '../db/connection'
import { prepared } from '../db/prepared'
import { errorMessage } from '../errors'
import { cliAccessTokens, cliSessions, memberships, personalAccessTokens, settings, users, type Role } from '../db/schema'
import { agentsVersionScope, versionKey } from '../db/versions'

/** The token look-up of authentication (and of leaked-credential reports), and last-use tracking. */

/** lastUsedAt is written at most this often per token: no database write on most requests. */
export const LAST_USED_RESOLUTION_MS = 60_000

export interface AuthRow {
  id: string
  userId: string
  organizationId: string
  expiresAt: Date
  revokedAt: Date | null
  /** Why it was revoked (`membership_removed`: its user left the organization). */
  revokedReason: string | null
  lastUsedAt: Date | null
  scopes: string[]
  email: string
  /** The user's current role in the token's organization; null when no longer a member. */
  role: Role | null
  /** A personal access token, or a CLI session's access token (`tdo_`; `id` is then the session's). */
  kind: 'pat' | 'cli'
  /**
   * The version of the organization's agents (src/db/versions.ts), the agent list's cache key, as
   * of the same statement: a cached list then costs one read, not two (PostgreSQL's reads it in
   * its authentication statement the same way, src/auth/pg-lookup.ts).
   */
  agentsVersion: string
}

/**
 * The e-mail of a token's owner, as a scalar subquery rather than a join: SQLite runs this
 * shape about five times faster (≈1.4 µs against ≈7.5 µs measured with bun:sqlite), and it is
 * plain SQL for PostgreSQL too.
 */
export function ownerEmail(db: Db) {
  return emailOf(db, personalAccessTokens.userId)
}

/** A user's e-mail as a scalar subquery (see ownerEmail for why not a join). */
function emailOf(db: Db, userId: AnyColumn) {
  return sql<string>`(${db.select({ email: users.email }).from(users).where(eq(users.id, userId))})`
}

/**
 * An organization's agents version as a scalar subquery ('0' before its first agent). The key's
 * constant prefix is written into the SQL text (no parameter: the look-ups stay one-parameter
 * reads, kept by value above the row cache: src/db/prepared.ts).
 */
function agentsVersionOf(organizationId: AnyColumn) {
  const prefix = versionKey(agentsVersionScope(''))
  if (!/^[a-z:]+$/.test(prefix)) throw new Error(`unexpected version key prefix ${prefix}`)
  return sql<string>`coalesce((select ${settings.value} from ${settings} where ${settings.key} = ${sql.raw(`'${prefix}'`)} || ${organizationId}), '0')`
}

/** A user's current role in an organization as a scalar subquery: null once they are no member. */
function currentRoleOf(db: Db, organizationId: AnyColumn, userId: AnyColumn) {
  return sql<Role | null>`(${db.select({ role: memberships.role }).from(memberships).where(and(eq(memberships.organizationId, organizationId), eq(memberships.userId, userId)))})`
}

function prepareAuthLookup(db: Db) {
  const t = personalAccessTokens
  return db
    .select({
      id: t.id,
      userId: t.userId,
      organizationId: t.organizationId,
      expiresAt: t.expiresAt,
      revokedAt: t.revokedAt,
      revokedReason: t.revokedReason,
      lastUsedAt: t.lastUsedAt,
      scopes: t.scopes,
      email: ownerEmail(db),
      role: currentRoleOf(db, t.organizationId, t.userId),
      kind: sql<'pat'>`'pat'`,
      agentsVersion: agentsVersionOf(t.organizationId),
    })
    .from(t)
    .where(eq(t.tokenHash, sql.placeholder('hash')))
    .prepare()
}

/**
 * The same answer for a CLI access token (`tdo_…`): the token's own expiry, its session's id,
 * revocation and last use, the user's current role in the session's organization. Access tokens
 * carry no scopes: they may do whatever the user's role allows, like a full (`*`) PAT.
 */
function prepareCliAuthLookup(db: Db) {
  const a = cliAccessTokens
  const s = cliSessions
  return db
    .select({
      id: s.id,
      userId: s.userId,
      organizationId: s.organizationId,
      expiresAt: a.expiresAt,
      revokedAt: s.revokedAt,
      revokedReason: s.revokedReason,
      lastUsedAt: s.lastUsedAt,
      scopes: sql<string[]>`'["*"]'`.mapWith((v: string) => JSON.parse(v) as string[]),
      email: emailOf(db, s.userId),
      role: currentRoleOf(db, s.organizationId, s.userId),
      kind: sql<'cli'>`'cli'`,
      agentsVersion: agentsVersionOf(s.organizationId),
    })
    .from(a)
    .innerJoin(s, eq(s.id, a.sessionId))
    .where(eq(a.tokenHash, sql.placeholder('hash')))
    .prepare()
}

export async function findCliAccessTokenForAuth(db: Db, tokenHash: string): Promise<Readonly<AuthRow> | undefined> {
  return await authRowNow(db, 'cli', tokenHash)
}

/**
 * One indexed read, answered from the connection's row cache until the next commit to the
 * database by anyone (src/db/sqlite.ts): revocation, role changes and removal from the
 * organization are seen by the very next request, on every instance sharing the database file.
 */
export async function findTokenForAuth(db: Db, tokenHash: string): Promise<Readonly<AuthRow> | undefined> {
  return await authRowNow(db, 'pat', tokenHash)
}

/**
 * findTokenForAuth or findCliAccessTokenForAuth by kind, as the prepared query answers: the row
 * itself when it ran synchronously (SQLite: src/db/prepared.ts), else a promise of it
 * (authentication's look-up awaits only then).
 */
export function authRowNow(db: Db, kind: AuthRow['kind'], tokenHash: string): Readonly<AuthRow> | undefined | Promise<Readonly<AuthRow> | undefined> {
  const q = kind === 'cli' ? prepared(db, 'cliAuth.authLookup', () => prepareCliAuthLookup(db), { shared: true }) : prepared(db, 'tokens.authLookup', () => prepareAuthLookup(db), { shared: true })
  return q.get({ hash: tokenHash }) as unknown as Readonly<AuthRow> | undefined | Promise<Readonly<AuthRow> | undefined>
}

/**
 * The addresses each token was last seen using in this process (up to RECENT_ADDRESSES, the
 * latest last). Within LAST_USED_RESOLUTION_MS of the last recorded use, a request from one of
 * them needs no database work; one from any other address is recorded at once (below). Several
 * addresses are kept so that a token shared by machines (CI runners behind two egress addresses)
 * does not write and audit on every request. Emptied past 10,000 tokens: a miss costs one read.
 */
const recentAddresses = new Map<string, string[]>()
/** When a token's moves to a new address were recorded in this process lately (ms). */
const movedAt = new Map<string, number[]>()
const MOVES_PER_MINUTE = 3
const RECENT_ADDRESSES = 8
const RECENT_TOKENS_MAX = 10_000

/** The moves of a token recorded in this process within LAST_USED_RESOLUTION_MS of `now`. */
function recentMoves(tokenId: string, now: number): number[] {
  return (movedAt.get(tokenId) ?? []).filter((at) => at > now - LAST_USED_RESOLUTION_MS)
}

function remember(tokenId: string, ip: string): void {
  const seen = recentAddresses.get(tokenId)
  if (seen === undefined) {
    if (recentAddresses.size >= RECENT_TOKENS_MAX) recentAddresses.clear()
    recentAddresses.set(tokenId, [ip])
    return
  }
  const at = seen.indexOf(ip)
  if (at >= 0) seen.splice(at, 1)
  else if (seen.length >= RECENT_ADDRESSES) seen.shift()
  seen.push(ip)
}

/** An address whose move could not be recorded: not "seen lately", so its next use records it. */
function forget(tokenId: string, ip: string): void {
  const seen = recentAddresses.get(tokenId)
  const at = seen?.indexOf(ip) ?? -1
  if (at >= 0) seen!.splice(at, 1)
}

/**
 * Records last use: time, address and user agent, at most once per LAST_USED_RESOLUTION_MS per
 * token; and at once, with a `token.new_ip` audit event, when a request comes from an address
 * that is neither the stored last one nor one this process saw the token use lately, so that a
 * stolen token used from elsewhere within that minute leaves its trace. The conditional updates
 * make concurrent requests (or instances) write once and audit once; a move's address and its
 * event commit together (one transaction, taken only for a move: the minute's plain update of the
 * time stays one statement). Never throws: a failure to
 * record use must not fail the request. `ctx` is the request's (its origin and request id).
 */
export function touchLastUsed(ctx: Ctx, row: Readonly<AuthRow>): void | Promise<void> {
  // Decided synchronously (no promise, nothing to await) in the usual case: nothing to write.
  const now = ctx.clock.now()
  const recent = row.lastUsedAt !== null && now - row.lastUsedAt.getTime() < LAST_USED_RESOLUTION_MS
  if (row.kind === 'cli') return recent ? undefined : touchCliSession(ctx, row.id, now)
  const ip = ctx.origin?.ip() ?? null
  const known = ip !== null && recentAddresses.get(row.id)?.includes(ip) === true
  if (recent && (ip === null || known)) return
  // At most MOVES_PER_MINUTE moves a minute are written at once: a client cycling through more
  // addresses than are remembered would otherwise write and audit on every request. The address
  // is not remembered then, so a later write records it.
  if (recent && recentMoves(row.id, now).length >= MOVES_PER_MINUTE) return
  return recordUse(ctx, row, now, ip, known, recent)
}

/** touchLastUsed's writes, once it found there may be one. Never throws. */
async function recordUse(ctx: Ctx, row: Readonly<AuthRow>, now: number, ip: string | null, known: boolean, recent: boolean): Promise<void> {
  const userAgent = ctx.origin?.userAgent ?? null
  try {
    const t = personalAccessTokens
    const before = ip ? await ctx.db.select({ ip: t.lastUsedIpEnc }).from(t).where(eq(t.id, row.id)).get() : undefined
    const previousIp = before?.ip ? ctx.box.open(before.ip, `pat.ip:${row.id}`) : null
    if (ip !== null) remember(row.id, ip)
    const moved = ip !== null && !known && previousIp !== ip
    // Within the minute only a move is written, and only by the request that still finds the
    // address it read (the sealed bytes: sealing is randomized, so a rewrite always differs).
    if (recent && !moved) return
    const unchanged = before?.ip ? eq(t.lastUsedIpEnc, before.ip) : isNull(t.lastUsedIpEnc)
    const due = or(isNull(t.lastUsedAt), lt(t.lastUsedAt, new Date(now - LAST_USED_RESOLUTION_MS)))
    const write = (db: Db) =>
      db
        .update(t)
        .set({
          lastUsedAt: new Date(now),
          lastUsedIpEnc: ip ? ctx.box.seal(ip, `pat.ip:${row.id}`) : null,
          lastUsedUaEnc: userAgent ? ctx.box.seal(userAgent.slice(0, 512), `pat.ua:${row.id}`) : null,
        })
        .where(and(eq(t.id, row.id), moved ? unchanged : due))
        .returning({ id: t.id })
        .get()
    // Once a minute, no address new: the time alone, one statement, no event.
    if (!moved) return void (await write(ctx.db))
    // A use from a new address (neither the stored last one nor one this process saw lately): the
    // address and its `token.new_ip` event commit together (audited), or neither does. Written
    // apart, an event that failed after its address had been stored was lost for good: every
    // later request from there found the address stored, and the stolen token's move left no
    // trace. Now the address stays the old one, and the next request from the new one tries again.
    const written = await audited(
      ctx,
      (tx) => write(tx.db),
      (w) => (w ? { type: 'token.new_ip', organizationId: row.organizationId, source: 'api', actor: { userId: row.userId, tokenId: row.id }, tokenId: row.id, details: { previousIp, firstUse: row.lastUsedAt === null } } : null),
    ).catch((e: unknown) => {
      forget(row.id, ip)
      throw e
    })
    if (written) {
      if (movedAt.size >= RECENT_TOKENS_MAX) movedAt.clear()
      movedAt.set(row.id, [...recentMoves(row.id, now), now])
    }
  } catch (e) {
    ctx.log.warn('last_used_update_failed', { tokenId: row.id, error: errorMessage(e) })
  }
}

/** A CLI session's last use (its access tokens' and refreshes'): time and address, at most once a minute. */
export async function touchCliSession(ctx: Ctx, sessionId: string, now: number): Promise<void> {
  const ip = ctx.origin?.ip() ?? null
  try {
    const s = cliSessions
    await ctx.db
      .update(s)
      .set({ lastUsedAt: new Date(now), lastUsedIpEnc: ip ? ctx.box.seal(ip, `clis.ip:${sessionId}`) : null })
      .where(and(eq(s.id, sessionId), or(isNull(s.lastUsedAt), lt(s.lastUsedAt, new Date(now - LAST_USED_RESOLUTION_MS)))))
      .run()
  } catch (e) {
    ctx.log.warn('last_used_update_failed', { sessionId, error: errorMessage(e) })
  }
}
