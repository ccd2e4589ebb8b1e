import { createHash } from 'node:crypto'
import type { MigrationMeta } from 'drizzle-orm/migrator'
import type { SqliteConnection, SyncDb } from './connection'
import { embeddedJournal, embeddedSql } from './migrations.gen'

/** The migrations compiled into this build, in drizzle's own MigrationMeta shape. */
export function embeddedMigrations(): MigrationMeta[] {
  return embeddedJournal.entries.map((entry) => {
    const query = embeddedSql[entry.tag]
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
  const migrations = embeddedMigrations()
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
  const names = applied > 0 ? embeddedJournal.entries.slice(-applied).map((e) => e.tag) : []
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
