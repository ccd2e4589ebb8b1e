// The authorization matrix: every route × every kind of caller, asserting status and code,
// and that no body handed to organization B contains an id of organization A.
import { beforeAll, describe, expect, test } from 'bun:test'
import { revokeById } from '../src/modules/tokens/service'
import { makeActor, makeTestApp, makeToken, type Actor, type TestApp } from './helpers/app'

const DAY = 86_400_000

type Caller = 'adminA' | 'ownerA' | 'viewerA' | 'otherA' | 'adminB' | 'revoked' | 'expired' | 'malformed' | 'none'
const CALLERS: Caller[] = ['adminA', 'ownerA', 'viewerA', 'otherA', 'adminB', 'revoked', 'expired', 'malformed', 'none']
const UNAUTHENTICATED: Partial<Record<Caller, string>> = {
  revoked: 'token_revoked',
  expired: 'token_expired',
  malformed: 'malformed_token',
  none: 'missing_token',
}

/** Expected status for the five authenticated callers (the other four always get 401). */
type Expect = [adminA: number, ownerA: number, viewerA: number, otherA: number, adminB: number]

interface Route {
  name: string
  method: string
  /** Builds the path (and fixtures) for one cell; destructive routes get fresh fixtures. */
  path: () => string
  body?: () => unknown
  expect: Expect
}

let t: TestApp
const who = {} as Record<'adminA' | 'ownerA' | 'viewerA' | 'otherA' | 'adminB', Actor>
let revokedToken = ''
let expiredToken = ''
const idsOfA = new Set<string>()

async function create(path: string, body: unknown, as: Actor = who.ownerA): Promise<any> {
  const res = await t.req('POST', path, { token: as.token, body })
  if (res.status !== 201) throw new Error(`fixture ${path}: ${res.status} ${res.text}`)
  return res.body
}
const newAgent = async () => {
  const b = await create('/api/v1/agents', { name: 'Shared agent', visibility: 'organization', systemPrompt: 'x' })
  idsOfA.add(b.id)
  return b.id as string
}
const newSpace = async () => {
  const b = await create('/api/v1/spaces', { name: 'Shared space', visibility: 'organization' })
  idsOfA.add(b.space.id)
  return b.space.id as string
}
const newTask = async () => {
  const b = await create('/api/v1/tasks', { title: 'A task' })
  idsOfA.add(b.id)
  return b.id as string
}

let agentId = ''
let spaceId = ''
let taskId = ''

beforeAll(async () => {
  t = await makeTestApp()
  who.adminA = await makeActor(t, { role: 'admin', org: 'alpha' })
  who.ownerA = await makeActor(t, { role: 'member', org: 'alpha' })
  who.viewerA = await makeActor(t, { role: 'viewer', org: 'alpha' })
  who.otherA = await makeActor(t, { role: 'member', org: 'alpha' })
  who.adminB = await makeActor(t, { role: 'admin', org: 'beta' })
  for (const a of Object.values(who)) if (a.orgSlug === 'alpha') idsOfA.add(a.tokenId)
  const r = await makeToken(t, who.ownerA)
  await revokeById(t.ctx, r.id, who.ownerA.userId, 'manual')
  revokedToken = r.token
  t.clock.advance(-8 * DAY)
  expiredToken = (await makeToken(t, who.ownerA, { expiresInDays: 7 })).token
  t.clock.advance(8 * DAY)
  agentId = await newAgent()
  spaceId = await newSpace()
  taskId = await newTask()
  await t.req('POST', `/api/v1/spaces/${spaceId}/secrets`, { token: who.ownerA.token, body: { secrets: { API_KEY: 'v' } } })
})

const routes: Route[] = [
  { name: 'GET /tokens', method: 'GET', path: () => '/api/v1/tokens', expect: [200, 200, 200, 200, 200] },
  { name: 'POST /tokens', method: 'POST', path: () => '/api/v1/tokens', body: () => ({ name: 'matrix' }), expect: [201, 201, 201, 201, 201] },
  { name: "GET /tokens/{owner's}", method: 'GET', path: () => `/api/v1/tokens/${who.ownerA.tokenId}`, expect: [200, 200, 404, 404, 404] },
  { name: 'GET /tokens?all=true', method: 'GET', path: () => '/api/v1/tokens?all=true', expect: [200, 403, 403, 403, 200] },
  { name: 'GET /agents', method: 'GET', path: () => '/api/v1/agents', expect: [200, 200, 200, 200, 200] },
  { name: 'POST /agents', method: 'POST', path: () => '/api/v1/agents', body: () => ({ name: 'M' }), expect: [201, 201, 403, 201, 201] },
  { name: 'GET /agents/{id}', method: 'GET', path: () => `/api/v1/agents/${agentId}`, expect: [200, 200, 200, 200, 404] },
  { name: 'PATCH /agents/{id}', method: 'PATCH', path: () => `/api/v1/agents/${agentId}`, body: () => ({ description: 'changed' }), expect: [200, 200, 403, 403, 404] },
  { name: 'GET /spaces', method: 'GET', path: () => '/api/v1/spaces', expect: [200, 200, 200, 200, 200] },
  { name: 'POST /spaces', method: 'POST', path: () => '/api/v1/spaces', body: () => ({ name: 'M' }), expect: [201, 201, 403, 201, 201] },
  { name: 'GET /spaces/{id}', method: 'GET', path: () => `/api/v1/spaces/${spaceId}`, expect: [200, 200, 200, 200, 404] },
  { name: 'PATCH /spaces/{id}', method: 'PATCH', path: () => `/api/v1/spaces/${spaceId}`, body: () => ({ description: 'changed' }), expect: [200, 200, 403, 403, 404] },
  { name: 'GET /spaces/{id}/secrets', method: 'GET', path: () => `/api/v1/spaces/${spaceId}/secrets`, expect: [200, 200, 200, 200, 404] },
  { name: 'POST /spaces/{id}/secrets', method: 'POST', path: () => `/api/v1/spaces/${spaceId}/secrets`, body: () => ({ secrets: { OTHER_KEY: 'v' } }), expect: [200, 200, 403, 403, 404] },
  { name: 'DELETE /spaces/{id}/secrets', method: 'DELETE', path: () => `/api/v1/spaces/${spaceId}/secrets`, body: () => ({ keys: ['OTHER_KEY'] }), expect: [200, 200, 403, 403, 404] },
  { name: 'GET /organizations/{A}/env', method: 'GET', path: () => `/api/v1/organizations/${who.adminA.organizationId}/env`, expect: [200, 200, 403, 200, 403] },
  { name: 'POST /organizations/{A}/env', method: 'POST', path: () => `/api/v1/organizations/${who.adminA.organizationId}/env`, body: () => ({ secrets: { ORG_KEY: 'v' } }), expect: [200, 403, 403, 403, 403] },
  { name: 'DELETE /organizations/{A}/env', method: 'DELETE', path: () => `/api/v1/organizations/${who.adminA.organizationId}/env`, body: () => ({ keys: ['ORG_KEY'] }), expect: [200, 403, 403, 403, 403] },
  { name: 'GET /tasks', method: 'GET', path: () => '/api/v1/tasks', expect: [200, 200, 200, 200, 200] },
  { name: 'POST /tasks', method: 'POST', path: () => '/api/v1/tasks', body: () => ({ title: 'M' }), expect: [201, 201, 403, 201, 201] },
  { name: 'GET /tasks/{id}', method: 'GET', path: () => `/api/v1/tasks/${taskId}`, expect: [200, 200, 200, 200, 404] },
  { name: 'PATCH /tasks/{id}', method: 'PATCH', path: () => `/api/v1/tasks/${taskId}`, body: () => ({ priority: 'high' }), expect: [200, 200, 403, 403, 404] },
]

/** Destructive routes: each cell acts on a fixture of its own. */
const destructive: { name: string; method: string; make: () => Promise<string>; body?: () => unknown; expect: Expect }[] = [
  { name: 'DELETE /tokens/{owner-token}', method: 'DELETE', make: async () => `/api/v1/tokens/${(await makeToken(t, who.ownerA)).id}`, expect: [200, 200, 404, 404, 404] },
  { name: 'DELETE /agents/{id}', method: 'DELETE', make: async () => `/api/v1/agents/${await newAgent()}`, expect: [200, 200, 403, 403, 404] },
  { name: 'DELETE /spaces/{id}', method: 'DELETE', make: async () => `/api/v1/spaces/${await newSpace()}`, expect: [200, 200, 403, 403, 404] },
  { name: 'DELETE /tasks/{id}', method: 'DELETE', make: async () => `/api/v1/tasks/${await newTask()}`, expect: [200, 200, 403, 403, 404] },
]

function tokenOf(c: Caller): string | undefined {
  if (c === 'revoked') return revokedToken
  if (c === 'expired') return expiredToken
  if (c === 'malformed') return 'td_not-a-real-token'
  if (c === 'none') return undefined
  return who[c].token
}

async function check(c: Caller, method: string, path: string, body: unknown, expected: Expect) {
  const res = await t.req(method, path, { token: tokenOf(c), body })
  const label = `${c} ${method} ${path}`
  const want = UNAUTHENTICATED[c] ? 401 : expected[CALLERS.indexOf(c)]
  expect({ label, status: res.status }).toEqual({ label, status: want })
  expect(res.headers.get('content-type') ?? '').toContain('application/json')
  if (UNAUTHENTICATED[c]) expect({ label, code: res.body.code }).toEqual({ label, code: UNAUTHENTICATED[c] })
  else if (want === 403) expect({ label, code: res.body.code }).toEqual({ label, code: 'forbidden' })
  else if (want === 404) expect({ label, code: res.body.code }).toEqual({ label, code: 'not_found' })
  if (res.status >= 400) expect(res.body.error).toBe(true)
  // Organization B never receives an id of organization A (other than one it sent itself).
  if (c === 'adminB') for (const id of idsOfA) if (!path.includes(id)) expect({ label, leaked: res.text.includes(id) }).toEqual({ label, leaked: false })
}

describe('authorization matrix', () => {
  for (const r of routes) {
    for (const c of CALLERS) {
      test(`${r.name} as ${c}`, async () => {
        await check(c, r.method, r.path(), r.body?.(), r.expect)
      })
    }
  }
  for (const r of destructive) {
    for (const c of CALLERS) {
      test(`${r.name} as ${c}`, async () => {
        await check(c, r.method, await r.make(), r.body?.(), r.expect)
      })
    }
  }
  test('public agents need no token', async () => {
    const res = await t.req('GET', '/api/public/agents')
    expect(res.status).toBe(200)
  })
})
