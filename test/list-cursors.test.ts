import { beforeAll, describe, expect, test } from 'bun:test'
import { and, count, eq, ne, or, type SQL } from 'drizzle-orm'
import type { SQLiteColumn, SQLiteTable } from 'drizzle-orm/sqlite-core'
import { seedAgents, seedAudit, seedExecutions, seedSpaces, seedTasks, seedTokens, type SeedOwner } from '../bench/seed'
import { TOTAL_CAP } from '../src/db/paging'
import { agents, auditEvents, executions, personalAccessTokens, spaces, tasks } from '../src/db/schema'
import { makeActor, makeTestApp, type Actor, type Res, type TestApp } from './helpers/app'

/**
 * Keyset paging on every list: walking by `nextCursor` returns each row once, in the list's
 * order (created_at, then id, newest first; rows share timestamps here on purpose), also while
 * rows are being added; a cursor that is not this list's, or not these filters', is a 400.
 * On either backend: rows are seeded through bench/seed.ts (SQLite or PostgreSQL, as the app
 * runs), and the expected order is computed here, not by the database.
 */

let t: TestApp
let admin: Actor
let member: Actor
let agentIds: string[]

interface ListCase {
  name: string
  /** Path with its filters (no limit/cursor). */
  path: string
  token?: () => string
  items: (r: Res) => { id: string }[]
  next: (r: Res) => string | null
  /** The expected ids, newest first: the matching rows, ordered here (newestFirstIds). */
  expected: () => Promise<string[]>
  /** Adds newer rows, as another client would while someone pages. */
  insert: (now: number) => Promise<unknown>
  hasTotal: boolean
}

type Listed = SQLiteTable & { id: SQLiteColumn; createdAt: SQLiteColumn }

/**
 * The ids of the rows of `table` matching `where`, in the documented list order computed here,
 * not by the database: created_at, then id (compared as bytes), newest first.
 */
async function newestFirstIds(table: Listed, where?: SQL): Promise<string[]> {
  const rows = (await t.rt.db.select({ id: table.id, at: table.createdAt }).from(table).where(where).all()) as { id: string; at: Date }[]
  return rows
    .map((r) => ({ id: r.id, t: r.at.getTime() }))
    .sort((a, b) => b.t - a.t || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0))
    .map((r) => r.id)
}
const owner = (): SeedOwner => admin

/**
 * Seeds `n` rows spread over time plus a group sharing one timestamp (ties broken by id). Times
 * are not whole seconds: a cursor or a column that drops the milliseconds must show.
 */
async function seedBoth(seed: (n: number, o: { now: number; step: number }) => Promise<unknown>, now: number) {
  await seed(45, { now: now - 90_123, step: 1_001 })
  await seed(15, { now: now - 30_007, step: 0 })
}

const body = (key: string) => (r: Res) => r.body[key]
const bodyNext = (r: Res) => r.body.nextCursor as string | null
/** The cursor of the RFC 8288 `Link: <…>; rel="next"` header (bare-array lists), checked against X-Next-Cursor. */
const linkNext = (r: Res) => {
  const link = r.headers.get('link')
  if (link === null) {
    expect(r.headers.get('x-next-cursor')).toBeNull()
    return null
  }
  const m = /^<([^>]+)>; rel="next"$/.exec(link)
  expect(m).not.toBeNull()
  const next = new URL(m![1]!, 'http://localhost')
  expect(next.searchParams.has('offset')).toBe(false)
  const cursor = next.searchParams.get('cursor')
  expect(cursor).toBe(r.headers.get('x-next-cursor'))
  return cursor
}
/** X-Total-Count of a bare-array list, as a number (undefined when the list sends none). */
const headerTotal = (r: Res) => (r.headers.get('x-total-count') === null ? undefined : Number(r.headers.get('x-total-count')))

function cases(): ListCase[] {
  return [
    {
      name: 'tasks',
      path: '/api/v1/tasks',
      items: (r) => r.body,
      next: linkNext,
      expected: () => newestFirstIds(tasks, eq(tasks.organizationId, admin.organizationId)),
      insert: (now) => seedTasks(t.db, owner(), 3, { now }),
      hasTotal: true,
    },
    {
      name: 'tasks by status',
      path: '/api/v1/tasks?status=completed',
      items: (r) => r.body,
      next: linkNext,
      expected: () => newestFirstIds(tasks, and(eq(tasks.organizationId, admin.organizationId), eq(tasks.status, 'completed'))),
      insert: (now) => seedTasks(t.db, owner(), 5, { now }),
      hasTotal: true,
    },
    {
      name: 'agents (member)',
      path: '/api/v1/agents',
      token: () => member.token,
      items: body('agents'),
      next: bodyNext,
      expected: () =>
        newestFirstIds(agents, and(eq(agents.organizationId, admin.organizationId), eq(agents.archived, false), or(eq(agents.userId, member.userId), ne(agents.visibility, 'private')))),
      insert: (now) => seedAgents(t.db, owner(), 3, { now }),
      hasTotal: true,
    },
    {
      name: 'agents with archived',
      path: '/api/v1/agents?archived=true',
      items: body('agents'),
      next: bodyNext,
      expected: () => newestFirstIds(agents, eq(agents.organizationId, admin.organizationId)),
      insert: (now) => seedAgents(t.db, owner(), 3, { now }),
      hasTotal: true,
    },
    {
      name: 'public agents',
      path: '/api/public/agents',
      token: () => '',
      items: body('data'),
      next: (r) => r.body.meta.nextCursor,
      expected: () => newestFirstIds(agents, and(eq(agents.visibility, 'public'), eq(agents.archived, false))),
      insert: (now) => seedAgents(t.db, owner(), 6, { now }),
      hasTotal: true,
    },
    {
      name: 'spaces',
      path: '/api/v1/spaces',
      items: body('spaces'),
      next: bodyNext,
      expected: () => newestFirstIds(spaces, and(eq(spaces.organizationId, admin.organizationId), eq(spaces.archived, false))),
      insert: (now) => seedSpaces(t.db, owner(), 3, { now }),
      hasTotal: true,
    },
    {
      name: 'executions',
      path: '/api/v1/executions',
      items: (r) => r.body,
      next: linkNext,
      expected: () => newestFirstIds(executions, eq(executions.organizationId, admin.organizationId)),
      insert: (now) => seedExecutions(t.db, owner(), 3, { now, agentIds }),
      hasTotal: false,
    },
    {
      name: 'executions by agent',
      path: `/api/v1/executions?agentId=AGENT`,
      items: (r) => r.body,
      next: (r) => r.headers.get('x-next-cursor'),
      expected: () => newestFirstIds(executions, and(eq(executions.organizationId, admin.organizationId), eq(executions.agentId, agentIds[0]!))),
      insert: (now) => seedExecutions(t.db, owner(), 3, { now, agentIds: [agentIds[0]!] }),
      hasTotal: false,
    },
    {
      name: 'own tokens',
      path: '/api/v1/tokens',
      items: body('tokens'),
      next: bodyNext,
      expected: () => newestFirstIds(personalAccessTokens, and(eq(personalAccessTokens.userId, admin.userId), eq(personalAccessTokens.organizationId, admin.organizationId))),
      insert: (now) => seedTokens(t.db, t.rt.box, owner(), 3, { now }),
      hasTotal: true,
    },
    {
      name: 'all tokens',
      path: '/api/v1/tokens?all=true',
      items: body('tokens'),
      next: bodyNext,
      expected: () => newestFirstIds(personalAccessTokens, eq(personalAccessTokens.organizationId, admin.organizationId)),
      insert: (now) => seedTokens(t.db, t.rt.box, member, 3, { now }),
      hasTotal: true,
    },
    {
      name: 'audit events',
      path: '/api/v1/audit-events',
      items: body('events'),
      next: bodyNext,
      expected: () => newestFirstIds(auditEvents, eq(auditEvents.organizationId, admin.organizationId)),
      insert: (now) => seedAudit(t.db, owner(), 3, { now }),
      hasTotal: true,
    },
  ]
}

beforeAll(async () => {
  t = await makeTestApp()
  admin = await makeActor(t, { role: 'admin' })
  member = await makeActor(t, { role: 'member' })
  const now = t.clock.now()
  await seedBoth(async (n, o) => (agentIds = [...(agentIds ?? []), ...(await seedAgents(t.db, admin, n, o))]), now)
  await seedBoth((n, o) => seedTasks(t.db, admin, n, { ...o, agentIds }), now)
  await seedBoth((n, o) => seedSpaces(t.db, admin, n, o), now)
  await seedBoth((n, o) => seedExecutions(t.db, admin, n, { ...o, agentIds: agentIds.slice(0, 2) }), now)
  await seedBoth((n, o) => seedTokens(t.db, t.rt.box, admin, n, o), now)
  await seedBoth((n, o) => seedAudit(t.db, admin, n, o), now)
  // Another organization's rows must never show up.
  const other = await makeActor(t, { role: 'admin', org: 'globex' })
  await seedTasks(t.db, other, 10, { now })
  await seedAgents(t.db, other, 10, { now })
}, 60_000)

const get = (c: ListCase, query: string) => {
  const path = c.path.replace('AGENT', agentIds[0]!)
  const token = c.token ? c.token() : admin.token
  return t.req('GET', `${path}${path.includes('?') ? '&' : '?'}${query}`, { token: token || undefined })
}

/** Every page by cursor; `between` runs after each page. */
async function walk(c: ListCase, limit: number, between?: () => Promise<unknown>) {
  const seen: string[] = []
  const totals: unknown[] = []
  let cursor: string | null = null
  for (let pages = 0; pages < 100; pages++) {
    const res = await get(c, `limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`)
    expect(res.status).toBe(200)
    const items = c.items(res)
    expect(items.length).toBeLessThanOrEqual(limit)
    seen.push(...items.map((i) => i.id))
    totals.push(c.name === 'public agents' ? res.body.meta.total : Array.isArray(res.body) ? headerTotal(res) : res.body.total)
    cursor = c.next(res)
    if (cursor === null) return { seen, totals, pages: pages + 1 }
    expect(items.length).toBe(limit)
    await between?.()
  }
  throw new Error('no last page after 100 pages')
}

describe('walking a list by cursor returns every row once, in order', () => {
  for (const c of cases()) {
    test(c.name, async () => {
      const expected = await c.expected()
      expect(expected.length).toBeGreaterThan(8)
      const { seen, totals, pages } = await walk(c, 4)
      expect(seen).toEqual(expected)
      expect(pages).toBe(Math.ceil(expected.length / 4))
      // Every page repeats the first page's total.
      if (c.hasTotal) expect(totals).toEqual(totals.map(() => expected.length))
      else expect(totals.every((x) => x === undefined)).toBe(true)
    })
  }
})

describe('rows added while a client pages are neither repeated nor skipped', () => {
  for (const c of cases()) {
    test(c.name, async () => {
      const before = await c.expected()
      const { seen } = await walk(c, 5, () => {
        t.clock.advance(1000)
        return c.insert(t.clock.now())
      })
      expect(seen).toEqual(before)
      // The new rows are there: on a new first page.
      expect((await c.expected()).length).toBeGreaterThan(before.length)
    })
  }
})

describe('a cursor that is not this list\'s (or this caller\'s) is a 400, never a 500', () => {
  const cursorOf = async (c: ListCase, query = '') => {
    const res = await get(c, `limit=2${query}`)
    const next = c.next(res)
    expect(next).toBeString()
    return next!
  }
  const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url')

  for (const c of cases()) {
    test(c.name, async () => {
      const good = await cursorOf(c)
      const [v, scope, time, id, ...rest] = JSON.parse(Buffer.from(good, 'base64url').toString())
      const bad = [
        'not a cursor!',
        '%00',
        'x'.repeat(5000),
        b64('{"a":1'),
        b64({ a: 1 }),
        b64([v, scope, -1, id, ...rest]),
        // Past the year 9999 (PostgreSQL answered 500: "time zone displacement out of range").
        b64([v, scope, 253402300800000, id, ...rest]),
        b64([v, scope, Number.MAX_SAFE_INTEGER, id, ...rest]),
        b64([v, scope, time, "x' OR 1=1 --", ...rest]),
        b64([v, scope, time, id, ...rest, 'extra']),
        b64([2, scope, time, id, ...rest]),
        b64([v, 'tasks.0', time, id, ...rest]),
      ]
      for (const cursor of bad) {
        const res = await get(c, `cursor=${encodeURIComponent(cursor)}`)
        expect(res.status, cursor).toBe(400)
        expect(res.body).toMatchObject({ error: true, statusCode: 400, code: 'bad_request' })
        expect(res.body.message).toStartWith('Invalid cursor')
      }
      expect((await get(c, `cursor=${good}`)).status).toBe(200)
      // An empty cursor is the first page.
      const empty = await get(c, 'limit=2&cursor=')
      expect(empty.status).toBe(200)
      expect(c.items(empty).map((i) => i.id)).toEqual((await c.expected()).slice(0, 2))
    })
  }

  test('a cursor of another list, or of other filters, is refused and says so', async () => {
    const [taskList, byStatus, agentList] = cases()
    const fromTasks = await cursorOf(taskList!)
    const other = await get(agentList!, `cursor=${fromTasks}`)
    expect(other.status).toBe(400)
    expect(other.body.message).toContain('another list')
    const filtered = await get(byStatus!, `cursor=${fromTasks}`)
    expect(filtered.status).toBe(400)
    expect(filtered.body.message).toContain('other filters')
    // Another member of the same organization cannot continue the admin's walk.
    const asMember = await t.req('GET', `/api/v1/tasks?cursor=${fromTasks}`, { token: member.token })
    expect(asMember.status).toBe(400)
    expect(asMember.body.message).toContain('another caller')
  })

  test('a token-list cursor is bound to all=true, to the status filter and to the caller (the organization-wide total stays with the admin\'s walk)', async () => {
    const byName = (name: string) => cases().find((c) => c.name === name)!
    const fromAll = await cursorOf(byName('all tokens'))
    const refused = async (path: string, token: string) => {
      const res = await t.req('GET', path, { token })
      expect(res.status).toBe(400)
      expect(res.body.message).toContain('issued for other filters or to another caller')
    }
    await refused(`/api/v1/tokens?cursor=${fromAll}`, admin.token)
    await refused(`/api/v1/tokens?all=true&status=active&cursor=${fromAll}`, admin.token)
    // A member cannot continue the admin's walk of their own tokens.
    const fromOwn = await cursorOf(byName('own tokens'))
    await refused(`/api/v1/tokens?cursor=${fromOwn}`, member.token)
    expect((await t.req('GET', `/api/v1/tokens?cursor=${fromOwn}`, { token: admin.token })).status).toBe(200)
  })
})

describe('total', () => {
  test(`is counted up to ${TOTAL_CAP}: beyond, it is ${TOTAL_CAP} with totalIsEstimate, on every page`, async () => {
    const x = await makeTestApp()
    const a = await makeActor(x, { role: 'admin' })
    await seedTasks(x.db, a, TOTAL_CAP + 7, { now: x.clock.now(), step: 10 })
    // Tasks are a bare array: the count is in X-Total-Count, "at least" in X-Total-Count-Estimate.
    const totalOf = (r: Res) => ({ total: r.headers.get('x-total-count'), estimate: r.headers.get('x-total-count-estimate') })
    const first = await x.req('GET', '/api/v1/tasks?limit=3', { token: a.token })
    expect(totalOf(first)).toEqual({ total: String(TOTAL_CAP), estimate: 'true' })
    const second = await x.req('GET', `/api/v1/tasks?limit=3&cursor=${first.headers.get('x-next-cursor')}`, { token: a.token })
    expect(totalOf(second)).toEqual({ total: String(TOTAL_CAP), estimate: 'true' })
    // The last page knows the exact count.
    const last = await x.req('GET', `/api/v1/tasks?limit=5&offset=${TOTAL_CAP + 5}`, { token: a.token })
    expect(totalOf(last)).toEqual({ total: String(TOTAL_CAP + 7), estimate: 'false' })
    expect(last.headers.get('link')).toBeNull()
    expect(last.body).toHaveLength(2)
    // Under the cap it is exact.
    const few = await x.req('GET', '/api/v1/tasks?limit=3&priority=nonsense', { token: a.token })
    expect(few.status).toBe(422)
    const urgent = (await x.rt.db.select({ n: count() }).from(tasks).where(eq(tasks.priority, 'urgent')).get())!
    const byPriority = await x.req('GET', '/api/v1/tasks?limit=3&priority=urgent', { token: a.token })
    expect(urgent.n).toBeLessThan(TOTAL_CAP)
    expect(totalOf(byPriority)).toEqual({ total: String(urgent.n), estimate: 'false' })
  })

  test('offset still pages (TeamDay clients) and carries a cursor to continue from', async () => {
    const [taskList] = cases()
    const all = await taskList!.expected()
    const page = await get(taskList!, 'limit=4&offset=4')
    expect(page.body.map((x: any) => x.id)).toEqual(all.slice(4, 8))
    expect(page.headers.get('x-total-count')).toBe(String(all.length))
    // The Link is the same request with the cursor instead of the offset: following it continues.
    const link = /^<([^>]+)>; rel="next"$/.exec(page.headers.get('link')!)![1]!
    expect(link).toStartWith('/api/v1/tasks?limit=4&cursor=')
    const next = await t.req('GET', link, { token: admin.token })
    expect(next.body.map((x: any) => x.id)).toEqual(all.slice(8, 12))
    const past = await get(taskList!, `limit=4&offset=${all.length + 10}`)
    expect(past.body).toEqual([])
    expect(past.headers.get('x-total-count')).toBe(String(all.length))
    expect(past.headers.get('link')).toBeNull()
    // A cursor and an offset: 422 naming offset (the offset skipped that many more rows on every
    // page); offset=0 beside a cursor is what a client that starts from 0 sends, and passes.
    const cursor = new URL(link, 'http://x').searchParams.get('cursor')!
    const both = await get(taskList!, `limit=4&offset=1&cursor=${encodeURIComponent(cursor)}`)
    expect([both.status, both.body.code, both.body.details?.[0]?.field]).toEqual([422, 'validation_failed', 'offset'])
    const zero = await get(taskList!, `limit=4&offset=0&cursor=${encodeURIComponent(cursor)}`)
    expect(zero.body.map((x: any) => x.id)).toEqual(all.slice(8, 12))
  })
})
