import { describe, expect, test } from 'bun:test'
import { eq } from 'drizzle-orm'
import { redactTokens } from '../src/auth/tokens'
import { tasks } from '../src/db/schema'
import { createLogger } from '../src/logger'
import { makeActor, makeTestApp, makeToken, type Actor, type TestApp } from './helpers/app'

const REDACTED = 'td_…[redacted]'

/**
 * A token pasted into the wrong place never comes back: not in any field of an error body
 * (message, details at any depth, keys), not in a log line, not in an audit entry.
 */
describe('a token sent in a field or path is redacted from the error body and the logs', async () => {
  const t: TestApp = await makeTestApp()
  const admin: Actor = await makeActor(t, { role: 'admin' })
  const tok = admin.token
  let agentId = ''
  let spaceId = ''

  test('setup: an agent and a space to aim at', async () => {
    agentId = (await t.req('POST', '/api/v1/agents', { token: tok, body: { name: 'Redaction agent' } })).body.id
    spaceId = (await t.req('POST', '/api/v1/spaces', { token: tok, body: { name: 'Redaction space' } })).body.space.id
    expect(agentId).toStartWith('char_')
    expect(spaceId).toStartWith('space_')
  })

  // [what, method, path, body, field]: a token in any field of a body is refused by the body
  // reader before a service could quote it (src/http/secret-fields.ts): the 422 names the field,
  // holds no part of the token, and nothing is stored.
  const refused: [string, string, () => string, () => unknown, string][] = [
    ['POST /tokens scopes', 'POST', () => '/api/v1/tokens', () => ({ name: 'n', scopes: [tok] }), 'scopes[0]'],
    ['POST /agents subagentIds', 'POST', () => '/api/v1/agents', () => ({ name: 'n', subagentIds: [tok] }), 'subagentIds[0]'],
    ['PATCH /agents subagentIds', 'PATCH', () => `/api/v1/agents/${agentId}`, () => ({ subagentIds: [tok] }), 'subagentIds[0]'],
    ['PATCH /spaces addCharacters', 'PATCH', () => `/api/v1/spaces/${spaceId}`, () => ({ addCharacters: [tok] }), 'addCharacters[0]'],
    ['POST /spaces addCharacters', 'POST', () => '/api/v1/spaces', () => ({ name: 's', addCharacters: [tok] }), 'addCharacters[0]'],
    ['space secret key', 'POST', () => `/api/v1/spaces/${spaceId}/secrets`, () => ({ secrets: { [tok]: 'value' } }), 'secrets[key]'],
    ['organization secret key', 'POST', () => `/api/v1/organizations/${admin.organizationId}/env`, () => ({ secrets: { [tok]: 'value' } }), 'secrets[key]'],
    ['execute spaceId', 'POST', () => `/api/v1/agents/${agentId}/execute`, () => ({ message: 'hi', spaceId: tok }), 'spaceId'],
    ['task assignedTo (agent)', 'POST', () => '/api/v1/tasks', () => ({ title: 't', assignedTo: tok, assigneeType: 'agent' }), 'assignedTo'],
    ['task assignedTo (user)', 'POST', () => '/api/v1/tasks', () => ({ title: 't', assignedTo: tok, assigneeType: 'user' }), 'assignedTo'],
    ['task spaceId', 'POST', () => '/api/v1/tasks', () => ({ title: 't', spaceId: tok }), 'spaceId'],
  ]
  for (const [what, method, path, body, field] of refused) {
    test(`${what}: 422 naming ${field}, no part of the token in the body or the logs`, async () => {
      const before = t.logs.length
      const r = await t.req(method, path(), { token: tok, body: body() })
      expect([r.status, r.body.code, r.body.details?.[0]?.field]).toEqual([422, 'validation_failed', field])
      expect(r.text).not.toContain(tok.slice(3, 30))
      expect(t.logs.slice(before).join('\n')).not.toContain(tok.slice(3, 30))
    })
  }

  // [what, method, path, body, status]: each request echoes the token somewhere in its error.
  const cases: [string, string, () => string, () => unknown, number][] = [
    ['path param: agent id', 'GET', () => `/api/v1/agents/${tok}`, () => undefined, 404],
    ['path param: token rotate', 'POST', () => `/api/v1/tokens/${tok}/rotate`, () => ({}), 404],
    ['path param: execution', 'GET', () => `/api/v1/executions/${tok}`, () => undefined, 404],
    ['unknown route', 'GET', () => `/api/v1/${tok}`, () => undefined, 404],
    ['wrong method', 'PUT', () => `/api/v1/spaces/${tok}/secrets`, () => ({}), 405],
    // Percent-encoded, the path's token is not token-shaped until decoded: the 404 and 405
    // messages quote the path as the access log writes it (decoded where that reveals a token).
    ['unknown route, encoded _', 'GET', () => `/nonexistent/td%5F${tok.slice(3)}`, () => undefined, 404],
    ['unknown route, encoded t', 'GET', () => `/api/v1/%74d_${tok.slice(3)}/x`, () => undefined, 404],
    ['wrong method, encoded', 'PUT', () => `/api/v1/agents/%74d_${tok.slice(3)}`, () => ({}), 405],
    // A malformed escape elsewhere in the path (which decodeURIComponent refuses as a whole) does
    // not keep the encoded token from being seen: what can be decoded is.
    ['unknown route, encoded, with a malformed escape', 'GET', () => `/api/v1/agents/%ZZ/td%5F${tok.slice(3)}`, () => undefined, 404],
    ['unknown route, encoded, after a cut UTF-8 sequence', 'GET', () => `/api/v1/nope/%E0%A4/td%5F${tok.slice(3)}`, () => undefined, 404],
    ['unknown route, encoded right after a cut UTF-8 sequence', 'GET', () => `/api/v1/nope/%E0%A4%74d_${tok.slice(3)}`, () => undefined, 404],
  ]
  for (const [what, method, path, body, status] of cases) {
    test(`${what}: ${status}, the token comes back only as td_…[redacted], in the body and the logs`, async () => {
      const before = t.logs.length
      const r = await t.req(method, path(), { token: tok, body: body() })
      expect(r.status).toBe(status)
      expect(r.text).not.toContain(tok)
      expect(r.text).not.toContain(tok.slice(3, 30))
      // The value was echoed (redacted): the test would see a leak.
      expect(r.text).toContain(REDACTED)
      expect(r.body.code).toBeString()
      expect(t.logs.slice(before).join('\n')).not.toContain(tok)
    })
  }

  test('a token in a list query does not come back in the Link header of the next page', async () => {
    // Two tasks a filter carrying the token matches (a free-text assignee), so there is a next page.
    // No request stores a token any more (src/http/secret-fields.ts): these stand for rows a
    // version before that stored, written by hand.
    for (const title of ['one', 'two']) {
      const made = await t.req('POST', '/api/v1/tasks', { token: tok, body: { title, assignedTo: 'someone' } })
      expect(made.status).toBe(201)
      await t.db.update(tasks).set({ assignedTo: tok }).where(eq(tasks.id, made.body.id)).run()
    }
    const r = await t.req('GET', `/api/v1/tasks?limit=1&assignedTo=${tok}`, { token: tok })
    expect(r.status).toBe(200)
    // No Link (a redacted copy of the query would page another list: its cursor was refused);
    // the cursor alone, sent with the filters the client has, pages on.
    expect(r.headers.get('link')).toBeNull()
    for (const [, value] of r.headers) expect(value).not.toContain(tok.slice(3, 30))
    const cursor = r.headers.get('x-next-cursor')!
    const next = await t.req('GET', `/api/v1/tasks?limit=1&assignedTo=${tok}&cursor=${cursor}`, { token: tok })
    expect([next.status, next.body.length ?? next.body.tasks?.length]).toEqual([200, 1])
    // Only a secret's full shape: a search that merely contains `td_` pages on unchanged.
    for (const title of ['three', 'four']) await t.req('POST', '/api/v1/tasks', { token: tok, body: { title, assignedTo: 'std_library_functions_and_more' } })
    const plain = await t.req('GET', '/api/v1/tasks?limit=1&assignedTo=std_library_functions_and_more', { token: tok })
    expect(plain.headers.get('link')).toContain('assignedTo=std_library_functions_and_more')
    // A parameter the list does not take is refused, and the 422 quotes its name, never its value.
    const unknown = await t.req('GET', `/api/v1/tasks?limit=1&note=${tok}`, { token: tok })
    expect([unknown.status, unknown.text.includes(tok.slice(3, 30))]).toEqual([422, false])
    const named = await t.req('GET', `/api/v1/tasks?${tok}=1`, { token: tok })
    expect([named.status, named.text.includes(tok.slice(3, 30))]).toEqual([422, false])
  })

  test('a token in the target of an idempotent POST is neither quoted in its conflict nor stored', async () => {
    const path = `/api/v1/tasks?note=${tok}`
    const headers = { 'idempotency-key': 'redaction-1' }
    expect((await t.req('POST', path, { token: tok, body: { title: 'a' }, headers })).status).toBe(201)
    const conflict = await t.req('POST', path, { token: tok, body: { title: 'b' }, headers })
    expect(conflict.status).toBe(409)
    expect(conflict.text).toContain('POST /api/v1/tasks?note=[redacted]')
    expect(conflict.text).not.toContain(tok.slice(3, 30))
    // The same target and body still replay (the key is bound to the exact target, by its hash).
    const replay = await t.req('POST', path, { token: tok, body: { title: 'a' }, headers })
    expect(replay.headers.get('idempotency-status')).toBe('replayed')
  })

  test('no log line of the whole file holds the token', () => {
    expect(t.logs.join('\n')).not.toContain(tok)
  })
})

describe('logs and audit entries', () => {
  test('a failed authentication on a path holding a token logs the path redacted', async () => {
    const t = await makeTestApp()
    const a = await makeActor(t)
    const r = await t.req('GET', `/api/v1/agents/${a.token}`, { token: `td_${'x'.repeat(43)}` })
    expect(r.status).toBe(401)
    const line = t.logs.find((l) => l.includes('"auth_failed"'))!
    expect(JSON.parse(line).path).toBe(`/api/v1/agents/${REDACTED}`)
  })

  test('the logger redacts every field, at any depth, keys included', () => {
    const lines: string[] = []
    const log = createLogger('debug', (l) => lines.push(l))
    const tok = `td_${'A'.repeat(43)}`
    log.error(`failed ${tok}`, { path: `/x/${tok}`, nested: { list: [{ deep: tok }], [tok]: 1 }, n: 3 })
    expect(lines[0]).not.toContain(tok)
    const o = JSON.parse(lines[0]!)
    expect(o).toMatchObject({ msg: `failed ${REDACTED}`, path: `/x/${REDACTED}`, nested: { list: [{ deep: REDACTED }], [REDACTED]: 1 }, n: 3 })
  })

  test.each([
    ['as it is', (tok: string) => tok],
    ['percent-encoded', (tok: string) => `%74d_${tok.slice(3)}`],
  ])('a scope denial on a path holding a token (%s) is audited with the path redacted', async (_, inPath) => {
    const t = await makeTestApp()
    const admin = await makeActor(t, { role: 'admin' })
    const narrow = await makeToken(t, admin, { scopes: ['tokens:read'] })
    expect((await t.req('GET', `/api/v1/agents/${inPath(admin.token)}`, { token: narrow.token })).status).toBe(403)
    const ev = (await t.req('GET', '/api/v1/audit-events?type=token.scope_denied', { token: admin.token })).body
    expect(ev.total).toBe(1)
    expect(ev.events[0].details.path).toBe(`/api/v1/agents/${REDACTED}`)
    expect(JSON.stringify(ev)).not.toContain(admin.token.slice(3, 30))
  })
})

describe('redactTokens', () => {
  const tok = `td_${'B'.repeat(43)}`

  test('strings, arrays and plain objects at any depth, keys included; other values unchanged', () => {
    expect(redactTokens(`a ${tok} b ${tok}`)).toBe(`a ${REDACTED} b ${REDACTED}`)
    expect(redactTokens('td_short and td_reports_table')).toBe('td_short and td_reports_table')
    const date = new Date(0)
    const input = { a: [1, null, true, { b: [[tok]] }], [`k${tok}`]: tok, date, s: 'plain' }
    expect(redactTokens(input)).toEqual({ a: [1, null, true, { b: [[REDACTED]] }], [`k${REDACTED}`]: REDACTED, date, s: 'plain' })
    expect(input.a[3]).toEqual({ b: [[tok]] }) // a copy: the input is not changed
    expect(redactTokens(42)).toBe(42)
    expect(redactTokens(undefined)).toBeUndefined()
  })

  test('a key alone holding a token is redacted, its value unchanged', () => {
    expect(redactTokens({ [`k${tok}`]: 1, plain: 2 })).toEqual({ [`k${REDACTED}`]: 1, plain: 2 })
    expect(redactTokens([{ [tok]: null }])).toEqual([{ [REDACTED]: null }])
  })

  test('copy on write: what holds no token comes back as the same object; only the path to a redaction is copied; class instances are kept', () => {
    const clean = { a: [1, 'x', { b: ['y'] }], c: { d: 'z' } }
    expect(redactTokens(clean)).toBe(clean)
    expect(redactTokens(clean.a)).toBe(clean.a)
    const mixed = { keep: { d: 'z' }, list: ['a', { e: 'b' }, tok], inner: { s: tok } }
    const out = redactTokens(mixed)
    expect(out).toEqual({ keep: { d: 'z' }, list: ['a', { e: 'b' }, REDACTED], inner: { s: REDACTED } })
    expect(out.keep).toBe(mixed.keep)
    expect(out.list[1]).toBe(mixed.list[1])
    expect([out.list === mixed.list, out.inner === mixed.inner, mixed.list[2], mixed.inner.s]).toEqual([false, false, tok, tok])
    // Anything but strings, arrays and plain objects is kept as it is: a copy would lose its class.
    class Holder {
      constructor(readonly s: string) {}
    }
    const held = new Holder(tok)
    const kept = redactTokens({ held }).held
    expect(kept).toBe(held)
    expect(kept).toBeInstanceOf(Holder)
  })

  test('a self-referencing object does not loop', () => {
    const o: any = { s: tok }
    o.self = o
    expect(JSON.stringify(redactTokens(o).self.self.s)).toBe(JSON.stringify(REDACTED))
  })
})

/**
 * A token's 43 characters without `td_` are the whole secret (the prefix is the same for every
 * token): the body reader refuses them in any field, X-Request-Id and User-Agent drop them, and
 * so must everything that quotes a path or a query back. Found through the compiled binary: a
 * path holding them (`GET /api/v1/agents/<43 characters>`) was quoted in the 404's message,
 * written in the access log line, and stored (sealed, shown to admins) in a scope denial's
 * audit event; a list query holding them came back in the `Link` header.
 */
describe('a token without its td_ prefix is redacted as the token is', () => {
  const REDACTED_BODY = '…[redacted]'

  test('quoted by an error, written in the logs, stored in an audit event: never the 43 characters', async () => {
    const t = await makeTestApp()
    const admin = await makeActor(t, { role: 'admin' })
    const bare = admin.token.slice(3)
    const narrow = await makeToken(t, admin, { scopes: ['tasks:read'] })
    const cases: [string, string, string, number][] = [
      ['a path parameter', 'GET', `/api/v1/agents/${bare}`, 404],
      ['an unknown route', 'GET', `/api/v1/${bare}`, 404],
      ['a path of a wrong method', 'PUT', `/api/v1/spaces/${bare}/secrets`, 405],
      ['a query parameter\'s name', 'GET', `/api/v1/tasks?${bare}=1`, 422],
    ]
    for (const [what, method, path, status] of cases) {
      const before = t.logs.length
      const r = await t.req(method, path, { token: admin.token, body: method === 'GET' ? undefined : {} })
      expect([what, r.status]).toEqual([what, status])
      expect([what, r.text.includes(bare.slice(0, 30))]).toEqual([what, false])
      expect([what, r.text.includes(REDACTED_BODY)]).toEqual([what, true])
      expect([what, t.logs.slice(before).join('\n').includes(bare.slice(0, 30))]).toEqual([what, false])
    }
    // A scope denial records the path it was refused on, in the audit log admins read.
    expect((await t.req('GET', `/api/v1/agents/${bare}`, { token: narrow.token })).status).toBe(403)
    const ev = (await t.req('GET', '/api/v1/audit-events?type=token.scope_denied', { token: admin.token })).body
    expect(ev.total).toBe(1)
    expect(ev.events[0].details.path).toBe(`/api/v1/agents/${REDACTED_BODY}`)
    expect(t.logs.join('\n')).not.toContain(bare.slice(0, 30))
  })

  test('a list query holding them gets no Link header (X-Next-Cursor pages on)', async () => {
    const t = await makeTestApp()
    const admin = await makeActor(t, { role: 'admin' })
    const bare = admin.token.slice(3)
    for (const title of ['one', 'two']) expect((await t.req('POST', '/api/v1/tasks', { token: admin.token, body: { title } })).status).toBe(201)
    // Rows an older version stored with such an assignee (no request can store one now).
    await t.db.update(tasks).set({ assignedTo: bare }).run()
    const r = await t.req('GET', `/api/v1/tasks?limit=1&assignedTo=${bare}`, { token: admin.token })
    expect(r.status).toBe(200)
    expect(r.headers.get('x-next-cursor')).toBeString()
    expect(r.headers.get('link')).toBeNull()
    for (const [, value] of r.headers) expect(value).not.toContain(bare.slice(0, 30))
  })

  test('43 characters that are no token (their checksum fails) are quoted as they are', async () => {
    const t = await makeTestApp()
    const admin = await makeActor(t)
    const lookAlike = 'A'.repeat(43)
    const r = await t.req('GET', `/api/v1/agents/${lookAlike}`, { token: admin.token })
    expect(r.status).toBe(404)
    expect(r.text).toContain(lookAlike)
  })
})

/**
 * A token with one character wrong (`td_` and 43 characters, a typo among them) is rebuilt offline
 * in at most 43 × 61 checksum tries: it is the secret. redactTokens' pattern needs 16 token
 * characters after the prefix, so one whose wrong character is punctuation early on
 * (`td_AbCd.…`) was quoted whole: in a 404's message, the access log, a scope denial's audit
 * event, the token's last-used User-Agent.
 */
describe('a near miss is redacted as the token is', () => {
  test('a path, a User-Agent: not in the error body, the logs, an audit event or the token\'s last use', async () => {
    const t = await makeTestApp()
    const admin = await makeActor(t, { role: 'admin' })
    const narrow = await makeToken(t, admin, { scopes: ['tasks:read'] })
    const near = `${admin.token.slice(0, 8)}.${admin.token.slice(9)}`
    const tail = admin.token.slice(9, 40)
    const before = t.logs.length
    const r = await t.req('GET', `/api/v1/agents/${near}`, { token: admin.token })
    expect(r.status).toBe(404)
    expect(r.text).not.toContain(tail)
    expect(r.text).toContain('td_…[redacted]')
    expect((await t.req('GET', `/api/v1/agents/${near}`, { token: narrow.token })).status).toBe(403)
    const ua = await t.req('GET', '/api/v1/tasks', { token: narrow.token, headers: { 'user-agent': `script/1.0 (${near})` } })
    expect(ua.status).toBe(200)
    const ev = (await t.req('GET', '/api/v1/audit-events?type=token.scope_denied', { token: admin.token })).body
    expect(ev.total).toBe(1)
    expect(JSON.stringify(ev.events[0])).not.toContain(tail)
    expect(ev.events[0].details.path).toBe('/api/v1/agents/td_…[redacted]')
    const listed = await t.req('GET', '/api/v1/tokens', { token: admin.token })
    expect(listed.status).toBe(200)
    expect(listed.text).not.toContain(tail)
    expect(t.logs.slice(before).join('\n')).not.toContain(tail)
  })

  test('a list query holding one gets no Link header (X-Next-Cursor pages on)', async () => {
    const t = await makeTestApp()
    const admin = await makeActor(t, { role: 'admin' })
    for (const title of ['one', 'two']) expect((await t.req('POST', '/api/v1/tasks', { token: admin.token, body: { title } })).status).toBe(201)
    const near = `${admin.token.slice(0, 8)}.${admin.token.slice(9)}`
    // Rows an older version stored with such an assignee (no request can store one now).
    await t.db.update(tasks).set({ assignedTo: near }).run()
    const r = await t.req('GET', `/api/v1/tasks?limit=1&assignedTo=${near}`, { token: admin.token })
    expect(r.status).toBe(200)
    expect(r.headers.get('x-next-cursor')).toBeString()
    expect(r.headers.get('link')).toBeNull()
    for (const [, value] of r.headers) expect(value).not.toContain(admin.token.slice(9, 40))
  })

  // X-Request-Id is taken as sent when it fits [A-Za-z0-9._:-]{1,64} and holds no secret: a near
  // miss whose wrong character is a `.` in its first 16 passed redactTokens' pattern, and came
  // back in the header and was kept in the audit event of what the request did, for admins to read.
  test('an X-Request-Id holding one is not taken: a new id in the header and the audit event', async () => {
    const t = await makeTestApp()
    const admin = await makeActor(t, { role: 'admin' })
    const near = `${admin.token.slice(0, 8)}.${admin.token.slice(9)}`
    const made = await t.req('POST', '/api/v1/tokens', { token: admin.token, body: { name: 'with an id' }, headers: { 'x-request-id': near } })
    expect(made.status).toBe(201)
    expect(made.headers.get('x-request-id')).toStartWith('req_')
    const ev = (await t.req('GET', '/api/v1/audit-events?type=token.created', { token: admin.token })).body
    expect(ev.events.length).toBeGreaterThan(0)
    expect(JSON.stringify(ev)).not.toContain(admin.token.slice(9, 40))
    // An ordinary id is still taken as sent.
    const plain = await t.req('GET', '/api/v1/tasks', { token: admin.token, headers: { 'x-request-id': 'deploy-42.step:3' } })
    expect(plain.headers.get('x-request-id')).toBe('deploy-42.step:3')
  })
})
