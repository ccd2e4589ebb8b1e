/**
 * A server whose PostgreSQL address answered as something else for a few seconds (an HTTP server:
 * a wrong service behind the address during a failover, a proxy's error page) while authenticated
 * requests kept arriving: readiness and requests came back ~31 s after the database did, the
 * deadline of src/db/pg.ts (statement timeout + 1 s), on the binary as in-process. Two faults of
 * postgres-js 3.4.9 (test/pg-driver-reconnect.test.ts; patches/postgres+3.4.9.patch): queries
 * handed to a reset connection before its close hung and kept it off by one query once connected
 * again, and a connection whose first query was cancelled (its deadline passed while it could not
 * connect) was never offered to the pool again.
 */
import { afterAll, describe, expect, test } from 'bun:test'
import { makeActor } from './helpers/app'
import { appBehindRelay } from './helpers/outage'
import { ON_PG } from './helpers/pg'

const RELAY_PORT = Number(process.env.TEAMDAY_TEST_PORT_BASE ?? 0)

// Bun's node:net emits a reset connection's error after its close (the server logs these: guardLateSocketErrors).
const late = (e: unknown) => {
  if ((e as { code?: unknown })?.code !== 'ECONNRESET' && (e as { code?: unknown })?.code !== 'EPIPE') throw e
}
process.on('uncaughtException', late)
afterAll(() => {
  process.off('uncaughtException', late)
})

describe.skipIf(!ON_PG)('the database address answers HTTP for a few seconds while requests arrive', () => {
  test('readiness and an authenticated request answer 200 within 5 s of the database answering again', async () => {
    // The statement timeout short enough that requests' deadlines (it + 1 s) pass during the impostor.
    const { t, relay } = await appBehindRelay({ dbStatementTimeoutMs: 1000 }, RELAY_PORT)
    try {
      const a = await makeActor(t)
      expect((await t.req('GET', '/api/health/ready')).status).toBe(200)
      expect((await t.req('GET', '/api/v1/agents', { token: a.token })).status).toBe(200)
      relay.impersonate()
      const pending: Promise<number>[] = []
      const t0 = Date.now()
      while (Date.now() - t0 < 4000) {
        for (let i = 0; i < 3; i++) pending.push(t.req('GET', '/api/v1/agents', { token: a.token }).then((r) => r.status))
        pending.push(t.req('GET', '/api/health/ready').then((r) => r.status))
        await Bun.sleep(100)
      }
      relay.genuine()
      const back = Date.now()
      let ready = -1
      let served = -1
      while ((ready < 0 || served < 0) && Date.now() - back < 60_000) {
        const [r, s] = await Promise.all([t.req('GET', '/api/health/ready'), t.req('GET', '/api/v1/agents', { token: a.token })])
        if (ready < 0 && r.status === 200) ready = Date.now() - back
        if (served < 0 && s.status === 200) served = Date.now() - back
        if (ready < 0 || served < 0) await Bun.sleep(100)
      }
      // Before: ready at once here (readiness waits 2 s at most), but the authenticated request ~30 s later.
      expect({ ready: ready >= 0 && ready < 5000, served: served >= 0 && served < 5000, ms: { ready, served } }).toEqual({ ready: true, served: true, ms: { ready, served } })
      // The requests of the outage each got an answer: a 503 (said so) or, once back, a 200.
      for (const status of await Promise.all(pending)) expect([200, 503]).toContain(status)
    } finally {
      relay.stop()
    }
  }, 120_000)

  test('a request made while it answers so gets its 503 within seconds, not at its deadline (statement timeout + 1 s)', async () => {
    // The default statement timeout: the deadline of a statement is 31 s.
    const { t, relay } = await appBehindRelay({ dbStatementTimeoutMs: 30_000 }, RELAY_PORT)
    try {
      const a = await makeActor(t)
      expect((await t.req('GET', '/api/v1/agents', { token: a.token })).status).toBe(200)
      // Every pooled connection closed, and every new one meets the impostor.
      relay.impersonate()
      // The pool has seen its connections close (a statement sent on one closing is another case: in doubt).
      await Bun.sleep(300)
      const t0 = Date.now()
      const [read, write] = await Promise.all([
        t.req('GET', '/api/v1/agents', { token: a.token }),
        t.req('POST', '/api/v1/tasks', { token: a.token, body: { title: 'while away' } }),
      ])
      const ms = Date.now() - t0
      // Nothing was sent: a 503 that says so. Before: 31 s each (the deadline).
      expect({ read: read.status, write: write.status, committed: write.body?.details?.committed, fast: ms < 15_000, ms }).toEqual({ read: 503, write: 503, committed: 'none', fast: true, ms })
      relay.genuine()
      const back = Date.now()
      let served = -1
      while (served < 0 && Date.now() - back < 30_000) {
        if ((await t.req('GET', '/api/v1/agents', { token: a.token })).status === 200) served = Date.now() - back
        else await Bun.sleep(100)
      }
      expect(served).toBeGreaterThanOrEqual(0)
      const tasks = (await t.req('GET', '/api/v1/tasks', { token: a.token })).body
      expect(tasks.map((x: { title: string }) => x.title)).not.toContain('while away')
    } finally {
      relay.stop()
    }
  }, 120_000)
})
