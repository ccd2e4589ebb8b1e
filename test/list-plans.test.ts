import { beforeAll, describe, expect, test } from 'bun:test'
import { seedAgents, seedAudit, seedExecutions, seedSpaces, seedTasks, seedTokens } from '../bench/seed'
import { preparedQueries } from '../src/db/prepared'
import { makeActor, makeTestApp, type Actor, type TestApp } from './helpers/app'
import { ON_PG, sqliteOnly } from './helpers/pg'

/**
 * Every list's first-page query (and its capped count) as drizzle sends it to SQLite, through
 * EXPLAIN QUERY PLAN: it must walk the index made for that list's filter + order (so a page costs
 * O(limit), whatever the size of the organization), never sort in a temporary B-tree, never scan
 * the table. The SQL is that of the queries real requests prepare (src/db/prepared.ts); plans are
 * checked on a fresh database and again after ANALYZE (which `PRAGMA optimize` runs at close) on
 * seeded rows.
 */

let t: TestApp
let admin: Actor
let member: Actor

beforeAll(async () => {
  if (ON_PG) return
  t = await makeTestApp()
  admin = await makeActor(t, { role: 'admin' })
  member = await makeActor(t, { role: 'member' })
}, 60_000)

/** The SQL of every query prepared on the app's database so far, by the key it was prepared under. */
function preparedSql(): Map<string, string[]> {
  const out = new Map<string, string[]>()
  for (const [key, q] of preparedQueries(t.rt.db)) {
    const parts = typeof (q as any).getQuery === 'function' ? [q] : Object.values(q as object)
    out.set(key, parts.map((p: any) => p.getQuery().sql as string))
  }
  return out
}

interface Case {
  name: string
  /** A function when the path needs an id made in beforeAll. */
  path: string | (() => string)
  actor?: 'admin' | 'member' | 'none'
  table: string
  /** The index the page must walk (any of these). */
  index: string[]
}

const cases: Case[] = [
  { name: 'tasks', path: '/api/v1/tasks', table: 'tasks', index: ['tasks_org_idx'] },
  { name: 'tasks by status', path: '/api/v1/tasks?status=pending', table: 'tasks', index: ['tasks_org_status_idx'] },
  { name: 'tasks by priority', path: '/api/v1/tasks?priority=high', table: 'tasks', index: ['tasks_org_priority_idx'] },
  { name: 'tasks by assignee', path: '/api/v1/tasks?assignedTo=someone', table: 'tasks', index: ['tasks_org_assignee_idx'] },
  { name: 'tasks by space', path: '/api/v1/tasks?spaceId=space_x', table: 'tasks', index: ['tasks_org_space_idx'] },
  // Members: the space's visibility is looked up per row by primary key (spaces/access.ts).
  { name: 'tasks (member)', path: '/api/v1/tasks', actor: 'member', table: 'tasks', index: ['tasks_org_idx'] },
  { name: 'tasks by space (member)', path: '/api/v1/tasks?spaceId=space_x', actor: 'member', table: 'tasks', index: ['tasks_org_space_idx'] },
  { name: 'agents (admin)', path: '/api/v1/agents', table: 'agents', index: ['agents_org_idx'] },
  { name: 'agents (member)', path: '/api/v1/agents', actor: 'member', table: 'agents', index: ['agents_org_idx'] },
  { name: 'agents with archived', path: '/api/v1/agents?archived=true', table: 'agents', index: ['agents_org_time_idx'] },
  { name: 'agents by visibility', path: '/api/v1/agents?visibility=organization', table: 'agents', index: ['agents_org_visibility_idx', 'agents_org_idx'] },
  { name: 'agents by category', path: '/api/v1/agents?category=support', table: 'agents', index: ['agents_org_category_idx', 'agents_org_idx'] },
  { name: 'agents by name', path: '/api/v1/agents?q=rev', table: 'agents', index: ['agents_org_idx'] },
  { name: 'public agents', path: '/api/public/agents', actor: 'none', table: 'agents', index: ['agents_visibility_idx'] },
  { name: 'spaces', path: '/api/v1/spaces', table: 'spaces', index: ['spaces_org_idx'] },
  { name: 'spaces (member)', path: '/api/v1/spaces', actor: 'member', table: 'spaces', index: ['spaces_org_idx'] },
  { name: 'spaces with archived', path: '/api/v1/spaces?archived=true', table: 'spaces', index: ['spaces_org_time_idx'] },
  { name: 'executions', path: '/api/v1/executions', table: 'executions', index: ['executions_org_time_idx'] },
  { name: 'executions (member)', path: '/api/v1/executions', actor: 'member', table: 'executions', index: ['executions_org_time_idx'] },
  { name: 'executions by agent', path: '/api/v1/executions?agentId=char_x', table: 'executions', index: ['executions_org_agent_idx'] },
  { name: 'executions by status', path: '/api/v1/executions?status=running', table: 'executions', index: ['executions_org_status_idx'] },
  { name: 'executions by space', path: '/api/v1/executions?spaceId=space_x', table: 'executions', index: ['executions_org_space_idx'] },
  { name: 'executions by parent', path: '/api/v1/executions?parentExecutionId=exec_x', table: 'executions', index: ['executions_parent_idx'] },
  { name: 'executions by space (member)', path: '/api/v1/executions?spaceId=space_x', actor: 'member', table: 'executions', index: ['executions_org_space_idx'] },
  { name: 'executions by parent (member)', path: '/api/v1/executions?parentExecutionId=exec_x', actor: 'member', table: 'executions', index: ['executions_parent_idx'] },
  { name: 'executions since', path: '/api/v1/executions?since=2026-01-01T00:00:00Z', table: 'executions', index: ['executions_org_time_idx'] },
  { name: 'own tokens', path: '/api/v1/tokens', table: 'personal_access_tokens', index: ['pat_user_org_idx'] },
  { name: 'own tokens by status', path: '/api/v1/tokens?status=active', table: 'personal_access_tokens', index: ['pat_user_org_idx'] },
  { name: 'all tokens', path: '/api/v1/tokens?all=true', table: 'personal_access_tokens', index: ['pat_org_idx'] },
  { name: 'audit', path: '/api/v1/audit-events', table: 'audit_events', index: ['audit_org_time_idx'] },
  { name: 'audit by type', path: '/api/v1/audit-events?type=token.created', table: 'audit_events', index: ['audit_org_type_idx'] },
  { name: 'audit by token', path: '/api/v1/audit-events?tokenId=pat_x', table: 'audit_events', index: ['audit_token_idx'] },
  { name: 'audit by actor', path: '/api/v1/audit-events?userId=user_x', table: 'audit_events', index: ['audit_actor_idx'] },
  { name: 'members', path: () => `/api/v1/organizations/${admin.organizationId}/members`, table: 'memberships', index: ['memberships_org_time_idx'] },
  { name: 'audit since', path: '/api/v1/audit-events?since=2026-01-01T00:00:00Z', table: 'audit_events', index: ['audit_org_time_idx'] },
]

function plan(sql: string): string[] {
  return (t.db.$client.query(`EXPLAIN QUERY PLAN ${sql}`).all() as { detail: string }[]).map((r) => r.detail)
}

/** The statements each case prepared: its pages (first and after a cursor) and its count. */
const statements = new Map<string, { pages: string[]; count?: string }>()

function checkPage(c: Case, sql: string) {
  const p = plan(sql)
  const where = `${c.name}: ${p.join(' | ')}`
  expect(p.some((l) => c.index.some((i) => new RegExp(`^SEARCH ${c.table} USING (COVERING )?INDEX ${i} \\(`).test(l))), where).toBe(true)
  expect(p.some((l) => l.includes('TEMP B-TREE')), where).toBe(false)
  expect(p.some((l) => l.startsWith(`SCAN ${c.table}`)), where).toBe(false)
  // A visibility rule that looks at the row's space does so by primary key, never by a scan.
  expect(p.some((l) => l.startsWith('SCAN spaces') || (l.startsWith('SEARCH spaces') && c.table !== 'spaces' && !l.includes('(id=?)'))), where).toBe(false)
}

function checkCount(c: Case, sql: string) {
  const p = plan(sql)
  const where = `${c.name} (count): ${p.join(' | ')}`
  expect(p.some((l) => new RegExp(`^SEARCH ${c.table} USING (COVERING )?INDEX `).test(l)), where).toBe(true)
  expect(p.some((l) => l.startsWith(`SCAN ${c.table}`)), where).toBe(false)
}

describe.skipIf(sqliteOnly('EXPLAIN QUERY PLAN is SQLite\'s; PostgreSQL plans its own way'))('each list walks its own index, without sorting or scanning the table', () => {
  for (const c of cases) {
    test(c.name, async () => {
      const before = preparedSql()
      const token = c.actor === 'none' ? undefined : c.actor === 'member' ? member.token : admin.token
      const res = await t.req('GET', typeof c.path === 'string' ? c.path : c.path(), { token })
      expect(res.status).toBe(200)
      const fresh = [...preparedSql()].filter(([key]) => !before.has(key)).flatMap(([, sql]) => sql)
      const mine = fresh.filter((s) => s.includes(`from "${c.table}"`))
      const pages = mine.filter((s) => /order by/i.test(s))
      const count = mine.find((s) => s.includes('count(*)'))
      // Both page statements (the first page and the one after a cursor) are prepared at once.
      expect(pages.length, `${c.name}: no statement captured (another case prepared the same one?)`).toBe(2)
      if (c.table !== 'executions') expect(count).toBeDefined()
      statements.set(c.name, { pages, count })
      for (const s of pages) checkPage(c, s)
      if (count) checkCount(c, count)
    })
  }

  test('the same plans once ANALYZE has statistics of a populated database', async () => {
    const now = t.clock.now()
    const other = await makeActor(t, { role: 'admin', org: 'other' })
    for (const owner of [admin, other]) {
      const o = { now, step: 1000 }
      const agentIds = seedAgents(t.db, owner, 400, o)
      const spaceIds = seedSpaces(t.db, owner, 100, o)
      seedTasks(t.db, owner, 1500, { ...o, agentIds, spaceIds })
      seedExecutions(t.db, owner, 600, { ...o, agentIds })
      const tokenIds = seedTokens(t.db, t.rt.box, owner, 200, o)
      seedAudit(t.db, owner, 800, { ...o, tokenIds })
    }
    t.db.$client.exec('ANALYZE')
    expect(statements.size).toBe(cases.length)
    for (const c of cases) {
      const { pages, count } = statements.get(c.name)!
      for (const s of pages) checkPage(c, s)
      if (count) checkCount(c, count)
    }
  })
})
