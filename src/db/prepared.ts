import { fillPlaceholders, getTableColumns, getTableName, is, Placeholder, sql, SQL, type Column } from 'drizzle-orm'
import type { SQLiteTable } from 'drizzle-orm/sqlite-core'
import { connectionOf, type Db, type SqliteConnection } from './connection'
import { compiledRowMapper } from './row-mapper'

const PREPARED = Symbol('teamday.prepared')
/** Answers a shared query keeps by its parameter's value (runNowWhenPossible), at most. */
const MAX_KEPT = 2000
/** A kept answer of no row. */
const NO_ROW = Symbol('no row')

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
    const sqlite = connectionOf(db).dialect === 'sqlite'
    const ready = (one: unknown) => {
      if (sqlite && isQuery(one)) runNowWhenPossible(db, one, opts.shared === true)
      return one
    }
    if (isQuery(q)) ready(q)
    else
      for (const [name, one] of Object.entries(q as object)) {
        if (!isLazy(one)) ready(one)
        // Built on its first use (lazily): the getter then leaves the statement in its place.
        else
          Object.defineProperty(q, name, {
            configurable: true,
            enumerable: true,
            get() {
              const made = ready(one[LAZY]())
              Object.defineProperty(this, name, { value: made, enumerable: true, writable: true, configurable: true })
              return made
            },
          })
      }
    cache.set(key, q)
  }
  return q
}

const LAZY = Symbol('teamday.lazy')
type Lazy = { [LAZY]: () => unknown }
const isLazy = (x: unknown): x is Lazy => typeof x === 'object' && x !== null && LAZY in x

/**
 * A statement of a group that prepared() keeps, built on its first use rather than with the
 * group (typed as the statement it becomes). A list's group holds five or six statements (its
 * first and later pages, their sizes, its count); a first page uses two, and each built with
 * drizzle's builder took 0.2–0.5 ms of a start's first request (docs/performance.md).
 * Only as a property of a group that prepared() builds: it is no statement before then.
 */
export function lazy<T>(make: () => T): T {
  return { [LAZY]: make } as unknown as T
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
 * `shared` (the per-request look-ups: a token, a data version; the token a GET shows): while the connection's row
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
  const getNow = (values: Record<string, unknown> | undefined) => {
    const r = conn.runNow(db, sql, fillPlaceholders(params, values ?? {}), 'get')
    if (r === undefined) return get(values)
    const row = r.rows as unknown
    if (mapped === null || row === null || typeof row !== 'object') return mapGet(row)
    let result = mapped.get(row)
    if (result === undefined) mapped.set(row, (result = Object.freeze(mapGet(row))))
    return result
  }
  // A shared query of one string parameter (a token's hash, a version's key) also keeps its answers
  // by that value, under the row cache's generation: the same frozen object the row cache's row
  // maps to, found by one look-up instead of the statement's way down to that cache (its
  // parameters filled, its SQL text looked up, its key built, two maps, the mapped row's
  // WeakMap): 0.3-0.4 µs a read, two a cached agent list. Same rule as the row cache (the next
  // commit by anyone, or a write by this connection, empties it), only when the row cache would
  // answer (the connection's db, no transaction), bounded. No row (an organization without agents
  // has no version row yet) is kept too, as the row cache keeps it.
  const placeholder = shared && params.length === 1 && is(params[0], Placeholder) ? params[0].name : null
  if (placeholder === null) {
    q.get = getNow
  } else {
    const kept = new Map<string, unknown>()
    let keptGeneration = -1
    q.get = (values) => {
      const value = values?.[placeholder]
      const g = typeof value === 'string' ? conn.cachedReadGeneration(db) : -1
      if (g < 0) return getNow(values)
      if (g !== keptGeneration) {
        kept.clear()
        keptGeneration = g
      }
      const found = kept.get(value as string)
      if (found !== undefined) {
        conn.noteCachedRead()
        return found === NO_ROW ? undefined : found
      }
      const result = getNow(values)
      if (!(result instanceof Promise)) {
        if (kept.size >= MAX_KEPT) kept.clear()
        kept.set(value as string, result === undefined ? NO_ROW : result)
      }
      return result
    }
  }
  q.all = (values) => {
    const r = conn.runNow(db, sql, fillPlaceholders(params, values ?? {}), 'all')
    return r === undefined ? all(values) : mapAll(r.rows)
  }
}

type InsertableTable = SQLiteTable & { $inferInsert: Record<string, unknown>; $inferSelect: Record<string, unknown> }

/**
 * A prepared `INSERT` of one row into `table`, every insertable column bound: drizzle's insert
 * builder otherwise builds the statement's SQL anew for every row (measured: 30-70 µs of a task's
 * insert on SQLite, about 100 µs on PostgreSQL, before the database does anything). `get` returns
 * the row inserted (`RETURNING *`), `run` nothing. A column the row leaves out gets what drizzle's
 * builder gives it: its default (an SQL default of a NOT NULL column is in the statement), else its
 * $defaultFn or $onUpdateFn, else null (generated columns are never written); a nullable column
 * whose default is SQL must be given (it throws otherwise).
 * Values are encoded as drizzle encodes them (the column's mapToDriverValue; null stays null).
 *
 * `onlyIf`: the row is inserted only where this condition holds, in the same statement
 * (`INSERT … SELECT <values> WHERE <condition>`): `get` then gives undefined when it did not. Its
 * placeholders are the row's own keys (`sql.placeholder('organizationId')`) and those of the
 * `params` given with the row (values as the driver takes them); `name` keys the
 * prepared statement. PostgreSQL types a SELECT list's parameters as text: each value is cast to
 * its column's type there.
 */
export function insertStatements<T extends InsertableTable>(db: Db, table: T): { get(row: T['$inferInsert']): Promise<T['$inferSelect']>; run(row: T['$inferInsert']): Promise<void> }
export function insertStatements<T extends InsertableTable>(db: Db, table: T, onlyIf: { name: string; where: () => SQL }): { get(row: T['$inferInsert'], params?: Record<string, unknown>): Promise<T['$inferSelect'] | undefined>; run(row: T['$inferInsert'], params?: Record<string, unknown>): Promise<void> }
export function insertStatements<T extends InsertableTable>(db: Db, table: T, onlyIf?: { name: string; where: () => SQL }): { get(row: T['$inferInsert'], params?: Record<string, unknown>): Promise<T['$inferSelect'] | undefined>; run(row: T['$inferInsert'], params?: Record<string, unknown>): Promise<void> } {
  // Each insertable column with whether its default is SQL (asked once here, not per row).
  const columns = (Object.entries(getTableColumns(table)) as [string, Column][])
    .filter(([, c]) => !(c as unknown as { shouldDisableInsert(): boolean }).shouldDisableInsert())
    .map(([k, c]) => [k, c, sqlDefault(c)] as const)
  const q = prepared(db, onlyIf ? `insert.${getTableName(table)}.${onlyIf.name}` : `insert.${getTableName(table)}`, () => {
    const pg = connectionOf(db).dialect === 'pg'
    const bind = (k: string, c: Column) => (onlyIf && pg ? sql`cast(${sql.placeholder(k)} as ${sql.raw(c.getSQLType())})` : sql`${sql.placeholder(k)}`)
    // A column whose default is SQL (a JSON list's '[]') gets it in the statement, for a row that leaves it out.
    const value = (k: string, c: Column, inSql: boolean) => (inSql ? sql`coalesce(${bind(k, c)}, ${c.default as SQL})` : bind(k, c))
    const values = () =>
      onlyIf
        ? // The columns in the order drizzle lists them for an INSERT … SELECT (its insertable ones, as `columns`).
          db.insert(table).select(sql`select ${sql.join(columns.map(([k, c, inSql]) => value(k, c, inSql)), sql`, `)} where ${onlyIf.where()}`)
        : db.insert(table).values(Object.fromEntries(columns.map(([k, c, inSql]) => [k, value(k, c, inSql)])) as T['$inferInsert'])
    // Each built on its first use: most tables are inserted into one way only.
    return { returning: lazy(() => values().returning().prepare()), plain: lazy(() => values().prepare()) }
  })
  // `params`: the values of placeholders of `onlyIf`'s condition that are no column of the row.
  const bound = (row: Record<string, unknown>, params?: Record<string, unknown>) => {
    const out: Record<string, unknown> = { ...params }
    for (const [k, c, inSql] of columns) {
      let v = row[k]
      if (v === null && inSql) throw new Error(`insertStatements: ${getTableName(table)}.${k} cannot be null`)
      if (v === undefined && !inSql) v = defaultOf(table, k, c)
      out[k] = v === null || v === undefined ? null : c.mapToDriverValue(v)
    }
    return out
  }
  return {
    get: async (row, params) => (await q.returning.get(bound(row, params))) as T['$inferSelect'] | undefined,
    run: async (row, params) => {
      await q.plain.run(bound(row, params))
    },
  }
}

/**
 * Whether a column's default is SQL (written into the statement: coalesce(value, default)). Only
 * for NOT NULL columns, where a null could never be stored: a nullable one must be given.
 */
function sqlDefault(c: Column): boolean {
  return is(c.default, SQL) && c.notNull
}

/** What drizzle's insert builder puts in a column the row leaves out (one without an SQL default). */
function defaultOf(table: InsertableTable, key: string, c: Column): unknown {
  if (c.default !== null && c.default !== undefined) {
    if (is(c.default, SQL)) throw new Error(`insertStatements: ${getTableName(table)}.${key} has an SQL default and may be null; give it a value`)
    return c.default
  }
  const made = c.defaultFn !== undefined ? c.defaultFn() : c.onUpdateFn !== undefined ? c.onUpdateFn() : null
  if (is(made, SQL)) throw new Error(`insertStatements: ${getTableName(table)}.${key} has an SQL default; give it a value`)
  return made
}
