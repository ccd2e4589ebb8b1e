import { inArray } from 'drizzle-orm'
import type { SQLiteColumn, SQLiteTable } from 'drizzle-orm/sqlite-core'
import type { Db } from './connection'

/** Values bound in one `IN (…)` list: well under SQLite's and PostgreSQL's parameter limits. */
const IN_LIST = 500

/**
 * Of `values`, those `column` of `table` holds: one statement per 500, where a look-up each was a
 * round trip each (a leak report of 1,000 made-up tokens held a pooled PostgreSQL connection for
 * 0.8-0.9 s). For a unique column (a token's hash): which of many candidates exist.
 */
export async function valuesPresent(db: Db, table: SQLiteTable, column: SQLiteColumn, values: readonly string[]): Promise<Set<string>> {
  const found = new Set<string>()
  for (let i = 0; i < values.length; i += IN_LIST) {
    const rows = await db.select({ v: column }).from(table).where(inArray(column, values.slice(i, i + IN_LIST))).all()
    for (const r of rows) found.add(r.v as string)
  }
  return found
}
