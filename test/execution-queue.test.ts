/**
 * The execution queue is the database (src/engine/queue.ts): top-level runs wait as `pending`
 * rows, the limit counts running top-level executions in the whole database, and the next run
 * is picked fairly between organizations. The single-instance tests run on either backend (the
 * suite's own); the several-instance ones run two runtimes on one PostgreSQL (as
 * test/pg-instances.test.ts does), skipped with one line where none answers, a failure in CI,
 * and again on one SQLite file (as two `teamday serve --reuse-port` processes on it).
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { and, count, eq, inArray } from 'drizzle-orm'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Config } from '../src/config'
import { executions } from '../src/db/schema'
import { leaseTime } from '../src/engine/leases'
import { claimNext, fairHeadQuery, fairOrganizationQuery } from '../src/engine/queue'
import { insertExecution } from '../src/engine/store'
import { newId } from '../src/ids'
import { makeActor, makeTestApp, type Actor, type TestApp } from './helpers/app'
import { seedExecutions } from '../bench/seed'
import { freshPgSchema, needPostgres } from './helpers/pg'
import { describePlan, explainPg, INDEX_SCANS, nodesOf, type PgNode } from './helpers/pg-plans'
import { startProviderDouble, type ProviderDouble } from './helpers/providers'

let double: ProviderDouble
beforeAll(() => {
  double = startProviderDouble()
})
const opened: TestApp[] = []
/** SQLite files of the several-process tests: their runtimes closed, then removed. */
const files: { dir: string; apps: TestApp[] }[] = []
afterAll(async () => {
  // Nothing left waiting or running when the databases close.
  await Promise.all(opened.map((t) => t.rt.engine.shutdown(0)))
  for (const f of files) {
    await Promise.all(f.apps.map((t) => t.rt.close()))
    rmSync(f.dir, { recursive: true, force: true })
  }
  double.stop()
}, 30_000)

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Waits for `fn` to hold: generous (10 s), since a loaded 2-core CI machine can be seconds behind. */
async function until(fn: () => Promise<boolean> | boolean, ms = 10_000, what = 'condition') {
  const end = Date.now() + ms
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`${what} not met in ${ms} ms`)
    await sleep(10)
  }
}

const providerConfig = (extra: Partial<Config> = {}): Partial<Config> => ({ openaiBaseUrl: double.openaiBaseUrl, defaultModel: 'test-model', ...extra })

async function app(extra: Partial<Config> = {}) {
  const t = await makeTestApp({ config: providerConfig(extra) })
  opened.push(t)
  return t
}

async function newAgent(t: TestApp, a: Actor): Promise<string> {
  const r = await t.req('POST', '/api/v1/agents', { token: a.token, body: { name: `Agent ${Math.random()}`, systemPrompt: 'x' } })
  expect(r.status).toBe(201)
  return r.body.id
}

/** Starts an async execution; its id. */
async function enqueue(t: TestApp, a: Actor, agentId: string, message: string): Promise<string> {
  const r = await t.req('POST', `/api/v1/agents/${agentId}/execute`, { token: a.token, body: { message, async: true } })
  expect(r.status).toBe(202)
  return r.body.executionId
}

async function statusOf(t: TestApp, id: string): Promise<string> {
  const row = await t.rt.db.select({ status: executions.status }).from(executions).where(eq(executions.id, id)).get()
  return row!.status
}

/** Executions in the order they started on this app (its log's `execution_started` lines). */
function startOrder(t: TestApp): string[] {
  return t.logs.map((l) => JSON.parse(l)).filter((l) => l.msg === 'execution_started' && !l.parentExecutionId).map((l) => l.executionId)
}

/** Pending top-level rows owned by `instanceId` (as createJob records them), seeded directly. */
async function seedPending(t: TestApp, a: Actor, agentId: string, instanceId: string, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const now = new Date(t.clock.now())
    await insertExecution(t.rt.db, { id: newId('exec'), organizationId: a.organizationId, userId: a.userId, agentId, agentName: 'A', agentVisibility: 'organization', chatId: 'c', sessionId: 'c', status: 'pending', message: 'm', instanceId, leaseExpiresAt: leaseTime(now.getTime(), 60_000) as unknown as Date, createdAt: now, updatedAt: now })
  }
}

const instanceOf = (t: TestApp): string => (t.rt.engine as unknown as { deps: { instanceId: string } }).deps.instanceId

describe('fair between organizations', () => {
  test("one free slot: organizations take turns; one member's ten queued runs do not hold another organization's run back", async () => {
    const t = await app({ maxConcurrentExecutions: 1 })
    const a = await makeActor(t, { org: 'busy' })
    const b = await makeActor(t, { org: 'quiet' })
    const agentA = await newAgent(t, a)
    const agentB = await newAgent(t, b)
    // A's first runs until cancelled (the current run); nine more wait behind it.
    const ids: string[] = [await enqueue(t, a, agentA, 'HANG')]
    for (let i = 1; i < 10; i++) {
      t.clock.advance(1) // distinct created_at: A's own runs keep their order
      ids.push(await enqueue(t, a, agentA, `PAUSE 40 a${i}`))
    }
    t.clock.advance(1)
    const fromB = await enqueue(t, b, agentB, 'PAUSE 40 b')
    expect(await statusOf(t, ids[0]!)).toBe('running')
    expect(await statusOf(t, fromB)).toBe('pending')
    expect(t.rt.engine.queued).toBe(10)
    await t.rt.engine.cancel(ids[0]!)
    await until(async () => (await Promise.all([...ids.slice(1), fromB].map((id) => statusOf(t, id)))).every((s) => s === 'completed'), 15_000, 'all completed')
    // B's run starts as soon as A's current one ends, not after all ten of A's; A's keep their order.
    expect(startOrder(t)).toEqual([ids[0]!, fromB, ...ids.slice(1)])
  }, 30_000)

  test('runs of one organization created in the same millisecond start in the order they were created', async () => {
    const t = await app({ maxConcurrentExecutions: 1 })
    const a = await makeActor(t)
    const ag = await newAgent(t, a)
    const first = await enqueue(t, a, ag, 'HANG')
    await until(async () => (await statusOf(t, first)) === 'running')
    // The clock does not move: eight runs with one created_at, ids random (the old tie-break).
    const ids: string[] = []
    for (let i = 0; i < 8; i++) ids.push(await enqueue(t, a, ag, `PAUSE 10 q${i}`))
    const created = await t.rt.db.select({ id: executions.id, at: executions.createdAt, seq: executions.seq }).from(executions).where(inArray(executions.id, ids)).all()
    expect(new Set(created.map((r) => r.at.getTime())).size).toBe(1)
    // Their seq follows creation, strictly.
    const seqs = ids.map((id) => created.find((r) => r.id === id)!.seq)
    expect(seqs.every((q, i) => i === 0 || q > seqs[i - 1]!)).toBe(true)
    await t.rt.engine.cancel(first)
    await until(async () => (await Promise.all(ids.map((id) => statusOf(t, id)))).every((s) => s === 'completed'), 15_000, 'all completed')
    expect(startOrder(t)).toEqual([first, ...ids])
  }, 30_000)

  test('the organization with fewer running executions goes first, even if it started one more recently', async () => {
    const t = await app({ maxConcurrentExecutions: 3 })
    const x = await makeActor(t, { org: 'xorg' })
    const y = await makeActor(t, { org: 'yorg' })
    const agentX = await newAgent(t, x)
    const agentY = await newAgent(t, y)
    const x1 = await enqueue(t, x, agentX, 'HANG')
    t.clock.advance(1)
    const x2 = await enqueue(t, x, agentX, 'HANG')
    t.clock.advance(1)
    const y1 = await enqueue(t, y, agentY, 'HANG') // the latest start of all
    t.clock.advance(1)
    await until(async () => (await statusOf(t, y1)) === 'running')
    const x3 = await enqueue(t, x, agentX, 'HANG') // older than y2
    t.clock.advance(1)
    const y2 = await enqueue(t, y, agentY, 'HANG')
    expect([await statusOf(t, x3), await statusOf(t, y2)]).toEqual(['pending', 'pending'])
    await t.rt.engine.cancel(y1) // Y: 0 running, X: 2
    await until(async () => (await statusOf(t, y2)) === 'running', 10_000, 'y2 running')
    expect(await statusOf(t, x3)).toBe('pending')
    for (const id of [x1, x2, x3, y2]) await t.rt.engine.cancel(id)
  }, 30_000)
})

describe('one instance', () => {
  test('delegated children run in their parent\'s slot: never queued nor counted, while a queued top-level run waits', async () => {
    const t = await app({ maxConcurrentExecutions: 1 })
    const a = await makeActor(t)
    const child = await newAgent(t, a)
    const root = (await t.req('POST', '/api/v1/agents', { token: a.token, body: { name: 'Root', systemPrompt: 'x', subagentIds: [child] } })).body.id
    const parent = await enqueue(t, a, root, `DELEGATE ${child} PAUSE 300 hi`)
    const other = await enqueue(t, a, child, 'later')
    let kid: any
    await until(async () => {
      kid = await t.rt.db.select().from(executions).where(eq(executions.parentExecutionId, parent)).get()
      return kid?.status === 'running'
    })
    expect(kid.delegated).toBe(true)
    expect(await statusOf(t, other)).toBe('pending')
    expect(t.rt.engine.queued).toBe(1)
    await until(async () => (await statusOf(t, other)) === 'completed')
    expect(await statusOf(t, parent)).toBe('completed')
    const top = await t.rt.db.select({ delegated: executions.delegated }).from(executions).where(eq(executions.id, parent)).get()
    expect(top!.delegated).toBe(false)
  }, 30_000)

  test('claims made at the same moment never take more slots than the limit', async () => {
    const t = await app()
    const a = await makeActor(t)
    const ag = await newAgent(t, a)
    await seedPending(t, a, ag, instanceOf(t), 12)
    const claims = await Promise.all(Array.from({ length: 12 }, () => claimNext(t.rt.db, instanceOf(t), 3, t.clock.now(), () => true)))
    expect(claims.filter(Boolean)).toHaveLength(3)
    expect(await runningInDatabase(t)).toBe(3)
  })

  test("a waiting run whose owner's lease lapsed (a dead instance's) does not hold the head", async () => {
    const t = await app({ maxConcurrentExecutions: 1 })
    const dead = await makeActor(t, { org: 'gone' })
    const a = await makeActor(t)
    // Older, from an organization with nothing running or started: it would be the fair head.
    await seedPending(t, dead, await newAgent(t, dead), 'inst_dead', 1)
    await t.rt.db.update(executions).set({ leaseExpiresAt: leaseTime(t.clock.now(), -1) as unknown as Date }).where(eq(executions.organizationId, dead.organizationId)).run()
    t.clock.advance(1)
    const mine = await enqueue(t, a, await newAgent(t, a), 'hello')
    await until(async () => (await statusOf(t, mine)) === 'completed', 10_000, 'own run completed')
  })

  test('graceful shutdown fails the queued runs at once and settles their waiters', async () => {
    const t = await app({ maxConcurrentExecutions: 1 })
    const a = await makeActor(t)
    const ag = await newAgent(t, a)
    const running = await enqueue(t, a, ag, 'HANG')
    t.clock.advance(1)
    const x = await enqueue(t, a, ag, 'x')
    t.clock.advance(1)
    const queued = [x, await enqueue(t, a, ag, 'y')]
    // On PostgreSQL the claim is committed (status running) a moment before the engine drops the
    // run from its in-memory queue: wait for both, then the queue holds exactly the other two.
    await until(async () => (await statusOf(t, running)) === 'running' && t.rt.engine.queued <= 2)
    const waits = queued.map((id) => t.rt.engine.wait(id)!)
    expect(t.rt.engine.queued).toBe(2)
    await t.rt.engine.shutdown(100)
    for (const row of await Promise.all(waits)) expect(row).toMatchObject({ status: 'failed', error: 'Execution interrupted by server shutdown' })
    expect(await statusOf(t, running)).toBe('failed')
    // Logged and counted as failed runs, the queued ones too (they were neither).
    const failedLines = t.logs.map((l) => JSON.parse(l)).filter((l) => l.msg === 'execution_failed').map((l) => l.executionId)
    expect(failedLines.sort()).toEqual([running, ...queued].sort())
    expect(t.rt.engine.queued).toBe(0)
  }, 30_000)

  test("a tick during graceful shutdown does not log or count a queued run's failure a second time", async () => {
    const t = await app({ maxConcurrentExecutions: 1 })
    const a = await makeActor(t)
    const ag = await newAgent(t, a)
    const running = await enqueue(t, a, ag, 'HANG')
    const queued: string[] = []
    for (const m of ['x', 'y', 'z', 'w']) {
      t.clock.advance(1)
      queued.push(await enqueue(t, a, ag, m))
    }
    await until(async () => (await statusOf(t, running)) === 'running' && t.rt.engine.queued <= 4)
    const waits = queued.map((id) => t.rt.engine.wait(id)!)
    // The engine's watcher ticks every second; here one tick after another while the stop fails
    // the queue (each tick checks the queued rows: a row the stop just failed looked ended
    // elsewhere to it, and it logged that failure too).
    const engine = t.rt.engine as unknown as { tick(): Promise<void> }
    let stopped = false
    const ticks = (async () => {
      while (!stopped) {
        await engine.tick()
        await new Promise((r) => setTimeout(r, 0))
      }
    })()
    await t.rt.engine.shutdown(100)
    stopped = true
    await ticks
    for (const row of await Promise.all(waits)) expect(row).toMatchObject({ status: 'failed', error: 'Execution interrupted by server shutdown' })
    const failedLines = t.logs.map((l) => JSON.parse(l)).filter((l) => l.msg === 'execution_failed').map((l) => l.executionId)
    expect(failedLines.sort()).toEqual([running, ...queued].sort())
  }, 30_000)

  test('graceful shutdown with the database down settles the queued runs anyway (failed, service_unavailable)', async () => {
    const t = await app({ maxConcurrentExecutions: 1 })
    const a = await makeActor(t)
    const ag = await newAgent(t, a)
    const running = await enqueue(t, a, ag, 'HANG')
    t.clock.advance(1)
    const x = await enqueue(t, a, ag, 'x')
    t.clock.advance(1)
    const queued = [x, await enqueue(t, a, ag, 'y')]
    await until(async () => (await statusOf(t, running)) === 'running' && t.rt.engine.queued <= 2)
    const waits = queued.map((id) =>
      Promise.race([t.rt.engine.wait(id)!, sleep(5000).then(() => 'never settled' as const)]),
    )
    const done: string[] = []
    for (const id of queued) t.rt.engine.subscribe(id, (e) => e.type === 'done' && done.push(id))
    // Every statement of the stop fails: the database went away as the server stopped. On the
    // old code the first queued run, already off the queue, was never settled, and the stop threw.
    const deps = (t.rt.engine as unknown as { deps: { db: unknown } }).deps
    const db = deps.db
    deps.db = new Proxy({}, { get: () => { throw new Error('database down') } })
    try {
      await t.rt.engine.shutdown(0)
    } finally {
      deps.db = db
    }
    for (const row of await Promise.all(waits)) expect(row).toMatchObject({ status: 'failed', error: 'Execution interrupted by server shutdown', errorCode: 'service_unavailable' })
    expect(done.sort()).toEqual([...queued].sort())
    expect(t.rt.engine.queued).toBe(0)
  }, 30_000)

  test('the claim walks indexes: waiting rows in organization order, running counts and latest starts by seeks', async () => {
    const t = await app()
    const conn = t.rt.connection
    if (conn.dialect === 'pg') return claimPlansOnPostgres(t)
    const plan = (q: { toSQL(): { sql: string; params: unknown[] } }) => {
      const { sql, params } = q.toSQL()
      return (conn.client.query(`EXPLAIN QUERY PLAN ${sql}`).all(...(params as never[])) as { detail: string }[]).map((r) => r.detail).join('\n')
    }
    const org = plan(fairOrganizationQuery(t.rt.db, t.clock.now()))
    expect(org).not.toMatch(/SCAN executions|TEMP B-TREE FOR GROUP BY/)
    // The waiting rows in organization order; per organization, its running count and latest start by seeks.
    expect(org).toMatch(/SEARCH executions USING INDEX executions_queue_idx \(status=\? AND delegated=\?\)/)
    expect(org).toMatch(/SEARCH r USING COVERING INDEX executions_queue_idx \(status=\? AND delegated=\? AND organization_id=\?\)/)
    expect(org).toMatch(/SEARCH r USING COVERING INDEX executions_org_started_idx \(organization_id=\? AND delegated=\?\)/)
    // Its head: the organization's index range in order, no sort (the subquery above runs once).
    const head = plan(fairHeadQuery(t.rt.db, t.clock.now()))
    expect(head).toMatch(/^SEARCH executions USING INDEX executions_queue_idx \(status=\? AND delegated=\? AND organization_id=\?\)\nSCALAR SUBQUERY/)
    expect(head).not.toMatch(/SCAN executions|TEMP B-TREE FOR GROUP BY/)
    expect(head.split('TEMP B-TREE').length).toBe(2) // the one sort: organizations, by their keys
    const running = conn.client.query("EXPLAIN QUERY PLAN SELECT count(*) FROM executions WHERE status = 'running' AND delegated = false").all() as { detail: string }[]
    expect(running.map((r) => r.detail).join()).toMatch(/USING COVERING INDEX executions_queue_idx \(status=\? AND delegated=\?\)/)
   }, 120_000)
})

/**
 * PostgreSQL plans by cost, so its claim plans are checked on a queue that gives it a real
 * choice: 60,000 executions of history in twelve organizations, 1,200 waiting in six of them, a
 * few running, after VACUUM ANALYZE (what autovacuum keeps). Every statement of the claim
 * (src/engine/queue.ts: the running count, the fair organization, its head as the claim locks it)
 * in its custom and its generic plan: no sequential scan of executions; the running counts from
 * executions_queue_idx, the latest starts from executions_org_started_idx; the waiting rows from
 * an index led by the status (see below for what is not yet as on SQLite).
 */
async function claimPlansOnPostgres(t: TestApp) {
  const conn = t.rt.connection
  if (conn.dialect !== 'pg') throw new Error('PostgreSQL only')
  const now = t.clock.now()
  const owners = await Promise.all(Array.from({ length: 12 }, (_, i) => makeActor(t, { org: `queue-org-${i}` })))
  for (const [i, owner] of owners.entries()) {
    const agentIds = [await newAgent(t, owner)]
    await seedExecutions(t.db, owner, 5000, { now: now - 10_000_000, step: 1000, agentIds })
    if (i % 2 === 0) {
      const waiting = await seedExecutions(t.db, owner, 200, { now, step: 10, agentIds })
      const lease = leaseTime(now, 60_000) as unknown as Date
      await t.rt.db.update(executions).set({ status: 'pending', startedAt: null, completedAt: null, instanceId: instanceOf(t), leaseExpiresAt: lease }).where(inArray(executions.id, waiting)).run()
      await t.rt.db.update(executions).set({ status: 'running', instanceId: instanceOf(t), leaseExpiresAt: lease }).where(inArray(executions.id, waiting.slice(0, 1))).run()
    }
  }
  await conn.client.unsafe('VACUUM ANALYZE executions')
  const statements = {
    running: t.rt.db.select({ n: count() }).from(executions).where(and(eq(executions.status, 'running'), eq(executions.delegated, false))),
    organization: fairOrganizationQuery(t.rt.db, now),
    head: (fairHeadQuery(t.rt.db, now) as unknown as { for(s: 'update', o: { skipLocked: true }): ReturnType<typeof fairHeadQuery> }).for('update', { skipLocked: true }),
  }
  for (const mode of ['custom', 'generic'] as const) {
    const plans: Record<string, PgNode[]> = {}
    const where: Record<string, string> = {}
    for (const [name, q] of Object.entries(statements)) {
      const { sql, params } = q.toSQL()
      const root = await explainPg(conn.client, sql, params, mode)
      plans[name] = nodesOf(root)
      where[name] = `${name} (${mode} plan):\n${describePlan(root)}`
    }
    // PostgreSQL names a table's second reference in a statement r_1, executions_1.
    // A read of executions through one of these indexes: walked, or as a bitmap of its range.
    const uses = (name: string, indexes: string[], alias: 'executions' | 'r') =>
      plans[name]!.some(
        (n) =>
          new RegExp(`^${alias}(_\\d+)?$`).test(n.Alias ?? '') &&
          (INDEX_SCANS.includes(n['Node Type']) ? indexes.includes(n['Index Name']!) : n['Node Type'] === 'Bitmap Heap Scan' && nodesOf(n).some((x) => x['Node Type'] === 'Bitmap Index Scan' && indexes.includes(x['Index Name']!))),
      )
    // Never the history: every read of executions goes through an index.
    for (const name of Object.keys(statements)) expect(plans[name]!.some((n) => n['Relation Name'] === 'executions' && n['Node Type'] === 'Seq Scan'), where[name]).toBe(false)
    // The global running count: a seek of the running rows in an index led by the status (the
    // planner picks executions_queue_idx or, near the same cost, executions_lease_idx or
    // executions_status_idx: each reads the running rows only, never the finished ones).
    expect(uses('running', ['executions_queue_idx', 'executions_lease_idx', 'executions_status_idx'], 'executions'), where.running).toBe(true)
    // Per organization with waiting rows: its running count and its latest start by seeks (the
    // count from executions_queue_idx, or from executions_org_status_idx, as the planner weighs
    // them: both seek the organization's running rows).
    expect(uses('organization', ['executions_queue_idx', 'executions_org_status_idx'], 'r'), where.organization).toBe(true)
    expect(uses('organization', ['executions_org_started_idx'], 'r'), where.organization).toBe(true)
    // The waiting rows, and the head among the fair organization's, from executions_waiting_idx
    // (a partial index of the waiting top-level rows in queue order, the lease included): read in
    // organization order and never sorted or hashed, and the head is the fair organization's
    // first entry there, as on SQLite from executions_queue_idx. (Without it PostgreSQL estimated
    // a few dozen waiting rows where there are 1,200, pending times a lease set taken as
    // independent, and read them from executions_lease_idx with a sort: O(waiting rows) a claim.)
    // The planner's choice rests on its estimate of the waiting rows, which it still takes as
    // pending times lease-set (independent): in one run of 20 or so it estimated 22 and read them
    // from executions_lease_idx with a sort instead (for the fair organization, the head's own
    // look-up then still in executions_waiting_idx). So: always a seek of the waiting rows by an
    // index led by the status, and no sort or hash of them unless read from executions_lease_idx.
    const regroups = (name: string) =>
      plans[name]!.some((n) => (n['Node Type'] === 'Sort' || n['Strategy'] === 'Hashed') && (n.Plans ?? []).some((c) => /^executions(_\d+)?$/.test(c.Alias ?? '')))
    for (const name of ['organization', 'head']) {
      expect(uses(name, ['executions_waiting_idx', 'executions_lease_idx'], 'executions'), where[name]).toBe(true)
      if (!uses(name, ['executions_lease_idx'], 'executions')) expect(regroups(name), where[name]).toBe(false)
    }
  }
}

const HAVE_PG = await needPostgres('test/execution-queue.test.ts')

/**
 * Two runtimes on one fresh PostgreSQL schema, or on one SQLite file (two `teamday serve
 * --reuse-port` processes: each its own connection and engine), one clock (as two replicas of
 * one deployment).
 */
async function twoOn(config: Partial<Config>, on: 'pg' | 'sqlite') {
  const dir = on === 'sqlite' ? mkdtempSync(join(tmpdir(), 'teamday-queue-')) : null
  const where = dir === null ? { pg: await freshPgSchema() } : { dbPath: join(dir, 'shared.db') }
  const key = crypto.getRandomValues(new Uint8Array(32))
  const a = await makeTestApp({ ...where, key, config: providerConfig(config) })
  const b = await makeTestApp({ ...where, key, config: providerConfig(config) })
  if (dir !== null) files.push({ dir, apps: [a, b] })
  b.clock = a.clock
  ;(b.rt as { clock: unknown }).clock = a.clock
  opened.push(a, b)
  return { a, b }
}

async function runningInDatabase(t: TestApp): Promise<number> {
  const r = await t.rt.db.select({ n: count() }).from(executions).where(and(eq(executions.status, 'running'), eq(executions.delegated, false))).get()
  return r!.n
}

// The same tests on one PostgreSQL and on one SQLite file: the queue assumes no single process on either.
for (const on of ['pg', 'sqlite'] as const)
describe.skipIf(on === 'pg' && !HAVE_PG)(on === 'pg' ? 'several instances on one PostgreSQL share the queue' : 'several processes on one SQLite file (--reuse-port) share the queue', () => {
  const twoInstances = (config: Partial<Config>) => twoOn(config, on)
  test('the limit is global: two instances with three runs each never run more than two at once; all six complete on the instance that took them', async () => {
    const { a, b } = await twoInstances({ maxConcurrentExecutions: 2 })
    const m = await makeActor(a)
    const ag = await newAgent(a, m)
    const jobs = Array.from({ length: 6 }, (_, i) => [i % 2 ? b : a, `PAUSE 400 run${i}`] as const)
    const ids = await Promise.all(jobs.map(([t, msg]) => enqueue(t, m, ag, msg).then((id) => [t, id] as const)))
    let max = 0
    const statuses = () => Promise.all(ids.map(([, id]) => statusOf(a, id)))
    for (;;) {
      max = Math.max(max, await runningInDatabase(a))
      if ((await statuses()).every((s) => s !== 'pending' && s !== 'running')) break
      await sleep(5)
    }
    expect(await statuses()).toEqual(Array(6).fill('completed'))
    expect(max).toBe(2)
    // Each ran where it was created (its waiter listened there).
    for (const [t, id] of ids) expect((await a.rt.db.select({ i: executions.instanceId }).from(executions).where(eq(executions.id, id)).get())!.i).toBe(instanceOf(t))
  }, 60_000)

  // Not on SQLite in one test process: two connections in one thread, one waiting on the file lock
  // (busy_timeout) while the other's transaction awaits, block each other. Between processes, the
  // claim's BEGIN IMMEDIATE takes SQLite's one write lock: no other claim runs between its count
  // and its update.
  if (on === 'pg') test('claims made at the same moment on two instances never take more slots than the limit', async () => {
    const { a, b } = await twoInstances({})
    const x = await makeActor(a, { org: 'xorg' })
    const y = await makeActor(a, { org: 'yorg' })
    await seedPending(a, x, await newAgent(a, x), instanceOf(a), 10)
    await seedPending(a, y, await newAgent(a, y), instanceOf(b), 10)
    const claim = (t: TestApp) => claimNext(t.rt.db, instanceOf(t), 2, t.clock.now(), () => true)
    // Rounds of ten claims at once from each instance: the running total stays at the limit.
    for (let round = 0; round < 3; round++) {
      await Promise.all([...Array.from({ length: 10 }, () => claim(a)), ...Array.from({ length: 10 }, () => claim(b))])
      expect(await runningInDatabase(a)).toBe(2)
    }
  }, 30_000)

  test('a fair head owned by B is started by B within a second; A leaves it the slot and keeps its own run pending', async () => {
    const { a, b } = await twoInstances({ maxConcurrentExecutions: 1 })
    const x = await makeActor(a, { org: 'xorg' })
    const y = await makeActor(a, { org: 'yorg' })
    const agentX = await newAgent(a, x)
    const agentY = await newAgent(a, y)
    const a1 = await enqueue(a, x, agentX, 'HANG')
    await until(async () => (await statusOf(a, a1)) === 'running')
    a.clock.advance(1)
    const b1 = await enqueue(b, y, agentY, 'HANG') // Y has nothing running: the fair head
    a.clock.advance(1)
    const a2 = await enqueue(a, x, agentX, 'HANG')
    expect([await statusOf(a, b1), await statusOf(a, a2)]).toEqual(['pending', 'pending'])
    await a.rt.engine.cancel(a1) // A's slot frees; A pumps at once, B on its next poll
    // B's poll (every Engine.CANCEL_POLL_MS, 250 ms) is not timed here (a loaded machine can be a
    // second late): nothing else starts b1, so without it this fails.
    await until(async () => (await statusOf(a, b1)) === 'running', 10_000, 'b1 running')
    expect(await statusOf(a, a2)).toBe('pending')
    expect(a.rt.engine.queued).toBe(1)
    // B's claim is committed (and seen through A's connection) a moment before B starts the run.
    await until(() => b.rt.engine.runningCount === 1, 10_000, 'b1 running on B')
    await sleep(300) // A's polls meanwhile: the slot is B's run's
    expect(await statusOf(a, a2)).toBe('pending')
    // B stops: it fails only its own; A's queued run takes the slot.
    await b.rt.engine.shutdown(0)
    // Its end is written by the run once aborted, and shutdown waits 2 s for that, no longer. Here
    // both instances share one process: B's write may wait out the busy timeout (5 s) behind a
    // transaction A holds open across an await on the same file, and a loaded machine adds its
    // own delays (with the event loop held 0-700 ms every half second, b1 read `running` in 1 of
    // 4 SQLite runs). So it is waited for, not read at once; a2 failed by B's stop still fails below.
    await until(async () => (await statusOf(a, b1)) === 'failed', 10_000, 'b1 failed')
    await until(async () => (await statusOf(a, a2)) === 'running', 10_000, 'a2 running')
    await a.rt.engine.cancel(a2)
  }, 30_000)

  test("a queued run cancelled through another instance: its owner's waiter settles within a second, and it never runs", async () => {
    const { a, b } = await twoInstances({ maxConcurrentExecutions: 1 })
    const m = await makeActor(a, { role: 'admin' })
    const ag = await newAgent(a, m)
    const first = await enqueue(a, m, ag, 'HANG')
    await until(async () => (await statusOf(a, first)) === 'running')
    const queued = await enqueue(b, m, ag, 'never')
    const waiter = b.rt.engine.wait(queued)!
    expect(b.rt.engine.queued).toBe(1)
    let settled: Awaited<typeof waiter> | undefined
    void waiter.then((row) => (settled = row))
    const r = await a.req('POST', `/api/v1/executions/${queued}/cancel`, { token: m.token })
    expect(r.status).toBe(200)
    // Settled at B's next look at its rows (every Engine.CANCEL_POLL_MS, 250 ms), not timed here (a
    // loaded machine can be a second late): the run ahead HANGs, so without that look it waits for ever.
    await until(() => settled !== undefined, 10_000, "the queued run's waiter settled")
    expect(settled!.status).toBe('cancelled')
    expect(b.rt.engine.queued).toBe(0)
    const asked = double.requests.length
    await a.rt.engine.cancel(first)
    await sleep(400)
    expect(await statusOf(a, queued)).toBe('cancelled')
    expect(double.requests.slice(asked).some((q) => JSON.stringify(q.body).includes('never'))).toBe(false)
  }, 30_000)
})

describe('how many runs one person may have waiting', () => {
  test(`TEAMDAY_MAX_QUEUED_EXECUTIONS_PER_USER: one more is 429 with Retry-After; others still queue; a cancel makes room`, async () => {
    const t = await app({ maxConcurrentExecutions: 1, maxQueuedExecutionsPerUser: 3 })
    const a = await makeActor(t)
    const b = await makeActor(t)
    const agentId = await newAgent(t, a)
    const running = await enqueue(t, a, agentId, 'HANG')
    await until(async () => (await statusOf(t, running)) === 'running', 10_000, 'the first run running')
    const waiting = [await enqueue(t, a, agentId, 'one'), await enqueue(t, a, agentId, 'two'), await enqueue(t, a, agentId, 'three')]
    const over = await t.req('POST', `/api/v1/agents/${agentId}/execute`, { token: a.token, body: { message: 'four', async: true } })
    expect([over.status, over.body.code]).toEqual([429, 'rate_limited'])
    expect(over.headers.get('retry-after')).toBe('5')
    expect(over.body.details).toMatchObject({ queued: 3, maxQueuedExecutionsPerUser: 3 })
    // Someone else in the organization is not held back by it.
    await enqueue(t, b, await newAgent(t, b), 'from b')
    expect((await t.req('POST', `/api/v1/executions/${waiting[0]}/cancel`, { token: a.token })).status).toBe(200)
    await enqueue(t, a, agentId, 'four, now')
    await t.req('POST', `/api/v1/executions/${running}/cancel`, { token: a.token })
  }, 20_000)

  test('a burst of requests at once cannot pass the limit: counted in the transaction that inserts the run', async () => {
    // On PostgreSQL the count ran outside any transaction: 100 requests at once all counted the
    // same few waiting runs, and 16 to 88 of them were queued against a limit of 3 to 5.
    const t = await app({ maxConcurrentExecutions: 1, maxQueuedExecutionsPerUser: 5, userRateLimit: null })
    const a = await makeActor(t)
    const agentId = await newAgent(t, a)
    const running = await enqueue(t, a, agentId, 'HANG')
    await until(async () => (await statusOf(t, running)) === 'running', 10_000, 'the first run running')
    const burst = await Promise.all(Array.from({ length: 60 }, (_, i) => t.req('POST', `/api/v1/agents/${agentId}/execute`, { token: a.token, body: { message: `burst ${i}`, async: true } })))
    expect(burst.filter((r) => r.status === 202).length).toBe(5)
    expect(burst.every((r) => r.status === 202 || r.body.code === 'rate_limited')).toBe(true)
    const pending = await t.rt.db.select({ n: count() }).from(executions).where(and(eq(executions.userId, a.userId), eq(executions.status, 'pending'))).get()
    expect(pending!.n).toBe(5)
    await t.req('POST', `/api/v1/executions/${running}/cancel`, { token: a.token })
  }, 30_000)
})

describe('a queued run is decided again when its turn comes', () => {
  /** One slot, held by a HANG run of `holder`; returns a function that frees it. */
  async function slotTaken(t: TestApp, holder: Actor) {
    const running = await enqueue(t, holder, await newAgent(t, holder), 'HANG')
    await until(async () => (await statusOf(t, running)) === 'running', 10_000, 'the holder running')
    return () => t.req('POST', `/api/v1/executions/${running}/cancel`, { token: holder.token })
  }
  const rowOf = async (t: TestApp, id: string) => (await t.rt.db.select().from(executions).where(eq(executions.id, id)).get())!
  const ended = async (t: TestApp, id: string) => {
    await until(async () => !['pending', 'running'].includes(await statusOf(t, id)), 10_000, 'the queued run ended')
    return rowOf(t, id)
  }
  const asked = (message: string) => double.requests.filter((q) => JSON.stringify(q.body).includes(message)).length

  test('its user removed, or made a viewer, meanwhile: failed without a model call, and why', async () => {
    for (const change of ['remove', 'viewer'] as const) {
      const t = await app({ maxConcurrentExecutions: 1 })
      const admin = await makeActor(t, { role: 'admin' })
      const free = await slotTaken(t, admin)
      const m = await makeActor(t)
      const message = `queued before the change ${change} ${Math.random()}`
      const id = await enqueue(t, m, await newAgent(t, m), message)
      const path = `/api/v1/organizations/${m.organizationId}/members/${m.userId}`
      const r = change === 'remove' ? await t.req('DELETE', path, { token: admin.token }) : await t.req('PATCH', path, { token: admin.token, body: { role: 'viewer' } })
      expect(r.status).toBe(200)
      await free()
      const row = await ended(t, id)
      expect({ status: row.status, errorCode: row.errorCode }).toEqual({ status: 'failed', errorCode: 'forbidden' })
      expect(row.error).toContain(change === 'remove' ? 'no longer a member' : 'no longer allows running agents')
      expect(asked(message)).toBe(0)
    }
  }, 30_000)

  test('its agent archived or made private by its owner meanwhile: refused for others; the owner\'s own run records it private', async () => {
    const t = await app({ maxConcurrentExecutions: 1 })
    const admin = await makeActor(t, { role: 'admin' })
    const owner = await makeActor(t)
    const other = await makeActor(t)
    const shared = async (name: string) => (await t.req('POST', '/api/v1/agents', { token: owner.token, body: { name, visibility: 'organization', systemPrompt: `PROMPT OF ${name}` } })).body.id as string
    const archived = await shared('Archived')
    const closed = await shared('Closed')
    const free = await slotTaken(t, admin)
    const onArchived = await enqueue(t, other, archived, 'on the archived one')
    const onClosed = await enqueue(t, other, closed, 'on the closed one')
    const ownRun = await enqueue(t, owner, closed, 'the owner on the closed one')
    expect((await t.req('DELETE', `/api/v1/agents/${archived}`, { token: owner.token })).status).toBe(200)
    expect((await t.req('PATCH', `/api/v1/agents/${closed}`, { token: owner.token, body: { visibility: 'private' } })).status).toBe(200)
    await free()
    for (const id of [onArchived, onClosed]) {
      const row = await ended(t, id)
      expect({ status: row.status, errorCode: row.errorCode }).toEqual({ status: 'failed', errorCode: 'forbidden' })
    }
    expect(double.requests.filter((q) => JSON.stringify(q.body).includes('PROMPT OF Archived')).length).toBe(0)
    const own = await ended(t, ownRun)
    expect({ status: own.status, agentVisibility: own.agentVisibility }).toEqual({ status: 'completed', agentVisibility: 'private' })
    // So the other member cannot read the owner's run of the agent made private.
    expect((await t.req('GET', `/api/v1/executions/${ownRun}`, { token: other.token })).status).toBe(404)
  }, 30_000)

  test('a run delegating after its user was made a viewer: the delegation is refused, no model call for the sub-agent', async () => {
    const t = await app()
    const admin = await makeActor(t, { role: 'admin' })
    const m = await makeActor(t)
    const child = (await t.req('POST', '/api/v1/agents', { token: m.token, body: { name: 'Child', visibility: 'organization', systemPrompt: 'CHILD OF THE DEMOTED' } })).body.id
    const parent = (await t.req('POST', '/api/v1/agents', { token: m.token, body: { name: 'Parent', visibility: 'organization', subagentIds: [child] } })).body.id
    const id = await enqueue(t, m, parent, `PAUSE 400 DELEGATE ${child} hello`)
    await until(async () => (await statusOf(t, id)) === 'running', 10_000, 'the parent running')
    expect((await t.req('PATCH', `/api/v1/organizations/${m.organizationId}/members/${m.userId}`, { token: admin.token, body: { role: 'viewer' } })).status).toBe(200)
    await until(async () => (await statusOf(t, id)) === 'completed', 10_000, 'the parent completed')
    const events = (await t.req('GET', `/api/v1/executions/${id}/logs`, { token: admin.token })).body.logs.map((l: any) => [l.event, l.data?.reason])
    expect(events).toContainEqual(['delegation_refused', 'role'])
    expect(double.requests.filter((q) => JSON.stringify(q.body).includes('CHILD OF THE DEMOTED')).length).toBe(0)
  }, 30_000)
})
