import { beforeAll, describe, expect, test } from 'bun:test'
import { spaces } from '../src/db/schema'
import { newId } from '../src/ids'
import { Value } from '@sinclair/typebox/value'
import { TaskDeleted, TaskList, TaskResponse } from '../src/modules/tasks/model'
import { makeActor, makeTestApp, type Actor, type TestApp } from './helpers/app'

/** The body matches the route's declared response schema. */
const conforms = (schema: Parameters<typeof Value.Check>[0], body: unknown) => expect([...Value.Errors(schema, body)].map((e) => `${e.path}: ${e.message}`)).toEqual([])

const TASK_KEYS = [
  'success', 'id', 'title', 'description', 'status', 'priority', 'assignedTo', 'assigneeType', 'spaceId', 'organizationId', 'createdBy', 'dueDate',
  'completedAt', 'metadata', 'createdAt', 'updatedAt',
].sort()
const STATUS_MESSAGE = 'Invalid status. Must be: pending, in_progress, completed, cancelled'

let t: TestApp
let admin: Actor
let memberA: Actor
let memberB: Actor
let viewer: Actor
let otherOrg: Actor

beforeAll(async () => {
  t = await makeTestApp()
  admin = await makeActor(t, { role: 'admin' })
  memberA = await makeActor(t, { role: 'member' })
  memberB = await makeActor(t, { role: 'member' })
  viewer = await makeActor(t, { role: 'viewer' })
  otherOrg = await makeActor(t, { role: 'admin', org: 'globex' })
}, 60_000)

/** A space row straight into the database (the spaces API is another module). */
async function makeSpace(x: TestApp, owner: Actor, o: { visibility?: 'private' | 'organization'; archived?: boolean } = {}): Promise<string> {
  const id = newId('space')
  const now = new Date(x.clock.now())
  await x.db
    .insert(spaces)
    .values({ id, organizationId: owner.organizationId, createdBy: owner.userId, name: 'S', slug: id.toLowerCase().replace('_', '-'), visibility: o.visibility ?? 'organization', archived: o.archived ?? false, createdAt: now, updatedAt: now })
    .run()
  return id
}

const create = async (who: Actor, body: Record<string, unknown>, x: TestApp = t) => {
  const res = await x.req('POST', '/api/v1/tasks', { token: who.token, body })
  expect(res.status).toBe(201)
  return res.body
}
const ids = (list: { id: string }[]) => list.map((a) => a.id)

describe('tasks: the CLI flow', () => {
  test('create → list → get → patch → delete', async () => {
    const space = await makeSpace(t, memberA)
    const c = await t.req('POST', '/api/v1/tasks', {
      token: memberA.token,
      body: { title: 'Review the Q3 report', description: 'numbers', priority: 'high', spaceId: space, dueDate: '2026-12-31T17:00:00Z', metadata: { source: 'cli', n: [1, { a: 2 }] } },
    })
    expect(c.status).toBe(201)
    expect(Object.keys(c.body).sort()).toEqual(TASK_KEYS)
    conforms(TaskResponse, c.body)
    expect(c.body).toMatchObject({
      success: true,
      title: 'Review the Q3 report',
      status: 'pending',
      priority: 'high',
      spaceId: space,
      dueDate: '2026-12-31T17:00:00.000Z',
      completedAt: null,
      assignedTo: null,
      assigneeType: null,
      metadata: { source: 'cli', n: [1, { a: 2 }] },
      organizationId: memberA.organizationId,
      createdBy: memberA.userId,
    })
    expect(c.body.id).toMatch(/^task_[A-Za-z0-9]{20}$/)
    const id = c.body.id

    const list = await t.req('GET', '/api/v1/tasks', { token: memberA.token })
    expect(list.status).toBe(200)
    // A bare array, as TeamDay's CLI reads it (`taskList.length`); the count in X-Total-Count.
    expect(Array.isArray(list.body)).toBe(true)
    conforms(TaskList, list.body)
    expect(ids(list.body)).toContain(id)
    expect(list.headers.get('x-total-count')).toBe(String(list.body.length))
    expect(list.headers.get('x-total-count-estimate')).toBe('false')
    expect(list.headers.get('link')).toBeNull()
    expect(list.body.find((x: any) => x.id === id)).not.toHaveProperty('success')

    const one = await t.req('GET', `/api/v1/tasks/${id}`, { token: memberA.token })
    expect(one.status).toBe(200)
    expect(one.body).toEqual(c.body)

    t.clock.advance(60_000)
    const done = await t.req('PATCH', `/api/v1/tasks/${id}`, { token: memberA.token, body: { status: 'completed', title: 'Reviewed' } })
    expect(done.status).toBe(200)
    conforms(TaskResponse, done.body)
    expect(done.body).toMatchObject({ success: true, id, status: 'completed', title: 'Reviewed', completedAt: new Date(t.clock.now()).toISOString() })
    t.clock.advance(1000)
    const still = await t.req('PATCH', `/api/v1/tasks/${id}`, { token: memberA.token, body: { status: 'completed' } })
    expect(still.body.completedAt).toBe(done.body.completedAt) // kept, not restamped
    const reopened = await t.req('PATCH', `/api/v1/tasks/${id}`, { token: memberA.token, body: { status: 'in_progress' } })
    expect(reopened.body).toMatchObject({ status: 'in_progress', completedAt: null })

    const del = await t.req('DELETE', `/api/v1/tasks/${id}`, { token: memberA.token })
    expect(del.status).toBe(200)
    expect(del.body).toEqual({ success: true })
    conforms(TaskDeleted, del.body)
    expect((await t.req('GET', `/api/v1/tasks/${id}`, { token: memberA.token })).status).toBe(404)
    expect((await t.req('DELETE', `/api/v1/tasks/${id}`, { token: memberA.token })).status).toBe(404)
  })

  test('assignTo alias; agent / user assignees inferred and checked; null unassigns', async () => {
    const agent = (await t.req('POST', '/api/v1/agents', { token: memberA.token, body: { name: 'Worker', visibility: 'organization' } })).body.agent
    const a = await create(memberA, { title: 'By agent', assignTo: agent.id })
    expect(a).toMatchObject({ assignedTo: agent.id, assigneeType: 'agent' })
    const both = await create(memberA, { title: 'Both', assignTo: 'someone', assignedTo: memberB.userId })
    expect(both).toMatchObject({ assignedTo: memberB.userId, assigneeType: 'user' })
    const free = await create(memberA, { title: 'Free', assignedTo: 'the night shift' })
    expect(free).toMatchObject({ assignedTo: 'the night shift', assigneeType: null })
    const un = await t.req('PATCH', `/api/v1/tasks/${a.id}`, { token: memberA.token, body: { assignedTo: null } })
    expect(un.body).toMatchObject({ assignedTo: null, assigneeType: null })

    const foreignAgent = (await t.req('POST', '/api/v1/agents', { token: otherOrg.token, body: { name: 'F', visibility: 'organization' } })).body.agent
    for (const [body, msg] of [
      [{ title: 'x', assignedTo: foreignAgent.id }, /assignedTo must be an active agent of your organization/],
      [{ title: 'x', assignedTo: otherOrg.userId }, /assignedTo must be a user of your organization/],
      [{ title: 'x', assignedTo: 'bob', assigneeType: 'user' }, /assignedTo must be a user/],
    ] as const) {
      const res = await t.req('POST', '/api/v1/tasks', { token: memberA.token, body })
      expect(res.status).toBe(422)
      expect(res.body.message).toMatch(msg)
      expect(res.body.details[0].field).toBe('assignedTo')
    }
  })

  test('a blank assignedTo (or assignTo) is 422 naming it, not a silent unassign; null unassigns', async () => {
    // `"assignedTo": "$WHO"` with WHO unset was stored as null: the task lost its assignee without a word.
    const tk = await create(memberA, { title: 'Keep my assignee', assignedTo: memberB.userId })
    for (const [field, value] of [['assignedTo', ''], ['assignedTo', '   '], ['assignTo', ''], ['assignTo', '\t\n']] as const) {
      for (const [method, path, body] of [['POST', '/api/v1/tasks', { title: 'x', [field]: value }], ['PATCH', `/api/v1/tasks/${tk.id}`, { [field]: value }]] as const) {
        const res = await t.req(method, path, { token: memberA.token, body })
        expect([method, field, value, res.status, res.body.code, res.body.details?.[0]?.field]).toEqual([method, field, value, 422, 'validation_failed', field])
        expect(res.body.message).toContain(`${field} is blank: send null to unassign the task`)
      }
    }
    expect((await t.req('GET', `/api/v1/tasks/${tk.id}`, { token: memberA.token })).body).toMatchObject({ assignedTo: memberB.userId, assigneeType: 'user' })
    expect((await t.req('GET', '/api/v1/tasks?limit=200', { token: memberA.token })).body.map((x: { title: string }) => x.title)).not.toContain('x')
    const un = await t.req('PATCH', `/api/v1/tasks/${tk.id}`, { token: memberA.token, body: { assignedTo: null } })
    expect(un.body).toMatchObject({ assignedTo: null, assigneeType: null })
    // A blank spaceId was "not found: " (the blank echoed): said as blank, null being the way to detach.
    for (const spaceId of ['', '  ']) {
      const res = await t.req('PATCH', `/api/v1/tasks/${tk.id}`, { token: memberA.token, body: { spaceId } })
      expect([res.status, res.body.details]).toEqual([422, [{ field: 'spaceId', message: "spaceId is blank: send null to leave the task outside any space, or a space's id or slug" }]])
    }
  })

  test('mass assignment: id, status, organizationId, createdBy, completedAt are ignored on create', async () => {
    const res = await create(memberA, {
      title: 'Sneaky', id: 'task_mine', status: 'completed', organizationId: otherOrg.organizationId, createdBy: admin.userId, completedAt: '2020-01-01T00:00:00Z',
    })
    expect(res).toMatchObject({ status: 'pending', organizationId: memberA.organizationId, createdBy: memberA.userId, completedAt: null })
    expect(res.id).not.toBe('task_mine')
    const p = await t.req('PATCH', `/api/v1/tasks/${res.id}`, { token: memberA.token, body: { createdBy: memberB.userId, organizationId: otherOrg.organizationId } })
    expect(p.body).toMatchObject({ createdBy: memberA.userId, organizationId: memberA.organizationId })
  })
})

describe('tasks: validation', () => {
  const expect422 = async (method: string, path: string, body: unknown, field: string, message: string | RegExp) => {
    const res = await t.req(method, path, { token: memberA.token, body })
    expect(res.status).toBe(422)
    expect(res.body.code).toBe('validation_failed')
    expect(res.body.message).toStartWith('Validation failed: ')
    expect(res.body.message).toMatch(message)
    expect(res.body.details.map((d: any) => d.field)).toContain(field)
  }

  test('status, title, priority, dueDate, metadata, spaceId', async () => {
    const task = await create(memberA, { title: 'V' })
    const path = `/api/v1/tasks/${task.id}`
    await expect422('PATCH', path, { status: 'done' }, 'status', STATUS_MESSAGE)
    await expect422('PATCH', path, { status: 'PENDING' }, 'status', STATUS_MESSAGE)
    await expect422('POST', '/api/v1/tasks', {}, 'title', 'title must be a string of 1-500 characters (it is required)')
    // Too long was said as "title is required".
    await expect422('POST', '/api/v1/tasks', { title: 't'.repeat(501) }, 'title', 'title must be a string of 1-500 characters (it is required)')
    await expect422('POST', '/api/v1/tasks', { title: '  ' }, 'title', /title is required/)
    await expect422('POST', '/api/v1/tasks', { title: 'x', priority: 'asap' }, 'priority', /priority must be one of/)
    await expect422('POST', '/api/v1/tasks', { title: 'x', dueDate: 'tomorrow' }, 'dueDate', /dueDate must be an ISO-8601 date-time/)
    await expect422('POST', '/api/v1/tasks', { title: 'x', metadata: [1, 2] }, 'metadata', /metadata must be an object \(got an array\)/)
    await expect422('POST', '/api/v1/tasks', { title: 'x', metadata: 'text' }, 'metadata', /metadata must be an object \(got a string\)/)
    await expect422('POST', '/api/v1/tasks', { title: 'x', spaceId: 'space_nope' }, 'spaceId', /spaceId must be an active space of your organization/)
    await expect422('POST', '/api/v1/tasks', { title: 'x', spaceId: await makeSpace(t, otherOrg) }, 'spaceId', /spaceId/)
    await expect422('POST', '/api/v1/tasks', { title: 'x', spaceId: await makeSpace(t, memberA, { archived: true }) }, 'spaceId', /spaceId/)
    await expect422('POST', '/api/v1/tasks', { title: 'x', spaceId: await makeSpace(t, memberB, { visibility: 'private' }) }, 'spaceId', /spaceId/)
    const res = await t.req('GET', '/api/v1/tasks?status=done', { token: memberA.token })
    expect(res.status).toBe(422)
    expect(res.body.message).toContain(STATUS_MESSAGE)
    for (const q of ['limit=0', 'limit=201', 'offset=-1', 'priority=asap']) {
      expect((await t.req('GET', `/api/v1/tasks?${q}`, { token: memberA.token })).status).toBe(422)
    }
  })

  test('every valid status is accepted; spaceId and dueDate clear with null', async () => {
    const task = await create(memberA, { title: 'S', spaceId: await makeSpace(t, memberA), dueDate: '2026-07-01T00:00:00.000Z' })
    for (const status of ['in_progress', 'cancelled', 'pending', 'completed']) {
      const res = await t.req('PATCH', `/api/v1/tasks/${task.id}`, { token: memberA.token, body: { status } })
      expect(res.status).toBe(200)
      expect(res.body.status).toBe(status)
    }
    const cleared = await t.req('PATCH', `/api/v1/tasks/${task.id}`, { token: memberA.token, body: { spaceId: null, dueDate: null, metadata: {} } })
    expect(cleared.body).toMatchObject({ spaceId: null, dueDate: null, metadata: {} })
  })
})

describe('tasks: roles and organizations', () => {
  let mine: any
  beforeAll(async () => {
    mine = await create(memberA, { title: "A's task" })
  }, 60_000)

  test('tasks are organization-wide for reading', async () => {
    for (const who of [memberB, viewer, admin]) {
      expect((await t.req('GET', `/api/v1/tasks/${mine.id}`, { token: who.token })).status).toBe(200)
      expect(ids((await t.req('GET', '/api/v1/tasks?limit=200', { token: who.token })).body)).toContain(mine.id)
    }
  })

  test('a member edits only tasks they created or are assigned; admins any', async () => {
    const p = await t.req('PATCH', `/api/v1/tasks/${mine.id}`, { token: memberB.token, body: { status: 'completed' } })
    expect(p.status).toBe(403)
    expect(p.body.code).toBe('forbidden')
    expect(p.body.message).toStartWith('Forbidden: ')
    expect((await t.req('DELETE', `/api/v1/tasks/${mine.id}`, { token: memberB.token })).status).toBe(403)

    const assigned = await create(memberA, { title: 'For B', assignedTo: memberB.userId })
    const ok = await t.req('PATCH', `/api/v1/tasks/${assigned.id}`, { token: memberB.token, body: { status: 'in_progress' } })
    expect(ok.status).toBe(200)

    const byAdmin = await t.req('PATCH', `/api/v1/tasks/${mine.id}`, { token: admin.token, body: { priority: 'urgent' } })
    expect(byAdmin.status).toBe(200)
    expect(byAdmin.body).toMatchObject({ priority: 'urgent', createdBy: memberA.userId })
    const other = await create(memberB, { title: 'B own' })
    expect((await t.req('DELETE', `/api/v1/tasks/${other.id}`, { token: admin.token })).status).toBe(200)
  })

  test('viewer reads only', async () => {
    for (const [method, path] of [['POST', '/api/v1/tasks'], ['PATCH', `/api/v1/tasks/${mine.id}`], ['DELETE', `/api/v1/tasks/${mine.id}`]] as const) {
      const res = await t.req(method, path, { token: viewer.token, body: method === 'DELETE' ? undefined : { title: 'v' } })
      expect(res.status).toBe(403)
      expect(res.body.code).toBe('forbidden')
    }
  })

  test("another organization's task is 404 everywhere and never listed; unknown ids are 404", async () => {
    for (const [method, body] of [['GET', undefined], ['PATCH', { title: 'x' }], ['DELETE', undefined]] as const) {
      const res = await t.req(method, `/api/v1/tasks/${mine.id}`, { token: otherOrg.token, body })
      expect(res.status).toBe(404)
      expect(res.body.code).toBe('not_found')
    }
    const list = await t.req('GET', '/api/v1/tasks?limit=200', { token: otherOrg.token })
    expect(list.body.every((x: any) => x.organizationId === otherOrg.organizationId)).toBe(true)
    expect(list.text).not.toContain(mine.id)
    expect((await t.req('GET', '/api/v1/tasks/task_unknown', { token: admin.token })).status).toBe(404)
    expect((await t.req('GET', '/api/v1/tasks', {})).status).toBe(401)
  })
})

describe('tasks: filters and pagination', () => {
  test('status, priority, assignedTo, spaceId filters; limit/offset newest first', async () => {
    const x = await makeTestApp()
    const m = await makeActor(x, { role: 'member' })
    const space = await makeSpace(x, m)
    const made: string[] = []
    const specs = [{ priority: 'low' }, { priority: 'high', spaceId: space }, { assignedTo: m.userId }, { priority: 'high' }, {}]
    for (const [i, s] of specs.entries()) {
      x.clock.advance(1000)
      made.push((await create(m, { title: `T${i}`, ...s }, x)).id)
    }
    await x.req('PATCH', `/api/v1/tasks/${made[4]}`, { token: m.token, body: { status: 'completed' } })
    const get = async (q: string) => {
      const r = await x.req('GET', `/api/v1/tasks?${q}`, { token: m.token })
      return { tasks: r.body, total: Number(r.headers.get('x-total-count')), link: r.headers.get('link') }
    }
    expect(ids((await get('priority=high')).tasks)).toEqual([made[3], made[1]])
    expect(ids((await get(`spaceId=${space}`)).tasks)).toEqual([made[1]])
    expect(ids((await get(`assignedTo=${m.userId}`)).tasks)).toEqual([made[2]])
    expect(ids((await get('status=completed')).tasks)).toEqual([made[4]])
    expect((await get('status=pending')).total).toBe(4)
    const q = await get('limit=2&offset=1')
    expect(ids(q.tasks)).toEqual([made[3], made[2]])
    expect(q.total).toBe(5)
    // The next page keeps the filters and the limit; the cursor replaces the offset.
    expect(q.link).toMatch(/^<\/api\/v1\/tasks\?limit=2&cursor=[A-Za-z0-9_-]+>; rel="next"$/)
    expect((await get('priority=high&limit=1')).link).toMatch(/^<\/api\/v1\/tasks\?priority=high&limit=1&cursor=[A-Za-z0-9_-]+>; rel="next"$/)
    expect(await get('limit=2&offset=9')).toEqual({ tasks: [], total: 5, link: null })
  })
})

describe('deleting a task twice at once', () => {
  test('one 200, the others 404, on both backends (each found the row before either deleted it)', async () => {
    const x = await makeTestApp()
    const a = await makeActor(x, { role: 'admin' })
    const task = await create(a, { title: 'Once' }, x)
    const results = await Promise.all(Array.from({ length: 10 }, () => x.req('DELETE', `/api/v1/tasks/${task.id}`, { token: a.token })))
    expect(results.map((r) => r.status).sort()).toEqual([200, ...Array(9).fill(404)])
  })
})

describe('tasks: who they reach', () => {
  const privateSpace = async (who: Actor, name: string) => {
    const r = await t.req('POST', '/api/v1/spaces', { token: who.token, body: { name, visibility: 'private' } })
    expect(r.status).toBe(201)
    return r.body.space.id as string
  }

  test("a task assigned to its creator's private agent: others see it assigned (assigneeType agent) but not the agent's id, which is 404 for them; the creator and admins see it", async () => {
    const bot = (await t.req('POST', '/api/v1/agents', { token: memberB.token, body: { name: 'B private bot', visibility: 'private' } })).body.agent.id as string
    const tk = await create(memberB, { title: 'for my bot', assignedTo: bot })
    expect([tk.assignedTo, tk.assigneeType]).toEqual([bot, 'agent'])
    const asA = (await t.req('GET', `/api/v1/tasks/${tk.id}`, { token: memberA.token })).body
    expect([asA.assignedTo, asA.assigneeType]).toEqual([null, 'agent'])
    const listed = (await t.req('GET', '/api/v1/tasks?limit=200', { token: memberA.token })).body
    expect(listed.find((x: { id: string }) => x.id === tk.id).assignedTo).toBeNull()
    expect(JSON.stringify(listed)).not.toContain(bot)
    for (const who of [memberB, admin]) expect((await t.req('GET', `/api/v1/tasks/${tk.id}`, { token: who.token })).body.assignedTo).toBe(bot)
    // The creator's edit of another field keeps the assignment.
    const edited = await t.req('PATCH', `/api/v1/tasks/${tk.id}`, { token: memberB.token, body: { title: 'renamed' } })
    expect(edited.body.assignedTo).toBe(bot)
    // Filtering by the hidden id finds nothing, as a made-up id: it found the task (and said the agent exists, and what it holds).
    const byId = await t.req('GET', `/api/v1/tasks?assignedTo=${bot}`, { token: memberA.token })
    const madeUp = await t.req('GET', `/api/v1/tasks?assignedTo=char_${'x'.repeat(20)}`, { token: memberA.token })
    expect([byId.status, byId.body, byId.headers.get('x-total-count')]).toEqual([200, [], '0'])
    expect([madeUp.status, madeUp.body, madeUp.headers.get('x-total-count')]).toEqual([200, [], '0'])
    // A bad cursor is refused alike.
    for (const assignee of [bot, `char_${'x'.repeat(20)}`]) expect((await t.req('GET', `/api/v1/tasks?assignedTo=${assignee}&cursor=garbage`, { token: memberA.token })).status).toBe(400)
    for (const who of [memberB, admin]) expect((await t.req('GET', `/api/v1/tasks?assignedTo=${bot}`, { token: who.token })).body.map((x: { id: string }) => x.id)).toContain(tk.id)
  })

  test("its assignee may edit it, not move it out of its creator's sight: only the creator or an admin moves a task", async () => {
    // B moved A's task into B's private space: A got 404 on their own task.
    const tk = await create(memberA, { title: "A's task, assigned to B", assignedTo: memberB.userId })
    const hideout = await privateSpace(memberB, 'B hideout')
    const move = await t.req('PATCH', `/api/v1/tasks/${tk.id}`, { token: memberB.token, body: { spaceId: hideout } })
    expect([move.status, move.body.code]).toEqual([403, 'forbidden'])
    expect(move.body.message).toContain("only the task's creator or an organization admin can move it")
    // The assignee still edits what is theirs to edit; the creator still sees it.
    expect((await t.req('PATCH', `/api/v1/tasks/${tk.id}`, { token: memberB.token, body: { status: 'in_progress' } })).status).toBe(200)
    expect((await t.req('GET', `/api/v1/tasks/${tk.id}`, { token: memberA.token })).body.status).toBe('in_progress')
  })

  test('a person it is assigned to must be able to see its space: on create, on reassigning and on moving', async () => {
    const mine = await privateSpace(memberA, 'A only')
    const over = await t.req('POST', '/api/v1/tasks', { token: memberA.token, body: { title: 'in my private space', spaceId: mine, assignedTo: memberB.userId } })
    expect([over.status, over.body.code, over.body.details?.[0]?.field]).toEqual([422, 'validation_failed', 'assignedTo'])
    expect(over.body.message).toContain("cannot see the task's space")
    // Moving an assigned task where its assignee cannot follow, and assigning one there.
    const tk = await create(memberA, { title: 'assigned, then moved', assignedTo: memberB.userId })
    expect((await t.req('PATCH', `/api/v1/tasks/${tk.id}`, { token: memberA.token, body: { spaceId: mine } })).status).toBe(422)
    const solo = await create(memberA, { title: 'mine alone', spaceId: mine })
    expect((await t.req('PATCH', `/api/v1/tasks/${solo.id}`, { token: memberA.token, body: { assignedTo: memberB.userId } })).status).toBe(422)
    // An admin sees every space: assignable there.
    expect((await t.req('PATCH', `/api/v1/tasks/${solo.id}`, { token: memberA.token, body: { assignedTo: admin.userId } })).status).toBe(200)
  })
})

describe('tasks: an agent named by its slug', () => {
  test('assignedTo: "<agent slug>" assigns that agent (by its id), as spaceId takes a space slug; other text stays free text', async () => {
    const agent = await t.req('POST', '/api/v1/agents', { token: memberA.token, body: { name: 'Triage Bot', slug: 'triage-bot', visibility: 'organization' } })
    expect(agent.status).toBe(201)
    const tk = await create(memberA, { title: 'for the bot', assignedTo: 'triage-bot' })
    expect([tk.assignedTo, tk.assigneeType]).toEqual([agent.body.id, 'agent'])
    const byId = (await t.req('GET', `/api/v1/tasks?assignedTo=${agent.body.id}`, { token: memberA.token })).body as { id: string }[]
    expect(byId.map((x) => x.id)).toContain(tk.id)
    const free = await create(memberA, { title: 'for a person by name', assignedTo: 'ops-team' })
    expect([free.assignedTo, free.assigneeType]).toEqual(['ops-team', null])
    // The list filter takes the slug too (TeamDay's CLI: tasks list --assigned-to triage-bot);
    // free text still matches as it is.
    const bySlug = (await t.req('GET', '/api/v1/tasks?assignedTo=triage-bot', { token: memberA.token })).body as { id: string }[]
    expect(bySlug.map((x) => x.id)).toEqual(byId.map((x) => x.id))
    const byText = (await t.req('GET', '/api/v1/tasks?assignedTo=ops-team', { token: memberA.token })).body as { id: string }[]
    expect(byText.map((x) => x.id)).toEqual([free.id])
  })
})

describe('read, edit, write it all back', () => {
  test("a task's own space, archived since, and its own agent, archived since, are kept when sent back unchanged; a new archived one is refused", async () => {
    const s = await t.req('POST', '/api/v1/spaces', { token: memberA.token, body: { name: 'Soon archived', visibility: 'organization' } })
    const bot = await t.req('POST', '/api/v1/agents', { token: memberA.token, body: { name: 'Soon gone', visibility: 'organization' } })
    const tk = await create(memberA, { title: 'in space', spaceId: s.body.space.id, assignedTo: bot.body.id })
    expect((await t.req('DELETE', `/api/v1/spaces/${s.body.space.id}`, { token: memberA.token })).status).toBe(200)
    expect((await t.req('DELETE', `/api/v1/agents/${bot.body.id}`, { token: memberA.token })).status).toBe(200)
    const cur = (await t.req('GET', `/api/v1/tasks/${tk.id}`, { token: memberA.token })).body
    const back = await t.req('PATCH', `/api/v1/tasks/${tk.id}`, { token: memberA.token, body: { title: 'renamed', spaceId: cur.spaceId, assignedTo: cur.assignedTo, assigneeType: cur.assigneeType } })
    expect([back.status, back.body.title, back.body.spaceId, back.body.assignedTo]).toEqual([200, 'renamed', cur.spaceId, cur.assignedTo])
    const other = (await create(memberA, { title: 'elsewhere' })).id
    expect((await t.req('PATCH', `/api/v1/tasks/${other}`, { token: memberA.token, body: { spaceId: cur.spaceId } })).status).toBe(422)
  })
})

describe('a task assigned to an agent hidden from the caller, written back as it was read', () => {
  test('the shown pair (assignedTo null, assigneeType "agent") keeps the hidden agent; a plain null still unassigns', async () => {
    const bot = (await t.req('POST', '/api/v1/agents', { token: memberB.token, body: { name: 'B secret bot', visibility: 'private' } })).body.agent.id as string
    const tk = await create(memberA, { title: 'read, edit, write back' })
    expect((await t.req('PATCH', `/api/v1/tasks/${tk.id}`, { token: admin.token, body: { assignedTo: bot } })).body.assignedTo).toBe(bot)
    const read = (await t.req('GET', `/api/v1/tasks/${tk.id}`, { token: memberA.token })).body
    expect([read.assignedTo, read.assigneeType]).toEqual([null, 'agent'])
    const { title: _, success: _s, id: _i, organizationId: _o, createdBy: _c, createdAt: _ca, updatedAt: _u, completedAt: _co, ...back } = read
    const written = await t.req('PATCH', `/api/v1/tasks/${tk.id}`, { token: memberA.token, body: { ...back, title: 'edited' } })
    expect([written.status, written.body.title, written.body.assignedTo, written.body.assigneeType]).toEqual([200, 'edited', null, 'agent'])
    // By the alias too; and nothing else changed: the same answer, the agent still there.
    expect((await t.req('PATCH', `/api/v1/tasks/${tk.id}`, { token: memberA.token, body: { assignTo: null, assigneeType: 'agent' } })).body.assigneeType).toBe('agent')
    const stored = (await t.req('GET', `/api/v1/tasks/${tk.id}`, { token: admin.token })).body
    expect([stored.title, stored.assignedTo, stored.assigneeType]).toEqual(['edited', bot, 'agent'])
    // A plain null unassigns, as it always did.
    const cleared = await t.req('PATCH', `/api/v1/tasks/${tk.id}`, { token: memberA.token, body: { assignedTo: null } })
    expect([cleared.status, cleared.body.assignedTo, cleared.body.assigneeType]).toEqual([200, null, null])
    // The pair for an agent the caller does see (or for no agent at all) is no hidden one kept: it unassigns.
    const seen = (await t.req('POST', '/api/v1/agents', { token: memberA.token, body: { name: 'A open bot', visibility: 'organization' } })).body.agent.id as string
    const open = await create(memberA, { title: 'open bot', assignedTo: seen })
    const unassigned = await t.req('PATCH', `/api/v1/tasks/${open.id}`, { token: memberA.token, body: { assignedTo: null, assigneeType: 'agent' } })
    expect([unassigned.status, unassigned.body.assignedTo, unassigned.body.assigneeType]).toEqual([200, null, null])
  })
})
