import { accessSync, chmodSync, constants, existsSync, mkdirSync, rmdirSync, statSync } from 'node:fs'
import { basename, dirname, join, resolve } from 'node:path'
import { databaseUnavailable, errorCodes } from './unavailable'
import { drizzle as syncDrizzle } from 'drizzle-orm/bun-sqlite'
import { SqliteConnection, type SyncDb } from './connection'
import { CachingDatabase } from './sqlite'
import type { Database } from 'bun:sqlite'

export { SqliteConnection, type Db, type SyncDb } from './connection'

export const MEMORY = ':memory:'

/**
 * Opens the SQLite database with the house pragmas. For a file database the parent
 * directory is created 0700 and a new file 0600 (SQLite gives its `-wal` and `-shm` companions
 * the database file's mode). Nothing here opens, maps or stats SQLite's own files: closing any
 * descriptor of them would drop the locks SQLite holds (DESIGN.md, "Never touch SQLite's own files").
 *
 * `create: false` (every admin command but serve, migrate and users create): no folder and no
 * file is created; a missing database fails with its path (SQLite itself is asked: it opens
 * the file read-write without creating it).
 */
export function openDatabase(path: string, opts: { rowCache?: boolean; create?: boolean; check?: (db: Database, file: string) => void } = {}): SqliteConnection {
  const isMemory = path === MEMORY
  let sqlite: CachingDatabase
  if (isMemory) {
    sqlite = new CachingDatabase(MEMORY)
  } else {
    const file = resolve(path)
    const dir = dirname(file)
    const create = opts.create !== false
    // The first folder this call creates (mkdir -p), to remove again if the open fails.
    const madeDir = create && !existsSync(dir) ? makeFolder(dir, file) : undefined
    // The umask, not a chmod afterwards: the file is created with the right mode or not at all.
    const umask = process.umask(0o077)
    // An empty file made beforehand (`touch`, a volume's mount point) becomes the database: it
    // gets the mode a new one has (SQLite gives -wal and -shm the database's mode). By path,
    // before SQLite opens it: no descriptor of it is opened or closed here.
    if (create) ownerOnlyIfEmpty(file)
    // What `check` refused (a file not to use): thrown as it is, after the connection is closed.
    let refused: unknown
    try {
      sqlite = new CachingDatabase(file, create ? { create: true } : { readwrite: true })
      sqlite.exec('PRAGMA busy_timeout = 5000')
      // Before the switch to WAL mode, the first write to the file.
      try {
        opts.check?.(sqlite, file)
      } catch (e) {
        // A file SQLite cannot read as a database (a text file given as --db): said with its path.
        refused = isNotADatabase(e) ? new DatabaseOpenError(file, create, e) : e
      }
      if (refused === undefined) sqlite.exec('PRAGMA journal_mode = WAL')
    } catch (e) {
      // Leave nothing behind: the folder made a moment ago goes when it is still empty.
      if (madeDir) removeEmptyDirs(dir, madeDir)
      throw new DatabaseOpenError(file, create, e)
    } finally {
      process.umask(umask)
    }
    if (refused !== undefined) {
      sqlite.close()
      throw refused
    }
  }
  if (opts.rowCache === false) sqlite.withoutRowCache()
  sqlite.exec('PRAGMA busy_timeout = 5000')
  sqlite.exec('PRAGMA synchronous = NORMAL')
  sqlite.exec('PRAGMA foreign_keys = ON')
  // After a checkpoint, the -wal file is cut back to this size (SQLite's own rule): one long
  // reader (an open sqlite3 shell, a backup) lets it grow, and it stayed that size until a stop.
  sqlite.exec(`PRAGMA journal_size_limit = ${WAL_SIZE_LIMIT_BYTES}`)
  return new SqliteConnection(sqlite, syncDrizzle({ client: sqlite }) as unknown as SyncDb)
}

/**
 * The database's folder (mkdir -p, 0700): the first folder made, or a refusal naming the
 * database and why. It said only "EACCES: permission denied, mkdir '/srv/teamday'" (or ENOTDIR
 * for a path through a file), without which database or what to do.
 */
function makeFolder(dir: string, file: string): string | undefined {
  try {
    return mkdirSync(dir, { recursive: true, mode: 0o700 })
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    const why =
      code === 'EACCES' || code === 'EPERM'
        ? `this user (${nodeProbe.user()}) may not create it: create it for that user (mkdir, chown), or choose another path`
        : code === 'ENOTDIR' || code === 'EEXIST'
          ? 'a file is in the way on that path (a part of it is not a folder): check --db (or TEAMDAY_DB)'
          : code === 'EROFS'
            ? 'it is on a read-only file system'
            : code === 'ENOSPC'
              ? 'the disk is full'
              : (e as Error).message
    throw new DatabaseUnusableError(`cannot create the folder ${dir} for the database ${file}: ${why}`)
  }
}

/** An existing empty file: mode 0600 (group and others lose access); anything else is left as it is. */
function ownerOnlyIfEmpty(file: string): void {
  try {
    const st = statSync(file)
    if (st.isFile() && st.size === 0 && (st.mode & 0o077) !== 0) chmodSync(file, st.mode & 0o700)
  } catch {
    // Not there (SQLite creates it, under the umask above), or not ours to change: SQLite says what is wrong.
  }
}

/** The size SQLite trims the -wal file back to after a checkpoint (PRAGMA journal_size_limit). */
export const WAL_SIZE_LIMIT_BYTES = 64 * 1024 * 1024

/**
 * A database that cannot be opened; the message names its path, and the option it came from:
 * --db (or TEAMDAY_DB) unless `option` says otherwise (`restore --from`).
 */
export class DatabaseOpenError extends Error {
  constructor(
    readonly path: string,
    create: boolean,
    cause: unknown,
    option?: string,
  ) {
    const why = cause instanceof Error ? cause.message : String(cause)
    const missing = !create && !existsSync(path)
    const given = option ?? '--db FILE (or set TEAMDAY_DB)'
    super(
      missing
        ? option
          ? `no database at ${path}: there is no such file; check ${option}`
          : `no database at ${path}: pass --db FILE (or set TEAMDAY_DB) for an existing one; "teamday serve", "teamday migrate" or "teamday users create" create a new one`
        : isFolder(path)
          ? `cannot open the database ${path}: it is a folder, not a database file. Pass ${given} with a file's path${option ? '' : `, e.g. ${join(path, 'teamday.db')}`}`
          : isNotADatabase(cause)
            ? `${path} is not a SQLite database (nor a teamday one); nothing was changed. Check ${option ?? '--db (or TEAMDAY_DB)'}`
            : cannotOpen(path, cause, why),
    )
  }
}

/**
 * Why SQLite could not open `path`, as sqliteStartError tells it where it can (a full disk, a
 * file this user may not write, a read-only mount): a first start on a full disk said "database
 * or disk is full" without what to do, and a file owned by another user "unable to open database
 * file (check that the folder exists and is writable by this user)" of a folder that was both.
 */
function cannotOpen(path: string, cause: unknown, why: string): string {
  const code = errorCodes(cause).find((c) => /^SQLITE_(READONLY|CANTOPEN|IOERR|FULL|PERM)/.test(c))
  const diagnosis = code === undefined ? undefined : diagnose(resolve(path), code, cause, nodeProbe)
  // diagnose's last resort (the general text of the code) says no more than SQLite's own words.
  if (diagnosis !== undefined && diagnosis !== (databaseUnavailable(cause) ?? code)) return `cannot open the database ${path}: ${diagnosis} (SQLite: ${why})`
  return `cannot open the database ${path}: ${why}${/unable to open/i.test(why) ? ' (check that the folder exists and is writable by this user)' : ''}`
}

/**
 * A SQLite database a start (or an admin command) cannot use: named, with what is wrong with it
 * where that can be told (a read-only file system, a file or folder this user may not write, a
 * -wal or -shm that is not a file, a full disk). Its message is the whole story: no code and no
 * cause, so the command line does not say it again in general words (src/admin-entry.ts explain).
 */
export class DatabaseUnusableError extends Error {}

/** The path-based checks the diagnosis makes (node:fs; a test gives others). None opens a descriptor. */
export interface PathProbe {
  /** The error code when this user may not write `path`, else null. */
  notWritable(path: string): string | null
  /** 'file', 'folder', 'other', or null when nothing is there. */
  kind(path: string): 'file' | 'folder' | 'other' | null
  /** Mode and owner of `path`, when it can be read. */
  owner(path: string): { mode: number; uid: number } | null
  /** Who this process runs as. */
  user(): string
}

const nodeProbe: PathProbe = {
  notWritable(path) {
    try {
      accessSync(path, constants.W_OK)
      return null
    } catch (e) {
      return (e as NodeJS.ErrnoException).code ?? 'EACCES'
    }
  },
  kind(path) {
    try {
      const st = statSync(path)
      return st.isFile() ? 'file' : st.isDirectory() ? 'folder' : 'other'
    } catch {
      return null
    }
  },
  owner(path) {
    try {
      const st = statSync(path)
      return { mode: st.mode & 0o777, uid: st.uid }
    } catch {
      return null
    }
  },
  user() {
    try {
      // node:os on first use: the user is named only in a refusal of the database file.
      const u = (require('node:os') as typeof import('node:os')).userInfo()
      return `${u.username}, uid ${u.uid}`
    } catch {
      return `uid ${process.getuid?.() ?? '?'}`
    }
  },
}

/**
 * `e` as an operator should read it when it is SQLite's refusal to read or write the database
 * file at a start (read-only, cannot open, I/O error, full): a DatabaseUnusableError naming the
 * file and, where it can be told, why. It said only "The database file could not be opened.
 * (unable to open database file)" for a database on a read-only mount, without the path (found
 * from outside, 2026-12-05). Anything else is returned as it is.
 */
export function sqliteStartError(path: string, e: unknown, probe: PathProbe = nodeProbe): unknown {
  if (path === MEMORY || e instanceof DatabaseUnusableError) return e
  const code = errorCodes(e).find((c) => /^SQLITE_(READONLY|CANTOPEN|IOERR|FULL|PERM)/.test(c))
  if (code === undefined) return e
  const file = resolve(path)
  let inner = e
  for (let depth = 0; depth < 5 && inner instanceof Error && inner.cause instanceof Error; depth++) inner = inner.cause
  const said = inner instanceof Error ? inner.message : String(inner)
  return new DatabaseUnusableError(`cannot use the database ${file}: ${diagnose(file, code, e, probe)} (SQLite: ${said})`)
}

function diagnose(file: string, code: string, e: unknown, probe: PathProbe): string {
  if (code.startsWith('SQLITE_FULL')) return 'the disk holding it is full; free some space and start again'
  const dir = dirname(file)
  if (probe.notWritable(dir) === 'EROFS') return `it is on a read-only file system; teamday writes the database and its -wal and -shm files beside it: mount ${dir} read-write`
  // Every one of the three that this user may not write, named at once: SQLite gives the -wal and
  // -shm it creates the database's mode, so a database started once as 0400 left a 0400 -shm
  // beside it, and after `chmod 600` of the database (what the message asked) the next start was
  // refused again, naming the -shm only then.
  const denied: string[] = []
  for (const p of [file, `${file}-wal`, `${file}-shm`]) {
    const kind = probe.kind(p)
    if (kind !== null && kind !== 'file') return `${p} is a ${kind === 'folder' ? 'folder' : 'special file'}, not a file: remove it (SQLite makes its own) and start again`
    if (kind === 'file' && probe.notWritable(p) === 'EACCES') denied.push(p)
  }
  if (denied.length > 0) {
    const modes = denied.map((p) => {
      const o = probe.owner(p)
      return o ? `mode ${o.mode.toString(8).padStart(4, '0')}, owner uid ${o.uid}` : 'mode unknown'
    })
    const one = denied.length === 1
    const how = modes.every((m) => m === modes[0]) ? ` (${modes[0]})` : ` (${denied.map((p, i) => `${basename(p)}: ${modes[i]}`).join('; ')})`
    const names = one ? denied[0] : `${denied.slice(0, -1).join(', ')} and ${denied.at(-1)}`
    return `${names} ${one ? 'is' : 'are'} not writable by the user teamday runs as (${probe.user()})${how}: give that user write access to ${one ? 'it' : 'all of them'} (chmod u+w ${denied.join(' ')}; chown if another user owns ${one ? 'it' : 'them'}), or run teamday as ${one ? 'its' : 'their'} owner`
  }
  if (probe.notWritable(dir) === 'EACCES') return `its folder ${dir} is not writable by the user teamday runs as (${probe.user()}): SQLite creates the -wal and -shm files beside the database there`
  if (code.startsWith('SQLITE_IOERR')) return 'its disk reported an I/O error: check the disk (dmesg), then the file (PRAGMA integrity_check)'
  return databaseUnavailable(e) ?? code
}

/** SQLite's answer for a file that is not a database (a text file, an encrypted one): SQLITE_NOTADB. */
export function isNotADatabase(e: unknown): boolean {
  return (e as { code?: unknown } | null)?.code === 'SQLITE_NOTADB'
}

/**
 * Whether the path SQLite could not open is a folder (SQLite says only "unable to open database
 * file", the same as for a folder that is missing or not writable). A stat, after the open
 * failed: no descriptor of the path is opened or closed.
 */
function isFolder(path: string): boolean {
  try {
    return statSync(path).isDirectory()
  } catch {
    return false // missing, or a file on the way (ENOTDIR): not a folder
  }
}

/** Removes `dir` and its parents up to `top`, each only while it is empty. */
function removeEmptyDirs(dir: string, top: string): void {
  for (let d = dir; ; d = dirname(d)) {
    try {
      rmdirSync(d)
    } catch {
      return // not empty, or already gone: not ours to remove
    }
    if (d === top || dirname(d) === d) return
  }
}

/** The change signal of a connection (src/db/change-signal.ts). */
export function changeSignal(conn: SqliteConnection) {
  return conn.client.signal
}

export function closeDatabase(conn: SqliteConnection): void {
  conn.close()
}
