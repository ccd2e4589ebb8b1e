import { describe, expect, test } from 'bun:test'
import { findTokenById } from '../src/modules/tokens/service'
import { makeActor, makeTestApp, makeToken, type TestApp } from './helpers/app'

/** Issue 11, item 1: a `tokens:write` token is not as good as a full token. */

const create = (t: TestApp, token: string, body: Record<string, unknown>) => t.req('POST', '/api/v1/tokens', { token, body: { name: 'child', ...body } })
const rotate = (t: TestApp, token: string, id: string) => t.req('POST', `/api/v1/tokens/${id}/rotate`, { token, body: {} })
const revoke = (t: TestApp, token: string, id: string) => t.req('DELETE', `/api/v1/tokens/${id}`, { token })
const reportLeak = (t: TestApp, ...credentials: string[]) => t.req('POST', '/api/v1/credentials/revoke', { body: { credentials } })
const status = async (t: TestApp, id: string) => {
  const row = (await findTokenById(t.ctx, id))!
  return { revoked: row.revokedAt !== null && row.revokedAt.getTime() <= t.clock.now(), reason: row.revokedReason }
}

describe('creating tokens: only scopes the calling token has', () => {
  test('a tokens:write-only token cannot create "*" nor broader scopes; 403 insufficient_scope naming what it lacks', async () => {
    const t = await makeTestApp()
    const a = await makeActor(t, { role: 'admin' })
    const narrow = await makeToken(t, a, { scopes: ['tokens:write'] })
    for (const scopes of [['*'], ['agents:write'], ['tokens:write', 'audit:read']]) {
      const res = await create(t, narrow.token, { scopes })
      expect(res.status).toBe(403)
      expect(res.body.code).toBe('insufficient_scope')
      expect(res.body.message).toContain('Forbidden')
      expect(res.body.message).toContain('access denied')
      expect(res.body.details.missingScopes).toEqual(scopes.filter((s) => s !== 'tokens:write'))
      expect(res.body.details.tokenScopes).toEqual(['tokens:write'])
      // The challenge every insufficient_scope answer carries (these had none), naming what is missing.
      expect(res.headers.get('www-authenticate')).toBe(`Bearer realm="teamday", error="insufficient_scope", scope="${scopes.filter((s) => s !== 'tokens:write').join(' ')}"`)
    }
    // Nothing was created: the user still has just the two tokens.
    expect((await t.req('GET', '/api/v1/tokens', { token: a.token })).body.total).toBe(2)
    // The attempt is audited against the calling token.
    const ev = (await t.req('GET', `/api/v1/audit-events?type=token.scope_denied&tokenId=${narrow.id}`, { token: a.token })).body
    expect(ev.events[0].details).toMatchObject({ action: 'create', tokenScopes: ['tokens:write'] })
  })

  test('it can create a subset (x:write covers x:read); without scopes it gets the calling token\'s own', async () => {
    const t = await makeTestApp()
    const a = await makeActor(t)
    const narrow = await makeToken(t, a, { scopes: ['agents:write', 'tokens:write'] })
    const sub = await create(t, narrow.token, { scopes: ['agents:read', 'tokens:write'] })
    expect(sub.status).toBe(201)
    expect(sub.body.scopes).toEqual(['agents:read', 'tokens:write'])
    const same = await create(t, narrow.token, {})
    expect(same.status).toBe(201)
    expect(same.body.scopes).toEqual(['agents:write', 'tokens:write'])
    // A full token still creates "*" tokens, by default and when asked.
    expect((await create(t, a.token, {})).body.scopes).toEqual(['*'])
    expect((await create(t, a.token, { scopes: ['*'] })).status).toBe(201)
  })

  test('the created token records its creator (API, rotation); the admin CLI records none', async () => {
    const t = await makeTestApp()
    const a = await makeActor(t)
    const child = await create(t, a.token, { scopes: ['tokens:write'] })
    expect(child.body.createdByTokenId).toBe(a.tokenId)
    expect((await findTokenById(t.ctx, child.body.id))!.createdByTokenId).toBe(a.tokenId)
    // A rotation's successor is created by the token that rotated it.
    const rotated = await rotate(t, child.body.token, child.body.id)
    expect(rotated.status).toBe(201)
    expect(rotated.body.createdByTokenId).toBe(child.body.id)
    expect((await findTokenById(t.ctx, a.tokenId))!.createdByTokenId).toBeNull()
    const listed = (await t.req('GET', `/api/v1/tokens/${child.body.id}`, { token: a.token })).body.token
    expect(listed.createdByTokenId).toBe(a.tokenId)
  })
})

describe('rotating and revoking: only itself or tokens it covers', () => {
  test('a tokens:write-only token cannot rotate or revoke a broader sibling; no secret comes back', async () => {
    const t = await makeTestApp()
    const a = await makeActor(t)
    const narrow = await makeToken(t, a, { scopes: ['tokens:write'] })
    const broad = await makeToken(t, a, { scopes: ['agents:read', 'tokens:write'] })
    for (const target of [a.tokenId, broad.id]) {
      const r = await rotate(t, narrow.token, target)
      expect(r.status).toBe(403)
      expect(r.body.code).toBe('insufficient_scope')
      expect(r.body.message).toContain(`cannot rotate token ${target}`)
      expect(r.body).not.toHaveProperty('token')
      expect(r.headers.get('www-authenticate')).toStartWith('Bearer realm="teamday", error="insufficient_scope", scope="')
      const d = await revoke(t, narrow.token, target)
      expect(d.status).toBe(403)
      expect(d.headers.get('www-authenticate')).toStartWith('Bearer realm="teamday", error="insufficient_scope", scope="')
      expect(d.body.message).toContain(`cannot revoke token ${target}`)
      expect((await status(t, target)).revoked).toBe(false)
    }
    expect((await t.req('GET', '/api/v1/tokens', { token: a.token })).status).toBe(200)
    expect((await t.req('GET', '/api/v1/tokens', { token: broad.token })).status).toBe(200)
  })

  test('it can rotate and revoke itself, and tokens whose scopes it covers', async () => {
    const t = await makeTestApp()
    const a = await makeActor(t)
    const narrow = await makeToken(t, a, { scopes: ['tokens:write'] })
    const covered = await makeToken(t, a, { scopes: ['tokens:read'] })
    const peer = await makeToken(t, a, { scopes: ['tokens:write'] })
    expect((await rotate(t, narrow.token, covered.id)).status).toBe(201)
    expect((await revoke(t, narrow.token, peer.id)).status).toBe(200)
    const self = await rotate(t, narrow.token, narrow.id)
    expect(self.status).toBe(201)
    expect(self.body.scopes).toEqual(['tokens:write'])
    expect((await revoke(t, self.body.token, self.body.id)).status).toBe(200)
    // A full token covers everything of its user.
    const other = await makeToken(t, a, { scopes: ['*'] })
    expect((await rotate(t, a.token, other.id)).status).toBe(201)
  })

  test('an admin revokes others\' tokens only with a token that covers them; non-admins still get 404', async () => {
    const t = await makeTestApp()
    const admin = await makeActor(t, { role: 'admin' })
    const member = await makeActor(t)
    const adminNarrow = await makeToken(t, admin, { scopes: ['tokens:write'] })
    const res = await revoke(t, adminNarrow.token, member.tokenId)
    expect(res.status).toBe(403)
    expect(res.body.code).toBe('insufficient_scope')
    expect((await revoke(t, member.token, admin.tokenId)).status).toBe(404)
    expect((await status(t, member.tokenId)).revoked).toBe(false)
    expect((await revoke(t, admin.token, member.tokenId)).status).toBe(200)
  })
})

describe('a refused escalation says what is missing, and is audited once per target', () => {
  test('creating: the message names the scopes the token has and lacks; the audit event names what was asked for and missing', async () => {
    const t = await makeTestApp()
    const a = await makeActor(t, { role: 'admin' })
    const narrow = await makeToken(t, a, { scopes: ['agents:read', 'tokens:write'] })
    const res = await create(t, narrow.token, { scopes: ['agents:read', 'audit:read', 'tasks:write'] })
    expect(res.status).toBe(403)
    expect(res.body.message).toContain('This token has agents:read, tokens:write and lacks audit:read, tasks:write.')
    const ev = (await t.req('GET', `/api/v1/audit-events?type=token.scope_denied&tokenId=${narrow.id}`, { token: a.token })).body.events
    expect(ev).toHaveLength(1)
    expect(ev[0]).toMatchObject({ targetType: null, targetId: null })
    expect(ev[0].details).toEqual({
      action: 'create',
      tokenScopes: ['agents:read', 'tokens:write'],
      requestedScopes: ['agents:read', 'audit:read', 'tasks:write'],
      missingScopes: ['audit:read', 'tasks:write'],
    })
  })

  test('revoking: 403 details name the target, its scopes and what is missing; one audit event per target and minute', async () => {
    const t = await makeTestApp()
    const a = await makeActor(t, { role: 'admin' })
    const narrow = await makeToken(t, a, { scopes: ['tokens:write'] })
    const first = await makeToken(t, a, { scopes: ['agents:read', 'tokens:read'] })
    const second = await makeToken(t, a, { scopes: ['audit:read'] })
    const res = await revoke(t, narrow.token, first.id)
    expect(res.status).toBe(403)
    expect(res.body.details).toEqual({ targetTokenId: first.id, targetScopes: ['agents:read', 'tokens:read'], tokenScopes: ['tokens:write'], missingScopes: ['agents:read'] })
    expect(res.body.message).toContain(`${first.id} also has agents:read.`)
    // The same attempt again within the minute: still one event. Another target: its own event.
    expect((await revoke(t, narrow.token, first.id)).status).toBe(403)
    expect((await revoke(t, narrow.token, second.id)).status).toBe(403)
    const ev = (await t.req('GET', `/api/v1/audit-events?type=token.scope_denied&tokenId=${narrow.id}`, { token: a.token })).body.events
    const byTarget = Object.fromEntries(ev.map((e: any) => [e.targetId, e]))
    expect(ev).toHaveLength(2)
    expect(byTarget[first.id]).toMatchObject({ targetType: 'token', details: { action: 'revoke', targetScopes: ['agents:read', 'tokens:read'], missingScopes: ['agents:read'] } })
    expect(byTarget[second.id]).toMatchObject({ targetType: 'token', details: { action: 'revoke', targetScopes: ['audit:read'], missingScopes: ['audit:read'] } })
  })
})

describe('a compromised creator takes what it created along', () => {
  test('a leak report revokes the tokens the reported one created, transitively; others survive', async () => {
    const t = await makeTestApp()
    const admin = await makeActor(t, { role: 'admin' })
    const a = await makeActor(t)
    const leaked = await makeToken(t, a)
    const unrelated = await makeToken(t, a)
    const child = (await create(t, leaked.token, {})).body
    const grandchild = (await create(t, child.token, { scopes: ['agents:read', 'tokens:write'] })).body
    // A rotation made by the grandchild: created by it, so it goes too.
    const successor = (await rotate(t, grandchild.token, grandchild.id)).body
    expect((await reportLeak(t, leaked.token)).status).toBe(202)
    for (const id of [leaked.id, child.id, successor.id]) expect((await status(t, id)).revoked).toBe(true)
    expect((await status(t, child.id)).reason).toBe('creator_revoked')
    expect((await status(t, successor.id)).reason).toBe('creator_revoked')
    expect((await t.req('GET', '/api/v1/tokens/self', { token: successor.token })).body.code).toBe('token_revoked')
    expect((await status(t, unrelated.id)).revoked).toBe(false)
    expect((await status(t, a.tokenId)).revoked).toBe(false)
    // Audited: on the report, and a token.revoked per cascaded token with its creator.
    const leakEv = (await t.req('GET', '/api/v1/audit-events?type=token.leak_reported', { token: admin.token })).body.events[0]
    expect(leakEv.details.createdTokenIdsRevoked.sort()).toEqual([child.id, successor.id].sort())
    const revokedEv = (await t.req('GET', `/api/v1/audit-events?type=token.revoked&tokenId=${child.id}`, { token: admin.token })).body.events[0]
    expect(revokedEv).toMatchObject({ source: 'leak_report', details: { reason: 'creator_revoked', cause: 'leak_report', createdByTokenId: leaked.id } })
  })

  test('a token created before its creator was revoked still goes when the creator is later reported', async () => {
    const t = await makeTestApp()
    const a = await makeActor(t)
    const creator = await makeToken(t, a)
    const child = (await create(t, creator.token, {})).body
    expect((await revoke(t, a.token, creator.id)).status).toBe(200)
    expect((await status(t, child.id)).revoked).toBe(false)
    await reportLeak(t, creator.token)
    expect((await status(t, child.id))).toEqual({ revoked: true, reason: 'creator_revoked' })
  })

  test('a late rotation of an already-rotated token by another token revokes neither the family nor what its members created', async () => {
    const t = await makeTestApp()
    const a = await makeActor(t)
    const first = await makeToken(t, a)
    const before = (await create(t, first.token, {})).body // made by the first member
    const second = (await rotate(t, first.token, first.id)).body
    const child = (await create(t, second.token, {})).body
    t.clock.advance(60 * 60_000)
    const stale = await rotate(t, a.token, first.id)
    expect([stale.status, stale.body.code]).toEqual([409, 'invalid_state'])
    for (const tok of [second, before, child]) expect((await t.req('GET', '/api/v1/tokens/self', { token: tok.token })).status).toBe(200)
  })

})
