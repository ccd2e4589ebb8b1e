/**
 * What the CLI tells a person to do next, and the options it honours on the way: `login` and
 * `logout` take --retries as every client command does; the start-up hint for a server nobody
 * can sign in to names an admin who exists; the no-token hint names ways that exist.
 */
import { afterAll, describe, expect, test } from 'bun:test'
import { EventEmitter } from 'node:events'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { noPasswordHint, serve } from '../src/cli/admin/serve'
import type { ClientIo, Io } from '../src/cli/common'
import { writeCredentials } from '../src/client/credentials'
import { run } from '../src/main'
import { loadConfig } from '../src/config'
import { oneTimeLinks } from '../src/db/schema'
import { createRuntime } from '../src/runtime'
import postgres from 'postgres'
import { createTestDatabase, needPostgres, ON_PG, sqliteOnly, urlFor } from './helpers/pg'

const HAVE_PG = await needPostgres('test/cli-hints.test.ts (the first-start race of two instances)')
const dir = mkdtempSync(join(tmpdir(), 'teamday-hints-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** Nothing listens there: connections are refused at once. */
const DEAD = 'http://127.0.0.1:9'

async function cli(argv: string[], env: Record<string, string> = {}, cwd?: string) {
  const home = mkdtempSync(join(dir, 'home-'))
  const out: string[] = []
  const err: string[] = []
  const io: Io = { out: (s) => out.push(s), err: (s) => err.push(s), env: { HOME: home, XDG_CONFIG_HOME: join(home, 'config'), TEAMDAY_LOG_LEVEL: 'silent', ...env }, ...(cwd ? { cwd } : {}) }
  const code = await run(argv, io)
  return { code, out: out.join('\n'), err: err.join('\n'), home }
}

describe('login and logout honour --retries', () => {
  test('login --retries 0 fails at once against a server that is down; --retries 1 retries once; a bad value is a usage error', async () => {
    const none = await cli(['login', '--no-browser', '--url', DEAD, '--retries', '0'])
    expect(none.code).toBe(5)
    expect(none.err).not.toContain('retrying')
    const once = await cli(['login', '--no-browser', '--url', DEAD, '--retries', '1'])
    expect(once.code).toBe(5)
    expect(once.err.match(/retrying in .*\(\d\/\d\)/g)).toEqual([expect.stringContaining('(1/1)')])
    const bad = await cli(['login', '--no-browser', '--url', DEAD, '--retries', '11'])
    expect(bad.code).toBe(2)
    expect(bad.err).toContain('--retries must be a whole number 0-10')
  }, 20_000)

  test('logout --retries 0: one attempt to revoke, then the stored login is removed anyway', async () => {
    const home = mkdtempSync(join(dir, 'logout-'))
    const file = join(home, 'config', 'teamday', 'credentials.json')
    await writeCredentials(file, DEAD, { accessToken: 'x', refreshToken: 'y', expiresAt: new Date().toISOString(), userId: 'user_1', organizationId: 'org_1', savedAt: new Date().toISOString() })
    const out: string[] = []
    const err: string[] = []
    const code = await run(['logout', '--url', DEAD, '--retries', '0'], { out: (s) => out.push(s), err: (s) => err.push(s), env: { HOME: home, XDG_CONFIG_HOME: join(home, 'config') } })
    expect(code).toBe(0)
    expect(err.join('\n')).toContain('warning: could not revoke the sign-in on the server')
    // Where the console lists CLI sign-ins, in the words of the no-token hint below (it said "Settings, tokens page").
    expect(err.join('\n')).toContain('or revoke it in the console (Settings > Profile > Personal Access Tokens, CLI sign-ins)')
    expect(err.join('\n')).not.toContain('retrying')
    expect(JSON.parse(readFileSync(file, 'utf8')).servers).toEqual({})
  }, 20_000)
})

describe('the no-token hint', () => {
  test('names the console page and the admin command, not an admin token first start no longer prints', async () => {
    const r = await cli(['agents', 'list', '--url', DEAD])
    expect(r.code).toBe(3)
    expect(r.err).toContain('no token configured')
    // The path as TeamDay's docs give it: Settings → Profile → Personal Access Tokens.
    expect(r.err).toContain(`Settings > Profile > Personal Access Tokens (${DEAD}/settings/tokens)`)
    expect(r.err).toContain('teamday tokens create --email YOU --name NAME')
    expect(r.err).not.toContain('printed at first start')
  })

  test('names the page at the server\'s address, a sub-path included (it said /settings/tokens: the root of the host, another site)', async () => {
    for (const url of [`${DEAD}/teamday`, `${DEAD}/teamday/`, `${DEAD}/teamday/api/v1`]) {
      const r = await cli(['agents', 'list', '--url', url])
      expect([url, r.code, r.err.includes(`Personal Access Tokens (${DEAD}/teamday/settings/tokens)`)]).toEqual([url, 3, true])
    }
  })

  // TeamDay's German docs: "Oder in .env Datei (für lokale Entwicklung) TEAMDAY_TOKEN=td_…". teamday
  // reads no .env by itself (README, "Environment files"): with the token there and no
  // --env-file, the error said only "no token configured", as if it were nowhere.
  test('a .env file in the working directory that sets the token: the hint says teamday does not read it by itself, and how to (--env-file .env)', async () => {
    const withToken = mkdtempSync(join(dir, 'dotenv-'))
    writeFileSync(join(withToken, '.env'), `# local development\nexport TEAMDAY_TOKEN="td_${'A'.repeat(43)}"\n`)
    const r = await cli(['agents', 'list', '--url', DEAD], {}, withToken)
    expect(r.code).toBe(3)
    expect(r.err).toContain('no token configured')
    expect(r.err).toContain('A .env file in this directory sets TEAMDAY_TOKEN, but teamday reads no .env file by itself: pass --env-file .env')
    // Never the token itself.
    expect(r.err).not.toContain('A'.repeat(43))
    const apiToken = mkdtempSync(join(dir, 'dotenv-'))
    writeFileSync(join(apiToken, '.env'), 'TEAMDAY_API_TOKEN=td_x\n')
    expect((await cli(['agents', 'list', '--url', DEAD], {}, apiToken)).err).toContain('sets TEAMDAY_API_TOKEN, but teamday reads no .env file by itself')
    // No such line, an empty value, or no .env: no such hint.
    const other = mkdtempSync(join(dir, 'dotenv-'))
    writeFileSync(join(other, '.env'), 'DATABASE_URL=postgres://x\n# TEAMDAY_TOKEN=td_old\nTEAMDAY_TOKEN=\n')
    expect((await cli(['agents', 'list', '--url', DEAD], {}, other)).err).not.toContain('.env file')
    expect((await cli(['agents', 'list', '--url', DEAD], {}, mkdtempSync(join(dir, 'none-')))).err).not.toContain('.env file')
    // An --env-file given (another file, without the token): the hint about .env would mislead.
    const given = join(withToken, 'ci.env')
    writeFileSync(given, 'TEAMDAY_URL=http://127.0.0.1:9\n')
    const r2 = await cli(['--env-file', given, 'agents', 'list'], {}, withToken)
    expect(r2.err).toContain('no token configured')
    expect(r2.err).not.toContain('.env file in this directory')
  })
})

describe('serve: the hint when nobody has a console password', () => {
  const key = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64')

  /** One start and stop of `serve` on `db`: everything it printed. */
  async function startAndStop(db: string, env: Record<string, string>): Promise<string> {
    const out: string[] = []
    const io: ClientIo = { out: (s) => void out.push(s), err: (s) => void out.push(s), env: { TEAMDAY_ENCRYPTION_KEY: key, TEAMDAY_LOG_LEVEL: 'silent', ...env } }
    const signals = new EventEmitter()
    const serving = serve({ values: { host: '127.0.0.1', port: '0', db }, positionals: [], io }, signals as unknown as NodeJS.Process)
    const deadline = Date.now() + 20_000
    while (!out.some((l) => l.startsWith('Console: ')) && Date.now() < deadline) await Bun.sleep(10)
    await Bun.sleep(50)
    signals.emit('SIGTERM')
    await serving
    return out.join('\n')
  }

  test('names the admin the first start made (TEAMDAY_ADMIN_EMAIL), not admin@localhost, and where to find the others', async () => {
    const db = ON_PG ? urlFor(await createTestDatabase()) : join(dir, 'hint.db')
    const env = { TEAMDAY_ADMIN_EMAIL: 'ops@example.com' }
    expect(await startAndStop(db, env)).toContain('/setup/')
    // Within the set-up link's hour, a later start says where that link is, for whom.
    const within = await startAndStop(db, env)
    expect(within).toContain('The first start on this database printed a one-time set-up link for ops@example.com, admin of default, valid until ')
    expect(within).toContain(`Missed it? teamday users set-password --email ops@example.com --db ${db}  (on this host).`)
    expect(within).not.toContain('admin@localhost')
    // Past it (the link made an hour older here), how to set a password.
    const rt = await createRuntime(loadConfig({ TEAMDAY_ENCRYPTION_KEY: key, TEAMDAY_LOG_LEVEL: 'silent' }, { dbPath: db }))
    await rt.db.update(oneTimeLinks).set({ expiresAt: new Date(Date.now() - 1000) }).run()
    await rt.close()
    const later = await startAndStop(db, env)
    // With the --db the server was started with: run as written, the command goes to that database
    // (without it, to ./data/teamday.db: a PostgreSQL server's reader set nobody's password).
    expect(later).toContain(`Nobody has a console password yet: set one with  teamday users set-password --email ops@example.com --db ${db}  (on this host; admin of default, the others: teamday users list --org default --db ${db}).`)
    expect(later).not.toContain('admin@localhost')
    if (!ON_PG) expect(existsSync(db)).toBe(true)
  }, 30_000)

  test('the hint\'s commands name the database unless it is the default file; a PostgreSQL URL\'s password is not repeated', async () => {
    const { dbNote, dbOption } = await import('../src/cli/admin/runtime')
    expect(dbOption('./data/teamday.db')).toBe('')
    expect(dbOption('/srv/teamday/teamday.db', 'linux')).toBe(' --db /srv/teamday/teamday.db')
    expect(dbOption('postgres://app@db:5432/teamday')).toBe(' --db postgres://app@db:5432/teamday')
    expect(dbNote('postgres://app@db:5432/teamday')).toBe('')
    // A URL holding a secret (a password; a client key's passphrase, sslpassword) is never printed
    // (stdout is docker logs, the journal), nor asked to be typed on a command line: the command
    // runs where TEAMDAY_DATABASE_URL names the database, as Compose's exec does.
    for (const url of ['postgres://app:s3cret@db:5432/teamday', 'postgres://app@db/teamday?sslmode=require&sslpassword=KeyPass', 'postgres://app@db/teamday?password=pw']) {
      expect(dbOption(url)).toBe('')
      expect(dbNote(url)).toContain('TEAMDAY_DATABASE_URL')
      expect(dbNote(url)).not.toContain('KeyPass')
    }
    expect(noPasswordHint(null, dbOption('/srv/my data/t.db', 'linux'))).toContain("teamday users set-role --email E --org SLUG --role admin --db '/srv/my data/t.db'.")
    expect(dbOption("/srv/it's/t.db", 'linux')).toBe(` --db '/srv/it'\\''s/t.db'`)
    // cmd.exe takes no single quotes.
    expect(dbOption('C:\\teamday\\teamday.db', 'win32')).toBe(' --db C:\\teamday\\teamday.db')
    expect(dbOption('C:\\Program Data\\teamday.db', 'win32')).toBe(' --db "C:\\Program Data\\teamday.db"')
  })

  test.skipIf(!ON_PG)('on a PostgreSQL URL holding a client key\'s passphrase (sslpassword), no start prints it: the hint says where the command finds the URL', async () => {
    const db = `${urlFor(await createTestDatabase())}?sslmode=prefer&sslpassword=KeyPassphrase123`
    const first = await startAndStop(db, {})
    expect(first).toContain('/setup/')
    const later = await startAndStop(db, {})
    for (const out of [first, later]) {
      expect(out).not.toContain('KeyPassphrase123')
      expect(out).toContain('Run it where TEAMDAY_DATABASE_URL names this database')
    }
  }, 60_000)

  test('with no admin left, it says how to find a member and make one admin', () => {
    const hint = noPasswordHint(null)
    expect(hint).toContain('teamday users set-password --email E')
    expect(hint).toContain('teamday users list --org SLUG')
    expect(hint).toContain('teamday users set-role --email E --org SLUG --role admin')
  })
})

// Several instances started together on an empty PostgreSQL database (found by a review,
// 2026-12-06): each read "no user yet", one made the first admin, and every other printed "Nobody
// has a console password yet … or make one admin first: teamday users set-role …", read before
// the admin existed, where an admin with a set-up link had just been made by another instance.
describe.skipIf(!HAVE_PG)('serve: starts that lose the first-start race to another instance', () => {
  const key = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64')

  test("say another instance made the first admin and that its output has the set-up link, not the hint of a database without an admin", async () => {
    const db = urlFor(await createTestDatabase())
    // Tables first (one migrate), so both starts get to the first admin together.
    const m = await run(['migrate', '--db', db], { out: () => {}, err: () => {}, env: { TEAMDAY_ENCRYPTION_KEY: key, TEAMDAY_LOG_LEVEL: 'silent' } })
    expect(m).toBe(0)
    const holder = postgres(db, { max: 1, onnotice: () => {} })
    const watch = postgres(db, { max: 1, onnotice: () => {} })
    // Reads go on, inserts into users wait: both starts read no user, then both try to make the admin.
    let release = () => {}
    const held = new Promise<void>((ready) => {
      void holder.begin(async (tx) => {
        await tx`LOCK TABLE users IN EXCLUSIVE MODE`
        ready()
        await new Promise<void>((r) => (release = r))
      })
    })
    await held
    const starts = [0, 1].map(() => {
      const out: string[] = []
      const io: ClientIo = { out: (s) => void out.push(s), err: (s) => void out.push(s), env: { TEAMDAY_ENCRYPTION_KEY: key, TEAMDAY_LOG_LEVEL: 'silent' } }
      const signals = new EventEmitter()
      const serving = serve({ values: { host: '127.0.0.1', port: '0', db }, positionals: [], io }, signals as unknown as NodeJS.Process)
      return { out, signals, serving }
    })
    try {
      // One start waits for the table (its transaction holds teamday's lock), the other for that lock.
      // This database's waits only: pg_locks is the whole server's, where other test files run at once.
      const waiting = async () => Number((await watch`SELECT count(*)::int AS n FROM pg_locks WHERE NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`)[0]!.n)
      const deadline = Date.now() + 20_000
      while ((await waiting()) < 2 && Date.now() < deadline) await Bun.sleep(20)
      expect(await waiting()).toBe(2)
      release()
      const until = Date.now() + 20_000
      while (!starts.every((s) => s.out.some((l) => l.startsWith('Console: '))) && Date.now() < until) await Bun.sleep(10)
      await Bun.sleep(50)
    } finally {
      release()
      for (const s of starts) s.signals.emit('SIGTERM')
      await Promise.all(starts.map((s) => s.serving))
      await holder.end({ timeout: 1 })
      await watch.end({ timeout: 1 })
    }
    const texts = starts.map((s) => s.out.join('\n'))
    const winner = texts.find((t) => t.includes('/setup/'))
    const loser = texts.find((t) => !t.includes('/setup/'))
    expect([winner !== undefined, loser !== undefined]).toEqual([true, true])
    expect(loser).toContain('Another teamday on this database made the first admin as this one started (admin@localhost, of default): the one-time set-up link is in its output.')
    expect(loser).toContain('Missed it? teamday users set-password --email admin@localhost')
    expect(loser).not.toContain('make one admin first')
  }, 60_000)
})

describe('a database path that is a folder', () => {
  test('says it is a folder and which file to name, not "check that the folder exists and is writable"', async () => {
    const folder = mkdtempSync(join(dir, 'folder-'))
    for (const argv of [
      ['users', 'list', '--org', 'acme', '--db', folder],
      ['migrate', '--db', folder],
      ['backup', '--db', folder, '--out', join(dir, 'never.db')],
    ]) {
      const r = await cli(argv, { TEAMDAY_ENCRYPTION_KEY: Buffer.alloc(32, 1).toString('base64') })
      expect({ argv, code: r.code }).toEqual({ argv, code: 1 })
      expect(r.err).toContain(`cannot open the database ${folder}: it is a folder, not a database file. Pass --db FILE (or set TEAMDAY_DB) with a file's path, e.g. ${join(folder, 'teamday.db')}`)
      expect(r.err).not.toContain('writable')
    }
    const from = await cli(['migrate-data', '--from', folder, '--to', 'postgres://127.0.0.1:9/none'])
    expect(from.code).toBe(1)
    expect(from.err).toContain(`${folder} is a folder, not a database file (--from): give the database file in it, e.g. ${join(folder, 'teamday.db')}`)
    expect(from.err).not.toContain('disk I/O error')
  })
})

describe('paths and URLs that are not what the option needs: named, with the option', () => {
  test('a --db that is not a SQLite file: serve, migrate, users create and restore name it (they said only "file is not a database")', async () => {
    const text = join(dir, 'notsqlite.txt')
    require('node:fs').writeFileSync(text, 'hello, this is text\n'.repeat(10))
    const backup = join(dir, 'for-restore.db')
    const key = { TEAMDAY_ENCRYPTION_KEY: Buffer.alloc(32, 1).toString('base64') }
    expect((await cli(['users', 'create', '--email', 'a@example.com', '--org', 'acme', '--db', backup], key)).code).toBe(0)
    for (const argv of [
      ['serve', '--host', '127.0.0.1', '--port', '0', '--db', text],
      ['migrate', '--db', text],
      ['users', 'create', '--email', 'a@example.com', '--org', 'acme', '--db', text],
      ['users', 'list', '--org', 'acme', '--db', text],
      ['restore', '--from', backup, '--db', text],
    ]) {
      const r = await cli(argv, key)
      expect({ argv, code: r.code, last: r.err.split('\n').pop() }).toEqual({ argv, code: 1, last: `error: ${text} is not a SQLite database (nor a teamday one); nothing was changed. Check --db (or TEAMDAY_DB)` })
    }
    expect(readFileSync(text, 'utf8')).toBe('hello, this is text\n'.repeat(10))
    // The backup to restore, missing or not a database: --from is named, not --db.
    const missing = await cli(['restore', '--from', join(dir, 'nonexist.db'), '--db', backup], key)
    expect([missing.code, missing.err]).toEqual([1, `error: no database at ${join(dir, 'nonexist.db')}: there is no such file; check --from`])
    const notDb = await cli(['restore', '--from', text, '--db', backup], key)
    expect([notDb.code, notDb.err]).toEqual([1, `error: ${text} is not a SQLite database (nor a teamday one); nothing was changed. Check --from`])
  })

  test('TEAMDAY_KEY_FILE and openapi --out that are folders: the path and the variable or option, not a bare EISDIR', async () => {
    const folder = mkdtempSync(join(dir, 'folder-'))
    const db = join(dir, 'keyfile.db')
    expect((await cli(['users', 'create', '--email', 'a@example.com', '--org', 'acme', '--db', db])).code).toBe(0)
    const key = await cli(['users', 'list', '--org', 'acme', '--db', db], { TEAMDAY_KEY_FILE: folder })
    expect([key.code, key.err]).toEqual([2, `error: cannot read the encryption key file ${folder}: it is a folder, not a file. TEAMDAY_KEY_FILE chooses it (default: teamday.key beside the database); or set TEAMDAY_ENCRYPTION_KEY`])
    const out = await cli(['openapi', '--out', folder])
    expect([out.code, out.err]).toEqual([1, `error: cannot write ${folder} (--out): it is a folder: give a file's path (--out ${join(folder, 'openapi.json')})`])
  })

  test('a PostgreSQL URL the driver cannot read is a usage error naming the option (it was "error: Invalid URL", exit 1), never repeating the URL', async () => {
    const form = 'postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE, with a space, @, / or % in the password or the name written %20, %40, %2F, %25'
    const to = await cli(['migrate-data', '--from', join(dir, 'any.db'), '--to', 'postgres://u:hunter2@bad url/x'])
    expect(to.code).toBe(2)
    expect(to.err).toStartWith(`error: --to is not a valid PostgreSQL URL: ${form}\n`)
    const db = await cli(['users', 'list', '--org', 'acme', '--db', 'postgres://u:hunter2@bad host:5432/x'])
    expect([db.code, db.err]).toEqual([2, `error: the database (--db, TEAMDAY_DATABASE_URL or TEAMDAY_DB) is not a valid PostgreSQL URL: ${form}`])
    expect(to.err + db.err).not.toContain('hunter2')
    // A % not written %25 in the password or the database name (it was "error: URI error", exit 1).
    for (const url of ['postgres://u:Pw%zz@127.0.0.1/db', 'postgres://u:Pw%SECRET@127.0.0.1/db', 'postgres://u@127.0.0.1/d%b']) {
      const bad = await cli(['users', 'list', '--org', 'acme', '--db', url])
      // A password on the command line is warned about first (its position, never its value).
      const warned = url.includes(':Pw')
      const lines = bad.err.split('\n')
      expect([url, bad.code, lines.at(-1), lines[0]!.startsWith('warning: argument 6 holds a database password')]).toEqual([url, 2, `error: the database (--db, TEAMDAY_DATABASE_URL or TEAMDAY_DB) is not a valid PostgreSQL URL: ${form}`, warned])
      expect(bad.err).not.toContain('Pw%')
    }
  })
})

describe('a database that cannot take an admin command', () => {
  test("says what that means and SQLite's own words, not drizzle's failed SQL with its parameters", async () => {
    const { explain } = await import('../src/admin-entry')
    const failure = (e: unknown) => ({ kind: 'failed', message: (explain(e) as Error).message })
    // As drizzle wraps bun:sqlite's error at a start on a read-only file (issue found as `nobody`).
    const driver = Object.assign(new Error('attempt to write a readonly database'), { code: 'SQLITE_READONLY' })
    const wrapped = new Error('Failed query: update "executions" set "status" = ?, "error" = ? where "status" in (?, ?)\nparams: failed,interrupted by server restart,pending,running', { cause: driver })
    const f = failure(wrapped)
    expect(f.kind).toBe('failed')
    expect(f.message).toBe("The database file cannot be written (its permissions, its folder's, or a read-only mount). (attempt to write a readonly database)")
    const full = failure(new Error('Failed query: insert …', { cause: Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' }) }))
    expect(full.message).toBe('The disk holding the database is full. (database or disk is full)')
    // PostgreSQL refusing teamday's role (a REVOKE, tables owned by another role): said so, without the SQL.
    const denied = failure(new Error('Failed query: select "value" from "settings" where "settings"."key" = $1\nparams: encryption_key_check', { cause: Object.assign(new Error('permission denied for table settings'), { code: '42501' }) }))
    expect(denied.message).toBe("The database refused teamday's role access to its tables or schema (permission denied, SQLSTATE 42501): an operator must grant the role its privileges again. (permission denied for table settings)")
    // Anything else keeps its own message.
    expect(failure(new Error('something else')).message).toBe('something else')
  })

  test.skipIf(sqliteOnly('a SQLite file locked by a second connection'))('through the command line: a database locked by another process past the wait is said so, exit 1, no SQL', async () => {
    const db = join(dir, 'locked.db')
    const env = { TEAMDAY_ENCRYPTION_KEY: Buffer.alloc(32, 2).toString('base64') }
    expect((await cli(['users', 'create', '--email', 'a@example.com', '--org', 'acme', '--db', db], env)).code).toBe(0)
    const { Database } = await import('bun:sqlite')
    const other = new Database(db)
    other.exec('BEGIN IMMEDIATE')
    try {
      const r = await cli(['users', 'create', '--email', 'b@example.com', '--org', 'acme', '--db', db], env)
      expect(r.code).toBe(1)
      expect(r.err).toContain('error: The database is busy: another process holds its write lock')
      expect(r.err).toContain('(database is locked)')
      expect(r.err).not.toContain('Failed query')
    } finally {
      other.exec('ROLLBACK')
      other.close()
    }
  }, 30_000)
})
