import { rmSync, statSync } from 'node:fs'
import { resolve } from 'node:path'
import { isPostgresUrl, type Config } from '../../config'
import { blankKeyWarning, describeKey, keyVarState, loadSecretBox, MissingKeyError } from '../../crypto/keys'
import { inspect, integritySummary, restoreInto, sameFile, vacuumInto, type DatabaseReport } from '../../db/backup'
import { embeddedMigrations } from '../../db/migrate'
import { keyOpensCheck } from '../../db/settings'
import { UsageError, type Io } from '../common'
import { configFrom } from './runtime'
import type { Run } from '../spec'

/**
 * `teamday backup --out FILE` and `teamday restore --from FILE` (options and usage:
 * src/cli/registry.ts; the SQLite side: src/db/backup.ts). Neither migrates: a backup taken
 * before an upgrade is the database as the old version left it.
 */

export function backup({ values, io }: Run<{ out?: string; db?: string }>): void {
  const config = fileConfig(io, values.db)
  const from = resolve(config.dbPath)
  const out = resolve(values.out!)
  vacuumInto(from, out)
  io.err(`using database ${from}`)
  const report = inspect(out)
  if (!sound(report)) {
    // A copy that fails its check must not be mistaken for a backup later.
    rmSync(out, { force: true })
    throw new Error(`the copy failed its integrity check (${integritySummary(report.integrity)}) and was removed; check ${from} (PRAGMA integrity_check) before relying on it`)
  }
  const key = keyOf(config, report, io)
  io.out(`backup written: ${out} (${mib(statSync(out).size)}, integrity ok, ${report.migrations} migrations)`)
  // The copy is sound and kept; but the key to keep with it must be the one that opens it, or
  // an operator following this advice keeps a key that opens nothing (a rekey done under another
  // key, a wrong key file): said, and the command fails so that a script notices.
  if (key.found && !key.opens) {
    throw new Error(
      `the ${key.text} does not open this database's sealed data, so it is not the key to keep with the backup. ` +
        `Find the key the server runs with (TEAMDAY_ENCRYPTION_KEY, its key file, or after \`teamday rekey\` the new key) and keep that one with ${out}: without it ${SEALED} cannot be read`,
    )
  }
  io.out(
    key.found
      ? `keep with it, stored apart from it: the ${key.text}. Without that key ${SEALED} cannot be read.`
      : `warning: ${key.text}. Keep the key the server runs with: without it ${SEALED} cannot be read.`,
  )
}

/** What the encryption key seals, in a backup's words. */
const SEALED = "the backup's sealed data (space and organization secrets, token names and the addresses and user agents of their last use, audit details, sessions, stored idempotent responses)"

export function restore({ values, io }: Run<{ from?: string; db?: string }>): void {
  const config = fileConfig(io, values.db)
  const target = resolve(config.dbPath)
  const from = resolve(values.from!)
  // Before anything opens --from: the live database under another name (a link) must not be opened as a second database.
  if (from === target || sameFile(from, target)) throw new UsageError(`--from must be a backup file, not the database itself${from === target ? '' : ` (${from} is ${target} under another name: a symbolic or hard link)`}`)
  const report = inspect(from, '--from')
  if (!sound(report)) throw new Error(`${from} failed its integrity check (${integritySummary(report.integrity)}); nothing was changed`)
  if (report.newerThanThisBuild) {
    throw new Error(`${from} was made by a newer teamday (it has migrations this build does not know): restore it with that version or a later one; nothing was changed`)
  }
  const key = keyOf(config, report, io)
  if (key.found && !key.opens) {
    throw new Error(`the ${key.text} does not open this backup: put the key it was made with in place first (TEAMDAY_ENCRYPTION_KEY, or the key file ${config.keyFile}); nothing was changed`)
  }
  io.err(`using database ${target}`)
  const keepAs = `${target}.before-restore-${stamp(new Date())}`
  const { kept } = restoreInto(from, target, keepAs)
  io.out(`restored ${from} (${report.migrations} migrations, integrity ok) into ${target}`)
  if (kept) io.out(`the database it replaced is kept as ${keepAs}`)
  // The backup's migrations against this build's: "pending migrations run" only when there are some.
  const behind = embeddedMigrations().length - report.migrations
  const start = behind > 0 ? `start the server: its ${behind} pending migration(s) run on its first start` : 'start the server'
  io.out(key.found ? `the ${key.text} opens it; ${start}` : `warning: ${key.text}: put the key the backup was made with in place before starting the server`)
}

function fileConfig(io: Io, db: string | undefined): Config {
  const config = configFrom(io, db)
  if (config.dbPath === ':memory:') throw new UsageError('an in-memory database has nothing to back up or restore: pass --db FILE')
  if (isPostgresUrl(config.dbPath)) throw new UsageError('backup and restore are for SQLite files; on PostgreSQL use pg_dump and pg_restore (README: Running several instances)')
  return config
}

const sound = (r: DatabaseReport) => r.integrity.length === 1 && r.integrity[0] === 'ok'

/** The configured key (never created here), and whether it opens the database's key check. */
function keyOf(config: Config, report: DatabaseReport, io: Io): { found: boolean; opens: boolean; text: string } {
  try {
    const { box, source } = loadSecretBox(config, { create: false })
    const blank = blankKeyWarning(config, source)
    if (blank) io.err(`warning: ${blank}`)
    return { found: true, opens: report.keyCheck === undefined || keyOpensCheck(box, report.keyCheck), text: describeKey(source, config.keyFile) }
  } catch (e) {
    if (e instanceof MissingKeyError) return { found: false, opens: false, text: `no encryption key found (TEAMDAY_ENCRYPTION_KEY ${keyVarState(config)} and there is no key file at ${config.keyFile})` }
    throw e
  }
}

const mib = (bytes: number) => (bytes < 1024 * 1024 ? `${Math.ceil(bytes / 1024)} KiB` : `${(bytes / 1024 / 1024).toFixed(1)} MiB`)

/** 20261201-221005: sorts by time, no characters a shell or Windows minds. */
const stamp = (d: Date) => d.toISOString().slice(0, 19).replace(/[-:]/g, '').replace('T', '-')
