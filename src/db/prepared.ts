import type { Db } from './connection'

const PREPARED = Symbol('teamday.prepared')

/**
 * Prepared drizzle queries, kept on the handle they were built on (the connection's database, or
 * its transaction handle). Building a query with drizzle's query builder costs tens of
 * microseconds per call; hot paths build theirs once per handle with `sql.placeholder(...)` and
 * only bind values per request.
 */
export function prepared<T>(db: Db, key: string, build: () => T): T {
  const holder = db as unknown as { [PREPARED]?: Map<string, unknown> }
  let cache = holder[PREPARED]
  if (!cache) Object.defineProperty(holder, PREPARED, { value: (cache = new Map()) })
  let q = cache.get(key) as T | undefined
  if (q === undefined) cache.set(key, (q = build()))
  return q
}

/** The prepared queries of a handle by key, to look at (test/list-plans.test.ts reads their SQL). */
export function preparedQueries(db: Db): ReadonlyMap<string, unknown> {
  return (db as unknown as { [PREPARED]?: Map<string, unknown> })[PREPARED] ?? new Map()
}
