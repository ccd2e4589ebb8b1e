import { describe, expect, test } from 'bun:test'
import { makeActor, makeTestApp } from './helpers/app'

/**
 * References between resources by id or slug, as a client that reads, edits and writes back
 * sends them: a slug works wherever an id does, the same rule when assigning and when filtering,
 * and nothing is written into an archived space.
 */

const t = await makeTestApp()
const admin = await makeActor(t, { role: 'admin' })
const alice = await makeActor(t, { role: 'member' })
const bob = await makeActor(t, { role: 'member' })

const agent = async (as: typeof admin, body: Record<string, unknown>) => {
  const r = await t.req('POST', '/api/v1/agents', { token: as.token, body })
  expect(r.status).toBe(201)
  return r.body
}

describe('tasks: the assignee by slug', () => {
  test("a free-text assignee equal to another member's private agent's slug is found by that text (the filter took the slug for the agent)", async () => {
    await agent(bob, { name: 'Ops bot', slug: 'ops-bot-private', visibility: 'private' })
    const task = await t.req('POST', '/api/v1/tasks', { token: alice.token, body: { title: 'free text', assignedTo: 'ops-bot-private' } })
    expect([task.body.assignedTo, task.body.assigneeType]).toEqual(['ops-bot-private', null])
    const found = await t.req('GET', '/api/v1/tasks?assignedTo=ops-bot-private', { token: alice.token })
    expect(found.body.map((x: any) => x.id)).toEqual([task.body.id])
  })

  test("re-sending an archived agent's slug (or id) keeps the task's agent; assignTo as assignedTo", async () => {
    const a = await agent(alice, { name: 'Deploy bot', slug: 'deploy-bot-kept' })
    const task = await t.req('POST', '/api/v1/tasks', { token: alice.token, body: { title: 'deploy', assignTo: 'deploy-bot-kept' } })
    expect([task.body.assignedTo, task.body.assigneeType]).toEqual([a.id, 'agent'])
    expect((await t.req('DELETE', `/api/v1/agents/${a.id}`, { token: alice.token })).status).toBe(200)
    // By slug: it became free text ("deploy-bot-kept", type null) and the task left both filters.
    const bySlug = await t.req('PATCH', `/api/v1/tasks/${task.body.id}`, { token: alice.token, body: { assignedTo: 'deploy-bot-kept', status: 'in_progress' } })
    expect([bySlug.status, bySlug.body.assignedTo, bySlug.body.assigneeType]).toEqual([200, a.id, 'agent'])
    // By the alias, with its id: it was 422 "must be an active agent" where assignedTo kept it.
    const byAlias = await t.req('PATCH', `/api/v1/tasks/${task.body.id}`, { token: alice.token, body: { assignTo: a.id, status: 'completed' } })
    expect([byAlias.status, byAlias.body.assignedTo]).toEqual([200, a.id])
    expect((await t.req('GET', `/api/v1/tasks?assignedTo=${a.id}`, { token: alice.token })).body.map((x: any) => x.id)).toEqual([task.body.id])
    // A new assignment to the archived agent is still refused.
    const other = await t.req('POST', '/api/v1/tasks', { token: alice.token, body: { title: 'new', assignedTo: a.id } })
    expect(other.status).toBe(422)
  })
})

describe("tasks: an assignee hidden from the caller is not confirmed by its slug", () => {
  test("re-sending the slug of another member's private agent the task is assigned to is free text, as any slug the caller cannot see (it kept the agent: a probe of which hidden agent holds the task)", async () => {
    const hidden = await agent(bob, { name: 'Payroll bot', slug: 'payroll-bot-hidden', visibility: 'private' })
    const task = await t.req('POST', '/api/v1/tasks', { token: alice.token, body: { title: 'payroll' } })
    const assigned = await t.req('PATCH', `/api/v1/tasks/${task.body.id}`, { token: admin.token, body: { assignedTo: hidden.id } })
    expect([assigned.status, assigned.body.assignedTo]).toEqual([200, hidden.id])
    expect((await t.req('GET', `/api/v1/tasks/${task.body.id}`, { token: alice.token })).body).toMatchObject({ assignedTo: null, assigneeType: 'agent' })
    const guess = await t.req('PATCH', `/api/v1/tasks/${task.body.id}`, { token: alice.token, body: { assignedTo: 'payroll-bot-hidden' } })
    expect([guess.status, guess.body.assignedTo, guess.body.assigneeType]).toEqual([200, 'payroll-bot-hidden', null])
    // Written back as it was read (null with "agent"), it still keeps the hidden agent.
    const again = await t.req('PATCH', `/api/v1/tasks/${task.body.id}`, { token: admin.token, body: { assignedTo: hidden.id } })
    expect(again.status).toBe(200)
    const kept = await t.req('PATCH', `/api/v1/tasks/${task.body.id}`, { token: alice.token, body: { assignedTo: null, assigneeType: 'agent', priority: 'high' } })
    expect([kept.status, kept.body.assignedTo, kept.body.assigneeType]).toEqual([200, null, 'agent'])
    expect((await t.req('GET', `/api/v1/tasks/${task.body.id}`, { token: admin.token })).body.assignedTo).toBe(hidden.id)
    // An admin, who sees it, re-sends its slug and keeps it.
    const byOwner = await t.req('PATCH', `/api/v1/tasks/${task.body.id}`, { token: admin.token, body: { assignedTo: 'payroll-bot-hidden' } })
    expect([byOwner.status, byOwner.body.assignedTo, byOwner.body.assigneeType]).toEqual([200, hidden.id, 'agent'])
  })
})

describe('an archived space takes nothing in', () => {
  test('agents and secrets into an archived space: 422, nothing stored; unarchived in the same change, agents go in', async () => {
    const a = await agent(admin, { name: 'Space bot' })
    const space = (await t.req('POST', '/api/v1/spaces', { token: admin.token, body: { name: 'Old space' } })).body.space
    expect((await t.req('DELETE', `/api/v1/spaces/${space.id}`, { token: admin.token })).status).toBe(200)
    const add = await t.req('PATCH', `/api/v1/spaces/${space.id}`, { token: admin.token, body: { addCharacters: [a.id] } })
    expect([add.status, add.body.details?.[0]?.field]).toEqual([422, 'addCharacters'])
    const secret = await t.req('POST', `/api/v1/spaces/${space.id}/secrets`, { token: admin.token, body: { secrets: { API_KEY: 'v' } } })
    expect([secret.status, secret.body.details?.[0]?.field]).toEqual([422, 'secrets'])
    const now = (await t.req('GET', `/api/v1/spaces/${space.id}`, { token: admin.token })).body.space
    expect([now.agentRefs, now.secretKeys]).toEqual([[], []])
    // Its own fields stay editable, and unarchiving with the agents lets them in.
    expect((await t.req('PATCH', `/api/v1/spaces/${space.id}`, { token: admin.token, body: { description: 'kept for the record' } })).status).toBe(200)
    const back = await t.req('PATCH', `/api/v1/spaces/${space.id}`, { token: admin.token, body: { archived: false, addCharacters: [a.id] } })
    expect([back.status, back.body.space.agentRefs.map((r: any) => r.agentId)]).toEqual([200, [a.id]])
  })
})

describe('subagentIds by id or slug', () => {
  test('a slug is taken for its agent (it was "not found or archived"), stored as its id; a repeat is stored once', async () => {
    const sub = await agent(admin, { name: 'Sub one', slug: 'sub-one' })
    const parent = await agent(admin, { name: 'Parent', subagentIds: ['sub-one', sub.id, 'sub-one'] })
    expect(parent.agent.subagentIds).toEqual([sub.id])
    const other = await agent(admin, { name: 'Sub two', slug: 'sub-two' })
    const patched = await t.req('PATCH', `/api/v1/agents/${parent.id}`, { token: admin.token, body: { subagentIds: ['sub-one', 'sub-two'] } })
    expect([patched.status, patched.body.agent.subagentIds]).toEqual([200, [sub.id, other.id]])
    const self = await t.req('PATCH', `/api/v1/agents/${parent.id}`, { token: admin.token, body: { subagentIds: [parent.slug] } })
    expect([self.status, self.body.details?.[0]?.message]).toEqual([422, 'subagentIds must not contain the agent itself'])
    const unknown = await t.req('POST', '/api/v1/agents', { token: admin.token, body: { name: 'X', subagentIds: ['no-such-agent'] } })
    expect([unknown.status, unknown.body.details?.[0]?.field]).toEqual([422, 'subagentIds'])
    // Another member's private agent, by its slug: refused naming what was sent, never its id.
    const hidden = await agent(bob, { name: 'Bob private', slug: 'bob-private-sub', visibility: 'private' })
    const leak = await t.req('POST', '/api/v1/agents', { token: alice.token, body: { name: 'Y', subagentIds: ['bob-private-sub'] } })
    expect([leak.status, leak.text.includes('bob-private-sub'), leak.text.includes(hidden.agent.id)]).toEqual([422, true, false])
    // Spaces around an entry are not part of it.
    const spaced = await agent(admin, { name: 'Spaced', subagentIds: [' sub-one '] })
    expect(spaced.agent.subagentIds).toEqual([sub.id])
  })
})

describe('subagentIds: a sub-agent hidden from the caller is not confirmed by its slug', () => {
  test("the slug of another member's private agent that is already a sub-agent (an admin added it) is refused as any hidden agent's slug; by its id it is kept", async () => {
    const hidden = await agent(bob, { name: 'Bob secret helper', slug: 'bob-secret-helper', visibility: 'private' })
    const otherHidden = await agent(bob, { name: 'Bob other', slug: 'bob-other-private', visibility: 'private' })
    const boss = await agent(alice, { name: 'Alice boss', visibility: 'organization' })
    expect((await t.req('PATCH', `/api/v1/agents/${boss.id}`, { token: admin.token, body: { subagentIds: [hidden.id] } })).status).toBe(200)
    expect((await t.req('GET', `/api/v1/agents/${boss.id}`, { token: alice.token })).body.agent.subagentIds).toEqual([])
    const answers = []
    for (const slug of ['bob-secret-helper', 'bob-other-private', 'no-such-helper']) {
      const r = await t.req('PATCH', `/api/v1/agents/${boss.id}`, { token: alice.token, body: { subagentIds: [slug] } })
      answers.push([r.status, r.body.details?.[0]?.field])
    }
    expect(answers).toEqual([[422, 'subagentIds'], [422, 'subagentIds'], [422, 'subagentIds']])
    // By its id (a client writing back an earlier read) it is kept, and what the caller cannot see stays.
    const byId = await t.req('PATCH', `/api/v1/agents/${boss.id}`, { token: alice.token, body: { subagentIds: [hidden.id] } })
    expect([byId.status, byId.body.agent.subagentIds]).toEqual([200, []])
    expect((await t.req('GET', `/api/v1/agents/${boss.id}`, { token: admin.token })).body.agent.subagentIds).toEqual([hidden.id])
    expect(otherHidden.id).toStartWith('char_')
  })
})

describe('a change that changes nothing writes nothing', () => {
  test('PATCH {} or the values already there leaves updatedAt alone (agents, spaces, tasks); a real change moves it', async () => {
    const a = await agent(admin, { name: 'Steady', tags: ['x'] })
    const space = (await t.req('POST', '/api/v1/spaces', { token: admin.token, body: { name: 'Steady space' } })).body.space
    const task = (await t.req('POST', '/api/v1/tasks', { token: admin.token, body: { title: 'Steady task', metadata: { k: 1 } } })).body
    t.clock.advance(60_000)
    for (const [path, body, read] of [
      [`/api/v1/agents/${a.agent.id}`, { name: 'Steady', tags: ['x'], archived: false }, (r: any) => r.agent],
      [`/api/v1/spaces/${space.id}`, { name: 'Steady space', visibility: space.visibility }, (r: any) => r.space],
      [`/api/v1/tasks/${task.id}`, { title: 'Steady task', metadata: { k: 1 }, status: 'pending' }, (r: any) => r],
    ] as const) {
      for (const sent of [{}, body]) {
        const r = await t.req('PATCH', path, { token: admin.token, body: sent })
        expect([path, r.status, read(r.body).updatedAt]).toEqual([path, 200, read(r.body).createdAt])
      }
      const real = await t.req('PATCH', path, { token: admin.token, body: { description: 'now different' } })
      expect([path, read(real.body).updatedAt]).toEqual([path, new Date(t.clock.now()).toISOString()])
    }
  })
})
