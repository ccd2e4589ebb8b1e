import { Database, type SQLQueryBindings } from 'bun:sqlite'
import { existsSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { and, asc, gt, notInArray, sql } from 'drizzle-orm'
import { drizzle } from 'drizzle-orm/bun-sqlite'
import { getTableConfig as pgConfig, type PgColumn, type PgTable } from 'drizzle-orm/pg-core'
import type postgres from 'postgres'
import { getTableConfig as liteConfig, type SQLiteColumn, type SQLiteTable } from 'drizzle-orm/sqlite-core'
import { errorMessage } from '../errors'
import { DatabaseBusyError, integritySummary, lockExclusively } from './backup'
import { isNotADatabase } from './client'
import { embeddedMigrations, newerThanThisBuild, newestKnownMigration, runPgMigrations, sqliteSchemaState } from './migrate'
import { TX_LOCK, type PgConnection } from './pg'
import { TABLE_NAMES } from './schema'
import * as pgSchema from './schema/pg'
import * as liteSchema from './schema/sqlite'
import { DATABASE_ID_SETTING, KEY_CHECK_SETTING } from './settings'

/**
 * `teamday migrate-data`: copies a SQLite database into an empty PostgreSQL one, every durable
 * table, in one PostgreSQL transaction (all or nothing). Both dialects' schemas are used at once
 * (src/db/schema/index.ts binds one per process; this reads SQLite's tables and writes
 * PostgreSQL's directly). Rows go through drizzle's row types (integer milliseconds → Date →
 * timestamptz, JSON text → values → jsonb, 0/1 → booleans); sealed values and token hashes are
 * copied as they are: nothing is decrypted, so the key is not needed to copy, only to use the copy.
 */

export type TableName = (typeof TABLE_NAMES)[number]

/**
 * What happens to each table (a new table fails to compile until it is decided here). Copied:
 * everything durable, including what keeps people signed in and retries safe (console sessions,
 * CLI sessions and access tokens, one-time links, idempotency keys, sign-in lockouts) and the
 * settings (the encryption key check: an instance with another key refuses to start), but for
 * the database's identity: the copy is another database (`serve --reuse-port` shares a port only
 * between processes on one database, src/cli/admin/port-holder.ts), and gets its own at its first start.
 */
export const TABLE_PLAN: Record<TableName, { copy: true; /** Rows (by primary key) left behind. */ exceptKeys?: string[] } | { skip: string }> = {
  organizations: { copy: true },
  users: { copy: true },
  memberships: { copy: true },
  personalAccessTokens: { copy: true },
  agents: { copy: true },
  spaces: { copy: true },
  secrets: { copy: true },
  tasks: { copy: true },
  auditEvents: { copy: true },
  idempotencyKeys: { copy: true },
  settings: { copy: true, exceptKeys: [DATABASE_ID_SETTING] },
  rateLimitCounters: { skip: 'counters of the current rate-limit window (seconds to minutes); on SQLite they live in the server process, so the table is empty there' },
  executions: { copy: true },
  executionLogs: { copy: true },
  cliLoginCodes: { copy: true },
  cliSessions: { copy: true },
  cliAccessTokens: { copy: true },
  sessions: { copy: true },
  oneTimeLinks: { copy: true },
  signInFailures: { copy: true },
}

/** A refusal that leaves both databases as they were; the message says what to do. */
export class MigrateDataError extends Error {}

/** The target holds rows already (and --replace was not given). */
export class TargetNotEmptyError extends MigrateDataError {
  constructor(readonly tables: { name: string; rows: number }[]) {
    super(`it already holds data (${tables.map((t) => `${t.name}: ${t.rows}`).join(', ')})`)
  }
}

/**
 * Opens a teamday SQLite database to read it (never created, its data never changed) and checks
 * that it is sound and migrated exactly to this build's schema: an older one must be migrated
 * first (`teamday migrate`, which writes), a newer one copied by the teamday that made it.
 *
 * It is read under SQLite's exclusive lock, as restore takes it (backup.ts lockExclusively): a
 * server that has the file open makes this refuse, instead of copying a snapshot that its later
 * writes are missing from, and no server opens it until the copy is done. The lock needs the file
 * opened read-write (SQLite writes nothing for it; a -wal it opens is removed when it closes, and
 * no -shm is made: a read-only connection left both beside the file). When the file cannot be
 * opened so (no write permission on it or its folder), it is opened read-only and `warn` says that
 * a running server could not be ruled out.
 */
export function openSqliteSource(path: string, warn: (line: string) => void = () => {}): Database {
  if (!existsSync(path)) throw new MigrateDataError(`no SQLite database at ${path} (--from): give the file a teamday server on SQLite uses (TEAMDAY_DB, by default ./data/teamday.db)`)
  // SQLite says only "disk I/O error" for a folder.
  if (statSync(path).isDirectory()) throw new MigrateDataError(`${path} is a folder, not a database file (--from): give the database file in it, e.g. ${join(path, 'teamday.db')}`)
  let db = lockedSource(path, warn)
  try {
    db ??= new SourceDatabase(path, { readonly: true })
  } catch (e) {
    throw new MigrateDataError(`cannot open ${path} read-only: ${(e as Error).message}`)
  }
  try {
    db.exec('PRAGMA busy_timeout = 5000')
    const done = sqliteSchemaState(db)
    if (!done.teamday) throw new MigrateDataError(`${path} is not a teamday database (it has no teamday tables)`)
    if (newerThanThisBuild(done.newest)) throw new MigrateDataError(`${path} was made by a newer teamday (it has migrations this build does not know): copy it with that version or a later one`)
    if (done.newest < newestKnownMigration()) {
      throw new MigrateDataError(
        `${path} is not migrated to this teamday's schema (${done.applied} of ${embeddedMigrations('sqlite').length} migrations applied): stop its server and run "teamday migrate --db ${path}" with this teamday first (migrate-data only reads the file)`,
      )
    }
    const check = db.query<{ quick_check: string }, []>('PRAGMA quick_check').all().map((r) => r.quick_check)
    if (check.join() !== 'ok') throw new MigrateDataError(`${path} failed its integrity check (${integritySummary(check)}); nothing was copied`)
    return db
  } catch (e) {
    db.close()
    const code = (e as { code?: string }).code ?? ''
    if (code === 'SQLITE_NOTADB') throw new MigrateDataError(`${path} is not a SQLite database`)
    throw damaged(path, e) ?? e
  }
}

/**
 * The source's connection. drizzle prepares a statement for every query, and SQLite keeps a
 * connection closed with statements left open until they are collected, with its exclusive lock:
 * a process that goes on (a test, a program that copies and then serves) found the file in use.
 * Here drizzle's statements come from query()'s cache, keyed by SQL text, which close() finalizes
 * (drizzle runs each statement to completion synchronously, as CachingDatabase relies on). Also
 * the tests' way to read a database file and let it go at once.
 */
export class SourceDatabase extends Database {
  override prepare = ((sql: string, params?: SQLQueryBindings | SQLQueryBindings[]) => (params === undefined ? this.query(sql) : super.prepare(sql, params))) as Database['prepare']
}

const WHILE_COPYING = 'before copying it: a write after the copy starts would be left behind; nothing was copied'

/** The source opened read-write under SQLite's exclusive lock; undefined (after `warn`) when it cannot be opened read-write. */
function lockedSource(path: string, warn: (line: string) => void): Database | undefined {
  let db: Database
  try {
    db = new SourceDatabase(path, { readwrite: true })
  } catch (e) {
    warn(cannotLock(path, e))
    return undefined
  }
  try {
    lockExclusively(db, path, WHILE_COPYING)
    return db
  } catch (e) {
    db.close()
    if (e instanceof DatabaseBusyError) throw new MigrateDataError(e.message)
    if (isNotADatabase(e)) throw new MigrateDataError(`${path} is not a SQLite database`)
    const broken = damaged(path, e)
    if (broken) throw broken
    // A file SQLite opened read-only after all (its mode, a read-only mount; a file another user owns: SQLITE_IOERR_LOCK): no lock to take.
    if (/^SQLITE_(READONLY|CANTOPEN|PERM|AUTH|IOERR_LOCK)/.test((e as { code?: string }).code ?? '')) {
      warn(cannotLock(path, e))
      return undefined
    }
    throw e
  }
}

/**
 * A file SQLite finds damaged before its check runs (one cut short by a full disk, at its first
 * read): its bare "database disk image is malformed" named no file. Undefined for another error.
 */
function damaged(path: string, e: unknown): MigrateDataError | undefined {
  if (!((e as { code?: string }).code ?? '').startsWith('SQLITE_CORRUPT')) return undefined
  return new MigrateDataError(`${path} failed its integrity check (${(e as Error).message}); nothing was copied`)
}

const cannotLock = (path: string, e: unknown) =>
  `warning: ${path} cannot be opened for writing (${(e as Error).message}), which SQLite's lock needs: whether a server has it open cannot be checked. Make sure its server is stopped: a write after the copy starts would be left behind`

/** The sealed key check value of a source database (src/db/settings.ts), when it has one. */
export function sourceKeyCheck(db: Database): string | undefined {
  return db.query<{ value: string }, [string]>('SELECT value FROM settings WHERE key = ?').get(KEY_CHECK_SETTING)?.value ?? undefined
}

export interface TableReport {
  /** The SQL name (`personal_access_tokens`). */
  name: string
  /** Rows in the source, equal to the rows in the target afterwards (checked before COMMIT). */
  rows: number
  /** Why the table was not copied. */
  skipped?: string
}

export interface CopyReport {
  tables: TableReport[]
  /** Rows deleted from the target first (--replace), per table; empty when it was empty. */
  replaced: { name: string; rows: number }[]
  /** PostgreSQL migrations applied to the target before the copy. */
  migrationsApplied: number
  /** Why `VACUUM (ANALYZE)` after the copy failed (the copy itself stands); absent when it ran. */
  analyzeFailed?: string
}

/** Every table, parents before children (PostgreSQL's foreign keys), otherwise in TABLE_NAMES order. */
export function copyOrder(): TableName[] {
  const byTable = new Map<PgTable, TableName>(TABLE_NAMES.map((n) => [pgSchema[n] as PgTable, n]))
  const order: TableName[] = []
  const visiting = new Set<TableName>()
  const visit = (n: TableName) => {
    if (order.includes(n)) return
    if (visiting.has(n)) throw new Error(`foreign keys form a cycle through ${n}: migrate-data needs an order`)
    visiting.add(n)
    for (const fk of pgConfig(pgSchema[n] as PgTable).foreignKeys) {
      const parent = byTable.get(fk.reference().foreignTable)
      if (parent && parent !== n) visit(parent)
    }
    visiting.delete(n)
    order.push(n)
  }
  for (const n of TABLE_NAMES) visit(n)
  return order
}

/**
 * Copies the SQLite database `source` (from openSqliteSource) into the PostgreSQL database of
 * `target`: migrates the target (under the migrations' advisory lock), then in one transaction
 * refuses a target that holds rows (or, with `replace`, empties it), copies every table of the
 * plan in batches keyed by primary key, sets identity sequences past the copied ids, and checks
 * that each table holds as many rows as the source: any difference or error rolls it all back.
 * The source is read in one read transaction (a consistent snapshot, also beside a running server).
 */
export async function copySqliteToPostgres(source: Database, target: PgConnection, opts: { replace?: boolean; force?: boolean; batchRows?: number; batchBytes?: number } = {}): Promise<CopyReport> {
  if (opts.replace && !opts.force) await refuseWhileInUse(target)
  const { applied } = await runPgMigrations(target)
  const lite = drizzle({ client: source, schema: liteSchema })
  source.exec('BEGIN')
  try {
    // postgres-js' own transaction on one connection: drizzle's insert builder costs ~100 ms per
    // 1,000-row batch; the columns' own driver mapping (below) is what it would send anyway.
    const report = await target.client.begin(async (tx) => {
      // As every transaction of a running instance does (src/db/pg.ts): none of theirs interleaves.
      await tx`SELECT pg_advisory_xact_lock(${TX_LOCK}, hashtext(current_schema()))`
      // TRUNCATE waits for running instances' locks: give up soon with a clear message instead.
      await tx`SET LOCAL lock_timeout = '5s'`
      const present: { name: string; rows: number }[] = []
      for (const n of TABLE_NAMES) {
        const rows = await countRows(tx, n)
        if (rows > 0) present.push({ name: nameOf(n), rows })
      }
      if (present.length > 0) {
        if (!opts.replace) throw new TargetNotEmptyError(present)
        await whileNotInUse(() => tx.unsafe(`TRUNCATE ${TABLE_NAMES.map((n) => quote(nameOf(n))).join(', ')} RESTART IDENTITY`))
      }
      // An exact copy: no trigger of ours fires while rows arrive (the agents trigger would bump
      // each organization's agents version, src/db/versions.ts, past the copied value). Both
      // ALTERs are part of the transaction: on any failure the triggers stay as they were.
      const order = copyOrder()
      const triggers = (state: 'DISABLE' | 'ENABLE') =>
        whileNotInUse(async () => {
          for (const n of order) if (!('skip' in TABLE_PLAN[n])) await tx.unsafe(`ALTER TABLE ${quote(nameOf(n))} ${state} TRIGGER USER`)
        })
      await triggers('DISABLE')
      const tables: TableReport[] = []
      for (const n of order) {
        const name = nameOf(n)
        const plan = TABLE_PLAN[n]
        if ('skip' in plan) {
          tables.push({ name, rows: 0, skipped: plan.skip })
          continue
        }
        const copied = await copyTable(lite, tx, n, { rows: opts.batchRows ?? 1000, bytes: opts.batchBytes ?? BATCH_BYTES }, plan.exceptKeys)
        // Rows left behind (exceptKeys: primary key values) are not expected in the target.
        const except = plan.exceptKeys ?? []
        const pk = liteConfig(liteSchema[n] as SQLiteTable).columns.find((c) => c.primary)!.name
        const expected = source
          .query<{ n: number }, string[]>(`SELECT count(*) AS n FROM ${quote(name)}${except.length > 0 ? ` WHERE ${quote(pk)} NOT IN (${except.map(() => '?').join(', ')})` : ''}`)
          .get(...except)!.n
        const landed = await countRows(tx, n)
        if (copied !== expected || landed !== expected) {
          throw new Error(`${name}: ${expected} rows in the source, ${copied} copied, ${landed} in the target; nothing was changed`)
        }
        tables.push({ name, rows: landed })
      }
      await triggers('ENABLE')
      return { tables, replaced: present, migrationsApplied: applied }
    })
    // Statistics for the planner and the visibility map at once (after the commit: VACUUM runs
    // outside a transaction). Until a table is analyzed PostgreSQL guesses how many rows an
    // organization has (a few hundred), and a big organization's list then sorts every row
    // instead of walking its index (measured: 154 ms for a first page's count that takes 0.8 ms
    // once analyzed); until it is vacuumed, an index-only count still reads every row it counts
    // from the table (1,001 heap fetches; 0.4-0.6 ms after). Autovacuum would do both in a minute
    // or so, or never where it is off.
    // The copy is committed whatever happens here: a failure is reported, not thrown. On a
    // connection of its own without the statement timeout (a big database takes a while).
    const own = await target.client.reserve()
    // Behind a pooler in transaction mode the SET would land on one server session and VACUUM
    // maybe on another, leaving that session without a timeout for whoever gets it next: VACUUM
    // then runs within the role's statement_timeout (a failure is reported as below).
    const untimed = !target.transactionPooled
    try {
      if (untimed) await own`SET statement_timeout = 0`
      await own.unsafe(`VACUUM (ANALYZE) ${report.tables.filter((t) => t.rows > 0).map((t) => quote(t.name)).join(', ') || quote(nameOf('organizations'))}`)
    } catch (e) {
      return { ...report, analyzeFailed: errorMessage(e) }
    } finally {
      if (untimed) await own`RESET statement_timeout`.catch(() => {})
      own.release()
    }
    return report
  } finally {
    source.exec('COMMIT')
  }
}

/**
 * The target database does not exist (SQLSTATE 3D000, at the first connection): PostgreSQL says
 * only `database "x" does not exist`; this says how to create it as the README does (C.UTF-8
 * collation: the order of lists must not depend on the server's locale). Undefined for another error.
 */
export function missingTargetDatabase(url: string, e: unknown): MigrateDataError | undefined {
  const code = (e as { code?: string }).code ?? ((e as { cause?: unknown }).cause as { code?: string } | undefined)?.code
  if (code !== '3D000') return undefined
  const u = new URL(url)
  const name = decodeURIComponent(u.pathname.slice(1)) || decodeURIComponent(u.username) || 'teamday'
  const where = [u.hostname && `-h ${shellWord(u.hostname)}`, u.port && `-p ${u.port}`, u.username && `-U ${shellWord(decodeURIComponent(u.username))}`].filter(Boolean).join(' ')
  return new MigrateDataError(
    `the target database "${name}" does not exist: create it (empty) first, e.g. createdb ${where ? `${where} ` : ''}--locale=C.UTF-8 --template=template0 ${shellWord(name)} ` +
      '(or CREATE DATABASE … in psql, by a role that may create databases), then run this again; nothing was copied',
  )
}

/** A word to paste into a shell: as it is when it is plain, else in single quotes. */
const shellWord = (w: string) => (/^[\w.@%+=:,/-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`)

/** Who else is connected to the target's database: client sessions by application name. */
export async function otherSessions(target: PgConnection): Promise<{ application: string; sessions: number }[]> {
  const rows = await target.client<{ application: string; sessions: number }[]>`
    SELECT coalesce(nullif(application_name, ''), 'unnamed') AS application, count(*)::int AS sessions
    FROM pg_stat_activity
    WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'
    GROUP BY 1 ORDER BY 2 DESC, 1`
  return rows.map((r) => ({ application: r.application, sessions: Number(r.sessions) }))
}

/**
 * --replace empties the target and fills it in one transaction, but running instances take their
 * locks only inside their own short transactions: one writing meanwhile waits, then writes into
 * the copy or fails, and its caches and sessions describe data that is gone. So it refuses while
 * any other session is connected to the database (--force goes ahead). A session that has just
 * closed can stay listed for a moment: it is asked again for up to a second before refusing.
 */
async function refuseWhileInUse(target: PgConnection): Promise<void> {
  let others = await otherSessions(target)
  for (let i = 0; i < 10 && others.length > 0; i++) {
    await Bun.sleep(100)
    others = await otherSessions(target)
  }
  const count = others.reduce((n, o) => n + o.sessions, 0)
  if (count === 0) return
  const who = others.map((o) => `${o.application}: ${o.sessions}`).join(', ')
  throw new MigrateDataError(
    `the target is in use: ${count} other ${count === 1 ? 'session is' : 'sessions are'} connected to its database (by application name: ${who}). ` +
      '--replace deletes everything in it, and an instance writing meanwhile would write into the copy or fail: stop every teamday instance on it and close other sessions ' +
      '(SELECT pid, application_name, client_addr FROM pg_stat_activity WHERE datname = current_database() lists them), then run this again; ' +
      'pass --force as well to go ahead anyway (only when none of them writes); nothing was changed',
  )
}

/**
 * Runs a statement that needs the target's tables to itself (TRUNCATE, ALTER TABLE): when a
 * running instance or another session holds them past the transaction's lock_timeout, a refusal
 * that says what to do.
 */
async function whileNotInUse<T>(statement: () => Promise<T>): Promise<T> {
  try {
    return await statement()
  } catch (e) {
    if ((e as { code?: string }).code === '55P03') throw new MigrateDataError('the target is in use (a teamday instance or another session holds its tables): stop every instance on it, then run this again; nothing was changed')
    throw e
  }
}

const nameOf = (n: TableName) => pgConfig(pgSchema[n] as PgTable).name
const quote = (name: string) => `"${name.replace(/"/g, '""')}"`

async function countRows(tx: postgres.TransactionSql, n: TableName): Promise<number> {
  const [row] = await tx.unsafe(`SELECT count(*)::int AS n FROM ${quote(nameOf(n))}`)
  return Number(row!.n)
}

/**
 * The most bytes (as SQLite stores the values) one batch carries, besides its row count: 1,000
 * executions of a 1 MB message each (a log sent with --message-file) made one INSERT of 1 GB,
 * which held 5 GB of memory and outlasted the statement timeout, so that such a database could
 * not be copied at all. A row larger than this goes alone.
 */
export const BATCH_BYTES = 8 << 20

/**
 * One table, in batches ordered by its primary key (keyset: no OFFSET) of at most `batch.rows`
 * rows and, but for a single row, `batch.bytes` bytes; returns the rows copied. Rows are read as
 * drizzle's SQLite row type and each value is mapped by the PostgreSQL column's own
 * `mapToDriverValue` (Date → ISO text for timestamptz, values → JSON text for jsonb).
 */
async function copyTable(lite: ReturnType<typeof drizzle<typeof liteSchema>>, tx: postgres.TransactionSql, n: TableName, batch: { rows: number; bytes: number }, exceptKeys: string[] = []): Promise<number> {
  const from = liteSchema[n] as SQLiteTable
  const to = pgSchema[n] as PgTable
  const config = liteConfig(from)
  const keys = config.columns.filter((c) => c.primary)
  if (keys.length !== 1) throw new Error(`${config.name}: migrate-data copies tables with a one-column primary key (found ${keys.length})`)
  const key = keys[0] as SQLiteColumn
  const keyName = Object.entries(from).find(([, c]) => c === key)![0]
  // The target's columns by their TS name (the same in both schemas: test/schema-parity.test.ts).
  // Generated columns (content_bytes) are the target's own to compute: never copied.
  const pgColumns = pgConfig(to).columns.filter((c) => c.generated === undefined)
  const columns = Object.entries(to).filter(([, c]) => pgColumns.includes(c as PgColumn)) as [string, PgColumn][]
  if (columns.length !== pgColumns.length) throw new Error(`${config.name}: cannot name every column of the target table`)
  const head = `INSERT INTO ${quote(config.name)} (${columns.map(([, c]) => quote(c.name)).join(', ')}) VALUES `
  // PostgreSQL takes at most 65535 parameters per statement.
  const size = Math.max(1, Math.min(batch.rows, Math.floor(60_000 / columns.length)))
  // Each row's bytes as stored, read without its values (SQLite's octet_length of a column needs
  // only its length): how many of the next rows fit in batch.bytes.
  const rowBytes = sql<number>`${sql.raw(config.columns.map((c) => `coalesce(octet_length(${quote(c.name)}), 0)`).join(' + '))}`
  let copied = 0
  let last: unknown
  for (;;) {
    let rows: Record<string, unknown>[]
    try {
      const left = exceptKeys.length > 0 ? notInArray(key, exceptKeys) : undefined
      const next = and(left, last === undefined ? undefined : gt(key, last))
      const sizes = lite.select({ bytes: rowBytes }).from(from).where(next).orderBy(asc(key)).limit(size).all()
      let fit = 0
      for (let bytes = 0; fit < sizes.length; fit++) {
        bytes += Number(sizes[fit]!.bytes)
        if (fit > 0 && bytes > batch.bytes) break
      }
      rows = fit === 0 ? [] : (lite.select().from(from).where(next).orderBy(asc(key)).limit(fit).all() as Record<string, unknown>[])
    } catch (e) {
      throw new MigrateDataError(`${config.name}: a row of the source cannot be read (${(e as Error).message}); nothing was changed`)
    }
    if (rows.length === 0) break
    const params: unknown[] = []
    const tuples: string[] = []
    for (const row of rows) {
      const slots: string[] = []
      for (const [k, c] of columns) {
        const v = row[k]
        params.push(v === null || v === undefined ? null : c.mapToDriverValue(v))
        slots.push(`$${params.length}`)
      }
      tuples.push(`(${slots.join(', ')})`)
    }
    try {
      await tx.unsafe(head + tuples.join(', '), params as postgres.ParameterOrJSON<never>[])
    } catch (e) {
      throw refused(config.name, e)
    }
    copied += rows.length
    last = rows.at(-1)![keyName]
  }
  // Identity columns (execution_logs.id, executions.seq): the next generated id follows the
  // copied ones. At least 1, a sequence's lowest value: a source whose copied values are all 0 (a
  // hand-made or seeded file) made setval refuse, and the whole copy with it.
  for (const c of pgColumns) {
    if (!(c as { generatedIdentity?: unknown }).generatedIdentity || copied === 0) continue
    await tx.unsafe(`SELECT setval(pg_get_serial_sequence($1, $2), greatest((SELECT max(${quote(c.name)}) FROM ${quote(config.name)}), 1))`, [config.name, c.name])
  }
  return copied
}

/**
 * PostgreSQL's refusal of a batch, without drizzle's "Failed query … params: …" (the batch's
 * values: token hashes, sealed values) in the message: the reason, and the key it names.
 */
function refused(table: string, e: unknown): Error {
  const cause = ((e as { cause?: unknown }).cause ?? e) as { message?: string; detail?: string }
  return new MigrateDataError(`${table}: PostgreSQL refused a row of the source: ${cause.message ?? String(cause)}${cause.detail ? ` (${cause.detail})` : ''}; nothing was changed`)
}
