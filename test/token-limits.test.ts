import { afterEach, beforeEach, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { and, eq } from 'drizzle-orm'
import { createApp } from '../src/app'
import type { Io } from '../src/cli/common'
import { ConfigError, loadConfig } from '../src/config'
import { auditEvents, memberships } from '../src/db/schema'
import { run } from '../src/main'
import { findTokenById } from '../src/modules/tokens/service'
import { createUser, removeMember } from '../src/modules/users/service'
import { createRuntime } from '../src/runtime'
import { makeActor, makeTestApp, makeToken } from './helpers/app'

/** Issue 11, items 3 and 6: removed members' tokens, the per-user token cap and rate limit. */

const MIN = 60_000

describe('removing a member revokes their tokens of that organization', () => {
  test('revoked at once and audited; re-adding (even as admin) does not bring them back', async () => {
    const t = await makeTestApp()
    const admin = await makeActor(t, { role: 'admin' })
    const m = await makeActor(t, { role: 'viewer', email: 'mia@example.com' })
    const second = await makeToken(t, m)
    const elsewhere = await makeActor(t, { org: 'other', email: 'mia@example.com' })
    const r = await removeMember(t.ctx, 'mia@example.com', 'acme')
    expect(r.revokedTokenIds.sort()).toEqual([m.tokenId, second.id].sort())
    expect((await findTokenById(t.ctx, m.tokenId))!.revokedReason).toBe('membership_removed')
    expect((await t.req('GET', '/api/v1/tokens/self', { token: m.token })).body.code).toBe('membership_revoked')
    // Their membership of another organization, and its token, are untouched.
    expect((await t.req('GET', '/api/v1/tokens/self', { token: elsewhere.token })).status).toBe(200)

    const removed = (await t.req('GET', '/api/v1/audit-events?type=member.removed', { token: admin.token })).body.events
    expect(removed).toHaveLength(1)
    expect(removed[0]).toMatchObject({ source: 'cli', targetType: 'user', targetId: m.userId, details: { role: 'viewer' } })
    expect(removed[0].details.revokedTokenIds.sort()).toEqual([m.tokenId, second.id].sort())
    const perToken = (await t.req('GET', `/api/v1/audit-events?type=token.revoked&tokenId=${second.id}`, { token: admin.token })).body.events
    expect(perToken[0]).toMatchObject({ source: 'cli', details: { reason: 'membership_removed', ownerUserId: m.userId } })

    t.clock.advance(1000)
    await createUser(t.ctx, { email: 'mia@example.com', orgSlug: 'acme', role: 'admin' })
    for (const tok of [m.token, second.token]) {
      const res = await t.req('GET', '/api/v1/tokens?all=true', { token: tok })
      expect(res.status).toBe(401)
      expect(res.body.code).toBe('token_revoked')
    }
  })

  test('a membership ended by other means: re-adding revokes the tokens left from it', async () => {
    const t = await makeTestApp()
    const m = await makeActor(t, { email: 'old@example.com' })
    // E.g. a database from before removal revoked tokens, or a row deleted by hand.
    await t.db.delete(memberships).where(and(eq(memberships.userId, m.userId), eq(memberships.organizationId, m.organizationId))).run()
    expect((await t.req('GET', '/api/v1/tokens', { token: m.token })).body.code).toBe('membership_revoked')
    const again = await createUser(t.ctx, { email: 'old@example.com', orgSlug: 'acme', role: 'admin' })
    expect(again.revokedTokenIds).toEqual([m.tokenId])
    const res = await t.req('GET', '/api/v1/tokens', { token: m.token })
    expect(res.status).toBe(401)
    expect(res.body.code).toBe('token_revoked')
    // A token made for the new membership works.
    const fresh = await makeToken(t, m)
    expect((await t.req('GET', '/api/v1/tokens?all=true', { token: fresh.token })).status).toBe(200)
  })
})

describe('the admin CLI: users remove, then users create --role admin', () => {
  let dir: string
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'teamday-limits-'))))
  afterEach(() => rmSync(dir, { recursive: true, force: true }))

  const cli = async (env: Record<string, string>, ...argv: string[]) => {
    const out: string[] = []
    const err: string[] = []
    const io: Io = { out: (s) => out.push(s), err: (s) => err.push(s), env: { TEAMDAY_LOG_LEVEL: 'silent', ...env } }
    const code = await run([...argv, '--db', join(dir, 'teamday.db')], io)
    return { code, out: out.join('\n'), err: err.join('\n') }
  }

  test('the old token stays 401 after the user is re-added as admin', async () => {
    expect((await cli({}, 'users', 'create', '--email', 'eve@example.com', '--org', 'acme')).code).toBe(0)
    const token = (await cli({}, 'tokens', 'create', '--email', 'eve@example.com', '--name', 'laptop')).out.trim()
    const removed = await cli({}, 'users', 'remove', '--email', 'eve@example.com', '--org', 'acme')
    expect(removed.code).toBe(0)
    expect(removed.out).toContain('revoked their 1 token(s) for acme')
    expect((await cli({}, 'users', 'create', '--email', 'eve@example.com', '--org', 'acme', '--role', 'admin')).out).not.toContain('revoked')
    const rt = await createRuntime(loadConfig({ TEAMDAY_LOG_LEVEL: 'silent' }, { dbPath: join(dir, 'teamday.db') }))
    try {
      const res = await createApp(rt).handle(new Request('http://localhost/api/v1/tokens?all=true', { headers: { authorization: `Bearer ${token}` } }))
      expect(res.status).toBe(401)
      expect(((await res.json()) as any).code).toBe('token_revoked')
    } finally {
      rt.close()
    }
  })

  test('users create after a membership ended by other means revokes the tokens left from it, audited', async () => {
    await cli({}, 'users', 'create', '--email', 'eve@example.com', '--org', 'acme')
    const token = (await cli({}, 'tokens', 'create', '--email', 'eve@example.com', '--name', 'laptop')).out.trim()
    const rt = await createRuntime(loadConfig({ TEAMDAY_LOG_LEVEL: 'silent' }, { dbPath: join(dir, 'teamday.db') }))
    try {
      await rt.db.delete(memberships).run()
      const added = await cli({}, 'users', 'create', '--email', 'eve@example.com', '--org', 'acme', '--role', 'admin')
      expect(added.out).toContain('revoked 1 token(s) left from an earlier membership')
      const res = await createApp(rt).handle(new Request('http://localhost/api/v1/tokens', { headers: { authorization: `Bearer ${token}` } }))
      expect(((await res.json()) as any).code).toBe('token_revoked')
      const events = await rt.db.select().from(auditEvents).where(eq(auditEvents.type, 'token.revoked')).all()
      expect(events).toHaveLength(1)
      expect(events[0]!.source).toBe('cli')
    } finally {
      rt.close()
    }
  })

  test('tokens create beyond TEAMDAY_MAX_TOKENS_PER_USER fails with a clear message', async () => {
    const env = { TEAMDAY_MAX_TOKENS_PER_USER: '2' }
    await cli(env, 'users', 'create', '--email', 'eve@example.com', '--org', 'acme')
    for (const name of ['a', 'b']) expect((await cli(env, 'tokens', 'create', '--email', 'eve@example.com', '--name', name)).code).toBe(0)
    const over = await cli(env, 'tokens', 'create', '--email', 'eve@example.com', '--name', 'c')
    expect(over.code).toBe(1)
    expect(over.out).toBe('')
    expect(over.err).toContain('Too many tokens: this user already has 2 active tokens in this organization, the limit is 2 (TEAMDAY_MAX_TOKENS_PER_USER)')
  })
})

describe('active tokens per user per organization are capped', () => {
  test('rotations with a grace period go at most one past the cap; without one, never refused', async () => {
    // A chain of graceful rotations (each of the one before's successor) kept every predecessor
    // working for its grace period: 11 working tokens against a cap of 3.
    const t = await makeTestApp({ config: { maxTokensPerUser: 3 } })
    const a = await makeActor(t)
    await t.req('POST', '/api/v1/tokens', { token: a.token, body: { name: 'second' } })
    let current = (await t.req('POST', '/api/v1/tokens', { token: a.token, body: { name: 'third' } })).body.id as string
    const rotate = (id: string, grace: number) => t.req('POST', `/api/v1/tokens/${id}/rotate`, { token: a.token, body: { gracePeriodSeconds: grace } })
    const first = await rotate(current, 86_400)
    expect(first.status).toBe(201)
    current = first.body.id
    const second = await rotate(current, 86_400)
    expect([second.status, second.body.code]).toEqual([422, 'token_limit_reached'])
    expect(second.body.message).toContain('gracePeriodSeconds 0')
    expect(second.body.details).toEqual({ activeTokens: 4, maxTokensPerUser: 3 })
    // Without a grace period the old one goes at once: always allowed, even past the cap.
    const plain = await rotate(current, 0)
    expect(plain.status).toBe(201)
    const active = (await t.req('GET', '/api/v1/tokens?limit=200', { token: a.token })).body.tokens.filter((k: any) => k.status === 'active')
    expect(active.length).toBe(4)
  })

  test('422 token_limit_reached beyond the cap; revoked and expired tokens do not count; rotation is not refused', async () => {
    const t = await makeTestApp({ config: { maxTokensPerUser: 3 } })
    const a = await makeActor(t)
    const other = await makeActor(t)
    const made = [(await t.req('POST', '/api/v1/tokens', { token: a.token, body: { name: 'x', expiresInDays: 7 } })).body]
    made.push((await t.req('POST', '/api/v1/tokens', { token: a.token, body: { name: 'y' } })).body)
    expect(made.map((b) => b.id)).toHaveLength(2)
    const over = await t.req('POST', '/api/v1/tokens', { token: a.token, body: { name: 'z' } })
    expect(over.status).toBe(422)
    expect(over.body.code).toBe('token_limit_reached')
    expect(over.body.message).toContain('the limit is 3')
    expect(over.body.details).toEqual({ activeTokens: 3, maxTokensPerUser: 3 })
    // Rotation replaces a token: allowed at the cap (with a grace period both work for a while).
    expect((await t.req('POST', `/api/v1/tokens/${made[1].id}/rotate`, { token: a.token, body: { gracePeriodSeconds: 60 } })).status).toBe(201)
    // Another user of the organization has their own count.
    expect((await t.req('POST', '/api/v1/tokens', { token: other.token, body: { name: 'z' } })).status).toBe(201)
    // Revoking one frees a place; so does expiry.
    t.clock.advance(61_000)
    expect((await t.req('DELETE', `/api/v1/tokens/${made[0].id}`, { token: a.token })).status).toBe(200)
    expect((await t.req('POST', '/api/v1/tokens', { token: a.token, body: { name: 'z', expiresInDays: 7 } })).status).toBe(201)
    expect((await t.req('POST', '/api/v1/tokens', { token: a.token, body: { name: 'w' } })).status).toBe(422)
    t.clock.advance(7 * 86_400_000)
    expect((await t.req('POST', '/api/v1/tokens', { token: a.token, body: { name: 'w' } })).status).toBe(201)
  })

  test('TEAMDAY_MAX_TOKENS_PER_USER: default 100, validated', () => {
    expect(loadConfig({}).maxTokensPerUser).toBe(100)
    expect(loadConfig({ TEAMDAY_MAX_TOKENS_PER_USER: '5' }).maxTokensPerUser).toBe(5)
    for (const bad of ['0', '-1', 'many', '1.5']) expect(() => loadConfig({ TEAMDAY_MAX_TOKENS_PER_USER: bad })).toThrow(ConfigError)
  })
})

describe('the rate limit is per token and per user', () => {
  test('a user\'s tokens share one per-user budget; another user is unaffected', async () => {
    const t = await makeTestApp({ config: { rateLimit: { limit: 4, windowMs: MIN }, userRateLimit: { limit: 6, windowMs: MIN } } })
    const a = await makeActor(t)
    const second = await makeToken(t, a)
    const b = await makeActor(t)
    const get = (token: string) => t.req('GET', '/api/v1/tokens/self', { token })
    for (let i = 0; i < 4; i++) expect((await get(a.token)).status).toBe(200)
    // The first token is spent; refused for it, and not counted for the user.
    expect((await get(a.token)).status).toBe(429)
    const ok = await get(second.token)
    expect(ok.status).toBe(200)
    expect(ok.headers.get('ratelimit-policy')).toBe('"default";q=4;w=60, "user";q=6;w=60')
    // X-RateLimit-* show the tighter budget: the user's (1 left) rather than the token's (3).
    expect(ok.headers.get('x-ratelimit-limit')).toBe('6')
    expect(ok.headers.get('x-ratelimit-remaining')).toBe('1')
    expect(ok.headers.get('ratelimit')).toBe('"default";r=3;t=60, "user";r=1;t=60')
    expect((await get(second.token)).status).toBe(200)
    const over = await get(second.token)
    expect(over.status).toBe(429)
    expect(over.body.code).toBe('rate_limited')
    expect(over.body.message).toContain("the limit is 6 requests per 60 s for all of the user's tokens together")
    expect(over.headers.get('retry-after')).toBe('60')
    expect((await get(b.token)).status).toBe(200)
    t.clock.advance(MIN)
    expect((await get(second.token)).status).toBe(200)
  })

  test('TEAMDAY_USER_RATE_LIMIT: by default 3 × the per-token limit; settable; off', () => {
    expect(loadConfig({}).userRateLimit).toEqual({ limit: 3600, windowMs: MIN })
    expect(loadConfig({ TEAMDAY_RATE_LIMIT: '100/10s' }).userRateLimit).toEqual({ limit: 300, windowMs: 10_000 })
    expect(loadConfig({}, { rateLimit: { limit: 3, windowMs: MIN } }).userRateLimit).toEqual({ limit: 9, windowMs: MIN })
    expect(loadConfig({ TEAMDAY_USER_RATE_LIMIT: '2000/60s' }).userRateLimit).toEqual({ limit: 2000, windowMs: MIN })
    expect(loadConfig({ TEAMDAY_USER_RATE_LIMIT: 'off' }).userRateLimit).toBeNull()
    expect(loadConfig({ TEAMDAY_RATE_LIMIT: 'off' }).userRateLimit).toBeNull()
    expect(() => loadConfig({ TEAMDAY_USER_RATE_LIMIT: 'lots' })).toThrow(ConfigError)
  })
})
