import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import { describeDatabase, isPostgresUrl, isValidPostgresUrl, normalizeDatabase, POSTGRES_URL_FORM, type Config } from '../../config'
import { blankKeyWarning, describeKey, keyOfFile, keyVarState, loadSecretBox, MissingKeyError } from '../../crypto/keys'
import { copySqliteToPostgres, missingTargetDatabase, openSqliteSource, sourceKeyCheck, TargetNotEmptyError, type CopyReport } from '../../db/migrate-data'
import { openPostgres, type PgConnection } from '../../db/pg'
import { collationNotC, DATABASE_LOCALE_SQL, type DatabaseLocale } from '../../db/pg-collation'
import { databaseUnavailable, unavailableReason } from '../../db/unavailable'
import { keyOpensCheck } from '../../db/settings'
import { table, UsageError, type Io } from '../common'
import { configFrom } from './runtime'
import type { Run } from '../spec'

/**
 * `teamday migrate-data --from FILE --to postgres://… [--replace [--force]]` (options and usage:
 * src/cli/registry.ts; the copy: src/db/migrate-data.ts). Reads the SQLite file, never writes
 * it; fills an empty PostgreSQL database (or, with --replace, empties it first in the same
 * transaction); prints a per-table summary and which encryption key the PostgreSQL instances need.
 */
export async function migrateData({ values, io }: Run<{ from?: string; to?: string; replace?: boolean; force?: boolean; db?: string }>): Promise<void> {
  if (values.db !== undefined) throw new UsageError('migrate-data takes no --db: --from names the SQLite file to read, --to the PostgreSQL database to fill')
  if (values.force === true && values.replace !== true) throw new UsageError('--force goes with --replace only: it replaces a target that other sessions are connected to')
  const from = values.from!
  const to = values.to!
  if (isPostgresUrl(from)) throw new UsageError('--from is the SQLite database file to copy, not a postgres:// URL')
  if (!isPostgresUrl(to)) throw new UsageError('--to must be a postgres:// (or postgresql://) URL: the database the instances will share')
  if (!isValidPostgresUrl(to)) throw new UsageError(`--to is not a valid PostgreSQL URL: ${POSTGRES_URL_FORM}`)
  const path = normalizeDatabase(from)
  if (path === ':memory:') throw new UsageError('--from must be a database file (an in-memory database has nothing to copy)')
  const file = resolve(path)
  const source = openSqliteSource(file, (line) => io.err(line))
  let report: CopyReport
  let key: SourceKey
  const t0 = performance.now()
  try {
    key = sourceKey(configFrom(io, file), sourceKeyCheck(source), io)
    if (key.found && !key.opens) {
      throw new Error(`the ${key.text} does not open ${file}'s sealed data (it was made with another key): put the key it was made with in place (TEAMDAY_ENCRYPTION_KEY, or TEAMDAY_KEY_FILE) and run this again; nothing was copied`)
    }
    const target = configFrom(io, to)
    const conn = openPostgres(to, { pool: 1, statementTimeoutMs: target.dbStatementTimeoutMs })
    io.err(`copying ${file} (read-only) to ${describeDatabase(to)}`)
    try {
      // Refused here, before any statement, if a pooler dropped the session's settings; unnamed statements behind one in transaction mode.
      await conn.firstContact(describeDatabase(to))
      // Said before the copy, once: the copy goes ahead (the data is the same), but the lists
      // served from there would not page as they did from SQLite.
      const collation = collationNotC(await targetLocale(conn))
      if (collation !== null) io.err(`warning: ${describeDatabase(to)} sorts text by ${collation}, not as C does (as SQLite does): ${COLLATION_NOT_C_SHORT}`)
      report = await copySqliteToPostgres(source, conn, { replace: values.replace === true, force: values.force === true })
    } catch (e) {
      if (e instanceof TargetNotEmptyError) {
        throw new Error(
          `${describeDatabase(to)}: ${e.message}; nothing was copied. migrate-data fills an empty database: point --to at a new one (createdb …), ` +
            'or pass --replace to delete everything in it and copy in the same transaction (stop every instance on it first)',
        )
      }
      const missing = missingTargetDatabase(to, e)
      if (missing) throw missing
      // Out of reach, or lost mid-copy (the database restarted, the network dropped, the session
      // was ended): "The database is not answering." alone did not say what became of the target.
      if (databaseUnavailable(e) !== null) {
        throw new Error(
          `${describeDatabase(to)}: ${unavailableReason(e)} The copy is one transaction: the target holds none of it (only the schema, if its migrations ran), ` +
            "unless the connection was lost just as it committed: then it holds all of it, every table's count checked before the commit. Run this again once PostgreSQL answers: " +
            'it copies into the empty target, or says that the target already holds the data',
        )
      }
      throw e
    } finally {
      await conn.close()
    }
  } finally {
    source.close()
  }
  const rows = report.tables.map((t) => ({ table: t.name, rows: t.skipped ? 'skipped' : t.rows }))
  io.out(table(rows, ['table', 'rows']))
  const total = report.tables.reduce((n, t) => n + t.rows, 0)
  const replaced = report.replaced.reduce((n, t) => n + t.rows, 0)
  io.out(
    `copied ${total} rows in ${((performance.now() - t0) / 1000).toFixed(1)} s; every table's row count in ${describeDatabase(to)} equals ${file}'s` +
      (replaced > 0 ? ` (--replace: ${replaced} rows it held before were deleted)` : ''),
  )
  for (const t of report.tables) if (t.skipped) io.out(`not copied: ${t.name} (${t.skipped})`)
  if (report.analyzeFailed) io.err(`warning: the copy is complete, but VACUUM (ANALYZE) of the copied tables failed (${report.analyzeFailed}): run ANALYZE on ${describeDatabase(to)} before serving a big organization from it`)
  io.out(keyAdvice(key, configFrom(io, to)))
}

/** COLLATION_NOT_C (serve's `collation_not_c`) for one line at a copy. */
const COLLATION_NOT_C_SHORT =
  'rows created in the same millisecond list in another order than they did, and the large pages the API streams in batches (GET /api/v1/agents, /spaces, /executions near their page limits) may miss or repeat them. Copy into a database created with C collation instead (createdb --locale=C.UTF-8 --template=template0 …; README, Running several instances, Collation)'

/** The target database's locale row (DatabaseLocale). */
async function targetLocale(conn: PgConnection): Promise<DatabaseLocale> {
  const [row] = await conn.client.unsafe(DATABASE_LOCALE_SQL)
  return (row?.db ?? {}) as DatabaseLocale
}

interface SourceKey {
  found: boolean
  opens: boolean
  source?: 'env' | 'file'
  file: string
  text: string
}

/** The key this environment gives the SQLite database (never created here), and whether it opens its key check. */
function sourceKey(config: Config, check: string | undefined, io: Io): SourceKey {
  try {
    const { box, source } = loadSecretBox(config, { create: false })
    const blank = blankKeyWarning(config, source)
    if (blank) io.err(`warning: ${blank}`)
    return { found: true, opens: check === undefined || keyOpensCheck(box, check), source: source as 'env' | 'file', file: config.keyFile, text: describeKey(source, config.keyFile) }
  } catch (e) {
    if (e instanceof MissingKeyError) return { found: false, opens: false, file: config.keyFile, text: 'no key' }
    throw e
  }
}

/**
 * Which key every PostgreSQL instance needs, and whether one started here with this environment
 * would find it (on PostgreSQL the default key file is data/teamday.key in the working
 * directory, not beside the SQLite file).
 */
function keyAdvice(key: SourceKey, pg: Config): string {
  const previous = pg.previousEncryptionKeys.length > 0 ? ' and the same TEAMDAY_ENCRYPTION_KEYS_PREVIOUS' : ''
  if (!key.found) {
    return (
      `warning: no encryption key found (TEAMDAY_ENCRYPTION_KEY ${keyVarState(pg)} and there is no key file at ${key.file}). ` +
      'Secrets, token names and other sealed values were copied sealed: give every PostgreSQL instance the key this SQLite database was created with ' +
      '(TEAMDAY_ENCRYPTION_KEY); an instance with another key refuses to start.'
    )
  }
  if (key.source === 'env') {
    return `encryption key: every PostgreSQL instance needs the same TEAMDAY_ENCRYPTION_KEY${previous} as this command had (the key the SQLite database was sealed with); an instance with another key refuses to start.`
  }
  const lines = [
    `encryption key: the sealed data opens only with the key in ${key.file}. Give every PostgreSQL instance that key${previous}: ` +
      `TEAMDAY_ENCRYPTION_KEY="$(cat ${key.file})", or a copy of the file (mode 0600) named by TEAMDAY_KEY_FILE. An instance with another key refuses to start.`,
  ]
  if (pg.keyFile === key.file) {
    lines.push(`an instance started in this directory without TEAMDAY_KEY_FILE reads that same file (${pg.keyFile}).`)
  } else if (!existsSync(pg.keyFile)) {
    // Same environment, so TEAMDAY_KEY_FILE is unset: on PostgreSQL the default is ./data/teamday.key.
    lines.push(`note: without either, an instance on PostgreSQL reads ${pg.keyFile} (data/teamday.key in its working directory), not the file beside the SQLite database.`)
  } else if (sameKey(pg.keyFile, key.file)) {
    lines.push(`an instance started in this directory without TEAMDAY_KEY_FILE reads ${pg.keyFile}, which holds the same key.`)
  } else {
    lines.push(`warning: ${pg.keyFile} holds another key: an instance started in this directory without TEAMDAY_KEY_FILE would read it and refuse to start; replace it or set TEAMDAY_KEY_FILE.`)
  }
  return lines.join('\n')
}

function sameKey(a: string, b: string): boolean {
  try {
    return Buffer.from(keyOfFile(a)).equals(keyOfFile(b))
  } catch {
    return false
  }
}
