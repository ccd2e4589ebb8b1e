import { beforeEach, describe, expect, test } from 'bun:test'
import { Value } from '@sinclair/typebox/value'
import { assertCanManageMembers, canManageMembers, mayLeaveWithoutAdmin } from '../src/modules/members/access'
import { AddedMember, MemberEnvelope, MemberList, RemovedMember } from '../src/modules/members/model'
import { setMemberRole } from '../src/modules/members/service'
import { removeMember as removeMemberByEmail } from '../src/modules/users/service'
import { sessions } from '../src/db/schema'
import { eq } from 'drizzle-orm'
import { makeActor, makeTestApp, makeToken, type Actor, type TestApp } from './helpers/app'
import { consoleClient, givePassword } from './helpers/console'

/** Issue 14: members over the API (organization admins). */

const conforms = (schema: Parameters<typeof Value.Check>[0], body: unknown) => expect([...Value.Errors(schema, body)].map((e) => `${e.path}: ${e.message}`)).toEqual([])

let t: TestApp
let admin: Actor
let member: Actor
let viewer: Actor
let adminB: Actor
let base: string

beforeEach(async () => {
  t = await makeTestApp()
  admin = await makeActor(t, { role: 'admin', email: 'root@acme.test' })
  member = await makeActor(t, { role: 'member', email: 'mem@acme.test' })
  viewer = await makeActor(t, { role: 'viewer', email: 'view@acme.test' })
  adminB = await makeActor(t, { role: 'admin', org: 'beta', email: 'root@beta.test' })
  base = `/api/v1/organizations/${admin.organizationId}/members`
})

const as = (who: Actor | string) => (typeof who === 'string' ? who : who.token)
const list = (who: Actor | string, q = '') => t.req('GET', `${base}${q}`, { token: as(who) })
const add = (who: Actor | string, body: unknown) => t.req('POST', base, { token: as(who), body })
const setRole = (who: Actor | string, userId: string, role: string) => t.req('PATCH', `${base}/${userId}`, { token: as(who), body: { role } })
const remove = (who: Actor | string, userId: string) => t.req('DELETE', `${base}/${userId}`, { token: as(who) })

describe('list, add, change a role, remove', () => {
  test('the whole flow, each answer in its declared shape', async () => {
    const before = await list(admin)
    expect(before.status).toBe(200)
    conforms(MemberList, before.body)
    expect(before.body.total).toBe(3)
    expect(before.body.members.map((m: any) => m.email).sort()).toEqual(['mem@acme.test', 'root@acme.test', 'view@acme.test'])
    expect(before.body.members.find((m: any) => m.userId === admin.userId)).toEqual({
      userId: admin.userId,
      email: 'root@acme.test',
      name: null,
      role: 'admin',
      joinedAt: new Date(t.clock.now()).toISOString(),
      lastSignInAt: null,
    })

    t.clock.advance(1000)
    const added = await add(admin, { email: '  Ada@Example.COM ', role: 'member', name: 'Ada Lovelace' })
    expect(added.status).toBe(201)
    conforms(AddedMember, added.body)
    expect(added.body).toMatchObject({ success: true, createdUser: true, member: { email: 'ada@example.com', name: 'Ada Lovelace', role: 'member', lastSignInAt: null } })
    const ada = added.body.member.userId as string
    expect(ada).toMatch(/^user_[A-Za-z0-9]{20}$/)

    // Newest first.
    const after = await list(admin)
    expect(after.body.total).toBe(4)
    expect(after.body.members[0].userId).toBe(ada)

    const promoted = await setRole(admin, ada, 'admin')
    expect(promoted.status).toBe(200)
    conforms(MemberEnvelope, promoted.body)
    expect(promoted.body.member).toMatchObject({ userId: ada, role: 'admin' })
    // The same role again is a no-op, not an error.
    expect((await setRole(admin, ada, 'admin')).status).toBe(200)

    const removed = await remove(admin, ada)
    expect(removed.status).toBe(200)
    conforms(RemovedMember, removed.body)
    expect(removed.body).toMatchObject({ success: true, member: { userId: ada, role: 'admin' }, revokedTokenIds: [] })
    expect((await list(admin)).body.total).toBe(3)
    expect((await remove(admin, ada)).body.code).toBe('not_found')
  })

  test('an account of another organization is not attached by an admin (409, nothing about it shown): e-mails are not verified, so it may not be that person; the operator adds it', async () => {
    const r = await add(admin, { email: 'ROOT@beta.test', role: 'viewer', name: 'Not used' })
    expect(r.status).toBe(409)
    expect(r.body.code).toBe('conflict')
    expect(r.body.message).toContain('teamday users create --email root@beta.test')
    expect(r.text).not.toContain(adminB.userId)
    expect((await t.req('GET', `/api/v1/organizations/${admin.organizationId}/members`, { token: admin.token })).text).not.toContain(adminB.userId)
    // The operator can, and the account keeps its role in organization B.
    const { createUser } = await import('../src/modules/users/service')
    await createUser(t.ctx, { email: 'root@beta.test', orgSlug: admin.orgSlug, role: 'viewer' })
    expect((await t.req('GET', `/api/v1/organizations/${admin.organizationId}/members`, { token: admin.token })).text).toContain(adminB.userId)
    expect((await t.req('GET', '/api/v1/tokens/self', { token: adminB.token })).body.token.role).toBe('admin')
  })

  test('an account claimed ahead (an e-mail changed to one this organization will add) does not get in', async () => {
    // A member of organization B takes an address organization A is about to add.
    const claimer = await makeActor(t, { org: 'beta', email: 'claimer@beta.test' })
    const { users } = await import('../src/db/schema')
    const { eq } = await import('drizzle-orm')
    await t.db.update(users).set({ email: 'new.cfo@acme.test', passwordHash: 'x' }).where(eq(users.id, claimer.userId))
    const r = await add(admin, { email: 'new.cfo@acme.test', role: 'admin' })
    expect(r.status).toBe(409)
    expect((await t.req('GET', `/api/v1/organizations/${admin.organizationId}/members`, { token: admin.token })).text).not.toContain(claimer.userId)
  })

  test('adding a member again is 409 already_member and changes nothing', async () => {
    const r = await add(admin, { email: 'mem@acme.test', role: 'admin' })
    expect(r.status).toBe(409)
    expect(r.body).toMatchObject({ code: 'already_member', details: { userId: member.userId, role: 'member' } })
    expect(r.body.message).toContain('already')
    expect(r.body.message).toContain(`PATCH /api/v1/organizations/${admin.organizationId}/members/${member.userId}`)
    expect((await t.req('GET', '/api/v1/tokens/self', { token: member.token })).body.token.role).toBe('member')
  })

  test('validation: e-mail, role, name, unknown fields ignored', async () => {
    for (const [body, field] of [
      [{ email: 'not-an-email', role: 'member' }, 'email'],
      [{ email: 'a@b.co', role: 'owner' }, 'role'],
      [{ email: 'a@b.co' }, 'role'],
      [{ role: 'member' }, 'email'],
      [{ email: 'a@b.co', role: 'member', name: '' }, 'name'],
      [{ email: `${'x'.repeat(250)}@b.co`, role: 'member' }, 'email'],
      // Not addresses, though each has one @ and no space: a second account beside a@b.co, markup, a quoted name.
      [{ email: 'a@b.co.', role: 'member' }, 'email'],
      [{ email: '<a@b.co>', role: 'member' }, 'email'],
      [{ email: 'x"><script>alert(1)</script>@b.co', role: 'member' }, 'email'],
      [{ email: '"a b"@b.co', role: 'member' }, 'email'],
      [{ email: '.a@b.co', role: 'member' }, 'email'],
      [{ email: 'a..b@b.co', role: 'member' }, 'email'],
      [{ email: 'a@-b.co', role: 'member' }, 'email'],
      [{ email: 'a@b..co', role: 'member' }, 'email'],
      [{ email: `${'x'.repeat(65)}@b.co`, role: 'member' }, 'email'],
    ] as const) {
      const r = await add(admin, body)
      expect({ body, status: r.status, code: r.body.code }).toEqual({ body, status: 422, code: 'validation_failed' })
      expect(JSON.stringify(r.body.details)).toContain(field)
    }
    const badRole = await setRole(admin, member.userId, 'root')
    expect(badRole.status).toBe(422)
    expect(badRole.body.message).toContain('role must be one of')
    expect((await list(admin)).body.total).toBe(3)
    // What addresses look like: plus tags, dots, digits, hyphens, a single-label host, Unicode.
    for (const email of ['first.last+ci@mail.example-corp.co', "o'brien_1@example.com", 'ops@localhost', 'josé@exämple.de']) {
      const ok = await add(admin, { email, role: 'viewer' })
      expect([email, ok.status]).toEqual([email, 201])
      expect(ok.body.member.email).toBe(email)
    }
    // Mass assignment: an id or organization in the body is ignored.
    const r = await add(admin, { email: 'eve@example.com', role: 'viewer', userId: admin.userId, organizationId: adminB.organizationId })
    expect(r.status).toBe(201)
    expect(r.body.member.userId).not.toBe(admin.userId)
    expect((await t.req('GET', `/api/v1/organizations/${adminB.organizationId}/members`, { token: adminB.token })).body.total).toBe(1)
  })

  test('paging: limit and cursor, newest first, no repeats', async () => {
    for (let i = 0; i < 4; i++) {
      t.clock.advance(1000)
      expect((await add(admin, { email: `p${i}@example.com`, role: 'viewer' })).status).toBe(201)
    }
    const seen: string[] = []
    let cursor = ''
    for (let pages = 0; pages < 10; pages++) {
      const r = await list(admin, `?limit=3${cursor ? `&cursor=${cursor}` : ''}`)
      expect(r.status).toBe(200)
      expect(r.body.total).toBe(7)
      seen.push(...r.body.members.map((m: any) => m.email))
      if (!r.body.nextCursor) break
      cursor = r.body.nextCursor
    }
    expect(seen.slice(0, 4)).toEqual(['p3@example.com', 'p2@example.com', 'p1@example.com', 'p0@example.com'])
    expect(new Set(seen).size).toBe(7)
    expect((await list(admin, '?limit=0')).status).toBe(422)
    expect((await list(admin, '?cursor=nonsense')).body.code).toBe('bad_request')
  })
})

describe('the last admin', () => {
  test('cannot be demoted or removed (409 last_admin); with a second admin both work', async () => {
    const demote = await setRole(admin, admin.userId, 'member')
    expect(demote.status).toBe(409)
    expect(demote.body.code).toBe('last_admin')
    expect(demote.body.message).toContain('last admin')
    const rm = await remove(admin, admin.userId)
    expect(rm.status).toBe(409)
    expect(rm.body.code).toBe('last_admin')
    // Still an admin, token still works.
    expect((await list(admin)).status).toBe(200)

    expect((await setRole(admin, member.userId, 'admin')).status).toBe(200)
    // Now the first admin may step down, and the second may not follow.
    const down = await setRole(admin, admin.userId, 'viewer')
    expect(down.status).toBe(200)
    // The demotion applies from the next request: no more members:read.
    expect((await list(admin)).body.code).toBe('forbidden')
    expect((await setRole(member, member.userId, 'member')).body.code).toBe('last_admin')
    expect((await remove(member, member.userId)).body.code).toBe('last_admin')
    // Removing a non-admin never needs another admin.
    expect((await remove(member, viewer.userId)).status).toBe(200)
  })

  test('an admin may remove themselves when another admin remains; their token stops at once', async () => {
    const second = await makeActor(t, { role: 'admin' })
    const r = await remove(admin, admin.userId)
    expect(r.status).toBe(200)
    expect(r.body.revokedTokenIds).toEqual([admin.tokenId])
    expect((await list(admin)).body.code).toBe('membership_revoked')
    expect((await list(second)).body.total).toBe(3)
  })
})

describe('the rule (members/access.ts)', () => {
  test('admins of the organization, the operator and the server; nobody else', () => {
    const token = (organizationId: string, role: 'admin' | 'member' | 'viewer') => ({
      kind: 'token' as const,
      principal: { userId: 'user_x', email: 'x@y.z', organizationId, role, tokenId: 'pat_x', tokenExpiresAt: new Date(0), scopes: ['*'], credential: 'pat' as const },
    })
    expect(canManageMembers(token('org_a', 'admin'), 'org_a')).toBe(true)
    expect(canManageMembers(token('org_a', 'member'), 'org_a')).toBe(false)
    expect(canManageMembers(token('org_a', 'viewer'), 'org_a')).toBe(false)
    expect(canManageMembers(token('org_b', 'admin'), 'org_a')).toBe(false)
    expect(canManageMembers({ kind: 'operator' }, 'org_a')).toBe(true)
    expect(canManageMembers({ kind: 'system' }, 'org_a')).toBe(true)
    expect(canManageMembers({ kind: 'anonymous', via: 'api' }, 'org_a')).toBe(false)
    expect(mayLeaveWithoutAdmin(token('org_a', 'admin'))).toBe(false)
    expect(mayLeaveWithoutAdmin({ kind: 'operator' })).toBe(true)
  })

  test('a console session is held to the same rule: its admins manage members; others are 403 in their organization, 404 in another', () => {
    const session = (organizationId: string, role: 'admin' | 'member' | 'viewer') => ({
      kind: 'session' as const,
      sessionId: 'sess_x',
      principal: { userId: 'user_x', email: 'x@y.z', organizationId, role, tokenId: null, scopes: ['*'] },
    })
    const token = (organizationId: string, role: 'admin' | 'member' | 'viewer') => ({
      kind: 'token' as const,
      principal: { userId: 'user_x', email: 'x@y.z', organizationId, role, tokenId: 'pat_x', tokenExpiresAt: new Date(0), scopes: ['*'], credential: 'pat' as const },
    })
    expect(canManageMembers(session('org_a', 'admin'), 'org_a')).toBe(true)
    expect(canManageMembers(session('org_a', 'member'), 'org_a')).toBe(false)
    expect(canManageMembers(session('org_b', 'admin'), 'org_a')).toBe(false)
    expect(() => assertCanManageMembers(session('org_a', 'admin'), 'org_a')).not.toThrow()
    expect(() => assertCanManageMembers({ kind: 'operator' }, 'org_a')).not.toThrow()
    // A non-admin of the organization is told why (403); anyone else learns nothing (404).
    for (const who of [session('org_a', 'member'), session('org_a', 'viewer'), token('org_a', 'member'), token('org_a', 'viewer')]) {
      expect(() => assertCanManageMembers(who, 'org_a')).toThrow(expect.objectContaining({ code: 'forbidden', status: 403 }))
    }
    expect(() => assertCanManageMembers({ kind: 'anonymous', via: 'api' }, 'org_a')).toThrow(expect.objectContaining({ code: 'not_found', status: 404, message: 'Organization org_a not found' }))
    // A caller with an organization is told the id the path takes, theirs (its slug was "not found" beside it).
    for (const who of [session('org_b', 'admin'), token('org_b', 'admin')]) {
      expect(() => assertCanManageMembers(who, 'org_a')).toThrow(expect.objectContaining({ code: 'not_found', status: 404, message: 'Organization org_a not found: the path takes an organization id (org_…), and yours is org_b' }))
    }
    // The id is echoed cut to 100 characters.
    const long = `org_${'x'.repeat(200)}`
    expect(() => assertCanManageMembers({ kind: 'anonymous', via: 'api' }, long)).toThrow(expect.objectContaining({ message: `Organization ${long.slice(0, 100)} not found` }))
  })

  test('the operator (admin CLI) may demote the last admin: it is the way back in', async () => {
    const r = await setMemberRole(t.ctx, admin.organizationId, admin.userId, 'member')
    expect(r).toMatchObject({ previousRole: 'admin', member: { role: 'member' } })
    expect((await list(admin)).body.code).toBe('forbidden')
  })
})

describe('removing a member revokes their tokens in the organization', () => {
  test('every token of theirs is 401 membership_revoked on the next request (token_revoked once they are back); elsewhere untouched; audited', async () => {
    const extra = await makeToken(t, member, { scopes: ['agents:read'] })
    const elsewhere = await makeActor(t, { org: 'beta', email: 'mem@acme.test' })
    expect((await t.req('GET', '/api/v1/agents', { token: member.token })).status).toBe(200)

    const r = await remove(admin, member.userId)
    expect(r.status).toBe(200)
    expect(r.body.revokedTokenIds.sort()).toEqual([member.tokenId, extra.id].sort())
    for (const token of [member.token, extra.token]) {
      const res = await t.req('GET', '/api/v1/agents', { token })
      expect(res.status).toBe(401)
      // Says why, and what to do: not "create a new token", which they no longer can.
      expect(res.body.code).toBe('membership_revoked')
      expect(res.body.message).toContain('no longer a member')
    }
    expect((await t.req('GET', '/api/v1/agents', { token: elsewhere.token })).status).toBe(200)

    // Added again, they get no old token back.
    expect((await add(admin, { email: 'mem@acme.test', role: 'member' })).body.createdUser).toBe(false)
    expect((await t.req('GET', '/api/v1/agents', { token: member.token })).body.code).toBe('token_revoked')

    const events = async (type: string) => (await t.req('GET', `/api/v1/audit-events?type=${type}`, { token: admin.token })).body.events
    const removed = await events('member.removed')
    expect(removed).toHaveLength(1)
    expect(removed[0]).toMatchObject({ source: 'api', actorUserId: admin.userId, targetType: 'user', targetId: member.userId, details: { role: 'member' } })
    expect(removed[0].details.revokedTokenIds.sort()).toEqual([member.tokenId, extra.id].sort())
    const revoked = (await events('token.revoked')).filter((e: any) => e.details.reason === 'membership_removed')
    expect(revoked.map((e: any) => e.tokenId).sort()).toEqual([member.tokenId, extra.id].sort())
  })

  test('their console sessions in the organization end too, on the API and the admin CLI alike: added again, an old cookie is still signed out', async () => {
    for (const how of ['api', 'cli'] as const) {
      const who = await makeActor(t, { role: 'member' })
      await givePassword(t, who.userId)
      const c = consoleClient(t)
      expect((await c.signIn(who.email)).status).toBe(303)
      expect((await c.get('/settings/profile')).status).toBe(200)
      if (how === 'api') expect((await remove(admin, who.userId)).status).toBe(200)
      else await removeMemberByEmail(t.ctx, who.email, who.orgSlug)
      // Added back, as an admin this time: the cookie from before must not come back with that role.
      expect((await add(admin, { email: who.email, role: 'admin' })).status).toBe(201)
      const again = await c.get('/settings/profile')
      expect([how, again.status, again.headers.get('location')]).toEqual([how, 303, expect.stringContaining('/login')])
      expect(await t.db.select().from(sessions).where(eq(sessions.userId, who.userId)).all()).toEqual([])
    }
  })

  test('e-mails with hidden characters (zero-width, bidirectional, controls) and names that hide or reorder text are refused, not stored', async () => {
    // "\u202emoc.elpmaxe@nimda" shows as "admin@example.com" in an admin's table.
    for (const email of ['\u202emoc.elpmaxe@nimda', 'a\u200bb@example.com', 'ab@exa\u00admple.com', 'x\u0007@example.com']) {
      const res = await add(admin, { email, role: 'member' })
      expect([JSON.stringify(email), res.status, res.body.details?.[0]?.field]).toEqual([JSON.stringify(email), 422, 'email'])
      expect(res.body.message).not.toContain(email)
    }
    // Too long was said as "email is required".
    for (const email of [`${'a'.repeat(64)}@${'b'.repeat(186)}.com`, '']) {
      const res = await add(admin, { email, role: 'member' })
      expect([email.length, res.status, res.body.message]).toEqual([email.length, 422, 'Validation failed: email must be an e-mail address of at most 254 characters (it is required)'])
    }
    for (const name of ['Ada\u202e', '\u200b', 'x'.repeat(101)]) {
      const res = await add(admin, { email: `n${name.length}@example.com`, name, role: 'member' })
      expect([JSON.stringify(name).slice(0, 20), res.status, res.body.details?.[0]?.field]).toEqual([JSON.stringify(name).slice(0, 20), 422, 'name'])
    }
    const ok = await add(admin, { email: 'zoe@example.com', name: '  Zoë Ørsted  ', role: 'member' })
    expect(ok.status).toBe(201)
    expect(ok.body.member.name).toBe('Zoë Ørsted')
  })

  test('adds and role changes are audited with who did it', async () => {
    const ada = (await add(admin, { email: 'ada@example.com', role: 'viewer' })).body.member.userId
    await setRole(admin, ada, 'member')
    const events = (await t.req('GET', '/api/v1/audit-events', { token: admin.token })).body.events
    const added = events.find((e: any) => e.type === 'member.added' && e.targetId === ada)
    expect(added).toMatchObject({ source: 'api', actorUserId: admin.userId, actorTokenId: admin.tokenId, details: { role: 'viewer', createdUser: true } })
    const changed = events.find((e: any) => e.type === 'member.role_changed')
    expect(changed).toMatchObject({ source: 'api', actorUserId: admin.userId, targetId: ada, details: { from: 'viewer', to: 'member' } })
  })
})

describe('who may', () => {
  test('members and viewers: 403 forbidden on every members route, even for themselves', async () => {
    for (const who of [member, viewer]) {
      for (const res of [await list(who), await add(who, { email: 'x@y.z', role: 'admin' }), await setRole(who, who.userId, 'admin'), await remove(who, who.userId)]) {
        expect(res.status).toBe(403)
        expect(res.body.code).toBe('forbidden')
      }
    }
    expect((await t.req('GET', '/api/v1/tokens/self', { token: member.token })).body.token.role).toBe('member')
  })

  test('scopes: members:read lists only; members:write does everything; other scopes are refused', async () => {
    const read = (await makeToken(t, admin, { scopes: ['members:read'] })).token
    const write = (await makeToken(t, admin, { scopes: ['members:write'] })).token
    const other = (await makeToken(t, admin, { scopes: ['agents:write', 'audit:read', 'tokens:write'] })).token
    expect((await list(read)).status).toBe(200)
    const denied = await add(read, { email: 'a@b.co', role: 'member' })
    expect(denied.status).toBe(403)
    expect(denied.body).toMatchObject({ code: 'insufficient_scope', details: { requiredScopes: ['members:write'] } })
    expect((await list(write)).status).toBe(200)
    const ada = (await add(write, { email: 'a@b.co', role: 'member' })).body.member.userId
    expect((await setRole(write, ada, 'viewer')).status).toBe(200)
    expect((await remove(write, ada)).status).toBe(200)
    for (const res of [await list(other), await add(other, { email: 'c@d.co', role: 'member' }), await remove(other, member.userId)]) {
      expect(res.body.code).toBe('insufficient_scope')
    }
  })

  test('a member may hold a members:write token, but their role bounds it: 403 forbidden', async () => {
    const r = await t.req('POST', '/api/v1/tokens', { token: member.token, body: { name: 'try', scopes: ['members:write'] } })
    expect(r.status).toBe(201)
    expect((await list(r.body.token)).body).toMatchObject({ code: 'forbidden', details: { requiredPermission: 'members:read', role: 'member' } })
    expect((await add(r.body.token, { email: 'x@y.z', role: 'admin' })).body.code).toBe('forbidden')
  })

  test("another organization's members: 404 on every route, nothing revealed or changed", async () => {
    const foreign = [
      await list(adminB),
      await add(adminB, { email: 'spy@beta.test', role: 'admin' }),
      await setRole(adminB, admin.userId, 'viewer'),
      await remove(adminB, admin.userId),
    ]
    for (const res of foreign) {
      expect(res.status).toBe(404)
      expect(res.body.code).toBe('not_found')
      expect(res.text).not.toContain(admin.userId)
      expect(res.text).not.toContain('root@acme.test')
    }
    // An unknown organization id answers the same.
    expect((await t.req('GET', '/api/v1/organizations/org_doesNotExist000000/members', { token: adminB.token })).status).toBe(404)
    // A user of organization B named in organization A's URL, by A's admin: not a member here.
    expect((await setRole(admin, adminB.userId, 'viewer')).status).toBe(404)
    expect((await remove(admin, adminB.userId)).status).toBe(404)
    expect((await list(admin)).body.total).toBe(3)
    expect((await t.req('GET', '/api/v1/tokens/self', { token: adminB.token })).body.token.role).toBe('admin')
  })

  test('no token: 401', async () => {
    expect((await t.req('GET', base)).status).toBe(401)
    expect((await t.req('POST', base, { body: { email: 'a@b.co', role: 'admin' } })).status).toBe(401)
  })
})

describe("an admin's requests in flight when they are demoted or removed", () => {
  // The role a request authenticated with is checked again inside the transaction that changes
  // members (withTx, src/auth/current-role.ts). On PostgreSQL one user's requests run in
  // parallel: B's own "make me admin" and "add me back" requests, authenticated as admin just
  // before A's demotion or removal, committed after it and undid it.
  const roleOf = async (t: TestApp, org: string, user: string) => {
    const r = await t.req('GET', `/api/v1/organizations/${org}/members?limit=200`, { token: (await makeActor(t, { role: 'admin', org: 'acme' })).token })
    return (r.body.members as { userId: string; role: string }[]).find((m) => m.userId === user)?.role ?? 'none'
  }

  test('demoted: no request of theirs makes them admin again', async () => {
    for (let round = 0; round < 4; round++) {
      const t = await makeTestApp()
      const a = await makeActor(t, { role: 'admin' })
      const b = await makeActor(t, { role: 'admin' })
      const path = `/api/v1/organizations/${a.organizationId}/members/${b.userId}`
      const again = () => t.req('PATCH', path, { token: b.token, body: { role: 'admin' } })
      const rs = await Promise.all([again(), again(), t.req('PATCH', path, { token: a.token, body: { role: 'member' } }), again(), again(), again()])
      expect(rs[2]!.status).toBe(200)
      for (const r of rs) expect([200, 401, 403]).toContain(r.status)
      expect(await roleOf(t, a.organizationId, b.userId)).toBe('member')
      await t.rt.close()
    }
  }, 60_000)

  test('removed: no request of theirs adds them back', async () => {
    for (let round = 0; round < 4; round++) {
      const t = await makeTestApp()
      const a = await makeActor(t, { role: 'admin' })
      const b = await makeActor(t, { role: 'admin' })
      const base = `/api/v1/organizations/${a.organizationId}/members`
      const back = () => t.req('POST', base, { token: b.token, body: { email: b.email, role: 'admin' } })
      const rs = await Promise.all([back(), back(), t.req('DELETE', `${base}/${b.userId}`, { token: a.token }), back(), back(), back()])
      expect(rs[2]!.status).toBe(200)
      for (const r of rs) expect(r.status).not.toBeGreaterThanOrEqual(500)
      expect(await roleOf(t, a.organizationId, b.userId)).toBe('none')
      await t.rt.close()
    }
  }, 60_000)
})
