/**
 * "Nothing in plaintext at rest": one workload that sends every kind of sensitive value the server
 * receives, and one scan of what it leaves behind (on SQLite every file of the database: main
 * file, WAL, shared memory; on PostgreSQL a pg_dump of the app's schema, what a backup holds; and
 * the log lines). Every at-rest test runs both, so a new field stored unsealed is caught wherever
 * it comes from, on either backend (the PostgreSQL pass: TEAMDAY_TEST_DATABASE=postgres).
 *
 * Sent: token plaintexts (issued, rotated, failing), token names, a distinctive User-Agent on
 * every request (stored as a token's last use and in audit events), organization and space
 * secret values (set and replaced), a leaked-token report.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { expect } from 'bun:test'
import { makeTestApp, type Actor, type TestApp } from './app'
import { ON_PG, pgDump } from './pg'

export const SENSITIVE = {
  userAgent: 'UniqueAgentString/9.9 (at-rest probe)',
  tokenNames: ['Production Deploy Bot Alpha', 'Nightly Cron Backup Gamma'],
  rotatedName: 'Rotated Release Signer Delta',
  orgSecret: 'OrgSecretPlaintextAlpha-91',
  spaceSecret: 'SpaceSecretPlaintextBeta-42',
  replacedSecret: 'ReplacedSecretPlaintextGamma-17',
  /**
   * The client address every request comes from (injected as the server's socket peer would be).
   * Stored sealed (a token's last-used IP, audit events); the logs may name it (operators need
   * the address of a failed authentication), so it is checked in the database files only.
   */
  ip: '203.0.113.77',
}

/** Request options every workload request carries: the User-Agent (and the client address, see SENSITIVE.ip). */
export function client(token: string, extra: { body?: unknown } = {}) {
  return { token, headers: { 'user-agent': SENSITIVE.userAgent }, ip: SENSITIVE.ip, ...extra }
}

export interface Workload {
  /** Every token plaintext issued or presented during the workload. */
  tokens: string[]
  spaceId: string
}

/** Runs the workload as `admin` (an organization admin, on a file database). */
export async function sensitiveWorkload(t: TestApp, admin: Actor): Promise<Workload> {
  const ok = async (method: string, path: string, opts: Parameters<TestApp['req']>[2]) => {
    const res = await t.req(method, path, opts)
    if (res.status >= 300) throw new Error(`workload ${method} ${path}: ${res.status} ${res.text}`)
    return res.body
  }
  const tokens = [admin.token]
  for (const name of SENSITIVE.tokenNames) {
    const made = await ok('POST', '/api/v1/tokens', client(admin.token, { body: { name } }))
    tokens.push(made.token)
    await ok('GET', '/api/v1/tokens', client(made.token)) // its last use: time, user agent (and address)
  }
  const toRotate = await ok('POST', '/api/v1/tokens', client(admin.token, { body: { name: SENSITIVE.rotatedName } }))
  const rotated = await ok('POST', `/api/v1/tokens/${toRotate.id}/rotate`, client(toRotate.token, { body: {} }))
  tokens.push(toRotate.token, rotated.token)
  await ok('GET', '/api/v1/tokens/self', client(rotated.token))
  // A failing token (audited as a rotated-away or revoked one) and a leak report of a live one.
  await t.req('GET', '/api/v1/tokens', client(toRotate.token))
  const leaked = await ok('POST', '/api/v1/tokens', client(admin.token, { body: { name: 'leaked soon' } }))
  tokens.push(leaked.token)
  await ok('POST', '/api/v1/credentials/revoke', { headers: { 'user-agent': SENSITIVE.userAgent }, ip: SENSITIVE.ip, body: { credentials: [leaked.token] } })

  const space = await ok('POST', '/api/v1/spaces', client(admin.token, { body: { name: 'At rest', visibility: 'organization' } }))
  const spaceId = space.space.id as string
  await ok('POST', `/api/v1/organizations/${admin.organizationId}/env`, client(admin.token, { body: { secrets: { ORG_ONE: SENSITIVE.orgSecret } } }))
  await ok('POST', `/api/v1/spaces/${spaceId}/secrets`, client(admin.token, { body: { secrets: { SPACE_ONE: SENSITIVE.replacedSecret } } }))
  await ok('POST', `/api/v1/spaces/${spaceId}/secrets`, client(admin.token, { body: { secrets: { SPACE_ONE: SENSITIVE.spaceSecret } } }))
  await ok('GET', `/api/v1/spaces/${spaceId}`, client(admin.token))
  await ok('GET', '/api/v1/audit-events', client(admin.token))
  return { tokens, spaceId }
}

/** Every plaintext the workload sent that must not be found at rest. */
export function plaintexts(w: Workload): string[] {
  const values = [SENSITIVE.userAgent, ...SENSITIVE.tokenNames, SENSITIVE.rotatedName, SENSITIVE.orgSecret, SENSITIVE.spaceSecret, SENSITIVE.replacedSecret, ...w.tokens]
  if (SENSITIVE.ip) values.push(SENSITIVE.ip)
  return values
}

export interface AtRest {
  /** Every file of the database directory (SQLite), or a pg_dump of the app's schema (PostgreSQL), as latin1 text. */
  files: string
  logs: string
}

/**
 * An app for an at-rest scan: on SQLite a database file in `dir` (its files are what is scanned),
 * on the PostgreSQL pass a fresh schema (dumped by readAtRest).
 */
export function atRestApp(dir: string, opts: Parameters<typeof makeTestApp>[0] = {}): Promise<TestApp> {
  return makeTestApp(ON_PG ? opts : { ...opts, dbPath: join(dir, 'teamday.db') })
}

/**
 * What the app left at rest, and its log lines. SQLite: checkpoints and closes the database,
 * then reads every file in `dir`. PostgreSQL: a plain pg_dump of the app's schema (every row, as
 * a backup holds it), then closes the app.
 */
export async function readAtRest(t: TestApp, dir: string): Promise<AtRest> {
  if (t.pg) {
    const files = await pgDump(t.pg.url, t.pg.schema)
    await t.rt.close()
    return { files, logs: t.logs.join('\n') }
  }
  t.db.$client.exec('PRAGMA wal_checkpoint(TRUNCATE)')
  t.rt.close()
  const names = readdirSync(dir)
  const files = Buffer.concat(names.map((f) => readFileSync(join(dir, f)))).toString('latin1')
  return { files, logs: t.logs.join('\n') }
}

/** No plaintext (nor a long piece of one: a token body without its prefix) in the files or the logs. */
export function expectNoPlaintext(found: AtRest, values: string[]) {
  for (const v of values) {
    const pieces = [v, v.slice(0, 16), v.startsWith('td_') ? v.slice(3) : v.slice(-16)]
    for (const p of pieces) {
      expect({ value: v, piece: p, inDatabase: found.files.includes(p) }).toEqual({ value: v, piece: p, inDatabase: false })
      if (v === SENSITIVE.ip) continue // the logs may name the client address, the database never
      expect({ value: v, piece: p, inLogs: found.logs.includes(p) }).toEqual({ value: v, piece: p, inLogs: false })
    }
  }
}

/**
 * An agent's `teamday_api` tool (src/engine/api-tool.ts): a space holding a fresh token of
 * `admin` as TEAMDAY_TOKEN, and a run whose model (the provider double of test/helpers/providers.ts,
 * which the app must be configured with) calls GET /api/v1/tokens/self and POST /api/v1/tasks
 * with it; the tool result is repeated in the answer. Returns the token, which must be found
 * nowhere at rest: not in the execution, its messages, tool calls or log rows, nor a log line.
 */
export async function agentApiToolWorkload(t: TestApp, admin: Actor): Promise<string[]> {
  const ok = async (method: string, path: string, body?: unknown) => {
    const res = await t.req(method, path, client(admin.token, { body }))
    if (res.status >= 300) throw new Error(`workload ${method} ${path}: ${res.status} ${res.text}`)
    return res.body
  }
  const made = await ok('POST', '/api/v1/tokens', { name: 'Space agent token' })
  const space = await ok('POST', '/api/v1/spaces', { name: 'Agent API', visibility: 'organization' })
  await ok('POST', `/api/v1/spaces/${space.space.id}/secrets`, { secrets: { TEAMDAY_TOKEN: made.token } })
  const agent = await ok('POST', '/api/v1/agents', { name: 'API caller', role: 'operator' })
  for (const message of ['TEAMDAY_API GET /api/v1/tokens/self', 'TEAMDAY_API POST /api/v1/tasks {"title":"From an agent"}']) {
    const run = await ok('POST', `/api/v1/agents/${agent.id}/execute`, { message, spaceId: space.space.id })
    if (!String(run.result).startsWith('Delegated: HTTP 20')) throw new Error(`workload: the agent's API call did not succeed: ${String(run.result).slice(0, 300)}`)
  }
  return [made.token]
}
