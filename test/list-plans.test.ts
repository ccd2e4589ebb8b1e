import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { eq, fillPlaceholders } from 'drizzle-orm'
import { PostgresJsPreparedQuery } from 'drizzle-orm/postgres-js'
import { seedAgents, seedAudit, seedExecutions, seedMembers, seedSpaces, seedTasks, seedTokens } from '../bench/seed'
import { TOTAL_CAP } from '../src/db/paging'
import { queryAuditEvents } from '../src/modules/audit/query'
import { listTokensOfUser } from '../src/modules/tokens/service'
import { preparedQueries } from '../src/db/prepared'
import { dbTime, spaces } from '../src/db/schema'
import { makeActor, makeTestApp, type Actor, type TestApp } from './helpers/app'
import { signedInPerson, type ConsoleClient } from './helpers/console'
import { ON_PG, sqliteOnly } from './helpers/pg'
import { describePlan, explainPg, INDEX_SCANS, nodesOf, splitInitPlans, type PgNode } from './helpers/pg-plans'

/**
 * Every list's first-page query (and its capped count) as drizzle sends it to the database: it
 * must walk the index made for that list's filter + order (so a page costs O(limit), whatever the
 * size of the organization), never sort, never scan the table. The SQL is that of the queries
 * real requests prepare (src/db/prepared.ts).
 *
 * SQLite: EXPLAIN QUERY PLAN, on a fresh database and again after ANALYZE (which `PRAGMA
 * optimize` runs at close) on seeded rows.
 *
 * PostgreSQL: EXPLAIN (FORMAT JSON) of the same statements, bound with the values the requests
 * bound, on an organization of 10,000 to 15,000 rows per list (beside another as big) after
 * VACUUM ANALYZE (the statistics and visibility map autovacuum keeps), where the planner has a
 * real choice between the list's index and a scan or a bitmap of another index followed by a
 * sort. Both plans PostgreSQL may run are checked: the custom plan (built for the bound values:
 * the first executions of a prepared statement) and the generic one (built once for any values,
 * which the server switches to after five executions when it looks no dearer). Checking them is
 * what `plan_cache_mode` is set for, on the explaining connection only; no other planner setting
 * is touched (test/helpers/pg-plans.ts).
 */

let t: TestApp
let admin: Actor
let member: Actor

/** Rows the filters of the cases name (made in beforeAll; populate gives them many rows). */
const fx = { agent: '', space: '', token: '' }

/**
 * Rows of every listed table, in the admin's organization and in another as big. The fixtures'
 * agent, space and token are among five that tasks, executions and audit events name: a filter
 * on one matches thousands of rows, not a handful (a few rows are cheaper to sort than to walk
 * to). Half the tokens are the owner's, the rest four other members'.
 *
 * PostgreSQL plans by cost, so its plans are checked on big lists (10,000 to 15,000 rows per
 * organization and list, after VACUUM ANALYZE), where reading the table and sorting would be cheaper
 * than the index were the index not the right one. On an empty schema its choices are arbitrary
 * (a sequential scan of an empty table is the cheapest plan there is): nothing to check there.
 * SQLite plans by the indexes' shape: its plans are checked on an empty database, then on this
 * at a smaller size after ANALYZE.
 */
const SIZES = ON_PG
  ? { tasks: 15_000, executions: 10_000, audit: 10_000, agents: 10_000, spaces: 10_000, tokens: 10_000, members: 10_000 }
  : { tasks: 1500, executions: 600, audit: 800, agents: 400, spaces: 100, tokens: 200, members: 250 }

async function populate() {
  const now = t.clock.now()
  const other = await makeActor(t, { role: 'admin', org: 'other' })
  for (const owner of [admin, other]) {
    const o = { now, step: 1000 }
    const mine = owner === admin
    const n = SIZES
    const agentIds = await seedAgents(t.db, owner, n.agents, o)
    const spaceIds = await seedSpaces(t.db, owner, n.spaces, o)
    const hotAgents = mine ? [fx.agent, ...agentIds.slice(0, 4)] : agentIds.slice(0, 5)
    await seedTasks(t.db, owner, n.tasks, { ...o, agentIds: hotAgents, spaceIds: mine ? [fx.space, ...spaceIds.slice(0, 4)] : spaceIds.slice(0, 5) })
    await seedExecutions(t.db, owner, n.executions, { ...o, agentIds: hotAgents })
    const tokenIds = await seedTokens(t.db, t.rt.box, owner, n.tokens / 2, o)
    const members = await seedMembers(t.db, owner, n.members, o)
    for (const userId of members.slice(0, 4)) await seedTokens(t.db, t.rt.box, { ...owner, userId }, n.tokens / 8, o)
    await seedAudit(t.db, owner, n.audit, { ...o, tokenIds: mine ? [fx.token, ...tokenIds.slice(0, 4)] : tokenIds.slice(0, 5) })
  }
}

/** PostgreSQL: the values each prepared statement was last executed with (read to bind EXPLAIN alike). */
const boundValues = new WeakMap<object, Record<string, unknown>>()
const proto = PostgresJsPreparedQuery.prototype as unknown as Record<'execute' | 'all' | 'get', (this: object, values?: Record<string, unknown>) => unknown>
const ways = ['execute', 'all', 'get'] as const
/** The methods hooked, as they were when the hook went in (after the runtime installed its own: src/db/pg.ts). */
let originals: Record<(typeof ways)[number], (this: object, values?: Record<string, unknown>) => unknown>

beforeAll(async () => {
  t = await makeTestApp()
  admin = await makeActor(t, { role: 'admin' })
  member = await makeActor(t, { role: 'member' })
  const o = { now: t.clock.now() - 3_600_000, step: 1000 }
  fx.agent = (await seedAgents(t.db, admin, 1, o))[0]!
  fx.space = (await seedSpaces(t.db, admin, 1, o))[0]!
  fx.token = (await seedTokens(t.db, t.rt.box, admin, 1, o))[0]!
  // Seen by the member too.
  await t.rt.db.update(spaces).set({ visibility: 'organization', archived: false }).where(eq(spaces.id, fx.space)).run()
  const conn = t.rt.connection
  if (conn.dialect === 'pg') {
    const t0 = performance.now()
    await populate()
    // This schema's tables only (the test database holds every test app's schema).
    await conn.client.unsafe('VACUUM ANALYZE tasks, agents, spaces, executions, personal_access_tokens, audit_events, memberships, users')
    console.log(`list plans: seeded and analyzed in ${((performance.now() - t0) / 1000).toFixed(1)} s`)
    // Observes what drizzle's postgres-js statements are run with, until this file ends: through
    // drizzle's execute, or the all/get that map rows themselves (src/db/pg.ts, executeMapped).
    originals = Object.fromEntries(ways.map((k) => [k, proto[k]])) as typeof originals
    for (const k of ways) {
      proto[k] = function (values) {
        boundValues.set(this, values ?? {})
        return originals[k].call(this, values)
      }
    }
  }
}, 180_000)

afterAll(() => {
  if (originals) for (const k of ways) proto[k] = originals[k]
})

interface Statement {
  getQuery(): { sql: string; params: unknown[] }
}

/** Every query prepared on the app's database so far, by the key it was prepared under. */
function preparedStatements(): Map<string, Statement[]> {
  const out = new Map<string, Statement[]>()
  for (const [key, q] of preparedQueries(t.rt.db)) out.set(key, (typeof (q as any).getQuery === 'function' ? [q] : Object.values(q as object).filter((x) => x !== undefined)) as Statement[])
  return out
}
const sqlOf = (q: Statement) => q.getQuery().sql

interface Case {
  name: string
  /** A function when the path needs an id made in beforeAll. */
  path: string | (() => string)
  actor?: 'admin' | 'member' | 'none'
  table: string
  /** The index the page must walk (any of these). */
  index: string[]
  /**
   * PostgreSQL: other indexes its planner may walk instead, each bounded by the organization
   * and in list order, leaving to the rows it reads a filter its statistics say many pass
   * (archived: about 5% of the seeded rows; the owner: half the organization's tokens; the token:
   * a tenth of the organization's events), and reading the table in its physical order.
   */
  pgAlso?: string[]
  /**
   * PostgreSQL: why its count may read the table (nothing else may): every plan of it reads all
   * the organization's rows, and where the organization is much of the table (half, here) a
   * sequential read of it is the cheaper.
   */
  pgCountMayScan?: string
  /** A web console page (`path` is the console's, asked by a signed-in person of `actor`'s role in the admin's organization). */
  console?: boolean
  /** Columns the page must not read (a console list shows none of them: src/modules/agents/service.ts, listAgentSummaries). */
  without?: string[]
  /** An admin CLI listing: instead of a request, the service call its command makes (with the operator's ctx, as the command has). */
  run?: () => Promise<unknown>
  /** A list of every row of the table (the admin CLI's audit list of every organization): its first page walks its index from its end (SQLite: SCAN … USING INDEX), a later page searches it from the cursor. */
  unfiltered?: boolean
}

/** What an agent or a space holds that can be large: the API's lists send it, the console's do not read it. */
const LARGE_AGENT_COLUMNS = ['system_prompt', 'tags', 'advanced_tools', 'allowed_tools', 'disallowed_tools', 'mcp_types', 'mcp_instance_ids', 'subagent_ids']
const LARGE_SPACE_COLUMNS = ['description', 'instructions', 'agent_refs', 'key']
/** What a token list never reads (SHOWN_TOKEN_COLUMNS): its hash, and the revocation's and rotation's bookkeeping (why it was revoked it reads: its status needs it). */
const UNSHOWN_TOKEN_COLUMNS = ['token_hash', 'revoked_by', 'family_id', 'rotated_from_id', 'expires_limit_at']

const cases: Case[] = [
  { name: 'tasks', path: '/api/v1/tasks', table: 'tasks', index: ['tasks_org_idx'] },
  { name: 'tasks by status', path: '/api/v1/tasks?status=pending', table: 'tasks', index: ['tasks_org_status_idx'] },
  { name: 'tasks by priority', path: '/api/v1/tasks?priority=high', table: 'tasks', index: ['tasks_org_priority_idx'] },
  { name: 'tasks by assignee', path: () => `/api/v1/tasks?assignedTo=${fx.agent}`, table: 'tasks', index: ['tasks_org_assignee_idx'] },
  { name: 'tasks by space', path: () => `/api/v1/tasks?spaceId=${fx.space}`, table: 'tasks', index: ['tasks_org_space_idx'] },
  // Members: the space's visibility is looked up per row by primary key (spaces/access.ts).
  { name: 'tasks (member)', path: '/api/v1/tasks', actor: 'member', table: 'tasks', index: ['tasks_org_idx'] },
  { name: 'tasks by space (member)', path: () => `/api/v1/tasks?spaceId=${fx.space}`, actor: 'member', table: 'tasks', index: ['tasks_org_space_idx'] },
  { name: 'agents (admin)', path: '/api/v1/agents', table: 'agents', index: ['agents_org_idx'], pgAlso: ['agents_org_time_idx'] },
  { name: 'agents (member)', path: '/api/v1/agents', actor: 'member', table: 'agents', index: ['agents_org_idx'], pgAlso: ['agents_org_time_idx'] },
  { name: 'agents with archived', path: '/api/v1/agents?archived=true', table: 'agents', index: ['agents_org_time_idx'] },
  { name: 'agents by visibility', path: '/api/v1/agents?visibility=organization', table: 'agents', index: ['agents_org_visibility_idx', 'agents_org_idx'] },
  { name: 'agents by category', path: '/api/v1/agents?category=support', table: 'agents', index: ['agents_org_category_idx', 'agents_org_idx'] },
  { name: 'agents by name', path: '/api/v1/agents?q=rev', table: 'agents', index: ['agents_org_idx'], pgAlso: ['agents_org_time_idx'], pgCountMayScan: 'a substring filter: counting its matches reads every agent of the organization, whatever the plan' },
  { name: 'public agents', path: '/api/public/agents', actor: 'none', table: 'agents', index: ['agents_visibility_idx'] },
  { name: 'spaces', path: '/api/v1/spaces', table: 'spaces', index: ['spaces_org_idx'], pgAlso: ['spaces_org_time_idx'] },
  { name: 'spaces (member)', path: '/api/v1/spaces', actor: 'member', table: 'spaces', index: ['spaces_org_idx'], pgAlso: ['spaces_org_time_idx'] },
  { name: 'spaces with archived', path: '/api/v1/spaces?archived=true', table: 'spaces', index: ['spaces_org_time_idx'] },
  // The web console's lists: the API's filters and indexes, only the columns they show (and a
  // space's number of secrets, on the secrets' own index).
  { name: 'console agents (admin)', path: '/agents', console: true, table: 'agents', index: ['agents_org_idx'], pgAlso: ['agents_org_time_idx'], without: LARGE_AGENT_COLUMNS },
  { name: 'console agents (member)', path: '/agents', console: true, actor: 'member', table: 'agents', index: ['agents_org_idx'], pgAlso: ['agents_org_time_idx'], without: LARGE_AGENT_COLUMNS },
  { name: 'console spaces (admin)', path: '/spaces', console: true, table: 'spaces', index: ['spaces_org_idx'], pgAlso: ['spaces_org_time_idx'], without: LARGE_SPACE_COLUMNS },
  { name: 'console spaces (member)', path: '/spaces', console: true, actor: 'member', table: 'spaces', index: ['spaces_org_idx'], pgAlso: ['spaces_org_time_idx'], without: LARGE_SPACE_COLUMNS },
  { name: 'console spaces with archived', path: '/spaces?archived=1', console: true, table: 'spaces', index: ['spaces_org_time_idx'], without: LARGE_SPACE_COLUMNS },
  { name: 'executions', path: '/api/v1/executions', table: 'executions', index: ['executions_org_time_idx'] },
  { name: 'executions (member)', path: '/api/v1/executions', actor: 'member', table: 'executions', index: ['executions_org_time_idx'] },
  { name: 'executions by agent', path: () => `/api/v1/executions?agentId=${fx.agent}`, table: 'executions', index: ['executions_org_agent_idx'] },
  { name: 'executions by status', path: '/api/v1/executions?status=completed', table: 'executions', index: ['executions_org_status_idx'] },
  { name: 'executions by space', path: () => `/api/v1/executions?spaceId=${fx.space}`, table: 'executions', index: ['executions_org_space_idx'] },
  { name: 'executions by parent', path: '/api/v1/executions?parentExecutionId=exec_x', table: 'executions', index: ['executions_parent_idx'] },
  { name: 'executions by space (member)', path: () => `/api/v1/executions?spaceId=${fx.space}`, actor: 'member', table: 'executions', index: ['executions_org_space_idx'] },
  { name: 'executions by parent (member)', path: '/api/v1/executions?parentExecutionId=exec_x', actor: 'member', table: 'executions', index: ['executions_parent_idx'] },
  { name: 'executions since', path: '/api/v1/executions?since=2026-01-01T00:00:00Z', table: 'executions', index: ['executions_org_time_idx'] },
  { name: 'own tokens', path: '/api/v1/tokens', table: 'personal_access_tokens', index: ['pat_user_org_idx'], pgAlso: ['pat_org_idx'], without: UNSHOWN_TOKEN_COLUMNS },
  // Active and expired tokens: the partial indexes without the revoked history (on PostgreSQL, where
  // these seeded tokens are all unrevoked, the full ones are as good; test/token-cap-history.test.ts
  // checks the choice on a revoked history).
  { name: 'own tokens by status', path: '/api/v1/tokens?status=active', table: 'personal_access_tokens', index: ['pat_user_org_live_idx'], pgAlso: ['pat_org_live_idx', 'pat_user_org_idx', 'pat_org_idx'], without: UNSHOWN_TOKEN_COLUMNS },
  // TeamDay CLI's list alias: the unrevoked (active or expired), on the same partial index.
  { name: 'own unrevoked tokens (CLI alias)', path: '/api/tokens/list', table: 'personal_access_tokens', index: ['pat_user_org_live_idx'], pgAlso: ['pat_org_live_idx', 'pat_user_org_idx', 'pat_org_idx'], without: UNSHOWN_TOKEN_COLUMNS },
  { name: 'all tokens', path: '/api/v1/tokens?all=true', table: 'personal_access_tokens', index: ['pat_org_idx'], without: UNSHOWN_TOKEN_COLUMNS },
  { name: 'all tokens by status', path: '/api/v1/tokens?all=true&status=active', table: 'personal_access_tokens', index: ['pat_org_live_idx'], pgAlso: ['pat_org_idx'], without: UNSHOWN_TOKEN_COLUMNS },
  { name: 'audit', path: '/api/v1/audit-events', table: 'audit_events', index: ['audit_org_time_idx'] },
  { name: 'audit by type', path: '/api/v1/audit-events?type=token.created', table: 'audit_events', index: ['audit_org_type_idx'] },
  { name: 'audit by token', path: () => `/api/v1/audit-events?tokenId=${fx.token}`, table: 'audit_events', index: ['audit_token_idx'], pgAlso: ['audit_org_time_idx'] },
  // PostgreSQL may walk the admin CLI's index of a person's events in every organization instead
  // (in order too, the organization a filter): here the admin's events are all in one organization,
  // so both are as selective. Picked since that index came (the forty-fourth session).
  { name: 'audit by actor', path: () => `/api/v1/audit-events?userId=${admin.userId}`, table: 'audit_events', index: ['audit_actor_idx'], pgAlso: ['audit_actor_time_idx'] },
  { name: 'members', path: () => `/api/v1/organizations/${admin.organizationId}/members`, table: 'memberships', index: ['memberships_org_time_idx'] },
  { name: 'audit since', path: '/api/v1/audit-events?since=2026-01-01T00:00:00Z', table: 'audit_events', index: ['audit_org_time_idx'] },
  // The admin CLI's listings (src/cli/admin/): `users list` pages the members list above; `tokens
  // list --email` a user's tokens in every organization; `audit list` without --org every
  // organization's events, by each filter. They read and sorted whole before (every token of the
  // user; a person's events in every organization).
  { name: 'admin CLI tokens list --email', path: 'teamday tokens list', table: 'personal_access_tokens', index: ['pat_user_time_idx'], without: UNSHOWN_TOKEN_COLUMNS, run: () => listTokensOfUser(t.ctx, admin.userId, admin.email, { limit: 100 }) },
  { name: 'admin CLI audit list', path: 'teamday audit list', table: 'audit_events', index: ['audit_time_idx'], unfiltered: true, run: () => queryAuditEvents(t.ctx, { organizationId: null, limit: 50, offset: 0 }) },
  { name: 'admin CLI audit list --type', path: 'teamday audit list --type', table: 'audit_events', index: ['audit_type_time_idx'], run: () => queryAuditEvents(t.ctx, { organizationId: null, type: 'token.created', limit: 50, offset: 0 }) },
  { name: 'admin CLI audit list --user-id', path: 'teamday audit list --user-id', table: 'audit_events', index: ['audit_actor_time_idx'], run: () => queryAuditEvents(t.ctx, { organizationId: null, userId: admin.userId, limit: 50, offset: 0 }) },
]

/** A person of the admin's organization signed in to the web console, one per role (the console cases). */
const consolePeople = new Map<string, ConsoleClient>()
async function consolePerson(role: 'admin' | 'member'): Promise<ConsoleClient> {
  if (!consolePeople.has(role)) consolePeople.set(role, (await signedInPerson(t, { role, org: admin.orgSlug })).c)
  return consolePeople.get(role)!
}

function plan(sql: string): string[] {
  return (t.db.$client.query(`EXPLAIN QUERY PLAN ${sql}`).all() as { detail: string }[]).map((r) => r.detail)
}

/**
 * The statements each case prepared: its pages (first and after a cursor), the first page with
 * its count in one statement (lists with a total), its count alone, and the values its first
 * page was run with.
 */
const statements = new Map<string, { pages: Statement[]; counted?: Statement; count?: Statement; values: Record<string, unknown> }>()

function checkPageSqlite(c: Case, sql: string) {
  const p = plan(sql)
  const where = `${c.name}: ${p.join(' | ')}`
  const walk = c.unfiltered ? (i: string) => new RegExp(`^(SCAN ${c.table} USING (COVERING )?INDEX ${i}$|SEARCH ${c.table} USING (COVERING )?INDEX ${i} \\()`) : (i: string) => new RegExp(`^SEARCH ${c.table} USING (COVERING )?INDEX ${i} \\(`)
  expect(p.some((l) => c.index.some((i) => walk(i).test(l))), where).toBe(true)
  expect(p.some((l) => l.includes('TEMP B-TREE')), where).toBe(false)
  expect(p.some((l) => l.startsWith(`SCAN ${c.table}`) && !(c.unfiltered && c.index.some((i) => walk(i).test(l)))), where).toBe(false)
  // A space's secrets (the console's count) on their own index, never by a scan.
  expect(p.some((l) => l.startsWith('SCAN secrets')), where).toBe(false)
  // A visibility rule that looks at the row's space does so by primary key, never by a scan.
  expect(p.some((l) => l.startsWith('SCAN spaces') || (l.startsWith('SEARCH spaces') && c.table !== 'spaces' && !l.includes('(id=?)'))), where).toBe(false)
}

function checkCountSqlite(c: Case, sql: string) {
  const p = plan(sql)
  const where = `${c.name} (count): ${p.join(' | ')}`
  const walk = c.unfiltered ? new RegExp(`^SCAN ${c.table} USING (COVERING )?INDEX `) : new RegExp(`^SEARCH ${c.table} USING (COVERING )?INDEX `)
  expect(p.some((l) => walk.test(l)), where).toBe(true)
  expect(p.some((l) => l.startsWith(`SCAN ${c.table}`) && !walk.test(l)), where).toBe(false)
}

// ── PostgreSQL ──────────────────────────────────────────────────────────────────────────────

/**
 * PostgreSQL's plan of a prepared statement with these values, as the server would run it
 * (test/helpers/pg-plans.ts).
 */
function pgPlan(q: Statement, values: Record<string, unknown>, mode: 'custom' | 'generic'): Promise<PgNode> {
  const conn = t.rt.connection
  if (conn.dialect !== 'pg') throw new Error('PostgreSQL only')
  const { sql, params } = q.getQuery()
  return explainPg(conn.client, sql, fillPlaceholders(params, values), mode)
}

/** A cursor's position for the page after one: near the newest rows (what a second page binds). */
const cursorValues = () => ({ afterT: dbTime(t.clock.now()), afterId: 'z' })

/** The page's rules on a plan's nodes: the list's index serves the order, nothing sorts, no other read of the table. */
function checkPageNodes(c: Case, nodes: PgNode[], where: string) {
  // The list's index serves the order: the table is read through it, and nothing sorts.
  expect(nodes.some((n) => INDEX_SCANS.includes(n['Node Type']) && n['Relation Name'] === c.table && [...c.index, ...(c.pgAlso ?? [])].includes(n['Index Name']!)), where).toBe(true)
  expect(nodes.some((n) => n['Node Type'].endsWith('Sort')), where).toBe(false)
  // Never the whole table, nor a bitmap (it reads every match before the first row comes out).
  expect(nodes.some((n) => n['Relation Name'] === c.table && !INDEX_SCANS.includes(n['Node Type'])), where).toBe(false)
  // A space's secrets (the console's count) on their own index, never by a scan.
  expect(nodes.some((n) => n['Relation Name'] === 'secrets' && !INDEX_SCANS.includes(n['Node Type'])), where).toBe(false)
  // A visibility rule that looks at the row's space does so by primary key, never by a scan.
  if (c.table !== 'spaces') expect(nodes.some((n) => n['Relation Name'] === 'spaces' && n['Index Name'] !== 'spaces_pkey'), where).toBe(false)
}

/** The count's rules: never the whole table, but through an index of the list's filter (in list order, stopping at the cap, or a bitmap of its matches where the planner expects few). */
function checkCountNodes(c: Case, nodes: PgNode[], where: string) {
  const reads = nodes.filter((n) => n['Relation Name'] === c.table)
  expect(reads.length, where).toBeGreaterThan(0)
  if (!c.pgCountMayScan) expect(reads.every((n) => INDEX_SCANS.includes(n['Node Type']) || n['Node Type'] === 'Bitmap Heap Scan'), where).toBe(true)
}

async function checkPagePg(c: Case, q: Statement, values: Record<string, unknown>) {
  for (const mode of ['custom', 'generic'] as const) {
    const root = await pgPlan(q, { ...values, ...cursorValues() }, mode)
    checkPageNodes(c, nodesOf(root), `${c.name} (${mode} plan):\n${describePlan(root)}`)
  }
}

async function checkCountPg(c: Case, q: Statement, values: Record<string, unknown>) {
  for (const mode of ['custom', 'generic'] as const) {
    const root = await pgPlan(q, { ...values, cap: TOTAL_CAP + 1 }, mode)
    checkCountNodes(c, nodesOf(root), `${c.name} (count, ${mode} plan):\n${describePlan(root)}`)
  }
}

/** A first page with its count in one statement: the count runs once (an InitPlan) by the count's rules, the page by the page's. */
async function checkCountedPg(c: Case, q: Statement, values: Record<string, unknown>) {
  for (const mode of ['custom', 'generic'] as const) {
    const root = await pgPlan(q, { ...values, cap: TOTAL_CAP + 1 }, mode)
    const where = `${c.name} (page with its count, ${mode} plan):\n${describePlan(root)}`
    const { main, initPlans } = splitInitPlans(root)
    expect(initPlans.length, where).toBeGreaterThan(0)
    checkPageNodes(c, main, where)
    checkCountNodes(c, initPlans, where)
  }
}

async function checkCase(c: Case) {
  const { pages, counted, count, values } = statements.get(c.name)!
  if (t.backend === 'pg') {
    for (const q of pages) await checkPagePg(c, q, values)
    if (counted) await checkCountedPg(c, counted, values)
    if (count) await checkCountPg(c, count, values)
    return
  }
  for (const q of pages) checkPageSqlite(c, sqlOf(q))
  if (counted) {
    checkPageSqlite(c, sqlOf(counted))
    checkCountSqlite(c, sqlOf(counted))
  }
  if (count) checkCountSqlite(c, sqlOf(count))
}

describe('each list walks its own index, without sorting or scanning the table', () => {
  for (const c of cases) {
    test(c.name, async () => {
      const browser = c.console ? await consolePerson(c.actor === 'member' ? 'member' : 'admin') : null
      const before = preparedStatements()
      const token = c.actor === 'none' ? undefined : c.actor === 'member' ? member.token : admin.token
      if (c.run) await c.run()
      else {
        const res = browser ? await browser.get(typeof c.path === 'string' ? c.path : c.path()) : await t.req('GET', typeof c.path === 'string' ? c.path : c.path(), { token })
        expect(res.status).toBe(200)
      }
      const fresh = [...preparedStatements()].filter(([key]) => !before.has(key)).flatMap(([, qs]) => qs)
      const mine = fresh.filter((q) => sqlOf(q).includes(`from "${c.table}"`))
      const countOnly = (q: Statement) => /^select count\(\*\)/i.test(sqlOf(q))
      // A capped count is a subquery named "matches" (src/db/paging.ts, countQuery); a console
      // page of spaces counts each space's secrets too, which is no list's count.
      const withCount = (q: Statement) => sqlOf(q).includes('"matches"')
      const pages = mine.filter((q) => /order by/i.test(sqlOf(q)) && !withCount(q))
      const counted = mine.find((q) => withCount(q) && !countOnly(q))
      const count = mine.find(countOnly)
      // Both page statements (the first page and the one after a cursor) are prepared at once;
      // the API's lists of large rows also prepare the same two for their rows' sizes
      // (src/db/paging.ts, largePage), checked by the same rules.
      const path = typeof c.path === 'string' ? c.path : c.path()
      const sized = /^\/api\/v1\/(executions|tasks|agents|spaces)\b/.test(path)
      expect(pages.length, `${c.name}: no statement captured (another case prepared the same one?)`).toBe(sized ? 4 : 2)
      if (c.table !== 'executions') {
        expect(count).toBeDefined()
        // On PostgreSQL a list with a total reads its first page and its count in one statement
        // (one round trip, not two), and that is the statement its first page ran; SQLite keeps
        // them apart (src/db/paging.ts, countedPages).
        if (t.backend === 'pg') {
          expect(counted, `${c.name}: no page-with-count statement`).toBeDefined()
          expect(boundValues.get(counted!), `${c.name}: its first page did not run with its count`).toBeDefined()
        } else expect(counted).toBeUndefined()
      }
      // The first page ran (the only one on a fresh database): its values bind the plans.
      const values = t.backend === 'pg' ? [...pages, ...(counted ? [counted] : [])].map((q) => boundValues.get(q)).find((v) => v !== undefined) : {}
      expect(values, `${c.name}: its first page did not run`).toBeDefined()
      statements.set(c.name, { pages, counted, count, values: values! })
      for (const q of [...pages, ...(counted ? [counted] : [])]) for (const col of c.without ?? []) expect(sqlOf(q), `${c.name} reads ${col}`).not.toContain(`"${col}"`)
      // content_bytes only sizes pages, in SQL (storedBytes, an expression): no list reads it as a
      // column of its rows (SQLite computes it anew for every row read).
      for (const q of [...pages, ...(counted ? [counted] : [])]) expect(sqlOf(q), `${c.name} reads content_bytes`).not.toMatch(/(^select |, )("\w+"\.)?"content_bytes"(,| from )/i)
      // PostgreSQL sizes a page by its rows' content_bytes, which it computed when they were
      // written: no jsonb is written out as text to size a page (src/db/paging.ts, storedBytes).
      // An execution's answer counts twice, as it is shown (largeColumnsBytes): the octet_length
      // of a text column is the size it is stored with (the TOAST pointer's), no text is read.
      if (t.backend === 'pg') for (const q of [...pages, ...(counted ? [counted] : [])]) expect(sqlOf(q), `${c.name}: ${sqlOf(q)}`).not.toMatch(/::text|octet_length\("(?!secrets|executions"\."result"\))/)
      await checkCase(c)
    })
  }

  // PostgreSQL: the tests above already ran on a populated, analyzed database (beforeAll).
  test.skipIf(sqliteOnly('on PostgreSQL every plan above is checked on a populated, analyzed database already'))('the same plans once ANALYZE has statistics of a populated database', async () => {
    await populate()
    t.db.$client.exec('ANALYZE')
    expect(statements.size).toBe(cases.length)
    for (const c of cases) await checkCase(c)
  }, 120_000)
})
