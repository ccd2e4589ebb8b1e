import { fillPlaceholders } from 'drizzle-orm'
import { connectionOf, type Db, type SqliteConnection } from './connection'
import { compiledRowMapper } from './row-mapper'

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
export function prepared<T>(db: Db, key: string, build: () => T, opts: { shared?: boolean } = {}): T {
  const holder = db as unknown as { [PREPARED]?: Map<string, unknown> }
  let cache = holder[PREPARED]
  if (!cache) Object.defineProperty(holder, PREPARED, { value: (cache = new Map()) })
  let q = cache.get(key) as T | undefined
  if (q === undefined) {
    q = build()
    // PostgreSQL's prepared queries are awaited as they are (src/db/pg.ts).
    if (connectionOf(db).dialect === 'sqlite') for (const one of isQuery(q) ? [q] : Object.values(q as object).filter(isQuery)) runNowWhenPossible(db, one, opts.shared === true)
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

/**
 * Gives a prepared query's `get` and `all` a synchronous path, falling back to drizzle's own.
 *
 * `shared` (the per-request look-ups: a token, a data version): while the connection's row
 * cache answers with the same row (until the next commit, src/db/sqlite.ts: the one rule that
 * invalidates both), `get` answers with the same mapped object, frozen, instead of mapping the
 * row again; callers only read it (`Readonly<…>`). Drizzle's mapping was ~10 % of the CPU of a
 * cached agent list in-process.
 */
function runNowWhenPossible(db: Db, q: DrizzlePrepared, shared: boolean): void {
  const conn = connectionOf(db) as SqliteConnection
  const { sql, params } = q.getQuery()
  const get = q.get.bind(q)
  const all = q.all.bind(q)
  const mapped = shared ? new WeakMap<object, unknown>() : null
  // drizzle's own mapping, or the same done with the per-column work done once (src/db/row-mapper.ts).
  const mapRow = compiledRowMapper(q as Parameters<typeof compiledRowMapper>[0])
  const mapGet = mapRow ? (row: unknown) => (row ? mapRow(row as unknown[]) : undefined) : (row: unknown) => q.mapGetResult(row)
  const mapAll = mapRow ? (rows: unknown) => (rows as unknown[][]).map(mapRow) : (rows: unknown) => q.mapAllResult(rows)
  q.get = (values) => {
    const r = conn.runNow(db, sql, fillPlaceholders(params, values ?? {}), 'get')
    if (r === undefined) return get(values)
    const row = r.rows as unknown
    if (mapped === null || row === null || typeof row !== 'object') return mapGet(row)
    let result = mapped.get(row)
    if (result === undefined) mapped.set(row, (result = Object.freeze(mapGet(row))))
    return result
  }
  q.all = (values) => {
    const r = conn.runNow(db, sql, fillPlaceholders(params, values ?? {}), 'all')
    return r === undefined ? all(values) : mapAll(r.rows)
  }
}
