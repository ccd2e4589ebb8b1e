import { beforeAll, describe, expect, test } from 'bun:test'
import { makeActor, makeTestApp, type Actor, type Res, type TestApp } from './helpers/app'
import postgres from 'postgres'
import { freshPgSchema, ON_PG, sqliteOnly } from './helpers/pg'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { ERROR_STATUS } from '../src/errors'
import { schemaMissing } from '../src/db/unavailable'

/** Errors and limits (issue 2, section 5): one envelope, a request id, never a 500 for a client mistake. */

const ENVELOPE_KEYS = ['error', 'statusCode', 'statusMessage', 'code', 'message', 'requestId']
const STACK = /\bat .*[/\\]|\.ts:\d|\.js:\d|node_modules|\/src\//

/** Asserts the error envelope, the X-Request-Id header and the absence of anything stack-like. */
function expectError(res: Res, status: number, code: string): Res {
  expect(res.status).toBe(status)
  expect(res.headers.get('content-type')).toStartWith('application/json')
  expect(res.body).toBeDefined()
  for (const key of ENVELOPE_KEYS) expect(res.body).toHaveProperty(key)
  expect(res.body.error).toBe(true)
  expect(res.body.statusCode).toBe(status)
  expect(typeof res.body.statusMessage).toBe('string')
  expect(res.body.statusMessage.length).toBeGreaterThan(0)
  expect(res.body.code).toBe(code)
  expect(typeof res.body.message).toBe('string')
  expect(res.body.message.length).toBeGreaterThan(0)
  expect(res.body.requestId).toMatch(/^[A-Za-z0-9._:-]{1,64}$/)
  expect(res.headers.get('x-request-id')).toBe(res.body.requestId)
  const extra = Object.keys(res.body).filter((k) => !ENVELOPE_KEYS.includes(k) && k !== 'details')
  expect(extra).toEqual([])
  expectNoStack(res)
  return res
}

function expectNoStack(res: Res) {
  expect(res.status).not.toBe(500)
  expect(res.text).not.toMatch(STACK)
  expect(res.text).not.toContain('stack')
}

type Raw = NonNullable<NonNullable<Parameters<TestApp['req']>[2]>['raw']>

let t: TestApp
let admin: Actor

beforeAll(async () => {
  t = await makeTestApp()
  admin = await makeActor(t, { role: 'admin' })
}, 60_000)

const post = (body: unknown, opts: { headers?: Record<string, string> } = {}) =>
  t.req('POST', '/api/v1/tokens', { token: admin.token, body, headers: opts.headers })
const postRaw = (raw: Raw, headers: Record<string, string> = { 'content-type': 'application/json' }, token: string | undefined = admin.token) =>
  t.req('POST', '/api/v1/tokens', { token, raw, headers })

describe('request ids', () => {
  test('every response has an X-Request-Id; errors repeat it as body.requestId', async () => {
    const ok = await t.req('GET', '/api/health')
    expect(ok.status).toBe(200)
    expect(ok.headers.get('x-request-id')).toMatch(/^req_[A-Za-z0-9]+$/)

    const err = expectError(await t.req('GET', '/api/v1/tokens'), 401, 'missing_token')
    expect(err.body.requestId).toStartWith('req_')
  })

  test('a new id for each request', async () => {
    const a = await t.req('GET', '/api/v1/nope')
    const b = await t.req('GET', '/api/v1/nope')
    expect(a.body.requestId).not.toBe(b.body.requestId)
  })

  test('a safe incoming X-Request-Id is echoed, on success and on error', async () => {
    const ok = await t.req('GET', '/api/health', { headers: { 'x-request-id': 'trace-123.abc:9_Z' } })
    expect(ok.headers.get('x-request-id')).toBe('trace-123.abc:9_Z')

    const err = expectError(await t.req('GET', '/api/v1/tokens', { headers: { 'x-request-id': 'client-42' } }), 401, 'missing_token')
    expect(err.body.requestId).toBe('client-42')

    const sixtyFour = 'a'.repeat(64)
    expect((await t.req('GET', '/api/health', { headers: { 'x-request-id': sixtyFour } })).headers.get('x-request-id')).toBe(sixtyFour)
  })

  test.each([
    ['with spaces', 'abc def'],
    ['200 characters', 'a'.repeat(200)],
    ['65 characters', 'a'.repeat(65)],
    ['quotes and angle brackets', '"><script>'],
    ['a CRLF-free but odd value', 'id;drop table'],
    ['non-ASCII', 'idé'],
  ])('an unsafe incoming X-Request-Id (%s) is replaced by a req_ id', async (_label, value) => {
    let headers: Record<string, string> = { 'x-request-id': value }
    // Non-Latin-1 cannot go into a Headers object; send its UTF-8 bytes as Latin-1 as a client would.
    if (/[^\x00-\xff]/.test(value)) headers = { 'x-request-id': Buffer.from(value).toString('latin1') }
    const err = expectError(await t.req('GET', '/api/v1/nope', { headers }), 404, 'route_not_found')
    expect(err.body.requestId).toMatch(/^req_[A-Za-z0-9]+$/)
    expect(err.text).not.toContain(value)
  })

  test('a token sent as the X-Request-Id is not echoed in the header, the body or the audit event', async () => {
    const leaked = await makeActor(t, { role: 'member' })
    const headers = { 'x-request-id': leaked.token }
    const res = await t.req('POST', '/api/v1/tokens', { token: admin.token, body: { name: 'traced' }, headers })
    expect(res.status).toBe(201)
    expect(res.headers.get('x-request-id')).toMatch(/^req_[A-Za-z0-9]+$/)
    const events = await t.req('GET', '/api/v1/audit-events?limit=5', { token: admin.token })
    expect(events.status).toBe(200)
    expect(events.text).toContain(res.headers.get('x-request-id')!)
    expect(events.text).not.toContain(leaked.token)
    const err = await t.req('GET', '/api/v1/nope', { headers })
    expect(err.headers.get('x-request-id')).toMatch(/^req_[A-Za-z0-9]+$/)
    expect(err.text).not.toContain(leaked.token)
  })

  test('nor without its td_ prefix, alone or inside a longer id; ids that only look alike are kept', async () => {
    const leaked = await makeActor(t, { role: 'member' })
    const body = leaked.token.slice('td_'.length)
    for (const id of [body, `ci-${body}`, `x${body}`, `${body}.7`]) {
      const res = await t.req('GET', '/api/v1/tokens', { token: admin.token, headers: { 'x-request-id': id } })
      expect(res.status).toBe(200)
      expect(res.headers.get('x-request-id')).toMatch(/^req_[A-Za-z0-9]+$/)
    }
    // 43 base62 characters whose last 6 are not the checksum of the 37 before: an id like any other.
    const lookalike = body.slice(0, 37) + (body.endsWith('000000') ? '111111' : '000000')
    for (const id of [lookalike, 'A'.repeat(64), `build-${'7'.repeat(50)}`]) {
      const res = await t.req('GET', '/api/v1/tokens', { token: admin.token, headers: { 'x-request-id': id } })
      expect(res.headers.get('x-request-id')).toBe(id)
    }
  })
})

describe('an empty body is no body, whatever its Content-Type', () => {
  test('labelled JSON or not (it was a 400 invalid_json with the label, a 422 without): 422 naming the body; an optional body is none', async () => {
    for (const headers of [{ 'content-type': 'application/json' }, {}] as Record<string, string>[]) {
      for (const raw of ['', '   ']) {
        const created = expectError(await postRaw(raw, headers), 422, 'validation_failed')
        expect(created.body.details[0].field).toBe('body')
      }
    }
    const made = await t.req('POST', '/api/v1/tokens', { token: admin.token, body: { name: 'to patch' } })
    const task = await t.req('POST', '/api/v1/tasks', { token: admin.token, body: { title: 'to patch' } })
    const patched = expectError(await t.req('PATCH', `/api/v1/tasks/${task.body.id}`, { token: admin.token, raw: '', headers: { 'content-type': 'application/json' } }), 422, 'validation_failed')
    expect(patched.body.message).toContain('a body is required')
    const rotated = await t.req('POST', `/api/v1/tokens/${made.body.id}/rotate`, { token: admin.token, raw: '', headers: { 'content-type': 'application/json' } })
    expect(rotated.status).toBe(201)
  })

  test('framed as chunks of nothing, or whitespace of any type: no body too (it was "body must be a JSON object … sent without a Content-Type")', async () => {
    const nothing = () => new ReadableStream<Uint8Array>({ start: (c) => c.close() })
    const send = (path: string, body: ReadableStream<Uint8Array> | string, type?: string) =>
      t.app.handle(new Request(`http://localhost${path}`, { method: 'POST', body, headers: { authorization: `Bearer ${admin.token}`, ...(type ? { 'content-type': type } : {}) }, duplex: 'half' } as RequestInit))
    const made = (await t.req('POST', '/api/v1/tokens', { token: admin.token, body: { name: 'chunks' } })).body
    const rotated = await send(`/api/v1/tokens/${made.id}/rotate`, nothing())
    expect(rotated.status).toBe(201)
    for (const [body, type] of [[nothing(), undefined], [nothing(), 'text/plain'], [' \n', 'text/plain'], [' ', undefined]] as const) {
      const r = await send('/api/v1/tasks', body, type)
      const json = (await r.json()) as { code: string; message: string; details: { field: string }[] }
      expect([r.status, json.details?.[0]?.field, json.message.includes('must be a JSON object')]).toEqual([422, 'body', false])
    }
    // A body that is there and is not JSON is still refused as such.
    const text = await send('/api/v1/tasks', 'title=x; not json', 'text/plain')
    expect(((await text.json()) as { message: string }).message).toContain('send a JSON object')
  })
})

describe('malformed JSON → 400 invalid_json', () => {
  test.each([
    ['truncated object', '{"name":'],
    ['trailing comma', '{"name":"x",}'],
    ['single quotes', "{'name':'x'}"],
    ['bare word', 'hello'],
  ])('%s', async (_label, raw) => {
    const res = expectError(await postRaw(raw), 400, 'invalid_json')
    expect(res.body.message).toContain('Invalid JSON in request body')
    expect(res.body.statusMessage).toBe('Bad Request')
  })

  test('it never echoes the body; without a token the answer is the 401, the body never read', async () => {
    const res = expectError(await postRaw('{"name":"sekrit-value'), 400, 'invalid_json')
    expect(res.text).not.toContain('sekrit-value')
    const anonymous = await t.req('POST', '/api/v1/tokens', { raw: '{"name":"sekrit-value', headers: { 'content-type': 'application/json' } })
    expectError(anonymous, 401, 'missing_token')
    expect(anonymous.text).not.toContain('sekrit-value')
  })

  test('an invalid query or path is also answered after authentication: 401 without a token, 422 with one', async () => {
    expectError(await t.req('GET', '/api/v1/agents?limit=999'), 401, 'missing_token')
    expectError(await t.req('GET', '/api/v1/tasks?priority=nope', { token: 'td_' + 'x'.repeat(43) }), 401, 'invalid_token_checksum')
    expectError(await t.req('GET', '/api/v1/agents?limit=999', { token: admin.token }), 422, 'validation_failed')
  })
})

describe('validation → 422 validation_failed with per-field details', () => {
  test.each([
    ['name missing', {}, 'name'],
    ['name empty', { name: '' }, 'name'],
    ['name not a string', { name: 42 }, 'name'],
    ['name over 100 characters', { name: 'x'.repeat(101) }, 'name'],
    ['expiresInDays 6', { name: 'x', expiresInDays: 6 }, 'expiresInDays'],
    ['expiresInDays 366', { name: 'x', expiresInDays: 366 }, 'expiresInDays'],
    ['expiresInDays 7.5', { name: 'x', expiresInDays: 7.5 }, 'expiresInDays'],
    ['expiresInDays "abc"', { name: 'x', expiresInDays: 'abc' }, 'expiresInDays'],
    ['expiresInDays null', { name: 'x', expiresInDays: null }, 'expiresInDays'],
    ['expiresInDays -30', { name: 'x', expiresInDays: -30 }, 'expiresInDays'],
  ])('%s', async (_label, body, field) => {
    const res = expectError(await post(body), 422, 'validation_failed')
    expect(res.body.statusMessage).toBe('Unprocessable Entity')
    expect(res.body.message).toContain('Validation failed')
    expect(Array.isArray(res.body.details)).toBe(true)
    expect(res.body.details.length).toBeGreaterThan(0)
    for (const d of res.body.details) {
      expect(typeof d.field).toBe('string')
      expect(typeof d.message).toBe('string')
    }
    expect(res.body.details.map((d: { field: string }) => d.field)).toContain(field)
    expect(res.body.message).toContain(field)
  })

  test('the range is named for expiresInDays', async () => {
    const res = expectError(await post({ name: 'x', expiresInDays: 366 }), 422, 'validation_failed')
    expect(res.body.message).toMatch(/7.*365/)
  })

  test('a body that is not an object (array, null, number) is 422, not 500', async () => {
    for (const raw of ['[1,2]', 'null', '42', '"name"']) expectError(await postRaw(raw), 422, 'validation_failed')
  })

  test('query parameters are validated too', async () => {
    const res = expectError(await t.req('GET', '/api/v1/tokens?limit=abc', { token: admin.token }), 422, 'validation_failed')
    expect(res.body.details.map((d: { field: string }) => d.field)).toContain('limit')
    const res2 = expectError(await t.req('GET', '/api/v1/tokens?status=bogus', { token: admin.token }), 422, 'validation_failed')
    expect(res2.body.details.map((d: { field: string }) => d.field)).toContain('status')
    // It names the values it takes, as every enum filter does (it said "expected union value").
    expect(res2.body.message).toContain('status must be one of: active, expired, revoked')
  })

  test('validation never echoes the value sent', async () => {
    const res = expectError(await post({ name: 'x', expiresInDays: 'zzz-unique-value' }), 422, 'validation_failed')
    expect(res.text).not.toContain('zzz-unique-value')
  })
})

describe('routes and methods', () => {
  test.each([
    ['GET', '/api/v1/nope'],
    ['GET', '/api/v2/tokens'],
    ['GET', '/nope'],
    ['POST', '/api/v1/widgets'],
    ['GET', '/api/v1/tokens/pat_x/extra'],
    ['GET', '/swagger/assets/nope.js'],
  ])('unknown route %s %s → 404 route_not_found (with or without a token)', async (method, path) => {
    expectError(await t.req(method, path), 404, 'route_not_found')
    expectError(await t.req(method, path, { token: admin.token }), 404, 'route_not_found')
  })

  test.each([
    ['PUT', '/api/v1/tokens', ['GET', 'HEAD', 'POST']],
    ['DELETE', '/api/v1/tokens', ['GET', 'HEAD', 'POST']],
    ['PATCH', '/api/v1/tokens/pat_x', ['GET', 'HEAD', 'DELETE']],
    ['PUT', '/api/v1/tokens/pat_x', ['GET', 'HEAD', 'DELETE']],
    ['POST', '/api/v1/tokens/pat_x', ['GET', 'HEAD', 'DELETE']],
    ['POST', '/api/health', ['GET', 'HEAD']],
    // The CLI sign-in's poll hands out its tokens once: no HEAD (a HEAD of it is 405 too, below).
    ['POST', '/api/auth/cli/poll', ['GET']],
  ])('wrong method %s %s → 405 method_not_allowed with Allow', async (method, path, allowed) => {
    for (const token of [undefined, admin.token]) {
      const res = expectError(await t.req(method, path, { token }), 405, 'method_not_allowed')
      const allow = res.headers.get('allow')
      expect(allow).not.toBeNull()
      expect(allow!.split(/,\s*/).sort()).toEqual([...allowed].sort())
      expect(res.body.statusMessage).toBe('Method Not Allowed')
    }
  })

  test('a token of another user or that does not exist is 404 not_found, with the envelope', async () => {
    expectError(await t.req('GET', '/api/v1/tokens/pat_doesnotexist', { token: admin.token }), 404, 'not_found')
    expectError(await t.req('DELETE', '/api/v1/tokens/pat_doesnotexist', { token: admin.token }), 404, 'not_found')
  })
})

describe('body size → 413 payload_too_large', () => {
  const MiB = 1024 * 1024

  test('a Content-Length over 1 MiB is refused before the body is read (also unauthenticated)', async () => {
    for (const token of [admin.token, undefined]) {
      const res = expectError(
        await postRaw('{}', { 'content-type': 'application/json', 'content-length': String(MiB + 1) }, token),
        413,
        'payload_too_large',
      )
      expect(res.body.statusMessage).toBe('Payload Too Large')
      expect(res.body.message).toContain('1 MiB')
    }
  })

  test('a real 1.5 MiB body without a Content-Length is refused too', async () => {
    const raw = JSON.stringify({ name: 'big', pad: 'a'.repeat(1.5 * MiB) })
    expectError(await postRaw(raw), 413, 'payload_too_large')
    expectError(await postRaw(raw, { 'content-type': 'application/json' }, undefined), 413, 'payload_too_large')
    // … also streamed in chunks
    const chunk = new TextEncoder().encode('a'.repeat(64 * 1024))
    let sent = 0
    const stream = new ReadableStream<Uint8Array>({
      pull(c) {
        if (sent >= 1.5 * MiB) return c.close()
        sent += chunk.byteLength
        c.enqueue(chunk)
      },
    })
    expectError(await postRaw(stream), 413, 'payload_too_large')
  })

  test('a small streamed body without a Content-Length is still parsed after being counted', async () => {
    const bytes = new TextEncoder().encode(JSON.stringify({ name: 'streamed' }))
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(bytes.slice(0, 5))
        c.enqueue(bytes.slice(5))
        c.close()
      },
    })
    const res = await postRaw(stream)
    expect(res.status).toBe(201)
    expect(res.body.name).toBe('streamed')
  })

  test('a body just under the limit is parsed normally (unknown padding is ignored)', async () => {
    const raw = JSON.stringify({ name: 'almost 1 MiB', pad: 'a'.repeat(MiB - 100) })
    expect(raw.length).toBeLessThanOrEqual(MiB)
    const res = await postRaw(raw)
    expect(res.status).toBe(201)
    expect(res.body.name).toBe('almost 1 MiB')
  })
})

describe('content types', () => {
  // Decision: the body is parsed by its Content-Type (Elysia's default). JSON sent as text/plain or
  // with no Content-Type is not read as an object, so it fails validation with 422 and a message
  // that tells the client to send application/json. Form bodies are accepted (they are in the spec).
  test.each([
    ['text/plain', { 'content-type': 'text/plain' }, 'text/plain'],
    ['no Content-Type', {}, 'without a Content-Type'],
    ['application/xml', { 'content-type': 'application/xml' }, 'application/xml'],
    ['curl -d default (form-urlencoded)', { 'content-type': 'application/x-www-form-urlencoded' }, 'application/x-www-form-urlencoded'],
  ])('a JSON body sent as %s → 4xx with the envelope, never 500', async (_label, headers, says) => {
    const res = await postRaw(JSON.stringify({ name: 'x' }), headers)
    expect(res.status).toBeGreaterThanOrEqual(400)
    expect(res.status).toBeLessThan(500)
    expectError(res, 422, 'validation_failed')
    expect(res.body.message).toContain(says)
    expect(res.body.message).toContain('Content-Type: application/json')
  })

  test('application/json with a charset parameter is JSON', async () => {
    const res = await postRaw(JSON.stringify({ name: 'charset' }), { 'content-type': 'application/json; charset=utf-8' })
    expect(res.status).toBe(201)
  })

  test('a form-urlencoded body with the right fields works', async () => {
    const res = await postRaw('name=from-form&expiresInDays=30', { 'content-type': 'application/x-www-form-urlencoded' })
    expect(res.status).toBe(201)
    expect(res.body.name).toBe('from-form')
  })
})

describe('mass assignment: unknown and server-owned fields are ignored', () => {
  test('id, userId, organizationId, status, token sent by the client are not trusted', async () => {
    const other = await makeActor(t, { org: 'other-org' })
    const res = await post({
      name: 'mine',
      id: 'pat_mine',
      userId: other.userId,
      organizationId: other.organizationId,
      status: 'revoked',
      token: 'td_chosenbytheclient',
      revokedAt: '2020-01-01T00:00:00.000Z',
      createdBy: other.userId,
      somethingElse: { nested: true },
    })
    expect(res.status).toBe(201)
    expect(res.body.id).toStartWith('pat_')
    expect(res.body.id).not.toBe('pat_mine')
    expect(res.body.userId).toBe(admin.userId)
    expect(res.body.organizationId).toBe(admin.organizationId)
    expect(res.body.status).toBe('active')
    expect(res.body.revokedAt).toBeNull()
    expect(res.body.token).toMatch(/^td_[A-Za-z0-9]{43}$/)
    expect(res.body).not.toHaveProperty('somethingElse')

    // it is the caller's token, in the caller's org, and it works
    const got = await t.req('GET', `/api/v1/tokens/${res.body.id}`, { token: res.body.token })
    expect(got.status).toBe(200)
    expect(got.body.token.userId).toBe(admin.userId)
    // the other user does not see it
    expectError(await t.req('GET', `/api/v1/tokens/${res.body.id}`, { token: other.token }), 404, 'not_found')
  })

  test('client-sent user/org with literal ids also ignored', async () => {
    const res = await post({ name: 'x', id: 'pat_mine', userId: 'user_other', organizationId: 'org_other' })
    expect(res.status).toBe(201)
    expect(res.body.id).not.toBe('pat_mine')
    expect(res.body.userId).toBe(admin.userId)
    expect(res.body.organizationId).toBe(admin.organizationId)
  })
})

describe('no client mistake yields a 500 or a stack trace', () => {
  test('a sweep of odd requests: no 5xx, no stack trace, nothing logged as an unhandled error', async () => {
    t.logs.length = 0
    const cases: [string, string, Parameters<TestApp['req']>[2]][] = [
      ['GET', '/api/v1/tokens/%E0%A4%A', { token: admin.token }],
      ['GET', '/api/v1/tokens?limit=-1&offset=x', { token: admin.token }],
      ['GET', '/api/v1/tokens?all=maybe', { token: admin.token }],
      ['POST', '/api/v1/tokens', { token: admin.token, raw: '\u0000\u0001\u0002', headers: { 'content-type': 'application/json' } }],
      ['POST', '/api/v1/tokens', { token: admin.token, raw: '{"name":"x"}', headers: { 'content-type': 'multipart/form-data' } }],
      ['POST', '/api/v1/tokens', { token: admin.token, raw: '{"name":"x"}', headers: { 'content-type': 'multipart/form-data; boundary=zzz' } }],
      ['POST', '/api/v1/tokens', { token: admin.token, body: { name: 'x', expiresAt: 'not a date' } }],
      ['POST', '/api/v1/tokens', { token: admin.token, body: { name: 'x', expiresAt: 12 } }],
      ['POST', '/api/v1/tokens', { token: admin.token, body: { name: 'x', expiresAt: '2020-01-01T00:00:00Z' } }],
      ['POST', '/api/v1/tokens', { token: admin.token, body: { name: 'x', expiresAt: '2026-07-01T00:00:00Z', expiresInDays: 30 } }],
      ['POST', '/api/v1/tokens', { token: admin.token, raw: '{"name":"x","name":"y","__proto__":{"admin":true}}', headers: { 'content-type': 'application/json' } }],
      ['DELETE', '/api/v1/tokens/' + 'x'.repeat(5000), { token: admin.token }],
      ['GET', '/api/v1/tokens', { token: 'td_' + 'é'.repeat(43) }],
      ['GET', '/api/v1/tokens', { headers: { authorization: 'Bearer ' + 'a'.repeat(9000) } }],
      ['OPTIONS', '/api/v1/tokens', {}],
      ['TRACE', '/api/v1/tokens', {}],
    ]
    for (const [method, path, opts] of cases) {
      const res = await t.req(method, path, opts)
      const label = `${method} ${path.slice(0, 60)}`
      expect({ label, status: res.status < 500 }).toEqual({ label, status: true })
      expectNoStack(res)
      if (res.status >= 400) {
        for (const key of ENVELOPE_KEYS) expect(res.body).toHaveProperty(key)
        expect(res.headers.get('x-request-id')).toBe(res.body.requestId)
      }
    }
    // The sweep's own log: its 401s are there (so the log is captured), no unhandled error is.
    expect(t.logs.filter((l) => l.includes('auth_failed')).length).toBeGreaterThan(0)
    expect(t.logs.filter((l) => l.includes('unhandled_error'))).toEqual([])
  })
})

describe('a database that cannot take the request now → 503 with Retry-After, not a 500', () => {
  test('another process holds the write lock (an admin command, a rekey, a restore): 503, and the next request after it is served', async () => {
    const { mkdtempSync, rmSync } = await import('node:fs')
    const { tmpdir } = await import('node:os')
    const { join } = await import('node:path')
    const { TX_LOCK } = await import('../src/db/pg')
    const dir = mkdtempSync(join(tmpdir(), 'busy-'))
    try {
      // PostgreSQL: the locked write waits out this timeout. Not shorter: every statement and
      // transaction of the app has it too, and a process left unscheduled for longer in the middle
      // of a transaction (a loaded CI machine) has that transaction ended by PostgreSQL's
      // idle-in-transaction timeout: a 503 for makeActor or the write after the lock (with 300 ms,
      // a stall of 900 ms failed 2 token creations of 12 here; with 3000 ms, none).
      const t = await makeTestApp({ dbPath: process.env.TEAMDAY_TEST_DATABASE === 'postgres' ? undefined : join(dir, 't.db'), config: { dbStatementTimeoutMs: 3000 } })
      const a = await makeActor(t, { role: 'admin' })
      const conn = t.rt.connection
      let release: () => Promise<void>
      if (conn.dialect === 'sqlite') {
        conn.client.exec('PRAGMA busy_timeout = 50')
        const { Database } = await import('bun:sqlite')
        const other = new Database(join(dir, 't.db'))
        other.exec('BEGIN IMMEDIATE')
        release = async () => {
          other.exec('ROLLBACK')
          other.close()
        }
      } else {
        // Another instance's transaction holding the lock every transaction takes first.
        const postgres = (await import('postgres')).default
        const other = postgres(t.pg!.url, { max: 1, onnotice: () => {} })
        const reserved = await other.reserve()
        await reserved.unsafe(`SET search_path TO ${t.pg!.schema}`)
        await reserved.unsafe(`SELECT pg_advisory_lock(${TX_LOCK}, hashtext(current_schema()))`)
        release = async () => {
          await reserved.unsafe(`SELECT pg_advisory_unlock(${TX_LOCK}, hashtext(current_schema()))`)
          reserved.release()
          await other.end()
        }
      }
      // A write that needs the lock (a token: its cap is counted in a transaction).
      const busy = await t.req('POST', '/api/v1/tokens', { token: a.token, body: { name: 'while locked' } })
      await release()
      expect([busy.status, busy.body.code, busy.headers.get('retry-after')]).toEqual([503, 'service_unavailable', '1'])
      expect(busy.body.message).toContain('busy')
      expect(t.logs.some((l) => l.includes('"database_unavailable"'))).toBe(true)
      expect((await t.req('POST', '/api/v1/tokens', { token: a.token, body: { name: 'after' } })).status).toBe(201)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }, 30_000)

  test.skipIf(sqliteOnly("SQLite's page limit stands in for a full disk"))('a full disk (SQLITE_FULL) or a read-only database file: 503 saying so, nothing written, and it serves again once that is over', async () => {
    const t = await makeTestApp()
    const a = await makeActor(t, { role: 'admin' })
    const c = t.db.$client
    const pages = (c.query('PRAGMA page_count').get() as { page_count: number }).page_count
    // No page beyond those the file has: the next write that needs one fails as on a full disk.
    c.exec(`PRAGMA max_page_count = ${pages}`)
    const full = await t.req('POST', '/api/v1/tasks', { token: a.token, body: { title: 'big', description: 'y'.repeat(20_000) } })
    expect([full.status, full.body.code, full.headers.get('retry-after')]).toEqual([503, 'service_unavailable', '1'])
    expect(full.body.message).toContain('disk holding the database is full')
    c.exec('PRAGMA max_page_count = 1073741823')
    c.exec('PRAGMA query_only = 1')
    const readOnly = await t.req('POST', '/api/v1/tasks', { token: a.token, body: { title: 'ro' } })
    expect([readOnly.status, readOnly.body.code]).toEqual([503, 'service_unavailable'])
    expect(readOnly.body.message).toContain('cannot be written')
    c.exec('PRAGMA query_only = 0')
    expect(t.logs.filter((l) => l.includes('unhandled_error'))).toEqual([])
    expect((await t.req('GET', '/api/v1/tasks', { token: a.token })).body).toEqual([])
    expect((await t.req('POST', '/api/v1/tasks', { token: a.token, body: { title: 'after' } })).status).toBe(201)
  })

  // Found on a full tmpfs under the binary (2026-12-06): 545 refused writes, 545 error lines.
  test.skipIf(sqliteOnly("SQLite's page limit stands in for a full disk"))('a full disk refusing write after write is logged once a minute, with how many it refused meanwhile, not once per request', async () => {
    const t = await makeTestApp()
    const a = await makeActor(t, { role: 'admin' })
    const c = t.db.$client
    const pages = (c.query('PRAGMA page_count').get() as { page_count: number }).page_count
    c.exec(`PRAGMA max_page_count = ${pages}`)
    const write = () => t.req('POST', '/api/v1/tasks', { token: a.token, body: { title: 'big', description: 'y'.repeat(20_000) } })
    const outageLines = () => t.logs.map((l) => JSON.parse(l)).filter((l) => l.msg === 'database_unavailable')
    for (let i = 0; i < 5; i++) expect((await write()).status).toBe(503)
    expect(outageLines().map((l) => [l.code, l.repeated])).toEqual([['SQLITE_FULL', undefined]])
    t.clock.advance(60_000)
    expect((await write()).status).toBe(503)
    expect(outageLines().map((l) => [l.code, l.repeated])).toEqual([
      ['SQLITE_FULL', undefined],
      ['SQLITE_FULL', 4],
    ])
    c.exec('PRAGMA max_page_count = 1073741823')
    expect((await write()).status).toBe(201)
  })

  test("PostgreSQL: teamday's role loses its privileges while the server runs (a REVOKE): 503 saying so, one log line with SQLSTATE 42501 and no SQL; served again once granted", async () => {
    if (!ON_PG) return
    // The app connects as a role of its own (a superuser is never refused anything).
    const role = `teamday_t_${crypto.randomUUID().replaceAll('-', '').slice(0, 12)}`
    const pg = await freshPgSchema()
    const url = new URL(pg.url)
    const owner = postgres(pg.url, { max: 1, onnotice: () => {} })
    const grant = `GRANT ALL ON ALL TABLES IN SCHEMA ${pg.schema} TO ${role}`
    await owner.unsafe(`CREATE ROLE ${role} LOGIN`)
    try {
      await owner.unsafe(`GRANT CREATE ON DATABASE ${url.pathname.slice(1)} TO ${role}; GRANT ALL ON SCHEMA ${pg.schema} TO ${role}; GRANT ALL ON ALL SEQUENCES IN SCHEMA ${pg.schema} TO ${role}; ${grant}`)
      url.username = role
      const t = await makeTestApp({ pg: { url: url.toString(), schema: pg.schema } })
      try {
        const a = await makeActor(t, { role: 'admin' })
        expect((await t.req('GET', '/api/v1/tasks', { token: a.token })).status).toBe(200)
        await owner.unsafe(`REVOKE ALL ON ALL TABLES IN SCHEMA ${pg.schema} FROM ${role}`)
        for (const [method, path] of [['GET', '/api/v1/tasks'], ['POST', '/api/v1/tasks']] as const) {
          const r = await t.req(method, path, { token: a.token, body: method === 'POST' ? { title: 'refused' } : undefined })
          expectError(r, 503, 'service_unavailable')
          expect(r.headers.get('retry-after')).toBe('1')
          expect(r.body.message).toContain('permission denied')
          expect(r.text).not.toMatch(/select|insert|from "|params/i)
        }
        const ready = await t.req('GET', '/api/health/ready')
        expect([ready.status, ready.body.message]).toEqual([503, expect.stringContaining('permission denied')])
        const logged = t.logs.map((l) => JSON.parse(l)).filter((l) => l.level === 'error' && l.msg !== 'request' && l.msg !== 'not_ready')
        // The second refusal within the minute is counted, not logged again (RepeatedLines).
        expect(logged.map((l) => [l.msg, l.code])).toEqual([['database_unavailable', '42501']])
        expect(logged[0].error).toContain('permission denied for table')
        expect(JSON.stringify(logged)).not.toMatch(/select|insert|params/i)
        await owner.unsafe(grant)
        expect((await t.req('GET', '/api/v1/tasks', { token: a.token })).status).toBe(200)
      } finally {
        await t.rt.close()
      }
    } finally {
      await owner.unsafe(`DROP OWNED BY ${role}; DROP ROLE ${role}`)
      await owner.end({ timeout: 1 })
    }
  })
})

describe("teamday's tables dropped while the server runs", () => {
  test("schemaMissing: PostgreSQL's 42P01 for a relation that does not exist, not its 42P01 for a statement's own bug (a missing FROM-clause entry stays a 500 with its SQL logged)", () => {
    expect(schemaMissing(Object.assign(new Error('relation "users" does not exist'), { code: '42P01' }))).toBe(true)
    expect(schemaMissing(new Error('Failed query', { cause: Object.assign(new Error('relation "public.tasks" does not exist'), { code: '42P01' }) }))).toBe(true)
    expect(schemaMissing(Object.assign(new Error('missing FROM-clause entry for table "t"'), { code: '42P01', routine: 'errorMissingRTE' }))).toBe(false)
    // The message is in the server's language (lc_messages); the routine is not.
    expect(schemaMissing(Object.assign(new Error('Relation »users« existiert nicht'), { code: '42P01', routine: 'parserOpenTable' }))).toBe(true)
    expect(schemaMissing(Object.assign(new Error('no such table: users'), { code: 'SQLITE_ERROR' }))).toBe(true)
    expect(schemaMissing(Object.assign(new Error('no such column: x'), { code: 'SQLITE_ERROR' }))).toBe(false)
  })

  test('503 saying the schema is missing (teamday migrate), readiness too; one log line a minute, no SQL', async () => {
    const t = await makeTestApp()
    try {
      const a = await makeActor(t, { role: 'admin' })
      expect((await t.req('GET', '/api/v1/tasks', { token: a.token })).status).toBe(200)
      if (t.backend === 'pg') {
        const owner = postgres(t.pg!.url, { max: 1, onnotice: () => {} })
        await owner.unsafe(`DROP SCHEMA ${t.pg!.schema} CASCADE`)
        await owner.end({ timeout: 1 })
      } else {
        const sqlite = (t.rt.connection as { client: { exec(sql: string): void; prepare(sql: string): { all(): unknown[] } } }).client
        sqlite.exec('PRAGMA foreign_keys = OFF')
        for (const { name } of sqlite.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").all() as { name: string }[]) sqlite.exec(`DROP TABLE "${name}"`)
      }
      const before = t.logs.length
      for (const [method, path] of [['GET', '/api/v1/tasks'], ['POST', '/api/v1/tasks'], ['GET', '/api/v1/agents']] as const) {
        const r = await t.req(method, path, { token: a.token, body: method === 'POST' ? { title: 'no table' } : undefined })
        expectError(r, 503, 'service_unavailable')
        expect(r.body.message).toContain('teamday migrate')
        expect(r.headers.get('retry-after')).not.toBeNull()
      }
      const ready = await t.req('GET', '/api/health/ready')
      expect([ready.status, ready.body.message]).toEqual([503, expect.stringContaining("does not have teamday's tables")])
      const logged = t.logs.slice(before).map((l) => JSON.parse(l)).filter((l) => l.level === 'error' && l.msg !== 'request' && l.msg !== 'not_ready')
      expect(logged.map((l) => l.msg)).toEqual(['database_unavailable'])
      expect(JSON.stringify(logged)).not.toMatch(/select|insert|params/i)
    } finally {
      if (t.backend === 'sqlite') await t.rt.close()
    }
  })
})

describe("README's error tables", () => {
  test('name every code the server answers with, at its status (decryption_failed, slug_taken, model_not_served … were missing)', () => {
    const root = join(import.meta.dir, '..')
    const readme = readFileSync(join(root, 'README.md'), 'utf8')
    const listed = new Map<string, number[]>()
    for (const m of readme.matchAll(/^\| (\d{3})(?: \/ (\d{3}))? \| ([^|]+) \|/gm)) {
      for (const c of m[3]!.matchAll(/`([a-z_]+)`/g)) listed.set(c[1]!, [m[1], m[2]].filter(Boolean).map(Number))
    }
    const auth = readme.slice(readme.indexOf('### Authentication errors'), readme.indexOf('### Other errors'))
    for (const m of auth.matchAll(/^\| `([a-z_]+)` \| /gm)) listed.set(m[1]!, [401])
    // The codes some module answers with (a quoted literal outside the table itself).
    const src = join(root, 'src')
    const text = (readdirSync(src, { recursive: true }) as string[])
      .filter((f) => /\.tsx?$/.test(f) && f !== 'errors.ts')
      .map((f) => readFileSync(join(src, f), 'utf8'))
      .join('\n')
    const used = Object.entries(ERROR_STATUS).filter(([code]) => text.includes(`'${code}'`))
    expect(used.length).toBeGreaterThan(40)
    // And the table holds no code nothing answers with (not_implemented, 501, was one): README
    // and the table say the same codes.
    expect(Object.keys(ERROR_STATUS).filter((code) => !text.includes(`'${code}'`))).toEqual([])
    const drift = used.flatMap(([code, status]) => (listed.get(code)?.includes(status) ? [] : [`${code} ${status}: README ${listed.get(code) ?? 'none'}`]))
    expect(drift).toEqual([])
  })
})
