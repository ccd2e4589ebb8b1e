/**
 * An agent run's `teamday_api` calls (src/engine/api-tool.ts) may do only what both the space's
 * TEAMDAY_TOKEN and the credential that started the run may: the intersection of their scopes
 * (executions.scope_limit, checked by the authorizer: src/auth/plugin.ts, runLimit). A token of
 * a user with only `agents:execute` (a CI token) running an agent in a space that holds another
 * of the user's tokens with `*` does not get `*` through the agent: not directly, not through a
 * `delegate` child or an execute made through `teamday_api`, not in an async run claimed later.
 *
 * The model side is scripted (test/helpers/scripted-provider.ts): each agent's system prompt names
 * its plan, the model makes the plan's tool calls one after another, then answers with the list
 * of results it got (JSON), so the test reads what each call was answered from the run's result.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { eq } from 'drizzle-orm'
import { openAuditFields } from '../src/audit/log'
import { auditEvents, executions } from '../src/db/schema'
import { makeActor, makeToken, type Actor, type TestApp } from './helpers/app'
import { signedInPerson } from './helpers/console'
import { agent, exec, makeTestApp, oaiChunk, oaiDone, oaiFull, oaiStop, oaiUsage, rawStream, startScripted, until, type Scripted } from './helpers/scripted-provider'

let p: Scripted
beforeAll(() => {
  p = startScripted()
})
afterAll(() => p.stop())

interface ToolUse {
  tool: 'teamday_api' | 'delegate'
  args: Record<string, unknown>
}

const toolCall = (id: string, name: string, args: object) => [
  oaiChunk({ choices: [{ index: 0, delta: { role: 'assistant', tool_calls: [{ index: 0, id, type: 'function', function: { name, arguments: JSON.stringify(args) } }] }, finish_reason: null }] }),
  oaiStop('tool_calls'),
  oaiUsage(),
  oaiDone,
]
const textOf = (content: unknown) => (typeof content === 'string' ? content : Array.isArray(content) ? content.map((b: any) => (typeof b?.text === 'string' ? b.text : JSON.stringify(b))).join('') : JSON.stringify(content))

/** Plans by name: an agent whose system prompt is `PLAN <name>` makes those calls, then answers the JSON list of its results. */
const plans = new Map<string, () => ToolUse[]>()
/** A plan whose final answer waits for this (an agent that holds the only slot). */
let gate: Promise<void> = Promise.resolve()

beforeAll(() => {
  p.handler = async (_req, body) => {
    const messages = body.messages as any[]
    const system = messages.filter((m) => m.role === 'system').map((m) => textOf(m.content)).join('\n')
    const name = /PLAN (\S+)/.exec(system)?.[1]
    const calls = name ? (plans.get(name)?.() ?? []) : []
    const got = messages.filter((m) => m.role === 'tool').map((m) => textOf(m.content))
    if (got.length < calls.length) {
      const c = calls[got.length]!
      return rawStream(toolCall(`call_${got.length}`, c.tool, c.args))
    }
    if (name === 'hold') await gate
    return rawStream(oaiFull(JSON.stringify(got)))
  }
})

interface World {
  t: TestApp
  member: Actor
  spaceId: string
  /** The member's `*` token, held by the space as TEAMDAY_TOKEN. */
  spaceToken: { token: string; id: string }
  /** Another `*` token of the member's (a token the run must not revoke with narrower rights). */
  other: { token: string; id: string }
  worker: Awaited<ReturnType<typeof agent>>
}

async function world(config: object = {}): Promise<World> {
  const t = await makeTestApp({ config: { openaiBaseUrl: p.openaiBaseUrl, defaultModel: 'test-model', ...config } })
  const admin = await makeActor(t, { role: 'admin' })
  const member = await makeActor(t, { role: 'member' })
  const space = await t.req('POST', '/api/v1/spaces', { token: member.token, body: { name: 'Ops', visibility: 'organization' } })
  expect(space.status).toBe(201)
  const spaceId = space.body.space.id as string
  const spaceToken = await makeToken(t, member, { name: 'for agents', scopes: ['*'] })
  expect((await t.req('POST', `/api/v1/spaces/${spaceId}/secrets`, { token: member.token, body: { secrets: { TEAMDAY_TOKEN: spaceToken.token } } })).status).toBe(200)
  const other = await makeToken(t, member, { name: 'laptop', scopes: ['*'] })
  const worker = await agent(t, admin, { name: 'Worker', systemPrompt: 'PLAN work', maxTurns: 10 })
  return { t, member, spaceId, spaceToken, other, worker }
}

/** The worker's calls: create a task, list agents, revoke another `*` token of the user's. */
const work = (w: World): ToolUse[] => [
  { tool: 'teamday_api', args: { method: 'POST', path: '/api/v1/tasks', body: { title: 'made by an agent' } } },
  { tool: 'teamday_api', args: { method: 'GET', path: '/api/v1/agents' } },
  { tool: 'teamday_api', args: { method: 'DELETE', path: `/api/v1/tokens/${w.other.id}` } },
]

/** `HTTP <status>\n<json>` results, as status and body. */
function answers(result: string): { status: number; body: any }[] {
  return (JSON.parse(result) as string[]).map((s) => {
    const m = /^HTTP (\d{3})[^\n]*\n([\s\S]*)$/.exec(s)
    expect(m).not.toBeNull()
    return { status: Number(m![1]), body: JSON.parse(m![2]!) }
  })
}

const row = async (t: TestApp, id: string) => (await t.db.select().from(executions).where(eq(executions.id, id)).get())!
const tasksOf = async (w: World) => { const r = await w.t.req('GET', '/api/v1/tasks', { token: w.member.token }); expect(r.status).toBe(200); return (Array.isArray(r.body) ? r.body : r.body.tasks) as any[] }
const tokenRevoked = async (w: World) => (await w.t.req('GET', '/api/v1/tokens/self', { token: w.other.token })).status === 401

/** A 403 of the run's limit: names the scope, and that the run's starter lacked it. */
function expectRunRefusal(a: { status: number; body: any }, scope: string) {
  expect(a.status).toBe(403)
  expect(a.body).toMatchObject({ error: true, code: 'insufficient_scope', details: { requiredScopes: [scope], tokenScopes: ['*'] } })
  expect(a.body.message).toContain(`started by a credential without the ${scope} scope`)
}

describe("a run's teamday_api calls: the intersection of the starter's scopes and the space token's", () => {
  test('an agents:execute-only token: the agent may not create tasks, list agents or revoke a `*` token, though the space holds a `*` token', async () => {
    const w = await world()
    plans.set('work', () => work(w))
    const ci = await makeToken(w.t, w.member, { name: 'ci', scopes: ['agents:execute'] })
    const r = await w.t.req('POST', `/api/v1/agents/${w.worker.id}/execute`, { token: ci.token, body: { message: 'go', spaceId: w.spaceId } })
    expect(r.status).toBe(200)
    const [task, list, revoke] = answers(r.body.result)
    expectRunRefusal(task!, 'tasks:write')
    expectRunRefusal(list!, 'agents:read')
    expectRunRefusal(revoke!, 'tokens:write')
    expect(await tasksOf(w)).toEqual([])
    expect(await tokenRevoked(w)).toBe(false)
    expect((await row(w.t, r.body.executionId)).scopeLimit).toEqual(['agents:execute'])
    // Recorded as a scope refusal of the space's token, naming the run.
    const audit = (await w.t.db.select().from(auditEvents).all()).filter((e) => e.type === 'token.scope_denied').map((e) => ({ tokenId: e.tokenId, ...openAuditFields(w.t.rt.box, e).details }))
    expect(audit).toContainEqual(expect.objectContaining({ tokenId: w.spaceToken.id, executionId: r.body.executionId, requiredScope: 'tasks:write', runScopes: ['agents:execute'] }))
  })

  test('with agents:read too, the agent lists agents (200) and still creates no task (403); tokens:write does not revoke a token with more scopes than the starter', async () => {
    const w = await world()
    plans.set('work', () => work(w))
    const ci = await makeToken(w.t, w.member, { name: 'ci', scopes: ['agents:execute', 'agents:read', 'tokens:write'] })
    const r = await w.t.req('POST', `/api/v1/agents/${w.worker.id}/execute`, { token: ci.token, body: { message: 'go', spaceId: w.spaceId } })
    expect(r.status).toBe(200)
    const [task, list, revoke] = answers(r.body.result)
    expectRunRefusal(task!, 'tasks:write')
    expect(list!.status).toBe(200)
    expect(list!.body.agents.map((a: any) => a.name)).toContain('Worker')
    // The route lets tokens:write in; the token rules see the run's scopes, not the space token's `*`.
    expect(revoke!.status).toBe(403)
    expect(revoke!.body.code).toBe('insufficient_scope')
    expect(await tasksOf(w)).toEqual([])
    expect(await tokenRevoked(w)).toBe(false)
  })

  test("the space's own token is not ended by a run started with fewer scopes: DELETE /tokens/self and /tokens/{its id} are 403; a `*` run may end it", async () => {
    const w = await world()
    plans.set('work', () => [
      { tool: 'teamday_api', args: { method: 'DELETE', path: '/api/v1/tokens/self' } },
      { tool: 'teamday_api', args: { method: 'DELETE', path: `/api/v1/tokens/${w.spaceToken.id}` } },
    ])
    const spaceTokenWorks = async () => (await w.t.req('GET', '/api/v1/tokens/self', { token: w.spaceToken.token })).status === 200
    for (const scopes of [['agents:execute'], ['agents:execute', 'tokens:write']]) {
      const ci = await makeToken(w.t, w.member, { name: `ci ${scopes.length}`, scopes })
      const r = await w.t.req('POST', `/api/v1/agents/${w.worker.id}/execute`, { token: ci.token, body: { message: 'go', spaceId: w.spaceId } })
      expect(r.status).toBe(200)
      const [self, byId] = answers(r.body.result)
      expect(self!.status).toBe(403)
      expect(self!.body).toMatchObject({ code: 'insufficient_scope', details: { targetTokenId: w.spaceToken.id, missingScopes: ['*'] } })
      expect(self!.body.message).toContain('cannot revoke the token it calls with')
      if (scopes.includes('tokens:write')) expect(byId!.body).toMatchObject({ code: 'insufficient_scope', details: { targetTokenId: w.spaceToken.id } })
      else expectRunRefusal(byId!, 'tokens:write')
      expect(await spaceTokenWorks()).toBe(true)
    }
    // The same calls from a `*` caller: the first ends the token (200), the second then finds it revoked (401).
    const r = await exec(w.t, w.member, w.worker.id, { message: 'go', spaceId: w.spaceId })
    expect(answers(r.body.result).map((a) => a.status)).toEqual([200, 401])
    expect(await spaceTokenWorks()).toBe(false)
  })

  test('GET /tokens/self inside the run shows what the run may use: `scopes` narrowed, `tokenScopes` the space token\'s, `agentRun` its starter', async () => {
    const w = await world()
    plans.set('work', () => [{ tool: 'teamday_api', args: { method: 'GET', path: '/api/v1/tokens/self' } }])
    const ci = await makeToken(w.t, w.member, { name: 'ci', scopes: ['agents:execute', 'agents:read'] })
    const r = await w.t.req('POST', `/api/v1/agents/${w.worker.id}/execute`, { token: ci.token, body: { message: 'go', spaceId: w.spaceId } })
    expect(r.status).toBe(200)
    const [self] = answers(r.body.result)
    expect(self!.status).toBe(200)
    expect(self!.body.token).toMatchObject({
      id: w.spaceToken.id,
      scopes: ['agents:execute', 'agents:read'],
      tokenScopes: ['*'],
      agentRun: { executionId: r.body.executionId, starterScopes: ['agents:execute', 'agents:read'] },
    })
    // Outside a run the same token is itself: `scopes` its own, no run.
    const direct = await w.t.req('GET', '/api/v1/tokens/self', { token: w.spaceToken.token })
    expect(direct.body.token).toMatchObject({ id: w.spaceToken.id, scopes: ['*'], tokenScopes: ['*'], agentRun: null })
    // A `*` starter: the run may use all the space token may.
    const full = await exec(w.t, w.member, w.worker.id, { message: 'go', spaceId: w.spaceId })
    const [fullSelf] = answers(full.body.result)
    expect(fullSelf!.body.token).toMatchObject({ scopes: ['*'], tokenScopes: ['*'], agentRun: { executionId: full.body.executionId, starterScopes: ['*'] } })
  })

  test('a `*` caller keeps what the space token may: the task is created, agents listed, the other token revoked', async () => {
    const w = await world()
    plans.set('work', () => work(w))
    const r = await exec(w.t, w.member, w.worker.id, { message: 'go', spaceId: w.spaceId })
    expect(r.status).toBe(200)
    expect(answers(r.body.result).map((a) => a.status)).toEqual([201, 200, 200])
    expect((await tasksOf(w)).map((x) => x.title)).toEqual(['made by an agent'])
    expect(await tokenRevoked(w)).toBe(true)
    expect((await row(w.t, r.body.executionId)).scopeLimit).toEqual(['*'])
  })

  test('a run started from the console (a signed-in person: all the role allows) is limited by the space token alone', async () => {
    const w = await world()
    plans.set('quiet', () => [])
    const quiet = await agent(w.t, w.member, { name: 'Quiet', systemPrompt: 'PLAN quiet' })
    const person = await signedInPerson(w.t, { role: 'member' })
    expect((await person.c.post(`/agents/${quiet.id}/chat`, { message: 'hello' })).status).toBe(303)
    const rows = await w.t.db.select().from(executions).where(eq(executions.userId, person.a.userId)).all()
    expect(rows.map((x) => [x.agentId, x.tokenId, x.scopeLimit])).toEqual([[quiet.id, null, ['*']]])
  })

  test('a `delegate` child keeps its parent\'s limit', async () => {
    const w = await world()
    plans.set('work', () => work(w))
    const boss = await agent(w.t, w.member, { name: 'Boss', systemPrompt: 'PLAN boss', subagentIds: [w.worker.id], maxTurns: 4 })
    plans.set('boss', () => [{ tool: 'delegate', args: { agentId: w.worker.id, message: 'do the work' } }])
    const ci = await makeToken(w.t, w.member, { name: 'ci', scopes: ['agents:execute', 'agents:read'] })
    const r = await w.t.req('POST', `/api/v1/agents/${boss.id}/execute`, { token: ci.token, body: { message: 'go', spaceId: w.spaceId } })
    expect(r.status).toBe(200)
    // The boss's one tool result is the child's answer: the worker's list of results.
    const [childAnswer] = JSON.parse(r.body.result) as string[]
    const [task, list, revoke] = answers(childAnswer!)
    expectRunRefusal(task!, 'tasks:write')
    expect(list!.status).toBe(200)
    expectRunRefusal(revoke!, 'tokens:write')
    expect(await tasksOf(w)).toEqual([])
    const kids = await w.t.db.select().from(executions).where(eq(executions.parentExecutionId, r.body.executionId)).all()
    expect(kids.map((k) => [k.agentId, k.scopeLimit])).toEqual([[w.worker.id, ['agents:execute', 'agents:read']]])
  })

  test('a child started through teamday_api keeps the limit (the space token may more)', async () => {
    const w = await world()
    plans.set('work', () => work(w))
    const boss = await agent(w.t, w.member, { name: 'Boss', systemPrompt: 'PLAN boss', maxTurns: 4 })
    plans.set('boss', () => [{ tool: 'teamday_api', args: { method: 'POST', path: `/api/v1/agents/${w.worker.id}/execute`, body: { message: 'do the work', spaceId: w.spaceId } } }])
    const ci = await makeToken(w.t, w.member, { name: 'ci', scopes: ['agents:execute'] })
    const r = await w.t.req('POST', `/api/v1/agents/${boss.id}/execute`, { token: ci.token, body: { message: 'go', spaceId: w.spaceId } })
    expect(r.status).toBe(200)
    const [executed] = answers(r.body.result)
    expect(executed!.status).toBe(200)
    const [task, list, revoke] = answers(executed!.body.result)
    expectRunRefusal(task!, 'tasks:write')
    expectRunRefusal(list!, 'agents:read')
    expectRunRefusal(revoke!, 'tokens:write')
    expect(await tasksOf(w)).toEqual([])
    expect((await row(w.t, executed!.body.executionId)).scopeLimit).toEqual(['agents:execute'])
  })

  test('an async run queued behind a full house keeps the limit when it is claimed later', async () => {
    const w = await world({ maxConcurrentExecutions: 1 })
    plans.set('work', () => work(w))
    const ci = await makeToken(w.t, w.member, { name: 'ci', scopes: ['agents:execute'] })
    const { id, open } = await queuedBehindHolder(w, ci)
    expect((await row(w.t, id)).status).toBe('pending')
    expect((await row(w.t, id)).scopeLimit).toEqual(['agents:execute'])
    open()
    await until(async () => (await row(w.t, id)).status === 'completed', 10_000)
    const [task, list, revoke] = answers((await row(w.t, id)).result!)
    expectRunRefusal(task!, 'tasks:write')
    expectRunRefusal(list!, 'agents:read')
    expectRunRefusal(revoke!, 'tokens:write')
    expect(await tasksOf(w)).toEqual([])
  })

  /**
   * An async run of the worker by `starter`, queued behind a holder's run that keeps the one slot
   * (`maxConcurrentExecutions: 1`) until `open` is called.
   */
  async function queuedBehindHolder(w: World, starter: { token: string }): Promise<{ id: string; open: () => void }> {
    plans.set('hold', () => [])
    const holder = await agent(w.t, w.member, { name: 'Holder', systemPrompt: 'PLAN hold' })
    let open!: () => void
    gate = new Promise<void>((resolve) => (open = resolve))
    const held = await exec(w.t, w.member, holder.id, { message: 'wait', async: true })
    expect(held.status).toBe(202)
    await until(async () => (await row(w.t, held.body.executionId)).status === 'running')
    const queued = await w.t.req('POST', `/api/v1/agents/${w.worker.id}/execute`, { token: starter.token, body: { message: 'go', spaceId: w.spaceId, async: true } })
    expect(queued.status).toBe(202)
    return { id: queued.body.executionId as string, open }
  }

  /**
   * A run queued behind a full house whose row is then written as a build before scope_limit
   * (migration sqlite 0020 / pg 0008) wrote it: the column NULL; `keepToken` false also without
   * token_id (a run from the console, or older than sqlite 0018 / pg 0006). Its turn then comes.
   */
  async function queuedWithoutLimit(w: World, starter: { token: string }, keepToken: boolean): Promise<string> {
    const { id, open } = await queuedBehindHolder(w, starter)
    await w.t.db.update(executions).set({ scopeLimit: null, ...(keepToken ? {} : { tokenId: null }) }).where(eq(executions.id, id)).run()
    expect((await row(w.t, id)).scopeLimit).toBeNull()
    open()
    await until(async () => (await row(w.t, id)).status === 'completed', 10_000)
    return id
  }

  test('a queued run recorded without a limit (by an older build) gets its token\'s scopes when its turn comes, not "no limit"', async () => {
    const w = await world({ maxConcurrentExecutions: 1 })
    plans.set('work', () => work(w))
    const ci = await makeToken(w.t, w.member, { name: 'ci', scopes: ['agents:execute', 'agents:read'] })
    const id = await queuedWithoutLimit(w, ci, true)
    const [task, list, revoke] = answers((await row(w.t, id)).result!)
    // Before: 201, 200, 200 (a task made, the `*` token revoked) for a credential with neither scope.
    expectRunRefusal(task!, 'tasks:write')
    expect(list!.status).toBe(200)
    expectRunRefusal(revoke!, 'tokens:write')
    expect(await tasksOf(w)).toEqual([])
    expect(await tokenRevoked(w)).toBe(false)
    // Recorded with its start, and said in its log and the server's.
    expect((await row(w.t, id)).scopeLimit).toEqual(['agents:execute', 'agents:read'])
    const log = (await w.t.req('GET', `/api/v1/executions/${id}/logs`, { token: w.member.token })).body
    expect(JSON.stringify(log)).toContain('scope_limit_recovered')
    expect(w.t.logs.some((l) => l.includes('execution_scope_limit_recovered') && l.includes(id) && l.includes('"from":"token"'))).toBe(true)
  })

  test('one without a stored token as well (the console, or a build before token_id): no scope, every call refused', async () => {
    const w = await world({ maxConcurrentExecutions: 1 })
    plans.set('work', () => work(w))
    const id = await queuedWithoutLimit(w, w.member, false)
    const [task, list, revoke] = answers((await row(w.t, id)).result!)
    expectRunRefusal(task!, 'tasks:write')
    expectRunRefusal(list!, 'agents:read')
    expectRunRefusal(revoke!, 'tokens:write')
    expect(await tasksOf(w)).toEqual([])
    expect(await tokenRevoked(w)).toBe(false)
    expect((await row(w.t, id)).scopeLimit).toEqual([])
  })
})
