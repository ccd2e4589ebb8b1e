import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { makeWorld, REQUESTS, type World } from './helpers/world'

/**
 * The refusals each operation documents are the ones it gives.
 *
 * 403: the 403 each operation documents is the one it gives. The shared `Forbidden` response says the
 * role does not allow the request; operations that also refuse for another reason (a member and
 * someone else's space, someone else's execution, a parent execution they did not start) name
 * that reason in a 403 of their own, with the real message as its example; an operation that
 * refuses nobody it authenticated (GET /tokens/self) documents no 403.
 *
 * 409: the members' routes each name the codes they answer (an add: `already_member`, `conflict`;
 * a role change or a removal: `last_admin`), and a route's own 409 names the Idempotency-Key codes
 * its retry can get: `idempotency_secret_withheld` where a retry really withholds a new secret,
 * `idempotency_stream_started` where it is an execute's stream. It named all five everywhere.
 */

type Json = any
let w: World
let spec: Json

beforeAll(async () => {
  w = await makeWorld()
  spec = (await w.t.req('GET', '/swagger/json')).body
}, 60_000)
afterAll(() => w.close())

/** A response as written, or the shared one in components.responses it refers to. */
const resolved = (r: Json) => (typeof r?.$ref === 'string' ? spec.components.responses[r.$ref.split('/').pop()] : r)

/** The documented 403 of `method path`: the name of its model and that model. */
function documented403(method: string, path: string): { name: string; model: Json } {
  const res = resolved(spec.paths[path][method.toLowerCase()].responses['403'])
  expect({ method, path, documents403: res !== undefined }).toEqual({ method, path, documents403: true })
  const ref: string = res.content['application/json'].schema.$ref
  const name = ref.split('/').pop()!
  return { name, model: spec.components.schemas[name] }
}

describe('a 403 that is not about the role is documented as what it is', () => {
  test("a member changing, archiving or changing the secrets of someone else's space", async () => {
    const space = await w.newSpace(w.who.memberA)
    const as = w.who.otherA.token
    const cases: [string, string, string, unknown][] = [
      ['PATCH', `/api/v1/spaces/${space}`, '/api/v1/spaces/{id}', { description: 'x' }],
      ['DELETE', `/api/v1/spaces/${space}`, '/api/v1/spaces/{id}', undefined],
      ['POST', `/api/v1/spaces/${space}/secrets`, '/api/v1/spaces/{id}/secrets', { secrets: { A_KEY: 'v' } }],
      ['DELETE', `/api/v1/spaces/${space}/secrets`, '/api/v1/spaces/{id}/secrets', { keys: ['A_KEY'] }],
    ]
    for (const [method, url, path, body] of cases) {
      const res = await w.t.req(method, url, { token: as, body })
      expect([method, url, res.status, res.body.code]).toEqual([method, url, 403, 'forbidden'])
      const { name, model } = documented403(method, path)
      expect({ method, path, name }).not.toEqual({ method, path, name: 'Forbidden' })
      expect(model.examples[0].code).toBe(res.body.code)
      expect(res.body.message).toContain("Forbidden: only the space's creator or an organization admin can")
    }
    const patch = await w.t.req('PATCH', `/api/v1/spaces/${space}`, { token: as, body: { description: 'x' } })
    expect(documented403('PATCH', '/api/v1/spaces/{id}').model.examples[0].message).toBe(patch.body.message)
  })

  test("a member cancelling someone else's execution", async () => {
    const running = await w.runningExecution(w.who.memberA)
    const res = await w.t.req('POST', `/api/v1/executions/${running}/cancel`, { token: w.who.otherA.token })
    expect([res.status, res.body.code]).toEqual([403, 'forbidden'])
    const { name, model } = documented403('POST', '/api/v1/executions/{id}/cancel')
    expect(name).not.toBe('Forbidden')
    expect([model.examples[0].code, model.examples[0].message]).toEqual([res.body.code, res.body.message])
    expect((await w.t.req('POST', `/api/v1/executions/${running}/cancel`, { token: w.who.memberA.token })).status).toBe(200)
  })

  test('an execute whose parentExecutionId is an execution the caller did not start', async () => {
    for (const [url, path] of [
      [`/api/v1/agents/${w.agentId}/execute`, '/api/v1/agents/{id}/execute'],
      ['/api/v1/execute', '/api/v1/execute'],
    ]) {
      const res = await w.t.req('POST', url, { token: w.who.otherA.token, body: { message: 'hi', parentExecutionId: w.execId } })
      expect([path, res.status, res.body.code]).toEqual([path, 403, 'forbidden'])
      const { name, model } = documented403('POST', path)
      expect(name).not.toBe('Forbidden')
      expect([model.examples[0].code, model.examples[0].message]).toEqual([res.body.code, res.body.message])
    }
  })
})

describe("TeamDay CLI's token aliases", () => {
  test('the revoke alias, which takes no organizationId, documents the 403 of DELETE /api/v1/tokens/{id}, and gives it', async () => {
    const broad = (await w.t.req('POST', '/api/v1/tokens', { token: w.who.memberA.token, body: { name: 'broad', scopes: ['tokens:read', 'tokens:write', 'agents:read'] } })).body.id as string
    const narrow = (await w.t.req('POST', '/api/v1/tokens', { token: w.who.memberA.token, body: { name: 'narrow', scopes: ['tokens:write'] } })).body.token as string
    const res = await w.t.req('POST', `/api/tokens/${broad}/revoke`, { token: narrow })
    expect([res.status, res.body.code]).toEqual([403, 'insufficient_scope'])
    const alias = documented403('POST', '/api/tokens/{id}/revoke')
    expect(alias.name).toBe(documented403('DELETE', '/api/v1/tokens/{id}').name)
    expect(alias.model.examples[0].code).toBe(res.body.code)
    expect(resolved(spec.paths['/api/tokens/{id}/revoke'].post.responses['403']).description).not.toContain('organizationId')
  })

  test('the create alias documents both kinds of its 403: another organization, and the rules of POST /api/v1/tokens', async () => {
    const narrow = (await w.t.req('POST', '/api/v1/tokens', { token: w.who.memberA.token, body: { name: 'narrow create', scopes: ['tokens:write'] } })).body.token as string
    const broader = await w.t.req('POST', '/api/tokens/create', { token: narrow, body: { name: 'wider', scopes: ['agents:read'] } })
    const elsewhere = await w.t.req('POST', '/api/tokens/create', { token: narrow, body: { name: 'elsewhere', organizationId: w.who.memberB.organizationId } })
    expect([broader.status, broader.body.code, elsewhere.status, elsewhere.body.code]).toEqual([403, 'insufficient_scope', 403, 'forbidden'])
    const said: string = resolved(spec.paths['/api/tokens/create'].post.responses['403']).description
    for (const words of ['`organizationId`', 'scopes asked for', '`insufficient_scope`']) expect({ words, said: said.includes(words) }).toEqual({ words, said: true })
  })
})

describe('an operation that refuses nobody it authenticated documents no 403', () => {
  test('GET /tokens/self answers every role and every scope set', async () => {
    const narrow = (await w.t.req('POST', '/api/v1/tokens', { token: w.who.viewerA.token, body: { name: 'narrow', scopes: ['agents:read'] } })).body.token as string
    for (const token of [w.who.adminA.token, w.who.memberA.token, w.who.viewerA.token, narrow]) expect((await w.t.req('GET', '/api/v1/tokens/self', { token })).status).toBe(200)
    expect(Object.keys(spec.paths['/api/v1/tokens/self'].get.responses)).not.toContain('403')
  })

  test("DELETE /tokens/self's one 403 is an agent run's insufficient_scope, not the role's", () => {
    const { name, model } = documented403('DELETE', '/api/v1/tokens/self')
    expect(name).not.toBe('Forbidden')
    expect(model.examples[0].code).toBe('insufficient_scope')
  })
})

describe("the members' 409s", () => {
  test('an add names what an add answers; a role change and a removal, the last admin', async () => {
    const org = w.who.adminA.organizationId
    const as = { token: w.who.adminA.token }
    const add = await w.t.req('POST', `/api/v1/organizations/${org}/members`, { ...as, body: { email: w.who.memberA.email, role: 'member' } })
    expect([add.status, add.body.code]).toEqual([409, 'already_member'])
    const demote = await w.t.req('PATCH', `/api/v1/organizations/${org}/members/${w.who.adminA.userId}`, { ...as, body: { role: 'member' } })
    const remove = await w.t.req('DELETE', `/api/v1/organizations/${org}/members/${w.who.adminA.userId}`, as)
    for (const r of [demote, remove]) expect([r.status, r.body.code]).toEqual([409, 'last_admin'])
    const model = (method: string, path: string) => spec.components.schemas[spec.paths[path][method].responses['409'].content['application/json'].schema.$ref.split('/').pop()]
    expect(model('post', '/api/v1/organizations/{orgId}/members').examples[0].code).toBe('already_member')
    for (const [method, path] of [['patch', '/api/v1/organizations/{orgId}/members/{userId}'], ['delete', '/api/v1/organizations/{orgId}/members/{userId}']]) {
      expect(model(method, path).examples[0].code).toBe('last_admin')
      const said: string = spec.paths[path][method].responses['409'].description
      for (const code of ['`already_member`', '`conflict`']) expect({ method, path, code, named: said.includes(code) }).toEqual({ method, path, code, named: false })
    }
    expect(spec.paths['/api/v1/organizations/{orgId}/members'].post.responses['409'].description).not.toContain('`last_admin`')
  })
})

describe('the Idempotency-Key codes a 409 names', () => {
  test('`idempotency_secret_withheld` where a retry withholds a new secret, and nowhere else', async () => {
    let checked = 0
    for (const [key, make] of Object.entries(REQUESTS)) {
      const [method, route] = key.split(' ')
      const path = route!.replace(/:(\w+)/g, '{$1}')
      const op = spec.paths[path]?.[method!.toLowerCase()]
      // The operation's own 409 (possibly shared with others alike), not the bare Idempotency-Key one.
      const own = resolved(op?.responses?.['409'])
      if ((method !== 'POST' && method !== 'PATCH') || !op?.security?.length || !own || op.responses['409'].$ref === '#/components/responses/IdempotencyConflict') continue
      const r = await make(w, w.who.adminA)
      // A route that ends its own token cannot be retried with it (401 first).
      if (r.freshToken || r.supersededToken) continue
      const headers = { 'idempotency-key': `refusals-${checked}` }
      const first = await w.t.req(method!, r.path, { token: w.who.adminA.token, body: r.body, headers })
      expect([key, first.status < 300]).toEqual([key, true])
      const retry = await w.t.req(method!, r.path, { token: w.who.adminA.token, body: r.body, headers })
      const withheld = retry.status === 409 && retry.body.code === 'idempotency_secret_withheld'
      expect({ key, named: own.description.includes('`idempotency_secret_withheld`') }).toEqual({ key, named: withheld })
      if (!route!.endsWith('/execute')) expect({ key, named: own.description.includes('`idempotency_stream_started`') }).toEqual({ key, named: false })
      checked++
    }
    expect(checked).toBeGreaterThanOrEqual(10)
  })

  test("`idempotency_stream_started` on the execute routes, whose streamed run a retry does not replay", async () => {
    for (const [url, path] of [
      [`/api/v1/agents/${w.agentId}/execute`, '/api/v1/agents/{id}/execute'],
      ['/api/v1/execute', '/api/v1/execute'],
    ]) {
      const headers = { 'idempotency-key': `stream-${path}` }
      const first = await w.t.req('POST', url, { token: w.who.memberA.token, body: { message: 'hi', stream: true }, headers })
      expect(first.status).toBe(200)
      const retry = await w.t.req('POST', url, { token: w.who.memberA.token, body: { message: 'hi', stream: true }, headers })
      expect([path, retry.status, retry.body.code]).toEqual([path, 409, 'idempotency_stream_started'])
      expect(resolved(spec.paths[path].post.responses['409']).description).toContain('`idempotency_stream_started`')
    }
  })
})

describe('a path parameter past its maxLength', () => {
  test("is the validator's 422 naming it, and every operation with such a parameter says so in its 422", async () => {
    const resolve = (x: Json) => (x?.$ref ? x.$ref.split('/').slice(1).reduce((o: Json, k: string) => o[k], spec) : x)
    let checked = 0
    for (const [path, item] of Object.entries<Json>(spec.paths))
      for (const [method, op] of Object.entries<Json>(item)) {
        const bounded = (op.parameters ?? []).map(resolve).filter((p: Json) => p.in === 'path' && typeof p.schema?.maxLength === 'number')
        for (const p of bounded) {
          const url = path.replace(/\{(\w+)\}/g, (_, name) => (name === p.name ? 'x'.repeat(p.schema.maxLength + 1) : name === 'orgId' ? w.who.adminA.organizationId : 'none'))
          // A body as the document's example has it, so that only the path is wrong.
          const media = op.requestBody?.content?.['application/json']
          const body = media ? (media.example ?? resolve(media.schema).examples?.[0] ?? {}) : undefined
          const res = await w.t.req(method.toUpperCase(), url, { token: w.who.adminA.token, body })
          const fields = (res.body.details ?? []).map((d: Json) => d.field)
          expect([method, path, p.name, res.status, res.body.code, fields.includes(p.name)]).toEqual([method, path, p.name, 422, 'validation_failed', true])
          expect({ method, path, said: resolve(op.responses['422']).description.includes('`maxLength`') }).toEqual({ method, path, said: true })
          checked++
        }
      }
    expect(checked).toBeGreaterThanOrEqual(15)
  })
})
