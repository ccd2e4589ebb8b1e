/**
 * What counts as a request's committed change (src/db/request-writes.ts), which a 503 for the
 * database reports as `details.committed: "partly"`: a commit that changed rows once the
 * request's work began, through either backend's connection. Reads never count, also a WITH …
 * SELECT returning rows, and SQLite's run() of a read (whose changes() is the previous write's).
 */
import { afterAll, describe, expect, test } from 'bun:test'
import { sql } from 'drizzle-orm'
import { openDatabase } from '../src/db/client'
import type { Db, DbConnection } from '../src/db/connection'
import { openPostgres } from '../src/db/pg'
import { modifies, requestCommitted, requestWorkStarted, trackRequestWrites } from '../src/db/request-writes'
import { needPostgres, PG_ADMIN_URL } from './helpers/pg'

const HAVE_PG = await needPostgres('test/request-writes.test.ts')

type Conn = DbConnection & { db: Db; close(): unknown }

/** Whether `work`, run as a request's work (after `before`, its bookkeeping), counted as committed. */
function counted(before: () => Promise<unknown>, work: () => Promise<unknown>): Promise<boolean> {
  return trackRequestWrites(async () => {
    await before()
    requestWorkStarted()
    await work()
    return requestCommitted()
  })
}

const none = () => Promise.resolve()

function cases(name: string, open: () => Promise<Conn>) {
  describe(name, () => {
    let conn: Conn
    const run = (q: ReturnType<typeof sql>) => (conn.db as unknown as { run(q: unknown): Promise<unknown> }).run(q)
    const all = (q: ReturnType<typeof sql>) => (conn.db as unknown as { all(q: unknown): Promise<unknown> }).all(q)
    afterAll(() => conn?.close())

    test('a write outside a transaction that changed a row counts; one that changed none, a read, and a WITH … SELECT do not', async () => {
      conn = await open()
      await run(sql`CREATE TABLE rw_t (id integer primary key, v integer)`)
      expect(await counted(none, () => run(sql`INSERT INTO rw_t (id, v) VALUES (1, 1)`))).toBe(true)
      expect(await counted(none, () => run(sql`UPDATE rw_t SET v = 2 WHERE id = 99`))).toBe(false)
      expect(await counted(none, () => all(sql`SELECT v FROM rw_t`))).toBe(false)
      // The write just before makes SQLite's changes() 1 for the run() of a read after it.
      expect(await counted(() => run(sql`UPDATE rw_t SET v = 3 WHERE id = 1`), () => all(sql`WITH x AS (SELECT v FROM rw_t) SELECT v FROM x`))).toBe(false)
      expect(await counted(() => run(sql`UPDATE rw_t SET v = 4 WHERE id = 1`), () => run(sql`WITH x AS (SELECT v FROM rw_t) SELECT v FROM x`))).toBe(false)
      expect(await counted(none, () => run(sql`WITH x AS (SELECT 1 AS id) UPDATE rw_t SET v = 5 WHERE id IN (SELECT id FROM x)`))).toBe(true)
    })

    test('a transaction counts once committed, when it changed a row; one rolled back or that changed nothing does not; bookkeeping before the work does not', async () => {
      expect(await counted(none, () => conn.transaction(async (tx) => (tx as unknown as { run(q: unknown): Promise<unknown> }).run(sql`UPDATE rw_t SET v = 6 WHERE id = 1`)))).toBe(true)
      expect(await counted(none, () => conn.transaction(async (tx) => (tx as unknown as { run(q: unknown): Promise<unknown> }).run(sql`UPDATE rw_t SET v = 7 WHERE id = 99`)))).toBe(false)
      expect(
        await counted(none, () =>
          conn
            .transaction(async (tx) => {
              await (tx as unknown as { run(q: unknown): Promise<unknown> }).run(sql`UPDATE rw_t SET v = 8 WHERE id = 1`)
              throw new Error('rolled back')
            })
            .catch(() => {}),
        ),
      ).toBe(false)
      expect(await counted(() => run(sql`UPDATE rw_t SET v = 9 WHERE id = 1`), none)).toBe(false)
      // Outside any request: nothing to count, nothing thrown.
      await run(sql`UPDATE rw_t SET v = 10 WHERE id = 1`)
      expect(requestCommitted()).toBe(false)
    })
  })
}

test('modifies: the statements that may change rows', () => {
  expect(['insert into "a" values (1)', ' UPDATE t SET v = 1', 'delete from "t"', 'WITH x AS (SELECT 1) UPDATE t SET v = 1', 'with x as (select 1) delete from "t"'].map(modifies)).toEqual([true, true, true, true, true])
  expect(['select 1', 'WITH RECURSIVE d(id) AS (SELECT id FROM e) SELECT * FROM d', 'with x as (select 1) select updated_at from "t"'].map(modifies)).toEqual([false, false, false])
})

cases('SQLite', async () => openDatabase(':memory:') as unknown as Conn)

describe.skipIf(!HAVE_PG)('PostgreSQL', () => {
  const schema = `rw_${process.pid}_${Date.now()}`
  cases('a pool', async () => {
    const conn = openPostgres(PG_ADMIN_URL, { pool: 2, statementTimeoutMs: 5000 })
    await conn.client.unsafe(`CREATE SCHEMA ${schema}`)
    await conn.close()
    const scoped = openPostgres(PG_ADMIN_URL, { pool: 2, statementTimeoutMs: 5000, schema })
    // The transactions take the advisory lock and read nothing of teamday's tables.
    return scoped as unknown as Conn
  })
  afterAll(async () => {
    const conn = openPostgres(PG_ADMIN_URL, { pool: 1, statementTimeoutMs: 5000 })
    await conn.client.unsafe(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {})
    await conn.close()
  })
})
