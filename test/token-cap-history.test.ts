import { describe, expect, test } from 'bun:test'
import { fillPlaceholders, inArray } from 'drizzle-orm'
import { seedTokens } from '../bench/seed'
import { preparedQueries } from '../src/db/prepared'
import { dbTime, personalAccessTokens } from '../src/db/schema'
import { activeTokenCount, countActiveTokens } from '../src/modules/tokens/access'
import { sqliteConnection } from '../src/runtime'
import { makeActor, makeTestApp, type Actor, type TestApp } from './helpers/app'
import { ON_PG } from './helpers/pg'
import { describePlan, explainPg, INDEX_SCANS, nodesOf, type PgNode } from './helpers/pg-plans'

/**
 * The per-user token cap (TEAMDAY_MAX_TOKENS_PER_USER) is checked at every token creation by
 * counting the user's working tokens. Revoked tokens stay for good (the account's history), so a
 * CI job that makes a token per run and revokes it after leaves one a run: the count must not read
 * them. It read every token the user ever had (pat_user_org_idx, then a filter): 1.0 ms at 1,000
 * revoked tokens, 12 ms at 50,000 (bench/history.ts); and so did the lists of active and expired
 * tokens (the console's token page lists the active ones): 17.5 ms for the first page. Now partial
 * indexes of the tokens that may still work (pat_user_org_live_idx, pat_org_live_idx).
 */

const DAY = 86_400_000

/** `n` tokens of the actor's user, revoked (by hand) over the days before now. */
async function revokedHistory(t: TestApp, a: Actor, n: number): Promise<string[]> {
  const now = t.clock.now()
  const ids = await seedTokens(t.db, t.rt.box, { userId: a.userId, organizationId: a.organizationId }, n, { now: now - DAY, step: 60_000 })
  for (let i = 0; i < ids.length; i += 1000) {
    await t.db.update(personalAccessTokens).set({ revokedAt: new Date(now - DAY / 2), revokedReason: 'manual' }).where(inArray(personalAccessTokens.id, ids.slice(i, i + 1000))).run()
  }
  return ids
}

describe('the per-user token cap counts working tokens only', () => {
  test('every status: working and in a grace period count; expired, revoked (also ahead of the clock), ended grace and rotated_now do not', async () => {
    const t = await makeTestApp()
    const a = await makeActor(t, { role: 'member' })
    const now = t.clock.now()
    const ids = await seedTokens(t.db, t.rt.box, { userId: a.userId, organizationId: a.organizationId }, 8, { now: now - DAY, step: 60_000 })
    const set = async (id: string, v: Partial<typeof personalAccessTokens.$inferInsert>) =>
      t.db.update(personalAccessTokens).set(v).where(inArray(personalAccessTokens.id, [id])).run()
    const [working, expired, revoked, inGrace, graceEnded, rotatedNow, revokedAhead, graceButExpired] = ids
    void working
    await set(expired!, { expiresAt: new Date(now - 1000) })
    await set(revoked!, { revokedAt: new Date(now - 1000), revokedReason: 'manual' })
    await set(inGrace!, { revokedAt: new Date(now + 60_000), revokedReason: 'rotated' })
    await set(graceEnded!, { revokedAt: new Date(now - 1000), revokedReason: 'rotated' })
    await set(rotatedNow!, { revokedAt: new Date(now - 1000), revokedReason: 'rotated_now' })
    // A revocation made through an instance whose clock runs ahead: in force all the same.
    await set(revokedAhead!, { revokedAt: new Date(now + 60_000), revokedReason: 'leak_report' })
    await set(graceButExpired!, { revokedAt: new Date(now + 60_000), revokedReason: 'rotated', expiresAt: new Date(now - 1000) })
    // The actor's own token, the seeded working one and the one in its grace period.
    expect(await countActiveTokens(t.rt.db, a.userId, a.organizationId, now)).toBe(3)
    // Once the grace period ends it no longer counts.
    expect(await countActiveTokens(t.rt.db, a.userId, a.organizationId, now + 120_000)).toBe(2)
  })

  test('a long revoked history does not count against the cap', async () => {
    const t = await makeTestApp({ config: { maxTokensPerUser: 3 } })
    const a = await makeActor(t, { role: 'member' })
    await revokedHistory(t, a, 500)
    const made: string[] = []
    for (let i = 0; i < 2; i++) {
      const r = await t.req('POST', '/api/v1/tokens', { token: a.token, body: { name: `run ${i}` } })
      expect(r.status).toBe(201)
      made.push(r.body.id)
    }
    const refused = await t.req('POST', '/api/v1/tokens', { token: a.token, body: { name: 'one too many' } })
    expect(refused.status).toBe(422)
    expect(refused.body.code).toBe('token_limit_reached')
    expect((await t.req('DELETE', `/api/v1/tokens/${made[0]}`, { token: a.token })).status).toBe(200)
    expect((await t.req('POST', '/api/v1/tokens', { token: a.token, body: { name: 'after a revocation' } })).status).toBe(201)
  })
})

/** The indexes without the revoked history (src/db/schema: pat_user_org_live_idx, pat_org_live_idx). */
const LIVE = ['pat_user_org_live_idx', 'pat_org_live_idx']

/** PostgreSQL: personal_access_tokens read only through LIVE indexes (a bitmap heap scan fetches what they found), never a sequential scan. */
function readsOnlyLive(root: PgNode, where: string) {
  const nodes = nodesOf(root)
  const tokenIndexReads = nodes.filter((n) => [...INDEX_SCANS, 'Bitmap Index Scan'].includes(n['Node Type']) && n['Index Name']?.startsWith('pat_'))
  expect(tokenIndexReads.length, where).toBeGreaterThan(0)
  expect(tokenIndexReads.every((n) => LIVE.includes(n['Index Name']!)), where).toBe(true)
  expect(nodes.some((n) => n['Relation Name'] === 'personal_access_tokens' && ![...INDEX_SCANS, 'Bitmap Heap Scan'].includes(n['Node Type'])), where).toBe(false)
}

describe('the count reads the working tokens, not the history', () => {
  test('SQLite: EXPLAIN QUERY PLAN searches pat_user_org_live_idx by user, fresh and after ANALYZE', async () => {
    if (ON_PG) return
    const t = await makeTestApp()
    const a = await makeActor(t, { role: 'member' })
    await revokedHistory(t, a, 2000)
    const client = sqliteConnection(t.rt).client
    for (const analyzed of [false, true]) {
      if (analyzed) client.exec('ANALYZE')
      const { sql, params } = activeTokenCount(t.rt.db, a.userId, a.organizationId, t.clock.now()).toSQL()
      const plan = client
        .prepare(`EXPLAIN QUERY PLAN ${sql}`)
        .all(...(params as never[]))
        .map((r) => (r as { detail: string }).detail)
      const where = `${analyzed ? 'after ANALYZE' : 'fresh'}:\n${plan.join('\n')}`
      const reads = plan.filter((d) => /^(SEARCH|SCAN) personal_access_tokens/.test(d))
      expect(reads, where).toHaveLength(1)
      expect(reads[0], where).toMatch(/^SEARCH personal_access_tokens USING (COVERING )?INDEX pat_user_org_live_idx \(user_id=\? AND organization_id=\?/)
    }
  })

  test('PostgreSQL: custom and generic plans read personal_access_tokens through the indexes without the history only', async () => {
    if (!ON_PG) return
    const t = await makeTestApp()
    const a = await makeActor(t, { role: 'member' })
    await revokedHistory(t, a, 20_000)
    const conn = t.rt.connection as unknown as { client: import('postgres').Sql }
    await conn.client.unsafe('VACUUM ANALYZE personal_access_tokens')
    const { sql, params } = activeTokenCount(t.rt.db, a.userId, a.organizationId, t.clock.now()).toSQL()
    for (const mode of ['custom', 'generic'] as const) {
      const root = await explainPg(conn.client, sql, params, mode)
      readsOnlyLive(root, `${mode} plan of ${sql}:\n${describePlan(root)}`)
    }
  })
})

describe('the lists of working tokens skip the revoked history', () => {
  /** The first-page statement a list prepared (src/modules/tokens/service.ts, listStatements). */
  const firstPage = (t: TestApp, key: string) => (preparedQueries(t.rt.db).get(key) as { first: { getQuery(): { sql: string; params: unknown[] } } }).first.getQuery()

  test('?status=active and ?all=true&status=active answer the working tokens, on the indexes without the history', async () => {
    const t = await makeTestApp()
    const a = await makeActor(t, { role: 'admin' })
    await revokedHistory(t, a, ON_PG ? 20_000 : 2000)
    // A working token newer than the history, an expired one older than it.
    const made = (await t.req('POST', '/api/v1/tokens', { token: a.token, body: { name: 'working' } })).body.id
    const expired = (await seedTokens(t.db, t.rt.box, { userId: a.userId, organizationId: a.organizationId }, 1, { now: t.clock.now() - 3 * DAY }))[0]!
    await t.db.update(personalAccessTokens).set({ expiresAt: new Date(t.clock.now() - DAY) }).where(inArray(personalAccessTokens.id, [expired])).run()

    const own = await t.req('GET', '/api/v1/tokens?status=active', { token: a.token })
    expect(own.status).toBe(200)
    expect(own.body.tokens.map((x: { id: string }) => x.id).sort()).toEqual([a.tokenId, made].sort())
    const all = await t.req('GET', '/api/v1/tokens?all=true&status=active', { token: a.token })
    expect(all.body.tokens.map((x: { id: string }) => x.id).sort()).toEqual([a.tokenId, made].sort())
    const gone = await t.req('GET', '/api/v1/tokens?all=true&status=expired', { token: a.token })
    expect(gone.body.tokens.map((x: { id: string }) => x.id)).toEqual([expired])

    for (const [key, index] of [['tokens.list.0.active', 'pat_user_org_live_idx'], ['tokens.list.1.active', 'pat_org_live_idx'], ['tokens.list.1.expired', 'pat_org_live_idx']] as const) {
      const { sql, params } = firstPage(t, key)
      if (!ON_PG) {
        sqliteConnection(t.rt).client.exec('ANALYZE')
        const plan = (sqliteConnection(t.rt).client.prepare(`EXPLAIN QUERY PLAN ${sql}`).all() as { detail: string }[]).map((r) => r.detail)
        const where = `${key}: ${plan.join(' | ')}`
        expect(plan.some((l) => new RegExp(`^SEARCH personal_access_tokens USING (COVERING )?INDEX ${index} \\(`).test(l)), where).toBe(true)
        expect(plan.some((l) => l.includes('TEMP B-TREE') || l.startsWith('SCAN personal_access_tokens')), where).toBe(false)
        continue
      }
      const conn = t.rt.connection as unknown as { client: import('postgres').Sql }
      await conn.client.unsafe('VACUUM ANALYZE personal_access_tokens')
      const values = { org: a.organizationId, user: a.userId, now: dbTime(t.clock.now()), limit: 50, offset: 0 }
      for (const mode of ['custom', 'generic'] as const) {
        const root = await explainPg(conn.client, sql, fillPlaceholders(params, values), mode)
        readsOnlyLive(root, `${key} (${mode} plan):\n${describePlan(root)}`)
      }
    }
  })
})
