import { beforeAll, describe, expect, test } from 'bun:test'
import { checksum, TOKEN_PREFIX } from '../src/auth/tokens'
import { ERROR_STATUS } from '../src/errors'
import { revokeById } from '../src/modules/tokens/service'
import { removeMember, setRole } from '../src/modules/users/service'
import { makeActor, makeTestApp, makeToken, type Actor, type TestApp } from './helpers/app'
import { sqliteOnly } from './helpers/pg'

const DAY = 86_400_000

/** A well-formed token (valid checksum) that was never issued. */
function unknownToken(): string {
  const random = 'Z'.repeat(37)
  return TOKEN_PREFIX + random + checksum(random)
}

/** Changes one character of the random part, keeping the shape: the checksum no longer matches. */
function typo(token: string): string {
  const i = 10
  const c = token[i] === 'a' ? 'b' : 'a'
  return token.slice(0, i) + c + token.slice(i + 1)
}

let t: TestApp
let admin: Actor
let revoked: { token: string; id: string }
let expired: { token: string; id: string }

beforeAll(async () => {
  t = await makeTestApp()
  admin = await makeActor(t, { role: 'admin' })
  revoked = await makeToken(t, admin)
  await revokeById(t.ctx, revoked.id, admin.userId, 'manual')
  // Created 8 days ago with a 7-day lifetime: expired one day ago.
  t.clock.advance(-8 * DAY)
  expired = await makeToken(t, admin, { expiresInDays: 7 })
  t.clock.advance(8 * DAY)
}, 60_000)

type Case = { name: string; header?: () => string | undefined; code: string; status?: number }

const cases: Case[] = [
  { name: 'no Authorization header', header: () => undefined, code: 'missing_token' },
  { name: 'empty header', header: () => '', code: 'missing_token' },
  { name: 'only spaces', header: () => '   ', code: 'missing_token' },
  { name: 'Basic scheme', header: () => 'Basic dXNlcjpwYXNz', code: 'unsupported_auth_scheme' },
  { name: 'Token scheme', header: () => `Token ${admin.token}`, code: 'unsupported_auth_scheme' },
  { name: 'token without "Bearer "', header: () => admin.token, code: 'missing_bearer_scheme' },
  { name: 'Bearer with no token', header: () => 'Bearer', code: 'empty_bearer_token' },
  { name: 'Bearer and spaces only', header: () => 'Bearer    ', code: 'empty_bearer_token' },
  { name: 'token without td_ prefix', header: () => `Bearer ${admin.token.slice(3)}`, code: 'malformed_token' },
  { name: 'wrong prefix', header: () => `Bearer tx_${admin.token.slice(3)}`, code: 'malformed_token' },
  { name: 'truncated token', header: () => `Bearer ${admin.token.slice(0, -1)}`, code: 'malformed_token' },
  { name: 'overlong token', header: () => `Bearer ${admin.token}x`, code: 'malformed_token' },
  { name: 'wrong charset (!)', header: () => `Bearer ${admin.token.slice(0, -1)}!`, code: 'malformed_token' },
  { name: 'space inside the token', header: () => `Bearer ${admin.token.slice(0, 20)} ${admin.token.slice(21)}`, code: 'malformed_token' },
  { name: 'base64url chars in documented shape but bad checksum', header: () => `Bearer td_${'-'.repeat(43)}`, code: 'invalid_token_checksum' },
  { name: 'one-character typo (checksum mismatch)', header: () => `Bearer ${typo(admin.token)}`, code: 'invalid_token_checksum' },
  { name: 'well-formed but unknown token', header: () => `Bearer ${unknownToken()}`, code: 'invalid_token' },
  { name: 'revoked token', header: () => `Bearer ${revoked.token}`, code: 'token_revoked' },
  { name: 'expired token', header: () => `Bearer ${expired.token}`, code: 'token_expired' },
  { name: 'header over 8 KiB', header: () => `Bearer ${'a'.repeat(9000)}`, code: 'authorization_header_too_large' },
]

describe('authentication failures: 401 with a distinct code, RFC 6750 challenge, envelope', () => {
  for (const c of cases) {
    test(c.name, async () => {
      const h = c.header!()
      const res = await t.req('GET', '/api/v1/tokens', { headers: h === undefined ? {} : { authorization: h } })
      expect(res.status).toBe(401)
      expect(res.body).toMatchObject({ error: true, statusCode: 401, statusMessage: 'Unauthorized', code: c.code })
      expect(res.body.requestId).toBe(res.headers.get('x-request-id')!)
      expect(typeof res.body.message).toBe('string')
      // The message says what to do, and never echoes the token.
      expect(res.body.message.length).toBeGreaterThan(20)
      expect(res.text).not.toContain(admin.token)
      expect(res.text).not.toContain(admin.token.slice(3, 40))
      const challenge = res.headers.get('www-authenticate')!
      expect(challenge).toStartWith('Bearer realm="teamday"')
      if (c.code === 'missing_token') expect(challenge).toBe('Bearer realm="teamday"')
      else expect(challenge).toContain('error="invalid_token"')
      expect(challenge).toMatch(/^[\x20-\x7e]+$/)
    })
  }

  test('the server answers every 401 code of the error table (membership_revoked: below), one per cause', async () => {
    const answered = new Set<string>()
    for (const c of cases) {
      const h = c.header!()
      answered.add((await t.req('GET', '/api/v1/tokens', { headers: h === undefined ? {} : { authorization: h } })).body.code)
    }
    const documented = Object.entries(ERROR_STATUS).filter(([code, status]) => status === 401 && code !== 'membership_revoked').map(([code]) => code)
    expect([...answered].sort()).toEqual(documented.sort())
  })

  test('malformed tokens say why in details.reason', async () => {
    const reasons: [string, string][] = [
      [admin.token.slice(3), 'missing_prefix'],
      [admin.token.slice(0, -1), 'wrong_length'],
      [`${admin.token.slice(0, -1)}!`, 'invalid_characters'],
    ]
    for (const [tok, reason] of reasons) {
      const res = await t.req('GET', '/api/v1/tokens', { headers: { authorization: `Bearer ${tok}` } })
      expect(res.body.details).toEqual({ reason })
    }
  })

  test('messages tell the user how to fix it', async () => {
    const res = await t.req('GET', '/api/v1/tokens', { headers: { authorization: `Bearer ${expired.token}` } })
    expect(res.body.message).toContain('Invalid or expired token')
    expect(res.body.message).toContain('Create a new token')
  })

  test('failed authentications are logged without the token', async () => {
    t.logs.length = 0
    await t.req('GET', '/api/v1/tokens', { headers: { authorization: `Bearer ${revoked.token}` } })
    await t.req('GET', '/api/v1/tokens', { headers: { authorization: `Bearer ${typo(admin.token)}` } })
    const lines = t.logs.filter((l) => l.includes('auth_failed'))
    expect(lines.length).toBe(2)
    expect(lines[0]).toContain('token_revoked')
    for (const l of t.logs) {
      expect(l).not.toContain(revoked.token)
      expect(l).not.toContain(typo(admin.token))
      expect(l).not.toContain(revoked.token.slice(3))
    }
  })
})

describe('accepted header forms', () => {
  const forms: [string, () => string][] = [
    ['canonical', () => `Bearer ${admin.token}`],
    ['lower-case scheme', () => `bearer ${admin.token}`],
    ['upper-case scheme', () => `BEARER ${admin.token}`],
    ['several spaces after the scheme', () => `Bearer    ${admin.token}`],
    ['tab after the scheme', () => `Bearer\t${admin.token}`],
    ['surrounding spaces (trimmed)', () => `  Bearer ${admin.token}   `],
    ['trailing newline (trimmed)', () => `Bearer ${admin.token}\n`],
  ]
  for (const [name, h] of forms) {
    test(name, async () => {
      const res = await t.req('GET', '/api/v1/tokens', { headers: { authorization: h() } })
      expect(res.status).toBe(200)
      expect(res.body.success).toBe(true)
    })
  }
})

describe('expiry boundary with an injected clock', () => {
  test('valid until the last millisecond, 401 token_expired one second later', async () => {
    const t2 = await makeTestApp()
    const a = await makeActor(t2, { token: { expiresInDays: 7 } })
    t2.clock.advance(7 * DAY - 1)
    expect((await t2.req('GET', '/api/v1/tokens', { token: a.token })).status).toBe(200)
    t2.clock.advance(1001)
    const res = await t2.req('GET', '/api/v1/tokens', { token: a.token })
    expect(res.status).toBe(401)
    expect(res.body.code).toBe('token_expired')
  })
})

describe('role and membership are read on every request', () => {
  test('a role change takes effect on the next request', async () => {
    const t2 = await makeTestApp()
    const a = await makeActor(t2, { role: 'member' })
    expect((await t2.req('GET', '/api/v1/tokens?all=true', { token: a.token })).status).toBe(403)
    await setRole(t2.ctx, a.email, a.orgSlug, 'admin')
    expect((await t2.req('GET', '/api/v1/tokens?all=true', { token: a.token })).status).toBe(200)
    await setRole(t2.ctx, a.email, a.orgSlug, 'viewer')
    const res = await t2.req('GET', '/api/v1/tokens?all=true', { token: a.token })
    expect(res.status).toBe(403)
    expect(res.body.code).toBe('forbidden')
    expect(res.body.message).toContain('Forbidden')
  })

  test('a user removed from the organization loses access at once', async () => {
    const t2 = await makeTestApp()
    const a = await makeActor(t2, { role: 'admin' })
    expect((await t2.req('GET', '/api/v1/tokens', { token: a.token })).status).toBe(200)
    await removeMember(t2.ctx, a.email, a.orgSlug)
    const res = await t2.req('GET', '/api/v1/tokens', { token: a.token })
    expect(res.status).toBe(401)
    // Removal revokes the member's tokens, and the answer says why.
    expect(res.body.code).toBe('membership_revoked')
  })

  test('a token is scoped to the organization it was created in', async () => {
    const t2 = await makeTestApp()
    const a = await makeActor(t2, { role: 'admin', org: 'one', email: 'both@example.com' })
    const b = await makeActor(t2, { role: 'viewer', org: 'two', email: 'both@example.com' })
    const resA = await t2.req('GET', '/api/v1/tokens', { token: a.token })
    const resB = await t2.req('GET', '/api/v1/tokens', { token: b.token })
    expect(resA.body.tokens.map((x: any) => x.id)).toEqual([a.tokenId])
    expect(resB.body.tokens.map((x: any) => x.id)).toEqual([b.tokenId])
    // The org-one admin role does not carry over to the org-two token.
    expect((await t2.req('GET', '/api/v1/tokens?all=true', { token: b.token })).status).toBe(403)
  })
})

describe('revocation is immediate', () => {
  test('the very next request after DELETE is refused, also with requests in flight', async () => {
    const t2 = await makeTestApp()
    const a = await makeActor(t2, { role: 'member' })
    const victim = await makeToken(t2, a)
    const inflight = Array.from({ length: 20 }, () => t2.req('GET', '/api/v1/tokens', { token: victim.token }))
    const del = await t2.req('DELETE', `/api/v1/tokens/${victim.id}`, { token: a.token })
    expect(del.status).toBe(200)
    await Promise.all(inflight)
    const after = await t2.req('GET', '/api/v1/tokens', { token: victim.token })
    expect(after.status).toBe(401)
    expect(after.body.code).toBe('token_revoked')
  })
})

describe('last use is recorded at most once a minute, and never fails the request', () => {
  test('lastUsedAt moves only after 60 s', async () => {
    const t2 = await makeTestApp()
    const a = await makeActor(t2)
    const first = await t2.req('GET', `/api/v1/tokens/${a.tokenId}`, { token: a.token, headers: { 'user-agent': 'ci-bot/1.0' } })
    const t0 = first.body.token.lastUsedAt
    expect(t0).toBe(new Date(t2.clock.now()).toISOString())
    expect(first.body.token.lastUsedUserAgent).toBe('ci-bot/1.0')
    t2.clock.advance(30_000)
    expect((await t2.req('GET', `/api/v1/tokens/${a.tokenId}`, { token: a.token })).body.token.lastUsedAt).toBe(t0)
    t2.clock.advance(31_000)
    const later = (await t2.req('GET', `/api/v1/tokens/${a.tokenId}`, { token: a.token })).body.token.lastUsedAt
    expect(later).toBe(new Date(t2.clock.now()).toISOString())
  })

  test.skipIf(sqliteOnly('the refusing write is a SQLite trigger made through its own client'))('a database that refuses the write does not fail the request', async () => {
    const t2 = await makeTestApp()
    const a = await makeActor(t2)
    t2.db.$client.exec(`CREATE TRIGGER no_touch BEFORE UPDATE OF last_used_at ON personal_access_tokens BEGIN SELECT RAISE(ABORT, 'disk full'); END`)
    const res = await t2.req('GET', '/api/v1/tokens', { token: a.token })
    expect(res.status).toBe(200)
    expect(t2.logs.some((l) => l.includes('last_used_update_failed'))).toBe(true)
  })
})
