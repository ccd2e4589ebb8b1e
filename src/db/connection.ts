import { AsyncLocalStorage } from 'node:async_hooks'
import type { Database } from 'bun:sqlite'
import type { BunSQLiteDatabase } from 'drizzle-orm/bun-sqlite'
import { drizzle, type SqliteRemoteDatabase } from 'drizzle-orm/sqlite-proxy'
import * as schema from './schema/sqlite'
import type { CachingDatabase } from './sqlite'
import { changesCommitted, modifies } from './request-writes'

/**
 * What services query: drizzle's SQLite dialect, asynchronous (every statement is awaited), as
 * the PostgreSQL driver will be. Either the connection's database or a transaction of it; a
 * service never knows which (src/context.ts `withTx`).
 */
export type Db = SqliteRemoteDatabase<typeof schema>

/**
 * drizzle on bun:sqlite, synchronous: for what runs before anything else or beside the server's
 * statements (migrations at start-up, seeding in tests and benchmarks, test assertions).
 */
export type SyncDb = BunSQLiteDatabase<typeof schema> & { $client: Database }

export type Method = 'run' | 'all' | 'values' | 'get'
type Rows = { rows: any }

const CONNECTION = Symbol('teamday.connection')

/** A database connection of either dialect, as services and `withTx` see it. */
export interface DbConnection {
  readonly dialect: 'sqlite' | 'pg'
  /** Statements outside any transaction. */
  readonly db: Db
  /**
   * Runs `fn` in a transaction. `alone`: one that only writes, with no read it relies on (a single
   * statement and its Idempotency-Key's mark), which need not wait for the other transactions:
   * PostgreSQL's skips the transaction lock every other takes (SQLite has one writer anyway).
   */
  transaction<T>(fn: (tx: Db) => Promise<T>, opts?: { alone?: boolean }): Promise<T>
  /** Whether `db` is a transaction's handle. */
  isTransaction(db: Db): boolean
}

/** Marks a handle as belonging to a connection (`connectionOf`). */
export function attachConnection(db: Db, conn: DbConnection): void {
  Object.defineProperty(db, CONNECTION, { value: conn })
}

/**
 * One SQLite connection, shared by every request, with transactions that may await.
 *
 * bun:sqlite runs each statement synchronously; a transaction is BEGIN … COMMIT on the
 * connection. With one connection, a transaction that awaits (as every service does) would let
 * other requests' statements run inside it: their writes would commit or roll back with it, and
 * their reads would see its uncommitted rows. So the connection has a gate:
 *
 * - a transaction holds the gate from BEGIN IMMEDIATE to COMMIT/ROLLBACK; transactions queue for it;
 * - a statement on the connection's `db` (outside any transaction) runs at once when the gate is
 *   free (the common case: no extra cost), and otherwise waits until the transaction has ended;
 * - the transaction's statements go through its own handle (`withTx` hands it to the service),
 *   which works only inside that transaction.
 *
 * A statement on the connection's `db` issued from inside a transaction's own code (a write that
 * escapes its transaction, DESIGN.md) would wait for a transaction that waits for it: it fails at
 * once with an error instead (found through AsyncLocalStorage, consulted only while a
 * transaction is open). Why a gate and not a second connection: the second connection's writes
 * would block the event loop on SQLite's file lock (busy_timeout) while the transaction that
 * holds it needs the event loop to finish; and `:memory:` has no second connection.
 */
export class SqliteConnection implements DbConnection {
  readonly dialect = 'sqlite' as const
  /** The connection's database: every statement outside a transaction. */
  readonly db: Db
  /** The handle of the open transaction (one at a time). */
  private readonly txDb: Db
  private held = false
  private open: object | null = null
  private waiters: (() => void)[] = []
  private readonly scope = new AsyncLocalStorage<object>()
  /** Told how long each statement took, in seconds (the metrics' database query time). */
  onQuery: ((seconds: number) => void) | null = null

  constructor(
    readonly client: CachingDatabase,
    /** Synchronous drizzle on the same connection: migrations, seeding, tests. */
    readonly sync: SyncDb,
  ) {
    // No `schema` for drizzle: services use its query builder, never its relational queries
    // (db.query.*), whose table map drizzle would otherwise build for each handle at start-up.
    this.db = drizzle((sql, params, method) => this.outside(sql, params, method)) as unknown as Db
    this.txDb = drizzle((sql, params, method) => this.inside(sql, params, method)) as unknown as Db
    for (const db of [this.db, this.txDb]) attachConnection(db, this)
  }

  /**
   * Runs a statement for `db` synchronously when nothing stands in its way (the common case: no
   * transaction open, or `db` is the open transaction's handle used inside it); undefined when it
   * must go the asynchronous way (which waits, or throws the error that explains why not).
   * For prepared hot-path queries (src/db/prepared.ts).
   */
  runNow(db: Db, sql: string, params: unknown[], method: Method): Rows | undefined {
    if (db === this.db) return this.held ? undefined : (this.run(sql, params, method) as Rows)
    if (db === this.txDb && this.open !== null && this.scope.getStore() === this.open) return this.run(sql, params, method) as Rows
    return undefined
  }

  /**
   * The row cache's generation (src/db/sqlite.ts, src/db/change-signal.ts) when a read by `db`
   * would be answered by that cache now: `db` is the connection's own, no transaction is held or
   * open, the row cache is on. Else -1. What is kept above the row cache under this number (the
   * shared results of src/db/prepared.ts) is what the row cache would answer until it changes.
   */
  cachedReadGeneration(db: Db): number {
    if (db !== this.db || this.held || !this.client.keepsRows || this.client.inTransaction) return -1
    return this.client.signal.generation()
  }

  /** A read answered from memory above the row cache: told to the metrics as the row cache's hits are (a statement of no time). */
  noteCachedRead(): void {
    this.onQuery?.(0)
  }

  /** Whether `db` is a transaction's handle. */
  isTransaction(db: Db): boolean {
    return db === this.txDb
  }

  /**
   * Runs `fn` in a transaction (BEGIN IMMEDIATE: the write lock is taken at once, so two
   * processes never deadlock upgrading a read lock). Commits when `fn` resolves, rolls back when
   * it throws. `fn` must query through the handle it is given.
   */
  async transaction<T>(fn: (tx: Db) => Promise<T>): Promise<T> {
    while (this.held) await this.turn()
    this.held = true
    const token = {}
    this.open = token
    this.txChanged = false
    try {
      this.client.exec('BEGIN IMMEDIATE')
      let result: T
      try {
        result = await this.scope.run(token, () => fn(this.txDb))
        // Not committed into a file no longer at its path (rolled back below): see checkFile.
        if (this.checkFile()) throw databaseMoved()
        this.client.exec('COMMIT')
        if (this.txChanged) changesCommitted()
      } catch (e) {
        if (this.client.inTransaction) this.client.exec('ROLLBACK')
        throw e
      }
      return result
    } finally {
      this.open = null
      this.held = false
      const waiting = this.waiters
      this.waiters = []
      for (const wake of waiting) wake()
    }
  }

  /**
   * The readiness check: a read of one of teamday's own tables, so a file that lost them (or is
   * not teamday's) is not ready. `SELECT 1` read nothing at all. A database file no longer at its
   * path (checkFile) is not ready either.
   */
  ping(): void {
    if (this.checkFile()) throw databaseMoved()
    this.client.prepare('SELECT 1 FROM settings LIMIT 1').get()
  }

  /** Set once checkFile() has seen the file gone from its path: from then on only reads run. */
  private moved = false

  /**
   * Whether the database file is still the one at its path, as SQLite tells through its own API
   * (SQLITE_FCNTL_HAS_MOVED: deleted, renamed or replaced while open; nothing here opens or
   * stats its files: SQLite stats the path, a few microseconds). Once it has moved, every
   * statement but a read is refused (503): SQLite would go on writing to the unlinked file,
   * acknowledged, and lose it all at the next start. Asked before every write outside a
   * transaction and before every COMMIT (asked only every 2 s by `teamday serve`, the writes
   * of those seconds were acknowledged and lost: found from outside, 2026-12-05), by the
   * readiness check, and every few seconds by `teamday serve` (which logs it). False for an
   * in-memory database, which has no file.
   */
  checkFile(): boolean {
    if (this.moved) return true
    const out = new Int32Array(2)
    let rc: number
    try {
      rc = this.client.fileControl(SQLITE_FCNTL_HAS_MOVED, out)
    } catch {
      return false
    }
    if (rc === 0 && out[0] !== 0) this.moved = true
    return this.moved
  }

  /**
   * Brings the planner's statistics up to date where a table grew or shrank a lot since they were
   * taken (`PRAGMA optimize`, each index sampled up to analysis_limit), from the hourly
   * housekeeping; false, doing nothing, while a transaction holds the connection or the file has
   * moved. Nothing to do (statistics current): 0.05 ms. A database of 100,000 rows a table with
   * none at all: 0.23 s once (as each close already spent), then current. They were taken only at close: a server that
   * started on an empty table kept planning by them for as long as it ran, and the console's
   * session look-up (four tables joined) read every session of the server on every page when
   * sqlite_stat1 still said one (20,000 sessions: 1.8 ms a look-up; 0.016 ms on the index).
   */
  optimize(): boolean {
    if (this.held || this.moved || this.client.inTransaction) return false
    this.client.exec('PRAGMA analysis_limit = 1000')
    this.client.exec('PRAGMA optimize')
    return true
  }

  close(): void {
    try {
      this.client.exec('PRAGMA optimize')
    } catch {
      // ignore
    }
    this.client.close()
  }

  private turn(): Promise<void> {
    return new Promise((wake) => this.waiters.push(wake))
  }

  /** A statement on the connection's db: at once, or after the open transaction. */
  private outside(sql: string, params: unknown[], method: Method): Promise<Rows> {
    // drizzle awaits the callback's result: a plain value saves a promise on the hot path.
    if (!this.held) return this.run(sql, params, method) as unknown as Promise<Rows>
    return this.afterTransaction(sql, params, method)
  }

  /** Whether a statement of the open transaction changed a row (its commit is then a change: src/db/request-writes.ts). */
  private txChanged = false

  /** A statement changed rows: inside the open transaction, noted for its commit; outside one, committed already. */
  private changed(): void {
    if (this.open !== null) this.txChanged = true
    else changesCommitted()
  }

  private async afterTransaction(sql: string, params: unknown[], method: Method): Promise<Rows> {
    while (this.held) {
      if (this.open !== null && this.scope.getStore() === this.open) {
        throw new Error('A statement escapes its transaction: inside withTx, query through the ctx it hands you (DESIGN.md, "A write never escapes its transaction").')
      }
      await this.turn()
    }
    return this.run(sql, params, method) as Rows
  }

  private inside(sql: string, params: unknown[], method: Method): Promise<Rows> {
    if (this.open === null || this.scope.getStore() !== this.open) {
      throw new Error('A transaction handle was used outside its transaction.')
    }
    return this.run(sql, params, method) as unknown as Promise<Rows>
  }

  /**
   * Runs one statement (compiled once per SQL text and its SELECT rows cached until the next
   * commit: src/db/sqlite.ts) in the row shape drizzle's proxy driver maps: value arrays.
   */
  private run(sql: string, params: unknown[], method: Method): Rows | unknown {
    const observer = this.onQuery
    if (observer === null) return this.execute(sql, params, method)
    const t0 = performance.now()
    try {
      return this.execute(sql, params, method)
    } finally {
      observer((performance.now() - t0) / 1000)
    }
  }

  private execute(sql: string, params: unknown[], method: Method): Rows | unknown {
    // A write outside a transaction commits at once: asked first whether the file is still at its
    // path (a transaction's writes are asked about once, before its COMMIT). The flags first: a
    // statement inside a transaction of a file not known to have moved (most of them) needs no
    // look at its text.
    if ((this.moved || !this.held) && !/^\s*select\b/i.test(sql) && (this.moved || this.checkFile())) throw databaseMoved()
    const stmt = this.client.prepare(sql)
    if (method === 'run') {
      const r = stmt.run(...(params as any[]))
      // SQLite's count of the last INSERT, UPDATE or DELETE (of an earlier one after a read): asked only of one.
      if (r.changes > 0 && modifies(sql)) this.changed()
      return r
    }
    const rows = stmt.values(...(params as any[]))
    // A write's RETURNING rows are the rows it changed.
    if (rows.length > 0 && modifies(sql)) this.changed()
    return { rows: method === 'get' ? rows[0] : rows }
  }
}

/** sqlite3_file_control's "has the file moved" (sqlite3.h; bun:sqlite exports no name for it). */
const SQLITE_FCNTL_HAS_MOVED = 20

/** The error of a write to a database file that is no longer at its path (mapped to 503: src/db/unavailable.ts). */
function databaseMoved(): Error {
  return Object.assign(new Error('the database file was deleted, moved or replaced while the server ran'), { code: 'SQLITE_READONLY_DBMOVED' })
}

/** The connection a handle belongs to. */
export function connectionOf(db: Db): DbConnection {
  const conn = (db as unknown as { [CONNECTION]?: DbConnection })[CONNECTION]
  if (!conn) throw new Error('not a handle of a teamday database connection')
  return conn
}
