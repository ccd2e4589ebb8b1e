/**
 * Whether a PostgreSQL database sorts text as C does. teamday compares ids as bytes (SQLite's
 * order, and its keyset paging's: src/db/paging.ts); a database collated otherwise (ICU, or a
 * libc locale such as en_US.UTF-8) orders rows created in the same millisecond differently, and
 * the large pages streamed in batches may miss or repeat them. Said at `teamday serve`'s start
 * (`collation_not_c`) and by `teamday migrate-data` before it copies.
 */

export const COLLATION_NOT_C =
  'This database does not sort text as C does (ids compare as bytes in teamday, by this collation in the database): the large pages the API streams in batches (GET /api/v1/agents, /spaces, /executions near their page limits) may miss or repeat rows created in the same millisecond. Create the database with C collation (createdb --locale=C.UTF-8 --template=template0 …) and move the data over (pg_dump, then pg_restore into it); see README, Running several instances, Collation.'

/** libc collations that sort as C does: byte order (for UTF-8, code point order). */
const C_COLLATIONS = new Set(['C', 'POSIX', 'C.UTF-8', 'C.utf8'])

/** A database's pg_database row as JSON: its locale's columns differ by version (datlocprovider since 15, daticulocale in 15-16, datlocale from 17). */
export interface DatabaseLocale {
  datcollate?: string
  datlocprovider?: string
  daticulocale?: string
  datlocale?: string
}

/** The database's collation when it does not sort as C does (`ICU en-US`, `en_US.UTF-8`), else null. */
export function collationNotC(db: DatabaseLocale): string | null {
  // Providers: c (libc: datcollate), i (ICU), b (PostgreSQL 17's builtin: C or C.UTF-8, code point order).
  const provider = db.datlocprovider ?? 'c'
  if (provider === 'b') return null
  if (provider === 'i') return `ICU ${db.datlocale ?? db.daticulocale ?? ''}`.trim()
  return db.datcollate === undefined || C_COLLATIONS.has(db.datcollate) ? null : db.datcollate
}

/** The SQL of the current database's locale row (as JSON: a column a version lacks must not fail the statement). */
export const DATABASE_LOCALE_SQL = 'SELECT to_jsonb(d) AS db FROM pg_database d WHERE d.datname = current_database()'
