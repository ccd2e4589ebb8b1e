import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import { operatorContext, type Ctx } from '../../context'
import { describeKey } from '../../crypto/keys'
import { createRuntime, type Runtime } from '../../runtime'
import type { Io } from '../common'
import { DEFAULT_DB_PATH, describeDatabase, isPostgresUrl, loadConfig, type Config } from '../../config'
import { urlHoldsSecret } from '../../database-secrets'
import { sqliteStartError } from '../../db/client'

/** The server's settings for an admin command: the environment, and --db when given. */
export function configFrom(io: Io, db: string | undefined, overrides: Partial<Config> = {}): Config {
  return loadConfig(io.env, { ...(db ? { dbPath: db } : {}), ...overrides })
}

/** Whether a PostgreSQL URL carries a secret: a password, in its user part or as one of libpq's secret parameters (DATABASE_SECRET_PARAMS, src/database-secrets.ts). */
export function holdsDatabaseSecret(db: string): boolean {
  if (!isPostgresUrl(db)) return false
  try {
    return urlHoldsSecret(new URL(db))
  } catch {
    // Not read as a URL: nothing said of it is safe to repeat.
    return true
  }
}

/** The --db of a command to run next on the same database (a URL holding a secret not repeated), quoted for this system's shell. */
export function dbArgument(db: string, platform: string = process.platform): string {
  if (holdsDatabaseSecret(db)) return '<this database\'s URL>'
  // cmd.exe takes no single quotes; PowerShell takes double quotes too, and a Windows path holds none.
  if (platform === 'win32') return /^[\w.\\/:@%+=,-]+$/.test(db) ? db : `"${db}"`
  return /^[\w./:@%+=,-]+$/.test(db) ? db : `'${db.replace(/'/g, `'\\''`)}'`
}

/**
 * ` --db X` for a hint's admin command on the database `db`, none on the default file: a server
 * started with --db (or its variable) on another file or on PostgreSQL sent the reader of its
 * hint, run as written, to ./data/teamday.db. None either for a URL that holds a secret, which a
 * start-up text (stdout: `docker logs`, the journal) must not show, nor ask to be typed on a
 * command line: dbNote says where the command finds it.
 */
export function dbOption(db: string, platform: string = process.platform): string {
  return db === DEFAULT_DB_PATH || holdsDatabaseSecret(db) ? '' : ` --db ${dbArgument(db, platform)}`
}

/** What a hint adds after its commands when dbOption left the database out for its secret. */
export function dbNote(db: string): string {
  return holdsDatabaseSecret(db) ? ' (Run it where TEAMDAY_DATABASE_URL names this database, as for this server: its URL holds a password, not repeated here.)' : ''
}

/**
 * Opens the database (migrating it), runs the body, closes the database. The runtime (drizzle,
 * the schema, the crypto) lives in the admin bundle: client commands never load it.
 * Only `create: true` commands (serve, migrate, users create) may create a database; the others
 * fail with the path they looked for. Says on stderr which database it opened.
 */
export async function withRuntime<T>(io: Io, db: string | undefined, body: (rt: Runtime, ctx: Ctx) => T | Promise<T>, opts: { create?: boolean } = {}): Promise<T> {
  const config = configFrom(io, db)
  const pg = isPostgresUrl(config.dbPath)
  const path = describeDatabase(config.dbPath)
  // One stat before any connection exists (no descriptor is opened): only to say "new".
  const existed = pg || existsSync(resolve(config.dbPath))
  const rt = await createRuntime(config, { create: opts.create === true, oneShot: true })
  io.err(`using ${existed ? '' : 'new '}database ${path} (${describeKey(rt.keySource, config.keyFile)})`)
  try {
    // The admin CLI acts as the operator (audit events: source cli).
    return await body(rt, operatorContext(rt))
  } catch (e) {
    // A SQLite file that takes no write (read-only, its disk full): named, with why.
    throw sqliteStartError(config.dbPath, e)
  } finally {
    await rt.close()
  }
}
