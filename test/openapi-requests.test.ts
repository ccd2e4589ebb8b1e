import { beforeAll, describe, expect, test } from 'bun:test'
import { openapiDocument } from '../src/cli/admin/openapi'
import { makeActor, makeTestApp, makeToken, type Actor, type TestApp } from './helpers/app'
import { startProviderDouble } from './helpers/providers'

/**
 * The request schemas of the OpenAPI document say what the server accepts: a value the document
 * allows is not refused, and one the server always refuses is not documented as allowed (found
 * by a probe sending every documented boundary: space `type` listed `git` and `starterKit`, which
 * are always 422; the secret maps allowed any key and any string).
 */

type Json = any

let doc: Json
let t: TestApp
let admin: Actor
beforeAll(async () => {
  doc = await openapiDocument()
  t = await makeTestApp()
  admin = await makeActor(t, { role: 'admin' })
}, 60_000)

const bodySchema = (path: string, method: string): Json => doc.paths[path][method].requestBody.content['application/json'].schema
/** The values a schema allows for a string with `const` or `enum`. */
const allowed = (s: Json): unknown[] => ('const' in s ? [s.const] : s.enum)

describe('space type', () => {
  test('the document allows only what is accepted (empty); git and starterKit are refused with 422 and not documented as allowed', async () => {
    for (const [path, method] of [
      ['/api/v1/spaces', 'post'],
      ['/api/v1/spaces/{id}', 'patch'],
    ] as const) {
      const type = bodySchema(path, method).properties.type
      expect(allowed(type)).toEqual(['empty'])
      expect(type.description).toContain('not supported by this server yet')
    }
    const created = await t.req('POST', '/api/v1/spaces', { token: admin.token, body: { name: 'Plain', type: 'empty' } })
    expect(created.status).toBe(201)
    expect((await t.req('PATCH', `/api/v1/spaces/${created.body.space.id}`, { token: admin.token, body: { type: 'empty' } })).status).toBe(200)
    for (const type of ['git', 'starterKit', 'svn']) {
      const res = await t.req('POST', '/api/v1/spaces', { token: admin.token, body: { name: 'Repo', type } })
      expect([res.status, res.body.code, res.body.details?.[0]?.field]).toEqual([422, 'validation_failed', 'type'])
      expect(res.body.message).toBe('Validation failed: type must be "empty": git and starterKit spaces are not supported by this server yet (leave type out or send "empty")')
    }
  })
})

describe('secret maps (space secrets, organization env)', () => {
  const routes = async () => {
    const space = (await t.req('POST', '/api/v1/spaces', { token: admin.token, body: { name: 'Secrets' } })).body.space.id
    return [
      { template: '/api/v1/spaces/{id}/secrets', path: `/api/v1/spaces/${space}/secrets` },
      { template: '/api/v1/organizations/{orgId}/env', path: `/api/v1/organizations/${admin.organizationId}/env` },
    ]
  }

  test('keys: the documented propertyNames (pattern, maxLength) are the rule the server applies', async () => {
    for (const { template, path } of await routes()) {
      const secrets = bodySchema(template, 'post').properties.secrets
      expect(secrets.propertyNames).toEqual({ pattern: '^[A-Z][A-Z0-9_]*$', maxLength: 128 })
      const pattern = new RegExp(secrets.propertyNames.pattern)
      const documented = (k: string) => pattern.test(k) && k.length <= secrets.propertyNames.maxLength
      for (const key of ['GOOD_KEY', 'K', 'K'.repeat(128), 'K'.repeat(129), 'lower_key', 'WITH SPACE', '', '1STARTS_WITH_DIGIT', '_KEY', 'ÄÖÜ', 'KEY-1']) {
        const res = await t.req('POST', path, { token: admin.token, body: { secrets: { [key]: 'v' } } })
        expect([key, res.status]).toEqual([key, documented(key) ? 200 : 422])
      }
    }
  })

  test('values: the documented maxLength (65536) holds, and the description says the limit is in UTF-8 bytes', async () => {
    for (const { template, path } of await routes()) {
      const secrets = bodySchema(template, 'post').properties.secrets
      const value = Object.values<Json>(secrets.patternProperties)[0]
      expect(value.maxLength).toBe(65536)
      expect(`${secrets.description} ${value.description}`).toContain('65536 bytes in UTF-8')
      expect((await t.req('POST', path, { token: admin.token, body: { secrets: { FITS: 'v'.repeat(65536) } } })).status).toBe(200)
      const over = await t.req('POST', path, { token: admin.token, body: { secrets: { OVER: 'v'.repeat(65537) } } })
      expect([over.status, over.body.details[0].field]).toEqual([422, 'secrets.OVER'])
      expect(over.body.message).toContain('at most 65536 bytes (64 KiB)')
      expect(over.text).not.toContain('vvvvvvvv')
      // Within maxLength but over 64 KiB in UTF-8: the description's limit, checked by the server.
      expect((await t.req('POST', path, { token: admin.token, body: { secrets: { WIDE: 'é'.repeat(40_000) } } })).status).toBe(422)
    }
  })
})

describe('string lengths', () => {
  test('the document says lengths count UTF-16 code units (an emoji is 2), as the server counts them', async () => {
    expect(doc.info.description).toContain('UTF-16 code units')
    const name = bodySchema('/api/v1/spaces', 'post').properties.name
    expect(name.maxLength).toBe(200)
    expect((await t.req('POST', '/api/v1/spaces', { token: admin.token, body: { name: '\u{1F600}'.repeat(100) } })).status).toBe(201)
    expect((await t.req('POST', '/api/v1/spaces', { token: admin.token, body: { name: '\u{1F600}'.repeat(101) } })).status).toBe(422)
  })

  test("a token's name, a task's title, an agent's name: half their maxLength in emoji passes, one more is 422, as the document's description says", async () => {
    for (const [path, field] of [
      ['/api/v1/tokens', 'name'],
      ['/api/v1/tasks', 'title'],
      ['/api/v1/agents', 'name'],
    ] as const) {
      const max: number = bodySchema(path, 'post').properties[field].maxLength
      const fits = await t.req('POST', path, { token: admin.token, body: { [field]: '\u{1F600}'.repeat(max / 2) } })
      expect([path, fits.status]).toEqual([path, 201])
      // max / 2 + 1 characters as JSON Schema counts them, max + 2 code units as the server does.
      const over = await t.req('POST', path, { token: admin.token, body: { [field]: '\u{1F600}'.repeat(max / 2 + 1) } })
      expect([path, over.status, over.body.details?.[0]?.field]).toEqual([path, 422, field])
    }
  })
})

describe('request bodies', () => {
  // The generator listed a form type beside JSON for every body: Swagger UI offered it and sent
  // lists comma-joined, objects as a JSON string and every optional field with a sample (422s).
  test('are documented as JSON only; the form the server also reads is said in words', () => {
    for (const [path, ops] of Object.entries(doc.paths as Json)) {
      for (const [method, op] of Object.entries(ops as Json) as [string, Json][]) {
        if (!op.requestBody) continue
        expect([path, method, Object.keys(op.requestBody.content)]).toEqual([path, method, ['application/json']])
        expect(op.requestBody.description).toContain('application/x-www-form-urlencoded')
      }
    }
  })
})

describe('the request examples Swagger UI fills in', () => {
  // Swagger UI puts an operation's first example in its "Try it out" box: it must work as it is
  // (the task example assigned to a placeholder agent id, and the space example added one: 422).
  const firstExample = (path: string, method: string): Json => {
    const media = doc.paths[path][method].requestBody.content['application/json']
    const s = media.schema.$ref ? doc.components.schemas[media.schema.$ref.split('/').pop()] : media.schema
    return media.example ?? media.examples?.[Object.keys(media.examples)[0]!]?.value ?? s.examples?.[0] ?? s.example
  }
  test('creates and changes of agents, spaces, tasks and tokens are accepted as they are', async () => {
    for (const [method, path, status] of [
      ['post', '/api/v1/agents', 201],
      ['post', '/api/v1/spaces', 201],
      ['post', '/api/v1/tasks', 201],
      ['post', '/api/v1/tokens', 201],
      ['post', '/api/tokens/create', 201],
    ] as const) {
      const body = firstExample(path, method)
      expect(body).toBeDefined()
      const r = await t.req(method.toUpperCase(), path, { token: admin.token, body })
      expect([path, r.status, r.body?.message]).toEqual([path, status, undefined])
    }
    const space = (await t.req('POST', '/api/v1/spaces', { token: admin.token, body: { name: 'Example target' } })).body.space
    const task = (await t.req('POST', '/api/v1/tasks', { token: admin.token, body: { title: 'Example target' } })).body
    const agent = (await t.req('POST', '/api/v1/agents', { token: admin.token, body: { name: 'Example target' } })).body
    for (const [path, id] of [
      ['/api/v1/spaces/{id}', space.id],
      ['/api/v1/tasks/{id}', task.id],
      ['/api/v1/agents/{id}', agent.id],
    ] as const) {
      const r = await t.req('PATCH', path.replace('{id}', id), { token: admin.token, body: firstExample(path, 'patch') })
      expect([path, r.status, r.body?.message]).toEqual([path, 200, undefined])
    }
  })
})

describe('every request example of the document', () => {
  // Each example of every request body, sent as it is, gets a success status its operation
  // documents (not 400 or 422): Swagger UI fills in the first, a client copies any. The space
  // change's second example added and removed agents by placeholder ids (always 422). The
  // objects examples name by slug (the task's assignee `deploy-bot`, the execute's space
  // `production`) are those the create examples make, which go first; an example whose path
  // names an object gets one of its own (a rotation, the calling token: a token of its own).
  const examplesOf = (media: Json): Json[] => {
    const s = media.schema.$ref ? doc.components.schemas[media.schema.$ref.split('/').pop()] : media.schema
    if (media.example !== undefined) return [media.example]
    if (media.examples) return Object.values<Json>(media.examples).map((e) => e.value)
    return s.examples ?? (s.example !== undefined ? [s.example] : [])
  }
  test('each gets a documented 2xx', async () => {
    const double = startProviderDouble()
    const app = await makeTestApp({ config: { openaiBaseUrl: double.openaiBaseUrl, defaultModel: 'test-model', userRateLimit: null } })
    try {
      // A year-long token: the examples' expiries (a rotation's `2027-03-01`) are within it.
      const me = await makeActor(app, { role: 'admin', token: { expiresInDays: 365 } })
      const ok = async (method: string, path: string, body?: Json, token = me.token) => {
        const r = await app.req(method, path, { token, body })
        if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${r.text}`)
        return r.body
      }
      const n = { i: 0 }
      const fresh = async (path: string): Promise<{ path: string; token: string }> => {
        let token = me.token
        let p = path.replace('{orgId}', me.organizationId)
        if (p.includes('{userId}')) p = p.replace('{userId}', (await ok('POST', `/api/v1/organizations/${me.organizationId}/members`, { email: `example-${++n.i}@example.com`, role: 'member' })).member.userId)
        if (p.startsWith('/api/v1/agents/{id}')) p = p.replace('{id}', (await ok('POST', '/api/v1/agents', { name: `Example ${++n.i}` })).id)
        if (p.startsWith('/api/v1/spaces/{id}')) p = p.replace('{id}', (await ok('POST', '/api/v1/spaces', { name: `Example ${++n.i}` })).space.id)
        if (p.startsWith('/api/v1/tasks/{id}')) p = p.replace('{id}', (await ok('POST', '/api/v1/tasks', { title: `Example ${++n.i}` })).id)
        // Tokens a person made (the console's): a token made by a token rotates no later than that one expired.
        if (p.includes('/tokens/{id}')) p = p.replace('{id}', (await makeToken(app, me, { name: `Example ${++n.i}` })).id)
        if (p === '/api/v1/tokens/self/rotate') token = (await makeToken(app, me, { name: `Example ${++n.i}` })).token
        return { path: p, token }
      }
      const first = ['post /api/v1/agents', 'post /api/v1/spaces']
      const ops = Object.entries<Json>(doc.paths)
        .flatMap(([path, ops]) => Object.entries<Json>(ops).map(([method, op]) => ({ path, method, op })))
        .filter(({ op }) => op.requestBody?.content?.['application/json'])
        .sort((a, b) => Number(first.includes(`${b.method} ${b.path}`)) - Number(first.includes(`${a.method} ${a.path}`)))
      let sent = 0
      for (const { path, method, op } of ops) {
        for (const example of examplesOf(op.requestBody.content['application/json'])) {
          const target = await fresh(path)
          const r = await app.req(method.toUpperCase(), target.path, { token: target.token, body: example })
          const documented = Object.keys(op.responses).filter((s) => s.startsWith('2'))
          expect({ method, path, example, status: r.status, error: r.status >= 300 ? r.body : undefined, documented: documented.includes(String(r.status)) }).toEqual({ method, path, example, status: r.status, error: undefined, documented: true })
          sent++
        }
      }
      expect(sent).toBeGreaterThan(30)
    } finally {
      await app.rt.close()
      double.stop()
    }
  })
})
