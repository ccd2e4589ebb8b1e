// What a run's `delegate` tool offers its model: of the agent's sub-agents, those the run's user
// could delegate to now. An archived sub-agent (kept in the list when archived after it was
// added), one whose agent is gone, and another member's private one were offered (the first two
// to admins too), and each call the model made to them was a turn spent on a refusal; with none
// usable the tool was offered all the same. Checked on the tools the provider double received
// (test/helpers/providers.ts: `LOOP` calls the first agent of the tool's enum).
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { eq } from 'drizzle-orm'
import { agents } from '../src/db/schema'
import { makeActor, makeTestApp, type Actor, type TestApp } from './helpers/app'
import { startProviderDouble, type ProviderDouble } from './helpers/providers'

let double: ProviderDouble
let t: TestApp
let member: Actor
let other: Actor
let admin: Actor
const f = {} as Record<string, string>

async function call(as: Actor, method: string, path: string, body?: unknown) {
  const res = await t.req(method, path, { token: as.token, body })
  if (res.status >= 300) throw new Error(`fixture ${method} ${path}: ${res.status} ${res.text}`)
  return res.body
}
const newAgent = async (as: Actor, body: object) => (await call(as, 'POST', '/api/v1/agents', { name: 'Agent', systemPrompt: 'x', ...body })).id as string

/** Runs `agentId` as `as` with a message no other run sends; the delegate tool's enum in each model request of it (null: no delegate tool). */
async function offered(as: Actor, agentId: string, tag: string): Promise<{ run: any; enums: (string[] | null)[] }> {
  const message = `LOOP ${tag}`
  const r = await t.req('POST', `/api/v1/agents/${agentId}/execute`, { token: as.token, body: { message } })
  // With a sub-agent to call, LOOP delegates on every turn until its turns are used up.
  if (r.status !== 200) expect([r.status, r.body.code]).toEqual([422, 'max_turns_reached'])
  const id = r.status === 200 ? r.body.executionId : r.body.details.executionId
  const asked = double.requests.filter((q) => JSON.stringify(q.body.messages ?? []).includes(message))
  expect(asked.length).toBeGreaterThan(0)
  const enums = asked.map((q) => {
    const tool = (q.body.tools ?? []).find((x: any) => x.function?.name === 'delegate')
    return tool ? (tool.function.parameters.properties.agentId.enum as string[]) : null
  })
  return { run: (await t.req('GET', `/api/v1/executions/${id}`, { token: as.token })).body.execution, enums }
}

beforeAll(async () => {
  double = startProviderDouble()
  t = await makeTestApp({ config: { openaiBaseUrl: double.openaiBaseUrl, defaultModel: 'test-model' } })
  member = await makeActor(t, { role: 'member' })
  other = await makeActor(t, { role: 'member' })
  admin = await makeActor(t, { role: 'admin' })
  f.archived = await newAgent(admin, { name: 'Archived since', visibility: 'organization' })
  f.gone = await newAgent(admin, { name: 'Gone since', visibility: 'organization' })
  f.othersPrivate = await newAgent(other, { name: "Other's private", visibility: 'private' })
  f.usable = await newAgent(admin, { name: 'Usable', visibility: 'organization' })
  // Listed while all of them could be used (the admin may use the other member's private agent).
  f.boss = await newAgent(admin, { name: 'Boss', visibility: 'organization', subagentIds: [f.archived, f.gone, f.othersPrivate, f.usable], maxTurns: 2 })
  f.noneLeft = await newAgent(admin, { name: 'None left', visibility: 'organization', subagentIds: [f.archived, f.gone], maxTurns: 2 })
  await call(admin, 'DELETE', `/api/v1/agents/${f.archived}`)
  // An agent whose row is no more (as after a restore of an older backup, or a direct delete).
  await t.db.delete(agents).where(eq(agents.id, f.gone)).run()
}, 60_000)
afterAll(() => double.stop())

describe('the delegate tool offers only the sub-agents the run could delegate to', () => {
  test('a member: not an archived one, not a missing one, not another member\'s private one; the model\'s first pick runs', async () => {
    const { run, enums } = await offered(member, f.boss, 'member-boss')
    for (const e of enums) expect(e).toEqual([f.usable])
    expect(run.toolCalls.length).toBeGreaterThan(0)
    for (const c of run.toolCalls) expect(c).toMatchObject({ tool: 'delegate', arguments: { agentId: f.usable } })
    for (const c of run.toolCalls) expect(c.result).toStartWith('Echo: ping')
  })

  test("an admin: another member's private one, in the agent's order, but neither the archived nor the missing one", async () => {
    const { run, enums } = await offered(admin, f.boss, 'admin-boss')
    for (const e of enums) expect(e).toEqual([f.othersPrivate, f.usable])
    for (const c of run.toolCalls) expect(c).toMatchObject({ tool: 'delegate', arguments: { agentId: f.othersPrivate } })
    for (const c of run.toolCalls) expect(c.result).toStartWith('Echo: ping')
  })

  test('none left (archived, missing): no delegate tool at all, for a member or an admin; the run answers', async () => {
    for (const [who, tag] of [[member, 'member-none'], [admin, 'admin-none']] as const) {
      const { run, enums } = await offered(who, f.noneLeft, tag)
      expect(enums).toEqual([null])
      expect(run).toMatchObject({ status: 'completed', toolCalls: [] })
      expect(run.result).toStartWith(`Echo: LOOP ${tag}`)
    }
  })
})
