/**
 * Two instances (two runtimes, each with its own pool, engine and limiter) on one PostgreSQL
 * database: what decides access and what counts is shared through the database, never kept in
 * one process. Needs PostgreSQL (test/helpers/pg.ts): skipped with one line where none answers,
 * a failure in CI.
 */
import { afterAll, describe, expect, test } from 'bun:test'
import type { Config } from '../src/config'
import { makeActor, makeTestApp, type TestApp } from './helpers/app'
import { freshPgSchema, needPostgres } from './helpers/pg'

const HAVE_PG = await needPostgres('test/pg-instances.test.ts')
const MIN = 60_000
const opened: TestApp[] = []
afterAll(async () => {
  await Promise.all(opened.map((t) => t.rt.close()))
}, 30_000)

/** Two apps on one fresh PostgreSQL schema, with one key (as two replicas share TEAMDAY_ENCRYPTION_KEY). */
async function twoInstances(config: Partial<Config> = {}) {
  const pg = await freshPgSchema()
  const key = crypto.getRandomValues(new Uint8Array(32))
  const a = await makeTestApp({ pg, key, config })
  const b = await makeTestApp({ pg, key, config })
  // One clock for both, as two machines agree on the time.
  b.clock = a.clock
  ;(b.rt as { clock: unknown }).clock = a.clock
  opened.push(a, b)
  return { a, b }
}

describe.skipIf(!HAVE_PG)('several instances on one PostgreSQL', () => {
  test('a token revoked through A is refused by B on the very next request', async () => {
    const { a, b } = await twoInstances()
    const admin = await makeActor(a, { role: 'admin' })
    const victim = await makeActor(a, { role: 'member' })
    expect((await b.req('GET', '/api/v1/agents', { token: victim.token })).status).toBe(200)
    expect((await a.req('DELETE', `/api/v1/tokens/${victim.tokenId}`, { token: admin.token })).status).toBe(200)
    const r = await b.req('GET', '/api/v1/agents', { token: victim.token })
    expect(r.status).toBe(401)
    expect(r.body.code).toBe('token_revoked')
  })

  test('a role lowered through B is enforced by A on the very next request', async () => {
    const { a, b } = await twoInstances()
    const m = await makeActor(a, { role: 'member' })
    const body = { name: 'Agent', systemPrompt: 'x' }
    expect((await a.req('POST', '/api/v1/agents', { token: m.token, body })).status).toBe(201)
    const { setRole } = await import('../src/modules/users/service')
    await setRole(b.ctx, m.email, m.orgSlug, 'viewer')
    const r = await a.req('POST', '/api/v1/agents', { token: m.token, body })
    expect(r.status).toBe(403)
  })

  test('rate limit: requests split across A and B add up to one limit', async () => {
    const { a, b } = await twoInstances({ rateLimit: { limit: 6, windowMs: MIN }, userRateLimit: null })
    const m = await makeActor(a)
    const statuses: number[] = []
    for (let i = 0; i < 8; i++) statuses.push((await (i % 2 ? a : b).req('GET', '/api/v1/agents', { token: m.token })).status)
    expect(statuses).toEqual([200, 200, 200, 200, 200, 200, 429, 429])
    // Concurrent hits on both count exactly: one upsert per hit, serialized on the key's row.
    const { a: c, b: d } = await twoInstances({ rateLimit: { limit: 20, windowMs: MIN }, userRateLimit: null })
    const n = await makeActor(c)
    const all = await Promise.all(Array.from({ length: 30 }, (_, i) => (i % 2 ? c : d).req('GET', '/api/v1/agents', { token: n.token })))
    expect(all.filter((r) => r.status === 200).length).toBe(20)
    expect(all.filter((r) => r.status === 429).length).toBe(10)
  })

  test('failed authentications from one address add up across instances', async () => {
    const { a, b } = await twoInstances({ authFailureLimit: { limit: 3, windowMs: MIN } })
    const bad = 'td_' + 'x'.repeat(40)
    const codes: number[] = []
    for (let i = 0; i < 5; i++) codes.push((await (i % 2 ? a : b).req('GET', '/api/v1/agents', { token: bad, ip: '203.0.113.9' })).status)
    expect(codes).toEqual([401, 401, 401, 429, 429])
  })

  test('the same Idempotency-Key sent to A and B at once runs once', async () => {
    const { a, b } = await twoInstances()
    const m = await makeActor(a)
    for (let round = 0; round < 5; round++) {
      const key = `dup-${round}`
      const send = (t: TestApp) => t.req('POST', '/api/v1/tasks', { token: m.token, body: { title: `T${round}` }, headers: { 'idempotency-key': key } })
      const [ra, rb] = await Promise.all([send(a), send(b)])
      const statuses = [ra.status, rb.status].sort()
      // One created it; the other got its replay (201) or "in progress" (409): never a second task.
      expect(statuses[0]).toBe(201)
      expect([201, 409]).toContain(statuses[1]!)
    }
    expect((await b.req('GET', '/api/v1/tasks', { token: m.token })).body.total).toBe(5)
  })
})
