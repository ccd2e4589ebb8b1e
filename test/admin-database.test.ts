import { afterEach, beforeEach, describe, expect, test } from 'bun:test'
import { Database } from 'bun:sqlite'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Io } from '../src/cli/common'
import { parseEnv } from '../src/cli/env-file'
import { openDatabase } from '../src/db/client'
import { embeddedMigrations } from '../src/db/migrate'
import { run } from '../src/main'

/**
 * Which database an admin command opens (issue 13): only serve, migrate and users create may
 * create one; every other admin command fails with exit 1 naming the path it looked for and
 * leaves nothing behind; each says on stderr which database it opened. Errors name the path; a
 * malformed key stops before any folder is made. `--env-file FILE` is the only env file read.
 */

let dir: string
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'teamday-admindb-'))
})
afterEach(() => rmSync(dir, { recursive: true, force: true }))

async function cli(argv: string[], env: Record<string, string> = {}) {
  const out: string[] = []
  const err: string[] = []
  const io: Io = { out: (s) => out.push(s), err: (s) => err.push(s), env: { TEAMDAY_LOG_LEVEL: 'silent', ...env } }
  const code = await run(argv, io)
  return { code, out: out.join('\n'), err: err.join('\n') }
}

describe('admin commands that must not create a database', () => {
  const commands: [string, string[]][] = [
    ['users set-role', ['users', 'set-role', '--email', 'a@b.co', '--org', 'acme', '--role', 'admin']],
    ['users remove', ['users', 'remove', '--email', 'a@b.co', '--org', 'acme']],
    ['tokens create', ['tokens', 'create', '--email', 'admin@localhost', '--name', 'x']],
    ['tokens list', ['tokens', 'list', '--email', 'admin@localhost']],
    ['tokens revoke', ['tokens', 'revoke', 'pat_x']],
    ['audit list', ['audit', 'list', '--org', 'acme']],
    ['backup', ['backup', '--out', 'unused.db']],
  ]
  for (const [name, argv] of commands) {
    test(`${name} in a folder without a database: exit 1 naming the path; no folder, database or key file`, async () => {
      const db = join(dir, 'data', 'teamday.db')
      const r = await cli([...argv, '--db', db])
      expect(r.code).toBe(1)
      expect(r.out).toBe('')
      expect(r.err).toStartWith(`error: no database at ${db}: `)
      expect(readdirSync(dir)).toEqual([])
    })
  }

  test('the default path (./data/teamday.db, or TEAMDAY_DB) is named when no --db is given', async () => {
    const db = join(dir, 'elsewhere', 'teamday.db')
    const r = await cli(['tokens', 'list', '--email', 'admin@localhost'], { TEAMDAY_DB: db })
    expect(r.code).toBe(1)
    expect(r.err).toContain(`no database at ${db}`)
    expect(existsSync(join(dir, 'elsewhere'))).toBe(false)
  })

  test('an existing database without its key file: exit 1 naming the key file; no new key is made', async () => {
    const db = join(dir, 'teamday.db')
    expect((await cli(['users', 'create', '--email', 'a@b.co', '--org', 'acme', '--db', db])).code).toBe(0)
    rmSync(join(dir, 'teamday.key'))
    const r = await cli(['tokens', 'list', '--email', 'a@b.co', '--db', db])
    expect(r.code).toBe(1)
    expect(r.err).toContain(`there is no key file at ${join(dir, 'teamday.key')}`)
    expect(existsSync(join(dir, 'teamday.key'))).toBe(false)
  })
})

describe('admin commands that may create one say so', () => {
  test('migrate and users create create it; every admin command names the database it opened on stderr', async () => {
    const db = join(dir, 'data', 'teamday.db')
    const key = join(dir, 'data', 'teamday.key')
    const migrate = await cli(['migrate', '--db', db])
    expect(migrate.code).toBe(0)
    expect(migrate.err).toBe(`using new database ${db} (new encryption key written to ${key}; back it up: without it sealed data is lost)`)
    const users = await cli(['users', 'create', '--email', 'a@b.co', '--org', 'acme', '--db', db])
    expect(users.code).toBe(0)
    expect(users.err).toBe(`using database ${db} (encryption key from ${key})`)
    const list = await cli(['tokens', 'list', '--email', 'a@b.co', '--db', db])
    expect(list.code).toBe(0)
    expect(list.err).toBe(`using database ${db} (encryption key from ${key})`)
    const withEnvKey = await cli(['audit', 'list', '--db', db], { TEAMDAY_ENCRYPTION_KEY: Buffer.alloc(32, 7).toString('base64') })
    expect(withEnvKey.code).toBe(1) // another key than the database's: refused
    expect(withEnvKey.err).toContain('does not match this database')
  })

  test('users create in a new folder creates folder, database and key file', async () => {
    const db = join(dir, 'new', 'teamday.db')
    const r = await cli(['users', 'create', '--email', 'a@b.co', '--org', 'acme', '--db', db])
    expect(r.code).toBe(0)
    expect(r.err).toStartWith(`using new database ${db} `)
    expect(readdirSync(join(dir, 'new'))).toContain('teamday.db')
    expect(readdirSync(join(dir, 'new'))).toContain('teamday.key')
  })
})

describe('errors name the path and leave nothing behind', () => {
  test('"unable to open database file" names the database', async () => {
    writeFileSync(join(dir, 'afile'), 'not a folder')
    const db = join(dir, 'afile', 'teamday.db')
    const r = await cli(['users', 'create', '--email', 'a@b.co', '--org', 'acme', '--db', db])
    expect(r.code).toBe(1)
    expect(r.err).toContain(`cannot open the database ${db}: unable to open database file`)
  })

  test('a database SQLite cannot open in a new folder: the folders made for it are removed again', async () => {
    // Over SQLite's 512-byte path limit: mkdir -p succeeds, SQLite refuses to open.
    const deep = join(dir, 'made', 'a'.repeat(200), 'b'.repeat(200), 'c'.repeat(150) + '.db')
    const r = await cli(['migrate', '--db', deep])
    expect(r.code).toBe(1)
    expect(r.err).toContain(`cannot open the database ${deep}`)
    expect(readdirSync(dir)).toEqual([])
  })

  test('a malformed TEAMDAY_ENCRYPTION_KEY stops before any folder or file is made', async () => {
    for (const argv of [['serve', '--port', '0'], ['migrate'], ['users', 'create', '--email', 'a@b.co', '--org', 'acme']]) {
      const db = join(dir, 'fresh', 'teamday.db')
      const r = await cli([...argv, '--db', db], { TEAMDAY_ENCRYPTION_KEY: 'not-a-key' })
      expect(r.code).toBe(2)
      expect(r.err).toContain('TEAMDAY_ENCRYPTION_KEY must be base64 of exactly 32 bytes')
      expect(readdirSync(dir)).toEqual([])
    }
    const previous = await cli(['migrate', '--db', join(dir, 'x', 't.db')], { TEAMDAY_ENCRYPTION_KEYS_PREVIOUS: 'abc' })
    expect(previous.err).toContain('TEAMDAY_ENCRYPTION_KEYS_PREVIOUS[0] must be base64 of exactly 32 bytes')
    expect(readdirSync(dir)).toEqual([])
  })
})

describe('--env-file', () => {
  test('is read for admin commands; variables already set win over it', async () => {
    const fromFile = join(dir, 'from-file.db')
    writeFileSync(join(dir, 'env'), `# teamday\nexport TEAMDAY_DB="${fromFile}"\nTEAMDAY_LOG_LEVEL=silent\n`)
    const r = await cli(['users', 'create', '--email', 'a@b.co', '--org', 'acme', '--env-file', join(dir, 'env')])
    expect(r.code).toBe(0)
    expect(existsSync(fromFile)).toBe(true)
    const set = join(dir, 'set.db')
    const r2 = await cli(['users', 'create', '--email', 'a@b.co', '--org', 'acme', '--env-file', join(dir, 'env')], { TEAMDAY_DB: set })
    expect(r2.code).toBe(0)
    expect(existsSync(set)).toBe(true)
  })

  test('a missing file or a bad line: exit 2, the line number, never the value', async () => {
    const missing = await cli(['migrate', '--env-file', join(dir, 'nope'), '--db', join(dir, 'x.db')])
    expect(missing.code).toBe(2)
    expect(missing.err).toBe(`error: cannot read --env-file ${join(dir, 'nope')}: ENOENT`)
    writeFileSync(join(dir, 'bad'), 'OK=1\nthis line holds s3cret-value\n')
    const bad = await cli(['migrate', '--env-file', join(dir, 'bad'), '--db', join(dir, 'x.db')])
    expect(bad.code).toBe(2)
    expect(bad.err).toContain('line 2: expected KEY=value')
    expect(bad.err).not.toContain('s3cret')
    expect(existsSync(join(dir, 'x.db'))).toBe(false)
  })

  test('the format: comments, export, quotes, escapes', () => {
    expect(parseEnv(['# c', '', 'A=1', 'export B = two words # note', 'C="x # y\\n\\"q\\""', "D='$HOME \\n'", 'E=', 'F=a#b'].join('\n'))).toEqual({
      A: '1',
      B: 'two words',
      C: 'x # y\n"q"',
      D: '$HOME \\n',
      E: '',
      F: 'a#b',
    })
    expect(() => parseEnv('A="open')).toThrow('line 1: unterminated quote in the value of A')
  })
})

const newKey = () => Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64')

/** A SQLite file read without changing it: its tables and the sealed key check value. */
function peek(path: string): { tables: string[]; keyCheck: string | undefined } {
  const h = new Database(path, { readonly: true })
  try {
    const tables = h.query<{ name: string }, []>("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all().map((r) => r.name)
    const keyCheck = tables.includes('settings') ? h.query<{ value: string }, []>("SELECT value FROM settings WHERE key = 'encryption_key_check'").get()?.value : undefined
    return { tables, keyCheck }
  } finally {
    h.close()
  }
}

const sha = (path: string) => new Bun.CryptoHasher('sha256').update(readFileSync(path)).digest('hex')

describe('key rotation (TEAMDAY_ENCRYPTION_KEYS_PREVIOUS)', () => {
  test('no command moves the key check to the new key: the new key alone stays refused while data is sealed under the old one', async () => {
    const db = join(dir, 'teamday.db')
    const [k1, k2] = [newKey(), newKey()]
    expect((await cli(['users', 'create', '--email', 'a@b.co', '--org', 'acme', '--role', 'admin', '--db', db], { TEAMDAY_ENCRYPTION_KEY: k1 })).code).toBe(0)
    expect((await cli(['tokens', 'create', '--email', 'a@b.co', '--name', 'deploy bot', '--db', db], { TEAMDAY_ENCRYPTION_KEY: k1 })).code).toBe(0)
    const check = peek(db).keyCheck
    const rotated = { TEAMDAY_ENCRYPTION_KEY: k2, TEAMDAY_ENCRYPTION_KEYS_PREVIOUS: k1 }
    // A read-only command, then writing ones (a new token name is sealed under the new key).
    expect((await cli(['audit', 'list', '--db', db], rotated)).code).toBe(0)
    expect((await cli(['users', 'create', '--email', 'b@b.co', '--org', 'acme', '--db', db], rotated)).code).toBe(0)
    expect((await cli(['tokens', 'create', '--email', 'a@b.co', '--name', 'second', '--db', db], rotated)).code).toBe(0)
    expect((await cli(['migrate', '--db', db], rotated)).code).toBe(0)
    expect(peek(db).keyCheck).toBe(check)
    // Both keys: old and new values open.
    const both = await cli(['tokens', 'list', '--email', 'a@b.co', '--json', '--db', db], rotated)
    expect(both.code).toBe(0)
    expect(JSON.parse(both.out).tokens.map((t: { name: string }) => t.name).sort()).toEqual(['deploy bot', 'second'])
    // The new key alone: refused at open, naming what to do, never a failure later on the data.
    const alone = await cli(['tokens', 'list', '--email', 'a@b.co', '--db', db], { TEAMDAY_ENCRYPTION_KEY: k2 })
    expect(alone.code).toBe(1)
    expect(alone.err).toContain('does not match this database')
    expect(alone.err).toContain('TEAMDAY_ENCRYPTION_KEYS_PREVIOUS')
    expect(alone.err).not.toContain('could not be decrypted')
  })
})

describe('admin commands on a file that is not a teamday database at this build\'s schema', () => {
  const readers: [string, string[]][] = [
    ['users list', ['users', 'list', '--org', 'acme']],
    ['users set-role', ['users', 'set-role', '--email', 'a@b.co', '--org', 'acme', '--role', 'viewer']],
    ['tokens list', ['tokens', 'list', '--email', 'a@b.co']],
    ['audit list', ['audit', 'list']],
  ]

  test("another application's SQLite file: refused, not a byte changed (no teamday tables, no WAL switch)", async () => {
    const other = join(dir, 'app.db')
    const h = new Database(other)
    h.exec("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO customers (name) VALUES ('bob')")
    h.close()
    const before = sha(other)
    for (const [name, argv] of readers) {
      const r = await cli([...argv, '--db', other], { TEAMDAY_ENCRYPTION_KEY: newKey() })
      expect({ name, code: r.code }).toEqual({ name, code: 1 })
      expect(r.err).toStartWith(`error: ${other} is not a teamday database (it has no teamday tables); nothing was changed.`)
    }
    expect(sha(other)).toBe(before)
    expect(peek(other).tables).toEqual(['customers'])
  })

  test("the commands that may create a database leave another application's file alone too (they grafted teamday's tables into it)", async () => {
    const other = join(dir, 'app.db')
    const h = new Database(other)
    h.exec("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO customers (name) VALUES ('bob')")
    h.close()
    const before = sha(other)
    for (const argv of [['migrate'], ['users', 'create', '--email', 'a@b.co', '--org', 'acme', '--role', 'admin'], ['serve', '--port', '0', '--host', '127.0.0.1']]) {
      const r = await cli([...argv, '--db', other])
      expect({ argv, code: r.code }).toEqual({ argv, code: 1 })
      expect(r.err).toContain(`${other} is another application's SQLite database (tables: customers), not a teamday one; nothing was changed.`)
    }
    expect(sha(other)).toBe(before)
    expect(peek(other).tables).toEqual(['customers'])
    expect(readdirSync(dir)).toEqual(['app.db']) // no key file
    // An empty file is a new database: made there.
    const empty = join(dir, 'new.db')
    writeFileSync(empty, '')
    expect((await cli(['migrate', '--db', empty])).code).toBe(0)
    expect(peek(empty).tables).toContain('settings')
  })

  test('an empty (0-byte) file stays empty; a file that is not SQLite is named as such', async () => {
    const empty = join(dir, 'teamday.db')
    writeFileSync(empty, '')
    for (const [, argv] of readers) {
      const r = await cli([...argv, '--db', empty], { TEAMDAY_ENCRYPTION_KEY: newKey() })
      expect(r.code).toBe(1)
      expect(r.err).toContain('is not a teamday database')
    }
    expect(readFileSync(empty).length).toBe(0)
    expect(readdirSync(dir)).toEqual(['teamday.db']) // no key file either
    const junk = join(dir, 'junk.db')
    writeFileSync(junk, 'x'.repeat(4096))
    const r = await cli(['audit', 'list', '--db', junk], { TEAMDAY_ENCRYPTION_KEY: newKey() })
    expect(r.code).toBe(1)
    expect(r.err).toContain(`${junk} is not a SQLite database`)
  })

  test('a teamday database that still needs migrations: refused with "teamday migrate" until it is migrated', async () => {
    const db = join(dir, 'old.db')
    const env = { TEAMDAY_ENCRYPTION_KEY: newKey() }
    // As the release before left it: every migration but the newest, through drizzle's migrator.
    const old = openDatabase(db)
    ;(old.sync as any).dialect.migrate(embeddedMigrations().slice(0, -1), (old.sync as any).session, { migrationsFolder: '' })
    old.close()
    const before = sha(db)
    const r = await cli(['audit', 'list', '--db', db], env)
    expect(r.code).toBe(1)
    expect(r.err).toContain(`${db} is not migrated to this teamday's schema`)
    expect(r.err).toContain(`teamday migrate --db ${db}`)
    expect(sha(db)).toBe(before)
    expect((await cli(['migrate', '--db', db], env)).out).toBe(`applied 1 migration(s) to ${db}`)
    expect((await cli(['audit', 'list', '--db', db], env)).out).toBe('no audit events')
  })
})

describe('a database migrated by a newer teamday', () => {
  test('migrate, users create, serve and every admin command refuse it, saying to use the newer binary; nothing is written', async () => {
    const db = join(dir, 'teamday.db')
    const env = { TEAMDAY_ENCRYPTION_KEY: newKey() }
    expect((await cli(['users', 'create', '--email', 'a@b.co', '--org', 'acme', '--db', db], env)).code).toBe(0)
    const h = new Database(db)
    h.exec(`INSERT INTO __drizzle_migrations (hash, created_at) VALUES ('from-a-newer-release', ${Date.now() + 86_400_000 * 3650})`)
    h.close()
    const members = () => {
      const r = new Database(db, { readonly: true })
      try {
        return r.query('SELECT role FROM memberships').all()
      } finally {
        r.close()
      }
    }
    for (const argv of [
      ['migrate'],
      ['users', 'create', '--email', 'c@b.co', '--org', 'acme'],
      ['users', 'set-role', '--email', 'a@b.co', '--org', 'acme', '--role', 'viewer'],
      ['tokens', 'list', '--email', 'a@b.co'],
      ['serve', '--port', '0', '--host', '127.0.0.1'],
    ]) {
      const r = await cli([...argv, '--db', db], env)
      expect({ argv, code: r.code }).toEqual({ argv, code: 1 })
      expect(r.err).toContain(`${db} was migrated by a newer teamday (it has migrations this build does not know): run that version or a later one`)
      expect(r.out).toBe('')
    }
    expect(members()).toEqual([{ role: 'member' }])
  })
})

describe('a refused start writes no key file', () => {
  test('users create, migrate and serve on a database sealed under a key they do not have: exit 1, no new key beside it', async () => {
    const db = join(dir, 'teamday.db')
    expect((await cli(['users', 'create', '--email', 'a@b.co', '--org', 'acme', '--db', db], { TEAMDAY_ENCRYPTION_KEY: newKey() })).code).toBe(0)
    for (const argv of [['users', 'create', '--email', 'b@b.co', '--org', 'acme'], ['migrate'], ['serve', '--port', '0', '--host', '127.0.0.1']]) {
      const r = await cli([...argv, '--db', db])
      expect({ argv, code: r.code }).toEqual({ argv, code: 1 })
      expect(r.err).toContain(`no encryption key: TEAMDAY_ENCRYPTION_KEY is not set and there is no key file at ${join(dir, 'teamday.key')}`)
      expect(existsSync(join(dir, 'teamday.key'))).toBe(false)
    }
  })
})

// Found probing the binary (2026-12-05): a database on a read-only mount said only "error: The
// database file could not be opened. (unable to open database file)", a file or folder the user
// may not write "The database file cannot be written (its permissions, its folder's, or a
// read-only mount)": neither named the file, nor which of those it was.
describe('a database file that cannot be written: the error names it and says why', () => {
  test('through the command line (serve and users create): a -wal/-shm path that is a folder', async () => {
    const db = join(dir, 'teamday.db')
    const env = { TEAMDAY_ENCRYPTION_KEY: Buffer.alloc(32, 3).toString('base64') }
    expect((await cli(['users', 'create', '--email', 'a@example.com', '--org', 'acme', '--db', db], env)).code).toBe(0)
    // SQLite opens such a database read-only (as root too): the first write is refused.
    const { mkdirSync } = await import('node:fs')
    mkdirSync(`${db}-shm`)
    const said = `error: cannot use the database ${db}: ${db}-shm is a folder, not a file: remove it (SQLite makes its own) and start again (SQLite: attempt to write a readonly database)`
    const created = await cli(['users', 'create', '--email', 'b@example.com', '--org', 'acme', '--db', db], env)
    expect([created.code, created.err.split('\n').at(-1)]).toEqual([1, said])
    const served = await cli(['serve', '--host', '127.0.0.1', '--port', '0', '--db', db], env)
    expect([served.code, served.err.split('\n').at(-1)]).toEqual([1, said])
  }, 30_000)

  test('what is told apart: a read-only file system, a file or a folder this user may not write, a full disk', async () => {
    const { sqliteStartError, DatabaseUnusableError } = await import('../src/db/client')
    const file = join(dir, 'teamday.db')
    const readonly = new Error('Failed query: update "executions" …', { cause: Object.assign(new Error('attempt to write a readonly database'), { code: 'SQLITE_READONLY' }) })
    const cantOpen = Object.assign(new Error('unable to open database file'), { code: 'SQLITE_CANTOPEN' })
    const probe = (denied: Record<string, string>) => ({
      notWritable: (p: string) => denied[p] ?? null,
      kind: (p: string) => (p === file || p === `${file}-shm` ? ('file' as const) : null),
      owner: () => ({ mode: 0o400, uid: 1000 }),
      user: () => 'teamday, uid 999',
    })
    const message = (e: unknown, denied: Record<string, string>) => {
      const out = sqliteStartError(file, e, probe(denied))
      expect(out).toBeInstanceOf(DatabaseUnusableError)
      return (out as Error).message
    }
    expect(message(cantOpen, { [dir]: 'EROFS', [file]: 'EROFS' })).toBe(`cannot use the database ${file}: it is on a read-only file system; teamday writes the database and its -wal and -shm files beside it: mount ${dir} read-write (SQLite: unable to open database file)`)
    expect(message(readonly, { [`${file}-shm`]: 'EACCES' })).toBe(`cannot use the database ${file}: ${file}-shm is not writable by the user teamday runs as (teamday, uid 999) (mode 0400, owner uid 1000): give that user write access to it (chmod u+w ${file}-shm; chown if another user owns it), or run teamday as its owner (SQLite: attempt to write a readonly database)`)
    // Every file this user may not write, at once, with the one command that fixes them all.
    expect(message(readonly, { [file]: 'EACCES', [`${file}-shm`]: 'EACCES' })).toBe(`cannot use the database ${file}: ${file} and ${file}-shm are not writable by the user teamday runs as (teamday, uid 999) (mode 0400, owner uid 1000): give that user write access to all of them (chmod u+w ${file} ${file}-shm; chown if another user owns them), or run teamday as their owner (SQLite: attempt to write a readonly database)`)
    expect(message(readonly, { [dir]: 'EACCES' })).toBe(`cannot use the database ${file}: its folder ${dir} is not writable by the user teamday runs as (teamday, uid 999): SQLite creates the -wal and -shm files beside the database there (SQLite: attempt to write a readonly database)`)
    expect(message(Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' }), {})).toBe(`cannot use the database ${file}: the disk holding it is full; free some space and start again (SQLite: database or disk is full)`)
    // Anything else is left as it is: a busy file, a wrong key, an in-memory database.
    const busy = Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' })
    expect(sqliteStartError(file, busy, probe({}))).toBe(busy)
    expect(sqliteStartError(':memory:', readonly, probe({}))).toBe(readonly)
  })

  // Found probing the binary (2026-12-06): a database started once as 0400 leaves SQLite's -wal
  // and -shm at 0400 too (SQLite gives them the database's mode); the refusal named the database
  // only, and after `chmod 600` of it the next start was refused again, naming the -shm.
  const AS_ROOT = process.getuid?.() === 0
  if (!AS_ROOT) console.warn('admin-database: the 0400 database test runs as root only (it opens the file as uid 65534, for which modes mean something)')
  test.skipIf(!AS_ROOT)('a database started once with mode 0400: the refusal names it, its -wal and its -shm, with one command; after that command the next start works', async () => {
    const { chmodSync, chownSync, statSync } = await import('node:fs')
    const db = join(dir, 'teamday.db')
    const made = new Database(db)
    made.exec('PRAGMA journal_mode = WAL; CREATE TABLE t (x INTEGER)')
    made.close()
    const NOBODY = 65534
    chownSync(dir, NOBODY, NOBODY)
    chownSync(db, NOBODY, NOBODY)
    chmodSync(db, 0o400)
    // A start as that user (test/helpers/sqlite-as-user.ts): open, then write.
    const start = () => {
      const r = Bun.spawnSync([process.execPath, join(import.meta.dir, 'helpers/sqlite-as-user.ts'), String(NOBODY), db], { stdout: 'pipe', stderr: 'pipe' })
      expect(r.stderr.toString()).toBe('')
      return JSON.parse(r.stdout.toString()) as { ok?: true; message?: string }
    }
    const first = start()
    expect(first.message).toStartWith(`cannot use the database ${db}: `)
    // SQLite left them beside it, 0400 like the database (the case that was refused twice).
    for (const p of [db, `${db}-wal`, `${db}-shm`]) expect([p, statSync(p).mode & 0o777]).toEqual([p, 0o400])
    const command = /chmod u\+w ([^;)]+)/.exec(first.message ?? '')?.[1]?.trim().split(' ')
    expect(command).toEqual([db, `${db}-wal`, `${db}-shm`])
    for (const p of command!) chmodSync(p, statSync(p).mode | 0o200)
    expect(start()).toEqual({ ok: true })
  }, 30_000)
})
