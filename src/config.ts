import { existsSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { quotableUrl, trimEndChar, unlessBlank } from './text'
import { DATABASE_SECRET_PARAMS } from './database-secrets'
import { compileTrustedProxies } from './http/client-address'
import { servedSegmentOf } from './http/base-path'
import { parseModelAliases, type ModelAlias } from './engine/model-aliases'
import { DEFAULT_OUTPUT_LIMITS, type OutputLimits } from './engine/output-limits'
import { PASSWORD_HASHING, type PasswordHashing } from './modules/users/password-hashing'

/** A rate-limit policy: at most `limit` requests per `windowMs`. */
export interface RatePolicy {
  limit: number
  windowMs: number
}

const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000 } as const

/**
 * Parses `N/Ms`, `N/Mm`, `N/Mh` (e.g. `600/60s`, `100/1m`); the window count may be omitted
 * (`600/s`). Returns 'off' for `off` / `0` / `none`, undefined when invalid.
 */
export function parseRatePolicy(value: string): RatePolicy | 'off' | undefined {
  const v = value.trim().toLowerCase()
  if (v === 'off' || v === 'none' || v === '0') return 'off'
  // Not (\d{0,7})\s*: two \s* side by side when the count is left out, which backtracks in time
  // quadratic in a run of white space.
  const m = /^(\d{1,9})\s*\/\s*(?:(\d{1,7})\s*)?([smh])$/.exec(v)
  if (!m) return undefined
  const limit = Number(m[1])
  const windowMs = Number(m[2] || '1') * UNIT_MS[m[3] as keyof typeof UNIT_MS]
  if (limit < 1 || windowMs < 1000) return undefined
  return { limit, windowMs }
}

/** Everything the server reads from its environment. The only reader of process.env. */
export interface Config {
  host: string
  port: number
  /**
   * The database: a SQLite file path (or `:memory:`), or a `postgres://` URL for several instances
   * on one PostgreSQL (--db, TEAMDAY_DATABASE_URL, TEAMDAY_DB; a `sqlite:` prefix is dropped).
   */
  dbPath: string
  /** PostgreSQL connections per instance (TEAMDAY_DB_POOL, default defaultDbPool()); unused on SQLite (one connection). */
  dbPool: number
  /** PostgreSQL statement_timeout (TEAMDAY_DB_STATEMENT_TIMEOUT_MS); unused on SQLite. */
  dbStatementTimeoutMs: number
  /**
   * How long `teamday serve` waits at start for a PostgreSQL that is not up yet (refusing
   * connections, starting up, its name not resolving yet), in ms (TEAMDAY_DB_START_WAIT_MS; 0:
   * fail at once). Admin commands do not wait. Unused on SQLite.
   */
  dbStartWaitMs: number
  /** base64 of 32 bytes; when unset a key file beside the database is used (created 0600). */
  encryptionKey?: string
  /**
   * TEAMDAY_ENCRYPTION_KEY was set but blank (empty, or only white space): unset like any blank
   * variable, and a start says so once, with the key it uses instead (src/crypto/keys.ts).
   */
  encryptionKeyBlank?: boolean
  /** Older keys (comma-separated base64) still accepted for decryption during a rotation. */
  previousEncryptionKeys: string[]
  keyFile: string
  /**
   * Reverse proxies whose X-Forwarded-For is believed (see src/http/client-address.ts): the
   * nearest N hops (TEAMDAY_TRUSTED_PROXY_HOPS) and/or hops with these addresses or CIDRs
   * (TEAMDAY_TRUSTED_PROXIES). Default: none, the socket peer is the client.
   */
  trustedProxyHops: number
  trustedProxies: string[]
  /**
   * Web pages on these origins may call /api/ from a browser (CORS; TEAMDAY_CORS_ORIGINS): exact
   * origins such as https://dash.example.com, or `*` for any. Default: none (no CORS headers).
   * Bearer tokens only: no credentials mode, and never the console's pages (src/http/cors.ts).
   */
  corsOrigins: string[]
  logLevel: 'debug' | 'info' | 'warn' | 'error' | 'silent'
  /** TEAMDAY_LOG_FORMAT: json, pretty, or auto (pretty when the log stream is a terminal). */
  logFormat: 'json' | 'pretty' | 'auto'
  /** TEAMDAY_ACCESS_LOG=off: no line per request. */
  accessLog: boolean
  /**
   * A second listener serving only GET /metrics without authentication, for a private network
   * (TEAMDAY_METRICS_HOST / TEAMDAY_METRICS_PORT, or --metrics-host / --metrics-port); null = none.
   */
  metricsPort: number | null
  metricsHost: string
  /**
   * HTTPS served by teamday itself (TEAMDAY_TLS_CERT / TEAMDAY_TLS_KEY, or --tls-cert / --tls-key):
   * PEM files of the certificate (its chain after it) and its private key, read at start and at each reload
   * (src/http/tls-files.ts); both or neither. Unset: plain HTTP.
   */
  tlsCert?: string
  tlsKey?: string
  /**
   * With TLS: how often (ms) `serve` reads the two files to serve new content without a SIGHUP
   * (TEAMDAY_TLS_CHECK_MS, default 60000; 0: only on SIGHUP). src/http/tls-reload.ts.
   */
  tlsCheckMs: number
  maxBodyBytes: number
  version: string
  /** Requests per token (per IP without a token): TEAMDAY_RATE_LIMIT, e.g. 600/60s; null = off. */
  rateLimit: RatePolicy | null
  /**
   * Requests per user, all their tokens together: TEAMDAY_USER_RATE_LIMIT; by default
   * USER_RATE_LIMIT_FACTOR times the per-token limit over the same window; null = off.
   */
  userRateLimit: RatePolicy | null
  /** Active tokens a user may have in one organization: TEAMDAY_MAX_TOKENS_PER_USER. */
  maxTokensPerUser: number
  /** Failed authentications per IP before 429: TEAMDAY_AUTH_FAILURE_LIMIT; null = off. */
  authFailureLimit: RatePolicy | null
  /** Leaked-credential reports per IP: TEAMDAY_LEAK_REPORT_RATE_LIMIT; null = off. */
  leakReportRateLimit: RatePolicy | null
  /** Browser sign-in for CLIs: login codes started and refreshes, per IP (TEAMDAY_CLI_LOGIN_RATE_LIMIT); null = off. */
  cliLoginRateLimit: RatePolicy | null
  /** Polls of login codes per IP, all codes together (TEAMDAY_CLI_POLL_RATE_LIMIT); null = off. Each code also allows 6 polls per 10 s. */
  cliPollRateLimit: RatePolicy | null
  /**
   * Web console requests per signed-in person, all their sessions and browsers together
   * (TEAMDAY_CONSOLE_RATE_LIMIT); null = off. Its own budget: browsing does not spend the API's.
   */
  consoleRateLimit: RatePolicy | null
  /**
   * The server's address as browsers reach it (TEAMDAY_PUBLIC_URL, e.g. https://teamday.example.com):
   * the base of the sign-in links handed to CLIs. Unset: the origin the request was sent to.
   */
  publicUrl?: string
  /**
   * Strict-Transport-Security's max-age in seconds (TEAMDAY_HSTS_MAX_AGE; default one day, `off`:
   * never sent). Sent only where the site is HTTPS for good: teamday serves TLS itself, or the
   * request is addressed to an https TEAMDAY_PUBLIC_URL's host; never to a loopback name
   * (src/http/guards.ts). No includeSubDomains, no preload.
   */
  hstsMaxAge: number | null
  /** OpenAI-compatible Chat Completions endpoint (OpenAI, Ollama, vLLM, ...), e.g. http://localhost:11434/v1. */
  openaiBaseUrl?: string
  openaiApiKey?: string
  anthropicApiKey?: string
  /** Anthropic Messages base URL, with or without the trailing /v1. */
  anthropicBaseUrl?: string
  /** Model for agents that name none. */
  defaultModel?: string
  /** TEAMDAY_MODEL_ALIASES: model ids (glob patterns) run as other ids, first match wins. */
  modelAliases: ModelAlias[]
  /** Forces one provider for every model. */
  provider?: 'openai' | 'anthropic'
  /**
   * In-memory caches (TEAMDAY_CACHE=off turns both off, for measuring what they earn; see bench/):
   * rows of SELECTs kept until the next commit (src/db/sqlite.ts), and serialized agent lists keyed
   * by data version (src/cache/response-cache.ts).
   */
  cache: boolean
  /**
   * TEAMDAY_COMPRESSION (on by default): JSON bodies, metrics and console pages of 1 KiB or more
   * (not pages that show a secret), and Swagger UI's files, go out zstd- or gzip-compressed to
   * clients whose Accept-Encoding allows it (src/http/compression.ts).
   */
  compression: boolean
  maxDelegationDepth: number
  /**
   * Executions one delegation tree may start below its top-level run, in all
   * (TEAMDAY_MAX_DELEGATIONS_PER_RUN): a model that delegates on every turn at every level made
   * 1 110 child runs (and 11 110 model requests) from one execute with the default depth and turns.
   */
  maxDelegationsPerRun: number
  /**
   * Top-level executions running at once in the whole database, every instance on it together
   * (TEAMDAY_MAX_CONCURRENT_EXECUTIONS); the rest wait as pending, picked fairly between
   * organizations (src/engine/queue.ts). Delegated children run in their parent's slot.
   */
  maxConcurrentExecutions: number
  /**
   * Executions one person may have waiting (`pending`) at once in an organization
   * (TEAMDAY_MAX_QUEUED_EXECUTIONS_PER_USER): one more is a 429. Each waiting run holds memory
   * on the instance that queued it (its model client, its message).
   */
  maxQueuedExecutionsPerUser: number
  /**
   * What a run that continues a session sends the model at most (TEAMDAY_MAX_HISTORY_CHARS), in
   * characters (about 4 to a token): its system prompt and message, then the session's newest
   * earlier turns that fit in what is left, whole turns only; older ones stay stored but are not
   * read or sent, and the run's log says how many were left out (`history_trimmed`). Without it a
   * long conversation outgrew every model's context window (each further message then failed at
   * the provider) and each run read the whole session into memory.
   */
  maxHistoryChars: number
  executionTimeoutMs: number
  /** First start only: the admin's e-mail (TEAMDAY_ADMIN_EMAIL; default admin@localhost). */
  adminEmail?: string
  /** First start only: a file holding the admin's password (TEAMDAY_ADMIN_PASSWORD_FILE, e.g. a Docker secret). */
  adminPasswordFile?: string
  /**
   * How long an execution's lease holds without renewal (TEAMDAY_EXECUTION_LEASE_MS): after a
   * process dies (or crashes and restarts), its unfinished executions are failed by another
   * process on the database, or by the restarted one, this long after its last renewal, on
   * PostgreSQL and SQLite alike (src/engine/leases.ts).
   */
  executionLeaseMs: number
  /**
   * Audit events older than this many days are deleted by the hourly housekeeping
   * (TEAMDAY_AUDIT_RETENTION_DAYS); null (the default) keeps them for ever (src/housekeeping/).
   */
  auditRetentionDays: number | null
  /**
   * Finished executions (completed, failed, cancelled), with their logs, are deleted this many
   * days after they ended, a delegation tree as a whole once its last run ended that long ago
   * (TEAMDAY_EXECUTION_RETENTION_DAYS); null (the default) keeps them for ever.
   */
  executionRetentionDays: number | null
  /**
   * What one run's output may hold in memory: characters and streamed parts its delegation tree's
   * models may write, bytes a stream keeps waiting for a slow reader (src/engine/output-limits.ts).
   * Not a setting: always DEFAULT_OUTPUT_LIMITS from the environment (README states them); a
   * runtime built in process (the tests) may give smaller ones to reach them with kilobytes.
   */
  outputLimits: OutputLimits
  /**
   * The cost of hashing a console password (argon2id; src/modules/users/password-hashing.ts).
   * Not a setting an operator should lower: always PASSWORD_HASHING from the environment; the
   * test harness builds its runtimes with a cheap cost where a test is not about the hash itself.
   * A stored hash of other parameters is re-hashed with these at its user's next sign-in.
   */
  passwordHashing: PasswordHashing
}

import { VERSION } from './build-info'
import { ConfigError } from './config-error'
import { pgTlsSettings } from './db/pg-tls'

export { ConfigError, VERSION }
export const DEFAULT_DB_PATH = './data/teamday.db'
/**
 * TEAMDAY_MAX_HISTORY_CHARS's default: 200,000 characters, about 50,000 tokens, well inside the
 * 128,000 to 200,000 of today's usual context windows, leaving the run room for its own tool calls
 * and answer.
 */
export const DEFAULT_MAX_HISTORY_CHARS = 200_000

type Env = Record<string, string | undefined>

export function loadConfig(given: Env = process.env, overrides: Partial<Config> = {}): Config {
  // Set but blank is unset, for every variable alike: an env or compose file's `VAR= ` keeps its
  // space, and TEAMDAY_DB=" " opened a file named " ", TEAMDAY_ACCESS_LOG=" " refused to start,
  // where `VAR=` (and leaving it out) is the default. README, Configuration: "Nothing is required".
  const env = withoutBlankValues(given)
  // Set but empty is unset, as for PORT: `TEAMDAY_DB=` opened the current folder as the database.
  const dbSetting = overrides.dbPath ?? (env.TEAMDAY_DATABASE_URL || undefined) ?? (env.TEAMDAY_DB || undefined) ?? DEFAULT_DB_PATH
  const dbPath = normalizeDatabase(dbSetting)
  refuseFileUrlLeftBehind(dbSetting, dbPath)
  rejectUnknownScheme(dbPath)
  if (isPostgresUrl(dbPath) && !isValidPostgresUrl(dbPath)) throw new ConfigError(`the database (--db, TEAMDAY_DATABASE_URL or TEAMDAY_DB) is not a valid PostgreSQL URL: ${POSTGRES_URL_FORM}`)
  if (isPostgresUrl(dbPath)) {
    rejectUnknownSslMode(dbPath)
    // The TLS files the URL names (sslrootcert, sslcert, sslkey, sslcrl), read now: a missing one said at start, exit 2.
    try {
      pgTlsSettings(dbPath)
    } catch (e) {
      throw new ConfigError(`${(e as Error).message} (--db, TEAMDAY_DATABASE_URL or TEAMDAY_DB)`)
    }
  }
  // Empty is unset (`PORT=` listened on a random port).
  const port = overrides.port ?? parsePort(env.PORT || '3000', 'PORT')
  // Blank is unset and the case is free, as for TEAMDAY_LOG_FORMAT (`TEAMDAY_LOG_LEVEL=` refused to start).
  const logLevel = (env.TEAMDAY_LOG_LEVEL?.trim().toLowerCase() || 'info') as Config['logLevel']
  if (!['debug', 'info', 'warn', 'error', 'silent'].includes(logLevel)) {
    throw new ConfigError(`TEAMDAY_LOG_LEVEL must be one of debug, info, warn, error, silent (got "${env.TEAMDAY_LOG_LEVEL}")`)
  }
  const logFormat = (env.TEAMDAY_LOG_FORMAT || 'auto').toLowerCase() as Config['logFormat']
  if (!['json', 'pretty', 'auto'].includes(logFormat)) {
    throw new ConfigError(`TEAMDAY_LOG_FORMAT must be json, pretty or auto (got "${env.TEAMDAY_LOG_FORMAT}")`)
  }
  rejectTrustProxy(env.TEAMDAY_TRUST_PROXY)
  const tls = tlsFilesVar(overrides.tlsCert ?? env.TEAMDAY_TLS_CERT?.trim(), overrides.tlsKey ?? env.TEAMDAY_TLS_KEY?.trim())
  // The per-user default follows the per-token limit, including one given as an override.
  const rateLimit = overrides.rateLimit !== undefined ? overrides.rateLimit : ratePolicyVar('TEAMDAY_RATE_LIMIT', env.TEAMDAY_RATE_LIMIT, '1200/60s')
  return {
    host: env.HOST || '0.0.0.0',
    port,
    dbPath,
    dbPool: parseIntVar('TEAMDAY_DB_POOL', env.TEAMDAY_DB_POOL, defaultDbPool(navigator.hardwareConcurrency), 1, 1000),
    dbStatementTimeoutMs: parseIntVar('TEAMDAY_DB_STATEMENT_TIMEOUT_MS', env.TEAMDAY_DB_STATEMENT_TIMEOUT_MS, 30_000, 100, 3_600_000),
    dbStartWaitMs: parseIntVar('TEAMDAY_DB_START_WAIT_MS', env.TEAMDAY_DB_START_WAIT_MS, 60_000, 0, 3_600_000),
    tlsCheckMs: parseIntVar('TEAMDAY_TLS_CHECK_MS', env.TEAMDAY_TLS_CHECK_MS, 60_000, 0, 86_400_000),
    encryptionKey: keyVar('TEAMDAY_ENCRYPTION_KEY', env.TEAMDAY_ENCRYPTION_KEY || undefined),
    encryptionKeyBlank: given.TEAMDAY_ENCRYPTION_KEY !== undefined && env.TEAMDAY_ENCRYPTION_KEY === undefined,
    previousEncryptionKeys: (env.TEAMDAY_ENCRYPTION_KEYS_PREVIOUS ?? '').split(',').map((s) => s.trim()).filter(Boolean).map((k, i) => keyVar(`TEAMDAY_ENCRYPTION_KEYS_PREVIOUS[${i}]`, k)!),
    // Blank is unset: an empty path is an in-memory database's (a random key, never kept), and a
    // file database served with one sealed its data under a key lost at the next start.
    keyFile: env.TEAMDAY_KEY_FILE?.trim() || defaultKeyFile(dbPath),
    trustedProxyHops: parseIntVar('TEAMDAY_TRUSTED_PROXY_HOPS', env.TEAMDAY_TRUSTED_PROXY_HOPS, 0, 0, 10),
    trustedProxies: parseTrustedProxies(env.TEAMDAY_TRUSTED_PROXIES),
    corsOrigins: parseCorsOrigins(env.TEAMDAY_CORS_ORIGINS),
    logLevel,
    logFormat,
    accessLog: parseOnOff('TEAMDAY_ACCESS_LOG', env.TEAMDAY_ACCESS_LOG, true),
    metricsPort: env.TEAMDAY_METRICS_PORT ? parsePort(env.TEAMDAY_METRICS_PORT, 'TEAMDAY_METRICS_PORT') : null,
    metricsHost: env.TEAMDAY_METRICS_HOST || '127.0.0.1',
    ...tls,
    maxBodyBytes: 1024 * 1024,
    version: VERSION,
    rateLimit,
    userRateLimit: userRatePolicy(env.TEAMDAY_USER_RATE_LIMIT, rateLimit),
    maxTokensPerUser: parseIntVar('TEAMDAY_MAX_TOKENS_PER_USER', env.TEAMDAY_MAX_TOKENS_PER_USER, 100, 1, 100_000),
    authFailureLimit: ratePolicyVar('TEAMDAY_AUTH_FAILURE_LIMIT', env.TEAMDAY_AUTH_FAILURE_LIMIT, '20/60s'),
    leakReportRateLimit: ratePolicyVar('TEAMDAY_LEAK_REPORT_RATE_LIMIT', env.TEAMDAY_LEAK_REPORT_RATE_LIMIT, '10/60s'),
    cliLoginRateLimit: ratePolicyVar('TEAMDAY_CLI_LOGIN_RATE_LIMIT', env.TEAMDAY_CLI_LOGIN_RATE_LIMIT, '30/60s'),
    cliPollRateLimit: ratePolicyVar('TEAMDAY_CLI_POLL_RATE_LIMIT', env.TEAMDAY_CLI_POLL_RATE_LIMIT, '120/60s'),
    consoleRateLimit: ratePolicyVar('TEAMDAY_CONSOLE_RATE_LIMIT', env.TEAMDAY_CONSOLE_RATE_LIMIT, '600/60s'),
    publicUrl: publicUrlVar(env.TEAMDAY_PUBLIC_URL),
    hstsMaxAge: hstsMaxAgeVar(env.TEAMDAY_HSTS_MAX_AGE),
    openaiBaseUrl: httpUrlVar('OPENAI_BASE_URL', env.OPENAI_BASE_URL) ?? (env.OPENAI_API_KEY ? 'https://api.openai.com/v1' : undefined),
    openaiApiKey: env.OPENAI_API_KEY || undefined,
    anthropicApiKey: env.ANTHROPIC_API_KEY || undefined,
    anthropicBaseUrl: httpUrlVar('ANTHROPIC_BASE_URL', env.ANTHROPIC_BASE_URL),
    defaultModel: env.TEAMDAY_DEFAULT_MODEL?.trim() || undefined,
    modelAliases: modelAliasesVar(env.TEAMDAY_MODEL_ALIASES),
    provider: parseProvider(env.TEAMDAY_PROVIDER),
    cache: parseOnOff('TEAMDAY_CACHE', env.TEAMDAY_CACHE, true),
    compression: parseOnOff('TEAMDAY_COMPRESSION', env.TEAMDAY_COMPRESSION, true),
    maxDelegationDepth: parseIntVar('TEAMDAY_MAX_DELEGATION_DEPTH', env.TEAMDAY_MAX_DELEGATION_DEPTH, 3, 0, 20),
    maxDelegationsPerRun: parseIntVar('TEAMDAY_MAX_DELEGATIONS_PER_RUN', env.TEAMDAY_MAX_DELEGATIONS_PER_RUN, 100, 0, 10_000),
    maxConcurrentExecutions: parseIntVar('TEAMDAY_MAX_CONCURRENT_EXECUTIONS', env.TEAMDAY_MAX_CONCURRENT_EXECUTIONS, 4, 1, 1000),
    maxQueuedExecutionsPerUser: parseIntVar('TEAMDAY_MAX_QUEUED_EXECUTIONS_PER_USER', env.TEAMDAY_MAX_QUEUED_EXECUTIONS_PER_USER, 50, 1, 100_000),
    maxHistoryChars: parseIntVar('TEAMDAY_MAX_HISTORY_CHARS', env.TEAMDAY_MAX_HISTORY_CHARS, DEFAULT_MAX_HISTORY_CHARS, 0, 100_000_000),
    executionTimeoutMs: parseIntVar('TEAMDAY_EXECUTION_TIMEOUT_MS', env.TEAMDAY_EXECUTION_TIMEOUT_MS, 300_000, 100, 86_400_000),
    adminEmail: env.TEAMDAY_ADMIN_EMAIL || undefined,
    adminPasswordFile: env.TEAMDAY_ADMIN_PASSWORD_FILE || undefined,
    executionLeaseMs: parseIntVar('TEAMDAY_EXECUTION_LEASE_MS', env.TEAMDAY_EXECUTION_LEASE_MS, 30_000, 1_000, 3_600_000),
    auditRetentionDays: retentionDaysVar('TEAMDAY_AUDIT_RETENTION_DAYS', env.TEAMDAY_AUDIT_RETENTION_DAYS),
    executionRetentionDays: retentionDaysVar('TEAMDAY_EXECUTION_RETENTION_DAYS', env.TEAMDAY_EXECUTION_RETENTION_DAYS),
    outputLimits: { ...DEFAULT_OUTPUT_LIMITS },
    passwordHashing: PASSWORD_HASHING,
    ...overrides,
    ...(overrides.dbPath !== undefined ? { dbPath } : {}),
  }
}

/** `env` without the variables whose value is empty or only white space. */
function withoutBlankValues(env: Env): Env {
  const kept: Env = {}
  for (const [name, value] of Object.entries(env)) if (unlessBlank(value) !== undefined) kept[name] = value
  return kept
}

/** Whether a database string names PostgreSQL (`postgres://` or `postgresql://`). */
export function isPostgresUrl(db: string): boolean {
  return /^postgres(ql)?:\/\//i.test(db)
}

/** How a PostgreSQL URL is written, for the message that refuses one (which never repeats it: it may hold a password). */
export const POSTGRES_URL_FORM = 'postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE, with a space, @, / or % in the password or the name written %20, %40, %2F, %25'

/**
 * Whether the PostgreSQL driver (postgres.js) can read `url`: parsed as its parseUrl does (the
 * first of several comma-separated hosts), which threw a bare `Invalid URL` at the first query.
 */
export function isValidPostgresUrl(url: string): boolean {
  try {
    const rest = url.slice(url.indexOf('://') + 3)
    let host = rest.split(/[?/]/)[0]!
    // The user, the password and the database name are percent-decoded too (a `%` not written
    // %25 threw "URI error" at the first query).
    const userinfo = host.includes('@') ? host.slice(0, host.indexOf('@')) : ''
    for (const part of userinfo.split(':')) decodeURIComponent(part)
    decodeURIComponent(rest.slice(host.length).split('?')[0]!)
    host = decodeURIComponent(host.slice(host.indexOf('@') + 1))
    const u = new URL(url.replace(host, host.split(',')[0]!))
    return u.hostname !== '' || host === ''
  } catch {
    return false
  }
}

/**
 * A database string with a scheme that is neither PostgreSQL's nor SQLite's (`pg://…`, `mysql://…`,
 * `https://…`) is refused: it was taken for a file path, and the server started on a new, empty
 * SQLite file named after the URL while its log said the URL.
 */
function rejectUnknownScheme(db: string): void {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(db)?.[1]
  if (scheme === undefined || isPostgresUrl(db)) return
  throw new ConfigError(`the database "${scheme}://…" (--db, TEAMDAY_DATABASE_URL or TEAMDAY_DB) is not one teamday opens: give a SQLite file (a path, or sqlite:PATH) or a PostgreSQL URL (postgres://USER@HOST:5432/DB)`)
}

/**
 * `sqlite:FILE` (or `sqlite://FILE`) is FILE; a `file:` URL is the file it names: `file:PATH`,
 * `file:///ABSOLUTE/PATH` or `file://localhost/ABSOLUTE/PATH`, percent-decoded (RFC 8089). One
 * was taken for a path: a start made a folder named `file:.` and a new, empty database in it. A
 * file: URL of another host, or with SQLite's URI parameters (`?mode=ro`: not read here, and the
 * writer teamday is would ignore them), is refused. Anything else is kept.
 */
export function normalizeDatabase(db: string): string {
  const m = /^sqlite:(\/\/)?(.*)$/i.exec(db)
  if (m) return m[2]!
  const f = /^file:(?:\/\/([^/]*))?(.*)$/is.exec(db)
  if (!f) return db
  const [, host, rest] = f as unknown as [string, string | undefined, string]
  const where = '(--db, TEAMDAY_DATABASE_URL or TEAMDAY_DB)'
  if (host !== undefined && host !== '' && host.toLowerCase() !== 'localhost') {
    throw new ConfigError(`the database "file://${host}/…" ${where} names a file on another host (${host}): give a file of this machine, file:///ABSOLUTE/PATH or file:PATH`)
  }
  const q = rest.search(/[?#]/)
  if (q >= 0) throw new ConfigError(`the database file URL ${where} has SQLite's URI parameters (${rest.slice(q)}), which are not read: give the file alone, file:PATH or file:///ABSOLUTE/PATH`)
  let path: string
  try {
    path = decodeURIComponent(rest)
  } catch {
    throw new ConfigError(`the database file URL ${where} is not percent-encoded correctly (a % not followed by two hex digits): write % as %25`)
  }
  if (path === '') throw new ConfigError(`the database file URL ${where} names no file: file:PATH or file:///ABSOLUTE/PATH`)
  return path
}

/**
 * A file: URL names the file after `file:` since 2026-12-07; builds before took the whole setting
 * for a path relative to the working folder, and kept the database in `./file:…` there. Started
 * with the same setting, this build made a new, empty database at the file the URL names (every
 * token 401, the data seemingly gone). Refused while that file does not exist and the place an
 * older build used holds one, naming both.
 */
function refuseFileUrlLeftBehind(setting: string, path: string): void {
  if (!/^file:/i.test(setting) || existsSync(path)) return
  const left = resolve(setting)
  if (!existsSync(left)) return
  throw new ConfigError(
    `the database ${setting} (--db, TEAMDAY_DATABASE_URL or TEAMDAY_DB) names ${resolve(path)}, which does not exist, and ${left} does: ` +
      'teamday builds before 2026-12-07 took a file: URL for a path in the working folder and kept the database there. ' +
      `Move that file (with its teamday.key, -wal and -shm beside it) to ${resolve(path)}, or give --db ${left}; nothing was changed`,
  )
}

/** libpq's sslmode values: what the driver makes of any other (TLS, verified) is not what was meant. */
const SSL_MODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full']

/**
 * A PostgreSQL URL's `sslmode` that libpq does not know, refused at start: the driver took any
 * other value for TLS with the server's certificate verified, and a server without TLS failed
 * every statement as "The database is not answering".
 */
function rejectUnknownSslMode(url: string): void {
  const q = url.indexOf('?')
  if (q < 0) return
  for (const [name, value] of new URLSearchParams(url.slice(q + 1))) {
    if (name === 'sslmode' && !SSL_MODES.includes(value)) {
      throw new ConfigError(`the database URL's sslmode=${value} is not one PostgreSQL knows: disable, allow, prefer, require, verify-ca or verify-full (--db, TEAMDAY_DATABASE_URL or TEAMDAY_DB)`)
    }
  }
}

/** A database for messages: a PostgreSQL URL without its password, a file's absolute path. */
export function describeDatabase(db: string): string {
  if (!isPostgresUrl(db)) return db === ':memory:' ? db : resolve(db)
  try {
    const u = new URL(db)
    if (u.password) u.password = '***'
    for (const name of DATABASE_SECRET_PARAMS) if (u.searchParams.has(name)) u.searchParams.set(name, '***')
    return u.toString()
  } catch {
    return 'postgres://(unparsable URL)'
  }
}

export function defaultKeyFile(dbPath: string): string {
  if (dbPath === ':memory:') return ''
  // PostgreSQL: every instance needs the same key (TEAMDAY_ENCRYPTION_KEY, or this file on each).
  if (isPostgresUrl(dbPath)) return resolve('data', 'teamday.key')
  return join(dirname(resolve(dbPath)), 'teamday.key')
}

/**
 * A key's shape is checked with the rest of the config, before any folder or database file is
 * created: a mistyped key leaves nothing behind (src/crypto/keys.ts decodes it for use).
 */
function keyVar(name: string, value: string | undefined): string | undefined {
  if (value === undefined) return undefined
  const bytes = Buffer.from(value.trim(), 'base64').length
  if (bytes !== 32) throw new ConfigError(`${name} must be base64 of exactly 32 bytes (got ${bytes}); generate one with: openssl rand -base64 32`)
  return value
}

/**
 * A model provider's base URL: an http(s) URL, or unset. `notaurl` was taken, and every execution
 * then answered 502 "Invalid URL" while the server said it had a provider.
 */
function httpUrlVar(name: string, value: string | undefined): string | undefined {
  if (!value) return undefined
  let ok = false
  try {
    const u = new URL(value)
    ok = (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== ''
  } catch {}
  // The value is not quoted: a malformed URL may still hold credentials (https://user:key@…).
  if (!ok) throw new ConfigError(`${name} must be an http:// or https:// URL, such as http://localhost:11434/v1`)
  return value
}

/** A port number; `name` says which setting it came from (an environment variable or a flag). */
export function parsePort(value: string, name = 'port'): number {
  const n = Number(value)
  if (!/^\d+$/.test(value.trim()) || !Number.isInteger(n) || n < 0 || n > 65535) throw new ConfigError(`${name} must be an integer 0-65535 (got "${value}")`)
  return n
}

function parseProvider(value: string | undefined): Config['provider'] {
  if (!value) return undefined
  const v = value.toLowerCase()
  if (v === 'openai' || v === 'anthropic') return v
  throw new ConfigError(`TEAMDAY_PROVIDER must be openai or anthropic (got "${value}")`)
}

/** TEAMDAY_CORS_ORIGINS: `*` alone, or comma-separated origins (scheme, host, port when not the default; no path). */
export function parseCorsOrigins(value: string | undefined): string[] {
  const origins = (value ?? '').split(',').map((s) => s.trim()).filter(Boolean)
  if (origins.includes('*')) {
    if (origins.length > 1) throw new ConfigError(`TEAMDAY_CORS_ORIGINS is either * (any origin) or a list of origins, not both (got "${value}")`)
    return origins
  }
  for (const o of origins) {
    let origin: string | null = null
    try {
      const u = new URL(o)
      if (u.protocol === 'http:' || u.protocol === 'https:') origin = u.origin
    } catch {}
    if (origin !== o) {
      throw new ConfigError(`TEAMDAY_CORS_ORIGINS must list origins as browsers send them, such as https://dash.example.com or http://localhost:5173 (no path, no trailing slash): got "${o}"${origin ? `; did you mean ${origin}?` : ''}`)
    }
  }
  return origins
}

/**
 * TEAMDAY_TRUST_PROXY=true used to believe the leftmost X-Forwarded-For entry, which the client
 * writes. Its safe reading depends on how many proxies are in front, which it does not say, so
 * a true value stops the start with what to set instead; a false one means the default anyway.
 */
function rejectTrustProxy(value: string | undefined): void {
  const v = (value ?? '').trim().toLowerCase()
  if (['', '0', 'false', 'no', 'off'].includes(v)) return
  throw new ConfigError(
    `TEAMDAY_TRUST_PROXY is no longer supported (it let any client choose its address with X-Forwarded-For). ` +
      `Remove it and set TEAMDAY_TRUSTED_PROXY_HOPS=1 when exactly one reverse proxy you run is in front, ` +
      `or TEAMDAY_TRUSTED_PROXIES=<its addresses or CIDRs, e.g. 10.0.0.0/8,loopback>; see "Behind a reverse proxy" in the README.`,
  )
}

function parseTrustedProxies(value: string | undefined): string[] {
  const list = (value ?? '').split(',').map((s) => s.trim()).filter(Boolean)
  const r = compileTrustedProxies(list)
  if ('invalid' in r) {
    throw new ConfigError(`TEAMDAY_TRUSTED_PROXIES must be comma-separated IP addresses, CIDRs (10.0.0.0/8, fd00::/8), loopback or private (got "${r.invalid}")`)
  }
  return list
}

/**
 * PostgreSQL connections per instance when TEAMDAY_DB_POOL is unset: twice the cores this process
 * may run on, plus one, and at most 10 (the default before). More connections than cores to run
 * them only queue inside PostgreSQL: on the 2-core development machines (PostgreSQL, the instances
 * and the load generator sharing them) PostgreSQL spent less CPU a request with 4–5 connections
 * per instance than with 10 in every comparison, and the mixed benchmark served as many requests
 * or more (docs/performance.md). A machine of five cores or more keeps 10.
 */
export function defaultDbPool(cores: number): number {
  return Math.min(10, 2 * Math.max(1, Math.floor(cores) || 1) + 1)
}

/**
 * A whole number in decimal digits; unset, empty or blank is the default. Number() alone took a
 * blank value (`VAR= ` in an env or compose file) for 0, which turned delegation or a session's
 * history off without a word, and `0x10` or `1e3` for 16 and 1000 (parsePort refused them).
 */
function parseIntVar(name: string, value: string | undefined, fallback: number, min: number, max: number): number {
  const v = (value ?? '').trim()
  if (v === '') return fallback
  const n = Number(v)
  if (!/^\d+$/.test(v) || n < min || n > max) throw new ConfigError(`${name} must be an integer ${min}-${max} (got "${value}")`)
  return n
}

/** The longest retention period a setting takes: 100 years (longer is "for ever", the default). */
export const MAX_RETENTION_DAYS = 36_500

/** A retention period in whole days; unset, empty or `off` keeps everything for ever (null). */
function retentionDaysVar(name: string, value: string | undefined): number | null {
  const v = (value ?? '').trim().toLowerCase()
  if (v === '' || v === 'off') return null
  const n = Number(v)
  if (!/^\d+$/.test(v) || n < 1 || n > MAX_RETENTION_DAYS) {
    throw new ConfigError(`${name} must be a number of days 1-${MAX_RETENTION_DAYS}, or off (the default) to keep everything (got "${value}")`)
  }
  return n
}

function ratePolicyVar(name: string, value: string | undefined, fallback: string): RatePolicy | null {
  const p = parseRatePolicy(value === undefined || value.trim() === '' ? fallback : value)
  if (p === undefined) throw new ConfigError(`${name} must look like 600/60s (requests/window in s, m or h) or off (got "${value}")`)
  return p === 'off' ? null : p
}

/** A user with several tokens gets this many times one token's budget, not one budget per token. */
export const USER_RATE_LIMIT_FACTOR = 3

function userRatePolicy(value: string | undefined, perToken: RatePolicy | null): RatePolicy | null {
  if (value !== undefined && value.trim() !== '') return ratePolicyVar('TEAMDAY_USER_RATE_LIMIT', value, 'off')
  return perToken ? { limit: perToken.limit * USER_RATE_LIMIT_FACTOR, windowMs: perToken.windowMs } : null
}

/** Strict-Transport-Security's max-age: unset or empty one day, `off` none (null), else 0 (a browser forgets it) to two years. */
function hstsMaxAgeVar(raw: string | undefined): number | null {
  if (raw?.trim().toLowerCase() === 'off') return null
  return parseIntVar('TEAMDAY_HSTS_MAX_AGE', raw, 86_400, 0, 63_072_000)
}

function parseOnOff(name: string, raw: string | undefined, fallback: boolean): boolean {
  if (raw === undefined || raw === '') return fallback
  const v = raw.toLowerCase()
  if (['on', '1', 'true', 'yes'].includes(v)) return true
  if (['off', '0', 'false', 'no'].includes(v)) return false
  throw new ConfigError(`${name} must be on or off (got "${raw}")`)
}

function modelAliasesVar(value: string | undefined): ModelAlias[] {
  const parsed = parseModelAliases(value)
  if (typeof parsed === 'string') throw new ConfigError(parsed)
  return parsed
}

/**
 * The certificate and key files for HTTPS: both or neither. One alone would have served plain
 * HTTP while the operator believed in HTTPS (or failed later, further from the cause).
 */
function tlsFilesVar(cert: string | undefined, key: string | undefined): { tlsCert?: string; tlsKey?: string } {
  if (!cert && !key) return {}
  if (!cert || !key) {
    const [given, missing] = cert ? ['--tls-cert (TEAMDAY_TLS_CERT)', '--tls-key (TEAMDAY_TLS_KEY)'] : ['--tls-key (TEAMDAY_TLS_KEY)', '--tls-cert (TEAMDAY_TLS_CERT)']
    throw new ConfigError(`${given} is given without ${missing}: HTTPS needs both, the certificate and its private key (PEM files); give both, or neither for plain HTTP`)
  }
  return { tlsCert: cert, tlsKey: key }
}

function publicUrlVar(value: string | undefined): string | undefined {
  if (!value) return undefined
  let u: URL
  try {
    u = new URL(value)
  } catch {
    const shown = quotableUrl(value)
    throw new ConfigError(`TEAMDAY_PUBLIC_URL must be an http(s) URL such as https://teamday.example.com${shown === null ? '' : ` (got "${shown}")`}`)
  }
  if ((u.protocol !== 'http:' && u.protocol !== 'https:') || u.username || u.password || u.search || u.hash) {
    // Quoted without what it must not have (quotableUrl): its user and password, query (?token=…)
    // and fragment. The whole value was quoted, printing a password to the service's journal.
    const has = [u.username || u.password ? 'credentials' : '', u.search ? 'a query' : '', u.hash ? 'a fragment' : ''].filter(Boolean).join(', ')
    throw new ConfigError(`TEAMDAY_PUBLIC_URL must be an http(s) URL without credentials, query or fragment (got "${quotableUrl(value)}"${has ? `, with ${has}` : ''})`)
  }
  // The path as the base path of every link and the prefix taken off requests (src/http/base-path.ts):
  // no empty segment (`http://host//teamday` made links `//teamday/…`, scheme-relative: another
  // host), and no percent-escape (a space or `é` is written as one by the URL parser): a request's
  // escape may come decoded or in the other case, and `/%61pi` would be `/api`.
  if (u.pathname.includes('//')) {
    throw new ConfigError(`TEAMDAY_PUBLIC_URL's path may not hold an empty segment, two slashes in a row (got "${quotableUrl(value)}"): such as ${u.origin}/teamday`)
  }
  if (u.pathname.includes('%')) {
    throw new ConfigError(
      `TEAMDAY_PUBLIC_URL's path may not hold a percent-escape, nor a character a URL writes as one (a space, a non-ASCII letter) (got "${quotableUrl(value)}"): choose one of letters, digits and - . _ ~, such as ${u.origin}/teamday`,
    )
  }
  const served = servedSegmentOf(u.pathname)
  if (served !== null) {
    throw new ConfigError(`TEAMDAY_PUBLIC_URL's path may not start with /${served}, a path teamday serves itself (got "${quotableUrl(value)}"): choose another, such as ${u.origin}/teamday`)
  }
  return `${u.origin}${trimEndChar(u.pathname, '/')}`
}
