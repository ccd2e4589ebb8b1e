// insertStatements (src/db/prepared.ts) against drizzle's insert builder: the same row stored,
// column by column as the database holds it, whatever the row leaves out (a default value, an
// SQL default, a nullable column) or gives (dates, JSON, booleans, nulls), on this suite's backend.
import { beforeAll, describe, expect, test } from 'bun:test'
import { eq, sql } from 'drizzle-orm'
import { stillMemberSql } from '../src/auth/current-role'
import { insertStatements } from '../src/db/prepared'
import { agents, auditEvents, tasks } from '../src/db/schema'
import { makeActor, makeTestApp, type Actor, type TestApp } from './helpers/app'

let t: TestApp
let a: Actor
beforeAll(async () => {
  t = await makeTestApp()
  a = await makeActor(t, { role: 'admin' })
})

/** A row as the database holds it: every column read back raw, the id left out. */
async function stored(table: typeof tasks | typeof agents | typeof auditEvents, id: string): Promise<Record<string, unknown>> {
  const db = t.rt.db as any
  const row = await db.select().from(table).where(eq((table as typeof tasks).id, id)).get()
  expect(row).toBeDefined()
  const { id: _id, slug: _slug, ...rest } = row
  return rest
}

describe('insertStatements', () => {
  const now = new Date('2026-06-01T12:00:00.123Z')
  const task = (id: string, more: Record<string, unknown> = {}) => ({ id, organizationId: a.organizationId, createdBy: a.userId, title: 'T', status: 'pending' as const, createdAt: now, updatedAt: now, ...more })
  const agent = (id: string, more: Record<string, unknown> = {}) => ({ id, organizationId: a.organizationId, userId: a.userId, name: 'A', slug: id, createdAt: now, updatedAt: now, ...more })

  test('a task: defaults left out, then every column given', async () => {
    const db = t.rt.db as any
    const ours = await insertStatements(t.rt.db, tasks).get(task('task_ours1'))
    await db.insert(tasks).values(task('task_theirs1')).run()
    expect(await stored(tasks, 'task_ours1')).toEqual(await stored(tasks, 'task_theirs1'))
    // What get returns is the row as read (RETURNING *).
    expect(ours).toEqual(await db.select().from(tasks).where(eq(tasks.id, 'task_ours1')).get())
    expect(ours.priority).toBe('medium')
    expect(ours.metadata).toEqual({})

    const full = { description: 'd "quoted" ünïcode', priority: 'urgent', assignedTo: 'someone', assigneeType: null, dueDate: new Date('2027-01-02T03:04:05.006Z'), completedAt: null, metadata: { a: [1, { b: null }], s: 'x' } }
    await insertStatements(t.rt.db, tasks).get(task('task_ours2', full))
    await db.insert(tasks).values(task('task_theirs2', full)).run()
    expect(await stored(tasks, 'task_ours2')).toEqual(await stored(tasks, 'task_theirs2'))
  })

  test('an agent: JSON lists and a boolean left out or given', async () => {
    const db = t.rt.db as any
    await insertStatements(t.rt.db, agents).get(agent('char_ours1'))
    await db.insert(agents).values(agent('char_theirs1')).run()
    const left = await stored(agents, 'char_ours1')
    expect(left).toEqual(await stored(agents, 'char_theirs1'))
    expect(left.tags).toEqual([])
    expect(left.archived).toBe(false)
    expect(left.visibility).toBe('private')

    const full = { tags: ['x', 'y'], allowedTools: ['Read'], archived: true, archivedAt: now, maxTurns: 7, visibility: 'organization', systemPrompt: 'p' }
    await insertStatements(t.rt.db, agents).get(agent('char_ours2', full))
    await db.insert(agents).values(agent('char_theirs2', full)).run()
    expect(await stored(agents, 'char_ours2')).toEqual(await stored(agents, 'char_theirs2'))
  })

  test('run: an audit event, nothing returned', async () => {
    const db = t.rt.db as any
    const e = (id: string) => ({ id, organizationId: a.organizationId, type: 'token.created', actorUserId: a.userId, actorTokenId: null, source: 'api', tokenId: null, targetType: null, targetId: null, ip: null, userAgent: null, requestId: 'req_x', details: null, createdAt: now })
    expect(await insertStatements(t.rt.db, auditEvents).run(e('evt_ours'))).toBeUndefined()
    await db.insert(auditEvents).values(e('evt_theirs')).run()
    expect(await stored(auditEvents, 'evt_ours')).toEqual(await stored(auditEvents, 'evt_theirs'))
  })

  test('onlyIf: the same row stored while its condition holds (each value cast to its column on PostgreSQL), none and undefined when not', async () => {
    const db = t.rt.db as any
    const member = { name: 'member', where: () => stillMemberSql(sql.placeholder('organizationId'), sql.placeholder('createdBy')) }
    const full = { description: 'd', priority: 'urgent', assignedTo: 'someone', dueDate: new Date('2027-01-02T03:04:05.006Z'), metadata: { a: [1, { b: null }] } }
    for (const [n, more] of [['1', {}], ['2', full]] as const) {
      const ours = await insertStatements(t.rt.db, tasks, member).get(task(`task_only${n}`, more))
      await db.insert(tasks).values(task(`task_plain${n}`, more)).run()
      expect(await stored(tasks, `task_only${n}`)).toEqual(await stored(tasks, `task_plain${n}`))
      expect(ours).toEqual(await db.select().from(tasks).where(eq(tasks.id, `task_only${n}`)).get())
    }
    const stranger = await makeActor(t, { role: 'member', org: 'elsewhere' })
    expect(await insertStatements(t.rt.db, tasks, member).get(task('task_refused', { createdBy: stranger.userId }))).toBeUndefined()
    expect(await db.select().from(tasks).where(eq(tasks.id, 'task_refused')).get()).toBeUndefined()
    // Booleans, JSON lists, integers.
    const always = { name: 'always', where: () => sql`1 = 1` }
    const agentFull = { tags: ['x'], allowedTools: ['Read'], archived: true, archivedAt: now, maxTurns: 7, visibility: 'organization', systemPrompt: 'p' }
    for (const [n, more] of [['1', {}], ['2', agentFull]] as const) {
      await insertStatements(t.rt.db, agents, always).get(agent(`char_only${n}`, more))
      await db.insert(agents).values(agent(`char_plain${n}`, more)).run()
      expect(await stored(agents, `char_only${n}`)).toEqual(await stored(agents, `char_plain${n}`))
    }
  })

  test('null where a NOT NULL column has an SQL default is refused before the database', async () => {
    await expect(insertStatements(t.rt.db, agents).get(agent('char_null', { tags: null }))).rejects.toThrow('agents.tags cannot be null')
  })
})
