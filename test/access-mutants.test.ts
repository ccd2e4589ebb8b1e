// The services' access rules where one resource names another (a task's assignee and space, a
// space's agents, an agent's search), found untested by mutation testing (npm run mutate).
import { beforeAll, describe, expect, test } from 'bun:test'
import { runnableNow } from '../src/modules/executions/access'
import { removeMember } from '../src/modules/users/service'
import { setMemberRole } from '../src/modules/members/service'
import { makeActor, makeTestApp, type Actor, type TestApp } from './helpers/app'

let t: TestApp
let owner: Actor
let other: Actor
let admin: Actor

beforeAll(async () => {
  t = await makeTestApp()
  owner = await makeActor(t, { role: 'member' })
  other = await makeActor(t, { role: 'member' })
  admin = await makeActor(t, { role: 'admin' })
}, 60_000)

const post = (as: Actor, path: string, body: unknown) => t.req('POST', path, { token: as.token, body })
const privateAgent = async () => (await post(owner, '/api/v1/agents', { name: 'Mine only', visibility: 'private' })).body.id as string
const privateSpace = async () => (await post(owner, '/api/v1/spaces', { name: 'Mine only', visibility: 'private' })).body.space.id as string

describe('tasks: assignee and space must be visible to the caller', () => {
  test('a private agent is assignable by its owner and by an admin; another member gets 422 naming assignedTo', async () => {
    const agent = await privateAgent()
    expect((await post(owner, '/api/v1/tasks', { title: 'x', assignedTo: agent })).status).toBe(201)
    expect((await post(admin, '/api/v1/tasks', { title: 'x', assignedTo: agent })).status).toBe(201)
    const denied = await post(other, '/api/v1/tasks', { title: 'x', assignedTo: agent })
    expect(denied.status).toBe(422)
    expect(denied.body.details[0].field).toBe('assignedTo')
    const shared = (await post(owner, '/api/v1/agents', { name: 'Shared', visibility: 'organization' })).body.id
    expect((await post(other, '/api/v1/tasks', { title: 'x', assignedTo: shared })).status).toBe(201)
  })

  test('a private space is usable by its creator and by an admin; another member gets 422 naming spaceId; a shared one by anyone', async () => {
    const space = await privateSpace()
    expect((await post(owner, '/api/v1/tasks', { title: 'x', spaceId: space })).status).toBe(201)
    expect((await post(admin, '/api/v1/tasks', { title: 'x', spaceId: space })).status).toBe(201)
    const denied = await post(other, '/api/v1/tasks', { title: 'x', spaceId: space })
    expect(denied.status).toBe(422)
    expect(denied.body.details[0].field).toBe('spaceId')
    const shared = (await post(owner, '/api/v1/spaces', { name: 'Shared', visibility: 'organization' })).body.space.id
    expect((await post(other, '/api/v1/tasks', { title: 'x', spaceId: shared })).status).toBe(201)
  })

  test('a change that does not mention the assignee keeps it; assigneeType alone is 422; the assignee is trimmed', async () => {
    const task = (await post(owner, '/api/v1/tasks', { title: 'x', assignedTo: `  ${other.userId}  ` })).body
    expect(task.assignedTo).toBe(other.userId)
    expect(task.assigneeType).toBe('user')
    const patched = await t.req('PATCH', `/api/v1/tasks/${task.id}`, { token: owner.token, body: { priority: 'high' } })
    expect(patched.body).toMatchObject({ assignedTo: other.userId, assigneeType: 'user', priority: 'high' })
    const typeOnly = await t.req('PATCH', `/api/v1/tasks/${task.id}`, { token: owner.token, body: { assigneeType: 'agent' } })
    expect(typeOnly.status).toBe(422)
    expect(typeOnly.body.details[0].field).toBe('assigneeType')
  })
})

describe('spaces: the agents they hold', () => {
  test('an agent the caller cannot see is refused with details naming addCharacters and the id', async () => {
    const agent = await privateAgent()
    const res = await post(other, '/api/v1/spaces', { name: 'S', addCharacters: [agent] })
    expect(res.status).toBe(422)
    expect(res.body.details).toEqual([{ field: 'addCharacters', message: `agent ${agent} not found, archived, or not visible to you` }])
    expect(res.body.message).toContain(agent)
  })

  test('a space without secrets lists none', async () => {
    const list = await t.req('GET', '/api/v1/spaces', { token: owner.token })
    expect(list.body.spaces.length).toBeGreaterThan(0)
    for (const s of list.body.spaces) expect(s.secretKeys).toEqual([])
  })
})

describe('agents', () => {
  test('delegation is decided for the run\'s starter now: refused once they have left the organization or became a viewer, and across organizations', async () => {
    const shared = (await post(owner, '/api/v1/agents', { name: 'Helper', visibility: 'organization' })).body.id as string
    const leaver = await makeActor(t, { role: 'member' })
    const demoted = await makeActor(t, { role: 'member' })
    const runOf = (a: Actor) => ({ organizationId: a.organizationId, userId: a.userId, spaceId: null })
    const agentOf = async (a: Actor) => {
      const r = await runnableNow(t.ctx.db, runOf(a), shared)
      return 'agent' in r ? r.agent.id : r.refused
    }
    expect(await agentOf(leaver)).toBe(shared)
    await removeMember(t.ctx, leaver.email, leaver.orgSlug)
    expect(await agentOf(leaver)).toBe('not_a_member')
    expect(await agentOf(demoted)).toBe(shared)
    await setMemberRole(t.ctx, demoted.organizationId, demoted.userId, 'viewer')
    expect(await agentOf(demoted)).toBe('role')
    const outsider = await makeActor(t, { role: 'admin', org: 'elsewhere-delegation' })
    expect(await agentOf(outsider)).toBe('agent')
  })

  test('search is case-insensitive in both directions', async () => {
    await post(owner, '/api/v1/agents', { name: 'Quarterly Report Writer', visibility: 'organization' })
    for (const q of ['QUARTERLY', 'quarterly', 'rEpOrT']) {
      const res = await t.req('GET', `/api/v1/agents?q=${q}`, { token: other.token })
      expect({ q, names: res.body.agents.map((a: any) => a.name) }).toEqual({ q, names: ['Quarterly Report Writer'] })
    }
  })

  test('unknown sub-agents are named in the message, at most five of them', async () => {
    const ids = Array.from({ length: 7 }, (_, i) => `char_unknown${i}`)
    const res = await post(owner, '/api/v1/agents', { name: 'Boss', subagentIds: ids })
    expect(res.status).toBe(422)
    for (const id of ids.slice(0, 5)) expect(res.body.message).toContain(id)
    expect(res.body.message).not.toContain(ids[5])
  })
})
