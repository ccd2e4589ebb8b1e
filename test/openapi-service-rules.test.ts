import { beforeAll, describe, expect, test } from 'bun:test'
import { openapiDocument } from '../src/cli/admin/openapi'
import { SCOPES } from '../src/auth/roles'
import { parseInstant } from '../src/instants'
import { validatePersonName } from '../src/modules/members/service'
import { validateTokenName } from '../src/modules/tokens/validation'
import { makeActor, makeTestApp, type Actor, type TestApp } from './helpers/app'

/**
 * The rules the services check after validation (src/modules/**), stated in the request schemas
 * of the OpenAPI document (x-service-rule, src/http/openapi-publish.ts): each rule is (a) in the
 * document, and (b) a request breaking it still gets what it got before the document said so:
 * the service's own 422 `validation_failed` (its message naming the field, the key or the count),
 * after the route's access checks (a member's request to an admin-only route stays 403).
 */

type Json = any

let doc: Json
let t: TestApp
let admin: Actor
let member: Actor
let spaceId: string
let agentId: string
let taskId: string
beforeAll(async () => {
  doc = await openapiDocument()
  t = await makeTestApp()
  admin = await makeActor(t, { role: 'admin' })
  member = await makeActor(t, { role: 'member', org: admin.orgSlug })
  spaceId = (await t.req('POST', '/api/v1/spaces', { token: admin.token, body: { name: 'Rules' } })).body.space.id
  agentId = (await t.req('POST', '/api/v1/agents', { token: admin.token, body: { name: 'Rules' } })).body.agent.id
  taskId = (await t.req('POST', '/api/v1/tasks', { token: admin.token, body: { title: 'Rules' } })).body.id
}, 60_000)

/** The request body schema of an operation, each media type (JSON and form): they must say the same. */
const bodies = (path: string, method: string): Json[] => Object.values<Json>(doc.paths[path][method].requestBody.content).map((m) => m.schema)
const prop = (path: string, method: string, name: string): Json[] => bodies(path, method).map((s) => s.properties[name])
const param = (path: string, name: string): Json => doc.paths[path].get.parameters.find((p: Json) => p.name === name).schema

/** Sends a request and returns [status, code, the first field `details` names]. */
/** A response as written, or the shared one in components.responses it refers to. */
const resolvedResponse = (doc: any, r: any) => (typeof r?.$ref === 'string' ? doc.components.responses[r.$ref.split('/').pop()] : r)

async function outcome(method: string, path: string, body?: unknown, token = admin.token): Promise<[number, string, string | undefined]> {
  const r = await t.req(method, path, { token, body })
  return [r.status, r.body?.code, r.body?.details?.[0]?.field]
}

// A full date, then optionally a time: a year alone or a year and month is no instant (test/instant-inputs.test.ts).
const ISO = '^(\\d{4}|[+-]\\d{6})-(\\d{2})-(\\d{2})(?:[Tt ](\\d{2}):(\\d{2})(?::(\\d{2})(?:\\.\\d+)?)?(?:[Zz]|[+-](\\d{2}):?(\\d{2}))?)?$'

describe('secret maps: 1-100 keys per request; deleted names are key names', () => {
  const routes = () => [
    { template: '/api/v1/spaces/{id}/secrets', path: `/api/v1/spaces/${spaceId}/secrets` },
    { template: '/api/v1/organizations/{orgId}/env', path: `/api/v1/organizations/${admin.organizationId}/env` },
  ]
  const many = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`KEY_${i}`, 'v']))

  test('the document says minProperties 1 and maxProperties 100', () => {
    for (const { template } of routes()) for (const s of prop(template, 'post', 'secrets')) expect([s.minProperties, s.maxProperties]).toEqual([1, 100])
  })

  test('an empty map and 101 keys are the service\'s 422, with its message; 100 keys pass', async () => {
    for (const { path } of routes()) {
      expect(await outcome('POST', path, { secrets: {} })).toEqual([422, 'validation_failed', 'secrets'])
      const over = await t.req('POST', path, { token: admin.token, body: { secrets: many(101) } })
      expect([over.status, over.body.code, over.body.details[0].field]).toEqual([422, 'validation_failed', 'secrets'])
      expect(over.body.message).toBe('Validation failed: secrets may hold at most 100 keys per request (got 101)')
      expect((await t.req('POST', path, { token: admin.token, body: { secrets: many(100) } })).status).toBe(200)
    }
  })

  test('a member\'s 101 keys to the admin-only organization env: still 403 (access before the count)', async () => {
    expect(await outcome('POST', `/api/v1/organizations/${admin.organizationId}/env`, { secrets: many(101) }, member.token)).toEqual([403, 'forbidden', undefined])
  })

  test('delete: the document says each name is UPPER_SNAKE_CASE of at most 128; another is the service\'s 422 naming it', async () => {
    for (const { template, path } of routes()) {
      for (const s of prop(template, 'delete', 'keys')) expect(s.items).toMatchObject({ type: 'string', pattern: '^[A-Z][A-Z0-9_]*$', maxLength: 128 })
      // Told by its position, never shown (it may be a value pasted as a name).
      expect(await outcome('DELETE', path, { keys: ['lower-case'] })).toEqual([422, 'validation_failed', 'keys'])
      expect(await outcome('DELETE', path, { keys: ['K'.repeat(129)] })).toEqual([422, 'validation_failed', 'keys'])
      expect((await outcome('DELETE', path, { keys: ['NOT_THERE'] }))[0]).toBe(200)
    }
  })
})

describe('token create (/api/v1/tokens and TeamDay CLI\'s /api/tokens/create)', () => {
  const routes = ['/api/v1/tokens', '/api/tokens/create']

  test('scopes: the document lists the known scope names as the items\' enum, and at least one', () => {
    for (const path of routes)
      for (const s of prop(path, 'post', 'scopes')) {
        expect(s.items.enum).toEqual([...SCOPES])
        expect(s.minItems).toBe(1)
      }
  })

  test('an unknown scope and an empty list are the service\'s 422 with validScopes', async () => {
    for (const path of routes) {
      for (const scopes of [['agents:delete'], []]) {
        const r = await t.req('POST', path, { token: admin.token, body: { name: 'Scoped', scopes } })
        expect([r.status, r.body.code, r.body.details[0].field, r.body.details[0].validScopes]).toEqual([422, 'validation_failed', 'scopes', [...SCOPES]])
      }
    }
  })

  test('name: the document\'s pattern is the service\'s rule (trimmed, not empty, no control or bidirectional characters)', async () => {
    for (const path of routes) {
      for (const s of prop(path, 'post', 'name')) {
        const pattern = new RegExp(s.pattern)
        // Every character of the BMP, alone, inside and around a name: the pattern and the service agree.
        const disagree: string[] = []
        for (let cp = 0; cp <= 0xffff; cp++) {
          if (cp >= 0xd800 && cp <= 0xdfff) continue
          const c = String.fromCharCode(cp)
          for (const name of [`a${c}b`, ` ${c}x`, `x${c} `]) {
            let service = true
            try {
              validateTokenName(name)
            } catch (e) {
              // nameTrouble's "visible character" rule is said in words (Unicode classes a pattern without the u flag cannot name).
              service = (e as Error).message.endsWith('must contain a visible character')
            }
            if (pattern.test(name) !== service) disagree.push(`U+${cp.toString(16)} in ${JSON.stringify(name)}`)
          }
        }
        expect(disagree).toEqual([])
        expect(s.description).toContain('with a visible character')
      }
      for (const name of ['   ', 'a\u202Eb', 'tab\tinside']) expect(await outcome('POST', path, { name })).toEqual([422, 'validation_failed', 'name'])
    }
  })

  test('expiresAt: the document\'s pattern is parseInstant\'s syntax; other text is the service\'s 422', async () => {
    for (const path of routes) {
      for (const s of prop(path, 'post', 'expiresAt')) expect(s.pattern).toBe(ISO)
      expect(await outcome('POST', path, { name: 'Dated', expiresAt: 'next week' })).toEqual([422, 'validation_failed', 'expiresAt'])
    }
    const pattern = new RegExp(ISO)
    for (const text of ['2027-03-01', '2027-03-01T10:00:00Z', '2027-03-01 10:00', '2027-03-01T10:00:00.5+0100', '+010000-01-01', 'Dec 25 2027', '2027-1-5', '2027-02-30', 'x'])
      if (parseInstant(text) !== null) expect([text, pattern.test(text)]).toEqual([text, true])
  })
})

describe('names of agents and spaces, titles of tasks: not only spaces', () => {
  test('the document says pattern \\S; only spaces is the service\'s 422 naming the field', async () => {
    const cases: [string, string, string, string][] = [
      ['POST', '/api/v1/agents', '/api/v1/agents', 'name'],
      ['PATCH', '/api/v1/agents/{id}', `/api/v1/agents/${agentId}`, 'name'],
      ['POST', '/api/v1/spaces', '/api/v1/spaces', 'name'],
      ['PATCH', '/api/v1/spaces/{id}', `/api/v1/spaces/${spaceId}`, 'name'],
      ['POST', '/api/v1/tasks', '/api/v1/tasks', 'title'],
      ['PATCH', '/api/v1/tasks/{id}', `/api/v1/tasks/${taskId}`, 'title'],
    ]
    for (const [method, template, path, field] of cases) {
      for (const s of prop(template, method.toLowerCase(), field)) expect(s.pattern).toBe('\\S')
      expect([template, ...(await outcome(method, path, { [field]: ' \t ' }))]).toEqual([template, 422, 'validation_failed', field])
    }
  })
})

describe("an agent's model: empty (the default) or not only spaces", () => {
  test('the document says pattern ^$|\\S; only spaces is the service\'s 422 naming model', async () => {
    for (const [method, template, path] of [
      ['POST', '/api/v1/agents', '/api/v1/agents'],
      ['PATCH', '/api/v1/agents/{id}', `/api/v1/agents/${agentId}`],
    ] as const) {
      for (const s of prop(template, method.toLowerCase(), 'model')) expect(s.pattern).toBe('^$|\\S')
      expect([template, ...(await outcome(method, path, { name: 'Model', model: ' \t ' }))]).toEqual([template, 422, 'validation_failed', 'model'])
    }
  })
})

describe("agents' lists: each entry not only spaces", () => {
  test('the document says pattern \\S on the entries; an entry of only spaces is the service\'s 422 naming the list', async () => {
    for (const [method, template, path] of [
      ['POST', '/api/v1/agents', '/api/v1/agents'],
      ['PATCH', '/api/v1/agents/{id}', `/api/v1/agents/${agentId}`],
    ] as const) {
      for (const field of ['tags', 'advanced_tools', 'allowedTools', 'disallowedTools', 'mcpTypes', 'mcpInstanceIds', 'subagentIds']) {
        for (const s of prop(template, method.toLowerCase(), field)) expect(s.items.pattern).toBe('\\S')
        const name = method === 'POST' ? { name: 'Lists' } : {}
        expect([field, ...(await outcome(method, path, { ...name, [field]: [' \t '] }))]).toEqual([field, 422, 'validation_failed', field])
      }
    }
  })
})

describe('what this server has nothing behind: only null (agents), nothing at all (spaces)', () => {
  test('agents: skillIds at most [] , initialGreeting/image/basedOnAgentId only null; anything else is the service\'s 422', async () => {
    for (const [method, template, path] of [
      ['POST', '/api/v1/agents', '/api/v1/agents'],
      ['PATCH', '/api/v1/agents/{id}', `/api/v1/agents/${agentId}`],
    ] as const) {
      for (const s of prop(template, method.toLowerCase(), 'skillIds')) expect(s.maxItems).toBe(0)
      for (const field of ['initialGreeting', 'image', 'basedOnAgentId']) for (const s of prop(template, method.toLowerCase(), field)) expect(s.enum).toEqual([null])
      const name = method === 'POST' ? { name: 'Unserved' } : {}
      expect(await outcome(method, path, { ...name, skillIds: ['skill_1'] })).toEqual([422, 'validation_failed', 'skillIds'])
      expect(await outcome(method, path, { ...name, initialGreeting: 'Hello' })).toEqual([422, 'validation_failed', 'initialGreeting'])
      expect((await outcome(method, path, { ...name, skillIds: [], initialGreeting: null }))[0]).toBe(method === 'POST' ? 201 : 200)
    }
  })

  test('spaces: addMcps, removeMcps, addSkills, removeSkills take no value (not: {}); [] is the service\'s 422 too', async () => {
    for (const field of ['addMcps', 'removeMcps', 'addSkills', 'removeSkills']) {
      for (const s of prop('/api/v1/spaces/{id}', 'patch', field)) expect(s.not).toEqual({})
      expect(await outcome('PATCH', `/api/v1/spaces/${spaceId}`, { [field]: [] })).toEqual([422, 'validation_failed', field])
    }
  })
})

describe('task metadata and dueDate', () => {
  // Refused by the body reader, as every field the document states as an object (src/http/routes.ts objectPaths).
  test('metadata: the document says a JSON object; an array, a string or null is a 422 saying what it got', async () => {
    for (const [method, template, path] of [
      ['POST', '/api/v1/tasks', '/api/v1/tasks'],
      ['PATCH', '/api/v1/tasks/{id}', `/api/v1/tasks/${taskId}`],
    ] as const) {
      for (const s of prop(template, method.toLowerCase(), 'metadata')) expect(s.type).toBe('object')
      for (const [metadata, got] of [[['a'], 'an array'], ['text', 'a string'], [null, 'null'], [3, 'a number']] as const) {
        const r = await t.req(method, path, { token: admin.token, body: { title: 'Meta', metadata } })
        expect([r.status, r.body.code, r.body.details[0].field, r.body.message]).toEqual([422, 'validation_failed', 'metadata', `Validation failed: metadata must be an object (got ${got})`])
      }
    }
  })

  test('dueDate: the document\'s pattern is parseInstant\'s syntax; other text is the service\'s 422', async () => {
    for (const method of ['post', 'patch']) for (const s of prop(method === 'post' ? '/api/v1/tasks' : '/api/v1/tasks/{id}', method, 'dueDate')) expect(s.pattern).toBe(ISO)
    expect(await outcome('POST', '/api/v1/tasks', { title: 'Due', dueDate: 'tomorrow' })).toEqual([422, 'validation_failed', 'dueDate'])
  })

  test('assigneeType alone: said in its description; still the service\'s 422', async () => {
    for (const s of prop('/api/v1/tasks', 'post', 'assigneeType')) expect(s.description).toContain('Only together with assignedTo (or assignTo)')
    expect(await outcome('POST', '/api/v1/tasks', { title: 'Typed', assigneeType: 'user' })).toEqual([422, 'validation_failed', 'assigneeType'])
  })
})

describe('members: e-mail and name as the service reads them', () => {
  const path = () => `/api/v1/organizations/${admin.organizationId}/members`
  const template = '/api/v1/organizations/{orgId}/members'

  test('email: the document\'s pattern (something@something, spaces only around it); another is the service\'s 422', async () => {
    for (const s of prop(template, 'post', 'email')) {
      const pattern = new RegExp(s.pattern)
      for (const [email, ok] of [['ada@example.com', true], ['  ada@example.com ', true], ['no-at-sign', false], ['a b@example.com', false], ['a@b@c', false]] as const) expect([email, pattern.test(email)]).toEqual([email, ok])
    }
    expect(await outcome('POST', path(), { email: 'no-at-sign', role: 'member' })).toEqual([422, 'validation_failed', 'email'])
  })

  test('name: the document\'s pattern is the service\'s rule (at most 100 once trimmed, only spaces: no name), not the 200 the validator allows', async () => {
    for (const s of prop(template, 'post', 'name')) {
      const pattern = new RegExp(s.pattern)
      for (const name of ['Ada', '  Ada  ', '   ', 'x'.repeat(100), ` ${'x'.repeat(100)} `, 'x'.repeat(101), 'a\u202Eb', 'a\u0085b', 'tab\tinside']) {
        let service: boolean
        try {
          validatePersonName(name)
          service = true
        } catch {
          service = false
        }
        expect([name, pattern.test(name)]).toEqual([name, service])
      }
    }
    let n = 0
    for (const name of ['x'.repeat(150), 'a\u200Fb']) expect(await outcome('POST', path(), { email: `rules${++n}@example.com`, role: 'member', name })).toEqual([422, 'validation_failed', 'name'])
  })
})

describe('instants of list filters: executions since, audit since and until', () => {
  test('the document\'s pattern is parseInstant\'s syntax; other text is the service\'s 422 naming the parameter', async () => {
    expect(param('/api/v1/executions', 'since').pattern).toBe(ISO)
    expect(param('/api/v1/audit-events', 'since').pattern).toBe(ISO)
    expect(param('/api/v1/audit-events', 'until').pattern).toBe(ISO)
    expect(await outcome('GET', '/api/v1/executions?since=yesterday')).toEqual([422, 'validation_failed', 'since'])
    expect(await outcome('GET', '/api/v1/audit-events?since=yesterday')).toEqual([422, 'validation_failed', 'since'])
    expect(await outcome('GET', '/api/v1/audit-events?until=later')).toEqual([422, 'validation_failed', 'until'])
  })
})

describe('the validator never sees a service rule', () => {
  test('no x-service-rule is left in the document', () => {
    expect(JSON.stringify(doc)).not.toContain('x-service-rule')
  })
})

describe("an execute's delegationDepth: the schema's 20 is the setting's most; the server's bound is TEAMDAY_MAX_DELEGATION_DEPTH", () => {
  test('the field says so, and a depth over the setting (default 3) within the schema is the service\'s 422 naming the field', async () => {
    const schemaOf = (s: Json) => (s.$ref ? doc.components.schemas[s.$ref.split('/').pop()] : s)
    for (const path of ['/api/v1/agents/{id}/execute', '/api/v1/execute']) {
      const depth = schemaOf(doc.paths[path].post.requestBody.content['application/json'].schema).properties.delegationDepth
      expect([path, depth.maximum]).toEqual([path, 20])
      expect(depth.description).toContain('TEAMDAY_MAX_DELEGATION_DEPTH (default 3')
    }
    // Refused before any model is asked: no provider needed.
    expect(await outcome('POST', `/api/v1/agents/${agentId}/execute`, { message: 'hi', delegationDepth: 4 })).toEqual([422, 'validation_failed', 'delegationDepth'])
    expect(await outcome('POST', '/api/v1/execute', { message: 'hi', delegationDepth: 20 })).toEqual([422, 'validation_failed', 'delegationDepth'])
  })
})

describe('readiness: the documented 503 is what a stopping instance answers too', () => {
  test('a graceful stop under way: 503 with the documented example, and the description names both causes', async () => {
    const app = await makeTestApp()
    expect((await app.req('GET', '/api/health/ready')).status).toBe(200)
    app.rt.drain.closing = true
    const res = await app.req('GET', '/api/health/ready')
    const notReady = doc.components.schemas[doc.paths['/api/health/ready'].get.responses['503'].content['application/json'].schema.$ref.split('/').pop()]
    expect([res.status, res.body.code, res.body.message]).toEqual([503, notReady.examples[0].code, notReady.examples[0].message])
    expect(notReady.description).toContain('database did not answer')
    expect(notReady.description).toContain('stopping')
  })
})

describe("the CLI sign-in routes' 429: the limits it names are the ones applied", () => {
  test('a code polled once too often in its window, and an address past the shared budget of initiate, refresh and revoke', async () => {
    const { PER_CODE_POLL_LIMIT } = await import('../src/modules/cli-auth')
    const { initiateLogin } = await import('../src/modules/cli-auth/service')
    const app = await makeTestApp({ config: { cliLoginRateLimit: { limit: 2, windowMs: 60_000 } } })
    const code = (await initiateLogin(app.ctx)).code
    const polls: number[] = []
    for (let i = 0; i <= PER_CODE_POLL_LIMIT.limit; i++) polls.push((await app.req('GET', `/api/auth/cli/poll?code=${code}`, { ip: '198.51.100.20' })).status)
    expect(polls).toEqual([...Array(PER_CODE_POLL_LIMIT.limit).fill(200), 429])
    // One budget for the three: two initiates spend it, a revoke is refused.
    for (const expected of [200, 200]) expect((await app.req('POST', '/api/auth/cli/initiate', { ip: '198.51.100.21' })).status).toBe(expected)
    expect((await app.req('POST', '/api/auth/cli/revoke', { ip: '198.51.100.21', body: { refreshToken: 'tdr_x' } })).status).toBe(429)
    const said: string = doc.components.schemas[resolvedResponse(doc, doc.paths['/api/auth/cli/poll'].get.responses['429']).content['application/json'].schema.$ref.split('/').pop()].description
    for (const words of [`polled ${PER_CODE_POLL_LIMIT.limit} times in the last ${PER_CODE_POLL_LIMIT.windowMs / 1000} s`, 'initiate, refresh and revoke share TEAMDAY_CLI_LOGIN_RATE_LIMIT', 'TEAMDAY_CLI_POLL_RATE_LIMIT'])
      expect({ words, said: said.includes(words) }).toEqual({ words, said: true })
    for (const path of ['/api/auth/cli/initiate', '/api/auth/cli/refresh', '/api/auth/cli/revoke']) expect(resolvedResponse(doc, doc.paths[path].post.responses['429']).description).toBe(said)
  })
})

describe("lists' offset: the documented maximum is the largest the server takes", () => {
  test('the maximum passes, one more is the 422 naming offset, on every list that takes one', async () => {
    let lists = 0
    for (const [path, item] of Object.entries<Json>(doc.paths)) {
      const offset = item.get?.parameters?.find((p: Json) => p.name === 'offset')
      if (!offset) continue
      lists++
      const max = offset.schema.maximum
      expect([path, typeof max]).toEqual([path, 'number'])
      if (path.includes('{')) continue
      const token = path.startsWith('/api/public') ? undefined : admin.token
      const at = await t.req('GET', `${path}?offset=${max}`, { token })
      const past = await t.req('GET', `${path}?offset=${BigInt(max) + 1n}`, { token })
      expect([path, at.status, past.status, past.body.details?.[0]?.field]).toEqual([path, 200, 422, 'offset'])
    }
    expect(lists).toBeGreaterThanOrEqual(8)
  })
})
