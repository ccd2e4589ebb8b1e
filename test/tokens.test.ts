import { updateProfile } from '../src/modules/users/profile'
import { afterAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { hashToken } from '../src/auth/tokens'
import { eq } from 'drizzle-orm'
import { personalAccessTokens } from '../src/db/schema'
import { cliLogin } from './helpers/world'
import { signedInPerson } from './helpers/console'

const myTokens = async (t: Awaited<ReturnType<typeof makeTestApp>>, token: string) => (await t.req('GET', '/api/v1/tokens?limit=100', { token })).body.tokens as { id: string; name: string; status: string; expiresAt: string }[]
import { makeActor, makeTestApp, makeToken } from './helpers/app'
import { atRestApp, expectNoPlaintext, plaintexts, readAtRest, sensitiveWorkload } from './helpers/at-rest'

const DAY = 86_400_000

describe('token lifecycle through the API', () => {
  test('create → use → list shows lastUsedAt → revoke → 401', async () => {
    const t = await makeTestApp()
    const a = await makeActor(t, { role: 'member' })
    const created = await t.req('POST', '/api/v1/tokens', { token: a.token, body: { name: 'CI Pipeline' } })
    expect(created.status).toBe(201)
    const b = created.body
    expect(b.success).toBe(true)
    expect(b.token).toMatch(/^td_[A-Za-z0-9]{43}$/)
    expect(b).toMatchObject({ name: 'CI Pipeline', status: 'active', lastUsedAt: null, userId: a.userId, organizationId: a.organizationId, createdByTokenId: a.tokenId })
    expect(b.id).toMatch(/^pat_[A-Za-z0-9]{20}$/)
    expect(b.maskedToken).toBe(`td_${b.token.slice(3, 7)}…${b.token.slice(-4)}`)
    expect(Date.parse(b.expiresAt) - Date.parse(b.createdAt)).toBe(90 * DAY)
    expect(created.headers.get('cache-control')).toBe('no-store')

    t.clock.advance(5_000)
    const use = await t.req('GET', '/api/v1/tokens', { token: b.token, headers: { 'user-agent': 'curl/8.5.0' } })
    expect(use.status).toBe(200)
    const listed = use.body.tokens.find((x: any) => x.id === b.id)
    expect(listed.lastUsedAt).toBe(new Date(t.clock.now()).toISOString())
    expect(listed.lastUsedUserAgent).toBe('curl/8.5.0')
    expect(listed.name).toBe('CI Pipeline')
    expect(listed).not.toHaveProperty('token')
    expect(listed).not.toHaveProperty('tokenHash')
    expect(use.text).not.toContain(b.token)
    expect(use.text).not.toContain(hashToken(b.token))
    expect(Object.keys(listed).sort()).toEqual(
      ['createdAt', 'createdByTokenId', 'expiresAt', 'id', 'lastUsedAt', 'lastUsedIp', 'lastUsedUserAgent', 'maskedToken', 'name', 'organizationId', 'revokedAt', 'scopes', 'status', 'userEmail', 'userId'].sort(),
    )

    const one = await t.req('GET', `/api/v1/tokens/${b.id}`, { token: a.token })
    expect(one.status).toBe(200)
    expect(one.body.token.id).toBe(b.id)

    const del = await t.req('DELETE', `/api/v1/tokens/${b.id}`, { token: a.token })
    expect(del.status).toBe(200)
    expect(del.body).toMatchObject({ success: true, token: { id: b.id, status: 'revoked' } })
    const again = await t.req('DELETE', `/api/v1/tokens/${b.id}`, { token: a.token })
    expect(again.status).toBe(200) // idempotent

    const after = await t.req('GET', '/api/v1/tokens', { token: b.token })
    expect(after.status).toBe(401)
    expect(after.body.code).toBe('token_revoked')
    const statuses = (await t.req('GET', '/api/v1/tokens', { token: a.token })).body.tokens.map((x: any) => [x.id, x.status])
    expect(statuses).toContainEqual([b.id, 'revoked'])
  })

  test('a token can revoke itself; the same request succeeds, the next is refused', async () => {
    const t = await makeTestApp()
    const a = await makeActor(t)
    expect((await t.req('DELETE', `/api/v1/tokens/${a.tokenId}`, { token: a.token })).status).toBe(200)
    expect((await t.req('GET', '/api/v1/tokens', { token: a.token })).body.code).toBe('token_revoked')
  })

  test('status filter and pagination', async () => {
    const t = await makeTestApp()
    const a = await makeActor(t)
    for (let i = 0; i < 4; i++) await makeToken(t, a)
    const page = await t.req('GET', '/api/v1/tokens?limit=2&offset=1', { token: a.token })
    expect(page.body.total).toBe(5)
    expect(page.body.tokens.length).toBe(2)
    // Not the caller's own token (revoking that would end the test's session).
    const revokedId = page.body.tokens.find((x: any) => x.id !== a.tokenId).id
    await t.req('DELETE', `/api/v1/tokens/${revokedId}`, { token: a.token })
    const rev = await t.req('GET', '/api/v1/tokens?status=revoked', { token: a.token })
    expect(rev.body.tokens.map((x: any) => x.id)).toEqual([revokedId])
    // Each status is its own statement: one asked after another in the same process gets its own rows.
    const active = await t.req('GET', '/api/v1/tokens?status=active', { token: a.token })
    expect(active.body.tokens).toHaveLength(4)
    expect(active.body.tokens.map((x: any) => x.id)).not.toContain(revokedId)
    expect((await t.req('GET', '/api/v1/tokens?status=expired', { token: a.token })).body.tokens).toEqual([])
    expect((await t.req('GET', '/api/v1/tokens?status=revoked', { token: a.token })).body.tokens.map((x: any) => x.id)).toEqual([revokedId])
    expect((await t.req('GET', '/api/v1/tokens?limit=500', { token: a.token })).status).toBe(422)
    expect((await t.req('GET', '/api/v1/tokens?status=gone', { token: a.token })).status).toBe(422)
  })
})

describe('a token pasted in the wrong place is never echoed or logged', () => {
  test('as a path id, in an unknown route, or as a 405 path', async () => {
    const t = await makeTestApp()
    const a = await makeActor(t, { role: 'admin' })
    const cases = [
      await t.req('GET', `/api/v1/tokens/${a.token}`, { token: a.token }),
      await t.req('DELETE', `/api/v1/tokens/${a.token}`, { token: a.token }),
      await t.req('GET', `/api/v1/${a.token}`, { token: a.token }),
      await t.req('GET', `/api/v1/tokens/${a.token}`, { token: 'td_wrong' }),
      await t.req('PUT', `/api/v1/tokens/${a.token}`, { token: a.token }),
    ]
    expect(cases.map((r) => r.status)).toEqual([404, 404, 404, 401, 405])
    for (const r of cases) {
      expect(r.text).not.toContain(a.token.slice(3))
    }
    expect(cases[0]!.body.message).toContain('td_…[redacted]')
    expect(t.logs.join('\n')).not.toContain(a.token.slice(3))
    // Still usable: nothing was revoked by mistake.
    expect((await t.req('GET', '/api/v1/tokens', { token: a.token })).status).toBe(200)
  })

  // A token pasted as a new token's name (to remember which is which) was stored and listed to
  // the organization's admins in clear.
  test("as a new token's name, with or without its td_, on either creation route: 422 naming the field, never stored or echoed", async () => {
    const t = await makeTestApp()
    const a = await makeActor(t, { role: 'admin' })
    const body = a.token.slice(3)
    // Also cut short by its checksum (the 37 random characters rebuild it).
    for (const name of [a.token, `old: ${a.token}`, `ci ${body}`, body, a.token.slice(0, 3 + 37), `x ${a.token.slice(0, -1)}`]) {
      for (const [path, extra] of [['/api/v1/tokens', {}], ['/api/tokens/create', {}]] as const) {
        const res = await t.req('POST', path, { token: a.token, body: { name, ...extra } })
        expect([name === a.token ? 'token' : name.length, res.status, res.body.details?.[0]?.field]).toEqual([name === a.token ? 'token' : name.length, 422, 'name'])
        expect(res.body.message).toContain('must not contain a token')
        expect(res.text).not.toContain(body)
      }
    }
    const listed = await t.req('GET', '/api/v1/tokens?all=true', { token: a.token })
    expect(listed.body.tokens).toHaveLength(1)
    expect(t.logs.join('\n')).not.toContain(body)
    // A person's display name too (an added member's, the profile's): shown to the organization.
    const member = await t.req('POST', `/api/v1/organizations/${a.organizationId}/members`, { token: a.token, body: { email: 'named@example.com', role: 'member', name: `key ${a.token}` } })
    expect([member.status, member.body.details?.[0]?.field]).toEqual([422, 'name'])
    expect(member.text).not.toContain(body)
    await expect(updateProfile(t.ctx, a.userId, { name: body, email: a.email })).rejects.toMatchObject({ code: 'validation_failed' })
    // A name that merely mentions the prefix, or a long id, is fine.
    for (const name of ['td_ token for CI', 'pat_AbCdEfGhIjKlMnOpQrSt rotation']) expect((await t.req('POST', '/api/v1/tokens', { token: a.token, body: { name } })).status).toBe(201)
  })
})

describe('expiry range 7–365 days', async () => {
  const t = await makeTestApp()
  // A year-long token: a token creates none that outlives it.
  const a = await makeActor(t, { token: { expiresInDays: 365 } })
  const create = (body: Record<string, unknown>) => t.req('POST', '/api/v1/tokens', { token: a.token, body: { name: 'x', ...body } })

  for (const days of [7, 30, 90, 180, 365]) {
    test(`${days} days accepted`, async () => {
      const res = await create({ expiresInDays: days })
      expect(res.status).toBe(201)
      expect(Date.parse(res.body.expiresAt) - t.clock.now()).toBe(days * DAY)
    })
  }
  for (const days of [6, 366, 0, -1, 7.5, '366', 'ninety', null]) {
    test(`${JSON.stringify(days)} rejected with 422 naming the range`, async () => {
      const res = await create({ expiresInDays: days })
      expect(res.status).toBe(422)
      expect(res.body.code).toBe('validation_failed')
      expect(res.body.message).toContain('Validation failed')
      expect(res.body.message).toContain('7')
      expect(res.body.message).toContain('365')
      expect(res.body.details[0].field).toBe('expiresInDays')
    })
  }
  test('a numeric string is accepted, as shell scripts send it', async () => {
    const res = await create({ expiresInDays: '30' })
    expect(res.status).toBe(201)
    expect(Date.parse(res.body.expiresAt) - t.clock.now()).toBe(30 * DAY)
  })
  test('only a decimal numeric string: hex, binary, exponents, padding and fractions are 422', async () => {
    // All of these were read as 90 or 100 ("0x5A" is 90 to JavaScript's Number()).
    for (const days of ['0x5A', '0b1011010', '0o132', '1e2', ' 90', '90 ', '+90', '090', '90.0', '9_0', 'Infinity']) {
      const res = await create({ expiresInDays: days })
      expect([days, res.status, res.body.details?.[0]?.field]).toEqual([days, 422, 'expiresInDays'])
    }
  })
  test('expiresAt within the range is accepted as given', async () => {
    const at = new Date(t.clock.now() + 30 * DAY).toISOString()
    const res = await create({ expiresAt: at })
    expect(res.status).toBe(201)
    expect(res.body.expiresAt).toBe(at)
  })
  test('expiresAt as a date alone is the end of that day, UTC, as the console\'s custom date (its midnight was refused as 6.6 days ahead)', async () => {
    const day = (ms: number) => new Date(t.clock.now() + ms).toISOString().slice(0, 10)
    const seventh = day(7 * DAY)
    const res = await create({ expiresAt: seventh })
    expect([res.status, res.body.expiresAt]).toEqual([201, `${seventh}T23:59:59.999Z`])
    // The 365th day, the console's last: its end is past the longest lifetime, so it ends there (it was refused).
    const last = await create({ expiresAt: day(365 * DAY) })
    expect([last.status, last.body.expiresAt]).toEqual([201, new Date(t.clock.now() + 365 * DAY).toISOString()])
    // The test clock is near noon: the 366th day is past the range, the 6th day's end short of it.
    expect((await create({ expiresAt: day(366 * DAY) })).status).toBe(422)
    expect((await create({ expiresAt: day(6 * DAY) })).status).toBe(422)
  })
  for (const [label, offset] of [['6 days', 6 * DAY], ['366 days', 366 * DAY], ['in the past', -DAY]] as const) {
    test(`expiresAt ${label} ahead rejected`, async () => {
      const res = await create({ expiresAt: new Date(t.clock.now() + offset).toISOString() })
      expect(res.status).toBe(422)
      expect(res.body.message).toContain('between 7 and 365 days')
    })
  }
  test('expiresAt allows 5 minutes of clock skew at both ends of 7–365 days, not more, and is stored within 7–365 days; the error names the field and the days asked for', async () => {
    const at = (ms: number) => new Date(t.clock.now() + ms).toISOString()
    const MIN = 60_000
    // Within the skew, accepted and moved onto the edge it missed: no token lives 365.0028 days
    // or is made for 6.9972 ("365 days – Maximum expiration"); inside the range, stored as sent.
    for (const [ok, stored] of [
      [7 * DAY - 5 * MIN, 7 * DAY],
      [7 * DAY - 4 * MIN, 7 * DAY],
      [7 * DAY - 1, 7 * DAY],
      [7 * DAY, 7 * DAY],
      [7 * DAY + 1, 7 * DAY + 1],
      [365 * DAY - 1, 365 * DAY - 1],
      [365 * DAY, 365 * DAY],
      [365 * DAY + 4 * MIN, 365 * DAY],
      [365 * DAY + 5 * MIN, 365 * DAY],
    ]) {
      const res = await create({ expiresAt: at(ok!) })
      expect([ok, res.status, res.body.expiresAt]).toEqual([ok, 201, at(stored!)])
      expect((await t.req('GET', `/api/v1/tokens/${res.body.id}`, { token: a.token })).body.token.expiresAt).toBe(at(stored!))
    }
    for (const [bad, got] of [[7 * DAY - 5 * MIN - 1, '6.99'], [365 * DAY + 5 * MIN + 1, '365.01']] as const) {
      const res = await create({ expiresAt: at(bad) })
      expect([bad, res.status]).toEqual([bad, 422])
      expect(res.body.details).toEqual([{ field: 'expiresAt', message: 'must be between 7 and 365 days from now' }])
      // Never a figure inside the range ("got 7.0 days" for 6 days 23 hours 55 minutes).
      expect(res.body.message).toContain(`(got ${got} days)`)
    }
    expect((await create({ expiresAt: at(400 * DAY) })).body.message).toContain('(got 400.00 days)')
    expect((await create({ expiresAt: at(-2 * DAY) })).body.message).toContain('(got -2.00 days)')
    expect((await create({ expiresAt: 'next tuesday' })).body.details).toEqual([{ field: 'expiresAt', message: 'must be an ISO-8601 date-time' }])
    const both = await create({ expiresInDays: 30, expiresAt: at(30 * DAY) })
    expect(both.body.details).toEqual([{ field: 'expiresAt', message: 'expiresAt and expiresInDays are mutually exclusive' }])
  })

  test('an unknown scope is quoted in the error, cut to 50 characters', async () => {
    const long = `x${'y'.repeat(99)}`
    const res = await create({ scopes: ['agents:read', long] })
    expect(res.status).toBe(422)
    expect(res.body.message).toContain(`unknown scope(s) "${long.slice(0, 50)}";`)
  })

  test('expiresAt that is not a date, or both fields, rejected', async () => {
    expect((await create({ expiresAt: 'next tuesday' })).status).toBe(422)
    const both = await create({ expiresInDays: 30, expiresAt: new Date(t.clock.now() + 30 * DAY).toISOString() })
    expect(both.status).toBe(422)
    expect(both.body.message).toContain('either')
  })
  test('name is required, trimmed, at most 100 characters (100 accepted)', async () => {
    expect((await t.req('POST', '/api/v1/tokens', { token: a.token, body: {} })).status).toBe(422)
    const blank = await create({ name: '   ' })
    expect(blank.status).toBe(422)
    expect(blank.body.details).toEqual([{ field: 'name', message: 'must be 1-100 characters, not only spaces' }])
    const long = await create({ name: 'x'.repeat(101) })
    // Too long was said as "name is required".
    expect([long.status, long.body.message]).toEqual([422, 'Validation failed: name must be a string of 1-100 characters (it is required)'])
    expect((await create({ name: 'x'.repeat(100) })).status).toBe(201)
    const ok = await create({ name: '  Nightly cron  ' })
    expect(ok.body.name).toBe('Nightly cron')
  })

  test("a name admins read beside its owner's: no controls, no bidirectional overrides, not only invisible characters; other scripts and emoji are fine", async () => {
    for (const name of ['deploy\u202e', '\u202edeploy', 'a\u2066b', 'bell\u0007', 'x\u200fy', '\u200b', '\u200b\u200d\ufeff', '\u00a0\u200b\u3000', '\u3164', '\u2800\u2800', '\u115f', '\u034f', '\ufe0f']) {
      const res = await create({ name })
      expect([JSON.stringify(name), res.status, res.body.details?.[0]?.field]).toEqual([JSON.stringify(name), 422, 'name'])
    }
    for (const name of ['Déploiement', 'פריסה לילית', 'نشر', '部署 🚀', 'family 👨\u200d👩\u200d👧']) {
      const res = await create({ name })
      expect([name, res.status, res.body.name]).toEqual([name, 201, name])
    }
  })
})

describe('who sees and revokes which token', async () => {
  const t = await makeTestApp()
  const admin = await makeActor(t, { role: 'admin' })
  const m1 = await makeActor(t, { role: 'member' })
  const m2 = await makeActor(t, { role: 'member' })
  const viewer = await makeActor(t, { role: 'viewer' })
  const other = await makeActor(t, { role: 'admin', org: 'globex' })

  test('a member lists only their own tokens', async () => {
    const res = await t.req('GET', '/api/v1/tokens', { token: m1.token })
    expect(res.body.tokens.map((x: any) => x.id)).toEqual([m1.tokenId])
  })
  test("a member cannot see or revoke another member's token (404, existence not revealed)", async () => {
    const get = await t.req('GET', `/api/v1/tokens/${m2.tokenId}`, { token: m1.token })
    expect(get.status).toBe(404)
    expect(get.body.code).toBe('not_found')
    const del = await t.req('DELETE', `/api/v1/tokens/${m2.tokenId}`, { token: m1.token })
    expect(del.status).toBe(404)
    expect((await t.req('GET', '/api/v1/tokens', { token: m2.token })).status).toBe(200)
  })
  test('a member asking for the whole organization gets 403 Forbidden', async () => {
    const res = await t.req('GET', '/api/v1/tokens?all=true', { token: m1.token })
    expect(res.status).toBe(403)
    expect(res.body.code).toBe('forbidden')
    expect(res.body.message).toMatch(/Forbidden.*access denied/)
  })
  test('a viewer manages their own tokens', async () => {
    const res = await t.req('POST', '/api/v1/tokens', { token: viewer.token, body: { name: 'read-only script' } })
    expect(res.status).toBe(201)
  })
  test('an org admin lists every token of the organization, never a secret, never another org', async () => {
    const res = await t.req('GET', '/api/v1/tokens?all=true', { token: admin.token })
    expect(res.status).toBe(200)
    const ids = res.body.tokens.map((x: any) => x.id)
    for (const a of [admin, m1, m2, viewer]) expect(ids).toContain(a.tokenId)
    expect(ids).not.toContain(other.tokenId)
    for (const a of [admin, m1, m2, viewer]) expect(res.text).not.toContain(a.token)
  })
  test("an org admin revokes a member's token; the member's next request is 401", async () => {
    const del = await t.req('DELETE', `/api/v1/tokens/${m2.tokenId}`, { token: admin.token })
    expect(del.status).toBe(200)
    const res = await t.req('GET', '/api/v1/tokens', { token: m2.token })
    expect(res.status).toBe(401)
    expect(res.body.code).toBe('token_revoked')
  })
  test("another organization's admin gets 404 for our tokens", async () => {
    expect((await t.req('GET', `/api/v1/tokens/${m1.tokenId}`, { token: other.token })).status).toBe(404)
    expect((await t.req('DELETE', `/api/v1/tokens/${m1.tokenId}`, { token: other.token })).status).toBe(404)
    expect((await t.req('GET', '/api/v1/tokens', { token: m1.token })).status).toBe(200)
  })
  test('new tokens belong to the caller and the caller\'s organization, whatever the body says', async () => {
    const res = await t.req('POST', '/api/v1/tokens', {
      token: m1.token,
      body: { name: 'sneaky', id: 'pat_mine', userId: admin.userId, organizationId: other.organizationId, status: 'revoked' },
    })
    expect(res.status).toBe(201)
    expect(res.body.id).not.toBe('pat_mine')
    expect(res.body.userId).toBe(m1.userId)
    expect(res.body.organizationId).toBe(m1.organizationId)
    expect(res.body.status).toBe('active')
    expect(res.body.scopes).toEqual(['*'])
  })
})

describe('the database file holds no token plaintext and no plaintext token name', () => {
  const dir = mkdtempSync(join(tmpdir(), 'teamday-secrets-'))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  test('after creating, using, rotating, failing with and reporting tokens (with secrets and a user agent): only hashes, in the files and the logs', async () => {
    const t = await atRestApp(dir)
    const a = await makeActor(t, { role: 'admin' })
    const work = await sensitiveWorkload(t, a)
    const found = await readAtRest(t, dir)
    expectNoPlaintext(found, plaintexts(work))
    for (const tok of work.tokens) expect(found.files).toContain(hashToken(tok)) // only its hash
    // Sanity: the scan does read the database (the e-mail is stored in clear) and the logs.
    expect(found.files).toContain(a.email)
    expect(found.logs).toContain('auth_failed')
  }, 30_000)
})

describe('a token revokes itself: DELETE /api/v1/tokens/self', async () => {
  const t = await makeTestApp()
  const m = await makeActor(t, { role: 'member' })

  test('any token, whatever its scopes, gives itself up; the next request with it is 401 token_revoked; audited', async () => {
    const narrow = await makeToken(t, m, { scopes: ['agents:read'] })
    const del = await t.req('DELETE', '/api/v1/tokens/self', { token: narrow.token })
    expect(del.status).toBe(200)
    expect(del.body.token).toMatchObject({ id: narrow.id, userId: m.userId, revokedAt: new Date(t.clock.now()).toISOString() })
    expect(del.text).not.toContain(narrow.token)
    const after = await t.req('GET', '/api/v1/tokens/self', { token: narrow.token })
    expect(after.status).toBe(401)
    expect(after.body.code).toBe('token_revoked')
    // The member's other token is untouched, and sees the revocation.
    const mine = await t.req('GET', `/api/v1/tokens/${narrow.id}`, { token: m.token })
    expect(mine.body.token.status).toBe('revoked')
    expect((await t.req('GET', '/api/v1/tokens/self', { token: m.token })).status).toBe(200)
    const admin = await makeActor(t, { role: 'admin', org: m.orgSlug })
    const events = (await t.req('GET', '/api/v1/audit-events?type=token.revoked', { token: admin.token })).body.events
    expect(events.filter((e: any) => e.targetId === narrow.id).map((e: any) => [e.tokenId, e.details])).toEqual([[narrow.id, { reason: 'manual', self: true }]])
  })

  test('a token in its rotation grace period is revoked now, not at the end of it', async () => {
    const old = await makeToken(t, m, { scopes: ['tokens:write'] })
    const rotated = await t.req('POST', `/api/v1/tokens/${old.id}/rotate`, { token: old.token, body: { gracePeriodSeconds: 3600 } })
    expect(rotated.status).toBe(201)
    expect((await t.req('GET', '/api/v1/tokens/self', { token: old.token })).status).toBe(200)
    const del = await t.req('DELETE', '/api/v1/tokens/self', { token: old.token })
    expect(del.status).toBe(200)
    expect(del.body.token.revokedAt).toBe(new Date(t.clock.now()).toISOString())
    expect((await t.req('GET', '/api/v1/tokens/self', { token: old.token })).body.code).toBe('token_revoked')
    expect((await t.req('GET', '/api/v1/tokens/self', { token: rotated.body.token })).status).toBe(200)
  })

  test("a terminal's browser sign-in ends its whole session: its refresh token no longer works", async () => {
    const cli = await cliLogin(t, m)
    const del = await t.req('DELETE', '/api/v1/tokens/self', { token: cli.accessToken })
    expect(del.status).toBe(200)
    expect(del.body.token.id).toBe(cli.sessionId)
    expect((await t.req('GET', '/api/v1/tokens/self', { token: cli.accessToken })).status).toBe(401)
    const refresh = await t.req('POST', '/api/auth/cli/refresh', { body: { refreshToken: cli.refreshToken } })
    expect(refresh.status).toBe(401)
  })

  test('without a working token it is 401, and nothing is revoked', async () => {
    expect((await t.req('DELETE', '/api/v1/tokens/self')).status).toBe(401)
    expect((await t.req('DELETE', '/api/v1/tokens/self', { token: 'td_not-a-real-token' })).status).toBe(401)
    expect((await t.req('GET', '/api/v1/tokens/self', { token: m.token })).status).toBe(200)
  })
})

describe('two revocations of one token at once revoke it once', async () => {
  // Each request reads its own `now`; the one whose `now` came a millisecond earlier found the
  // other's revocation "in the future" (as a rotation's grace period is) and revoked again.
  const t = await makeTestApp()
  const admin = await makeActor(t, { role: 'admin' })
  const events = async (id: string, type: string) => (await t.req('GET', `/api/v1/audit-events?type=${type}`, { token: admin.token })).body.events.filter((e: any) => e.targetId === id)

  test('DELETE twice, the second with an earlier clock: one token.revoked, revokedAt kept', async () => {
    const x = await makeToken(t, admin)
    const at = t.clock.now()
    expect((await t.req('DELETE', `/api/v1/tokens/${x.id}`, { token: admin.token })).status).toBe(200)
    t.clock.ms = at - 1
    const again = await t.req('DELETE', `/api/v1/tokens/${x.id}`, { token: admin.token })
    expect([again.status, again.body.token.revokedAt]).toEqual([200, new Date(at).toISOString()])
    expect(await events(x.id, 'token.revoked')).toHaveLength(1)
    t.clock.ms = at + 1000
  })

  test('two leak reports, the second with an earlier clock: one token.leak_reported', async () => {
    const x = await makeToken(t, admin)
    const at = t.clock.now()
    expect((await t.req('POST', '/api/v1/credentials/revoke', { body: { credentials: [x.token] } })).status).toBe(202)
    t.clock.ms = at - 1
    expect((await t.req('POST', '/api/v1/credentials/revoke', { body: { credentials: [x.token] } })).status).toBe(202)
    expect(await events(x.id, 'token.leak_reported')).toHaveLength(1)
    t.clock.ms = at + 1000
  })

  test("a rotation's grace period is still cut short by a revocation", async () => {
    const old = await makeToken(t, admin, { scopes: ['tokens:write'] })
    const rotated = await t.req('POST', `/api/v1/tokens/${old.id}/rotate`, { token: old.token, body: { gracePeriodSeconds: 600 } })
    expect(rotated.status).toBe(201)
    const del = await t.req('DELETE', `/api/v1/tokens/${old.id}`, { token: admin.token })
    expect(del.body.token.revokedAt).toBe(new Date(t.clock.now()).toISOString())
    expect((await t.req('GET', '/api/v1/tokens/self', { token: old.token })).status).toBe(401)
  })
})

describe('a token-made token never outlives the credential that made it', () => {
  test('create: an expiresAt past the calling token is 422 naming the limit; expiresInDays and the default end with it', async () => {
    const t = await makeTestApp()
    const a = await makeActor(t)
    const short = await makeToken(t, a, { expiresInDays: 7 })
    const end = new Date(t.clock.now() + 7 * DAY).toISOString()
    const past = await t.req('POST', '/api/v1/tokens', { token: short.token, body: { name: 'longer', expiresAt: new Date(t.clock.now() + 30 * DAY).toISOString() } })
    expect([past.status, past.body.code, past.body.details?.[0]?.field, past.body.details?.[0]?.latestExpiresAt]).toEqual([422, 'validation_failed', 'expiresAt', end])
    expect(past.body.message).toContain('outlives')
    // A lifetime in days is "at most": it ends with the maker (the answer says when).
    for (const days of [365, 8]) {
      const res = await t.req('POST', '/api/v1/tokens', { token: short.token, body: { name: `in ${days} days`, expiresInDays: days } })
      expect([res.status, res.body.expiresAt]).toEqual([201, end])
    }
    const within = await t.req('POST', '/api/v1/tokens', { token: short.token, body: { name: 'within', expiresAt: end } })
    expect([within.status, within.body.expiresAt]).toEqual([201, end])
    t.clock.advance(DAY)
    // Six days left: the default ends with it (shorter than the 7 days an asked expiry needs).
    const plain = await t.req('POST', '/api/v1/tokens', { token: short.token, body: { name: 'default' } })
    expect([plain.status, plain.body.expiresAt]).toEqual([201, end])
    // A token made by that one is bound by it in turn (its expiry is the parent's).
    const grand = await t.req('POST', '/api/v1/tokens', { token: plain.body.token, body: { name: 'grand', expiresInDays: 30 } })
    expect([grand.status, grand.body.expiresAt]).toEqual([201, end])
    // A long-lived token may still make long-lived tokens.
    const long = await makeToken(t, a, { expiresInDays: 365 })
    const year = await t.req('POST', '/api/v1/tokens', { token: long.token, body: { name: 'year', expiresInDays: 365 } })
    expect([year.status, Date.parse(year.body.expiresAt) - t.clock.now()]).toEqual([201, 365 * DAY])
  })

  test('rotation: a token-made token rotated keeps its maker\'s limit; another token rotating one is its limit too', async () => {
    const t = await makeTestApp()
    const a = await makeActor(t)
    const short = await makeToken(t, a, { expiresInDays: 7 })
    const end = new Date(t.clock.now() + 7 * DAY).toISOString()
    const child = (await t.req('POST', '/api/v1/tokens', { token: short.token, body: { name: 'child' } })).body
    t.clock.advance(DAY)
    const longer = await t.req('POST', '/api/v1/tokens/self/rotate', { token: child.token, body: { expiresAt: new Date(t.clock.now() + 365 * DAY).toISOString() } })
    expect([longer.status, longer.body.details?.[0]?.latestExpiresAt]).toEqual([422, end])
    // By default its old lifetime (7 days from now) would end a day after the line's limit: it ends there.
    const renewed = await t.req('POST', '/api/v1/tokens/self/rotate', { token: child.token })
    expect([renewed.status, renewed.body.expiresAt]).toEqual([201, end])
    const again = await t.req('POST', `/api/v1/tokens/${renewed.body.id}/rotate`, { token: renewed.body.token })
    expect([again.status, again.body.expiresAt]).toEqual([201, end])
    // A person's token (no maker) rotated by a short-lived token: the new one is made by that token.
    const mine = await makeToken(t, a, { expiresInDays: 90 })
    const byShort = await t.req('POST', `/api/v1/tokens/${mine.id}/rotate`, { token: short.token, body: { expiresAt: new Date(t.clock.now() + 90 * DAY).toISOString() } })
    expect([byShort.status, byShort.body.details?.[0]?.latestExpiresAt]).toEqual([422, end])
    const byShortDays = await t.req('POST', `/api/v1/tokens/${mine.id}/rotate`, { token: short.token, body: { expiresInDays: 90 } })
    expect([byShortDays.status, byShortDays.body.expiresAt]).toEqual([201, end])
    // A person's token rotating itself renews its lifetime as before.
    const own = await makeToken(t, a, { expiresInDays: 30 })
    const ownRotated = await t.req('POST', '/api/v1/tokens/self/rotate', { token: own.token, body: { expiresInDays: 365 } })
    expect([ownRotated.status, Date.parse(ownRotated.body.expiresAt) - t.clock.now()]).toEqual([201, 365 * DAY])
  })

  test('a token that a short-lived token rotated keeps that limit for its own rotations, and a sign-in\'s (the limit was read from its line\'s first token only)', async () => {
    const t = await makeTestApp()
    const a = await makeActor(t)
    const person = await makeToken(t, a, { expiresInDays: 90 })
    const short = await makeToken(t, a, { expiresInDays: 7 })
    const end = new Date(t.clock.now() + 7 * DAY).toISOString()
    const rotated = await t.req('POST', `/api/v1/tokens/${person.id}/rotate`, { token: short.token })
    expect([rotated.status, rotated.body.expiresAt]).toEqual([201, end])
    const stored = async (id: string) => (await t.db.select({ at: personalAccessTokens.expiresLimitAt }).from(personalAccessTokens).where(eq(personalAccessTokens.id, id)))[0]!.at
    expect([await stored(person.id), (await stored(rotated.body.id))?.toISOString()]).toEqual([null, end])
    t.clock.advance(DAY)
    const yearAt = new Date(t.clock.now() + 365 * DAY).toISOString()
    const year = await t.req('POST', '/api/v1/tokens/self/rotate', { token: rotated.body.token, body: { expiresAt: yearAt } })
    expect([year.status, year.body.details?.[0]?.latestExpiresAt]).toEqual([422, end])
    // A terminal's sign-in (90 days) rotating it by id is bound by the same limit.
    const s = await cliLogin(t, a)
    const bySignIn = await t.req('POST', `/api/v1/tokens/${rotated.body.id}/rotate`, { token: s.accessToken, body: { expiresAt: new Date(t.clock.now() + 30 * DAY).toISOString() } })
    expect([bySignIn.status, bySignIn.body.details?.[0]?.latestExpiresAt]).toEqual([422, end])
    // A year asked in days ends there too.
    const yearInDays = await t.req('POST', '/api/v1/tokens/self/rotate', { token: rotated.body.token, body: { expiresInDays: 365 } })
    expect([yearInDays.status, yearInDays.body.expiresAt]).toEqual([201, end])
    const plain = await t.req('POST', '/api/v1/tokens/self/rotate', { token: yearInDays.body.token })
    expect([plain.status, plain.body.expiresAt, (await stored(plain.body.id))?.toISOString()]).toEqual([201, end, end])
    // What it makes is bound by it too.
    const made = await t.req('POST', '/api/v1/tokens', { token: plain.body.token, body: { name: 'made', expiresAt: new Date(t.clock.now() + 30 * DAY).toISOString() } })
    expect([made.status, made.body.details?.[0]?.latestExpiresAt]).toEqual([422, end])
    t.clock.ms = Date.parse(end) - 60_000
    const last = await t.req('POST', '/api/v1/tokens/self/rotate', { token: plain.body.token })
    expect([last.status, last.body.expiresAt]).toEqual([201, end])
  })

  test('an expiresAt at the 422\'s latestExpiresAt is accepted, also under 7 days away (it was moved to 7 days within the slack, then refused)', async () => {
    const t = await makeTestApp()
    const a = await makeActor(t)
    const short = await makeToken(t, a, { expiresInDays: 7 })
    const end = new Date(t.clock.now() + 7 * DAY).toISOString()
    t.clock.advance(2 * 60_000)
    const refused = await t.req('POST', '/api/v1/tokens', { token: short.token, body: { name: 'week', expiresAt: new Date(t.clock.now() + 7 * DAY).toISOString() } })
    expect([refused.status, refused.body.details?.[0]?.latestExpiresAt]).toEqual([422, end])
    const at = await t.req('POST', '/api/v1/tokens', { token: short.token, body: { name: 'at', expiresAt: end } })
    expect([at.status, at.body.expiresAt]).toEqual([201, end])
    t.clock.advance(4 * DAY)
    const later = await t.req('POST', '/api/v1/tokens/self/rotate', { token: at.body.token, body: { expiresAt: end } })
    expect([later.status, later.body.expiresAt]).toEqual([201, end])
    // Still no shorter asked lifetime than the maker has left (beyond the slack), none past it.
    const sooner = await t.req('POST', '/api/v1/tokens', { token: short.token, body: { name: 'sooner', expiresAt: new Date(Date.parse(end) - 3_600_000).toISOString() } })
    expect([sooner.status, sooner.body.details?.[0]?.field]).toEqual([422, 'expiresAt'])
    const past = await t.req('POST', '/api/v1/tokens', { token: short.token, body: { name: 'past', expiresAt: new Date(Date.parse(end) + 60_000).toISOString() } })
    expect([past.status, past.body.details?.[0]?.latestExpiresAt]).toEqual([422, end])
  })

  test('a person rotating a token-made token in the console renews it (the line\'s limit binds tokens only)', async () => {
    const t = await makeTestApp()
    const { a, c } = await signedInPerson(t)
    const short = await makeToken(t, a, { expiresInDays: 7 })
    const child = (await t.req('POST', '/api/v1/tokens', { token: short.token, body: { name: 'child' } })).body
    t.clock.advance(3_600_000) // within the session's idle time
    const page = (await c.get('/settings/profile')).text
    const key = new RegExp(`action="/settings/tokens/${child.id}/rotate"[^>]*>\\s*<input type="hidden" name="formKey" value="([0-9a-f-]{36})"`).exec(page)![1]!
    const shown = await c.post(`/settings/tokens/${child.id}/rotate`, { formKey: key, grace: '0' })
    expect(shown.status).toBe(201)
    const secret = /td_[A-Za-z0-9_-]{43}/.exec(shown.text)![0]
    const renewed = (await myTokens(t, a.token)).find((x) => x.name === 'child' && x.status === 'active')!
    // Its old lifetime (7 days) from now, past the hour its line began to expire.
    expect(Date.parse(renewed.expiresAt) - t.clock.now()).toBe(7 * DAY)
    // It stays renewed: its own rotations are no longer cut back to its maker's end, nor refused after it.
    const longer = await t.req('POST', '/api/v1/tokens/self/rotate', { token: secret, body: { expiresInDays: 30 } })
    expect([longer.status, Date.parse(longer.body.expiresAt) - t.clock.now()]).toEqual([201, 30 * DAY])
    t.clock.advance(8 * DAY)
    const after = await t.req('POST', '/api/v1/tokens/self/rotate', { token: longer.body.token })
    expect([after.status, Date.parse(after.body.expiresAt) - t.clock.now()]).toEqual([201, 30 * DAY])
  })

  test("TeamDay's CLI `auth create-token` (expiresInDays: 90 by default) with a 90-day token made a moment before: 201, ending with that token (it was 422, a few seconds past it)", async () => {
    const t = await makeTestApp()
    const a = await makeActor(t)
    const mine = await makeToken(t, a, { expiresInDays: 90 })
    const end = new Date(t.clock.now() + 90 * DAY).toISOString()
    t.clock.advance(5_000)
    const made = await t.req('POST', '/api/tokens/create', { token: mine.token, body: { name: 'ci', expiresInDays: 90, organizationId: a.organizationId } })
    expect([made.status, made.body.expiresAt]).toEqual([201, end])
  })

  test('a terminal sign-in (teamday login) makes no token that outlives the sign-in', async () => {
    const t = await makeTestApp()
    const a = await makeActor(t)
    const s = await cliLogin(t, a)
    const end = new Date(t.clock.now() + 90 * DAY).toISOString()
    t.clock.advance(10 * 60_000) // its access token lasts 15 minutes
    const year = await t.req('POST', '/api/v1/tokens', { token: s.accessToken, body: { name: 'year', expiresAt: new Date(t.clock.now() + 365 * DAY).toISOString() } })
    expect([year.status, year.body.details?.[0]?.latestExpiresAt]).toEqual([422, end])
    expect(year.body.message).toContain('teamday login')
    const yearInDays = await t.req('POST', '/api/v1/tokens', { token: s.accessToken, body: { name: 'year in days', expiresInDays: 365 } })
    expect([yearInDays.status, yearInDays.body.expiresAt]).toEqual([201, end])
    const plain = await t.req('POST', '/api/v1/tokens', { token: s.accessToken, body: { name: 'default' } })
    expect([plain.status, plain.body.expiresAt]).toEqual([201, end])
  })
})
