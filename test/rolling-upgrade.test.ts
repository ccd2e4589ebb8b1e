/**
 * A rolling upgrade: the first instance of a newer teamday migrates the database while this
 * version's instances still serve it (PostgreSQL behind a load balancer), or an operator runs a
 * new binary's `teamday migrate` beside a running SQLite server before restarting it. A running
 * server checked the schema only at its start, so it went on serving a schema it does not know:
 * what the newer version stores in a form it cannot read (a 500, as 0011 / 0023 "answer stored
 * once" was for the builds before it), and rows it writes without what the newer version added.
 *
 * Now it reads the migrations journal's newest row (serve every SCHEMA_CHECK_MS, readiness at each
 * probe): once it is newer than this build's newest migration, every request but liveness is 503
 * (readiness too, so a load balancer takes it out of rotation) and the log says so once.
 *
 * A newer teamday's migration is its row in drizzle's journal, with a later created_at: written
 * here as that teamday's start writes it.
 */
import { describe, expect, test } from 'bun:test'
import { Database } from 'bun:sqlite'
import { newestKnownMigration, runMigrations, runPgMigrations } from '../src/db/migrate'
import type { PgConnection } from '../src/db/pg'
import type { SqliteConnection } from '../src/db/connection'
import { makeActor, makeTestApp, type TestApp } from './helpers/app'
import { sqliteOnly } from './helpers/pg'
import { serveOnFile } from './helpers/serving-file'

/** Writes the journal row a newer teamday's migration leaves (a day after this build's newest). */
async function migrateAsNewerTeamday(t: TestApp): Promise<void> {
  const conn = t.rt.connection
  const later = newestKnownMigration(conn.dialect) + 86_400_000
  if (conn.dialect === 'sqlite') (conn as SqliteConnection).sync.$client.run('INSERT INTO __drizzle_migrations (hash, created_at) VALUES (?, ?)', ['newer', later])
  else await (conn as PgConnection).client.unsafe(`INSERT INTO "${t.pg!.schema}".__drizzle_migrations (hash, created_at) VALUES ('newer', ${later})`)
}

describe('a newer teamday migrates the database while this one serves', () => {
  test('readiness fails and every request but liveness is 503, saying why; logged once', async () => {
    const t = await makeTestApp()
    try {
      const a = await makeActor(t, { role: 'admin' })
      expect((await t.req('GET', '/api/health/ready')).status).toBe(200)
      expect((await t.req('POST', '/api/v1/tasks', { token: a.token, body: { title: 'before' } })).status).toBe(201)

      await migrateAsNewerTeamday(t)
      // The load balancer's probe is what notices first.
      const ready = await t.req('GET', '/api/health/ready')
      expect(ready.status).toBe(503)
      expect(ready.body.code).toBe('service_unavailable')
      expect(ready.body.message).toContain('Not ready: This instance runs teamday')
      expect(ready.body.message).toContain('a newer teamday has migrated its database')

      for (const [method, path, body] of [
        ['GET', '/api/v1/tasks', undefined],
        ['POST', '/api/v1/tasks', { title: 'after' }],
        ['GET', '/api/v1/tokens/self', undefined],
      ] as const) {
        const r = await t.req(method, path, { token: a.token, body })
        expect(r.status).toBe(503)
        expect(r.body.code).toBe('service_unavailable')
        expect(r.body.message).toContain('README: Upgrading and rolling back')
        expect(r.headers.get('retry-after')).not.toBeNull()
        expect(r.text).not.toContain(a.token)
      }
      // Nothing was written after it: the one task is the one from before.
      const conn = t.rt.connection
      const titles = conn.dialect === 'sqlite'
        ? (conn as SqliteConnection).sync.$client.query<{ title: string }, []>('SELECT title FROM tasks').all().map((r) => r.title)
        : (await (conn as PgConnection).client.unsafe(`SELECT title FROM "${t.pg!.schema}".tasks`)).map((r) => r.title as string)
      expect(titles).toEqual(['before'])
      // The console's pages too (its sign-in page reads nothing, and is refused all the same).
      expect((await t.req('GET', '/console/login')).status).toBe(503)
      // Liveness: the process is alive (an orchestrator restarting it would start the old binary
      // again, which refuses the database at its start).
      expect((await t.req('GET', '/api/health')).status).toBe(200)
      // The proof a `serve --reuse-port` start asks of the port's holder: that start is the newer
      // version's (SQLite's rolling restart on one port), refused as "another database" by a 503.
      const word = () => Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64url')
      expect((await t.req('GET', `/api/health/database-proof?challenge=${word()}&probe=${word()}`)).status).toBe(200)
      expect(t.logs.filter((l) => l.includes('"database_migrated_by_newer"')).length).toBe(1)
    } finally {
      await t.rt.close()
    }
  })

  test('probes that come together share one check: none answers ready beside one that turned the instance away', async () => {
    const t = await makeTestApp()
    try {
      await migrateAsNewerTeamday(t)
      // Each call read the journal on its own, and one that found the instance turned away by
      // another call during its read said "not superseded": readiness 200 on a refused instance.
      expect(await Promise.all([t.rt.checkSchema(), t.rt.checkSchema(), t.rt.checkSchema()])).toEqual([true, true, true])
      const probes = await Promise.all([t.req('GET', '/api/health/ready'), t.req('GET', '/api/health/ready')])
      expect(probes.map((r) => r.status)).toEqual([503, 503])
      expect(await t.rt.checkSchema()).toBe(true)
      expect(t.logs.filter((l) => l.includes('"database_migrated_by_newer"')).length).toBe(1)
    } finally {
      await t.rt.close()
    }
  })

  test("a start of this build on it is refused, naming this build and the database's newest migration", async () => {
    const t = await makeTestApp()
    try {
      await migrateAsNewerTeamday(t)
      const conn = t.rt.connection
      let message = ''
      try {
        if (conn.dialect === 'sqlite') runMigrations(conn as SqliteConnection, { name: 'the db' })
        else await runPgMigrations(conn as PgConnection, { name: 'the db' })
      } catch (e) {
        message = (e as Error).message
      }
      const later = new Date(newestKnownMigration(conn.dialect) + 86_400_000).toISOString().slice(0, 10)
      const known = new Date(newestKnownMigration(conn.dialect)).toISOString().slice(0, 10)
      expect(message).toContain('the db was migrated by a newer teamday (it has migrations this build does not know): run that version or a later one.')
      expect(message).toMatch(new RegExp(`This is teamday \\d+\\.\\d+\\.\\d+ \\(commit [^)]+\\), whose newest migration is \\d{4}_[a-z_]+ of ${known}; the database has one of ${later}`))
      expect(message).toContain('README: Upgrading and rolling back')
    } finally {
      await t.rt.close()
    }
  })

  test('a database put back to an older schema under a running server (a backup restored) is not written to: 503, readiness fails', async () => {
    const t = await makeTestApp()
    try {
      const a = await makeActor(t, { role: 'admin' })
      expect((await t.req('GET', '/api/health/ready')).status).toBe(200)
      // What a pg_restore of a backup from before the upgrade leaves: the journal without this build's newest migration.
      const conn = t.rt.connection
      if (conn.dialect === 'sqlite') (conn as SqliteConnection).sync.$client.run('DELETE FROM __drizzle_migrations WHERE created_at = ?', [newestKnownMigration('sqlite')])
      else await (conn as PgConnection).client.unsafe(`DELETE FROM "${t.pg!.schema}".__drizzle_migrations WHERE created_at = ${newestKnownMigration('pg')}`)
      const ready = await t.req('GET', '/api/health/ready')
      expect(ready.status).toBe(503)
      expect(ready.body.message).toContain('its database was replaced since it started by one of an older schema')
      const r = await t.req('POST', '/api/v1/tasks', { token: a.token, body: { title: 'after' } })
      expect(r.status).toBe(503)
      expect(r.body.message).toContain('README: Upgrading and rolling back')
      expect(t.logs.filter((l) => l.includes('"database_schema_older"')).length).toBe(1)
    } finally {
      await t.rt.close()
    }
  })

  test('a database migrated by this build (or an older one) is served as before', async () => {
    const t = await makeTestApp()
    try {
      expect(await t.rt.checkSchema()).toBe(false)
      expect((await t.req('GET', '/api/health/ready')).status).toBe(200)
      expect(t.logs.some((l) => l.includes('database_migrated_by_newer'))).toBe(false)
    } finally {
      await t.rt.close()
    }
  })

  test.skipIf(sqliteOnly('serve on a SQLite file; the check is the same on PostgreSQL (above)'))(
    "teamday serve notices by itself, without a readiness probe, within seconds",
    async () => {
      const s = await serveOnFile('teamday-rolling-', 'rolling')
      const { db, base } = s
      try {
        const headers = { authorization: `Bearer ${s.token}` }
        expect((await fetch(`${base}/api/v1/tasks`, { headers })).status).toBe(200)

        // A newer binary's `teamday migrate` beside the running server: its journal row.
        const other = new Database(db)
        other.exec('PRAGMA busy_timeout = 5000')
        other.run('INSERT INTO __drizzle_migrations (hash, created_at) VALUES (?, ?)', ['newer', newestKnownMigration('sqlite') + 86_400_000])
        other.close()
        let refused: Response | undefined
        for (const end = Date.now() + 15_000; !refused && Date.now() < end; ) {
          await Bun.sleep(200)
          const r = await fetch(`${base}/api/v1/tasks`, { headers })
          if (r.status === 503) refused = r
        }
        expect(refused?.status).toBe(503)
        expect(((await refused!.json()) as { message: string }).message).toContain('a newer teamday has migrated its database')
      } finally {
        await s.close()
      }
    },
    40_000,
  )
})
