// How the token service records and reports a token's use, found untested by mutation testing
// (npm run mutate): status at the exact expiry, the last-use resolution, the new-address audit
// event, and what happens when stored metadata cannot be opened.
import { beforeAll, describe, expect, test } from 'bun:test'
import { eq } from 'drizzle-orm'
import { hashToken } from '../src/auth/tokens'
import { SecretBox } from '../src/crypto/secretbox'
import { personalAccessTokens } from '../src/db/schema'
import { findTokenForAuth, LAST_USED_RESOLUTION_MS, touchCliSession, touchLastUsed } from '../src/auth/lookup'
import { decideLogin, listCliSessions } from '../src/modules/cli-auth/service'
import { contextOf } from '../src/context'
import { makeActor, makeTestApp, makeToken, type Actor, type TestApp } from './helpers/app'
import { signedInPerson } from './helpers/console'
import { until } from './helpers/scripted-provider'

const DAY = 86_400_000
let t: TestApp
let admin: Actor
/** The server key, for a second instance on the same database (PostgreSQL). */
const KEY = crypto.getRandomValues(new Uint8Array(32))

beforeAll(async () => {
  t = await makeTestApp({ key: KEY })
  admin = await makeActor(t, { role: 'admin' })
}, 60_000)

/** The context of an unauthenticated request from `ip` (as authentication has it). */
const requestCtx = (ip: string, requestId: string | null = null) => contextOf(t.rt, { kind: 'anonymous', via: 'api' }, { requestId, origin: { ip: () => ip, userAgent: null } })

const describeToken = async (id: string) => (await t.req('GET', `/api/v1/tokens/${id}`, { token: admin.token })).body.token
const use = (token: string, headers: Record<string, string> = {}, ip?: string) => t.req('GET', '/api/v1/tokens/self', { token, headers, ip })

describe('status and last use', () => {
  test('a token shows as expired from the very millisecond it expires', async () => {
    const tok = await makeToken(t, admin, { expiresInDays: 7 })
    t.clock.advance(7 * DAY - 1)
    expect((await describeToken(tok.id)).status).toBe('active')
    t.clock.advance(1)
    expect((await describeToken(tok.id)).status).toBe('expired')
  })

  test(`last use is written at most once per ${LAST_USED_RESOLUTION_MS / 1000} s: a use within that keeps the first time, one after it moves it`, async () => {
    const tok = await makeToken(t, admin)
    await use(tok.token)
    const first = (await describeToken(tok.id)).lastUsedAt
    expect(first).toBe(new Date(t.clock.now()).toISOString())
    t.clock.advance(LAST_USED_RESOLUTION_MS)
    await use(tok.token)
    expect((await describeToken(tok.id)).lastUsedAt).toBe(first)
    t.clock.advance(1)
    await use(tok.token)
    expect((await describeToken(tok.id)).lastUsedAt).toBe(new Date(t.clock.now()).toISOString())
  })

  test('the user agent of the last use is kept to 512 characters; recording use logs no failure', async () => {
    const tok = await makeToken(t, admin)
    t.logs.length = 0
    await use(tok.token, { 'user-agent': `agent/${'x'.repeat(600)}` })
    const ua = (await describeToken(tok.id)).lastUsedUserAgent
    expect(ua).toBe(`agent/${'x'.repeat(600)}`.slice(0, 512))
    expect(t.logs.filter((l) => l.includes('last_used_update_failed'))).toEqual([])
  })
})

describe('a secret pasted into the User-Agent', () => {
  test('is redacted wherever the user agent is stored and shown: the token list, audit events, the console\'s sessions', async () => {
    const tok = await makeToken(t, admin)
    const pasted = await makeToken(t, admin, { name: 'pasted' })
    const body = pasted.token.slice(3)
    const ua = `ci-bot/1 ${pasted.token} and ${body} again`
    expect((await use(tok.token, { 'user-agent': ua }, '198.51.100.90')).status).toBe(200)
    const shown = (await describeToken(tok.id)).lastUsedUserAgent as string
    expect(shown).toBe('ci-bot/1 td_…[redacted] and …[redacted] again')
    const events = (await t.req('GET', `/api/v1/audit-events?type=token.new_ip&tokenId=${tok.id}`, { token: admin.token })).body.events
    expect(events.map((e: any) => e.userAgent)).toEqual([shown])
    const { c } = await signedInPerson(t, { headers: { 'user-agent': ua } })
    const page = await c.get('/settings/profile')
    expect(page.status).toBe(200)
    expect(page.text).toContain('ci-bot/1')
    expect(page.text).not.toContain(body)
  })
})

describe('first use from a new address', () => {
  test('is audited with the actor, the token and the request id', async () => {
    const tok = await makeToken(t, admin)
    const res = await use(tok.token, { 'x-request-id': 'req-new-ip-1' }, '198.51.100.77')
    expect(res.status).toBe(200)
    const events = (await t.req('GET', `/api/v1/audit-events?type=token.new_ip&tokenId=${tok.id}`, { token: admin.token })).body.events
    expect(events).toHaveLength(1)
    expect(events[0]).toMatchObject({ actorUserId: admin.userId, tokenId: tok.id, ip: '198.51.100.77', requestId: 'req-new-ip-1', details: { previousIp: null, firstUse: true } })
  })

  test('two requests at once that both read the address before either wrote write once: the other neither overwrites nor audits', async () => {
    const tok = await makeToken(t, admin)
    const row = (await findTokenForAuth(t.rt.db, hashToken(tok.token)))!
    // On PostgreSQL the two run on two connections, and the second can reach its read after the
    // first has written (a connection still opening, a busy machine): then it is a later request,
    // rightly audited as a move. So the token's row is locked here until both wait to write:
    // both have read by then, as the test's premise says. A move is written in a transaction with
    // its event, and one instance's transactions wait their turn in the process: the second
    // request comes through a second instance on the same schema (with the same key), whose
    // transaction then waits for the first's, under the
    // advisory lock every transaction takes first.
    const conn = t.rt.connection
    const lock = conn.dialect === 'pg' ? await conn.client.reserve() : null
    let lockPid = 0
    if (lock) {
      await lock.unsafe('BEGIN')
      await lock.unsafe('SELECT 1 FROM personal_access_tokens WHERE id = $1 FOR UPDATE', [tok.id])
      lockPid = (await lock.unsafe('SELECT pg_backend_pid() AS pid'))[0]!.pid as number
    }
    const other = t.pg ? await makeTestApp({ pg: t.pg, key: KEY }) : t
    const otherCtx = contextOf(other.rt, { kind: 'anonymous', via: 'api' }, { requestId: 'r2', origin: { ip: () => '192.0.2.2', userAgent: null } })
    const both = Promise.all([touchLastUsed(requestCtx('192.0.2.1', 'r1'), row), touchLastUsed(otherCtx, row)])
    if (lock && conn.dialect === 'pg') {
      try {
        // One waits for the row (its UPDATE, blocked by the lock held here), the other for the
        // first's transaction (the advisory lock, blocked by the first): counted by who blocks
        // them, so other tests' backends in this database are not.
        const waiting = async () =>
          (await conn.client.unsafe(`WITH first AS (SELECT pid FROM pg_stat_activity WHERE pg_blocking_pids(pid) && ARRAY[$1::int])
            SELECT (SELECT count(*) FROM first)::int + (SELECT count(*) FROM pg_stat_activity WHERE pg_blocking_pids(pid) && ARRAY(SELECT pid FROM first))::int AS n`, [lockPid]))[0]!.n as number
        await until(async () => (await waiting()) >= 2)
        expect(await waiting()).toBe(2)
      } finally {
        await lock.unsafe('COMMIT')
        lock.release()
      }
    }
    await both
    const events = (await t.req('GET', `/api/v1/audit-events?type=token.new_ip&tokenId=${tok.id}`, { token: admin.token })).body.events
    expect(events).toHaveLength(1)
    expect((await describeToken(tok.id)).lastUsedIp).toBe(events[0].ip)
    if (other !== t) await other.rt.close()
  })

  test('a use from another address within the minute is recorded at once; addresses seen lately are not audited again', async () => {
    const tok = await makeToken(t, admin)
    const newIp = async () => (await t.req('GET', `/api/v1/audit-events?type=token.new_ip&tokenId=${tok.id}&limit=200`, { token: admin.token })).body.events.map((e: any) => [e.ip, e.details.previousIp])
    expect((await use(tok.token, {}, '198.51.100.1')).status).toBe(200)
    t.clock.advance(30_000)
    // Someone else, 30 s later: recorded now, not at the next minute.
    expect((await use(tok.token, {}, '203.0.113.66')).status).toBe(200)
    expect(await newIp()).toEqual([
      ['203.0.113.66', '198.51.100.1'],
      ['198.51.100.1', null],
    ])
    expect((await describeToken(tok.id)).lastUsedIp).toBe('203.0.113.66')
    // Two machines sharing the token, alternating: no event per request.
    for (let i = 0; i < 6; i++) {
      t.clock.advance(1_000)
      await use(tok.token, {}, i % 2 ? '198.51.100.1' : '203.0.113.66')
    }
    expect(await newIp()).toHaveLength(2)
    // A third address is.
    await use(tok.token, {}, '192.0.2.200')
    expect((await newIp())[0]).toEqual(['192.0.2.200', '203.0.113.66'])
  })

  test('a move whose event cannot be written stores no address either: the next use from there records both', async () => {
    // The address was stored, then its event failed (logged, swallowed): every later use from
    // there found the address stored, and the move was never audited.
    const tok = await makeToken(t, admin)
    expect((await use(tok.token, {}, '198.51.100.31')).status).toBe(200)
    const conn = t.rt.connection
    const refuse = async (on: boolean) => {
      if (conn.dialect === 'pg') {
        if (on) {
          await conn.client.unsafe(`CREATE FUNCTION refuse_new_ip() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'audit refused'; END $$`)
          await conn.client.unsafe(`CREATE TRIGGER refuse_new_ip BEFORE INSERT ON audit_events FOR EACH ROW WHEN (NEW.type = 'token.new_ip') EXECUTE FUNCTION refuse_new_ip()`)
        } else {
          await conn.client.unsafe('DROP TRIGGER refuse_new_ip ON audit_events')
          await conn.client.unsafe('DROP FUNCTION refuse_new_ip()')
        }
      } else t.db.$client.exec(on ? `CREATE TRIGGER refuse_new_ip BEFORE INSERT ON audit_events FOR EACH ROW WHEN (NEW.type = 'token.new_ip') BEGIN SELECT RAISE(ABORT, 'audit refused'); END` : 'DROP TRIGGER refuse_new_ip')
    }
    const moves = async () => ((await t.req('GET', `/api/v1/audit-events?type=token.new_ip&tokenId=${tok.id}&limit=200`, { token: admin.token })).body.events as { ip: string; details: { previousIp: string | null } }[]).map((e) => [e.ip, e.details.previousIp])
    await refuse(true)
    try {
      expect((await use(tok.token, {}, '203.0.113.32')).status).toBe(200)
    } finally {
      await refuse(false)
    }
    expect((await describeToken(tok.id)).lastUsedIp).toBe('198.51.100.31')
    expect(await moves()).toEqual([['198.51.100.31', null]])
    // Within the minute (and after it) the next use from there is a move again, audited.
    expect((await use(tok.token, {}, '203.0.113.32')).status).toBe(200)
    expect((await describeToken(tok.id)).lastUsedIp).toBe('203.0.113.32')
    // (At one instant of the test clock: listed in the order of their ids.)
    expect((await moves()).sort()).toEqual([['198.51.100.31', null], ['203.0.113.32', '198.51.100.31']])
  })

  test('a failure to record use does not fail the request and is logged with the token id', async () => {
    const tok = await makeToken(t, admin)
    const row = (await findTokenForAuth(t.rt.db, hashToken(tok.token)))!
    const broken = { ...requestCtx('192.0.2.9'), box: { seal: () => { throw new Error('sealing is broken') } } as unknown as SecretBox }
    t.logs.length = 0
    expect(await touchLastUsed(broken, row)).toBeUndefined()
    const line = t.logs.find((l) => l.includes('last_used_update_failed'))
    expect(line).toContain(tok.id)
    expect(line).toContain('sealing is broken')
  })
})

describe('a CLI session\'s last use (its access tokens\')', () => {
  test(`is written with the address at most once per ${LAST_USED_RESOLUTION_MS / 1000} s: a use within that keeps the first time and address, one after it moves both`, async () => {
    const m = await makeActor(t)
    const { body } = await t.req('POST', '/api/auth/cli/initiate')
    await decideLogin(t.ctx, body.code, { userId: m.userId, organizationId: m.organizationId }, 'approve')
    const access = (await t.req('GET', `/api/auth/cli/poll?code=${body.code}`)).body.accessToken as string
    const session = async () => (await listCliSessions(t.ctx, m.userId))[0]!
    expect(await session()).toMatchObject({ lastUsedAt: null, lastUsedIp: null })
    const agents = (ip: string) => t.req('GET', '/api/v1/agents', { token: access, ip })
    expect((await agents('198.51.100.20')).status).toBe(200)
    const first = new Date(t.clock.now()).toISOString()
    expect(await session()).toMatchObject({ lastUsedAt: first, lastUsedIp: '198.51.100.20' })
    t.clock.advance(LAST_USED_RESOLUTION_MS)
    await agents('198.51.100.21')
    expect(await session()).toMatchObject({ lastUsedAt: first, lastUsedIp: '198.51.100.20' })
    t.clock.advance(1)
    await agents('198.51.100.21')
    expect(await session()).toMatchObject({ lastUsedAt: new Date(t.clock.now()).toISOString(), lastUsedIp: '198.51.100.21' })
  })

  test('a failure to record it does not fail the caller and is logged with the session id', async () => {
    const broken = { ...requestCtx('192.0.2.9'), box: { seal: () => { throw new Error('sealing is broken') } } as unknown as SecretBox }
    t.logs.length = 0
    expect(await touchCliSession(broken, 'clis_test_session', t.clock.now())).toBeUndefined()
    const line = t.logs.find((l) => l.includes('last_used_update_failed'))
    expect(line).toContain('clis_test_session')
    expect(line).toContain('sealing is broken')
  })
})

describe('stored metadata that cannot be opened', () => {
  test('answers 500 decryption_failed, pointing at the encryption key, not a raw error', async () => {
    const tok = await makeToken(t, admin)
    const otherKey = new SecretBox(crypto.getRandomValues(new Uint8Array(32)))
    await t.db.update(personalAccessTokens).set({ nameEnc: otherKey.seal('sealed elsewhere', `pat.name:${tok.id}`) }).where(eq(personalAccessTokens.id, tok.id)).run()
    const res = await t.req('GET', `/api/v1/tokens/${tok.id}`, { token: admin.token })
    expect(res.status).toBe(500)
    expect(res.body.code).toBe('decryption_failed')
    expect(res.body.message).toContain('TEAMDAY_ENCRYPTION_KEY')
  })
})

describe('a client cycling through many addresses', () => {
  test('gets at most 3 new-address writes and events a minute, and the addresses skipped are recorded later', async () => {
    const tok = await makeToken(t, admin)
    const events = async () => (await t.req('GET', `/api/v1/audit-events?type=token.new_ip&tokenId=${tok.id}&limit=200`, { token: admin.token })).body.events.length
    for (let i = 0; i < 40; i++) {
      t.clock.advance(100)
      await use(tok.token, {}, `198.51.100.${100 + (i % 12)}`)
    }
    // The first use and two moves, then nothing more within the minute.
    expect(await events()).toBe(3)
    t.clock.advance(LAST_USED_RESOLUTION_MS)
    await use(tok.token, {}, '198.51.100.105')
    expect(await events()).toBe(4)
  })
})
