import { describe, expect, test } from 'bun:test'
import { nearestField } from '../src/http/body-fields'
import { MAX_BODY_MEMBERS } from '../src/json-limits'
import { resolve } from 'node:path'
import { makeActor, makeTestApp } from './helpers/app'
import { spawnCollected } from './helpers/spawn'

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

describe('unknown fields a body is full of: compared in time linear in what was sent', () => {
  // A trailing `[…]` was dropped with /(\[[^\]]*\])+$/, which backtracks over every `[` of a name
  // without a closing `]`: 40,000 of them held the event loop 1.6 s, a 1 MiB key about a quarter of
  // an hour, on POST /api/v1/credentials/revoke too (no token needed). Run in a child process with
  // a deadline of minutes' margin (milliseconds now), so that the old code fails instead of holding
  // the test runner.
  test('names of 1 MiB of brackets: each compared at once', async () => {
    const script = `
      const { nearestField } = await import(${JSON.stringify(resolve(import.meta.dir, '../src/http/body-fields.ts'))})
      const fields = ['name', 'expiresInDays', 'expiresAt', 'scopes']
      const M = 1 << 20
      const names = ['['.repeat(M), '['.repeat(M) + ']', 'scope' + '['.repeat(M) + ']', '[]'.repeat(M / 2), 'scopes' + '[x]'.repeat(M / 3), ']'.repeat(M), 'a['.repeat(M / 2) + ']']
      console.log('answers ' + JSON.stringify(names.map((n) => nearestField(n, fields))))`
    const child = spawnCollected([process.execPath, '-e', script])
    const code = await child.exited(20_000)
    if (code === 'still running') child.proc.kill()
    expect([code, child.output().trim()]).toEqual([0, 'answers ' + JSON.stringify([null, null, 'scopes', null, 'scopes', null, null])])
  }, 30_000)

  test('through the API: a key of brackets is ignored, unknown fields up to the most a body may hold are ignored, and a near miss among them is still found', async () => {
    const brackets = await t.req('POST', '/api/v1/credentials/revoke', { body: { credentials: ['td_not_a_token'], ['['.repeat(20_000)]: 1 } })
    expect(brackets.status).toBe(202)
    // As many as a body may hold beside the fields sent (MAX_BODY_MEMBERS; more is 413 before parsing: test/input-limits.test.ts).
    const many = Object.fromEntries(Array.from({ length: MAX_BODY_MEMBERS - 2 }, (_, i) => [`unknown${i}`, i]))
    const ok = await t.req('POST', '/api/v1/agents', { token: admin.token, body: { name: 'Many unknown fields', ...many } })
    expect([ok.status, ok.body.agent?.name]).toEqual([201, 'Many unknown fields'])
    const typo = await t.req('POST', '/api/v1/agents', { token: admin.token, body: { name: 'One typo', ...many, visiblity: 'private' } })
    expect([typo.status, typo.body.details?.[0]?.field]).toEqual([422, 'visiblity'])
  })

  test('the same answers as the straightforward comparison it replaces, for 100,000 names near and far', () => {
    // The rules as first written: every field squashed and compared in full for every name.
    const squash = (name: string) => name.replace(/(\[[^\]]*\])+$/, '').replace(/[-_\s]/g, '').toLowerCase()
    const distance = (a: string, b: string, limit: number) => {
      if (Math.abs(a.length - b.length) > limit) return limit + 1
      const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)))
      for (let i = 1; i <= a.length; i++) {
        for (let j = 1; j <= b.length; j++) {
          d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1))
          if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1)
        }
      }
      return d[a.length]![b.length]!
    }
    const reference = (name: string, fields: readonly string[]) => {
      const a = squash(name)
      if (a === '') return null
      let best: string | null = null
      let bestDistance = Infinity
      for (const field of fields) {
        const b = squash(field)
        if (a === b) return field
        if (a.length >= 5 && b.startsWith(a) && bestDistance > 0.5) [best, bestDistance] = [field, 0.5]
        else if (Math.min(a.length, b.length) >= 3 && (a + 's' === b || b + 's' === a) && bestDistance > 1) [best, bestDistance] = [field, 1]
        else if (Math.min(a.length, b.length) >= 4) {
          const limit = Math.min(a.length, b.length) >= 8 ? 2 : 1
          const d = distance(a, b, limit)
          if (d <= limit && d < bestDistance) [best, bestDistance] = [field, d]
        }
      }
      return best
    }
    const lists = [
      ['name', 'expiresInDays', 'expiresAt', 'scopes'],
      ['name', 'slug', 'role', 'systemPrompt', 'system_message', 'description', 'characterDescription', 'category', 'visibility', 'model', 'tags', 'advanced_tools', 'allowedTools', 'maxTurns', 'archived'],
      ['title', 'status', 'description', 'priority', 'assignedTo', 'assignTo', 'assigneeType', 'spaceId', 'dueDate', 'metadata'],
      ['keys'],
      ['refreshToken'],
    ]
    // A fixed pseudo-random sequence: the same names on every run.
    let seed = 12345
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648)
    const pick = <T>(xs: readonly T[]) => xs[Math.floor(random() * xs.length)]!
    const alphabet = [...'aeiosrtnmdlcpkyAEST_- []0é']
    const differ: string[] = []
    for (let i = 0; i < 100_000; i++) {
      const fields = pick(lists)
      let name: string
      if (random() < 0.3) name = Array.from({ length: 1 + Math.floor(random() * 16) }, () => pick(alphabet)).join('')
      else {
        const chars = pick(fields).split('')
        for (let k = 1 + Math.floor(random() * 3); k > 0; k--) {
          const at = Math.floor(random() * (chars.length + 1))
          const op = random()
          if (op < 0.25) chars.splice(at, 0, pick(alphabet))
          else if (op < 0.5) chars.splice(at, 1)
          else if (op < 0.75) chars[at] = pick(alphabet)
          else if (at + 1 < chars.length) [chars[at], chars[at + 1]] = [chars[at + 1]!, chars[at]!]
        }
        name = chars.join('') + (random() < 0.2 ? pick(['[]', '[0]', '[a][b]', '[[x]', 's', '_', ']', '[']) : '')
      }
      if (nearestField(name, fields) !== reference(name, fields)) differ.push(`${JSON.stringify(name)}: ${nearestField(name, fields)} / ${reference(name, fields)}`)
    }
    expect(differ.slice(0, 10)).toEqual([])
  })
})
