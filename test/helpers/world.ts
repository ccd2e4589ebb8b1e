/**
 * A populated server for route-by-route tests: organization A (an admin, the member who owns
 * every fixture, a second member, a viewer) and organization B (a member with an agent and an
 * execution of its own), plus a revoked and an expired token. Executions run for real against
 * the provider double. `REQUESTS` holds one concrete request per route of the app; destructive
 * routes build a fresh fixture on each call.
 */
import { eq } from 'drizzle-orm'
import { executions } from '../../src/db/schema'
import { revokeById } from '../../src/modules/tokens/service'
import { decideLogin, initiateLogin, pollLogin } from '../../src/modules/cli-auth/service'
import { makeActor, makeTestApp, makeToken, type Actor, type TestApp } from './app'
import { startProviderDouble, type ProviderDouble } from './providers'

const DAY = 86_400_000

export type Member = 'adminA' | 'memberA' | 'otherA' | 'viewerA' | 'memberB'
export type Caller = Member | 'revoked' | 'expired' | 'malformed' | 'none'
export const MEMBERS: Member[] = ['adminA', 'memberA', 'otherA', 'viewerA', 'memberB']
export const CALLERS: Caller[] = [...MEMBERS, 'revoked', 'expired', 'malformed', 'none']
/** The 401 code each caller without a working token gets on an authenticated route. */
export const UNAUTHENTICATED: Record<Exclude<Caller, Member>, string> = {
  revoked: 'token_revoked',
  expired: 'token_expired',
  malformed: 'malformed_token',
  none: 'missing_token',
}

export interface World {
  t: TestApp
  double: ProviderDouble
  who: Record<Member, Actor>
  revokedToken: string
  expiredToken: string
  /** Organization A's shared agent, shared space (with a secret API_KEY) and task, all memberA's. */
  agentId: string
  spaceId: string
  taskId: string
  /** A completed execution of the shared agent, started by memberA. */
  execId: string
  /** Organization B's agent and completed execution (memberB's). */
  agentB: string
  execB: string
  /** Every id organization A owns: none may appear in an answer to organization B. */
  idsOfA: Set<string>
  /** Fresh fixtures (owned by `owner`, memberA by default). */
  newAgent(owner?: Actor): Promise<string>
  newSpace(owner?: Actor): Promise<string>
  newTask(owner?: Actor): Promise<string>
  /** An execution left running (the provider never answers) until it is cancelled. */
  runningExecution(owner?: Actor): Promise<string>
  tokenOf(c: Caller): string | undefined
  close(): Promise<void>
}

export async function makeWorld(): Promise<World> {
  const double = startProviderDouble()
  const t = await makeTestApp({ config: { openaiBaseUrl: double.openaiBaseUrl, defaultModel: 'test-model', maxConcurrentExecutions: 1000, maxTokensPerUser: 100_000, userRateLimit: null } })
  const who: Record<Member, Actor> = {
    adminA: await makeActor(t, { role: 'admin', org: 'alpha' }),
    memberA: await makeActor(t, { role: 'member', org: 'alpha' }),
    otherA: await makeActor(t, { role: 'member', org: 'alpha' }),
    viewerA: await makeActor(t, { role: 'viewer', org: 'alpha' }),
    memberB: await makeActor(t, { role: 'member', org: 'beta' }),
  }
  const idsOfA = new Set<string>([who.adminA.organizationId])
  for (const a of Object.values(who)) if (a.orgSlug === 'alpha') [a.tokenId, a.userId].forEach((id) => idsOfA.add(id))

  const create = async (path: string, body: unknown, as: Actor): Promise<any> => {
    const res = await t.req('POST', path, { token: as.token, body })
    if (res.status !== 201 && res.status !== 200 && res.status !== 202) throw new Error(`fixture ${path}: ${res.status} ${res.text}`)
    return res.body
  }
  const mark = (id: string, owner: Actor) => {
    if (owner.orgSlug === 'alpha') idsOfA.add(id)
    return id
  }
  const newAgent = async (owner = who.memberA) => mark((await create('/api/v1/agents', { name: 'Shared agent', visibility: 'organization', systemPrompt: 'x' }, owner)).id, owner)
  const newSpace = async (owner = who.memberA) => mark((await create('/api/v1/spaces', { name: 'Shared space', visibility: 'organization' }, owner)).space.id, owner)
  const newTask = async (owner = who.memberA) => mark((await create('/api/v1/tasks', { title: 'A task' }, owner)).id, owner)
  const execute = async (agentId: string, message: string, owner: Actor, async = false) => {
    const b = await create(`/api/v1/agents/${agentId}/execute`, { message, async }, owner)
    return mark(b.executionId as string, owner)
  }

  const revoked = await makeToken(t, who.memberA)
  await revokeById(t.ctx, revoked.id, who.memberA.userId, 'manual')
  t.clock.advance(-8 * DAY)
  const expired = await makeToken(t, who.memberA, { expiresInDays: 7 })
  t.clock.advance(8 * DAY)

  const agentId = await newAgent()
  const spaceId = await newSpace()
  const taskId = await newTask()
  await create(`/api/v1/spaces/${spaceId}/secrets`, { secrets: { API_KEY: 'v' } }, who.memberA)
  const execId = await execute(agentId, 'hello', who.memberA)
  const agentB = (await create('/api/v1/agents', { name: 'Agent of B', visibility: 'organization' }, who.memberB)).id
  const execB = await execute(agentB, 'hello from B', who.memberB)

  return {
    t,
    double,
    who,
    revokedToken: revoked.token,
    expiredToken: expired.token,
    agentId,
    spaceId,
    taskId,
    execId,
    agentB,
    execB,
    idsOfA,
    newAgent,
    newSpace,
    newTask,
    runningExecution: async (owner = who.memberA) => {
      // An async execute answers 202 while the run may still be queued: wait until it has
      // really started, so a cancel finds it running (on a loaded machine it can lag).
      const id = await execute(agentId, 'HANG', owner, true)
      for (const deadline = Date.now() + 10_000; ; await Bun.sleep(5)) {
        const row = await t.db.select({ status: executions.status }).from(executions).where(eq(executions.id, id)).get()
        if (row?.status === 'running') return id
        if (Date.now() > deadline) throw new Error(`fixture: execution ${id} is ${row?.status}, not running, after 10 s`)
      }
    },
    tokenOf(c) {
      if (c === 'revoked') return revoked.token
      if (c === 'expired') return expired.token
      if (c === 'malformed') return 'td_not-a-real-token'
      if (c === 'none') return undefined
      return who[c].token
    },
    async close() {
      await t.rt.engine.shutdown(0)
      double.stop()
    },
  }
}

/** A chat of `owner`: memberA's is that of the execution `execId`; others' are started once (the default assistant). */
const chats = new WeakMap<World, Map<string, Promise<string>>>()
function chatOf(w: World, owner: Actor): Promise<string> {
  let mine = chats.get(w)
  if (!mine) chats.set(w, (mine = new Map()))
  let chat = mine.get(owner.userId)
  if (!chat) {
    chat = (async () => {
      if (owner.userId === w.who.memberA.userId) return (await w.t.req('GET', `/api/v1/executions/${w.execId}`, { token: owner.token })).body.execution.chatId as string
      const r = await w.t.req('POST', '/api/v1/execute', { token: owner.token, body: { message: 'hello' } })
      if (r.status !== 200) throw new Error(`fixture chat: ${r.status} ${r.text}`)
      return r.body.chatId as string
    })()
    mine.set(owner.userId, chat)
  }
  return chat.then(encodeURIComponent)
}

export interface Req {
  path: string
  body?: unknown
  /** Sent with a new token of the calling member, not their usual one (a route that revokes its caller's token). */
  freshToken?: boolean
  /** Sent with a new token of the calling member that was then rotated with a grace period: superseded, still working. */
  supersededToken?: boolean
}

/**
 * One request per route (keys as in ROUTE_REQUIREMENTS). `owner` owns the fresh fixtures of
 * destructive routes (tokens are rotated by their owner only, and only by a token whose scopes
 * cover theirs: the targets carry tokens:read, which tokens:write covers).
 */
export const REQUESTS: Record<string, (w: World, owner: Actor) => Promise<Req> | Req> = {
  'GET /': () => ({ path: '/' }),
  'GET /swagger': () => ({ path: '/swagger' }),
  'GET /swagger/json': () => ({ path: '/swagger/json' }),
  'GET /swagger/assets/swagger-ui-bundle.js': () => ({ path: '/swagger/assets/swagger-ui-bundle.js' }),
  'GET /swagger/assets/swagger-ui.css': () => ({ path: '/swagger/assets/swagger-ui.css' }),
  'GET /swagger/assets/swagger-init.js': () => ({ path: '/swagger/assets/swagger-init.js' }),
  'GET /swagger/': () => ({ path: '/swagger/' }),
  'GET /api/health': () => ({ path: '/api/health' }),
  'GET /api/health/ready': () => ({ path: '/api/health/ready' }),
  'GET /api/health/database-proof': () => ({ path: `/api/health/database-proof?challenge=${'A'.repeat(43)}&probe=${'B'.repeat(43)}` }),
  'GET /metrics': () => ({ path: '/metrics' }),

  'GET /api/v1/tokens': () => ({ path: '/api/v1/tokens' }),
  'POST /api/v1/tokens': () => ({ path: '/api/v1/tokens', body: { name: 'matrix' } }),
  'GET /api/v1/tokens/self': () => ({ path: '/api/v1/tokens/self' }),
  'DELETE /api/v1/tokens/self': () => ({ path: '/api/v1/tokens/self', freshToken: true }),
  'POST /api/v1/tokens/self/rotate': () => ({ path: '/api/v1/tokens/self/rotate', body: {}, freshToken: true }),
  'POST /api/v1/tokens/:id/rotate': async (w, owner) => ({ path: `/api/v1/tokens/${mark(w, (await makeToken(w.t, owner, { scopes: ['tokens:read'] })).id)}/rotate`, body: {} }),
  'GET /api/v1/tokens/:id': (w) => ({ path: `/api/v1/tokens/${w.who.memberA.tokenId}` }),
  'DELETE /api/v1/tokens/:id': async (w, owner) => ({ path: `/api/v1/tokens/${mark(w, (await makeToken(w.t, owner, { scopes: ['tokens:read'] })).id)}` }),

  'GET /api/v1/agents': () => ({ path: '/api/v1/agents' }),
  'POST /api/v1/agents': () => ({ path: '/api/v1/agents', body: { name: 'M' } }),
  'GET /api/v1/agents/:id': (w) => ({ path: `/api/v1/agents/${w.agentId}` }),
  'PATCH /api/v1/agents/:id': (w) => ({ path: `/api/v1/agents/${w.agentId}`, body: { description: 'changed' } }),
  'DELETE /api/v1/agents/:id': async (w, owner) => ({ path: `/api/v1/agents/${await w.newAgent(owner)}` }),
  'POST /api/v1/agents/:id/execute': (w) => ({ path: `/api/v1/agents/${w.agentId}/execute`, body: { message: 'hi' } }),
  'POST /api/v1/execute': () => ({ path: '/api/v1/execute', body: { message: 'hi' } }),
  'GET /api/v1/chats': () => ({ path: '/api/v1/chats' }),
  // A chat of `owner` (memberA's: that of the execution `execId`): private to them.
  'GET /api/v1/chats/:id': async (w, owner) => ({ path: `/api/v1/chats/${await chatOf(w, owner)}` }),
  'GET /api/v1/chats/:id/messages': async (w, owner) => ({ path: `/api/v1/chats/${await chatOf(w, owner)}/messages` }),
  'GET /api/v1/executions': () => ({ path: '/api/v1/executions' }),
  'GET /api/v1/executions/:id': (w) => ({ path: `/api/v1/executions/${w.execId}` }),
  'GET /api/v1/executions/:id/tree': (w) => ({ path: `/api/v1/executions/${w.execId}/tree` }),
  'GET /api/v1/executions/:id/logs': (w) => ({ path: `/api/v1/executions/${w.execId}/logs` }),
  'POST /api/v1/executions/:id/cancel': async (w, owner) => ({ path: `/api/v1/executions/${await w.runningExecution(owner)}/cancel` }),

  'GET /api/v1/spaces': () => ({ path: '/api/v1/spaces' }),
  'POST /api/v1/spaces': () => ({ path: '/api/v1/spaces', body: { name: 'M' } }),
  'GET /api/v1/spaces/:id': (w) => ({ path: `/api/v1/spaces/${w.spaceId}` }),
  'PATCH /api/v1/spaces/:id': (w) => ({ path: `/api/v1/spaces/${w.spaceId}`, body: { description: 'changed' } }),
  'DELETE /api/v1/spaces/:id': async (w, owner) => ({ path: `/api/v1/spaces/${await w.newSpace(owner)}` }),
  'GET /api/v1/spaces/:id/secrets': (w) => ({ path: `/api/v1/spaces/${w.spaceId}/secrets` }),
  'POST /api/v1/spaces/:id/secrets': (w) => ({ path: `/api/v1/spaces/${w.spaceId}/secrets`, body: { secrets: { OTHER_KEY: 'v' } } }),
  'DELETE /api/v1/spaces/:id/secrets': (w) => ({ path: `/api/v1/spaces/${w.spaceId}/secrets`, body: { keys: ['OTHER_KEY'] } }),
  'GET /api/v1/organizations/:orgId/env': (w) => ({ path: `/api/v1/organizations/${w.who.adminA.organizationId}/env` }),
  'POST /api/v1/organizations/:orgId/env': (w) => ({ path: `/api/v1/organizations/${w.who.adminA.organizationId}/env`, body: { secrets: { ORG_KEY: 'v' } } }),
  'DELETE /api/v1/organizations/:orgId/env': (w) => ({ path: `/api/v1/organizations/${w.who.adminA.organizationId}/env`, body: { keys: ['ORG_KEY'] } }),

  'GET /api/v1/organizations/:orgId/members': (w) => ({ path: `/api/v1/organizations/${w.who.adminA.organizationId}/members` }),
  'POST /api/v1/organizations/:orgId/members': (w) => ({ path: `/api/v1/organizations/${w.who.adminA.organizationId}/members`, body: { email: `new${++fresh}@example.com`, role: 'member' } }),
  'GET /api/v1/organizations/:orgId/members/:userId': async (w) => ({ path: `/api/v1/organizations/${w.who.adminA.organizationId}/members/${await newMember(w)}` }),
  'PATCH /api/v1/organizations/:orgId/members/:userId': async (w) => ({ path: `/api/v1/organizations/${w.who.adminA.organizationId}/members/${await newMember(w)}`, body: { role: 'viewer' } }),
  'DELETE /api/v1/organizations/:orgId/members/:userId': async (w) => ({ path: `/api/v1/organizations/${w.who.adminA.organizationId}/members/${await newMember(w)}` }),

  'GET /api/v1/tasks': () => ({ path: '/api/v1/tasks' }),
  'POST /api/v1/tasks': () => ({ path: '/api/v1/tasks', body: { title: 'M' } }),
  'GET /api/v1/tasks/:id': (w) => ({ path: `/api/v1/tasks/${w.taskId}` }),
  'PATCH /api/v1/tasks/:id': (w) => ({ path: `/api/v1/tasks/${w.taskId}`, body: { priority: 'high' } }),
  'DELETE /api/v1/tasks/:id': async (w, owner) => ({ path: `/api/v1/tasks/${await w.newTask(owner)}` }),

  'GET /api/v1/audit-events': () => ({ path: '/api/v1/audit-events' }),
  'POST /api/v1/credentials/revoke': () => ({ path: '/api/v1/credentials/revoke', body: { credentials: ['td_not-a-real-token'] } }),
  'GET /api/public/agents': () => ({ path: '/api/public/agents' }),

  'POST /api/auth/cli/initiate': () => ({ path: '/api/auth/cli/initiate' }),
  'GET /api/auth/cli/poll': async (w) => ({ path: `/api/auth/cli/poll?code=${(await initiateLogin(w.t.ctx)).code}` }),
  'POST /api/auth/cli/refresh': async (w, owner) => ({ path: '/api/auth/cli/refresh', body: { refreshToken: (await cliLogin(w.t, owner)).refreshToken } }),
  'POST /api/auth/cli/revoke': () => ({ path: '/api/auth/cli/revoke', body: { refreshToken: 'tdr_not-a-real-token' } }),
  'POST /api/tokens/create': () => ({ path: '/api/tokens/create', body: { name: 'matrix alias', expiresInDays: 30 } }),
  'GET /api/tokens/list': () => ({ path: '/api/tokens/list' }),
  'POST /api/tokens/:id/revoke': async (w, owner) => ({ path: `/api/tokens/${mark(w, (await makeToken(w.t, owner, { scopes: ['tokens:read'] })).id)}/revoke` }),
}

let fresh = 0

/** A fresh member of organization A (with a token), for routes that change or remove one. */
async function newMember(w: World): Promise<string> {
  return mark(w, (await makeActor(w.t, { role: 'member', org: 'alpha' })).userId)
}

function mark(w: World, id: string): string {
  w.idsOfA.add(id)
  return id
}

/** A browser sign-in done through the services: `who` approves a fresh login code, the first poll takes the tokens. */
export async function cliLogin(t: TestApp, who: Actor): Promise<{ accessToken: string; refreshToken: string; sessionId: string }> {
  const { code } = await initiateLogin(t.ctx)
  await decideLogin(t.ctx, code, { userId: who.userId, organizationId: who.organizationId }, 'approve')
  const r = await pollLogin(t.ctx, code)
  if (r.status !== 'authorized') throw new Error('cliLogin: not authorized')
  return r
}
