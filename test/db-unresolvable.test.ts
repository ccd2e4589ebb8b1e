/**
 * PostgreSQL out of reach by name or by route (found by a review, 2026-12-06): a database host
 * name that stops resolving (deploy/compose.yaml's `db` while its container restarts: Docker's
 * DNS forgets it) fails every statement with ENOTFOUND or EAI_AGAIN, a host without a route with
 * EHOSTUNREACH or ENETUNREACH. None was in src/db/unavailable.ts's list: requests were a 500
 * internal_error rather than a 503 with Retry-After, and the end of a run written during the
 * outage was not tried again (its answer lost, its row `running` until its lease lapsed).
 *
 * The error is PostgreSQL's driver's own: a pool on a host name that never resolves
 * (`*.invalid`, RFC 6761), wrapped by drizzle as every statement's is. The app meets it through
 * its database handle, which this test makes throw it for a while (no server-side outage can be
 * a DNS one); it runs on either backend.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { eq } from 'drizzle-orm'
import { openPostgres } from '../src/db/pg'
import { executions } from '../src/db/schema'
import { commitInDoubt, databaseUnavailable, markCommitInDoubt, retryWhileUnavailable, unavailableForNow } from '../src/db/unavailable'
import { run } from '../src/main'
import { makeActor, makeTestApp } from './helpers/app'
import { startProviderDouble, type ProviderDouble } from './helpers/providers'
import { until } from './helpers/scripted-provider'

let double: ProviderDouble
/** What a statement on a pool whose host never resolves fails with, as drizzle hands it on. */
let unresolved: Error
beforeAll(async () => {
  // The model double's port: TEAMDAY_TEST_PORT_BASE (a machine that hands out fixed ranges), else any free one.
  double = startProviderDouble(Number(process.env.TEAMDAY_TEST_PORT_BASE ?? 0))
  const conn = openPostgres('postgres://teamday@teamday-test.invalid:5432/teamday', { pool: 1, statementTimeoutMs: 3000 } as Parameters<typeof openPostgres>[1])
  unresolved = await (conn.db as any).execute('SELECT 1').then(
    () => {
      throw new Error('a host name under .invalid resolved')
    },
    (e: Error) => e,
  )
  await conn.close()
})
afterAll(() => double.stop())

const coded = (code: string) => Object.assign(new Error(code), { code })

describe('PostgreSQL out of reach by name or by route', () => {
  test("the driver's error of a host name that does not resolve, and of one without a route, is the database out of reach: nothing was sent", () => {
    expect(['ENOTFOUND', 'EAI_AGAIN']).toContain((unresolved as any).cause?.code ?? (unresolved as any).code)
    for (const e of [unresolved, coded('ENOTFOUND'), coded('EAI_AGAIN'), coded('EHOSTUNREACH'), coded('ENETUNREACH'), coded('ECONNABORTED')]) {
      expect(databaseUnavailable(e)).not.toBeNull()
      expect(unavailableForNow(e)).toBe(true)
    }
    expect(databaseUnavailable(unresolved)).toBe("The database's host name does not resolve (its DNS lookup failed).")
    // A name that does not resolve: no connection was made, so no COMMIT can have landed.
    expect(commitInDoubt(markCommitInDoubt(unresolved))).toBe(false)
    expect(commitInDoubt(markCommitInDoubt(coded('EAI_AGAIN')))).toBe(false)
  })

  test("an admin command (or a start) on such a host fails at once, saying so as README shows", async () => {
    const err: string[] = []
    const env = { TEAMDAY_LOG_LEVEL: 'silent', TEAMDAY_ENCRYPTION_KEY: Buffer.alloc(32, 7).toString('base64') }
    const started = performance.now()
    const code = await run(['users', 'list', '--org', 'acme', '--db', 'postgres://teamday@teamday-test.invalid:5432/teamday'], { out: () => {}, err: (l) => void err.push(l), env })
    expect(code).toBe(1)
    expect(err.join('\n')).toContain("error: The database's host name does not resolve (its DNS lookup failed). (getaddrinfo")
    expect(performance.now() - started).toBeLessThan(10_000)
    const readme = await Bun.file(new URL('../README.md', import.meta.url)).text()
    expect(readme.includes("host name does not resolve (its DNS lookup failed). (getaddrinfo ENOTFOUND db)")).toBe(true)
  })

  test('a write is tried again while the name does not resolve', async () => {
    let calls = 0
    const write = async () => {
      if (++calls <= 2) throw unresolved
      return 'done'
    }
    expect(await retryWhileUnavailable(write, 5000)).toBe('done')
    expect(calls).toBe(3)
  })

  test("requests are 503 with Retry-After (JSON) while the name does not resolve, and a run's end written then is tried again: recorded with its answer once it resolves", async () => {
    const t = await makeTestApp({ config: { openaiBaseUrl: double.openaiBaseUrl, defaultModel: 'test-model', executionLeaseMs: 20_000 } })
    const a = await makeActor(t)
    const agentId = (await t.req('POST', '/api/v1/agents', { token: a.token, body: { name: 'A' } })).body.id
    const started = await t.req('POST', `/api/v1/agents/${agentId}/execute`, { token: a.token, body: { message: 'PAUSE 1500 the answer', async: true } })
    expect(started.status).toBe(202)
    const id = started.body.executionId as string
    const row = async () => (await t.db.select().from(executions).where(eq(executions.id, id)).get())!
    // The model is asked; it answers in 1.5 s.
    await until(async () => double.requests.some((q) => JSON.stringify(q.body).includes('the answer')), 10_000)
    const asked = performance.now()
    // The outage: every statement of the app fails as the driver fails it.
    const db = t.rt.connection.db as any
    const methods = ['select', 'insert', 'update', 'delete', 'transaction', 'execute', 'run', 'all', 'get']
    for (const m of methods) {
      db[m] = () => {
        throw unresolved
      }
    }
    let outage = true
    const end = () => {
      if (!outage) return
      outage = false
      for (const m of methods) delete db[m]
    }
    try {
      const r = await t.req('GET', `/api/v1/executions/${id}`, { token: a.token })
      expect([r.status, r.body?.code]).toEqual([503, 'service_unavailable'])
      expect(r.headers.get('retry-after')).toMatch(/^\d+$/)
      expect(r.headers.get('content-type')).toContain('application/json')
      expect(r.body.message).toContain("The database's host name does not resolve")
      // The model answers while the name still does not resolve: its end's write fails.
      await Bun.sleep(Math.max(0, asked + 2500 - performance.now()))
      end()
      // Before: the end was not tried again and the row stayed `running` until its lease lapsed.
      await until(async () => (await row()).status !== 'running', 10_000)
      expect((await row()).status).toBe('completed')
      expect((await row()).result).toBeTruthy()
    } finally {
      end()
    }
  }, 30_000)
})
