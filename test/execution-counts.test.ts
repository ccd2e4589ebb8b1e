/**
 * teamday_executions_total{status} and the execution_* log lines: a run is counted `started` when
 * it starts, and its end once (completed, failed, cancelled), by the instance that holds it. A run
 * cancelled before it started (queued, or claimed for its slot and not yet started) is never
 * `started`, and its cancel counts once. Found 2026-12-05: a queued run cancelled by a leak report
 * was counted nowhere, nor one cancelled between its claim and its start.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { eq } from 'drizzle-orm'
import { executions } from '../src/db/schema'
import { failLapsed, leaseTime } from '../src/engine/leases'
import { ageLeases } from './helpers/leases'
import { makeActor, makeTestApp, makeToken, type Actor, type TestApp } from './helpers/app'
import { startProviderDouble, type ProviderDouble } from './helpers/providers'
import { agent, getExec, until } from './helpers/scripted-provider'
import { sqliteOnly } from './helpers/pg'

let double: ProviderDouble
beforeAll(() => {
  double = startProviderDouble()
})
afterAll(() => double.stop())

const app = () => makeTestApp({ config: { openaiBaseUrl: double.openaiBaseUrl, defaultModel: 'test-model', maxConcurrentExecutions: 1 } })
const counts = (t: TestApp) => Object.fromEntries([...t.rt.metrics.executions.series.values()].map((s) => [s.labels.status, s.value]))
const cancelledLines = (t: TestApp, id: string) => t.logs.filter((l) => l.includes('"execution_cancelled"') && l.includes(id)).length
const start = async (t: TestApp, token: string, agentId: string, message: string) => {
  const r = await t.req('POST', `/api/v1/agents/${agentId}/execute`, { token, body: { message, async: true } })
  expect(r.status).toBe(202)
  return r.body.executionId as string
}
/**
 * Waits for the run to have started here (its `execution_started` line, logged with its count).
 * Not its row's `running`: the claim writes that a few statements before the start, and a cancel
 * in between is a run that never started (on a loaded PostgreSQL the leak report below came there
 * in 1 of 3 runs, and counts said { cancelled: 1 } without the start).
 */
const untilStarted = (t: TestApp, id: string) => until(() => t.logs.some((l) => l.includes('"execution_started"') && l.includes(id)))
/** One run holding the only slot (its model hangs) and one queued behind it, the second with `token` (the actor's own unless given). */
const busyAndQueued = async (t: TestApp, a: Actor, agentId: string, token = a.token) => {
  const busy = await start(t, a.token, agentId, 'HANG')
  await untilStarted(t, busy)
  return { busy, queued: await start(t, token, agentId, 'hi') }
}

describe('a run cancelled before it started', () => {
  test('queued, cancelled through the API: cancelled once, never started', async () => {
    const t = await app()
    const a = await makeActor(t)
    const ag = await agent(t, a)
    const { busy, queued } = await busyAndQueued(t, a, ag.id)
    expect((await t.req('POST', `/api/v1/executions/${queued}/cancel`, { token: a.token })).body.execution.status).toBe('cancelled')
    expect(counts(t)).toEqual({ started: 1, cancelled: 1 })
    expect(cancelledLines(t, queued)).toBe(1)
    await t.req('POST', `/api/v1/executions/${busy}/cancel`, { token: a.token })
    expect(counts(t)).toEqual({ started: 1, cancelled: 2 })
  })

  test('queued, cancelled by a leak report of its token: counted once, by the instance it waited on', async () => {
    const t = await app()
    const a = await makeActor(t, { role: 'admin' })
    const ag = await agent(t, a)
    const leaked = await makeToken(t, a)
    const { busy, queued } = await busyAndQueued(t, a, ag.id, leaked.token)
    expect((await t.req('POST', '/api/v1/credentials/revoke', { body: { credentials: [leaked.token] }, ip: '198.51.100.7' })).status).toBe(202)
    expect((await getExec(t, a, queued)).status).toBe('cancelled')
    // The instance it waits on lets it go on its next check (every 250 ms).
    await until(() => t.rt.engine.queued === 0)
    await Bun.sleep(300)
    expect(counts(t)).toEqual({ started: 1, cancelled: 1 })
    expect(cancelledLines(t, queued)).toBe(1)
    await t.req('POST', `/api/v1/executions/${busy}/cancel`, { token: a.token })
  })

  test('running, cancelled by a leak report of its token: counted and logged once, by the instance that runs it', async () => {
    const t = await app()
    const a = await makeActor(t, { role: 'admin' })
    const ag = await agent(t, a)
    const leaked = await makeToken(t, a)
    const run = await start(t, leaked.token, ag.id, 'HANG')
    await untilStarted(t, run)
    expect((await t.req('POST', '/api/v1/credentials/revoke', { body: { credentials: [leaked.token] }, ip: '198.51.100.8' })).status).toBe(202)
    // This instance stops it on its next check (every 250 ms) and logs its end: the report did too,
    // and the run had two execution_cancelled lines.
    await until(() => t.rt.engine.runningCount === 0)
    await Bun.sleep(300)
    expect(counts(t)).toEqual({ started: 1, cancelled: 1 })
    expect(cancelledLines(t, run)).toBe(1)
  })

  test.skipIf(sqliteOnly("the cancel is written synchronously at the claim's log line, which only SQLite's synchronous driver can do"))(
    'claimed for its slot, cancelled before its own start (by another instance, which leaves the count to the one holding the run): cancelled once, never started',
    async () => {
      const t = await app()
      const a = await makeActor(t)
      const ag = await agent(t, a)
      // The claim marks the row running; the run's start follows a few statements later. The cancel
      // comes in between, written as a cancel through another instance writes it (the row alone).
      let target = ''
      const push = t.logs.push.bind(t.logs)
      t.logs.push = (...lines: string[]) => {
        for (const l of lines) {
          if (target && l.includes('"execution_claimed"') && l.includes(target)) {
            const now = new Date(t.clock.now())
            t.db.update(executions).set({ status: 'cancelled', error: 'Cancelled by request', completedAt: now, updatedAt: now }).where(eq(executions.id, target)).run()
          }
        }
        return push(...lines)
      }
      const { busy, queued } = await busyAndQueued(t, a, ag.id)
      target = queued
      await t.req('POST', `/api/v1/executions/${busy}/cancel`, { token: a.token })
      await until(() => t.rt.engine.runningCount === 0 && t.rt.engine.queued === 0)
      expect((await getExec(t, a, queued)).status).toBe('cancelled')
      expect(counts(t)).toEqual({ started: 1, cancelled: 2 })
      expect(cancelledLines(t, queued)).toBe(1)
      expect(double.requests.filter((r) => JSON.stringify(r.body).includes('"hi"'))).toHaveLength(0)
    },
  )
})

/**
 * A cancel of a run that another instance owns (multi-instance PostgreSQL, or --reuse-port on one
 * SQLite file), told apart by that instance's lease. Found 2026-12: a run whose owner had stopped
 * renewing its lease (dead, or cut off from the database) was marked cancelled and its cancel
 * counted here, though no one ran it, and counted again by an owner that was only cut off once
 * it read the row; the answer said "cancelled" with nothing of what had happened.
 */
describe("a cancel of another instance's run", () => {
  const insertRun = async (t: TestApp, a: { organizationId: string; userId: string }, ag: { id: string; name: string }, status: 'running' | 'pending', leaseMs: number) => {
    const id = `exec_lease${Math.random().toString(36).slice(2, 12)}`
    const at = new Date(t.clock.now() - 60_000)
    await t.db.insert(executions).values({ id, organizationId: a.organizationId, userId: a.userId, agentId: ag.id, agentName: ag.name, agentVisibility: 'organization', chatId: 'c', sessionId: 'c', status, message: 'm', instanceId: 'inst_elsewhere', leaseExpiresAt: leaseTime(t.clock.now(), leaseMs) as unknown as Date, startedAt: status === 'running' ? at : null, createdAt: at, updatedAt: at }).run()
    return id
  }

  test('whose lease lapsed: failed as interrupted, as the lease sweep fails it, and the cancel answers 409 saying so; no cancel counted', async () => {
    const t = await app()
    const a = await makeActor(t)
    const ag = await agent(t, a)
    for (const status of ['running', 'pending'] as const) {
      const id = await insertRun(t, a, ag, status, -1)
      const r = await t.req('POST', `/api/v1/executions/${id}/cancel`, { token: a.token })
      expect([r.status, r.body.code]).toEqual([409, 'invalid_state'])
      expect(r.body.message).toContain(`Execution ${id} already failed (interrupted:`)
      expect(r.body.message).toContain('its lease lapsed')
      expect(r.body.details).toEqual({ executionId: id, status: 'failed', errorCode: 'service_unavailable' })
      const row = await getExec(t, a, id)
      expect([row.status, row.errorCode]).toEqual(['failed', 'service_unavailable'])
      const logs = (await t.req('GET', `/api/v1/executions/${id}/logs`, { token: a.token })).body.logs
      expect(logs.map((l: any) => l.event)).toEqual(['interrupted'])
      expect(cancelledLines(t, id)).toBe(0)
      // A second cancel: the same answer, nothing changed.
      expect((await t.req('POST', `/api/v1/executions/${id}/cancel`, { token: a.token })).body.details).toEqual({ executionId: id, status: 'failed', errorCode: 'service_unavailable' })
    }
    expect(counts(t)).toEqual({})
  })

  test('whose lease is live: cancelled, and its count left to the instance that holds it', async () => {
    const t = await app()
    const a = await makeActor(t)
    const ag = await agent(t, a)
    const id = await insertRun(t, a, ag, 'running', 30_000)
    const r = await t.req('POST', `/api/v1/executions/${id}/cancel`, { token: a.token })
    expect([r.status, r.body.execution.status]).toEqual([200, 'cancelled'])
    expect(cancelledLines(t, id)).toBe(0)
    expect(counts(t)).toEqual({})
  })
})

/**
 * A run of this instance that another instance's lease sweep failed (this one was cut off from the
 * database, or paused, for longer than a lease): this instance still holds it, stops it when it
 * reads its row, and counts its end, once. Found 2026-12 by an outside probe (a SIGSTOP of one of
 * two binaries on PostgreSQL): the sweep counts nothing (it runs nothing), and the owner stopped
 * the run without a count, so its teamday_executions_total said 3 started and 1 ended.
 */
describe("a run of this instance failed by another instance's lease sweep", () => {
  test('running and queued: each failed once, counted and logged here, where it was started or queued', async () => {
    const t = await app()
    const a = await makeActor(t)
    const ag = await agent(t, a)
    const { busy, queued } = await busyAndQueued(t, a, ag.id)
    // Another instance's sweep, once this one's leases have lapsed (as src/engine/leases.ts runs it there).
    // Cut off: it renews nothing, and time passes past any lease (TEAMDAY_EXECUTION_LEASE_MS is at most an hour).
    t.rt.engine.renewLeases = async () => {}
    await ageLeases(t, 3_600_001)
    expect(await failLapsed(t.rt.db, t.clock.now(), 'inst_elsewhere', undefined, [])).toBe(2)
    await until(() => t.rt.engine.runningCount === 0 && t.rt.engine.queued === 0)
    await until(() => counts(t).failed === 2)
    expect(counts(t)).toEqual({ started: 1, failed: 2 })
    for (const id of [busy, queued]) {
      expect(t.logs.filter((l) => l.includes('"execution_failed"') && l.includes(id))).toHaveLength(1)
      const row = await getExec(t, a, id)
      expect([row.status, row.errorCode]).toEqual(['failed', 'service_unavailable'])
    }
  })
})

/**
 * The sweep's instance writes the end of the runs it fails by its own clock, which may run behind
 * the clock of the instance that started them (another machine): a completedAt before startedAt,
 * a negative duration. Never earlier than the start; a pending run (no start) ends at its time.
 */
describe("a run failed by the lease sweep of an instance whose clock runs behind", () => {
  test('its completedAt is never before its startedAt; a pending one ends at the sweep\'s time', async () => {
    const t = await app()
    const a = await makeActor(t)
    const ag = await agent(t, a)
    const now = t.clock.now()
    const insert = async (startedAt: Date | null) => {
      const id = `exec_skew${Math.random().toString(36).slice(2, 12)}`
      const at = new Date(now - 60_000)
      await t.db.insert(executions).values({ id, organizationId: a.organizationId, userId: a.userId, agentId: ag.id, agentName: ag.name, agentVisibility: 'organization', chatId: 'c', sessionId: 'c', status: startedAt ? 'running' : 'pending', message: 'm', instanceId: 'inst_ahead', leaseExpiresAt: leaseTime(now, -1) as unknown as Date, startedAt, createdAt: at, updatedAt: at }).run()
      return id
    }
    const ahead = await insert(new Date(now + 10 * 60_000))
    const before = await insert(new Date(now - 1_000))
    const pending = await insert(null)
    expect(await failLapsed(t.rt.db, now, 'inst_behind', undefined, [], [ahead, before, pending])).toBe(3)
    const ended = async (id: string) => (await t.db.select({ status: executions.status, startedAt: executions.startedAt, completedAt: executions.completedAt }).from(executions).where(eq(executions.id, id)).get())!
    expect(await ended(ahead)).toEqual({ status: 'failed', startedAt: new Date(now + 10 * 60_000), completedAt: new Date(now + 10 * 60_000) })
    expect(await ended(before)).toEqual({ status: 'failed', startedAt: new Date(now - 1_000), completedAt: new Date(now) })
    expect(await ended(pending)).toEqual({ status: 'failed', startedAt: null, completedAt: new Date(now) })
  })
})
