// Revocation against requests in flight and across instances. A request is let in while its
// token is good; what it writes after that must not outlive a revocation that was meant to take
// it along. And a revocation is in force on every instance from its commit, whatever the clock of
// the instance that made it says. Each request in flight here is held after its authentication
// by the rate limiter's count of it (test/helpers/pause.ts): deterministic, no sleeps.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { makeActor, makeTestApp, makeToken, type Actor, type TestApp } from './helpers/app'
import { PausingStore } from './helpers/pause'
import { whileHeld } from './helpers/held-write'
import { ON_PG } from './helpers/pg'
import { startProviderDouble, type ProviderDouble } from './helpers/providers'
import { cliLogin } from './helpers/world'
import { cliOn } from './helpers/cli'
import { consoleClient, givePassword, signedInPerson, shownApproval } from './helpers/console'
import { eq } from 'drizzle-orm'
import postgres from 'postgres'
import type { PgConnection } from '../src/db/pg'
import { cliAccessTokens, personalAccessTokens, sessions } from '../src/db/schema'
import { agent, until } from './helpers/scripted-provider'
import { describeLoginRequest, initiateLogin, pollLogin } from '../src/modules/cli-auth/service'

let double: ProviderDouble
const dir = mkdtempSync(join(tmpdir(), 'teamday-revocation-races-'))
beforeAll(() => {
  double = startProviderDouble()
})
afterAll(() => {
  double.stop()
  rmSync(dir, { recursive: true, force: true })
})

const config = () => ({ openaiBaseUrl: double.openaiBaseUrl, defaultModel: 'test-model' })
let ip = 0
const report = (t: TestApp, token: string) => t.req('POST', '/api/v1/credentials/revoke', { body: { credentials: [token] }, ip: `198.51.100.${++ip}` })
/** The executions of an agent, as its organization's admin lists them. */
const runsOf = async (t: TestApp, admin: Actor, agentId: string) => (await t.req('GET', `/api/v1/executions?agentId=${agentId}&limit=200`, { token: admin.token })).body as { id: string; status: string }[]

describe('an execute in flight when its token is revoked', () => {
  // The leak report cancels the runs the token started (and those of the tokens it made); a run
  // recorded by a request that authenticated just before the report, and wrote after it, escaped
  // that sweep: 202, and the run went on for whoever held the leaked secret. Now the transaction
  // that records a run asks again whether its token is unrevoked: 401, nothing recorded.
  for (const mode of ['async', 'stream', 'sync'] as const) {
    test(`a leak report meanwhile (${mode}): 401 token_revoked, no run recorded; the same for a token the leaked one made`, async () => {
      const store = new PausingStore()
      const t = await makeTestApp({ rateLimitStore: store, config: config() })
      const a = await makeActor(t, { role: 'admin' })
      const leaked = await makeToken(t, a)
      const made = (await t.req('POST', '/api/v1/tokens', { token: leaked.token, body: { name: 'made by the leaked one' } })).body as { id: string; token: string }
      const ag = await agent(t, a)
      const body = { message: 'hello', ...(mode === 'async' && { async: true }), ...(mode === 'stream' && { stream: true }) }
      // Both requests authenticated, then held; the report of the leaked token (which revokes the
      // one it made too) commits; then they go on.
      const held = [leaked, made].map((x) => ({ gate: store.pauseNext(x.id), token: x.token }))
      const requests = held.map((h) => t.req('POST', `/api/v1/agents/${ag.id}/execute`, { token: h.token, body }))
      for (const h of held) await h.gate.reached
      expect((await report(t, leaked.token)).status).toBe(202)
      for (const h of held) h.gate.release()
      for (const r of await Promise.all(requests)) {
        expect(r.status).toBe(401)
        expect(r.body.code).toBe('token_revoked')
        expect(r.headers.get('www-authenticate')).toContain('invalid_token')
      }
      expect(await runsOf(t, a, ag.id)).toEqual([])
      await t.rt.close()
    })
  }

  test('a plain revocation or a removal from the organization meanwhile: refused too (401 token_revoked, membership_revoked), nothing recorded', async () => {
    const store = new PausingStore()
    const t = await makeTestApp({ rateLimitStore: store, config: config() })
    const admin = await makeActor(t, { role: 'admin' })
    const ag = await agent(t, admin)
    const cases = [
      { code: 'token_revoked', change: (m: Actor) => t.req('DELETE', `/api/v1/tokens/${m.tokenId}`, { token: admin.token }) },
      { code: 'membership_revoked', change: (m: Actor) => t.req('DELETE', `/api/v1/organizations/${m.organizationId}/members/${m.userId}`, { token: admin.token }) },
    ]
    for (const c of cases) {
      const m = await makeActor(t, { role: 'member' })
      const gate = store.pauseNext(m.tokenId)
      const request = t.req('POST', `/api/v1/agents/${ag.id}/execute`, { token: m.token, body: { message: 'hello', async: true } })
      await gate.reached
      expect((await c.change(m)).status).toBe(200)
      gate.release()
      const r = await request
      expect(r.status).toBe(401)
      expect(r.body.code).toBe(c.code)
    }
    expect(await runsOf(t, admin, ag.id)).toEqual([])
    await t.rt.close()
  })

  test('a rotation with a grace period meanwhile is no revocation yet: the run is recorded and runs', async () => {
    const store = new PausingStore()
    const t = await makeTestApp({ rateLimitStore: store, config: config() })
    const a = await makeActor(t, { role: 'admin' })
    const ag = await agent(t, a)
    const gate = store.pauseNext(a.tokenId)
    const request = t.req('POST', `/api/v1/agents/${ag.id}/execute`, { token: a.token, body: { message: 'hello', async: true } })
    await gate.reached
    expect((await t.req('POST', `/api/v1/tokens/${a.tokenId}/rotate`, { token: a.token, body: { gracePeriodSeconds: 600 } })).status).toBe(201)
    gate.release()
    const r = await request
    expect(r.status).toBe(202)
    await until(async () => (await runsOf(t, a, ag.id))[0]?.status === 'completed')
    await t.rt.close()
  })
})

describe('a task write in flight when its user is removed from the organization', () => {
  // A create or update naming no space or assignee is one statement outside any transaction (the
  // lock that serializes every transaction on PostgreSQL): it wrote the task after a removal
  // that committed while it was in flight (201, 200). Its statement now writes only while its
  // user is a member: 401 membership_revoked, nothing written.
  for (const write of ['a create', 'a status change'] as const) {
    test(`${write} (no space, no assignee) meanwhile: 401 membership_revoked, nothing written`, async () => {
      const store = new PausingStore()
      const t = await makeTestApp({ rateLimitStore: store })
      const admin = await makeActor(t, { role: 'admin' })
      const m = await makeActor(t, { role: 'member' })
      const mine = (await t.req('POST', '/api/v1/tasks', { token: m.token, body: { title: 'before' } })).body as { id: string; status: string }
      expect(mine.status).toBe('pending')
      // Authenticated, then held; the removal commits; then it goes on.
      const gate = store.pauseNext(m.tokenId)
      const request =
        write === 'a create'
          ? t.req('POST', '/api/v1/tasks', { token: m.token, body: { title: 'after the removal' } })
          : t.req('PATCH', `/api/v1/tasks/${mine.id}`, { token: m.token, body: { status: 'completed' } })
      await gate.reached
      expect((await t.req('DELETE', `/api/v1/organizations/${m.organizationId}/members/${m.userId}`, { token: admin.token })).status).toBe(200)
      gate.release()
      const r = await request
      expect(r.status).toBe(401)
      expect(r.body.code).toBe('membership_revoked')
      expect(r.headers.get('www-authenticate')).toContain('invalid_token')
      const list = (await t.req('GET', '/api/v1/tasks', { token: admin.token })).body as { id: string; status: string }[]
      expect(list.map((x) => [x.id, x.status])).toEqual([[mine.id, 'pending']])
      await t.rt.close()
    })
  }

  test('a status change of a task deleted meanwhile by a member still there: 404, as before', async () => {
    const store = new PausingStore()
    const t = await makeTestApp({ rateLimitStore: store })
    const admin = await makeActor(t, { role: 'admin' })
    const m = await makeActor(t, { role: 'member' })
    const mine = (await t.req('POST', '/api/v1/tasks', { token: m.token, body: { title: 'soon gone' } })).body as { id: string }
    const gate = store.pauseNext(m.tokenId)
    const request = t.req('PATCH', `/api/v1/tasks/${mine.id}`, { token: m.token, body: { status: 'completed' } })
    await gate.reached
    expect((await t.req('DELETE', `/api/v1/tasks/${mine.id}`, { token: admin.token })).status).toBe(200)
    gate.release()
    expect((await request).status).toBe(404)
    await t.rt.close()
  })
})

describe('a write in flight when its token is revoked', () => {
  // A request is let in before its body is read: a body still uploading when its token was
  // revoked was written after the revocation (a stolen admin token's PATCH, its body trickled,
  // made its holder's accomplice an admin 2 s after the token was revoked: 200). Every write
  // transaction now asks again whether its token is unrevoked: 401 token_revoked, nothing written.
  const writes: { what: string; send: (t: TestApp, a: Actor, m: Actor, spaceId: string) => Promise<unknown>; state: (t: TestApp, a: Actor, m: Actor, spaceId: string) => Promise<unknown> }[] = [
    {
      what: 'a member made admin',
      send: (t, a, m) => t.req('PATCH', `/api/v1/organizations/${a.organizationId}/members/${m.userId}`, { token: a.token, body: { role: 'admin' } }),
      state: async (t, a, m) => ((await t.req('GET', `/api/v1/organizations/${a.organizationId}/members`, { token: a.token })).body.members as { userId: string; role: string }[]).find((x) => x.userId === m.userId)?.role,
    },
    {
      what: 'a space secret set',
      send: (t, a, _m, spaceId) => t.req('POST', `/api/v1/spaces/${spaceId}/secrets`, { token: a.token, body: { secrets: { LATE_KEY: 'v' } } }),
      state: async (t, a, _m, spaceId) => (await t.req('GET', `/api/v1/spaces/${spaceId}/secrets`, { token: a.token })).body,
    },
    {
      what: 'a task created (one statement, no transaction)',
      send: (t, a) => t.req('POST', '/api/v1/tasks', { token: a.token, body: { title: 'late' } }),
      state: async (t, a) => (await t.req('GET', '/api/v1/tasks', { token: a.token })).body.length,
    },
    {
      what: 'an agent created',
      send: (t, a) => t.req('POST', '/api/v1/agents', { token: a.token, body: { name: 'Late', role: 'r', systemPrompt: 'p' } }),
      state: async (t, a) => (await t.req('GET', '/api/v1/agents', { token: a.token })).body.total,
    },
  ]
  for (const w of writes) {
    test(`${w.what}: 401 token_revoked after a DELETE or a leak report meanwhile, nothing written; a grace period still writes`, async () => {
      const store = new PausingStore()
      const t = await makeTestApp({ rateLimitStore: store })
      const owner = await makeActor(t, { role: 'admin' })
      const m = await makeActor(t, { role: 'member' })
      const space = (await t.req('POST', '/api/v1/spaces', { token: owner.token, body: { name: 'Ops', visibility: 'organization' } })).body.space as { id: string }
      const before = await w.state(t, owner, m, space.id)
      const changes: [string, (x: { token: string; id: string }) => Promise<unknown>][] = [
        ['DELETE', (x) => t.req('DELETE', `/api/v1/tokens/${x.id}`, { token: owner.token })],
        ['leak report', (x) => report(t, x.token)],
      ]
      for (const [how, change] of changes) {
        const x = await makeToken(t, owner)
        const gate = store.pauseNext(x.id)
        const request = w.send(t, { ...owner, token: x.token, tokenId: x.id }, m, space.id)
        await gate.reached
        await change(x)
        gate.release()
        const r = (await request) as Awaited<ReturnType<TestApp['req']>>
        expect([how, r.status, r.body.code]).toEqual([how, 401, 'token_revoked'])
        expect(r.headers.get('www-authenticate')).toContain('invalid_token')
        expect([how, await w.state(t, owner, m, space.id)]).toEqual([how, before])
      }
      // Rotated with a grace period meanwhile: the old token still works until the grace ends.
      const x = await makeToken(t, owner)
      const gate = store.pauseNext(x.id)
      const request = w.send(t, { ...owner, token: x.token, tokenId: x.id }, m, space.id)
      await gate.reached
      expect((await t.req('POST', `/api/v1/tokens/${x.id}/rotate`, { token: owner.token, body: { gracePeriodSeconds: 3600 } })).status).toBe(201)
      gate.release()
      expect(((await request) as Awaited<ReturnType<TestApp['req']>>).status).toBeLessThan(300)
      expect(await w.state(t, owner, m, space.id)).not.toEqual(before)
      await t.rt.close()
    })
  }
})

describe('a console form in flight when its session ends', () => {
  // The console's sessions are the same kind of credential: a form let in before its session was
  // ended ("sign out everywhere" after a stolen cookie) and written after it created a token and
  // showed its secret to whoever held the cookie (201). Now its transaction asks whether the
  // session is still open: 401, nothing written; a session still open writes.
  test('a token created from Settings: 401 once the session was ended meanwhile, no token; 201 while it is open', async () => {
    const store = new PausingStore()
    const t = await makeTestApp({ rateLimitStore: store })
    const { a, c } = await signedInPerson(t, { role: 'admin' })
    const mine = async () => (await t.db.select({ id: personalAccessTokens.id }).from(personalAccessTokens).where(eq(personalAccessTokens.userId, a.userId)).all()).length
    const before = await mine()
    for (const end of [false, true]) {
      const gate = store.pauseKey(`console:${a.userId}`)
      const request = c.post('/settings/tokens', { name: `CI ${end}`, expires: '90', scope: '*' })
      await gate.reached
      if (end) await t.db.delete(sessions).where(eq(sessions.userId, a.userId)).run()
      gate.release()
      const r = await request
      expect([end, r.status]).toEqual([end, end ? 401 : 201])
      expect(/td_[A-Za-z0-9_-]{43}/.test(r.text)).toBe(!end)
    }
    expect(await mine()).toBe(before + 1)
    await t.rt.close()
  })
})

describe.skipIf(!ON_PG)('PostgreSQL: a task statement and a revocation at the same moment', () => {
  // A task create or update naming no space or assignee is one statement outside the lock every
  // transaction takes. Its token was asked about in a look-up of its own just before it: a
  // revocation committing between the two let the task be written after it (201). The statement
  // now carries the condition and reads the token FOR SHARE: a revocation at the same moment
  // either waits for the write's commit, or the write sees it (401 token_revoked, nothing written).
  // The statement is held by another session's lock on its user's membership (which it reads FOR
  // KEY SHARE) while the token is revoked; whether the revocation waited is seen in pg_stat_activity.
  for (const write of ['a create', 'a status change'] as const) {
    test(`${write}: the revocation waits for it, or it writes nothing (401 token_revoked)`, async () => {
      const t = await makeTestApp()
      const owner = await makeActor(t, { role: 'admin' })
      const x = await makeToken(t, owner)
      const mine = (await t.req('POST', '/api/v1/tasks', { token: x.token, body: { title: 'before' } })).body as { id: string }
      const client = (t.rt.connection as PgConnection).client
      // Backends of this database waiting on a row lock (not the advisory lock of every transaction).
      const lockWaits = async () => (await client.unsafe(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND wait_event <> 'advisory'`))[0]!.n as number
      /** Polls until `settled()` or `n` backends wait on a row lock: whether they waited. */
      const waitsOrSettles = async (n: number, settled: () => boolean) => {
        for (const end = Date.now() + 20_000; ; await Bun.sleep(10)) {
          if (settled()) return false
          if ((await lockWaits()) >= n) return true
          if (Date.now() > end) throw new Error(`neither answered nor waited within 20 s (${n})`)
        }
      }
      const holder = postgres(t.pg!.url, { max: 1, onnotice: () => {}, connection: { search_path: t.pg!.schema } })
      let held!: () => void
      let release!: () => void
      const isHeld = new Promise<void>((r) => (held = r))
      const released = new Promise<void>((r) => (release = r))
      const tx = holder
        .begin(async (sql) => {
          await sql`SELECT 1 FROM memberships WHERE user_id = ${owner.userId} FOR UPDATE`
          held()
          await released
          throw new Error('rolled back')
        })
        .catch(() => {})
      await isHeld
      let wrote = false
      const request = (
        write === 'a create'
          ? t.req('POST', '/api/v1/tasks', { token: x.token, body: { title: 'after the revocation' } })
          : t.req('PATCH', `/api/v1/tasks/${mine.id}`, { token: x.token, body: { status: 'completed' } })
      ).finally(() => (wrote = true))
      // The write's statement waits for the membership's lock (the token already asked about, before).
      expect(await waitsOrSettles(1, () => wrote)).toBe(true)
      let revoked = false
      const revocation = t.req('DELETE', `/api/v1/tokens/${x.id}`, { token: owner.token }).finally(() => (revoked = true))
      const revocationWaited = await waitsOrSettles(2, () => revoked)
      release()
      await tx
      await holder.end({ timeout: 1 })
      const [r, d] = await Promise.all([request, revocation])
      expect(d.status).toBe(200)
      const tasks = ((await t.req('GET', '/api/v1/tasks', { token: owner.token })).body as { id: string; title: string; status: string }[]).map((k) => [k.title, k.status])
      if (revocationWaited) {
        // The write held the token: it committed first, the revocation after it.
        expect(r.status).toBeLessThan(300)
      } else {
        // The revocation committed while the write's statement was in flight: the write saw it.
        expect([r.status, r.body.code]).toEqual([401, 'token_revoked'])
        expect(r.headers.get('www-authenticate')).toContain('invalid_token')
        expect(tasks).toEqual([['before', 'pending']])
      }
      await t.rt.close()
    })
  }
})

describe('a rotation in flight when its own token is revoked', () => {
  // It made no successor either way; it answered 409 invalid_state "rotated or revoked by a
  // concurrent request; list your tokens and retry", which is for a rotation racing another
  // rotation of the token (still so), and sent a leaked token's holder back to try again.
  test('by a leak report, a DELETE or its user\'s removal: 401 as its next request (token_revoked, membership_revoked), no successor; raced by a rotation: 409 naming the successor', async () => {
    const store = new PausingStore()
    const t = await makeTestApp({ rateLimitStore: store })
    const admin = await makeActor(t, { role: 'admin' })
    const cases: [string, string, (m: Actor) => Promise<unknown>][] = [
      ['leak report', 'token_revoked', (m) => report(t, m.token)],
      ['DELETE', 'token_revoked', (m) => t.req('DELETE', `/api/v1/tokens/${m.tokenId}`, { token: admin.token })],
      ['removal', 'membership_revoked', (m) => t.req('DELETE', `/api/v1/organizations/${m.organizationId}/members/${m.userId}`, { token: admin.token })],
      ['rotation', 'invalid_state', (m) => t.req('POST', `/api/v1/tokens/${m.tokenId}/rotate`, { token: m.token, body: {} })],
    ]
    for (const [what, code, change] of cases) {
      const m = await makeActor(t)
      const gate = store.pauseNext(m.tokenId)
      const request = t.req('POST', `/api/v1/tokens/${m.tokenId}/rotate`, { token: m.token, body: {} })
      await gate.reached
      await change(m)
      gate.release()
      const r = await request
      expect([what, r.status, r.body.code]).toEqual([what, code === 'invalid_state' ? 409 : 401, code])
      const successors = (await t.req('GET', `/api/v1/tokens?all=true&limit=200`, { token: admin.token })).body.tokens.filter((x: { userId: string; id: string }) => x.userId === m.userId && x.id !== m.tokenId)
      expect([what, successors.length]).toEqual([what, code === 'invalid_state' ? 1 : 0])
    }
    await t.rt.close()
  })
})

describe('a CLI refresh at the moment its sign-in is revoked', () => {
  // The refresh asked whether its sign-in was unrevoked (and its user a member) before the
  // transaction that issues the access token: a sign-out committed in between got a 200 with an
  // access token for a sign-in already ended, and a `cli.token_refreshed` after its end. Here the
  // sign-out is held open in another session (test/helpers/held-write.ts) while the refresh runs.
  test('the refresh waits for the sign-out, sees it and is 401 token_revoked; no access token issued', async () => {
    const t = await makeTestApp(ON_PG ? {} : { dbPath: join(dir, 'refresh.db') })
    const a = await makeActor(t, { role: 'member' })
    const cli = await cliLogin(t, a)
    const signOut = t.backend === 'pg'
      ? `UPDATE cli_sessions SET revoked_at = now(), revoked_by = 'other', revoked_reason = 'logout' WHERE id = '${cli.sessionId}'`
      : `UPDATE cli_sessions SET revoked_at = ${Date.now()}, revoked_by = 'other', revoked_reason = 'logout' WHERE id = '${cli.sessionId}'`
    const { res, waited } = await whileHeld(t, signOut, () => t.req('POST', '/api/auth/cli/refresh', { body: { refreshToken: cli.refreshToken } }))
    expect(waited).toBe(true)
    expect([res.status, res.body.code]).toEqual([401, 'token_revoked'])
    expect((await t.db.select({ id: cliAccessTokens.id }).from(cliAccessTokens).where(eq(cliAccessTokens.sessionId, cli.sessionId)).all()).length).toBe(1)
    // Not revoked: it refreshes.
    const b = await makeActor(t, { role: 'member' })
    const other = await cliLogin(t, b)
    expect((await t.req('POST', '/api/auth/cli/refresh', { body: { refreshToken: other.refreshToken } })).status).toBe(200)
    await t.rt.close()
  })
})

describe('a CLI sign-in approved at the moment its person is removed from the organization', () => {
  // The approval's organization was checked before its transaction: written after the removal
  // had withdrawn the person's approvals there, it signed the terminal in to an organization they
  // had left (its poll answered `authorized`, every request then 401). Here the removal is held
  // open in another session while the console's Approve runs.
  test('the approval waits for the removal, sees it and is refused (422); the code stays pending', async () => {
    const t = await makeTestApp(ON_PG ? {} : { dbPath: join(dir, 'approve.db') })
    const { a, c } = await signedInPerson(t, { role: 'member', org: 'acme' })
    const beta = await makeActor(t, { role: 'member', org: 'beta', email: a.email })
    const { code } = await initiateLogin(t.ctx)
    const removal = `DELETE FROM memberships WHERE user_id = '${a.userId}' AND organization_id = '${beta.organizationId}'`
    const approve = await shownApproval(t, c, `/cli/authorize/${code}`)
    const { res, waited } = await whileHeld(t, removal, () => c.post(`/cli/authorize/${code}`, { ...approve, organizationId: beta.organizationId }))
    expect(waited).toBe(true)
    expect(res.status).toBe(422)
    expect(res.text).toContain('no longer a member')
    expect((await describeLoginRequest(t.ctx, code))?.state).toBe('pending')
    // Still a member of acme: approved there.
    expect((await c.post(`/cli/authorize/${code}`, { ...(await shownApproval(t, c, `/cli/authorize/${code}`)), organizationId: a.organizationId })).status).toBe(303)
    expect((await pollLogin(t.ctx, code)).status).toBe('authorized')
    await t.rt.close()
  })
})

describe('teamday tokens create at the moment its user is removed from the organization', () => {
  // The admin command looked the membership up before the token's transaction: a removal
  // committed in between (an admin on the API, while the command ran on the same file) left it
  // printing a token every request refused. SQLite: the command works on the database file.
  test('the command waits for the removal, sees it and fails (exit 1), no token made', async () => {
    mkdirSync(join(dir, 'cli'))
    const file = join(dir, 'cli', 'teamday.db')
    // The command finds the app's key beside the database, as an operator's would.
    const key = crypto.getRandomValues(new Uint8Array(32))
    writeFileSync(join(dir, 'cli', 'teamday.key'), Buffer.from(key).toString('base64'), { mode: 0o600 })
    const t = await makeTestApp({ dbPath: file, key })
    const a = await makeActor(t, { role: 'member', org: 'acme' })
    const cli = cliOn(file)
    let result: Awaited<ReturnType<typeof cli>> | undefined
    const removal = `DELETE FROM memberships WHERE user_id = '${a.userId}' AND organization_id = '${a.organizationId}'`
    const { waited } = await whileHeld(t, removal, async () => {
      result = await cli('tokens', 'create', '--email', a.email, '--org', 'acme', '--name', 'made meanwhile')
      return { status: 0, headers: new Headers(), body: undefined, text: '' }
    })
    expect(waited).toBe(true)
    expect([result!.code, result!.out]).toEqual([1, ''])
    expect(result!.err).toContain('no longer a member')
    const made = (await t.db.select({ id: personalAccessTokens.id }).from(personalAccessTokens).where(eq(personalAccessTokens.userId, a.userId)).all()).length
    expect(made).toBe(1)
    await t.rt.close()
  })
})

describe('a console sign-in at the moment its person is removed from the organization', () => {
  // The sign-in chose the organization (the person's oldest) before the session's transaction:
  // removed from it meanwhile, the session opened there anyway, signed in to nothing (every page
  // sent them back to sign in), with `user.signed_in` recorded in the organization they had left.
  test('the sign-in waits for the removal and opens in an organization still theirs; none left: refused', async () => {
    const t = await makeTestApp(ON_PG ? {} : { dbPath: join(dir, 'sign-in.db') })
    const a = await makeActor(t, { role: 'member', org: 'acme' })
    t.clock.advance(1000)
    const beta = await makeActor(t, { role: 'member', org: 'beta', email: a.email })
    await givePassword(t, a.userId)
    const removal = (org: string) => `DELETE FROM memberships WHERE user_id = '${a.userId}' AND organization_id = '${org}'`
    const sessionsOf = async () => (await t.db.select({ org: sessions.organizationId }).from(sessions).where(eq(sessions.userId, a.userId)).all()).map((x) => x.org)
    const c = consoleClient(t)
    const first = await whileHeld(t, removal(a.organizationId), () => c.signIn(a.email))
    expect(first.waited).toBe(true)
    expect(first.res.status).toBe(303)
    expect(await sessionsOf()).toEqual([beta.organizationId])
    expect((await c.get('/settings/profile')).status).toBe(200)
    // The last one: no session, refused as a sign-in without an organization.
    const other = consoleClient(t)
    const last = await whileHeld(t, removal(beta.organizationId), () => other.signIn(a.email))
    expect(last.waited).toBe(true)
    expect(last.res.status).toBe(422)
    // Only the first sign-in's (the held DELETE is the bare row's, not the app's removal, which ends sessions too).
    expect(await sessionsOf()).toEqual([beta.organizationId])
    await t.rt.close()
  })

  test("the organization switcher at that moment: the session stays where it was, still signed in", async () => {
    const t = await makeTestApp(ON_PG ? {} : { dbPath: join(dir, 'switch.db') })
    const { a, c } = await signedInPerson(t, { role: 'member', org: 'acme' })
    const beta = await makeActor(t, { role: 'member', org: 'beta', email: a.email })
    const removal = `DELETE FROM memberships WHERE user_id = '${a.userId}' AND organization_id = '${beta.organizationId}'`
    const { res, waited } = await whileHeld(t, removal, () => c.post('/org/switch', { organizationId: beta.organizationId }))
    expect(waited).toBe(true)
    expect(res.status).toBe(303)
    expect((await t.db.select({ org: sessions.organizationId }).from(sessions).where(eq(sessions.userId, a.userId)).all()).map((x) => x.org)).toEqual([a.organizationId])
    expect((await c.get('/settings/profile')).status).toBe(200)
    await t.rt.close()
  })
})

describe('a revocation made through an instance whose clock runs ahead', () => {
  // Each instance judged a revocation by its own clock: "revoked at or before now". One made
  // through an instance 5 s ahead (another machine) let the token in on every other instance for
  // those 5 s, and an open stream there went on. Only a rotation's grace period is a revocation
  // ahead of time; any other is in force once committed (src/auth/revoked.ts).
  const SKEW_MS = 5_000
  let n = 0
  /** Two instances on one database (a SQLite file, or one PostgreSQL schema), `ahead`'s clock SKEW_MS ahead of `here`'s. */
  async function instances(): Promise<{ here: TestApp; ahead: TestApp }> {
    const key = crypto.getRandomValues(new Uint8Array(32))
    const here = await makeTestApp({ key, config: config(), ...(ON_PG ? {} : { dbPath: join(dir, `skew${++n}.db`) }) })
    const ahead = await makeTestApp({ key, config: config(), ...(here.pg ? { pg: here.pg } : { dbPath: join(dir, `skew${n}.db`) }) })
    ahead.clock.advance(SKEW_MS)
    return { here, ahead }
  }

  test('the next request on the other instance is 401 token_revoked (a plain revocation, a leak report, a CLI sign-in signed out); a grace period still runs there', async () => {
    const { here, ahead } = await instances()
    const a = await makeActor(here, { role: 'admin' })
    const revoked = await makeToken(here, a)
    const leaked = await makeToken(here, a)
    const self = (token: string) => here.req('GET', '/api/v1/tokens/self', { token })
    const cli = await cliLogin(here, a)
    for (const token of [revoked.token, leaked.token, cli.accessToken]) expect((await self(token)).status).toBe(200)

    expect((await ahead.req('DELETE', `/api/v1/tokens/${revoked.id}`, { token: a.token })).status).toBe(200)
    expect((await ahead.req('POST', '/api/v1/credentials/revoke', { body: { credentials: [leaked.token] }, ip: '198.51.100.200' })).status).toBe(202)
    expect((await ahead.req('DELETE', '/api/v1/tokens/self', { token: cli.accessToken })).status).toBe(200)
    for (const token of [revoked.token, leaked.token, cli.accessToken]) {
      const r = await self(token)
      expect(r.status).toBe(401)
      expect(r.body.code).toBe('token_revoked')
    }

    // A rotation's grace period, ended by the instance ahead: 5 s later by this one's clock.
    const rotated = await makeToken(here, a)
    const successor = await ahead.req('POST', `/api/v1/tokens/${rotated.id}/rotate`, { token: rotated.token, body: { gracePeriodSeconds: 1 } })
    expect(successor.status).toBe(201)
    expect((await self(rotated.token)).status).toBe(200)
    here.clock.advance(SKEW_MS + 1_000)
    expect((await self(rotated.token)).status).toBe(401)
    await ahead.rt.close()
    await here.rt.close()
  })

  test('the token list on the other instance says revoked (status, its filters, expiresAt); a grace period is still active there', async () => {
    // tokenStatus and the list's status filters read "revoked_at at or before now": the token
    // was refused on this instance and listed there as `active`, with `expiresAt` its revocation
    // time (stopsAt took it for a grace period), under ?status=active and not ?status=revoked.
    const { here, ahead } = await instances()
    const a = await makeActor(here, { role: 'admin' })
    const revoked = await makeToken(here, a)
    const rotated = await makeToken(here, a)
    type Listed = { id: string; status: string; expiresAt: string; revokedAt: string | null }
    const list = async (status?: string) => ((await here.req('GET', `/api/v1/tokens?limit=200${status ? `&status=${status}` : ''}`, { token: a.token })).body.tokens as Listed[])
    const one = async (id: string) => (await list()).find((x) => x.id === id)!
    const expiry = (await one(revoked.id)).expiresAt
    expect((await ahead.req('DELETE', `/api/v1/tokens/${revoked.id}`, { token: a.token })).status).toBe(200)
    expect((await ahead.req('POST', `/api/v1/tokens/${rotated.id}/rotate`, { token: rotated.token, body: { gracePeriodSeconds: 60 } })).status).toBe(201)

    const shown = await one(revoked.id)
    expect(new Date(shown.revokedAt!).getTime()).toBeGreaterThan(here.clock.now())
    expect([shown.status, shown.expiresAt]).toEqual(['revoked', expiry])
    expect((await here.req('GET', `/api/v1/tokens/${revoked.id}`, { token: a.token })).body.token.status).toBe('revoked')
    expect((await list('revoked')).map((x) => x.id)).toEqual([revoked.id])
    expect((await list('active')).map((x) => x.id)).not.toContain(revoked.id)
    // The grace period the instance ahead started: active here until it ends, and its end is when the token stops.
    const grace = await one(rotated.id)
    expect([grace.status, grace.expiresAt]).toEqual(['active', grace.revokedAt!])
    expect((await list('active')).map((x) => x.id)).toContain(rotated.id)
    here.clock.advance(SKEW_MS + 61_000)
    expect((await one(rotated.id)).status).toBe('revoked')
    expect((await list('revoked')).map((x) => x.id).sort()).toEqual([revoked.id, rotated.id].sort())
    await ahead.rt.close()
    await here.rt.close()
  })

  test('a rotation without grace period made through an instance 10 min ahead: in force here at once; its retry is no reuse, nor is a later one', async () => {
    // Written as 'rotated' with revoked_at the rotation's time (10 min ahead by this clock), it
    // read as a grace period here: the old token kept working, listed as active, for 10 min.
    const { here, ahead } = await instances()
    ahead.clock.advance(10 * 60_000 - SKEW_MS)
    const a = await makeActor(here, { role: 'admin' })
    const rotated = await makeToken(here, a)
    const self = (token: string) => here.req('GET', '/api/v1/tokens/self', { token })
    expect((await self(rotated.token)).status).toBe(200)
    const expiry = ((await here.req('GET', `/api/v1/tokens/${rotated.id}`, { token: a.token })).body.token as { expiresAt: string }).expiresAt
    const successor = await ahead.req('POST', `/api/v1/tokens/${rotated.id}/rotate`, { token: rotated.token, body: {} })
    expect(successor.status).toBe(201)
    expect(Date.parse(successor.body.previousTokenRevokedAt)).toBe(ahead.clock.now())
    const old = await here.req('GET', '/api/v1/tokens/self', { token: rotated.token })
    expect([old.status, old.body.code]).toEqual([401, 'token_revoked'])
    const shown = (await here.req('GET', `/api/v1/tokens/${rotated.id}`, { token: a.token })).body.token as { status: string; expiresAt: string }
    expect([shown.status, shown.expiresAt]).toEqual(['revoked', expiry])
    // A retry of that rotation with another of the owner's tokens: 409 naming the successor, which
    // keeps working, within the minute and later (no secret was presented: no reuse).
    const retry = await here.req('POST', `/api/v1/tokens/${rotated.id}/rotate`, { token: a.token, body: {} })
    expect([retry.status, retry.body.code]).toEqual([409, 'invalid_state'])
    expect(retry.body.message).toContain(successor.body.id)
    expect((await self(successor.body.token)).status).toBe(200)
    here.clock.advance(10 * 60_000 + 60_000)
    const later = await here.req('POST', `/api/v1/tokens/${rotated.id}/rotate`, { token: a.token, body: {} })
    expect([later.status, later.body.code]).toEqual([409, 'invalid_state'])
    expect((await self(successor.body.token)).status).toBe(200)
    await ahead.rt.close()
    await here.rt.close()
  })

  test('a stream open on the other instance ends with its error event', async () => {
    const { here, ahead } = await instances()
    const a = await makeActor(here, { role: 'admin' })
    const streamer = await makeToken(here, a)
    const ag = await agent(here, a)
    const res = await here.app.handle(
      new Request(`http://localhost/api/v1/agents/${ag.id}/execute`, { method: 'POST', headers: { authorization: `Bearer ${streamer.token}`, 'content-type': 'application/json' }, body: JSON.stringify({ message: 'HANG', stream: true }) }),
    )
    expect(res.status).toBe(200)
    const reader = res.body!.getReader()
    let text = ''
    while (!text.includes('event: meta')) text += new TextDecoder().decode((await reader.read()).value)
    expect((await ahead.req('DELETE', `/api/v1/tokens/${streamer.id}`, { token: a.token })).status).toBe(200)
    // The watch asks every second; a few of its checks are plenty (the stream's end is the condition).
    const ended = (async () => {
      for (;;) {
        const { value, done } = await reader.read()
        if (done) return text
        text += new TextDecoder().decode(value)
      }
    })()
    const out = await Promise.race([ended, new Promise<null>((r) => setTimeout(() => r(null), 10_000))])
    expect(out).not.toBeNull()
    expect(out!).toContain('event: error')
    expect(out!).toContain('"code":"token_revoked"')
    await here.rt.engine.shutdown(0)
    await ahead.rt.close()
    await here.rt.close()
  }, 30_000)
})
