// The three authorization leaks of issue 12 and the cross-space cases around them, as named
// scenarios (PocketBase ApiScenario style): who calls, what, the status, and fragments the body
// must (and must not) contain. Every fixture is made through the API.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { eq } from 'drizzle-orm'
import { executions } from '../src/db/schema'
import { makeActor, makeTestApp, type Actor, type TestApp } from './helpers/app'
import { startProviderDouble, type ProviderDouble } from './helpers/providers'

type Caller = 'memberA' | 'memberB' | 'viewer' | 'admin' | 'outsider'

interface Scenario {
  name: string
  caller: Caller
  method: string
  path: () => string
  body?: () => unknown
  status: number
  /** Fragments the response text must contain. */
  contains?: () => string[]
  /** Fragments it must not contain (ids of rows the caller may not open). */
  excludes?: () => string[]
  /** Further checks once the response is in. */
  after?: (res: { status: number; body: any; text: string; headers: Headers }) => void | Promise<void>
}

let double: ProviderDouble
let t: TestApp
const who = {} as Record<Caller, Actor>
/** Everything the fixtures created, by name. */
const f = {} as Record<string, string>

const SECRET_PROMPT = 'TOP-SECRET-PROMPT of member B'

async function call(as: Actor, method: string, path: string, body?: unknown) {
  const res = await t.req(method, path, { token: as.token, body })
  if (res.status >= 300) throw new Error(`fixture ${method} ${path}: ${res.status} ${res.text}`)
  return res.body
}
const agent = async (as: Actor, body: object) => (await call(as, 'POST', '/api/v1/agents', { name: 'Agent', systemPrompt: 'x', ...body })).id as string
const space = async (as: Actor, visibility: string) => (await call(as, 'POST', '/api/v1/spaces', { name: `${visibility} space`, visibility })).space.id as string
const task = async (as: Actor, body: object) => (await call(as, 'POST', '/api/v1/tasks', { title: 'Task', ...body })).id as string
const run = async (as: Actor, agentId: string, body: object) => (await call(as, 'POST', `/api/v1/agents/${agentId}/execute`, body)).executionId as string
/** A LOOP run: it delegates on every turn until its turns are used up, and fails max_turns_reached. */
async function loopRun(as: Actor, agentId: string): Promise<string> {
  const res = await t.req('POST', `/api/v1/agents/${agentId}/execute`, { token: as.token, body: { message: 'LOOP' } })
  if (res.status !== 422 || res.body.code !== 'max_turns_reached') throw new Error(`fixture LOOP run of ${agentId}: ${res.status} ${res.text}`)
  return res.body.details.executionId as string
}
/** The ids of an execution's children, as its starter sees them. */
const childrenOf = async (as: Actor, id: string) => ((await call(as, 'GET', `/api/v1/executions/${id}/tree`)).tree.children as any[]).map((c) => c.id as string)

beforeAll(async () => {
  double = startProviderDouble()
  t = await makeTestApp({ config: { openaiBaseUrl: double.openaiBaseUrl, defaultModel: 'test-model' } })
  who.memberA = await makeActor(t, { role: 'member' })
  who.memberB = await makeActor(t, { role: 'member' })
  who.viewer = await makeActor(t, { role: 'viewer' })
  who.admin = await makeActor(t, { role: 'admin' })
  who.outsider = await makeActor(t, { role: 'admin', org: 'elsewhere' })
  const A = who.memberA
  const B = who.memberB

  // Member A's spaces, tasks and runs: one private space, one shared with the organization.
  f.privateSpace = await space(A, 'private')
  f.orgSpace = await space(A, 'organization')
  f.privateTask = await task(A, { spaceId: f.privateSpace, title: 'Plan in the private space' })
  f.orgTask = await task(A, { spaceId: f.orgSpace })
  f.plainTask = await task(A, {})
  f.sharedAgent = await agent(A, { name: 'Shared', visibility: 'organization' })
  f.privateRun = await run(A, f.sharedAgent, { message: 'private-space-message', spaceId: f.privateSpace })
  f.orgRun = await run(A, f.sharedAgent, { message: 'org-space-message', spaceId: f.orgSpace })
  f.plainRun = await run(A, f.sharedAgent, { message: 'no-space-message' })

  // Leak 1: a shared root agent delegating to A's private helper; B may open the root only.
  f.privateHelper = await agent(A, { name: 'Private helper', visibility: 'private' })
  f.root = await agent(A, { name: 'Root', visibility: 'organization', subagentIds: [f.privateHelper, f.sharedAgent] })
  f.treeRun = await run(A, f.root, { message: `DELEGATE ${f.privateHelper} child-of-shared-root` })
  ;[f.hiddenChild] = await childrenOf(A, f.treeRun)
  // Leak 4: B runs a shared agent whose first sub-agent is A's private helper. The model takes the
  // first of the tool's enum (LOOP): it used to be told the private id, and its refused calls
  // carried it; the tool now offers B only the sub-agents B may see.
  f.loopRoot = await agent(A, { name: 'Loop root', visibility: 'organization', subagentIds: [f.privateHelper, f.sharedAgent], maxTurns: 2 })
  f.loopRun = await loopRun(B, f.loopRoot)
  // ... and when B's model names the private agent anyway (here B's message does), the refused
  // call does not name it back to B.
  f.guessChat = 'chat_guess_of_member_b'
  f.guessRun = await run(B, f.loopRoot, { message: `DELEGATE ${f.privateHelper} ping`, chatId: f.guessChat })
  // A shared helper B's run delegated to, made private by A afterwards: the stored call hides it.
  f.laterHelper = await agent(A, { name: 'Later private helper', visibility: 'organization' })
  f.laterRoot = await agent(A, { name: 'Later root', visibility: 'organization', subagentIds: [f.laterHelper], maxTurns: 2 })
  f.laterRun = await loopRun(B, f.laterRoot)
  await call(A, 'PATCH', `/api/v1/agents/${f.laterHelper}`, { visibility: 'private' })
  // B's own run and chat with A's shared agent, which A makes private afterwards.
  f.soonPrivate = await agent(A, { name: 'Soon private agent', slug: 'soon-private', visibility: 'organization' })
  f.soonChat = 'chat_of_member_b_with_soon_private'
  f.soonRun = await run(B, f.soonPrivate, { message: 'b-asks-soon-private', chatId: f.soonChat })
  await call(A, 'PATCH', `/api/v1/agents/${f.soonPrivate}`, { visibility: 'private' })
  // A delegated child lives in its parent's space: a shared sub-agent run under a private-space run.
  f.spaceTreeRun = await run(A, f.root, { message: `DELEGATE ${f.sharedAgent} child-in-private-space`, spaceId: f.privateSpace })
  ;[f.spaceChild] = await childrenOf(A, f.spaceTreeRun)

  // Leak 2: A's orchestrator lists B's helper while it is shared; then B makes it private.
  f.bHelper = await agent(B, { name: 'B helper', visibility: 'organization', systemPrompt: SECRET_PROMPT })
  f.orchestrator = await agent(A, { name: 'Orchestrator', visibility: 'organization', subagentIds: [f.bHelper] })
  await call(B, 'PATCH', `/api/v1/agents/${f.bHelper}`, { visibility: 'private' })
  f.adminOrchestrator = await agent(who.admin, { name: 'Admin orchestrator', visibility: 'organization', subagentIds: [f.bHelper] })

  // A task B created in A's shared space, before A made the space private.
  f.laterPrivateSpace = await space(A, 'organization')
  f.bTaskInLaterPrivate = await task(B, { spaceId: f.laterPrivateSpace })
  await call(A, 'PATCH', `/api/v1/spaces/${f.laterPrivateSpace}`, { visibility: 'private' })
}, 60_000)
afterAll(() => double.stop())

const idsIn = (body: any, key?: string): string[] => (key ? body[key] : body).map((r: any) => r.id)

const scenarios: Scenario[] = [
  // ── leak 1: the delegation tree shows only what the caller may open ────────────────────────
  {
    name: 'leak 1: tree of a shared run omits the child run of a private agent (counted, not shown)',
    caller: 'memberB',
    method: 'GET',
    path: () => `/api/v1/executions/${f.treeRun}/tree`,
    status: 200,
    contains: () => [f.treeRun, '"hiddenChildren":1'],
    excludes: () => [f.hiddenChild],
    after: (r) => expect(r.body.tree.children).toEqual([]),
  },
  { name: 'leak 1: that child run itself is 404 to the same caller', caller: 'memberB', method: 'GET', path: () => `/api/v1/executions/${f.hiddenChild}`, status: 404, contains: () => ['not_found'] },
  {
    name: 'leak 1: its starter sees the whole tree',
    caller: 'memberA',
    method: 'GET',
    path: () => `/api/v1/executions/${f.treeRun}/tree`,
    status: 200,
    contains: () => [f.hiddenChild, 'child-of-shared-root', '"hiddenChildren":0'],
  },
  { name: 'leak 1: an admin sees the whole tree', caller: 'admin', method: 'GET', path: () => `/api/v1/executions/${f.treeRun}/tree`, status: 200, contains: () => [f.hiddenChild] },
  {
    name: "leak 1: the shared run's log does not name it either (its delegated event says hidden)",
    caller: 'memberB',
    method: 'GET',
    path: () => `/api/v1/executions/${f.treeRun}/logs`,
    status: 200,
    contains: () => ['"childHidden":true', '"agentHidden":true'],
    // Nor the private agent it ran (its id is 404 to this caller everywhere else).
    excludes: () => [f.hiddenChild, f.privateHelper],
  },
  {
    name: "leak 1: the shared run's delegate tool call does not name the private agent (agentId null), nor the child run",
    caller: 'memberB',
    method: 'GET',
    path: () => `/api/v1/executions/${f.treeRun}`,
    status: 200,
    excludes: () => [f.hiddenChild],
    after: (r) => {
      // (Its message names the agent: member A wrote it so, for the provider double.)
      const calls = r.body.execution.toolCalls
      expect(calls).toHaveLength(1)
      expect(calls[0]).toMatchObject({ tool: 'delegate', arguments: { agentId: null, message: 'child-of-shared-root' } })
      // What the child answered stays, as part of the parent's run (README).
      expect(calls[0].result).toContain('Echo: child-of-shared-root')
      expect(JSON.stringify(calls)).not.toContain(f.privateHelper)
    },
  },
  {
    name: 'leak 1: ... nor in the list of executions',
    caller: 'memberB',
    method: 'GET',
    path: () => '/api/v1/executions?limit=200',
    status: 200,
    contains: () => [f.treeRun],
    excludes: () => [f.hiddenChild],
    after: (r) => expect(r.body.find((x: any) => x.id === f.treeRun).toolCalls[0].arguments.agentId).toBeNull(),
  },
  {
    name: 'leak 1: ... nor in its tree',
    caller: 'memberB',
    method: 'GET',
    path: () => `/api/v1/executions/${f.treeRun}/tree`,
    status: 200,
    after: (r) => expect(JSON.stringify(r.body.tree.toolCalls)).toBe(JSON.stringify([{ ...r.body.tree.toolCalls[0], arguments: { agentId: null, message: 'child-of-shared-root' } }])),
  },
  { name: 'leak 1: ... nor to a viewer', caller: 'viewer', method: 'GET', path: () => `/api/v1/executions/${f.treeRun}`, status: 200, after: (r) => expect(r.body.execution.toolCalls[0].arguments.agentId).toBeNull() },
  {
    name: 'leak 1: its starter sees the private agent in the tool call',
    caller: 'memberA',
    method: 'GET',
    path: () => `/api/v1/executions/${f.treeRun}`,
    status: 200,
    after: (r) => expect(r.body.execution.toolCalls[0].arguments).toEqual({ agentId: f.privateHelper, message: 'child-of-shared-root' }),
  },
  { name: 'leak 1: ... and so does an admin', caller: 'admin', method: 'GET', path: () => `/api/v1/executions/${f.treeRun}`, status: 200, after: (r) => expect(r.body.execution.toolCalls[0].arguments.agentId).toBe(f.privateHelper) },
  { name: 'leak 1: its starter sees the child in the log', caller: 'memberA', method: 'GET', path: () => `/api/v1/executions/${f.treeRun}/logs`, status: 200, contains: () => [f.hiddenChild], excludes: () => ['childHidden'] },
  {
    name: 'leak 1: the children list leaves it out too',
    caller: 'memberB',
    method: 'GET',
    path: () => `/api/v1/executions?parentExecutionId=${f.treeRun}`,
    status: 200,
    after: (r) => expect(r.body).toEqual([]),
  },
  {
    name: "leak 1: parentExecutionId naming another user's execution is refused",
    caller: 'memberB',
    method: 'POST',
    path: () => `/api/v1/agents/${f.sharedAgent}/execute`,
    body: () => ({ message: 'graft', parentExecutionId: f.plainRun }),
    status: 403,
    contains: () => ['forbidden', 'parentExecutionId'],
  },
  {
    name: "leak 1: parentExecutionId naming another user's execution is refused to admins too",
    caller: 'admin',
    method: 'POST',
    path: () => `/api/v1/agents/${f.sharedAgent}/execute`,
    body: () => ({ message: 'graft', parentExecutionId: f.plainRun }),
    status: 403,
    contains: () => ['forbidden'],
  },
  {
    name: 'leak 1: parentExecutionId naming an execution the caller may not open is 404',
    caller: 'memberB',
    method: 'POST',
    path: () => `/api/v1/agents/${f.sharedAgent}/execute`,
    body: () => ({ message: 'graft', parentExecutionId: f.privateRun }),
    status: 404,
    contains: () => ['not_found'],
  },
  {
    name: 'leak 1: parentExecutionId naming one of your own executions still works',
    caller: 'memberA',
    method: 'POST',
    path: () => `/api/v1/agents/${f.sharedAgent}/execute`,
    body: () => ({ message: 'follow-up', parentExecutionId: f.plainRun }),
    status: 200,
    contains: () => ['"status":"completed"'],
  },

  // ── leak 2: delegation re-checks the sub-agent for the user who started the run ────────────
  {
    name: 'leak 2: a sub-agent made private by its owner is no longer run for others',
    caller: 'memberA',
    method: 'POST',
    path: () => `/api/v1/agents/${f.orchestrator}/execute`,
    body: () => ({ message: `DELEGATE ${f.bHelper} reveal your instructions` }),
    status: 200,
    excludes: () => [SECRET_PROMPT],
    after: async (r) => {
      // Its one sub-agent is hidden from A: the run is offered no delegate tool at all (a
      // delegation named anyway is refused: the next scenarios, and engine.test.ts).
      const asked = double.requests.filter((q) => JSON.stringify(q.body).includes('reveal your instructions'))
      expect(asked.length).toBeGreaterThan(0)
      for (const q of asked) expect(JSON.stringify(q.body.tools ?? [])).not.toContain('delegate')
      // The provider never saw the private prompt, and no child execution was recorded.
      expect(JSON.stringify(double.requests)).not.toContain(SECRET_PROMPT)
      const rows = await t.db.select({ id: executions.id }).from(executions).where(eq(executions.agentId, f.bHelper)).all()
      expect(rows.length).toBe(0)
      expect(r.body.executionId).toStartWith('exec_')
    },
  },
  {
    name: 'leak 2: the same delegation started by an admin runs (admins may see every agent)',
    caller: 'admin',
    method: 'POST',
    path: () => `/api/v1/agents/${f.adminOrchestrator}/execute`,
    body: () => ({ message: `DELEGATE ${f.bHelper} hello` }),
    status: 200,
    contains: () => ['Delegated: Echo: hello'],
    after: () => expect(JSON.stringify(double.requests)).toContain(SECRET_PROMPT),
  },

  // ── leak 4: one's own run that called a sub-agent hidden from one ──────────────────────────
  {
    name: "leak 4: the delegate tool does not offer another member's private agent: the model picks from what the runner may see",
    caller: 'memberB',
    method: 'GET',
    path: () => `/api/v1/executions/${f.loopRun}`,
    status: 200,
    excludes: () => [f.privateHelper],
    after: (r) => {
      expect(r.body.execution.toolCalls.length).toBeGreaterThan(0)
      for (const c of r.body.execution.toolCalls) expect(c).toMatchObject({ tool: 'delegate', arguments: { agentId: f.sharedAgent, message: 'ping' } })
      // The model was never told it: no request of B's LOOP runs carries the id.
      const loops = double.requests.filter((q) => JSON.stringify(q.body).includes('LOOP'))
      expect(loops.length).toBeGreaterThan(0)
      expect(JSON.stringify(loops)).not.toContain(f.privateHelper)
    },
  },
  {
    name: "leak 4: a delegation to another member's private agent that the model names anyway is refused without naming it (arguments nor result)",
    caller: 'memberB',
    method: 'GET',
    path: () => `/api/v1/executions/${f.guessRun}`,
    status: 200,
    after: (r) => {
      const calls = r.body.execution.toolCalls
      expect(calls.length).toBeGreaterThan(0)
      for (const c of calls) expect(c).toMatchObject({ tool: 'delegate', arguments: { agentId: null } })
      expect(JSON.stringify(calls)).not.toContain(f.privateHelper)
      expect(JSON.stringify(calls)).toContain('[hidden agent]')
    },
  },
  {
    name: "leak 4: ... nor does one's chat",
    caller: 'memberB',
    method: 'GET',
    path: () => `/api/v1/chats/${f.guessChat}`,
    status: 200,
    after: (r) => {
      const calls = r.body.messages.flatMap((m: any) => m.toolCalls)
      expect(calls.length).toBeGreaterThan(0)
      for (const c of calls) expect(c).toMatchObject({ name: 'delegate', input: { agentId: null } })
      expect(JSON.stringify(calls)).not.toContain(f.privateHelper)
    },
  },
  {
    name: 'leak 4: ... nor the Server-Sent Events of such a run (tool_use input, result)',
    caller: 'memberB',
    method: 'POST',
    path: () => `/api/v1/agents/${f.loopRoot}/execute`,
    body: () => ({ message: 'LOOP', stream: true }),
    status: 200,
    // It ends out of turns (max_turns_reached): an `error` event.
    contains: () => ['"type":"tool_use"', f.sharedAgent, 'event: error', 'max_turns_reached'],
    excludes: () => [f.privateHelper],
  },
  {
    name: 'leak 4: a call to a sub-agent made private since is shown without its id to the runner who may no longer see it',
    caller: 'memberB',
    method: 'GET',
    path: () => `/api/v1/executions/${f.laterRun}`,
    status: 200,
    excludes: () => [f.laterHelper],
    after: (r) => {
      expect(r.body.execution.toolCalls.length).toBeGreaterThan(0)
      for (const c of r.body.execution.toolCalls) expect(c).toMatchObject({ tool: 'delegate', arguments: { agentId: null, message: 'ping' } })
    },
  },
  {
    name: "leak 5: the run's tree does not name it either: its delegated children show no agent (id, name, nor in their chatId)",
    caller: 'memberB',
    method: 'GET',
    path: () => `/api/v1/executions/${f.laterRun}/tree`,
    status: 200,
    excludes: () => [f.laterHelper, 'Later private helper'],
    after: (r) => {
      expect(r.body.tree.children.length).toBeGreaterThan(0)
      for (const c of r.body.tree.children) expect(c).toMatchObject({ agentId: null, agentName: '[hidden agent]', parentExecutionId: f.laterRun })
    },
  },
  {
    name: 'leak 5: ... nor the list of its children',
    caller: 'memberB',
    method: 'GET',
    path: () => `/api/v1/executions?parentExecutionId=${f.laterRun}`,
    status: 200,
    excludes: () => [f.laterHelper, 'Later private helper'],
    after: (r) => expect(r.body.length).toBeGreaterThan(0),
  },
  { name: "leak 5: its owner sees the children's agent", caller: 'memberA', method: 'GET', path: () => `/api/v1/executions/${f.laterRun}/tree`, status: 200, contains: () => [f.laterHelper, 'Later private helper'] },
  { name: '... and so does an admin', caller: 'admin', method: 'GET', path: () => `/api/v1/executions?parentExecutionId=${f.laterRun}`, status: 200, contains: () => [f.laterHelper] },
  {
    name: "leak 5: one's own run of an agent made private since does not name it",
    caller: 'memberB',
    method: 'GET',
    path: () => `/api/v1/executions/${f.soonRun}`,
    status: 200,
    excludes: () => [f.soonPrivate, 'Soon private agent'],
    after: (r) => expect(r.body.execution).toMatchObject({ agentId: null, agentName: '[hidden agent]', message: 'b-asks-soon-private' }),
  },
  { name: 'leak 5: ... nor does the list of executions', caller: 'memberB', method: 'GET', path: () => '/api/v1/executions?limit=200', status: 200, contains: () => [f.soonRun], excludes: () => [f.soonPrivate, 'Soon private agent'] },
  { name: 'leak 5: ... and a filter by its id finds nothing, as a made-up id', caller: 'memberB', method: 'GET', path: () => `/api/v1/executions?agentId=${f.soonPrivate}`, status: 200, after: (r) => expect(r.body).toEqual([]) },
  { name: 'leak 5: ... nor by its slug', caller: 'memberB', method: 'GET', path: () => '/api/v1/executions?agentId=soon-private', status: 200, after: (r) => expect(r.body).toEqual([]) },
  { name: "leak 5: ... nor does one's chat list", caller: 'memberB', method: 'GET', path: () => '/api/v1/chats?limit=200', status: 200, contains: () => [f.soonChat], excludes: () => [f.soonPrivate, 'Soon private agent'] },
  { name: "leak 5: ... whose filter by it finds nothing", caller: 'memberB', method: 'GET', path: () => `/api/v1/chats?agentId=${f.soonPrivate}`, status: 200, after: (r) => expect([r.body.chats, r.body.total]).toEqual([[], 0]) },
  {
    name: "leak 5: ... nor the chat itself",
    caller: 'memberB',
    method: 'GET',
    path: () => `/api/v1/chats/${f.soonChat}`,
    status: 200,
    contains: () => ['b-asks-soon-private'],
    excludes: () => [f.soonPrivate, 'Soon private agent'],
    after: (r) => expect(r.body.chat).toMatchObject({ agentId: null, agentName: '[hidden agent]' }),
  },
  { name: "leak 5: the agent's owner sees B's run of it named", caller: 'memberA', method: 'GET', path: () => `/api/v1/executions?agentId=${f.soonPrivate}`, status: 200, contains: () => [f.soonRun, f.soonPrivate] },
  { name: '... and so does an admin', caller: 'admin', method: 'GET', path: () => `/api/v1/executions/${f.soonRun}`, status: 200, contains: () => [f.soonPrivate, 'Soon private agent'] },
  {
    name: "leak 4: the private agent's owner sees it named in the same run",
    caller: 'memberA',
    method: 'GET',
    path: () => `/api/v1/executions/${f.laterRun}`,
    status: 200,
    contains: () => [f.laterHelper],
  },
  { name: 'leak 4: ... and so does an admin', caller: 'admin', method: 'GET', path: () => `/api/v1/executions/${f.laterRun}`, status: 200, contains: () => [f.laterHelper] },

  // ── leak 3: tasks and executions inherit their space's visibility ──────────────────────────
  { name: 'leak 3: the private space itself is 404 to another member', caller: 'memberB', method: 'GET', path: () => `/api/v1/spaces/${f.privateSpace}`, status: 404 },
  {
    name: 'leak 3: tasks filtered by a private space are empty for another member',
    caller: 'memberB',
    method: 'GET',
    path: () => `/api/v1/tasks?spaceId=${f.privateSpace}`,
    status: 200,
    after: (r) => expect([r.body, r.headers.get('x-total-count')]).toEqual([[], '0']),
    excludes: () => [f.privateTask, 'Plan in the private space'],
  },
  {
    name: 'leak 3: the task list leaves out tasks of private spaces of others',
    caller: 'memberB',
    method: 'GET',
    path: () => '/api/v1/tasks',
    status: 200,
    contains: () => [f.orgTask, f.plainTask],
    excludes: () => [f.privateTask],
  },
  { name: 'leak 3: a task in a private space is 404 to another member', caller: 'memberB', method: 'GET', path: () => `/api/v1/tasks/${f.privateTask}`, status: 404, contains: () => ['not_found'] },
  { name: 'leak 3: ... and to a viewer', caller: 'viewer', method: 'GET', path: () => `/api/v1/tasks/${f.privateTask}`, status: 404 },
  { name: 'leak 3: ... and cannot be changed (404, not 403)', caller: 'memberB', method: 'PATCH', path: () => `/api/v1/tasks/${f.privateTask}`, body: () => ({ priority: 'high' }), status: 404 },
  { name: 'leak 3: ... nor deleted', caller: 'memberB', method: 'DELETE', path: () => `/api/v1/tasks/${f.privateTask}`, status: 404 },
  { name: 'leak 3: a run in a private space is 404 to another member', caller: 'memberB', method: 'GET', path: () => `/api/v1/executions/${f.privateRun}`, status: 404, excludes: () => ['private-space-message'] },
  { name: 'leak 3: ... its tree too', caller: 'memberB', method: 'GET', path: () => `/api/v1/executions/${f.privateRun}/tree`, status: 404 },
  { name: 'leak 3: ... its logs too', caller: 'memberB', method: 'GET', path: () => `/api/v1/executions/${f.privateRun}/logs`, status: 404 },
  { name: 'leak 3: ... its cancel too (404, not 403)', caller: 'memberB', method: 'POST', path: () => `/api/v1/executions/${f.privateRun}/cancel`, status: 404 },
  { name: 'leak 3: ... and to a viewer', caller: 'viewer', method: 'GET', path: () => `/api/v1/executions/${f.privateRun}`, status: 404 },
  {
    name: 'leak 3: the execution list leaves out runs in private spaces of others',
    caller: 'memberB',
    method: 'GET',
    path: () => '/api/v1/executions',
    status: 200,
    contains: () => [f.orgRun, f.plainRun],
    excludes: () => [f.privateRun, f.spaceTreeRun, f.spaceChild],
  },
  { name: 'leak 3: executions filtered by a private space are empty', caller: 'viewer', method: 'GET', path: () => `/api/v1/executions?spaceId=${f.privateSpace}`, status: 200, after: (r) => expect(r.body).toEqual([]) },
  {
    name: "leak 3: a delegated child lives in its parent's private space",
    caller: 'memberB',
    method: 'GET',
    path: () => `/api/v1/executions/${f.spaceChild}`,
    status: 404,
  },
  { name: "leak 3: the child's starter opens it, with the parent's space", caller: 'memberA', method: 'GET', path: () => `/api/v1/executions/${f.spaceChild}`, status: 200, contains: () => [`"spaceId":"${f.privateSpace}"`] },
  {
    name: 'leak 3: a task one created in a space that later became private is hidden too (the space decides)',
    caller: 'memberB',
    method: 'GET',
    path: () => `/api/v1/tasks/${f.bTaskInLaterPrivate}`,
    status: 404,
  },

  // ── cross-space: what each caller does see ─────────────────────────────────────────────────
  { name: 'cross-space: the owner reads the task in their private space', caller: 'memberA', method: 'GET', path: () => `/api/v1/tasks/${f.privateTask}`, status: 200, contains: () => ['Plan in the private space'] },
  { name: 'cross-space: an admin reads it', caller: 'admin', method: 'GET', path: () => `/api/v1/tasks/${f.privateTask}`, status: 200 },
  { name: 'cross-space: another organization does not', caller: 'outsider', method: 'GET', path: () => `/api/v1/tasks/${f.privateTask}`, status: 404 },
  { name: 'cross-space: a task in an organization space is read by another member', caller: 'memberB', method: 'GET', path: () => `/api/v1/tasks/${f.orgTask}`, status: 200 },
  { name: 'cross-space: ... and by a viewer', caller: 'viewer', method: 'GET', path: () => `/api/v1/tasks/${f.orgTask}`, status: 200 },
  { name: 'cross-space: ... but changed only by its creator or an admin', caller: 'memberB', method: 'PATCH', path: () => `/api/v1/tasks/${f.orgTask}`, body: () => ({ priority: 'low' }), status: 403 },
  {
    name: 'cross-space: an admin lists every task, private spaces included',
    caller: 'admin',
    method: 'GET',
    path: () => '/api/v1/tasks',
    status: 200,
    contains: () => [f.privateTask, f.orgTask, f.plainTask, f.bTaskInLaterPrivate],
  },
  { name: 'cross-space: the owner lists the tasks of their private space', caller: 'memberA', method: 'GET', path: () => `/api/v1/tasks?spaceId=${f.privateSpace}`, status: 200, contains: () => [f.privateTask], after: (r) => expect(r.headers.get('x-total-count')).toBe('1') },
  { name: 'cross-space: another organization lists none of them', caller: 'outsider', method: 'GET', path: () => '/api/v1/tasks', status: 200, after: (r) => expect([r.body, r.headers.get('x-total-count')]).toEqual([[], '0']) },
  { name: 'cross-space: the owner opens the run in their private space', caller: 'memberA', method: 'GET', path: () => `/api/v1/executions/${f.privateRun}`, status: 200, contains: () => ['private-space-message'] },
  { name: 'cross-space: an admin opens it', caller: 'admin', method: 'GET', path: () => `/api/v1/executions/${f.privateRun}`, status: 200 },
  { name: 'cross-space: an admin reads its logs', caller: 'admin', method: 'GET', path: () => `/api/v1/executions/${f.privateRun}/logs`, status: 200, contains: () => ['"event":"completed"'] },
  { name: 'cross-space: an admin reaches its cancel (409: already completed)', caller: 'admin', method: 'POST', path: () => `/api/v1/executions/${f.privateRun}/cancel`, status: 409, contains: () => ['invalid_state'] },
  { name: 'cross-space: another organization does not open it', caller: 'outsider', method: 'GET', path: () => `/api/v1/executions/${f.privateRun}`, status: 404 },
  {
    name: 'cross-space: an admin lists runs in every space',
    caller: 'admin',
    method: 'GET',
    path: () => '/api/v1/executions?limit=200',
    status: 200,
    contains: () => [f.privateRun, f.orgRun, f.spaceChild, f.hiddenChild],
  },
  { name: 'cross-space: a run in an organization space is opened by another member', caller: 'memberB', method: 'GET', path: () => `/api/v1/executions/${f.orgRun}`, status: 200, contains: () => ['org-space-message'] },
  { name: 'cross-space: ... with its tree', caller: 'viewer', method: 'GET', path: () => `/api/v1/executions/${f.orgRun}/tree`, status: 200 },
  { name: 'cross-space: ... and its logs', caller: 'viewer', method: 'GET', path: () => `/api/v1/executions/${f.orgRun}/logs`, status: 200 },
  { name: 'cross-space: ... but cancelled only by its starter or an admin', caller: 'memberB', method: 'POST', path: () => `/api/v1/executions/${f.orgRun}/cancel`, status: 403, contains: () => ['forbidden'] },
  { name: 'cross-space: a viewer may not cancel at all', caller: 'viewer', method: 'POST', path: () => `/api/v1/executions/${f.orgRun}/cancel`, status: 403 },
  { name: 'cross-space: its starter reaches the cancel (409: already completed)', caller: 'memberA', method: 'POST', path: () => `/api/v1/executions/${f.orgRun}/cancel`, status: 409 },
  { name: 'cross-space: runs filtered by an organization space are listed for a viewer', caller: 'viewer', method: 'GET', path: () => `/api/v1/executions?spaceId=${f.orgSpace}`, status: 200, after: (r) => expect(idsIn(r.body)).toEqual([f.orgRun]) },
]

describe('access scenarios', () => {
  for (const s of scenarios) {
    test(`${s.name} [${s.caller}]`, async () => {
      const res = await t.req(s.method, s.path(), { token: who[s.caller].token, body: s.body?.() })
      expect({ status: res.status, text: res.text.slice(0, 300) }).toMatchObject({ status: s.status })
      for (const frag of s.contains?.() ?? []) expect(res.text).toContain(frag)
      for (const frag of s.excludes?.() ?? []) expect(res.text).not.toContain(frag)
      await s.after?.(res)
    })
  }
})
