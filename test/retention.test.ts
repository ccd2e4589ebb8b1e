/**
 * Housekeeping and retention (src/housekeeping.ts), on the suite's backend: what is dead by any
 * reading (ended console sessions, CLI sign-ins 30 days after their end with their access tokens,
 * access tokens a day after they expired, finished login codes, spent one-time links) goes at the hourly sweep; audit
 * events and finished executions go only when TEAMDAY_AUDIT_RETENTION_DAYS /
 * TEAMDAY_EXECUTION_RETENTION_DAYS say so, a delegation tree as a whole; `teamday audit prune`
 * deletes before a date and leaves its own trace. The clock is the test's (TestClock), the sweep
 * the one `teamday serve` ticks (test/serve-start.test.ts checks that a start runs it).
 */
import { afterAll, describe, expect, test } from 'bun:test'
import { eq, inArray } from 'drizzle-orm'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { copyRows } from '../bench/seed'
import { createApp } from '../src/app'
import type { Io } from '../src/cli/common'
import { ConfigError, loadConfig } from '../src/config'
import { operatorContext } from '../src/context'
import { auditEvents, cliAccessTokens, cliLoginCodes, cliSessions, executionLogs, executions, idempotencyKeys, oneTimeLinks, sessions, signInFailures } from '../src/db/schema'
import { Housekeeping } from '../src/housekeeping'
import { newId } from '../src/ids'
import { run } from '../src/main'
import { AUDIT_PRUNE_BATCH, auditEventsBefore, deleteAuditEventsBefore } from '../src/modules/audit/retention'
import { decideLogin } from '../src/modules/cli-auth/service'
import { deleteExecutionTreesBefore, EXECUTION_PRUNE_BATCH, executionTreesEndedBefore } from '../src/modules/executions/retention'
import { createToken } from '../src/modules/tokens/service'
import { createUser } from '../src/modules/users/service'
import { keyDigest } from '../src/idempotency/service'
import { createLink, findLink, LINK_PATH, useLink } from '../src/modules/users/links'
import { createRuntime } from '../src/runtime'
import * as pgTables from '../src/db/schema/pg'
import { makeActor, makeTestApp, makeToken, type Actor, type TestApp } from './helpers/app'
import { consoleClient, signedInPerson } from './helpers/console'
import { createTestDatabase, ON_PG, sqliteOnly, urlFor } from './helpers/pg'
import { describePlan, explainPg, nodesOf } from './helpers/pg-plans'
import { startProviderDouble } from './helpers/providers'
import { agent, exec } from './helpers/scripted-provider'

const HOUR = 3_600_000
const DAY = 86_400_000

/** The housekeeping `teamday serve` builds, on a test app's runtime and clock. */
const housekeeping = (t: TestApp) => new Housekeeping({ db: t.rt.db, clock: t.clock, log: t.rt.log, config: t.rt.config })

const count = async (t: TestApp, table: typeof oneTimeLinks | typeof sessions | typeof cliSessions | typeof cliAccessTokens | typeof cliLoginCodes | typeof auditEvents | typeof executions | typeof executionLogs) =>
  (await t.db.select().from(table as typeof sessions).all()).length

// Browser sign-in for a CLI, as test/cli-login.test.ts does it: initiate, approve, poll.
async function cliSignIn(t: TestApp, who: Actor) {
  const { code } = (await t.req('POST', '/api/auth/cli/initiate')).body
  await decideLogin(t.ctx, code, { userId: who.userId, organizationId: who.organizationId }, 'approve')
  const res = await t.req('GET', `/api/auth/cli/poll?code=${code}`)
  expect(res.status).toBe(200)
  return res.body as { accessToken: string; refreshToken: string }
}
const refresh = (t: TestApp, refreshToken: string) => t.req('POST', '/api/auth/cli/refresh', { body: { refreshToken } })
const agentsWith = (t: TestApp, token: string) => t.req('GET', '/api/v1/agents', { token })

describe('SQLite\'s planner statistics', () => {
  // They were taken only at close (PRAGMA optimize): a server started on an empty table planned by
  // "one row" for as long as it ran, and the console's session look-up read every session.
  test.skipIf(sqliteOnly("SQLite's own statistics (sqlite_stat1); PostgreSQL's autovacuum analyzes its tables itself"))('are taken anew by the housekeeping where a table grew: the console\'s session look-up then walks its index', async () => {
    const t = await makeTestApp()
    const { a } = await signedInPerson(t)
    const client = t.db.$client
    // Statistics of a server's first close: one session.
    client.exec('ANALYZE')
    const stat = () => Number(String((client.query("SELECT stat FROM sqlite_stat1 WHERE idx = 'sessions_secret_hash_unique'").get() as { stat: string }).stat).split(' ')[0])
    expect(stat()).toBe(1)
    // A big organization's browsers signed in since.
    const now = t.clock.now()
    const add = client.prepare('INSERT INTO sessions (id, secret_hash, user_id, organization_id, created_at, last_seen_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
    client.transaction(() => {
      for (let i = 0; i < 5000; i++) add.run(`ses_many${i}`, `hash${i}`, a.userId, a.organizationId, now, now, now + DAY)
    })()
    // The look-up of src/console/session.ts: four tables joined on the session's hash.
    const lookup = 'SELECT sessions.id FROM sessions INNER JOIN users ON users.id = sessions.user_id INNER JOIN organizations ON organizations.id = sessions.organization_id INNER JOIN memberships ON (memberships.user_id = sessions.user_id AND memberships.organization_id = sessions.organization_id) WHERE sessions.secret_hash = ?'
    await housekeeping(t).runIfDue()
    expect(stat()).toBeGreaterThanOrEqual(5000)
    const plan = (client.query(`EXPLAIN QUERY PLAN ${lookup}`).all() as { detail: string }[]).map((r) => r.detail)
    expect(plan.some((l) => l.startsWith('SEARCH sessions USING INDEX sessions_secret_hash_unique')), plan.join(' | ')).toBe(true)
    expect(plan.some((l) => l.startsWith('SCAN sessions')), plan.join(' | ')).toBe(false)
  })
})

describe('the sweep runs once an hour, by the runtime clock', () => {
  test('at the first tick, then at the first tick an hour or more later; one run at a time; none after stop', async () => {
    const t = await makeTestApp()
    const hk = housekeeping(t)
    expect(await hk.runIfDue()).toEqual({ consoleSessions: 0, cliSessions: 0, cliAccessTokens: 0, cliLoginCodes: 0, oneTimeLinks: 0, idempotencyKeys: 0, signInFailures: 0, reusePortProbes: 0, auditEvents: 0, executions: 0 })
    expect(await hk.runIfDue()).toBeNull()
    t.clock.advance(HOUR - 1)
    expect(await hk.runIfDue()).toBeNull()
    t.clock.advance(1)
    expect(await hk.runIfDue()).not.toBeNull()
    // A clock set back does not hold it up for as long as it went back.
    t.clock.advance(-DAY)
    expect(await hk.runIfDue()).not.toBeNull()
    t.clock.advance(HOUR)
    const [first, second] = await Promise.all([hk.runIfDue(), hk.runIfDue()])
    expect(first).not.toBeNull()
    expect(second).toBeNull()
    await hk.stop()
    t.clock.advance(HOUR)
    expect(await hk.runIfDue()).toBeNull()
  })
})

describe('what is dead by any reading goes, on both backends', () => {
  test('console sessions past their idle end (12 h) or their absolute end (7 days) are deleted; live ones stay and keep working', async () => {
    const t = await makeTestApp()
    const idle = await signedInPerson(t)
    const busy = await signedInPerson(t)
    const hk = housekeeping(t)
    const rowsOf = async (userId: string) => (await t.db.select().from(sessions).where(eq(sessions.userId, userId)).all()).length
    // The busy one shows a page every 11 h; the idle one never again.
    t.clock.advance(11 * HOUR)
    expect((await busy.c.get('/settings/profile')).status).toBe(200)
    t.clock.advance(2 * HOUR)
    expect(await hk.runIfDue()).toMatchObject({ consoleSessions: 1 })
    expect([await rowsOf(idle.a.userId), await rowsOf(busy.a.userId)]).toEqual([0, 1])
    expect((await busy.c.get('/settings/profile')).status).toBe(200)
    expect((await idle.c.get('/settings/profile')).status).toBe(303)
    // Seven days after its sign-in, however busy, the session has ended: deleted too (unused
    // since; a request with it would have found it ended and deleted it itself).
    let elapsed = 13
    for (; elapsed + 11 < 7 * 24; elapsed += 11) {
      t.clock.advance(11 * HOUR)
      expect((await busy.c.get('/settings/profile')).status).toBe(200)
    }
    t.clock.advance((7 * 24 - elapsed) * HOUR - 1)
    expect(await hk.runIfDue()).toMatchObject({ consoleSessions: 0 })
    t.clock.advance(HOUR + 1)
    expect(await hk.runIfDue()).toMatchObject({ consoleSessions: 1 })
    expect(await count(t, sessions)).toBe(0)
    expect(t.logs.some((l) => l.includes('"msg":"housekeeping"') && l.includes('"consoleSessions":1'))).toBe(true)
  })

  test('CLI access tokens a day after they expired; CLI sign-ins 30 days after they were revoked or their refresh token expired, with their access tokens', async () => {
    const t = await makeTestApp()
    const alice = await makeActor(t)
    const hk = housekeeping(t)
    const start = t.clock.now()
    const at = (ms: number) => void (t.clock.ms = start + ms)
    const kept = await cliSignIn(t, alice)
    const loggedOut = await cliSignIn(t, alice)
    expect((await t.req('POST', '/api/auth/cli/revoke', { body: { refreshToken: loggedOut.refreshToken } })).status).toBe(200)
    await hk.runIfDue()

    // Expired after 15 minutes, but for a day a client whose clock lags still hears token_expired
    // (on which it refreshes), not that the token is unknown.
    at(HOUR + 16 * 60_000)
    expect(await hk.runIfDue()).toMatchObject({ cliAccessTokens: 0, cliSessions: 0 })
    expect((await agentsWith(t, kept.accessToken)).body.code).toBe('token_expired')
    at(DAY + 16 * 60_000)
    expect(await hk.runIfDue()).toMatchObject({ cliAccessTokens: 2, cliSessions: 0 })
    expect((await agentsWith(t, kept.accessToken)).body.code).toBe('invalid_token')
    // The sign-in itself lives on: its refresh token gives a new access token.
    const fresh = (await refresh(t, kept.refreshToken)).body.accessToken
    expect((await agentsWith(t, fresh)).status).toBe(200)
    expect((await refresh(t, loggedOut.refreshToken)).body.code).toBe('token_revoked')

    // 30 days after the logout its session goes; the one still in use stays.
    at(30 * DAY - 1)
    expect(await hk.runIfDue()).toMatchObject({ cliSessions: 0 })
    expect((await refresh(t, loggedOut.refreshToken)).body.code).toBe('token_revoked')
    at(30 * DAY + HOUR)
    expect(await hk.runIfDue()).toMatchObject({ cliSessions: 1 })
    const forgotten = await refresh(t, loggedOut.refreshToken)
    expect([forgotten.status, forgotten.body.code]).toEqual([401, 'invalid_token'])
    expect(forgotten.body.message).toContain('or its sign-in expired or was revoked over 30 days ago')
    expect((await refresh(t, kept.refreshToken)).status).toBe(200)

    // Its refresh token expires 90 days after the sign-in; 30 days later the session goes too,
    // with its access tokens.
    at(90 * DAY + HOUR)
    expect((await refresh(t, kept.refreshToken)).body.code).toBe('token_expired')
    expect(await hk.runIfDue()).toMatchObject({ cliSessions: 0 })
    at(120 * DAY - 1)
    expect(await hk.runIfDue()).toMatchObject({ cliSessions: 0 })
    expect(await count(t, cliSessions)).toBe(1)
    at(120 * DAY + HOUR)
    expect(await hk.runIfDue()).toMatchObject({ cliSessions: 1 })
    expect([await count(t, cliSessions), await count(t, cliAccessTokens)]).toEqual([0, 0])
    expect((await refresh(t, kept.refreshToken)).body.code).toBe('invalid_token')
  })

  test('a CLI sign-in through which a working token was made is kept while that token works: a leak report of its refresh token still revokes that token', async () => {
    const t = await makeTestApp()
    const alice = await makeActor(t)
    const hk = housekeeping(t)
    const s = await cliSignIn(t, alice)
    const made = (await t.req('POST', '/api/v1/tokens', { token: s.accessToken, body: { name: 'minted', expiresInDays: 60 } })).body
    expect((await t.req('POST', '/api/auth/cli/revoke', { body: { refreshToken: s.refreshToken } })).status).toBe(200)
    t.clock.advance(31 * DAY)
    expect(await hk.runIfDue()).toMatchObject({ cliSessions: 0 })
    expect((await t.req('POST', '/api/v1/credentials/revoke', { body: { credentials: [s.refreshToken] } })).status).toBe(202)
    expect((await agentsWith(t, made.token)).body.code).toBe('token_revoked')
    // Nothing working was made through it any more: it goes.
    t.clock.advance(HOUR)
    expect(await hk.runIfDue()).toMatchObject({ cliSessions: 1 })
  })

  test('login codes an hour after they finished', async () => {
    const t = await makeTestApp()
    const hk = housekeeping(t)
    const { code } = (await t.req('POST', '/api/auth/cli/initiate')).body
    t.clock.advance(HOUR)
    expect(await hk.runIfDue()).toMatchObject({ cliLoginCodes: 0 })
    expect((await t.req('GET', `/api/auth/cli/poll?code=${code}`)).body.code).toBe('login_code_expired')
    t.clock.advance(HOUR)
    expect(await hk.runIfDue()).toMatchObject({ cliLoginCodes: 1 })
    expect((await t.req('GET', `/api/auth/cli/poll?code=${code}`)).body.code).toBe('invalid_login_code')
  })

  test('one-time links a day after they were used or expired; a live one stays and still opens', async () => {
    const t = await makeTestApp()
    const hk = housekeeping(t)
    const link = async (who: Actor) => (await createLink(t.ctx, who.userId, who.organizationId, 'set_password')).path.slice(LINK_PATH.set_password.length)
    const [a, b, c] = [await makeActor(t, { role: 'member' }), await makeActor(t, { role: 'member' }), await makeActor(t, { role: 'member' })]
    const expiring = await link(a)
    const used = await link(b)
    await useLink(t.ctx, 'set_password', used, { password: 'a long enough password 1' })
    expect(await hk.runIfDue()).toMatchObject({ oneTimeLinks: 0 })
    // b's used link goes a day after its use; a's, made for 72 hours, stays and opens.
    t.clock.advance(DAY + HOUR)
    expect(await hk.runIfDue()).toMatchObject({ oneTimeLinks: 1 })
    expect(await findLink(t.ctx, 'set_password', expiring)).not.toBeNull()
    // a's expired an hour ago: kept a day (it opens nothing meanwhile).
    t.clock.advance(2 * DAY)
    expect(await findLink(t.ctx, 'set_password', expiring)).toBeNull()
    const live = await link(c)
    expect(await hk.runIfDue()).toMatchObject({ oneTimeLinks: 0 })
    // A day later a's goes; c's, made since, still opens.
    t.clock.advance(DAY)
    expect(await hk.runIfDue()).toMatchObject({ oneTimeLinks: 1 })
    expect(await findLink(t.ctx, 'set_password', live)).not.toBeNull()
    expect(await count(t, oneTimeLinks)).toBe(1)
  })
})

describe('what was deleted only as new ones came in', () => {
  test('expired Idempotency-Keys go at the sweep, without another keyed request; live ones stay and still replay', async () => {
    const t = await makeTestApp()
    const hk = housekeeping(t)
    const a = await makeActor(t)
    const send = (key: string) => t.req('POST', '/api/v1/tasks', { token: a.token, body: { title: 'Deploy' }, headers: { 'idempotency-key': key } })
    expect((await send('old')).status).toBe(201)
    t.clock.advance(23 * HOUR)
    expect((await send('new')).status).toBe(201)
    expect(await hk.runIfDue()).toMatchObject({ idempotencyKeys: 0 })
    t.clock.advance(2 * HOUR)
    // 'old' is 25 h old (kept 24 h), 'new' 2 h.
    expect(await hk.runIfDue()).toMatchObject({ idempotencyKeys: 1 })
    const left = (await t.db.select({ keyHash: idempotencyKeys.keyHash }).from(idempotencyKeys).all()).map((k) => k.keyHash)
    expect(left).toEqual([keyDigest('new')])
    expect((await send('new')).headers.get('idempotency-status')).toBe('replayed')
  })

  test('sign-in failure counts whose window passed and whose lock ended go at the sweep, however long no failure came in', async () => {
    const t = await makeTestApp()
    const hk = housekeeping(t)
    const c = consoleClient(t)
    // One failure from an address never seen again; five on one account lock it for 10 minutes.
    expect((await c.signIn('nobody@example.com', 'wrong')).status).toBe(422)
    const locked = await makeActor(t)
    for (let i = 0; i < 5; i++) await c.signIn(locked.email, 'wrong')
    const rows = async () => (await t.db.select().from(signInFailures).all()).length
    const before = await rows()
    expect(before).toBeGreaterThanOrEqual(2)
    expect(await hk.runIfDue()).toMatchObject({ signInFailures: 0 })
    t.clock.advance(HOUR)
    expect(await hk.runIfDue()).toMatchObject({ signInFailures: before })
    expect(await rows()).toBe(0)
  })
})

describe('audit retention (TEAMDAY_AUDIT_RETENTION_DAYS)', () => {
  const events = async (t: TestApp, a: Actor) => (await t.req('GET', '/api/v1/audit-events?limit=200', { token: a.token })).body.events as { type: string; createdAt: string }[]

  test('unset: every event is kept, however old', async () => {
    const t = await makeTestApp()
    const admin = await makeActor(t, { role: 'admin' })
    const before = await events(t, admin)
    expect(before.length).toBeGreaterThan(0)
    t.clock.advance(3650 * DAY)
    expect(await housekeeping(t).runIfDue()).toMatchObject({ auditEvents: 0 })
    // (A new token to read them with: the first one expired years ago.)
    const reader = { ...admin, token: (await makeToken(t, admin)).token }
    const after = (await events(t, reader)).map((e) => e.createdAt)
    for (const e of before) expect(after).toContain(e.createdAt)
  })

  test('set: events older than that many days go at the next sweep, the newer ones stay', async () => {
    const t = await makeTestApp({ config: { auditRetentionDays: 30 } })
    const admin = await makeActor(t, { role: 'admin' })
    const hk = housekeeping(t)
    await t.req('POST', '/api/v1/tokens', { token: admin.token, body: { name: 'old' } })
    const old = await events(t, admin)
    t.clock.advance(20 * DAY)
    await t.req('POST', '/api/v1/tokens', { token: admin.token, body: { name: 'newer' } })
    t.clock.advance(10 * DAY - HOUR)
    expect(await hk.runIfDue()).toMatchObject({ auditEvents: 0 })
    t.clock.advance(HOUR + 1)
    expect(await hk.runIfDue()).toMatchObject({ auditEvents: old.length })
    const left = await events(t, admin)
    expect(left.length).toBeGreaterThan(0)
    for (const e of left) expect(Date.parse(e.createdAt)).toBeGreaterThan(t.clock.now() - 30 * DAY)
    const line = t.logs.map((l) => JSON.parse(l)).find((l) => l.msg === 'housekeeping')
    expect(line).toMatchObject({ auditRetentionDays: 30, executionRetentionDays: null })
    // The README's example of this line ("Retention and housekeeping") has its fields, in their
    // order, and every count of `deleted`: it showed six of the ten, whose names a log query needs.
    const example = JSON.parse(/^\s*(\{.*"msg":"housekeeping".*\})$/m.exec(readFileSync(join(import.meta.dir, '..', 'README.md'), 'utf8'))![1]!)
    expect(Object.keys(example)).toEqual(Object.keys(line))
    expect(Object.keys(example.deleted)).toEqual(Object.keys(line.deleted))
  })

  test('a backlog goes in batches of at most 1,000 rows a statement, all of it in one sweep', async () => {
    const t = await makeTestApp({ config: { auditRetentionDays: 1 } })
    const at = new Date(t.clock.now() - 2 * DAY)
    const rows = Array.from({ length: 2500 }, () => ({ id: newId('evt'), organizationId: null, type: 'token.created', source: 'cli', createdAt: at }))
    for (let i = 0; i < rows.length; i += 500) await t.db.insert(auditEvents).values(rows.slice(i, i + 500)).run()
    // One statement deletes at most its limit, the oldest first.
    expect(await deleteAuditEventsBefore(t.rt.db, t.clock.now() - DAY, 10)).toHaveLength(10)
    // The sweep: one statement for each of the eight other kinds (nothing to delete), three for
    // the 2,490 events left.
    let statements = 0
    const observe = t.rt.connection.onQuery
    t.rt.connection.onQuery = (seconds) => {
      statements++
      observe?.(seconds)
    }
    expect(await housekeeping(t).runIfDue()).toMatchObject({ auditEvents: 2490 })
    expect(statements).toBe(8 + 3)
    expect(await count(t, auditEvents)).toBe(0)
  })
})

describe('execution retention (TEAMDAY_EXECUTION_RETENTION_DAYS)', () => {
  const double = startProviderDouble()
  afterAll(() => double.stop())
  const config = { openaiBaseUrl: double.openaiBaseUrl, defaultModel: 'test-model' }
  const get = (t: TestApp, a: Actor, id: string) => t.req('GET', `/api/v1/executions/${id}`, { token: a.token })

  /** A row as the engine writes it, for states a test cannot reach in time through the API. */
  async function row(t: TestApp, a: Actor, agentId: string, o: { status: 'running' | 'completed'; completedAt: number | null; rootId?: string }) {
    const id = newId('exec')
    const at = new Date(t.clock.now())
    await t.db
      .insert(executions)
      .values({ id, organizationId: a.organizationId, userId: a.userId, agentId, agentName: 'Agent', agentVisibility: 'organization', chatId: id, sessionId: id, status: o.status, message: 'm', parentExecutionId: o.rootId ?? null, rootExecutionId: o.rootId ?? null, delegationDepth: o.rootId ? 1 : 0, delegated: !!o.rootId, instanceId: 'inst_elsewhere', leaseExpiresAt: new Date(t.clock.now() + 1000 * DAY), completedAt: o.completedAt === null ? null : new Date(o.completedAt), createdAt: at, updatedAt: at })
      .run()
    return id
  }

  test('unset: finished executions are kept, however old', async () => {
    const t = await makeTestApp({ config })
    const a = await makeActor(t)
    const ag = await agent(t, a)
    const id = (await exec(t, a, ag.id, { message: 'hello' })).body.executionId
    t.clock.advance(3650 * DAY)
    expect(await housekeeping(t).runIfDue()).toMatchObject({ executions: 0 })
    expect((await get(t, { ...a, token: (await makeToken(t, a)).token }, id)).status).toBe(200)
  })

  test('set: a finished run goes with its log that many days after it ended; a delegation tree goes whole, once its last run ended that long ago; unfinished ones never', async () => {
    const t = await makeTestApp({ config: { ...config, executionRetentionDays: 30 } })
    const a = await makeActor(t, { role: 'admin' })
    const hk = housekeeping(t)
    const child = await agent(t, a)
    const parent = await agent(t, a, { subagentIds: [child.id] })
    const lone = (await exec(t, a, child.id, { message: 'hello' })).body.executionId as string
    const failed = (await exec(t, a, child.id, { message: 'FAIL' })).body.details.executionId as string
    expect(failed).toStartWith('exec_')
    const root = (await exec(t, a, parent.id, { message: `DELEGATE ${child.id} hello` })).body.executionId as string
    const delegated = (await t.req('GET', `/api/v1/executions?parentExecutionId=${root}`, { token: a.token })).body.map((e: { id: string }) => e.id) as string[]
    expect(delegated).toHaveLength(1)
    // Finished long ago, but a run of its tree is still going: the tree stays.
    const stuckRoot = await row(t, a, child.id, { status: 'completed', completedAt: t.clock.now() })
    const stuckChild = await row(t, a, child.id, { status: 'running', completedAt: null, rootId: stuckRoot })
    const running = await row(t, a, child.id, { status: 'running', completedAt: null })
    t.clock.advance(20 * DAY)
    // A run attached to the tree 20 days later (the API's parentExecutionId): it ends then.
    const attached = (await exec(t, a, child.id, { message: 'later', parentExecutionId: root })).body.executionId as string
    t.clock.advance(10 * DAY + 1)

    const gone = [lone, failed]
    expect(await hk.runIfDue()).toMatchObject({ executions: gone.length })
    for (const id of gone) expect((await get(t, a, id)).status).toBe(404)
    expect((await t.req('GET', `/api/v1/executions/${lone}/logs`, { token: a.token })).status).toBe(404)
    // The tree's root and its delegated child ended 30 days ago, but a run of the tree ended 10
    // days ago: all three stay, the tree shown whole.
    for (const id of [root, ...delegated, attached, stuckRoot, stuckChild, running]) expect((await get(t, a, id)).status).toBe(200)
    const tree = (await t.req('GET', `/api/v1/executions/${root}/tree`, { token: a.token })).body
    expect(JSON.stringify(tree)).toContain(attached)

    t.clock.advance(20 * DAY)
    expect(await hk.runIfDue()).toMatchObject({ executions: 3 })
    for (const id of [root, ...delegated, attached]) expect((await get(t, a, id)).status).toBe(404)
    for (const id of [stuckRoot, stuckChild, running]) expect((await get(t, a, id)).status).toBe(200)
    const logs = await t.db.select().from(executionLogs).where(inArray(executionLogs.executionId, [lone, root, ...delegated, attached])).all()
    expect(logs).toEqual([])
  })

  test('one statement deletes at most its limit of trees, each whole', async () => {
    const t = await makeTestApp({ config })
    const a = await makeActor(t)
    const ag = await agent(t, a)
    const older = await row(t, a, ag.id, { status: 'completed', completedAt: t.clock.now() - 2 * DAY })
    const olderChild = await row(t, a, ag.id, { status: 'completed', completedAt: t.clock.now() - 3 * DAY, rootId: older })
    const newer = await row(t, a, ag.id, { status: 'completed', completedAt: t.clock.now() - DAY })
    const first = await deleteExecutionTreesBefore(t.rt.db, t.clock.now(), 1)
    const left = (await t.db.select().from(executions).all()).map((e) => e.id).sort()
    // One tree went, whole (the older one, as the index hands them over; either is right).
    const either = [{ first: 2, left: [newer] }, { first: 1, left: [older, olderChild].sort() }].map((o) => JSON.stringify(o))
    expect(either).toContain(JSON.stringify({ first, left }))
    expect(await deleteExecutionTreesBefore(t.rt.db, t.clock.now(), 1)).toBe(3 - first)
    expect(await deleteExecutionTreesBefore(t.rt.db, t.clock.now(), 1)).toBe(0)
  })
})

describe('the retention statements walk indexes, never a whole table', () => {
  test('on a populated, analyzed database where nothing is due (the everyday case), and where a backlog is', async () => {
    const t = await makeTestApp()
    const a = await makeActor(t)
    const ag = await agent(t, a)
    const now = t.clock.now()
    // Finished executions of the last 30 days (one in ten with two delegated children) and audit
    // events, enough of them that reading a whole table costs the planner more than the index
    // look-ups (PostgreSQL's generic plan, made without the cut-off, still took a seq scan for
    // the audit events at 6,000 rows; not at 10,000).
    const ROWS = 20_000
    const runs: (typeof executions.$inferInsert)[] = []
    for (let i = 0; i < ROWS; i++) {
      const root = i % 10 >= 8 ? runs[runs.length - 1 - (i % 10) + 7]!.id : null
      const ended = new Date(now - (i % 30) * DAY)
      const id = newId('exec')
      runs.push({ id, organizationId: a.organizationId, userId: a.userId, agentId: ag.id, agentName: 'Agent', agentVisibility: 'organization', chatId: id, sessionId: id, status: 'completed', message: 'm', parentExecutionId: root, rootExecutionId: root, delegated: root !== null, completedAt: ended, createdAt: ended, updatedAt: ended })
    }
    const events = Array.from({ length: ROWS }, (_, i) => ({ id: newId('evt'), organizationId: a.organizationId, type: 'token.created', source: 'cli', createdAt: new Date(now - (i % 30) * DAY) }))
    if (t.rt.connection.dialect === 'pg') {
      // The same rows in one COPY each (bench/seed.ts): multi-row INSERTs took 8 s here.
      await copyRows(t.rt.connection.client, pgTables.executions, runs)
      await copyRows(t.rt.connection.client, pgTables.auditEvents, events)
    } else {
      for (let i = 0; i < runs.length; i += 1000) await t.db.insert(executions).values(runs.slice(i, i + 1000)).run()
      for (let i = 0; i < events.length; i += 2000) await t.db.insert(auditEvents).values(events.slice(i, i + 2000)).run()
    }
    const statements = (cut: number) => [executionTreesEndedBefore(t.rt.db, cut, EXECUTION_PRUNE_BATCH).toSQL(), auditEventsBefore(t.rt.db, cut, AUDIT_PRUNE_BATCH).toSQL()]
    for (const cut of [now - 60 * DAY, now - 15 * DAY]) {
      if (t.rt.connection.dialect === 'sqlite') {
        const client = t.rt.connection.sync.$client
        client.run('ANALYZE')
        for (const q of statements(cut)) {
          const steps = (client.query(`EXPLAIN QUERY PLAN ${q.sql}`).all(...(q.params as never[])) as { detail: string }[]).map((r) => r.detail)
          expect({ sql: q.sql, scans: steps.filter((d) => /^SCAN (executions|audit_events|r|d)\b/.test(d)) }).toEqual({ sql: q.sql, scans: [] })
        }
      } else {
        const conn = t.rt.connection
        await conn.client.unsafe('ANALYZE executions, audit_events')
        for (const q of statements(cut)) {
          for (const mode of ['custom', 'generic'] as const) {
            const plan = await explainPg(conn.client, q.sql, q.params, mode)
            const seq = nodesOf(plan).filter((n) => n['Node Type'] === 'Seq Scan' && (n['Relation Name'] === 'executions' || n['Relation Name'] === 'audit_events'))
            expect({ mode, sql: q.sql, seq: seq.length, plan: seq.length ? describePlan(plan) : '' }).toEqual({ mode, sql: q.sql, seq: 0, plan: '' })
          }
        }
      }
    }
  }, 60_000)
})

describe('configuration', () => {
  test('retention periods: whole days 1-36500, or off / unset for ever', () => {
    expect(loadConfig({})).toMatchObject({ auditRetentionDays: null, executionRetentionDays: null })
    expect(loadConfig({ TEAMDAY_AUDIT_RETENTION_DAYS: '365', TEAMDAY_EXECUTION_RETENTION_DAYS: '30' })).toMatchObject({ auditRetentionDays: 365, executionRetentionDays: 30 })
    expect(loadConfig({ TEAMDAY_AUDIT_RETENTION_DAYS: 'off', TEAMDAY_EXECUTION_RETENTION_DAYS: '' })).toMatchObject({ auditRetentionDays: null, executionRetentionDays: null })
    for (const bad of ['0', '-1', '36501', '1.5', '30d', 'forever']) {
      expect(() => loadConfig({ TEAMDAY_AUDIT_RETENTION_DAYS: bad })).toThrow(ConfigError)
      expect(() => loadConfig({ TEAMDAY_EXECUTION_RETENTION_DAYS: bad })).toThrow('TEAMDAY_EXECUTION_RETENTION_DAYS must be a number of days 1-36500')
    }
  })
})

describe('teamday audit prune --before DATE (--db, on the suite\'s backend)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'teamday-prune-'))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))
  const env = { TEAMDAY_LOG_LEVEL: 'silent', TEAMDAY_ENCRYPTION_KEY: Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64') }

  async function cli(...argv: string[]) {
    const out: string[] = []
    const err: string[] = []
    const io: Io = { out: (s) => void out.push(s), err: (s) => void err.push(s), env }
    const code = await run(argv, io)
    return { code, out: out.join('\n'), err: err.join('\n') }
  }

  test('deletes the events before the date in every organization, prints how many, and records it where each organization\'s admins read it', async () => {
    const db = ON_PG ? urlFor(await createTestDatabase()) : join(dir, 'prune.db')
    const rt = await createRuntime(loadConfig(env, { dbPath: db }))
    const ctx = operatorContext(rt)
    const acme = await createUser(ctx, { email: 'ada@example.com', orgSlug: 'acme', role: 'admin' })
    const other = await createUser(ctx, { email: 'bob@example.com', orgSlug: 'other', role: 'admin' })
    const { token } = await createToken(ctx, { userId: acme.user.id, organizationId: acme.organization.id }, { name: 'audit reader' })
    const old = (organizationId: string | null, createdAt: string) => ({ id: newId('evt'), organizationId, type: 'token.created', source: 'cli', createdAt: new Date(createdAt) })
    await rt.db.insert(auditEvents).values([old(acme.organization.id, '2020-03-01'), old(acme.organization.id, '2020-12-31T23:59:59.999Z'), old(other.organization.id, '2020-06-01'), old(null, '2020-06-01'), old(acme.organization.id, '2021-01-01T00:00:00Z')]).run()
    const recent = (await rt.db.select().from(auditEvents).all()).length - 5
    await rt.close()

    const pruned = await cli('audit', 'prune', '--before', '2021-01-01', '--db', db)
    expect([pruned.code, pruned.out]).toEqual([0, 'deleted 4 audit event(s) recorded before 2021-01-01T00:00:00.000Z (2 organization(s)); recorded as audit.pruned'])
    const listed = JSON.parse((await cli('audit', 'list', '--json', '--limit', '1000', '--db', db)).out).events as { type: string; organizationId: string | null; createdAt: string; details: any; source: string }[]
    expect(listed.filter((e) => e.createdAt < '2021-01-01')).toEqual([])
    expect(listed.filter((e) => e.createdAt.startsWith('2021-01-01T00:00:00'))).toHaveLength(1)
    expect(listed).toHaveLength(recent + 1 + 3)
    const marks = listed.filter((e) => e.type === 'audit.pruned').map((e) => ({ org: e.organizationId, source: e.source, details: e.details }))
    expect(marks).toEqual(
      expect.arrayContaining([
        { org: acme.organization.id, source: 'cli', details: { before: '2021-01-01T00:00:00.000Z', deleted: 2 } },
        { org: other.organization.id, source: 'cli', details: { before: '2021-01-01T00:00:00.000Z', deleted: 1 } },
        { org: null, source: 'cli', details: { before: '2021-01-01T00:00:00.000Z', deleted: 4, organizations: 2 } },
      ]),
    )
    expect(marks).toHaveLength(3)

    // acme's admins see it in their own log, through the API of a server on that database.
    const server = await createRuntime(loadConfig(env, { dbPath: db }))
    try {
      const res = await createApp(server).handle(new Request('http://localhost/api/v1/audit-events?type=audit.pruned', { headers: { authorization: `Bearer ${token}` } }))
      const seen = ((await res.json()) as { events: { details: unknown }[] }).events
      expect(seen.map((e) => e.details)).toEqual([{ before: '2021-01-01T00:00:00.000Z', deleted: 2 }])
    } finally {
      await server.close()
    }

    // A second run finds nothing more, and says so (and is recorded too).
    expect((await cli('audit', 'prune', '--before', '2021-01-01', '--db', db)).out).toBe('deleted 0 audit event(s) recorded before 2021-01-01T00:00:00.000Z (0 organization(s)); recorded as audit.pruned')
  }, 60_000)

  test('refused with exit 2, deleting nothing: a date that is none, a date in the future, no --before, no --db', async () => {
    const db = ON_PG ? urlFor(await createTestDatabase()) : join(dir, 'refused.db')
    const rt = await createRuntime(loadConfig(env, { dbPath: db }))
    await createUser(operatorContext(rt), { email: 'ada@example.com', orgSlug: 'acme', role: 'admin' })
    const events = (await rt.db.select().from(auditEvents).all()).length
    await rt.close()
    expect(events).toBeGreaterThan(0)
    const tomorrow = new Date(Date.now() + DAY).toISOString()
    for (const [argv, says] of [
      [['--before', 'last week', '--db', db], '--before must be a date (2026-01-01) or an ISO-8601 instant'],
      [['--before', tomorrow, '--db', db], '--before must not be in the future'],
      [['--db', db], 'missing required option --before'],
      [['--before', '2021-01-01'], 'prune is an admin command'],
    ] as const) {
      const r = await cli('audit', 'prune', ...argv)
      expect({ argv, code: r.code, says: r.err.includes(says) }).toEqual({ argv, code: 2, says: true })
    }
    const after = await createRuntime(loadConfig(env, { dbPath: db }))
    expect((await after.db.select().from(auditEvents).all()).length).toBe(events)
    await after.close()
  }, 60_000)
})
