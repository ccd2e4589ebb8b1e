// The audit matrix: every mutating route of the API (v1 and the TeamDay-compatible aliases) and
// every form of the web console, each performed once, with the audit event it must write: its
// type, who did it (user and token id, never a token), the object it acted on, the request it
// came in (X-Request-Id), the sealed address and user agent, and that no token or secret sent or
// answered is stored in clear. Generated from the app's route list like test/authz-matrix.test.ts:
// a mutating route (or console form) added without a row here fails. A route that writes no event
// says why. Then: a change and its event commit together or not at all.
import { afterAll, describe, expect, test } from 'bun:test'
import { and, eq, inArray, isNull } from 'drizzle-orm'
import { openAuditFields } from '../src/audit/log'
import { hashSecret } from '../src/console/session'
import { auditEvents, cliAccessTokens, cliSessions, executions, memberships, oneTimeLinks, personalAccessTokens, sessions, users, type AuditEvent, type Role } from '../src/db/schema'
import { createLink } from '../src/modules/users/links'
import { BOOTSTRAP_EMAIL, bootstrapIfEmpty } from '../src/modules/users/bootstrap'
import { systemContext } from '../src/context'
import { describeLoginRequest, initiateLogin } from '../src/modules/cli-auth/service'
import { makeActor, makeTestApp, makeToken, type Actor, type Res, type TestApp } from './helpers/app'
import { cliLogin, makeWorld, REQUESTS, type Member, type Req, type World } from './helpers/world'
import { appRouteKeys, ROUTE_REQUIREMENTS } from './helpers/routes'
import { givePassword, consoleClient, PASSWORD, type ConsoleClient, shownApproval } from './helpers/console'

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
  /** The event's source: `api` (default: the API, a token or not — a CLI sign-in's refresh and logout carry none), `leak_report`. */
  source?: string
  details?: (w: World) => Record<string, unknown>
}

/** The path's segment after `after` (`/api/v1/agents/char_x` → `char_x`). */
const seg = (after: string) => (req: Req) => decodeURIComponent(req.path.split('?')[0]!.split('/')[req.path.split('/').indexOf(after) + 1]!)

const rows: Row[] = [
  { route: 'POST /api/v1/tokens', type: 'token.created', targetType: 'token', target: (_q, r) => r.body.id },
  { route: 'DELETE /api/v1/tokens/self', type: 'token.revoked', targetType: 'token', target: (_q, r) => r.body.token.id },
  // About the old token (tokenId), acting on the new one (target).
  { route: 'POST /api/v1/tokens/:id/rotate', type: 'token.rotated', targetType: 'token', target: (_q, r) => r.body.id },
  { route: 'POST /api/v1/tokens/self/rotate', type: 'token.rotated', targetType: 'token', target: (_q, r) => r.body.id },
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
    source: 'leak_report',
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
      expect({ route: row.route, org: e!.organizationId, source: e!.source, requestId: e!.requestId, targetType: e!.targetType, ip: opened.ip, userAgent: opened.userAgent }).toEqual({
        route: row.route,
        org: who.organizationId,
        source: row.source ?? 'api',
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

/** Every text of the database (each row of each table), to find a secret stored in clear. */
async function databaseText(): Promise<string> {
  const conn = w.t.rt.connection
  const parts: string[] = []
  if (conn.dialect === 'pg') {
    const tables = await conn.client.unsafe(`SELECT tablename FROM pg_tables WHERE schemaname = current_schema()`)
    for (const { tablename } of tables) parts.push(JSON.stringify(await conn.client.unsafe(`SELECT * FROM "${tablename}"`)))
  } else {
    const tables = w.t.db.$client.query(`SELECT name FROM sqlite_master WHERE type = 'table'`).all() as { name: string }[]
    for (const { name } of tables) parts.push(JSON.stringify(w.t.db.$client.query(`SELECT * FROM "${name}"`).all()))
  }
  return parts.join('\n')
}

const NEW_PASSWORD = 'a brand new passphrase for the matrix'

/** A new member of organization A with a console password, signed in from loopback (a session over plain HTTP starts only there). */
async function signedIn(role: Role = 'member'): Promise<{ a: Actor; c: ConsoleClient }> {
  const a = await makeActor(w.t, { role, org: 'alpha' })
  return { a, c: await signIn(a) }
}

/** Gives `a` the console password (which ends their other sessions) unless `again`, and signs in. */
async function signIn(a: Actor, again = false): Promise<ConsoleClient> {
  if (!again) await givePassword(w.t, a.userId)
  const c = consoleClient(w.t, { headers: { 'user-agent': UA } })
  expect((await c.signIn(a.email)).status).toBe(303)
  return c
}

/** The console session of a client's cookie. */
async function sessionOf(c: ConsoleClient): Promise<string> {
  const secret = c.cookie!.split('=')[1]!
  return (await w.t.db.select({ id: sessions.id }).from(sessions).where(eq(sessions.secretHash, hashSecret(secret))).get())!.id
}

/** A one-time link's secret, from its path or a page that shows it. */
const linkSecret = (text: string) => /\/(?:setup|set-password)\/([0-9A-Za-z]{43})/.exec(text)?.[1]

interface Sent {
  res: Res
  /** Who the event names (user; never a token in the console), or null: nobody is signed in (a link's holder). */
  actor: Actor | null
  /** The organization the event belongs to. */
  org: string
  target: string
  /** Secrets the request or the answer held besides tokens (passwords, link and cookie secrets, a secret's value). */
  secrets?: string[]
  /** The request's form (tokens in it are searched). */
  form?: Record<string, string>
}

interface ConsoleRow {
  route: string
  type: string | null
  none?: string
  targetType?: string
  /** What the event's details hold (at least). */
  details?: Record<string, unknown>
  send: () => Promise<Sent>
}

const consoleRows: ConsoleRow[] = [
  {
    route: 'POST /login',
    type: 'user.signed_in',
    targetType: 'session',
    send: async () => {
      const a = await makeActor(w.t, { org: 'alpha' })
      await givePassword(w.t, a.userId)
      const c = consoleClient(w.t, { headers: { 'user-agent': UA } })
      const res = await c.signIn(a.email)
      return { res, actor: a, org: a.organizationId, target: await sessionOf(c), secrets: [PASSWORD, c.cookie!.split('=')[1]!] }
    },
  },
  {
    route: 'POST /logout',
    type: 'session.ended',
    targetType: 'session',
    send: async () => {
      const { a, c } = await signedIn()
      const target = await sessionOf(c)
      return { res: await c.post('/logout'), actor: a, org: a.organizationId, target }
    },
  },
  {
    route: 'POST /logout/everywhere',
    type: 'session.ended',
    targetType: 'user',
    send: async () => {
      const { a, c } = await signedIn()
      return { res: await c.post('/logout/everywhere'), actor: a, org: a.organizationId, target: a.userId }
    },
  },
  ...(['setup', 'set_password'] as const).map(
    (purpose): ConsoleRow => ({
      route: purpose === 'setup' ? 'POST /setup/:secret' : 'POST /set-password/:secret',
      type: 'user.password_changed',
      targetType: 'user',
      // The link's holder is signed in to nothing: the event names no actor.
      send: async () => {
        const a = await makeActor(w.t, { org: 'alpha' })
        const { path } = await createLink(w.t.ctx, a.userId, a.organizationId, purpose)
        const c = consoleClient(w.t, { headers: { 'user-agent': UA } })
        const form = { password: NEW_PASSWORD, confirm: NEW_PASSWORD, ...(purpose === 'setup' ? { name: 'Set Up' } : {}) }
        return { res: await c.post(path, form), actor: null, org: a.organizationId, target: a.userId, secrets: [NEW_PASSWORD, linkSecret(path)!], form }
      },
    }),
  ),
  {
    route: 'POST /settings/tokens',
    type: 'token.created',
    targetType: 'token',
    send: async () => {
      const { a, c } = await signedIn()
      const res = await c.post('/settings/tokens', { name: 'console matrix', expires: '90', scope: '*' })
      const mine = await w.t.db.select({ id: personalAccessTokens.id }).from(personalAccessTokens).where(eq(personalAccessTokens.userId, a.userId)).all()
      return { res, actor: a, org: a.organizationId, target: mine.map((x) => x.id).find((id) => id !== a.tokenId)! }
    },
  },
  {
    route: 'POST /settings/tokens/:id/revoke',
    type: 'token.revoked',
    targetType: 'token',
    send: async () => {
      const { a, c } = await signedIn()
      const tok = await makeToken(w.t, a)
      return { res: await c.post(`/settings/tokens/${tok.id}/revoke`), actor: a, org: a.organizationId, target: tok.id, secrets: [tok.token] }
    },
  },
  {
    route: 'POST /settings/tokens/:id/rotate',
    type: 'token.rotated',
    targetType: 'token',
    send: async () => {
      const { a, c } = await signedIn()
      const tok = await makeToken(w.t, a)
      const res = await c.post(`/settings/tokens/${tok.id}/rotate`, { grace: '0' })
      const next = await w.t.db.select({ id: personalAccessTokens.id }).from(personalAccessTokens).where(eq(personalAccessTokens.rotatedFromId, tok.id)).get()
      return { res, actor: a, org: a.organizationId, target: next!.id, secrets: [tok.token] }
    },
  },
  {
    route: 'POST /settings/profile',
    type: 'user.profile_updated',
    targetType: 'user',
    send: async () => {
      const { a, c } = await signedIn()
      return { res: await c.post('/settings/profile', { name: 'Console Matrix', email: a.email }), actor: a, org: a.organizationId, target: a.userId }
    },
  },
  {
    route: 'POST /settings/password',
    type: 'user.password_changed',
    targetType: 'user',
    // The session that changed it is not counted as ended: it goes on under a new id.
    details: { sessionsEnded: 0, cliSessionsEnded: 0, sessionRenewed: true },
    send: async () => {
      const { a, c } = await signedIn()
      const form = { current: PASSWORD, password: NEW_PASSWORD, confirm: NEW_PASSWORD }
      return { res: await c.post('/settings/password', form), actor: a, org: a.organizationId, target: a.userId, secrets: [PASSWORD, NEW_PASSWORD], form }
    },
  },
  {
    route: 'POST /settings/sessions/:id/end',
    type: 'session.ended',
    targetType: 'session',
    send: async () => {
      const { a, c } = await signedIn()
      const other = await sessionOf(await signIn(a, true))
      return { res: await c.post(`/settings/sessions/${other}/end`), actor: a, org: a.organizationId, target: other }
    },
  },
  {
    route: 'POST /org/members',
    type: 'member.added',
    targetType: 'user',
    send: async () => {
      const { a, c } = await signedIn('admin')
      const email = `console-added-${crypto.randomUUID().slice(0, 8)}@example.com`
      const res = await c.post('/org/members', { email, role: 'member' })
      const added = await w.t.db.select({ id: users.id }).from(users).where(eq(users.email, email)).get()
      // The answer shows the new member's set-password link: its secret is not stored either.
      return { res, actor: a, org: a.organizationId, target: added!.id, secrets: [linkSecret(res.text)!] }
    },
  },
  {
    route: 'POST /org/members/:userId/role',
    type: 'member.role_changed',
    targetType: 'user',
    send: async () => {
      const { a, c } = await signedIn('admin')
      const b = await makeActor(w.t, { org: 'alpha' })
      return { res: await c.post(`/org/members/${b.userId}/role`, { role: 'viewer' }), actor: a, org: a.organizationId, target: b.userId }
    },
  },
  {
    route: 'POST /org/members/:userId/remove',
    type: 'member.removed',
    targetType: 'user',
    send: async () => {
      const { a, c } = await signedIn('admin')
      const b = await makeActor(w.t, { org: 'alpha' })
      return { res: await c.post(`/org/members/${b.userId}/remove`), actor: a, org: a.organizationId, target: b.userId, secrets: [b.token] }
    },
  },
  {
    route: 'POST /org/members/:userId/link',
    type: 'user.password_link_created',
    targetType: 'user',
    send: async () => {
      const { a, c } = await signedIn('admin')
      const b = await makeActor(w.t, { org: 'alpha' })
      const res = await c.post(`/org/members/${b.userId}/link`)
      return { res, actor: a, org: a.organizationId, target: b.userId, secrets: [linkSecret(res.text)!] }
    },
  },
  {
    route: 'POST /org/switch',
    type: null,
    none: 'which organization a session shows is a view, not a change of anything it may do',
    send: async () => {
      const { a, c } = await signedIn()
      return { res: await c.post('/org/switch', { organizationId: a.organizationId }), actor: a, org: a.organizationId, target: '' }
    },
  },
  {
    route: 'POST /spaces/:id/secrets',
    type: 'secret.set',
    targetType: 'space',
    send: async () => {
      const a = w.who.memberA
      const c = await signIn(a)
      return { res: await c.post(`/spaces/${w.spaceId}/secrets`, { name: 'CONSOLE_KEY', value: 'console-matrix-secret-value' }), actor: a, org: a.organizationId, target: w.spaceId, secrets: ['console-matrix-secret-value'] }
    },
  },
  {
    route: 'POST /spaces/:id/secrets/remove',
    type: 'secret.deleted',
    targetType: 'space',
    send: async () => {
      const a = w.who.memberA
      const c = await signIn(a)
      expect((await c.post(`/spaces/${w.spaceId}/secrets`, { name: 'GONE_KEY', value: 'v' })).status).toBe(303)
      return { res: await c.post(`/spaces/${w.spaceId}/secrets/remove`, { name: 'GONE_KEY' }), actor: a, org: a.organizationId, target: w.spaceId }
    },
  },
  {
    route: 'POST /agents/:id/chat',
    type: 'execution.created',
    targetType: 'execution',
    send: async () => {
      const a = w.who.memberA
      const c = await signIn(a)
      const message = `from the console ${crypto.randomUUID()}`
      const res = await c.post(`/agents/${w.agentId}/chat`, { message })
      const run = await w.t.db.select({ id: executions.id }).from(executions).where(eq(executions.message, message)).get()
      return { res, actor: a, org: a.organizationId, target: run!.id }
    },
  },
  {
    route: 'POST /cli/authorize/:code',
    type: 'cli.login_approved',
    targetType: 'cli_login',
    send: async () => {
      const { a, c } = await signedIn()
      const { code } = await initiateLogin(w.t.ctx)
      const res = await c.post(`/cli/authorize/${code}`, await shownApproval(w.t, c, `/cli/authorize/${code}`))
      return { res, actor: a, org: a.organizationId, target: (await describeLoginRequest(w.t.ctx, code))!.id, secrets: [code] }
    },
  },
  {
    route: 'POST /settings/cli-sessions/:id/revoke',
    type: 'cli.session_revoked',
    targetType: 'cli_session',
    send: async () => {
      const { a, c } = await signedIn()
      const cli = await cliLogin(w.t, a)
      return { res: await c.post(`/settings/cli-sessions/${cli.sessionId}/revoke`), actor: a, org: a.organizationId, target: cli.sessionId, secrets: [cli.accessToken, cli.refreshToken] }
    },
  },
]

describe("audit matrix: the console's forms", () => {
  test('the rows name only console forms the app serves, and every console form has a row', () => {
    const served = appRouteKeys(w.t.app)
    const forms = served.filter((r) => !r.startsWith('GET ') && ROUTE_REQUIREMENTS[r] === 'console')
    expect(forms.length).toBeGreaterThan(15)
    expect(consoleRows.map((r) => r.route).filter((r) => !forms.includes(r))).toEqual([])
    expect(forms.filter((r) => !consoleRows.some((x) => x.route === r))).toEqual([])
  })

  for (const row of consoleRows) {
    test(`${row.route} → ${row.type ?? `no event (${row.none})`}`, async () => {
      const sent = await row.send()
      const { res } = sent
      expect({ route: row.route, status: res.status < 400 ? 'ok' : res.status }).toEqual({ route: row.route, status: 'ok' })
      const requestId = res.headers.get('x-request-id')!
      const events = await eventsOf(requestId)
      if (row.type === null) {
        expect(events.map((e) => e.type)).toEqual([])
        return
      }
      expect({ route: row.route, types: events.map((x) => x.type) }).toEqual({ route: row.route, types: expect.arrayContaining([row.type]) })
      const e = events.find((x) => x.type === row.type)!
      const opened = openAuditFields(w.t.ctx.box, e)
      expect({ org: e.organizationId, user: e.actorUserId, token: e.actorTokenId, targetType: e.targetType, target: e.targetId, ip: opened.ip, userAgent: opened.userAgent }).toEqual({
        org: sent.org,
        user: sent.actor?.userId ?? null,
        // A console session is no token: none is named.
        token: null,
        targetType: row.targetType!,
        target: sent.target,
        ip: '127.0.0.1',
        userAgent: UA,
      })
      if (row.details) expect(opened.details).toMatchObject(row.details)
      // Signed in or not (a sign-in, a link's holder): the console's.
      expect({ route: row.route, source: e.source }).toEqual({ route: row.route, source: 'console' })
      // No token, password, link or cookie secret, nor a secret's value, in clear: not in the
      // event (sealed or opened), nor anywhere in the database.
      const secrets = [...tokensIn(sent.actor?.token ?? '', JSON.stringify(sent.form ?? null), res.text), ...(sent.secrets ?? [])]
      expect(secrets.length).toBeGreaterThan(0)
      const db = await databaseText()
      // (The dump holds every table's rows: the users' e-mail addresses, the event's target.)
      expect([db.includes(w.who.memberA.email), db.includes(sent.target)]).toEqual([true, true])
      const stored = JSON.stringify({ ...e, ...opened }) + db
      expect({ route: row.route, leaked: secrets.filter((x) => stored.includes(x)) }).toEqual({ route: row.route, leaked: [] })
    })
  }

  test('a changed e-mail: user.profile_updated with the old and new address; sent again unchanged, nothing recorded', async () => {
    const { a, c } = await signedIn()
    const email = `renamed-${a.userId.slice(-6).toLowerCase()}@example.com`
    const res = await c.post('/settings/profile', { name: 'Renamed Person', email, current: PASSWORD })
    expect(res.status).toBeLessThan(400)
    const [e] = (await eventsOf(res.headers.get('x-request-id')!)).filter((x) => x.type === 'user.profile_updated')
    expect(openAuditFields(w.t.ctx.box, e!).details).toEqual({ fields: ['name', 'email'], email: { from: a.email, to: email } })
    const again = await c.post('/settings/profile', { name: 'Renamed Person', email })
    expect((await eventsOf(again.headers.get('x-request-id')!)).map((x) => x.type)).toEqual([])
  })
})

/** The audit insert fails (a trigger refuses it; only events of `type` when given): the change it audits must not be made. */
async function refuseAuditWrites(on: boolean, t: TestApp = w.t, type?: string) {
  const conn = t.rt.connection
  const only = type === undefined ? '' : ` WHEN (NEW.type = '${type}')`
  if (conn.dialect === 'pg') {
    if (on) {
      await conn.client.unsafe(`CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'audit refused'; END $$`)
      await conn.client.unsafe(`CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events FOR EACH ROW${only} EXECUTE FUNCTION refuse_audit()`)
    } else {
      await conn.client.unsafe('DROP TRIGGER refuse_audit ON audit_events')
      await conn.client.unsafe('DROP FUNCTION refuse_audit()')
    }
  } else {
    t.db.$client.exec(on ? `CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events FOR EACH ROW${only} BEGIN SELECT RAISE(ABORT, 'audit refused'); END` : 'DROP TRIGGER refuse_audit')
  }
}

describe('a change and its audit event commit together', () => {

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

  test('rotations, CLI sign-ins, console sessions, sign-ins, leak reports and removals whose event cannot be written change nothing', async () => {
    const member = w.who.memberA
    const rotated = await makeToken(w.t, member, { scopes: ['tokens:read'] })
    const leaked = await makeToken(w.t, member)
    // A person signed in twice (one session ends the other), a pending sign-in code, two CLI sign-ins.
    const person = await makeActor(w.t, { org: 'alpha' })
    const c = await signIn(person)
    const c2 = await signIn(person, true)
    const [mine, other] = [await sessionOf(c), await sessionOf(c2)]
    const { code } = await initiateLogin(w.t.ctx)
    const cli = await cliLogin(w.t, person)
    const cli2 = await cliLogin(w.t, person)
    const accessTokens = async () => (await w.t.db.select({ id: cliAccessTokens.id }).from(cliAccessTokens).where(eq(cliAccessTokens.sessionId, cli.sessionId)).all()).length
    const issued = await accessTokens()
    // Someone about to sign in, and a member about to be removed.
    const newcomer = await makeActor(w.t, { org: 'alpha' })
    await givePassword(w.t, newcomer.userId)
    const leaving = await makeActor(w.t, { org: 'alpha' })
    const leavingCli = await cliLogin(w.t, leaving)

    const statuses: Record<string, number> = {}
    await refuseAuditWrites(true)
    try {
      statuses.rotate = (await w.t.req('POST', `/api/v1/tokens/${rotated.id}/rotate`, { token: member.token, body: {} })).status
      statuses.leak = (await w.t.req('POST', '/api/v1/credentials/revoke', { body: { credentials: [leaked.token] } })).status
      statuses.refresh = (await w.t.req('POST', '/api/auth/cli/refresh', { body: { refreshToken: cli.refreshToken } })).status
      statuses.cliLogout = (await w.t.req('POST', '/api/auth/cli/revoke', { body: { refreshToken: cli.refreshToken } })).status
      statuses.cliRevoke = (await c.post(`/settings/cli-sessions/${cli2.sessionId}/revoke`)).status
      statuses.approve = (await c.post(`/cli/authorize/${code}`, await shownApproval(w.t, c, `/cli/authorize/${code}`))).status
      statuses.deny = (await c.post(`/cli/authorize/${code}`, { decision: 'deny' })).status
      statuses.endOther = (await c.post(`/settings/sessions/${other}/end`)).status
      statuses.everywhere = (await c2.post('/logout/everywhere')).status
      statuses.logout = (await c.post('/logout')).status
      statuses.signIn = (await consoleClient(w.t).signIn(newcomer.email)).status
      statuses.remove = (await w.t.req('DELETE', `/api/v1/organizations/${member.organizationId}/members/${leaving.userId}`, { token: w.who.adminA.token })).status
    } finally {
      await refuseAuditWrites(false)
    }
    // Each request failed (500), rather than answering as if done.
    expect(Object.entries(statuses).filter(([, s]) => s < 500)).toEqual([])

    const t = personalAccessTokens
    const tokens = await w.t.db.select({ id: t.id, revokedAt: t.revokedAt, rotatedFrom: t.rotatedFromId }).from(t).where(inArray(t.id, [rotated.id, leaked.id, leaving.tokenId])).all()
    const successors = await w.t.db.select({ id: t.id }).from(t).where(eq(t.rotatedFromId, rotated.id)).all()
    const clis = await w.t.db.select({ id: cliSessions.id }).from(cliSessions).where(and(inArray(cliSessions.id, [cli.sessionId, cli2.sessionId, leavingCli.sessionId]), isNull(cliSessions.revokedAt))).all()
    const live = await w.t.db.select({ id: sessions.id }).from(sessions).where(inArray(sessions.userId, [person.userId, newcomer.userId])).all()
    const signedInAt = await w.t.db.select({ at: users.lastSignInAt }).from(users).where(eq(users.id, newcomer.userId)).get()
    const stillMember = await w.t.db.select({ id: memberships.id }).from(memberships).where(eq(memberships.userId, leaving.userId)).get()
    expect({
      tokensRevoked: tokens.filter((x) => x.revokedAt !== null).map((x) => x.id),
      successors: successors.length,
      accessTokensIssued: (await accessTokens()) - issued,
      cliSessionsLive: clis.length,
      code: (await describeLoginRequest(w.t.ctx, code))?.state,
      sessions: live.map((x) => x.id).sort(),
      newcomerSignedIn: signedInAt?.at ?? null,
      stillMember: stillMember !== undefined,
    }).toEqual({ tokensRevoked: [], successors: 0, accessTokensIssued: 0, cliSessionsLive: 3, code: 'pending', sessions: [mine, other].sort(), newcomerSignedIn: null, stillMember: true })

    // And with the audit log back, the same requests go through, each with its event.
    const types = async (res: Res) => (await eventsOf(res.headers.get('x-request-id')!)).map((e) => e.type)
    expect(await types(await w.t.req('POST', `/api/v1/tokens/${rotated.id}/rotate`, { token: member.token, body: {} }))).toContain('token.rotated')
    expect(await types(await c.post(`/cli/authorize/${code}`, { decision: 'deny' }))).toContain('cli.login_denied')
    expect(await types(await w.t.req('POST', '/api/v1/credentials/revoke', { body: { credentials: [leaked.token] } }))).toContain('token.leak_reported')
  })

  test('a leak report that stops runs: refused, no run is cancelled nor logged as cancelled; then one line each', async () => {
    const member = w.who.memberA
    const statusOf = async (id: string) => (await w.t.db.select({ status: executions.status }).from(executions).where(eq(executions.id, id)).get())?.status
    const cancelLines = (run: string) => w.t.logs.filter((l) => l.includes('"execution_cancelled"') && l.includes(run))
    // A run of a token then reported leaked.
    const leaked = await makeToken(w.t, member)
    const leakedRun = await w.runningExecution({ ...member, token: leaked.token, tokenId: leaked.id })
    // And a run of the leaked token that no live instance holds any more (its owner died: its lease lapsed).
    const orphanRun = `exec_orphan${Math.random().toString(36).slice(2, 12)}`
    const at = new Date(w.t.clock.now() - 60_000)
    await w.t.db.insert(executions).values({ id: orphanRun, organizationId: member.organizationId, userId: member.userId, tokenId: leaked.id, agentId: w.agentId, agentName: 'Shared agent', agentVisibility: 'organization', chatId: 'c', sessionId: 'c', status: 'running', message: 'm', instanceId: 'inst_gone', leaseExpiresAt: new Date(w.t.clock.now() - 1), startedAt: at, createdAt: at, updatedAt: at }).run()
    const report = () => w.t.req('POST', '/api/v1/credentials/revoke', { body: { credentials: [leaked.token] } })

    await refuseAuditWrites(true)
    try {
      expect((await report()).status).toBeGreaterThanOrEqual(500)
    } finally {
      await refuseAuditWrites(false)
    }
    expect([await statusOf(leakedRun), await statusOf(orphanRun)]).toEqual(['running', 'running'])
    // The rolled-back cancels told of in no log line.
    expect([...cancelLines(leakedRun), ...cancelLines(orphanRun)]).toEqual([])

    expect((await report()).status).toBe(202)
    expect([await statusOf(leakedRun), await statusOf(orphanRun)]).toEqual(['cancelled', 'cancelled'])
    // The runs this instance holds are logged by it once it has stopped them (its next check of its
    // rows: waited for, not assumed to come before or after these lines); the orphan by the report.
    // The report logged the held ones too, and then each had two lines (a fast machine asserted
    // before the second one came; a loaded one, after).
    for (const end = Date.now() + 10_000; [leakedRun].some((id) => w.t.rt.engine.wait(id) !== undefined) && Date.now() < end; ) await Bun.sleep(20)
    expect(w.t.rt.engine.wait(leakedRun)).toBeUndefined()
    expect([cancelLines(leakedRun).length, cancelLines(orphanRun).length]).toEqual([1, 1])
    expect(JSON.parse(cancelLines(orphanRun)[0]!)).toMatchObject({ reason: 'leak_report', tokenId: leaked.id })
  })

  test('a cancel of a run with children: one event naming them; refused, neither the run nor its children are cancelled', async () => {
    const member = w.who.memberA
    const tree = async () => {
      const parent = await w.runningExecution()
      const res = await w.t.req('POST', `/api/v1/agents/${w.agentId}/execute`, { token: member.token, body: { message: 'HANG', async: true, parentExecutionId: parent } })
      expect(res.status).toBe(202)
      return { parent, child: res.body.executionId as string }
    }
    const statusOf = async (id: string) => (await w.t.db.select({ status: executions.status }).from(executions).where(eq(executions.id, id)).get())?.status

    const refused = await tree()
    await refuseAuditWrites(true)
    try {
      expect((await w.t.req('POST', `/api/v1/executions/${refused.parent}/cancel`, { token: member.token })).status).toBeGreaterThanOrEqual(500)
    } finally {
      await refuseAuditWrites(false)
    }
    expect([await statusOf(refused.parent), await statusOf(refused.child)]).not.toContain('cancelled')

    const res = await w.t.req('POST', `/api/v1/executions/${refused.parent}/cancel`, { token: member.token })
    expect(res.status).toBe(200)
    expect([await statusOf(refused.parent), await statusOf(refused.child)]).toEqual(['cancelled', 'cancelled'])
    const events = await eventsOf(res.headers.get('x-request-id')!)
    expect(events.map((e) => [e.type, e.targetId])).toEqual([['execution.cancelled', refused.parent]])
    expect(openAuditFields(w.t.ctx.box, events[0]!).details).toMatchObject({ was: 'running', descendantsCancelled: [refused.child] })
    // The child's own log says by which cancel.
    const logs = await w.t.req('GET', `/api/v1/executions/${refused.child}/logs`, { token: member.token })
    expect(JSON.stringify(logs.body)).toContain(refused.parent)
  })
})

// The server acting on its own at its first start, on a database with no organization yet: the
// admin and organization `default` (member.added) and the one-time set-up link it prints
// (user.password_link_created), with no actor, address or request, source `system`.
describe('audit matrix: the first start', () => {
  test('the set-up link: user.password_link_created (and member.added), source system, nobody acting; the link nowhere in the database', async () => {
    const t = await makeTestApp()
    try {
      const first = await bootstrapIfEmpty(systemContext(t.rt))
      if (first?.kind !== 'setup_link') throw new Error('expected a set-up link')
      const admin = (await t.db.select().from(users).where(eq(users.email, BOOTSTRAP_EMAIL)).get())!
      const org = (await t.db.select({ organizationId: memberships.organizationId }).from(memberships).where(eq(memberships.userId, admin.id)).get())!.organizationId
      const events = await t.db.select().from(auditEvents).all()
      const seen = events.map((e) => ({ type: e.type, org: e.organizationId, source: e.source, user: e.actorUserId, token: e.actorTokenId, targetType: e.targetType, target: e.targetId, ip: e.ip, ua: e.userAgent, requestId: e.requestId }))
      const about = { org, source: 'system', user: null, token: null, targetType: 'user', target: admin.id, ip: null, ua: null, requestId: null }
      expect(seen.sort((a, b) => a.type.localeCompare(b.type))).toEqual([
        { type: 'member.added', ...about },
        { type: 'user.password_link_created', ...about },
      ])
      const link = events.find((e) => e.type === 'user.password_link_created')!
      expect(openAuditFields(t.ctx.box, link).details).toEqual({ purpose: 'setup', expiresAt: first.expiresAt.toISOString() })
      const secret = linkSecret(first.path)!
      expect(secret).toBeTruthy()
      expect(JSON.stringify(await t.db.select().from(oneTimeLinks).all()) + JSON.stringify(events)).not.toContain(secret)
    } finally {
      await t.rt.close()
    }
  })

  test("refused, the link's event leaves no admin behind: the next start makes the link", async () => {
    const t = await makeTestApp()
    try {
      await refuseAuditWrites(true, t, 'user.password_link_created')
      try {
        await expect(bootstrapIfEmpty(systemContext(t.rt))).rejects.toThrow()
      } finally {
        await refuseAuditWrites(false, t)
      }
      expect({ users: (await t.db.select({ id: users.id }).from(users).all()).length, events: (await t.db.select({ id: auditEvents.id }).from(auditEvents).all()).length }).toEqual({ users: 0, events: 0 })
      expect((await bootstrapIfEmpty(systemContext(t.rt)))?.kind).toBe('setup_link')
    } finally {
      await t.rt.close()
    }
  })
})
