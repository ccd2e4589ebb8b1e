import { afterAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { readMigrationFiles } from 'drizzle-orm/migrator'
import { migrate } from 'drizzle-orm/bun-sqlite/migrator'
import { renderMigrationsModule } from '../scripts/gen-migrations'
import { openDatabase } from '../src/db/client'
import { embeddedMigrations, runMigrations } from '../src/db/migrate'

const root = join(import.meta.dir, '..')
const dir = mkdtempSync(join(tmpdir(), 'teamday-migrate-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

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
