import { Database } from 'bun:sqlite'
import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { sql } from 'drizzle-orm'
import type { MigrationMeta } from 'drizzle-orm/migrator'
import type { SqliteConnection, SyncDb } from './connection'
import { pgMigrations, sqliteMigrations } from './migrations.gen'
import type { Dialect } from './schema'
import type { PgConnection } from './pg'
import type postgres from 'postgres'
import { COMMIT, VERSION } from '../build-info'

/*
 * Writing a migration (rolling upgrades, README "Upgrading and rolling back"): the previous
 * release's instances go on serving the database for up to SCHEMA_CHECK_MS after a new one's
 * migrations commit (runtime.ts checkSchema turns them away then; releases before 2026-12-07 not
 * at all, until stopped), and they write rows as they always did. So a migration adds (a column
 * nullable or with a default, an index, a table) rather than renames or drops; a backfill is also
 * correct for the rows the old code writes after it ran, or the new code reads them as the
 * backfill would have written them; and a change of how rows are stored that the old code
 * misreads comes with a migration of its own (0011 / 0023), so that the old code refuses it.
 */

/** The migrations compiled into this build for a dialect, in drizzle's own MigrationMeta shape. */
export function embeddedMigrations(dialect: Dialect = 'sqlite'): MigrationMeta[] {
  const { journal, sql } = dialect === 'pg' ? pgMigrations : sqliteMigrations
  return journal.entries.map((entry: { tag: string; when: number; breakpoints: boolean }) => {
    const query = sql[entry.tag]
    if (query === undefined) throw new Error(`Embedded migration ${entry.tag} is missing`)
    return {
      sql: query.split('--> statement-breakpoint'),
      bps: entry.breakpoints,
      folderMillis: entry.when,
      hash: createHash('sha256').update(query).digest('hex'),
    }
  })
}

export interface MigrationResult {
  applied: number
  total: number
  /** Tags of the migrations applied now, oldest first. */
  names: string[]
}

export interface MigrationOptions {
  /**
   * false (every admin command but serve, migrate, users create and restore): nothing is
   * created or migrated; a database that is not a teamday database, or not at this build's
   * schema, is refused (SchemaError) and left as it was.
   */
  mayMigrate?: boolean
  /** The database as messages name it (a path, or host/db of a URL). */
  name?: string
}

/** A database this build must not use (or, with mayMigrate false, not yet): the message says what to do. */
export class SchemaError extends Error {}

/** Where a database's migrations stand (read only). */
export interface SchemaState {
  /** Whether it has teamday's tables (drizzle's journal and the settings). */
  teamday: boolean
  /** Rows of drizzle's journal, and created_at of the newest one (0 for none). */
  applied: number
  newest: number
}

/**
 * The created_at (the journal's `when`) of this build's newest migration. A database whose
 * newest row is later was migrated by a newer teamday: the one check behind migrate, serve and
 * the admin commands, restore (backup.ts inspect) and migrate-data (openSqliteSource).
 */
export function newestKnownMigration(dialect: Dialect = 'sqlite'): number {
  const { journal } = dialect === 'pg' ? pgMigrations : sqliteMigrations
  return journal.entries.reduce((m: number, e: { when: number }) => Math.max(m, e.when), 0)
}

/** Whether a database whose newest migration row is `newest` was migrated by a newer teamday. */
export function newerThanThisBuild(newest: number, dialect: Dialect = 'sqlite'): boolean {
  return newest > newestKnownMigration(dialect)
}

/** Teamday's tables and drizzle's journal of a SQLite database, read through `client`. */
export function sqliteSchemaState(client: Database): SchemaState {
  const tables = new Set(client.query<{ name: string }, []>("SELECT name FROM sqlite_master WHERE type = 'table'").all().map((r) => r.name))
  if (!tables.has('__drizzle_migrations')) return { teamday: false, applied: 0, newest: 0 }
  const row = client.query<{ n: number; last: number | string | null }, []>('SELECT count(*) AS n, max(created_at) AS last FROM __drizzle_migrations').get()!
  return { teamday: tables.has('settings'), applied: row.n, newest: row.last === null ? 0 : Number(row.last) }
}

/** Refuses a database from a newer teamday: its schema is one this build does not know. */
function refuseNewer(state: SchemaState, name: string, dialect: Dialect): void {
  if (!newerThanThisBuild(state.newest, dialect)) return
  // Both sides named: this build, and the database by the date of its newest migration (the
  // journal keeps no version; a migration's date is its build's, within that day).
  const tags = (dialect === 'pg' ? pgMigrations : sqliteMigrations).journal.entries.map((e: { tag: string }) => e.tag)
  const day = (at: number) => new Date(at).toISOString().slice(0, 10)
  throw new SchemaError(
    `${name} was migrated by a newer teamday (it has migrations this build does not know): run that version or a later one. ` +
      `This is teamday ${VERSION} (commit ${COMMIT}), whose newest migration is ${tags.at(-1)} of ${day(newestKnownMigration(dialect))}; the database has one of ${day(state.newest)}, from a build of that day or later. ` +
      'An older binary must not use it; to go back to this version, restore the backup taken before the upgrade (README: Upgrading and rolling back)',
  )
}

/** For a command that may not migrate: refuses anything but a teamday database at exactly this build's schema. */
function refuseUnmigrated(state: SchemaState, name: string, dialect: Dialect): void {
  if (!state.teamday || state.applied === 0) {
    throw new SchemaError(
      `${name} is not a teamday database (it has no teamday tables); nothing was changed. Check --db (or TEAMDAY_DB / TEAMDAY_DATABASE_URL); ` +
        '"teamday serve", "teamday migrate" and "teamday users create" make a new one',
    )
  }
  refuseNewer(state, name, dialect)
  if (state.newest < newestKnownMigration(dialect)) {
    throw new SchemaError(
      `${name} is not migrated to this teamday's schema (${state.applied} of ${embeddedMigrations(dialect).length} migrations applied); nothing was changed. ` +
        `Run "${dialect === 'pg' ? 'teamday migrate' : `teamday migrate --db ${name}`}" with this teamday first (or start its server), then this command again`,
    )
  }
}

/**
 * For the admin commands that may not migrate, before the database is opened for use (which
 * would switch it to WAL mode): refuses, through a read-only connection, a SQLite file that is
 * not a teamday database at this build's schema (another application's, an empty file, an older
 * or newer teamday's). A file that does not exist or cannot be opened is left to openDatabase,
 * whose message names the path.
 */
export function requireCurrentSqliteFile(file: string): void {
  if (!existsSync(file)) return
  let client: Database
  try {
    client = new Database(file, { readonly: true })
  } catch {
    return
  }
  try {
    client.exec('PRAGMA busy_timeout = 5000')
    refuseUnmigrated(sqliteSchemaState(client), file, 'sqlite')
  } catch (e) {
    if ((e as { code?: string }).code === 'SQLITE_NOTADB') throw new SchemaError(`${file} is not a SQLite database (nor a teamday one); nothing was changed. Check --db (or TEAMDAY_DB)`)
    throw e
  } finally {
    client.close()
  }
}

/**
 * For the commands that may create a database (serve, migrate, users create): refuses a SQLite
 * file that holds another application's tables. teamday makes its tables in a new file, an empty
 * one, or its own database; it never adds them beside someone else's (a mistyped --db would change
 * that application's file, and put sealed data in it). Run by openDatabase on its own connection
 * before that switches the file to WAL mode (`check`): nothing is written to a refused file, and
 * a start opens the file once.
 */
export function refuseForeignTables(client: Database, file: string): void {
  const tables = client.query<{ name: string }, []>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'").all().map((r) => r.name)
  if (tables.length === 0 || sqliteSchemaState(client).teamday) return
  const shown = tables.slice(0, 5).join(', ') + (tables.length > 5 ? ', …' : '')
  throw new SchemaError(
    `${file} is another application's SQLite database (tables: ${shown}), not a teamday one; nothing was changed. ` +
      'teamday makes its tables only in a new or empty file: check --db (or TEAMDAY_DB)',
  )
}

/**
 * Applies pending migrations with foreign keys off (drizzle-kit's table rebuilds would
 * otherwise cascade-delete child rows), then checks every foreign key and turns them on again.
 * Under BEGIN IMMEDIATE from the first read of drizzle's journal to COMMIT, as the PostgreSQL
 * path holds its advisory lock: processes started at once on a new database wait for each other
 * (busy_timeout) and the later ones find nothing left to do, instead of failing on "table …
 * already exists". The bookkeeping is drizzle's own (its migrator's table and rows).
 */
export function runMigrations(conn: SqliteConnection, opts: MigrationOptions = {}): MigrationResult {
  // Synchronous, on the connection before anything else uses it.
  const db = conn.sync
  const sqlite = db.$client
  const name = opts.name ?? 'the database'
  const migrations = embeddedMigrations('sqlite')
  const newest = newestKnownMigration('sqlite')
  const state = sqliteSchemaState(sqlite)
  refuseNewer(state, name, 'sqlite')
  // Up to date by drizzle's own rule (it applies what is newer than the newest row): nothing to
  // do, and no foreign key check, which reads every row of a large database at every start.
  if (state.applied > 0 && state.newest >= newest) return { applied: 0, total: migrations.length, names: [] }
  if (opts.mayMigrate === false) refuseUnmigrated(state, name, 'sqlite')
  sqlite.exec('PRAGMA foreign_keys = OFF') // a no-op inside a transaction: set before it
  try {
    sqlite.exec('BEGIN IMMEDIATE')
    try {
      const applied = applyPending(db, migrations, name)
      const violations = sqlite.query('PRAGMA foreign_key_check').all()
      if (violations.length > 0) {
        throw new Error(`Migration left ${violations.length} foreign key violation(s): ${JSON.stringify(violations.slice(0, 5))}`)
      }
      sqlite.exec('COMMIT')
      const names = applied > 0 ? sqliteMigrations.journal.entries.slice(-applied).map((e: { tag: string }) => e.tag) : []
      return { applied, total: migrations.length, names }
    } catch (e) {
      // SQLite has rolled back by itself after some failures (a full disk, an I/O error): a
      // ROLLBACK then fails with "cannot rollback - no transaction is active", which hid why
      // the migration failed (a first start on a nearly full disk said only that).
      if (sqlite.inTransaction) sqlite.exec('ROLLBACK')
      throw e
    }
  } finally {
    sqlite.exec('PRAGMA foreign_keys = ON')
  }
}

/**
 * drizzle's SQLite migrator (drizzle-orm/sqlite-core/dialect.js `migrate`), inside the caller's
 * transaction: its journal table (the same DDL, so stock migrate() and drizzle-kit agree), the
 * newest row re-read under the write lock, then every newer migration and its row.
 */
function applyPending(db: SyncDb, migrations: MigrationMeta[], name: string): number {
  db.run(sql.raw(JOURNAL_DDL))
  const state = sqliteSchemaState(db.$client)
  refuseNewer(state, name, 'sqlite')
  refuseForeignJournal((db.$client.query('SELECT created_at FROM __drizzle_migrations').all() as { created_at: unknown }[]).map((r) => Number(r.created_at)), migrations, name)
  let n = 0
  const tags = sqliteMigrations.journal.entries.map((e: { tag: string }) => e.tag)
  for (const [i, m] of migrations.entries()) {
    if (state.applied > 0 && state.newest >= m.folderMillis) continue
    const inCode = SQLITE_IN_CODE[tags[i]!]
    if (inCode) inCode(db.$client)
    else for (const stmt of m.sql) db.run(sql.raw(stmt))
    db.run(sql`INSERT INTO "__drizzle_migrations" ("hash", "created_at") VALUES(${m.hash}, ${m.folderMillis})`)
    n++
  }
  return n
}

/**
 * SQLite migrations whose SQL cannot do what the migration means, done here instead of their SQL
 * (in the same transaction, recorded in the journal as that migration).
 *
 * 0022_idempotency_key_hash: keys are stored as keyDigest (SHA-256 hex of the key's UTF-8,
 * src/idempotency/service.ts) from then on. SQLite's SQL has no SHA-256, so the file's SQL
 * deletes the keys stored as sent, and a client's retry across the upgrade (when retries come:
 * the server was down for it) ran its request a second time (a second task). Rehashed here, as
 * PostgreSQL's 0010 does in SQL: the retry is replayed, or 409 for another body.
 */
const SQLITE_IN_CODE: Record<string, (client: Database) => void> = {
  '0022_idempotency_key_hash': (client) => {
    const rows = client.query<{ id: string; key: string }, []>('SELECT id, key FROM idempotency_keys').all()
    const rehash = client.prepare('UPDATE idempotency_keys SET key = ? WHERE id = ?')
    for (const r of rows) rehash.run(createHash('sha256').update(r.key).digest('hex'), r.id)
  },
}

/**
 * A journal entry older than this build's newest migration and none of its own: a pre-release
 * build whose migrations were rewritten since (PostgreSQL's 0000_init was regenerated twice on
 * 2026-12-02). drizzle's rule (apply what is newer than the newest entry) ran migrations again on
 * tables that had them and failed with a bare `relation "agents" already exists` (or SQLite's
 * "Failed to run the query 'ALTER TABLE …'"). Thrown inside the migration's transaction.
 */
function refuseForeignJournal(createdAt: number[], migrations: MigrationMeta[], name: string): void {
  const known = new Set(migrations.map((m) => m.folderMillis))
  const newest = migrations.at(-1)?.folderMillis ?? 0
  const foreign = createdAt.filter((at) => !known.has(at) && at < newest)
  if (foreign.length === 0) return
  throw new SchemaError(
    `${name} was migrated by a pre-release teamday whose migrations were rewritten since (its migrations journal, __drizzle_migrations, has ${foreign.length} entr${foreign.length === 1 ? 'y' : 'ies'} this build does not know, of ${new Date(Math.min(...foreign)).toISOString().slice(0, 10)}): ` +
      'this build cannot upgrade it in place; nothing was changed. Start this teamday on a new database (and copy what you need over through the API), or keep running the build that made it',
  )
}

/** drizzle's CREATE of its journal table, character for character (sqlite_master keeps the text). */
const JOURNAL_DDL = 'CREATE TABLE IF NOT EXISTS "__drizzle_migrations" (\n\t\t\t\tid SERIAL PRIMARY KEY,\n\t\t\t\thash text NOT NULL,\n\t\t\t\tcreated_at numeric\n\t\t\t)'

/** The advisory lock key of teamday's migrations (any constant both instances agree on). */
export const PG_MIGRATION_LOCK = 7_310_415_001

/**
 * Applies pending PostgreSQL migrations in one transaction that first takes
 * `pg_advisory_xact_lock`: instances started at the same moment on an empty database migrate one
 * after the other on one connection each (without the lock, concurrent CREATE TABLEs fail with
 * `duplicate key … pg_type_typname_nsp_index`); the later ones find nothing left to do. The
 * bookkeeping is drizzle's own (`drizzle.__drizzle_migrations`: hash, created_at = the journal's
 * `when`), so drizzle-kit's migrate agrees with it. The tables are created unqualified: in the
 * schema the connection's search_path names first (`public` by default).
 */
export async function runPgMigrations(conn: PgConnection, opts: MigrationOptions = {}): Promise<MigrationResult> {
  const migrations = embeddedMigrations('pg')
  const name = opts.name ?? 'the database'
  // A database that is up to date is only read: no lock, no CREATE. A least-privilege role
  // (its tables' rows, USAGE on schema drizzle and SELECT on its journal; the schema changed
  // by the owner with `teamday migrate`) starts; CREATE SCHEMA IF NOT EXISTS needs CREATE on
  // the database even when the schema is there, and every command failed on it.
  const journal = conn.schema ?? 'drizzle'
  const newest = migrations.at(-1)?.folderMillis ?? 0
  const upToDate = (state: JournalState): state is SchemaState => typeof state === 'object' && state.applied > 0 && state.newest >= newest
  const current = await journalState(conn.client, journal)
  if (upToDate(current)) {
    refuseNewer(current, name, 'pg')
    if (!current.teamday) throw await tablesOffSearchPath(conn.client, name)
    if (opts.mayMigrate === false) refuseUnmigrated(current, name, 'pg')
    return { applied: 0, total: migrations.length, names: [] }
  }
  // A command that may not migrate, on a database without teamday's journal: said without DDL.
  if (current === 'absent' && opts.mayMigrate === false) refuseUnmigrated({ teamday: false, applied: 0, newest: 0 }, name, 'pg')
  const applied = await conn.client.begin(async (tx) => {
    try {
      await tx`SELECT pg_advisory_xact_lock(${PG_MIGRATION_LOCK})`
    } catch (e) {
      // Waited the statement timeout: it said only "the database is busy".
      if ((e as { code?: unknown }).code !== '57014') throw e
      throw new Error(
        `another process holds teamday's migration lock on ${name} (another instance migrating it, or a teamday migrate or migrate-data still running): waited TEAMDAY_DB_STATEMENT_TIMEOUT_MS for it. Start again once it is done; it is: SELECT pid, application_name, state, query_start FROM pg_locks JOIN pg_stat_activity USING (pid) WHERE locktype = 'advisory' AND ((classid::bigint << 32) | objid::bigint) = ${PG_MIGRATION_LOCK}`,
      )
    }
    // Migrated while this one waited for the lock (another instance, or `teamday migrate`):
    // nothing to do, and nothing to create (a least-privilege role may not).
    const meanwhile = await journalState(tx, journal)
    if (upToDate(meanwhile)) {
      refuseNewer(meanwhile, name, 'pg')
      if (!meanwhile.teamday) throw await tablesOffSearchPath(tx, name)
      return 0
    }
    // drizzle's place for it, or the schema of a connection given one (each test app its own).
    const book = tx(conn.schema ?? 'drizzle')
    await tx`CREATE SCHEMA IF NOT EXISTS ${book}`
    await tx`CREATE TABLE IF NOT EXISTS ${book}.__drizzle_migrations (id SERIAL PRIMARY KEY, hash text NOT NULL, created_at bigint)`
    // The journal read once: its newest entry, its count and any entry this build does not know.
    const entries = (await tx`SELECT created_at FROM ${book}.__drizzle_migrations`).map((r) => Number(r.created_at))
    const [seen] = await tx`SELECT to_regclass('settings') IS NOT NULL AS settings`
    const state: SchemaState = { teamday: seen!.settings === true, applied: entries.length, newest: entries.length > 0 ? Math.max(...entries) : 0 }
    // Thrown inside the transaction: what it created above is rolled back with it.
    refuseNewer(state, name, 'pg')
    refuseForeignJournal(entries, migrations, name)
    if (opts.mayMigrate === false) refuseUnmigrated(state, name, 'pg')
    let n = 0
    for (const m of migrations) {
      if (state.applied > 0 && state.newest >= m.folderMillis) continue
      // drizzle-kit writes foreign keys as "public"."table": the tables go to the connection's
      // schema (search_path; public unless the URL or role says otherwise), and so do they.
      for (const stmt of m.sql) if (stmt.trim()) await tx.unsafe(stmt.replaceAll('"public".', ''))
      await tx`INSERT INTO ${book}.__drizzle_migrations (hash, created_at) VALUES (${m.hash}, ${m.folderMillis})`
      n++
    }
    return n
  }).catch((e) => {
    if ((e as { code?: unknown }).code !== '42501') throw e
    const needs = 'SELECT, INSERT, UPDATE and DELETE on the tables, USAGE on their sequences, and USAGE on schema drizzle with SELECT on drizzle.__drizzle_migrations (README: Running several instances)'
    if (current === 'unreadable') {
      throw new SchemaError(`teamday's role may not read the migrations journal of ${name}, drizzle.__drizzle_migrations (${(e as Error).message}), so it cannot tell whether the database is up to date. Grant it USAGE ON SCHEMA drizzle and SELECT ON drizzle.__drizzle_migrations; it needs ${needs}`)
    }
    throw new SchemaError(
      `teamday's role may not create or change its tables in ${name} (${(e as Error).message}), and ${current === 'absent' ? 'the database has no teamday tables yet' : 'there are migrations to apply'}. ` +
        `Run \`teamday migrate --db …\` once as the database owner (or a role that may create in it), then start with this role: it needs ${needs}`,
    )
  })
  const tags = pgMigrations.journal.entries.map((e: { tag: string }) => e.tag)
  return { applied, total: migrations.length, names: applied > 0 ? tags.slice(-applied) : [] }
}

/**
 * The journal says migrated, yet `settings` is not on this connection's search_path: the tables
 * were created under another one (a URL with `?options=-csearch_path%3Dapp` or `?search_path=app`, a role's setting) and this
 * connection does not name it. Every command died on its first query with drizzle's bare
 * "Failed query: select … from "settings"". Says where the tables are and how to name it.
 */
async function tablesOffSearchPath(q: postgres.Sql | postgres.TransactionSql, name: string): Promise<SchemaError> {
  const [row] = await q`
    SELECT array_to_string(current_schemas(false), ', ') AS path,
      (SELECT string_agg(n.nspname, ', ' ORDER BY n.nspname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relname = 'settings' AND c.relkind IN ('r', 'p')) AS found,
      (SELECT string_agg(n.nspname, ', ' ORDER BY n.nspname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relname = 'settings' AND c.relkind IN ('r', 'p') AND NOT has_schema_privilege(n.oid, 'USAGE')) AS barred`
  const path = row?.path ? `search_path: ${row.path}` : 'its search_path names no schema it may use'
  const where = row?.found as string | null
  const barred = row?.barred as string | null
  return new SchemaError(
    // Named on the search_path already, but this role may not use the schema: it leaves it out.
    barred && barred === where
      ? `${name}'s teamday tables are in schema ${where}, which this role may not use (no USAGE privilege), so its search_path (${path}) leaves it out. ` +
          `Grant it: GRANT USAGE ON SCHEMA ${where.split(', ')[0]} TO <this role> (with the row privileges README's "Running several instances" lists); nothing was changed`
      : where
      ? `${name}'s migrations journal says teamday's tables are there, but they are not on this connection's search_path (${path}): they are in schema ${where}. ` +
          `Name it in the URL (…?options=-csearch_path%3D${where.split(', ')[0]}, a form pg_dump and psql read too) or for the role (ALTER ROLE … SET search_path = ${where.split(', ')[0]}); nothing was changed`
      : `${name}'s migrations journal says teamday's tables are there, but there is no teamday table in any schema (${path}): they were dropped, or the journal is another application's. ` +
          'Restore the database from a backup, or use an empty database; nothing was changed',
  )
}

/** What drizzle's journal says: its state, none there yet (`absent`), or there and not readable by this role (`unreadable`). */
type JournalState = SchemaState | 'absent' | 'unreadable'

/** The journal of `book` (a schema), read without creating anything: by the connection, or inside the migration's transaction. */
async function journalState(q: postgres.Sql | postgres.TransactionSql, book: string): Promise<JournalState> {
  try {
    const [found] = await q`
      SELECT to_regclass(quote_ident(${book}) || '.__drizzle_migrations') IS NOT NULL AS journal,
        n.oid IS NOT NULL AND NOT has_schema_privilege(n.oid, 'USAGE') AS hidden
      FROM (SELECT 1) one LEFT JOIN pg_namespace n ON n.nspname = ${book}`
    if (found?.hidden === true) return 'unreadable'
    if (found?.journal !== true) return 'absent'
    const [row] = await q`SELECT count(*)::int AS n, coalesce(max(created_at), 0)::bigint AS newest, to_regclass('settings') IS NOT NULL AS settings FROM ${q(book)}.__drizzle_migrations`
    return { teamday: row!.settings === true, applied: row!.n as number, newest: Number(row!.newest) }
  } catch (e) {
    if ((e as { code?: unknown }).code === '42501') return 'unreadable'
    throw e
  }
}

/**
 * The created_at of the newest row of drizzle's journal, read as a running server sees it (one
 * short query; null when it cannot be read: a role that may not, the journal gone, the database
 * out of reach, which readiness reports on its own). A running server compares it with this
 * build's newest migration (newerThanThisBuild): a newer teamday that migrated the database
 * while this one serves (a rolling upgrade's first new instance, `teamday migrate` run beside a
 * server) is noticed, not served on (src/runtime.ts, checkSchema).
 */
export async function journalNewest(conn: SqliteConnection | PgConnection): Promise<number | null> {
  try {
    if (conn.dialect === 'sqlite') {
      const state = sqliteSchemaState(conn.sync.$client)
      return state.applied > 0 ? state.newest : null
    }
    // One statement, bounded as readiness's own (a probe asks it): the journal is there, this
    // server migrated it at its start; gone or unreadable now, the catch below says null.
    const q = conn.client
    const [row] = await conn.probe(q`SELECT count(*)::int AS n, coalesce(max(created_at), 0)::bigint AS newest FROM ${q(conn.schema ?? 'drizzle')}.__drizzle_migrations`)
    return row && (row.n as number) > 0 ? Number(row.newest) : null
  } catch {
    return null
  }
}
