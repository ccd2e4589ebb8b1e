/**
 * Several instances on PostgreSQL when one loses the database (found by probing, 2026-12-03). Two
 * compiled binaries on one fresh database: A reaches PostgreSQL through a TCP relay this test
 * cuts (a database outage, or a partition between A and the database), B directly.
 *
 *   npm run build && TEAMDAY_TEST_BINARY=dist/teamday bun test test/pg-outage.test.ts
 *
 * Skipped (and says so) without TEAMDAY_TEST_BINARY or PostgreSQL; .ci/run runs it in the "binary
 * execution" step. Before: requests hung 15-45 s or were dropped, service came back seconds after
 * the database, runs failed by another instance's lease sweep kept calling the model past the
 * concurrency limit, and a run's end lost to the outage answered a 502 naming the database address.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { existsSync, rmSync } from 'node:fs'
import postgres from 'postgres'
import { adminTokenVia } from './helpers/first-start'
import { createTestDatabase, dropDatabases, needPostgres, urlFor } from './helpers/pg'
import { startProviderDouble } from './helpers/providers'
import { startRelay } from './helpers/relay'
import { binaryInTempDir, randomKey, startServer, type Served } from './helpers/spawn'

const binary = process.env.TEAMDAY_TEST_BINARY
if (!binary) console.warn('pg-outage: set TEAMDAY_TEST_BINARY=dist/teamday to run the database-outage test of two binaries')
const HAVE_PG = binary && existsSync(binary) ? await needPostgres('test/pg-outage.test.ts') : false
const LEASE_MS = 2000

/** A process of the binary; `base`: http://127.0.0.1:port */
interface Server extends Served {
  base: string
}

describe.skipIf(!HAVE_PG)('two instances on PostgreSQL, one of them cut off from the database', () => {
  const double = startProviderDouble()
  const dir = HAVE_PG ? binaryInTempDir(binary!, 'teamday-outage-') : ''
  const key = randomKey()
  let dbName = ''
  let direct = ''
  let relay: ReturnType<typeof startRelay>
  let sql: postgres.Sql
  let a: Server, b: Server
  let admin = ''
  let env: Record<string, string>
  let viaRelayUrl = ''

  async function start(db: string, extra: Record<string, string> = {}): Promise<Server> {
    const s = await startServer(['./teamday', 'serve', '--host', '127.0.0.1', '--port', '0', '--db', db], { cwd: dir, env: { ...env, ...extra } })
    return { ...s, base: s.origin }
  }

  async function req(s: Server, method: string, path: string, body?: unknown, timeoutMs = 60_000) {
    const t0 = Date.now()
    try {
      const res = await fetch(`${s.base}${path}`, {
        method,
        headers: { authorization: `Bearer ${admin}`, ...(body ? { 'content-type': 'application/json' } : {}) },
        body: body ? JSON.stringify(body) : undefined,
        signal: AbortSignal.timeout(timeoutMs),
      })
      const text = await res.text()
      let json: any
      try {
        json = JSON.parse(text)
      } catch {}
      return { status: res.status, body: json, text, ms: Date.now() - t0 }
    } catch (e) {
      return { status: 0, body: undefined, text: String(e), ms: Date.now() - t0 }
    }
  }

  const rowOf = async (id: string) => (await sql`SELECT status, error FROM executions WHERE id = ${id}`)[0] as { status: string; error: string | null }
  async function until(what: string, cond: () => Promise<boolean>, ms = 15_000) {
    const end = Date.now() + ms
    while (!(await cond())) {
      if (Date.now() > end) throw new Error(`timed out waiting: ${what}`)
      await Bun.sleep(50)
    }
  }
  const runningHere = async (s: Server) => {
    const m = await req(s, 'GET', '/metrics')
    return Number(/^teamday_executions_running (\d+)/m.exec(m.text)?.[1] ?? NaN)
  }

  beforeAll(async () => {
    dbName = await createTestDatabase()
    direct = urlFor(dbName)
    const u = new URL(direct)
    relay = startRelay(u.hostname, Number(u.port || 5432))
    const viaRelay = new URL(direct)
    viaRelay.port = String(relay.port)
    sql = postgres(direct, { max: 2, onnotice: () => {} })
    env = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: dir,
      TEAMDAY_ENCRYPTION_KEY: key,
      OPENAI_BASE_URL: double.openaiBaseUrl,
      TEAMDAY_DEFAULT_MODEL: 'test-model',
      TEAMDAY_RATE_LIMIT: 'off',
      TEAMDAY_USER_RATE_LIMIT: 'off',
      TEAMDAY_EXECUTION_LEASE_MS: String(LEASE_MS),
      TEAMDAY_MAX_CONCURRENT_EXECUTIONS: '1',
      TEAMDAY_DB_POOL: '4',
      TEAMDAY_LOG_FORMAT: 'json',
    }
    viaRelayUrl = viaRelay.toString()
    a = await start(viaRelayUrl)
    b = await start(direct)
    admin = adminTokenVia(['./teamday'], direct, { cwd: dir, env: { ...env, TEAMDAY_LOG_LEVEL: 'silent' } })
  }, 60_000)

  afterAll(async () => {
    a?.proc.kill('SIGKILL')
    b?.proc.kill('SIGKILL')
    relay?.stop()
    double.stop()
    await sql?.end({ timeout: 1 })
    if (dbName) await dropDatabases([dbName]).catch(() => {})
    rmSync(dir, { recursive: true, force: true })
  }, 60_000)

  test("an outage longer than the lease: the other instance fails the cut-off one's run, which then stops there; no second run past the limit of 1 while it ran", async () => {
    const agent = (await req(a, 'POST', '/api/v1/agents', { name: 'H', systemPrompt: 'x' })).body.id
    // A run on A whose model answers after 12 s.
    const started = await req(a, 'POST', `/api/v1/agents/${agent}/execute`, { message: 'PAUSE 12000', async: true })
    expect(started.status).toBe(202)
    const onA = started.body.executionId
    await until('running on A', async () => (await rowOf(onA)).status === 'running')
    // A loses the database for 5 s, longer than the 2 s lease: B cannot tell it from a dead one.
    relay.cut()
    // B's sweep (every half lease) fails it once the lease has lapsed: about 3 s, waited for (not
    // slept for) since a loaded machine can be seconds late; the outage lasts until then.
    await until("A's run failed by B's sweep", async () => (await rowOf(onA)).status === 'failed', 10_000)
    relay.restore()
    // A stops the run as soon as it reads its row again: nothing runs there past the limit.
    await until('the run stopped on A', async () => (await runningHere(a)) === 0)
    const second = await req(b, 'POST', `/api/v1/agents/${agent}/execute`, { message: 'PAUSE 300', async: true })
    expect(second.status).toBe(202)
    await until('the second run completed', async () => (await rowOf(second.body.executionId)).status === 'completed')
    expect((await rowOf(onA)).status).toBe('failed')
  }, 60_000)

  test('during the outage requests answer a JSON 503 within 5 s (not a hang, not a dropped connection)', async () => {
    relay.cut()
    try {
      // Traffic goes on during the outage (a load balancer keeps sending): 12 requests every 500 ms for 5 s.
      const traffic: Promise<unknown>[] = []
      for (let i = 0; i < 10; i++) {
        for (let j = 0; j < 12; j++) traffic.push(req(a, 'GET', '/api/v1/agents', undefined, 60_000))
        await Bun.sleep(500)
      }
      const [list, ready, write] = await Promise.all([
        req(a, 'GET', '/api/v1/agents', undefined, 45_000),
        req(a, 'GET', '/api/health/ready', undefined, 45_000),
        req(a, 'POST', '/api/v1/tasks', { title: 'during outage' }, 45_000),
      ])
      for (const r of [list, ready, write]) {
        expect(r.status).toBe(503)
        expect(r.ms).toBeLessThan(5000)
      }
    } finally {
      relay.restore()
    }
  }, 120_000)

  test('once the database is back, the instance serves again within a few seconds', async () => {
    relay.cut()
    // An outage of 12 s: the pool's reconnect back-off grows meanwhile.
    const t0 = Date.now()
    const during: Promise<unknown>[] = []
    while (Date.now() - t0 < 12_000) {
      for (let j = 0; j < 12; j++) during.push(req(a, 'GET', '/api/v1/agents', undefined, 90_000))
      await Bun.sleep(500)
    }
    relay.restore()
    const back = Date.now()
    // Readiness says ready again...
    let readyAt = 0
    let servedAt = 0
    const deadline = Date.now() + 40_000
    while ((readyAt === 0 || servedAt === 0) && Date.now() < deadline) {
      const [r, l] = await Promise.all([req(a, 'GET', '/api/health/ready', undefined, 1000), req(a, 'GET', '/api/v1/tasks', undefined, 1000)])
      if (!readyAt && r.status === 200) readyAt = Date.now() - back
      if (!servedAt && l.status === 200) servedAt = Date.now() - back
      await Bun.sleep(100)
    }
    await Promise.all(during)
    expect(servedAt).toBeGreaterThan(0)
    // Measured 0.5-0.7 s alone, 5.1 s once in a full CI run (the requests queued during the
    // outage go first); 3-13 s and more before, when the pool's reconnect back-off grew to 20 s.
    expect(servedAt).toBeLessThan(10_000)
  }, 120_000)

  test('a database that stops answering without closing (a frozen host): a JSON 503 within the statement timeout and a second, readiness too, not a hang; then served again', async () => {
    const c = await start(viaRelayUrl, { TEAMDAY_DB_STATEMENT_TIMEOUT_MS: '2000' })
    try {
      // Its pool holds open connections first (the case that hung: a new one times out on connecting).
      for (let i = 0; i < 4; i++) {
        const warm = await req(c, 'GET', '/api/v1/tasks')
        expect([warm.status, warm.text.slice(0, 200)]).toEqual([200, expect.any(String)])
      }
      relay.freeze()
      try {
        const [list, ready, write] = await Promise.all([
          req(c, 'GET', '/api/v1/tasks', undefined, 30_000),
          req(c, 'GET', '/api/health/ready', undefined, 30_000),
          req(c, 'POST', '/api/v1/tasks', { title: 'while frozen' }, 30_000),
        ])
        // Measured before: the list cut at 30 s by the client, the write stuck 98 s, readiness no answer.
        // A deadline of 3 s (the statement timeout and a second); bounded well below the hang.
        for (const [what, r] of [['list', list], ['ready', ready], ['write', write]] as const) {
          expect([what, r.status, r.ms < 8000, r.status === 503 ? '' : r.text.slice(0, 300)]).toEqual([what, 503, true, ''])
        }
        expect(list.body?.code).toBe('service_unavailable')
      } finally {
        relay.thaw()
      }
      await until('served again', async () => (await req(c, 'GET', '/api/v1/tasks', undefined, 5000)).status === 200, 20_000)
    } finally {
      c.proc.kill('SIGKILL')
    }
  }, 90_000)

  test('connections reset by the database host after a freeze (a reboot, a partition healing) leave the server running: 503s, then served again, three times over', async () => {
    const c = await start(viaRelayUrl, { TEAMDAY_DB_STATEMENT_TIMEOUT_MS: '1500' })
    try {
      for (let round = 0; round < 3; round++) {
        await until('served', async () => (await req(c, 'GET', '/api/v1/tasks', undefined, 5000)).status === 200, 20_000)
        relay.freeze()
        const frozen = await req(c, 'GET', '/api/v1/tasks', undefined, 30_000)
        expect(frozen.status).toBe(503)
        // The host comes back and resets every connection it had (before: "error: read
        // ECONNRESET … at close (node:net)", an unhandled rejection, and the process ended).
        relay.cut()
        relay.thaw()
        relay.restore()
        await Bun.sleep(300)
        expect([round, c.proc.exitCode, c.proc.exitCode === null ? "" : c.output().slice(-3000)]).toEqual([round, null, ""])
      }
      await until('served again', async () => (await req(c, 'GET', '/api/v1/tasks', undefined, 5000)).status === 200, 20_000)
      expect(c.proc.exitCode).toBeNull()
      expect(c.output()).not.toContain('Bun v')
    } finally {
      c.proc.kill('SIGKILL')
    }
  }, 120_000)

  test("a run whose end the outage keeps from being recorded: 503 with a plain reason, never a 502 naming the database's address", async () => {
    const agent = (await req(b, 'POST', '/api/v1/agents', { name: 'S', systemPrompt: 'x' })).body.id
    const sync = req(a, 'POST', `/api/v1/agents/${agent}/execute`, { message: 'PAUSE 2000' }, 60_000)
    await Bun.sleep(700)
    relay.cut()
    const r = await sync
    await Bun.sleep(1500)
    relay.restore()
    expect([r.status, r.body?.code]).toEqual([503, 'service_unavailable'])
    expect(r.text).not.toContain('127.0.0.1')
    const id = r.body?.details?.executionId
    await until('the run failed', async () => (await rowOf(id)).status === 'failed')
    expect((await rowOf(id)).error ?? '').not.toContain('127.0.0.1')
  }, 60_000)

  test("the database lost just after the start (the first statement after the listening line) leaves the server serving", async () => {
    // With no console password yet, serve read the first admin for its hint once it listened: that
    // read failing (ECONNRESET) made serve exit while serving ("The database is not answering").
    // The hint's admin now comes with the start's counts, before the listening line; whatever
    // statement comes first after it (a request's, the housekeeping pass's), its answer lost, the
    // server serves on.
    const c = await start(viaRelayUrl)
    try {
      const lost = relay.loseAnswerOf(() => true)
      const first = req(c, 'GET', '/api/v1/agents', undefined, 30_000)
      await lost
      await first
      await Bun.sleep(500)
      expect([(await req(c, 'GET', '/api/health')).status, c.proc.exitCode]).toEqual([200, null])
      await until('served again', async () => (await req(c, 'GET', '/api/v1/agents', undefined, 5000)).status === 200)
    } finally {
      c.proc.kill('SIGKILL')
    }
  }, 60_000)

  test('the database address answers HTTP for a few seconds while authenticated requests arrive: ready and served within 5 s of the database answering again', async () => {
    // Before (postgres-js 3.4.9 unpatched): ~31 s (the requests' deadline), or not within 60 s at
    // all once a waiting query's deadline had passed (test/pg-driver-reconnect.test.ts): an
    // instance of its own whose statement timeout (1 s) lets the deadlines pass meanwhile.
    const c = await start(viaRelayUrl, { TEAMDAY_DB_STATEMENT_TIMEOUT_MS: '1000' })
    try {
      relay.impersonate()
      const during: Promise<{ status: number }>[] = []
      const t0 = Date.now()
      try {
        while (Date.now() - t0 < 5000) {
          for (let j = 0; j < 3; j++) during.push(req(c, 'GET', '/api/v1/agents', undefined, 90_000))
          during.push(req(c, 'GET', '/api/health/ready', undefined, 90_000))
          await Bun.sleep(100)
        }
      } finally {
        relay.genuine()
      }
      const back = Date.now()
      let readyAt = -1
      let servedAt = -1
      while ((readyAt < 0 || servedAt < 0) && Date.now() - back < 60_000) {
        const [r, l] = await Promise.all([req(c, 'GET', '/api/health/ready', undefined, 5000), req(c, 'GET', '/api/v1/agents', undefined, 5000)])
        if (readyAt < 0 && r.status === 200) readyAt = Date.now() - back
        if (servedAt < 0 && l.status === 200) servedAt = Date.now() - back
        await Bun.sleep(100)
      }
      // Each request of the outage was answered: a 503, or a 200 once the database was back.
      for (const r of await Promise.all(during)) expect([200, 503]).toContain(r.status)
      // Measured 0.2-0.9 s on the binary.
      expect({ ready: readyAt >= 0 && readyAt < 5000, served: servedAt >= 0 && servedAt < 5000, ms: { readyAt, servedAt } }).toEqual({ ready: true, served: true, ms: { readyAt, servedAt } })
    } finally {
      c.proc.kill('SIGKILL')
    }
  }, 120_000)
})
