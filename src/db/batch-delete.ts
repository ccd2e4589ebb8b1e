import { sql, type SQL } from 'drizzle-orm'
import type { SQLiteColumn, SQLiteTable } from 'drizzle-orm/sqlite-core'
import type { Db } from './connection'
import { idIn } from './schema'

/**
 * Deletes at most `limit` rows of `table` that `where` picks (a condition on the table's own
 * columns, which may name them as `${table.column}`), each found again by its `key`; returns how
 * many went. One statement of bounded size, for the housekeeping of what is dead
 * (src/housekeeping.ts): a backlog never holds the database's write lock for long (SQLite has one
 * writer), and the same rows deleted twice (two instances at once) are deleted once.
 */
export async function deleteBatch(db: Db, table: SQLiteTable, key: SQLiteColumn, where: SQL, limit: number): Promise<number> {
  const gone = await db
    .delete(table)
    .where(idIn(key, sql`SELECT ${key} FROM ${table} WHERE ${where} LIMIT ${Math.trunc(limit)}`))
    .returning({ key })
    .all()
  return gone.length
}
