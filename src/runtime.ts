import { AuditLog } from './audit/log'
import { systemClock, type Clock } from './clock'
import type { Config } from './config'
import type { Services } from './context'
import { loadSecretBox, type KeySource } from './crypto/keys'
import type { SecretBox } from './crypto/secretbox'
import { openDatabase, type SqliteConnection } from './db/client'
import { runMigrations } from './db/migrate'
import { verifyEncryptionKey } from './db/settings'
import { configProviders, type ModelProviders } from './engine/providers'
import { Engine } from './engine/runner'
import { createLogger, resolveLogFormat, type Logger } from './logger'
import { Metrics } from './metrics/recorder'
import { RateLimiter } from './ratelimit/limiter'
import type { RateLimitStore } from './ratelimit/store'

/**
 * Everything the server is made of, built once (DESIGN.md, convention 6): the database, the
 * clock, the secret box, the logger, the audit log, the execution engine and the rate limiter.
 * `createApp(runtime)` only wires HTTP; the admin CLI uses the same runtime without HTTP.
 */
export interface Runtime extends Services {
  connection: SqliteConnection
  engine: Engine
  limiter: RateLimiter
  /** Where the encryption key came from (env, file, created, ephemeral). */
  keySource: KeySource
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
  /** Closes the database (after the engine has stopped: see `teamday serve`). */
  close(): void
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
   * false: neither the database nor a key file is created (admin commands other than serve,
   * migrate and users create); a missing one fails naming its path.
   */
  create?: boolean
}

/**
 * Opens the database named by the config, applies pending migrations, loads the encryption key
 * and proves it matches the database, then builds the rest. Shared by `serve`, the admin
 * commands, tests and benchmarks.
 */
export async function createRuntime(config: Config, opts: RuntimeOptions = {}): Promise<Runtime> {
  const log = opts.log ?? createLogger(config.logLevel, undefined, Date.now, { format: resolveLogFormat(config.logFormat, process.stderr.isTTY === true), access: config.accessLog })
  const clock = opts.clock ?? systemClock
  const connection = openDatabase(config.dbPath, { rowCache: config.cache, create: opts.create })
  try {
    const { applied, names } = runMigrations(connection)
    if (applied > 0) log.debug('migrations_applied', { count: applied, migrations: names })
    const metrics = new Metrics()
    connection.onQuery = (seconds) => metrics.query(seconds)
    // A box given by the caller (tests) was neither read nor written anywhere: ephemeral.
    const { box, source } = opts.box ? { box: opts.box, source: 'ephemeral' as const } : loadSecretBox(config, { create: opts.create })
    const services: Services = { db: connection.db, clock, box, log, audit: new AuditLog(), config }
    await verifyEncryptionKey(connection.db, box, clock.now())
    const engine = new Engine({ db: connection.db, clock, log, config, providers: opts.providers ?? configProviders(config), metrics })
    metrics.gauges = { executionsQueued: () => engine.queued, executionsRunning: () => engine.runningCount }
    const limiter = new RateLimiter({ config, clock, log }, opts.rateLimitStore)
    return { ...services, connection, engine, limiter, keySource: source, migrationsApplied: applied,
      migrationNames: names,
      metrics,
      checkDatabase: async () => connection.ping(),
      close: () => connection.close() }
  } catch (e) {
    connection.close()
    throw e
  }
}
