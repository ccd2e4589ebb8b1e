import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { openapiDocument } from '../src/cli/admin/openapi'
import { makeActor, makeTestApp, type Actor, type TestApp } from './helpers/app'

/**
 * The error examples of the OpenAPI document are what the server sends in their case: each named
 * error model's example (status, code, message, details), asked for as the example says (the
 * not-found examples name the document's own example ids, so their messages match to the
 * character). Ids the server makes (a user's, a request's) are compared by their prefix.
 */

type Json = any
let doc: Json
let t: TestApp
let admin: Actor
let viewer: Actor

beforeAll(async () => {
  doc = await openapiDocument()
  t = await makeTestApp({ config: { userRateLimit: null } })
  admin = await makeActor(t, { role: 'admin' })
  viewer = await makeActor(t, { role: 'viewer', org: admin.orgSlug })
}, 60_000)
afterAll(() => t.rt.close())

/** An error body with the ids made here (and the request's) reduced to their prefix. */
const shape = (body: Json): Json => {
  const { requestId: _, error: _e, ...rest } = body
  return JSON.parse(JSON.stringify(rest).replace(/\b(user|org|req)_[A-Za-z0-9]{20}\b/g, '$1_…'))
}

const example = (name: string): Json => {
  const s = doc.components.schemas[name]
  expect(s).toBeDefined()
  return s.examples[0]
}

describe('error examples', () => {
  test('each is the body the server sends in its case', async () => {
    const org = admin.organizationId
    const cases: [string, string, string, Json?, string?][] = [
      ['TaskNotFound', 'GET', '/api/v1/tasks/task_5Nq8LmX2vB3nR8kT1wYa'],
      ['AgentNotFound', 'GET', '/api/v1/agents/char_8Kq2LmX9vB3nR8kT1wYz'],
      ['SpaceNotFound', 'GET', '/api/v1/spaces/space_8Kq2LmX9vB3nR8kT1wYz'],
      ['TokenNotFound', 'GET', '/api/v1/tokens/pat_7Hq2LmX9vB3nR8kT1wYz'],
      ['AliasTokenNotFound', 'POST', '/api/tokens/pat_7Hq2LmX9vB3nR8kT1wYz/revoke'],
      ['ExecutionNotFound', 'GET', '/api/v1/executions/exec_8Kq2LmX9vB3nR8kT1wYz'],
      ['ChatNotFound', 'GET', '/api/v1/chats/chat_2Hn8Qw4Rt6Yu1Io3Pa5S'],
      ['MemberNotFound', 'PATCH', `/api/v1/organizations/${org}/members/user_4Fk9QzL2mP7xR1vN8tBc`, { role: 'admin' }],
      ['ExecuteTargetNotFound', 'POST', '/api/v1/agents/char_4Fk9QzL2mP7xR1vN8tBc/execute', { message: 'Hi' }],
      ['ExecuteSpaceNotFound', 'POST', '/api/v1/execute', { message: 'Hi', spaceId: 'production' }],
      ['ValidationFailed', 'POST', '/api/v1/tokens', { name: 'CI', expiresInDays: 1000 }],
      ['AgentBodyInvalid', 'POST', '/api/v1/agents', { name: 'Bot', maxTurns: 0 }],
      ['SpaceBodyInvalid', 'POST', '/api/v1/spaces', { name: 'Repo', type: 'git' }],
      ['MemberBodyInvalid', 'POST', `/api/v1/organizations/${org}/members`, { email: 'not-an-email', role: 'member' }],
      ['TaskQueryInvalid', 'GET', '/api/v1/tasks?limit=0'],
      ['AgentQueryInvalid', 'GET', '/api/v1/agents?limit=0'],
      ['SpaceQueryInvalid', 'GET', '/api/v1/spaces?limit=0'],
      ['TokenQueryInvalid', 'GET', '/api/v1/tokens?limit=0'],
      ['ChatQueryInvalid', 'GET', '/api/v1/chats?limit=0'],
      ['ExecutionQueryInvalid', 'GET', '/api/v1/executions?limit=0'],
      ['MemberQueryInvalid', 'GET', `/api/v1/organizations/${org}/members?limit=0`],
      ['PublicQueryInvalid', 'GET', '/api/public/agents?limit=0'],
      ['AuditQueryInvalid', 'GET', '/api/v1/audit-events?since=yesterday'],
      ['SameDatabaseInvalid', 'GET', '/api/health/database-proof?challenge=x&probe=q3Jx0c6mW1gS9kV2bT7nY4hL8pR5dZ0aE3uI6oF1jKs'],
      ['Forbidden', 'POST', '/api/v1/agents', { name: 'Bot' }, 'viewer'],
      ['InvalidJson', 'POST', '/api/v1/tokens', '{"name": "CI"'],
    ]
    const got: Json[] = []
    const want: Json[] = []
    for (const [name, method, path, body, who] of cases) {
      const token = who === 'viewer' ? viewer.token : admin.token
      const r = typeof body === 'string' ? await t.req(method, path, { token, raw: body, headers: { 'content-type': 'application/json' } }) : await t.req(method, path, { token, body })
      got.push({ name, status: r.status, ...shape(r.body) })
      const ex = example(name)
      want.push({ name, status: ex.statusCode, ...shape(ex) })
    }
    expect(got).toEqual(want)
  })

  test('the conflicts: a slug taken, a member already added', async () => {
    const cases: [string, string, Json][] = [
      ['AgentSlugTaken', '/api/v1/agents', { name: 'Deploy Bot', slug: 'deploy-bot' }],
      ['SpaceSlugTaken', '/api/v1/spaces', { name: 'Production', slug: 'production' }],
      ['MemberAddConflict', `/api/v1/organizations/${admin.organizationId}/members`, { email: 'ada@example.com', role: 'member' }],
    ]
    for (const [name, path, body] of cases) {
      expect((await t.req('POST', path, { token: admin.token, body })).status).toBeLessThan(300)
      const r = await t.req('POST', path, { token: admin.token, body })
      const ex = example(name)
      expect({ name, status: r.status, ...shape(r.body) }).toEqual({ name, status: ex.statusCode, ...shape(ex) })
    }
  })
})
