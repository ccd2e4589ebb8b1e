/**
 * Two instances (two runtimes, each with its own pool, engine and limiter) on one PostgreSQL
 * database: what decides access and what counts is shared through the database, never kept in
 * one process. Needs PostgreSQL (test/helpers/pg.ts): skipped with one line where none answers,
 * a failure in CI.
 */
import { afterAll, describe, expect, test } from 'bun:test'
import type { Config } from '../src/config'
import { makeActor, makeTestApp, makeToken, type TestApp } from './helpers/app'
import { freshPgSchema, holdMigrationLock, needPostgres } from './helpers/pg'
import { startProviderDouble } from './helpers/providers'
import { failLapsed } from '../src/engine/leases'
import type { PgConnection } from '../src/db/pg'

const HAVE_PG = await needPostgres('test/pg-instances.test.ts')
const MIN = 60_000
const opened: TestApp[] = []
afterAll(async () => {
  // Runs still ending (a cancel just sent) finish before their pools close.
  await Promise.all(opened.map((t) => t.rt.engine.shutdown(0)))
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
  }, 30_000)

  test('a role lowered through B is enforced by A on the very next request', async () => {
    const { a, b } = await twoInstances()
    const m = await makeActor(a, { role: 'member' })
    const body = { name: 'Agent', systemPrompt: 'x' }
    expect((await a.req('POST', '/api/v1/agents', { token: m.token, body })).status).toBe(201)
    const { setRole } = await import('../src/modules/users/service')
    await setRole(b.ctx, m.email, m.orgSlug, 'viewer')
    const r = await a.req('POST', '/api/v1/agents', { token: m.token, body })
    expect(r.status).toBe(403)
  }, 30_000)

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
  }, 30_000)

  test("rate limit: the token's and the user's budgets, one statement a request, add up across A and B", async () => {
    const { a, b } = await twoInstances({ rateLimit: { limit: 3, windowMs: MIN }, userRateLimit: { limit: 4, windowMs: MIN } })
    const m = await makeActor(a)
    const second = (await makeToken(a, m)).token
    const statuses: number[] = []
    for (let i = 0; i < 5; i++) statuses.push((await (i % 2 ? a : b).req('GET', '/api/v1/agents', { token: m.token })).status)
    // Refused for its token: the last two did not count for the user, so the other token still works once.
    expect(statuses).toEqual([200, 200, 200, 429, 429])
    const ok = await a.req('GET', '/api/v1/agents', { token: second })
    expect(ok.status).toBe(200)
    expect(ok.headers.get('ratelimit')).toMatch(/^"default";r=2;t=\d+, "user";r=0;t=\d+$/)
    const over = await b.req('GET', '/api/v1/agents', { token: second })
    expect(over.status).toBe(429)
    expect(over.body.message).toContain('for this user')
    // Concurrently, through both: 15 requests per token, 10 pass each token's budget, 15 of those 20 the user's.
    const { a: c, b: d } = await twoInstances({ rateLimit: { limit: 10, windowMs: MIN }, userRateLimit: { limit: 15, windowMs: MIN } })
    const n = await makeActor(c)
    const tokens = [n.token, (await makeToken(c, n)).token]
    const all = await Promise.all(Array.from({ length: 30 }, (_, i) => (i % 2 ? c : d).req('GET', '/api/v1/agents', { token: tokens[Math.floor(i / 2) % 2] })))
    expect(all.filter((r) => r.status === 200).length).toBe(15)
  }, 30_000)

  test('rate limit: concurrent hits on one key go to the database together, each with its own count', async () => {
    const { a, b } = await twoInstances()
    const stores = [a, b].map((t) => t.rt.limiter.store)
    let statements = 0
    ;((a.rt.connection as PgConnection).client.options as { debug?: unknown }).debug = () => statements++
    const now = a.clock.now()
    const tok = { key: 'tok:pat_x', limit: 50, windowMs: MIN }
    const user = { key: 'user:user_x', limit: 45, windowMs: MIN }
    // 40 hits through each instance at once: 80 on the token (limit 50), of which 50 count for the user (limit 45).
    const hits = await Promise.all(Array.from({ length: 80 }, (_, i) => stores[i % 2]!.hitChain!(tok, user, now)))
    expect(hits.map(([t]) => t.count).sort((x, y) => x - y)).toEqual(Array.from({ length: 80 }, (_, i) => i + 1))
    const users = hits.filter(([t]) => t.count <= 50).map(([, u]) => u!.count)
    expect(users.sort((x, y) => x - y)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1))
    expect(hits.filter(([t]) => t.count > 50).every(([, u]) => u === null)).toBe(true)
    // Instance A sent its 40 hits in far fewer statements than 40.
    expect(statements).toBeLessThan(10)
    // Single keys too, and a window that has ended starts again at 1.
    const one = await Promise.all(Array.from({ length: 10 }, () => stores[0]!.hit('ip:10.0.0.1', now, 5, MIN)))
    expect(one.map((h) => h.count).sort((x, y) => x - y)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    const later = await Promise.all(Array.from({ length: 3 }, () => stores[1]!.hit('ip:10.0.0.1', now + MIN + 1, 5, MIN)))
    expect(later.map((h) => h.count).sort()).toEqual([1, 2, 3])
  }, 30_000)

  test('failed authentications from one address add up across instances', async () => {
    const { a, b } = await twoInstances({ authFailureLimit: { limit: 3, windowMs: MIN } })
    const bad = 'td_' + 'x'.repeat(40)
    const codes: number[] = []
    for (let i = 0; i < 5; i++) codes.push((await (i % 2 ? a : b).req('GET', '/api/v1/agents', { token: bad, ip: '203.0.113.9' })).status)
    expect(codes).toEqual([401, 401, 401, 429, 429])
  }, 30_000)

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
    const tasks = (await b.req('GET', '/api/v1/tasks', { token: m.token })).body
    expect(Array.isArray(tasks) ? tasks.length : tasks.total).toBe(5)
  }, 30_000)

  test('cancel through A stops a run executing on B within a second', async () => {
    const double = startProviderDouble()
    try {
      const { a, b } = await twoInstances({ openaiBaseUrl: double.openaiBaseUrl, defaultModel: 'test-model' })
      const m = await makeActor(a, { role: 'admin' })
      const agentId = (await a.req('POST', '/api/v1/agents', { token: m.token, body: { name: 'H', systemPrompt: 'x' } })).body.id
      const started = await b.req('POST', `/api/v1/agents/${agentId}/execute`, { token: m.token, body: { message: 'HANG', async: true } })
      expect(started.status).toBe(202)
      const id = started.body.executionId
      await until(async () => (await a.req('GET', `/api/v1/executions/${id}`, { token: m.token })).body.execution.status === 'running')
      const finished = b.rt.engine.wait(id)!
      let ended: Awaited<typeof finished> | undefined
      void finished.then((r) => (ended = r))
      expect((await a.req('POST', `/api/v1/executions/${id}/cancel`, { token: m.token })).status).toBe(200)
      // Stopped by B's check of its rows (every Engine.CANCEL_POLL_MS, 250 ms), not timed here (a
      // loaded machine can be a second late): nothing else stops a HANG run within the wait (its
      // lease is 30 s, its timeout 5 min), so without the check this fails.
      await until(async () => ended !== undefined)
      expect(ended!.status).toBe('cancelled')
      // Logged and counted once, by B, which ran it (A counted it too: more ends than starts).
      const cancelledIn = (t: TestApp) => t.logs.filter((l) => l.includes('"execution_cancelled"') && l.includes(id)).length
      expect([cancelledIn(a), cancelledIn(b)]).toEqual([0, 1])
    } finally {
      double.stop()
    }
  }, 30_000)

  test('an instance that dies: its runs fail once their lease lapses; the other instance keeps its own', async () => {
    const double = startProviderDouble()
    try {
      const { a, b } = await twoInstances({ openaiBaseUrl: double.openaiBaseUrl, defaultModel: 'test-model', executionLeaseMs: 1000, maxConcurrentExecutions: 10 })
      const m = await makeActor(a, { role: 'admin' })
      const agentId = (await a.req('POST', '/api/v1/agents', { token: m.token, body: { name: 'H', systemPrompt: 'x' } })).body.id
      const run = async (t: TestApp) => (await t.req('POST', `/api/v1/agents/${agentId}/execute`, { token: m.token, body: { message: 'HANG', async: true } })).body.executionId as string
      const onA = await run(a)
      const onB = await run(b)
      const status = async (id: string) => (await a.req('GET', `/api/v1/executions/${id}`, { token: m.token })).body.execution
      await until(async () => (await status(onA)).status === 'running' && (await status(onB)).status === 'running')
      // Nothing lapsed yet: a sweep fails nothing (a restart of A would not touch B's run either).
      expect(await failLapsed(a.rt.db, a.clock.now(), a.rt.engine.instanceId)).toBe(0)
      // B dies (as after kill -9, it renews nothing more). Time passes; A renews its own as its watcher does.
      b.rt.engine.renewLeases = async () => {}
      a.clock.advance(5_000)
      await a.rt.engine.renewLeases()
      // Leases are the database's clock's (src/engine/leases.ts): B's lapses within its lease, 1 s.
      await until(async () => (await failLapsed(a.rt.db, a.clock.now(), a.rt.engine.instanceId)) === 1)
      const bRow = await status(onB)
      expect(bRow.status).toBe('failed')
      expect(bRow.error).toContain('lease lapsed')
      expect((await status(onA)).status).toBe('running')
      await a.rt.engine.cancel(onA)
      await b.rt.engine.shutdown(0)
    } finally {
      double.stop()
    }
  })

  test("clocks apart by more than the lease: leases are judged by the database's clock, so an instance ahead fails no live run of another's, and a dead one's runs still fail once their lease lapses", async () => {
    // Each instance judged leases by its own clock: A, 10 minutes ahead of B, failed B's live
    // run at its first sweep; 10 minutes behind, it kept a dead B's run alive for those 10 minutes.
    const double = startProviderDouble()
    try {
      const pg = await freshPgSchema()
      const key = crypto.getRandomValues(new Uint8Array(32))
      // A lease long enough that B's renewal still holds at A's sweep on a loaded machine.
      const config = { openaiBaseUrl: double.openaiBaseUrl, defaultModel: 'test-model', executionLeaseMs: 5000, maxConcurrentExecutions: 10 }
      const a = await makeTestApp({ pg, key, config })
      const b = await makeTestApp({ pg, key, config })
      opened.push(a, b)
      a.clock.advance(10 * MIN)
      const m = await makeActor(a, { role: 'admin' })
      const agentId = (await a.req('POST', '/api/v1/agents', { token: m.token, body: { name: 'H', systemPrompt: 'x' } })).body.id
      const onB = (await b.req('POST', `/api/v1/agents/${agentId}/execute`, { token: m.token, body: { message: 'HANG', async: true } })).body.executionId as string
      const status = async () => (await a.req('GET', `/api/v1/executions/${onB}`, { token: m.token })).body.execution
      await until(async () => (await status()).status === 'running')
      // B is alive and renews (as its watcher does); A, ahead, sweeps: nothing has lapsed.
      await b.rt.engine.renewLeases()
      expect(await failLapsed(a.rt.db, a.clock.now(), a.rt.engine.instanceId)).toBe(0)
      expect((await status()).status).toBe('running')
      // Now A is 10 minutes behind B, and B dies (it renews nothing more): its run fails once
      // its lease (5 s) lapses by the database's clock, not 10 minutes later.
      a.clock.advance(-20 * MIN)
      b.rt.engine.renewLeases = async () => {}
      await until(async () => (await failLapsed(a.rt.db, a.clock.now(), a.rt.engine.instanceId)) === 1, 30_000)
      expect(await status()).toMatchObject({ status: 'failed', error: expect.stringContaining('lease lapsed') })
      // (B, only silent here, sees its row end and stops the run.)
      await until(async () => b.rt.engine.runningCount === 0)
    } finally {
      double.stop()
    }
  }, 60_000)

  test("a run recorded after its transaction waited for another instance's: its lease is counted from its write, not from the transaction's start", async () => {
    // Its insert waits for the advisory lock every instance's transactions take (src/db/pg.ts)
    // behind another instance's transaction. The lease was now() + lease, now() the transaction's
    // start: a wait as long as the lease (the statement timeout and the lease are both 30 s by
    // default) left it lapsed at its commit, and another instance's sweep failed the run just
    // queued before its first renewal.
    const { default: postgres } = await import('postgres')
    const { TX_LOCK } = await import('../src/db/pg')
    const double = startProviderDouble()
    const pg = await freshPgSchema()
    const holder = postgres(pg.url, { max: 1, onnotice: () => {}, connection: { search_path: pg.schema } })
    const watch = postgres(pg.url, { max: 1, onnotice: () => {} })
    try {
      const leaseMs = 5000
      const a = await makeTestApp({ pg, config: { openaiBaseUrl: double.openaiBaseUrl, defaultModel: 'test-model', executionLeaseMs: leaseMs } })
      opened.push(a)
      const m = await makeActor(a, { role: 'admin' })
      const agentId = (await a.req('POST', '/api/v1/agents', { token: m.token, body: { name: 'H', systemPrompt: 'x' } })).body.id
      // Only the lease as written: A renews nothing (a renewal would extend it).
      a.rt.engine.renewLeases = async () => {}
      let release!: () => void
      const released = new Promise<void>((r) => (release = r))
      let held!: () => void
      const isHeld = new Promise<void>((r) => (held = r))
      // Another instance's transaction: it holds the lock, then says by the database's clock when it lets go.
      const other = holder.begin(async (tx) => {
        await tx.unsafe(`SELECT pg_advisory_xact_lock(${TX_LOCK}, hashtext(current_schema()))`)
        held()
        await released
        return (await tx`SELECT clock_timestamp() AS at`)[0]!.at as Date
      })
      await isHeld
      const execute = a.req('POST', `/api/v1/agents/${agentId}/execute`, { token: m.token, body: { message: 'HANG', async: true } })
      // The execute's transaction has waited a second for the lock (by the database's clock; the
      // database's other schemas, other tests', have other transactions and locks).
      const waiting = `SELECT pg_advisory_xact_lock(${TX_LOCK}, hashtext(current_schema()))`
      await until(async () => (await watch`SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND query = ${waiting} AND wait_event_type = 'Lock' AND clock_timestamp() - xact_start > interval '1 second'`).length === 1)
      release()
      const letGo = await other
      const r = await execute
      expect(r.status).toBe(202)
      const [row] = await watch`SELECT lease_expires_at FROM ${watch(pg.schema)}.executions WHERE id = ${r.body.executionId}`
      // Written after the lock was let go: a whole lease from then on (it was a second and more short of it).
      expect((row!.lease_expires_at as Date).getTime()).toBeGreaterThanOrEqual(letGo.getTime() + leaseMs)
      await a.rt.engine.cancel(r.body.executionId)
    } finally {
      await holder.end({ timeout: 5 })
      await watch.end({ timeout: 5 })
      double.stop()
    }
  }, 30_000)

  test('an outage longer than the lease: the sweeping instance spares its own live runs, and a run failed by another stops where it runs', async () => {
    // Neither instance could renew through the outage. A's sweep failed every run, its own too,
    // and B's run went on calling the model outside the concurrency limit into a failed row.
    const double = startProviderDouble()
    try {
      const { a, b } = await twoInstances({ openaiBaseUrl: double.openaiBaseUrl, defaultModel: 'test-model', executionLeaseMs: 1000, maxConcurrentExecutions: 10 })
      const m = await makeActor(a, { role: 'admin' })
      const agentId = (await a.req('POST', '/api/v1/agents', { token: m.token, body: { name: 'H', systemPrompt: 'x' } })).body.id
      const run = async (t: TestApp) => (await t.req('POST', `/api/v1/agents/${agentId}/execute`, { token: m.token, body: { message: 'HANG', async: true } })).body.executionId as string
      const onA = await run(a)
      const onB = await run(b)
      const status = async (id: string) => (await a.req('GET', `/api/v1/executions/${id}`, { token: m.token })).body.execution.status as string
      await until(async () => (await status(onA)) === 'running' && (await status(onB)) === 'running')
      a.rt.engine.renewLeases = async () => {}
      b.rt.engine.renewLeases = async () => {}
      a.clock.advance(5_000)
      await until(async () => (await failLapsed(a.rt.db, a.clock.now(), a.rt.engine.instanceId)) === 1)
      expect([await status(onA), await status(onB)]).toEqual(['running', 'failed'])
      // B sees its row ended at its next check and stops the run (its model call aborted).
      await until(async () => b.rt.engine.runningCount === 0)
      expect(await status(onB)).toBe('failed')
      expect(a.rt.engine.runningCount).toBe(1)
      await a.rt.engine.cancel(onA)
    } finally {
      double.stop()
    }
  })
})

/** Waits for `cond` to hold: generous (10 s), since a loaded 2-core CI machine can be seconds behind. */
async function until(cond: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting ${ms} ms for ${cond.toString().slice(0, 200)}`)
    await Bun.sleep(20)
  }
}

describe.skipIf(!HAVE_PG)('an instance starting while another holds the migration lock', () => {
  test('waits the statement timeout, then says who holds what (it said only "the database is busy")', async () => {
    const { default: postgres } = await import('postgres')
    const { openPostgres } = await import('../src/db/pg')
    const { runPgMigrations } = await import('../src/db/migrate')
    // A schema with migrations to apply (one that is up to date is only read: no lock is taken).
    const pg = await freshPgSchema()
    const holder = postgres(pg.url, { max: 1, onnotice: () => {} })
    const schema = `${pg.schema}_empty`
    await holder.unsafe(`CREATE SCHEMA ${schema}`)
    await holder.end({ timeout: 1 })
    const lock = await holdMigrationLock(pg.url)
    const conn = openPostgres(pg.url, { pool: 1, statementTimeoutMs: 500, schema })
    try {
      const e = (await runPgMigrations(conn).catch((x) => x)) as Error
      expect(e.message).toContain("another process holds teamday's migration lock")
      expect(e.message).toContain('pg_locks')
    } finally {
      await lock.release()
      await conn.close()
    }
  })
})
