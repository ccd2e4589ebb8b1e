// Each access rule exists twice: a predicate for one row (gets, trees, delegation) and SQL for
// lists. Here both are held to each other over every combination that matters (owner, visibility,
// space and its visibility, role): for every caller, a list returns exactly the rows the predicate
// allows, and a get of each row answers 200 exactly when the predicate allows it.
import { beforeAll, describe, expect, test } from 'bun:test'
import { agents, executions, spaces, tasks, type AgentVisibility } from '../src/db/schema'
import { newId } from '../src/ids'
import { canSeeAgent } from '../src/modules/agents/access'
import { canOpenExecution } from '../src/modules/executions/access'
import { canSeeSpace, spaceAccessOf } from '../src/modules/spaces/access'
import { canEditTask, canSeeTask, editableTaskSql } from '../src/modules/tasks/access'
import { canSeeToken, mayListOrganizationTokens } from '../src/modules/tokens/access'
import { and, eq } from 'drizzle-orm'
import { isOrgAdmin } from '../src/auth/roles'
import { makeActor, makeTestApp, makeToken, type Actor, type TestApp } from './helpers/app'

let t: TestApp
const callers = {} as Record<'memberA' | 'memberB' | 'viewer' | 'admin' | 'outsider', Actor>
let step = 0
const at = () => new Date(t.clock.now() - 1_000_000 + ++step * 1000)

const SPACE_VIS = ['private', 'organization', 'public'] as const
const AGENT_VIS: AgentVisibility[] = ['private', 'organization', 'public', 'unlisted']

beforeAll(async () => {
  t = await makeTestApp()
  callers.memberA = await makeActor(t, { role: 'member' })
  callers.memberB = await makeActor(t, { role: 'member' })
  callers.viewer = await makeActor(t, { role: 'viewer' })
  callers.admin = await makeActor(t, { role: 'admin' })
  callers.outsider = await makeActor(t, { role: 'admin', org: 'elsewhere' })
  const db = t.db
  const owners = [callers.memberA, callers.memberB]
  const spaceIds: (string | null)[] = [null]
  for (const o of owners) {
    for (const visibility of SPACE_VIS) {
      for (const archived of [false, true]) {
        const id = newId('space')
        await db.insert(spaces).values({ id, organizationId: o.organizationId, createdBy: o.userId, name: 's', slug: id.toLowerCase().replace('_', '-'), visibility, archived, createdAt: at(), updatedAt: at() }).run()
        spaceIds.push(id)
      }
    }
  }
  const agentOf = new Map<string, string>()
  for (const o of owners) {
    for (const visibility of AGENT_VIS) {
      for (const archived of [false, true]) {
        const id = newId('char')
        await db.insert(agents).values({ id, organizationId: o.organizationId, userId: o.userId, name: 'a', slug: id.toLowerCase().replace('_', '-'), visibility, archived, createdAt: at(), updatedAt: at() }).run()
        agentOf.set(o.userId, id)
      }
    }
  }
  for (const o of owners) {
    for (const spaceId of spaceIds) {
      await db.insert(tasks).values({ id: newId('task'), organizationId: o.organizationId, createdBy: o.userId, title: 't', spaceId, createdAt: at(), updatedAt: at() }).run()
      for (const agentVisibility of AGENT_VIS) {
        await db.insert(executions)
          .values({
            id: newId('exec'),
            organizationId: o.organizationId,
            userId: o.userId,
            agentId: agentOf.get(o.userId)!,
            agentName: 'a',
            agentVisibility,
            spaceId,
            chatId: 'c',
            sessionId: 'c',
            message: 'm',
            status: 'completed',
            createdAt: at(),
            updatedAt: at(),
          })
          .run()
      }
    }
  }
}, 60_000)

const ids = (rows: { id: string }[]) => rows.map((r) => r.id).sort()

/** The rows `test` accepts, in order (the rule reads a row's space from the database). */
async function keep<T>(rows: T[], test: (r: T) => Promise<boolean>): Promise<T[]> {
  const out: T[] = []
  for (const r of rows) if (await test(r)) out.push(r)
  return out
}

describe('list SQL and row predicate agree, for every caller', () => {
  for (const name of ['memberA', 'memberB', 'viewer', 'admin', 'outsider'] as const) {
    test(`tasks as ${name}`, async () => {
      const c = callers[name]
      const all = await t.db.select().from(tasks).all()
      const allowed = await keep(all, async (r) => canSeeTask(c, r, await spaceAccessOf(t.rt.db, r.spaceId)))
      const res = await t.req('GET', '/api/v1/tasks?limit=200', { token: c.token })
      expect(ids(res.body)).toEqual(ids(allowed))
      expect(res.headers.get('x-total-count')).toBe(String(allowed.length))
      for (const r of all) expect({ id: r.id, status: (await t.req('GET', `/api/v1/tasks/${r.id}`, { token: c.token })).status }).toEqual({ id: r.id, status: allowed.includes(r) ? 200 : 404 })
    })

    test(`executions as ${name}`, async () => {
      const c = callers[name]
      const all = await t.db.select().from(executions).all()
      const allowed = await keep(all, async (r) => canOpenExecution(c, r, await spaceAccessOf(t.rt.db, r.spaceId)))
      const res = await t.req('GET', '/api/v1/executions?limit=200', { token: c.token })
      expect(ids(res.body)).toEqual(ids(allowed))
      for (const r of all) expect({ id: r.id, status: (await t.req('GET', `/api/v1/executions/${r.id}`, { token: c.token })).status }).toEqual({ id: r.id, status: allowed.includes(r) ? 200 : 404 })
    })

    test(`agents as ${name}`, async () => {
      const c = callers[name]
      const all = await t.db.select().from(agents).all()
      const allowed = all.filter((r) => canSeeAgent(c, r))
      const res = await t.req('GET', '/api/v1/agents?archived=true&limit=200', { token: c.token })
      expect(ids(res.body.agents)).toEqual(ids(allowed))
    })

    test(`spaces as ${name}`, async () => {
      const c = callers[name]
      const all = await t.db.select().from(spaces).all()
      const allowed = all.filter((r) => canSeeSpace(c, r))
      const res = await t.req('GET', '/api/v1/spaces?archived=true&limit=200', { token: c.token })
      expect(ids(res.body.spaces)).toEqual(ids(allowed))
      for (const r of all) expect({ id: r.id, status: (await t.req('GET', `/api/v1/spaces/${r.id}`, { token: c.token })).status }).toEqual({ id: r.id, status: allowed.includes(r) ? 200 : 404 })
    })
  }

  test('the fixtures cover both outcomes for members', async () => {
    const b = callers.memberB
    const all = await t.db.select().from(executions).all()
    const open = (await keep(all, async (r) => canOpenExecution(b, r, await spaceAccessOf(t.rt.db, r.spaceId)))).length
    expect(open).toBeGreaterThan(0)
    expect(open).toBeLessThan(all.length)
  })
})

describe("a task's edit rule as a write's condition (editableTaskSql) agrees with its predicate", () => {
  test('for every caller, over tasks created by, assigned to and neither of them, in every kind of space', async () => {
    const [a, b] = [callers.memberA, callers.memberB]
    // Assigned tasks too (the fixtures' are unassigned): A's, assigned to B, in each of A's spaces and none.
    const own = await t.db.select().from(tasks).where(eq(tasks.createdBy, a.userId)).all()
    for (const r of own) await t.db.insert(tasks).values({ id: newId('task'), organizationId: a.organizationId, createdBy: a.userId, assignedTo: b.userId, assigneeType: 'user', title: 'assigned', spaceId: r.spaceId, createdAt: at(), updatedAt: at() }).run()
    const all = await t.db.select().from(tasks).all()
    let both = 0
    for (const name of ['memberA', 'memberB', 'viewer', 'admin', 'outsider'] as const) {
      const c = callers[name]
      const allowed = await keep(all, async (r) => canEditTask(c, r, await spaceAccessOf(t.rt.db, r.spaceId)))
      const matched = await t.db.select().from(tasks).where(and(eq(tasks.organizationId, c.organizationId), editableTaskSql(isOrgAdmin(c.role), c.userId))).all()
      expect({ name, ids: ids(matched) }).toEqual({ name, ids: ids(allowed) })
      if (allowed.length > 0 && allowed.length < all.length) both++
    }
    expect(both).toBeGreaterThan(0)
  })
})

describe("a token's rule (canSeeToken, visibleTokensSql) agrees with what its routes and lists answer", () => {
  test('for every caller, over tokens of two members, a viewer, an admin and another organization', async () => {
    const owners = Object.values(callers)
    const tokens: { id: string; organizationId: string; userId: string }[] = []
    for (const o of owners) tokens.push({ id: (await makeToken(t, o, { name: 'rule' })).id, organizationId: o.organizationId, userId: o.userId })
    for (const [name, c] of Object.entries(callers)) {
      for (const tok of tokens) {
        const r = await t.req('GET', `/api/v1/tokens/${tok.id}`, { token: c.token })
        expect([name, tok.id, r.status]).toEqual([name, tok.id, canSeeToken(c, tok) ? 200 : 404])
      }
      const all = await t.req('GET', '/api/v1/tokens?all=true&limit=200', { token: c.token })
      if (!mayListOrganizationTokens(c)) {
        expect([name, all.status]).toEqual([name, 403])
        continue
      }
      const listed = new Set((all.body.tokens as { id: string }[]).map((x) => x.id))
      for (const tok of tokens) expect([name, tok.id, listed.has(tok.id)]).toEqual([name, tok.id, canSeeToken(c, tok)])
    }
    // Without all=true, everyone's list is their own tokens (visibleTokensSql(false)), an admin's too.
    for (const [name, c] of Object.entries(callers)) {
      const own = await t.req('GET', '/api/v1/tokens?limit=200', { token: c.token })
      const listed = new Set((own.body.tokens as { id: string }[]).map((x) => x.id))
      for (const tok of tokens) expect([name, tok.id, listed.has(tok.id)]).toEqual([name, tok.id, tok.userId === c.userId && tok.organizationId === c.organizationId])
    }
  })
})
