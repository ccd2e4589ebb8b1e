import { afterAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { readMigrationFiles } from 'drizzle-orm/migrator'
import { migrate } from 'drizzle-orm/bun-sqlite/migrator'
import { renderMigrationsModule } from '../scripts/gen-migrations'
import { openDatabase } from '../src/db/client'
import { embeddedMigrations, runMigrations } from '../src/db/migrate'
import { sqliteMigrations } from '../src/db/migrations.gen'
import { insertExecution } from '../src/engine/store'
import { sqliteOnly } from './helpers/pg'

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

describe('database file', () => {
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
