/**
 * An agent that delegates through its token (TeamDay's "Using Tokens in Virtual Environments":
 * "Your agent can then use this token to call other TeamDay APIs or delegate work to other
 * agents"): an execute made through the `teamday_api` tool runs as a child of the calling run, in
 * its delegation tree, bounded as a `delegate` call is (depth, the tree's count, stopped with its
 * parent, never queued behind it), after every check the HTTP route makes of the token. Only the
 * engine's own Request objects get that treatment: nothing a client sends does.
 *
 * The model side is test/helpers/providers.ts: `TEAMDAY_API <METHOD> <path> <JSON body>` makes a
 * `teamday_api` call, and the run then answers "Delegated: <the tool result>".
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { eq } from 'drizzle-orm'
import { agents, executions } from '../src/db/schema'
import { agentApiAccess } from '../src/modules/executions/api-access'
import { ERROR_STATUS } from '../src/errors'
import { makeActor, makeTestApp, makeToken, type Actor, type TestApp } from './helpers/app'
import { startProviderDouble, type ProviderDouble } from './helpers/providers'
import { agent, exec, getExec, getLogs, oaiChunk, oaiDone, oaiFull, oaiStop, oaiUsage, rawStream, startScripted, until, type Scripted } from './helpers/scripted-provider'

let double: ProviderDouble
let scripted: Scripted
beforeAll(() => {
  double = startProviderDouble()
  scripted = startScripted()
})
afterAll(() => {
  double.stop()
  scripted.stop()
})

interface World {
  t: TestApp
  admin: Actor
  member: Actor
  spaceId: string
  /** The member's token held by the space (TEAMDAY_TOKEN). */
  spaceToken: { token: string; id: string }
  /** The agent the member runs, and the one it hands work to. */
  boss: Awaited<ReturnType<typeof agent>>
  helper: Awaited<ReturnType<typeof agent>>
}

async function world(config: object = {}, scopes?: string[], openaiBaseUrl = double.openaiBaseUrl): Promise<World> {
  const t = await makeTestApp({ config: { openaiBaseUrl, defaultModel: 'test-model', maxConcurrentExecutions: 1, ...config } })
  const admin = await makeActor(t, { role: 'admin' })
  const member = await makeActor(t, { role: 'member' })
  const space = await t.req('POST', '/api/v1/spaces', { token: member.token, body: { name: 'Work', visibility: 'organization' } })
  expect(space.status).toBe(201)
  const spaceId = space.body.space.id as string
  const spaceToken = await makeToken(t, member, { name: 'for agents', ...(scopes && { scopes: scopes as any }) })
  expect((await t.req('POST', `/api/v1/spaces/${spaceId}/secrets`, { token: member.token, body: { secrets: { TEAMDAY_TOKEN: spaceToken.token } } })).status).toBe(200)
  const boss = await agent(t, admin, { name: 'Boss', maxTurns: 4 })
  const helper = await agent(t, admin, { name: 'Helper' })
  return { t, admin, member, spaceId, spaceToken, boss, helper }
}

/** The model's message that runs `agentId` with `body` through teamday_api. */
const runThrough = (agentId: string, body: object) => `TEAMDAY_API POST /api/v1/agents/${agentId}/execute ${JSON.stringify(body)}`
/** The tool result inside a parent's answer ("Delegated: HTTP <status>\n<json>"). */
function toolResult(answer: string): { status: number; body: any } {
  const m = /^Delegated: HTTP (\d{3})[^\n]*\n([\s\S]*)$/.exec(answer)
  expect(m).not.toBeNull()
  return { status: Number(m![1]), body: JSON.parse(m![2]!) }
}
const row = async (t: TestApp, id: string) => (await t.db.select().from(executions).where(eq(executions.id, id)).get())!
const childrenOf = async (t: TestApp, id: string) => t.db.select().from(executions).where(eq(executions.parentExecutionId, id)).all()

describe('an execute through teamday_api runs as a child of the calling run', () => {
  test("the run gets the other agent's answer; the child is a delegated child in the run's tree, run in its slot (one slot in all), for the space's token", async () => {
    const w = await world()
    const r = await exec(w.t, w.member, w.boss.id, { message: runThrough(w.helper.id, { message: 'summarise the week' }), spaceId: w.spaceId })
    expect(r.status).toBe(200)
    expect(r.body.status).toBe('completed')
    const got = toolResult(r.body.result)
    expect(got.status).toBe(200)
    // The route's normal JSON answer of a synchronous execute.
    expect(got.body).toMatchObject({ success: true, status: 'completed', result: 'Echo: summarise the week (user turns: 1)' })
    const parentId = r.body.executionId
    const kids = await childrenOf(w.t, parentId)
    expect(kids).toHaveLength(1)
    const child = kids[0]!
    expect(got.body.executionId).toBe(child.id)
    expect(child).toMatchObject({ agentId: w.helper.id, userId: w.member.userId, parentExecutionId: parentId, rootExecutionId: parentId, delegationDepth: 1, delegated: true, status: 'completed', tokenId: w.spaceToken.id })
    // The tree and the parent's log show it, as a `delegate` call's child.
    const tree = (await w.t.req('GET', `/api/v1/executions/${parentId}/tree`, { token: w.member.token })).body.tree
    expect(tree.children.map((c: any) => [c.id, c.parentExecutionId, c.delegationDepth])).toEqual([[child.id, parentId, 1]])
    const logs = await getLogs(w.t, w.member, parentId)
    expect(logs.find((l: any) => l.event === 'delegated')?.data).toEqual({ childExecutionId: child.id, agentId: w.helper.id, depth: 1, via: 'teamday_api' })
    expect(logs.find((l: any) => l.event === 'api_call')?.data).toEqual({ method: 'POST', path: `/api/v1/agents/${w.helper.id}/execute`, status: 200 })
    // The member's list shows the child under its parent.
    const listed = await w.t.req('GET', `/api/v1/executions?parentExecutionId=${parentId}`, { token: w.member.token })
    expect(listed.body.map((e: any) => e.id)).toEqual([child.id])
  })

  test('the default assistant (POST /api/v1/execute) too; `stream: true` is answered as JSON; `async: true` is refused (422) and runs nothing', async () => {
    const w = await world()
    const assistant = await exec(w.t, w.member, w.boss.id, { message: 'TEAMDAY_API POST /api/v1/execute {"message":"hello there","stream":true}', spaceId: w.spaceId })
    const got = toolResult(assistant.body.result)
    expect(got).toMatchObject({ status: 200, body: { success: true, status: 'completed', result: 'Echo: hello there (user turns: 1)' } })
    expect((await row(w.t, got.body.executionId))).toMatchObject({ agentId: null, parentExecutionId: assistant.body.executionId, delegated: true, delegationDepth: 1 })

    const later = await exec(w.t, w.member, w.boss.id, { message: runThrough(w.helper.id, { message: 'in the background', async: true }), spaceId: w.spaceId })
    const refused = toolResult(later.body.result)
    expect(refused.status).toBe(422)
    expect(refused.body).toMatchObject({ error: true, code: 'validation_failed', details: [{ field: 'async' }] })
    expect(refused.body.message).toContain('async')
    expect(await childrenOf(w.t, later.body.executionId)).toEqual([])

    // Its parent is the run: another execution (the user's own, which a client could name) is 422.
    const elsewhere = await exec(w.t, w.member, w.boss.id, { message: runThrough(w.helper.id, { message: 'graft', parentExecutionId: assistant.body.executionId }), spaceId: w.spaceId })
    expect(toolResult(elsewhere.body.result)).toMatchObject({ status: 422, body: { code: 'validation_failed', details: [{ field: 'parentExecutionId' }] } })
    expect(await childrenOf(w.t, elsewhere.body.executionId)).toEqual([])
    expect((await childrenOf(w.t, assistant.body.executionId)).map((k) => k.agentId)).toEqual([null])
  })

  test("a run's request that reaches the route with another user's token (only a broken handler could) is refused, not made a child", async () => {
    const w = await world()
    // The handler hands the app the run's own request object, its Authorization swapped for the admin's.
    w.t.rt.engine.useApi(
      agentApiAccess(w.t.rt, (request) => {
        request.headers.set('authorization', `Bearer ${w.admin.token}`)
        return w.t.app.handle(request)
      }),
    )
    const r = await exec(w.t, w.member, w.boss.id, { message: runThrough(w.helper.id, { message: 'as the admin' }), spaceId: w.spaceId })
    expect(toolResult(r.body.result)).toMatchObject({ status: 403, body: { code: 'forbidden' } })
    expect(await w.t.db.select().from(executions).where(eq(executions.agentId, w.helper.id)).all()).toEqual([])
  })
})

describe("a child filed under the user's chat", () => {
  // A run's model can execute an agent through teamday_api with the chatId of the chat the run is
  // in: the child (delegated) was left out of GET /chats/{id}, but its message and answer went to
  // the model as the user's own earlier turns in every later turn of that chat.
  test("is neither in the chat nor in the model's history of it: the model gets the turns GET /chats/{id} shows", async () => {
    const w = await world()
    const chatId = 'chat-with-a-filed-child'
    const first = await exec(w.t, w.member, w.boss.id, { message: runThrough(w.helper.id, { message: 'injected note', chatId }), spaceId: w.spaceId, chatId })
    expect(toolResult(first.body.result)).toMatchObject({ status: 200, body: { status: 'completed', result: 'Echo: injected note (user turns: 1)' } })
    const [child] = await childrenOf(w.t, first.body.executionId)
    expect(child).toMatchObject({ chatId, delegated: true })
    w.t.clock.advance(1000)
    const before = double.requests.length
    const second = await exec(w.t, w.member, w.boss.id, { message: 'hello', spaceId: w.spaceId, chatId })
    // The user's turns: the first and this one.
    expect(second.status).toBe(200)
    expect(second.body.result).toBe('Echo: hello (user turns: 2)')
    const sent = (double.requests.at(-1)!.body.messages as any[]).filter((m) => m.role !== 'system').map((m) => [m.role, m.content])
    expect(double.requests.length).toBe(before + 1)
    const chat = await w.t.req('GET', `/api/v1/chats/${chatId}`, { token: w.member.token })
    const shown = (chat.body.messages as any[]).map((m) => [m.role, m.content])
    // The chat's messages, less the answer to this message: what the model got.
    expect(sent).toEqual(shown.slice(0, -1))
    expect(shown.map(([role]) => role)).toEqual(['user', 'assistant', 'user', 'assistant'])
    // No turn of the child's ("injected note", as if the user had said it).
    expect(sent.filter(([role]) => role === 'user').map(([, content]) => content)).toEqual([runThrough(w.helper.id, { message: 'injected note', chatId }), 'hello'])
  })
})

describe('a conversation between agents', () => {
  // Runs that execute the same agent through teamday_api on one session of their own continue it:
  // the children's earlier turns are that session's history (never the user's chat's).
  test("an execute through teamday_api on a session earlier ones used gets their turns as its history", async () => {
    const w = await world()
    const chatId = 'agents-talking'
    const first = await exec(w.t, w.member, w.boss.id, { message: runThrough(w.helper.id, { message: 'one', chatId }), spaceId: w.spaceId })
    expect(toolResult(first.body.result)).toMatchObject({ status: 200, body: { result: 'Echo: one (user turns: 1)' } })
    w.t.clock.advance(1000)
    const second = await exec(w.t, w.member, w.boss.id, { message: runThrough(w.helper.id, { message: 'two', chatId }), spaceId: w.spaceId })
    expect(toolResult(second.body.result)).toMatchObject({ status: 200, body: { result: 'Echo: two (user turns: 2)' } })
    // Neither child is a turn of the user's own chats.
    expect((await w.t.req('GET', `/api/v1/chats/${chatId}`, { token: w.member.token })).status).toBe(404)
  })
})

describe('bounded as delegation is', () => {
  test('past TEAMDAY_MAX_DELEGATION_DEPTH the execute is refused (422 delegation_limit, naming the bound), logged on the run that asked', async () => {
    const w = await world({ maxDelegationDepth: 1 })
    // The child (depth 1), in the same space, asks for a grandchild (depth 2).
    const inner = runThrough(w.helper.id, { message: 'too deep' })
    const r = await exec(w.t, w.member, w.boss.id, { message: runThrough(w.boss.id, { message: inner, spaceId: w.spaceId }), spaceId: w.spaceId })
    expect(r.body.status).toBe('completed')
    const outer = toolResult(r.body.result)
    expect(outer.status).toBe(200)
    const deep = toolResult(outer.body.result)
    expect(deep.status).toBe(422)
    // Its own code, not a field's validation_failed: the request was well formed, the tree is at its bound.
    expect(deep.body).toMatchObject({ code: 'delegation_limit', statusCode: 422, details: { limit: 'TEAMDAY_MAX_DELEGATION_DEPTH', max: 1, depth: 2 } })
    expect(deep.body.message).toContain('TEAMDAY_MAX_DELEGATION_DEPTH')
    expect(deep.body.message).not.toContain('TEAMDAY_MAX_DELEGATIONS_PER_RUN')
    const [child] = await childrenOf(w.t, r.body.executionId)
    expect(child!.delegationDepth).toBe(1)
    expect(await childrenOf(w.t, child!.id)).toEqual([])
    const logs = await getLogs(w.t, w.member, child!.id)
    expect(logs.find((l: any) => l.event === 'delegation_refused')?.data).toMatchObject({ depth: 2, max: 1, via: 'teamday_api' })
  })

  test('an API client whose parentExecutionId is already at TEAMDAY_MAX_DELEGATION_DEPTH gets the same 422 delegation_limit, on both execute routes', async () => {
    const w = await world({ maxDelegationDepth: 1 })
    const top = await exec(w.t, w.member, w.helper.id, { message: 'top' })
    expect(top.status).toBe(200)
    const child = await exec(w.t, w.member, w.helper.id, { message: 'child', parentExecutionId: top.body.executionId })
    expect(child.status).toBe(200)
    expect(await row(w.t, child.body.executionId)).toMatchObject({ parentExecutionId: top.body.executionId, delegationDepth: 1 })
    const before = (await w.t.db.select().from(executions).all()).length
    for (const [path, body] of [
      [`/api/v1/agents/${w.helper.id}/execute`, { message: 'too deep', parentExecutionId: child.body.executionId }],
      ['/api/v1/execute', { message: 'too deep', parentExecutionId: child.body.executionId }],
    ] as const) {
      const deep = await w.t.req('POST', path, { token: w.member.token, body })
      expect({ path, status: deep.status }).toEqual({ path, status: 422 })
      // The refusal a run's own execute past the bound gets: its code and details, not a field's validation_failed.
      expect(deep.body).toMatchObject({ code: 'delegation_limit', statusCode: 422, details: { limit: 'TEAMDAY_MAX_DELEGATION_DEPTH', max: 1, depth: 2 } })
      expect(Object.keys(deep.body.details).sort()).toEqual(['depth', 'limit', 'max'])
      expect(deep.body.message).toContain('TEAMDAY_MAX_DELEGATION_DEPTH')
      expect(deep.body.message).toContain(child.body.executionId)
    }
    // Nothing was started.
    expect((await w.t.db.select().from(executions).all()).length).toBe(before)
    expect(await childrenOf(w.t, child.body.executionId)).toEqual([])
    // A delegationDepth field past the bound is still that field's own 422.
    const field = await exec(w.t, w.member, w.helper.id, { message: 'x', delegationDepth: 2, parentExecutionId: top.body.executionId })
    expect(field.status).toBe(422)
    expect(field.body).toMatchObject({ code: 'validation_failed', details: [{ field: 'delegationDepth' }] })
  })

  // An empty parentExecutionId was taken for none: a top-level run, outside the tree the client
  // meant (a script's `"parentExecutionId": "$PARENT"` with PARENT unset).
  test('an empty parentExecutionId is 422 on both execute routes, and nothing is started', async () => {
    const w = await world({})
    const before = (await w.t.db.select().from(executions).all()).length
    for (const path of [`/api/v1/agents/${w.helper.id}/execute`, '/api/v1/execute']) {
      const res = await w.t.req('POST', path, { token: w.member.token, body: { message: 'x', parentExecutionId: '' } })
      expect({ path, status: res.status }).toEqual({ path, status: 422 })
      expect(res.body).toMatchObject({ code: 'validation_failed', details: [{ field: 'parentExecutionId' }] })
    }
    expect((await w.t.db.select().from(executions).all()).length).toBe(before)
  })

  // The depth bound was written out three times (Engine.start for an API client's parent, its
  // startFrom for a run's teamday_api execute, delegateNow for a `delegate` call), each with its
  // own comparison and words; now one rule (depthLimit, src/engine/prepare.ts). Each way of asking
  // goes one level at a time from a top-level run: all accept a child at `max` and refuse the
  // one below it, with the same error for the same parent.
  test('a delegate call, a run\'s teamday_api execute and an API client\'s parentExecutionId are refused at the same depth with the same delegation_limit', async () => {
    for (const max of [1, 2]) {
      const w = await world({ maxDelegationDepth: max })
      /** The refusal with its parent's id taken out: what the three must share. */
      const shape = (message: string, parentId: string) => message.replaceAll(parentId, '<parent>')
      const chainTo = async (topId: string) => {
        const chain = [(await row(w.t, topId))!]
        for (let kids = await childrenOf(w.t, topId); kids.length > 0; kids = await childrenOf(w.t, kids[0]!.id)) {
          expect(kids).toHaveLength(1)
          chain.push(kids[0]!)
        }
        return chain
      }

      // An API client, one parentExecutionId at a time.
      let parentId = (await exec(w.t, w.member, w.helper.id, { message: 'top' })).body.executionId as string
      for (let depth = 1; depth <= max; depth++) {
        const child = await exec(w.t, w.member, w.helper.id, { message: `level ${depth}`, parentExecutionId: parentId })
        expect({ max, depth, status: child.status }).toEqual({ max, depth, status: 200 })
        parentId = child.body.executionId
      }
      const byApi = await exec(w.t, w.member, w.helper.id, { message: 'too deep', parentExecutionId: parentId })
      expect({ max, status: byApi.status }).toEqual({ max, status: 422 })
      expect(byApi.body.details).toEqual({ limit: 'TEAMDAY_MAX_DELEGATION_DEPTH', max, depth: max + 1 })
      const refusal = shape(byApi.body.message, parentId)

      // A run's teamday_api execute, nested: each run asks for the next.
      let ask = runThrough(w.helper.id, { message: 'too deep' })
      for (let i = 0; i < max; i++) ask = runThrough(w.boss.id, { message: ask, spaceId: w.spaceId })
      const viaApi = await exec(w.t, w.member, w.boss.id, { message: ask, spaceId: w.spaceId })
      let answer = viaApi.body.result as string
      for (let i = 0; i < max; i++) answer = toolResult(answer).body.result
      const deepApi = toolResult(answer)
      expect({ max, status: deepApi.status }).toEqual({ max, status: 422 })
      const apiChain = await chainTo(viaApi.body.executionId)
      expect(apiChain.map((e) => e.delegationDepth)).toEqual([...Array(max + 1).keys()])
      const apiParent = apiChain.at(-1)!.id
      expect({ code: deepApi.body.code, details: deepApi.body.details, message: shape(deepApi.body.message, apiParent) }).toEqual({ code: 'delegation_limit', details: byApi.body.details, message: refusal })

      // A `delegate` call, nested: two agents that may delegate to each other.
      const ping = await agent(w.t, w.admin, { name: 'Ping' })
      const pong = await agent(w.t, w.admin, { name: 'Pong', subagentIds: [ping.id] })
      await w.t.db.update(agents).set({ subagentIds: [pong.id] }).where(eq(agents.id, ping.id)).run()
      // Ping (depth 0) asks for Pong, Pong for Ping, …: max + 1 calls, the last one too deep.
      const asked = Array.from({ length: max + 1 }, (_, i) => `DELEGATE ${i % 2 === 0 ? pong.id : ping.id}`)
      const viaDelegate = await exec(w.t, w.member, ping.id, { message: `${asked.join(' ')} too deep` })
      expect({ max, status: viaDelegate.body.status }).toEqual({ max, status: 'completed' })
      const delegateChain = await chainTo(viaDelegate.body.executionId)
      expect(delegateChain.map((e) => e.delegationDepth)).toEqual([...Array(max + 1).keys()])
      const deepest = delegateChain.at(-1)!
      const told = String((await getExec(w.t, w.member, deepest.id)).toolCalls[0].result)
      expect(told).toBe(`Error: delegation refused: ${refusal.replaceAll('<parent>', deepest.id)} Answer without delegating.`)

      // Logged on the parent that asked, the same depth and bound.
      for (const id of [apiParent, deepest.id]) {
        const logs = await getLogs(w.t, w.member, id)
        expect(logs.find((l: any) => l.event === 'delegation_refused')?.data).toMatchObject({ depth: max + 1, max })
      }
    }
  })

  // An API client's parentExecutionId was held to the tree's depth but not to its count: a
  // member could attach any number of executions under one run.
  test('an API client attaching children with parentExecutionId is held to TEAMDAY_MAX_DELEGATIONS_PER_RUN: the same 422 delegation_limit, on both execute routes, async too', async () => {
    const w = await world({ maxDelegationsPerRun: 2, maxDelegationDepth: 5 })
    const top = await exec(w.t, w.member, w.helper.id, { message: 'top' })
    const one = await exec(w.t, w.member, w.helper.id, { message: 'one', parentExecutionId: top.body.executionId })
    // A grandchild is in the same tree (its root is top).
    const two = await exec(w.t, w.member, w.helper.id, { message: 'two', parentExecutionId: one.body.executionId })
    expect([top.status, one.status, two.status]).toEqual([200, 200, 200])
    expect(await row(w.t, two.body.executionId)).toMatchObject({ rootExecutionId: top.body.executionId, delegationDepth: 2 })
    const before = (await w.t.db.select().from(executions).all()).length
    for (const [path, body] of [
      [`/api/v1/agents/${w.helper.id}/execute`, { message: 'three', parentExecutionId: top.body.executionId }],
      ['/api/v1/execute', { message: 'three', parentExecutionId: two.body.executionId }],
      [`/api/v1/agents/${w.helper.id}/execute`, { message: 'three', parentExecutionId: one.body.executionId, async: true }],
    ] as const) {
      const r = await w.t.req('POST', path, { token: w.member.token, body })
      expect({ path, status: r.status }).toEqual({ path, status: 422 })
      expect(r.body).toMatchObject({ code: 'delegation_limit', statusCode: 422, details: { limit: 'TEAMDAY_MAX_DELEGATIONS_PER_RUN', max: 2, started: 2 } })
      expect(r.body.message).toContain('TEAMDAY_MAX_DELEGATIONS_PER_RUN = 2')
      expect(r.body.message).toContain(top.body.executionId)
    }
    expect((await w.t.db.select().from(executions).all()).length).toBe(before)
    // Another tree has a budget of its own.
    const other = await exec(w.t, w.member, w.helper.id, { message: 'other' })
    expect((await exec(w.t, w.member, w.helper.id, { message: 'fine', parentExecutionId: other.body.executionId })).status).toBe(200)
  })

  test("a run's own children and an API client's share the tree's TEAMDAY_MAX_DELEGATIONS_PER_RUN", async () => {
    const w = await world({ maxDelegationsPerRun: 2, maxDelegationDepth: 5 })
    const top = await exec(w.t, w.member, w.helper.id, { message: 'top' })
    expect((await exec(w.t, w.member, w.helper.id, { message: 'attached', parentExecutionId: top.body.executionId })).status).toBe(200)
    // A run attached under top takes the tree's second place; the child it asks for has none left.
    const run = await exec(w.t, w.member, w.boss.id, { message: runThrough(w.helper.id, { message: 'child' }), spaceId: w.spaceId, parentExecutionId: top.body.executionId })
    expect([run.status, run.body.status]).toEqual([200, 'completed'])
    expect(toolResult(run.body.result)).toMatchObject({ status: 422, body: { code: 'delegation_limit', details: { limit: 'TEAMDAY_MAX_DELEGATIONS_PER_RUN', max: 2, started: 2 } } })
    expect(await childrenOf(w.t, run.body.executionId)).toEqual([])
    const logs = await getLogs(w.t, w.member, run.body.executionId)
    expect(logs.find((l: any) => l.event === 'delegation_refused')?.data).toMatchObject({ reason: 'tree_limit', max: 2, via: 'teamday_api' })
  })

  test("TEAMDAY_MAX_DELEGATIONS_PER_RUN counts the tree's children through teamday_api too", async () => {
    const w = await world({ maxDelegationsPerRun: 2, maxDelegationDepth: 5 })
    const third = runThrough(w.helper.id, { message: 'third' })
    const second = runThrough(w.boss.id, { message: third, spaceId: w.spaceId })
    const r = await exec(w.t, w.member, w.boss.id, { message: runThrough(w.boss.id, { message: second, spaceId: w.spaceId }), spaceId: w.spaceId })
    expect(r.body.status).toBe('completed')
    const one = toolResult(r.body.result)
    const two = toolResult(one.body.result)
    const three = toolResult(two.body.result)
    expect([one.status, two.status, three.status]).toEqual([200, 200, 422])
    expect(three.body).toMatchObject({ code: 'delegation_limit', details: { limit: 'TEAMDAY_MAX_DELEGATIONS_PER_RUN', max: 2, started: 2 } })
    expect(three.body.message).toContain('TEAMDAY_MAX_DELEGATIONS_PER_RUN')
    expect(three.body.message).not.toContain('TEAMDAY_MAX_DELEGATION_DEPTH ')
    const tree = await w.t.db.select().from(executions).where(eq(executions.rootExecutionId, r.body.executionId)).all()
    expect(tree).toHaveLength(2)
    const logs = await getLogs(w.t, w.member, two.body.executionId)
    expect(logs.find((l: any) => l.event === 'delegation_refused')?.data).toMatchObject({ reason: 'tree_limit', max: 2, via: 'teamday_api' })
    // A new top-level run has a budget of its own.
    const again = await exec(w.t, w.member, w.boss.id, { message: runThrough(w.helper.id, { message: 'fresh' }), spaceId: w.spaceId })
    expect(toolResult(again.body.result).status).toBe(200)
  })

  // A child refused when the engine starts it (here a delegationDepth field within the schema's
  // 20 but past TEAMDAY_MAX_DELEGATION_DEPTH, which only the engine checks) took one of the
  // tree's TEAMDAY_MAX_DELEGATIONS_PER_RUN all the same. A child whose model no provider serves
  // is recorded (failed) and counts, as a `delegate` call's does.
  test('TEAMDAY_MAX_DELEGATIONS_PER_RUN counts only children recorded: an execute refused as it starts does not use up the tree', async () => {
    const w = await world({ maxDelegationsPerRun: 2, maxDelegationDepth: 3 }, undefined, scripted.openaiBaseUrl)
    const unserved = await agent(w.t, w.admin, { name: 'Unserved', model: 'claude-unserved-1' })
    await w.t.db.update(agents).set({ maxTurns: 6 }).where(eq(agents.id, w.boss.id)).run()
    const lastUser = (body: any) => String((body.messages as any[]).findLast((m) => m.role === 'user')?.content ?? '')
    const api = (body: object, agentId = w.helper.id) => ({ index: 0, id: 'call_0', type: 'function', function: { name: 'teamday_api', arguments: JSON.stringify({ method: 'POST', path: `/api/v1/agents/${agentId}/execute`, body }) } })
    // What the model was told (the run stores only each answer's status and size).
    let told: string[] = []
    scripted.handler = async (_req, body) => {
      const said = lastUser(body)
      if (said === 'child') return rawStream(oaiFull('child done'))
      const tool = (body.messages as any[]).filter((m) => m.role === 'tool')
      const results = tool.length
      told = tool.map((m) => (typeof m.content === 'string' ? m.content : JSON.stringify(m.content)))
      const next = [api({ message: 'child', delegationDepth: 10 }), api({ message: 'unserved' }, unserved.id), api({ message: 'child' }), api({ message: 'child' })][results]
      if (!next) return rawStream(oaiFull('boss done'))
      return rawStream([oaiChunk({ choices: [{ index: 0, delta: { role: 'assistant', tool_calls: [next] }, finish_reason: null }] }), oaiStop('tool_calls'), oaiUsage(), oaiDone])
    }
    const r = await exec(w.t, w.member, w.boss.id, { message: 'go', spaceId: w.spaceId })
    expect([r.status, r.body.result]).toEqual([200, 'boss done'])
    expect(told).toHaveLength(4)
    expect(told[0]).toContain('HTTP 422')
    expect(told[0]).toContain('delegationDepth')
    expect(told[1]).toContain('HTTP 422')
    expect(told[1]).toContain('model_not_served')
    expect(told[2]).toContain('HTTP 200')
    expect(told[2]).toContain('child done')
    expect(told[3]).toContain('HTTP 422')
    expect(told[3]).toContain('"started":2')
    const kids = await childrenOf(w.t, r.body.executionId)
    expect(kids.map((k) => [k.message, k.status]).sort()).toEqual([
      ['child', 'completed'],
      ['unserved', 'failed'],
    ])
  })

  test('cancelling the parent cancels the child and stops its model call', async () => {
    const w = await world()
    const started = exec(w.t, w.member, w.boss.id, { message: runThrough(w.helper.id, { message: 'SLOW' }), spaceId: w.spaceId })
    let parentId = ''
    let child: any
    await until(async () => {
      const list = (await w.t.req('GET', '/api/v1/executions', { token: w.member.token })).body as any[]
      child = list.find((e) => e.parentExecutionId !== null)
      parentId = child?.parentExecutionId ?? ''
      return child?.status === 'running'
    })
    const abortedBefore = double.aborted
    const c = await w.t.req('POST', `/api/v1/executions/${parentId}/cancel`, { token: w.member.token })
    expect(c.status).toBe(200)
    expect(c.body.execution.status).toBe('cancelled')
    expect((await started).status).toBe(409)
    await until(async () => (await getExec(w.t, w.member, child.id)).status === 'cancelled')
    await until(() => double.aborted > abortedBefore)
  })

  test("a `delegate` call and an execute asked for in one step run one after the other, as a run's children always do", async () => {
    const w = await world({}, undefined, scripted.openaiBaseUrl)
    await w.t.db.update(agents).set({ subagentIds: [w.helper.id] }).where(eq(agents.id, w.boss.id)).run()
    let inFlight = 0
    let most = 0
    const lastUser = (body: any) => String((body.messages as any[]).findLast((m) => m.role === 'user')?.content ?? '')
    scripted.handler = async (_req, body) => {
      const said = lastUser(body)
      if (said.startsWith('child ')) {
        most = Math.max(most, ++inFlight)
        await Bun.sleep(150)
        inFlight--
        return rawStream(oaiFull(`${said} done`))
      }
      if ((body.messages as any[]).some((m) => m.role === 'tool')) return rawStream(oaiFull('both done'))
      const call = (index: number, name: string, args: object) => ({ index, id: `call_${index}`, type: 'function', function: { name, arguments: JSON.stringify(args) } })
      const calls = [call(0, 'delegate', { agentId: w.helper.id, message: 'child A' }), call(1, 'teamday_api', { method: 'POST', path: `/api/v1/agents/${w.helper.id}/execute`, body: { message: 'child B' } })]
      return rawStream([oaiChunk({ choices: [{ index: 0, delta: { role: 'assistant', tool_calls: calls }, finish_reason: null }] }), oaiStop('tool_calls'), oaiUsage(), oaiDone])
    }
    const r = await exec(w.t, w.member, w.boss.id, { message: 'do both', spaceId: w.spaceId })
    expect(r.body.status).toBe('completed')
    expect(most).toBe(1)
    const kids = await childrenOf(w.t, r.body.executionId)
    expect(kids.map((k) => [k.message, k.status, k.result]).sort()).toEqual([
      ['child A', 'completed', 'child A done'],
      ['child B', 'completed', 'child B done'],
    ])
  })

  test('a parent that ends (its timeout) stops its child at once, not at its own timeout', async () => {
    // The parent waits 800 ms before its call: the child's own timeout would come 800 ms or more
    // after the parent's. (A timeout of 4 s leaves a loaded machine time to start the child.)
    const w = await world({ executionTimeoutMs: 4000 })
    const r = await exec(w.t, w.member, w.boss.id, { message: `PAUSE 800 ${runThrough(w.helper.id, { message: 'SLOW' })}`, spaceId: w.spaceId })
    expect(r.status).toBe(504)
    // Looked at as the parent's answer arrives, not timed (a loaded machine can be a second late):
    // the child was aborted with its parent, in the same turn, so nothing here still runs unaborted.
    // Left to its own timeout, it would still be running (its model's SLOW answer takes 10 s).
    const running = (w.t.rt.engine as unknown as { running: Map<string, AbortController> }).running
    expect([...running.entries()].filter(([, c]) => !c.signal.aborted).map(([id]) => id)).toEqual([])
    const [child] = await childrenOf(w.t, r.body.details.executionId)
    expect(child).toBeDefined()
    await until(async () => (await row(w.t, child!.id)).status !== 'running')
    expect(await row(w.t, child!.id)).toMatchObject({ status: 'failed', errorCode: 'gateway_timeout' })
  })

  /** The boss's run executing the helper through the space's token, once that child is running (its model's SLOW answer takes 10 s). */
  async function slowChildRunning(w: Awaited<ReturnType<typeof world>>) {
    const started = exec(w.t, w.member, w.boss.id, { message: runThrough(w.helper.id, { message: 'SLOW' }), spaceId: w.spaceId })
    let child: any
    await until(async () => {
      const list = (await w.t.req('GET', '/api/v1/executions', { token: w.member.token })).body as any[]
      child = list.find((e) => e.parentExecutionId !== null)
      return child?.status === 'running'
    })
    return { started, child }
  }

  test("the space's token revoked while its child runs: the tool is answered 401 and the child is cancelled with it, not left running past its parent", async () => {
    const w = await world()
    const { started, child } = await slowChildRunning(w)
    const abortedBefore = double.aborted
    expect((await w.t.req('DELETE', `/api/v1/tokens/${w.spaceToken.id}`, { token: w.member.token })).status).toBe(200)
    const r = await started
    expect(r.body.status).toBe('completed')
    expect(toolResult(r.body.result)).toMatchObject({ status: 401, body: { code: 'token_revoked', details: { executionId: child.id } } })
    // The parent has ended: its child ended before it (it ran in its slot), cancelled, its model call stopped.
    expect(await row(w.t, child.id)).toMatchObject({ status: 'cancelled' })
    await until(() => double.aborted > abortedBefore)
    expect(w.t.rt.engine.runningCount).toBe(0)
  })

  test("the same when the child's run ends (cancelled) before the cancel's own promise settles: still the revocation's 401, not a 409 for a cancelled run", async () => {
    // The order a loaded PostgreSQL gave about one run in six (CI): the child's run recorded its
    // end and answered before the cancel's promise had settled. Made certain here: the cancel
    // settles 300 ms after its work is done.
    const w = await world()
    const engine = w.t.rt.engine
    const cancel = engine.cancel.bind(engine)
    engine.cancel = async (...args: Parameters<typeof cancel>) => {
      const out = await cancel(...args)
      await Bun.sleep(300)
      return out
    }
    try {
      const { started, child } = await slowChildRunning(w)
      expect((await w.t.req('DELETE', `/api/v1/tokens/${w.spaceToken.id}`, { token: w.member.token })).status).toBe(200)
      const r = await started
      expect(toolResult(r.body.result)).toMatchObject({ status: 401, body: { code: 'token_revoked', details: { executionId: child.id } } })
      expect(await row(w.t, child.id)).toMatchObject({ status: 'cancelled' })
    } finally {
      engine.cancel = cancel
    }
  })
})

describe('a child whose parent was cancelled as it was being made', () => {
  // A cancel reads the tree once: a child recorded a moment later (its parent's cancel came
  // between the delegation's check of the parent's signal and the child's first step) is stopped
  // by the parent's signal, not by the cancel, and was left `running` with no end.
  test('is recorded cancelled, not left running', async () => {
    const w = await world()
    const done = await exec(w.t, w.member, w.boss.id, { message: 'hello', spaceId: w.spaceId })
    const parent = await row(w.t, done.body.executionId)
    const helper = (await w.t.db.select().from(agents).where(eq(agents.id, w.helper.id)).get())!
    const stopped = new AbortController()
    stopped.abort('cancel')
    const child = await w.t.rt.engine.start({ agent: helper, space: null, spaceId: null, message: 'too late', userId: w.member.userId, parent }, { within: stopped.signal })
    const end = await child.done
    expect(end).toMatchObject({ status: 'cancelled', parentExecutionId: parent.id })
    expect(end.completedAt).not.toBeNull()
    expect(await row(w.t, child.execution.id)).toMatchObject({ status: 'cancelled' })
    const logs = await getLogs(w.t, w.member, child.execution.id)
    expect(logs.find((l: any) => l.event === 'cancelled')?.data).toEqual({ by: parent.id })
  })
})

describe("the route's checks apply to the token", () => {
  test('a token without agents:execute gets 403 through the tool, and nothing runs', async () => {
    const w = await world({}, ['agents:read', 'executions:read'])
    const r = await exec(w.t, w.member, w.boss.id, { message: runThrough(w.helper.id, { message: 'hi' }), spaceId: w.spaceId })
    expect(r.body.status).toBe('completed')
    const got = toolResult(r.body.result)
    expect(got.status).toBe(403)
    expect(got.body.code).toBe('insufficient_scope')
    expect(await childrenOf(w.t, r.body.executionId)).toEqual([])
  })

  test("another member's private agent is 404, as for any client of the token's user", async () => {
    const w = await world()
    const secret = await agent(w.t, w.admin, { name: 'Private', visibility: 'private' })
    const r = await exec(w.t, w.member, w.boss.id, { message: runThrough(secret.id, { message: 'hi' }), spaceId: w.spaceId })
    const got = toolResult(r.body.result)
    expect(got.status).toBe(404)
    expect(got.body.code).toBe('not_found')
    expect(await childrenOf(w.t, r.body.executionId)).toEqual([])
  })
})

describe('the delegation_limit refusal in the catalogue and the document', () => {
  test('is 422, and both execute routes document it in their 422 response', async () => {
    expect(ERROR_STATUS.delegation_limit).toBe(422)
    const t = await makeTestApp()
    const doc = (await t.req('GET', '/swagger/json')).body
    const resolve = (x: any) => (typeof x?.$ref === 'string' ? x.$ref.split('/').slice(1).reduce((o: any, k: string) => o[k], doc) : x)
    for (const path of ['/api/v1/agents/{id}/execute', '/api/v1/execute']) {
      const res = resolve(doc.paths[path].post.responses['422'])
      const text = `${res.description} ${resolve(res.content['application/json'].schema).description}`
      expect({ path, documented: text.includes('`delegation_limit`') }).toEqual({ path, documented: true })
      expect(text).toContain('TEAMDAY_MAX_DELEGATION_DEPTH')
      expect(text).toContain('TEAMDAY_MAX_DELEGATIONS_PER_RUN')
    }
  })
})

describe('no client can pass for a run', () => {
  test('an outside execute naming a running run, with any header a run might carry, is an ordinary top-level run (queued, async allowed)', async () => {
    const w = await world()
    // The same token through a run's tool: a child, in the run's slot.
    const own = await exec(w.t, w.member, w.boss.id, { message: runThrough(w.helper.id, { message: 'mine' }), spaceId: w.spaceId })
    expect(await row(w.t, toolResult(own.body.result).body.executionId)).toMatchObject({ parentExecutionId: own.body.executionId, delegated: true })
    // A run that holds the only slot for a while.
    const parent = await exec(w.t, w.member, w.helper.id, { message: 'PAUSE 1500 then answer', async: true })
    const parentId = parent.body.executionId
    await until(async () => (await getExec(w.t, w.member, parentId)).status === 'running')
    const forged = await w.t.req('POST', `/api/v1/agents/${w.helper.id}/execute`, {
      token: w.spaceToken.token,
      body: { message: 'me too', async: true, parentExecutionId: parentId },
      headers: {
        'user-agent': `teamday-agent (execution ${parentId})`,
        'x-execution-id': parentId,
        'x-parent-execution-id': parentId,
        'x-teamday-execution': parentId,
        'x-teamday-run': parentId,
        'x-forwarded-for': '127.0.0.1',
        forwarded: 'for=127.0.0.1',
        origin: 'http://localhost',
      },
    })
    // async is refused to a run's own execute: this one was taken for a client's.
    expect(forged.status).toBe(202)
    const x = await row(w.t, forged.body.executionId)
    // Recorded under the parent (the API's parentExecutionId), but not delegated: it waits for a slot.
    expect(x).toMatchObject({ parentExecutionId: parentId, delegated: false, status: 'pending' })
    await until(async () => (await getExec(w.t, w.member, forged.body.executionId)).status === 'completed', 8000)
  })
})

describe('execution.created in the audit log', () => {
  // An execute was in no audit event: who started which run, with which token, from where, was
  // only in the execution's row (without address or user agent, and gone with its retention).
  test('every execute that records a run: actor, token id (never the token), agent, space, execution; a run\'s own teamday_api execute too; a refused one leaves none', async () => {
    const w = await world({ maxDelegationDepth: 1 })
    const ip = '203.0.113.9'
    const headers = { 'user-agent': 'teamday-cli/1.0', 'x-request-id': 'req-exec-audit-1' }
    const direct = await w.t.req('POST', `/api/v1/agents/${w.helper.id}/execute`, { token: w.member.token, body: { message: 'hi', spaceId: w.spaceId, async: true }, headers, ip })
    expect(direct.status).toBe(202)
    await until(async () => (await getExec(w.t, w.member, direct.body.executionId)).status === 'completed')
    const assistant = await w.t.req('POST', '/api/v1/execute', { token: w.member.token, body: { message: 'hello' } })
    const run = await exec(w.t, w.member, w.boss.id, { message: runThrough(w.helper.id, { message: 'from the run' }), spaceId: w.spaceId })
    const child = toolResult(run.body.result).body.executionId
    // Refused (depth): nothing recorded, no event.
    const refused = await w.t.req('POST', `/api/v1/agents/${w.helper.id}/execute`, { token: w.member.token, body: { message: 'x', parentExecutionId: child } })
    expect(refused.status).toBe(422)
    const list = (await w.t.req('GET', '/api/v1/audit-events?type=execution.created&limit=50', { token: w.admin.token })).body
    const byTarget = Object.fromEntries(list.events.map((e: any) => [e.targetId, e]))
    expect(list.events).toHaveLength(4)
    expect(byTarget[direct.body.executionId]).toMatchObject({
      type: 'execution.created',
      source: 'api',
      organizationId: w.member.organizationId,
      actorUserId: w.member.userId,
      actorTokenId: w.member.tokenId,
      targetType: 'execution',
      ip,
      userAgent: 'teamday-cli/1.0',
      requestId: 'req-exec-audit-1',
      details: { agentId: w.helper.id, spaceId: w.spaceId, status: 'pending' },
    })
    expect(byTarget[assistant.body.executionId].details).toEqual({ agentId: null, spaceId: null, status: 'pending' })
    expect(byTarget[run.body.executionId].details).toEqual({ agentId: w.boss.id, spaceId: w.spaceId, status: 'pending' })
    // The run's own execute, with the space's token: that token is the actor.
    expect(byTarget[child]).toMatchObject({ actorUserId: w.member.userId, actorTokenId: w.spaceToken.id, details: { agentId: w.helper.id, parentExecutionId: run.body.executionId, via: 'teamday_api' } })
    const stored = JSON.stringify(list) + JSON.stringify(await w.t.db.select().from(executions).all())
    for (const secret of [w.member.token, w.spaceToken.token, w.admin.token]) expect(stored).not.toContain(secret)
  })
})
