/**
 * What `teamday serve` prints as it starts, in process (its signals an EventEmitter), on a new
 * database of the suite's backend: the first start's set-up, and on later starts the hint that
 * nobody can sign in to the console yet, which goes away once somebody has a password.
 */
import { afterAll, describe, expect, spyOn, test } from 'bun:test'
import { EventEmitter } from 'node:events'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import postgres from 'postgres'
import { AUTOVACUUM_OFF, firstStartText, serve } from '../src/cli/admin/serve'
import { COLLATION_NOT_C } from '../src/db/pg-collation'
import { OutputError, type ClientIo } from '../src/cli/common'
import { loadConfig } from '../src/config'
import { createLogger, type Logger } from '../src/logger'
import { auditEvents, oneTimeLinks, organizations, sessions, users } from '../src/db/schema'
import { newId } from '../src/ids'
import { createRuntime } from '../src/runtime'
import { createTestDatabase, ON_PG, urlFor } from './helpers/pg'
import { STARTUP_JIT_MS } from '../src/jit-policy'

const DAY = 86_400_000

const dir = mkdtempSync(join(tmpdir(), 'teamday-start-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const key = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64')
const HINT = 'Nobody has a console password yet'

/** One start and stop of `serve` on `db`: everything it printed. `meanwhile` runs before the stop. */
async function startAndStop(db: string, env: Record<string, string> = {}, meanwhile?: () => Promise<void>, log?: Logger, listen = { host: '127.0.0.1', port: '0' }): Promise<string> {
  const out: string[] = []
  const io: ClientIo = { out: (s) => void out.push(s), err: (s) => void out.push(s), env: { TEAMDAY_ENCRYPTION_KEY: key, TEAMDAY_LOG_LEVEL: 'silent', ...env } }
  const signals = new EventEmitter()
  const serving = serve({ values: { ...listen, db }, positionals: [], io }, signals as unknown as NodeJS.Process, log ? { log } : {})
  const deadline = Date.now() + 20_000
  // The hint, when there is one, is the last line before the server waits for a signal.
  while (!out.some((l) => l.startsWith('Console: ')) && Date.now() < deadline) await Bun.sleep(10)
  await Bun.sleep(50)
  try {
    await meanwhile?.()
  } finally {
    signals.emit('SIGTERM')
  }
  await serving
  return out.join('\n')
}

/** The first start's set-up link made past its hour, as if the start were over an hour ago. */
async function expireSetupLinks(db: string): Promise<void> {
  const rt = await createRuntime(loadConfig({ TEAMDAY_ENCRYPTION_KEY: key, TEAMDAY_LOG_LEVEL: 'silent' }, { dbPath: db }))
  try {
    await rt.db.update(oneTimeLinks).set({ expiresAt: new Date(Date.now() - 1000) }).run()
  } finally {
    await rt.close()
  }
}

const newDatabase = async (name: string) => (ON_PG ? urlFor(await createTestDatabase()) : join(dir, `${name}.db`))

describe('serve: what a start prints', () => {
  test('first start: a set-up link and no hint; later starts: the hint, until the admin has a password', async () => {
    const db = await newDatabase('link')
    const first = await startAndStop(db)
    expect(first).toContain('/setup/')
    expect(first).not.toContain(HINT)
    // The way without the link names the database the server was started on (run as written, it
    // went to ./data/teamday.db).
    expect(first).toContain(`Missed it? teamday users set-password --email admin@localhost --db ${db}\n`)
    // Where the tokens are made, as TeamDay's docs and the README's Quick start say it (it said
    // only "/settings/tokens", a path that redirects to that section).
    expect(first).toContain(' Then create a token on Settings → Profile → Personal Access Tokens (/settings/tokens),\n or headless: teamday tokens create --email E --name NAME')
    const second = await startAndStop(db)
    expect(second).not.toContain('/setup/')
    // Within the link's hour: where the link is (a second Compose replica, started once the first
    // had made the admin, said only "Nobody has a console password yet", though the README has it
    // point at the link), when it expires, and the way without it.
    const until = /valid until (\S+): /.exec(second)?.[1]
    expect(Date.parse(until!)).toBeGreaterThan(Date.now() + 3_500_000)
    expect(second).toContain(`The first start on this database printed a one-time set-up link for admin@localhost, admin of default, valid until ${until}: it is in that start's output. Missed it? teamday users set-password --email admin@localhost --db ${db}  (on this host).`)
    expect(second).not.toContain(HINT)
    // As the README's Compose paragraph quotes it for the replica that did not make the admin.
    const readme = readFileSync(join(import.meta.dir, '..', 'README.md'), 'utf8').replace(/\s+/g, ' ')
    expect(readme).toContain("`The first start on this database printed a one-time set-up link for admin@localhost, admin of default, valid until …: it is in that start's output`")
    // Once the link no longer works: how to set a password.
    await expireSetupLinks(db)
    const third = await startAndStop(db)
    expect(third).toContain(`${HINT}: set one with  teamday users set-password --email admin@localhost --db ${db}  `)
    expect(third).not.toContain('set-up link')
  }, 30_000)

  test("the README's Quick start shows the first start's text as it is printed, the link's secret and its expiry aside", () => {
    const readme = readFileSync(join(import.meta.dir, '..', 'README.md'), 'utf8')
    const shown = /## Quick start[\s\S]*?\n```\n( First start[\s\S]*?\n|=+\n[\s\S]*?\n)```\n/.exec(readme)![1]!
    const expiresAt = new Date(/ Expires: (\S+)\. /.exec(shown)![1]!)
    const printed = firstStartText({ kind: 'setup_link', email: 'admin@localhost', org: 'default', path: '/setup/3kQ…', expiresAt }, 'http://localhost:3000')
    // It showed the lines from "First start" to the link: not the rules around them, nor the
    // expiry, the way without the link and where tokens are made, which follow it.
    expect(shown).toBe(printed.replace(/^\n/, ''))
  })

  test('a first start with TEAMDAY_ADMIN_PASSWORD_FILE: the admin has a password, later starts print no hint and no longer read the file', async () => {
    const db = await newDatabase('password')
    const file = join(dir, 'admin-password')
    writeFileSync(file, 'a long enough password\n', { mode: 0o600 })
    const env = { TEAMDAY_ADMIN_EMAIL: 'ops@example.com', TEAMDAY_ADMIN_PASSWORD_FILE: file }
    const first = await startAndStop(db, env)
    expect(first).toContain('with the password from TEAMDAY_ADMIN_PASSWORD_FILE')
    expect(first).toContain(' Then create a token on Settings → Profile → Personal Access Tokens (/settings/tokens),')
    rmSync(file)
    const later = await startAndStop(db, env)
    expect(later).toContain('listening on')
    expect(later).not.toContain(HINT)
  }, 30_000)

  // Behind a proxy or in a container (deploy/compose.yaml) the address serve listens on is not the
  // browser's: the set-up link named the container's own port while CLI sign-in links said
  // TEAMDAY_PUBLIC_URL. Its trailing slash is not doubled.
  test('with TEAMDAY_PUBLIC_URL, the set-up link, "Sign in at" and "Console:" name it, not the address serve listens on', async () => {
    const env = { TEAMDAY_PUBLIC_URL: 'https://td.example.org/' }
    const link = await startAndStop(await newDatabase('public-link'), env)
    expect(link).toMatch(/^ {3}https:\/\/td\.example\.org\/setup\/[A-Za-z0-9_-]+$/m)
    expect(link).toContain('Console: https://td.example.org/login   API docs: https://td.example.org/swagger')
    expect(link).not.toMatch(/127\.0\.0\.1:\d+\/(setup|login)/)
    const file = join(dir, 'admin-password-public')
    writeFileSync(file, 'a long enough password\n', { mode: 0o600 })
    const withFile = await startAndStop(await newDatabase('public-password'), { ...env, TEAMDAY_PUBLIC_URL: 'https://td.example.org/teamday', TEAMDAY_ADMIN_PASSWORD_FILE: file })
    expect(withFile).toContain(' Sign in at https://td.example.org/teamday/login\n')
    expect(withFile).toContain(' Then create a token on Settings → Profile → Personal Access Tokens (/teamday/settings/tokens),\n')
    expect(withFile).toContain('Console: https://td.example.org/teamday/login   API docs: https://td.example.org/teamday/swagger')
    // Unset: the address it listens on, as before.
    expect(await startAndStop(await newDatabase('no-public-link'))).toMatch(/^ {3}http:\/\/127\.0\.0\.1:\d+\/setup\/[A-Za-z0-9_-]+$/m)
  }, 30_000)

  test('the first line is a URL and the links name localhost for every spelling of a wildcard, an IPv6 literal bracketed once', async () => {
    const cases = [
      ['[::]', '[::]', 'localhost'],
      ['::0', '[::0]', 'localhost'],
      ['0:0:0:0:0:0:0:0', '[0:0:0:0:0:0:0:0]', 'localhost'],
      ['::', '[::]', 'localhost'],
      ['0.0.0.0', '0.0.0.0', 'localhost'],
      ['::1', '[::1]', '[::1]'],
      ['[::1]', '[::1]', '[::1]'],
    ] as const
    for (const [i, [host, listened, shown]] of cases.entries()) {
      // Port 0: the system's choice, read back from the first line (a fixed port on a wildcard could
      // meet another run's server on a shared machine).
      const out = await startAndStop(await newDatabase(`host-${i}`), {}, undefined, undefined, { host, port: '0' })
      expect(out.split('\n')[0]).toStartWith(`teamday `)
      const port = new URL(/listening on (\S+)/.exec(out)![1]!).port
      expect(Number(port)).toBeGreaterThan(0)
      expect(out.split('\n')[0]).toContain(` listening on http://${listened}:${port}  (`)
      expect(out).toContain(`Console: http://${shown}:${port}/login   API docs: http://${shown}:${port}/swagger`)
      expect(out).toMatch(new RegExp(`^ {3}http://${shown.replace(/[[\]]/g, '\\$&')}:${port}/setup/[A-Za-z0-9_-]+$`, 'm'))
    }
  }, 60_000)

  test('a first start refused by its admin settings names the setting (a bare ENOENT or "a password must be 12-256 characters" did not)', async () => {
    const short = join(dir, 'short-password')
    writeFileSync(short, 'short\n', { mode: 0o600 })
    const cases: [Record<string, string>, string][] = [
      [{ TEAMDAY_ADMIN_PASSWORD_FILE: join(dir, 'no-such-file') }, 'TEAMDAY_ADMIN_PASSWORD_FILE: cannot read'],
      [{ TEAMDAY_ADMIN_PASSWORD_FILE: short }, 'TEAMDAY_ADMIN_PASSWORD_FILE: a password must be'],
      [{ TEAMDAY_ADMIN_EMAIL: 'notanemail' }, 'TEAMDAY_ADMIN_EMAIL: "notanemail" is not a valid e-mail address'],
      [{ TEAMDAY_ADMIN_EMAIL: '<password@example.com>' }, 'TEAMDAY_ADMIN_EMAIL: "<password@example.com>" is not a valid e-mail address'],
    ]
    for (const [i, [env, says]] of cases.entries()) {
      const db = await newDatabase(`refused-${i}`)
      const io: ClientIo = { out: () => {}, err: () => {}, env: { TEAMDAY_ENCRYPTION_KEY: key, TEAMDAY_LOG_LEVEL: 'silent', ...env } }
      await expect(serve({ values: { host: '127.0.0.1', port: '0', db }, positionals: [], io }, new EventEmitter() as unknown as NodeJS.Process)).rejects.toThrow(says)
    }
  }, 30_000)

  test("on PostgreSQL with autovacuum off, a start says so (dead rows would pile up in the tables written all the time, the planner's statistics would never be refreshed); never on SQLite", async () => {
    const db = await newDatabase('autovacuum')
    let off = false
    if (ON_PG) {
      const sql = postgres(db, { max: 1, onnotice: () => {} })
      try {
        off = (await sql`SELECT current_setting('autovacuum') AS v`)[0]!.v === 'off'
      } finally {
        await sql.end({ timeout: 5 })
      }
    }
    const logged: string[] = []
    const printed = await startAndStop(db, {}, undefined, createLogger('warn', (l) => void logged.push(l), Date.now, { format: 'json' }))
    expect(printed).toContain('listening on')
    expect(logged.map((l) => JSON.parse(l)).filter((l) => l.msg === 'autovacuum_off')).toEqual(off ? [expect.objectContaining({ level: 'warn', note: AUTOVACUUM_OFF })] : [])
    expect(printed).not.toContain('autovacuum is off')
    // It names what bloats without it, not only the planner's statistics.
    for (const words of ['dead rows', 'rate_limit_counters', 'idempotency_keys', 'executions', 'VACUUM']) expect(AUTOVACUUM_OFF).toContain(words)
  }, 30_000)

  // On a database not collated C, the large pages the API streams in batches miss or repeat rows
  // whose creation times tie (test/lists-large-page.test.ts on such a database): nothing said so.
  test('on PostgreSQL collated other than C (ICU en-US), a start says so in the log; not on a C database, never on SQLite', async () => {
    const starts: [string, boolean][] = ON_PG ? [[urlFor(await createTestDatabase({ icuLocale: 'en-US' })), true], [await newDatabase('collation'), false]] : [[await newDatabase('collation'), false]]
    for (const [db, warned] of starts) {
      const logged: string[] = []
      const printed = await startAndStop(db, {}, undefined, createLogger('warn', (l) => void logged.push(l), Date.now, { format: 'json' }))
      expect(printed).toContain('listening on')
      const said = logged.map((l) => JSON.parse(l)).filter((l) => l.msg === 'collation_not_c')
      expect(said).toEqual(warned ? [expect.objectContaining({ level: 'warn', collation: 'ICU en-US', note: COLLATION_NOT_C })] : [])
    }
    expect(COLLATION_NOT_C).toContain('createdb --locale=C.UTF-8')
  }, 60_000)

  // It was a plain-text "warning: …" line on stderr, in the middle of a JSON log.
  test('a statement timeout longer than a request may wait: a warning in the log, as a line of its format, not a plain-text line', async () => {
    const db = await newDatabase('long-timeout')
    const logged: string[] = []
    const printed = await startAndStop(db, { TEAMDAY_DB_STATEMENT_TIMEOUT_MS: '300000' }, undefined, createLogger('warn', (l) => void logged.push(l), Date.now, { format: 'json' }))
    expect(printed).toContain('listening on')
    expect(printed).not.toContain('warning')
    const warned = logged.map((l) => JSON.parse(l)).filter((l) => l.msg === 'statement_timeout_too_long')
    expect(warned).toEqual([expect.objectContaining({ level: 'warn', timeoutMs: 300000, note: expect.stringContaining('Keep it at 120000 or less') })])
  }, 30_000)

  test("the README's server_started line (Logs) has a later start's fields, in their order, and a commit as the build stamps it", async () => {
    const db = await newDatabase('started-line')
    await startAndStop(db)
    const logged: string[] = []
    await startAndStop(db, {}, undefined, createLogger('info', (l) => void logged.push(l), Date.now, { format: 'json' }))
    const line = logged.map((l) => JSON.parse(l)).find((l) => l.msg === 'server_started')
    expect(line.migrationsApplied).toBe(0)
    const readme = readFileSync(join(import.meta.dir, '..', 'README.md'), 'utf8')
    const example = JSON.parse(/^(\{"time":[^\n]*"msg":"server_started"[^\n]*\})$/m.exec(readme)![1]!)
    // On PostgreSQL the line also names its pool (the README says so beside the example).
    expect(Object.keys(example)).toEqual(Object.keys(line).filter((k) => k !== 'dbPool'))
    // 12 hex digits, as `npm run build` stamps (scripts/build.ts) and `teamday --version` shows: the example had 7.
    expect(example.commit).toMatch(/^[0-9a-f]{12}$/)
  }, 30_000)

  test('a start runs the housekeeping: ended console sessions, and audit events past TEAMDAY_AUDIT_RETENTION_DAYS, are deleted', async () => {
    const db = await newDatabase('housekeeping')
    const env = { TEAMDAY_AUDIT_RETENTION_DAYS: '30' }
    await startAndStop(db, env)
    // What a server running for months leaves behind (by the real clock: serve's).
    const open = () => createRuntime(loadConfig({ TEAMDAY_ENCRYPTION_KEY: key, TEAMDAY_LOG_LEVEL: 'silent' }, { dbPath: db }))
    const seed = await open()
    const now = Date.now()
    const [admin] = await seed.db.select().from(users).all()
    const [org] = await seed.db.select().from(organizations).all()
    await seed.db.insert(sessions).values({ id: newId('ses'), secretHash: 'x'.repeat(64), userId: admin!.id, organizationId: org!.id, createdAt: new Date(now - 10 * DAY), lastSeenAt: new Date(now - 8 * DAY), expiresAt: new Date(now - 3 * DAY) }).run()
    await seed.db.insert(auditEvents).values([
      { id: newId('evt'), organizationId: org!.id, type: 'token.created', source: 'cli', createdAt: new Date(now - 400 * DAY) },
      { id: newId('evt'), organizationId: org!.id, type: 'token.revoked', source: 'cli', createdAt: new Date(now - DAY) },
    ]).run()
    await seed.close()
    const left = async () => {
      const rt = await open()
      try {
        return { sessions: (await rt.db.select().from(sessions).all()).length, audit: (await rt.db.select().from(auditEvents).all()).map((e) => e.type) }
      } finally {
        await rt.close()
      }
    }
    expect((await left()).sessions).toBe(1)
    let seen = await left()
    await startAndStop(db, env, async () => {
      const until = Date.now() + 10_000
      while ((seen.sessions > 0 || seen.audit.includes('token.created')) && Date.now() < until) {
        await Bun.sleep(100)
        seen = await left()
      }
    })
    expect(seen.sessions).toBe(0)
    expect(seen.audit).toContain('token.revoked')
    expect(seen.audit).not.toContain('token.created')
  }, 40_000)

  test("a start sets JavaScriptCore's normal JIT policy back once started (the binary starts with a higher one: src/jit-policy.ts), not before it listens", async () => {
    const db = await newDatabase('jit')
    const set = spyOn(Bun.unsafe, 'setJITPolicy')
    try {
      let atStart: unknown[][] = []
      await startAndStop(db, {}, async () => {
        atStart = [...set.mock.calls]
        // STARTUP_JIT_MS after it listens (set a moment after the line above): waited for, as a
        // fixed pause can pass first on a loaded machine.
        for (const end = Date.now() + STARTUP_JIT_MS + 10_000; set.mock.calls.length === 0 && Date.now() < end; ) await Bun.sleep(50)
      })
      expect(atStart).toEqual([])
      expect(set.mock.calls).toEqual([[1]])
    } finally {
      set.mockRestore()
    }
  }, 30_000)
  // `teamday serve | head -1`: the reader took the first line and left; the next line's write
  // threw EPIPE out of serve, and the process exited 0 in the middle of serving, without a stop.
  test('stdout whose reader is gone after the first line (EPIPE): the server goes on serving, says so once in the log, never logs the set-up link', async () => {
    const db = await newDatabase('epipe')
    const printed: string[] = []
    let refused = 0
    const io: ClientIo = {
      out: (s) => {
        if (printed.length > 0) {
          refused++
          throw new OutputError(Object.assign(new Error('broken pipe'), { code: 'EPIPE' }))
        }
        printed.push(s)
      },
      err: () => {},
      env: { TEAMDAY_ENCRYPTION_KEY: key },
    }
    const logged: string[] = []
    const signals = new EventEmitter()
    const serving = serve({ values: { host: '127.0.0.1', port: '0', db }, positionals: [], io }, signals as unknown as NodeJS.Process, { log: createLogger('info', (l) => void logged.push(l), Date.now, { format: 'json' }) })
    let failed: unknown = null
    serving.catch((e) => (failed = e))
    const started = () => logged.some((l) => l.includes('"msg":"server_started"'))
    for (const end = Date.now() + 20_000; !started() && failed === null && Date.now() < end; ) await Bun.sleep(10)
    await Bun.sleep(100)
    expect(failed).toBeNull()
    const port = /:(\d+) /.exec(printed[0]!)![1]
    const health = await fetch(`http://127.0.0.1:${port}/api/health`)
    expect(health.status).toBe(200)
    signals.emit('SIGTERM')
    await serving
    const warned = logged.map((l) => JSON.parse(l)).filter((l) => l.msg === 'stdout_unwritable')
    expect(warned).toEqual([expect.objectContaining({ level: 'warn', code: 'EPIPE', note: expect.stringContaining('goes on serving') })])
    // Written no more once it failed, the stop's line included.
    expect(refused).toBe(1)
    expect(logged.join('\n')).not.toContain('/setup/')
    expect(logged.some((l) => l.includes('"msg":"stopped"'))).toBe(true)
  }, 30_000)
})
