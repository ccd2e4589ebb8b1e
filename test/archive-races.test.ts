/**
 * A space or an agent archived at the very moment something is filed under it (a task created in
 * the space or moved there, a task assigned to the agent, a run started in the space, the agent
 * added to a space). A probe on PostgreSQL (two instances) got 37 tasks acknowledged in a space
 * archived before they were inserted: the check ran before, and outside, the insert's
 * transaction. Here the archive is held open in another session (another process on SQLite, a
 * second connection on PostgreSQL) while the request runs: the request waits for it, then sees
 * the archive and refuses; it never files the row and answers success. On PostgreSQL the check
 * reads the row FOR SHARE in the write's transaction; on SQLite the write's transaction is BEGIN
 * IMMEDIATE, so its check reads the latest commit (src/db/locks.ts).
 */
import { afterAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { eq } from 'drizzle-orm'
import { executions, tasks } from '../src/db/schema'
import { makeActor, makeTestApp, type Actor, type TestApp } from './helpers/app'
import { ON_PG } from './helpers/pg'
import { whileHeld } from './helpers/held-write'
import { startProviderDouble } from './helpers/providers'

const dir = mkdtempSync(join(tmpdir(), 'teamday-archive-race-'))
const double = startProviderDouble()
const opened: TestApp[] = []
afterAll(async () => {
  await Promise.all(opened.map((t) => t.rt.engine.shutdown(0)))
  if (!ON_PG) await Promise.all(opened.map((t) => t.rt.close()))
  double.stop()
  rmSync(dir, { recursive: true, force: true })
})

let n = 0
async function app(): Promise<TestApp> {
  const t = await makeTestApp({ ...(ON_PG ? {} : { dbPath: join(dir, `t${++n}.db`) }), config: { openaiBaseUrl: double.openaiBaseUrl, defaultModel: 'test-model' } })
  opened.push(t)
  return t
}

/** The UPDATE archiveSpace / archiveAgent run, as the other session runs it. */
function archiveStatement(t: TestApp, table: 'spaces' | 'agents', id: string): string {
  return t.backend === 'pg'
    ? `UPDATE ${table} SET archived = true, archived_at = now(), updated_at = now() WHERE id = '${id}'`
    : `UPDATE ${table} SET archived = 1, archived_at = ${Date.now()}, updated_at = ${Date.now()} WHERE id = '${id}'`
}

/** Runs the archive `statement` in another session while `request` runs (test/helpers/held-write.ts). */
const whileArchiving = whileHeld

async function world() {
  const t = await app()
  const a: Actor = await makeActor(t, { role: 'admin' })
  const space = (await t.req('POST', '/api/v1/spaces', { token: a.token, body: { name: `Space ${Math.random()}`, visibility: 'organization' } })).body.space
  const agent = (await t.req('POST', '/api/v1/agents', { token: a.token, body: { name: `Agent ${Math.random()}`, systemPrompt: 'x', visibility: 'organization' } })).body
  expect(space.id).toStartWith('space_')
  expect(agent.id).toStartWith('char_')
  return { t, a, space, agent }
}

async function taskCount(t: TestApp, where: ReturnType<typeof eq>) {
  return (await t.rt.db.select({ id: tasks.id }).from(tasks).where(where).all()).length
}

describe('archived at the same moment: the write waits for the archive, sees it and refuses', () => {
  test('POST /tasks in a space being archived: 422, no task in it', async () => {
    const { t, a, space } = await world()
    const { res, waited } = await whileArchiving(t, archiveStatement(t, 'spaces', space.id), () => t.req('POST', '/api/v1/tasks', { token: a.token, body: { title: 'late', spaceId: space.id } }))
    expect(waited).toBe(true)
    expect([res.status, res.body.code, res.body.details?.[0]?.field]).toEqual([422, 'validation_failed', 'spaceId'])
    expect(await taskCount(t, eq(tasks.spaceId, space.id))).toBe(0)
  })

  test('PATCH /tasks/{id} moving a task into a space being archived: 422, the task stays where it was', async () => {
    const { t, a, space } = await world()
    const task = (await t.req('POST', '/api/v1/tasks', { token: a.token, body: { title: 'mine' } })).body
    const { res, waited } = await whileArchiving(t, archiveStatement(t, 'spaces', space.id), () => t.req('PATCH', `/api/v1/tasks/${task.id}`, { token: a.token, body: { spaceId: space.id } }))
    expect(waited).toBe(true)
    expect([res.status, res.body.details?.[0]?.field]).toEqual([422, 'spaceId'])
    expect((await t.req('GET', `/api/v1/tasks/${task.id}`, { token: a.token })).body.spaceId).toBeNull()
  })

  test('POST /tasks assigned to an agent being archived: 422, no task for it', async () => {
    const { t, a, agent } = await world()
    const { res, waited } = await whileArchiving(t, archiveStatement(t, 'agents', agent.id), () => t.req('POST', '/api/v1/tasks', { token: a.token, body: { title: 'late', assignedTo: agent.id } }))
    expect(waited).toBe(true)
    expect([res.status, res.body.details?.[0]?.field]).toEqual([422, 'assignedTo'])
    expect(await taskCount(t, eq(tasks.assignedTo, agent.id))).toBe(0)
  })

  test('POST /agents/{id}/execute in a space being archived: 404, no execution recorded', async () => {
    const { t, a, space, agent } = await world()
    const { res, waited } = await whileArchiving(t, archiveStatement(t, 'spaces', space.id), () => t.req('POST', `/api/v1/agents/${agent.id}/execute`, { token: a.token, body: { message: 'hi', spaceId: space.id, async: true } }))
    expect(waited).toBe(true)
    expect([res.status, res.body.code]).toEqual([404, 'not_found'])
    expect(res.body.message).toContain('archived')
    expect((await t.rt.db.select({ id: executions.id }).from(executions).where(eq(executions.spaceId, space.id)).all()).length).toBe(0)
  })

  test('PATCH /spaces/{id} and POST /spaces adding an agent being archived: 422, the agent is not added', async () => {
    const { t, a, space, agent } = await world()
    const patched = await whileArchiving(t, archiveStatement(t, 'agents', agent.id), () => t.req('PATCH', `/api/v1/spaces/${space.id}`, { token: a.token, body: { addCharacters: [agent.id] } }))
    expect(patched.waited).toBe(true)
    expect([patched.res.status, patched.res.body.details?.[0]?.field]).toEqual([422, 'addCharacters'])
    expect((await t.req('GET', `/api/v1/spaces/${space.id}`, { token: a.token })).body.space.agentRefs).toEqual([])
    const other = (await t.req('POST', '/api/v1/agents', { token: a.token, body: { name: `Other ${Math.random()}`, systemPrompt: 'x' } })).body
    const created = await whileArchiving(t, archiveStatement(t, 'agents', other.id), () => t.req('POST', '/api/v1/spaces', { token: a.token, body: { name: 'With an agent', addCharacters: [other.id] } }))
    expect(created.waited).toBe(true)
    expect([created.res.status, created.res.body.details?.[0]?.field]).toEqual([422, 'addCharacters'])
  })

  test('PATCH /spaces/{id} adding an agent to the space being archived: 422, the agent is not added', async () => {
    const { t, a, space, agent } = await world()
    const { res, waited } = await whileArchiving(t, archiveStatement(t, 'spaces', space.id), () => t.req('PATCH', `/api/v1/spaces/${space.id}`, { token: a.token, body: { addCharacters: [agent.id] } }))
    expect(waited).toBe(true)
    expect([res.status, res.body.details?.[0]?.field]).toEqual([422, 'addCharacters'])
    const after = (await t.req('GET', `/api/v1/spaces/${space.id}`, { token: a.token })).body.space
    expect([after.archived, after.agentRefs]).toEqual([true, []])
  })

  test('POST /spaces/{id}/secrets on the space being archived: 422, no secret set', async () => {
    const { t, a, space } = await world()
    const { res, waited } = await whileArchiving(t, archiveStatement(t, 'spaces', space.id), () => t.req('POST', `/api/v1/spaces/${space.id}/secrets`, { token: a.token, body: { secrets: { LATE_KEY: 'v' } } }))
    expect(waited).toBe(true)
    expect([res.status, res.body.details?.[0]?.field]).toEqual([422, 'secrets'])
    expect((await t.req('GET', `/api/v1/spaces/${space.id}/secrets`, { token: a.token })).body.secrets).toEqual([])
  })

  test('POST /agents and PATCH /agents/{id} naming a sub-agent being archived: 422, not stored', async () => {
    // The create checked its sub-agents before its transaction: it stored one archived meanwhile (SQLite and PostgreSQL).
    const { t, a, agent } = await world()
    const created = await whileArchiving(t, archiveStatement(t, 'agents', agent.id), () => t.req('POST', '/api/v1/agents', { token: a.token, body: { name: 'Delegator', subagentIds: [agent.id] } }))
    expect(created.waited).toBe(true)
    expect([created.res.status, created.res.body.details?.[0]?.field]).toEqual([422, 'subagentIds'])
    expect((await t.req('GET', '/api/v1/agents?q=Delegator', { token: a.token })).body.total).toBe(0)
    const other = (await t.req('POST', '/api/v1/agents', { token: a.token, body: { name: `Other ${Math.random()}`, systemPrompt: 'x' } })).body
    const parent = (await t.req('POST', '/api/v1/agents', { token: a.token, body: { name: 'Parent' } })).body
    const patched = await whileArchiving(t, archiveStatement(t, 'agents', other.id), () => t.req('PATCH', `/api/v1/agents/${parent.id}`, { token: a.token, body: { subagentIds: [other.id] } }))
    expect(patched.waited).toBe(true)
    expect([patched.res.status, patched.res.body.details?.[0]?.field]).toEqual([422, 'subagentIds'])
    expect((await t.req('GET', `/api/v1/agents/${parent.id}`, { token: a.token })).body.agent.subagentIds).toEqual([])
  })

  test('without a space or an assignee a task is one statement: it does not wait for a transaction held elsewhere', async () => {
    const { t, a, space } = await world()
    const { res, waited } = await whileArchiving(t, archiveStatement(t, 'spaces', space.id), () => t.req('POST', '/api/v1/tasks', { token: a.token, body: { title: 'plain' } }))
    expect(res.status).toBe(201)
    // On SQLite every write waits for the file's one write lock; on PostgreSQL a plain insert does not.
    if (t.backend === 'pg') expect(waited).toBe(false)
  })
})

/**
 * A status-only PATCH is one statement, outside any transaction: the row it read may have changed
 * by the time its UPDATE lands. It writes status and completedAt together, so another request's
 * completion (held open in another session here) never stays beside its own status: a probe on
 * PostgreSQL got tasks `in_progress` with a completedAt from two PATCHes at once.
 */
describe('a task status changed by another session at the same moment', () => {
  test('PATCH {status: in_progress} landing after another session completed it: completedAt is cleared', async () => {
    const { t, a } = await world()
    const task = (await t.req('POST', '/api/v1/tasks', { token: a.token, body: { title: 'raced' } })).body
    const complete =
      t.backend === 'pg'
        ? `UPDATE tasks SET status = 'completed', completed_at = now(), updated_at = now() WHERE id = '${task.id}'`
        : `UPDATE tasks SET status = 'completed', completed_at = ${Date.now()}, updated_at = ${Date.now()} WHERE id = '${task.id}'`
    const { res, waited } = await whileArchiving(t, complete, () => t.req('PATCH', `/api/v1/tasks/${task.id}`, { token: a.token, body: { status: 'in_progress' } }))
    expect(waited).toBe(true)
    expect(res.status).toBe(200)
    const after = (await t.req('GET', `/api/v1/tasks/${task.id}`, { token: a.token })).body
    expect([after.status, after.completedAt]).toEqual(['in_progress', null])
  })
})

/**
 * `parentExecutionId` on execute: whether the caller may attach a run under that execution was
 * decided before the transaction that records the run, so a parent whose space was made private
 * to the caller at that moment (held open in another session here) still got the child attached
 * (202). The parent's space is now read with forShare in that transaction: the request waits for
 * the change, sees it and refuses (403), recording nothing.
 */
describe("a parent's space made private at the same moment", () => {
  for (const route of ['/api/v1/execute', 'agents/{id}/execute'] as const) {
    test(`POST ${route} with parentExecutionId: 403, no child recorded`, async () => {
      const { t, a, space, agent } = await world()
      const m = await makeActor(t, { role: 'member', org: a.orgSlug })
      const path = route === '/api/v1/execute' ? route : `/api/v1/agents/${agent.id}/execute`
      const parent = await t.req('POST', path, { token: m.token, body: { message: 'parent', spaceId: space.id } })
      expect(parent.status).toBe(200)
      const parentId = parent.body.executionId ?? parent.body.execution?.id ?? parent.body.id
      expect(String(parentId)).toStartWith('exec_')
      const makePrivate = `UPDATE spaces SET visibility = 'private' WHERE id = '${space.id}'`
      const { res, waited } = await whileHeld(t, makePrivate, () => t.req('POST', path, { token: m.token, body: { message: 'child', parentExecutionId: parentId, async: true } }))
      expect(waited).toBe(true)
      expect([res.status, res.body.code]).toEqual([403, 'forbidden'])
      expect((await t.rt.db.select({ id: executions.id }).from(executions).where(eq(executions.parentExecutionId, parentId)).all()).length).toBe(0)
    })
  }
})
