import { Database } from 'bun:sqlite'
import { existsSync, linkSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs'
import { dirname } from 'node:path'
import { DatabaseOpenError, isNotADatabase } from './client'
import { newerThanThisBuild, sqliteSchemaState } from './migrate'
import { DATABASE_ID_SETTING, KEY_CHECK_SETTING } from './settings'

/**
 * Backup and restore of a SQLite database, through SQLite only (DESIGN.md: "Never touch
 * SQLite's own files"): a backup is `VACUUM INTO` (a consistent snapshot read in one
 * transaction, while a server keeps writing), a restore copies a backup's schema and rows into
 * the database inside one transaction, holding SQLite's exclusive lock on it throughout.
 */

/** What a check of a database file found. */
export interface DatabaseReport {
  /** `PRAGMA integrity_check`: ['ok'] when sound. */
  integrity: string[]
  /** Migrations applied to it, and whether one of them is unknown to this build (a newer teamday made it). */
  migrations: number
  newerThanThisBuild: boolean
  /** The sealed key check value, when the database has one (src/db/settings.ts). */
  keyCheck: string | undefined
}

/** Written by a teamday command (another server or command has the database open). */
export class DatabaseBusyError extends Error {}

/** A database file that exists; never created here. `option`: how the command was given the path, when not --db. */
function openExisting(path: string, opts: { readonly?: boolean; option?: string } = {}): Database {
  try {
    return new Database(path, opts.readonly ? { readonly: true } : { readwrite: true })
  } catch (e) {
    throw new DatabaseOpenError(path, false, e, opts.option)
  }
}

/** Runs `fn` with the umask that makes new files 0600 (backups hold token hashes and sealed secrets). */
function privately<T>(fn: () => T): T {
  const umask = process.umask(0o077)
  try {
    return fn()
  } finally {
    process.umask(umask)
  }
}

/**
 * `VACUUM INTO out` from the teamday database at `from`: a consistent, compact copy. `out` must
 * not exist. An error is blamed on the file it comes from: a source that is not a (teamday)
 * database, or that SQLite finds damaged while reading it, is named as the source, never as the
 * backup being written.
 *
 * The copy is another database from then on: it leaves the original's identity behind
 * (withoutIdentity), as `migrate-data` does, and gets its own at its first start. With the
 * original's, a backup (or a restore of it onto a new machine) served with `--reuse-port` on the
 * original's port passed for the same database, and the kernel split the clients between two
 * sets of data.
 */
/** How a finished backup's part takes its name (node:fs; a test gives a folder without hard links). */
export interface BackupFiles {
  linkSync(existing: string, path: string): void
  renameSync(from: string, to: string): void
}

const nodeFiles: BackupFiles = { linkSync, renameSync }

/**
 * The codes of a link(2) refused because the folder's file system has no hard links (vfat and
 * exFAT: EPERM, a FUSE or network share: ENOTSUP, ENOSYS): the part was just written there by
 * this process, so it is not a permission this user lacks.
 */
const NO_HARD_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS'])

export function vacuumInto(from: string, out: string, files: BackupFiles = nodeFiles): void {
  if (existsSync(out)) throw new Error(`${out} already exists: a backup never overwrites a file; choose a new name`)
  // Written under another name and given its own once complete: a backup killed half-way left a
  // file by the backup's name (and its hot journal: opened, it rolled back to an empty database),
  // which a rerun refused to overwrite and `restore` refused with "cannot be written".
  const part = `${out}.partial-${process.pid}`
  const db = openExisting(from)
  try {
    db.exec('PRAGMA busy_timeout = 5000')
    readSource(db, from)
    try {
      privately(() => db.query('VACUUM INTO ?').run(part))
    } catch (e) {
      // A part written before the failure is no backup (no connection holds it: VACUUM INTO closed it).
      removePart(part)
      if (SOURCE_ERROR.test((e as { code?: string }).code ?? '')) throw sourceError(from, e)
      throw new Error(`cannot write the backup ${out}: ${(e as Error).message}${/unable to open/i.test((e as Error).message) ? ' (does its folder exist, and is it writable?)' : ''}`)
    }
  } finally {
    db.close()
  }
  try {
    withoutIdentity(part)
  } catch (e) {
    removePart(part)
    throw new Error(`cannot write the backup ${out}: ${(e as Error).message}`)
  }
  try {
    // A link, not a rename: it fails on a file made by that name meanwhile instead of replacing it.
    files.linkSync(part, out)
  } catch (e) {
    const code = (e as { code?: string }).code ?? ''
    if (NO_HARD_LINKS.has(code) && !existsSync(out)) {
      // A USB disk or a share without hard links: "EPERM: operation not permitted, link" failed
      // every backup to it (found on a vfat folder, 2026-12-06). A rename still gives the name
      // only to a whole backup; what it cannot do is refuse a file made by that name in the
      // instant since the check above.
      try {
        files.renameSync(part, out)
        return
      } catch (renameError) {
        removePart(part)
        throw new Error(`cannot write the backup ${out}: ${(renameError as Error).message}`)
      }
    }
    removePart(part)
    if (code === 'EEXIST' || NO_HARD_LINKS.has(code)) throw new Error(`${out} already exists: a backup never overwrites a file; choose a new name`)
    throw new Error(`cannot write the backup ${out}: ${(e as Error).message}`)
  }
  rmSync(part, { force: true })
}

/**
 * Removes the database identity (src/db/settings.ts stampDatabaseId) from a copy nobody else has
 * open yet (a backup's part): overwritten in the file (secure_delete), its journal kept in memory,
 * so that no trace of the original's identity is left in the copy's pages or beside it.
 */
function withoutIdentity(path: string): void {
  const db = openExisting(path)
  try {
    db.exec('PRAGMA journal_mode = MEMORY')
    db.exec('PRAGMA secure_delete = ON')
    db.query('DELETE FROM settings WHERE key = ?').run(DATABASE_ID_SETTING)
  } finally {
    db.close()
  }
}

/** A backup's part that will not become one (a failed VACUUM INTO has rolled its journal back and removed it). */
function removePart(part: string): void {
  rmSync(part, { force: true })
}

/** SQLite's codes for a database it cannot read as one (the source's fault, whatever is being written). */
const SOURCE_ERROR = /^SQLITE_(NOTADB|CORRUPT)/

const sourceError = (from: string, e: unknown) =>
  new Error(`cannot read the database ${from}: ${(e as Error).message}; no backup was written (check ${from} with PRAGMA integrity_check)`)

/** Reads the source's schema before anything is written: it must be a teamday database. */
function readSource(db: Database, from: string): void {
  let teamday: boolean
  try {
    teamday = sqliteSchemaState(db).teamday
  } catch (e) {
    if ((e as { code?: string }).code === 'SQLITE_NOTADB') throw new Error(`${from} is not a SQLite database (nor a teamday one); nothing was written. Check --db (or TEAMDAY_DB)`)
    throw sourceError(from, e)
  }
  if (!teamday) throw new Error(`${from} is not a teamday database (it has no teamday tables); nothing was written. Check --db (or TEAMDAY_DB)`)
}

/**
 * The first problems integrity_check reported, for a message: SQLite may put several in one row
 * (a damaged page gave one row of 23 lines), and a badly damaged file has up to 100.
 */
export function integritySummary(problems: string[]): string {
  const lines = problems.flatMap((p) => p.split('\n')).filter((l) => l.trim() !== '' && !/^\*\*\* in database \w+ \*\*\*$/.test(l))
  return lines.slice(0, 3).join('; ') + (lines.length > 3 ? `; and ${lines.length - 3} more` : '')
}

/** Integrity, migrations and key check of a database file (opened read-only); `option` names where the path came from (restore: --from). */
export function inspect(path: string, option?: string): DatabaseReport {
  const db = openExisting(path, { readonly: true, option })
  try {
    db.exec('PRAGMA busy_timeout = 5000')
    let integrity: string[]
    try {
      integrity = db.query<{ integrity_check: string }, []>('PRAGMA integrity_check').all().map((r) => r.integrity_check)
    } catch (e) {
      // A file cut short (a copy stopped by a full disk, an interrupted transfer): SQLite cannot
      // even walk it, and its bare "database disk image is malformed" named no file.
      if (((e as { code?: string }).code ?? '').startsWith('SQLITE_CORRUPT')) return { integrity: [(e as Error).message], migrations: 0, newerThanThisBuild: false, keyCheck: undefined }
      throw e
    }
    const schema = sqliteSchemaState(db)
    if (!schema.teamday) throw new Error(`${path} is not a teamday database (it has no teamday tables)`)
    const keyCheck = db.query<{ value: string }, [string]>('SELECT value FROM settings WHERE key = ?').get(KEY_CHECK_SETTING)?.value
    return { integrity, migrations: schema.applied, newerThanThisBuild: newerThanThisBuild(schema.newest), keyCheck }
  } catch (e) {
    if (isNotADatabase(e)) throw new Error(`${path} is not a SQLite database (nor a teamday one)${option ? `; nothing was changed. Check ${option}` : ''}`)
    throw e
  } finally {
    db.close()
  }
}

/**
 * Replaces the database at `target` with the backup at `from` (already checked with inspect()).
 * The target is opened in SQLite's exclusive locking mode: while a server (or any connection)
 * has it open, its shared lock makes BEGIN EXCLUSIVE fail at once (DatabaseBusyError), and once
 * we hold the lock nobody opens it until we are done. The previous content is kept with
 * `VACUUM INTO keepAs`; the copy runs in one transaction (all or nothing). A missing target is
 * created (its folder 0700, the file 0600) as a copy of the backup.
 */
export function restoreInto(from: string, target: string, keepAs: string): { kept: boolean } {
  if (!existsSync(target)) {
    if (!existsSync(dirname(target))) mkdirSync(dirname(target), { recursive: true, mode: 0o700 })
    vacuumInto(from, target)
    const db = openExisting(target)
    try {
      db.exec('PRAGMA journal_mode = WAL')
    } finally {
      db.close()
    }
    return { kept: false }
  }
  const db = openExisting(target)
  try {
    try {
      lockExclusively(db, target, 'before restoring')
    } catch (e) {
      if (isNotADatabase(e)) throw new DatabaseOpenError(target, false, e)
      throw e
    }
    try {
      privately(() => db.query('VACUUM INTO ?').run(keepAs))
    } catch (e) {
      throw new Error(`cannot keep a copy of ${target} as ${keepAs} before restoring: ${(e as Error).message}; nothing was changed`)
    }
    try {
      copyFrom(db, from)
    } catch (e) {
      throw failedCopy(db, from, target, keepAs, e)
    }
    const problems = db.query<{ integrity_check: string }, []>('PRAGMA integrity_check').all().map((r) => r.integrity_check)
    if (problems.join() !== 'ok') {
      throw new Error(`the restored database failed its integrity check: ${problems.slice(0, 3).join('; ')}. The database it replaced is kept as ${keepAs}: restore that one (teamday restore --from ${keepAs})`)
    }
    return { kept: true }
  } finally {
    db.close()
  }
}

/**
 * Takes SQLite's exclusive lock on the database `db` (opened read-write) and keeps it until the
 * connection closes: while a server (or any connection, in any process) has the file open, its
 * shared lock makes this fail at once with DatabaseBusyError ("stop the server … `when`"); once
 * taken, nobody opens the file until this connection is closed. In WAL mode the connection uses
 * no -shm file, and SQLite removes the -wal it opens when it closes.
 */
export function lockExclusively(db: Database, path: string, when: string): void {
  db.exec('PRAGMA busy_timeout = 250')
  db.exec('PRAGMA locking_mode = EXCLUSIVE')
  try {
    db.exec('BEGIN EXCLUSIVE')
    db.exec('COMMIT')
  } catch (e) {
    if ((e as { code?: string }).code?.startsWith('SQLITE_BUSY')) {
      throw new DatabaseBusyError(`${path} is in use: stop the server (and any teamday command on it) ${when}`)
    }
    throw e
  }
}

/**
 * Whether two paths name the same file (a symbolic or hard link; both must exist). Only stat:
 * no descriptor of a database file is opened or closed here. Opening a live database under a
 * second name gives it a second `-wal` and `-shm` that its server does not know about.
 */
export function sameFile(a: string, b: string): boolean {
  try {
    const x = statSync(a)
    const y = statSync(b)
    return x.dev === y.dev && x.ino === y.ino
  } catch {
    return false // either is missing (or unreachable): not one file
  }
}

/**
 * A copy that failed: rolled back, so the database is as it was and the copy of it taken first
 * is not needed (it goes); if SQLite could not roll back, the copy stays and the message names it.
 */
function failedCopy(db: Database, from: string, target: string, keepAs: string, e: unknown): Error {
  const why = `cannot restore ${from} into ${target}: ${(e as Error).message}`
  if (db.inTransaction) return new Error(`${why}. The database may be partly changed: the database it replaced is kept as ${keepAs}; restore that one (teamday restore --from ${keepAs})`)
  rmSync(keepAs, { force: true })
  return new Error(`${why}; nothing was changed`)
}

/** Drops everything in `db` and copies the schema and rows of the database file `from`, in one transaction. */
function copyFrom(db: Database, from: string): void {
  db.query('ATTACH ? AS src').run(from)
  try {
    db.exec('PRAGMA foreign_keys = OFF') // a no-op inside a transaction: set before it
    db.exec('BEGIN')
    try {
      const mine = db.query<{ type: string; name: string }, []>("SELECT type, name FROM main.sqlite_master WHERE name NOT LIKE 'sqlite_%'").all()
      for (const type of ['view', 'trigger', 'table']) {
        for (const o of mine.filter((m) => m.type === type)) db.exec(`DROP ${type.toUpperCase()} IF EXISTS main.${quote(o.name)}`)
      }
      const theirs = db
        .query<{ type: string; name: string; sql: string }, []>(
          "SELECT type, name, sql FROM src.sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' ORDER BY CASE type WHEN 'table' THEN 0 WHEN 'index' THEN 1 ELSE 2 END",
        )
        .all()
      // Unqualified CREATE: into main. Triggers (and views) once the rows are in, so that none fires
      // on the copy: the agents trigger bumped each organization's agents version
      // (src/db/versions.ts) once per copied agent, past the copied value (migrate-data keeps them
      // off while it copies, for the same reason).
      const schemaFirst = theirs.filter((o) => o.type === 'table' || o.type === 'index')
      for (const o of schemaFirst) db.exec(o.sql)
      for (const o of theirs.filter((t) => t.type === 'table')) {
        // Stored columns only: a generated one (content_bytes) is computed, never inserted.
        const stored = db.query<{ name: string; hidden: number }, []>(`PRAGMA src.table_xinfo(${quote(o.name)})`).all().filter((c) => c.hidden === 0).map((c) => quote(c.name)).join(', ')
        // Not the backup's identity: the restored database gets its own at its first start (a
        // backup an older build made still holds its original's, which a server may be on).
        const insert = `INSERT INTO main.${quote(o.name)} (${stored}) SELECT ${stored} FROM src.${quote(o.name)}`
        if (o.name === 'settings') db.query(`${insert} WHERE key <> ?`).run(DATABASE_ID_SETTING)
        else db.exec(insert)
      }
      for (const o of theirs.filter((t) => !schemaFirst.includes(t))) db.exec(o.sql)
      const hasSequence = (schema: string) => db.query(`SELECT 1 FROM ${schema}.sqlite_master WHERE name = 'sqlite_sequence'`).get() !== null
      if (hasSequence('main')) {
        db.exec('DELETE FROM main.sqlite_sequence')
        if (hasSequence('src')) db.exec('INSERT INTO main.sqlite_sequence SELECT * FROM src.sqlite_sequence')
      }
      const version = db.query<{ user_version: number }, []>('PRAGMA src.user_version').get()!.user_version
      db.exec(`PRAGMA main.user_version = ${Number(version)}`)
      const violations = db.query('PRAGMA main.foreign_key_check').all()
      if (violations.length > 0) throw new Error(`the backup has ${violations.length} foreign key violation(s)`)
      db.exec('COMMIT')
    } catch (e) {
      db.exec('ROLLBACK')
      throw e
    }
  } finally {
    db.exec('PRAGMA foreign_keys = ON')
    db.exec('DETACH src')
  }
}

const quote = (name: string) => `"${name.replace(/"/g, '""')}"`
