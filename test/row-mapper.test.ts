// The compiled row mapper (src/db/row-mapper.ts) against drizzle's own mapResultRow, on every
// table of a populated database (the route tests' world: agents, spaces, secrets, tasks,
// executions and their logs, tokens, audit events, sessions…), on this suite's backend: the same
// objects, the same keys in the same order, for flat rows and for rows nested as a list's first
// page with its count is (`{ row: {…}, n }`, src/db/paging.ts countedPages).
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import * as drizzle from 'drizzle-orm'
import { eq, getTableColumns, getTableName, is, sql, Table } from 'drizzle-orm'
import * as schema from '../src/db/schema'
import { sqliteConnection } from '../src/runtime'
import { compiledRowMapper } from '../src/db/row-mapper'
import { preparedQueries } from '../src/db/prepared'
import { cliLogin, makeWorld, type World } from './helpers/world'

let w: World
beforeAll(async () => {
  w = await makeWorld()
  // The CLI's sign-in tables too (a login code, a session, an access token).
  await cliLogin(w.t, w.who.memberA)
})
afterAll(() => w.double.stop())

/** drizzle's own row mapping (exported at run time, not in its types). */
const mapResultRow = (drizzle as unknown as { mapResultRow(fields: unknown, row: unknown[], joins: unknown): Record<string, unknown> }).mapResultRow

interface Prepared {
  getQuery(): { sql: string; params: unknown[] }
  fields?: { path: string[]; field: unknown }[]
  joinsNotNullableMap?: Record<string, boolean>
}

/** The rows of a prepared query as the driver gives them: value arrays, before any mapping. */
async function rawRows(q: Prepared): Promise<unknown[][]> {
  const { sql: text, params } = q.getQuery()
  const conn = w.t.rt.connection
  if (conn.dialect === 'pg') return (await conn.client.unsafe(text, params as never[]).values()) as unknown[][]
  return sqliteConnection(w.t.rt).client.query(text).values(...(params as never[])) as unknown[][]
}

function sameMapping(q: Prepared, rows: unknown[][]) {
  const mapper = compiledRowMapper(q)
  expect(mapper).toBeDefined()
  const ours = rows.map(mapper!)
  const drizzles = rows.map((r) => mapResultRow(q.fields, r, q.joinsNotNullableMap))
  expect(ours).toEqual(drizzles)
  // Key order too (it is the JSON's order), and Dates, JSON values and booleans as drizzle gives them.
  expect(JSON.stringify(ours)).toBe(JSON.stringify(drizzles))
  for (let i = 0; i < ours.length; i++) {
    for (const [k, v] of Object.entries(drizzles[i]!)) {
      if (v instanceof Date) expect((ours[i] as Record<string, unknown>)[k]).toBeInstanceOf(Date)
    }
  }
}

const tables = () => (Object.values(schema) as unknown[]).filter((v): v is Table => is(v, Table))

describe('compiled row mapping', () => {
  test('every table, every column: the objects drizzle maps', async () => {
    const db = w.t.rt.db as any
    let seen = 0
    const empty: string[] = []
    for (const table of tables()) {
      const q = db.select().from(table).prepare() as Prepared
      const rows = await rawRows(q)
      if (rows.length === 0) empty.push(getTableName(table))
      seen += rows.length
      sameMapping(q, rows)
    }
    // Not vacuous: the world has rows in the tables the lists read.
    expect(seen, `rows: ${seen}; empty: ${empty.join(", ")}`).toBeGreaterThan(30)
    for (const name of ['agents', 'spaces', 'secrets', 'tasks', 'executions', 'execution_logs', 'personal_access_tokens', 'audit_events', 'users', 'memberships', 'cli_sessions', 'cli_access_tokens']) expect(empty).not.toContain(name)
  })

  test('rows nested as a first page with its count', async () => {
    const db = w.t.rt.db as any
    for (const table of tables()) {
      const q = db.select({ row: getTableColumns(table), n: sql<number>`1`.mapWith(Number).as('n') }).from(table).prepare() as Prepared
      expect(q.fields!.some((f) => f.path.length === 2)).toBe(true)
      sameMapping(q, await rawRows(q))
    }
  })

  test('the lists\' own statements are mapped by it (their first page with its count on PostgreSQL too)', async () => {
    for (const path of ['/api/v1/tasks', '/api/v1/agents', '/api/v1/spaces', '/api/v1/executions', '/api/v1/tokens']) {
      expect((await w.t.req('GET', path, { token: w.who.adminA.token })).status).toBe(200)
    }
    const lists = [...preparedQueries(w.t.rt.db)].filter(([key]) => /^(tasks|agents|spaces|executions|tokens)\.list/.test(key))
    expect(lists.length).toBeGreaterThanOrEqual(5)
    for (const [key, qs] of lists) {
      for (const [name, q] of Object.entries(qs as Record<string, Prepared>)) {
        if (q && typeof q.getQuery === 'function') expect(compiledRowMapper(q), `${key}.${name}`).toBeDefined()
      }
    }
  })

  test('a join whose nested objects drizzle may null out, or a custom mapper: left to drizzle', () => {
    const db = w.t.rt.db as any
    const { agents, users } = schema
    const joined = db.select({ agent: agents, user: users }).from(agents).leftJoin(users, eq(users.id, agents.userId)).prepare()
    expect(compiledRowMapper(joined)).toBeUndefined()
    expect(compiledRowMapper({ fields: [], customResultMapper: () => [] })).toBeUndefined()
    expect(compiledRowMapper({})).toBeUndefined()
  })
})
