/**
 * A database whose every column holds a value somewhere, and its rows read back: what the tests
 * of migrate-data and backup/restore compare row by row, so that a column a copy leaves out fails them.
 */
import { expect } from 'bun:test'
import { asc, getTableColumns } from 'drizzle-orm'
import { drizzle as liteDrizzle } from 'drizzle-orm/bun-sqlite'
import type { PgTable } from 'drizzle-orm/pg-core'
import { getTableConfig as liteConfig, type SQLiteTable } from 'drizzle-orm/sqlite-core'
import { SourceDatabase } from '../../src/db/migrate-data'
import { TABLE_NAMES } from '../../src/db/schema'
import * as liteSchema from '../../src/db/schema/sqlite'
import { decideLogin } from '../../src/modules/cli-auth/service'
import type { Actor, TestApp } from './app'
import { consoleClient, createLink, givePassword, PASSWORD } from './console'
import { CONFIRM_FIELD, CONFIRM_WINDOW_MS } from '../../src/console/sudo'

type TableName = (typeof TABLE_NAMES)[number]

/** Every row of every table, through drizzle's row types, ordered by primary key. */
/**
 * Rows without their generated columns: content_bytes is each database's own count of the row's
 * large columns (PostgreSQL writes jsonb out with a space after each comma), computed, not copied.
 */
export function stored(rows: Record<string, unknown>[], table: SQLiteTable | PgTable): Record<string, unknown>[] {
  const generated = Object.entries(getTableColumns(table)).filter(([, c]) => c.generated !== undefined).map(([k]) => k)
  return rows.map((r) => Object.fromEntries(Object.entries(r).filter(([k]) => !generated.includes(k))))
}

export async function sqliteRows(file: string): Promise<Record<string, unknown[]>> {
  // Its statements are finalized when it closes: a statement left to the garbage collector keeps
  // the closed connection, and its lock on the file, alive in this process, and migrate-data,
  // which takes SQLite's exclusive lock on its source, found the file in use (a collection asked
  // for with Bun.gc(true) did not always find them all: a flaky "in use" in CI).
  const db = new SourceDatabase(file, { readonly: true })
  try {
    const lite = liteDrizzle({ client: db, schema: liteSchema })
    const all: Record<string, unknown[]> = {}
    for (const n of TABLE_NAMES) {
      const t = liteSchema[n] as SQLiteTable
      const pk = liteConfig(t).columns.find((c) => c.primary)!
      all[n] = stored(lite.select().from(t).orderBy(asc(pk)).all(), t)
    }
    return all
  } finally {
    db.close()
  }
}

/**
 * The stored columns (`table.column`) of `tables` that no row of `rows` gives a value: a copy that
 * left such a column out would hold the same rows, so a row-by-row comparison could not tell.
 */
export function neverSet(rows: Record<string, unknown[]>, tables: readonly TableName[]): string[] {
  return tables.flatMap((n) =>
    Object.entries(getTableColumns(liteSchema[n] as SQLiteTable))
      .filter(([k, c]) => c.generated === undefined && !rows[n]!.some((r: any) => r[k] !== null && r[k] !== undefined))
      .map(([k]) => `${n}.${k}`),
  )
}

/**
 * What the API stores only in some cases, so that every column of every table holds a value in
 * some row (checked by neverSet; `t` made with config maxHistoryChars 1): an agent with every
 * field and an archived one; a described space and an archived one, a run and a task in it; an
 * assigned, completed task; a failed run, a delegated child, a continued session whose history
 * was trimmed; a named member, a console password and sign-in (its session), a lockout, a spent
 * one-time link; a CLI sign-in refreshed and one revoked (their code, session and token rows).
 * `session`: a session of one completed turn of the agent `helperAgentId`, which the admin ran.
 */
export async function everyColumnSet(t: TestApp, o: { admin: Actor; member: Actor; helperAgentId: string; session: string }) {
  const { admin, member } = o
  const ok = async (method: string, path: string, token: string, body?: unknown) => {
    const r = await t.req(method, path, { token, body })
    if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${r.text}`)
    return r.body
  }
  const space = (await ok('POST', '/api/v1/spaces', admin.token, { name: 'Described', description: 'what it is for', instructions: 'be careful', visibility: 'organization' })).space
  const lead = await ok('POST', '/api/v1/agents', admin.token, { name: 'Lead', role: 'lead', category: 'research', description: 'leads', systemPrompt: 'Be brief.', model: 'test-model', maxTurns: 5, subagentIds: [o.helperAgentId], visibility: 'organization' })
  const archived = await ok('POST', '/api/v1/agents', admin.token, { name: 'Archived' })
  await ok('DELETE', `/api/v1/agents/${archived.id}`, admin.token)
  await ok('POST', `/api/v1/agents/${lead.id}/execute`, admin.token, { message: `DELEGATE ${o.helperAgentId} look it up`, spaceId: space.id })
  const trimmed = await ok('POST', `/api/v1/agents/${o.helperAgentId}/execute`, admin.token, { message: 'and again', sessionId: o.session })
  expect(trimmed.historyTrimmed).toMatchObject({ turnsSent: 0, turnsOmitted: 1 })
  expect((await t.req('POST', `/api/v1/agents/${lead.id}/execute`, { token: admin.token, body: { message: 'FAIL please' } })).status).toBe(502)
  const gone = await ok('POST', '/api/v1/spaces', admin.token, { name: 'Gone' })
  await ok('DELETE', `/api/v1/spaces/${gone.space.id}`, admin.token)
  const task = await ok('POST', '/api/v1/tasks', admin.token, { title: 'Assigned', assignedTo: member.userId, spaceId: space.id })
  await ok('PATCH', `/api/v1/tasks/${task.id}`, admin.token, { status: 'completed' })
  // People: a named member with a spent set-password link, a console sign-in, a locked-out account.
  const named = await ok('POST', `/api/v1/organizations/${admin.organizationId}/members`, admin.token, { email: 'named@example.com', role: 'viewer', name: 'Named Person' })
  const link = await createLink(t.ctx, named.member?.userId ?? named.userId, admin.organizationId, 'set_password')
  expect((await consoleClient(t).post(link.path, { password: PASSWORD, confirm: PASSWORD })).status).toBe(303)
  await givePassword(t, admin.userId)
  const signedIn = consoleClient(t, { headers: { 'user-agent': 'Mozilla/5.0 (console probe)' } })
  expect((await signedIn.signIn(admin.email)).status).toBe(303)
  // Its password proved again more than two hours on, to make a token (Confirm access): the
  // session's password_confirmed_at.
  t.clock.advance(CONFIRM_WINDOW_MS + 60_000)
  expect((await signedIn.post('/settings/tokens', { name: 'Made after Confirm access', expires: '30', scope: '*', [CONFIRM_FIELD]: PASSWORD })).status).toBe(201)
  await givePassword(t, member.userId)
  for (let i = 0; i < 5; i++) await consoleClient(t).signIn(member.email, 'not the password')
  // CLI sign-ins: one refreshed, one revoked.
  const cliSignIn = async () => {
    const { code } = (await t.req('POST', '/api/auth/cli/initiate', { headers: { 'content-type': 'application/json', 'user-agent': 'teamday-cli/1.0' }, ip: '198.51.100.7' })).body
    await decideLogin(t.ctx, code, { userId: admin.userId, organizationId: admin.organizationId }, 'approve')
    const got = await t.req('GET', `/api/auth/cli/poll?code=${code}`, { ip: '198.51.100.7' })
    expect(got.status).toBe(200)
    return got.body as { refreshToken: string }
  }
  expect((await t.req('POST', '/api/auth/cli/refresh', { body: { refreshToken: (await cliSignIn()).refreshToken }, ip: '198.51.100.8' })).status).toBe(200)
  expect((await t.req('POST', '/api/auth/cli/revoke', { body: { refreshToken: (await cliSignIn()).refreshToken } })).status).toBe(200)
}
