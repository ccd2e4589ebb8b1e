import { createHash } from 'node:crypto'
import type { MigrationMeta } from 'drizzle-orm/migrator'
import type { SqliteConnection, SyncDb } from './connection'
import { pgMigrations, sqliteMigrations } from './migrations.gen'
import type { Dialect } from './schema'
import type { PgConnection } from './pg'

/** The migrations compiled into this build for a dialect, in drizzle's own MigrationMeta shape. */
export function embeddedMigrations(dialect: Dialect = 'sqlite'): MigrationMeta[] {
  const { journal, sql } = dialect === 'pg' ? pgMigrations : sqliteMigrations
  return journal.entries.map((entry: { tag: string; when: number; breakpoints: boolean }) => {
    const query = sql[entry.tag]
    if (query === undefined) throw new Error(`Embedded migration ${entry.tag} is missing`)
    return {
      sql: query.split('--> statement-breakpoint'),
      bps: entry.breakpoints,
      folderMillis: entry.when,
      hash: createHash('sha256').update(query).digest('hex'),
    }
  })
}

export interface MigrationResult {
  applied: number
  total: number
  /** Tags of the migrations applied now, oldest first. */
  names: string[]
}

/**
 * Applies pending migrations with foreign keys off (drizzle-kit's table rebuilds would
 * otherwise cascade-delete child rows), then checks every foreign key and turns them on again.
 */
export function runMigrations(conn: SqliteConnection): MigrationResult {
  // Synchronous, on the connection before anything else uses it.
  const db = conn.sync
  const sqlite = db.$client
  const migrations = embeddedMigrations('sqlite')
  const before = appliedCount(db)
  // Up to date by drizzle's own rule (it applies what is newer than the newest row): nothing to
  // do, and no foreign key check, which reads every row of a large database at every start.
  const newest = migrations.reduce((m, x) => Math.max(m, x.folderMillis), 0)
  if (before > 0 && newestApplied(db) >= newest) return { applied: 0, total: migrations.length, names: [] }
  sqlite.exec('PRAGMA foreign_keys = OFF')
  try {
    // drizzle's dialect migrator: one transaction, skips what __drizzle_migrations already has.
    ;(db as any).dialect.migrate(migrations, (db as any).session, { migrationsFolder: '' })
    const violations = sqlite.query('PRAGMA foreign_key_check').all()
    if (violations.length > 0) {
      throw new Error(`Migration left ${violations.length} foreign key violation(s): ${JSON.stringify(violations.slice(0, 5))}`)
    }
  } finally {
    sqlite.exec('PRAGMA foreign_keys = ON')
  }
  const applied = appliedCount(db) - before
  const names = applied > 0 ? sqliteMigrations.journal.entries.slice(-applied).map((e: { tag: string }) => e.tag) : []
  return { applied, total: migrations.length, names }
}

/** created_at of the newest row of drizzle's journal table (which exists: see appliedCount). */
function newestApplied(db: SyncDb): number {
  const row = db.$client.query('SELECT max(created_at) AS t FROM __drizzle_migrations').get() as { t: number | string | null }
  return row.t === null ? 0 : Number(row.t)
}

function appliedCount(db: SyncDb): number {
  const row = db.$client
    .query("SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name = '__drizzle_migrations'")
    .get() as { n: number }
  if (row.n === 0) return 0
  return (db.$client.query('SELECT count(*) AS n FROM __drizzle_migrations').get() as { n: number }).n
}

/** The advisory lock key of teamday's migrations (any constant both instances agree on). */
export const PG_MIGRATION_LOCK = 7_310_415_001

/**
 * Applies pending PostgreSQL migrations in one transaction that first takes
 * `pg_advisory_xact_lock`: instances started at the same moment on an empty database migrate one
 * after the other on one connection each (without the lock, concurrent CREATE TABLEs fail with
 * `duplicate key … pg_type_typname_nsp_index`); the later ones find nothing left to do. The
 * bookkeeping is drizzle's own (`drizzle.__drizzle_migrations`: hash, created_at = the journal's
 * `when`), so drizzle-kit's migrate agrees with it. The tables are created unqualified: in the
 * schema the connection's search_path names first (`public` by default).
 */
export async function runPgMigrations(conn: PgConnection): Promise<MigrationResult> {
  const migrations = embeddedMigrations('pg')
  const applied = await conn.client.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(${PG_MIGRATION_LOCK})`
    // drizzle's place for it, or the schema of a connection given one (each test app its own).
    const book = tx(conn.schema ?? 'drizzle')
    await tx`CREATE SCHEMA IF NOT EXISTS ${book}`
    await tx`CREATE TABLE IF NOT EXISTS ${book}.__drizzle_migrations (id SERIAL PRIMARY KEY, hash text NOT NULL, created_at bigint)`
    const [last] = await tx`SELECT created_at FROM ${book}.__drizzle_migrations ORDER BY created_at DESC LIMIT 1`
    let n = 0
    for (const m of migrations) {
      if (last && Number(last.created_at) >= m.folderMillis) continue
      // drizzle-kit writes foreign keys as "public"."table": the tables go to the connection's
      // schema (search_path; public unless the URL or role says otherwise), and so do they.
      for (const stmt of m.sql) if (stmt.trim()) await tx.unsafe(stmt.replaceAll('"public".', ''))
      await tx`INSERT INTO ${book}.__drizzle_migrations (hash, created_at) VALUES (${m.hash}, ${m.folderMillis})`
      n++
    }
    return n
  })
  const tags = pgMigrations.journal.entries.map((e: { tag: string }) => e.tag)
  return { applied, total: migrations.length, names: applied > 0 ? tags.slice(-applied) : [] }
}
