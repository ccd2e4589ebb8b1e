import { describe, expect, test } from 'bun:test'
import { fillPlaceholders, inArray } from 'drizzle-orm'
import { seedTokens } from '../bench/seed'
import { preparedQueries } from '../src/db/prepared'
import { dbTime, personalAccessTokens } from '../src/db/schema'
import { activeTokenCount, countActiveTokens } from '../src/modules/tokens/access'
import { sqliteConnection } from '../src/runtime'
import { makeActor, makeTestApp, type Actor, type TestApp } from './helpers/app'
import { ON_PG } from './helpers/pg'
import { describePlan, explainPg, INDEX_SCANS, nodesOf, rowsRead, type PgNode } from './helpers/pg-plans'

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

/** The indexes without the revoked history (src/db/schema: pat_user_org_live_idx, pat_org_live_idx, and the same tokens by expiry). */
const LIVE = ['pat_user_org_live_idx', 'pat_org_live_idx', 'pat_user_org_expiry_idx', 'pat_org_expiry_idx']

/** PostgreSQL: personal_access_tokens read only through LIVE indexes (a bitmap heap scan fetches what they found), never a sequential scan. */
function readsOnlyLive(root: PgNode, where: string) {
  const nodes = nodesOf(root)
  const tokenIndexReads = nodes.filter((n) => [...INDEX_SCANS, 'Bitmap Index Scan'].includes(n['Node Type']) && n['Index Name']?.startsWith('pat_'))
  expect(tokenIndexReads.length, where).toBeGreaterThan(0)
  expect(tokenIndexReads.every((n) => LIVE.includes(n['Index Name']!)), where).toBe(true)
  expect(nodes.some((n) => n['Relation Name'] === 'personal_access_tokens' && ![...INDEX_SCANS, 'Bitmap Heap Scan'].includes(n['Node Type'])), where).toBe(false)
}

describe('the count reads the working tokens, not the history', () => {
  test('SQLite: EXPLAIN QUERY PLAN searches pat_user_org_live_idx or pat_user_org_expiry_idx by user, fresh and after ANALYZE', async () => {
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
      // By expiry (the user's unexpired working tokens only), or in list order (every working one).
      expect(reads[0], where).toMatch(/^SEARCH personal_access_tokens USING (COVERING )?INDEX pat_user_org_(live|expiry)_idx \(user_id=\? AND organization_id=\?/)
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

describe('the lists of one status find the few of that status without reading the others', () => {
  type Statement = { getQuery(): { sql: string; params: unknown[] } }
  /** Every statement a list prepared (src/modules/tokens/service.ts, listStatements): its pages, its page with a count (PostgreSQL), its count. */
  const statementsOf = (t: TestApp, key: string) =>
    Object.entries(preparedQueries(t.rt.db).get(key) as Record<string, Statement | undefined>).filter((e): e is [string, Statement] => e[1] !== undefined)

  /**
   * A table of `n` tokens in one organization: many working ones, the oldest few expired and a
   * few more revoked ('working'); or many expired ones, the newest few still working ('expired').
   * One mix a table: PostgreSQL estimates how many have expired from the whole table's statistics.
   */
  async function scenario(mix: 'working' | 'expired', n: number, few: number) {
    const t = await makeTestApp()
    const now = t.clock.now()
    const actor = await makeActor(t, { role: 'admin' })
    const set = async (ids: string[], v: Partial<typeof personalAccessTokens.$inferInsert>) => {
      for (let i = 0; i < ids.length; i += 1000) await t.db.update(personalAccessTokens).set(v).where(inArray(personalAccessTokens.id, ids.slice(i, i + 1000))).run()
    }
    const ids = await seedTokens(t.db, t.rt.box, { userId: actor.userId, organizationId: actor.organizationId }, n, { now: now - DAY, step: 1000 })
    let lists
    if (mix === 'working') {
      const expired = ids.slice(0, few)
      const revoked = ids.slice(few, 2 * few)
      await set(expired, { expiresAt: new Date(now - DAY / 2) })
      await set(revoked, { revokedAt: new Date(now - DAY / 2), revokedReason: 'manual' })
      lists = [
        { path: '/api/v1/tokens?all=true&status=expired', key: 'tokens.list.1.expired', ids: expired, index: 'pat_org_live_idx' },
        { path: '/api/v1/tokens?status=expired', key: 'tokens.list.0.expired', ids: expired, index: 'pat_user_org_live_idx' },
        { path: '/api/v1/tokens?all=true&status=revoked', key: 'tokens.list.1.revoked', ids: revoked, index: 'pat_org_revoked_idx' },
        { path: '/api/v1/tokens?status=revoked', key: 'tokens.list.0.revoked', ids: revoked, index: 'pat_user_org_revoked_idx' },
      ]
    } else {
      await set(ids.slice(0, n - few), { expiresAt: new Date(now - DAY / 2) })
      const working = [...ids.slice(n - few), actor.tokenId]
      lists = [
        { path: '/api/v1/tokens?all=true&status=active', key: 'tokens.list.1.active', ids: working, index: 'pat_org_live_idx' },
        { path: '/api/v1/tokens?status=active', key: 'tokens.list.0.active', ids: working, index: 'pat_user_org_live_idx' },
      ]
    }
    if (t.rt.connection.dialect === 'pg') await t.rt.connection.client.unsafe('VACUUM ANALYZE personal_access_tokens')
    else sqliteConnection(t.rt).client.exec('ANALYZE')
    return { t, actor, now, lists }
  }

  for (const mix of ['working', 'expired'] as const) {
    test(`${mix === 'working' ? 'expired and revoked among many working tokens' : 'working among many expired tokens'}: through an index, and on PostgreSQL a read of about that many rows`, async () => {
      const few = 30
      const { t, actor, now, lists } = await scenario(mix, ON_PG ? 20_000 : 2000, few)
      for (const l of lists) {
        const res = await t.req('GET', `${l.path}&limit=100`, { token: actor.token })
        expect(res.status, l.path).toBe(200)
        expect(res.body.tokens.map((x: { id: string }) => x.id).sort(), l.path).toEqual([...l.ids].sort())
        expect(res.body.total, l.path).toBe(l.ids.length)

        const values = { org: actor.organizationId, user: actor.userId, now: dbTime(now), limit: 50, offset: 0, cap: 10_001, afterT: dbTime(now), afterId: 'z' }
        for (const [kind, q] of statementsOf(t, l.key)) {
          const { sql, params } = q.getQuery()
          if (t.rt.connection.dialect === 'sqlite') {
            // SQLite cannot weigh the expiry's range (it has no statistics of the values): the
            // lists walk in list order the working tokens, or the revoked history alone.
            const plan = (sqliteConnection(t.rt).client.prepare(`EXPLAIN QUERY PLAN ${sql}`).all() as { detail: string }[]).map((r) => r.detail)
            const where = `${l.key} ${kind}: ${plan.join(' | ')}`
            const reads = plan.filter((d) => /^(SEARCH|SCAN) personal_access_tokens/.test(d))
            expect(reads, where).toHaveLength(1)
            expect(reads[0], where).toMatch(new RegExp(`^SEARCH personal_access_tokens USING (COVERING )?INDEX ${l.index} \\(`))
            expect(plan.some((d) => d.includes('TEMP B-TREE')), where).toBe(false)
            continue
          }
          const client = t.rt.connection.client
          for (const mode of ['custom', 'generic'] as const) {
            const root = await explainPg(client, sql, fillPlaceholders(params, values), mode, { analyze: mode === 'custom' })
            const where = `${l.key} ${kind} (${mode} plan):\n${describePlan(root)}`
            const tokenReads = nodesOf(root).filter((x) => x['Relation Name'] === 'personal_access_tokens')
            expect(tokenReads.length, where).toBeGreaterThan(0)
            // Never the whole table.
            expect(tokenReads.every((x) => [...INDEX_SCANS, 'Bitmap Heap Scan'].includes(x['Node Type'])), where).toBe(true)
            // The plan of the first executions (made for the values) reads about as many tokens as
            // the list has (for a page and for its count), not the others: all 20,000 by a read
            // of the table or a walk of the working ones in list order.
            if (mode === 'custom') expect(rowsRead(root, 'personal_access_tokens'), `${where}\nrows read: ${rowsRead(root, 'personal_access_tokens')}`).toBeLessThanOrEqual(10 * few)
          }
        }
      }
    }, 180_000)
  }
})
