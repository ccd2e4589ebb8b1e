/**
 * A PostgreSQL transaction its caller was answered for before it ended: the caller got its 503
 * ("nothing was changed"), so nothing of the transaction may be written after that.
 *
 * Found probing the binary (2026-12-05): a BEGIN answered after the deadline (the statement
 * timeout and a second: a pool connection freed late, a network that healed) failed the request
 * with 503, and the transaction's code then ran all the same and committed (src/db/pg.ts); and
 * the code of a transaction whose connection closed went on after the driver had given the
 * transaction up, its next statement committed outside it once the pool had connected again
 * (patches/postgres+3.4.9.patch; the driver alone: test/pg-driver-patch.test.ts).
 */
import { describe, expect, test } from 'bun:test'
import postgres from 'postgres'
import { sql } from 'drizzle-orm'
import { PgConnection } from '../src/db/pg'
import { databaseUnavailable } from '../src/db/unavailable'
import { createTestDatabase, needPostgres, PG_ADMIN_URL, urlFor } from './helpers/pg'

const HAVE_PG = await needPostgres('test/pg-transaction-abandoned.test.ts')

/** A table and a one-connection PgConnection on a fresh database, whose deadline is `txWaitMs` and a second. */
async function setUp(txWaitMs: number) {
  const url = urlFor(await createTestDatabase())
  const client = postgres(url, { max: 1, onnotice: () => {}, fetch_types: false })
  await client`CREATE TABLE rows_written (v text)`
  return { client, conn: new PgConnection(client, undefined, txWaitMs) }
}

const insert = (db: unknown, v: string) => (db as { execute: (q: unknown) => Promise<unknown> }).execute(sql`INSERT INTO rows_written VALUES (${v})`)

describe.skipIf(!HAVE_PG)('a transaction given up before it ended', () => {
  test('a BEGIN answered past the deadline: the request has its 503, and the transaction writes nothing', async () => {
    // Deadline 1.2 s; the only connection is busy for 3 s, so the BEGIN waits past it.
    const { client, conn } = await setUp(200)
    try {
      const busy = client`SELECT pg_sleep(3)`.then(() => 'slept')
      let ran = false
      const outcome = await conn
        .transaction(async (tx) => {
          ran = true
          await insert(tx, 'late')
        })
        .then(
          () => 'committed',
          (e: unknown) => e,
        )
      expect(databaseUnavailable(outcome)).toBe('The database is not answering.')
      expect(await busy).toBe('slept')
      // Queued behind the transaction on the one connection: answered once it has ended.
      const rows = await client`SELECT v FROM rows_written`
      expect({ ran, rows: rows.map((r) => r.v) }).toEqual({ ran: false, rows: [] })
    } finally {
      await client.end({ timeout: 1 })
    }
  }, 30_000)

  test('its connection terminated while its code runs: the code\'s later statements are refused, nothing is written', async () => {
    const { client, conn } = await setUp(20_000)
    const admin = postgres(PG_ADMIN_URL, { max: 1, onnotice: () => {} })
    try {
      const { promise: gate, resolve: release } = Promise.withResolvers<void>()
      const { promise: pid, resolve: started } = Promise.withResolvers<number>()
      const { promise: later, resolve: said } = Promise.withResolvers<unknown>()
      const outcome = conn
        .transaction(async (tx) => {
          const rows = (await (tx as unknown as { execute: (q: unknown) => Promise<{ pid: number }[]> }).execute(sql`SELECT pg_backend_pid() AS pid`)) as { pid: number }[]
          await insert(tx, 'first')
          started(rows[0]!.pid)
          await gate
          said(await insert(tx, 'second').then(() => 'written', (e: unknown) => e))
        })
        .then(
          () => 'committed',
          (e: unknown) => e,
        )
      await admin`SELECT pg_terminate_backend(${await pid})`
      // A 503 for the request (postgres-js: CONNECTION_CLOSED).
      expect(databaseUnavailable(await outcome)).not.toBeNull()
      release()
      const second = await later
      expect(second).toBeInstanceOf(Error)
      expect((await client`SELECT v FROM rows_written`).map((r) => r.v)).toEqual([])
    } finally {
      await client.end({ timeout: 1 })
      await admin.end({ timeout: 1 })
    }
  }, 30_000)
})
