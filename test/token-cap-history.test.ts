import { describe, expect, test } from 'bun:test'
import { inArray } from 'drizzle-orm'
import { seedTokens } from '../bench/seed'
import { personalAccessTokens } from '../src/db/schema'
import { activeTokenCounts, countActiveTokens } from '../src/modules/tokens/access'
import { sqliteConnection } from '../src/runtime'
import { makeActor, makeTestApp, type Actor, type TestApp } from './helpers/app'
import { ON_PG } from './helpers/pg'
import { describePlan, explainPg, INDEX_SCANS, nodesOf } from './helpers/pg-plans'

/**
 * The per-user token cap (TEAMDAY_MAX_TOKENS_PER_USER) is checked at every token creation by
 * counting the user's working tokens. Revoked tokens stay for good (the account's history), so a
 * CI job that makes a token per run and revokes it after leaves one a run: the count must not read
 * them. It read every token the user ever had (pat_user_org_idx, then a filter): 1.0 ms at 1,000
 * revoked tokens, 12 ms at 50,000 (bench/history.ts). Now two ranges of pat_user_org_revoked_idx
 * (user, organization, revoked_at, expires_at).
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

describe('the count reads the working tokens, not the history', () => {
  test('SQLite: EXPLAIN QUERY PLAN both statements search pat_user_org_revoked_idx by revoked_at, fresh and after ANALYZE', async () => {
    if (ON_PG) return
    const t = await makeTestApp()
    const a = await makeActor(t, { role: 'member' })
    await revokedHistory(t, a, 2000)
    const client = sqliteConnection(t.rt).client
    for (const analyzed of [false, true]) {
      if (analyzed) client.exec('ANALYZE')
      for (const q of activeTokenCounts(t.rt.db, a.userId, a.organizationId, t.clock.now())) {
      const { sql, params } = q.toSQL()
      const plan = client
        .prepare(`EXPLAIN QUERY PLAN ${sql}`)
        .all(...(params as never[]))
        .map((r) => (r as { detail: string }).detail)
      const where = `${analyzed ? 'after ANALYZE' : 'fresh'}:\n${plan.join('\n')}`
      const reads = plan.filter((d) => /^(SEARCH|SCAN) personal_access_tokens/.test(d))
      expect(reads.length, where).toBeGreaterThan(0)
      // Every read is a search of the new index bounded by revoked_at (the history is never walked).
      for (const d of reads) expect(d, where).toMatch(/^SEARCH personal_access_tokens USING (COVERING )?INDEX pat_user_org_revoked_idx \(user_id=\? AND organization_id=\? AND revoked_at[=>]/)
      }
    }
  })

  test('PostgreSQL: both statements, custom and generic plans: they read personal_access_tokens through pat_user_org_revoked_idx only', async () => {
    if (!ON_PG) return
    const t = await makeTestApp()
    const a = await makeActor(t, { role: 'member' })
    await revokedHistory(t, a, 20_000)
    const conn = t.rt.connection as unknown as { client: import('postgres').Sql }
    await conn.client.unsafe('VACUUM ANALYZE personal_access_tokens')
    for (const q of activeTokenCounts(t.rt.db, a.userId, a.organizationId, t.clock.now())) {
    const { sql, params } = q.toSQL()
    for (const mode of ['custom', 'generic'] as const) {
      const root = await explainPg(conn.client, sql, params, mode)
      const where = `${mode} plan of ${sql}:\n${describePlan(root)}`
      const nodes = nodesOf(root)
      const indexReads = nodes.filter((n) => [...INDEX_SCANS, 'Bitmap Index Scan'].includes(n['Node Type']))
      expect(indexReads.length, where).toBeGreaterThan(0)
      expect(indexReads.every((n) => n['Index Name'] === 'pat_user_org_revoked_idx'), where).toBe(true)
      // No read of the table but through that index (a bitmap heap scan fetches what it found).
      expect(nodes.some((n) => n['Node Type'] === 'Seq Scan'), where).toBe(false)
    }
    }
  })
})
