import { describe, expect, test } from 'bun:test'
import { findTokenById } from '../src/modules/tokens/service'
import { personalAccessTokens } from '../src/db/schema'
import { eq } from 'drizzle-orm'
import { requestContexts } from '../src/http/context'
import { rotateToken } from '../src/modules/tokens/lifecycle'
import { cliLogin } from './helpers/world'
import { auditEvents } from '../src/db/schema'
import { authorizerOf, makeActor, makeTestApp, makeToken, type TestApp } from './helpers/app'

const DAY = 86_400_000

/** A service context of a request authenticated by `token` (as a route's handler gets it). */
async function contextAuthenticatedBy(t: TestApp, token: string) {
  const request = new Request('http://localhost/api/v1/tokens', { headers: { authorization: `Bearer ${token}` } })
  const set = { headers: {} as Record<string, string> }
  return requestContexts(t.rt, () => null).caller(await authorizerOf(t).principal(request, set, 'tokens:write'), request, set)
}

describe('POST /tokens/:id/rotate', () => {
  test('without grace: a new token with the same name, scopes and family; the old one stops at once', async () => {
    const t = await makeTestApp()
    const a = await makeActor(t, { role: 'member' })
    const old = await makeToken(t, a, { name: 'deploy bot', scopes: ['agents:read', 'tokens:write'], expiresInDays: 30 })
    const res = await t.req('POST', `/api/v1/tokens/${old.id}/rotate`, { token: a.token, body: {} })
    expect(res.status).toBe(201)
    const b = res.body
    expect(b.token).toMatch(/^td_[A-Za-z0-9]{43}$/)
    expect(b.token).not.toBe(old.token)
    expect(b.id).not.toBe(old.id)
    expect(b).toMatchObject({ success: true, name: 'deploy bot', scopes: ['agents:read', 'tokens:write'], status: 'active', rotatedFromId: old.id, userId: a.userId })
    expect(b.previousTokenRevokedAt).toBe(new Date(t.clock.now()).toISOString())
    // Default lifetime: the old token's (30 days).
    expect(Date.parse(b.expiresAt) - t.clock.now()).toBe(30 * DAY)
    const row = (await findTokenById(t.ctx, b.id))!
    expect(row.familyId).toBe(old.id)
    expect(row.rotatedFromId).toBe(old.id)
    expect((await findTokenById(t.ctx, old.id))!.revokedReason).toBe('rotated_now')

    expect((await t.req('GET', '/api/v1/tokens/self', { token: old.token })).body.code).toBe('token_revoked')
    const self = await t.req('GET', '/api/v1/tokens/self', { token: b.token })
    expect(self.status).toBe(200)
    expect(self.body.token.id).toBe(b.id)
  })

  test('with grace: the old token works until the grace period ends; expiresInDays sets the new lifetime', async () => {
    const t = await makeTestApp()
    const a = await makeActor(t)
    const old = await makeToken(t, a)
    const res = await t.req('POST', `/api/v1/tokens/${old.id}/rotate`, { token: old.token, body: { gracePeriodSeconds: 3600, expiresInDays: 7 } })
    expect(res.status).toBe(201)
    expect(res.body.previousTokenRevokedAt).toBe(new Date(t.clock.now() + 3600_000).toISOString())
    expect(Date.parse(res.body.expiresAt) - t.clock.now()).toBe(7 * DAY)
    t.clock.advance(3599_000)
    expect((await t.req('GET', '/api/v1/tokens', { token: old.token })).status).toBe(200)
    const listed = (await t.req('GET', `/api/v1/tokens/${old.id}`, { token: a.token })).body.token
    expect(listed.status).toBe('active')
    // It stops when the grace period ends, not at its original expiry: the API and the header say so.
    const graceEnd = res.body.previousTokenRevokedAt
    expect(listed.expiresAt).toBe(graceEnd)
    const self = await t.req('GET', '/api/v1/tokens/self', { token: old.token })
    expect(self.body.token.expiresAt).toBe(graceEnd)
    expect(self.headers.get('teamday-token-expiration')).toBe(graceEnd)
    expect(self.body.token.revokedAt).toBe(graceEnd)
    expect((await t.req('GET', '/api/v1/tokens/self', { token: res.body.token })).body.token.revokedAt).toBeNull()
    expect((await t.req('GET', '/api/v1/tokens', { token: a.token })).body.tokens.find((x: any) => x.id === old.id).expiresAt).toBe(graceEnd)
    // Rotating again while the grace period runs: 409, the family is left alone.
    const again = await t.req('POST', `/api/v1/tokens/${old.id}/rotate`, { token: a.token, body: {} })
    expect(again.status).toBe(409)
    expect(again.body.code).toBe('invalid_state')
    expect(again.body.message).toContain(res.body.id)
    t.clock.advance(1000)
    expect((await t.req('GET', '/api/v1/tokens', { token: old.token })).body.code).toBe('token_revoked')
    expect((await t.req('GET', '/api/v1/tokens', { token: res.body.token })).status).toBe(200)
  })

  test('rotating an already-revoked token with another credential, however late, is 409 naming the successor: the family is left alone (no secret was presented)', async () => {
    const t = await makeTestApp()
    const a = await makeActor(t)
    const admin = await makeActor(t, { role: 'admin' })
    const first = await makeToken(t, a, { name: 'ci' })
    const second = (await t.req('POST', `/api/v1/tokens/${first.id}/rotate`, { token: a.token, body: {} })).body
    const third = (await t.req('POST', `/api/v1/tokens/${second.id}/rotate`, { token: a.token, body: { gracePeriodSeconds: 600 } })).body
    // The owner's other token knows the first's id (listed), not its secret: a stale script, not a leak.
    t.clock.advance(60 * 60_000)
    const stale = await t.req('POST', `/api/v1/tokens/${first.id}/rotate`, { token: a.token, body: {} })
    expect([stale.status, stale.body.code]).toEqual([409, 'invalid_state'])
    // Named: the family's active token, third (second, the direct successor, was rotated in turn).
    expect(stale.body.message).toContain(`rotate its successor ${third.id} instead`)
    expect((await t.req('GET', '/api/v1/tokens/self', { token: third.token })).status).toBe(200)
    expect((await findTokenById(t.ctx, third.id))!.revokedAt).toBeNull()
    expect((await t.req('GET', '/api/v1/audit-events?type=token.family_revoked', { token: admin.token })).body.total).toBe(0)
  })

  test('a second rotation, with another of the owner\'s tokens, within a minute or later: 409 invalid_state, the successor keeps working', async () => {
    const t = await makeTestApp()
    const a = await makeActor(t)
    const ci = await makeToken(t, a, { name: 'ci' })
    const rotate = () => t.req('POST', `/api/v1/tokens/${ci.id}/rotate`, { token: a.token, body: {} })
    // A double submit: both at once, and once more a moment later.
    const [one, two] = await Promise.all([rotate(), rotate()])
    const made = [one, two].find((r) => r.status === 201)!
    const other = [one, two].find((r) => r !== made)!
    t.clock.advance(59_000)
    expect([other.status, other.body.code]).toEqual([409, 'invalid_state'])
    const later = await rotate()
    expect([later.status, later.body.code]).toEqual([409, 'invalid_state'])
    expect(later.body.message).toContain(made.body.id)
    expect((await t.req('GET', '/api/v1/tokens/self', { token: made.body.token })).status).toBe(200)
    // Past the minute too: the other token never held the rotated secret, so it is no reuse.
    t.clock.advance(2000)
    expect((await rotate()).body.code).toBe('invalid_state')
    expect((await t.req('GET', '/api/v1/tokens/self', { token: made.body.token })).status).toBe(200)
  })

  test('a token in its grace period works on, but makes no token and rotates or revokes no other: the old secret cannot take the family over nor outlive its rotation', async () => {
    const t = await makeTestApp()
    const a = await makeActor(t)
    const old = await makeToken(t, a, { name: 'ci' })
    const successor = (await t.req('POST', `/api/v1/tokens/${old.id}/rotate`, { token: old.token, body: { gracePeriodSeconds: 3600 } })).body
    const sibling = await makeToken(t, a, { name: 'other job' })
    const before = (await t.req('GET', '/api/v1/tokens?limit=200', { token: a.token })).body.total
    // Whoever still holds the old secret (the rotation's very reason, when it leaked).
    const refusals = [
      await t.req('POST', '/api/v1/tokens', { token: old.token, body: { name: 'outlives the grace' } }),
      await t.req('POST', '/api/tokens/create', { token: old.token, body: { name: 'outlives the grace', expiresInDays: 30 } }),
      await t.req('POST', `/api/v1/tokens/${successor.id}/rotate`, { token: old.token, body: {} }),
      await t.req('DELETE', `/api/v1/tokens/${successor.id}`, { token: old.token }),
      await t.req('POST', `/api/tokens/${successor.id}/revoke`, { token: old.token }),
      await t.req('DELETE', `/api/v1/tokens/${sibling.id}`, { token: old.token }),
    ]
    for (const r of refusals) {
      expect([r.status, r.body.code]).toEqual([403, 'forbidden'])
      expect(r.body.message).toContain(successor.id)
      expect(r.text).not.toMatch(/td_[A-Za-z0-9]{43}/)
    }
    expect((await t.req('GET', '/api/v1/tokens?limit=200', { token: a.token })).body.total).toBe(before)
    for (const tok of [successor.token, sibling.token]) expect((await t.req('GET', '/api/v1/tokens/self', { token: tok })).status).toBe(200)
    // Its ordinary work goes on until the grace ends, and it may still give itself up.
    expect((await t.req('GET', '/api/v1/tokens', { token: old.token })).status).toBe(200)
    expect((await t.req('POST', '/api/v1/agents', { token: old.token, body: { name: 'still working' } })).status).toBe(201)
    expect((await t.req('DELETE', `/api/v1/tokens/${old.id}`, { token: old.token })).status).toBe(200)
    expect((await t.req('GET', '/api/v1/tokens/self', { token: old.token })).body.code).toBe('token_revoked')
    expect((await t.req('GET', '/api/v1/tokens/self', { token: successor.token })).status).toBe(200)
  })

  test('a token from before families (null family id) counts as its own family', async () => {
    const t = await makeTestApp()
    const a = await makeActor(t)
    const legacy = await makeToken(t, a)
    await t.db.update(personalAccessTokens).set({ familyId: null }).where(eq(personalAccessTokens.id, legacy.id)).run()
    const next = (await t.req('POST', `/api/v1/tokens/${legacy.id}/rotate`, { token: a.token, body: {} })).body
    expect((await findTokenById(t.ctx, next.id))!.familyId).toBe(legacy.id)
    const after = (await t.req('POST', `/api/v1/tokens/${next.id}/rotate`, { token: a.token, body: {} })).body
    expect((await findTokenById(t.ctx, after.id))!.familyId).toBe(legacy.id)
  })

  test('only the owner rotates; others\' tokens are 404 (admins: 403, they revoke instead); expired → 409; bad grace → 422', async () => {
    const t = await makeTestApp()
    const a = await makeActor(t)
    const b = await makeActor(t)
    const admin = await makeActor(t, { role: 'admin' })
    const other = await makeActor(t, { org: 'globex' })
    const tok = await makeToken(t, a)
    expect((await t.req('POST', `/api/v1/tokens/${tok.id}/rotate`, { token: b.token, body: {} })).body.code).toBe('not_found')
    expect((await t.req('POST', `/api/v1/tokens/${tok.id}/rotate`, { token: other.token, body: {} })).body.code).toBe('not_found')
    const byAdmin = await t.req('POST', `/api/v1/tokens/${tok.id}/rotate`, { token: admin.token, body: {} })
    expect(byAdmin.status).toBe(403)
    expect(byAdmin.body.message).toStartWith('Forbidden: ')
    for (const g of [-1, 86401, 1.5, 'soon']) {
      const bad = await t.req('POST', `/api/v1/tokens/${tok.id}/rotate`, { token: a.token, body: { gracePeriodSeconds: g } })
      expect(bad.status).toBe(422)
      expect(bad.body.details[0].field).toBe('gracePeriodSeconds')
    }
    expect((await t.req('POST', `/api/v1/tokens/${tok.id}/rotate`, { token: a.token, body: { expiresInDays: 400 } })).status).toBe(422)
    // No body at all is fine.
    expect((await t.req('POST', `/api/v1/tokens/${tok.id}/rotate`, { token: a.token })).status).toBe(201)
    t.clock.advance(-8 * DAY)
    const old = await makeToken(t, a, { expiresInDays: 7 })
    t.clock.advance(8 * DAY)
    const expired = await t.req('POST', `/api/v1/tokens/${old.id}/rotate`, { token: a.token, body: {} })
    expect(expired.status).toBe(409)
    expect(expired.body.code).toBe('invalid_state')
  })

  test('the limits are inclusive: a grace period of exactly 86400 s is accepted; a token is expired at its expiry instant', async () => {
    const t = await makeTestApp()
    const a = await makeActor(t)
    const tok = await makeToken(t, a)
    const res = await t.req('POST', `/api/v1/tokens/${tok.id}/rotate`, { token: a.token, body: { gracePeriodSeconds: 86400 } })
    expect(res.status).toBe(201)
    expect(res.body.previousTokenRevokedAt).toBe(new Date(t.clock.now() + DAY).toISOString())
    // Rotated by another of the owner's tokens at the very millisecond the target expires: 409.
    const week = await makeToken(t, a, { expiresInDays: 7 })
    t.clock.advance(7 * DAY)
    const atExpiry = await t.req('POST', `/api/v1/tokens/${week.id}/rotate`, { token: res.body.token, body: {} })
    expect(atExpiry.status).toBe(409)
    expect(atExpiry.body.code).toBe('invalid_state')
    expect(atExpiry.body.message).toContain('expired')
  })

  test("a rotation's expiresAt within the 5 minutes of clock skew is stored within 7–365 days, as at creation", async () => {
    const t = await makeTestApp()
    const a = await makeActor(t, { token: { expiresInDays: 365 } }) // a token makes none that outlives it
    for (const [sent, stored] of [
      [365 * DAY + 4 * 60_000, 365 * DAY],
      [7 * DAY - 4 * 60_000, 7 * DAY],
    ]) {
      const tok = await makeToken(t, a)
      const res = await t.req('POST', `/api/v1/tokens/${tok.id}/rotate`, { token: a.token, body: { expiresAt: new Date(t.clock.now() + sent!).toISOString() } })
      expect([sent, res.status, res.body.expiresAt]).toEqual([sent, 201, new Date(t.clock.now() + stored!).toISOString()])
    }
  })

  test('an inherited lifetime under 7 days (expiresAt allows 5 minutes of clock skew) is raised to 7 days', async () => {
    const t = await makeTestApp()
    const a = await makeActor(t)
    const short = await makeToken(t, a, { expiresAt: new Date(t.clock.now() + 7 * DAY - 4 * 60_000).toISOString() })
    const res = await t.req('POST', `/api/v1/tokens/${short.id}/rotate`, { token: a.token, body: {} })
    expect(res.status).toBe(201)
    expect(Date.parse(res.body.expiresAt) - t.clock.now()).toBe(7 * DAY)
  })

  test('expiresAt sets the new token\'s expiry, with the rules and errors of creation; an invalid one, or both fields, rotates nothing', async () => {
    const t = await makeTestApp()
    const a = await makeActor(t, { token: { expiresInDays: 365 } }) // a token makes none that outlives it
    const leaked = await makeToken(t, a, { name: 'long-lived', expiresInDays: 365 })
    const rotate = (id: string, body: Record<string, unknown>) => t.req('POST', `/api/v1/tokens/${id}/rotate`, { token: a.token, body })
    const create = (body: Record<string, unknown>) => t.req('POST', '/api/v1/tokens', { token: a.token, body: { name: 'x', ...body } })
    const at = (ms: number) => new Date(t.clock.now() + ms).toISOString()
    const day = (ms: number) => at(ms).slice(0, 10)
    // Refused as creation refuses it, with the same status, code, message and details; the token is not rotated.
    for (const bad of [{ expiresAt: at(6 * DAY) }, { expiresAt: at(366 * DAY) }, { expiresAt: at(-DAY) }, { expiresAt: 'next tuesday' }, { expiresAt: day(366 * DAY) }, { expiresAt: at(30 * DAY), expiresInDays: 30 }]) {
      const r = await rotate(leaked.id, bad)
      const c = await create(bad)
      expect([r.status, r.body.code, r.body.message, r.body.details]).toEqual([422, 'validation_failed', c.body.message, c.body.details])
      expect(r.body.details[0].field).toBe('expiresAt')
    }
    expect((await findTokenById(t.ctx, leaked.id))!.revokedAt).toBeNull()
    // Shortening a leaked token's lifetime on rotation: the new one expires when asked (it kept 365 days).
    const res = await rotate(leaked.id, { expiresAt: at(10 * DAY), gracePeriodSeconds: 60 })
    expect(res.status).toBe(201)
    expect(res.body.expiresAt).toBe(at(10 * DAY))
    expect((await findTokenById(t.ctx, res.body.id))!.expiresAt.toISOString()).toBe(at(10 * DAY))
    // A date alone is the end of that day, UTC; the 365th day ends at the longest lifetime.
    const next = await rotate(res.body.id, { expiresAt: day(7 * DAY) })
    expect([next.status, next.body.expiresAt]).toEqual([201, `${day(7 * DAY)}T23:59:59.999Z`])
    const last = await rotate(next.body.id, { expiresAt: day(365 * DAY) })
    expect([last.status, last.body.expiresAt]).toEqual([201, at(365 * DAY)])
  })

  test('two rotations of one token at once make one successor, the other is 409; when both passed the checks before either claimed the token (SQLite, in-process), the claim refuses it', async () => {
    const t = await makeTestApp()
    const a = await makeActor(t)
    const old = await makeToken(t, a, { name: 'raced' })
    // Two calls of the service interleaved in one process: on SQLite each awaits its reads, so both
    // read the token as active before either claims it, and only the conditional claim stops the
    // second (invalid_state). On PostgreSQL the second may read it after the first committed: as
    // both authenticated with the token itself, that is a concurrent rotation too (invalid_state),
    // not reuse (the test below).
    const ctx = await contextAuthenticatedBy(t, old.token)
    const results = await Promise.allSettled([rotateToken(ctx, old.id, {}), rotateToken(ctx, old.id, {})])
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1)
    const refused = results.find((r) => r.status === 'rejected') as PromiseRejectedResult
    expect(refused.reason.status).toBe(409)
    expect(refused.reason.code).toBe('invalid_state')
    expect(refused.reason.message).toContain('rotated or revoked by a concurrent request')
    const successors = await t.db.select({ id: personalAccessTokens.id }).from(personalAccessTokens).where(eq(personalAccessTokens.rotatedFromId, old.id)).all()
    expect(successors).toHaveLength(1)
  })

  test('a self-rotation that finds its token rotated meanwhile by another request is 409, and the successor that request handed out keeps working', async () => {
    const t = await makeTestApp()
    const a = await makeActor(t)
    const old = await makeToken(t, a, { name: 'retried' })
    // Both requests authenticated with the token while it was valid (a client's retry racing its
    // first attempt); the second reads it only after the first committed, as on PostgreSQL when
    // they run on two connections or two instances.
    const ctx = await contextAuthenticatedBy(t, old.token)
    t.clock.advance(1000)
    const first = await rotateToken(ctx, old.id, {})
    t.clock.advance(1000)
    const second = await rotateToken(ctx, old.id, {}).catch((e) => e)
    expect([second.status, second.code]).toEqual([409, 'invalid_state'])
    expect(second.message).toContain(`rotated or revoked by a concurrent request (its successor is ${first.row.id})`)
    expect((await t.req('GET', '/api/v1/tokens/self', { token: first.token })).status).toBe(200)
    expect((await findTokenById(t.ctx, first.row.id))!.revokedAt).toBeNull()
    // Rotating the revoked token with another credential later is no reuse either: the successor stays.
    t.clock.advance(60 * 60_000)
    const late = await t.req('POST', `/api/v1/tokens/${old.id}/rotate`, { token: a.token, body: {} })
    expect([late.status, late.body.code]).toEqual([409, 'invalid_state'])
    expect((await t.req('GET', '/api/v1/tokens/self', { token: first.token })).status).toBe(200)
  })

  test('rotation is audited: who, which token, the grace period; never a secret', async () => {
    const t = await makeTestApp()
    const a = await makeActor(t)
    const admin = await makeActor(t, { role: 'admin' })
    const tok = await makeToken(t, a)
    const res = await t.req('POST', `/api/v1/tokens/${tok.id}/rotate`, { token: a.token, body: { gracePeriodSeconds: 60 }, headers: { 'user-agent': 'rotator/1.0', 'x-request-id': 'req-rotate-1' } })
    const ev = (await t.req('GET', '/api/v1/audit-events?type=token.rotated', { token: admin.token })).body
    expect(ev.total).toBe(1)
    expect(ev.events[0]).toMatchObject({
      type: 'token.rotated',
      source: 'api',
      actorUserId: a.userId,
      actorTokenId: a.tokenId,
      tokenId: tok.id,
      targetId: res.body.id,
      userAgent: 'rotator/1.0',
      requestId: 'req-rotate-1',
      details: { newTokenId: res.body.id, gracePeriodSeconds: 60 },
    })
    expect(JSON.stringify(ev)).not.toContain(res.body.token)
    expect(JSON.stringify(ev)).not.toContain(tok.token)
  })
})

describe('POST /tokens/self/rotate', () => {
  // Its 403 was the shared one of creating and rotating by id ("would exceed itself", "creates
  // only tokens with scopes it has", a token in its grace period), none of which a token rotating
  // itself meets: it did not say when a self-rotation is a 403.
  test('its 403 in the served document says when it happens, and that is what a request gets: a token without tokens:write', async () => {
    const t = await makeTestApp()
    const a = await makeActor(t)
    const spec = (await t.req('GET', '/swagger/json')).body
    const own = spec.paths['/api/v1/tokens/self/rotate'].post.responses['403']
    // Its own, or one shared with operations that answer alike (components.responses).
    const forbidden = typeof own.$ref === 'string' ? spec.components.responses[own.$ref.split('/').pop()] : own
    const model = spec.components.schemas[forbidden.content['application/json'].schema.$ref.split('/').pop()]
    expect(forbidden.description).toBe(model.description)
    expect(forbidden.description).toStartWith('Forbidden (`insufficient_scope`), only when the calling token lacks the `tokens:write` scope')
    for (const other of ['would exceed', 'creates only', 'grace period: it', '`forbidden`']) expect({ other, found: forbidden.description.includes(other) }).toEqual({ other, found: false })
    const narrow = await makeToken(t, a, { scopes: ['agents:read', 'tokens:read'] })
    const res = await t.req('POST', '/api/v1/tokens/self/rotate', { token: narrow.token, body: {} })
    const { requestId: _, ...documented } = model.examples[0]
    const { requestId: __, ...answered } = res.body
    expect([res.status, answered]).toEqual([403, documented])
    // Any role, and a token with tokens:write beside nothing else, rotates itself.
    for (const role of ['viewer', 'member', 'admin'] as const) {
      const who = await makeActor(t, { role })
      const own = await makeToken(t, who, { scopes: ['tokens:write'] })
      expect((await t.req('POST', '/api/v1/tokens/self/rotate', { token: own.token, body: {} })).status).toBe(201)
    }
  })

  test('the calling token rotates itself, as by its id: the same name, scopes and family, the body\'s lifetime and grace, the event', async () => {
    const t = await makeTestApp()
    const a = await makeActor(t)
    const ci = await makeToken(t, a, { name: 'ci job', scopes: ['agents:read', 'tokens:write'], expiresInDays: 365 })
    const res = await t.req('POST', '/api/v1/tokens/self/rotate', { token: ci.token, body: { expiresAt: new Date(t.clock.now() + 30 * DAY).toISOString() } })
    expect(res.status).toBe(201)
    expect(res.body).toMatchObject({ success: true, name: 'ci job', scopes: ['agents:read', 'tokens:write'], status: 'active', rotatedFromId: ci.id, createdByTokenId: ci.id, userId: a.userId })
    expect(res.body.token).toMatch(/^td_[A-Za-z0-9]{43}$/)
    expect(Date.parse(res.body.expiresAt) - t.clock.now()).toBe(30 * DAY)
    expect(res.body.previousTokenRevokedAt).toBe(new Date(t.clock.now()).toISOString())
    expect((await findTokenById(t.ctx, res.body.id))!.familyId).toBe(ci.id)
    expect((await findTokenById(t.ctx, ci.id))!.revokedReason).toBe('rotated_now')
    expect((await t.req('GET', '/api/v1/tokens/self', { token: ci.token })).body.code).toBe('token_revoked')
    expect((await t.req('GET', '/api/v1/tokens/self', { token: res.body.token })).body.token.id).toBe(res.body.id)
    const events = await t.db.select().from(auditEvents).where(eq(auditEvents.type, 'token.rotated')).all()
    expect(events.map((e) => [e.tokenId, e.targetId])).toEqual([[ci.id, res.body.id]])
    // Without a body, with a grace period, through an escaped or slashed path: the same route.
    const graced = await t.req('POST', '/api/v1/tokens/%73elf/rotate/', { token: res.body.token, body: { gracePeriodSeconds: 600 } })
    expect([graced.status, graced.body.rotatedFromId]).toEqual([201, res.body.id])
    expect(Date.parse(graced.body.expiresAt) - Date.parse(res.body.expiresAt)).toBe(0)
    expect((await t.req('GET', '/api/v1/tokens/self', { token: res.body.token })).status).toBe(200)
    const bare = await t.req('POST', '/api/v1/tokens/self/rotate', { token: graced.body.token })
    expect([bare.status, bare.body.rotatedFromId]).toEqual([201, graced.body.id])
  })

  test('refused as rotating it by id is: without tokens:write, already rotated, a bad lifetime; a browser sign-in is not rotated; nothing changes', async () => {
    const t = await makeTestApp()
    const a = await makeActor(t)
    const rotations = async () => (await t.db.select().from(auditEvents).where(eq(auditEvents.type, 'token.rotated')).all()).length
    // No token at all.
    expect((await t.req('POST', '/api/v1/tokens/self/rotate', { body: {} })).body.code).toBe('missing_token')
    // A token without tokens:write (it may still revoke itself: DELETE /tokens/self needs no scope).
    const narrow = await makeToken(t, a, { scopes: ['agents:read', 'tokens:read'] })
    const noScope = await t.req('POST', '/api/v1/tokens/self/rotate', { token: narrow.token, body: {} })
    expect([noScope.status, noScope.body.code, noScope.body.details.requiredScopes]).toEqual([403, 'insufficient_scope', ['tokens:write']])
    expect(noScope.headers.get('www-authenticate')).toBe('Bearer realm="teamday", error="insufficient_scope", scope="tokens:write"')
    // A bad lifetime: creation's errors, the token not rotated.
    const ci = await makeToken(t, a, { name: 'ci' })
    for (const [body, field] of [[{ expiresInDays: 400 }, 'expiresInDays'], [{ expiresAt: 'next tuesday' }, 'expiresAt'], [{ expiresInDays: 30, expiresAt: new Date(t.clock.now() + 30 * DAY).toISOString() }, 'expiresAt'], [{ gracePeriodSeconds: 86401 }, 'gracePeriodSeconds']] as const) {
      const bad = await t.req('POST', '/api/v1/tokens/self/rotate', { token: ci.token, body })
      expect([bad.status, bad.body.code, bad.body.details[0].field]).toEqual([422, 'validation_failed', field])
    }
    expect((await t.req('POST', '/api/v1/tokens/self/rotate', { token: ci.token, raw: '{', headers: { 'content-type': 'application/json' } })).body.code).toBe('invalid_json')
    expect(await rotations()).toBe(0)
    // A token already rotated, in its grace period: 409 naming its successor (never reuse detection: it was valid when sent).
    const first = await t.req('POST', '/api/v1/tokens/self/rotate', { token: ci.token, body: { gracePeriodSeconds: 3600 } })
    expect(first.status).toBe(201)
    for (const advance of [0, 60_000]) {
      t.clock.advance(advance)
      const again = await t.req('POST', '/api/v1/tokens/self/rotate', { token: ci.token, body: {} })
      expect([again.status, again.body.code]).toEqual([409, 'invalid_state'])
      expect(again.body.message).toContain(first.body.id)
    }
    expect((await t.req('GET', '/api/v1/tokens/self', { token: first.body.token })).status).toBe(200)
    expect(await rotations()).toBe(1)
    // A terminal's browser sign-in is no personal access token: 409, its session goes on.
    const signIn = await cliLogin(t, a)
    const cli = await t.req('POST', '/api/v1/tokens/self/rotate', { token: signIn.accessToken, body: {} })
    expect([cli.status, cli.body.code]).toEqual([409, 'invalid_state'])
    expect(cli.body.message).toContain('browser sign-in')
    expect((await t.req('GET', '/api/v1/tokens/self', { token: signIn.accessToken })).status).toBe(200)
    expect(await rotations()).toBe(1)
  })
})

describe('GET /tokens/self', () => {
  test('describes the calling token, never its secret; any scope may introspect', async () => {
    const t = await makeTestApp()
    const a = await makeActor(t, { role: 'viewer', org: 'initech' })
    const tok = await makeToken(t, a, { name: 'dashboard', scopes: ['spaces:read'] })
    const res = await t.req('GET', '/api/v1/tokens/self', { token: tok.token })
    expect(res.status).toBe(200)
    expect(Object.keys(res.body.token).sort()).toEqual(
      ['id', 'name', 'scopes', 'role', 'organizationId', 'organizationSlug', 'userId', 'email', 'createdAt', 'lastUsedAt', 'expiresAt', 'maskedToken', 'revokedAt', 'tokenScopes', 'agentRun'].sort(),
    )
    expect(res.body.token).toMatchObject({
      id: tok.id,
      name: 'dashboard',
      scopes: ['spaces:read'],
      // Outside an agent run the request may use what the token may (test/run-scope-limit.test.ts for a run).
      tokenScopes: ['spaces:read'],
      agentRun: null,
      role: 'viewer',
      organizationId: a.organizationId,
      organizationSlug: 'initech',
      userId: a.userId,
      email: a.email,
      lastUsedAt: new Date(t.clock.now()).toISOString(),
      maskedToken: `td_${tok.token.slice(3, 7)}…${tok.token.slice(-4)}`,
    })
    expect(res.text).not.toContain(tok.token)
    expect(res.headers.get('teamday-token-expiration')).toBe(res.body.token.expiresAt)
  })

  test('"self" is not taken for a token id, and needs a valid token', async () => {
    const t = await makeTestApp()
    expect((await t.req('GET', '/api/v1/tokens/self')).body.code).toBe('missing_token')
  })
})
