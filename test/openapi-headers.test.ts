import { beforeAll, describe, expect, test } from 'bun:test'
import { makeActor, makeTestApp, type Res, type TestApp } from './helpers/app'
import { startProviderDouble } from './helpers/providers'

/**
 * The response headers the document declares (components.headers, src/http/openapi-publish.ts)
 * are the ones the server sends: for each request below, every header its operation's response
 * of that status names is in the real response. And the Idempotency-Key parameter carries no
 * example: Swagger UI fills a parameter's example into "Try it out", so every try sent one fixed
 * key and the second POST anywhere was a 409 for 24 hours.
 */

type Json = any
let t: TestApp
let spec: Json

beforeAll(async () => {
  // A budget small enough to reach: 6 requests a minute per token.
  t = await makeTestApp({ config: { rateLimit: { limit: 6, windowMs: 60_000 } } })
  spec = (await t.req('GET', '/swagger/json')).body
})

/** The headers the document declares for `method path` answering `status`, resolved by name. */
function declared(method: string, path: string, status: number): string[] {
  let res = spec.paths[path]?.[method.toLowerCase()]?.responses?.[String(status)]
  expect({ method, path, status, documented: res !== undefined }).toEqual({ method, path, status, documented: true })
  if (res.$ref) res = spec.components.responses[res.$ref.split('/').pop()]
  return Object.keys(res.headers ?? {})
}

function expectDeclaredSent(method: string, path: string, res: Res): string[] {
  const names = declared(method, path, res.status)
  for (const name of names) expect({ path, status: res.status, name, sent: res.headers.has(name) }).toEqual({ path, status: res.status, name, sent: true })
  return names
}

describe('documented response headers', () => {
  test('every header a response names is in components.headers, with a description and a schema', () => {
    const named = new Set<string>()
    for (const item of Object.values(spec.paths) as Json[])
      for (const op of Object.values(item) as Json[])
        for (const res of Object.values(op.responses ?? {}) as Json[]) for (const [name, h] of Object.entries(res.headers ?? {}) as [string, Json][]) if (h.$ref) named.add(h.$ref)
    expect(named.size).toBeGreaterThanOrEqual(10)
    for (const ref of named) {
      const h = spec.components.headers[ref.split('/').pop()!]
      expect({ ref, description: typeof h?.description, schema: typeof h?.schema }).toEqual({ ref, description: 'string', schema: 'object' })
    }
  })

  test('what a success, a 401, a 403 for a scope and a 429 declare is what they send', async () => {
    const admin = await makeActor(t, { role: 'admin' })
    const ok = await t.req('GET', '/api/v1/agents', { token: admin.token })
    expect(ok.status).toBe(200)
    expect(expectDeclaredSent('GET', '/api/v1/agents', ok)).toEqual(
      expect.arrayContaining(['X-Request-Id', 'X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset', 'RateLimit-Policy', 'RateLimit', 'Teamday-Token-Expiration']),
    )

    const anonymous = await t.req('GET', '/api/v1/agents')
    expect(anonymous.status).toBe(401)
    expect(expectDeclaredSent('GET', '/api/v1/agents', anonymous)).toEqual(expect.arrayContaining(['X-Request-Id', 'WWW-Authenticate']))

    const narrow = await makeActor(t, { role: 'admin', token: { scopes: ['agents:read'] } })
    const scoped = await t.req('GET', '/api/v1/tasks', { token: narrow.token })
    expect([scoped.status, scoped.body.code]).toEqual([403, 'insufficient_scope'])
    expect(expectDeclaredSent('GET', '/api/v1/tasks', scoped)).toContain('WWW-Authenticate')

    let limited: Res | undefined
    for (let i = 0; i < 10 && !limited; i++) {
      const r = await t.req('GET', '/api/v1/agents', { token: narrow.token })
      if (r.status === 429) limited = r
    }
    expect(limited?.status).toBe(429)
    expect(expectDeclaredSent('GET', '/api/v1/agents', limited!)).toEqual(expect.arrayContaining(['Retry-After', 'X-RateLimit-Limit', 'Teamday-Token-Expiration']))
  })

  test("an authenticated operation's own 4xx (a 403 for the role, a 404, a 422) declares the rate-limit and token headers it sends, and sends none it does not declare", async () => {
    const counted = ['X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset', 'RateLimit-Policy', 'RateLimit', 'Teamday-Token-Expiration']
    const admin = await makeActor(t, { role: 'admin' })
    const member = await makeActor(t, { role: 'member' })
    const cases: [string, string, string, Res][] = [
      ['GET', '/api/v1/agents/{id}', 'not found', await t.req('GET', '/api/v1/agents/char_nope', { token: admin.token })],
      ['POST', '/api/v1/agents', 'invalid', await t.req('POST', '/api/v1/agents', { token: admin.token, body: { name: '' } })],
      ['GET', '/api/v1/audit-events', 'role', await t.req('GET', '/api/v1/audit-events', { token: member.token })],
    ]
    for (const [method, path, what, res] of cases) {
      expect({ what, status: res.status }).toEqual({ what, status: what === 'not found' ? 404 : what === 'invalid' ? 422 : 403 })
      // (A 403 declares WWW-Authenticate, which its insufficient_scope kind sends and the role's does not.)
      const names = what === 'role' ? declared(method, path, res.status) : expectDeclaredSent(method, path, res)
      const sent = counted.filter((h) => res.headers.has(h))
      expect({ what, sent }).toEqual({ what, sent: counted })
      expect({ what, undeclared: sent.filter((h) => !names.includes(h)) }).toEqual({ what, undeclared: [] })
    }
  })

  test('a success that ends its own token (DELETE /tokens/self) declares no Teamday-Token-Expiration, and sends none; the introspection declares it and sends it', async () => {
    // The document said every authenticated success carries it; this one never does (src/auth/plugin.ts, calledTokenChanged).
    const who = await makeActor(t, { role: 'member' })
    const self = await t.req('GET', '/api/v1/tokens/self', { token: who.token })
    expect(self.status).toBe(200)
    expect(expectDeclaredSent('GET', '/api/v1/tokens/self', self)).toContain('Teamday-Token-Expiration')
    const revoked = await t.req('DELETE', '/api/v1/tokens/self', { token: who.token })
    expect(revoked.status).toBe(200)
    expect(revoked.headers.has('Teamday-Token-Expiration')).toBe(false)
    expect(expectDeclaredSent('DELETE', '/api/v1/tokens/self', revoked)).not.toContain('Teamday-Token-Expiration')
    // Its errors are answered before anything ended: the 429 still declares it.
    expect(declared('DELETE', '/api/v1/tokens/self', 429)).toContain('Teamday-Token-Expiration')
    // The route's flag is the publisher's, not the document's.
    expect(JSON.stringify(spec)).not.toContain('x-ends-calling-token')
  })

  test('a bare-array list names in its success only the paging headers it sends: tasks a count, executions none', async () => {
    // GET /executions said "paging in the X-Total-Count and Link headers"; it sends no count.
    // An app of its own, with a model: this file's budget (6 a minute) would not last.
    const double = startProviderDouble()
    const app = await makeTestApp({ config: { openaiBaseUrl: double.openaiBaseUrl, defaultModel: 'test-model' } })
    const who = await makeActor(app, { role: 'admin', org: 'paging' })
    const agent = (await app.req('POST', '/api/v1/agents', { token: who.token, body: { name: 'Pager' } })).body.id
    for (let i = 0; i < 2; i++) {
      await app.req('POST', '/api/v1/tasks', { token: who.token, body: { title: `t${i}` } })
      await app.req('POST', `/api/v1/agents/${agent}/execute`, { token: who.token, body: { message: 'hi' } })
    }
    for (const [path, counted] of [['/api/v1/tasks', true], ['/api/v1/executions', false]] as const) {
      const page = await app.req('GET', `${path}?limit=1`, { token: who.token })
      expect([path, page.status, page.body.length, page.headers.has('Link'), page.headers.has('X-Total-Count')]).toEqual([path, 200, 1, true, counted])
      const names = expectDeclaredSent('GET', path, page)
      expect([path, names.includes('X-Total-Count')]).toEqual([path, counted])
      const said: string = spec.paths[path].get.responses['200'].description
      expect([path, said.includes('X-Total-Count')]).toEqual([path, counted])
    }
    await app.rt.engine.shutdown(0)
    double.stop()
  })

  test("X-Request-Id: a client's own is kept as the document says, one holding a token is replaced, and the document says that too", async () => {
    const own = 'job-42.step_1:retry-2'
    const kept = await t.req('GET', '/api/health', { headers: { 'x-request-id': own } })
    expect(kept.headers.get('x-request-id')).toBe(own)
    // A token has the id's form (td_ and 43 letters and digits): it would be echoed and logged.
    const who = await makeActor(t, { role: 'member' })
    const replaced = await t.req('GET', '/api/v1/agents', { headers: { 'x-request-id': who.token } })
    expect(replaced.headers.get('x-request-id')).toStartWith('req_')
    expect(replaced.text).not.toContain(who.token)
    expect(spec.components.headers['X-Request-Id'].description).toContain('unless it holds a token')
  })

  test("the other 429, failed authentications from one address: every authenticated operation's 429 describes it, and it sends Retry-After alone", async () => {
    const u = await makeTestApp({ config: { authFailureLimit: { limit: 2, windowMs: 60_000 } } })
    const doc = (await u.req('GET', '/swagger/json')).body
    let operations = 0
    for (const [path, item] of Object.entries(doc.paths) as [string, Json][])
      for (const [method, op] of Object.entries(item) as [string, Json][]) {
        if (!Array.isArray(op.security) || op.security.length === 0 || !op.responses?.['429']) continue
        operations++
        const res = op.responses['429'].$ref ? doc.components.responses[op.responses['429'].$ref.split('/').pop()] : op.responses['429']
        const description: string = res.description
        for (const words of ['TEAMDAY_RATE_LIMIT', 'TEAMDAY_AUTH_FAILURE_LIMIT', 'Too many failed authentication attempts', '`details.reason` `failed_authentications`', 'instead of the 401', '`Retry-After` only'])
          expect({ method, path, words, said: description.includes(words) }).toEqual({ method, path, words, said: true })
      }
    expect(operations).toBeGreaterThan(40)
    const bad = () => u.req('GET', '/api/v1/agents', { token: `td_${'x'.repeat(43)}`, ip: '192.0.2.80' })
    for (let i = 0; i < 2; i++) expect((await bad()).status).toBe(401)
    const refused = await bad()
    expect([refused.status, refused.body.code]).toEqual([429, 'rate_limited'])
    expect(refused.body.message).toStartWith('Too many failed authentication attempts')
    expect(refused.body.details).toEqual({ retryAfterSeconds: 60, reason: 'failed_authentications' })
    expect(refused.headers.get('retry-after')).toBe('60')
    for (const name of ['X-RateLimit-Limit', 'RateLimit', 'Teamday-Token-Expiration']) expect([name, refused.headers.get(name)]).toEqual([name, null])
    await u.rt.close()
  })

  test('a replayed POST sends the Idempotency-Status its success declares', async () => {
    const admin = await makeActor(t, { role: 'admin' })
    const headers = { 'idempotency-key': 'headers-replay-1' }
    const first = await t.req('POST', '/api/v1/tasks', { token: admin.token, body: { title: 'once' }, headers })
    expect(first.status).toBe(201)
    const again = await t.req('POST', '/api/v1/tasks', { token: admin.token, body: { title: 'once' }, headers })
    expect([again.status, again.headers.get('idempotency-status')]).toEqual([201, 'replayed'])
    expect(expectDeclaredSent('POST', '/api/v1/tasks', again)).toContain('Idempotency-Status')
  })

  test('the Idempotency-Key parameter has no example for Swagger UI to fill in', () => {
    const p = spec.components.parameters.IdempotencyKey
    expect(p.name).toBe('Idempotency-Key')
    expect(p.example).toBeUndefined()
    expect(p.examples).toBeUndefined()
    expect(p.schema.example).toBeUndefined()
  })
})
