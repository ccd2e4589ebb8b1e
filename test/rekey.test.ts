/**
 * `teamday rekey` (README: Rotating the key): after data is written under K1, the key rotates to
 * K2 (K1 previous) and more is written; rekey re-seals everything under K2 in one transaction and
 * moves the key check, so that K2 alone then starts and opens every sealed value (token names and
 * last uses, audit addresses, user agents and details, organization and space secrets, console
 * and CLI sessions, CLI login codes, stored idempotent responses). Without rekey K2 alone is
 * refused; a second rekey re-seals nothing; a rekey without a key it needs is refused, naming the
 * key id, and changes nothing. Both backends (TEAMDAY_TEST_DATABASE=postgres: a database of its own).
 */
import { afterEach, beforeEach, describe, expect, test } from 'bun:test'
import { eq } from 'drizzle-orm'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createApp } from '../src/app'
import { recordAudit } from '../src/audit/log'
import type { Io } from '../src/cli/common'
import { loadConfig } from '../src/config'
import { contextOf, operatorContext, type Ctx } from '../src/context'
import { createSession, listSessions } from '../src/console/session'
import { keyIdOf, SecretBox } from '../src/crypto/secretbox'
import { idempotencyKeys, settings, sqliteTables, TABLE_NAMES } from '../src/db/schema'
import * as schema from '../src/db/schema'
import { createLogger } from '../src/logger'
import { run } from '../src/main'
import { queryAuditEvents } from '../src/modules/audit/query'
import { decideLogin, describeLoginRequest, listCliSessions } from '../src/modules/cli-auth/service'
import { resolveSecrets } from '../src/modules/spaces/secrets'
import { createToken } from '../src/modules/tokens/service'
import { createUser } from '../src/modules/users/service'
import { createRuntime, type Runtime } from '../src/runtime'
import { createTestDatabase, needPostgres, ON_PG, urlFor } from './helpers/pg'
import { until } from './helpers/scripted-provider'
import { startServer } from './helpers/spawn'

const HAVE_DB = ON_PG ? await needPostgres('test/rekey.test.ts') : true

let dir: string
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'teamday-rekey-'))
})
afterEach(() => rmSync(dir, { recursive: true, force: true }))

const newKey = () => Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64')
const idOf = (key: string) => keyIdOf(Buffer.from(key, 'base64'))
const keys = (current: string, ...previous: string[]): Record<string, string> => ({ TEAMDAY_ENCRYPTION_KEY: current, ...(previous.length ? { TEAMDAY_ENCRYPTION_KEYS_PREVIOUS: previous.join(',') } : {}) })

/** A database of the test's own: a SQLite file, or (PostgreSQL pass) a fresh database. */
async function newDatabase(): Promise<string> {
  return ON_PG ? urlFor(await createTestDatabase()) : join(dir, 'teamday.db')
}

/** The command line in-process (src/main.ts), as the admin tests run it. */
async function cli(argv: string[], env: Record<string, string>) {
  const out: string[] = []
  const err: string[] = []
  const io: Io = { out: (s) => out.push(s), err: (s) => err.push(s), env: { TEAMDAY_LOG_LEVEL: 'silent', ...env } }
  const code = await run(argv, io)
  return { code, out: out.join('\n'), err: err.join('\n') }
}

/** A server's runtime and app on the database, with the keys given. */
interface Server {
  rt: Runtime
  ctx: Ctx
  req(method: string, path: string, o?: { token?: string; body?: unknown; ip?: string; ua?: string; headers?: Record<string, string> }): Promise<{ status: number; body: any }>
}

const opened: Runtime[] = []
afterEach(async () => {
  for (const rt of opened.splice(0)) await rt.close()
})

async function server(db: string, env: Record<string, string>): Promise<Server> {
  const rt = await createRuntime(loadConfig({ TEAMDAY_LOG_LEVEL: 'silent', ...env }, { dbPath: db, dbPool: 4 }), { log: createLogger('silent', () => {}) })
  opened.push(rt)
  const peers = new WeakMap<Request, string>()
  const app = createApp(rt, { peerAddress: (r) => peers.get(r) ?? null })
  return {
    rt,
    ctx: operatorContext(rt),
    async req(method, path, o = {}) {
      const headers: Record<string, string> = { ...o.headers, ...(o.ua ? { 'user-agent': o.ua } : {}), ...(o.token ? { authorization: `Bearer ${o.token}` } : {}) }
      if (o.body !== undefined) headers['content-type'] = 'application/json'
      await new Promise<void>((r) => setImmediate(r))
      const request = new Request(`http://localhost${path}`, { method, headers, body: o.body === undefined ? undefined : JSON.stringify(o.body) })
      if (o.ip) peers.set(request, o.ip)
      const res = await app.handle(request)
      const text = await res.text()
      let body: any
      try {
        body = JSON.parse(text)
      } catch {
        body = text
      }
      return { status: res.status, body }
    },
  }
}

/** What a phase of writes leaves to find again (one phase under K1, one after the rotation). */
interface Phase {
  tag: string
  ip: string
  ua: string
  tokenName: string
  tokenId: string
  sessionId: string
  pendingCode: string
}

interface World {
  admin: { userId: string; organizationId: string; token: string }
  spaceId: string
}

async function ok(s: Server, method: string, path: string, o: Parameters<Server['req']>[2]) {
  const res = await s.req(method, path, o)
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(res.body)}`)
  return res.body
}

/** The first phase's admin, organization and space. */
async function setUp(s: Server): Promise<World> {
  const r = await createUser(s.ctx, { email: 'ada@example.com', orgSlug: 'acme', role: 'admin' })
  const { token } = await createToken(s.ctx, { userId: r.user.id, organizationId: r.organization.id }, { name: 'admin token' })
  const admin = { userId: r.user.id, organizationId: r.organization.id, token }
  const space = await ok(s, 'POST', '/api/v1/spaces', { token, body: { name: 'Rotation', visibility: 'organization' } })
  return { admin, spaceId: space.space.id }
}

/**
 * Writes one of every kind of sealed value: a token (name; its last use: address and user agent),
 * audit events (address, user agent, details), an organization and a space secret, an idempotent
 * response, a console session, a CLI session (device, addresses) and a pending CLI login code.
 */
async function writePhase(s: Server, w: World, tag: string, n: number): Promise<Phase> {
  const ip = `203.0.113.${n}`
  const ua = `RekeyProbe/${tag}`
  const as = { ip, ua }
  const tokenName = `deploy bot ${tag}`
  const made = await ok(s, 'POST', '/api/v1/tokens', { ...as, token: w.admin.token, body: { name: tokenName } })
  await ok(s, 'GET', '/api/v1/tokens/self', { ...as, token: made.token })
  await ok(s, 'POST', `/api/v1/organizations/${w.admin.organizationId}/env`, { ...as, token: w.admin.token, body: { secrets: { [`ORG_${tag}`]: `org value ${tag}` } } })
  await ok(s, 'POST', `/api/v1/spaces/${w.spaceId}/secrets`, { ...as, token: w.admin.token, body: { secrets: { [`SPACE_${tag}`]: `space value ${tag}` } } })
  await ok(s, 'POST', '/api/v1/tasks', { ...as, token: w.admin.token, body: { title: `task ${tag}` }, headers: { 'idempotency-key': `idem-${tag}` } })
  const origin = { ip: () => ip, userAgent: ua }
  const { session } = await createSession(contextOf(s.rt, { kind: 'operator' }, { origin }), w.admin.userId, w.admin.organizationId)
  const login = await ok(s, 'POST', '/api/auth/cli/initiate', as)
  await decideLogin(s.ctx, login.code, { userId: w.admin.userId, organizationId: w.admin.organizationId }, 'approve')
  const delivered = await ok(s, 'GET', `/api/auth/cli/poll?code=${login.code}`, as)
  await ok(s, 'GET', '/api/v1/agents', { ...as, token: delivered.accessToken })
  const pending = await ok(s, 'POST', '/api/auth/cli/initiate', as)
  return { tag, ip, ua, tokenName, tokenId: made.id, sessionId: session.id, pendingCode: pending.code }
}

/** Every row of every table, as text: what a scan for a key id looks through. */
async function everything(rt: Runtime): Promise<string> {
  const parts: string[] = []
  for (const name of TABLE_NAMES) {
    const table = (schema as unknown as Record<string, typeof sqliteTables.settings>)[name]!
    parts.push(JSON.stringify(await rt.connection.db.select().from(table).all()))
  }
  return parts.join('\n')
}

/** How many sealed values name `keyId`, per table (SQL names). */
async function sealedUnder(rt: Runtime, keyId: string): Promise<Record<string, number>> {
  const counts: Record<string, number> = {}
  for (const name of TABLE_NAMES) {
    const table = (schema as unknown as Record<string, typeof sqliteTables.settings>)[name]!
    const text = JSON.stringify(await rt.connection.db.select().from(table).all())
    const n = text.split(`v1.${keyId}.`).length - 1
    if (n > 0) counts[name] = n
  }
  return counts
}

/**
 * Opens every sealed value through the code that reads it (failing on a value it cannot open),
 * checks what each phase wrote, and returns the whole audit log as read (for a before/after comparison).
 */
async function expectEverythingOpens(s: Server, w: World, phases: Phase[]): Promise<unknown> {
  const tokens = await ok(s, 'GET', '/api/v1/tokens?limit=100', { token: w.admin.token })
  for (const p of phases) {
    const t = tokens.tokens.find((x: { id: string }) => x.id === p.tokenId)
    expect({ name: t.name, ip: t.lastUsedIp, ua: t.lastUsedUserAgent }).toEqual({ name: p.tokenName, ip: p.ip, ua: p.ua })
  }
  // Every event, page by page (each one opened), for a before/after comparison.
  const audit: unknown[] = []
  for (let offset = 0; ; offset += 1000) {
    const page = await queryAuditEvents(s.ctx, { organizationId: null, limit: 1000, offset })
    audit.push(...page.events)
    if (page.events.length < 1000) break
  }
  for (const p of phases) {
    const created = (await queryAuditEvents(s.ctx, { organizationId: null, type: 'token.created', tokenId: p.tokenId, limit: 10, offset: 0 })).events[0]!
    expect({ ip: created.ip, ua: created.userAgent }).toEqual({ ip: p.ip, ua: p.ua })
    expect(created.details).toEqual(expect.objectContaining({ scopes: expect.any(Array) }))
  }
  const env = await resolveSecrets(s.ctx, w.admin.organizationId, w.spaceId)
  for (const p of phases) {
    expect(env[`ORG_${p.tag}`]).toBe(`org value ${p.tag}`)
    expect(env[`SPACE_${p.tag}`]).toBe(`space value ${p.tag}`)
  }
  const consoleSessions = await listSessions(s.ctx, w.admin.userId, 'none')
  for (const p of phases) {
    const seen = consoleSessions.find((x) => x.id === p.sessionId)!
    expect({ ip: seen.ip, ua: seen.userAgent }).toEqual({ ip: p.ip, ua: p.ua })
  }
  const cliSessions = await listCliSessions(s.ctx, w.admin.userId)
  for (const p of phases) {
    expect(cliSessions.some((c) => c.device === p.ua && c.createdIp === p.ip && c.lastUsedIp === p.ip)).toBe(true)
    const pending = await describeLoginRequest(s.ctx, p.pendingCode)
    expect({ ip: pending?.requestIp, ua: pending?.userAgent }).toEqual({ ip: p.ip, ua: p.ua })
  }
  // Stored responses: opened with the current key alone, as a replay does.
  const stored = await s.rt.connection.db.select().from(idempotencyKeys).all()
  expect(stored.length).toBe(phases.length)
  const titles = stored.map((row) => JSON.parse(s.rt.box.open(row.responseBody!, `idem:${row.id}`)).title).sort()
  expect(titles).toEqual(phases.map((p) => `task ${p.tag}`).sort())
  return audit
}

const keyCheck = async (rt: Runtime) => (await rt.connection.db.select().from(settings).all()).find((r) => r.key === 'encryption_key_check')!.value

describe.skipIf(!HAVE_DB)('teamday rekey', () => {
  test('after a rotation, rekey re-seals every old value: the new key alone then starts and opens them all; a second run re-seals nothing', async () => {
    const db = await newDatabase()
    const [k1, k2] = [newKey(), newKey()]
    const first = await server(db, keys(k1))
    const w = await setUp(first)
    const p1 = await writePhase(first, w, 'K1', 1)
    await first.rt.close()
    opened.splice(opened.indexOf(first.rt), 1)

    const rotated = await server(db, keys(k2, k1))
    const p2 = await writePhase(rotated, w, 'K2', 2)
    // Under K1 still: something in every table with sealed columns, and the key check.
    const before = await sealedUnder(rotated.rt, idOf(k1))
    expect(Object.keys(before).sort()).toEqual(['auditEvents', 'cliLoginCodes', 'cliSessions', 'idempotencyKeys', 'personalAccessTokens', 'secrets', 'sessions', 'settings'])
    expect(before.settings).toBe(1)

    const auditBefore = await expectEverythingOpens(rotated, w, [p1, p2])

    // Without rekey the new key alone is refused at once, naming the key it lacks.
    await expect(createRuntime(loadConfig({ TEAMDAY_LOG_LEVEL: 'silent', ...keys(k2) }, { dbPath: db }), { log: createLogger('silent', () => {}) })).rejects.toThrow(idOf(k1))

    // Beside the running server (it has both keys): rekey, then the server still serves.
    const r = await cli(['rekey', '--db', db], keys(k2, k1))
    expect(r.err).not.toContain('error')
    expect(r.code).toBe(0)
    const counts = Object.fromEntries([...r.out.matchAll(/^(\w+)\s+(\d+)$/gm)].map((m) => [m[1], Number(m[2])]))
    expect(counts).toEqual({ personal_access_tokens: before.personalAccessTokens, secrets: before.secrets, audit_events: before.auditEvents, idempotency_keys: before.idempotencyKeys, sessions: before.sessions, cli_login_codes: before.cliLoginCodes, cli_sessions: before.cliSessions, settings: 1 })
    expect(r.out).toContain(`under the current key ${idOf(k2)}`)
    expect(r.out).toContain('the old keys may now be dropped')
    // A commit by another connection is seen from the next event-loop turn on (as by the
    // server's next request: src/db/change-signal.ts); this read must not be the same turn's.
    await new Promise((resolve) => setImmediate(resolve))
    expect(await sealedUnder(rotated.rt, idOf(k1))).toEqual({})
    expect(rotated.rt.box.isStale(await keyCheck(rotated.rt))).toBe(false)
    expect(await expectEverythingOpens(rotated, w, [p1, p2])).toEqual(auditBefore)

    // A second run (with or without the old key) re-seals nothing and changes nothing.
    const snapshot = await everything(rotated.rt)
    for (const env of [keys(k2, k1), keys(k2)]) {
      const again = await cli(['rekey', '--db', db], env)
      expect(again.code).toBe(0)
      expect(again.out).toContain(`nothing to re-seal: every sealed value of`)
      expect([...again.out.matchAll(/^(\w+)\s+(\d+)$/gm)].every((m) => m[2] === '0')).toBe(true)
      // With no old key configured there is none to drop: it said so anyway.
      expect(again.out.includes('the old keys may now be dropped')).toBe('TEAMDAY_ENCRYPTION_KEYS_PREVIOUS' in env)
    }
    expect(await everything(rotated.rt)).toBe(snapshot)

    // The new key alone: starts, and every value opens.
    const alone = await server(db, keys(k2))
    expect(await expectEverythingOpens(alone, w, [p1, p2])).toEqual(auditBefore)
    expect(await sealedUnder(alone.rt, idOf(k1))).toEqual({})
  }, 60_000)

  test('a rekey without a key it needs is refused, naming the key id, and changes nothing', async () => {
    const db = await newDatabase()
    const [k1, k2, k3] = [newKey(), newKey(), newKey()]
    const first = await server(db, keys(k1))
    const w = await setUp(first)
    await writePhase(first, w, 'K1', 1)
    const rotated = await server(db, keys(k2, k1))
    await writePhase(rotated, w, 'K2', 2)
    const snapshot = await everything(rotated.rt)

    // The key check's key (K1) missing: refused when the database is opened.
    const noK1 = await cli(['rekey', '--db', db], keys(k2))
    expect(noK1.code).toBe(1)
    expect(noK1.err).toContain(idOf(k1))
    expect(noK1.err).toContain('TEAMDAY_ENCRYPTION_KEYS_PREVIOUS')
    // As README says it: the key the database is sealed under (not "created with": a finished
    // rotation moves it), and the old key listed until rekey has run.
    expect(noK1.err).toContain('Start with the key the database is sealed under (TEAMDAY_ENCRYPTION_KEY, or the key file): the one it was created with, or the one the last teamday rekey re-sealed it under.')
    expect(noK1.err).toContain('During a key rotation, until teamday rekey has run, list the old key in TEAMDAY_ENCRYPTION_KEYS_PREVIOUS')

    // The check opens (K1) but values sealed under K2 do not: refused, naming K2 and a row; rolled back.
    const noK2 = await cli(['rekey', '--db', db], keys(k3, k1))
    expect(noK2.code).toBe(1)
    expect(noK2.err).toMatch(new RegExp(`error: cannot open \\w+\\.\\w+ of row \\w+: value was encrypted with key ${idOf(k2)}, which is not configured`))
    expect(noK2.err).toContain('Nothing was changed')
    expect(await everything(rotated.rt)).toBe(snapshot)

    // A value that no key opens (moved to another row): refused, naming the table, column and row.
    const underK1 = (await rotated.rt.connection.db.select().from(schema.personalAccessTokens).all()).filter((x) => x.nameEnc.startsWith(`v1.${idOf(k1)}.`))
    expect(underK1.length).toBeGreaterThanOrEqual(2)
    const [source, victim] = underK1 as [typeof underK1[0], typeof underK1[0]]
    await rotated.rt.connection.db.update(schema.personalAccessTokens).set({ nameEnc: source.nameEnc }).where(eq(schema.personalAccessTokens.id, victim.id)).run()
    const moved = await everything(rotated.rt)
    const tampered = await cli(['rekey', '--db', db], keys(k2, k1))
    expect(tampered.code).toBe(1)
    expect(tampered.err).toContain(`cannot open personal_access_tokens.name_enc of row ${victim.id}`)
    expect(await everything(rotated.rt)).toBe(moved)
  }, 60_000)

  test('while a server process runs and writes (with both keys): its requests all succeed, and nothing is left under the old key', async () => {
    const db = await newDatabase()
    const [k1, k2] = [newKey(), newKey()]
    const first = await server(db, keys(k1))
    const w = await setUp(first)
    const p1 = await writePhase(first, w, 'K1', 1)
    // Enough sealed rows for the rekey to take a while (several batches).
    const origin = { ip: () => '198.51.100.9', userAgent: 'LoadProbe/1' }
    const scope = contextOf(first.rt, { kind: 'operator' }, { origin })
    for (let i = 0; i < 1500; i++) await recordAudit(scope, { type: 'token.created', organizationId: w.admin.organizationId, details: { i } })
    await first.rt.close()
    opened.splice(opened.indexOf(first.rt), 1)

    const env = { PATH: process.env.PATH ?? '', TEAMDAY_LOG_LEVEL: 'warn', TEAMDAY_RATE_LIMIT: 'off', TEAMDAY_USER_RATE_LIMIT: 'off', ...keys(k2, k1) }
    const serving = await startServer([process.execPath, 'src/main.ts', 'serve', '--port', '0', '--host', '127.0.0.1', '--db', db], { env })
    try {
      const base = serving.origin
      const statuses: number[] = []
      let stop = false
      const send = async (method: string, path: string, body?: unknown) => {
        const res = await fetch(base + path, { method, headers: { authorization: `Bearer ${w.admin.token}`, 'content-type': 'application/json', 'x-forwarded-for': '1.2.3.4' }, body: body === undefined ? undefined : JSON.stringify(body) })
        statuses.push(res.status)
        await res.arrayBuffer()
      }
      const writer = async (n: number) => {
        for (let i = 0; !stop; i++) {
          await send('POST', '/api/v1/tasks', { title: `load ${n}.${i}` })
          await send('POST', `/api/v1/organizations/${w.admin.organizationId}/env`, { secrets: { [`LOAD_${n}`]: `v${i}` } })
          await send('GET', '/api/v1/tokens?limit=100')
          await send('GET', '/api/v1/audit-events?limit=5')
        }
      }
      const writers = [1, 2, 3].map(writer)
      // The server answering before the rekey starts (a loaded machine: a rekey that had finished
      // before the first answer failed `during > 0`).
      await until(() => statuses.length > 0)
      const rekey = Bun.spawn([process.execPath, 'src/main.ts', 'rekey', '--db', db], { env, stdout: 'pipe', stderr: 'pipe' })
      const [rOut, rErr, code] = await Promise.all([new Response(rekey.stdout).text(), new Response(rekey.stderr).text(), rekey.exited])
      const during = statuses.length
      // Answers go on after the rekey (waited for, not slept for: a loaded machine can take longer than a fixed pause).
      await until(() => statuses.length > during)
      stop = true
      await Promise.all(writers)
      expect({ code, rErr: rErr.includes('error') ? rErr : '' }).toEqual({ code: 0, rErr: '' })
      expect(rOut).toMatch(/^audit_events\s+\d{4}/m)
      expect(during).toBeGreaterThan(0)
      expect(statuses.length).toBeGreaterThan(during)
      expect(statuses.filter((s) => s >= 300)).toEqual([])
    } finally {
      serving.proc.kill('SIGTERM')
      await serving.exited()
    }
    const alone = await server(db, keys(k2))
    expect(await sealedUnder(alone.rt, idOf(k1))).toEqual({})
    const audit = await expectEverythingOpens(alone, w, [p1])
    expect((audit as unknown[]).length).toBeGreaterThan(1500)
  }, 120_000)

  test('as a process (bun src/main.ts rekey), then another with the new key alone', async () => {
    const db = await newDatabase()
    const [k1, k2] = [newKey(), newKey()]
    const first = await server(db, keys(k1))
    const w = await setUp(first)
    await writePhase(first, w, 'K1', 1)
    await first.rt.close()
    opened.splice(opened.indexOf(first.rt), 1)
    const spawn = async (args: string[], env: Record<string, string>) => {
      const p = Bun.spawn([process.execPath, 'src/main.ts', ...args, '--db', db], { env: { PATH: process.env.PATH ?? '', TEAMDAY_LOG_LEVEL: 'silent', ...env }, stdout: 'pipe', stderr: 'pipe' })
      const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited])
      return { out, err, code }
    }
    const refused = await spawn(['tokens', 'list', '--email', 'ada@example.com', '--json'], keys(k2))
    expect(refused.code).toBe(1)
    expect(refused.err).toContain(idOf(k1))
    const r = await spawn(['rekey'], keys(k2, k1))
    expect(r.err).not.toContain('error')
    expect(r.code).toBe(0)
    expect(r.out).toMatch(/^personal_access_tokens\s+[1-9]/m)
    const listed = await spawn(['tokens', 'list', '--email', 'ada@example.com', '--json'], keys(k2))
    expect(listed.code).toBe(0)
    expect(JSON.parse(listed.out).tokens.map((t: { name: string }) => t.name).sort()).toEqual(['admin token', 'deploy bot K1'])
  }, 60_000)
})
