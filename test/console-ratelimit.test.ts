import { afterAll, describe, expect, test } from 'bun:test'
import { loadConfig } from '../src/config'
import { ASSETS } from '../src/console/assets'
import { consoleRateLimit } from '../src/console/ratelimit'
import { makeTestApp, type Res, type TestApp } from './helpers/app'
import { consoleClient, signedInPerson } from './helpers/console'
import { ON_PG } from './helpers/pg'

/**
 * The console's per-person budget (TEAMDAY_CONSOLE_RATE_LIMIT, src/console/ratelimit.ts): a
 * signed-in person's console requests, all their sessions together, are limited as the API's
 * tokens are; over it, the console's "Too many requests" page with Retry-After, in the visitor's
 * language, before a form's body is read. Its own budget (the API's is not spent), counted in the
 * database on PostgreSQL, so that instances share it. Here with a budget of 5 per minute and the
 * test clock. On SQLite, and on PostgreSQL with TEAMDAY_TEST_DATABASE=postgres.
 */
const LIMIT = 5
const key = crypto.getRandomValues(new Uint8Array(32))
const apps: TestApp[] = []
async function app(o: { pg?: TestApp['pg'] } = {}) {
  const t = await makeTestApp({ key, pg: o.pg, config: { consoleRateLimit: { limit: LIMIT, windowMs: 60_000 } } })
  apps.push(t)
  return t
}
afterAll(async () => {
  for (const t of apps) await t.rt.close()
})
const DE = { 'accept-language': 'de-DE,de;q=0.9' }

function expectTooMany(r: Res, lang: 'en' | 'de' = 'en') {
  expect({ status: r.status, type: r.headers.get('content-type') }).toEqual({ status: 429, type: 'text/html; charset=utf-8' })
  expect(r.text).toStartWith(`<!doctype html><html lang="${lang}">`)
  expect(r.headers.get('retry-after')).toMatch(/^[1-9][0-9]*$/)
  expect(r.headers.get('content-security-policy')).toContain("frame-ancestors 'none'")
  expect(r.headers.get('cache-control')).toBe('no-store')
}

describe('the console budget per person', () => {
  test("over the budget: the console's 429 page with Retry-After, in English and German; every session of the person shares it; others, the API and a new window are not affected", async () => {
    const t = await app()
    const { a, c } = await signedInPerson(t, { org: 'budget-org' })
    for (let i = 0; i < LIMIT; i++) expect((await c.get('/settings/profile')).status).toBe(200)
    const over = await c.get('/settings/profile')
    expectTooMany(over)
    expect(over.text).toContain('<h1>Too many requests</h1>')
    expect(over.text).toContain(`Too many requests from your account: the console allows ${LIMIT} requests per 60 s for each person. Wait 60 s, then reload the page.`)
    expect(over.headers.get('retry-after')).toBe('60')
    const de = await c.get('/agents', DE)
    expectTooMany(de, 'de')
    expect(de.text).toContain('<h1>Zu viele Anfragen</h1>')
    expect(de.text).toContain(`Die Konsole erlaubt jeder Person ${LIMIT} Anfragen in 60 s. Warten Sie 60 s`)
    expect(de.text).not.toContain('Too many')

    // Another session of the same person (another browser, another address) shares the budget.
    const other = consoleClient(t, { ip: '127.0.0.2' })
    expect((await other.signIn(a.email)).status).toBe(303)
    expectTooMany(await other.get('/spaces'))
    // Another person has their own; the API's budgets are not the console's.
    const { c: someoneElse } = await signedInPerson(t, { org: 'budget-org' })
    expect((await someoneElse.get('/settings/profile')).status).toBe(200)
    expect((await t.req('GET', '/api/v1/agents', { token: a.token })).status).toBe(200)
    // The console's files and the signed-out pages are not counted against it.
    expect((await c.get(ASSETS[0]!.path)).status).toBe(200)
    expect((await consoleClient(t).get('/login')).status).toBe(200)

    // The next window: allowed again.
    t.clock.advance(30_000)
    expect((await c.get('/settings/profile')).headers.get('retry-after')).toBe('30')
    t.clock.advance(30_000)
    expect((await c.get('/settings/profile')).status).toBe(200)
  })

  test("a form over the budget is refused before its body is read (429, not the 422 of its body) and does nothing; the page says it was not sent", async () => {
    const t = await app()
    const { a, c } = await signedInPerson(t, { org: 'form-org' })
    for (let i = 0; i < LIMIT; i++) expect((await c.get('/settings/profile')).status).toBe(200)
    const refused = await c.post('/settings/tokens', { name: 'over the budget', expiresInDays: '30', scopes: 'agents:read' })
    expectTooMany(refused)
    expect(refused.text).toContain('Your form was not sent')
    // Bodies the reader would refuse (a NUL, not a form): the 429 all the same. (One over 1 MiB by
    // its Content-Length is 413 before anything, as on the API.)
    expectTooMany(await c.post('/settings/tokens', { name: 'a\u0000b' }))
    expectTooMany(await c.post('/settings/tokens', {}, { 'content-type': 'text/plain' }))
    const names = (await t.req('GET', '/api/v1/tokens', { token: a.token })).body.tokens.map((x: { name: string }) => x.name)
    expect(names).not.toContain('over the budget')
  })

  test('instances on one PostgreSQL database share the budget (its counter is a row of rate_limit_counters)', async () => {
    if (!ON_PG) return
    const first = await app()
    const second = await app({ pg: first.pg })
    const { c } = await signedInPerson(first, { org: 'shared-org' })
    const onSecond = consoleClient(second)
    onSecond.cookie = c.cookie
    for (let i = 0; i < LIMIT; i++) expect((await (i % 2 ? onSecond : c).get('/settings/profile')).status).toBe(200)
    expectTooMany(await onSecond.get('/settings/profile'))
    expectTooMany(await c.get('/settings/profile'))
  })

  test("a request it does not count (the API's bodies, a console without a budget) gets nothing to await: no session read, no promise", async () => {
    const t = await app()
    let sessionReads = 0
    const kit = { signedIn: async () => (sessionReads++, null) }
    const owned = () => [{ method: 'POST', path: '/settings/tokens' }]
    const post = (path: string) => new Request(`http://localhost${path}`, { method: 'POST', body: 'name=x' })
    const set = { headers: {} }
    const limit = consoleRateLimit(kit, t.rt.limiter, { limit: LIMIT, windowMs: 60_000 }, owned)
    expect(limit.count(post('/api/v1/agents'), '/api/v1/agents', set)).toBeUndefined()
    expect(consoleRateLimit(kit, t.rt.limiter, null, owned).count(post('/settings/tokens'), '/settings/tokens', set)).toBeUndefined()
    expect(sessionReads).toBe(0)
    // A console form is counted: its session is read (once per request, however often asked).
    const form = post('/settings/tokens')
    const counting = limit.count(form, '/settings/tokens', set)
    expect(counting).toBeInstanceOf(Promise)
    await counting
    expect(limit.count(form, '/settings/tokens', set)).toBeUndefined()
    expect(sessionReads).toBe(1)
  })

  test('TEAMDAY_CONSOLE_RATE_LIMIT: 600/60s by default, a policy or off', () => {
    expect(loadConfig({}).consoleRateLimit).toEqual({ limit: 600, windowMs: 60_000 })
    expect(loadConfig({ TEAMDAY_CONSOLE_RATE_LIMIT: '30/10s' }).consoleRateLimit).toEqual({ limit: 30, windowMs: 10_000 })
    expect(loadConfig({ TEAMDAY_CONSOLE_RATE_LIMIT: 'off' }).consoleRateLimit).toBeNull()
    expect(() => loadConfig({ TEAMDAY_CONSOLE_RATE_LIMIT: 'lots' })).toThrow('TEAMDAY_CONSOLE_RATE_LIMIT')
  })
})
