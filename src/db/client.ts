import { existsSync, mkdirSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { drizzle as syncDrizzle, type BunSQLiteDatabase } from 'drizzle-orm/bun-sqlite'
import type { Database } from 'bun:sqlite'
import { SqliteConnection } from './connection'
import * as schema from './schema'
import { CachingDatabase } from './sqlite'

export { SqliteConnection, type Db } from './connection'

/**
 * drizzle on bun:sqlite, synchronous: for what runs before anything else or outside the server's
 * statements (migrations at start-up, seeding in tests and benchmarks, test assertions). Services
 * use the connection's asynchronous `db` (src/db/connection.ts).
 */
export type SyncDb = BunSQLiteDatabase<typeof schema> & { $client: Database }

export const MEMORY = ':memory:'

/**
 * Opens the SQLite database with the house pragmas. For a file database the parent
 * directory is created 0700 and a new file 0600 (SQLite gives its `-wal` and `-shm` companions
 * the database file's mode). Nothing here opens, maps or stats SQLite's own files: closing any
 * descriptor of them would drop the locks SQLite holds (DESIGN.md, "Never touch SQLite's own files").
 */
export function openDatabase(path: string, opts: { rowCache?: boolean } = {}): SqliteConnection {
  const isMemory = path === MEMORY
  let sqlite: CachingDatabase
  if (isMemory) {
    sqlite = new CachingDatabase(MEMORY)
  } else {
    const file = resolve(path)
    const dir = dirname(file)
    if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: 0o700 })
    // The umask, not a chmod afterwards: the file is created with the right mode or not at all.
    const umask = process.umask(0o077)
    try {
      sqlite = new CachingDatabase(file, { create: true })
      sqlite.exec('PRAGMA busy_timeout = 5000')
      sqlite.exec('PRAGMA journal_mode = WAL')
    } finally {
      process.umask(umask)
    }
  }
  if (opts.rowCache === false) sqlite.withoutRowCache()
  sqlite.exec('PRAGMA busy_timeout = 5000')
  sqlite.exec('PRAGMA synchronous = NORMAL')
  sqlite.exec('PRAGMA foreign_keys = ON')
  return new SqliteConnection(sqlite, syncDrizzle({ client: sqlite, schema }) as SyncDb)
}

/** The change signal of a connection (src/db/change-signal.ts). */
export function changeSignal(conn: SqliteConnection) {
  return conn.client.signal
}

export function closeDatabase(conn: SqliteConnection): void {
  conn.close()
}
