// A run recorded under a private run is private too, whatever its own agent: member 1's private
// agent delegating to an organization-visible one wrote member 1's confidential message into a
// child execution every member could read (get, the lists by agent and by parent), while the
// private run itself was 404 to them. Every way a child is recorded under a parent: a `delegate`
// call (and that child's own children), an execute through the run's `teamday_api` tool, an API
// client's `parentExecutionId`; and a run of an agent made private while it waited for its slot.
// All through HTTP, with the provider double (test/helpers/providers.ts: `DELEGATE <id> <message>`
// and `TEAMDAY_API <METHOD> <path> <body>` make the model call those tools).
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { makeActor, makeTestApp, makeToken, type Actor, type TestApp } from './helpers/app'
import { parseSse, startProviderDouble, type ProviderDouble } from './helpers/providers'
import { until } from './helpers/scripted-provider'

let double: ProviderDouble
let t: TestApp
let m1: Actor
let m2: Actor
let admin: Actor
/** Organization-visible agents (the admin's): `org` delegates to `org2`. */
let org: string
let org2: string
/** Member 1's private agent, whose sub-agent is `org`. */
let privBoss: string
/** Member 1's organization space, whose TEAMDAY_TOKEN is member 1's. */
let space: string

async function call(as: Actor, method: string, path: string, body?: unknown) {
  const res = await t.req(method, path, { token: as.token, body })
  if (res.status >= 300) throw new Error(`fixture ${method} ${path}: ${res.status} ${res.text}`)
  return res.body
}
const newAgent = async (as: Actor, body: object) => (await call(as, 'POST', '/api/v1/agents', { name: 'Agent', systemPrompt: 'x', ...body })).id as string
const get = (as: Actor, path: string) => t.req('GET', path, { token: as.token })
/** The executions recorded under `id`, as the database holds them (whoever may read them). */
async function childIds(id: string): Promise<string[]> {
  const tree = (await get(admin, `/api/v1/executions/${id}/tree`)).body.tree
  return (tree.children as any[]).map((c) => c.id as string)
}

/** What member 2 may read of `child` (recorded under member 1's private run `root`): nothing. */
async function hiddenFromOthers(root: string, child: string, agentId: string, secret: string) {
  expect((await get(m2, `/api/v1/executions/${root}`)).status).toBe(404)
  const one = await get(m2, `/api/v1/executions/${child}`)
  expect(one.status).toBe(404)
  expect(one.text).not.toContain(secret)
  for (const path of [`/api/v1/executions/${child}/tree`, `/api/v1/executions/${child}/logs`]) expect((await get(m2, path)).status).toBe(404)
  for (const path of [`/api/v1/executions?agentId=${agentId}&limit=200`, `/api/v1/executions?parentExecutionId=${root}`, '/api/v1/executions?limit=200']) {
    const list = await get(m2, path)
    expect(list.status).toBe(200)
    expect(list.text).not.toContain(child)
    expect(list.text).not.toContain(secret)
  }
  // Its starter and an admin read it, in the list by parent too.
  for (const who of [m1, admin]) {
    const r = await get(who, `/api/v1/executions/${child}`)
    expect(r.status).toBe(200)
    expect(r.body.execution).toMatchObject({ parentExecutionId: root, agentId })
    expect(r.text).toContain(secret)
    expect((await get(who, `/api/v1/executions?parentExecutionId=${root}`)).body.map((x: any) => x.id)).toContain(child)
  }
}

beforeAll(async () => {
  double = startProviderDouble()
  t = await makeTestApp({ config: { openaiBaseUrl: double.openaiBaseUrl, defaultModel: 'test-model', maxConcurrentExecutions: 1 } })
  m1 = await makeActor(t, { role: 'member' })
  m2 = await makeActor(t, { role: 'member' })
  admin = await makeActor(t, { role: 'admin' })
  org2 = await newAgent(admin, { name: 'Org 2', visibility: 'organization' })
  org = await newAgent(admin, { name: 'Org', visibility: 'organization', subagentIds: [org2] })
  privBoss = await newAgent(m1, { name: 'PrivBoss', visibility: 'private', subagentIds: [org], maxTurns: 4 })
  space = (await call(m1, 'POST', '/api/v1/spaces', { name: 'Work', visibility: 'organization' })).space.id
  const token = await makeToken(t, m1, { name: 'for agents' })
  await call(m1, 'POST', `/api/v1/spaces/${space}/secrets`, { secrets: { TEAMDAY_TOKEN: token.token } })
}, 60_000)
afterAll(() => double.stop())

describe('a run recorded under a private run is private to its starter and the admins', () => {
  test("a shared sub-agent's child of a `delegate` call, and that child's own child, are 404 to another member and out of their lists", async () => {
    const r = await call(m1, 'POST', `/api/v1/agents/${privBoss}/execute`, { message: `DELEGATE ${org} DELEGATE ${org2} confidential-deal-terms` })
    expect(r.status).toBe('completed')
    expect(r.result).toBe('Delegated: Delegated: Echo: confidential-deal-terms (user turns: 1)')
    const [child] = await childIds(r.executionId)
    const [grandchild] = await childIds(child!)
    expect([child, grandchild].every((id) => typeof id === 'string')).toBe(true)
    await hiddenFromOthers(r.executionId, child!, org, 'confidential-deal-terms')
    await hiddenFromOthers(child!, grandchild!, org2, 'confidential-deal-terms')
    // Member 1's tree holds both.
    const tree = (await get(m1, `/api/v1/executions/${r.executionId}/tree`)).body.tree
    expect(tree.children.map((c: any) => [c.id, c.children.map((g: any) => g.id)])).toEqual([[child, [grandchild]]])
  })

  test("a run's execute through `teamday_api` under it", async () => {
    const body = { message: 'confidential-api-plan' }
    const r = await call(m1, 'POST', `/api/v1/agents/${privBoss}/execute`, { message: `TEAMDAY_API POST /api/v1/agents/${org}/execute ${JSON.stringify(body)}`, spaceId: space })
    expect(r.status).toBe('completed')
    expect(r.result).toContain('Echo: confidential-api-plan')
    const [child] = await childIds(r.executionId)
    expect(child).toStartWith('exec_')
    await hiddenFromOthers(r.executionId, child!, org, 'confidential-api-plan')
  })

  test("a run an API client attaches with `parentExecutionId` (queued, then started: its start keeps it private)", async () => {
    const root = await call(m1, 'POST', `/api/v1/agents/${privBoss}/execute`, { message: 'private root' })
    const r = await call(m1, 'POST', `/api/v1/agents/${org}/execute`, { message: 'confidential-follow-up', parentExecutionId: root.executionId })
    expect(r.status).toBe('completed')
    await hiddenFromOthers(root.executionId, r.executionId, org, 'confidential-follow-up')
  })

  test('the children of a run whose agent was made private while it waited for its slot', async () => {
    const boss = await newAgent(m1, { name: 'Boss made private', visibility: 'organization', subagentIds: [org], maxTurns: 4 })
    // The one slot is taken until cancelled; the run waits behind it.
    const hang = await t.req('POST', `/api/v1/agents/${org}/execute`, { token: m1.token, body: { message: 'HANG', async: true } })
    expect(hang.status).toBe(202)
    await until(async () => (await get(m1, `/api/v1/executions/${hang.body.executionId}`)).body.execution.status === 'running')
    const queued = await t.req('POST', `/api/v1/agents/${boss}/execute`, { token: m1.token, body: { message: `DELEGATE ${org} confidential-after-wait`, async: true } })
    expect(queued.status).toBe(202)
    const root = queued.body.executionId as string
    await call(m1, 'PATCH', `/api/v1/agents/${boss}`, { visibility: 'private' })
    await call(m1, 'POST', `/api/v1/executions/${hang.body.executionId}/cancel`)
    await until(async () => (await get(m1, `/api/v1/executions/${root}`)).body.execution.status === 'completed')
    const [child] = await childIds(root)
    expect(child).toStartWith('exec_')
    await hiddenFromOthers(root, child!, org, 'confidential-after-wait')
  })

  test("under a shared run, the shared sub-agent's child is every member's to read, as before", async () => {
    const shared = await newAgent(m1, { name: 'Shared boss', visibility: 'organization', subagentIds: [org], maxTurns: 4 })
    const r = await call(m1, 'POST', `/api/v1/agents/${shared}/execute`, { message: `DELEGATE ${org} team-notes` })
    const [child] = await childIds(r.executionId)
    const one = await get(m2, `/api/v1/executions/${child}`)
    expect(one.status).toBe(200)
    expect(one.text).toContain('team-notes')
    expect((await get(m2, `/api/v1/executions?parentExecutionId=${r.executionId}`)).body.map((x: any) => x.id)).toEqual([child])
  })
})

describe('a run recorded under a run in a private space is private to its starter and the admins', () => {
  test("a run an API client attaches with `parentExecutionId`, in no space", async () => {
    const secretSpace = (await call(m1, 'POST', '/api/v1/spaces', { name: 'Secret room', visibility: 'private' })).space.id
    const root = await call(m1, 'POST', `/api/v1/agents/${org}/execute`, { message: 'root in the private space', spaceId: secretSpace })
    const r = await call(m1, 'POST', `/api/v1/agents/${org}/execute`, { message: 'confidential-space-follow-up', parentExecutionId: root.executionId })
    expect(r.status).toBe('completed')
    await hiddenFromOthers(root.executionId, r.executionId, org, 'confidential-space-follow-up')
  })

  test("a run's execute through `teamday_api` into a shared space", async () => {
    const secretSpace = (await call(m1, 'POST', '/api/v1/spaces', { name: 'Secret lab', visibility: 'private' })).space.id
    const token = await makeToken(t, m1, { name: 'for the private space' })
    await call(m1, 'POST', `/api/v1/spaces/${secretSpace}/secrets`, { secrets: { TEAMDAY_TOKEN: token.token } })
    const body = { message: 'confidential-space-api-plan', spaceId: space }
    const r = await call(m1, 'POST', `/api/v1/agents/${org}/execute`, { message: `TEAMDAY_API POST /api/v1/agents/${org}/execute ${JSON.stringify(body)}`, spaceId: secretSpace })
    expect(r.status).toBe('completed')
    expect(r.result).toContain('Echo: confidential-space-api-plan')
    const [child] = await childIds(r.executionId)
    expect(child).toStartWith('exec_')
    await hiddenFromOthers(r.executionId, child!, org, 'confidential-space-api-plan')
  })

  test('under a run in an organization space, a child attached in no space is every member\'s to read, as before', async () => {
    const root = await call(m1, 'POST', `/api/v1/agents/${org}/execute`, { message: 'root in the shared space', spaceId: space })
    const r = await call(m1, 'POST', `/api/v1/agents/${org}/execute`, { message: 'team-follow-up', parentExecutionId: root.executionId })
    const one = await get(m2, `/api/v1/executions/${r.executionId}`)
    expect(one.status).toBe(200)
    expect(one.text).toContain('team-follow-up')
  })
})

describe("an execute through `teamday_api` of an agent the reader may not see does not name it", () => {
  test("a shared run's call of its user's private agent: its tool call's path and its api_call log say [hidden agent] to another member, as a `delegate` call does; its user and admins see the agent", async () => {
    const hidden = await newAgent(m1, { name: 'Hidden helper', visibility: 'private' })
    const root = await newAgent(m1, { name: 'Shared root', visibility: 'organization' })
    const r = await call(m1, 'POST', `/api/v1/agents/${root}/execute`, { message: `TEAMDAY_API POST /api/v1/agents/${hidden}/execute ${JSON.stringify({ message: 'api-probe' })}`, spaceId: space })
    expect(r.status).toBe('completed')
    const one = await get(m2, `/api/v1/executions/${r.executionId}`)
    expect(one.status).toBe(200)
    const calls = one.body.execution.toolCalls
    expect(calls.map((c: any) => [c.tool, c.arguments.path])).toEqual([['teamday_api', '/api/v1/agents/[hidden agent]/execute']])
    expect(JSON.stringify(calls)).not.toContain(hidden)
    // Its tree and the list show its tool calls alike (its message and answer are the run's own text).
    const tree = await get(m2, `/api/v1/executions/${r.executionId}/tree`)
    expect(tree.body.tree.toolCalls).toEqual(calls)
    const listed = (await get(m2, `/api/v1/executions?agentId=${root}&limit=200`)).body.find((x: any) => x.id === r.executionId)
    expect(listed.toolCalls).toEqual(calls)
    const logs = await get(m2, `/api/v1/executions/${r.executionId}/logs`)
    const apiCalls = logs.body.logs.filter((l: any) => l.event === 'api_call')
    expect(apiCalls.map((l: any) => [l.data.path, l.data.agentHidden])).toEqual([['/api/v1/agents/[hidden agent]/execute', true]])
    expect(JSON.stringify(logs.body.logs)).not.toContain(hidden)
    for (const who of [m1, admin]) {
      const own = await get(who, `/api/v1/executions/${r.executionId}`)
      expect(own.body.execution.toolCalls[0].arguments.path).toBe(`/api/v1/agents/${hidden}/execute`)
      expect((await get(who, `/api/v1/executions/${r.executionId}/logs`)).text).toContain(`/api/v1/agents/${hidden}/execute`)
    }
  })
})

describe("a run's stream names no agent its reader may not see, as GET /executions/{id} does", () => {
  test("an execute through `teamday_api` of another member's private agent (or with a trailing slash): [hidden agent] in the stream's tool_use input and in its result's toolCalls", async () => {
    const hidden = await newAgent(m1, { name: 'Not for m2', visibility: 'private' })
    const own = (await call(m2, 'POST', '/api/v1/spaces', { name: 'M2 work', visibility: 'organization' })).space.id
    const token = await makeToken(t, m2, { name: 'm2 for agents' })
    await call(m2, 'POST', `/api/v1/spaces/${own}/secrets`, { secrets: { TEAMDAY_TOKEN: token.token } })
    for (const path of [`/api/v1/agents/${hidden}/execute`, `/api/v1/agents/${hidden}/execute/`]) {
      const r = await t.req('POST', `/api/v1/agents/${org}/execute`, { token: m2.token, body: { message: `TEAMDAY_API POST ${path} ${JSON.stringify({ message: 'probe' })}`, spaceId: own, stream: true } })
      expect(r.status).toBe(200)
      const events = parseSse(r.text)
      const result = events.find((e) => e.event === 'result')!.data
      expect(result.execution.toolCalls.map((c: any) => [c.tool, c.arguments.path])).toEqual([['teamday_api', '/api/v1/agents/[hidden agent]/execute']])
      // Every event but the model's own text (the message named the id) and the result (above):
      // the tool_use block's input arrives as partial_json deltas, which name no tool.
      const others = events.filter((e) => e.event !== 'result' && !(e.data?.type === 'content_block_delta' && e.data.delta?.type === 'text_delta'))
      for (const e of others) expect(JSON.stringify(e.data)).not.toContain(`agents/${hidden}/execute`)
      const input = others.filter((e) => e.data?.delta?.type === 'input_json_delta').map((e) => e.data.delta.partial_json).join('')
      expect(input).toContain('/api/v1/agents/[hidden agent]/execute')
      // GET says the same.
      const got = await get(m2, `/api/v1/executions/${result.executionId ?? result.execution.id}`)
      expect(got.body.execution.toolCalls[0].arguments.path).toBe('/api/v1/agents/[hidden agent]/execute')
    }
  })
})
