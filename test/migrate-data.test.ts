/**
 * `teamday migrate-data --from FILE --to postgres://…`: a SQLite database built through the API
 * (users, an organization, members, tokens of every state, agents, spaces, tasks, sealed
 * organization and space secrets, an execution and its log, audit events, an Idempotency-Key;
 * every column of every copied table given a value in some row, test/helpers/every-column.ts, so
 * that a column the copy leaves out fails the comparison) is copied into a fresh PostgreSQL database; every copied table then holds the same rows,
 * compared row by row through drizzle's row types; the server started on PostgreSQL with the same
 * key accepts the old tokens, lists the same objects and opens the secrets. Refusals: a target
 * that holds rows, a missing or foreign --from, an unmigrated file, the wrong key; a failed
 * --replace leaves the target as it was. Needs PostgreSQL (skipped with one line where none answers).
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { Database } from 'bun:sqlite'
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { asc } from 'drizzle-orm'
import { getTableConfig as pgConfig, type PgTable } from 'drizzle-orm/pg-core'
import { drizzle as pgDrizzle } from 'drizzle-orm/postgres-js'
import postgres from 'postgres'
import type { Io } from '../src/cli/common'
import { openDatabase } from '../src/db/client'
import { BATCH_BYTES, TABLE_PLAN, copyOrder, copySqliteToPostgres, openSqliteSource, type TableName } from '../src/db/migrate-data'
import { openPostgres, PgConnection } from '../src/db/pg'
import { runMigrations } from '../src/db/migrate'
import { TABLE_NAMES } from '../src/db/schema'
import * as pgSchema from '../src/db/schema/pg'
import { run } from '../src/main'
import { resolveSecrets } from '../src/modules/spaces/secrets'
import { makeActor, makeTestApp, type Actor, type TestApp } from './helpers/app'
import { plaintexts, SENSITIVE, sensitiveWorkload, type Workload } from './helpers/at-rest'
import { everyColumnSet, neverSet, sqliteRows, stored } from './helpers/every-column'
import { createTestDatabase, needPostgres, urlFor } from './helpers/pg'
import { startProviderDouble, type ProviderDouble } from './helpers/providers'

const HAVE_PG = await needPostgres('test/migrate-data.test.ts')
const PG_DUMP = ['/usr/bin/pg_dump', '/usr/lib/postgresql/15/bin/pg_dump'].find((p) => existsSync(p))

const dir = mkdtempSync(join(tmpdir(), 'teamday-migrate-data-'))
const dbFile = join(dir, 'teamday.db')
const key = crypto.getRandomValues(new Uint8Array(32))
const keyB64 = Buffer.from(key).toString('base64')
const env = { TEAMDAY_LOG_LEVEL: 'silent' }

async function cli(argv: string[], extraEnv: Record<string, string> = {}) {
  const out: string[] = []
  const err: string[] = []
  const io: Io = { out: (s) => out.push(s), err: (s) => err.push(s), env: { ...env, ...extraEnv } }
  const code = await run(argv, io)
  return { code, out: out.join('\n'), err: err.join('\n') }
}

async function pgRows(url: string): Promise<Record<string, unknown[]>> {
  const client = postgres(url, { max: 1, onnotice: () => {} })
  try {
    const db = pgDrizzle({ client, schema: pgSchema })
    const all: Record<string, unknown[]> = {}
    for (const n of TABLE_NAMES) {
      const t = pgSchema[n] as PgTable
      const pk = pgConfig(t).columns.find((c) => c.primary)!
      all[n] = stored(await db.select().from(t).orderBy(asc(pk)), t)
    }
    return all
  } finally {
    await client.end({ timeout: 1 })
  }
}

/** What a copy must hold: the source's rows in every copied table (but those it leaves behind), nothing in a skipped one. */
function expected(source: Record<string, unknown[]>): Record<string, unknown[]> {
  return Object.fromEntries(
    TABLE_NAMES.map((n) => {
      const plan = TABLE_PLAN[n]
      return [n, 'skip' in plan ? [] : source[n]!.filter((row: any) => !plan.exceptKeys?.includes(row.key))]
    }),
  )
}

/** A SQLite database of 40 executions of a 1 MiB message (a log sent with --message-file) and one of 9 MB. */
const ONE_MIB = 'é ✓'.repeat(1 << 18)
function largeSource(name: string): string {
  const file = join(dir, name)
  const conn = openDatabase(file)
  runMigrations(conn)
  const now = Date.now()
  conn.client.exec(`INSERT INTO organizations (id, slug, name, created_at) VALUES ('org_l', 'large', 'Large', ${now})`)
  conn.client.exec(`INSERT INTO users (id, email, created_at) VALUES ('usr_l', 'l@example.com', ${now})`)
  const insert = conn.client.prepare(
    `INSERT INTO executions (id, organization_id, user_id, agent_name, agent_visibility, chat_id, session_id, status, message, created_at, updated_at, seq) VALUES (?, 'org_l', 'usr_l', 'a', 'private', 'c', 's', 'completed', ?, ?, ?, ?)`,
  )
  for (let i = 0; i < 40; i++) insert.run(`exe_${String(i).padStart(3, '0')}`, `${i} ${ONE_MIB}`, now + i, now + i, i + 1)
  insert.run('exe_big', 'x'.repeat(9 << 20), now, now, 41)
  insert.finalize()
  conn.close()
  return file
}

describe.skipIf(!HAVE_PG)('teamday migrate-data (SQLite to PostgreSQL)', () => {
  let double: ProviderDouble
  let admin: Actor
  let member: Actor
  let work: Workload
  let before: { agents: any; tasks: any; tokens: any; execution: any; logs: any; audit: any; members: any }
  let source: Record<string, unknown[]>
  let url = ''
  const apps: TestApp[] = []

  beforeAll(async () => {
    double = startProviderDouble()
    // The key file beside the database, as `teamday serve` makes it; the test app seals with the same key.
    writeFileSync(join(dir, 'teamday.key'), keyB64 + '\n', { mode: 0o600 })
    // maxHistoryChars 1: a continued session sends no earlier turn (historyTrimmed, everyColumnSet).
    const t = await makeTestApp({ dbPath: dbFile, key, config: { openaiBaseUrl: double.openaiBaseUrl, defaultModel: 'test-model', maxHistoryChars: 1 } })
    admin = await makeActor(t, { role: 'admin', org: 'acme' })
    member = await makeActor(t, { role: 'member', org: 'acme' })
    await makeActor(t, { role: 'viewer', org: 'other' })
    work = await sensitiveWorkload(t, admin)
    const ok = async (method: string, path: string, token: string, body?: unknown, headers?: Record<string, string>) => {
      const r = await t.req(method, path, { token, body, headers })
      if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${r.text}`)
      return r.body
    }
    const agent = await ok('POST', '/api/v1/agents', admin.token, { name: 'Researcher', systemPrompt: 'Be brief.', visibility: 'organization', tags: ['a', 'b'] })
    const archived = await ok('POST', '/api/v1/agents', member.token, { name: 'Private helper 🎉', description: 'tab\there, newline\nthere, back\\slash, "quotes"' })
    await ok('DELETE', `/api/v1/agents/${archived.id}`, member.token) // archived: a true boolean and a timestamp
    // Text and JSON that a hand-made copy would mangle: escapes, quotes, non-ASCII, nesting, nulls.
    await ok('POST', '/api/v1/tasks', admin.token, { title: 'Ünïcödé ✓ \\N', description: 'line 1\r\nline 2\t\\', dueDate: '2026-07-01T08:30:00.123Z', metadata: { s: 'a\\b "q" \u00e9 😀', n: null, list: [1, 2.5, true, { deep: ['x'] }], empty: {} } })
    await ok('POST', '/api/v1/tasks', member.token, { title: 'Write the report', priority: 'high', metadata: { n: 1, nested: { ok: true } }, spaceId: work.spaceId }, { 'idempotency-key': 'report-1' })
    await ok('POST', '/api/v1/tasks', admin.token, { title: 'Second' })
    const ran = await ok('POST', `/api/v1/agents/${agent.id}/execute`, admin.token, { message: 'hello', spaceId: work.spaceId })
    await everyColumnSet(t, { admin, member, helperAgentId: agent.id, session: ran.sessionId })
    before = {
      agents: await ok('GET', '/api/v1/agents', admin.token),
      tasks: await ok('GET', '/api/v1/tasks', member.token),
      tokens: await ok('GET', '/api/v1/tokens', admin.token),
      execution: await ok('GET', `/api/v1/executions/${ran.executionId}`, admin.token),
      logs: await ok('GET', `/api/v1/executions/${ran.executionId}/logs`, admin.token),
      audit: await ok('GET', '/api/v1/audit-events?limit=100', admin.token),
      members: await ok('GET', `/api/v1/organizations/${admin.organizationId}/members`, admin.token),
    }
    t.db.$client.exec('PRAGMA wal_checkpoint(TRUNCATE)')
    await t.rt.close()
    source = await sqliteRows(dbFile)
    url = urlFor(await createTestDatabase())
  }, 60_000)

  afterAll(async () => {
    for (const a of apps) await a.rt.close().catch(() => {})
    double?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  test('every table is decided, and parents come before children', () => {
    expect(Object.keys(TABLE_PLAN).sort()).toEqual([...TABLE_NAMES].sort())
    const order = copyOrder()
    expect([...order].sort()).toEqual([...TABLE_NAMES].sort())
    for (const n of order) {
      for (const fk of pgConfig(pgSchema[n] as PgTable).foreignKeys) {
        const parent = TABLE_NAMES.find((p) => pgSchema[p] === fk.reference().foreignTable) as TableName
        if (parent !== n) expect({ child: n, parentFirst: order.indexOf(parent) < order.indexOf(n) }).toEqual({ child: n, parentFirst: true })
      }
    }
  })

  test('copies every row; the server on PostgreSQL with the same key accepts the old tokens and opens the secrets', async () => {
    // The source holds something in the tables that matter (else equality proves little).
    for (const n of ['organizations', 'users', 'memberships', 'personalAccessTokens', 'agents', 'spaces', 'secrets', 'tasks', 'auditEvents', 'idempotencyKeys', 'settings', 'executions', 'executionLogs'] as const) {
      expect({ table: n, rows: source[n]!.length > 0 }).toEqual({ table: n, rows: true })
    }
    expect(source.agents!.some((a: any) => a.archived === true && a.archivedAt instanceof Date)).toBe(true)
    // Every stored column of every copied table holds a value in some source row: a column the
    // copy left out (null in the target) then fails the row-by-row comparison below.
    expect(neverSet(source, TABLE_NAMES.filter((n) => !('skip' in TABLE_PLAN[n])))).toEqual([])
    expect(source.tasks!.some((t: any) => t.dueDate instanceof Date && t.metadata.list?.[3]?.deep?.[0] === 'x')).toBe(true)
    const r = await cli(['migrate-data', '--from', dbFile, '--to', url])
    expect(r.err).not.toContain('error')
    expect(r.code).toBe(0)
    expect(r.err).toContain(`copying ${dbFile} (read-only)`)
    expect(r.out).toMatch(new RegExp(`^personal_access_tokens\\s+${source.personalAccessTokens!.length}$`, 'm'))
    expect(r.out).toMatch(new RegExp(`^audit_events\\s+${source.auditEvents!.length}$`, 'm'))
    expect(r.out).toMatch(/^rate_limit_counters\s+skipped$/m)
    expect(r.out).toContain('equals')
    // The key step names the key file beside the SQLite database, never the key.
    expect(r.out).toContain(`TEAMDAY_ENCRYPTION_KEY="$(cat ${join(dir, 'teamday.key')})"`)
    for (const secret of [...plaintexts(work), keyB64, admin.token, member.token]) expect(r.out + r.err).not.toContain(secret)

    // Row by row, through both dialects' row types (timestamps, JSON, booleans round-trip).
    expect(await pgRows(url)).toEqual(expected(source))
    // But for the database's identity: the copy is another database (serve --reuse-port).
    expect(source.settings!.map((r: any) => r.key)).toContain('database_id')
    expect((await pgRows(url)).settings!.map((r: any) => r.key)).not.toContain('database_id')
    // The copied tables are vacuumed and analyzed at once: the planner knows how big each
    // organization is, and index-only scans need not read the table.
    const stats = postgres(url, { max: 1, onnotice: () => {} })
    try {
      const analyzed = await stats<{ relname: string }[]>`SELECT relname FROM pg_stat_user_tables WHERE last_analyze IS NOT NULL AND last_vacuum IS NOT NULL`
      expect(analyzed.map((r) => r.relname)).toEqual(expect.arrayContaining(['tasks', 'agents', 'personal_access_tokens', 'audit_events']))
    } finally {
      await stats.end({ timeout: 5 })
    }

    const p = await makeTestApp({ dbPath: url, key, config: { openaiBaseUrl: double.openaiBaseUrl, defaultModel: 'test-model' } })
    apps.push(p)
    expect(p.backend).toBe('pg')
    const ids = (await pgRows(url)).settings!.filter((r: any) => r.key === 'database_id').map((r: any) => r.value)
    expect(ids).toHaveLength(1)
    expect(ids[0]).not.toBe((source.settings!.find((r: any) => r.key === 'database_id') as any).value)
    const get = async (path: string, token: string) => {
      const res = await p.req('GET', path, { token })
      expect({ path, status: res.status }).toEqual({ path, status: 200 })
      return res.body
    }
    expect(await get('/api/v1/agents', admin.token)).toEqual(before.agents)
    expect(await get('/api/v1/tasks', member.token)).toEqual(before.tasks)
    // Token names and last-used addresses are sealed: listing them opens them with the copied key check's key.
    const tokens = await get('/api/v1/tokens', admin.token)
    expect(tokens).toEqual(before.tokens)
    expect(JSON.stringify(tokens)).toContain(SENSITIVE.tokenNames[0]!)
    expect(await get(`/api/v1/executions/${before.execution.execution.id}`, admin.token)).toEqual(before.execution)
    expect(await get(`/api/v1/executions/${before.execution.execution.id}/logs`, admin.token)).toEqual(before.logs)
    expect(await get('/api/v1/audit-events?limit=100', admin.token)).toEqual(before.audit)
    expect(await get(`/api/v1/organizations/${admin.organizationId}/members`, admin.token)).toEqual(before.members)
    // The secrets open (what an execution gets as its environment).
    expect(await resolveSecrets(p.ctx, admin.organizationId, work.spaceId)).toEqual({ ORG_ONE: SENSITIVE.orgSecret, SPACE_ONE: SENSITIVE.spaceSecret })
    // The agents trigger, off while the rows were copied, is on again: a new agent shows in the
    // list just served from the cache (the organization's agents version moved with it).
    const added = await p.req('POST', '/api/v1/agents', { token: admin.token, body: { name: 'After the copy' } })
    expect(added.status).toBe(201)
    expect((await get('/api/v1/agents', admin.token)).agents.map((a: any) => a.name)).toContain('After the copy')
    // A token revoked on SQLite (the leak report) stays revoked.
    expect((await p.req('GET', '/api/v1/agents', { token: work.tokens.at(-1)! })).status).toBe(401)
    // The Idempotency-Key replays on PostgreSQL instead of creating the task again.
    const again = await p.req('POST', '/api/v1/tasks', { token: member.token, body: { title: 'Write the report', priority: 'high', metadata: { n: 1, nested: { ok: true } }, spaceId: work.spaceId }, headers: { 'idempotency-key': 'report-1' } })
    expect(again.status).toBe(201)
    expect(again.headers.get('idempotency-status')).toBe('replayed')
    // New rows after the copy: ids generated by PostgreSQL (execution_logs) follow the copied ones.
    const agentId = before.execution.execution.agentId
    const ran = await p.req('POST', `/api/v1/agents/${agentId}/execute`, { token: admin.token, body: { message: 'after the move' } })
    expect(ran.status).toBe(200)
    const logs = await get(`/api/v1/executions/${ran.body.executionId}/logs`, admin.token)
    expect(logs.logs.length).toBeGreaterThan(0)
  }, 60_000)

  test('the plaintext tokens and secrets are nowhere in a pg_dump of the target', async () => {
    if (!PG_DUMP) return // checked where pg_dump is installed (CI has it)
    const dump = Bun.spawnSync([PG_DUMP, '--no-owner', url], { stdout: 'pipe', stderr: 'pipe' })
    expect(dump.exitCode).toBe(0)
    const text = dump.stdout.toString()
    // The dump holds the copy (ids, token hashes, sealed values) ...
    expect(text).toContain(admin.tokenId)
    expect(text).toContain((source.secrets![0] as { valueEnc: string }).valueEnc)
    // ... and none of what was sealed or hashed.
    for (const v of [...plaintexts(work), admin.token, member.token, keyB64]) {
      for (const piece of [v, v.slice(0, 16), v.startsWith('td_') ? v.slice(3) : v.slice(-16)]) expect({ v, found: text.includes(piece) }).toEqual({ v, found: false })
    }
  }, 30_000)

  test('a target that holds rows is refused and left as it is', async () => {
    const now = await pgRows(url)
    const r = await cli(['migrate-data', '--from', dbFile, '--to', url])
    expect(r.code).toBe(1)
    expect(r.err).toContain('already holds data')
    expect(r.err).toContain('nothing was copied')
    expect(r.err).toContain('--replace')
    expect(await pgRows(url)).toEqual(now)
  }, 30_000)

  test('--replace: a failing copy changes nothing; a sound one replaces the target', async () => {
    for (const a of apps.splice(0)) await a.rt.close()
    const now = await pgRows(url)
    expect(now).not.toEqual(expected(source)) // the PostgreSQL server wrote an execution after the copy
    // A source whose rows PostgreSQL refuses (a membership of an organization that does not exist).
    const broken = join(dir, 'broken.db')
    const db = new Database(dbFile, { readonly: true })
    db.query('VACUUM INTO ?').run(broken)
    db.close()
    const b = new Database(broken)
    b.exec('PRAGMA foreign_keys = OFF')
    b.query("INSERT INTO memberships (id, organization_id, user_id, role, created_at, updated_at) VALUES ('mem_orphan', 'org_missing', ?, 'member', 0, 0)").run(admin.userId)
    b.close()
    const failed = await cli(['migrate-data', '--from', broken, '--to', url, '--replace'])
    expect(failed.code).toBe(1)
    expect(failed.err).toContain("memberships: PostgreSQL refused a row of the source: insert or update on table \"memberships\" violates foreign key constraint")
    expect(failed.err).toContain("nothing was changed")
    expect(failed.err).not.toContain("params")
    expect(await pgRows(url)).toEqual(now)

    const r = await cli(['migrate-data', '--from', dbFile, '--to', url, '--replace'])
    expect(r.err).not.toContain('error')
    expect(r.code).toBe(0)
    expect(r.out).toMatch(/--replace: \d+ rows it held before were deleted/)
    expect(await pgRows(url)).toEqual(expected(source))
  }, 60_000)

  test('--replace refuses while another session is connected to the target (a running instance), naming how many; --force goes ahead', async () => {
    const target = urlFor(await createTestDatabase())
    expect((await cli(['migrate-data', '--from', dbFile, '--to', target])).code).toBe(0)
    const copied = await pgRows(target)
    // An idle instance holds no lock between its transactions: only pg_stat_activity shows it.
    const instance = postgres(target, { max: 1, onnotice: () => {}, connection: { application_name: 'teamday' } })
    try {
      await instance`SELECT 1`
      const refused = await cli(['migrate-data', '--from', dbFile, '--to', target, '--replace'])
      expect(refused.code).toBe(1)
      expect(refused.err).toContain('the target is in use: 1 other session is connected to its database (by application name: teamday: 1)')
      expect(refused.err).toContain('stop every teamday instance on it')
      expect(refused.err).toContain('--force')
      expect(refused.err).toContain('nothing was changed')
      expect(await pgRows(target)).toEqual(copied)

      const alone = await cli(['migrate-data', '--from', dbFile, '--to', target, '--force'])
      expect(alone.code).toBe(2)
      expect(alone.err).toContain('--force goes with --replace only')

      const forced = await cli(['migrate-data', '--from', dbFile, '--to', target, '--replace', '--force'])
      expect(forced.err).not.toContain('error')
      expect(forced.code).toBe(0)
      expect(forced.out).toMatch(/--replace: \d+ rows it held before were deleted/)
    } finally {
      await instance.end({ timeout: 5 })
    }
    // Once it is gone, --replace alone goes ahead.
    const r = await cli(['migrate-data', '--from', dbFile, '--to', target, '--replace'])
    expect(r.err).not.toContain('error')
    expect(r.code).toBe(0)
    expect(await pgRows(target)).toEqual(expected(source))
  }, 60_000)

  test('refusals: a missing --from, a file that is not there or not teamday\'s, an unmigrated file, the wrong key, a --to that is not PostgreSQL', async () => {
    const missingFrom = await cli(['migrate-data', '--to', url])
    expect(missingFrom.code).toBe(2)
    expect(missingFrom.err).toContain('missing required option --from')

    const absent = join(dir, 'absent', 'nothing.db')
    const r1 = await cli(['migrate-data', '--from', absent, '--to', url])
    expect(r1.code).toBe(1)
    expect(r1.err).toContain(`no SQLite database at ${absent}`)
    expect(existsSync(join(dir, 'absent'))).toBe(false) // never created

    const foreign = join(dir, 'foreign.db')
    new Database(foreign).exec('CREATE TABLE notes (id INTEGER PRIMARY KEY)')
    const r2 = await cli(['migrate-data', '--from', foreign, '--to', url])
    expect(r2.code).toBe(1)
    expect(r2.err).toContain('is not a teamday database')

    const text = join(dir, 'text.db')
    writeFileSync(text, 'this is not a database, just some words in a file that is long enough to have a header\n'.repeat(20))
    const r3 = await cli(['migrate-data', '--from', text, '--to', url])
    expect(r3.code).toBe(1)
    expect(r3.err).toContain('is not a SQLite database')

    // A copy of the database cut short (a full disk): SQLite's bare "database disk image is malformed" named no file.
    const cut = join(dir, 'cut.db')
    const whole = new Uint8Array(await Bun.file(dbFile).arrayBuffer())
    writeFileSync(cut, whole.subarray(0, Math.floor(whole.length / 2)))
    const rc = await cli(['migrate-data', '--from', cut, '--to', url])
    expect(rc.code).toBe(1)
    expect(rc.err).toContain(`error: ${cut} failed its integrity check (database disk image is malformed); nothing was copied`)

    const old = join(dir, 'old.db')
    const conn = openDatabase(old)
    runMigrations(conn)
    conn.client.exec('DELETE FROM __drizzle_migrations WHERE created_at = (SELECT max(created_at) FROM __drizzle_migrations)')
    conn.close()
    const r4 = await cli(['migrate-data', '--from', old, '--to', url])
    expect(r4.code).toBe(1)
    expect(r4.err).toContain(`run "teamday migrate --db ${old}"`)

    const other = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64')
    const r5 = await cli(['migrate-data', '--from', dbFile, '--to', url], { TEAMDAY_ENCRYPTION_KEY: other })
    expect(r5.code).toBe(1)
    expect(r5.err).toContain('does not open')
    expect(r5.err).toContain('nothing was copied')

    const r7 = await cli(['migrate-data', '--from', dbFile, '--to', url, '--db', dbFile])
    expect(r7.code).toBe(2)
    expect(r7.err).toContain('migrate-data takes no --db')

    const r6 = await cli(['migrate-data', '--from', dbFile, '--to', join(dir, 'copy.db')])
    expect(r6.code).toBe(2)
    expect(r6.err).toContain('--to must be a postgres://')
  }, 30_000)

  test('a target database that does not exist: says how to create it (createdb, with the URL\'s host, port and user)', async () => {
    const u = new URL(url)
    u.pathname = '/teamday_never_created'
    const r = await cli(['migrate-data', '--from', dbFile, '--to', u.toString()])
    expect(r.code).toBe(1)
    const where = [`-h ${u.hostname}`, u.port && `-p ${u.port}`, u.username && `-U ${u.username}`].filter(Boolean).join(' ')
    expect(r.err).toContain(`the target database "teamday_never_created" does not exist: create it (empty) first, e.g. createdb ${where} --locale=C.UTF-8 --template=template0 teamday_never_created`)
    expect(r.err).toContain('nothing was copied')
    // Also with --replace, whose first question to the target is who else is connected.
    expect((await cli(['migrate-data', '--from', dbFile, '--to', u.toString(), '--replace'])).err).toContain('createdb')
  }, 30_000)

  test('a target not collated as C (ICU en-US): one warning line before the copy, which goes ahead; a C target gets none', async () => {
    const icu = urlFor(await createTestDatabase({ icuLocale: 'en-US' }))
    const r = await cli(['migrate-data', '--from', dbFile, '--to', icu])
    expect(r.code).toBe(0)
    const warned = r.err.split('\n').filter((l) => l.includes('collat') || l.includes('sorts text'))
    expect(warned).toEqual([expect.stringMatching(/^warning: .* sorts text by ICU en-US, not as C does \(as SQLite does\): rows created in the same millisecond list in another order .*createdb --locale=C\.UTF-8 --template=template0/)])
    expect(r.out).toContain("every table's row count")
    const c = await cli(['migrate-data', '--from', dbFile, '--to', urlFor(await createTestDatabase())])
    expect(c.code).toBe(0)
    expect(c.err).not.toContain('sorts text')
  }, 60_000)

  test('refused while a server has the source open (its later writes would be left behind); a copy leaves no -wal or -shm beside it', async () => {
    const beside = () => readdirSync(dir).filter((f) => f.startsWith('teamday.db-'))
    const target = urlFor(await createTestDatabase())
    const server = await makeTestApp({ dbPath: dbFile, key })
    try {
      const r = await cli(['migrate-data', '--from', dbFile, '--to', target])
      expect(r.code).toBe(1)
      expect(r.err).toBe(`error: ${dbFile} is in use: stop the server (and any teamday command on it) before copying it: a write after the copy starts would be left behind; nothing was copied`)
      // The server is not disturbed: it goes on writing.
      expect((await server.req('GET', '/api/v1/agents', { token: admin.token })).status).toBe(200)
    } finally {
      await server.rt.close()
    }
    // Refused before the target was touched: not even migrated.
    const pg = postgres(target, { max: 1, onnotice: () => {} })
    try {
      expect([...(await pg`SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()`)]).toEqual([])
    } finally {
      await pg.end({ timeout: 1 })
    }
    // Stopped: the copy runs, and leaves the folder as it found it (a read-only open left -wal and -shm).
    expect(beside()).toEqual([])
    const r = await cli(['migrate-data', '--from', dbFile, '--to', target])
    expect([r.code, r.err]).toEqual([0, expect.not.stringContaining('error')])
    expect(beside()).toEqual([])
    expect(await pgRows(target)).toEqual(expected(await sqliteRows(dbFile)))
  }, 30_000)

  test('small batches (keyset pages by primary key, text and integer keys) copy the same rows', async () => {
    const target = urlFor(await createTestDatabase())
    const conn = openPostgres(target, { pool: 1, statementTimeoutMs: 30_000 })
    const db = openSqliteSource(dbFile)
    try {
      const report = await copySqliteToPostgres(db, conn, { batchRows: 2 })
      expect(report.tables.find((t) => t.name === 'audit_events')!.rows).toBe(source.auditEvents!.length)
      expect(report.replaced).toEqual([])
    } finally {
      db.close()
      await conn.close()
    }
    expect(await pgRows(target)).toEqual(expected(source))
  }, 30_000)

  test('large rows: every INSERT carries at most BATCH_BYTES (but for one row alone), not 1,000 rows of whatever size', async () => {
    // 40 executions of a 1 MB message (a log sent with --message-file) and one of 9 MB: before,
    // all went in one INSERT (1,000 such rows: 1 GB, 5 GB of memory, past the statement timeout).
    const file = largeSource('large.db')
    const mb = ONE_MIB
    const target = urlFor(await createTestDatabase())
    const inserts: number[] = []
    const client = postgres(target, {
      max: 1,
      onnotice: () => {},
      debug: (_c: number, query: string, params: unknown[]) => {
        if (query.startsWith('INSERT INTO "executions"')) inserts.push(params.reduce<number>((n, p) => n + (typeof p === 'string' ? Buffer.byteLength(p) : 8), 0))
      },
    })
    const pg = new PgConnection(client, undefined, 30_000)
    const db = openSqliteSource(file)
    try {
      const report = await copySqliteToPostgres(db, pg)
      expect(report.tables.find((t) => t.name === 'executions')!.rows).toBe(41)
    } finally {
      db.close()
      await pg.close()
    }
    expect(inserts.length).toBeGreaterThanOrEqual(6)
    expect(inserts.filter((b) => b > BATCH_BYTES + 4096)).toEqual([expect.any(Number)]) // the 9 MB row alone
    const check = postgres(target, { max: 1, onnotice: () => {} })
    try {
      const rows = await check<{ id: string; bytes: number }[]>`SELECT id, octet_length(message) AS bytes FROM executions ORDER BY id`
      expect(rows.length).toBe(41)
      expect(rows.filter((r) => r.id !== 'exe_big').every((r, i) => r.bytes === Buffer.byteLength(`${i} ${mb}`))).toBe(true)
      expect(rows.find((r) => r.id === 'exe_big')!.bytes).toBe(9 << 20)
    } finally {
      await check.end({ timeout: 1 })
    }
  }, 60_000)

  test('identity columns whose copied values are all 0 (a hand-made or seeded source): copied, and the next generated value is 1 or more', async () => {
    const file = join(dir, 'zero-seq.db')
    const conn = openDatabase(file)
    runMigrations(conn)
    const now = Date.now()
    conn.client.exec(`INSERT INTO organizations (id, slug, name, created_at) VALUES ('org_z', 'zero', 'Zero', ${now})`)
    conn.client.exec(`INSERT INTO users (id, email, created_at) VALUES ('usr_z', 'z@example.com', ${now})`)
    conn.client.exec(`INSERT INTO executions (id, organization_id, user_id, agent_name, agent_visibility, chat_id, session_id, status, message, created_at, updated_at, seq) VALUES ('exe_z', 'org_z', 'usr_z', 'a', 'private', 'c', 's', 'completed', 'm', ${now}, ${now}, 0)`)
    conn.close()
    const target = urlFor(await createTestDatabase())
    const client = postgres(target, { max: 1, onnotice: () => {} })
    const pg = new PgConnection(client, undefined, 30_000)
    const db = openSqliteSource(file)
    try {
      const report = await copySqliteToPostgres(db, pg)
      expect(report.tables.find((t) => t.name === 'executions')!.rows).toBe(1)
    } finally {
      db.close()
      await pg.close()
    }
    const check = postgres(target, { max: 1, onnotice: () => {} })
    try {
      expect((await check`SELECT seq FROM executions`).length).toBe(1)
      const [next] = await check<{ v: string }[]>`SELECT nextval(pg_get_serial_sequence('executions', 'seq'))::text AS v`
      expect(Number(next!.v)).toBeGreaterThanOrEqual(1)
    } finally {
      await check.end({ timeout: 1 })
    }
  }, 60_000)

  test('the connection lost mid-copy (the session ended): the target holds nothing, the error says so and to run it again, which copies', async () => {
    const file = largeSource('cut-off.db')
    const target = urlFor(await createTestDatabase())
    const watcher = postgres(target, { max: 1, onnotice: () => {} })
    let ended = 0
    let watching = true
    const watch = (async () => {
      while (watching && ended === 0) {
        const [r] = await watcher<{ n: number }[]>`
          SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity
          WHERE datname = current_database() AND pid <> pg_backend_pid() AND query LIKE 'INSERT INTO "executions"%'`
        ended = r!.n
        await Bun.sleep(5)
      }
    })()
    const r = await cli(['migrate-data', '--from', file, '--to', target])
    watching = false
    await watch
    try {
      expect(ended).toBe(1)
      expect(r.code).toBe(1)
      expect(r.err).toContain(`error: ${target}: The database is `)
      expect(r.err).toContain('The copy is one transaction: the target holds none of it (only the schema, if its migrations ran)')
      expect(r.err).toContain('Run this again once PostgreSQL answers')
      expect((await watcher`SELECT count(*)::int AS n FROM executions`)[0]!.n).toBe(0)
      const again = await cli(['migrate-data', '--from', file, '--to', target])
      expect(again.err).not.toContain('error')
      expect(again.code).toBe(0)
      expect((await watcher`SELECT count(*)::int AS n FROM executions`)[0]!.n).toBe(41)
    } finally {
      await watcher.end({ timeout: 1 })
    }
  }, 60_000)

  test('as a real process, with the key in TEAMDAY_ENCRYPTION_KEY; an instance with another key refuses the copy', async () => {
    const target = urlFor(await createTestDatabase())
    const p = Bun.spawnSync([process.execPath, 'src/main.ts', 'migrate-data', '--from', dbFile, '--to', target], {
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', TEAMDAY_LOG_LEVEL: 'silent', TEAMDAY_ENCRYPTION_KEY: keyB64 },
      stdout: 'pipe',
      stderr: 'pipe',
    })
    const out = p.stdout.toString()
    expect(p.stderr.toString()).not.toContain('error')
    expect(p.exitCode).toBe(0)
    expect(out).toContain('every PostgreSQL instance needs the same TEAMDAY_ENCRYPTION_KEY')
    expect(out).not.toContain(keyB64)
    expect(await pgRows(target)).toEqual(expected(source))
    // The key check travelled with the data: another key is refused at start-up.
    await expect(makeTestApp({ dbPath: target, key: crypto.getRandomValues(new Uint8Array(32)) })).rejects.toThrow(/encryption key does not match/i)
  }, 60_000)
})
