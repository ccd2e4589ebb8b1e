/**
 * PostgreSQL with a least-privilege role: the schema is created and upgraded by the owner
 * (`teamday migrate`), and the instances connect as a role that may only read and write rows.
 * Every command ran `CREATE SCHEMA IF NOT EXISTS drizzle` first, which needs CREATE on the
 * database even when the schema exists: nothing started, and the message said "grant the role
 * its privileges again". An up-to-date database is now only read at start; one with migrations
 * to apply says to run `teamday migrate` as the owner, and what the role needs.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import postgres from 'postgres'
import type { Io } from '../src/cli/common'
import { run } from '../src/main'
import { loadConfig } from '../src/config'
import { createRuntime } from '../src/runtime'
import { createApp } from '../src/app'
import { createTestDatabase, holdMigrationLock, needPostgres, urlFor } from './helpers/pg'

const HAVE_PG = await needPostgres('test/pg-least-privilege.test.ts')
const KEY = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64')
const role = `teamday_lp_${crypto.randomUUID().replaceAll('-', '').slice(0, 12)}`

async function cli(argv: string[]) {
  const out: string[] = []
  const err: string[] = []
  const io: Io = { out: (s) => out.push(s), err: (s) => err.push(s), env: { TEAMDAY_LOG_LEVEL: 'silent', TEAMDAY_ENCRYPTION_KEY: KEY } }
  const code = await run(argv, io)
  return { code, out: out.join('\n'), err: err.join('\n') }
}

/** `url` as the least-privilege role. */
function asRole(url: string): string {
  const u = new URL(url)
  u.username = role
  return u.toString()
}

describe.skipIf(!HAVE_PG)('PostgreSQL: a role that may only read and write rows', () => {
  let owner: postgres.Sql
  let migrated = ''
  let empty = ''

  beforeAll(async () => {
    migrated = urlFor(await createTestDatabase())
    empty = urlFor(await createTestDatabase())
    owner = postgres(migrated, { max: 1, onnotice: () => {} })
    await owner.unsafe(`CREATE ROLE ${role} LOGIN`)
    // The owner migrates; the role gets what README's "Running several instances" lists.
    expect((await cli(['migrate', '--db', migrated])).code).toBe(0)
    await owner.unsafe(
      `GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ${role}; GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO ${role}; ` +
        `GRANT USAGE ON SCHEMA drizzle TO ${role}; GRANT SELECT ON drizzle.__drizzle_migrations TO ${role}`,
    )
  }, 60_000)

  afterAll(async () => {
    await owner.end({ timeout: 1 })
    // Its grants go first (the databases themselves are dropped at the end of the run: test/helpers/preload.ts).
    for (const url of [migrated, empty]) {
      const db = postgres(url, { max: 1, onnotice: () => {} })
      await db.unsafe(`DROP OWNED BY ${role}`)
      await db.end({ timeout: 1 })
    }
    const admin = postgres(urlFor('postgres'), { max: 1, onnotice: () => {} })
    await admin.unsafe(`DROP ROLE IF EXISTS ${role}`)
    await admin.end({ timeout: 1 })
  })

  test('on a migrated database the admin commands and the server run as that role', async () => {
    const db = asRole(migrated)
    const made = await cli(['users', 'create', '--email', 'lp@example.com', '--org', 'acme', '--role', 'admin', '--db', db])
    expect([made.code, made.err]).toEqual([0, expect.not.stringContaining('error')])
    const token = await cli(['tokens', 'create', '--email', 'lp@example.com', '--name', 'ci', '--db', db])
    expect(token.code).toBe(0)
    expect((await cli(['users', 'list', '--org', 'acme', '--db', db])).out).toContain('lp@example.com')
    // `migrate` itself finds nothing to do, and says so, without creating anything.
    expect((await cli(['migrate', '--db', db])).code).toBe(0)
    const rt = await createRuntime(loadConfig({ TEAMDAY_ENCRYPTION_KEY: KEY, TEAMDAY_LOG_LEVEL: 'silent' }, { dbPath: db, dbPool: 2 }))
    try {
      const app = createApp(rt, { peerAddress: () => '127.0.0.1' })
      const headers = { authorization: `Bearer ${token.out.trim()}`, 'content-type': 'application/json' }
      const created = await app.handle(new Request('http://localhost/api/v1/tasks', { method: 'POST', headers, body: JSON.stringify({ title: 'as the app role' }) }))
      expect(created.status).toBe(201)
      const listed = await (await app.handle(new Request('http://localhost/api/v1/tasks', { headers }))).json()
      expect((listed as { title: string }[]).map((x) => x.title)).toEqual(['as the app role'])
      expect((await app.handle(new Request('http://localhost/api/health/ready'))).status).toBe(200)
    } finally {
      await rt.close()
    }
  }, 60_000)

  test('a database without teamday tables: migrate says to run it as the owner, and what the role needs; other commands that it is not a teamday database', async () => {
    const e = postgres(empty, { max: 1, onnotice: () => {} })
    try {
      await e.unsafe(`GRANT USAGE ON SCHEMA public TO ${role}`)
    } finally {
      await e.end({ timeout: 1 })
    }
    const r = await cli(['migrate', '--db', asRole(empty)])
    expect(r.code).toBe(1)
    expect(r.err).toContain('the database has no teamday tables yet')
    expect(r.err).toContain('teamday migrate --db')
    expect(r.err).toContain('USAGE on schema drizzle')
    expect(r.err).not.toContain('privileges again')
    const list = await cli(['users', 'list', '--org', 'acme', '--db', asRole(empty)])
    expect([list.code, list.err]).toEqual([1, expect.stringContaining('is not a teamday database')])
  }, 60_000)

  test('migrated while it waited for the lock (the owner running teamday migrate): it starts, creating nothing', async () => {
    // One journal row fewer: this start finds a migration to apply and waits for the lock the "owner" holds.
    const [lastRow] = await owner`SELECT id, hash, created_at FROM drizzle.__drizzle_migrations ORDER BY created_at DESC LIMIT 1`
    await owner`DELETE FROM drizzle.__drizzle_migrations WHERE id = ${lastRow!.id}`
    // The "migration": its journal row comes back, committed with the lock's release.
    const lock = await holdMigrationLock(migrated, (tx) => tx`INSERT INTO drizzle.__drizzle_migrations (id, hash, created_at) VALUES (${lastRow!.id}, ${lastRow!.hash}, ${lastRow!.created_at})`)
    const listing = cli(['users', 'list', '--org', 'acme', '--db', asRole(migrated)])
    await Bun.sleep(300)
    await lock.release()
    const r = await listing
    expect([r.code, r.err]).toEqual([0, expect.not.stringContaining('error')])
    expect(r.out).toContain('lp@example.com')
  }, 60_000)

  test('a role that may not read the journal: says so, and which grants it needs (not "migrations to apply")', async () => {
    await owner.unsafe(`REVOKE USAGE ON SCHEMA drizzle FROM ${role}`)
    try {
      const r = await cli(['users', 'list', '--org', 'acme', '--db', asRole(migrated)])
      expect(r.code).toBe(1)
      expect(r.err).toContain('may not read the migrations journal')
      expect(r.err).toContain('Grant it USAGE ON SCHEMA drizzle and SELECT ON drizzle.__drizzle_migrations')
      expect(r.err).not.toContain('migrations to apply')
    } finally {
      await owner.unsafe(`GRANT USAGE ON SCHEMA drizzle TO ${role}`)
    }
  }, 60_000)
})
