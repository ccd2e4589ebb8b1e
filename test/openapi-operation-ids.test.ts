import { beforeAll, describe, expect, test } from 'bun:test'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { openapiDocument } from '../src/cli/admin/openapi'
import { camelOperationId } from '../src/http/openapi-publish'

/**
 * Every operationId is a camelCase identifier (what code generators make method names of: no
 * hyphen, dot or underscore, a lower-case letter first), unique also when a generator changes its
 * case (snake_case for Python), and stable: each operation's id is pinned below, so a changed
 * route, a renamed path or a new Elysia that names operations differently fails here instead of
 * silently renaming every generated client's methods and Swagger UI's deep links
 * (`/swagger#/Tokens/postApiV1Tokens`). A new route adds its line.
 */

type Json = any
const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace']
const CAMEL_CASE = /^[a-z][a-zA-Z0-9]*$/

/** Method and path → operationId, as published. `getApiV1Audit-events` became `getApiV1AuditEvents`. */
const PINNED: Record<string, string> = {
  'GET /api/health': 'getApiHealth',
  'GET /api/health/database-proof': 'getApiHealthDatabaseProof',
  'GET /api/health/ready': 'getApiHealthReady',
  'GET /api/v1/tokens': 'getApiV1Tokens',
  'POST /api/v1/tokens': 'postApiV1Tokens',
  'GET /api/v1/tokens/self': 'getApiV1TokensSelf',
  'DELETE /api/v1/tokens/self': 'deleteApiV1TokensSelf',
  'POST /api/v1/tokens/self/rotate': 'postApiV1TokensSelfRotate',
  'POST /api/v1/tokens/{id}/rotate': 'postApiV1TokensByIdRotate',
  'GET /api/v1/tokens/{id}': 'getApiV1TokensById',
  'DELETE /api/v1/tokens/{id}': 'deleteApiV1TokensById',
  'GET /api/v1/agents': 'getApiV1Agents',
  'POST /api/v1/agents': 'postApiV1Agents',
  'GET /api/v1/agents/{id}': 'getApiV1AgentsById',
  'PATCH /api/v1/agents/{id}': 'patchApiV1AgentsById',
  'DELETE /api/v1/agents/{id}': 'deleteApiV1AgentsById',
  'POST /api/v1/execute': 'postApiV1Execute',
  'POST /api/v1/agents/{id}/execute': 'postApiV1AgentsByIdExecute',
  'GET /api/v1/executions': 'getApiV1Executions',
  'GET /api/v1/executions/{id}': 'getApiV1ExecutionsById',
  'GET /api/v1/executions/{id}/tree': 'getApiV1ExecutionsByIdTree',
  'GET /api/v1/executions/{id}/logs': 'getApiV1ExecutionsByIdLogs',
  'POST /api/v1/executions/{id}/cancel': 'postApiV1ExecutionsByIdCancel',
  'GET /api/v1/chats': 'getApiV1Chats',
  'GET /api/v1/chats/{id}': 'getApiV1ChatsById',
  'GET /api/v1/chats/{id}/messages': 'getApiV1ChatsByIdMessages',
  'GET /api/v1/spaces': 'getApiV1Spaces',
  'POST /api/v1/spaces': 'postApiV1Spaces',
  'GET /api/v1/spaces/{id}': 'getApiV1SpacesById',
  'PATCH /api/v1/spaces/{id}': 'patchApiV1SpacesById',
  'DELETE /api/v1/spaces/{id}': 'deleteApiV1SpacesById',
  'GET /api/v1/spaces/{id}/secrets': 'getApiV1SpacesByIdSecrets',
  'POST /api/v1/spaces/{id}/secrets': 'postApiV1SpacesByIdSecrets',
  'DELETE /api/v1/spaces/{id}/secrets': 'deleteApiV1SpacesByIdSecrets',
  'GET /api/v1/organizations/{orgId}/env': 'getApiV1OrganizationsByOrgIdEnv',
  'POST /api/v1/organizations/{orgId}/env': 'postApiV1OrganizationsByOrgIdEnv',
  'DELETE /api/v1/organizations/{orgId}/env': 'deleteApiV1OrganizationsByOrgIdEnv',
  'GET /api/v1/organizations/{orgId}/members': 'getApiV1OrganizationsByOrgIdMembers',
  'POST /api/v1/organizations/{orgId}/members': 'postApiV1OrganizationsByOrgIdMembers',
  'GET /api/v1/organizations/{orgId}/members/{userId}': 'getApiV1OrganizationsByOrgIdMembersByUserId',
  'PATCH /api/v1/organizations/{orgId}/members/{userId}': 'patchApiV1OrganizationsByOrgIdMembersByUserId',
  'DELETE /api/v1/organizations/{orgId}/members/{userId}': 'deleteApiV1OrganizationsByOrgIdMembersByUserId',
  'GET /api/v1/tasks': 'getApiV1Tasks',
  'POST /api/v1/tasks': 'postApiV1Tasks',
  'GET /api/v1/tasks/{id}': 'getApiV1TasksById',
  'PATCH /api/v1/tasks/{id}': 'patchApiV1TasksById',
  'DELETE /api/v1/tasks/{id}': 'deleteApiV1TasksById',
  'GET /api/v1/audit-events': 'getApiV1AuditEvents',
  'POST /api/v1/credentials/revoke': 'postApiV1CredentialsRevoke',
  'GET /api/public/agents': 'getApiPublicAgents',
  'GET /metrics': 'getMetrics',
  'POST /api/auth/cli/initiate': 'postApiAuthCliInitiate',
  'GET /api/auth/cli/poll': 'getApiAuthCliPoll',
  'POST /api/auth/cli/refresh': 'postApiAuthCliRefresh',
  'POST /api/auth/cli/revoke': 'postApiAuthCliRevoke',
  'POST /api/tokens/create': 'postApiTokensCreate',
  'GET /api/tokens/list': 'getApiTokensList',
  'POST /api/tokens/{id}/revoke': 'postApiTokensByIdRevoke',
}

/** Each operation's "METHOD path" → its operationId. */
function operationIds(doc: Json): Record<string, string> {
  return Object.fromEntries(
    Object.entries<Json>(doc.paths).flatMap(([path, item]) =>
      Object.entries<Json>(item)
        .filter(([m]) => METHODS.includes(m))
        .map(([m, op]) => [`${m.toUpperCase()} ${path}`, op.operationId]),
    ),
  )
}

let served: Record<string, string>
let committed: Record<string, string>

beforeAll(async () => {
  served = operationIds(await openapiDocument())
  committed = operationIds(JSON.parse(readFileSync(join(import.meta.dir, '..', 'openapi', 'openapi.json'), 'utf8')))
}, 60_000)

describe('operationIds', () => {
  test('each is a camelCase identifier: letters and digits, a lower-case letter first', () => {
    const bad = Object.entries(served).filter(([, id]) => typeof id !== 'string' || !CAMEL_CASE.test(id))
    expect(bad).toEqual([])
  })

  test('each is unique, also when a generator changes its case', () => {
    const ids = Object.values(served)
    expect(new Set(ids).size).toBe(ids.length)
    expect(new Set(ids.map((id) => id.toLowerCase())).size).toBe(ids.length)
  })

  test('each is the one pinned for its operation (served and committed), and every operation is pinned', () => {
    expect(served).toEqual(PINNED)
    expect(committed).toEqual(PINNED)
  })

  test('camelOperationId: a hyphen, dot, underscore or space starts a new word; a camelCase id stays as it is', () => {
    expect(camelOperationId('getApiV1Audit-events')).toBe('getApiV1AuditEvents')
    expect(camelOperationId('getApiV1TokensById')).toBe('getApiV1TokensById')
    expect(camelOperationId('get_api.v1 audit--events')).toBe('getApiV1AuditEvents')
    expect(camelOperationId('GetThing')).toBe('getThing')
    expect(camelOperationId('2fa-check')).toBe('operation2faCheck')
    for (const id of ['getApiV1Audit-events', 'x.y_z', '-', '', '9'].map(camelOperationId)) expect(id).toMatch(CAMEL_CASE)
  })
})
