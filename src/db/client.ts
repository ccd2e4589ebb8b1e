import { Database, type SQLQueryBindings } from 'bun:sqlite'
import { chmodSync, existsSync, mkdirSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { drizzle, type BunSQLiteDatabase } from 'drizzle-orm/bun-sqlite'
import { attachChangeSignal, changeSignal } from './change-signal'
import * as schema from './schema'

export type DB = BunSQLiteDatabase<typeof schema> & { $client: Database }

export const MEMORY = ':memory:'

/**
 * bun:sqlite's Database with compiled statements reused by SQL text. drizzle compiles every
 * query it runs with `prepare()` (tens of µs for SQLite to parse and plan), although the
 * query builder produces the same text for the same query shape each time; here the second
 * and later runs reuse the statement. drizzle's bun-sqlite session runs each statement to
 * completion synchronously (run/all/values, never an open iterator), so sharing one between
 * queries with the same text is safe. Bounded: past MAX entries the oldest is forgotten (not
 * finalized: a long-lived prepared query may still hold it; the GC finalizes it).
 */
class StatementCachingDatabase extends Database {
  static readonly MAX = 500
  private readonly statements = new Map<string, ReturnType<Database['prepare']>>()

  override prepare = ((sql: string, params?: SQLQueryBindings | SQLQueryBindings[]) => {
    if (params !== undefined) return super.prepare(sql, params)
    let stmt = this.statements.get(sql)
    if (stmt === undefined) {
      stmt = super.prepare(sql)
      if (this.statements.size >= StatementCachingDatabase.MAX) this.statements.delete(this.statements.keys().next().value!)
      this.statements.set(sql, stmt)
    }
    return stmt
  }) as Database['prepare']

  override close(throwOnError?: boolean): void {
    for (const stmt of this.statements.values()) stmt.finalize()
    this.statements.clear()
    super.close(throwOnError)
  }
}

/**
 * Opens the SQLite database with the house pragmas. For a file database the parent
 * directory is created 0700 and the file (and its WAL/SHM companions) made 0600.
 */
export function openDatabase(path: string): DB {
  const isMemory = path === MEMORY
  let sqlite: Database
  if (isMemory) {
    sqlite = new StatementCachingDatabase(MEMORY)
  } else {
    const file = resolve(path)
    const dir = dirname(file)
    if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: 0o700 })
    sqlite = new StatementCachingDatabase(file, { create: true })
    restrictFileModes(file)
  }
  sqlite.exec('PRAGMA busy_timeout = 5000')
  if (!isMemory) sqlite.exec('PRAGMA journal_mode = WAL')
  sqlite.exec('PRAGMA synchronous = NORMAL')
  sqlite.exec('PRAGMA foreign_keys = ON')
  if (!isMemory) restrictFileModes(resolve(path))
  const db = drizzle({ client: sqlite, schema }) as DB
  attachChangeSignal(db, isMemory ? null : resolve(path))
  return db
}

function restrictFileModes(file: string): void {
  for (const f of [file, `${file}-wal`, `${file}-shm`]) {
    try {
      if (existsSync(f)) chmodSync(f, 0o600)
    } catch {
      // Not fatal: e.g. a file owned by another user on a shared volume.
    }
  }
}

export function closeDatabase(db: DB): void {
  changeSignal(db).close()
  try {
    db.$client.exec('PRAGMA optimize')
  } catch {
    // ignore
  }
  db.$client.close()
}
