/**
 * The tables services query, for the database this process runs on (Homarr's way: one schema the
 * services are typed against, the dialect's tables picked at run time).
 *
 * Services are written once against these bindings and typed by SQLite's tables; the two
 * dialects' tables have the same names, columns and row types (test/schema-parity.test.ts). A
 * process talks to one database: `useDialect('pg')` (src/db/open.ts, when the database URL is
 * postgres://) rebinds every table below to PostgreSQL's before the first query. These are ES
 * module live bindings: every importer sees the rebinding.
 */
import { sql, type SQL, type SQLWrapper } from 'drizzle-orm'
import * as lite from './sqlite'

export * from './shared'
export type { Organization, User, Membership, PersonalAccessToken, Agent, Space, Secret, Task, AuditEvent, IdempotencyKey, Execution, ExecutionLog, Session, OneTimeLink, CliLoginCode, CliSession, CliAccessToken } from './sqlite'

export type Dialect = 'sqlite' | 'pg'

/** The dialect of this process's database (SQLite unless a postgres:// URL was opened). */
export let dialect: Dialect = 'sqlite'

export let organizations: typeof lite.organizations = lite.organizations
export let users: typeof lite.users = lite.users
export let memberships: typeof lite.memberships = lite.memberships
export let personalAccessTokens: typeof lite.personalAccessTokens = lite.personalAccessTokens
export let agents: typeof lite.agents = lite.agents
export let spaces: typeof lite.spaces = lite.spaces
export let secrets: typeof lite.secrets = lite.secrets
export let tasks: typeof lite.tasks = lite.tasks
export let auditEvents: typeof lite.auditEvents = lite.auditEvents
export let idempotencyKeys: typeof lite.idempotencyKeys = lite.idempotencyKeys
export let settings: typeof lite.settings = lite.settings
export let rateLimitCounters: typeof lite.rateLimitCounters = lite.rateLimitCounters
export let executions: typeof lite.executions = lite.executions
export let executionLogs: typeof lite.executionLogs = lite.executionLogs
export let cliLoginCodes: typeof lite.cliLoginCodes = lite.cliLoginCodes
export let cliSessions: typeof lite.cliSessions = lite.cliSessions
export let cliAccessTokens: typeof lite.cliAccessTokens = lite.cliAccessTokens
export let sessions: typeof lite.sessions = lite.sessions
export let oneTimeLinks: typeof lite.oneTimeLinks = lite.oneTimeLinks
export let signInFailures: typeof lite.signInFailures = lite.signInFailures

/**
 * A point in time as a bound value of a raw SQL fragment or a placeholder (drizzle maps values
 * through a column's type only where a column is compared with a value): SQLite's timestamp
 * columns hold milliseconds, PostgreSQL's are timestamptz, bound as ISO-8601 text (drizzle's
 * postgres-js driver passes date values through as strings, as its timestamp columns do).
 */
export function dbTime(ms: number): number | string {
  return dialect === 'pg' ? new Date(ms).toISOString() : ms
}

/**
 * The database's own clock, `offsetMs` from its now, as its timestamp columns hold a time: for
 * what every process on one database must judge alike, whose own clocks may be minutes apart
 * (PostgreSQL instances on several machines). PostgreSQL: now(), the transaction's start; SQLite:
 * its 'now' in milliseconds (the machine's clock, which every process on the file reads).
 */
export function dbNow(offsetMs = 0): SQL {
  const ms = Math.trunc(offsetMs)
  return sql.raw(dialect === 'pg' ? `(now() + interval '${ms} milliseconds')` : `(cast((julianday('now') - 2440587.5) * 86400000 as integer) + ${ms})`)
}

/**
 * `column IN (subquery)` for a DELETE of the rows a bounded subquery picks (the housekeeping's
 * batches), each found by its key. PostgreSQL gets `= ANY (ARRAY(subquery))`: the list is built
 * once and the rows are looked up in the column's index, where its plan for `IN` (a join) read
 * the whole table whenever a hash join looked cheaper than a few thousand look-ups.
 */
export function idIn(column: SQLWrapper, subquery: SQL): SQL {
  return dialect === 'pg' ? sql`${column} = ANY (ARRAY(${subquery}))` : sql`${column} IN (${subquery})`
}

/** Binds the tables above to a dialect's (every module sees the change). */
export function useDialect(d: Dialect): void {
  if (d === dialect) return
  // PostgreSQL's tables (and drizzle's pg-core) are evaluated only when a process opens PostgreSQL.
  const s = (d === 'pg' ? require('./pg') : lite) as typeof lite
  dialect = d
  organizations = s.organizations
  users = s.users
  memberships = s.memberships
  personalAccessTokens = s.personalAccessTokens
  agents = s.agents
  spaces = s.spaces
  secrets = s.secrets
  tasks = s.tasks
  auditEvents = s.auditEvents
  idempotencyKeys = s.idempotencyKeys
  settings = s.settings
  rateLimitCounters = s.rateLimitCounters
  executions = s.executions
  executionLogs = s.executionLogs
  cliLoginCodes = s.cliLoginCodes
  cliSessions = s.cliSessions
  cliAccessTokens = s.cliAccessTokens
  sessions = s.sessions
  oneTimeLinks = s.oneTimeLinks
  signInFailures = s.signInFailures
}

/** The tables of each dialect, by their TS name (parity test, migrate-data). */
export const TABLE_NAMES = ['organizations', 'users', 'memberships', 'personalAccessTokens', 'agents', 'spaces', 'secrets', 'tasks', 'auditEvents', 'idempotencyKeys', 'settings', 'rateLimitCounters', 'executions', 'executionLogs', 'cliLoginCodes', 'cliSessions', 'cliAccessTokens', 'sessions', 'oneTimeLinks', 'signInFailures'] as const
export const sqliteTables = lite
