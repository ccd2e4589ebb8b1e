import { AuditLog } from './audit/log'
import { systemClock, type Clock } from './clock'
import { DatabaseClock } from './db-clock'
import type { Config } from './config'
import type { Services } from './context'
import { blankKeyWarning, loadSecretBox, type KeySource } from './crypto/keys'
import type { SecretBox } from './crypto/secretbox'
import { describeDatabase, isPostgresUrl } from './config'
import { resolve } from 'node:path'
import { MEMORY, openDatabase, sqliteStartError, type SqliteConnection } from './db/client'
import { journalNewest, newerThanThisBuild, newestKnownMigration, refuseForeignTables, requireCurrentSqliteFile, runMigrations, runPgMigrations } from './db/migrate'
import { COMMIT, VERSION } from './build-info'
import type { PgConnection } from './db/pg'
import { useDialect } from './db/schema'
import { DatabaseIdentity } from './db/identity'
import { DATABASE_NOT_UP, DATABASE_WAITING_SAID_EVERY_MS as WAITING_SAID_EVERY_MS, errorCodes, notUpYet, pauseUnlessStopped, unavailableReason } from './db/unavailable'
import { openKeyCheck, readStartSettings, sealedSample, stampDatabaseId, stampKeyCheck, type StartSettings } from './db/settings'
import { configProviders, type ModelProviders } from './engine/providers'
import { Engine } from './engine/runner'
import { createLogger, resolveLogFormat, type Logger } from './logger'
import { newId } from './ids'
import { Metrics } from './metrics/recorder'
import { RateLimiter } from './ratelimit/limiter'
import { RevocationWatch } from './auth/revocation-watch'
import { PgRateLimitStore } from './ratelimit/pg-store'
import type { RateLimitStore } from './ratelimit/store'

/**
 * Everything the server is made of, built once (DESIGN.md, convention 6): the database, the
 * clock, the secret box, the logger, the audit log, the execution engine and the rate limiter.
 * `createApp(runtime)` only wires HTTP; the admin CLI uses the same runtime without HTTP.
 */
export interface Runtime extends Services {
  /** The database connection: SQLite's (a file or :memory:) or a PostgreSQL pool. */
  connection: SqliteConnection | PgConnection
  engine: Engine
  limiter: RateLimiter
  /** Ends requests still open when their token is revoked (src/auth/revocation-watch.ts). */
  revocations: RevocationWatch
  /** Where the encryption key came from (env, file, created, ephemeral). */
  keySource: KeySource
  /**
   * The database's identity, which `serve --reuse-port` compares with the process already on its
   * port (src/db/identity.ts); null for a command that may not write, on a database that has none.
   */
  databaseIdentity: DatabaseIdentity | null
  migrationsApplied: number
  /** Names of the migrations this start applied (empty when the schema was current). */
  migrationNames: string[]
  /** Counters and histograms for GET /metrics (src/metrics). */
  metrics: Metrics
  /**
   * The readiness check (GET /api/health/ready): resolves when the database answers a trivial
   * query, rejects otherwise. One function, so a PostgreSQL pool check can join it.
   */
  checkDatabase(): Promise<void>
  /** Closes the database (after the engine has stopped: see `teamday serve`); PostgreSQL's pool ends asynchronously. */
  close(): Promise<void>
  /**
   * Set by a graceful stop for its first moments (src/cli/admin/graceful-stop.ts): every answer
   * then says `Connection: close` and readiness is 503, before the listener closes.
   */
  drain: Drain
  /**
   * Reads the newest row of the database's migrations journal: when a newer teamday has migrated
   * the database since this one started (a rolling upgrade's first new instance, or `teamday
   * migrate` of a newer binary run beside this server), or the database was put back to an older
   * schema under it (a backup from before the upgrade restored while it ran), `drain.superseded`
   * is set (the 503 every request but liveness gets from then on, readiness included) and the log
   * says so once.
   * Resolves whether it is set. `teamday serve` asks every SCHEMA_CHECK_MS, readiness at each probe.
   */
  checkSchema(): Promise<boolean>
}

/** What turns an instance away from its requests: a graceful stop's first moments, a database migrated past this build. */
export interface Drain {
  closing: boolean
  /** Set once a newer teamday has migrated the database (checkSchema): the message of every request's 503. */
  superseded?: string
}

/** How often a running server reads the migrations journal for a newer teamday's migrations (checkSchema). */
export const SCHEMA_CHECK_MS = 5000

/** The 503 an instance answers once its database was put back to an older schema under it (Runtime.checkSchema). */
export function rolledBackMessage(): string {
  return `This instance runs teamday ${VERSION} (commit ${COMMIT}), and its database was replaced since it started by one of an older schema (a backup from before an upgrade, restored while it ran): it no longer serves requests, as it would write what that schema cannot hold. An operator must start the version the database belongs to, or restart this one to migrate it again (README: Upgrading and rolling back).`
}

/** The 503 an instance answers once a newer teamday has migrated its database (Runtime.checkSchema). */
export function supersededMessage(): string {
  return `This instance runs teamday ${VERSION} (commit ${COMMIT}), and a newer teamday has migrated its database since it started (the database has migrations this build does not know): it no longer serves requests, so that it neither misreads what the newer version writes nor writes what that version cannot read. Send them to an instance of the newer version; an operator must replace this one (README: Upgrading and rolling back).`
}

export interface RuntimeOptions {
  log?: Logger
  clock?: Clock
  /** The secret box; by default the configured key (src/crypto/keys.ts). */
  box?: SecretBox
  /** Model provider clients; by default built from the config (tests point the config at doubles). */
  providers?: ModelProviders
  /** Rate-limit counters; by default in process memory. */
  rateLimitStore?: RateLimitStore
  /**
   * false: neither the database nor a key file is created, nothing is migrated and no key check
   * is stored (admin commands other than serve, migrate and users create); a missing database or
   * key fails naming its path, a file that is not a teamday database at this build's schema is
   * refused unchanged.
   */
  create?: boolean
  /** PostgreSQL only: the schema to work in (tests give each app a fresh one), and idle seconds before a pooled connection closes. */
  pgSchema?: string
  pgIdleTimeoutS?: number
  /**
   * PostgreSQL only: how long a start waits for a database that is not up yet (refusing
   * connections, starting up: PgConnection.waitForDatabase), saying so in the log every few
   * seconds. `teamday serve` passes TEAMDAY_DB_START_WAIT_MS; by default (admin commands, tests) 0: it fails at once.
   */
  waitForDatabaseMs?: number
  /** Ends that wait at once when aborted (its reason, e.g. 'SIGTERM', said): the start then fails with WAIT_STOPPED. */
  stop?: AbortSignal
  /**
   * PostgreSQL only: keep time by the database's clock (src/db-clock.ts), `clock` then being this
   * machine's (only its monotonic time is used). By default when no `clock` is given; a given
   * clock (tests) is used as it is unless this says 'database'.
   */
  clockSource?: 'database' | 'machine'
  /** A command that runs once (the admin CLI): the database's clock read once, its skew said at debug level (DatabaseClock's `brief`). */
  oneShot?: boolean
}

/**
 * Whether file descriptor `fd` is a terminal (the log's format: pretty on one, JSON otherwise),
 * asked of the runtime's tty binding, where Node's `tty.isatty` gets its answer too: loading
 * `node:tty` also loads `node:stream` and the fs streams, ~1.4 M instructions and ~0.7 ms of
 * every start (docs/performance.md, thirty-eighth session), and `process.stderr.isTTY` builds a
 * Node stream the logger never uses (it writes with writeSync). `node:tty` when there is no binding.
 */
function isTerminal(fd: number): boolean {
  try {
    const isTTY = (process as unknown as { binding?: (name: string) => { isTTY?: unknown } }).binding?.('tty_wrap').isTTY
    if (typeof isTTY === 'function') return isTTY(fd) === true
  } catch {
    // No such binding here: node:tty below.
  }
  return (require('node:tty') as typeof import('node:tty')).isatty(fd)
}

/**
 * Opens the database named by the config, applies pending migrations, loads the encryption key
 * and proves it matches the database, then builds the rest. Shared by `serve`, the admin
 * commands, tests and benchmarks.
 */
export async function createRuntime(config: Config, opts: RuntimeOptions = {}): Promise<Runtime> {
  const log = opts.log ?? createLogger(config.logLevel, undefined, Date.now, { format: resolveLogFormat(config.logFormat, isTerminal(2)), access: config.accessLog })
  const waitMs = opts.waitForDatabaseMs ?? 0
  const startedAt = performance.now()
  // Said at once, then every WAITING_SAID_EVERY_MS or so, not at each retry: one time for this
  // loop and the first contact's wait inside each attempt (PgConnection.waitForDatabase).
  const waiting = { at: -Infinity }
  for (;;) {
    try {
      return await openRuntime(config, { ...opts, log }, startedAt, waiting)
    } catch (e) {
      // PostgreSQL answered the first contact, then went away as the start went on (restarting,
      // its connections ended): started again from the beginning while the wait lasts, as any
      // failed start leaves nothing open. It exited 1 at once.
      const waitedMs = performance.now() - startedAt
      if (!isPostgresUrl(config.dbPath) || waitedMs >= waitMs || !notUpYet(e) || errorCodes(e).includes(DATABASE_NOT_UP)) throw e
      if (performance.now() - waiting.at >= WAITING_SAID_EVERY_MS) {
        waiting.at = performance.now()
        log.warn('database_waiting', { database: describeDatabase(config.dbPath), reason: unavailableReason(e), waitedS: Math.round(waitedMs / 1000), giveUpAfterS: Math.round(waitMs / 1000) })
      }
      await pauseUnlessStopped(Math.min(500, waitMs - waitedMs), opts.stop, describeDatabase(config.dbPath))
    }
  }
}

/** createRuntime's one attempt; a wait for the database counts from `startedAt`. */
async function openRuntime(config: Config, opts: RuntimeOptions & { log: Logger }, startedAt: number, waiting: { at: number }): Promise<Runtime> {
  const log = opts.log
  const machineClock = opts.clock ?? systemClock
  let clock: Clock = machineClock
  const pg = isPostgresUrl(config.dbPath)
  // One database per process: the services' tables follow it (src/db/schema/index.ts).
  useDialect(pg ? 'pg' : 'sqlite')
  const mayCreate = opts.create !== false
  const name = describeDatabase(config.dbPath)
  // A SQLite file that cannot be read or written is named, with why (sqliteStartError).
  const said = (e: unknown) => (pg ? e : sqliteStartError(config.dbPath, e))
  let connection: SqliteConnection | PgConnection
  try {
    // Before the connection is opened for use (which switches the file to WAL mode): a command
    // that may not create or migrate leaves any file that is not a current teamday database alone.
    if (!pg && !mayCreate && config.dbPath !== MEMORY) requireCurrentSqliteFile(resolve(config.dbPath))
    connection = pg
      ? // PostgreSQL's driver and drizzle's pg-core are required only here: a SQLite start does not evaluate them.
        (require('./db/pg') as typeof import('./db/pg')).openPostgres(config.dbPath, { pool: config.dbPool, statementTimeoutMs: config.dbStatementTimeoutMs, schema: opts.pgSchema, idleTimeoutS: opts.pgIdleTimeoutS })
      : // One that may create the database still leaves another application's file alone.
        openDatabase(config.dbPath, { rowCache: config.cache, create: opts.create, check: mayCreate ? refuseForeignTables : undefined })
  } catch (e) {
    throw said(e)
  }
  let revocations: RevocationWatch | undefined
  let databaseClock: DatabaseClock | undefined
  const close = async () => {
    revocations?.stop()
    databaseClock?.stop()
    await connection.close()
  }
  try {
    // A box given by the caller (tests) was neither read nor written anywhere: ephemeral.
    const keyOf = (create: boolean) => (opts.box ? { box: opts.box, source: 'ephemeral' as const, warning: undefined } : loadSecretBox(config, { create }))
    // A database that has a key already is checked against the configured key before it is
    // migrated: a start refused for a missing or wrong key had upgraded it first, so the older
    // binary it came from refused it from then on ("migrated by a newer teamday"), and nothing said so.
    if (connection.dialect === 'pg') {
      connection.onTransactionPoolingFound = (e) =>
        log.warn('database_transaction_pooling', {
          error: e instanceof Error ? e.message : String(e),
          note: "a statement failed as only a pooler in transaction mode makes it fail (a prepared statement missing on the server session it landed on), which the start did not see (PgBouncer's server_round_robin, several PgBouncer processes on one port, another pooler): statements are sent unprepared from now on, and a statement outside a transaction is sent again; add ?prepare=false to the database URL to start so (README: \"Running several instances\", PgBouncer)",
        })
      const waitMs = opts.waitForDatabaseMs ?? 0
      await connection.waitForDatabase(name, waitMs, startedAt, (why, waitedMs) => {
        if (performance.now() - waiting.at < WAITING_SAID_EVERY_MS) return
        waiting.at = performance.now()
        log.warn('database_waiting', { database: name, reason: unavailableReason(why), waitedS: Math.round(waitedMs / 1000), giveUpAfterS: Math.round(waitMs / 1000) })
      },
        opts.stop,
      )
      if (connection.transactionPooled) {
        log.info('database_transaction_pooling', { note: 'a pooler in transaction mode (PgBouncer pool_mode = transaction) shares the database sessions between connections: statements are sent unprepared (parsed each time), none relies on a session' })
      }
    }
    const before = await settingsBeforeMigrating(connection.db)
    let key = before.keyCheck === undefined ? null : keyOf(false)
    if (key) openKeyCheck(key.box, before.keyCheck!)
    const migration = { mayMigrate: mayCreate, name }
    const { applied, names } = connection.dialect === 'pg' ? await runPgMigrations(connection, migration) : runMigrations(connection, migration)
    if (applied > 0) log.debug('migrations_applied', { count: applied, migrations: names })
    // Instances on several machines keep one time, the database's (src/db-clock.ts).
    if (connection.dialect === 'pg' && (opts.clockSource ?? (opts.clock === undefined ? 'database' : 'machine')) === 'database') {
      const pgc = connection
      databaseClock = await DatabaseClock.start(machineClock, async () => Number((await pgc.bounded(pgc.client`SELECT (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS ms`))[0]!.ms), log, undefined, opts.oneShot === true)
      clock = databaseClock
    }
    const metrics = new Metrics()
    connection.onQuery = (seconds) => metrics.query(seconds)
    // Read again only when there was no check before the migrations (a new database, or one not
    // readable until migrated; another process starting at once may have stamped one since).
    // One that was there is what the key was proved against: reading it twice more (here and
    // after stamping) proved nothing new.
    const found = before.keyCheck === undefined ? await readStartSettings(connection.db) : before
    // A key file is written only for a database that has no key yet: one sealed under another
    // key (whose key file is elsewhere or lost) is refused without leaving a wrong key behind.
    // Nor for one whose check is missing while it holds sealed data (damaged, hand-edited): that
    // data's key is needed, not a new one.
    const sample = found.keyCheck === undefined && mayCreate ? await sealedSample(connection.db) : undefined
    key ??= keyOf(mayCreate && found.keyCheck === undefined && sample === undefined)
    const { box, source, warning } = key
    if (warning) log.warn('key_file_permissions', { warning })
    const blank = opts.box ? undefined : blankKeyWarning(config, source)
    if (blank) log.warn('encryption_key_blank', { warning: blank })
    const services: Services = { db: connection.db, clock, box, log, audit: new AuditLog(), config }
    // The check as read above: opened before the migrations already, or now; a new database gets one.
    if (found !== before) {
      if (found.keyCheck !== undefined) openKeyCheck(box, found.keyCheck)
      else if (mayCreate) await stampKeyCheck(connection.db, box, clock.now(), sample)
    }
    const databaseId = found.databaseId ?? (mayCreate ? await stampDatabaseId(connection.db, clock.now()) : undefined)
    const engine = new Engine({ db: connection.db, clock, log, config, providers: opts.providers ?? configProviders(config), metrics, instanceId: newId('inst') })
    metrics.gauges = { executionsQueued: () => engine.queued, executionsRunning: () => engine.runningCount }
    metrics.instance = { instance_id: engine.instanceId, version: config.version, commit: COMMIT }
    // PostgreSQL: counters every instance shares; SQLite: one process, counted in memory.
    const store = opts.rateLimitStore ?? (connection.dialect === 'pg' ? new PgRateLimitStore(connection, box) : undefined)
    const limiter = new RateLimiter({ config, clock, log }, store)
    revocations = new RevocationWatch({ db: connection.db, clock, log })
    // The identity alone, on SQLite too: a copy of the file (a backup, a `cp`) keeps it, but never
    // sees the nonce a start writes into the live file, which is what the proof is keyed with
    // (src/db/identity.ts); the file's device and inode, once part of it, told nothing more.
    const databaseIdentity = databaseId === undefined ? null : new DatabaseIdentity(databaseId)
    const drain: Drain = { closing: false }
    let schemaCheck: Promise<boolean> | null = null
    const runtime: Runtime = { ...services, connection, engine, limiter, revocations, keySource: source, databaseIdentity, migrationsApplied: applied,
      migrationNames: names,
      metrics,
      checkDatabase: async () => connection.ping(),
      close,
      drain,
      // One check at a time: probes that come together (two load balancers, serve's tick) share
      // it, so none answers ready beside one that just turned the instance away, and checks never
      // pile up in the pool's queue while the database is slow.
      checkSchema: () => (schemaCheck ??= checkSchemaOnce().finally(() => (schemaCheck = null))),
    }
    async function checkSchemaOnce(): Promise<boolean> {
      if (drain.superseded !== undefined) return true
      const newest = await journalNewest(connection)
      if (drain.superseded !== undefined) return true
      if (newest === null) return false
      const known = newestKnownMigration(connection.dialect)
      const fields = { version: VERSION, commit: COMMIT, newestMigration: new Date(newest).toISOString(), newestKnown: new Date(known).toISOString() }
      if (newerThanThisBuild(newest, connection.dialect)) {
        drain.superseded = supersededMessage()
        log.error('database_migrated_by_newer', {
          ...fields,
          note: 'a newer teamday migrated this database while this instance served: every request but /api/health is refused (503) and /api/health/ready fails from now on; its lease sweep and housekeeping stop (serve), runs in progress finish. Replace this instance with the newer version (README: Upgrading and rolling back)',
        })
        return true
      }
      // Migrated at this start, the database has every migration of this build: fewer now is a
      // database put back under it (a pg_restore of a backup from before the upgrade, a file
      // restored over it), whose tables lack what this build writes (every such write a 500).
      if (newest < known) {
        drain.superseded = rolledBackMessage()
        log.error('database_schema_older', {
          ...fields,
          note: 'the database was replaced under this instance by one of an older schema (a backup from before an upgrade restored while it ran): every request but /api/health is refused (503) and /api/health/ready fails from now on. Start the version the backup belongs to, or restart this one to migrate it again (README: Upgrading and rolling back)',
        })
        return true
      }
      return false
    }
    return runtime
  } catch (e) {
    await close()
    throw said(e)
  }
}

/**
 * The key check and identity of a database that has them, read before migrations: nothing for a
 * new database, and for any that cannot be read yet (no settings table, a role that may not read
 * it, a database out of reach), which the migrations then report as they always did; the
 * settings are read again after them.
 */
async function settingsBeforeMigrating(db: Runtime['db']): Promise<StartSettings> {
  try {
    return await readStartSettings(db)
  } catch {
    return {}
  }
}

/** The runtime's SQLite connection, for what exists only on SQLite (backups, benchmarks' seeding); throws on PostgreSQL. */
export function sqliteConnection(rt: Pick<Runtime, 'connection'>): SqliteConnection {
  if (rt.connection.dialect !== 'sqlite') throw new Error('this needs a SQLite database (the runtime is on PostgreSQL)')
  return rt.connection
}
