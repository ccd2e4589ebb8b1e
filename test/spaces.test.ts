import { beforeAll, describe, expect, test } from 'bun:test'
import { agents, type Agent } from '../src/db/schema'
import { newId } from '../src/ids'
import { makeActor, makeTestApp, type Actor, type TestApp } from './helpers/app'

/** Factory: an agent row, written straight to the table (the agents API is another module). */
async function makeAgent(t: TestApp, owner: Actor, o: Partial<Agent> = {}): Promise<string> {
  const now = new Date(t.clock.now())
  const id = newId('char')
  await t.db
    .insert(agents)
    .values({ id, organizationId: owner.organizationId, userId: owner.userId, name: 'Agent', slug: id, visibility: 'organization', createdAt: now, updatedAt: now, ...o })
    .run()
  return id
}

const SPACE_KEYS = [
  'agentRefs', 'archived', 'archivedAt', 'createdAt', 'createdBy', 'description', 'id', 'instructions', 'name', 'organizationId', 'secretKeys', 'slug', 'type', 'updatedAt', 'visibility',
].sort()

describe('space lifecycle, as the CLI does it', () => {
  test('create → list → get → patch → delete (archive)', async () => {
    const t = await makeTestApp()
    const a = await makeActor(t, { role: 'member' })
    const created = await t.req('POST', '/api/v1/spaces', {
      token: a.token,
      body: { name: '  Marketing ', description: 'Campaigns', instructions: 'Be brief.', visibility: 'organization', id: 'space_mine', organizationId: 'org_x', createdBy: 'user_x', archived: true },
    })
    expect(created.status).toBe(201)
    const s = created.body.space
    expect(created.body.success).toBe(true)
    expect(s.id).toMatch(/^space_[A-Za-z0-9]{20}$/)
    expect(Object.keys(s).sort()).toEqual(SPACE_KEYS)
    expect(s).toMatchObject({
      name: 'Marketing', description: 'Campaigns', instructions: 'Be brief.', visibility: 'organization', type: 'empty',
      organizationId: a.organizationId, createdBy: a.userId, archived: false, archivedAt: null, agentRefs: [], secretKeys: [],
    })
    expect(s.createdAt).toBe(new Date(t.clock.now()).toISOString())

    const list = await t.req('GET', '/api/v1/spaces', { token: a.token })
    expect(list.status).toBe(200)
    expect(list.body).toMatchObject({ success: true, total: 1 })
    expect(list.body.spaces.map((x: any) => x.id)).toEqual([s.id])

    const one = await t.req('GET', `/api/v1/spaces/${s.id}`, { token: a.token })
    expect(one.status).toBe(200)
    expect(one.body).toEqual({ success: true, space: s })

    t.clock.advance(1000)
    const patched = await t.req('PATCH', `/api/v1/spaces/${s.id}`, { token: a.token, body: { name: 'Sales', description: null, visibility: 'private', createdBy: 'user_x' } })
    expect(patched.status).toBe(200)
    expect(patched.body.space).toMatchObject({ id: s.id, name: 'Sales', description: null, visibility: 'private', instructions: 'Be brief.', createdBy: a.userId })
    expect(patched.body.space.updatedAt).toBe(new Date(t.clock.now()).toISOString())

    const del = await t.req('DELETE', `/api/v1/spaces/${s.id}`, { token: a.token })
    expect(del.status).toBe(200)
    expect(del.body).toEqual({ success: true })
    expect((await t.req('DELETE', `/api/v1/spaces/${s.id}`, { token: a.token })).status).toBe(200) // idempotent
    expect((await t.req('GET', '/api/v1/spaces', { token: a.token })).body).toMatchObject({ spaces: [], total: 0 })
    const withArchived = await t.req('GET', '/api/v1/spaces?archived=true', { token: a.token })
    expect(withArchived.body.spaces[0]).toMatchObject({ id: s.id, archived: true, archivedAt: new Date(t.clock.now()).toISOString() })
    expect((await t.req('GET', `/api/v1/spaces/${s.id}`, { token: a.token })).body.space.archived).toBe(true)
    const restored = await t.req('PATCH', `/api/v1/spaces/${s.id}`, { token: a.token, body: { archived: false } })
    expect(restored.body.space).toMatchObject({ archived: false, archivedAt: null })
  })

  test('type git / starterKit → 422 saying they are not supported yet; no space is created', async () => {
    const t = await makeTestApp()
    const a = await makeActor(t)
    for (const type of ['git', 'starterKit']) {
      const res = await t.req('POST', '/api/v1/spaces', { token: a.token, body: { name: 'Repo', type } })
      expect(res.status).toBe(422)
      expect(res.body.code).toBe('validation_failed')
      expect(res.body.message).toStartWith('Validation failed: type must be "empty": git and starterKit spaces are not supported by this server yet')
      expect(res.body.details[0].field).toBe('type')
    }
    const s = (await t.req('POST', '/api/v1/spaces', { token: a.token, body: { name: 'Plain', type: 'empty' } })).body.space
    expect((await t.req('PATCH', `/api/v1/spaces/${s.id}`, { token: a.token, body: { type: 'git' } })).status).toBe(422)
    expect((await t.req('GET', '/api/v1/spaces', { token: a.token })).body.total).toBe(1)
    const bad = await t.req('POST', '/api/v1/spaces', { token: a.token, body: { name: 'X', type: 'svn' } })
    expect(bad.status).toBe(422)
    expect(bad.body.message).toContain('type must be "empty"')
  })

  test("MCP servers and skills (TeamDay CLI's spaces add-mcp, add-skill, …): 422 naming the field, nothing changed, never a 200 that did nothing", async () => {
    const t = await makeTestApp()
    const a = await makeActor(t)
    const s = (await t.req('POST', '/api/v1/spaces', { token: a.token, body: { name: 'Plain' } })).body.space
    for (const field of ['addMcps', 'removeMcps', 'addSkills', 'removeSkills']) {
      const res = await t.req('PATCH', `/api/v1/spaces/${s.id}`, { token: a.token, body: { name: 'Renamed', [field]: ['mcp_1'] } })
      expect([field, res.status, res.body.code, res.body.details?.[0]?.field]).toEqual([field, 422, 'validation_failed', field])
      expect(res.body.message).toContain('no MCP servers or skills')
    }
    expect((await t.req('GET', `/api/v1/spaces/${s.id}`, { token: a.token })).body.space.name).toBe('Plain')
  })

  test('validation: name, visibility, limits', async () => {
    const t = await makeTestApp()
    const a = await makeActor(t)
    const noName = await t.req('POST', '/api/v1/spaces', { token: a.token, body: { description: 'x' } })
    expect(noName.status).toBe(422)
    expect(noName.body.message).toContain('name must be a string of 1-200 characters (it is required)')
    // Too long was said as "name is required".
    const long = await t.req('POST', '/api/v1/spaces', { token: a.token, body: { name: 'n'.repeat(201) } })
    expect([long.status, long.body.message]).toEqual([422, 'Validation failed: name must be a string of 1-200 characters (it is required)'])
    const blank = await t.req('POST', '/api/v1/spaces', { token: a.token, body: { name: '   ' } })
    expect(blank.status).toBe(422)
    expect(blank.body.details[0].field).toBe('name')
    const vis = await t.req('POST', '/api/v1/spaces', { token: a.token, body: { name: 'A', visibility: 'unlisted' } })
    expect(vis.status).toBe(422)
    expect(vis.body.message).toContain('visibility must be one of private, organization, public')
    expect((await t.req('GET', '/api/v1/spaces?limit=201', { token: a.token })).status).toBe(422)
    expect((await t.req('GET', '/api/v1/spaces?offset=-1', { token: a.token })).status).toBe(422)
  })
})

describe('agents of a space (addCharacters / removeCharacters)', () => {
  let t: TestApp
  let owner: Actor
  let other: Actor
  let foreign: Actor
  beforeAll(async () => {
    t = await makeTestApp()
    owner = await makeActor(t, { role: 'member' })
    other = await makeActor(t, { role: 'member' })
    foreign = await makeActor(t, { role: 'admin', org: 'globex' })
  }, 60_000)

  test('adds visible agents, ignores duplicates, removes; refuses foreign, archived and invisible ones naming them', async () => {
    const mine = await makeAgent(t, owner, { visibility: 'private' })
    const shared = await makeAgent(t, other, { visibility: 'organization' })
    const unlisted = await makeAgent(t, other, { visibility: 'unlisted' })
    const othersPrivate = await makeAgent(t, other, { visibility: 'private' })
    const archived = await makeAgent(t, owner, { archived: true })
    const foreignAgent = await makeAgent(t, foreign, { visibility: 'public' })

    const s = (await t.req('POST', '/api/v1/spaces', { token: owner.token, body: { name: 'Team', addCharacters: [mine] } })).body.space
    expect(s.agentRefs).toEqual([{ agentId: mine, enabled: true, addedAt: new Date(t.clock.now()).toISOString(), addedBy: owner.userId }])

    t.clock.advance(1000)
    const added = await t.req('PATCH', `/api/v1/spaces/${s.id}`, { token: owner.token, body: { addCharacters: [mine, shared, unlisted, shared] } })
    expect(added.status).toBe(200)
    expect(added.body.space.agentRefs.map((r: any) => r.agentId)).toEqual([mine, shared, unlisted])
    expect(added.body.space.agentRefs[0].addedAt).toBe(s.agentRefs[0].addedAt) // the present one untouched

    for (const bad of [othersPrivate, archived, foreignAgent, 'char_doesNotExist']) {
      const res = await t.req('PATCH', `/api/v1/spaces/${s.id}`, { token: owner.token, body: { addCharacters: [shared, bad] } })
      expect(res.status).toBe(422)
      expect(res.body.code).toBe('validation_failed')
      expect(res.body.message).toStartWith('Validation failed: addCharacters')
      expect(res.body.message).toContain(bad)
      expect(res.body.message).not.toContain(shared)
    }
    const onCreate = await t.req('POST', '/api/v1/spaces', { token: owner.token, body: { name: 'X', addCharacters: [foreignAgent] } })
    expect(onCreate.status).toBe(422)

    const removed = await t.req('PATCH', `/api/v1/spaces/${s.id}`, { token: owner.token, body: { removeCharacters: [shared, 'char_notThere'] } })
    expect(removed.body.space.agentRefs.map((r: any) => r.agentId)).toEqual([mine, unlisted])
    const both = await t.req('PATCH', `/api/v1/spaces/${s.id}`, { token: owner.token, body: { addCharacters: [shared], removeCharacters: [shared] } })
    expect(both.status).toBe(422)
  })

  test('agents may be named by slug, as in every agent URL; a slug the caller may not use comes back as sent, never as its id', async () => {
    const reviewer = await makeAgent(t, other, { visibility: 'organization', slug: 'code-reviewer' })
    const writer = await makeAgent(t, owner, { visibility: 'private', slug: 'report-writer' })
    const secret = await makeAgent(t, other, { visibility: 'private', slug: 'others-secret' })
    const created = await t.req('POST', '/api/v1/spaces', { token: owner.token, body: { name: 'By slug', addCharacters: ['code-reviewer', reviewer, 'report-writer'] } })
    expect(created.status).toBe(201)
    expect(created.body.space.agentRefs.map((r: any) => r.agentId)).toEqual([reviewer, writer]) // the slug and the id of one agent: added once
    const space = created.body.space.id
    for (const bad of ['others-secret', 'no-such-agent']) {
      const res = await t.req('PATCH', `/api/v1/spaces/${space}`, { token: owner.token, body: { addCharacters: [bad] } })
      expect(res.status).toBe(422)
      expect(res.body.message).toContain(bad)
      expect(res.text).not.toContain(secret)
    }
    const both = await t.req('PATCH', `/api/v1/spaces/${space}`, { token: owner.token, body: { addCharacters: ['code-reviewer'], removeCharacters: [reviewer] } })
    expect(both.status).toBe(422)
    const removed = await t.req('PATCH', `/api/v1/spaces/${space}`, { token: owner.token, body: { removeCharacters: ['code-reviewer', 'no-such-agent'] } })
    expect(removed.status).toBe(200)
    expect(removed.body.space.agentRefs.map((r: any) => r.agentId)).toEqual([writer])
    const foreignSlug = await makeAgent(t, foreign, { visibility: 'public', slug: 'globex-helper' })
    const res = await t.req('PATCH', `/api/v1/spaces/${space}`, { token: owner.token, body: { addCharacters: ['globex-helper'] } })
    expect(res.status).toBe(422)
    expect(res.text).not.toContain(foreignSlug)
  })

  test('an admin may add another member\'s private agent', async () => {
    const admin = await makeActor(t, { role: 'admin' })
    const hidden = await makeAgent(t, other, { visibility: 'private' })
    const s = (await t.req('POST', '/api/v1/spaces', { token: admin.token, body: { name: 'Ops', addCharacters: [hidden] } }))
    expect(s.status).toBe(201)
    expect(s.body.space.agentRefs[0].agentId).toBe(hidden)
  })

  test("a member sees only the space's agents they may see: another's private agent is left out (its id is 404 for them), an archived one says enabled: false; the stored list keeps both", async () => {
    const admin = await makeActor(t, { role: 'admin' })
    const member = await makeActor(t, { role: 'member' })
    const adminsPrivate = await makeAgent(t, admin, { visibility: 'private' })
    const temp = await makeAgent(t, admin, { visibility: 'organization' })
    const runner = await makeAgent(t, admin, { visibility: 'organization' })
    const created = await t.req('POST', '/api/v1/spaces', { token: admin.token, body: { name: 'Team room', visibility: 'organization', addCharacters: [adminsPrivate, temp, runner] } })
    const space = created.body.space.id
    expect((await t.req('DELETE', `/api/v1/agents/${temp}`, { token: admin.token })).status).toBe(200)
    const shown = (refs: { agentId: string; enabled: boolean }[]) => refs.map((r) => [r.agentId, r.enabled])
    const asMember = (await t.req('GET', `/api/v1/spaces/${space}`, { token: member.token })).body.space
    expect(shown(asMember.agentRefs)).toEqual([[temp, false], [runner, true]])
    const listed = (await t.req('GET', '/api/v1/spaces?limit=200', { token: member.token })).body.spaces.find((x: { id: string }) => x.id === space)
    expect(shown(listed.agentRefs)).toEqual([[temp, false], [runner, true]])
    expect(JSON.stringify(listed)).not.toContain(adminsPrivate)
    // The admin sees all three; the member's change of the list removes only what it names.
    expect(shown((await t.req('GET', `/api/v1/spaces/${space}`, { token: admin.token })).body.space.agentRefs)).toEqual([[adminsPrivate, true], [temp, false], [runner, true]])
    const changed = await t.req('PATCH', `/api/v1/spaces/${space}`, { token: admin.token, body: { removeCharacters: [temp] } })
    expect(shown(changed.body.space.agentRefs)).toEqual([[adminsPrivate, true], [runner, true]])
  })

  test("in the member's own space, an agent they may not see (added by an admin) is unknown to their edits: adding it is 422 as before it was there (no probe), removing it leaves it", async () => {
    const admin = await makeActor(t, { role: 'admin' })
    const member = await makeActor(t, { role: 'member' })
    const hidden = await makeAgent(t, admin, { visibility: 'private', slug: `hidden-${Date.now()}` })
    const mine = await makeAgent(t, member, { visibility: 'private' })
    const space = (await t.req('POST', '/api/v1/spaces', { token: member.token, body: { name: 'Mine', visibility: 'organization', addCharacters: [mine] } })).body.space.id
    const probe = async () => t.req('PATCH', `/api/v1/spaces/${space}`, { token: member.token, body: { addCharacters: [hidden] } })
    const before = await probe()
    expect(before.status).toBe(422)
    expect((await t.req('PATCH', `/api/v1/spaces/${space}`, { token: admin.token, body: { addCharacters: [hidden] } })).status).toBe(200)
    const after = await probe()
    expect([after.status, after.body.message]).toEqual([422, before.body.message])
    const removed = await t.req('PATCH', `/api/v1/spaces/${space}`, { token: member.token, body: { removeCharacters: [hidden] } })
    expect(removed.status).toBe(200)
    const stored = (await t.req('GET', `/api/v1/spaces/${space}`, { token: admin.token })).body.space.agentRefs.map((r: { agentId: string }) => r.agentId)
    expect(stored).toEqual([mine, hidden])
  })
})

describe('visibility, roles and other organizations', () => {
  let t: TestApp
  let admin: Actor, alice: Actor, bob: Actor, viewer: Actor, outsider: Actor
  const ids: Record<string, string> = {}
  beforeAll(async () => {
    t = await makeTestApp()
    admin = await makeActor(t, { role: 'admin' })
    alice = await makeActor(t, { role: 'member' })
    bob = await makeActor(t, { role: 'member' })
    viewer = await makeActor(t, { role: 'viewer' })
    outsider = await makeActor(t, { role: 'admin', org: 'globex' })
    const mk = async (who: Actor, name: string, visibility: string) => {
      t.clock.advance(1000)
      ids[name] = (await t.req('POST', '/api/v1/spaces', { token: who.token, body: { name, visibility } })).body.space.id
    }
    await mk(alice, 'alicePrivate', 'private')
    await mk(alice, 'aliceOrg', 'organization')
    await mk(bob, 'bobPublic', 'public')
    await mk(bob, 'bobPrivate', 'private')
    await mk(outsider, 'globexOrg', 'organization')
  }, 60_000)

  const names = async (who: Actor) => (await t.req('GET', '/api/v1/spaces', { token: who.token })).body.spaces.map((s: any) => s.name)

  test('lists: own + shared for members and viewers, everything of the org for admins, never another org', async () => {
    expect(await names(alice)).toEqual(['bobPublic', 'aliceOrg', 'alicePrivate'])
    expect(await names(bob)).toEqual(['bobPrivate', 'bobPublic', 'aliceOrg'])
    expect(await names(viewer)).toEqual(['bobPublic', 'aliceOrg'])
    expect(await names(admin)).toEqual(['bobPrivate', 'bobPublic', 'aliceOrg', 'alicePrivate'])
    expect(await names(outsider)).toEqual(['globexOrg'])
    const body = (await t.req('GET', '/api/v1/spaces', { token: admin.token })).text
    expect(body).not.toContain(ids.globexOrg!)
  })

  test('404 for another member\'s private space, another organization\'s space and unknown ids, on every route', async () => {
    for (const [who, id] of [[bob, ids.alicePrivate], [viewer, ids.alicePrivate], [admin, ids.globexOrg], [alice, 'space_unknown']] as const) {
      for (const [method, path, body] of [
        ['GET', '', undefined], ['PATCH', '', { name: 'x' }], ['DELETE', '', undefined],
        ['GET', '/secrets', undefined], ['POST', '/secrets', { secrets: { A: 'b' } }], ['DELETE', '/secrets', { keys: ['A'] }],
      ] as const) {
        const res = await t.req(method, `/api/v1/spaces/${id}${path}`, { token: who.token, body })
        // A viewer's role stops writes before any look-up (403), which reveals nothing either.
        const expected = who === viewer && method !== 'GET' ? [403, 'forbidden'] : [404, 'not_found']
        expect([method, path, res.status, res.body.code]).toEqual([method, path, ...expected])
      }
    }
  })

  test('members change only their own spaces (403 on a shared one), admins any, viewers nothing', async () => {
    const res = await t.req('PATCH', `/api/v1/spaces/${ids.aliceOrg}`, { token: bob.token, body: { name: 'hijack' } })
    expect(res.status).toBe(403)
    expect(res.body.code).toBe('forbidden')
    expect(res.body.message).toStartWith('Forbidden: ')
    expect((await t.req('DELETE', `/api/v1/spaces/${ids.aliceOrg}`, { token: bob.token })).status).toBe(403)
    expect((await t.req('GET', `/api/v1/spaces/${ids.aliceOrg}`, { token: bob.token })).status).toBe(200)

    const v = await t.req('PATCH', `/api/v1/spaces/${ids.aliceOrg}`, { token: viewer.token, body: { name: 'x' } })
    expect([v.status, v.body.code]).toEqual([403, 'forbidden'])
    expect((await t.req('POST', '/api/v1/spaces', { token: viewer.token, body: { name: 'x' } })).status).toBe(403)
    expect((await t.req('GET', `/api/v1/spaces/${ids.aliceOrg}`, { token: viewer.token })).status).toBe(200)

    const byAdmin = await t.req('PATCH', `/api/v1/spaces/${ids.alicePrivate}`, { token: admin.token, body: { instructions: 'hi' } })
    expect(byAdmin.status).toBe(200)
    expect(byAdmin.body.space.createdBy).toBe(alice.userId)
  })

  test('no token → 401', async () => {
    const res = await t.req('GET', '/api/v1/spaces')
    expect(res.status).toBe(401)
  })
})

describe('pagination', () => {
  test('limit / offset / total, newest first; past the end keeps total', async () => {
    const t = await makeTestApp()
    const a = await makeActor(t)
    for (let i = 0; i < 7; i++) {
      t.clock.advance(1000)
      await t.req('POST', '/api/v1/spaces', { token: a.token, body: { name: `s${i}` } })
    }
    const page = await t.req('GET', '/api/v1/spaces?limit=3&offset=2', { token: a.token })
    expect(page.body.total).toBe(7)
    expect(page.body.spaces.map((s: any) => s.name)).toEqual(['s4', 's3', 's2'])
    const past = await t.req('GET', '/api/v1/spaces?limit=3&offset=50', { token: a.token })
    expect(past.body).toMatchObject({ spaces: [], total: 7 })
    const all = await t.req('GET', '/api/v1/spaces', { token: a.token })
    expect(all.body.spaces.length).toBe(7)
  })
})

describe('agents added to one space at once', () => {
  test('ten concurrent PATCHes adding ten different agents keep all ten (read and written in one transaction)', async () => {
    const x = await makeTestApp()
    const a = await makeActor(x, { role: 'admin' })
    const ids: string[] = []
    for (let i = 0; i < 10; i++) ids.push((await x.req('POST', '/api/v1/agents', { token: a.token, body: { name: `Agent ${i}`, visibility: 'organization' } })).body.id)
    const created = await x.req('POST', '/api/v1/spaces', { token: a.token, body: { name: 'Busy space' } })
    const spaceId = (created.body.space ?? created.body).id
    const results = await Promise.all(ids.map((id) => x.req('PATCH', `/api/v1/spaces/${spaceId}`, { token: a.token, body: { addCharacters: [id] } })))
    expect(results.map((r) => r.status)).toEqual(Array(10).fill(200))
    const got = await x.req('GET', `/api/v1/spaces/${spaceId}`, { token: a.token })
    const space = got.body.space ?? got.body
    expect(space.agentRefs.map((r: any) => r.agentId).sort()).toEqual([...ids].sort())
  })
})
