import { Database, type SQLQueryBindings, type Statement } from 'bun:sqlite'
import { ChangeSignal } from './change-signal'

type AnyStatement = Statement<any, any>

const SELECT = /^\s*select\b/i

/**
 * bun:sqlite's Database as drizzle uses it, with two caches:
 *
 * - Compiled statements, reused by SQL text. drizzle calls `prepare()` for every query it runs
 *   (SQLite then parses and plans it again, tens of µs), though its query builder produces the
 *   same text for the same query shape. drizzle's bun-sqlite session runs each statement to
 *   completion synchronously (run/all/values, never an open iterator), so queries with the same
 *   text can share one. Bounded: past MAX_STATEMENTS the oldest is forgotten (not finalized: a
 *   long-lived prepared query may hold it).
 *
 * - Single rows read by SELECT statements (token look-ups, data versions, one object by id), kept
 *   until the next commit to the database by anyone. Its one invalidation rule is the change
 *   signal (src/db/change-signal.ts): SQLite's `data_version` for other connections, and this
 *   connection's own writes, which all pass here (every statement that is not a plain SELECT
 *   notes a write when it runs: this class is the choke point). On a WAL file every statement
 *   opens a read transaction, a few system calls; an unchanged database answers from memory
 *   instead. Never inside a transaction (its own uncommitted writes are not a commit yet), never
 *   for statements that write (`RETURNING`), never for results over MAX_ROWS rows or
 *   MAX_RESULT_BYTES; MAX_BYTES in all. Rows are drizzle's raw value arrays, which it only reads.
 *   Lists are not kept (MAX_ROWS = 1): under a workload with writes every commit empties the
 *   cache, and keeping pages of 50 rows cost more CPU per request than it saved (bench/mixed.ts,
 *   docs/performance.md); the agent list has its own cache keyed by data version.
 */
export class CachingDatabase extends Database {
  static readonly MAX_STATEMENTS = 500
  static readonly MAX_RESULTS = 2_000
  static readonly MAX_ROWS = 1
  /** Bytes of row data kept in all (strings counted at 2 bytes a character), and in one result. */
  static readonly MAX_BYTES = 8 * 1024 * 1024
  static readonly MAX_RESULT_BYTES = 1024 * 1024

  /** The one invalidation rule of the row cache; exposed for tests and for closing. */
  readonly signal = new ChangeSignal(this)
  private readonly statements = new Map<string, AnyStatement>()
  /** Kept rows per statement, then per parameters (a statement's SQL text is never hashed per read). */
  private readonly results = new Map<AnyStatement, Map<string, unknown[][]>>()
  private resultCount = 0
  private resultBytes = 0
  private generation = -1
  private rowCache = true

  /** Whether the row cache is on (read above it by src/db/prepared.ts's shared results). */
  get keepsRows(): boolean {
    return this.rowCache
  }

  /** Turns the row cache off (statements are still reused): for measuring what it earns. */
  withoutRowCache(): this {
    this.rowCache = false
    return this
  }

  override prepare = ((sql: string, params?: SQLQueryBindings | SQLQueryBindings[]) => {
    if (params !== undefined) {
      const stmt = super.prepare(sql, params) as AnyStatement
      if (!SELECT.test(sql)) this.noteWrites(stmt)
      return stmt
    }
    let stmt = this.statements.get(sql)
    if (stmt === undefined) {
      stmt = super.prepare(sql) as AnyStatement
      if (!SELECT.test(sql)) this.noteWrites(stmt)
      else if (this.rowCache) this.cacheValues(stmt, sql)
      if (this.statements.size >= CachingDatabase.MAX_STATEMENTS) this.statements.delete(this.statements.keys().next().value!)
      this.statements.set(sql, stmt)
    }
    return stmt
  }) as Database['prepare']

  // Every other way in runs through prepare() or notes its write here.
  override query = ((sql: string) => this.prepare(sql)) as Database['query']

  override exec = ((sql: string, ...bindings: any[]) => {
    try {
      return (super.exec as any)(sql, ...bindings)
    } finally {
      this.signal.noteWrite()
    }
  }) as Database['exec']

  override run = this.exec

  /** A statement that may write: every way of running it notes a write afterwards. */
  private noteWrites(stmt: AnyStatement): void {
    const signal = this.signal
    for (const name of ['run', 'all', 'get', 'values', 'iterate'] as const) {
      const original = (stmt as any)[name].bind(stmt)
      ;(stmt as any)[name] = (...params: SQLQueryBindings[]) => {
        try {
          return original(...params)
        } finally {
          signal.noteWrite()
        }
      }
    }
  }

  private cacheValues(stmt: AnyStatement, sql: string): void {
    const values = stmt.values.bind(stmt)
    stmt.values = ((...params: SQLQueryBindings[]) => {
      if (this.inTransaction) return values(...params)
      const g = this.signal.generation()
      if (g !== this.generation) {
        this.forgetResults()
        this.generation = g
      }
      let key: string
      try {
        key = paramsKey(params)
      } catch {
        return values(...params) // e.g. a bigint parameter
      }
      let kept = this.results.get(stmt)
      let rows = kept?.get(key)
      if (rows === undefined) {
        rows = values(...params) as unknown[][]
        const bytes = rows.length <= CachingDatabase.MAX_ROWS ? sizeOf(rows) + (key.length + sql.length) * 2 : Infinity
        if (bytes <= CachingDatabase.MAX_RESULT_BYTES) {
          if (this.resultCount >= CachingDatabase.MAX_RESULTS || this.resultBytes + bytes > CachingDatabase.MAX_BYTES) {
            this.forgetResults()
            kept = undefined
          }
          if (kept === undefined) this.results.set(stmt, (kept = new Map()))
          kept.set(key, rows)
          this.resultCount++
          this.resultBytes += bytes
        }
      }
      return rows
    }) as typeof stmt.values
  }

  private forgetResults(): void {
    this.results.clear()
    this.resultCount = 0
    this.resultBytes = 0
  }

  override close(throwOnError?: boolean): void {
    this.signal.close()
    for (const stmt of this.statements.values()) stmt.finalize()
    this.statements.clear()
    this.forgetResults()
    super.close(throwOnError)
  }
}

/**
 * The parameters of a read as a key: one string parameter (a token's hash, an id) as itself with
 * a prefix no JSON array has, anything else as JSON (a bigint throws: not kept).
 */
function paramsKey(params: SQLQueryBindings[]): string {
  if (params.length === 1 && typeof params[0] === 'string') return `s${params[0]}`
  return JSON.stringify(params)
}

/** Approximate bytes held by rows of SQLite values. */
function sizeOf(rows: unknown[][]): number {
  let n = 0
  for (const row of rows) {
    for (const v of row) n += typeof v === 'string' ? v.length * 2 : v instanceof Uint8Array ? v.byteLength : 8
  }
  return n
}
