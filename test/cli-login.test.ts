// Browser sign-in for command-line tools over HTTP (TeamDay CLI's polling flow): initiate, poll,
// approval (through the service the console page calls), single delivery, deny and expiry,
// refresh with an injected clock, revocation of the CLI session, rate limits, and what is stored
// and logged. The console page's own POSTs are tested in test/cli-authorize-page.test.ts.
import { afterAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loginCodeDisplay } from '../src/auth/login-code'
import { decideLogin, listCliSessions, revokeOwnCliSession } from '../src/modules/cli-auth/service'
import { createUser, removeMember } from '../src/modules/users/service'
import { memberships } from '../src/db/schema'
import { eq } from 'drizzle-orm'
import { makeActor, makeTestApp, type Actor, type TestApp } from './helpers/app'
import { atRestApp, expectNoPlaintext, readAtRest } from './helpers/at-rest'

const CLI_UA = 'teamday-cli/1.2.3 (linux x64)'

async function initiate(t: TestApp, ip?: string) {
  // As TeamDay's CLI sends it: POST, Content-Type: application/json, no body at all.
  return t.req('POST', '/api/auth/cli/initiate', { headers: { 'content-type': 'application/json', 'user-agent': CLI_UA }, ip })
}
const poll = (t: TestApp, code: string, ip?: string) => t.req('GET', `/api/auth/cli/poll?code=${code}`, { ip })
const approve = (t: TestApp, code: string, who: Actor) => decideLogin(t.ctx, code, { userId: who.userId, organizationId: who.organizationId }, 'approve')

/** Initiate, approve as `who`, poll once: the delivered tokens. */
async function signIn(t: TestApp, who: Actor) {
  const { body } = await initiate(t, '198.51.100.7')
  await approve(t, body.code, who)
  const res = await poll(t, body.code)
  expect(res.status).toBe(200)
  return res.body as { accessToken: string; refreshToken: string; expiresAt: string; userId: string; organizationId: string }
}

describe('initiate and poll', () => {
  test('initiate takes no body (Content-Type: application/json, empty) and gives a URL-safe code, its authUrl and 300 s', async () => {
    const t = await makeTestApp()
    const res = await initiate(t)
    expect(res.status).toBe(200)
    expect(res.body.code).toMatch(/^tdc_[A-Za-z0-9]{43}$/)
    expect(encodeURIComponent(res.body.code)).toBe(res.body.code)
    expect(res.body.authUrl).toBe(`http://localhost/cli/authorize/${res.body.code}`)
    expect(res.body.expiresIn).toBe(300)
    expect(res.body.interval).toBe(2)
    expect(res.body.shortCode).toBe(loginCodeDisplay(res.body.code))
    expect(res.body.shortCode).toMatch(/^[A-Z2-9]{4}-[A-Z2-9]{4}$/)
    expect(res.headers.get('cache-control')).toBe('no-store')
    // Also with a literal empty JSON object, and with no Content-Type at all.
    expect((await t.req('POST', '/api/auth/cli/initiate', { body: {} })).status).toBe(200)
    expect((await t.req('POST', '/api/auth/cli/initiate')).status).toBe(200)
  })

  test('TEAMDAY_PUBLIC_URL is the base of authUrl', async () => {
    const t = await makeTestApp({ config: { publicUrl: 'https://teamday.example.com/base' } })
    const res = await initiate(t)
    expect(res.body.authUrl).toBe(`https://teamday.example.com/base/cli/authorize/${res.body.code}`)
  })

  // Behind a TLS proxy declared as trusted, without TEAMDAY_PUBLIC_URL: the CLI that signed in at
  // https://teamday.example.com got http://teamday.example.com/cli/authorize/… (the request's own
  // scheme), so `teamday login` called it another server's page and did not open it; the console's
  // links said https all along. A proxy not trusted is not believed.
  test('without TEAMDAY_PUBLIC_URL, authUrl is the address the CLI used: a trusted proxy\'s X-Forwarded-Proto and the Host, as the console\'s links', async () => {
    const t = await makeTestApp({ config: { trustedProxyHops: 1 } })
    const viaProxy = { host: 'teamday.example.com', 'x-forwarded-proto': 'https', 'x-forwarded-for': '203.0.113.9' }
    const res = await t.req('POST', '/api/auth/cli/initiate', { ip: '127.0.0.1', headers: viaProxy })
    expect(res.status).toBe(200)
    expect(res.body.authUrl).toBe(`https://teamday.example.com/cli/authorize/${res.body.code}`)
    const direct = await t.req('POST', '/api/auth/cli/initiate', { ip: '127.0.0.1', headers: { host: 'teamday.lan:3000' } })
    expect(direct.body.authUrl).toBe(`http://teamday.lan:3000/cli/authorize/${direct.body.code}`)
    const untrusted = await makeTestApp()
    const spoofed = await untrusted.req('POST', '/api/auth/cli/initiate', { ip: '127.0.0.1', headers: viaProxy })
    expect(spoofed.body.authUrl).toBe(`http://teamday.example.com/cli/authorize/${spoofed.body.code}`)
  })

  test('pending until approved, then the tokens exactly once; later polls get nothing secret', async () => {
    const t = await makeTestApp()
    const alice = await makeActor(t, { role: 'member' })
    const { code } = (await initiate(t)).body
    const first = await poll(t, code)
    expect(first.status).toBe(200)
    expect(first.body).toEqual({ status: 'pending', message: 'Waiting for approval in the browser.' })
    t.clock.advance(2000)
    await approve(t, code, alice)
    t.clock.advance(2000)
    const got = await poll(t, code)
    expect(got.status).toBe(200)
    expect(got.headers.get('cache-control')).toBe('no-store')
    expect(got.body.status).toBe('authorized')
    expect(got.body.accessToken).toMatch(/^tdo_[A-Za-z0-9]{43}$/)
    expect(got.body.refreshToken).toMatch(/^tdr_[A-Za-z0-9]{43}$/)
    expect(got.body.userId).toBe(alice.userId)
    expect(got.body.organizationId).toBe(alice.organizationId)
    // 15 minutes, reported 60 s early.
    expect(Date.parse(got.body.expiresAt)).toBe(t.clock.now() + 15 * 60_000 - 60_000)
    for (let i = 0; i < 3; i++) {
      t.clock.advance(2000)
      const again = await poll(t, code)
      expect(again.status).toBe(400)
      expect(again.body.code).toBe('login_code_used')
      expect(again.text).not.toContain('tdo_')
      expect(again.text).not.toContain('tdr_')
    }
  })

  test('a HEAD of the poll (a link checker, a monitor) is 405 and takes nothing: the terminal\'s GET still gets the tokens', async () => {
    const t = await makeTestApp()
    const alice = await makeActor(t, { role: 'admin' })
    const { code } = (await initiate(t)).body
    await approve(t, code, alice)
    const head = await t.app.handle(new Request(`http://localhost/api/auth/cli/poll?code=${code}`, { method: 'HEAD' }))
    expect(head.status).toBe(405)
    expect(head.headers.get('allow')).toBe('GET')
    t.clock.advance(2000)
    const terminal = await poll(t, code)
    expect(terminal.body.status).toBe('authorized')
    expect((await t.req('GET', '/api/v1/agents', { token: terminal.body.accessToken })).status).toBe(200)
  })

  test('a second poll after delivery revokes the sign-in it gave (whoever polled first holds nothing that works), audited', async () => {
    const t = await makeTestApp()
    const alice = await makeActor(t, { role: 'admin' })
    const { code } = (await initiate(t)).body
    await approve(t, code, alice)
    // Someone else holding the link polls first; the terminal's poll comes second.
    const thief = await t.req('GET', `/api/auth/cli/poll?code=${code}`, { ip: '203.0.113.66' })
    expect(thief.body.status).toBe('authorized')
    expect((await t.req('GET', '/api/v1/agents', { token: thief.body.accessToken })).status).toBe(200)
    // In the seconds before the terminal polls, the thief mints a long-lived `*` token (as long as the sign-in lasts), and with it another.
    const minted = await t.req('POST', '/api/v1/tokens', { token: thief.body.accessToken, body: { name: 'keep', scopes: ['*'], expiresInDays: 60 } })
    expect(minted.status).toBe(201)
    const second = await t.req('POST', '/api/v1/tokens', { token: minted.body.token, body: { name: 'keep too' } })
    expect(second.status).toBe(201)
    t.clock.advance(2000)
    const terminal = await poll(t, code)
    expect([terminal.status, terminal.body.code]).toEqual([400, 'login_code_used'])
    expect(terminal.body.message).toContain('revoked')
    expect((await t.req('GET', '/api/v1/agents', { token: thief.body.accessToken })).body.code).toBe('token_revoked')
    expect((await t.req('POST', '/api/auth/cli/refresh', { body: { refreshToken: thief.body.refreshToken } })).status).toBe(401)
    const events = (await t.req('GET', '/api/v1/audit-events?type=cli.session_revoked', { token: alice.token })).body.events
    expect(events.map((e: any) => e.details.reason)).toEqual(['code_reused'])
    // The tokens made through that sign-in end with it (they outlived it).
    for (const made of [minted.body, second.body]) expect((await t.req('GET', '/api/v1/tokens/self', { token: made.token })).body.code).toBe('token_revoked')
    const cascade = (await t.req('GET', '/api/v1/audit-events?type=token.revoked', { token: alice.token })).body.events
    expect(cascade.map((e: any) => [e.targetId, e.details.reason, e.details.cause]).sort()).toEqual(
      [[minted.body.id, 'creator_revoked', 'code_reused'], [second.body.id, 'creator_revoked', 'code_reused']].sort(),
    )
    expect((await t.req('GET', '/api/v1/tokens/self', { token: alice.token })).status).toBe(200)
  })

  test('two polls at the same moment (both read the code approved, one claims it): the other is 400 login_code_used and the sign-in is revoked, as for a later poll', async () => {
    const t = await makeTestApp()
    const alice = await makeActor(t, { role: 'admin' })
    for (let round = 0; round < 3; round++) {
      const { code } = (await initiate(t)).body
      await approve(t, code, alice)
      // The terminal and whoever else holds the link, at once.
      const polls = await Promise.all([poll(t, code, '198.51.100.7'), poll(t, code, '203.0.113.66')])
      const won = polls.filter((r) => r.status === 200)
      const lost = polls.filter((r) => r.status !== 200)
      expect(won.map((r) => r.body.status)).toEqual(['authorized'])
      expect(lost.map((r) => [r.status, r.body.code])).toEqual([[400, 'login_code_used']])
      expect(lost[0]!.body.message).toContain('revoked')
      expect((await t.req('GET', '/api/v1/agents', { token: won[0]!.body.accessToken })).body.code).toBe('token_revoked')
      expect((await t.req('POST', '/api/auth/cli/refresh', { body: { refreshToken: won[0]!.body.refreshToken } })).status).toBe(401)
      t.clock.advance(5000)
    }
    const events = (await t.req('GET', '/api/v1/audit-events?type=cli.session_revoked', { token: alice.token })).body.events
    expect(events.map((e: any) => e.details.reason)).toEqual(['code_reused', 'code_reused', 'code_reused'])
  })

  test('the access token works on /api/v1 with the role of the person who approved', async () => {
    const t = await makeTestApp()
    const viewer = await makeActor(t, { role: 'viewer' })
    const member = await makeActor(t, { role: 'member' })
    const v = await signIn(t, viewer)
    const m = await signIn(t, member)
    expect((await t.req('GET', '/api/v1/agents', { token: v.accessToken })).status).toBe(200)
    const denied = await t.req('POST', '/api/v1/agents', { token: v.accessToken, body: { name: 'x' } })
    expect(denied.status).toBe(403)
    expect(denied.body.code).toBe('forbidden')
    expect((await t.req('POST', '/api/v1/agents', { token: m.accessToken, body: { name: 'x' } })).status).toBe(201)
    const self = await t.req('GET', '/api/v1/tokens/self', { token: m.accessToken })
    expect(self.status).toBe(200)
    expect(self.body.token).toMatchObject({ email: member.email, role: 'member', organizationId: member.organizationId, scopes: ['*'] })
    expect(self.body.token.id).toStartWith('clis_')
    expect(self.headers.get('teamday-token-expiration')).toBeTruthy()
    // A mangled access token is refused by its checksum, before any look-up.
    const bad = m.accessToken.slice(0, -1) + (m.accessToken.endsWith('A') ? 'B' : 'A')
    expect((await t.req('GET', '/api/v1/agents', { token: bad })).body.code).toBe('invalid_token_checksum')
  })

  test('deny: the poll answers 400 login_denied, and the code cannot be approved afterwards', async () => {
    const t = await makeTestApp()
    const alice = await makeActor(t)
    const { code } = (await initiate(t)).body
    await decideLogin(t.ctx, code, { userId: alice.userId }, 'deny')
    const res = await poll(t, code)
    expect(res.status).toBe(400)
    expect(res.body.code).toBe('login_denied')
    expect(res.body.message).toContain('denied')
    await expect(approve(t, code, alice)).rejects.toMatchObject({ code: 'invalid_state' })
  })

  test('expiry: after 300 s the poll answers 400 login_code_expired and approval is refused', async () => {
    const t = await makeTestApp()
    const alice = await makeActor(t)
    const { code } = (await initiate(t)).body
    t.clock.advance(299_000)
    expect((await poll(t, code)).body.status).toBe('pending')
    t.clock.advance(1000)
    const res = await poll(t, code)
    expect(res.status).toBe(400)
    expect(res.body.code).toBe('login_code_expired')
    await expect(approve(t, code, alice)).rejects.toMatchObject({ code: 'invalid_state' })
  })

  test('an approved code not picked up within 300 s is expired too; unknown and malformed codes are 400 invalid_login_code; no code is 422', async () => {
    const t = await makeTestApp()
    const alice = await makeActor(t)
    const { code } = (await initiate(t)).body
    await approve(t, code, alice)
    t.clock.advance(300_000)
    expect((await poll(t, code)).body.code).toBe('login_code_expired')
    expect((await poll(t, 'tdc_' + 'x'.repeat(43))).body.code).toBe('invalid_login_code')
    expect((await poll(t, 'nonsense')).body.code).toBe('invalid_login_code')
    const none = await t.req('GET', '/api/auth/cli/poll')
    expect(none.status).toBe(422)
  })

  test('approval needs an organization of the person: another organization is refused; with several, one must be chosen', async () => {
    const t = await makeTestApp()
    const alice = await makeActor(t, { org: 'acme' })
    const bob = await makeActor(t, { org: 'beta' })
    const { code } = (await initiate(t)).body
    await expect(decideLogin(t.ctx, code, { userId: alice.userId, organizationId: bob.organizationId }, 'approve')).rejects.toMatchObject({ code: 'validation_failed' })
    // One organization: it is the one.
    await expect(decideLogin(t.ctx, code, { userId: alice.userId }, 'approve')).resolves.toMatchObject({ state: 'approved' })
    // Several: one must be named.
    await createUser(t.ctx, { email: alice.email, orgSlug: 'gamma', role: 'member' })
    const { code: second } = (await initiate(t)).body
    await expect(decideLogin(t.ctx, second, { userId: alice.userId }, 'approve')).rejects.toMatchObject({ code: 'validation_failed' })
    await expect(decideLogin(t.ctx, second, { userId: alice.userId, organizationId: alice.organizationId }, 'approve')).resolves.toMatchObject({ state: 'approved' })
  })
})

describe('refresh and revocation', () => {
  test('after expiry (injected clock) the access token is 401; refresh gives a new one; the refresh token is not rotated', async () => {
    const t = await makeTestApp()
    const alice = await makeActor(t)
    const s = await signIn(t, alice)
    t.clock.advance(15 * 60_000)
    const expired = await t.req('GET', '/api/v1/agents', { token: s.accessToken })
    expect(expired.status).toBe(401)
    expect(expired.body.code).toBe('token_expired')
    expect(expired.headers.get('www-authenticate')).toContain('invalid_token')
    const r1 = await t.req('POST', '/api/auth/cli/refresh', { body: { refreshToken: s.refreshToken } })
    expect(r1.status).toBe(200)
    expect(r1.body.accessToken).toMatch(/^tdo_/)
    expect(Date.parse(r1.body.expiresAt)).toBe(t.clock.now() + 14 * 60_000)
    expect((await t.req('GET', '/api/v1/agents', { token: r1.body.accessToken })).status).toBe(200)
    // The same refresh token again (TeamDay's CLI keeps its old one): still works.
    t.clock.advance(20 * 60_000)
    const r2 = await t.req('POST', '/api/auth/cli/refresh', { body: { refreshToken: s.refreshToken } })
    expect(r2.status).toBe(200)
    expect(r2.body.accessToken).not.toBe(r1.body.accessToken)
    // 90 days later the refresh token has expired.
    t.clock.advance(90 * 86_400_000)
    const late = await t.req('POST', '/api/auth/cli/refresh', { body: { refreshToken: s.refreshToken } })
    expect(late.status).toBe(401)
    expect(late.body.code).toBe('token_expired')
  })

  test('revoking the CLI session (console) stops the access and the refresh token at once', async () => {
    const t = await makeTestApp()
    const alice = await makeActor(t)
    const s = await signIn(t, alice)
    expect((await t.req('GET', '/api/v1/agents', { token: s.accessToken })).status).toBe(200)
    const [session] = await listCliSessions(t.ctx, alice.userId)
    expect(session).toMatchObject({ status: 'active', device: CLI_UA, createdIp: '198.51.100.7' })
    await revokeOwnCliSession(t.ctx, alice.userId, session!.id)
    const a = await t.req('GET', '/api/v1/agents', { token: s.accessToken })
    expect(a.status).toBe(401)
    expect(a.body.code).toBe('token_revoked')
    const r = await t.req('POST', '/api/auth/cli/refresh', { body: { refreshToken: s.refreshToken } })
    expect(r.status).toBe(401)
    expect(r.body.code).toBe('token_revoked')
    // Another person cannot revoke it (not found).
    const bob = await makeActor(t)
    await expect(revokeOwnCliSession(t.ctx, bob.userId, session!.id)).rejects.toMatchObject({ code: 'not_found' })
  })

  test('POST /api/auth/cli/revoke (teamday logout) ends the session; unknown tokens get the same 200', async () => {
    const t = await makeTestApp()
    const alice = await makeActor(t)
    const s = await signIn(t, alice)
    expect((await t.req('POST', '/api/auth/cli/revoke', { body: { refreshToken: s.refreshToken } })).body).toEqual({ success: true })
    expect((await t.req('GET', '/api/v1/agents', { token: s.accessToken })).body.code).toBe('token_revoked')
    expect((await t.req('POST', '/api/auth/cli/revoke', { body: { refreshToken: s.refreshToken } })).status).toBe(200)
    expect((await t.req('POST', '/api/auth/cli/revoke', { body: { refreshToken: 'tdr_nope' } })).status).toBe(200)
  })

  test('removed from the organization: the CLI session is revoked with the membership (membership_revoked, which says why), and stays so when re-added (token_revoked)', async () => {
    const t = await makeTestApp()
    const alice = await makeActor(t)
    const s = await signIn(t, alice)
    await removeMember(t.ctx, alice.email, alice.orgSlug)
    const gone = await t.req('GET', '/api/v1/agents', { token: s.accessToken })
    expect(gone.body.code).toBe('membership_revoked')
    // What to do about a terminal sign-in: sign in again, not "create a new token".
    expect(gone.body.message).toContain('sign in again from your terminal')
    expect((await t.req('POST', '/api/auth/cli/refresh', { body: { refreshToken: s.refreshToken } })).body.code).toBe('membership_revoked')
    await createUser(t.ctx, { email: alice.email, orgSlug: alice.orgSlug, role: 'admin' })
    expect((await t.req('GET', '/api/v1/agents', { token: s.accessToken })).body.code).toBe('token_revoked')
    expect((await t.req('POST', '/api/auth/cli/refresh', { body: { refreshToken: s.refreshToken } })).body.code).toBe('token_revoked')
  })

  test('a membership gone by any other path: membership_revoked for access and refresh', async () => {
    const t = await makeTestApp()
    const alice = await makeActor(t)
    const s = await signIn(t, alice)
    await t.db.delete(memberships).where(eq(memberships.userId, alice.userId)).run()
    expect((await t.req('GET', '/api/v1/agents', { token: s.accessToken })).body.code).toBe('membership_revoked')
    expect((await t.req('POST', '/api/auth/cli/refresh', { body: { refreshToken: s.refreshToken } })).body.code).toBe('membership_revoked')
  })

  test('audit events: approve, deny, refresh, revoke', async () => {
    const t = await makeTestApp()
    const admin = await makeActor(t, { role: 'admin' })
    const s = await signIn(t, admin)
    const { code } = (await initiate(t)).body
    await decideLogin(t.ctx, code, { userId: admin.userId }, 'deny')
    await t.req('POST', '/api/auth/cli/refresh', { body: { refreshToken: s.refreshToken } })
    await t.req('POST', '/api/auth/cli/revoke', { body: { refreshToken: s.refreshToken } })
    const events = (await t.req('GET', '/api/v1/audit-events?limit=50', { token: admin.token })).body.events as any[]
    const types = events.map((e) => e.type)
    for (const type of ['cli.login_approved', 'cli.login_denied', 'cli.token_refreshed', 'cli.session_revoked']) expect(types).toContain(type)
    const approved = events.find((e) => e.type === 'cli.login_approved')
    expect(approved.actorUserId).toBe(admin.userId)
    expect(approved.details).toMatchObject({ requestIp: '198.51.100.7', userAgent: CLI_UA })
    expect(JSON.stringify(events)).not.toMatch(/td[ocr]_[A-Za-z0-9]{20}/)
  })
})

describe('rate limits', () => {
  test('per code: one poll every 2 s always passes; faster than 6 per 10 s is 429', async () => {
    const t = await makeTestApp()
    const { code } = (await initiate(t)).body
    for (let i = 0; i < 100; i++) {
      const r = await poll(t, code, '203.0.113.9')
      expect({ i, status: r.status }).toEqual({ i, status: 200 })
      t.clock.advance(2000)
    }
    const { code: other } = (await initiate(t)).body
    const statuses: number[] = []
    for (let i = 0; i < 8; i++) statuses.push((await poll(t, other)).status)
    expect(statuses).toEqual([200, 200, 200, 200, 200, 200, 429, 429])
    const limited = await poll(t, other)
    expect(limited.body.code).toBe('rate_limited')
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0)
  })

  test('per address: initiate and refresh (TEAMDAY_CLI_LOGIN_RATE_LIMIT), polls of all codes (TEAMDAY_CLI_POLL_RATE_LIMIT)', async () => {
    const t = await makeTestApp({ config: { cliLoginRateLimit: { limit: 3, windowMs: 60_000 }, cliPollRateLimit: { limit: 4, windowMs: 60_000 } } })
    const codes: string[] = []
    for (let i = 0; i < 3; i++) codes.push((await initiate(t, '203.0.113.1')).body.code)
    expect((await initiate(t, '203.0.113.1')).status).toBe(429)
    expect((await initiate(t, '203.0.113.2')).status).toBe(200)
    const statuses = []
    for (const c of [...codes, ...codes]) statuses.push((await poll(t, c, '203.0.113.1')).status)
    expect(statuses).toEqual([200, 200, 200, 200, 429, 429])
    expect((await t.req('POST', '/api/auth/cli/refresh', { body: { refreshToken: 'tdr_x' }, ip: '203.0.113.1' })).status).toBe(429)
  })
})

describe('at rest and in logs', () => {
  const dir = mkdtempSync(join(tmpdir(), 'teamday-cli-login-'))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  test('codes, access and refresh tokens, and the CLI\'s user agent appear neither in the database files nor in the logs', async () => {
    const t = await atRestApp(dir, { config: { logLevel: 'debug' } })
    const alice = await makeActor(t)
    const { code } = (await initiate(t)).body
    // Failing requests carrying the secrets in the query string and the path are logged.
    await t.req('GET', `/api/auth/cli/poll?code=${code}&x=1`, { headers: { authorization: 'Bearer tdo_bad' } })
    await t.req('GET', `/api/v1/nope/${code}`)
    await approve(t, code, alice)
    const s = (await poll(t, code)).body
    await t.req('GET', `/api/v1/tokens/${s.accessToken}`, { token: s.accessToken })
    await t.req('GET', `/api/v1/nope?code=${code}&refresh=${s.refreshToken}`, { token: s.accessToken })
    t.clock.advance(15 * 60_000)
    await t.req('GET', '/api/v1/agents', { token: s.accessToken })
    await t.req('POST', '/api/auth/cli/refresh', { body: { refreshToken: s.refreshToken } })
    expect(t.logs.length).toBeGreaterThan(0)
    const found = await readAtRest(t, dir)
    expectNoPlaintext(found, [code, s.accessToken, s.refreshToken, CLI_UA])
  }, 30_000)

  test('a CLI token or code echoed in an error comes back redacted, with its prefix', async () => {
    const t = await makeTestApp()
    const alice = await makeActor(t)
    const s = await signIn(t, alice)
    const res = await t.req('GET', `/api/v1/tokens/${s.accessToken}`, { token: s.accessToken })
    expect(res.status).toBe(404)
    expect(res.text).not.toContain(s.accessToken.slice(4))
    expect(res.text).toContain('tdo_…[redacted]')
  })
})

describe("TeamDay CLI's token routes (aliases of /api/v1/tokens)", () => {
  test('create, list and revoke with a CLI access token, as `teamday auth create-token` / `list-tokens` / `revoke-token` send them', async () => {
    const t = await makeTestApp()
    const alice = await makeActor(t)
    const s = await signIn(t, alice)
    const created = await t.req('POST', '/api/tokens/create', { token: s.accessToken, body: { name: 'ci', expiresInDays: 30, organizationId: alice.organizationId } })
    expect(created.status).toBe(201)
    expect(created.body.token).toMatch(/^td_[A-Za-z0-9]{43}$/)
    expect(created.body.id).toStartWith('pat_')
    expect(Date.parse(created.body.expiresAt)).toBe(t.clock.now() + 30 * 86_400_000)
    expect((await t.req('GET', '/api/v1/agents', { token: created.body.token })).status).toBe(200)
    const list = await t.req('GET', `/api/tokens/list?organizationId=${alice.organizationId}`, { token: s.accessToken })
    expect(list.status).toBe(200)
    expect(list.body.count).toBe(list.body.tokens.length)
    const row = list.body.tokens.find((x: any) => x.id === created.body.id)
    expect(row).toMatchObject({ name: 'ci', tokenPreview: expect.stringMatching(/^td_.{4}….{4}$/), lastUsedAt: expect.any(String) })
    // No body, but Content-Type: application/json (as TeamDay's CLI sends it).
    const revoked = await t.req('POST', `/api/tokens/${created.body.id}/revoke`, { token: s.accessToken, headers: { 'content-type': 'application/json' } })
    expect(revoked.status).toBe(200)
    expect(revoked.body.status).toBe('revoked')
    expect((await t.req('GET', '/api/v1/agents', { token: created.body.token })).body.code).toBe('token_revoked')
    expect((await t.req('GET', '/api/tokens/list', { token: s.accessToken })).body.tokens.map((x: any) => x.id)).not.toContain(created.body.id)
  })

  test('the same rules: 7-365 days, another organization is 403', async () => {
    const t = await makeTestApp()
    const alice = await makeActor(t)
    const bob = await makeActor(t, { org: 'other' })
    const short = await t.req('POST', '/api/tokens/create', { token: alice.token, body: { name: 'x', expiresInDays: 1 } })
    expect(short.status).toBe(422)
    const other = await t.req('POST', '/api/tokens/create', { token: alice.token, body: { name: 'x', organizationId: bob.organizationId } })
    expect(other.status).toBe(403)
    expect(other.body.message).toContain('Access denied to this organization')
    expect((await t.req('GET', `/api/tokens/list?organizationId=${bob.organizationId}`, { token: alice.token })).status).toBe(403)
  })
})

describe('formats', () => {
  test('each kind has its own prefix, checksum and redaction; a CLI token is never taken for a PAT', async () => {
    const { ACCESS_TOKEN_PREFIX, REFRESH_TOKEN_PREFIX, LOGIN_CODE_PREFIX, checkTokenFormat, generateToken, redactTokens } = await import('../src/auth/tokens')
    for (const prefix of [ACCESS_TOKEN_PREFIX, REFRESH_TOKEN_PREFIX, LOGIN_CODE_PREFIX] as const) {
      const tok = generateToken(prefix)
      expect(tok).toMatch(new RegExp(`^${prefix}[A-Za-z0-9]{43}$`))
      expect(checkTokenFormat(tok, prefix)).toBeNull()
      expect(checkTokenFormat(tok)).toBe('missing_prefix')
      expect(checkTokenFormat(tok.slice(0, -1) + (tok.endsWith('x') ? 'y' : 'x'), prefix)).toBe('checksum_mismatch')
      expect(redactTokens(`see ${tok} here`)).toBe(`see ${prefix}…[redacted] here`)
    }
    const pat = generateToken()
    expect(checkTokenFormat(pat, ACCESS_TOKEN_PREFIX)).toBe('missing_prefix')
    expect(redactTokens(pat)).toBe('td_…[redacted]')
  })
})

describe('leak reports', () => {
  test('a reported CLI access or refresh token revokes its session (audited), and the answer stays 202', async () => {
    const t = await makeTestApp()
    const admin = await makeActor(t, { role: 'admin' })
    const s1 = await signIn(t, admin)
    const s2 = await signIn(t, admin)
    for (const leaked of [s1.accessToken, s2.refreshToken]) {
      const res = await t.req('POST', '/api/v1/credentials/revoke', { body: { credentials: [leaked] } })
      expect(res.status).toBe(202)
    }
    expect((await t.req('GET', '/api/v1/agents', { token: s1.accessToken })).body.code).toBe('token_revoked')
    expect((await t.req('GET', '/api/v1/agents', { token: s2.accessToken })).body.code).toBe('token_revoked')
    const events = (await t.req('GET', '/api/v1/audit-events?type=cli.session_revoked', { token: admin.token })).body.events as any[]
    expect(events.map((e) => e.details.reason)).toEqual(['leak_report', 'leak_report'])
  })

  test('the tokens made through a reported CLI sign-in go with it, transitively; a logout takes none along', async () => {
    const t = await makeTestApp()
    const admin = await makeActor(t, { role: 'admin' })
    for (const leak of ['accessToken', 'refreshToken'] as const) {
      const s = await signIn(t, admin)
      // A 60-day PAT minted with the 15-minute access token (no longer than its 90-day sign-in), and one minted with that PAT.
      const made = (await t.req('POST', '/api/v1/tokens', { token: s.accessToken, body: { name: `minted ${leak}`, expiresInDays: 60 } })).body
      const grand = (await t.req('POST', '/api/v1/tokens', { token: made.token, body: { name: `grand ${leak}` } })).body
      expect((await t.req('GET', '/api/v1/agents', { token: made.token })).status).toBe(200)
      expect((await t.req('POST', '/api/v1/credentials/revoke', { body: { credentials: [s[leak]] } })).status).toBe(202)
      for (const tok of [made.token, grand.token]) expect((await t.req('GET', '/api/v1/agents', { token: tok })).body.code).toBe('token_revoked')
      const revoked = (await t.req('GET', `/api/v1/audit-events?type=token.revoked&tokenId=${made.id}`, { token: admin.token })).body.events
      expect(revoked[0].details).toMatchObject({ reason: 'creator_revoked', cause: 'leak_report' })
    }
    // Signing out is not a leak: what the session made keeps working, as after a plain revoke.
    const s = await signIn(t, admin)
    const kept = (await t.req('POST', '/api/v1/tokens', { token: s.accessToken, body: { name: 'kept' } })).body
    expect((await t.req('POST', '/api/auth/cli/revoke', { body: { refreshToken: s.refreshToken } })).status).toBe(200)
    expect((await t.req('GET', '/api/v1/agents', { token: kept.token })).status).toBe(200)
  })
})

describe('a password change and "sign out everywhere" end the terminals\' sign-ins too', () => {
  test('in every organization; the audit says why', async () => {
    const { setPassword } = await import('../src/modules/users/passwords')
    const { consoleClient, givePassword, PASSWORD } = await import('./helpers/console')
    const t = await makeTestApp()
    const a = await makeActor(t, { role: 'admin' })
    await createUser(t.ctx, { email: a.email, orgSlug: 'second-org', role: 'member' })
    const here = await signIn(t, a)
    await setPassword(t.ctx, a.userId, 'a brand new long passphrase')
    expect((await t.req('GET', '/api/v1/agents', { token: here.accessToken })).body.code).toBe('token_revoked')
    expect((await t.req('POST', '/api/auth/cli/refresh', { body: { refreshToken: here.refreshToken } })).status).toBe(401)
    // Sign out everywhere from the console.
    await givePassword(t, a.userId)
    const again = await signIn(t, a)
    const c = consoleClient(t)
    expect((await c.signIn(a.email, PASSWORD)).status).toBe(303)
    expect((await c.post('/logout/everywhere')).status).toBe(303)
    expect((await t.req('GET', '/api/v1/agents', { token: again.accessToken })).body.code).toBe('token_revoked')
    const reasons = (await t.req('GET', '/api/v1/audit-events?type=cli.session_revoked', { token: a.token })).body.events.map((e: any) => e.details.reason)
    expect(reasons.sort()).toEqual(['password_changed', 'signed_out_everywhere'])
  })

  test('also a sign-in approved before and polled after: an intruder who approved a code cannot collect it once the password changed, the account signed out everywhere, or the member was removed', async () => {
    const { setPassword } = await import('../src/modules/users/passwords')
    const { consoleClient, givePassword, PASSWORD } = await import('./helpers/console')
    const t = await makeTestApp()
    const a = await makeActor(t, { role: 'admin' })
    const approved = async () => {
      const { code } = (await initiate(t)).body
      await approve(t, code, a)
      return code as string
    }
    const refused = async (code: string) => {
      const res = await poll(t, code)
      expect([res.status, res.body.code]).toEqual([400, 'login_denied'])
      expect(res.text).not.toMatch(/td[or]_[A-Za-z0-9]{43}/)
    }
    // Approved by whoever was signed in as them, collected after the owner recovered the account.
    const beforeChange = await approved()
    await setPassword(t.ctx, a.userId, 'a brand new long passphrase')
    await refused(beforeChange)
    await givePassword(t, a.userId)
    const c = consoleClient(t)
    expect((await c.signIn(a.email, PASSWORD)).status).toBe(303)
    const beforeSignOut = await approved()
    expect((await c.post('/logout/everywhere')).status).toBe(303)
    await refused(beforeSignOut)
    // Another admin removes the member: their approved, uncollected sign-in there goes with them.
    const admin = await makeActor(t, { role: 'admin', org: a.orgSlug })
    const beforeRemoval = await approved()
    expect((await t.req('DELETE', `/api/v1/organizations/${a.organizationId}/members/${a.userId}`, { token: admin.token })).status).toBe(200)
    await refused(beforeRemoval)
    expect(await listCliSessions(t.ctx, a.userId)).toEqual([])
    // A sign-in approved after all that works as before.
    await createUser(t.ctx, { email: a.email, orgSlug: a.orgSlug, role: 'admin' })
    const after = await approved()
    expect((await poll(t, after)).body.status).toBe('authorized')
  })

  test('an approval from a console session that a password change ended while the approval was under way is refused, not written after the change withdrew the others', async () => {
    const { setPassword } = await import('../src/modules/users/passwords')
    const { consoleClient, givePassword, PASSWORD } = await import('./helpers/console')
    const { resolveSession, sessionContext } = await import('../src/console/session')
    const t = await makeTestApp()
    const a = await makeActor(t, { role: 'admin' })
    await givePassword(t, a.userId)
    const c = consoleClient(t)
    expect((await c.signIn(a.email, PASSWORD)).status).toBe(303)
    // The page's request found its session (kit.signedIn) ...
    const who = (await resolveSession(t.rt, c.cookie!.split('=')[1]!))!
    expect(who.user.id).toBe(a.userId)
    const { code } = (await initiate(t)).body
    // ... and the owner's password change committed before the approval was written.
    await setPassword(t.ctx, a.userId, 'a brand new long passphrase')
    const ctx = sessionContext(t.rt, who, { requestId: null, origin: null })
    // Refused at the start of its transaction: the session it came with has ended (withTx asks
    // every write's credential again), before the approval's own check of the sign-in's state.
    await expect(decideLogin(ctx, code, { userId: a.userId }, 'approve')).rejects.toMatchObject({ code: 'invalid_token', message: expect.stringContaining('session ended') })
    expect((await poll(t, code)).body.status).toBe('pending')
  })
})
