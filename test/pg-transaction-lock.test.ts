/**
 * A long transaction holding teamday's transaction lock (another instance's, `teamday rekey` on a
 * large database, a migration): writers wait for it, readers and single-statement writes do not
 * (README, "Running several instances"). Writers waiting on it each held a pooled connection, so
 * four of them took the whole pool and reads and readiness stalled for the statement timeout
 * (found by probing several instances, 2026-12-03): this process's transactions now wait their turn
 * before taking a connection (src/db/pg.ts).
 */
import { afterAll, describe, expect, test } from 'bun:test'
import postgres from 'postgres'
import { makeActor, makeTestApp, type TestApp } from './helpers/app'
import { freshPgSchema, needPostgres } from './helpers/pg'
import { TX_LOCK } from '../src/db/pg'

const HAVE_PG = await needPostgres('test/pg-transaction-lock.test.ts')
const opened: TestApp[] = []
afterAll(async () => {
  await Promise.all(opened.map((t) => t.rt.close()))
})

async function timed<T>(p: Promise<T>): Promise<[T, number]> {
  const t0 = performance.now()
  const r = await p
  return [r, Math.round(performance.now() - t0)]
}

describe.skipIf(!HAVE_PG)('the transaction lock held by another session', () => {
  test('writers queue for it (503 after the statement timeout); reads, readiness and single-statement writes go on at once', async () => {
    const pg = await freshPgSchema()
    // TEAMDAY_DB_POOL (4 here, as every PostgreSQL test app) and a 3 s statement timeout (30 s by default).
    const t = await makeTestApp({ pg, config: { dbStatementTimeoutMs: 3000 } })
    opened.push(t)
    const admin = await makeActor(t, { role: 'admin' })
    // Warm: the pool's connections are open.
    expect((await t.req('GET', '/api/v1/agents', { token: admin.token })).status).toBe(200)
    const holder = postgres(pg.url, { max: 1, onnotice: () => {} })
    try {
      await holder.unsafe(`SELECT pg_advisory_lock(${TX_LOCK}, hashtext('${pg.schema}'))`)
      // Four writes that need a transaction (token creations): each waits on the lock holding a connection.
      const writes = Array.from({ length: 4 }, (_, i) => timed(t.req('POST', '/api/v1/tokens', { token: admin.token, body: { name: `w${i}` } })))
      await Bun.sleep(300)
      const [[read, readMs], [ready, readyMs], [task, taskMs]] = await Promise.all([
        timed(t.req('GET', '/api/v1/agents', { token: admin.token })),
        timed(t.req('GET', '/api/health/ready')),
        timed(t.req('POST', '/api/v1/tasks', { token: admin.token, body: { title: 'single-statement write' } })),
      ])
      const w = await Promise.all(writes)
      // Writers: a clear 503 once the statement timeout passes (fine).
      for (const [r] of w) expect(r.status).toBe(503)
      // Readers, readiness and single-statement writes: not waiting on the lock (the README's promise).
      expect(readMs).toBeLessThan(1000)
      expect(readyMs).toBeLessThan(1000)
      expect(taskMs).toBeLessThan(1000)
    } finally {
      await holder.end({ timeout: 1 })
    }
  }, 30_000)
})
