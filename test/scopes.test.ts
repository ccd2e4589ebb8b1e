import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Elysia } from 'elysia'
import { authPlugin } from '../src/auth/plugin'
import { SCOPES } from '../src/auth/roles'
import { loadConfig } from '../src/config'
import { AppError } from '../src/errors'
import { operatorContext } from '../src/context'
import { createRuntime } from '../src/runtime'
import { findTokenById } from '../src/modules/tokens/service'
import { setRole } from '../src/modules/users/service'
import { cliOn } from './helpers/cli'
import { authorizerOf, makeActor, makeTestApp, makeToken, type Actor, type TestApp } from './helpers/app'

let t: TestApp
let admin: Actor

beforeAll(async () => {
  t = await makeTestApp()
  admin = await makeActor(t, { role: 'admin' })
}, 60_000)

describe('scopes on token creation', () => {
  test('POST /tokens stores the scopes; list, get and self show them', async () => {
    const res = await t.req('POST', '/api/v1/tokens', { token: admin.token, body: { name: 'reader', scopes: ['agents:read', 'tasks:read', 'agents:read'] } })
    expect(res.status).toBe(201)
    expect(res.body.scopes).toEqual(['agents:read', 'tasks:read'])
    const one = await t.req('GET', `/api/v1/tokens/${res.body.id}`, { token: admin.token })
    expect(one.body.token.scopes).toEqual(['agents:read', 'tasks:read'])
    const list = await t.req('GET', '/api/v1/tokens', { token: admin.token })
    expect(list.body.tokens.find((x: any) => x.id === res.body.id).scopes).toEqual(['agents:read', 'tasks:read'])
    const self = await t.req('GET', '/api/v1/tokens/self', { token: res.body.token })
    expect(self.status).toBe(200)
    expect(self.body.token.scopes).toEqual(['agents:read', 'tasks:read'])
  })

  test('default is ["*"]; "*" with others collapses to ["*"]', async () => {
    expect((await t.req('POST', '/api/v1/tokens', { token: admin.token, body: { name: 'all' } })).body.scopes).toEqual(['*'])
    expect((await t.req('POST', '/api/v1/tokens', { token: admin.token, body: { name: 'all', scopes: ['tokens:read', '*'] } })).body.scopes).toEqual(['*'])
  })

  test('unknown scopes → 422 listing the valid ones; empty list → 422', async () => {
    const bad = await t.req('POST', '/api/v1/tokens', { token: admin.token, body: { name: 'x', scopes: ['agents:read', 'agents:delete'] } })
    expect(bad.status).toBe(422)
    expect(bad.body.code).toBe('validation_failed')
    expect(bad.body.message).toStartWith('Validation failed: scopes')
    expect(bad.body.message).toContain('"agents:delete"')
    for (const s of SCOPES) expect(bad.body.message).toContain(s)
    expect(bad.body.details[0].field).toBe('scopes')
    const empty = await t.req('POST', '/api/v1/tokens', { token: admin.token, body: { name: 'x', scopes: [] } })
    expect(empty.status).toBe(422)
    expect(empty.body.message).toContain('must not be empty')
    const notArray = await t.req('POST', '/api/v1/tokens', { token: admin.token, body: { name: 'x', scopes: 'agents:read' } })
    expect(notArray.status).toBe(422)
    expect(notArray.body.details[0].field).toBe('scopes')
  })
})

// Which scope each route needs, for every route: test/scope-routes.test.ts.
describe('scope denials', () => {
  test('a denied scope is audited once per token and scope per minute, without the token', async () => {
    const tok = await makeToken(t, admin, { scopes: ['agents:read'] })
    for (let i = 0; i < 3; i++) expect((await t.req('GET', '/api/v1/tokens', { token: tok.token })).status).toBe(403)
    const events = (await t.req('GET', `/api/v1/audit-events?type=token.scope_denied&tokenId=${tok.id}`, { token: admin.token })).body
    expect(events.total).toBe(1)
    expect(events.events[0]).toMatchObject({ tokenId: tok.id, actorUserId: admin.userId, details: { requiredScope: 'tokens:read', path: '/api/v1/tokens' } })
    expect(JSON.stringify(events)).not.toContain(tok.token)
    t.clock.advance(61_000)
    await t.req('GET', '/api/v1/tokens', { token: tok.token })
    expect((await t.req('GET', `/api/v1/audit-events?type=token.scope_denied&tokenId=${tok.id}`, { token: admin.token })).body.total).toBe(2)
  })
})

describe('route-agnostic: the real auth plugin on a tiny app', () => {
  let tiny: { handle(r: Request): Promise<Response> }
  const call = async (method: string, token: string) => {
    const res = await tiny.handle(new Request(`http://localhost/x`, { method, headers: { authorization: `Bearer ${token}` } }))
    return { status: res.status, body: await res.json() }
  }
  beforeAll(() => {
    const auth = authPlugin(authorizerOf(t))
    tiny = new Elysia()
      .onError(({ error, set }) => {
        if (!(error instanceof AppError)) return
        set.status = error.status
        return { code: error.code }
      })
      .use(auth)
      .get('/x', () => ({ ok: 'read' }), { auth: 'agents:read' })
      .post('/x', () => ({ ok: 'write' }), { auth: 'agents:write' })
      .put('/x', () => ({ ok: 'execute' }), { auth: 'agents:execute' })
  })

  test('write implies read, but not execute', async () => {
    const tok = (await makeToken(t, admin, { scopes: ['agents:write'] })).token
    expect(await call('GET', tok)).toEqual({ status: 200, body: { ok: 'read' } })
    expect((await call('POST', tok)).status).toBe(200)
    expect(await call('PUT', tok)).toEqual({ status: 403, body: { code: 'insufficient_scope' } })
  })

  test('read does not imply write', async () => {
    const tok = (await makeToken(t, admin, { scopes: ['agents:read'] })).token
    expect((await call('GET', tok)).status).toBe(200)
    expect(await call('POST', tok)).toEqual({ status: 403, body: { code: 'insufficient_scope' } })
  })

  test('"*" is bounded by the role: a viewer\'s "*" token still cannot write', async () => {
    const viewer = await makeActor(t, { role: 'viewer' })
    expect((await call('GET', viewer.token)).status).toBe(200)
    expect(await call('POST', viewer.token)).toEqual({ status: 403, body: { code: 'forbidden' } })
    // A scope the role lacks may be given, but never works: the token never exceeds its user.
    const writeScoped = (await makeToken(t, viewer, { scopes: ['agents:write'] })).token
    expect(await call('POST', writeScoped)).toEqual({ status: 403, body: { code: 'forbidden' } })
  })

  test('a member with "*" may do all three; a role change applies to the tokens the user already has', async () => {
    const member = await makeActor(t, { role: 'member' })
    for (const m of ['GET', 'POST', 'PUT']) expect((await call(m, member.token)).status).toBe(200)
    await setRole(t.ctx, member.email, member.orgSlug, 'viewer')
    expect((await call('GET', member.token)).status).toBe(200)
    expect(await call('POST', member.token)).toEqual({ status: 403, body: { code: 'forbidden' } })
    expect(await call('PUT', member.token)).toEqual({ status: 403, body: { code: 'forbidden' } })
    await setRole(t.ctx, member.email, member.orgSlug, 'member')
    expect((await call('POST', member.token)).status).toBe(200)
  })
})

describe('teamday tokens create --scopes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'teamday-scopes-'))
  const db = join(dir, 'teamday.db')
  afterAll(() => rmSync(dir, { recursive: true, force: true }))
  const cli = cliOn(db)

  test('stores the scopes; unknown scopes fail naming the valid ones', async () => {
    expect((await cli('users', 'create', '--email', 'ops@example.com', '--org', 'acme', '--role', 'admin')).code).toBe(0)
    const made = await cli('tokens', 'create', '--email', 'ops@example.com', '--name', 'ci', '--scopes', 'agents:read, tasks:write')
    expect(made.code).toBe(0)
    const token = made.out.trim()
    const rt = await createRuntime(loadConfig({ TEAMDAY_LOG_LEVEL: 'silent' }, { dbPath: db }))
    try {
      const list = await cli('tokens', 'list', '--email', 'ops@example.com', '--json')
      const ids = JSON.parse(list.out).tokens.map((x: any) => x.id)
      const rows = await Promise.all(ids.map(async (id: string) => (await findTokenById(operatorContext(rt), id))!))
      const scoped = rows.find((r: any) => r.hint === token.slice(3, 7) + token.slice(-4))
      expect(scoped.scopes).toEqual(['agents:read', 'tasks:write'])
    } finally {
      rt.close()
    }
    const bad = await cli('tokens', 'create', '--email', 'ops@example.com', '--name', 'ci', '--scopes', 'agents:fly')
    expect(bad.code).toBe(2) // bad arguments, as the server's 422 is in client mode
    expect(bad.err).toContain('Validation failed: scopes has unknown scope(s) "agents:fly"')
    expect(bad.err).toEndWith('(option --scopes)')
    expect(bad.err).toContain('tokens:write')
  })
})
