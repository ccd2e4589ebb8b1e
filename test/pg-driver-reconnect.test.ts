/**
 * Two more fixes to postgres-js 3.4.9 (patches/postgres+3.4.9.patch), found chasing why a server
 * whose database address answered HTTP for a few seconds, with requests arriving, served again
 * only ~31 s after the database was back (the deadline of src/db/pg.ts, statement timeout + 1 s):
 *
 * - A connection reset by the network emits `error`, then `close` a turn later (Bun's node:net).
 *   In between it is still the pool's, and a query handed to it (a request arriving) went to its
 *   pipeline; `closed(hadError = true)` failed nothing, so the query hung until the caller's
 *   deadline, and the connection, connected again, kept it as sent: the next query's answer went
 *   to it, every later query waited for the answer of the one after it (a hang per query, and a
 *   query could be resolved with another's rows).
 * - A query cancelled while it waited as a connecting connection's first query (a deadline that
 *   passed while the database was out of reach): once connected, the connection skipped it and
 *   was never offered to the pool again (it stayed in the "connecting" queue), so every later
 *   query waited for a connection that would never come.
 *
 * Driven through the TCP relay of test/helpers/relay.ts: impersonate() resets every relayed
 * connection and answers new ones as an HTTP server would, genuine() lets the database answer.
 */
import { afterAll, describe, expect, test } from 'bun:test'
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import postgres from 'postgres'
import { needPostgres, PG_ADMIN_URL } from './helpers/pg'
import { startRelay } from './helpers/relay'

const root = dirname(require.resolve('postgres/package.json'))

// The binary bundles the driver from node_modules: `npm install` (patch-package, postinstall) applies the patch.
describe('the installed postgres-js carries both fixes (patches/postgres+3.4.9.patch; run npm install)', () => {
  for (const file of ['src/connection.js', 'cjs/src/connection.js', 'cf/src/connection.js']) {
    test(`${file}: closed() fails what was handed to the connection after its error; a cancelled first query gives the connection to the pool`, () => {
      const source = readFileSync(join(root, file), 'utf8')
      expect(source).toContain(";(query || sent.length) && error(Errors.connection('CONNECTION_CLOSED', options, socket))\n    query = null")
      expect(source).toContain('if (initial.cancelled && !initial.reserve) {')
    })
  }
})

const HAVE_PG = await needPostgres('test/pg-driver-reconnect.test.ts')

// Bun's node:net emits a reset connection's error after its close too (guardLateSocketErrors in the server).
const late = (e: unknown) => {
  if ((e as { code?: unknown })?.code !== 'ECONNRESET' && (e as { code?: unknown })?.code !== 'EPIPE') throw e
}
process.on('uncaughtException', late)
afterAll(() => {
  process.off('uncaughtException', late)
})

/** `p`'s value, its error's code, or 'hung' when it has not settled within `ms`. */
function settled<T>(p: PromiseLike<T>, ms = 8000): Promise<T | string> {
  let timer: ReturnType<typeof setTimeout> | undefined
  return Promise.race([
    Promise.resolve(p).then(
      (v) => v,
      (e: { code?: string }) => e?.code ?? 'failed',
    ),
    new Promise<string>((resolve) => (timer = setTimeout(() => resolve('hung'), ms))),
  ]).finally(() => clearTimeout(timer))
}

describe.skipIf(!HAVE_PG)('postgres-js: a pool connection reset by the network, then connected again', () => {
  const u = new URL(PG_ADMIN_URL)
  const relay = startRelay(u.hostname, Number(u.port || 5432))
  const via = new URL(PG_ADMIN_URL)
  via.port = String(relay.port)
  afterAll(() => relay.stop())

  test('a query handed to the connection between its error and its close fails at once; every later query gets its own answer', async () => {
    const sql = postgres(via.toString(), { max: 1, onnotice: () => {}, fetch_types: false, backoff: () => 0.05 })
    try {
      expect((await sql`SELECT 1 AS v`)[0]!.v).toBe(1)
      let stale: Promise<unknown> | undefined
      const inFlight = sql`SELECT pg_sleep(2)`.catch((e: { code?: string }) => {
        // The error has been reported; the socket's close comes a turn later. A request arriving now.
        stale = sql`SELECT 'stale' AS v`.then((rows) => rows[0]!.v)
        throw e
      })
      await Bun.sleep(200)
      relay.impersonate()
      relay.genuine()
      expect(await settled(inFlight)).toBe('ECONNRESET')
      // Old driver: 'hung' (nothing ever fails it).
      expect(await settled(stale!)).not.toBe('hung')
      // Old driver: the first of these is answered with nothing, each later one with the one after it's answer.
      for (let round = 0; round < 3; round++) {
        const answers = await Promise.all([1, 2, 3].map((n) => settled(sql`SELECT ${n}::int AS v`.then((rows) => rows[0]!.v))))
        expect({ round, answers }).toEqual({ round, answers: [1, 2, 3] })
      }
    } finally {
      await sql.end({ timeout: 1 })
    }
  }, 60_000)

  test('a query cancelled while it waited for a connection that could not connect: the connection, once connected, serves the next ones', async () => {
    const sql = postgres(via.toString(), { max: 1, onnotice: () => {}, fetch_types: false, backoff: () => 0.05 })
    try {
      expect((await sql`SELECT 1 AS v`)[0]!.v).toBe(1)
      // The connection is reset, and every new one is answered as an HTTP server would: the
      // driver connects again and again for the query that waits (src/db/pg.ts paces that).
      relay.impersonate()
      await Bun.sleep(100)
      const waiting = sql`SELECT 2 AS v`
      const answer = settled(waiting)
      await Bun.sleep(300)
      // Its deadline (src/db/pg.ts deadlined) passes: cancelled, it fails at once.
      waiting.cancel()
      expect(await answer).toBe('57014')
      relay.genuine()
      // Old driver: 'hung', for good (the only connection is never offered to the pool again).
      expect(await settled(sql`SELECT 3 AS v`.then((rows) => rows[0]!.v))).toBe(3)
    } finally {
      await sql.end({ timeout: 1 })
    }
  }, 60_000)
})
