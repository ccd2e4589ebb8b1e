/**
 * A pool whose database address starts answering as something else (an HTTP server, a proxy that
 * accepts and closes): postgres-js connected again at once for as long as a query waited, some
 * thousands of connections a second, a quarter of a core busy until the database was back
 * (measured on the binary, 2026-12-06). src/db/pg.ts ConnectPacer spaces the attempts out (100 ms
 * doubling to 1 s), and service resumes within a few seconds of the database answering again.
 */
import { afterAll, describe, expect, test } from 'bun:test'
import { ConnectPacer, openPostgres } from '../src/db/pg'
import { needPostgres, PG_ADMIN_URL } from './helpers/pg'
import { startRelay } from './helpers/relay'

const HAVE_PG = await needPostgres('test/pg-reconnect-pacing.test.ts')

// Bun's node:net emits a refused or reset connection's error after its close, once postgres-js has
// removed its listeners (the server logs these: guardLateSocketErrors); here they are only those.
const late = (e: unknown) => {
  if ((e as { code?: unknown })?.code !== 'ECONNRESET' && (e as { code?: unknown })?.code !== 'EPIPE') throw e
}
process.on('uncaughtException', late)
afterAll(() => {
  process.off('uncaughtException', late)
})

describe('ConnectPacer', () => {
  test('no wait while connections are accepted; 100 ms doubling to 1 s after failures, from the last one; at once again after one is accepted', () => {
    let now = 0
    const p = new ConnectPacer(100, 1000, () => now)
    expect(p.wait()).toBe(0)
    const waits: number[] = []
    for (let i = 0; i < 8; i++) {
      p.ended(p.started())
      waits.push(p.wait())
    }
    expect(waits).toEqual([100, 200, 400, 800, 1000, 1000, 1000, 1000])
    now += 700
    expect(p.wait()).toBe(300)
    // An attempt that ends after another connection was accepted is not a failure.
    const t = p.started()
    p.accepted()
    expect(p.wait()).toBe(0)
    p.ended(t)
    expect(p.wait()).toBe(0)
  })
})

describe.skipIf(!HAVE_PG)('a pool whose database address answers as something else', () => {
  const u = new URL(PG_ADMIN_URL)
  const relay = startRelay(u.hostname, Number(u.port || 5432))
  const via = new URL(PG_ADMIN_URL)
  via.port = String(relay.port)
  const conn = openPostgres(via.toString(), { pool: 2, statementTimeoutMs: 3000 })
  afterAll(async () => {
    await conn.close().catch(() => {})
    relay.stop()
  })

  for (const [what, bytes] of [
    ['an HTTP server (answers 400 and closes)', undefined],
    ['a proxy that accepts and closes at once', ''],
  ] as const) {
    test(`${what}: a few connection attempts a second at most while it lasts, served again within a few seconds once the database answers`, async () => {
      expect((await conn.bounded(conn.client`SELECT 1 AS x`))[0]).toEqual({ x: 1 })
      relay.impersonate(bytes)
      try {
        const before = relay.accepted
        // Queries keep coming, each failing (a 503) within its deadline.
        const t0 = Date.now()
        while (Date.now() - t0 < 4000) {
          await Promise.all([1, 2, 3].map(() => conn.bounded(conn.client`SELECT 2`).then(() => 'ok', (e) => e.code)))
        }
        const attempts = relay.accepted - before
        // Before: some thousands in 4 s. Paced: a few dozen at most (two connections, up to 1 s apart).
        expect(attempts).toBeLessThan(100)
      } finally {
        relay.genuine()
      }
      const back = Date.now()
      for (;;) {
        const r = await conn.bounded(conn.client`SELECT 3 AS x`).then((rows) => rows[0], (e) => e.code)
        if (typeof r === 'object') break
        expect(Date.now() - back).toBeLessThan(10_000)
      }
      expect(Date.now() - back).toBeLessThan(10_000)
    }, 60_000)
  }
})

describe.skipIf(!HAVE_PG)("a statement's cancel request", () => {
  // Sent on a connection of its own that PostgreSQL closes unaccepted: not a failed attempt. Bun's
  // socket.connect() sets the socket's own write, so the pacer's look at the first bytes, hooked
  // before it, saw nothing, and each cancel (a statement past its deadline) counted as a failed
  // connection attempt: later connections paced, and after 3 s of them, waiting statements failed
  // "could not connect to the database" while it answered.
  // Over TLS (sslmode=prefer: the test server has none, but the driver asks first) its first
  // bytes are an SSLRequest, then ciphered: each cancel was counted as a failed attempt again.
  // The driver now says which connection is a cancel request's (patches/).
  for (const [what, url] of [
    ['plain', PG_ADMIN_URL],
    ['sslmode=prefer', `${PG_ADMIN_URL}?sslmode=prefer`],
  ] as const) {
    test(`${what}: not counted as a failed connection attempt, that of a statement sent behind another either`, async () => {
      const c = openPostgres(url, { pool: 1, statementTimeoutMs: 30_000 })
      const failing: number[] = []
      c.failUnreached = (ms: number) => void failing.push(ms)
      try {
        await c.firstContact('postgresql')
        // Both past their deadline (a probe's: 2 s) on the pool's one connection: the first
        // cancelled at once, the second (sent behind it) once the first has answered.
        const late = (q: Promise<unknown>) =>
          q.then(
            () => null,
            (e: { code?: string }) => e.code,
          )
        const [a, b] = await Promise.all([late(c.probe(c.client`SELECT pg_sleep(4)`)), late(c.probe(c.client`SELECT pg_sleep(4)`))])
        expect([a, b]).toEqual(['ETIMEDOUT', 'ETIMEDOUT'])
        // The cancel requests' connections opened and closed (the second's, a moment later).
        await Bun.sleep(1000)
        expect(failing).toEqual([])
        expect((await c.client`SELECT 1 AS one`)[0]!.one).toBe(1)
      } finally {
        await c.close()
      }
    }, 20_000)
  }

  test('is not counted as a failed connection attempt', async () => {
    const c = openPostgres(PG_ADMIN_URL, { pool: 2, statementTimeoutMs: 30_000 })
    const failing: number[] = []
    c.failUnreached = (ms: number) => void failing.push(ms)
    try {
      await c.firstContact('postgresql')
      // Past its deadline (a probe's: 2 s): cancelled by a request of its own.
      const e = await c.probe(c.client`SELECT pg_sleep(4)`).then(
        () => null,
        (e: { code?: string }) => e.code,
      )
      expect(e).toBe('ETIMEDOUT')
      // The cancel request's connection opened and closed.
      await Bun.sleep(500)
      expect(failing).toEqual([])
    } finally {
      await c.close()
    }
  }, 20_000)
})
