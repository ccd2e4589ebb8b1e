import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { makeActor, makeToken, makeTestApp, type Actor, type Res, type TestApp } from './helpers/app'
import { startProviderDouble, type ProviderDouble } from './helpers/providers'

/**
 * Every 201 Created says where the created resource is read (RFC 9110 §15.3.2): `Location`, the
 * resource's GET route as an absolute path, which answers 200 with that resource; the OpenAPI
 * document declares the header on each 201, and an idempotent replay sends it again. The table
 * names each operation the document answers 201 from, so a new one without an entry fails here.
 * An async execute's 202 Accepted says where its execution is polled, the same way.
 */

type Json = any
let t: TestApp
let admin: Actor
let double: ProviderDouble

beforeAll(async () => {
  double = startProviderDouble()
  t = await makeTestApp({ config: { openaiBaseUrl: double.openaiBaseUrl, defaultModel: 'test-model' } })
  admin = await makeActor(t, { role: 'admin' })
}, 60_000)
afterAll(() => double.stop())

interface Create {
  send: () => Promise<Res>
  /** The created resource's id in the answer. */
  id: (body: Json) => string
  /** The Location expected for that id. */
  at: (id: string) => string
  /** The id in the GET answer. */
  read: (body: Json) => string
  /** The token to GET it with (the creator's, unless the create ended it). */
  reader?: (body: Json) => string
}

let n = 0
const CREATES: Record<string, Create> = {
  'post /api/v1/agents': {
    send: () => t.req('POST', '/api/v1/agents', { token: admin.token, body: { name: `Writer ${++n}` } }),
    id: (b) => b.id,
    at: (id) => `/api/v1/agents/${id}`,
    read: (b) => b.agent.id,
  },
  'post /api/v1/spaces': {
    send: () => t.req('POST', '/api/v1/spaces', { token: admin.token, body: { name: `Space ${++n}` } }),
    id: (b) => b.space.id,
    at: (id) => `/api/v1/spaces/${id}`,
    read: (b) => b.space.id,
  },
  'post /api/v1/tasks': {
    send: () => t.req('POST', '/api/v1/tasks', { token: admin.token, body: { title: `Task ${++n}` } }),
    id: (b) => b.id,
    at: (id) => `/api/v1/tasks/${id}`,
    read: (b) => b.id,
  },
  'post /api/v1/organizations/{orgId}/members': {
    send: () => t.req('POST', `/api/v1/organizations/${admin.organizationId}/members`, { token: admin.token, body: { email: `added${++n}@example.com`, role: 'member' } }),
    id: (b) => b.member.userId,
    at: (id) => `/api/v1/organizations/${admin.organizationId}/members/${id}`,
    read: (b) => b.member.userId,
  },
  'post /api/v1/tokens': {
    send: () => t.req('POST', '/api/v1/tokens', { token: admin.token, body: { name: `ci ${++n}` } }),
    id: (b) => b.id,
    at: (id) => `/api/v1/tokens/${id}`,
    read: (b) => b.token.id,
  },
  'post /api/tokens/create': {
    send: () => t.req('POST', '/api/tokens/create', { token: admin.token, body: { name: `cli ${++n}` } }),
    id: (b) => b.id,
    at: (id) => `/api/v1/tokens/${id}`,
    read: (b) => b.token.id,
  },
  'post /api/v1/tokens/{id}/rotate': {
    send: async () => {
      const old = await makeToken(t, admin)
      return t.req('POST', `/api/v1/tokens/${old.id}/rotate`, { token: admin.token, body: {} })
    },
    id: (b) => b.id,
    at: (id) => `/api/v1/tokens/${id}`,
    read: (b) => b.token.id,
  },
  'post /api/v1/tokens/self/rotate': {
    // The calling token stops at once: the successor reads itself.
    send: async () => t.req('POST', '/api/v1/tokens/self/rotate', { token: (await makeToken(t, admin)).token, body: {} }),
    id: (b) => b.id,
    at: (id) => `/api/v1/tokens/${id}`,
    read: (b) => b.token.id,
    reader: (b) => b.token,
  },
}

describe('Location on 201 Created', () => {
  test('the table names every operation the document answers 201 from, and each declares Location', async () => {
    const spec = (await t.req('GET', '/swagger/json')).body
    const created: string[] = []
    for (const [path, item] of Object.entries(spec.paths) as [string, Json][])
      for (const [method, op] of Object.entries(item) as [string, Json][]) {
        const res = op.responses?.['201']
        if (!res) continue
        created.push(`${method} ${path}`)
        expect({ op: `${method} ${path}`, location: res.headers?.Location }).toEqual({ op: `${method} ${path}`, location: { $ref: '#/components/headers/Location' } })
      }
    expect(created.sort()).toEqual(Object.keys(CREATES).sort())
    expect(spec.components.headers.Location.schema).toEqual({ type: 'string', format: 'uri-reference' })
  })

  for (const [op, c] of Object.entries(CREATES)) {
    test(`${op}: Location is the created resource's GET route, and it answers 200 with it`, async () => {
      const res = await c.send()
      expect(res.status).toBe(201)
      const id = c.id(res.body)
      expect(typeof id).toBe('string')
      expect(res.headers.get('location')).toBe(c.at(id))
      const got = await t.req('GET', res.headers.get('location')!, { token: c.reader?.(res.body) ?? admin.token })
      expect(got.status).toBe(200)
      expect(c.read(got.body)).toBe(id)
    })
  }

  test('a replay of a 201 (same Idempotency-Key) sends the same Location', async () => {
    const send = () => t.req('POST', '/api/v1/tasks', { token: admin.token, body: { title: 'Once' }, headers: { 'idempotency-key': 'location-1' } })
    const first = await send()
    const again = await send()
    expect(again.headers.get('idempotency-status')).toBe('replayed')
    expect(first.headers.get('location')).toBe(`/api/v1/tasks/${first.body.id}`)
    expect(again.headers.get('location')).toBe(first.headers.get('location'))
  })

  test('a refused create sends no Location', async () => {
    const res = await t.req('POST', '/api/v1/tasks', { token: admin.token, body: { title: '' } })
    expect(res.status).toBe(422)
    expect(res.headers.get('location')).toBeNull()
  })
})

describe('Location on an async execute\'s 202 Accepted', () => {
  const EXECUTES = ['post /api/v1/execute', 'post /api/v1/agents/{id}/execute']

  test('the document declares Location on the 202s of both execute routes, and on no other 202', async () => {
    const spec = (await t.req('GET', '/swagger/json')).body
    const withLocation: string[] = []
    for (const [path, item] of Object.entries(spec.paths) as [string, Json][])
      for (const [method, op] of Object.entries(item) as [string, Json][]) if (op.responses?.['202']?.headers?.Location) withLocation.push(`${method} ${path}`)
    expect(withLocation.sort()).toEqual([...EXECUTES].sort())
    for (const op of EXECUTES) {
      const [method, path] = op.split(' ')
      expect(spec.paths[path][method].responses['202'].headers.Location).toEqual({ $ref: '#/components/headers/Location' })
    }
  })

  test('POST /agents/{id}/execute with async: Location is the execution\'s GET route, which answers 200 with it; a replay sends it again', async () => {
    const agent = await t.req('POST', '/api/v1/agents', { token: admin.token, body: { name: `Async ${++n}` } })
    const send = () => t.req('POST', `/api/v1/agents/${agent.body.id}/execute`, { token: admin.token, body: { message: 'hello', async: true }, headers: { 'idempotency-key': 'location-async' } })
    const res = await send()
    expect(res.status).toBe(202)
    const id = res.body.executionId
    expect(res.headers.get('location')).toBe(`/api/v1/executions/${id}`)
    // No Content-Location: the body reports the request, it is not the execution's representation.
    expect(res.headers.get('content-location')).toBeNull()
    const got = await t.req('GET', res.headers.get('location')!, { token: admin.token })
    expect([got.status, got.body.execution.id]).toEqual([200, id])
    const again = await send()
    expect([again.status, again.headers.get('idempotency-status'), again.headers.get('location')]).toEqual([202, 'replayed', `/api/v1/executions/${id}`])
  })

  test('POST /execute (the default assistant) with async: Location too; a synchronous execute sends none', async () => {
    const res = await t.req('POST', '/api/v1/execute', { token: admin.token, body: { message: 'hello', async: true } })
    expect(res.status).toBe(202)
    expect(res.headers.get('location')).toBe(`/api/v1/executions/${res.body.executionId}`)
    const sync = await t.req('POST', '/api/v1/execute', { token: admin.token, body: { message: 'hello' } })
    expect([sync.status, sync.headers.get('location')]).toEqual([200, null])
  })
})
