import { Placeholder, sql as drizzleSql } from 'drizzle-orm'
import type { Config, RatePolicy } from '../config'
import type { PgConnection } from '../db/pg'
import { agentsVersionScope, versionKey } from '../db/versions'
import { addingHits, hitOfPlace, hitsWithin, StatementBatches, type PgRateLimitStore } from '../ratelimit/pg-store'
import type { Hit } from '../ratelimit/store'
import { fill, renderOnce, Slot, type Rendered } from '../db/pg-render'
import type { AuthRow } from './lookup'
import { notRevokedSql } from './revoked'

/** The hits counted for one authenticated request, at the time they were counted. */
export interface CountedHits {
  now: number
  /** On the token's budget; null when that budget is off. */
  token: Hit | null
  /** On the user's budget; null when that budget is off or the token's was spent (not counted). */
  user: Hit | null
}

/** What authenticating one request found and counted, in one statement. */
export interface CountedLookup {
  row: Readonly<AuthRow> | undefined
  /** The time the statement judged the token's validity by: authenticate's checks use the same. */
  now: number
  /** Undefined when the token was not valid at `now` (unknown, revoked, expired, no longer a member): nothing was counted. */
  counted?: CountedHits
  /** The token's organization's agents version (src/db/versions.ts) as of the same statement. */
  agentsVersion?: string
}

type Kind = AuthRow['kind']

/**
 * Authentication on PostgreSQL in one round trip: the token look-up (the same answer as
 * findTokenForAuth / findCliAccessTokenForAuth in src/auth/lookup.ts, test/pg-auth-statement.test.ts
 * compares them), the rate-limit hits of the request it authenticates (PgRateLimitStore's
 * counters, with its batching and asynchronous commit) and the organization's agents version,
 * as one statement with data-modifying CTEs.
 *
 * The counters are hit only when the token is valid at `now` by the rules authenticate applies
 * afterwards with the same `now` (found; no revocation in force, src/auth/revoked.ts: revoked
 * at all but for a rotation's grace period still running; expiring after `now`;
 * its user still a member): a refused credential counts against its address's failures as
 * before (RateLimiter.authFailed), never against a token's or user's budget; the user's budget
 * only for hits within the token's (RateLimiter.consumeAuthenticated). Nothing is cached:
 * revocation, a role change or removal from the organization by any instance is seen by the
 * next statement.
 *
 * Requests with the same token that arrive while its statement runs go together in the next one
 * (StatementBatches): one look-up, their hits added at once, each request its own counts.
 */
export class PgCountedLookup {
  private readonly batches = new StatementBatches<{ kind: Kind; hash: string }, CountedLookup>((arg, k, now) => this.send(arg.kind, arg.hash, k, now))
  /** The budgets counted in the statement, in order: the token's (if on), then the user's (if on). */
  private readonly budgets: { policy: RatePolicy; key: 'id' | 'user_id' }[]
  /**
   * The statement for each kind of token, rendered once (src/db/pg-render.ts) from the fragments
   * below, the counters' ones shared with PgRateLimitStore (addingHits, hitsWithin): building ~15
   * nested postgres-js fragments (each a Query, a Promise) for every statement cost more of the
   * process's CPU than the statement's values. Its values, by Slot: the token's hash, the time
   * (ISO), the batch's size, each budget's new window end (ISO).
   */
  private readonly statements: Record<Kind, Rendered>

  constructor(
    private readonly conn: PgConnection,
    private readonly store: PgRateLimitStore,
    config: Pick<Config, 'rateLimit' | 'userRateLimit'>,
  ) {
    this.budgets = [
      ...(config.rateLimit ? [{ policy: config.rateLimit, key: 'id' as const }] : []),
      ...(config.userRateLimit ? [{ policy: config.userRateLimit, key: 'user_id' as const }] : []),
    ]
    this.statements = { pat: this.statement('pat'), cli: this.statement('cli') }
  }

  private statement(kind: Kind): Rendered {
    const sql = this.conn.client
    const hash = new Slot(0) as unknown as string
    const nowIso = new Slot(1) as unknown as string
    const k = new Slot(2) as unknown as number
    const resetAt = [new Slot(3), new Slot(4)]
    const [b1, b2] = this.budgets
    // The limiter's keys (`tok:<token id>`, `user:<user id>`), as PgRateLimitStore stores them.
    const keyOf = (b: (typeof this.budgets)[number]) => (b.key === 'id' ? sql`'tok:' || id` : sql`'user:' || user_id`)
    const upsert = (b: (typeof this.budgets)[number], n: ReturnType<typeof sql>, from: ReturnType<typeof sql>) => sql`
        INSERT INTO rate_limit_counters AS c (key, count, reset_at)
        SELECT ${keyOf(b)}, ${n}, ${resetAt[b === b1 ? 0 : 1] as unknown as string}::timestamptz FROM ${from}
        ON CONFLICT (key) DO UPDATE SET ${addingHits(sql, nowIso)}
        RETURNING count, (extract(epoch FROM reset_at) * 1000)::bigint AS reset_ms`
    const auth =
      kind === 'pat'
        ? sql`
        SELECT t.id, t.user_id, t.organization_id, t.expires_at, t.revoked_at, t.revoked_reason, t.last_used_at, t.scopes,
          (SELECT u.email FROM users u WHERE u.id = t.user_id) AS email,
          (SELECT m.role FROM memberships m WHERE m.organization_id = t.organization_id AND m.user_id = t.user_id) AS role
        FROM personal_access_tokens t WHERE t.token_hash = ${hash}`
        : sql`
        SELECT s.id, s.user_id, s.organization_id, a.expires_at, s.revoked_at, s.revoked_reason, s.last_used_at, '["*"]'::jsonb AS scopes,
          (SELECT u.email FROM users u WHERE u.id = s.user_id) AS email,
          (SELECT m.role FROM memberships m WHERE m.organization_id = s.organization_id AND m.user_id = s.user_id) AS role
        FROM cli_access_tokens a JOIN cli_sessions s ON s.id = a.session_id WHERE a.token_hash = ${hash}`
    // Not revoked, or in a rotation's grace period still running at `now`: notRevokedSql, the one
    // rule (src/auth/revoked.ts), rendered by drizzle's pg-core (only here: this class exists only
    // in a process on PostgreSQL) on the `auth` rows' columns, the placeholder `now` the statement's time.
    const { PgDialect } = require('drizzle-orm/pg-core') as typeof import('drizzle-orm/pg-core')
    const rule = new PgDialect().sqlToQuery(notRevokedSql({ revokedAt: drizzleSql.raw('revoked_at'), revokedReason: drizzleSql.raw('revoked_reason') }, drizzleSql.placeholder('now')))
    const ruleStrings = rule.sql.split(/\$\d+/)
    const notRevoked = sql(Object.assign([...ruleStrings], { raw: ruleStrings }) as unknown as TemplateStringsArray, ...(rule.params.map((p) => (p instanceof Placeholder ? nowIso : p)) as never[]))
    // `within`: how many of the batch's hits are within the first budget (the second counts those).
    return renderOnce(
      sql,
      sql`
      WITH auth AS (${auth}),
      valid AS (
        SELECT id, user_id FROM auth
        WHERE role IS NOT NULL AND expires_at > ${nowIso}::timestamptz AND ${notRevoked}
      ),
      async_commit AS (SELECT set_config('synchronous_commit', 'off', true) FROM valid)
      ${b1 ? sql`, first AS (${upsert(b1, sql`${k}::int`, sql`valid, async_commit`)})` : sql``}
      ${b1 && b2 ? sql`, within AS (SELECT ${hitsWithin(sql, k, b1.policy.limit)} AS n FROM first),
      second AS (${upsert(b2, sql`n`, sql`valid, within WHERE n > 0`)})` : sql``}
      SELECT a.id, a.user_id, a.organization_id, a.scopes, a.email, a.role, a.revoked_reason,
        (extract(epoch FROM a.expires_at) * 1000)::bigint AS expires_ms,
        (extract(epoch FROM a.revoked_at) * 1000)::bigint AS revoked_ms,
        (extract(epoch FROM a.last_used_at) * 1000)::bigint AS last_used_ms,
        ${b1 ? sql`(SELECT count FROM first)` : sql`NULL::int`} AS first_count,
        ${b1 ? sql`(SELECT reset_ms FROM first)` : sql`NULL::bigint`} AS first_reset_ms,
        ${b1 && b2 ? sql`(SELECT count FROM second)` : sql`NULL::int`} AS second_count,
        ${b1 && b2 ? sql`(SELECT reset_ms FROM second)` : sql`NULL::bigint`} AS second_reset_ms,
        ${b1 && b2 ? sql`(SELECT n FROM within)` : sql`NULL::int`} AS second_added,
        COALESCE((SELECT value FROM settings WHERE key = ${versionKey(agentsVersionScope(''))} || a.organization_id), '0') AS agents_version
      FROM auth a`,
    )
  }

  /** Looks up a token (`pat`, or a CLI access token) by its hash and counts the request when it is valid. */
  lookup(kind: Kind, hash: string, now: number): Promise<CountedLookup> {
    return this.batches.add(`${kind}:${hash}`, { kind, hash }, now)
  }

  private async send(kind: Kind, hash: string, k: number, now: number): Promise<(i: number) => CountedLookup> {
    const [b1, b2] = this.budgets
    const values = [hash, new Date(now).toISOString(), k, b1 && new Date(now + b1.policy.windowMs).toISOString(), b2 && new Date(now + b2.policy.windowMs).toISOString()]
    const statement = this.statements[kind]
    const rows = await this.conn.bounded(this.conn.client.unsafe(statement.text, fill(statement, values) as never[], { prepare: true }))
    if (b1) this.store.sweep(now)
    const r = rows[0]
    if (!r) return () => ({ row: undefined, now })
    const row: AuthRow = {
      id: r.id,
      userId: r.user_id,
      organizationId: r.organization_id,
      // Timestamps as epoch milliseconds: the client hands drizzle the text of timestamptz values.
      expiresAt: new Date(Number(r.expires_ms)),
      revokedAt: r.revoked_ms === null ? null : new Date(Number(r.revoked_ms)),
      revokedReason: r.revoked_reason,
      lastUsedAt: r.last_used_ms === null ? null : new Date(Number(r.last_used_ms)),
      scopes: r.scopes,
      email: r.email,
      role: r.role,
      kind,
      agentsVersion: r.agents_version,
    }
    const agentsVersion: string = r.agents_version
    // No budget on: nothing to count; otherwise the first budget's upsert ran iff the token was valid.
    if (!b1 || r.first_count === null) return () => ({ row, now, agentsVersion })
    const first = { count: Number(r.first_count), resetAt: Number(r.first_reset_ms) }
    const second = r.second_count === null ? null : { count: Number(r.second_count), resetAt: Number(r.second_reset_ms), added: Number(r.second_added) }
    return (i) => {
      const h1 = hitOfPlace(first.count, first.resetAt, k, i)
      const h2 = second && hitOfPlace(second.count, second.resetAt, second.added, i)
      const counted = b1.key === 'id' ? { now, token: h1, user: h2 } : { now, token: null, user: h1 }
      return { row, now, counted, agentsVersion }
    }
  }
}
