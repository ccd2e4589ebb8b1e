import { afterAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { readMigrationFiles } from 'drizzle-orm/migrator'
import { migrate } from 'drizzle-orm/bun-sqlite/migrator'
import { renderMigrationsModule } from '../scripts/gen-migrations'
import { openDatabase, WAL_SIZE_LIMIT_BYTES } from '../src/db/client'
import { embeddedMigrations, runMigrations, SchemaError } from '../src/db/migrate'
import { errorCodes } from '../src/db/unavailable'
import { pgMigrations, sqliteMigrations } from '../src/db/migrations.gen'
import { keyDigest } from '../src/idempotency/service'
import { insertExecution } from '../src/engine/store'
import postgres from 'postgres'
import type { Io } from '../src/cli/common'
import { run } from '../src/main'
import { createTestDatabase, needPostgres, sqliteOnly, urlFor } from './helpers/pg'
import { closeSmallDisk, smallDisk, smallDiskUnavailable, type SmallDisk } from './helpers/small-disk'

const root = join(import.meta.dir, '..')
const dir = mkdtempSync(join(tmpdir(), 'teamday-migrate-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const sqliteMigrationTags = (): string[] => sqliteMigrations.journal.entries.map((e: { tag: string }) => e.tag)
const sqliteJournalTag = (i: number): string => sqliteMigrationTags()[i]!

const schemaOf = (db: ReturnType<typeof openDatabase>) =>
  db.client.query("SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name").all()

describe('embedded migrations', () => {
  test('equal what drizzle reads from the drizzle/sqlite/ folder', () => {
    expect(embeddedMigrations()).toEqual(readMigrationFiles({ migrationsFolder: join(root, 'drizzle/sqlite') }))
  })

  test('src/db/migrations.gen.ts is up to date with drizzle/ (run npm run db:generate)', () => {
    expect(readFileSync(join(root, 'src/db/migrations.gen.ts'), 'utf8')).toBe(renderMigrationsModule(root))
  })

  test("give the same schema as drizzle's stock migrate()", () => {
    const ours = openDatabase(':memory:')
    runMigrations(ours)
    const stock = openDatabase(':memory:')
    migrate(stock.sync, { migrationsFolder: join(root, 'drizzle/sqlite') })
    expect(schemaOf(ours)).toEqual(schemaOf(stock))
    expect(ours.client.query('SELECT hash, created_at FROM __drizzle_migrations').all()).toEqual(
      stock.client.query('SELECT hash, created_at FROM __drizzle_migrations').all(),
    )
  })

  test('applying twice is a no-op and keeps foreign keys on', () => {
    const db = openDatabase(join(dir, 'twice.db'))
    expect(runMigrations(db).applied).toBe(embeddedMigrations().length)
    const before = schemaOf(db)
    expect(runMigrations(db)).toEqual({ applied: 0, total: embeddedMigrations().length, names: [] })
    expect(schemaOf(db)).toEqual(before)
    expect((db.client.query('PRAGMA foreign_keys').get() as any).foreign_keys).toBe(1)
    db.client.close()
  })
})

describe('a migration that meets a full disk', () => {
  afterAll(closeSmallDisk)

  // Found starting the binary on a nearly full disk (2026-12-06): "error: cannot rollback - no
  // transaction is active". On ENOSPC SQLite rolls the transaction back by itself, and the
  // ROLLBACK after it failed, hiding the full disk (SQLite's page limit does not do that).
  test.skipIf(sqliteOnly('SQLite on a full tmpfs') || smallDiskUnavailable())("fails with SQLite's SQLITE_FULL (what a start explains), not a ROLLBACK's \"no transaction is active\"; the next start with space migrates it", () => {
    const disk = smallDisk() as SmallDisk
    const path = join(disk.dir, 'data', 'teamday.db')
    disk.leave(100)
    const db = openDatabase(path)
    let thrown: unknown
    try {
      runMigrations(db)
    } catch (e) {
      thrown = e
    }
    expect(String((thrown as Error)?.message)).not.toContain('no transaction is active')
    expect(errorCodes(thrown)).toContain('SQLITE_FULL')
    expect(db.client.inTransaction).toBe(false)
    disk.free()
    expect(runMigrations(db).applied).toBe(embeddedMigrations().length)
    db.client.close()
  })

  // The same probe, no space at all: SQLite cannot even open the new file. It said "database or
  // disk is full", without what to do (a file of another user: "check that the folder exists").
  test.skipIf(sqliteOnly('SQLite on a full tmpfs') || smallDiskUnavailable())('a new database on a disk with no space left: the open says the disk is full and what to do', () => {
    const disk = smallDisk() as SmallDisk
    const path = join(disk.dir, 'empty', 'teamday.db')
    disk.leave(0)
    try {
      expect(() => openDatabase(path)).toThrow(`cannot open the database ${path}: the disk holding it is full; free some space and start again (SQLite: database or disk is full)`)
    } finally {
      disk.free()
    }
  })
})

describe('database file', () => {
  // Found from outside (2026-12-06): "error: ENOTDIR: not a directory, mkdir '…'" (EACCES the same),
  // naming neither the database nor what to do.
  test('a folder that cannot be made for a new database: the error names it, the database and why', () => {
    const blocker = join(dir, 'a-file')
    writeFileSync(blocker, '')
    const path = join(blocker, 'data', 'teamday.db')
    expect(() => openDatabase(path)).toThrow(`cannot create the folder ${join(blocker, 'data')} for the database ${path}: a file is in the way on that path (a part of it is not a folder): check --db (or TEAMDAY_DB)`)
    expect(readFileSync(blocker, 'utf8')).toBe('')
  })

  test('directory 0700, file 0600, WAL mode, pragmas', () => {
    const path = join(dir, 'nested', 'data', 'teamday.db')
    const db = openDatabase(path)
    runMigrations(db)
    expect(statSync(join(dir, 'nested', 'data')).mode & 0o777).toBe(0o700)
    expect(statSync(path).mode & 0o777).toBe(0o600)
    const q = (p: string) => Object.values(db.client.query(`PRAGMA ${p}`).get() as object)[0]
    expect(q('journal_mode')).toBe('wal')
    expect(q('foreign_keys')).toBe(1)
    expect(q('busy_timeout')).toBe(5000)
    expect(q('synchronous')).toBe(1) // NORMAL
    expect(q('journal_size_limit')).toBe(WAL_SIZE_LIMIT_BYTES) // the -wal trimmed back after a long reader
    db.client.close()
  })
})

describe('0010/0011: executions.seq on a database that has executions', () => {
  // insertExecution writes through the tables of the suite's backend: SQLite's only on its pass.
  test.skipIf(sqliteOnly("SQLite's migrations and SQLite's seq"))('existing rows get their rowid (creation order), and new ones continue after them', async () => {
    const db = openDatabase(join(dir, 'seq.db'))
    const all = embeddedMigrations()
    const upTo = all.findIndex((_, i) => sqliteJournalTag(i).startsWith('0010_'))
    expect(upTo).toBe(10)
    // A database of the release before: migrations up to 0009, three executions.
    ;(db.sync as any).dialect.migrate(all.slice(0, upTo), (db.sync as any).session, { migrationsFolder: '' })
    const c = db.client
    c.run("INSERT INTO organizations (id, slug, name, created_at) VALUES ('org_1', 'o', 'O', 0)")
    c.run("INSERT INTO users (id, email, created_at) VALUES ('user_1', 'u@example.com', 0)")
    c.run("INSERT INTO agents (id, organization_id, user_id, name, slug, created_at, updated_at) VALUES ('char_1', 'org_1', 'user_1', 'A', 'a', 0, 0)")
    for (const id of ['exec_c', 'exec_a', 'exec_b']) {
      c.run(`INSERT INTO executions (id, organization_id, user_id, agent_id, agent_name, agent_visibility, chat_id, session_id, message, created_at, updated_at) VALUES ('${id}', 'org_1', 'user_1', 'char_1', 'A', 'private', 'c', 'c', 'm', 5, 5)`)
    }
    expect(runMigrations(db).names).toEqual(sqliteMigrationTags().slice(upTo))
    expect(c.query('SELECT id, seq FROM executions ORDER BY seq').all()).toEqual([
      { id: 'exec_c', seq: 1 },
      { id: 'exec_a', seq: 2 },
      { id: 'exec_b', seq: 3 },
    ])
    const now = new Date(5)
    const row = await insertExecution(db.db, { id: 'exec_d', organizationId: 'org_1', userId: 'user_1', agentId: 'char_1', agentName: 'A', agentVisibility: 'private', chatId: 'c', sessionId: 'c', message: 'm', createdAt: now, updatedAt: now })
    expect(row.seq).toBe(4)
    c.close()
  })
})

describe('0014/0015: executions rebuilt (agent_id nullable) on a database that has executions', () => {
  test.skipIf(sqliteOnly("SQLite's table rebuild"))('every row, its logs and the creation order survive; an assistant run (no agent) fits after; new rows continue the order', async () => {
    const db = openDatabase(join(dir, 'rebuild.db'))
    const all = embeddedMigrations()
    const upTo = all.findIndex((_, i) => sqliteJournalTag(i).startsWith('0014_'))
    expect(upTo).toBeGreaterThan(0)
    // A database of the release before: migrations up to 0013, executions with logs and children.
    ;(db.sync as any).dialect.migrate(all.slice(0, upTo), (db.sync as any).session, { migrationsFolder: '' })
    const c = db.client
    c.run("INSERT INTO organizations (id, slug, name, created_at) VALUES ('org_1', 'o', 'O', 0)")
    c.run("INSERT INTO users (id, email, created_at) VALUES ('user_1', 'u@example.com', 0)")
    c.run("INSERT INTO agents (id, organization_id, user_id, name, slug, created_at, updated_at) VALUES ('char_1', 'org_1', 'user_1', 'A', 'a', 0, 0)")
    for (const [i, id] of ['exec_c', 'exec_a', 'exec_b'].entries()) {
      c.run(`INSERT INTO executions (id, organization_id, user_id, agent_id, agent_name, agent_visibility, chat_id, session_id, message, result, status, created_at, updated_at, seq) VALUES ('${id}', 'org_1', 'user_1', 'char_1', 'A', 'private', 'chat_1', 'chat_1', 'm${i}', 'r${i}', 'completed', ${5 + i}, ${5 + i}, (SELECT coalesce(max(rowid), 0) + 1 FROM executions))`)
      c.run(`INSERT INTO execution_logs (execution_id, level, event, data, created_at) VALUES ('${id}', 'info', 'started', '{}', ${5 + i})`)
    }
    const before = c.query('SELECT * FROM executions ORDER BY seq').all()
    const logsBefore = c.query('SELECT * FROM execution_logs ORDER BY id').all()
    expect(runMigrations(db).names).toEqual(sqliteMigrationTags().slice(upTo))
    // Nothing lost: the rows as they were (seq renumbered in the same order), the logs untouched;
    // and the columns later migrations add: content_bytes (0017), computed from those rows, and
    // token_id (0018), scope_limit (0020) and history_trimmed (0021), unknown for runs started before them.
    const after = c.query('SELECT * FROM executions ORDER BY seq').all() as Record<string, unknown>[]
    expect(after.map((r) => r.token_id)).toEqual([null, null, null])
    expect(after.map((r) => r.scope_limit)).toEqual([null, null, null])
    expect(after.map((r) => r.history_trimmed)).toEqual([null, null, null])
    expect(after.map((r) => r.written_by)).toEqual([null, null, null])
    expect(after.map(({ content_bytes: _, token_id: __, scope_limit: ___, history_trimmed: ____, written_by: _____, ...r }) => r) as unknown[]).toEqual(before)
    // The message and result, and the empty lists `[]` of messages and tool calls.
    expect(after.map((r) => r.content_bytes)).toEqual(['m0r0', 'm1r1', 'm2r2'].map((s) => s.length + 4))
    expect(c.query('SELECT * FROM execution_logs ORDER BY id').all()).toEqual(logsBefore)
    expect(c.query('PRAGMA foreign_key_check').all()).toEqual([])
    expect(c.query("SELECT count(*) AS n FROM sqlite_master WHERE type = 'index' AND tbl_name = 'executions'").get()).toMatchObject({ n: expect.any(Number) })
    // An assistant run (no agent) is now a valid row, and it sorts after the old ones.
    const now = new Date(9)
    const row = await insertExecution(db.db, { id: 'exec_d', organizationId: 'org_1', userId: 'user_1', agentId: null, agentName: 'Assistant', agentVisibility: 'private', chatId: 'chat_1', sessionId: 'chat_1', message: 'm', createdAt: now, updatedAt: now })
    expect(row.seq).toBe(4)
    // The cascade from executions to their logs still holds.
    c.run("DELETE FROM executions WHERE id = 'exec_c'")
    expect(c.query("SELECT count(*) AS n FROM execution_logs WHERE execution_id = 'exec_c'").get()).toEqual({ n: 0 })
    c.close()
  })
})

const newKey = () => Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64')

async function cli(argv: string[], env: Record<string, string>) {
  const out: string[] = []
  const err: string[] = []
  const io: Io = { out: (s) => out.push(s), err: (s) => err.push(s), env: { TEAMDAY_LOG_LEVEL: 'silent', ...env } }
  const code = await run(argv, io)
  return { code, out: out.join('\n'), err: err.join('\n') }
}

/** A created_at later than any migration of this build: a row only a newer teamday writes. */
const FUTURE = Date.now() + 86_400_000 * 3650

// A journal of a pre-release build (its migrations rewritten since) got drizzle's bare error.
describe('0022 (SQLite) / 0010 (PostgreSQL): idempotency keys stored as sent before the upgrade', () => {
  const row = (key: string) => `INSERT INTO idempotency_keys (id, token_id, key, method, path, request_hash, state, created_at, expires_at) VALUES ('idem_1', 'pat_1', '${key}', 'POST', '/api/v1/tasks', 'h', 'completed', 0, 0)`
  test.skipIf(sqliteOnly("SQLite's migration 0022"))('SQLite: rehashed to what a lookup computes (keyDigest) by the migration in code (its SQL has no SHA-256), the key text gone', () => {
    const db = openDatabase(join(dir, 'idem.db'))
    const all = embeddedMigrations()
    const upTo = all.findIndex((_, i) => sqliteJournalTag(i).startsWith('0022_'))
    expect(upTo).toBe(22)
    ;(db.sync as any).dialect.migrate(all.slice(0, upTo), (db.sync as any).session, { migrationsFolder: '' })
    const key = 'retry-42 ~!"#$%&()*+,-./:;<=>?@[]^_`{|}'
    db.client.run(row(key.replaceAll("'", "''")))
    expect(runMigrations(db).names).toEqual(sqliteMigrationTags().slice(upTo))
    expect(db.client.query('SELECT key FROM idempotency_keys').all()).toEqual([{ key: keyDigest(key) }])
    db.client.close()
  })

  test('PostgreSQL: rehashed to what a lookup computes (keyDigest), so a retry across the upgrade still matches', async () => {
    if (!(await needPostgres('test/migrations.test.ts'))) return
    const url = urlFor(await createTestDatabase())
    expect((await cli(['migrate', '--db', url], { TEAMDAY_ENCRYPTION_KEY: newKey() })).code).toBe(0)
    const sql = postgres(url, { max: 1, onnotice: () => {} })
    try {
      const key = 'retry-42 ~!"#$%&()*+,-./:;<=>?@[]^_`{|}'
      await sql.unsafe(row(key.replaceAll("'", "''")).replace(', 0, 0)', ', now(), now())'))
      await sql.unsafe(pgMigrations.sql['0010_idempotency_key_hash']!)
      expect((await sql`SELECT key FROM idempotency_keys`).map((r) => r.key)).toEqual([keyDigest(key)])
    } finally {
      await sql.end({ timeout: 5 })
    }
  }, 30_000)
})

// Found upgrading a database of the 2026-11-23 build in place: 0009 added executions.delegated
// false for every row, and GET /api/v1/chats listed each sub-agent run of before as a chat.
describe('0027 (SQLite) / 0015 (PostgreSQL): delegated children recorded before 0009 flagged', () => {
  test.skipIf(sqliteOnly("SQLite's migrations 0009 and 0027"))("a child its parent's log names is flagged; a run attached through the API's parentExecutionId is not", () => {
    const db = openDatabase(join(dir, 'delegated.db'))
    const all = embeddedMigrations()
    const upTo = all.findIndex((_, i) => sqliteJournalTag(i).startsWith('0009_'))
    expect(upTo).toBe(9)
    ;(db.sync as any).dialect.migrate(all.slice(0, upTo), (db.sync as any).session, { migrationsFolder: '' })
    const c = db.client
    c.run("INSERT INTO organizations (id, slug, name, created_at) VALUES ('org_1', 'o', 'O', 0)")
    c.run("INSERT INTO users (id, email, created_at) VALUES ('user_1', 'u@example.com', 0)")
    c.run("INSERT INTO agents (id, organization_id, user_id, name, slug, created_at, updated_at) VALUES ('char_1', 'org_1', 'user_1', 'A', 'a', 0, 0)")
    for (const [id, parent, chat] of [['exec_parent', null, 'chat_1'], ['exec_child', 'exec_parent', 'chat_1:exec_parent:char_1'], ['exec_attached', 'exec_parent', 'chat_2']]) {
      c.run(`INSERT INTO executions (id, organization_id, user_id, agent_id, agent_name, agent_visibility, chat_id, session_id, message, parent_execution_id, created_at, updated_at) VALUES ('${id}', 'org_1', 'user_1', 'char_1', 'A', 'private', '${chat}', '${chat}', 'm', ${parent ? `'${parent}'` : 'NULL'}, 5, 5)`)
    }
    c.run(`INSERT INTO execution_logs (execution_id, level, event, data, created_at) VALUES ('exec_parent', 'info', 'delegated', '{"childExecutionId":"exec_child","agentId":"char_1","depth":1}', 5)`)
    // Data that is no JSON object does not fail the migration (a start would be refused).
    c.run(`INSERT INTO execution_logs (execution_id, level, event, data, created_at) VALUES ('exec_parent', 'info', 'delegated', 'not json', 5), ('exec_parent', 'info', 'delegated', NULL, 5)`)
    expect(runMigrations(db).names).toEqual(sqliteMigrationTags().slice(upTo))
    expect(c.query('SELECT id, delegated FROM executions ORDER BY id').all()).toEqual([
      { id: 'exec_attached', delegated: 0 },
      { id: 'exec_child', delegated: 1 },
      { id: 'exec_parent', delegated: 0 },
    ])
    c.close()
  })

  test('PostgreSQL: the same rule, for such rows a migrate-data copied from SQLite', async () => {
    if (!(await needPostgres('test/migrations.test.ts'))) return
    const url = urlFor(await createTestDatabase())
    expect((await cli(['migrate', '--db', url], { TEAMDAY_ENCRYPTION_KEY: newKey() })).code).toBe(0)
    const sql = postgres(url, { max: 1, onnotice: () => {} })
    try {
      await sql.unsafe(`
        INSERT INTO organizations (id, slug, name, created_at) VALUES ('org_1', 'o', 'O', now());
        INSERT INTO users (id, email, created_at) VALUES ('user_1', 'u@example.com', now());
        INSERT INTO agents (id, organization_id, user_id, name, slug, created_at, updated_at) VALUES ('char_1', 'org_1', 'user_1', 'A', 'a', now(), now());
        INSERT INTO executions (id, organization_id, user_id, agent_id, agent_name, agent_visibility, chat_id, session_id, message, parent_execution_id, created_at, updated_at) VALUES
          ('exec_parent', 'org_1', 'user_1', 'char_1', 'A', 'private', 'c', 'c', 'm', NULL, now(), now()),
          ('exec_child', 'org_1', 'user_1', 'char_1', 'A', 'private', 'c:exec_parent:char_1', 'c:exec_parent:char_1', 'm', 'exec_parent', now(), now()),
          ('exec_attached', 'org_1', 'user_1', 'char_1', 'A', 'private', 'c2', 'c2', 'm', 'exec_parent', now(), now());
        INSERT INTO execution_logs (execution_id, level, event, data, created_at) VALUES
          ('exec_parent', 'info', 'delegated', '{"childExecutionId":"exec_child","depth":1}', now()),
          ('exec_parent', 'info', 'delegated', '"no object"', now()), ('exec_parent', 'info', 'delegated', NULL, now());`)
      await sql.unsafe(pgMigrations.sql['0015_execution_delegated_backfill']!)
      expect((await sql`SELECT id, delegated FROM executions ORDER BY id`).map((r) => [r.id, r.delegated])).toEqual([
        ['exec_attached', false],
        ['exec_child', true],
        ['exec_parent', false],
      ])
    } finally {
      await sql.end({ timeout: 5 })
    }
  }, 30_000)
})

// Rows this build writes that the build before cannot read (a completed run's last message
// stored without its content: storedMessages): that build served such a database (500 on the
// execution, its chat, its list; a later turn of its session failed) where it must refuse it.
describe('0023 (SQLite) / 0011 (PostgreSQL): answers stored once, a database an older build must refuse', () => {
  const marker = (journal: { entries: { tag: string; when: number }[] }, tag: string) => {
    const i = journal.entries.findIndex((e) => e.tag === tag)
    expect(i).toBeGreaterThan(0)
    return { when: journal.entries[i]!.when, before: journal.entries[i - 1]!.when }
  }

  test('SQLite: this build migrates past the newest migration a build storing answers twice knows', () => {
    const { when, before } = marker(sqliteMigrations.journal, '0023_execution_answer_stored_once')
    expect(when).toBeGreaterThan(before)
    const db = openDatabase(join(dir, 'answer-once.db'))
    runMigrations(db)
    const newest = Number((db.client.query('SELECT max(created_at) AS m FROM __drizzle_migrations').get() as { m: number }).m)
    db.client.close()
    // What refuseNewer of a build whose newest migration is `before` decides: migrated by a newer teamday.
    expect(newest).toBeGreaterThan(before)
  })

  test('PostgreSQL: the same marker in its journal', () => {
    const { when, before } = marker(pgMigrations.journal, '0011_execution_answer_stored_once')
    expect(when).toBeGreaterThan(before)
  })
})

describe('a database migrated by a pre-release teamday', () => {
  test('SQLite: runMigrations refuses it, saying so, and changes nothing', () => {
    const db = openDatabase(join(dir, 'pre-release.db'))
    runMigrations(db)
    db.client.run('DELETE FROM __drizzle_migrations')
    db.client.run("INSERT INTO __drizzle_migrations (hash, created_at) VALUES ('deadbeef', 1796000000000)")
    expect(() => runMigrations(db, { name: 'pre-release.db' })).toThrow(SchemaError)
    expect(() => runMigrations(db, { name: 'pre-release.db' })).toThrow('pre-release.db was migrated by a pre-release teamday whose migrations were rewritten since')
    expect(db.client.query('SELECT hash FROM __drizzle_migrations').all()).toEqual([{ hash: 'deadbeef' }])
    db.client.close()
  })
})

describe('a database migrated by a newer teamday', () => {
  test('SQLite: runMigrations refuses it (SchemaError naming the database and what to do)', () => {
    const db = openDatabase(join(dir, 'newer.db'))
    runMigrations(db)
    db.client.run(`INSERT INTO __drizzle_migrations (hash, created_at) VALUES ('from-a-newer-release', ${FUTURE})`)
    expect(() => runMigrations(db, { name: 'newer.db' })).toThrow(SchemaError)
    expect(() => runMigrations(db, { name: 'newer.db' })).toThrow('newer.db was migrated by a newer teamday (it has migrations this build does not know): run that version or a later one')
    db.client.close()
  })

  test('PostgreSQL: migrate and the admin commands refuse it; a command that may not migrate leaves an empty database empty', async () => {
    if (!(await needPostgres('test/migrations.test.ts'))) return
    const url = urlFor(await createTestDatabase())
    const env = { TEAMDAY_ENCRYPTION_KEY: newKey() }
    const sql = postgres(url, { max: 1, onnotice: () => {} })
    try {
      const tables = async () => (await sql`SELECT table_schema || '.' || table_name AS t FROM information_schema.tables WHERE table_schema IN ('public', 'drizzle')`).map((r) => r.t)
      const empty = await cli(['audit', 'list', '--db', url], env)
      expect(empty.code).toBe(1)
      expect(empty.err).toContain('is not a teamday database (it has no teamday tables); nothing was changed')
      expect(await tables()).toEqual([])
      expect((await cli(['users', 'create', '--email', 'a@b.co', '--org', 'acme', '--db', url], env)).code).toBe(0)
      await sql`INSERT INTO drizzle.__drizzle_migrations (hash, created_at) VALUES ('from-a-newer-release', ${FUTURE})`
      for (const argv of [['migrate'], ['users', 'set-role', '--email', 'a@b.co', '--org', 'acme', '--role', 'viewer']]) {
        const r = await cli([...argv, '--db', url], env)
        expect({ argv, code: r.code }).toEqual({ argv, code: 1 })
        expect(r.err).toContain('was migrated by a newer teamday (it has migrations this build does not know): run that version or a later one')
      }
      expect((await sql`SELECT role FROM memberships`).map((r) => r.role)).toEqual(['member'])
    } finally {
      await sql.end({ timeout: 5 })
    }
  }, 30_000)
})

describe('processes starting at once on a new SQLite database', () => {
  const MAIN = join(root, 'src/main.ts')

  test('four "teamday users create" on one new file all succeed: the second waits for the first one\'s migration', async () => {
    for (let trial = 0; trial < 3; trial++) {
      const db = join(mkdtempSync(join(dir, 'race-')), 'teamday.db')
      const env = { ...process.env, TEAMDAY_ENCRYPTION_KEY: newKey(), TEAMDAY_LOG_LEVEL: 'silent' }
      const procs = [0, 1, 2, 3].map((i) =>
        Bun.spawn([process.execPath, '--no-env-file', MAIN, 'users', 'create', '--email', `p${i}@example.com`, '--org', 'acme', '--db', db], { env, stdout: 'pipe', stderr: 'pipe' }),
      )
      const results = await Promise.all(procs.map(async (p) => ({ code: await p.exited, err: await new Response(p.stderr).text() })))
      expect(results.filter((r) => r.code !== 0).map((r) => r.err)).toEqual([])
      const check = openDatabase(db)
      expect(check.client.query('SELECT count(*) AS n FROM __drizzle_migrations').get()).toEqual({ n: embeddedMigrations().length })
      expect(check.client.query('SELECT count(*) AS n FROM memberships').get()).toEqual({ n: 4 })
      check.client.close()
    }
  }, 60_000)
})
