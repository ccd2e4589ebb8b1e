import { afterAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { AUDIT_EVENT_TYPES, nextEventId } from '../src/audit/log'
import { idPattern } from '../src/ids'
import { auditEvents } from '../src/db/schema'
import { cliOn } from './helpers/cli'
import { makeActor, makeTestApp, makeToken, type TestApp } from './helpers/app'

const DAY = 86_400_000

const events = async (t: TestApp, token: string, query = '') => (await t.req('GET', `/api/v1/audit-events${query}`, { token })).body

describe('audit entries for each token event, none containing a token', () => {
  test('created, revoked, expired-token use, first use from a new IP', async () => {
    const t = await makeTestApp()
    const admin = await makeActor(t, { role: 'admin' })
    const m = await makeActor(t)
    const secrets: string[] = [admin.token, m.token]
    const ctx = { 'user-agent': 'curl/8.5.0' }
    const ip = '203.0.113.5'

    const created = await t.req('POST', '/api/v1/tokens', { token: m.token, body: { name: 'ci', scopes: ['agents:read'] }, headers: { ...ctx, 'x-request-id': 'req-create-1' }, ip })
    secrets.push(created.body.token)
    const c = await events(t, admin.token, '?type=token.created')
    expect(c.total).toBe(1)
    expect(c.events[0]).toMatchObject({
      type: 'token.created',
      source: 'api',
      organizationId: m.organizationId,
      actorUserId: m.userId,
      actorTokenId: m.tokenId,
      tokenId: created.body.id,
      ip: '203.0.113.5',
      userAgent: 'curl/8.5.0',
      requestId: 'req-create-1',
      details: { scopes: ['agents:read'] },
    })
    expect(Date.parse(c.events[0].createdAt)).toBe(t.clock.now())
    // Stored sealed: the IP, user agent and details are not in the row in clear.
    const stored = JSON.stringify(await t.db.select().from(auditEvents).all())
    for (const clear of ['203.0.113.5', 'curl/8.5.0', 'agents:read']) expect(stored).not.toContain(clear)

    await t.req('DELETE', `/api/v1/tokens/${created.body.id}`, { token: admin.token, headers: ctx, ip })
    await t.req('DELETE', `/api/v1/tokens/${created.body.id}`, { token: admin.token, headers: ctx, ip }) // idempotent: no second event
    const r = await events(t, admin.token, '?type=token.revoked')
    expect(r.total).toBe(1)
    expect(r.events[0]).toMatchObject({ actorUserId: admin.userId, tokenId: created.body.id, details: { reason: 'manual' } })

    t.clock.advance(-8 * DAY)
    const old = await makeToken(t, m, { expiresInDays: 7 })
    t.clock.advance(8 * DAY)
    secrets.push(old.token)
    for (let i = 0; i < 3; i++) expect((await t.req('GET', '/api/v1/tokens', { token: old.token, headers: ctx, ip })).body.code).toBe('token_expired')
    const ex = await events(t, admin.token, '?type=token.expired_used')
    expect(ex.total).toBe(1)
    expect(ex.events[0]).toMatchObject({ tokenId: old.id, actorUserId: m.userId, ip: '203.0.113.5' })

    const fresh = await makeToken(t, m)
    secrets.push(fresh.token)
    const use = (ip: string) => t.req('GET', '/api/v1/tokens/self', { token: fresh.token, ip })
    await use('198.51.100.1')
    t.clock.advance(61_000)
    await use('198.51.100.1')
    t.clock.advance(61_000)
    await use('198.51.100.2')
    const ips = await events(t, admin.token, `?type=token.new_ip&tokenId=${fresh.id}`)
    expect(ips.total).toBe(2)
    expect(ips.events.map((e: any) => [e.ip, e.details.previousIp, e.details.firstUse])).toEqual([
      ['198.51.100.2', '198.51.100.1', false],
      ['198.51.100.1', null, true],
    ])

    const all = await t.req('GET', '/api/v1/audit-events?limit=200', { token: admin.token })
    for (const s of secrets) expect(all.text).not.toContain(s)
  })
})

/**
 * Events recorded in one millisecond (the test clock stands still: every event here is) list in
 * the order they happened, newest first, on both backends and across pages: they were ordered by
 * their random ids, so a member's removal could show some of its tokens revoked before it, and 20 tokens
 * created one after another came out shuffled.
 */
describe('events of one millisecond, in the order they happened', () => {
  test('20 tokens created one after another: their token.created events newest first, on one page and across pages', async () => {
    const t = await makeTestApp()
    const admin = await makeActor(t, { role: 'admin' })
    const made: string[] = []
    for (let i = 0; i < 20; i++) {
      const r = await t.req('POST', '/api/v1/tokens', { token: admin.token, body: { name: `t${i}` } })
      expect(r.status).toBe(201)
      made.push(r.body.id)
    }
    const newestFirst = [...made].reverse()
    const listed = await events(t, admin.token, '?type=token.created&limit=50')
    expect(listed.events.map((e: any) => e.tokenId)).toEqual(newestFirst)
    expect(new Set(listed.events.map((e: any) => e.createdAt)).size).toBe(1)
    // Paged by cursor, 3 a page: the same order.
    const paged: string[] = []
    let cursor: string | null = null
    do {
      const page: any = await events(t, admin.token, `?type=token.created&limit=3${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`)
      paged.push(...page.events.map((e: any) => e.tokenId))
      cursor = page.nextCursor
    } while (cursor)
    expect(paged).toEqual(newestFirst)
  })

  test('nextEventId: within one millisecond each id sorts after the last (carrying past z), in another a random one; every one an evt_ id', () => {
    const evt = idPattern(['evt'])
    expect(nextEventId({ at: 5, id: 'evt_00000000000000000009' }, 5)).toBe('evt_0000000000000000000A')
    expect(nextEventId({ at: 5, id: 'evt_0000000000000000000z' }, 5)).toBe('evt_00000000000000000010')
    expect(nextEventId({ at: 5, id: 'evt_yzzzzzzzzzzzzzzzzzzz' }, 5)).toBe('evt_z0000000000000000000')
    let last: { at: number; id: string } | null = null
    const ids: string[] = []
    for (let i = 0; i < 2000; i++) {
      const id = nextEventId(last, 7)
      last = { at: 7, id }
      ids.push(id)
    }
    for (const id of ids) expect(id).toMatch(evt)
    // As bytes (SQLite, a C-collated PostgreSQL): in the order made.
    expect([...ids].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))).toEqual(ids)
    // Another millisecond: a fresh id, never one that starts with z.
    const fresh = Array.from({ length: 500 }, () => nextEventId({ at: 7, id: ids.at(-1)! }, 8))
    expect(new Set(fresh).size).toBe(500)
    for (const id of fresh) expect([evt.test(id), id[4] !== 'z']).toEqual([true, true])
  })

  test("a member's removal: member.removed, then their six tokens' token.revoked, as recorded (newest first: below them)", async () => {
    const t = await makeTestApp()
    const admin = await makeActor(t, { role: 'admin' })
    const m = await makeActor(t)
    for (let i = 0; i < 5; i++) await makeToken(t, m)
    const r = await t.req('DELETE', `/api/v1/organizations/${admin.organizationId}/members/${m.userId}`, { token: admin.token })
    expect(r.status).toBe(200)
    const listed = await events(t, admin.token, '?limit=20')
    const types = listed.events.slice(0, 7).map((e: any) => e.type)
    expect(types).toEqual([...Array(6).fill('token.revoked'), 'member.removed'])
  })
})

describe('GET /api/v1/audit-events', async () => {
  const t = await makeTestApp()
  const admin = await makeActor(t, { role: 'admin' })
  const member = await makeActor(t, { role: 'member' })
  const viewer = await makeActor(t, { role: 'viewer' })
  const otherAdmin = await makeActor(t, { role: 'admin', org: 'globex' })

  test('organization admins only: members and viewers get 403', async () => {
    for (const a of [member, viewer]) {
      const r = await t.req('GET', '/api/v1/audit-events', { token: a.token })
      expect(r.status).toBe(403)
      expect(r.body.code).toBe('forbidden')
    }
    expect((await t.req('GET', '/api/v1/audit-events')).status).toBe(401)
  })

  test('filters by type, token, user and time; paginated; never another organization', async () => {
    const start = t.clock.now()
    const made: string[] = []
    for (let i = 0; i < 3; i++) {
      made.push((await t.req('POST', '/api/v1/tokens', { token: member.token, body: { name: `m${i}` } })).body.id)
      t.clock.advance(1000)
    }
    await t.req('POST', '/api/v1/tokens', { token: admin.token, body: { name: 'a' } })
    await t.req('POST', '/api/v1/tokens', { token: otherAdmin.token, body: { name: 'o' } })

    const byUser = await events(t, admin.token, `?type=token.created&userId=${member.userId}`)
    expect(byUser.total).toBe(3)
    expect(byUser.events.map((e: any) => e.tokenId)).toEqual([...made].reverse()) // newest first
    expect((await events(t, admin.token, `?tokenId=${made[1]}`)).events.map((e: any) => e.tokenId)).toEqual([made[1]])
    const page = await events(t, admin.token, `?type=token.created&limit=2&offset=1`)
    expect(page.total).toBe(4)
    expect(page.events.length).toBe(2)
    const since = new Date(start + 1000).toISOString()
    const until = new Date(start + 1000).toISOString()
    expect((await events(t, admin.token, `?type=token.created&since=${since}&until=${until}`)).events.map((e: any) => e.tokenId)).toEqual([made[1]])
    const all = await events(t, admin.token, '?limit=200')
    expect(all.events.every((e: any) => e.organizationId === admin.organizationId)).toBe(true)
    expect((await events(t, otherAdmin.token, '?type=token.created')).total).toBe(1)
  })

  test('since and until take a date alone: the whole day, UTC', async () => {
    // The test clock's day: 2026-06-01. An event at its last minute, and one the day after.
    const dayEnd = Date.parse('2026-06-01T23:59:00.000Z')
    const saved = t.clock.ms
    t.clock.ms = dayEnd
    const made = async (name: string) => (await t.req('POST', '/api/v1/tokens', { token: admin.token, body: { name } })).body.id as string
    const late = { id: await made('late on the first') }
    t.clock.ms = dayEnd + 3_600_000
    const next = { id: await made('the next day') }
    t.clock.ms = saved
    const ids = async (q: string) => (await events(t, admin.token, `?type=token.created&limit=200${q}`)).events.map((e: any) => e.tokenId)
    expect(await ids('&since=2026-06-01&until=2026-06-01')).toContain(late.id)
    expect(await ids('&since=2026-06-01&until=2026-06-01')).not.toContain(next.id)
    expect(await ids('&since=2026-06-02')).toEqual([next.id])
    expect(await ids('&until=2026-05-31')).not.toContain(late.id)
  })

  test('an unknown type is refused (422 naming type, listing the types), not answered as an empty log; every known type is accepted', async () => {
    for (const q of ['?type=token.revokd', '?type=token.*', '?type=TOKEN.REVOKED']) {
      const r = await t.req('GET', `/api/v1/audit-events${q}`, { token: admin.token })
      expect([r.status, r.body.code]).toEqual([422, 'validation_failed'])
      expect(r.body.details[0].field).toBe('type')
      for (const known of AUDIT_EVENT_TYPES) expect(r.body.details[0].message).toContain(known)
      expect(r.body.message).toStartWith(`Validation failed: type "${decodeURIComponent(q.slice(6))}" is not an audit event type; the types are: token.created, `)
    }
    for (const type of AUDIT_EVENT_TYPES) expect((await t.req('GET', `/api/v1/audit-events?type=${type}`, { token: admin.token })).status).toBe(200)
    // An empty type (`?type=$TYPE` with TYPE unset) was no filter, the whole log: 422 like every empty query parameter but a cursor (test/query-params.test.ts).
    const empty = await t.req('GET', '/api/v1/audit-events?type=', { token: admin.token })
    expect([empty.status, empty.body.details?.[0]?.field]).toEqual([422, 'type'])
  })

  test('422 for bad filters', async () => {
    for (const q of ['?since=yesterday', '?until=2026-13-01', '?limit=0', '?limit=201', '?offset=-1']) {
      const r = await t.req('GET', `/api/v1/audit-events${q}`, { token: admin.token })
      expect(r.status).toBe(422)
      expect(r.body.code).toBe('validation_failed')
      expect(r.body.message).toStartWith('Validation failed: ')
    }
    // A range written backwards was an empty log ("nothing happened"); the same day both ways is that day.
    const swapped = await t.req('GET', '/api/v1/audit-events?since=2026-12-02&until=2026-12-01', { token: admin.token })
    expect([swapped.status, swapped.body.details]).toEqual([422, [{ field: 'until', message: 'until (2026-12-01) is before since (2026-12-02): no event could match; swap them' }]])
    expect((await t.req('GET', '/api/v1/audit-events?since=2026-12-01&until=2026-12-01', { token: admin.token })).status).toBe(200)
  })
})

describe('teamday audit list', () => {
  const dir = mkdtempSync(join(tmpdir(), 'teamday-audit-'))
  const db = join(dir, 'teamday.db')
  afterAll(() => rmSync(dir, { recursive: true, force: true }))
  const cli = cliOn(db)

  test('lists CLI token events (source cli), filters by org and type, --json', async () => {
    await cli('users', 'create', '--email', 'a@example.com', '--org', 'acme', '--role', 'admin')
    await cli('users', 'create', '--email', 'b@example.com', '--org', 'globex', '--role', 'admin')
    const token = (await cli('tokens', 'create', '--email', 'a@example.com', '--name', 'ci')).out.trim()
    await cli('tokens', 'create', '--email', 'b@example.com', '--name', 'ci')
    const json = await cli('audit', 'list', '--org', 'acme', '--type', 'token.created', '--json')
    expect(json.code).toBe(0)
    const parsed = JSON.parse(json.out)
    expect(parsed.events.length).toBe(parsed.total)
    expect(parsed.events.some((e: any) => e.source === 'cli' && e.type === 'token.created')).toBe(true)
    expect(new Set(parsed.events.map((e: any) => e.organizationId)).size).toBe(1)
    const tokenId = parsed.events.find((e: any) => e.source === 'cli').tokenId
    expect((await cli('tokens', 'revoke', tokenId)).code).toBe(0)
    const table = await cli('audit', 'list')
    expect(table.code).toBe(0)
    expect(table.out).toContain('token.revoked')
    expect(table.out).toContain('admin_cli')
    expect(table.out).not.toContain(token)
    expect((await cli('audit', 'list', '--org', 'nope')).code).toBe(1)
    expect((await cli('audit', 'list', '--limit', 'many')).code).toBe(2)
    // A type that is none (a typo): a usage error naming --type and the types, not "no audit events".
    const typo = await cli('audit', 'list', '--type', 'token.revokd')
    expect([typo.code, typo.out]).toEqual([2, ''])
    expect(typo.err).toContain('type "token.revokd" is not an audit event type; the types are: token.created')
    expect(typo.err).toContain('(option --type)')
    // A cursor that is not one: a usage error naming --cursor (it was exit 1 with the API's words, "nextCursor").
    const badCursor = await cli('audit', 'list', '--cursor', 'garbage')
    expect(badCursor.code).toBe(2)
    expect(badCursor.err).toContain('error: --cursor not a cursor: pass the --cursor value a previous "teamday audit list" printed')
  })

  test('every event is reachable: pages by --cursor (stderr names the next one), filters by token, user and time', async () => {
    const all = JSON.parse((await cli('audit', 'list', '--limit', '1000', '--json')).out).events as { id: string; tokenId: string | null; actorUserId: string | null; createdAt: string }[]
    expect(all.length).toBeGreaterThanOrEqual(4)
    // One event a page, following the cursor the table prints, to the end: each event once, newest first.
    const seen: string[] = []
    let args = ['audit', 'list', '--limit', '1']
    for (let i = 0; i < 100; i++) {
      const page = await cli(...args, '--json')
      expect(page.code).toBe(0)
      const body = JSON.parse(page.out)
      seen.push(...body.events.map((e: { id: string }) => e.id))
      const shown = await cli(...args)
      // stdout: the header and the row, nothing else (`| wc -l`); the next page's cursor on stderr.
      expect(shown.out.trimEnd().split('\n')).toHaveLength(2)
      if (!body.nextCursor) {
        expect(shown.err).not.toContain('--cursor')
        break
      }
      expect(shown.err).toContain(`older: the same command with --cursor ${body.nextCursor}`)
      args = ['audit', 'list', '--limit', '1', '--cursor', body.nextCursor]
    }
    expect(seen).toEqual(all.map((e) => e.id))
    const withToken = all.find((e) => e.tokenId)!
    const byToken = JSON.parse((await cli('audit', 'list', '--token-id', withToken.tokenId!, '--json')).out).events as { tokenId: string }[]
    expect(byToken.length).toBeGreaterThan(0)
    expect(byToken.every((e) => e.tokenId === withToken.tokenId)).toBe(true)
    const future = JSON.parse((await cli('audit', 'list', '--since', '2999-01-01', '--json')).out)
    expect(future.events).toEqual([])
    // Not a date: bad arguments (exit 2, as in client mode), naming the option.
    const yesterday = await cli('audit', 'list', '--since', 'yesterday')
    expect([yesterday.code, yesterday.out]).toEqual([2, ''])
    expect(yesterday.err).toEndWith('since must be an ISO-8601 date-time (option --since)')
  })
})
