import { Database } from 'bun:sqlite'
import { chmodSync, existsSync, mkdirSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { drizzle, type BunSQLiteDatabase } from 'drizzle-orm/bun-sqlite'
import { attachChangeSignal, changeSignal } from './change-signal'
import * as schema from './schema'
import { CachingDatabase } from './sqlite'

export type DB = BunSQLiteDatabase<typeof schema> & { $client: Database }

export const MEMORY = ':memory:'

/**
 * Opens the SQLite database with the house pragmas. For a file database the parent
 * directory is created 0700 and the file (and its WAL/SHM companions) made 0600.
 */
export function openDatabase(path: string): DB {
  const isMemory = path === MEMORY
  let sqlite: Database
  if (isMemory) {
    sqlite = new CachingDatabase(MEMORY)
  } else {
    const file = resolve(path)
    const dir = dirname(file)
    if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: 0o700 })
    sqlite = new CachingDatabase(file, { create: true })
    restrictFileModes(file)
  }
  sqlite.exec('PRAGMA busy_timeout = 5000')
  if (!isMemory) sqlite.exec('PRAGMA journal_mode = WAL')
  sqlite.exec('PRAGMA synchronous = NORMAL')
  sqlite.exec('PRAGMA foreign_keys = ON')
  if (!isMemory) restrictFileModes(resolve(path))
  const db = drizzle({ client: sqlite, schema }) as DB
  attachChangeSignal(db, isMemory ? null : resolve(path))
  ;(sqlite as CachingDatabase).cacheResultsUntil(changeSignal(db))
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
