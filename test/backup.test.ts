import { Database } from 'bun:sqlite'
import { afterEach, beforeEach, describe, expect, test } from 'bun:test'
import { existsSync, linkSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Io } from '../src/cli/common'
import { loadConfig } from '../src/config'
import { createApp } from '../src/app'
import { refuseAnotherDatabase } from '../src/cli/admin/port-holder'
import { TABLE_NAMES } from '../src/db/schema'
import { inspect, vacuumInto } from '../src/db/backup'
import { DATABASE_ID_SETTING, liveProbeStore } from '../src/db/settings'
import { run } from '../src/main'
import { createRuntime, sqliteConnection } from '../src/runtime'
import { makeActor, makeTestApp } from './helpers/app'
import { sensitiveWorkload } from './helpers/at-rest'
import { everyColumnSet, neverSet, sqliteRows } from './helpers/every-column'
import { startProviderDouble } from './helpers/providers'

/**
 * `teamday backup --out FILE` and `teamday restore --from FILE` (issue 13), in-process on real
 * files: a checked copy through VACUUM INTO, also while another connection writes; a restore
 * that keeps the replaced database, refuses while the database is open elsewhere, and refuses
 * backups that are damaged, not teamday's, newer than this build, or sealed under another key.
 */

let dir: string
let db: string
beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'teamday-backup-'))
  db = join(dir, 'data', 'teamday.db')
  expect((await cli('users', 'create', '--email', 'ada@example.com', '--org', 'acme', '--role', 'admin')).code).toBe(0)
})
afterEach(() => rmSync(dir, { recursive: true, force: true }))

async function cli(...argv: string[]) {
  return cliWith({}, ...argv)
}

async function cliWith(env: Record<string, string>, ...argv: string[]) {
  const out: string[] = []
  const err: string[] = []
  const io: Io = { out: (s) => out.push(s), err: (s) => err.push(s), env: { TEAMDAY_LOG_LEVEL: 'silent', TEAMDAY_DB: db, ...env } }
  const code = await run(argv, io)
  return { code, out: out.join('\n'), err: err.join('\n') }
}

const tokenNames = async () => JSON.parse((await cli('tokens', 'list', '--email', 'ada@example.com', '--json')).out).tokens.map((t: any) => t.name).sort()

describe('backup', () => {
  test('a checked, private copy; says what else to keep; never overwrites', async () => {
    await cli('tokens', 'create', '--email', 'ada@example.com', '--name', 'one')
    const out = join(dir, 'b.db')
    const r = await cli('backup', '--out', out)
    expect(r.code).toBe(0)
    expect(r.out).toMatch(new RegExp(`^backup written: ${out} \\(\\d+ KiB, integrity ok, \\d+ migrations\\)\\n`))
    expect(r.out).toContain(`keep with it, stored apart from it: the encryption key from ${join(dir, 'data', 'teamday.key')}`)
    expect(r.err).toBe(`using database ${db}`)
    expect(statSync(out).mode & 0o777).toBe(0o600)
    const copy = new Database(out, { readonly: true })
    expect(copy.query('PRAGMA integrity_check').get()).toEqual({ integrity_check: 'ok' })
    expect(copy.query('SELECT count(*) AS n FROM personal_access_tokens').get()).toEqual({ n: 1 })
    copy.close()

    const again = await cli('backup', '--out', out)
    expect(again.code).toBe(1)
    expect(again.err).toContain(`${out} already exists`)
    const noFolder = await cli('backup', '--out', join(dir, 'nope', 'b.db'))
    expect(noFolder.code).toBe(1)
    expect(noFolder.err).toContain(`cannot write the backup ${join(dir, 'nope', 'b.db')}`)
  })

  test('a key that does not open the database is not named as the one to keep: the copy is kept, the command fails and says which key to find', async () => {
    await cli('tokens', 'create', '--email', 'ada@example.com', '--name', 'sealed name')
    const k1 = (await Bun.file(join(dir, 'data', 'teamday.key')).text()).trim()
    const k2 = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64')
    // Rotated to K2 given in the environment; the key file still holds K1.
    expect((await cliWith({ TEAMDAY_ENCRYPTION_KEY: k2, TEAMDAY_ENCRYPTION_KEYS_PREVIOUS: k1 }, 'rekey')).code).toBe(0)
    const out = join(dir, 'b.db')
    const wrong = await cli('backup', '--out', out)
    expect(wrong.code).toBe(1)
    expect(wrong.err).toContain(`the encryption key from ${join(dir, 'data', 'teamday.key')} does not open this database's sealed data, so it is not the key to keep with the backup`)
    expect(wrong.out).not.toContain('keep with it')
    expect(existsSync(out)).toBe(true)
    const right = await cliWith({ TEAMDAY_ENCRYPTION_KEY: k2 }, 'backup', '--out', join(dir, 'b2.db'))
    expect(right.code).toBe(0)
    expect(right.out).toContain('keep with it, stored apart from it: the encryption key from TEAMDAY_ENCRYPTION_KEY')
  })

  test('errors of the database backed up name it, not the backup; no backup file is left', async () => {
    const out = join(dir, 'b.db')
    const backupOf = (source: string) => cli('backup', '--db', source, '--out', out)
    writeFileSync(join(dir, 'junk.db'), 'x'.repeat(4096))
    const junk = await backupOf(join(dir, 'junk.db'))
    expect(junk.code).toBe(1)
    expect(junk.err).toStartWith(`error: ${join(dir, 'junk.db')} is not a SQLite database (nor a teamday one); nothing was written.`)
    const other = new Database(join(dir, 'other.db'), { create: true })
    other.exec('CREATE TABLE t (x)')
    other.close()
    const notOurs = await backupOf(join(dir, 'other.db'))
    expect(notOurs.code).toBe(1)
    expect(notOurs.err).toStartWith(`error: ${join(dir, 'other.db')} is not a teamday database (it has no teamday tables); nothing was written.`)
    // A teamday database with overwritten B-tree pages (page 1, the schema, intact): VACUUM INTO
    // fails reading it, half-way through writing the copy.
    await cli('tokens', 'create', '--email', 'ada@example.com', '--name', 'one')
    const clean = join(dir, 'clean.db')
    expect((await cli('backup', '--out', clean)).code).toBe(0)
    const bytes = new Uint8Array(await Bun.file(clean).arrayBuffer())
    bytes.fill(0xff, 4096 * 2, 4096 * 8)
    writeFileSync(join(dir, 'damaged.db'), bytes)
    const damaged = await backupOf(join(dir, 'damaged.db'))
    expect(damaged.code).toBe(1)
    expect(damaged.err).toStartWith(`error: cannot read the database ${join(dir, 'damaged.db')}: database disk image is malformed; no backup was written`)
    for (const r of [junk, notOurs, damaged]) expect(r.err).not.toContain(out)
    expect(existsSync(out)).toBe(false)
  })

  test('while another connection keeps writing, the copy is a consistent snapshot', async () => {
    const rt = await createRuntime(loadConfig({}, { dbPath: db }))
    try {
      sqliteConnection(rt).client.exec('CREATE TABLE load (n INTEGER NOT NULL, total INTEGER NOT NULL)')
      let n = 0
      let writing = true
      // Each commit adds a row and keeps total = sum of n, which a torn copy would break.
      const writer = (async () => {
        while (writing) {
          n++
          sqliteConnection(rt).client.transaction(() => sqliteConnection(rt).client.query('INSERT INTO load VALUES (?, (SELECT coalesce(sum(n), 0) FROM load) + ?)').run(n, n))()
          await new Promise((r) => setImmediate(r))
        }
      })()
      const copies: string[] = []
      for (let i = 0; i < 3; i++) {
        await new Promise((r) => setTimeout(r, 20))
        const out = join(dir, `snap${i}.db`)
        expect((await cli('backup', '--out', out)).code).toBe(0)
        copies.push(out)
      }
      writing = false
      await writer
      for (const out of copies) {
        const c = new Database(out, { readonly: true })
        const { rows, sum, last } = c.query('SELECT count(*) AS rows, sum(n) AS sum, (SELECT total FROM load ORDER BY n DESC LIMIT 1) AS last FROM load').get() as any
        c.close()
        expect(rows).toBeGreaterThan(0)
        expect(last).toBe(sum)
      }
    } finally {
      rt.close()
    }
  })
})

describe('a backup killed half-way', () => {
  // It left a file by the backup's name (and its hot journal: opened, an empty database), which a
  // rerun refused to overwrite and restore refused with "cannot be written" (found from outside).
  test('leaves no file by the backup\'s name: only a part named as such; a rerun writes the backup', async () => {
    const c = new Database(db)
    c.exec('CREATE TABLE filler (b BLOB)')
    for (let i = 0; i < 150; i++) c.query('INSERT INTO filler VALUES (randomblob(1048576))').run()
    c.close()
    const out = join(dir, 'nightly.db')
    const child = Bun.spawn([process.execPath, join(import.meta.dir, '..', 'src', 'main.ts'), 'backup', '--out', out, '--db', db], { env: { ...process.env, TEAMDAY_LOG_LEVEL: 'silent' }, stdout: 'ignore', stderr: 'ignore' })
    const part = () => readdirSync(dir).find((f) => f.startsWith('nightly.db.partial-'))
    const deadline = Date.now() + 20_000
    while (!part() && child.exitCode === null && Date.now() < deadline) await Bun.sleep(2)
    expect(part()).toBeDefined()
    child.kill('SIGKILL')
    await child.exited
    expect(existsSync(out)).toBe(false)
    const again = await cli('backup', '--out', out)
    expect([again.code, again.err]).toEqual([0, expect.any(String)])
    expect(again.out).toContain(`backup written: ${out}`)
    expect(existsSync(`${out}-journal`)).toBe(false)
  }, 60_000)
})

describe('a backup into a folder without hard links (a vfat USB disk, some network shares)', () => {
  // Found backing up onto a FAT file system (2026-12-06): "cannot write the backup …: EPERM:
  // operation not permitted, link" every time, the part removed again.
  test('is written (renamed from its part once whole), checked, and still never overwrites a file', () => {
    const noLinks = (code: string) => ({
      linkSync: () => {
        throw Object.assign(new Error(`${code}: operation not permitted, link`), { code })
      },
      renameSync,
    })
    for (const [i, code] of ['EPERM', 'ENOTSUP', 'ENOSYS'].entries()) {
      const out = join(dir, `usb-${i}.db`)
      vacuumInto(db, out, noLinks(code))
      expect(inspect(out).integrity).toEqual(['ok'])
      expect(readdirSync(dir).filter((f) => f.includes('.partial-'))).toEqual([])
      expect(() => vacuumInto(db, out, noLinks(code))).toThrow(`${out} already exists: a backup never overwrites a file`)
      expect(inspect(out).integrity).toEqual(['ok'])
    }
    // A refusal that is not about links is said as it was, nothing left behind.
    const out = join(dir, 'refused.db')
    expect(() => vacuumInto(db, out, { ...noLinks('EIO'), renameSync })).toThrow(`cannot write the backup ${out}: EIO`)
    expect(readdirSync(dir).filter((f) => f.startsWith('refused.db'))).toEqual([])
  })
})

describe('restore', () => {
  test('puts the backup back and keeps the database it replaced', async () => {
    await cli('tokens', 'create', '--email', 'ada@example.com', '--name', 'before')
    const out = join(dir, 'b.db')
    await cli('backup', '--out', out)
    await cli('tokens', 'create', '--email', 'ada@example.com', '--name', 'after')
    expect(await tokenNames()).toEqual(['after', 'before'])

    const r = await cli('restore', '--from', out)
    expect(r.code).toBe(0)
    expect(r.out).toContain(`restored ${out} (`)
    // A backup of this build has no migration to run: it said "pending migrations run on its first start".
    expect(r.out).toEndWith('opens it; start the server')
    expect(r.out).not.toContain('pending migration')
    const kept = readdirSync(join(dir, 'data')).find((f) => f.startsWith('teamday.db.before-restore-'))!
    expect(kept).toMatch(/^teamday\.db\.before-restore-\d{8}-\d{6}$/)
    expect(r.out).toContain(`the database it replaced is kept as ${join(dir, 'data', kept)}`)
    expect(await tokenNames()).toEqual(['before'])
    const previous = new Database(join(dir, 'data', kept), { readonly: true })
    expect(previous.query('SELECT count(*) AS n FROM personal_access_tokens').get()).toEqual({ n: 2 })
    previous.close()
    // The restored database is a whole teamday database again: the admin CLI and a runtime work on it.
    const rt = await createRuntime(loadConfig({}, { dbPath: db }))
    expect(rt.migrationsApplied).toBe(0)
    rt.close()
  })

  test('onto a new machine: a missing database is created from the backup', async () => {
    const out = join(dir, 'b.db')
    await cli('backup', '--out', out)
    const target = join(dir, 'elsewhere', 'teamday.db')
    const io: Io = { out: () => {}, err: () => {}, env: { TEAMDAY_LOG_LEVEL: 'silent' } }
    const outLines: string[] = []
    expect(await run(['restore', '--from', out, '--db', target], { ...io, out: (s) => outLines.push(s) })).toBe(0)
    expect(outLines.join('\n')).toContain('warning: no encryption key found')
    expect(statSync(target).mode & 0o777).toBe(0o600)
    expect(statSync(join(dir, 'elsewhere')).mode & 0o777).toBe(0o700)
  })

  test('refused while the database is open elsewhere (a server): nothing changes', async () => {
    const out = join(dir, 'b.db')
    await cli('backup', '--out', out)
    await cli('tokens', 'create', '--email', 'ada@example.com', '--name', 'live')
    const rt = await createRuntime(loadConfig({}, { dbPath: db }))
    try {
      const r = await cli('restore', '--from', out)
      expect(r.code).toBe(1)
      expect(r.err).toContain(`${db} is in use: stop the server`)
      expect(readdirSync(join(dir, 'data')).some((f) => f.includes('before-restore'))).toBe(false)
    } finally {
      rt.close()
    }
    expect(await tokenNames()).toEqual(['live'])
  })

  test('refuses a damaged file, a file that is not a teamday database, and the database itself', async () => {
    writeFileSync(join(dir, 'junk.db'), 'x'.repeat(4096))
    const junk = await cli('restore', '--from', join(dir, 'junk.db'))
    expect(junk.code).toBe(1)
    expect(junk.err).toContain('is not a SQLite database')
    const other = new Database(join(dir, 'other.db'), { create: true })
    other.exec('CREATE TABLE t (x)')
    other.close()
    const notOurs = await cli('restore', '--from', join(dir, 'other.db'))
    expect(notOurs.err).toContain('is not a teamday database')
    const missing = await cli('restore', '--from', join(dir, 'none.db'))
    expect(missing.code).toBe(1)
    expect(missing.err).toContain(`no database at ${join(dir, 'none.db')}`)
    const self = await cli('restore', '--from', db)
    expect(self.code).toBe(2)
    // B-tree pages overwritten (page size 4096, page 1 is the header): integrity_check finds it.
    const out = join(dir, 'b.db')
    await cli('backup', '--out', out)
    const damaged = join(dir, 'damaged.db')
    const bytes = new Uint8Array(await Bun.file(out).arrayBuffer())
    bytes.fill(0xff, 4096 * 2, 4096 * 8)
    writeFileSync(damaged, bytes)
    const d = await cli('restore', '--from', damaged)
    expect(d.code).toBe(1)
    expect(d.err).toStartWith(`error: ${damaged} failed its integrity check (`)
    expect(d.err).toEndWith('; nothing was changed')
    // At most three of SQLite's problems, one a line or several (a damaged page's come as one row of many lines).
    expect(d.err.split('\n').length).toBe(1)
    expect(d.err).not.toContain('*** in database')
    // A backup cut short (a full disk, an interrupted transfer): SQLite cannot walk it at all,
    // and said only "database disk image is malformed", naming neither file.
    const cut = join(dir, 'cut.db')
    writeFileSync(cut, bytes.subarray(0, Math.floor(bytes.length / 2)))
    const c = await cli('restore', '--from', cut)
    expect(c.code).toBe(1)
    expect(c.err).toBe(`error: ${cut} failed its integrity check (database disk image is malformed); nothing was changed`)
    expect(existsSync(join(dir, 'data')) && readdirSync(join(dir, 'data')).some((f) => f.includes('before-restore'))).toBe(false)
    expect(await tokenNames()).toEqual([])
  })

  test('refuses the database itself under another name (a symbolic or hard link) before opening it: no copy left, no second -wal/-shm', async () => {
    await cli('tokens', 'create', '--email', 'ada@example.com', '--name', 'live')
    for (const [kind, make] of [
      ['symbolic', (p: string) => symlinkSync(db, p)],
      ['hard', (p: string) => linkSync(db, p)],
    ] as const) {
      const alias = join(dir, `${kind}.db`)
      make(alias)
      const r = await cli('restore', '--from', alias)
      expect({ kind, code: r.code }).toEqual({ kind, code: 2 })
      expect(r.err).toContain(`--from must be a backup file, not the database itself (${alias} is ${db} under another name: a symbolic or hard link)`)
      expect(r.err).not.toContain('database is locked')
      expect(readdirSync(join(dir, 'data')).filter((f) => f.includes('before-restore'))).toEqual([])
      expect(readdirSync(dir).filter((f) => f.startsWith(`${kind}.db-`))).toEqual([])
      rmSync(alias)
    }
    expect(await tokenNames()).toEqual(['live'])
  })

  test('a copy that fails midway changes nothing and leaves no .before-restore copy behind; the message says so', async () => {
    await cli('tokens', 'create', '--email', 'ada@example.com', '--name', 'live')
    // Sound to integrity_check, refused by the copy's foreign key check (a membership of no organization).
    const out = join(dir, 'orphan.db')
    await cli('backup', '--out', out)
    const b = new Database(out)
    b.exec("INSERT INTO memberships (id, organization_id, user_id, role, created_at, updated_at) SELECT 'mem_orphan', 'org_missing', id, 'member', 0, 0 FROM users LIMIT 1")
    b.close()
    const r = await cli('restore', '--from', out)
    expect(r.code).toBe(1)
    expect(r.err).toContain(`cannot restore ${out} into ${db}: the backup has 1 foreign key violation(s); nothing was changed`)
    expect(readdirSync(join(dir, 'data')).filter((f) => f.includes('before-restore'))).toEqual([])
    expect(await tokenNames()).toEqual(['live'])
  })

  test('refuses a backup from a newer teamday, and one sealed under another key', async () => {
    const out = join(dir, 'b.db')
    await cli('backup', '--out', out)
    const newer = join(dir, 'newer.db')
    await cli('backup', '--out', newer)
    const n = new Database(newer)
    n.exec(`INSERT INTO __drizzle_migrations (hash, created_at) VALUES ('future', ${Date.now() + 86_400_000 * 365 * 10})`)
    n.close()
    const r = await cli('restore', '--from', newer)
    expect(r.code).toBe(1)
    expect(r.err).toContain('was made by a newer teamday')

    writeFileSync(join(dir, 'data', 'teamday.key'), Buffer.alloc(32, 9).toString('base64') + '\n')
    const k = await cli('restore', '--from', out)
    expect(k.code).toBe(1)
    expect(k.err).toContain(`the encryption key from ${join(dir, 'data', 'teamday.key')} does not open this backup`)
    expect(readdirSync(join(dir, 'data')).some((f) => f.includes('before-restore'))).toBe(false)
  })
})

/**
 * Each database has a random identity (src/db/settings.ts stampDatabaseId) that `serve
 * --reuse-port` compares before it shares a port (src/cli/admin/port-holder.ts). A backup, and
 * a database restored from one, are other databases: neither holds the original's identity (a
 * backup served on the original's port passed for it, and the kernel split the clients between
 * two sets of data); each gets its own at its first start, which every process on it then shares.
 */
describe('a copy is another database (serve --reuse-port)', () => {
  const identityIn = (path: string): string | undefined => {
    const d = new Database(path, { readonly: true })
    try {
      return d.query<{ value: string }, []>("SELECT value FROM settings WHERE key = 'database_id'").get()?.value
    } finally {
      d.close()
    }
  }

  /** The admin runtime of `path` served on 127.0.0.1 (the key file is the one beside `db`). */
  async function served(path: string) {
    const rt = await createRuntime(loadConfig({ TEAMDAY_KEY_FILE: join(dir, 'data', 'teamday.key') }, { dbPath: path }))
    const app = createApp(rt)
    const server = Bun.serve({ hostname: '127.0.0.1', port: 0, fetch: (req) => app.handle(req) })
    return {
      rt,
      port: server.port!,
      stop: async () => {
        await server.stop(true)
        await rt.close()
      },
    }
  }
  /** Whether a `--reuse-port` start on `path` would share the port of `holder`. */
  async function joins(path: string, holder: { port: number }): Promise<boolean> {
    const rt = await createRuntime(loadConfig({ TEAMDAY_KEY_FILE: join(dir, 'data', 'teamday.key') }, { dbPath: path }))
    try {
      expect(rt.databaseIdentity).not.toBeNull()
      await refuseAnotherDatabase('127.0.0.1', holder.port, { identity: rt.databaseIdentity!, probes: liveProbeStore(rt.db) }, 1)
      return true
    } catch (e) {
      expect((e as Error).message).toContain('is held by a teamday on another database')
      return false
    } finally {
      await rt.close()
    }
  }

  test("a backup leaves the original's identity behind (no trace of it in the file): served on the original's port it is refused", async () => {
    const original = identityIn(db)!
    expect(original).toMatch(/^[A-Za-z0-9_-]{43}$/)
    const out = join(dir, 'data', 'b.db')
    expect((await cli('backup', '--out', out)).code).toBe(0)
    expect(identityIn(out)).toBeUndefined()
    expect(Buffer.from(await Bun.file(out).arrayBuffer()).includes(original)).toBe(false)
    expect(readdirSync(join(dir, 'data')).filter((f) => f.startsWith('b.db'))).toEqual(['b.db'])
    const holder = await served(db)
    try {
      // Another process on the original: the same database.
      expect(await joins(db, holder)).toBe(true)
      // The backup, at its first start: a database of its own.
      expect(await joins(out, holder)).toBe(false)
      expect(identityIn(out)).not.toBe(original)
      expect(identityIn(db)).toBe(original)
    } finally {
      await holder.stop()
    }
  }, 60_000)

  test("a restore gives the database an identity of its own, also from a backup that still holds its original's (an older build's), over a database or onto a new machine", async () => {
    const original = identityIn(db)!
    const out = join(dir, 'data', 'old-style.db')
    expect((await cli('backup', '--out', out)).code).toBe(0)
    // As an older build wrote its backups: with the original's identity.
    const b = new Database(out)
    b.query("INSERT OR REPLACE INTO settings (key, value, updated_at) VALUES ('database_id', ?, 0)").run(original)
    b.close()
    // Another database, then restored over with that backup; and a new machine's.
    const other = join(dir, 'data', 'other.db')
    expect((await cliWith({ TEAMDAY_DB: other }, 'users', 'create', '--email', 'bo@example.com', '--org', 'acme', '--role', 'admin')).code).toBe(0)
    const otherBefore = identityIn(other)!
    expect((await cliWith({ TEAMDAY_DB: other }, 'restore', '--from', out)).code).toBe(0)
    const fresh = join(dir, 'data', 'new-machine.db')
    expect((await cliWith({ TEAMDAY_DB: fresh }, 'restore', '--from', out)).code).toBe(0)
    for (const restored of [other, fresh]) expect({ restored, id: identityIn(restored) }).toEqual({ restored, id: undefined })

    // The original still runs: neither restored database may join it.
    const holder = await served(db)
    try {
      expect(await joins(other, holder)).toBe(false)
      expect(await joins(fresh, holder)).toBe(false)
    } finally {
      await holder.stop()
    }
    const ids = [identityIn(other), identityIn(fresh)]
    expect(new Set([original, otherBefore, ...ids]).size).toBe(4)

    // The operator's restore of the database itself, nothing running: it serves again, and every
    // process started on it shares the port (they share its new identity).
    expect((await cli('restore', '--from', out)).code).toBe(0)
    const again = await served(db)
    try {
      expect(await joins(db, again)).toBe(true)
      expect(await joins(other, again)).toBe(false)
    } finally {
      await again.stop()
    }
    expect(identityIn(db)).not.toBe(original)
  }, 60_000)
})

describe('backup and restore carry every row', () => {
  test('every table, row by row, every column holding a value in some row (a column a copy left out would show)', async () => {
    const double = startProviderDouble()
    try {
      const key = new Uint8Array(Buffer.from(readFileSync(join(dir, 'data', 'teamday.key'), 'utf8').trim(), 'base64'))
      // maxHistoryChars 1: a continued session sends no earlier turn (historyTrimmed, everyColumnSet).
      const t = await makeTestApp({ dbPath: db, key, config: { openaiBaseUrl: double.openaiBaseUrl, defaultModel: 'test-model', maxHistoryChars: 1 } })
      try {
        const admin = await makeActor(t, { role: 'admin', org: 'rows' })
        const member = await makeActor(t, { role: 'member', org: 'rows' })
        await sensitiveWorkload(t, admin)
        const agent = await t.req('POST', '/api/v1/agents', { token: admin.token, body: { name: 'Helper', visibility: 'organization', tags: ['a'] } })
        const ran = await t.req('POST', `/api/v1/agents/${agent.body.id}/execute`, { token: admin.token, body: { message: 'hello' } })
        expect(ran.status).toBe(200)
        expect((await t.req('POST', '/api/v1/tasks', { token: member.token, body: { title: 'Once', metadata: { n: 1 }, dueDate: '2026-07-01T08:30:00.123Z', description: 'd' }, headers: { 'idempotency-key': 'once-1' } })).status).toBe(201)
        await everyColumnSet(t, { admin, member, helperAgentId: agent.body.id, session: ran.body.sessionId })
      } finally {
        await t.rt.close()
      }
      const tables = TABLE_NAMES.filter((n) => n !== 'rateLimitCounters') // kept in the server process on SQLite: always empty
      const source = await sqliteRows(db)
      expect(neverSet(source, tables)).toEqual([])
      // Neither a backup nor a restored database keeps the database's identity.
      const withoutIdentity = (rows: Record<string, unknown[]>) => ({ ...rows, settings: rows.settings!.filter((r: any) => r.key !== DATABASE_ID_SETTING) })
      const out = join(dir, 'b.db')
      expect((await cli('backup', '--out', out)).code).toBe(0)
      expect(await sqliteRows(out)).toEqual(withoutIdentity(source))

      expect((await cli('tokens', 'create', '--email', 'ada@example.com', '--name', 'after the backup')).code).toBe(0)
      expect(await sqliteRows(db)).not.toEqual(source)
      expect((await cli('restore', '--from', out)).code).toBe(0)
      expect(await sqliteRows(db)).toEqual(withoutIdentity(source))
    } finally {
      double.stop()
    }
  }, 60_000)
})
