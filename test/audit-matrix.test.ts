// The audit matrix: every mutating route of the API (v1 and the TeamDay-compatible aliases) and the
// console's Run and profile, each performed once, with the audit event it must write: its type,
// who did it (user and token id, never a token), the object it acted on, the request it came in
// (X-Request-Id), the sealed address and user agent. Generated from the app's route list like
// test/authz-matrix.test.ts: a mutating route added without a row here fails. A route that
// writes no event says why. Then: a change and its event commit together or not at all.
import { afterAll, describe, expect, test } from 'bun:test'
import { eq } from 'drizzle-orm'
import { openAuditFields } from '../src/audit/log'
import { auditEvents, executions, type AuditEvent } from '../src/db/schema'
import { makeToken, type Actor, type Res } from './helpers/app'
import { cliLogin, makeWorld, REQUESTS, type Member, type Req, type World } from './helpers/world'
import { appRouteKeys, ROUTE_REQUIREMENTS } from './helpers/routes'
import { givePassword, consoleClient, PASSWORD } from './helpers/console'

const IP = '198.51.100.23'
const UA = 'audit-matrix/1.0'

interface Row {
  route: string
  /** Who sends it (memberA by default); for a row without an event, why none is written. */
  as?: Member
  /** The request (REQUESTS' by default, for the resources of memberA). */
  request?: (w: World) => Promise<Req> | Req
  /** The event, or null with `none` saying why. */
  type: string | null
  none?: string
  targetType?: string
  /** The target's id, from the request's path or the answer. */
  target?: (req: Req, res: Res, w: World) => string
  /**
   * Who the event names as actor: the caller and its token (default); nobody (a leak report:
   * anyone may send one); the caller's user with the CLI sign-in its refresh token belongs to.
   */
  actor?: 'caller' | 'none' | 'cli'
  details?: (w: World) => Record<string, unknown>
}

/** The path's segment after `after` (`/api/v1/agents/char_x` → `char_x`). */
const seg = (after: string) => (req: Req) => decodeURIComponent(req.path.split('?')[0]!.split('/')[req.path.split('/').indexOf(after) + 1]!)

const rows: Row[] = [
  { route: 'POST /api/v1/tokens', type: 'token.created', targetType: 'token', target: (_q, r) => r.body.id },
  { route: 'DELETE /api/v1/tokens/self', type: 'token.revoked', targetType: 'token', target: (_q, r) => r.body.token.id },
  // About the old token (tokenId), acting on the new one (target).
  { route: 'POST /api/v1/tokens/:id/rotate', type: 'token.rotated', targetType: 'token', target: (_q, r) => r.body.id },
  { route: 'DELETE /api/v1/tokens/:id', type: 'token.revoked', targetType: 'token', target: seg('tokens') },

  { route: 'POST /api/v1/agents', type: 'agent.created', targetType: 'agent', target: (_q, r) => r.body.id, details: () => ({ visibility: 'private' }) },
  { route: 'PATCH /api/v1/agents/:id', type: 'agent.updated', targetType: 'agent', target: seg('agents'), details: () => ({ fields: ['description'] }) },
  { route: 'DELETE /api/v1/agents/:id', type: 'agent.archived', targetType: 'agent', target: seg('agents') },
  { route: 'POST /api/v1/agents/:id/execute', type: 'execution.created', targetType: 'execution', target: (_q, r) => r.body.executionId },
  { route: 'POST /api/v1/execute', type: 'execution.created', targetType: 'execution', target: (_q, r) => r.body.executionId },
  // An admin cancelling another member's run: the event names the admin, and the run's owner.
  { route: 'POST /api/v1/executions/:id/cancel', as: 'adminA', type: 'execution.cancelled', targetType: 'execution', target: seg('executions'), details: (w) => ({ ownerUserId: w.who.memberA.userId, was: 'running' }) },

  { route: 'POST /api/v1/spaces', type: 'space.created', targetType: 'space', target: (_q, r) => r.body.space.id },
  { route: 'PATCH /api/v1/spaces/:id', type: 'space.updated', targetType: 'space', target: seg('spaces'), details: () => ({ fields: ['description'] }) },
  { route: 'DELETE /api/v1/spaces/:id', type: 'space.archived', targetType: 'space', target: seg('spaces') },
  { route: 'POST /api/v1/spaces/:id/secrets', type: 'secret.set', targetType: 'space', target: seg('spaces'), details: () => ({ keys: ['OTHER_KEY'] }) },
  { route: 'DELETE /api/v1/spaces/:id/secrets', type: 'secret.deleted', targetType: 'space', target: seg('spaces'), details: () => ({ keys: ['OTHER_KEY'] }) },
  { route: 'POST /api/v1/organizations/:orgId/env', as: 'adminA', type: 'secret.set', targetType: 'organization', target: seg('organizations') },
  { route: 'DELETE /api/v1/organizations/:orgId/env', as: 'adminA', type: 'secret.deleted', targetType: 'organization', target: seg('organizations') },

  { route: 'POST /api/v1/organizations/:orgId/members', as: 'adminA', type: 'member.added', targetType: 'user', target: (_q, r) => r.body.member.userId },
  { route: 'PATCH /api/v1/organizations/:orgId/members/:userId', as: 'adminA', type: 'member.role_changed', targetType: 'user', target: seg('members') },
  { route: 'DELETE /api/v1/organizations/:orgId/members/:userId', as: 'adminA', type: 'member.removed', targetType: 'user', target: seg('members') },

  { route: 'POST /api/v1/tasks', type: null, none: 'work items, as GitHub does not audit an issue opened: the row keeps who created it and when' },
  { route: 'PATCH /api/v1/tasks/:id', type: null, none: 'work items, as GitHub does not audit an issue edited' },
  { route: 'DELETE /api/v1/tasks/:id', type: 'task.deleted', targetType: 'task', target: seg('tasks') },

  // A leak report names a working token: its revocation, with no actor (anyone may report).
  {
    route: 'POST /api/v1/credentials/revoke',
    request: async (w) => ({ path: '/api/v1/credentials/revoke', body: { credentials: [(await makeToken(w.t, w.who.memberA)).token] } }),
    type: 'token.leak_reported',
    targetType: 'token',
    actor: 'none',
  },
  { route: 'POST /api/auth/cli/initiate', type: null, none: 'an unauthenticated request for a sign-in code: its approval is the event (cli.login_approved)' },
  { route: 'POST /api/auth/cli/refresh', type: 'cli.token_refreshed', targetType: 'cli_session', actor: 'cli' },
  {
    route: 'POST /api/auth/cli/revoke',
    request: async (w) => ({ path: '/api/auth/cli/revoke', body: { refreshToken: (await cliLogin(w.t, w.who.memberA)).refreshToken } }),
    type: 'cli.session_revoked',
    targetType: 'cli_session',
    actor: 'cli',
  },
  { route: 'POST /api/tokens/create', type: 'token.created', targetType: 'token', target: (_q, r) => r.body.id ?? r.body.token?.id },
  { route: 'POST /api/tokens/:id/revoke', type: 'token.revoked', targetType: 'token', target: seg('tokens') },
]

const w = await makeWorld()
afterAll(() => w.close())

const isMutating = (route: string) => !route.startsWith('GET ') && ROUTE_REQUIREMENTS[route] !== 'console'

async function eventsOf(requestId: string): Promise<AuditEvent[]> {
  return await w.t.db.select().from(auditEvents).where(eq(auditEvents.requestId, requestId)).all()
}

/** Every token plaintext the request or answer held: none may be in a stored event, sealed or opened. */
function tokensIn(...texts: string[]): string[] {
  return [...new Set(texts.flatMap((s) => s.match(/\btd[a-z]?_[A-Za-z0-9_-]{20,}/g) ?? []))]
}

async function perform(row: Row): Promise<{ req: Req; res: Res; token: string; tokenId: string; who: Actor }> {
  const who = w.who[row.as ?? 'memberA']
  const req = await (row.request ?? ((x: World) => REQUESTS[row.route]!(x, w.who.memberA)))(w)
  let token = who.token
  let tokenId = who.tokenId
  if (req.freshToken) ({ token, id: tokenId } = await makeToken(w.t, who))
  const method = row.route.split(' ')[0]!
  const res = await w.t.req(method, req.path, { token, body: req.body, ip: IP, headers: { 'user-agent': UA } })
  expect({ route: row.route, ok: res.status < 300, text: res.status < 300 ? '' : res.text }).toEqual({ route: row.route, ok: true, text: '' })
  return { req, res, token, tokenId, who }
}

describe('audit matrix: each mutating route and its event', () => {
  test('the rows name only routes the app serves, and every mutating route has a row', () => {
    const served = appRouteKeys(w.t.app)
    expect(rows.map((r) => r.route).filter((r) => !served.includes(r))).toEqual([])
    expect(served.filter(isMutating).filter((r) => !rows.some((x) => x.route === r))).toEqual([])
  })

  for (const row of rows) {
    test(`${row.route} → ${row.type ?? `no event (${row.none})`}`, async () => {
      const { req, res, token, tokenId, who } = await perform(row)
      const requestId = res.headers.get('x-request-id')!
      const events = await eventsOf(requestId)
      if (row.type === null) {
        expect(events.map((e) => e.type)).toEqual([])
        return
      }
      const e = events.find((x) => x.type === row.type)
      expect({ route: row.route, types: events.map((x) => x.type) }).toEqual({ route: row.route, types: expect.arrayContaining([row.type]) })
      const opened = openAuditFields(w.t.ctx.box, e!)
      expect({ route: row.route, org: e!.organizationId, requestId: e!.requestId, targetType: e!.targetType, ip: opened.ip, userAgent: opened.userAgent }).toEqual({
        route: row.route,
        org: who.organizationId,
        requestId,
        targetType: row.targetType!,
        ip: IP,
        userAgent: UA,
      })
      // Sealed at rest: neither the address nor the user agent in clear.
      expect(JSON.stringify(e)).not.toContain(IP)
      expect(JSON.stringify(e)).not.toContain(UA)
      if ((row.actor ?? 'caller') === 'caller') {
        expect({ route: row.route, user: e!.actorUserId, token: e!.actorTokenId }).toEqual({ route: row.route, user: who.userId, token: tokenId })
      } else if (row.actor === 'cli') {
        expect({ user: e!.actorUserId, session: e!.actorTokenId === e!.targetId && e!.targetId?.startsWith('clis_') }).toEqual({ user: who.userId, session: true })
      } else {
        expect({ user: e!.actorUserId, token: e!.actorTokenId }).toEqual({ user: null, token: null })
      }
      if (row.target) expect({ route: row.route, target: e!.targetId }).toEqual({ route: row.route, target: row.target(req, res, w) })
      else expect(e!.targetId).toBeTruthy()
      if (row.details) expect(opened.details).toMatchObject(row.details(w))
      // No token plaintext, sealed or opened: not the caller's, not one sent or answered.
      const stored = JSON.stringify({ ...e, ...opened })
      for (const secret of tokensIn(token, JSON.stringify(req.body ?? null), res.text)) expect({ route: row.route, leaked: stored.includes(secret) }).toEqual({ route: row.route, leaked: false })
    })
  }
})

describe("audit matrix: the console's mutations", () => {
  async function person() {
    const who = w.who.memberA
    await givePassword(w.t, who.userId)
    // From loopback: a session starts over plain HTTP only there.
    const c = consoleClient(w.t, { ip: '127.0.0.1', headers: { 'user-agent': UA } })
    expect((await c.signIn(who.email)).status).toBe(303)
    return { who, c }
  }

  test("the console's Run writes execution.created, by the signed-in person, no token", async () => {
    const { who, c } = await person()
    const res = await c.post(`/agents/${w.agentId}/chat`, { message: 'from the console' })
    expect(res.status).toBeLessThan(400)
    const [e] = (await eventsOf(res.headers.get('x-request-id')!)).filter((x) => x.type === 'execution.created')
    const run = await w.t.db.select().from(executions).where(eq(executions.id, e!.targetId!)).get()
    expect({ source: e!.source, user: e!.actorUserId, token: e!.actorTokenId, targetType: e!.targetType, message: run?.message }).toEqual({ source: 'console', user: who.userId, token: null, targetType: 'execution', message: 'from the console' })
    expect(openAuditFields(w.t.ctx.box, e!)).toMatchObject({ ip: '127.0.0.1', userAgent: UA, details: { agentId: w.agentId } })
  })

  test('a changed name or e-mail writes user.profile_updated with the old and new address', async () => {
    const { who, c } = await person()
    const email = `renamed-${who.userId.slice(-6).toLowerCase()}@example.com`
    const res = await c.post('/settings/profile', { name: 'Renamed Person', email, current: PASSWORD })
    expect(res.status).toBeLessThan(400)
    const [e] = (await eventsOf(res.headers.get('x-request-id')!)).filter((x) => x.type === 'user.profile_updated')
    expect({ source: e?.source, user: e?.actorUserId, target: e?.targetId }).toEqual({ source: 'console', user: who.userId, target: who.userId })
    expect(openAuditFields(w.t.ctx.box, e!).details).toEqual({ fields: ['name', 'email'], email: { from: who.email, to: email } })
    who.email = email
    // Sent again unchanged: nothing changed, nothing recorded.
    const again = await c.post('/settings/profile', { name: 'Renamed Person', email })
    expect((await eventsOf(again.headers.get('x-request-id')!)).map((x) => x.type)).toEqual([])
  })
})

describe('a change and its audit event commit together', () => {
  // The audit insert fails (a trigger refuses it): the change it audits must not be made.
  async function refuseAuditWrites(on: boolean) {
    const conn = w.t.rt.connection
    if (conn.dialect === 'pg') {
      if (on) {
        await conn.client.unsafe(`CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'audit refused'; END $$`)
        await conn.client.unsafe('CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION refuse_audit()')
      } else {
        await conn.client.unsafe('DROP TRIGGER refuse_audit ON audit_events')
        await conn.client.unsafe('DROP FUNCTION refuse_audit()')
      }
    } else {
      w.t.db.$client.exec(on ? `CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events BEGIN SELECT RAISE(ABORT, 'audit refused'); END` : 'DROP TRIGGER refuse_audit')
    }
  }

  test('an execute whose event cannot be written records no run; a cancel that cannot be audited cancels nothing', async () => {
    const running = await w.runningExecution()
    const before = (await w.t.db.select({ id: executions.id }).from(executions).all()).length
    await refuseAuditWrites(true)
    try {
      const run = await w.t.req('POST', `/api/v1/agents/${w.agentId}/execute`, { token: w.who.memberA.token, body: { message: 'hi', async: true } })
      expect(run.status).toBeGreaterThanOrEqual(500)
      expect(run.body).toMatchObject({ error: true })
      const cancel = await w.t.req('POST', `/api/v1/executions/${running}/cancel`, { token: w.who.memberA.token })
      expect(cancel.status).toBeGreaterThanOrEqual(500)
      const agent = await w.t.req('PATCH', `/api/v1/agents/${w.agentId}`, { token: w.who.memberA.token, body: { description: 'not audited' } })
      expect(agent.status).toBeGreaterThanOrEqual(500)
    } finally {
      await refuseAuditWrites(false)
    }
    expect((await w.t.db.select({ id: executions.id }).from(executions).all()).length).toBe(before)
    expect((await w.t.db.select({ status: executions.status }).from(executions).where(eq(executions.id, running)).get())?.status).not.toBe('cancelled')
    expect((await w.t.req('GET', `/api/v1/agents/${w.agentId}`, { token: w.who.memberA.token })).body.agent.description).not.toBe('not audited')
    // And with the audit log back, the cancel goes through (and is audited).
    expect((await w.t.req('POST', `/api/v1/executions/${running}/cancel`, { token: w.who.memberA.token })).status).toBe(200)
  })
})
