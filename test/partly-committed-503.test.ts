/**
 * A 503 for the database said "Nothing was changed by this request" also when a first part of the
 * request had committed: a leak report of several tokens revokes each in a transaction of its
 * own, a PATCH commits its change and then reads what it answers with, a console form commits and
 * then renders its page (found reading the routes, 2026-12-06). The 503 now says what it knows:
 * `details.committed` is "none", "partly" (this request's work committed changes before the
 * statement that failed: src/db/request-writes.ts) or "unknown" (a COMMIT whose answer was lost).
 *
 * The outage is a real one: on PostgreSQL the app reaches the database through the relay of
 * test/helpers/relay.ts, which lets one chosen statement reach the server and loses its answer
 * with its connection; on SQLite another connection takes the file's write lock (an admin
 * command, a rekey: SQLITE_BUSY after the busy timeout, shortened here) just before the chosen
 * transaction begins.
 */
import { Database } from 'bun:sqlite'
import { afterAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { eq } from 'drizzle-orm'
import { personalAccessTokens, spaces } from '../src/db/schema'
import { makeActor, makeTestApp, makeToken, type TestApp } from './helpers/app'
import { appBehindRelay } from './helpers/outage'
import { ON_PG } from './helpers/pg'

const RELAY_PORT = Number(process.env.TEAMDAY_TEST_PORT_BASE ?? 0)
const dirs: string[] = []
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
  process.off('uncaughtException', late)
})
// Bun's node:net emits a reset connection's error after its close (the server logs these: guardLateSocketErrors).
const late = (e: unknown) => {
  if ((e as { code?: unknown })?.code !== 'ECONNRESET' && (e as { code?: unknown })?.code !== 'EPIPE') throw e
}
process.on('uncaughtException', late)

/**
 * An app whose database fails at the `nth` (1-based) statement matching `sql`: on PostgreSQL that
 * statement's answer is lost with its connection; on SQLite the transaction it opens cannot take
 * the write lock (the first: at once; a later one: once the transaction of the one before it
 * has committed; so only statements that begin a transaction's writes are chosen there).
 */
async function appFailingAt(): Promise<{ t: TestApp; failAt: (sql: RegExp, nth: number, inTransaction: boolean) => void; heal: () => void; stop: () => void }> {
  if (ON_PG) {
    const { t, relay } = await appBehindRelay(undefined, RELAY_PORT)
    return {
      t,
      failAt: (sql, nth, inTransaction) => {
        let n = 0
        void relay.loseAnswerOf((s, inTx) => inTx === inTransaction && sql.test(s) && ++n === nth)
      },
      heal: () => {},
      stop: () => relay.stop(),
    }
  }
  const dir = mkdtempSync(join(tmpdir(), 'teamday-partly-'))
  dirs.push(dir)
  const file = join(dir, 'teamday.db')
  const t = await makeTestApp({ dbPath: file })
  t.db.$client.exec('PRAGMA busy_timeout = 200')
  const client = (t.rt.connection as unknown as { client: Database }).client
  let other: Database | null = null
  let armed: { sql: RegExp; nth: number; seen: number } | null = null
  let writesPending = false
  const prepare = client.prepare.bind(client)
  const exec = client.exec.bind(client)
  // The chosen statement's transaction: its BEGIN IMMEDIATE finds the lock held by another connection.
  ;(client as { prepare: unknown }).prepare = (sql: string, ...rest: unknown[]) => {
    if (armed && armed.sql.test(sql) && ++armed.seen === armed.nth - 1) writesPending = true
    return (prepare as (...a: unknown[]) => unknown)(sql, ...rest)
  }
  ;(client as { exec: unknown }).exec = (sql: string, ...rest: unknown[]) => {
    if (armed && writesPending && /^COMMIT/i.test(sql)) {
      const r = (exec as (...a: unknown[]) => unknown)(sql, ...rest)
      writesPending = false
      armed = null
      lock()
      return r
    }
    return (exec as (...a: unknown[]) => unknown)(sql, ...rest)
  }
  const unlock = () => {
    other?.exec('ROLLBACK')
    other?.close()
    other = null
  }
  const lock = () => {
    other = new Database(file)
    other.exec('PRAGMA busy_timeout = 0')
    other.exec('BEGIN IMMEDIATE')
  }
  return {
    t,
    // The first: the lock is taken now; a later one: once the transaction before it has committed.
    failAt: (sql, nth) => (nth === 1 ? lock() : void (armed = { sql, nth, seen: 0 })),
    heal: unlock,
    stop: unlock,
  }
}

/**
 * `read`'s rows, read again when the connection it went to was the one the relay just closed (a
 * query handed to it between its reset and its close fails at once: CONNECTION_CLOSED).
 */
async function settledRead<T>(read: () => T | Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await read()
    } catch (e) {
      if (attempt >= 5) throw e
      await Bun.sleep(100)
    }
  }
}

const revokes = /^\s*update "personal_access_tokens" set "revoked_at"/i

describe('a 503 for the database says whether part of the request had committed', () => {
  test('a leak report of two tokens whose second revocation fails: 503, details.committed "partly", the first token revoked', async () => {
    const { t, failAt, heal, stop } = await appFailingAt()
    try {
      const a = await makeActor(t)
      const first = await makeToken(t, a)
      const second = await makeToken(t, a)
      failAt(revokes, 2, true)
      const r = await t.req('POST', '/api/v1/credentials/revoke', { body: { credentials: [first.token, second.token] }, ip: '198.51.100.7' })
      heal()
      expect(r.status).toBe(503)
      // Before: "… Nothing was changed by this request; retry in a moment." and no details.
      expect(r.body.details).toEqual({ committed: 'partly' })
      expect(r.body.message).toContain("Part of this request's changes had already been committed")
      expect(r.body.message).not.toContain('Nothing was changed')
      const revokedAt = async (id: string) => ((await settledRead(() => t.db.select().from(personalAccessTokens).where(eq(personalAccessTokens.id, id)).all())) as { revokedAt: Date | null }[])[0]!.revokedAt
      expect(await revokedAt(first.id)).not.toBeNull()
      expect(await revokedAt(second.id)).toBeNull()
    } finally {
      stop()
    }
  }, 60_000)

  test('a failure in the request\'s only transaction: 503, details.committed "none", nothing changed', async () => {
    const { t, failAt, heal, stop } = await appFailingAt()
    try {
      const a = await makeActor(t)
      const first = await makeToken(t, a)
      const second = await makeToken(t, a)
      failAt(revokes, 1, true)
      const r = await t.req('POST', '/api/v1/credentials/revoke', { body: { credentials: [first.token, second.token] }, ip: '198.51.100.9' })
      heal()
      expect(r.status).toBe(503)
      expect(r.body.details).toEqual({ committed: 'none' })
      expect(r.body.message).toContain('Nothing was changed by this request')
      const rows = (await settledRead(() => t.db.select().from(personalAccessTokens).where(eq(personalAccessTokens.id, first.id)).all())) as { revokedAt: Date | null }[]
      expect(rows[0]!.revokedAt).toBeNull()
    } finally {
      stop()
    }
  }, 60_000)

  test.skipIf(!ON_PG)('a PATCH whose change committed and whose read for the answer fails: 503, details.committed "partly", the change made', async () => {
    const { t, failAt, heal, stop } = await appFailingAt()
    try {
      const a = await makeActor(t)
      const made = await t.req('POST', '/api/v1/spaces', { token: a.token, body: { name: 'Before' } })
      expect(made.status).toBe(201)
      const id = made.body.space.id as string
      // The read of the space's secret names, after the change's transaction committed.
      failAt(/^\s*select "key" from "secrets"/i, 1, false)
      const r = await t.req('PATCH', `/api/v1/spaces/${id}`, { token: a.token, body: { name: 'After' } })
      heal()
      expect(r.status).toBe(503)
      expect(r.body.details).toEqual({ committed: 'partly' })
      const [row] = (await settledRead(() => t.db.select().from(spaces).where(eq(spaces.id, id)).all())) as { name: string }[]
      expect(row!.name).toBe('After')
    } finally {
      stop()
    }
  }, 60_000)

  test.skipIf(!ON_PG)('the same PATCH sent with an Idempotency-Key: its retry with the key answers 409 idempotency_interrupted (details.committed: true), as the 503 says, and changes nothing again', async () => {
    const { t, failAt, heal, stop } = await appFailingAt()
    try {
      const a = await makeActor(t)
      const made = await t.req('POST', '/api/v1/spaces', { token: a.token, body: { name: 'Before' } })
      const id = made.body.space.id as string
      failAt(/^\s*select "key" from "secrets"/i, 1, false)
      const headers = { 'idempotency-key': 'partly-1' }
      const r = await t.req('PATCH', `/api/v1/spaces/${id}`, { token: a.token, body: { name: 'After' }, headers })
      heal()
      expect(r.status).toBe(503)
      expect(r.body.details).toEqual({ committed: 'partly' })
      expect(r.body.message).toContain('idempotency_interrupted')
      let again = await t.req('PATCH', `/api/v1/spaces/${id}`, { token: a.token, body: { name: 'After' }, headers })
      // The key's record may still be on its way (recorded again in the background while the connection was lost).
      for (let i = 0; i < 50 && again.body?.code === 'idempotency_in_progress'; i++) {
        await Bun.sleep(200)
        again = await t.req('PATCH', `/api/v1/spaces/${id}`, { token: a.token, body: { name: 'After' }, headers })
      }
      expect(again.status).toBe(409)
      expect(again.body.code).toBe('idempotency_interrupted')
      expect(again.body.details.committed).toBe(true)
    } finally {
      stop()
    }
  }, 60_000)
})
