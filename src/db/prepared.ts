import type { DB } from './client'

/**
 * Per-database cache of prepared drizzle queries. Building a query with drizzle's query builder
 * costs tens of microseconds per call; hot paths build theirs once per database with
 * `sql.placeholder(...)` and only bind values per request.
 */
const caches = new WeakMap<DB, Map<string, unknown>>()

export function prepared<T>(db: DB, key: string, build: () => T): T {
  let cache = caches.get(db)
  if (!cache) caches.set(db, (cache = new Map()))
  let q = cache.get(key) as T | undefined
  if (q === undefined) cache.set(key, (q = build()))
  return q
}
