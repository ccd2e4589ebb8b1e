/**
 * Authentication on PostgreSQL is one statement (src/auth/pg-lookup.ts): the token look-up, the
 * request's rate-limit hits and the organization's agents version. Its look-up must answer as
 * the plain one does (src/auth/lookup.ts) in every state a token can be in, count exactly when
 * authenticate accepts, and keep a cached agent list at one round trip. Needs PostgreSQL
 * (test/helpers/pg.ts): skipped with one line where none answers, a failure in CI.
 */
import { describe, expect, test } from 'bun:test'
import { heapStats } from 'bun:jsc'
import postgres from 'postgres'
import { eq } from 'drizzle-orm'
import { findCliAccessTokenForAuth, findTokenForAuth } from '../src/auth/lookup'
import { PgCountedLookup } from '../src/auth/pg-lookup'
import { generateToken, hashToken } from '../src/auth/tokens'
import type { Config } from '../src/config'
import type { PgConnection } from '../src/db/pg'
import { cliAccessTokens, cliSessions, memberships, personalAccessTokens } from '../src/db/schema'
import { agentsVersionScope, readVersion } from '../src/db/versions'
import { decideLogin } from '../src/modules/cli-auth/service'
import type { PgRateLimitStore } from '../src/ratelimit/pg-store'
import { makeActor, makeTestApp, makeToken, type Actor, type TestApp } from './helpers/app'
import { freshPgSchema, needPostgres } from './helpers/pg'

const HAVE_PG = await needPostgres('test/pg-auth-statement.test.ts')
const MIN = 60_000

async function pgApp(config: Partial<Config> = {}) {
  return makeTestApp({ pg: await freshPgSchema(), config })
}

/** Counts the statements the app's pool sends while `fn` runs. */
async function statementsOf(t: TestApp, fn: () => Promise<unknown>): Promise<string[]> {
  const options = (t.rt.connection as PgConnection).client.options as { debug?: unknown }
  const seen: string[] = []
  options.debug = (_c: number, q: string) => seen.push(q.replace(/\s+/g, ' ').trim())
  try {
    await fn()
  } finally {
    options.debug = undefined
  }
  return seen
}

async function cliAccessToken(t: TestApp, who: Actor): Promise<string> {
  const { body } = await t.req('POST', '/api/auth/cli/initiate')
  await decideLogin(t.ctx, body.code, { userId: who.userId, organizationId: who.organizationId }, 'approve')
  return (await t.req('GET', `/api/auth/cli/poll?code=${body.code}`)).body.accessToken
}

describe.skipIf(!HAVE_PG)('authentication in one statement on PostgreSQL', () => {
  test('round trips: a cached agent list is one statement, another read two, a refused token one (plus its address failure count)', async () => {
    const t = await pgApp({ rateLimit: { limit: 100, windowMs: MIN }, authFailureLimit: { limit: 100, windowMs: MIN } })
    const a = await makeActor(t, { role: 'admin' })
    expect((await t.req('GET', '/api/v1/agents', { token: a.token })).status).toBe(200)
    let r: Awaited<ReturnType<TestApp['req']>> | undefined
    const list = await statementsOf(t, async () => (r = await t.req('GET', '/api/v1/agents', { token: a.token })))
    expect(r!.status).toBe(200)
    expect(list).toHaveLength(1)
    expect(list[0]).toContain('INSERT INTO rate_limit_counters')
    expect(list[0]).toContain('FROM personal_access_tokens')
    const read = await statementsOf(t, async () => expect((await t.req('GET', `/api/v1/tokens/${a.tokenId}`, { token: a.token })).status).toBe(200))
    expect(read).toHaveLength(2)
    // A well-formed token that is not known: looked up (nothing counted in that statement), then its address's failure.
    const refused = await statementsOf(t, async () => expect((await t.req('GET', '/api/v1/agents', { token: generateToken(), ip: '192.0.2.1' })).body.code).toBe('invalid_token'))
    expect(refused).toHaveLength(2)
    expect(refused[0]).toContain('FROM personal_access_tokens')
  }, 30_000)

  test('an agent written through another instance shows in the next list (the version read in the auth statement)', async () => {
    const pg = await freshPgSchema()
    const key = crypto.getRandomValues(new Uint8Array(32))
    const a = await makeTestApp({ pg, key })
    const b = await makeTestApp({ pg, key })
    const m = await makeActor(a, { role: 'admin' })
    expect((await a.req('GET', '/api/v1/agents', { token: m.token })).body.agents).toHaveLength(0)
    expect((await a.req('GET', '/api/v1/agents', { token: m.token })).body.agents).toHaveLength(0)
    expect((await b.req('POST', '/api/v1/agents', { token: m.token, body: { name: 'Reviewer', systemPrompt: 'x', visibility: 'organization' } })).status).toBe(201)
    expect((await a.req('GET', '/api/v1/agents', { token: m.token })).body.agents.map((x: { name: string }) => x.name)).toEqual(['Reviewer'])
  }, 30_000)

  test('the look-up answers as the plain one in every state of a PAT and a CLI access token, and counts exactly the valid ones', async () => {
    const t = await pgApp({ rateLimit: { limit: 100, windowMs: MIN }, userRateLimit: { limit: 300, windowMs: MIN } })
    const fused = new PgCountedLookup(t.rt.connection as PgConnection, t.rt.limiter.store as PgRateLimitStore, t.rt.config)
    const now = t.clock.now()
    const at = (ms: number) => new Date(now + ms)
    const pat = (a: Actor, values: Partial<typeof personalAccessTokens.$inferInsert>) => t.db.update(personalAccessTokens).set(values).where(eq(personalAccessTokens.id, a.tokenId)).run()
    const noMember = (a: Actor) => t.db.delete(memberships).where(eq(memberships.userId, a.userId)).run()
    let n = 0
    const cases: [string, boolean, (a: Actor) => unknown][] = [
      ['valid', true, async () => {}],
      ['used before', true, (a) => pat(a, { lastUsedAt: at(-5 * MIN) })],
      ['revoked now', false, (a) => pat(a, { revokedAt: at(0), revokedReason: 'manual' })],
      ['revoked a millisecond ago', false, (a) => pat(a, { revokedAt: at(-1), revokedReason: 'manual' })],
      // Only a rotation's grace period revokes ahead of time; any other revocation dated later
      // came from an instance whose clock runs ahead, and is in force (src/auth/revoked.ts).
      ['rotated, its grace period ending in a millisecond', true, (a) => pat(a, { revokedAt: at(1), revokedReason: 'rotated' })],
      ['rotated, its grace period ended now', false, (a) => pat(a, { revokedAt: at(0), revokedReason: 'rotated' })],
      // A rotation without grace period ('rotated_now'), made through an instance a minute ahead: in force.
      ['rotated without a grace period by an instance whose clock runs a minute ahead', false, (a) => pat(a, { revokedAt: at(MIN), revokedReason: 'rotated_now' })],
      ['revoked by an instance whose clock runs a millisecond ahead', false, (a) => pat(a, { revokedAt: at(1), revokedReason: 'manual' })],
      ['expiring now', false, (a) => pat(a, { expiresAt: at(0) })],
      ['expiring in a millisecond', true, (a) => pat(a, { expiresAt: at(1) })],
      ['no longer a member', false, noMember],
    ]
    for (const [name, valid, make] of cases) {
      const a = await makeActor(t, { org: `pat-${++n}`, token: { scopes: ['agents:read', 'tasks:write'] } })
      await make(a)
      const hash = hashToken(a.token)
      const got = await fused.lookup('pat', hash, now)
      expect([name, got.row]).toEqual([name, await findTokenForAuth(t.rt.db, hash)])
      expect([name, got.now, got.counted !== undefined]).toEqual([name, now, valid])
      expect([name, got.agentsVersion]).toEqual([name, await readVersion(t.rt.db, agentsVersionScope(a.organizationId))])
      if (valid) expect(got.counted).toEqual({ now, token: { count: 1, resetAt: now + MIN }, user: { count: 1, resetAt: now + MIN } })
    }
    expect(await fused.lookup('pat', hashToken(generateToken()), now)).toEqual({ row: undefined, now })

    const cliCases: [string, boolean, (a: Actor, session: string) => unknown][] = [
      ['valid', true, async () => {}],
      ['signed out', false, (_a, s) => t.db.update(cliSessions).set({ revokedAt: at(0) }).where(eq(cliSessions.id, s)).run()],
      ['expired', false, (_a, s) => t.db.update(cliAccessTokens).set({ expiresAt: at(0) }).where(eq(cliAccessTokens.sessionId, s)).run()],
      ['no longer a member', false, noMember],
    ]
    for (const [name, valid, make] of cliCases) {
      const a = await makeActor(t, { org: `cli-${++n}` })
      const access = await cliAccessToken(t, a)
      const hash = hashToken(access)
      const session = (await findCliAccessTokenForAuth(t.rt.db, hash))!.id
      await make(a, session)
      const got = await fused.lookup('cli', hash, now)
      expect([name, got.row]).toEqual([name, await findCliAccessTokenForAuth(t.rt.db, hash)])
      expect([name, got.counted !== undefined]).toEqual([name, valid])
    }
  }, 60_000)

  test("budgets: the token's only, the user's only, none (then nothing touches the counters); a batch of one token's requests counts each in its place", async () => {
    for (const [config, token, user] of [
      [{ rateLimit: { limit: 3, windowMs: MIN }, userRateLimit: null }, true, false],
      [{ rateLimit: null, userRateLimit: { limit: 3, windowMs: MIN } }, false, true],
      [{ rateLimit: null, userRateLimit: null }, false, false],
    ] as const) {
      const t = await pgApp(config)
      const a = await makeActor(t)
      let statuses: number[] = []
      const sent = await statementsOf(t, async () => (statuses = await Promise.all(Array.from({ length: 5 }, () => t.req('GET', '/api/v1/agents', { token: a.token }).then((r) => r.status)))))
      expect([config, statuses.sort()]).toEqual([config, token || user ? [200, 200, 200, 429, 429] : [200, 200, 200, 200, 200]])
      // No budget on: nothing counted, and no sweep of the counters' ended windows either.
      expect([config, sent.some((q) => q.includes('rate_limit_counters'))]).toEqual([config, token || user])
      const fused = new PgCountedLookup(t.rt.connection as PgConnection, t.rt.limiter.store as PgRateLimitStore, t.rt.config)
      const got = await fused.lookup('pat', hashToken(a.token), t.clock.now())
      expect(got.counted === undefined).toBe(!token && !user)
      if (got.counted) {
        expect(got.counted.token?.count ?? null).toBe(token ? 6 : null)
        expect(got.counted.user?.count ?? null).toBe(user ? 6 : null)
      }
    }
    // A second token of the same user: its own budget, the user's shared.
    const t = await pgApp({ rateLimit: { limit: 2, windowMs: MIN }, userRateLimit: { limit: 3, windowMs: MIN } })
    const a = await makeActor(t)
    const b = await makeToken(t, a)
    const both = await Promise.all(Array.from({ length: 8 }, (_, i) => t.req('GET', '/api/v1/agents', { token: i % 2 ? a.token : b.token }).then((r) => r.status)))
    expect(both.filter((s) => s === 200)).toHaveLength(3)
  }, 60_000)

  test('a statement leaves nothing behind in the driver: its template strings are made once, not one array per statement that postgres-js keeps with an Error', async () => {
    const t = await pgApp({ rateLimit: { limit: 1_000_000, windowMs: MIN }, userRateLimit: { limit: 1_000_000, windowMs: MIN } })
    const a = await makeActor(t)
    const fused = new PgCountedLookup(t.rt.connection as PgConnection, t.rt.limiter.store as PgRateLimitStore, t.rt.config)
    const hash = hashToken(a.token)
    for (let i = 0; i < 20; i++) expect((await fused.lookup('pat', hash, t.clock.now())).counted).toBeDefined()
    const errors = () => {
      Bun.gc(true)
      return heapStats().objectTypeCounts.Error ?? 0
    }
    const before = errors()
    for (let i = 0; i < 300; i++) await fused.lookup('pat', hash, t.clock.now())
    // Before: one more Error (and strings array) kept per statement, 300 here, for the process's life.
    expect(errors() - before).toBeLessThan(30)
  }, 60_000)

  test('a look-up builds no postgres-js fragment: its statement, rendered once, is sent with its values (the same text and parameters as built from the fragments)', async () => {
    const t = await pgApp({ rateLimit: { limit: 100, windowMs: MIN }, userRateLimit: { limit: 300, windowMs: MIN } })
    const a = await makeActor(t, { role: 'admin' })
    const conn = t.rt.connection as PgConnection
    let tagged = 0
    let unsafe = 0
    const client = new Proxy(conn.client, {
      apply(target, self, args) {
        tagged++
        return Reflect.apply(target, self, args)
      },
      get(target, prop) {
        const v = Reflect.get(target, prop)
        if (prop !== 'unsafe') return typeof v === 'function' ? v.bind(target) : v
        return (...args: unknown[]) => (unsafe++, (v as Function).apply(target, args))
      },
    })
    const fused = new PgCountedLookup({ client, bounded: (q: PromiseLike<unknown>) => conn.bounded(q) } as unknown as PgConnection, t.rt.limiter.store as PgRateLimitStore, t.rt.config)
    tagged = 0
    const now = t.clock.now()
    const first = await fused.lookup('pat', hashToken(a.token), now)
    const second = await fused.lookup('pat', hashToken(a.token), now)
    expect([tagged, unsafe]).toEqual([0, 2])
    expect(first.row).toEqual(await findTokenForAuth(t.rt.db, hashToken(a.token)))
    expect([first.counted?.token?.count, second.counted?.token?.count, second.counted?.user?.count]).toEqual([1, 2, 2])
  }, 30_000)

  test("a request that waited for its token's statement in flight, which timed out, gets its 503 then: not after a second timeout of its own", async () => {
    // A start waits at most this timeout for the migration lock, which the schemas the helpers
    // prepare meanwhile hold: a few tries.
    let t: TestApp | undefined
    for (let i = 0; !t; i++) t = await pgApp({ dbStatementTimeoutMs: 1000, rateLimit: { limit: 1000, windowMs: MIN } }).catch((e) => (i < 5 && String(e).includes('migration lock') ? undefined : Promise.reject(e)))
    const a = await makeActor(t)
    expect((await t.req('GET', '/api/v1/tasks', { token: a.token })).status).toBe(200)
    // Another session holds the token's counter row: the auth statement waits on it until the statement timeout.
    const other = postgres(t.pg!.url, { max: 1, onnotice: () => {}, connection: { search_path: t.pg!.schema } })
    const tx = await other.reserve()
    try {
      await tx`BEGIN`
      await tx`SELECT 1 FROM rate_limit_counters WHERE key = ${`tok:${a.tokenId}`} FOR UPDATE`
      const timed = async () => {
        const t0 = performance.now()
        const r = await t.req('GET', '/api/v1/tasks', { token: a.token })
        return { status: r.status, code: r.body?.code, ms: performance.now() - t0 }
      }
      const first = timed()
      await Bun.sleep(200)
      // Batched behind the first's statement (the same token).
      const second = await timed()
      expect([(await first).status, (await first).code, second.status, second.code]).toEqual([503, 'service_unavailable', 503, 'service_unavailable'])
      // Before: the rest of the first's wait, then a statement of its own waiting the timeout again (1.8 s).
      expect(second.ms).toBeLessThan(1400)
    } finally {
      await tx`ROLLBACK`
      tx.release()
      await other.end({ timeout: 1 })
    }
    expect((await t.req('GET', '/api/v1/tasks', { token: a.token })).status).toBe(200)
  }, 30_000)
})
