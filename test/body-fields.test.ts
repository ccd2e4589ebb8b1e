import { describe, expect, test } from 'bun:test'
import { nearestField } from '../src/http/body-fields'
import { makeActor, makeTestApp } from './helpers/app'

/**
 * A body's fields the route does not take: ignored (TeamDay's API and its CLI rely on that), unless
 * a field is a near miss of one the route takes, which is refused (422) naming both, before
 * anything is done with the request. Forms give arrays as JSON does.
 */

const t = await makeTestApp()
const admin = await makeActor(t, { role: 'admin' })
const form = (method: string, path: string, body: string) =>
  t.req(method, path, { token: admin.token, raw: body, headers: { 'content-type': 'application/x-www-form-urlencoded' } })

describe('a near miss of a field the route takes is refused, and nothing is done', () => {
  test('POST /tokens {scope}: 422 naming scopes, no token made (it was a token with every scope)', async () => {
    const before = (await t.req('GET', '/api/v1/tokens', { token: admin.token })).body.total
    const r = await t.req('POST', '/api/v1/tokens', { token: admin.token, body: { name: 'ci read-only', scope: ['tasks:read'] } })
    expect([r.status, r.body.code, r.body.details?.[0]?.field]).toEqual([422, 'validation_failed', 'scope'])
    expect(r.body.message).toContain('did you mean scopes?')
    const typoDays = await t.req('POST', '/api/v1/tokens', { token: admin.token, body: { name: 'short', expiresIn: 7 } })
    expect([typoDays.status, typoDays.body.message]).toEqual([422, expect.stringContaining('did you mean expiresInDays?')])
    expect((await t.req('GET', '/api/v1/tokens', { token: admin.token })).body.total).toBe(before)
  })

  test('POST /tokens/{id}/rotate {gracePeriod}: 422, the token is not rotated (it was revoked at once)', async () => {
    const made = await t.req('POST', '/api/v1/tokens', { token: admin.token, body: { name: 'to rotate' } })
    const r = await t.req('POST', `/api/v1/tokens/${made.body.id}/rotate`, { token: admin.token, body: { gracePeriod: 3600 } })
    expect([r.status, r.body.details?.[0]?.field]).toEqual([422, 'gracePeriod'])
    expect(r.body.message).toContain('did you mean gracePeriodSeconds?')
    expect((await t.req('GET', '/api/v1/tokens/self', { token: made.body.token })).status).toBe(200)
  })

  test('PATCH with a misspelt field: 422, nothing changed (it was a 200 that changed nothing)', async () => {
    const task = (await t.req('POST', '/api/v1/tasks', { token: admin.token, body: { title: 'typo' } })).body
    const agent = (await t.req('POST', '/api/v1/agents', { token: admin.token, body: { name: 'Typo agent', visibility: 'organization' } })).body
    const cases: [string, Record<string, unknown>, string, string][] = [
      [`/api/v1/tasks/${task.id}`, { stauts: 'completed' }, 'stauts', 'status'],
      [`/api/v1/tasks/${task.id}`, { due_date: '2030-01-01' }, 'due_date', 'dueDate'],
      [`/api/v1/agents/${agent.id}`, { archive: true }, 'archive', 'archived'],
      [`/api/v1/agents/${agent.id}`, { visiblity: 'private' }, 'visiblity', 'visibility'],
      [`/api/v1/agents/${agent.id}`, { systemMessage: 'You are terse.' }, 'systemMessage', 'system_message'],
      [`/api/v1/agents/${agent.id}`, { tag: 'x' }, 'tag', 'tags'],
    ]
    for (const [path, body, field, meant] of cases) {
      const r = await t.req('PATCH', path, { token: admin.token, body })
      expect([field, r.status, r.body.details?.[0]?.field]).toEqual([field, 422, field])
      expect(r.body.message).toContain(`did you mean ${meant}?`)
    }
    expect((await t.req('GET', `/api/v1/tasks/${task.id}`, { token: admin.token })).body.status).toBe('pending')
    const after = (await t.req('GET', `/api/v1/agents/${agent.id}`, { token: admin.token })).body.agent
    expect([after.visibility, after.archived, after.systemPrompt, after.tags]).toEqual(['organization', false, null, []])
  })

  test('a form is held to the same rule', async () => {
    const r = await form('POST', '/api/v1/tokens', 'name=form&scope=tasks:read')
    expect([r.status, r.body.details?.[0]?.field]).toEqual([422, 'scope'])
  })
})

describe('fields a route does not take, and that are no near miss, are ignored as TeamDay ignores them', () => {
  test("TeamDay's CLI: a task with its own id and status, a space with organizationId, an agent with the characters command's fields", async () => {
    const task = await t.req('POST', '/api/v1/tasks', { token: admin.token, body: { id: 'task_from_cli', title: 'from the CLI', priority: 'high', status: 'pending' } })
    expect(task.status).toBe(201)
    expect(task.body.id).not.toBe('task_from_cli')
    const done = await t.req('PATCH', `/api/v1/tasks/${task.body.id}`, { token: admin.token, body: { status: 'completed', completedAt: '2026-06-01T12:00:00Z' } })
    expect([done.status, done.body.status ?? done.body.task?.status]).toEqual([200, 'completed'])
    const space = await t.req('POST', '/api/v1/spaces', { token: admin.token, body: { name: 'CLI space', visibility: 'organization', organizationId: admin.organizationId } })
    expect(space.status).toBe(201)
    const agent = await t.req('POST', '/api/v1/agents', {
      token: admin.token,
      body: { name: 'Character', role: 'Helper', system_message: 'Help.', visibility: 'organization', characterDescription: 'd', skillIds: [], initialGreeting: null },
    })
    expect(agent.status).toBe(201)
    expect(agent.body.agent.description).toBe('d')
    // What this server cannot keep (a greeting, an image, skills, a template) is refused instead (agents.test.ts).
    const greeted = await t.req('POST', '/api/v1/agents', { token: admin.token, body: { name: 'Greeter', initialGreeting: 'hi' } })
    expect([greeted.status, greeted.body.details?.[0]?.field]).toEqual([422, 'initialGreeting'])
  })
})

describe('a PATCH must send something', () => {
  test('no body, or an empty form: 422 naming the fields it takes (a 200 that changed nothing); {} stays a no-op', async () => {
    const task = (await t.req('POST', '/api/v1/tasks', { token: admin.token, body: { title: 'patch me' } })).body
    const none = await t.req('PATCH', `/api/v1/tasks/${task.id}`, { token: admin.token })
    expect([none.status, none.body.details?.[0]?.field]).toEqual([422, 'body'])
    expect(none.body.message).toContain('a body is required')
    const emptyForm = await form('PATCH', `/api/v1/tasks/${task.id}`, '')
    expect(emptyForm.status).toBe(422)
    expect((await t.req('PATCH', `/api/v1/tasks/${task.id}`, { token: admin.token, body: {} })).status).toBe(200)
    // Routes whose body is optional still take nothing (a rotation with the defaults).
    const made = await t.req('POST', '/api/v1/tokens', { token: admin.token, body: { name: 'rotate bare' } })
    expect((await t.req('POST', `/api/v1/tokens/${made.body.id}/rotate`, { token: admin.token })).status).toBe(201)
  })
})

describe('form bodies give arrays as JSON does', () => {
  test('a field declared as an array, sent once or with brackets', async () => {
    const once = await form('POST', '/api/v1/tokens', 'name=once&scopes=tasks:read')
    expect([once.status, once.body.scopes]).toEqual([201, ['tasks:read']])
    const bracketed = await form('POST', '/api/v1/tokens', 'name=brackets&scopes[]=tasks:read&scopes[]=agents:read')
    expect([bracketed.status, bracketed.body.scopes?.sort()]).toEqual([201, ['agents:read', 'tasks:read']])
    const repeated = await form('POST', '/api/v1/tokens', 'name=repeated&scopes=tasks:read&scopes=agents:read')
    expect([repeated.status, repeated.body.scopes?.sort()]).toEqual([201, ['agents:read', 'tasks:read']])
  })

  test('a field that is not a list, given twice, is 422 saying so (it was "title is required"); a bad percent escape is 422 (it was stored as sent)', async () => {
    const before = (await t.req('GET', '/api/v1/tasks?limit=200', { token: admin.token })).body.length
    const twice = await form('POST', '/api/v1/tasks', 'title=a&title=b')
    expect([twice.status, twice.body.details?.[0]?.field]).toEqual([422, 'title'])
    expect(twice.body.message).toContain('title was given more than once')
    for (const raw of ['title=a%ZZ', 'title=a%FF', 'title=%', 'ti%2=x&title=y']) {
      const bad = await form('POST', '/api/v1/tasks', raw)
      expect([raw, bad.status, bad.body.message]).toEqual([raw, 422, expect.stringContaining('not valid percent-encoding')])
    }
    expect((await t.req('GET', '/api/v1/tasks?limit=200', { token: admin.token })).body.length).toBe(before)
    // A form of separators alone says nothing: a PATCH refuses it as an empty one.
    const tk = (await t.req('POST', '/api/v1/tasks', { token: admin.token, body: { title: 'patched by forms' } })).body.id
    for (const raw of ['&', '=', '&&', '&=&']) expect([raw, (await form('PATCH', `/api/v1/tasks/${tk}`, raw)).status]).toEqual([raw, 422])
    const good = await form('POST', '/api/v1/tasks', 'title=caf%C3%A9+100%25')
    expect([good.status, good.body.title]).toEqual([201, 'café 100%'])
  })
})

describe('form bodies give booleans and objects as JSON does (the form media type is documented for every body)', () => {
  test('booleans: true/false, 1/0, on/off in any case (each was refused as "must be a boolean"); anything else still is', async () => {
    const agent = (await t.req('POST', '/api/v1/agents', { token: admin.token, body: { name: 'Form flags' } })).body
    for (const [text, archived] of [['TRUE', true], ['0', false], ['on', true], ['false', false]] as const) {
      const r = await form('PATCH', `/api/v1/agents/${agent.id}`, `archived=${text}`)
      expect([text, r.status, r.body.agent?.archived]).toEqual([text, 200, archived])
    }
    const bad = await form('PATCH', `/api/v1/agents/${agent.id}`, 'archived=yes')
    expect([bad.status, bad.body.details?.[0]?.field]).toEqual([422, 'archived'])
  })

  test("a task's metadata as metadata[key]=value (it answered 201 with {} and kept nothing); PATCH replaces it", async () => {
    const created = await form('POST', '/api/v1/tasks', 'title=From a form&metadata[source]=cron&metadata[run]=42')
    expect([created.status, created.body.metadata]).toEqual([201, { source: 'cron', run: '42' }])
    const patched = await form('PATCH', `/api/v1/tasks/${created.body.id}`, 'metadata[source]=ci')
    expect([patched.status, patched.body.metadata]).toEqual([200, { source: 'ci' }])
    expect((await t.req('GET', `/api/v1/tasks/${created.body.id}`, { token: admin.token })).body.metadata).toEqual({ source: 'ci' })
  })

  test('secrets[KEY]=value on a space and on the organization (each was 422 "Unexpected property")', async () => {
    const space = (await t.req('POST', '/api/v1/spaces', { token: admin.token, body: { name: 'Form secrets' } })).body.space
    const r = await form('POST', `/api/v1/spaces/${space.id}/secrets`, 'secrets[API_KEY]=v1&secrets[OTHER]=v2')
    expect([r.status, r.body.keys?.sort()]).toEqual([200, ['API_KEY', 'OTHER']])
    const env = await form('POST', `/api/v1/organizations/${admin.organizationId}/env`, 'secrets[ORG_KEY]=v')
    expect([env.status, env.body.keys]).toEqual([200, ['ORG_KEY']])
  })

  test('refused with a 422 naming the field, nothing stored: deeper brackets, an object sent twice, a misspelt object, a bracketed text field', async () => {
    const before = (await t.req('GET', '/api/v1/tasks', { token: admin.token })).headers.get('x-total-count')
    for (const [body, field] of [
      ['title=x&metadata[a][b]=1', 'metadata[a][b]'],
      ['title=x&metadata=1&metadata[a]=1', 'metadata'],
      ['title=x&metdata[a]=1', 'metdata[a]'],
      ['title[a]=x', 'title'],
      ['title=x&priority[]=high', 'priority'],
    ] as const) {
      const r = await form('POST', '/api/v1/tasks', body)
      expect([body, r.status, r.body.details?.[0]?.field]).toEqual([body, 422, field])
    }
    expect((await t.req('GET', '/api/v1/tasks', { token: admin.token })).headers.get('x-total-count')).toBe(before)
  })
})

describe('nearestField', () => {
  const tokenFields = ['name', 'expiresInDays', 'expiresAt', 'scopes']
  test.each([
    ['scope', 'scopes'],
    ['Scopes', 'scopes'],
    ['scopes[]', 'scopes'],
    ['scope[0]', 'scopes'],
    ['expires_in_days', 'expiresInDays'],
    ['expiresIn', 'expiresInDays'],
    ['nmae', 'name'],
    ['names', 'name'],
    ['id', null],
    ['organizationId', null],
    ['expiry', null],
    ['foo', null],
    ['', null],
  ] as const)('%p → %p', (name, meant) => {
    expect(nearestField(name, tokenFields)).toBe(meant)
  })

  // What TeamDay's CLI (TeamDay-AI/cli, src/commands and tests/integration) sends to routes this
  // server has, beyond what they declare: none may be taken for a near miss, or the CLI breaks.
  test("no field TeamDay's CLI sends is taken for a misspelling", () => {
    const routes = new Map(t.app.routes.map((r) => [`${r.method} ${r.path}`, Object.keys((r.hooks as any)?.body?.properties ?? {})]))
    const sent: [string, string[]][] = [
      ['POST /api/v1/agents', ['name', 'role', 'systemPrompt', 'visibility', 'model', 'advanced_tools', 'tags', 'basedOnAgentId', 'category', 'system_message', 'slug', 'characterDescription', 'initialGreeting', 'image', 'skillIds', 'mcpInstanceIds', 'mcpTypes', 'subagentIds', 'disallowedTools', 'maxTurns']],
      ['PATCH /api/v1/agents/:id', ['name', 'role', 'systemPrompt', 'visibility', 'model', 'advanced_tools', 'tags', 'category', 'system_message', 'slug', 'characterDescription', 'initialGreeting', 'image', 'skillIds', 'mcpInstanceIds', 'mcpTypes', 'subagentIds', 'disallowedTools', 'maxTurns', 'archived']],
      ['POST /api/v1/agents/:id/execute', ['message', 'stream', 'spaceId', 'sessionId', 'chatId']],
      ['POST /api/v1/execute', ['message', 'stream', 'spaceId', 'sessionId', 'chatId']],
      ['POST /api/v1/tasks', ['id', 'title', 'priority', 'status', 'description', 'assignedTo', 'spaceId']],
      ['PATCH /api/v1/tasks/:id', ['title', 'description', 'status', 'assignedTo', 'priority', 'completedAt']],
      ['POST /api/v1/spaces', ['name', 'visibility', 'organizationId', 'description', 'type']],
      ['PATCH /api/v1/spaces/:id', ['addMcps', 'removeMcps', 'addSkills', 'removeSkills', 'addCharacters', 'removeCharacters', 'coverImage', 'coverImageAttribution']],
      ['POST /api/v1/spaces/:id/secrets', ['secrets']],
      ['DELETE /api/v1/spaces/:id/secrets', ['keys']],
      ['POST /api/tokens/create', ['name', 'expiresInDays', 'organizationId']],
      ['POST /api/auth/cli/refresh', ['refreshToken']],
    ]
    const refused: string[] = []
    for (const [route, fields] of sent) {
      const declared = routes.get(route)
      expect([route, (declared?.length ?? 0) > 0]).toEqual([route, true])
      for (const f of fields) if (!declared!.includes(f) && nearestField(f, declared!) !== null) refused.push(`${route} ${f}`)
    }
    expect(refused).toEqual([])
  })
})
