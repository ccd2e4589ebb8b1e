// The authorization matrix, as named scenarios (PocketBase's ApiScenario): every route of the app
// × every kind of caller, each with the status and a fragment of the body it must answer. The
// tests are generated from the app's own route list, so a route added without a row here fails.
// No answer to organization B may contain an id of organization A.
import { afterAll, describe, expect, test } from 'bun:test'
import { makeToken } from './helpers/app'
import { appRouteKeys, ROUTE_REQUIREMENTS } from './helpers/routes'
import { CALLERS, MEMBERS, makeWorld, REQUESTS, UNAUTHENTICATED, type Caller, type Member, type Req, type World } from './helpers/world'

/** Status for each member of the world, in the order of MEMBERS. */
type Statuses = [adminA: number, memberA: number, otherA: number, viewerA: number, memberB: number]

interface Row {
  /** Defaults to the route. */
  name?: string
  route: string
  /** Defaults to the route's request in REQUESTS. */
  request?: (w: World) => Promise<Req> | Req
  expect: Statuses
  /** In every successful answer (for public routes: every caller's answer). */
  ok: string
}

const ALL_OK = (s: number): Statuses => [s, s, s, s, s]

const rows: Row[] = [
  { route: 'GET /', expect: ALL_OK(303), ok: '' },
  { route: 'GET /swagger', expect: ALL_OK(200), ok: 'swagger-ui' },
  { route: 'GET /swagger/json', expect: ALL_OK(200), ok: '"openapi":' },
  { route: 'GET /swagger/assets/swagger-ui-bundle.js', expect: ALL_OK(200), ok: 'SwaggerUIBundle' },
  { route: 'GET /swagger/assets/swagger-ui.css', expect: ALL_OK(200), ok: '.swagger-ui' },
  { route: 'GET /swagger/assets/swagger-init.js', expect: ALL_OK(200), ok: 'SwaggerUIBundle(' },
  { route: 'GET /swagger/', expect: ALL_OK(200), ok: 'swagger-ui' },
  { route: 'GET /api/health', expect: ALL_OK(200), ok: '"status":"ok"' },
  { route: 'GET /api/health/ready', expect: ALL_OK(200), ok: '"status":"ready"' },
  { route: 'GET /api/health/database-proof', expect: ALL_OK(200), ok: '"proof":"' },
  // Server-wide figures: organization admins only, and only on a server with one organization (this world has two: observability.test.ts has the one-organization case).
  { route: 'GET /metrics', expect: [403, 403, 403, 403, 403], ok: '# TYPE teamday_http_requests_total counter' },

  { route: 'GET /api/v1/tokens', expect: ALL_OK(200), ok: '"tokens":[' },
  { name: 'GET /api/v1/tokens?all=true', route: 'GET /api/v1/tokens', request: () => ({ path: '/api/v1/tokens?all=true' }), expect: [200, 403, 403, 403, 403], ok: '"tokens":[' },
  { route: 'POST /api/v1/tokens', expect: ALL_OK(201), ok: '"token":"td_' },
  { route: 'GET /api/v1/tokens/self', expect: ALL_OK(200), ok: '"maskedToken":"td_' },
  // Every caller may give up its own token (sent with a fresh one, so the world's tokens live on).
  { route: 'DELETE /api/v1/tokens/self', expect: ALL_OK(200), ok: '"revokedAt":"20' },
  // Every caller may rotate its own token (sent with a fresh one, so the world's tokens live on).
  { route: 'POST /api/v1/tokens/self/rotate', expect: ALL_OK(201), ok: '"token":"td_' },
  // Already rotated (in its grace period): its successor is the one to rotate.
  { name: 'POST /api/v1/tokens/self/rotate with a token in its grace period', route: 'POST /api/v1/tokens/self/rotate', request: async (w) => ({ ...(await REQUESTS['POST /api/v1/tokens/self/rotate']!(w, w.who.memberA)), supersededToken: true }), expect: ALL_OK(409), ok: '' },
  // Only the owner rotates; an admin sees the token (403), others do not (404).
  { route: 'POST /api/v1/tokens/:id/rotate', expect: [403, 201, 404, 404, 404], ok: '"token":"td_' },
  { route: 'GET /api/v1/tokens/:id', expect: [200, 200, 404, 404, 404], ok: '"success":true' },
  // A token in a rotation's grace period works on, but not on tokens: it makes none and rotates or revokes none but itself.
  { name: 'POST /api/v1/tokens with a token in its grace period', route: 'POST /api/v1/tokens', request: async (w) => ({ ...(await REQUESTS['POST /api/v1/tokens']!(w, w.who.memberA)), supersededToken: true }), expect: ALL_OK(403), ok: '' },
  { name: 'POST /api/tokens/create with a token in its grace period', route: 'POST /api/tokens/create', request: async (w) => ({ ...(await REQUESTS['POST /api/tokens/create']!(w, w.who.memberA)), supersededToken: true }), expect: ALL_OK(403), ok: '' },
  { name: 'POST /api/v1/tokens/:id/rotate with a token in its grace period', route: 'POST /api/v1/tokens/:id/rotate', request: async (w) => ({ ...(await REQUESTS['POST /api/v1/tokens/:id/rotate']!(w, w.who.memberA)), supersededToken: true }), expect: [403, 403, 404, 404, 404], ok: '' },
  { name: 'DELETE /api/v1/tokens/:id with a token in its grace period', route: 'DELETE /api/v1/tokens/:id', request: async (w) => ({ ...(await REQUESTS['DELETE /api/v1/tokens/:id']!(w, w.who.memberA)), supersededToken: true }), expect: [403, 403, 404, 404, 404], ok: '' },
  { route: 'DELETE /api/v1/tokens/:id', expect: [200, 200, 404, 404, 404], ok: '"status":"revoked"' },

  { route: 'GET /api/v1/agents', expect: ALL_OK(200), ok: '"agents":[' },
  { route: 'POST /api/v1/agents', expect: [201, 201, 201, 403, 201], ok: '"id":"char_' },
  { route: 'GET /api/v1/agents/:id', expect: [200, 200, 200, 200, 404], ok: '"name":"Shared agent"' },
  { route: 'PATCH /api/v1/agents/:id', expect: [200, 200, 403, 403, 404], ok: '"description":"changed"' },
  { route: 'DELETE /api/v1/agents/:id', expect: [200, 200, 403, 403, 404], ok: '"success":true' },
  { route: 'POST /api/v1/agents/:id/execute', expect: [200, 200, 200, 403, 404], ok: '"status":"completed"' },

  // The default assistant: every role that runs agents, in its own organization.
  { route: 'POST /api/v1/execute', expect: [200, 200, 200, 403, 200], ok: '"status":"completed"' },
  // Chats are private to their user, admins included: memberA's chat is 404 to everyone else.
  { route: 'GET /api/v1/chats', expect: ALL_OK(200), ok: '"chats":[' },
  { route: 'GET /api/v1/chats/:id', expect: [404, 200, 404, 404, 404], ok: '"role":"assistant"' },
  { route: 'GET /api/v1/chats/:id/messages', expect: [404, 200, 404, 404, 404], ok: '"role":"assistant"' },
  { route: 'GET /api/v1/executions', expect: ALL_OK(200), ok: '"status":"completed"' },
  { route: 'GET /api/v1/executions/:id', expect: [200, 200, 200, 200, 404], ok: '"status":"completed"' },
  { route: 'GET /api/v1/executions/:id/tree', expect: [200, 200, 200, 200, 404], ok: '"children":[' },
  { route: 'GET /api/v1/executions/:id/logs', expect: [200, 200, 200, 200, 404], ok: '"logs":[' },
  // Only its starter or an admin cancels a run; a second member of the organization may not.
  { route: 'POST /api/v1/executions/:id/cancel', expect: [200, 200, 403, 403, 404], ok: '"status":"cancelled"' },

  { route: 'GET /api/v1/spaces', expect: ALL_OK(200), ok: '"spaces":[' },
  { route: 'POST /api/v1/spaces', expect: [201, 201, 201, 403, 201], ok: '"id":"space_' },
  { route: 'GET /api/v1/spaces/:id', expect: [200, 200, 200, 200, 404], ok: '"name":"Shared space"' },
  { route: 'PATCH /api/v1/spaces/:id', expect: [200, 200, 403, 403, 404], ok: '"description":"changed"' },
  { route: 'DELETE /api/v1/spaces/:id', expect: [200, 200, 403, 403, 404], ok: '"success":true' },
  { route: 'GET /api/v1/spaces/:id/secrets', expect: [200, 200, 200, 200, 404], ok: '"API_KEY"' },
  { route: 'POST /api/v1/spaces/:id/secrets', expect: [200, 200, 403, 403, 404], ok: '"OTHER_KEY"' },
  { route: 'DELETE /api/v1/spaces/:id/secrets', expect: [200, 200, 403, 403, 404], ok: '"deleted":[' },
  { route: 'GET /api/v1/organizations/:orgId/env', expect: [200, 200, 200, 403, 403], ok: '"success":true' },
  { route: 'POST /api/v1/organizations/:orgId/env', expect: [200, 403, 403, 403, 403], ok: '"ORG_KEY"' },
  { route: 'DELETE /api/v1/organizations/:orgId/env', expect: [200, 403, 403, 403, 403], ok: '"deleted":[' },

  // Members: organization admins only (members:read/write are admin permissions).
  { route: 'GET /api/v1/organizations/:orgId/members', expect: [200, 403, 403, 403, 403], ok: '"members":[' },
  { route: 'POST /api/v1/organizations/:orgId/members', expect: [201, 403, 403, 403, 403], ok: '"createdUser":true' },
  { route: 'GET /api/v1/organizations/:orgId/members/:userId', expect: [200, 403, 403, 403, 403], ok: '"member":{' },
  { route: 'PATCH /api/v1/organizations/:orgId/members/:userId', expect: [200, 403, 403, 403, 403], ok: '"role":"viewer"' },
  { route: 'DELETE /api/v1/organizations/:orgId/members/:userId', expect: [200, 403, 403, 403, 403], ok: '"revokedTokenIds":["pat_' },

  { route: 'GET /api/v1/tasks', expect: ALL_OK(200), ok: '[' },
  { route: 'POST /api/v1/tasks', expect: [201, 201, 201, 403, 201], ok: '"id":"task_' },
  { route: 'GET /api/v1/tasks/:id', expect: [200, 200, 200, 200, 404], ok: '"title":"A task"' },
  { route: 'PATCH /api/v1/tasks/:id', expect: [200, 200, 403, 403, 404], ok: '"priority":"high"' },
  { route: 'DELETE /api/v1/tasks/:id', expect: [200, 200, 403, 403, 404], ok: '"success":true' },

  { route: 'GET /api/v1/audit-events', expect: [200, 403, 403, 403, 403], ok: '"events":[' },
  { route: 'POST /api/v1/credentials/revoke', expect: ALL_OK(202), ok: '"received":1' },
  { route: 'GET /api/public/agents', expect: ALL_OK(200), ok: '"data":[' },

  { route: 'POST /api/auth/cli/initiate', expect: ALL_OK(200), ok: '"authUrl":"http://localhost/cli/authorize/tdc_' },
  { route: 'GET /api/auth/cli/poll', expect: ALL_OK(200), ok: '"status":"pending"' },
  { name: 'GET /api/auth/cli/poll of an unknown code', route: 'GET /api/auth/cli/poll', request: () => ({ path: `/api/auth/cli/poll?code=tdc_${crypto.randomUUID().replace(/-/g, '')}` }), expect: ALL_OK(400), ok: '"code":"invalid_login_code"' },
  { route: 'POST /api/auth/cli/refresh', expect: ALL_OK(200), ok: '"accessToken":"tdo_' },
  { name: 'POST /api/auth/cli/refresh of an unknown token', route: 'POST /api/auth/cli/refresh', request: () => ({ path: '/api/auth/cli/refresh', body: { refreshToken: 'tdr_not-a-real-token' } }), expect: ALL_OK(401), ok: '"code":"invalid_token"' },
  { route: 'POST /api/auth/cli/revoke', expect: ALL_OK(200), ok: '"success":true' },
  { route: 'POST /api/tokens/create', expect: ALL_OK(201), ok: '"token":"td_' },
  { name: 'POST /api/tokens/create for another organization', route: 'POST /api/tokens/create', request: (w) => ({ path: '/api/tokens/create', body: { name: 'x', organizationId: w.who.memberB.organizationId } }), expect: [403, 403, 403, 403, 201], ok: '"token":"td_' },
  { route: 'GET /api/tokens/list', expect: ALL_OK(200), ok: '"tokens":[' },
  { route: 'POST /api/tokens/:id/revoke', expect: [200, 200, 404, 404, 404], ok: '"status":"revoked"' },
]

/** One ApiScenario: who calls, what is sent, what must come back. */
interface Scenario {
  name: string
  caller: Caller
  method: string
  request: (w: World) => Promise<Req> | Req
  status: number
  /** A fragment of the body; for errors the envelope's code. */
  body: string
}

const ERROR_CODE: Record<number, string> = { 403: 'forbidden', 404: 'not_found', 409: 'invalid_state' }

function scenariosOf(row: Row): Scenario[] {
  const isPublic = ROUTE_REQUIREMENTS[row.route] === 'public'
  const method = row.route.split(' ')[0]!
  const request = row.request ?? ((w: World) => REQUESTS[row.route]!(w, w.who.memberA))
  return CALLERS.map((caller) => {
    const name = `${row.name ?? row.route} as ${caller}`
    if (caller in UNAUTHENTICATED && !isPublic) {
      return { name, caller, method, request, status: 401, body: `"code":"${UNAUTHENTICATED[caller as keyof typeof UNAUTHENTICATED]}"` }
    }
    const status = isPublic && !MEMBERS.includes(caller as Member) ? row.expect[0] : row.expect[MEMBERS.indexOf(caller as Member)]!
    return { name, caller, method, request, status, body: status < 300 || isPublic ? row.ok : `"code":"${ERROR_CODE[status]}"` }
  })
}

const w = await makeWorld()
afterAll(() => w.close())

async function run(s: Scenario) {
  const req = await s.request(w)
  const member = MEMBERS.includes(s.caller as Member) ? w.who[s.caller as Member] : undefined
  let token = req.freshToken && member ? (await makeToken(w.t, member)).token : w.tokenOf(s.caller)
  if (req.supersededToken && member) {
    const old = await makeToken(w.t, member)
    const rotated = await w.t.req('POST', `/api/v1/tokens/${old.id}/rotate`, { token: old.token, body: { gracePeriodSeconds: 3600 } })
    if (rotated.status !== 201) throw new Error(`fixture rotation: ${rotated.status} ${rotated.text}`)
    token = old.token
  }
  const res = await w.t.req(s.method, req.path, { token, body: req.body })
  expect({ scenario: s.name, status: res.status }).toEqual({ scenario: s.name, status: s.status })
  expect(res.text).toContain(s.body)
  if (res.status >= 400) expect(res.body).toMatchObject({ error: true, statusCode: res.status })
  // Organization B never receives an id of organization A (other than one it sent itself).
  if (s.caller === 'memberB') {
    const leaked = [...w.idsOfA].filter((id) => !req.path.includes(id) && res.text.includes(id))
    expect({ scenario: s.name, leaked }).toEqual({ scenario: s.name, leaked: [] })
  }
}

describe('authorization matrix', () => {
  test('the rows name only routes the app serves, and the requirement table names every one', () => {
    const served = appRouteKeys(w.t.app)
    expect(rows.map((r) => r.route).filter((r) => !served.includes(r))).toEqual([])
    expect(Object.keys(ROUTE_REQUIREMENTS).sort()).toEqual([...served].sort())
  })

  // Generated from the app's route list: a route without a row is a failing test.
  for (const route of appRouteKeys(w.t.app)) {
    // Console pages take no bearer token: test/scope-routes.test.ts shows a token changes nothing there.
    if (ROUTE_REQUIREMENTS[route] === 'console') continue
    const mine = rows.filter((r) => r.route === route)
    if (mine.length === 0) {
      test(`${route} has a row in the authorization matrix`, () => {
        throw new Error(`no scenario row for ${route}: add one to test/authz-matrix.test.ts (and its permission to test/helpers/routes.ts)`)
      })
    }
    for (const s of mine.flatMap(scenariosOf)) test(s.name, () => run(s))
  }
})
