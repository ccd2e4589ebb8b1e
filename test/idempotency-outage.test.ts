/**
 * An Idempotency-Key whose request answered while the database was out of reach (found reading
 * src/http/idempotency.ts, 2026-12-06): its key could be neither freed (a 503, "retry") nor given
 * its answer (a 2xx), so it stayed "in progress", and a retry after the outage, sent as the 503's
 * Retry-After said, was 409 idempotency_in_progress for 10 minutes when the outage outlasted the
 * five quick retries of its record (15 s), or came before the next of them.
 *
 * The outage is a real one on either backend: on SQLite another connection holds the file's
 * write lock (an admin command, a rekey: SQLITE_BUSY after the busy timeout, shortened here); on
 * PostgreSQL the app reaches the database through a relay this test cuts.
 */
import { afterAll, describe, expect, test } from 'bun:test'
import { eq } from 'drizzle-orm'
import { Elysia } from 'elysia'
import { authPlugin } from '../src/auth/plugin'
import { contextOf, withTx } from '../src/context'
import { databaseUnavailable } from '../src/db/unavailable'
import { AppError } from '../src/errors'
import { idempotencyKeys } from '../src/db/schema'
import { idempotency } from '../src/http/idempotency'
import { authorizerOf, makeActor } from './helpers/app'
import { ON_PG } from './helpers/pg'
import { appWithOutage as outageApp, cleanUpOutages, type Outage } from './helpers/outage'
import { until } from './helpers/scripted-provider'

const RELAY_PORT = Number(process.env.TEAMDAY_TEST_PORT_BASE ?? 0)

afterAll(() => cleanUpOutages())

/** An app on a database this test can take away (`down`) and give back (`up`). */
async function appWithOutage(): Promise<Outage> {
  const outage = await outageApp({ relayPort: RELAY_PORT, name: 'idem-outage' })
  // SQLITE_BUSY after 0.2 s rather than 5 s: the same failure, sooner (each blocks the event loop).
  if (!ON_PG) outage.t.db.$client.exec('PRAGMA busy_timeout = 200')
  return outage
}

describe('an Idempotency-Key whose request answered while the database was out of reach', () => {
  test('a retry after the outage runs (its request was answered 503) or is replayed (it committed): not 409 idempotency_in_progress', async () => {
    const { t, down, up, stop } = await appWithOutage()
    try {
      const a = await makeActor(t)
      const authorizer = authorizerOf(t)
      let runs = 0
      let commits = 0
      // A write the outage fails (its 503 says nothing was changed), and one done before it.
      const probe = () => t.db.update(idempotencyKeys).set({ method: 'POST' }).where(eq(idempotencyKeys.id, 'idem_none')).run()
      // The quick retries' schedule, shortened after its first delay (which the retry below must
      // come before) and told when it is spent: the outage then outlasts them, with no fixed wait.
      let quickRetriesSpent = 0
      const schedule = {
        recordRetriesMs: {
          *[Symbol.iterator]() {
            yield* [500, 100, 100, 100, 100]
            quickRetriesSpent++
          },
        },
        waitRoundMs: 250,
      }
      const app = new Elysia()
        .onError(({ error, set }) => {
          if (error instanceof AppError) {
            set.status = error.status
            return { code: error.code }
          }
          set.status = databaseUnavailable(error) !== null ? 503 : 500
          return { code: set.status === 503 ? 'service_unavailable' : 'internal_error' }
        })
        .use(idempotency(t.rt, (request, set) => authorizer.principal(request, set, 'agents:write'), schedule).plugin)
        .use(authPlugin(authorizer))
        .post(
          '/fails',
          async () => {
            runs++
            if (runs === 1) down()
            await probe()
            return { runs }
          },
          { auth: 'agents:write' },
        )
        .post(
          '/commits',
          async () => {
            await probe()
            commits++
            // The database goes once the request's work is done: its answer cannot be recorded.
            down()
            return { commits }
          },
          { auth: 'agents:write' },
        )
      const send = async (path: string, key: string) => {
        const r = await app.handle(new Request(`http://localhost${path}`, { method: 'POST', headers: { authorization: `Bearer ${a.token}`, 'idempotency-key': key } }))
        return { status: r.status, replayed: r.headers.get('idempotency-status'), body: (await r.json()) as any }
      }
      const logged = (event: string) => t.logs.filter((l) => l.includes(`"${event}"`)).length

      // 503: its key could not be freed. The retry the 503 asks for, once the database is back,
      // runs at once (before the next background attempt to free it).
      const failed = await send('/fails', 'k-503')
      expect([failed.status, failed.body.code]).toEqual([503, 'service_unavailable'])
      expect(logged('idempotency_record_retrying')).toBe(1)
      up()
      const retried = await send('/fails', 'k-503')
      expect([retried.status, retried.replayed, retried.body]).toEqual([200, null, { runs: 2 }])
      expect((await send('/fails', 'k-503')).replayed).toBe('replayed')
      expect(runs).toBe(2)

      // 200 whose answer could not be recorded, in an outage longer than the quick retries
      // (0.5 + 1 + 2 + 4 + 8 s in production; the schedule above here): recorded once the
      // database is back, without a retry to ask.
      expect(quickRetriesSpent).toBe(0)
      const done = await send('/commits', 'k-200')
      expect([done.status, done.body]).toEqual([200, { commits: 1 }])
      await until(() => logged('idempotency_record_retrying') === 2)
      await until(() => quickRetriesSpent === 1, 30_000)
      // A round of the wait that follows them, with the database still out of reach.
      await Bun.sleep(500)
      up()
      await until(() => logged('idempotency_recorded_late') === 2, 30_000)
      expect(logged('idempotency_not_recorded')).toBe(0)
      const replayed = await send('/commits', 'k-200')
      expect([replayed.status, replayed.replayed, replayed.body]).toEqual([200, 'replayed', { commits: 1 }])
      expect(commits).toBe(1)
    } finally {
      stop()
    }
  }, 90_000)

  test('a request whose transaction committed before the outage failed it: its key is kept, and the retry is not run again', async () => {
    const { t, down, up, stop } = await appWithOutage()
    try {
      const a = await makeActor(t)
      const authorizer = authorizerOf(t)
      let runs = 0
      const probe = (db = t.rt.db) => db.update(idempotencyKeys).set({ method: 'POST' }).where(eq(idempotencyKeys.id, 'idem_none')).run()
      const keys = idempotency(t.rt, (request, set) => authorizer.principal(request, set, 'agents:write'))
      const app = new Elysia()
        .onError(({ error, set }) => {
          if (error instanceof AppError) {
            set.status = error.status
            return { code: error.code, details: error.details }
          }
          set.status = databaseUnavailable(error) !== null ? 503 : 500
          return { code: set.status === 503 ? 'service_unavailable' : 'internal_error' }
        })
        .use(keys.plugin)
        .use(authPlugin(authorizer))
        .post(
          '/two-writes',
          async ({ request }) => {
            runs++
            // Its work commits (a transaction of the request's context, as a service's withTx)...
            // (keyOf is what the app's request contexts carry: src/app.ts.)
            await withTx(contextOf(t.rt, { kind: 'system' }, { idempotencyKeyId: keys.keyOf(request) }), (tx) => probe(tx.db))
            // ...then the database goes before its next write: a 503 for a request that did write.
            down()
            await probe()
            return { runs }
          },
          { auth: 'agents:write' },
        )
      const send = async () => {
        const r = await app.handle(new Request('http://localhost/two-writes', { method: 'POST', headers: { authorization: `Bearer ${a.token}`, 'idempotency-key': 'k-two' } }))
        return { status: r.status, body: (await r.json()) as any }
      }
      const failed = await send()
      expect([failed.status, failed.body.code]).toEqual([503, 'service_unavailable'])
      up()
      // Freed, the key let this retry run the work a second time.
      const retried = await send()
      expect(runs).toBe(1)
      expect([retried.status, retried.body.code, retried.body.details?.committed]).toEqual([409, 'idempotency_interrupted', true])
      const [row] = await t.db.select().from(idempotencyKeys).all()
      expect(row?.state).toBe('answer_lost')
    } finally {
      stop()
    }
  }, 60_000)
})
