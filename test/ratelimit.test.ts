import { ipBucket } from '../src/http/ip'
import { describe, expect, test } from 'bun:test'
import { ConfigError, loadConfig, parseRatePolicy } from '../src/config'
import { MemoryRateLimitStore, type RateLimitStore } from '../src/ratelimit/store'
import { eq } from 'drizzle-orm'
import { memberships, personalAccessTokens } from '../src/db/schema'
import { makeActor, makeTestApp, makeToken, type Actor, type TestApp } from './helpers/app'

const MIN = 60_000

describe('per-token rate limit', () => {
  test('headers on every response, 429 after the limit, recovery after the window', async () => {
    const t = await makeTestApp({ config: { rateLimit: { limit: 3, windowMs: MIN } } })
    const a = await makeActor(t)
    const start = t.clock.now()
    for (let i = 0; i < 3; i++) {
      const r = await t.req('GET', '/api/v1/tokens', { token: a.token })
      expect(r.status).toBe(200)
      expect(r.headers.get('x-ratelimit-limit')).toBe('3')
      expect(r.headers.get('x-ratelimit-remaining')).toBe(String(2 - i))
      expect(r.headers.get('x-ratelimit-reset')).toBe(String(Math.ceil((start + MIN) / 1000)))
      // The per-user budget (3 × the token's by default) is listed beside the token's.
      expect(r.headers.get('ratelimit-policy')).toBe('"default";q=3;w=60, "user";q=9;w=60')
      expect(r.headers.get("ratelimit")).toBe(`"default";r=${2 - i};t=${60 - i}, "user";r=${8 - i};t=${60 - i}`)
      t.clock.advance(1000)
    }
    const over = await t.req('GET', '/api/v1/tokens', { token: a.token })
    expect(over.status).toBe(429)
    expect(over.body.code).toBe('rate_limited')
    expect(over.body.message).toContain('Too many requests')
    expect(over.body.details).toEqual({ retryAfterSeconds: 57 })
    expect(over.headers.get('retry-after')).toBe('57')
    expect(over.headers.get('x-ratelimit-remaining')).toBe('0')
    expect(over.headers.get('ratelimit')).toBe('"default";r=0;t=57')
    // Another token of the same user has its own budget.
    expect((await t.req('GET', '/api/v1/tokens', { token: (await makeToken(t, a)).token })).status).toBe(200)
    // Errors after authentication count and carry the headers too.
    expect((await t.req('GET', '/api/v1/tokens/pat_nope', { token: a.token })).status).toBe(429)
    t.clock.advance(57_000)
    const after = await t.req('GET', '/api/v1/tokens', { token: a.token })
    expect(after.status).toBe(200)
    expect(after.headers.get('x-ratelimit-remaining')).toBe('2')
  })

  test('a clock set back (an hour) starts a fresh window instead of refusing every request for that hour', async () => {
    const t = await makeTestApp({ config: { rateLimit: { limit: 3, windowMs: MIN } } })
    const a = await makeActor(t)
    for (let i = 0; i < 3; i++) expect((await t.req('GET', '/api/v1/tokens', { token: a.token })).status).toBe(200)
    expect((await t.req('GET', '/api/v1/tokens', { token: a.token })).status).toBe(429)
    t.clock.advance(-3_600_000)
    const after = await t.req('GET', '/api/v1/tokens', { token: a.token })
    expect(after.status).toBe(200)
    expect(Number(after.headers.get('x-ratelimit-reset')) * 1000 - t.clock.now()).toBeLessThanOrEqual(MIN)
    expect(after.headers.get('x-ratelimit-remaining')).toBe('2')
  })

  test('TEAMDAY_RATE_LIMIT=off: no limit, no headers', async () => {
    const t = await makeTestApp({ config: loadConfig({ TEAMDAY_RATE_LIMIT: 'off' }, { dbPath: ':memory:' }) })
    const a = await makeActor(t)
    const r = await t.req('GET', '/api/v1/tokens', { token: a.token })
    expect(r.headers.has('x-ratelimit-limit')).toBe(false)
    expect(r.headers.has('ratelimit')).toBe(false)
  })
})

describe('per-IP limit on unauthenticated routes', () => {
  test('a request refused as invalid counts too: over the budget, the 429 comes before validation', async () => {
    // The count ran after validation: 20 invalid requests from one address were all 422, none counted.
    const t = await makeTestApp({ config: { rateLimit: { limit: 3, windowMs: MIN } } })
    const ip = '198.51.100.9'
    const statuses: number[] = []
    for (let i = 0; i < 3; i++) statuses.push((await t.req('GET', `/api/public/agents?limit=${1000 + i}`, { ip })).status)
    for (let i = 0; i < 2; i++) statuses.push((await t.req('POST', '/api/v1/credentials/revoke', { ip, body: { credentials: 'not-an-array' } })).status)
    expect(statuses).toEqual([422, 422, 422, 429, 429])
  })

  test('HEAD on an authenticated route is counted for its token, not against its address as if anonymous', async () => {
    // HEAD runs the GET route; the route table knew only GET, so five users behind one address
    // spent that address's budget (and each HEAD was counted twice).
    const t = await makeTestApp({ config: { rateLimit: { limit: 3, windowMs: 60_000 }, userRateLimit: null } })
    const statuses: number[] = []
    for (let i = 0; i < 5; i++) {
      const a = await makeActor(t)
      const r = await t.req('HEAD', '/api/v1/agents', { token: a.token, ip: '203.0.113.50' })
      statuses.push(r.status)
      expect(r.headers.get('ratelimit-policy')).toBe('"default";q=3;w=60')
      expect(r.headers.get('x-ratelimit-remaining')).toBe('2')
    }
    expect(statuses).toEqual([200, 200, 200, 200, 200])
  })

  test('public routes are limited per client address; health and docs are exempt', async () => {
    const t = await makeTestApp({ config: { rateLimit: { limit: 2, windowMs: MIN } } })
    const get = (path: string, ip: string) => t.req('GET', path, { ip })
    expect((await get('/api/public/agents', '192.0.2.10')).headers.get('x-ratelimit-remaining')).toBe('1')
    expect((await get('/api/public/agents', '192.0.2.10')).status).toBe(200)
    const over = await get('/api/public/agents', '192.0.2.10')
    expect(over.status).toBe(429)
    expect(over.body.details.retryAfterSeconds).toBe(60)
    expect((await get('/api/public/agents', '192.0.2.11')).status).toBe(200)
    for (let i = 0; i < 5; i++) {
      const h = await get('/api/health', '192.0.2.10')
      expect(h.status).toBe(200)
      expect(h.headers.has('x-ratelimit-limit')).toBe(false)
    }
    // Authenticated routes are counted per token, not per address.
    const a = await makeActor(t)
    expect((await t.req('GET', '/api/v1/tokens', { token: a.token, ip: '192.0.2.10' })).status).toBe(200)
  })

  test('an IPv6 client counts by its /64: hopping across its own addresses gets it nothing more', async () => {
    const t = await makeTestApp({ config: { rateLimit: { limit: 2, windowMs: MIN } } })
    const get = (ip: string) => t.req('GET', '/api/public/agents', { ip })
    expect((await get('2001:db8:1:2::1')).status).toBe(200)
    expect((await get('2001:db8:1:2:ffff:ffff:ffff:fffe')).status).toBe(200)
    expect((await get('2001:db8:1:2::abcd')).status).toBe(429)
    // Another /64, and IPv4 addresses (mapped ones too) count one by one.
    expect((await get('2001:db8:1:3::1')).status).toBe(200)
    expect((await get('192.0.2.20')).status).toBe(200)
    expect((await get('192.0.2.21')).status).toBe(200)
  })

  test('ipBucket', () => {
    expect(ipBucket('2001:db8:1:2:3:4:5:6')).toBe('2001:db8:1:2::/64')
    expect(ipBucket('2001:DB8::1')).toBe('2001:db8::/64')
    expect(ipBucket('::ffff:192.0.2.1')).toBe('192.0.2.1')
    expect(ipBucket('192.0.2.1')).toBe('192.0.2.1')
    expect(ipBucket('not an address')).toBe('not an address')
  })
})

describe('what counts and in which order (on PostgreSQL the look-up and the counting are one statement)', () => {
  /** A counter's count so far, read by counting one more hit on it (the store's own answer). */
  const countOf = async (t: TestApp, key: string) => (await t.rt.limiter.store.hit(key, t.clock.now(), 1_000, MIN)).count - 1
  const setToken = (t: TestApp, a: Actor, values: Partial<typeof personalAccessTokens.$inferInsert>) =>
    t.db.update(personalAccessTokens).set(values).where(eq(personalAccessTokens.id, a.tokenId)).run()

  test('a token refused for any cause counts against neither its budget nor its user\'s; valid up to the millisecond, it does', async () => {
    const t = await makeTestApp({ config: { rateLimit: { limit: 50, windowMs: MIN }, userRateLimit: { limit: 80, windowMs: MIN } } })
    const now = () => new Date(t.clock.now())
    const causes: [string, (a: Actor) => unknown, (a: Actor) => unknown][] = [
      // [code, still valid one millisecond before the cause, the cause]
      // (Still valid before the revocation: a rotation's grace period ending a millisecond later.)
      ['token_revoked', (a) => setToken(t, a, { revokedAt: new Date(t.clock.now() + 1), revokedReason: 'rotated' }), (a) => setToken(t, a, { revokedAt: now() })],
      ['token_expired', (a) => setToken(t, a, { expiresAt: new Date(t.clock.now() + 1) }), (a) => setToken(t, a, { expiresAt: now() })],
      ['membership_revoked', async () => {}, (a) => t.db.delete(memberships).where(eq(memberships.userId, a.userId)).run()],
    ]
    for (const [code, almost, cause] of causes) {
      const a = await makeActor(t, { org: `org-${code.replace(/_/g, "-")}` })
      expect((await t.req('GET', '/api/v1/agents', { token: a.token })).status).toBe(200)
      await almost(a)
      const r = await t.req('GET', '/api/v1/agents', { token: a.token })
      expect(r.status).toBe(200)
      expect(r.headers.get('x-ratelimit-remaining')).toBe('48')
      await cause(a)
      for (let i = 0; i < 3; i++) expect((await t.req('GET', '/api/v1/agents', { token: a.token })).body.code).toBe(code)
      expect([code, await countOf(t, `tok:${a.tokenId}`), await countOf(t, `user:${a.userId}`)]).toEqual([code, 2, 2])
    }
  })

  test('401 before 429 (a spent token, once revoked, is 401), and 429 before 403 (a refused permission still counts)', async () => {
    const t = await makeTestApp({ config: { rateLimit: { limit: 1, windowMs: MIN }, userRateLimit: { limit: 10, windowMs: MIN } } })
    const a = await makeActor(t)
    expect((await t.req('GET', '/api/v1/agents', { token: a.token })).status).toBe(200)
    expect((await t.req('GET', '/api/v1/agents', { token: a.token })).status).toBe(429)
    await setToken(t, a, { revokedAt: new Date(t.clock.now()) })
    const revoked = await t.req('GET', '/api/v1/agents', { token: a.token })
    expect(revoked.status).toBe(401)
    expect(revoked.body.code).toBe('token_revoked')
    expect(revoked.headers.has('x-ratelimit-remaining')).toBe(false)
    const scoped = await makeToken(t, a, { scopes: ['tasks:read'] })
    const denied = await t.req('GET', '/api/v1/agents', { token: scoped.token })
    expect(denied.status).toBe(403)
    expect(denied.body.code).toBe('insufficient_scope')
    expect(denied.headers.get('x-ratelimit-remaining')).toBe('0')
    expect((await t.req('GET', '/api/v1/agents', { token: scoped.token })).status).toBe(429)
    // The user's budget: the first request of each token (2) counted, the refused ones did not.
    expect(await countOf(t, `user:${a.userId}`)).toBe(2)
  })

  test("a 429 for the user's budget describes that budget in X-RateLimit-*, also when the token's has nothing left either", async () => {
    const t = await makeTestApp({ config: { rateLimit: { limit: 3, windowMs: MIN }, userRateLimit: { limit: 5, windowMs: MIN } } })
    const a = await makeActor(t)
    const b = await makeToken(t, a)
    for (let i = 0; i < 3; i++) expect((await t.req('GET', '/api/v1/agents', { token: a.token })).status).toBe(200)
    for (let i = 0; i < 2; i++) expect((await t.req('GET', '/api/v1/agents', { token: b.token })).status).toBe(200)
    // b's third request: its own budget is now spent exactly (0 left), the user's is over.
    const refused = await t.req('GET', '/api/v1/agents', { token: b.token })
    expect([refused.status, refused.body.code]).toEqual([429, 'rate_limited'])
    expect(refused.body.message).toContain('for this user')
    expect([refused.headers.get('x-ratelimit-limit'), refused.headers.get('x-ratelimit-remaining')]).toEqual(['5', '0'])
    expect(refused.headers.get('ratelimit')).toContain('"user";r=0')
  })
})

describe('failed authentications are throttled per IP', () => {
  test('past the budget the address gets 429 for bad tokens, while a valid token from it still works', async () => {
    const t = await makeTestApp({ config: { authFailureLimit: { limit: 3, windowMs: MIN } } })
    const a = await makeActor(t)
    const bad = (ip: string) => t.req('GET', '/api/v1/tokens', { token: `td_${'x'.repeat(43)}`, ip })
    for (let i = 0; i < 3; i++) expect((await bad('192.0.2.66')).status).toBe(401)
    const throttled = await bad('192.0.2.66')
    expect(throttled.status).toBe(429)
    expect(throttled.body.code).toBe('rate_limited')
    expect(throttled.body.message).toContain('failed authentication')
    expect(Number(throttled.headers.get('retry-after'))).toBe(60)
    expect((await t.req('GET', '/api/v1/tokens', { token: a.token, ip: '192.0.2.66' })).status).toBe(200)
    expect((await bad('192.0.2.67')).status).toBe(401)
    // Sending no token at all is not a guess: not counted, still 401.
    expect((await t.req('GET', '/api/v1/tokens', { ip: '192.0.2.66' })).status).toBe(401)
    t.clock.advance(MIN)
    expect((await bad('192.0.2.66')).status).toBe(401)
  })

  test('the auth_failures_throttled warning comes once per address and window (its first refusal), not with every refused request; the 429s stay', async () => {
    const t = await makeTestApp({ config: { authFailureLimit: { limit: 3, windowMs: MIN } } })
    const bad = (ip: string) => t.req('GET', '/api/v1/tokens', { token: `td_${'x'.repeat(43)}`, ip })
    const warnings = () => t.logs.filter((l) => l.includes('"msg":"auth_failures_throttled"'))
    for (let i = 0; i < 3; i++) expect((await bad('192.0.2.66')).status).toBe(401)
    expect(warnings()).toEqual([])
    for (let i = 0; i < 10; i++) {
      const refused = await bad('192.0.2.66')
      expect([refused.status, refused.body.code, refused.headers.get('retry-after')]).toEqual([429, 'rate_limited', '60'])
    }
    expect(warnings()).toHaveLength(1)
    expect(JSON.parse(warnings()[0]!)).toMatchObject({ level: 'warn', ip: '192.0.2.66', limit: 3, windowSeconds: 60 })
    // Another address has its own budget and its own first refusal; an IPv6 client's /64 is one.
    for (const ip of ['192.0.2.67', '192.0.2.67', '192.0.2.67', '192.0.2.67', '2001:db8::1', '2001:db8::2', '2001:db8::3', '2001:db8::4', '2001:db8::5']) await bad(ip)
    expect(warnings().map((l) => JSON.parse(l).ip)).toEqual(['192.0.2.66', '192.0.2.67', '2001:db8::4'])
    // The next window: its first refusal is told again.
    t.clock.advance(MIN)
    for (let i = 0; i < 5; i++) await bad('192.0.2.66')
    expect(warnings()).toHaveLength(4)
  })
})

describe('policy parsing and the store interface', () => {
  test('TEAMDAY_RATE_LIMIT forms', () => {
    expect(parseRatePolicy('600/60s')).toEqual({ limit: 600, windowMs: 60_000 })
    expect(parseRatePolicy('100/1m')).toEqual({ limit: 100, windowMs: 60_000 })
    expect(parseRatePolicy('5000/h')).toEqual({ limit: 5000, windowMs: 3_600_000 })
    expect(parseRatePolicy('off')).toBe('off')
    for (const bad of ['600', '600/60', '0/60s', 'x/60s', '600/0s', '-1/60s']) expect(parseRatePolicy(bad)).toBeUndefined()
    expect(loadConfig({}).rateLimit).toEqual({ limit: 1200, windowMs: 60_000 })
    expect(loadConfig({ TEAMDAY_RATE_LIMIT: '600/60s' }).rateLimit).toEqual({ limit: 600, windowMs: 60_000 })
    expect(() => loadConfig({ TEAMDAY_RATE_LIMIT: 'lots' })).toThrow(ConfigError)
    expect(loadConfig({ TEAMDAY_LEAK_REPORT_RATE_LIMIT: 'off' }).leakReportRateLimit).toBeNull()
  })

  test('the in-memory store bounds its memory', () => {
    const s = new MemoryRateLimitStore(100)
    for (let i = 0; i < 1000; i++) s.hit(`k${i}`, 0, 10, MIN)
    expect(s.size).toBeLessThanOrEqual(100)
    expect(s.hit('k999', 1, 10, MIN).count).toBe(2)
    expect(s.hit('k999', MIN, 10, MIN)).toEqual({ count: 1, resetAt: 2 * MIN })
  })

  test('a shared store can replace the in-memory one', async () => {
    const seen: string[] = []
    const inner = new MemoryRateLimitStore()
    const shared: RateLimitStore = { hit: (k, now, limit, w) => (seen.push(k), inner.hit(k, now, limit, w)) }
    const base = await makeTestApp({ config: { rateLimit: { limit: 1, windowMs: MIN } }, rateLimitStore: shared })
    const app = base.app
    const a = await makeActor(base)
    const send = () => app.handle(new Request('http://localhost/api/v1/tokens', { headers: { authorization: `Bearer ${a.token}` } }))
    expect((await send()).status).toBe(200)
    expect((await send()).status).toBe(429)
    // The second request is refused for its token, so it is not counted for the user.
    expect(seen).toEqual([`tok:${a.tokenId}`, `user:${a.userId}`, `tok:${a.tokenId}`])
  })

  test('a store that fails is a 500, also on a request with a body (not "invalid JSON")', async () => {
    const failing: RateLimitStore = {
      hit: async () => {
        throw new Error('connection refused')
      },
    }
    const t = await makeTestApp({ config: { rateLimit: { limit: 10, windowMs: MIN } }, rateLimitStore: failing })
    const a = await makeActor(t)
    for (const [method, body] of [['GET', undefined], ['POST', { name: 'Reviewer', systemPrompt: 'You review.' }]] as const) {
      const r = await t.req(method, '/api/v1/agents', { token: a.token, body })
      expect(r.status).toBe(500)
      expect(r.body.code).toBe('internal_error')
    }
    expect(t.logs.filter((l) => l.includes('unhandled_error') && l.includes('connection refused'))).toHaveLength(2)
  })

  test('limits beyond a 32-bit count work (on PostgreSQL the counter column is an int4)', async () => {
    // 3 × this for the user's budget is over 2^31: the shared store counts on instead of failing.
    const t = await makeTestApp({ config: { rateLimit: { limit: 999_999_999, windowMs: MIN } } })
    const a = await makeActor(t)
    for (let i = 0; i < 2; i++) {
      const r = await t.req('POST', '/api/v1/agents', { token: a.token, body: { name: `Reviewer ${i}`, systemPrompt: 'You review.' } })
      expect(r.status).toBe(201)
      expect(r.headers.get('ratelimit-policy')).toBe('"default";q=999999999;w=60, "user";q=2999999997;w=60')
      expect(r.headers.get('x-ratelimit-remaining')).toBe(String(999_999_999 - 1 - i))
    }
  })
})
