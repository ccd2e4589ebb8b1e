import { describe, expect, test } from 'bun:test'
import { loadConfig } from '../src/config'
import { ConfigError } from '../src/config-error'
import { makeActor, makeTestApp } from './helpers/app'

// CORS (TEAMDAY_CORS_ORIGINS, src/http/cors.ts): off unless origins are listed; only /api/
// answers carry it; a preflight from a listed origin is answered before authentication.

const DASH = 'https://dash.example.com'
const preflight = (origin: string, method = 'GET', headers = 'authorization') => ({
  origin,
  'access-control-request-method': method,
  'access-control-request-headers': headers,
})

describe('CORS off (the default)', () => {
  test('no CORS header on any answer; a preflight gets what any OPTIONS gets', async () => {
    const t = await makeTestApp()
    const a = await makeActor(t)
    const get = await t.req('GET', '/api/v1/agents', { token: a.token, headers: { origin: DASH } })
    expect(get.status).toBe(200)
    expect(get.headers.get('access-control-allow-origin')).toBeNull()
    const pre = await t.req('OPTIONS', '/api/v1/agents', { headers: preflight(DASH) })
    expect(pre.status).not.toBe(204)
    expect(pre.headers.get('access-control-allow-origin')).toBeNull()
  })
})

describe('CORS for listed origins', () => {
  test('a preflight from a listed origin: 204 before authentication, naming methods, headers and how long to keep it', async () => {
    const t = await makeTestApp({ config: { corsOrigins: [DASH, 'http://localhost:5173'] } })
    const pre = await t.req('OPTIONS', '/api/v1/agents', { headers: preflight(DASH, 'POST', 'authorization, content-type, idempotency-key') })
    expect(pre.status).toBe(204)
    expect(pre.text).toBe('')
    expect(pre.headers.get('access-control-allow-origin')).toBe(DASH)
    expect(pre.headers.get('access-control-allow-methods')).toContain('PATCH')
    for (const h of ['authorization', 'content-type', 'idempotency-key']) expect(pre.headers.get('access-control-allow-headers')).toContain(h)
    expect(pre.headers.get('access-control-max-age')).toBe('600')
    expect(pre.headers.get('access-control-allow-credentials')).toBeNull()
    expect(pre.headers.get('vary')).toBe('origin')
    expect(pre.headers.get('x-request-id')).toMatch(/^req_/)
    // A path of an id, the health check and TeamDay's CLI routes alike.
    for (const path of ['/api/v1/tasks/task_x', '/api/health', '/api/tokens/list']) expect((await t.req('OPTIONS', path, { headers: preflight('http://localhost:5173') })).status).toBe(204)
  })

  // Answered by an onRequest hook, before routing: Elysia runs no afterResponse hook for such an
  // answer, so no preflight ever had its access-log line ("one line per request, whatever answered").
  test('a preflight answered before routing has its access-log line and its request count, as every request does', async () => {
    const t = await makeTestApp({ config: { corsOrigins: [DASH] } })
    const pre = await t.req('OPTIONS', '/api/v1/agents', { headers: { ...preflight(DASH), 'x-request-id': 'preflight-1' }, ip: '203.0.113.9' })
    expect(pre.status).toBe(204)
    await Bun.sleep(20)
    const lines = t.logs.map((l) => JSON.parse(l)).filter((l) => l.msg === 'request' && l.method === 'OPTIONS')
    expect(lines).toMatchObject([{ requestId: 'preflight-1', path: '/api/v1/agents', status: 204, bytes: 0, ip: '203.0.113.9' }])
    expect([...t.rt.metrics.requests.series.values()].filter((s) => s.labels.method === 'OPTIONS')).toEqual([{ labels: { method: 'OPTIONS', route: 'unmatched', status: '204' }, value: 1 }])
  })

  test('answers to a listed origin let the page read them: the paging, rate-limit and request-id headers, and errors too', async () => {
    const t = await makeTestApp({ config: { corsOrigins: [DASH] } })
    const a = await makeActor(t, { role: 'admin' })
    for (let i = 0; i < 3; i++) expect((await t.req('POST', '/api/v1/tasks', { token: a.token, body: { title: `Task ${i}` } })).status).toBe(201)
    // A create's Location (where the page reads what it created) is exposed too.
    const created = await t.req('POST', '/api/v1/tasks', { token: a.token, body: { title: 'From the page' }, headers: { origin: DASH } })
    expect([created.status, created.headers.get('location')]).toEqual([201, `/api/v1/tasks/${created.body.id}`])
    expect(created.headers.get('access-control-expose-headers')!.split(', ')).toContain('location')
    const list = await t.req('GET', '/api/v1/tasks?limit=1', { token: a.token, headers: { origin: DASH } })
    expect(list.status).toBe(200)
    expect(list.headers.get('access-control-allow-origin')).toBe(DASH)
    const exposed = list.headers.get('access-control-expose-headers')!.split(', ')
    for (const h of ['x-request-id', 'x-ratelimit-remaining', 'ratelimit', 'teamday-token-expiration', 'retry-after', 'idempotency-status']) expect(exposed).toContain(h)
    // Each header the API sets beyond the safelisted ones is exposed (the paging ones included).
    const own = [...list.headers.keys()].filter((h) => /^(x-|ratelimit|teamday-|retry-after|idempotency-|link$)/.test(h) && h !== 'x-content-type-options')
    expect(own).toContain('link')
    expect(own).toContain('x-next-cursor')
    expect(own).toContain('x-total-count')
    for (const h of own) expect({ h, exposed: exposed.includes(h) }).toEqual({ h, exposed: true })
    const refused = await t.req('GET', '/api/v1/agents', { token: 'td_' + 'x'.repeat(43), headers: { origin: DASH } })
    expect(refused.status).toBe(401)
    expect(refused.headers.get('access-control-allow-origin')).toBe(DASH)
    expect(refused.headers.get('access-control-expose-headers')).toContain('www-authenticate')
    // The refusals that come before any route, too (they were answered before the CORS hook ran).
    const limits = [
      await t.req('GET', `/api/v1/agents?q=${'x'.repeat(9000)}`, { token: a.token, headers: { origin: DASH } }),
      await t.req('POST', '/api/v1/tasks', { token: a.token, headers: { origin: DASH, 'content-length': String(2 * 1024 * 1024) }, raw: 'x' }),
      await t.req('GET', '/api/v1/agents/%00', { token: a.token, headers: { origin: DASH } }),
    ]
    expect(limits.map((r) => r.status)).toEqual([414, 413, 404])
    for (const r of limits) expect([r.headers.get('access-control-allow-origin'), r.headers.get('x-request-id') !== null]).toEqual([DASH, true])
  })

  test('another origin, the console and the docs get no CORS header; a preflight from elsewhere is not answered 204', async () => {
    const t = await makeTestApp({ config: { corsOrigins: [DASH] } })
    const a = await makeActor(t)
    for (const origin of ['https://evil.example', 'https://dash.example.com:8443', 'http://dash.example.com', 'null']) {
      const r = await t.req('GET', '/api/v1/agents', { token: a.token, headers: { origin } })
      expect({ origin, acao: r.headers.get('access-control-allow-origin') }).toEqual({ origin, acao: null })
      expect({ origin, status: (await t.req('OPTIONS', '/api/v1/agents', { headers: preflight(origin) })).status === 204 }).toEqual({ origin, status: false })
    }
    for (const path of ['/login', '/settings/tokens', '/swagger/json', '/metrics']) {
      const r = await t.req('GET', path, { headers: { origin: DASH } })
      expect({ path, acao: r.headers.get('access-control-allow-origin') }).toEqual({ path, acao: null })
      expect({ path, status: (await t.req('OPTIONS', path, { headers: preflight(DASH) })).status === 204 }).toEqual({ path, status: false })
    }
  })

  test('* allows any origin, without credentials', async () => {
    const t = await makeTestApp({ config: { corsOrigins: ['*'] } })
    const a = await makeActor(t)
    const r = await t.req('GET', '/api/v1/agents', { token: a.token, headers: { origin: 'https://anything.example' } })
    expect(r.headers.get('access-control-allow-origin')).toBe('*')
    const pre = await t.req('OPTIONS', '/api/v1/agents', { headers: preflight('https://anything.example') })
    expect([pre.status, pre.headers.get('access-control-allow-origin'), pre.headers.get('vary')]).toEqual([204, '*', null])
  })
})

describe('TEAMDAY_CORS_ORIGINS', () => {
  test('origins as browsers send them, or * alone; anything else is refused at start-up with the form expected', () => {
    expect(loadConfig({}).corsOrigins).toEqual([])
    expect(loadConfig({ TEAMDAY_CORS_ORIGINS: ` ${DASH} , http://localhost:5173 ` }).corsOrigins).toEqual([DASH, 'http://localhost:5173'])
    expect(loadConfig({ TEAMDAY_CORS_ORIGINS: '*' }).corsOrigins).toEqual(['*'])
    for (const bad of [`${DASH}/`, `${DASH}/app`, 'dash.example.com', 'ftp://dash.example.com', 'https://DASH.example.com', '*,https://a.example']) {
      expect(() => loadConfig({ TEAMDAY_CORS_ORIGINS: bad })).toThrow(ConfigError)
    }
    expect(() => loadConfig({ TEAMDAY_CORS_ORIGINS: `${DASH}/` })).toThrow(`did you mean ${DASH}?`)
  })
})
