import { beforeAll, describe, expect, test } from 'bun:test'
import { Value } from '@sinclair/typebox/value'
import { AgentArchived, AgentEnvelope, AgentList, AgentWithCharacter, CreatedAgent } from '../src/modules/agents/model'
import { makeActor, makeTestApp, type Actor, type TestApp } from './helpers/app'
import { agent as storedAgent } from './helpers/scripted-provider'

/** The body matches the route's declared response schema. */
const conforms = (schema: Parameters<typeof Value.Check>[0], body: unknown) => expect([...Value.Errors(schema, body)].map((e) => `${e.path}: ${e.message}`)).toEqual([])

const AGENT_KEYS = [
  'id', 'name', 'slug', 'role', 'systemPrompt', 'description', 'category', 'visibility', 'model', 'tags', 'advanced_tools', 'allowedTools',
  'disallowedTools', 'mcpTypes', 'mcpInstanceIds', 'subagentIds', 'maxTurns', 'organizationId', 'userId', 'archived', 'archivedAt', 'createdAt', 'updatedAt',
].sort()
const ARRAYS = ['tags', 'advanced_tools', 'allowedTools', 'disallowedTools', 'mcpTypes', 'mcpInstanceIds', 'subagentIds'] as const

let t: TestApp
let admin: Actor
let memberA: Actor
let memberB: Actor
let viewer: Actor
let otherOrg: Actor

beforeAll(async () => {
  t = await makeTestApp()
  admin = await makeActor(t, { role: 'admin' })
  memberA = await makeActor(t, { role: 'member' })
  memberB = await makeActor(t, { role: 'member' })
  viewer = await makeActor(t, { role: 'viewer' })
  otherOrg = await makeActor(t, { role: 'admin', org: 'globex' })
}, 60_000)

const create = async (who: Actor, body: Record<string, unknown>) => {
  const res = await t.req('POST', '/api/v1/agents', { token: who.token, body })
  expect(res.status).toBe(201)
  return res.body.agent
}
const ids = (list: { id: string }[]) => list.map((a) => a.id)

describe('agents: the CLI flow', () => {
  test('create → list → get → patch → delete (archive)', async () => {
    const created = await t.req('POST', '/api/v1/agents', {
      token: memberA.token,
      body: { name: 'Research Assistant', role: 'Research and analysis', systemPrompt: 'You are a helpful research assistant.', visibility: 'private' },
    })
    expect(created.status).toBe(201)
    const b = created.body
    conforms(CreatedAgent, b)
    expect(b).toMatchObject({ success: true, name: 'Research Assistant', status: 'active' })
    expect(b.id).toMatch(/^char_[A-Za-z0-9]{20}$/)
    expect(b.chatUrl).toBe(`/agents/${b.id}/chat`)
    // TeamDay's CLI prints `Slug: ${response.slug}` after a create: at the top level too.
    expect(b.slug).toBe('research-assistant')
    expect(b.slug).toBe(b.agent.slug)
    expect(Object.keys(b.agent).sort()).toEqual(AGENT_KEYS)
    expect(b.agent).toMatchObject({
      id: b.id,
      slug: 'research-assistant',
      systemPrompt: 'You are a helpful research assistant.',
      visibility: 'private',
      organizationId: memberA.organizationId,
      userId: memberA.userId,
      archived: false,
      archivedAt: null,
      maxTurns: null,
      description: null,
      createdAt: new Date(t.clock.now()).toISOString(),
    })
    for (const k of ARRAYS) expect(b.agent[k]).toEqual([])

    const list = await t.req('GET', '/api/v1/agents', { token: memberA.token })
    expect(list.status).toBe(200)
    expect(list.body.success).toBe(true)
    conforms(AgentList, list.body)
    expect(ids(list.body.agents)).toContain(b.id)
    expect(list.body.characters).toEqual(list.body.agents)
    expect(list.body.total).toBe(list.body.agents.length)

    const one = await t.req('GET', `/api/v1/agents/${b.id}`, { token: memberA.token })
    expect(one.status).toBe(200)
    expect(one.body).toEqual({ success: true, agent: b.agent, character: b.agent })
    conforms(AgentWithCharacter, one.body)

    t.clock.advance(1000)
    const patched = await t.req('PATCH', `/api/v1/agents/${b.id}`, { token: memberA.token, body: { name: 'Deep Research!  Bot', description: 'Digs', maxTurns: 20 } })
    expect(patched.status).toBe(200)
    expect(patched.body.success).toBe(true)
    conforms(AgentEnvelope, patched.body)
    // Renaming keeps the slug: scripts call the agent by it (test/slugs.test.ts).
    expect(patched.body.agent).toMatchObject({ name: 'Deep Research!  Bot', slug: 'research-assistant', description: 'Digs', maxTurns: 20, role: 'Research and analysis' })
    expect(patched.body.agent.updatedAt).not.toBe(patched.body.agent.createdAt)

    const del = await t.req('DELETE', `/api/v1/agents/${b.id}`, { token: memberA.token })
    expect(del.status).toBe(200)
    expect(del.body).toEqual({ success: true })
    conforms(AgentArchived, del.body)
    expect((await t.req('DELETE', `/api/v1/agents/${b.id}`, { token: memberA.token })).status).toBe(200) // idempotent
    const after = await t.req('GET', `/api/v1/agents/${b.id}`, { token: memberA.token })
    expect(after.body.agent).toMatchObject({ archived: true, archivedAt: new Date(t.clock.now()).toISOString() })
    expect(ids((await t.req('GET', '/api/v1/agents', { token: memberA.token })).body.agents)).not.toContain(b.id)
  })

  test('system_message is accepted as systemPrompt; systemPrompt wins when both are sent', async () => {
    const a = await create(memberA, { name: 'Alias', system_message: 'from alias' })
    expect(a.systemPrompt).toBe('from alias')
    expect(a).not.toHaveProperty('system_message')
    const both = await create(memberA, { name: 'Both', system_message: 'alias', systemPrompt: 'main' })
    expect(both.systemPrompt).toBe('main')
    const p = await t.req('PATCH', `/api/v1/agents/${a.id}`, { token: memberA.token, body: { system_message: 'patched' } })
    expect(p.body.agent.systemPrompt).toBe('patched')
  })

  test("characterDescription (TeamDay's `characters create --description`) is accepted as description; description wins when both are sent", async () => {
    const a = await create(memberA, { name: 'Described', characterDescription: 'Finds SEO issues' })
    expect(a.description).toBe('Finds SEO issues')
    expect(a).not.toHaveProperty('characterDescription')
    expect((await create(memberA, { name: 'Both described', characterDescription: 'alias', description: 'main' })).description).toBe('main')
    const p = await t.req('PATCH', `/api/v1/agents/${a.id}`, { token: memberA.token, body: { characterDescription: 'patched' } })
    expect(p.body.agent.description).toBe('patched')
  })

  test("TeamDay's hosted agent fields (skills, greeting, image, template) are 422 naming the field, with nothing created or changed; null and [] pass", async () => {
    const before = (await t.req('GET', '/api/v1/agents?limit=200', { token: memberA.token })).body.total
    for (const [field, value] of [['skillIds', ['seo-audit']], ['initialGreeting', 'Hi!'], ['image', 'https://example.com/a.png'], ['basedOnAgentId', 'char_x']] as const) {
      const r = await t.req('POST', '/api/v1/agents', { token: memberA.token, body: { name: 'Hosted', [field]: value } })
      expect(r.status).toBe(422)
      expect(r.body.details[0].field).toBe(field)
      expect(r.body.message).toContain('not')
    }
    expect((await t.req('GET', '/api/v1/agents?limit=200', { token: memberA.token })).body.total).toBe(before)
    const a = await create(memberA, { name: 'Plain', skillIds: [], initialGreeting: null, image: null, basedOnAgentId: null })
    const p = await t.req('PATCH', `/api/v1/agents/${a.id}`, { token: memberA.token, body: { name: 'Renamed', skillIds: ['x'] } })
    expect(p.status).toBe(422)
    expect((await t.req('GET', `/api/v1/agents/${a.id}`, { token: memberA.token })).body.agent.name).toBe('Plain')
  })

  test('arrays round-trip exactly, are replaced whole, and clear with []', async () => {
    const lists = {
      tags: ['b', 'a', 'b'],
      advanced_tools: ['web_search'],
      allowedTools: ['Read', 'Grep'],
      disallowedTools: ['Bash'],
      mcpTypes: ['github'],
      mcpInstanceIds: ['mcp_1', 'mcp_2'],
    }
    const a = await create(memberA, { name: 'Lists', ...lists })
    expect(a).toMatchObject(lists)
    const got = (await t.req('GET', `/api/v1/agents/${a.id}`, { token: memberA.token })).body.agent
    expect(got).toMatchObject(lists)
    const replaced = await t.req('PATCH', `/api/v1/agents/${a.id}`, { token: memberA.token, body: { tags: ['z'] } })
    expect(replaced.body.agent.tags).toEqual(['z'])
    expect(replaced.body.agent.allowedTools).toEqual(['Read', 'Grep']) // untouched
    const cleared = await t.req('PATCH', `/api/v1/agents/${a.id}`, {
      token: memberA.token,
      body: { tags: [], advanced_tools: [], allowedTools: [], disallowedTools: [], mcpTypes: [], mcpInstanceIds: null },
    })
    expect(cleared.status).toBe(200)
    for (const k of ARRAYS) expect(cleared.body.agent[k]).toEqual([])
    const again = (await t.req('GET', `/api/v1/agents/${a.id}`, { token: memberA.token })).body.agent
    for (const k of ARRAYS) expect(again[k]).toEqual([])
  })

  // "teamday_api " in disallowedTools was stored as sent and took no tool away (the model still
  // got teamday_api: test/engine-api-tool.test.ts); " " was stored as a tag.
  test('list entries are trimmed (white space around them dropped, on create and update); one only white space is 422 naming the field, nothing created or changed', async () => {
    const a = await create(memberA, { name: 'Trimmed', disallowedTools: ['teamday_api ', '\tTask\n'], tags: ['  ops ', 'a b'], allowedTools: ['\u00a0Read'] })
    expect(a).toMatchObject({ disallowedTools: ['teamday_api', 'Task'], tags: ['ops', 'a b'], allowedTools: ['Read'] })
    expect((await t.req('GET', `/api/v1/agents/${a.id}`, { token: memberA.token })).body.agent).toMatchObject({ disallowedTools: ['teamday_api', 'Task'], tags: ['ops', 'a b'] })
    const patched = await t.req('PATCH', `/api/v1/agents/${a.id}`, { token: memberA.token, body: { mcpTypes: [' github'], advanced_tools: ['web_search  '] } })
    expect([patched.status, patched.body.agent.mcpTypes, patched.body.agent.advanced_tools]).toEqual([200, ['github'], ['web_search']])
    const sub = await create(memberA, { name: 'Trimmed sub' })
    const withSub = await t.req('PATCH', `/api/v1/agents/${a.id}`, { token: memberA.token, body: { subagentIds: [` ${sub.id} `] } })
    expect([withSub.status, withSub.body.agent.subagentIds]).toEqual([200, [sub.id]])
    const before = (await t.req('GET', '/api/v1/agents?limit=200', { token: memberA.token })).body.total
    for (const field of ARRAYS) {
      for (const blank of [' ', '\t\n', '\u00a0\u3000']) {
        const created = await t.req('POST', '/api/v1/agents', { token: memberA.token, body: { name: 'Blank', [field]: ['ok', blank] } })
        expect([field, created.status, created.body.code, created.body.details?.[0]?.field]).toEqual([field, 422, 'validation_failed', field])
        expect(created.body.message).toBe(`Validation failed: ${field}[1] is empty once trimmed: each entry must be a name (white space around it is dropped)`)
        const changed = await t.req('PATCH', `/api/v1/agents/${a.id}`, { token: memberA.token, body: { [field]: [blank] } })
        expect([field, changed.status, changed.body.details?.[0]?.field]).toEqual([field, 422, field])
      }
    }
    expect((await t.req('GET', '/api/v1/agents?limit=200', { token: memberA.token })).body.total).toBe(before)
    expect((await t.req('GET', `/api/v1/agents/${a.id}`, { token: memberA.token })).body.agent).toMatchObject({ disallowedTools: ['teamday_api', 'Task'], tags: ['ops', 'a b'], mcpTypes: ['github'], subagentIds: [sub.id] })
  })

  // An earlier build stored such entries as sent: a client that reads that agent and writes it all
  // back (the console's form, a script's GET-then-PATCH) got 422 for an entry it never chose.
  test('an entry of only white space stored by an earlier build is dropped when the list is written back; a new one is still 422', async () => {
    const old = await storedAgent(t, memberA, { name: 'Old blanks', tags: ['ops', ' '], disallowedTools: ['teamday_api', '\t'] })
    const shown = (await t.req('GET', `/api/v1/agents/${old.id}`, { token: memberA.token })).body.agent
    const back = await t.req('PATCH', `/api/v1/agents/${old.id}`, { token: memberA.token, body: { name: 'Old blanks, renamed', tags: shown.tags, disallowedTools: shown.disallowedTools } })
    expect([back.status, back.body.agent.tags, back.body.agent.disallowedTools]).toEqual([200, ['ops'], ['teamday_api']])
    // A list the row held no blank in: refused as on create.
    const fresh = await t.req('PATCH', `/api/v1/agents/${old.id}`, { token: memberA.token, body: { mcpTypes: ['github', ' '] } })
    expect([fresh.status, fresh.body.details?.[0]?.field]).toEqual([422, 'mcpTypes'])
    // Once cleaned, a blank is new again.
    const again = await t.req('PATCH', `/api/v1/agents/${old.id}`, { token: memberA.token, body: { tags: ['ops', ' '] } })
    expect([again.status, again.body.details?.[0]?.field]).toEqual([422, 'tags'])
  })

  test('null clears text fields and maxTurns', async () => {
    const a = await create(memberA, { name: 'Clear', description: 'x', model: 'm', maxTurns: 5 })
    const p = await t.req('PATCH', `/api/v1/agents/${a.id}`, { token: memberA.token, body: { description: null, model: null, maxTurns: null } })
    expect(p.body.agent).toMatchObject({ description: null, model: null, maxTurns: null })
  })

  test('mass assignment: server fields in the body are ignored', async () => {
    const res = await t.req('POST', '/api/v1/agents', {
      token: memberA.token,
      body: { name: 'Sneaky', id: 'char_mine', organizationId: otherOrg.organizationId, userId: admin.userId, archived: true, createdAt: '2000-01-01T00:00:00.000Z' },
    })
    expect(res.status).toBe(201)
    expect(res.body.agent).toMatchObject({ organizationId: memberA.organizationId, userId: memberA.userId, archived: false, slug: 'sneaky' })
    expect(res.body.id).not.toBe('char_mine')
    const p = await t.req('PATCH', `/api/v1/agents/${res.body.id}`, { token: memberA.token, body: { userId: memberB.userId, organizationId: otherOrg.organizationId, id: 'char_x' } })
    expect(p.status).toBe(200)
    expect(p.body.agent).toMatchObject({ id: res.body.id, userId: memberA.userId, organizationId: memberA.organizationId })
  })
})

describe('agents: validation', () => {
  const expect422 = async (body: unknown, field: string, message: string | RegExp, method = 'POST', path = '/api/v1/agents') => {
    const res = await t.req(method, path, { token: memberA.token, body })
    expect(res.status).toBe(422)
    expect(res.body.code).toBe('validation_failed')
    expect(res.body.message).toStartWith('Validation failed: ')
    expect(res.body.message).toMatch(message)
    expect(res.body.details.map((d: any) => d.field)).toContain(field)
  }

  test('maxTurns, name, visibility, arrays', async () => {
    await expect422({ name: 'x', maxTurns: 0 }, 'maxTurns', 'maxTurns must be between 1 and 500')
    await expect422({ name: 'x', maxTurns: 501 }, 'maxTurns', 'maxTurns must be between 1 and 500')
    await expect422({ name: 'x', maxTurns: 2.5 }, 'maxTurns', 'maxTurns must be between 1 and 500')
    await expect422({}, 'name', 'name must be a string of 1-200 characters (it is required)')
    // Too long was said as "name is required".
    await expect422({ name: 'x'.repeat(201) }, 'name', 'name must be a string of 1-200 characters (it is required)')
    await expect422({ name: '   ' }, 'name', /name is required/)
    await expect422({ name: 'x', visibility: 'secret' }, 'visibility', /visibility must be one of/)
    await expect422({ name: 'x', tags: 'a,b' }, 'tags', /tags must be an array/)
    const a = await create(memberA, { name: 'Valid' })
    await expect422({ maxTurns: 1000 }, 'maxTurns', 'maxTurns must be between 1 and 500', 'PATCH', `/api/v1/agents/${a.id}`)
    await expect422({ archived: 'maybe' }, 'archived', /archived must be a boolean/, 'PATCH', `/api/v1/agents/${a.id}`)
  })

  // A model of only spaces was stored, and sent to the provider as the model's name.
  test('model: only spaces is 422 naming model, on create and on update, nothing stored; spaces around a name are dropped; "" and null are the default', async () => {
    const said = 'model must be a model name (e.g. gpt-4o-mini), not only spaces; null or "" for the server\'s default model'
    const before = (await t.req('GET', '/api/v1/agents', { token: memberA.token })).body.total
    for (const model of ['   ', ' \t\n ', '\u00a0\u3000']) {
      const res = await t.req('POST', '/api/v1/agents', { token: memberA.token, body: { name: 'Blank model', model } })
      expect([res.status, res.body.code, res.body.message, res.body.details]).toEqual([422, 'validation_failed', `Validation failed: ${said}`, [{ field: 'model', message: said }]])
    }
    expect((await t.req('GET', '/api/v1/agents', { token: memberA.token })).body.total).toBe(before)
    const a = await create(memberA, { name: 'Model kept', model: 'test-model' })
    const patched = await t.req('PATCH', `/api/v1/agents/${a.id}`, { token: memberA.token, body: { model: '   ', description: 'changed' } })
    expect([patched.status, patched.body.details]).toEqual([422, [{ field: 'model', message: said }]])
    expect((await t.req('GET', `/api/v1/agents/${a.id}`, { token: memberA.token })).body.agent).toMatchObject({ model: 'test-model', description: null })
    expect((await create(memberA, { name: 'Padded', model: '  gpt-4o-mini \t' })).model).toBe('gpt-4o-mini')
    expect((await create(memberA, { name: 'Default', model: '' })).model).toBe('')
    const cleared = await t.req('PATCH', `/api/v1/agents/${a.id}`, { token: memberA.token, body: { model: null } })
    expect(cleared.body.agent.model).toBeNull()
  })

  test('maxTurns bounds 1 and 500 are accepted', async () => {
    expect((await create(memberA, { name: 'One', maxTurns: 1 })).maxTurns).toBe(1)
    expect((await create(memberA, { name: 'Max', maxTurns: 500 })).maxTurns).toBe(500)
  })

  test('subagentIds: same organization, visible, not archived, not self', async () => {
    const helper = await create(memberA, { name: 'Helper', visibility: 'organization' })
    const parent = await create(memberA, { name: 'Parent', subagentIds: [helper.id] })
    expect(parent.subagentIds).toEqual([helper.id])

    const foreign = await create(otherOrg, { name: 'Foreign', visibility: 'public' })
    await expect422({ name: 'x', subagentIds: [foreign.id] }, 'subagentIds', /subagentIds must be active agents of your organization/)
    await expect422({ name: 'x', subagentIds: ['char_doesnotexist00000'] }, 'subagentIds', /subagentIds/)
    await expect422({ subagentIds: [parent.id] }, 'subagentIds', /subagentIds must not contain the agent itself/, 'PATCH', `/api/v1/agents/${parent.id}`)

    const bPrivate = await create(memberB, { name: 'B private' })
    await expect422({ name: 'x', subagentIds: [bPrivate.id] }, 'subagentIds', /subagentIds/)

    const gone = await create(memberA, { name: 'Gone', visibility: 'organization' })
    await t.req('DELETE', `/api/v1/agents/${gone.id}`, { token: memberA.token })
    await expect422({ name: 'x', subagentIds: [gone.id] }, 'subagentIds', /archived/)

    const cleared = await t.req('PATCH', `/api/v1/agents/${parent.id}`, { token: memberA.token, body: { subagentIds: [] } })
    expect(cleared.body.agent.subagentIds).toEqual([])
  })

  test('list query: bad limit / visibility → 422', async () => {
    for (const q of ['limit=0', 'limit=201', 'offset=-1', 'visibility=secret']) {
      const res = await t.req('GET', `/api/v1/agents?${q}`, { token: memberA.token })
      expect(res.status).toBe(422)
      expect(res.body.code).toBe('validation_failed')
    }
  })
})

describe('agents: visibility and roles', () => {
  test("subagentIds leave out another member's private agent for those who may not see it (its id is 404 for them); the creator's edits keep it", async () => {
    const owner = await makeActor(t, { role: 'member' })
    const secret = await create(admin, { name: 'Admin private', visibility: 'private' })
    const shared = await create(owner, { name: 'Shared helper', visibility: 'organization' })
    const lead = await create(owner, { name: 'Lead', visibility: 'organization' })
    // The admin adds their private agent beside the member's own.
    const added = await t.req('PATCH', `/api/v1/agents/${lead.id}`, { token: admin.token, body: { subagentIds: [secret.id, shared.id] } })
    expect(added.body.agent.subagentIds).toEqual([secret.id, shared.id])
    for (const who of [owner, memberB]) {
      const one = (await t.req('GET', `/api/v1/agents/${lead.id}`, { token: who.token })).body.agent
      expect(one.subagentIds).toEqual([shared.id])
      const listed = (await t.req('GET', '/api/v1/agents?limit=200', { token: who.token })).body.agents.find((a: { id: string }) => a.id === lead.id)
      expect(listed.subagentIds).toEqual([shared.id])
      expect(JSON.stringify((await t.req('GET', '/api/v1/agents?limit=200', { token: who.token })).body)).not.toContain(secret.id)
    }
    // The creator writes back what they were shown, then a new list: the hidden one stays.
    expect((await t.req('PATCH', `/api/v1/agents/${lead.id}`, { token: owner.token, body: { subagentIds: [shared.id] } })).body.agent.subagentIds).toEqual([shared.id])
    expect((await t.req('GET', `/api/v1/agents/${lead.id}`, { token: admin.token })).body.agent.subagentIds).toEqual([secret.id, shared.id])
    const cleared = await t.req('PATCH', `/api/v1/agents/${lead.id}`, { token: owner.token, body: { subagentIds: [] } })
    expect(cleared.body.agent.subagentIds).toEqual([])
    expect((await t.req('GET', `/api/v1/agents/${lead.id}`, { token: admin.token })).body.agent.subagentIds).toEqual([secret.id])
  })

  let priv: any, org: any, pub: any, unl: any
  beforeAll(async () => {
    priv = await create(memberA, { name: 'A private' })
    org = await create(memberA, { name: 'A organization', visibility: 'organization' })
    pub = await create(memberA, { name: 'A public', visibility: 'public' })
    unl = await create(memberA, { name: 'A unlisted', visibility: 'unlisted' })
  }, 60_000)

  test("member B sees A's organization/public/unlisted agents but not A's private one", async () => {
    const list = ids((await t.req('GET', '/api/v1/agents?limit=200', { token: memberB.token })).body.agents)
    expect(list).toEqual(expect.arrayContaining([org.id, pub.id, unl.id]))
    expect(list).not.toContain(priv.id)
    const res = await t.req('GET', `/api/v1/agents/${priv.id}`, { token: memberB.token })
    expect(res.status).toBe(404)
    expect(res.body.code).toBe('not_found')
    expect((await t.req('PATCH', `/api/v1/agents/${priv.id}`, { token: memberB.token, body: { name: 'x' } })).status).toBe(404)
    expect((await t.req('DELETE', `/api/v1/agents/${priv.id}`, { token: memberB.token })).status).toBe(404)
    expect((await t.req('GET', `/api/v1/agents/${org.id}`, { token: memberB.token })).status).toBe(200)
  })

  test("member B may not change A's organization agent (403); admin may", async () => {
    const p = await t.req('PATCH', `/api/v1/agents/${org.id}`, { token: memberB.token, body: { name: 'hijack' } })
    expect(p.status).toBe(403)
    expect(p.body.code).toBe('forbidden')
    expect(p.body.message).toStartWith('Forbidden: ')
    const d = await t.req('DELETE', `/api/v1/agents/${org.id}`, { token: memberB.token })
    expect(d.status).toBe(403)
    const ok = await t.req('PATCH', `/api/v1/agents/${priv.id}`, { token: admin.token, body: { description: 'by admin' } })
    expect(ok.status).toBe(200)
    expect(ok.body.agent).toMatchObject({ description: 'by admin', userId: memberA.userId })
  })

  test("admin sees every agent of the organization, including members' private ones", async () => {
    const list = ids((await t.req('GET', '/api/v1/agents?limit=200', { token: admin.token })).body.agents)
    expect(list).toEqual(expect.arrayContaining([priv.id, org.id, pub.id, unl.id]))
    expect((await t.req('GET', `/api/v1/agents/${priv.id}`, { token: admin.token })).status).toBe(200)
  })

  test('viewer reads but cannot write', async () => {
    expect((await t.req('GET', '/api/v1/agents', { token: viewer.token })).status).toBe(200)
    expect((await t.req('GET', `/api/v1/agents/${org.id}`, { token: viewer.token })).status).toBe(200)
    expect((await t.req('GET', `/api/v1/agents/${priv.id}`, { token: viewer.token })).status).toBe(404)
    for (const [method, path] of [['POST', '/api/v1/agents'], ['PATCH', `/api/v1/agents/${org.id}`], ['DELETE', `/api/v1/agents/${org.id}`]] as const) {
      const res = await t.req(method, path, { token: viewer.token, body: method === 'DELETE' ? undefined : { name: 'v' } })
      expect(res.status).toBe(403)
      expect(res.body.code).toBe('forbidden')
      expect(res.body.message).toStartWith('Forbidden: ')
    }
  })

  test('another organization: its agents are 404 and never listed, even public ones', async () => {
    for (const a of [priv, org, pub]) {
      expect((await t.req('GET', `/api/v1/agents/${a.id}`, { token: otherOrg.token })).status).toBe(404)
      expect((await t.req('PATCH', `/api/v1/agents/${a.id}`, { token: otherOrg.token, body: { name: 'x' } })).status).toBe(404)
      expect((await t.req('DELETE', `/api/v1/agents/${a.id}`, { token: otherOrg.token })).status).toBe(404)
    }
    const list = await t.req('GET', '/api/v1/agents?limit=200&archived=true', { token: otherOrg.token })
    expect(list.body.agents.every((a: any) => a.organizationId === otherOrg.organizationId)).toBe(true)
    const unknown = await t.req('GET', '/api/v1/agents/char_unknown', { token: admin.token })
    expect(unknown.status).toBe(404)
    expect(unknown.body.code).toBe('not_found')
    expect((await t.req('GET', '/api/v1/agents', {})).status).toBe(401)
  })
})

describe('agents: list filters, archived, pagination', () => {
  test('archived filter, restore with archived:false', async () => {
    const x = await makeTestApp()
    const m = await makeActor(x, { role: 'member' })
    const mk = async (body: object) => (await x.req('POST', '/api/v1/agents', { token: m.token, body })).body.agent
    const a = await mk({ name: 'Keep' })
    const b = await mk({ name: 'Archive me' })
    const arch = await x.req('PATCH', `/api/v1/agents/${b.id}`, { token: m.token, body: { archived: true } })
    expect(arch.body.agent.archived).toBe(true)
    const active = await x.req('GET', '/api/v1/agents', { token: m.token })
    expect(ids(active.body.agents)).toEqual([a.id])
    expect(active.body.total).toBe(1)
    const all = await x.req('GET', '/api/v1/agents?archived=true', { token: m.token })
    expect(ids(all.body.agents).sort()).toEqual([a.id, b.id].sort())
    const restored = await x.req('PATCH', `/api/v1/agents/${b.id}`, { token: m.token, body: { archived: false } })
    expect(restored.body.agent).toMatchObject({ archived: false, archivedAt: null })
    expect((await x.req('GET', '/api/v1/agents', { token: m.token })).body.total).toBe(2)
  })

  test('visibility, category and q filters', async () => {
    const x = await makeTestApp()
    const m = await makeActor(x, { role: 'member' })
    const mk = async (body: object) => (await x.req('POST', '/api/v1/agents', { token: m.token, body })).body.agent
    const a = await mk({ name: 'Sales Bot', category: 'sales', visibility: 'organization' })
    const b = await mk({ name: 'Support 100%_bot', category: 'support' })
    const get = async (q: string) => ids((await x.req('GET', `/api/v1/agents?${q}`, { token: m.token })).body.agents)
    expect(await get('visibility=organization')).toEqual([a.id])
    expect(await get('category=support')).toEqual([b.id])
    expect(await get('q=SALES')).toEqual([a.id])
    expect(await get('q=100%25_')).toEqual([b.id])
    expect(await get('q=%25')).toEqual([b.id]) // a literal %, not a wildcard
    expect(await get('q=nothing')).toEqual([])
  })

  test('q ignores case beyond ASCII, alike on both backends: Über is found by über, ÜBER and Über', async () => {
    const x = await makeTestApp()
    const m = await makeActor(x, { role: 'member' })
    const mk = async (name: string) => (await x.req('POST', '/api/v1/agents', { token: m.token, body: { name } })).body.agent.id
    const uber = await mk('Über Planner')
    const greek = await mk('Σοφία helper')
    const plain = await mk('Ueber [draft] *1* ?^-$.|+(){}\\ end')
    const get = async (q: string) => ids((await x.req('GET', `/api/v1/agents?q=${encodeURIComponent(q)}`, { token: m.token })).body.agents)
    for (const q of ['über', 'ÜBER', 'Über', 'über planner', 'ÜBER PLANNER']) expect({ q, found: await get(q) }).toEqual({ q, found: [uber] })
    for (const q of ['σοφία', 'ΣΟΦΊΑ', 'Σοφία']) expect({ q, found: await get(q) }).toEqual({ q, found: [greek] })
    // Classes close over both directions: a word's final sigma (ς) is found by Σ and σ, and ς
    // finds σ; ß and ẞ, s and ſ find each other.
    const road = await mk('οδος')
    const street = await mk('STRAẞE')
    const longS = await mk('ſtop')
    for (const q of ['ΟΔΟΣ', 'οδοσ', 'οδος']) expect({ q, found: await get(q) }).toEqual({ q, found: [road] })
    expect(await get('Straße')).toEqual([street])
    expect(await get('STOP')).toEqual([longS])
    // İ (dotted capital I) lower-cases to i by Unicode's simple mapping (JavaScript's full one
    // gives two characters, which left it a class of its own).
    const city = await mk('İstanbul')
    for (const q of ['istanbul', 'ISTANBUL', 'İstanbul']) expect({ q, found: await get(q) }).toEqual({ q, found: [city] })
    // Characters that are wildcards, classes or escapes in a GLOB or a regular expression match
    // themselves: only the third name has them (as wildcards they would match all three names).
    const literal = ['[draft]', '*1*', ']', '[', '*', '?', '^', '-', '$', '.', '|', '+', '(', ')', '{', '}', '\\', '\\ end']
    for (const q of literal) expect({ q, found: await get(q) }).toEqual({ q, found: [plain] })
    for (const q of ['[a-z]', '.*', '[^x]', '\\w', 'U.ber']) expect({ q, found: await get(q) }).toEqual({ q, found: [] })
    expect(await get('UE')).toEqual([plain])
  })

  test('limit/offset pages newest first; total counts all', async () => {
    const x = await makeTestApp()
    const m = await makeActor(x, { role: 'member' })
    const made: string[] = []
    for (let i = 0; i < 5; i++) {
      x.clock.advance(1000)
      made.push((await x.req('POST', '/api/v1/agents', { token: m.token, body: { name: `Agent ${i}` } })).body.id)
    }
    const p1 = await x.req('GET', '/api/v1/agents?limit=2', { token: m.token })
    expect(ids(p1.body.agents)).toEqual([made[4], made[3]])
    expect(p1.body.total).toBe(5)
    const p3 = await x.req('GET', '/api/v1/agents?limit=2&offset=4', { token: m.token })
    expect(ids(p3.body.agents)).toEqual([made[0]])
    const past = await x.req('GET', '/api/v1/agents?limit=2&offset=10', { token: m.token })
    expect(past.body).toMatchObject({ agents: [], characters: [], total: 5 })
  })
})

describe('agents: read, edit, write it all back', () => {
  test('its own sub-agents, archived since, are kept when sent back unchanged; a new archived one is refused', async () => {
    const post = async (who: Actor, body: Record<string, unknown>) => (await t.req('POST', '/api/v1/agents', { token: who.token, body })).body.id as string
    const helper = await post(memberB, { name: 'Helper', visibility: 'organization' })
    const other = await post(memberB, { name: 'Other helper', visibility: 'organization' })
    const main = await post(memberA, { name: 'Main', visibility: 'organization', subagentIds: [helper] })
    for (const id of [helper, other]) expect((await t.req('DELETE', `/api/v1/agents/${id}`, { token: memberB.token })).status).toBe(200)
    const cur = (await t.req('GET', `/api/v1/agents/${main}`, { token: memberA.token })).body.agent
    const back = await t.req('PATCH', `/api/v1/agents/${main}`, { token: memberA.token, body: { description: 'edited', subagentIds: cur.subagentIds } })
    expect([back.status, back.body.agent.description, back.body.agent.subagentIds]).toEqual([200, 'edited', [helper]])
    const added = await t.req('PATCH', `/api/v1/agents/${main}`, { token: memberA.token, body: { subagentIds: [helper, other] } })
    expect([added.status, added.body.details?.[0]?.field]).toEqual([422, 'subagentIds'])
    expect(added.body.message).toContain(other)
    expect(added.body.message).not.toContain(helper)
  })
})
