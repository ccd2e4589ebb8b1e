import { fillPlaceholders } from 'drizzle-orm'
import { connectionOf, type Db, type SqliteConnection } from './connection'

const PREPARED = Symbol('teamday.prepared')

/**
 * Prepared drizzle queries, kept on the handle they were built on (the connection's database, or
 * its transaction handle). Building a query with drizzle's query builder costs tens of
 * microseconds per call; hot paths build theirs once per handle with `sql.placeholder(...)` and
 * only bind values per request.
 *
 * On SQLite they also run synchronously when they can (src/db/connection.ts `runNow`): drizzle's
 * asynchronous driver goes through three async functions per statement, about as much as the
 * statement itself on the token look-up and the agent list; callers `await` the result either way.
 */
export function prepared<T>(db: Db, key: string, build: () => T): T {
  const holder = db as unknown as { [PREPARED]?: Map<string, unknown> }
  let cache = holder[PREPARED]
  if (!cache) Object.defineProperty(holder, PREPARED, { value: (cache = new Map()) })
  let q = cache.get(key) as T | undefined
  if (q === undefined) {
    q = build()
    // PostgreSQL's prepared queries are awaited as they are (src/db/pg.ts).
    if (connectionOf(db).dialect === 'sqlite') for (const one of isQuery(q) ? [q] : Object.values(q as object).filter(isQuery)) runNowWhenPossible(db, one)
    cache.set(key, q)
  }
  return q
}

/** The prepared queries of a handle by key, to look at (test/list-plans.test.ts reads their SQL). */
export function preparedQueries(db: Db): ReadonlyMap<string, unknown> {
  return (db as unknown as { [PREPARED]?: Map<string, unknown> })[PREPARED] ?? new Map()
}

interface DrizzlePrepared {
  getQuery(): { sql: string; params: unknown[] }
  mapGetResult(row: unknown): unknown
  mapAllResult(rows: unknown): unknown
  get(values?: Record<string, unknown>): unknown
  all(values?: Record<string, unknown>): unknown
}

const isQuery = (q: unknown): q is DrizzlePrepared => typeof (q as DrizzlePrepared | null)?.getQuery === 'function' && typeof (q as DrizzlePrepared).mapGetResult === 'function'

/** Gives a prepared query's `get` and `all` a synchronous path, falling back to drizzle's own. */
function runNowWhenPossible(db: Db, q: DrizzlePrepared): void {
  const conn = connectionOf(db) as SqliteConnection
  const { sql, params } = q.getQuery()
  const get = q.get.bind(q)
  const all = q.all.bind(q)
  q.get = (values) => {
    const r = conn.runNow(db, sql, fillPlaceholders(params, values ?? {}), 'get')
    return r === undefined ? get(values) : q.mapGetResult(r.rows)
  }
  q.all = (values) => {
    const r = conn.runNow(db, sql, fillPlaceholders(params, values ?? {}), 'all')
    return r === undefined ? all(values) : q.mapAllResult(r.rows)
  }
}
