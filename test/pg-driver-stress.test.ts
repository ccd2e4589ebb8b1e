/**
 * The PostgreSQL driver under load (issue 15: "a driver stress test … stays in CI"): thousands
 * of concurrent prepared queries with mixed types through the project's own connection
 * (src/db/pg.ts: postgres-js' pool under drizzle), every row checked field by field. What it
 * guards against is a driver that answers a query with another query's rows, or that maps a type
 * wrongly under pipelining (drizzle's bun-sql adapter stores jsonb as a JSON string; Bun.SQL had
 * wrong-result bugs): text with every kind of Unicode, integers up to int4's limits, booleans,
 * millisecond timestamptz (and nulls in each), jsonb with nested objects, arrays, big and small
 * numbers, nulls and Unicode keys.
 *
 * The rows are generated from a seed (printed on failure): the same seed gives the same rows.
 * Needs PostgreSQL (test/helpers/pg.ts): skipped with one line where none answers, a failure in CI.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { and, asc, eq, gt, sql } from 'drizzle-orm'
import type { PostgresJsDatabase } from 'drizzle-orm/postgres-js'
import { openPostgres, type PgConnection } from '../src/db/pg'
import { prepared } from '../src/db/prepared'
import * as pg from '../src/db/schema/pg'
import { freshPgSchema, needPostgres } from './helpers/pg'

const HAVE_PG = await needPostgres('test/pg-driver-stress.test.ts')
const SEED = Number(process.env.TEAMDAY_STRESS_SEED ?? Date.now() % 1_000_000)
const COUNTS = { executions: 1000, tasks: 700, agents: 300 }

/** mulberry32: a small seeded generator (the rows must be reproducible from SEED). */
function rng(seed: number) {
  let a = seed >>> 0
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const int = (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1))
  const pick = <T>(xs: readonly T[]): T => xs[int(0, xs.length - 1)]!
  const maybe = <T>(v: () => T, pNull = 0.3): T | null => (next() < pNull ? null : v())
  return { next, int, pick, maybe }
}
type Rng = ReturnType<typeof rng>

// Text that drivers and encodings get wrong: multi-byte, astral plane, combining marks, joiners,
// right-to-left, quotes, backslashes, SQL-looking and JSON-looking text, control characters
// PostgreSQL accepts (NUL it does not), and long strings.
const PIECES = ['plain', 'émigré', 'naïve café', '日本語テキスト', '한국어', 'Ελληνικά', 'עברית', 'العربية', '😀🎉', '👩‍👩‍👧‍👦', 'e\u0301', '\u200b', "it's", '"quoted"', 'back\\slash', "'); DROP TABLE tasks; --", '{"json":"looking"}', '$1 $2', 'tab\there', 'new\nline', '\r\n', '\u0007bell', '  ', '𝔘𝔫𝔦𝔠𝔬𝔡𝔢', '∑∫√∞', '%_like_%', '\u00a0nbsp']

function text(r: Rng, max = 12): string {
  const n = r.int(1, max)
  let s = ''
  for (let i = 0; i < n; i++) s += r.pick(PIECES) + (r.next() < 0.5 ? ' ' : '')
  if (r.next() < 0.01) s += 'x'.repeat(r.int(1000, 8_000))
  return s
}

/** Integers across int4: 0, both limits, small, large, negative. */
function int4(r: Rng): number {
  return r.pick([0, 1, -1, 2_147_483_647, -2_147_483_648, r.int(0, 100), r.int(-1_000_000, 1_000_000), r.int(0, 2_147_483_647)])
}

/** A millisecond instant from 1970 to 2200 (timestamptz(3) keeps exactly what a Date holds). */
function instant(r: Rng): Date {
  return new Date(r.pick([0, 1, 946_684_800_123, r.int(0, 7_258_118_400_000), Date.UTC(2026, 1, 28, 23, 59, 59, 999), Date.UTC(2200, 0, 1)]))
}

/** JSON values jsonb keeps as they are (no NUL, no lone surrogates; numbers that round-trip). */
function jsonValue(r: Rng, depth = 0): unknown {
  const kind = r.int(0, depth > 3 ? 4 : 7)
  switch (kind) {
    case 0:
      return null
    case 1:
      return r.next() < 0.5
    case 2:
      return r.pick([0, 1, -1, 2 ** 53 - 1, -(2 ** 53 - 1), 2 ** 31, 1.5, -0.25, 1e-10, 6.02214076e23, 1e300, 3.141592653589793, r.int(-1e9, 1e9)])
    case 3:
    case 4:
      return text(r, 4)
    case 5:
      return Array.from({ length: r.int(0, 5) }, () => jsonValue(r, depth + 1))
    default: {
      const o: Record<string, unknown> = {}
      for (let i = r.int(0, 5); i > 0; i--) o[r.pick(['a', 'key', 'ключ', '鍵', '🔑', 'with space', 'a.b', '$ref', '', 'null', String(i)]) + (r.next() < 0.3 ? i : '')] = jsonValue(r, depth + 1)
      return o
    }
  }
}
const jsonObject = (r: Rng) => {
  const o: Record<string, unknown> = {}
  for (let i = r.int(0, 6); i > 0; i--) o[`${r.pick(['k', 'ключ', '🔑', 'x y'])}${i}`] = jsonValue(r, 1)
  return o
}

/** A value in a form compared exactly: Dates by their instant (and as Dates), object keys sorted. */
function canon(v: unknown): unknown {
  if (v instanceof Date) return { $date: Number.isNaN(v.getTime()) ? 'invalid' : v.toISOString() }
  if (Array.isArray(v)) return v.map(canon)
  if (v && typeof v === 'object') return Object.fromEntries(Object.keys(v).sort().map((k) => [k, canon((v as any)[k])]))
  if (typeof v === 'number' && Object.is(v, -0)) return 0
  return v
}
const same = (got: unknown, want: unknown) => JSON.stringify(canon(got)) === JSON.stringify(canon(want))

describe.skipIf(!HAVE_PG)('PostgreSQL driver under load: concurrent prepared queries, every row checked', () => {
  let conn: PgConnection
  let db: PostgresJsDatabase<typeof pg>
  const r = rng(SEED)
  const org = { id: 'org_stress', slug: 'stress', name: 'Stress ünïcödé', createdAt: new Date(1_700_000_000_123) }
  const user = { id: 'user_stress', email: 'stress@example.com', name: null, createdAt: new Date(1_700_000_000_456), passwordHash: null, passwordChangedAt: null, lastSignInAt: null }
  const want = { agents: new Map<string, any>(), tasks: new Map<string, any>(), executions: new Map<string, any>() }

  beforeAll(async () => {
    // A fresh migrated schema of this process's test database, on the server's own pool and
    // settings (TEAMDAY_DB_POOL's largest default).
    const { url, schema } = await freshPgSchema()
    conn = openPostgres(url, { pool: 10, statementTimeoutMs: 30_000, schema })
    db = conn.db as unknown as PostgresJsDatabase<typeof pg>
    await db.insert(pg.organizations).values(org)
    await db.insert(pg.users).values(user)
  }, 60_000)
  afterAll(async () => {
    await conn?.close()
  })

  function agentRow(i: number) {
    const created = instant(r)
    return {
      id: `char_${i}_${r.int(0, 1e9)}`,
      organizationId: org.id,
      userId: user.id,
      name: text(r, 4),
      slug: `agent-${i}`,
      role: r.maybe(() => text(r, 3)),
      systemPrompt: r.maybe(() => text(r)),
      description: r.maybe(() => text(r, 5)),
      category: r.maybe(() => r.pick(['ops', 'dev', 'カテゴリ'])),
      visibility: r.pick(pg.AGENT_VISIBILITIES),
      model: r.maybe(() => r.pick(['gpt-4o-mini', 'claude-sonnet-4-5', 'llama3.1:8b'])),
      tags: Array.from({ length: r.int(0, 4) }, () => text(r, 2)),
      advancedTools: [],
      allowedTools: Array.from({ length: r.int(0, 3) }, () => r.pick(['Read', 'Write', 'Bash', 'ツール'])),
      disallowedTools: [],
      mcpTypes: [],
      mcpInstanceIds: [],
      subagentIds: Array.from({ length: r.int(0, 2) }, () => `char_${r.int(0, 1e6)}`),
      maxTurns: r.maybe(() => int4(r)),
      archived: r.next() < 0.5,
      archivedAt: r.maybe(() => instant(r), 0.5),
      createdAt: created,
      updatedAt: instant(r),
    }
  }

  function taskRow(i: number) {
    return {
      id: `task_${i}_${r.int(0, 1e9)}`,
      organizationId: org.id,
      createdBy: user.id,
      title: text(r, 6),
      description: r.maybe(() => text(r)),
      status: r.pick(pg.TASK_STATUSES),
      priority: r.pick(pg.TASK_PRIORITIES),
      assignedTo: r.maybe(() => `user_${r.int(0, 1e6)}`),
      assigneeType: r.maybe(() => r.pick(pg.ASSIGNEE_TYPES)),
      spaceId: null,
      dueDate: r.maybe(() => instant(r)),
      completedAt: r.maybe(() => instant(r)),
      metadata: jsonObject(r),
      createdAt: instant(r),
      updatedAt: instant(r),
    }
  }

  function executionRow(i: number, agentIds: string[]) {
    const agentId = r.pick(agentIds)
    return {
      id: `exec_${i}_${r.int(0, 1e9)}`,
      organizationId: org.id,
      userId: user.id,
      agentId,
      agentName: text(r, 3),
      agentVisibility: r.pick(pg.AGENT_VISIBILITIES),
      spaceId: null,
      chatId: `chat_${r.int(0, 1e9)}`,
      sessionId: `chat_${r.int(0, 1e9)}`,
      status: r.pick(pg.EXECUTION_STATUSES),
      message: text(r),
      result: r.maybe(() => text(r)),
      error: r.maybe(() => text(r, 3), 0.7),
      errorCode: r.maybe(() => r.pick(['bad_gateway', 'gateway_timeout']), 0.7),
      model: r.maybe(() => 'test-model'),
      provider: r.maybe(() => r.pick(['openai', 'anthropic'])),
      messages: Array.from({ length: r.int(0, 4) }, () => ({ role: r.pick(['user', 'assistant', 'tool']), content: text(r, 5), extra: jsonValue(r, 2) })),
      toolCalls: Array.from({ length: r.int(0, 3) }, () => ({ id: `call_${r.int(0, 1e6)}`, name: r.pick(['delegate', 'read']), input: jsonObject(r), output: jsonValue(r, 1) })),
      parentExecutionId: r.maybe(() => `exec_${r.int(0, 1e6)}`, 0.8),
      rootExecutionId: null,
      delegationDepth: r.int(0, 20),
      delegated: r.int(0, 1) === 1,
      startedAt: r.maybe(() => instant(r)),
      completedAt: r.maybe(() => instant(r)),
      executionTime: r.maybe(() => int4(r)),
      tokensInput: int4(r),
      tokensOutput: int4(r),
      instanceId: r.maybe(() => `inst_${r.int(0, 1e6)}`),
      leaseExpiresAt: r.maybe(() => instant(r)),
      tokenId: r.maybe(() => `pat_${r.int(0, 1e6)}`),
      scopeLimit: r.maybe(() => r.pick([['*'], [], ['agents:execute'], ['agents:read', 'tasks:write', 'audit:read']])),
      historyTrimmed: r.maybe(() => ({ turnsSent: r.int(0, 100), turnsOmitted: r.int(1, 10_000), charsSent: r.int(0, 200_000), maxChars: r.int(1, 2 ** 31 - 1) })),
      writtenBy: r.maybe(() => r.pick([[], ['user_1'], ['user_1', 'user_2', 'user_3']])),
      createdAt: instant(r),
      updatedAt: instant(r),
    } as any
  }

  /** Runs the jobs all at once, in a seeded shuffled order; returns the mismatches. */
  async function concurrently(jobs: (() => Promise<string | null>)[]): Promise<string[]> {
    for (let i = jobs.length - 1; i > 0; i--) {
      const j = r.int(0, i)
      ;[jobs[i], jobs[j]] = [jobs[j]!, jobs[i]!]
    }
    return (await Promise.all(jobs.map((j) => j()))).filter((x): x is string => x !== null)
  }
  // content_bytes is PostgreSQL's own count of a row's large columns (a generated column), not a value sent.
  const sent = (row: unknown): unknown => (Array.isArray(row) ? row.map(sent) : row && typeof row === 'object' && 'contentBytes' in row ? (({ contentBytes: _, ...rest }) => rest)(row as { contentBytes: unknown }) : row)
  const diff = (what: string, got: unknown, expected: unknown) => (same(sent(got), expected) ? null : `${what} (seed ${SEED}):\n got  ${String(JSON.stringify(canon(got))).slice(0, 800)}\n want ${JSON.stringify(canon(expected)).slice(0, 800)}`)

  test(`${COUNTS.agents + COUNTS.tasks + COUNTS.executions} concurrent inserts of mixed tables, built per call as services do; each returned row is the row sent`, async () => {
    const agents = Array.from({ length: COUNTS.agents }, (_, i) => agentRow(i))
    // Agents first (executions refer to them), also concurrently. Inserts are built per call, as
    // the services write them: drizzle fills a placeholder of a nullable timestamp column through
    // the column's encoder, null included (TypeError: null is not an object), so services bind
    // placeholders only in WHERE clauses, and so does this test.
    const agentMisses = await concurrently(
      agents.map((a) => async () => {
        want.agents.set(a.id, a)
        const got = await (db.insert(pg.agents).values(a).returning() as any).get()
        return diff(`agent ${a.id} as returned`, got, a)
      }),
    )
    expect(agentMisses).toEqual([])

    const agentIds = agents.map((a) => a.id)
    const tasks = Array.from({ length: COUNTS.tasks }, (_, i) => taskRow(i))
    const execs = Array.from({ length: COUNTS.executions }, (_, i) => executionRow(i, agentIds))
    const t0 = performance.now()
    const misses = await concurrently([
      ...tasks.map((t) => async () => {
        want.tasks.set(t.id, t)
        const got = await (db.insert(pg.tasks).values(t).returning() as any).get()
        return diff(`task ${t.id} as returned`, got, t)
      }),
      ...execs.map((e) => async () => {
        const got = await (db.insert(pg.executions).values(e).returning() as any).get()
        // seq is the database's (an identity): the row sent plus the number it got.
        if (!Number.isInteger(got?.seq) || got.seq < 1) return `execution ${e.id}: seq ${got?.seq} is not a generated number`
        want.executions.set(e.id, { ...e, seq: got.seq })
        return diff(`execution ${e.id} as returned`, got, { ...e, seq: got.seq })
      }),
    ])
    const ms = performance.now() - t0
    expect(misses.slice(0, 3)).toEqual([])
    expect(misses.length).toBe(0)
    expect(new Set([...want.executions.values()].map((e) => e.seq)).size).toBe(COUNTS.executions)
    // Counts through the raw driver (count(*) is int8: postgres-js gives it as a string).
    const counts = await conn.client`SELECT (SELECT count(*) FROM agents) AS agents, (SELECT count(*) FROM tasks) AS tasks, (SELECT count(*) FROM executions) AS executions`
    expect(counts[0]).toEqual({ agents: String(COUNTS.agents), tasks: String(COUNTS.tasks), executions: String(COUNTS.executions) })
    console.log(`pg-driver-stress: ${tasks.length + execs.length} concurrent inserts in ${ms.toFixed(0)} ms (seed ${SEED})`)
  }, 60_000)

  test('thousands of concurrent prepared reads of mixed tables (by id, by keyset page, raw jsonb): every row exactly as written', async () => {
    expect(want.executions.size).toBe(COUNTS.executions) // the inserts ran
    // The services' way: prepared once on the handle with placeholders, bound per call.
    const byId = {
      agent: prepared(conn.db, 'stress.agentById', () => db.select().from(pg.agents).where(eq(pg.agents.id, sql.placeholder('id'))).prepare('stress_agent_by_id')) as any,
      task: prepared(conn.db, 'stress.taskById', () => db.select().from(pg.tasks).where(eq(pg.tasks.id, sql.placeholder('id'))).prepare('stress_task_by_id')) as any,
      exec: prepared(conn.db, 'stress.execById', () => db.select().from(pg.executions).where(eq(pg.executions.id, sql.placeholder('id'))).prepare('stress_exec_by_id')) as any,
    }
    // A keyset page of tasks after an id (its rows must be the ones after it, in order).
    const page = prepared(conn.db, 'stress.taskPage', () =>
      db.select().from(pg.tasks).where(and(eq(pg.tasks.organizationId, sql.placeholder('org')), gt(pg.tasks.id, sql.placeholder('after')))).orderBy(asc(pg.tasks.id)).limit(sql.placeholder('limit')).prepare('stress_task_page'),
    ) as any
    const sortedTaskIds = [...want.tasks.keys()].sort()
    const jobs: (() => Promise<string | null>)[] = []
    // Every row twice (the two reads of one row land at different moments, on different connections).
    for (let twice = 0; twice < 2; twice++) {
      for (const [id, row] of want.agents) jobs.push(async () => diff(`agent ${id}`, await byId.agent.get({ id }), row))
      for (const [id, row] of want.tasks) jobs.push(async () => diff(`task ${id}`, await byId.task.get({ id }), row))
      for (const [id, row] of want.executions) jobs.push(async () => diff(`execution ${id}`, await byId.exec.get({ id }), row))
    }
    for (let i = 0; i < 300; i++) {
      const from = r.int(0, sortedTaskIds.length - 1)
      const limit = r.int(1, 20)
      jobs.push(async () => {
        const rows = await page.all({ org: org.id, after: sortedTaskIds[from], limit })
        const expected = sortedTaskIds.slice(from + 1, from + 1 + limit).map((id) => want.tasks.get(id))
        return diff(`task page after ${sortedTaskIds[from]} (${limit})`, rows, expected)
      })
    }
    // jsonb and integers through the raw driver, parameters typed by PostgreSQL (timestamps come
    // as text there: drizzle's postgres-js driver leaves their parsing to its columns).
    for (const [id, row] of want.executions) {
      jobs.push(async () => {
        const [got] = await conn.client`SELECT tool_calls, messages, tokens_input, delegation_depth, lease_expires_at FROM executions WHERE id = ${id}`
        return diff(`raw execution ${id}`, { toolCalls: got!.tool_calls, messages: got!.messages, tokensInput: got!.tokens_input, delegationDepth: got!.delegation_depth, lease: got!.lease_expires_at === null ? null : new Date(got!.lease_expires_at) }, { toolCalls: row.toolCalls, messages: row.messages, tokensInput: row.tokensInput, delegationDepth: row.delegationDepth, lease: row.leaseExpiresAt })
      })
    }
    expect(jobs.length).toBeGreaterThanOrEqual(5000)
    const t0 = performance.now()
    const misses = await concurrently(jobs)
    const ms = performance.now() - t0
    expect(misses.slice(0, 3)).toEqual([])
    expect(misses.length).toBe(0)
    console.log(`pg-driver-stress: ${jobs.length} concurrent prepared reads in ${ms.toFixed(0)} ms (seed ${SEED})`)
  }, 60_000)

  test('concurrent updates of every type, each followed by a read of the same row, interleaved with reads of other rows', async () => {
    const readTask = prepared(conn.db, 'stress.taskById', () => db.select().from(pg.tasks).where(eq(pg.tasks.id, sql.placeholder('id'))).prepare('stress_task_by_id')) as any
    const readAgent = prepared(conn.db, 'stress.agentById', () => db.select().from(pg.agents).where(eq(pg.agents.id, sql.placeholder('id'))).prepare('stress_agent_by_id')) as any
    const jobs: (() => Promise<string | null>)[] = []
    for (const [id, row] of want.tasks) {
      jobs.push(async () => {
        const next = { ...row, title: text(r, 4), description: r.maybe(() => text(r)), dueDate: r.maybe(() => instant(r)), metadata: jsonObject(r), updatedAt: instant(r) }
        const returned = await (db.update(pg.tasks).set({ title: next.title, description: next.description, dueDate: next.dueDate, metadata: next.metadata, updatedAt: next.updatedAt }).where(eq(pg.tasks.id, id)).returning() as any).get()
        const read = await readTask.get({ id })
        return diff(`updated task ${id} as returned`, returned, next) ?? diff(`updated task ${id} read back`, read, next)
      })
    }
    for (const [id, row] of want.agents) jobs.push(async () => diff(`agent ${id} during updates`, await readAgent.get({ id }), row))
    const misses = await concurrently(jobs)
    expect(misses.slice(0, 3)).toEqual([])
    expect(misses.length).toBe(0)
  }, 60_000)
})
