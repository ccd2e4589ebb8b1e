/**
 * `teamday serve` started before its PostgreSQL is up (compose or systemd starting both at once,
 * a database restarting while the service restarts): it exited 1 at once with "The database is
 * not answering. (connect ECONNREFUSED …)". It now waits (TEAMDAY_DB_START_WAIT_MS, 60 s by
 * default), saying so in its log every few seconds with the URL masked and why, and starts once
 * the database answers; it still fails at once for what waiting cannot fix (a database that does
 * not exist), exits 1 saying so once the wait is over, and admin commands do not wait.
 * Real processes (`bun src/main.ts serve`) on a database reached through a relay
 * (test/helpers/relay.ts) that refuses connections until restored. Needs PostgreSQL.
 */
import { afterAll, describe, expect, test } from 'bun:test'
import postgres from 'postgres'
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { createTestDatabase, needPostgres, urlFor } from './helpers/pg'
import { startRelay } from './helpers/relay'
import { LISTENING, randomKey, spawnCollected } from './helpers/spawn'
import { makeTestCerts } from './helpers/tls-certs'

const HAVE_PG = await needPostgres('test/pg-start-wait.test.ts')
const MAIN = resolve(import.meta.dir, '../src/main.ts')
const stops: (() => void)[] = []
afterAll(() => {
  for (const s of stops) s()
})

/** A URL of a fresh database reached through a relay that refuses connections until `up()`; a password in it, which no output may show. */
async function databaseNotUpYet() {
  const url = new URL(urlFor(await createTestDatabase()))
  const relay = startRelay(url.hostname, Number(url.port || 5432))
  relay.cut()
  stops.push(() => relay.stop())
  url.port = String(relay.port)
  url.password = 's3cret-pw'
  return { url: url.toString(), up: () => relay.restore() }
}

/** `teamday` as the test runs it: the compiled binary (TEAMDAY_TEST_BINARY), else the sources under this Bun. */
const TEAMDAY = process.env.TEAMDAY_TEST_BINARY ? [resolve(process.env.TEAMDAY_TEST_BINARY)] : [process.execPath, '--no-env-file', MAIN]

function serve(url: string, extra: Record<string, string> = {}, command = ['serve', '--port', '0', '--host', '127.0.0.1']) {
  const env = { ...process.env, TEAMDAY_ENCRYPTION_KEY: randomKey(), TEAMDAY_LOG_FORMAT: 'json', TEAMDAY_LOG_LEVEL: 'warn', ...extra }
  delete (env as Record<string, string | undefined>).TEAMDAY_DATABASE_URL
  const child = spawnCollected([...TEAMDAY, ...command, '--db', url], { env })
  stops.push(() => child.proc.kill('SIGKILL'))
  return child
}

describe.skipIf(!HAVE_PG)('serve started before PostgreSQL is up', () => {
  // With TLS (serve's own HTTPS), whose SIGHUP is a certificate reload: one sent during the wait
  // (certbot's deploy hook, `systemctl reload`) ended it as a stop, and systemd left it stopped.
  test('waits, saying so with the URL masked and why, and starts once the database answers; with TLS a SIGHUP meanwhile is the reload it asks for, not a stop', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'teamday-wait-tls-'))
    stops.push(() => rmSync(dir, { recursive: true, force: true }))
    const certs = await makeTestCerts(dir)
    const live = { TEAMDAY_TLS_CERT: join(dir, 'live.cert.pem'), TEAMDAY_TLS_KEY: join(dir, 'live.key.pem') }
    copyFileSync(certs.certFile, live.TEAMDAY_TLS_CERT)
    copyFileSync(certs.keyFile, live.TEAMDAY_TLS_KEY)
    const db = await databaseNotUpYet()
    const child = serve(db.url, { TEAMDAY_DB_START_WAIT_MS: '30000', ...live, TEAMDAY_TLS_CHECK_MS: '0', TEAMDAY_LOG_LEVEL: 'info', TEAMDAY_ACCESS_LOG: 'off' })
    // Before: exit 1 here, "The database is not answering. (connect ECONNREFUSED …)".
    await child.waitFor(/database_waiting/, 15_000)
    // A renewal lands: new files, and SIGHUP.
    copyFileSync(certs.cert2File, live.TEAMDAY_TLS_CERT)
    copyFileSync(certs.key2File, live.TEAMDAY_TLS_KEY)
    child.proc.kill('SIGHUP')
    await Bun.sleep(2500)
    expect(child.proc.exitCode).toBeNull()
    expect(child.output()).not.toContain('teamday stopped')
    db.up()
    const port = Number((await child.waitFor(LISTENING, 30_000))[1])
    // The files are read again once it serves: the renewed certificate, said.
    expect((await child.waitFor(/"msg":"tls_reloaded".*"trigger":"SIGHUP"/, 15_000))[0]).toBeDefined()
    const health = await fetch(`https://localhost:${port}/api/health/ready`, { tls: { ca: certs.ca2 } } as RequestInit)
    expect(health.status).toBe(200)
    const waiting = child
      .output()
      .split('\n')
      .filter((l) => l.includes('database_waiting'))
      .map((l) => JSON.parse(l))
    expect(waiting.length).toBeGreaterThanOrEqual(1)
    expect(waiting[0]).toMatchObject({ level: 'warn', database: db.url.replace('s3cret-pw', '***'), giveUpAfterS: 30 })
    expect(waiting[0].reason).toContain('The database is not answering. (connect ECONNREFUSED')
    expect(child.output()).not.toContain('s3cret-pw')
    child.proc.kill('SIGTERM')
    expect(await child.exited(20_000)).toBe(0)
  }, 90_000)

  test('a database that goes away again after the first contact (restarting as the start goes on) is waited for too', async () => {
    const url = new URL(urlFor(await createTestDatabase()))
    const relay = startRelay(url.hostname, Number(url.port || 5432))
    stops.push(() => relay.stop())
    url.port = String(relay.port)
    // The migrations' first look at the journal reaches the database, its answer is lost and its
    // connection closed: what a restart right after the start's first statement does.
    const lost = relay.loseAnswerOf((sql) => sql.includes('__drizzle_migrations'))
    const child = serve(url.toString(), { TEAMDAY_DB_START_WAIT_MS: '30000' })
    await lost
    // Before: exit 1, "The database is not answering. (… CONNECTION_CLOSED …)".
    const port = Number((await child.waitFor(LISTENING, 30_000))[1])
    expect((await fetch(`http://127.0.0.1:${port}/api/health/ready`)).status).toBe(200)
    expect(child.output()).toContain('database_waiting')
    child.proc.kill('SIGTERM')
    expect(await child.exited(20_000)).toBe(0)
  }, 90_000)

  test('SIGTERM while it waits ends the wait at once: nothing started, exit 0 (a container\'s PID 1 ignored it)', async () => {
    const db = await databaseNotUpYet()
    const child = serve(db.url, { TEAMDAY_DB_START_WAIT_MS: '60000' })
    await child.waitFor(/database_waiting/, 15_000)
    const t0 = Date.now()
    child.proc.kill('SIGTERM')
    // Before: no handler yet, so the signal's default action (or, as PID 1, nothing at all).
    expect(await child.exited(20_000)).toBe(0)
    expect(Date.now() - t0).toBeLessThan(10_000)
    expect(child.output()).toContain('teamday stopped')
    expect(child.output()).not.toMatch(LISTENING)
  }, 60_000)

  // Between the end of the wait and the stop's handlers (the migrations, the first writes, the
  // listen, the first admin) a signal had no handler: its default action killed the process mid-start.
  test('SIGTERM once the wait is over, as the start goes on (here its first write, held by a lock): a clean stop, exit 0, nothing served', async () => {
    const url = urlFor(await createTestDatabase())
    const key = randomKey()
    // One connection holds the lock, the other watches.
    const sql = postgres(url, { max: 2, onnotice: () => {} })
    try {
      // Migrated, with its first admin: a later start.
      const once = serve(url, { TEAMDAY_ENCRYPTION_KEY: key })
      await once.waitFor(LISTENING, 30_000)
      once.proc.kill('SIGTERM')
      expect(await once.exited(20_000)).toBe(0)
      for (const [table, step] of [['executions', 'its lease sweep, before it listens'], ['users', 'its users counted, once it listens']] as const) {
        const { promise: release, resolve: go } = Promise.withResolvers<void>()
        const { promise: locked, resolve: held } = Promise.withResolvers<void>()
        const holder = sql.begin(async (tx) => {
          await tx.unsafe(`LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`)
          held()
          await release
        })
        await locked
        const child = serve(url, { TEAMDAY_ENCRYPTION_KEY: key, TEAMDAY_LOG_LEVEL: 'info' })
        try {
          // The start waits on the lock: past its wait for the database and its migrations.
          const deadline = Date.now() + 20_000
          let waiting: string | undefined
          while (!waiting && Date.now() < deadline) {
            const rows = await sql`SELECT query FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'teamday' AND wait_event_type = 'Lock'`
            waiting = rows[0]?.query
            if (!waiting) await Bun.sleep(50)
          }
          expect({ step, waiting: waiting?.includes(table) }).toEqual({ step, waiting: true })
          child.proc.kill('SIGTERM')
          await Bun.sleep(300)
          go()
          await holder
          // Before: killed by the signal (no exit code).
          expect({ step, code: await child.exited(20_000), signal: child.proc.signalCode }).toEqual({ step, code: 0, signal: null })
          expect(child.output()).toContain('teamday stopped')
          if (table === 'executions') expect(child.output()).not.toMatch(LISTENING)
          else expect(child.output()).toContain('"msg":"shutting_down","signal":"SIGTERM"')
        } finally {
          go()
          await holder.catch(() => {})
        }
      }
    } finally {
      await sql.end({ timeout: 1 })
    }
  }, 90_000)

  test('exits 1 saying so once its wait is over, within about that wait', async () => {
    const db = await databaseNotUpYet()
    const t0 = Date.now()
    const child = serve(db.url, { TEAMDAY_DB_START_WAIT_MS: '3000' })
    expect(await child.exited(30_000)).toBe(1)
    const ms = Date.now() - t0
    expect(child.output()).toContain(`error: the database at ${db.url.replace('s3cret-pw', '***')} did not come up within 3 s (TEAMDAY_DB_START_WAIT_MS): The database is not answering. (connect ECONNREFUSED`)
    expect(child.output()).not.toContain('s3cret-pw')
    // Waited (not at once), and not much past the wait (process start included).
    expect({ waited: ms >= 3000, bounded: ms < 15_000, ms }).toEqual({ waited: true, bounded: true, ms })
  }, 60_000)

  test('fails at once for what waiting cannot fix: a database that does not exist', async () => {
    const url = new URL(urlFor('teamday_no_such_database'))
    const t0 = Date.now()
    const child = serve(url.toString(), { TEAMDAY_DB_START_WAIT_MS: '60000' })
    expect(await child.exited(30_000)).toBe(1)
    expect(child.output()).toContain('database "teamday_no_such_database" does not exist')
    expect(child.output()).not.toContain('database_waiting')
    expect(Date.now() - t0).toBeLessThan(20_000)
  }, 60_000)

  test('an admin command does not wait: it fails at once, saying why', async () => {
    const db = await databaseNotUpYet()
    const t0 = Date.now()
    const child = serve(db.url, { TEAMDAY_DB_START_WAIT_MS: '60000' }, ['migrate'])
    expect(await child.exited(30_000)).toBe(1)
    expect(child.output()).toContain('error: The database is not answering. (connect ECONNREFUSED')
    expect(Date.now() - t0).toBeLessThan(20_000)
  }, 60_000)
})
