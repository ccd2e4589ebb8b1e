// Soak: does a long, varied workload leave teamday's memory, file descriptors, database
// connections and housekeeping tables bounded? Runs the compiled binary (or the source) under a
// mix of every kind of request for SOAK_MINUTES (default 12), samples the process every
// SOAK_SAMPLE_S seconds (default 30), and prints each sample and a verdict: the growth per hour
// of RSS, open fds, threads and each table's rows over the second half of the run (the first
// half is warm-up: JIT tiers, caches and pools filling up), which a bounded server keeps near 0.
//
//   npm run build && bun bench/soak.ts dist/teamday                          (SQLite, a temporary file)
//   bun bench/soak.ts dist/teamday --db postgres://postgres@127.0.0.1:5432/postgres
//       (creates the database SOAK_PG_DB, default teamday_soak, on that server; dropped at the end)
//   SOAK_MINUTES=12 SOAK_SAMPLE_S=30 SOAK_WORKERS=8 SOAK_DIR=/tmp/soak bun bench/soak.ts dist/teamday
//   SOAK_PORT / SOAK_PROVIDER_PORT: the server's and the provider double's ports (default: any free one)
//
// The workload (SOAK_WORKERS loops, each drawing its next action at random): tokens created,
// rotated and revoked; authenticated lists and GETs of every resource; tasks, agents and spaces
// created, updated and deleted; executions against a provider double speaking the OpenAI API
// over HTTP (test/helpers/providers.ts): sync, streamed and read to the end, streamed and dropped
// after the first events, async and then cancelled; CLI browser sign-ins (initiate, approval in
// the console with a session cookie, poll, use, refresh, revoke); console pages with that cookie,
// and new console sign-ins now and then; bad requests (no token, a wrong token, 404s, 422s,
// oversized bodies); keep-alive connections opened, used once and abandoned, half-sent requests
// left hanging; and an execution's event stream abandoned without a read.
//
// The database is never opened by this script while the server runs (SQLite's file is only
// stat'ed): rows are counted on PostgreSQL through its own connection, and on SQLite in a copy
// made by `teamday backup` (the admin command meant to run beside the server).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { Database } from 'bun:sqlite'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import postgres from 'postgres'
import { startProviderDouble } from '../test/helpers/providers'
import { isPostgres, listeningPort, pgServerArg, withoutDbArg } from './common'

const argv = process.argv.slice(2)
const PG = pgServerArg(argv)
const BIN = withoutDbArg(argv)[0] ? resolve(withoutDbArg(argv)[0]!) : null
const MINUTES = Number(process.env.SOAK_MINUTES ?? 12)
const SAMPLE_S = Number(process.env.SOAK_SAMPLE_S ?? 30)
const WORKERS = Number(process.env.SOAK_WORKERS ?? 8)
const PG_DB = process.env.SOAK_PG_DB ?? 'teamday_soak'
const dir = process.env.SOAK_DIR ? resolve(process.env.SOAK_DIR) : mkdtempSync(join(tmpdir(), 'teamday-soak-'))
mkdirSync(dir, { recursive: true })

/** The tables whose rows come and go (or should): counted at every sample. */
const TABLES = [
  'sessions', 'idempotency_keys', 'rate_limit_counters', 'audit_events', 'cli_login_codes', 'cli_sessions', 'cli_access_tokens',
  'personal_access_tokens', 'sign_in_failures', 'one_time_links', 'executions', 'execution_logs', 'tasks', 'agents', 'spaces',
]

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(Math.random() * xs.length)]!

// ── database ─────────────────────────────────────────────────────────────────────────────────
let dbArg: string
let pgAdmin: postgres.Sql | null = null
let pgDb: postgres.Sql | null = null
if (PG) {
  if (!isPostgres(PG)) throw new Error('--db must be a postgres:// URL')
  pgAdmin = postgres(PG, { max: 1, onnotice: () => {} })
  await pgAdmin.unsafe(`DROP DATABASE IF EXISTS ${PG_DB} WITH (FORCE)`)
  await pgAdmin.unsafe(`CREATE DATABASE ${PG_DB} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'`)
  const u = new URL(PG)
  u.pathname = `/${PG_DB}`
  dbArg = u.toString()
  pgDb = postgres(dbArg, { max: 1, onnotice: () => {} })
} else {
  dbArg = join(dir, 'teamday.db')
}

const double = startProviderDouble(Number(process.env.SOAK_PROVIDER_PORT ?? 0))
const env: Record<string, string> = {
  PATH: process.env.PATH ?? '/usr/bin:/bin',
  HOME: dir,
  XDG_CONFIG_HOME: join(dir, 'config'),
  NODE_ENV: 'production',
  TEAMDAY_DB: dbArg,
  TEAMDAY_LOG_LEVEL: 'warn',
  OPENAI_BASE_URL: double.openaiBaseUrl,
  TEAMDAY_DEFAULT_MODEL: 'test-model',
  TEAMDAY_KEY_FILE: join(dir, 'teamday.key'),
}
const cmd = (args: string[], input?: string) => {
  const r = spawnSync(BIN ?? process.execPath, BIN ? args : [join(import.meta.dir, '..', 'src', 'main.ts'), ...args], { cwd: dir, env, input, encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`teamday ${args.join(' ')}: exit ${r.status}: ${r.stdout} ${r.stderr}`)
  return r.stdout.trim()
}

const PASSWORD = 'soak password 0123456789'
const USERS = ['admin@soak.test', 'm1@soak.test', 'm2@soak.test', 'm3@soak.test']
cmd(['migrate', '--db', dbArg])
for (const [i, email] of USERS.entries()) cmd(['users', 'create', '--email', email, '--org', 'soak', '--role', i === 0 ? 'admin' : 'member', '--db', dbArg])
cmd(['users', 'set-password', '--email', USERS[0]!, '--db', dbArg], PASSWORD + '\n')
/** Long-lived tokens, one per user, for the steady reads (a user's rate limit is shared by their tokens). */
const tokens = USERS.map((email) => cmd(['tokens', 'create', '--email', email, '--name', 'soak', '--db', dbArg]))
const adminToken = tokens[0]!

const server: ChildProcess = spawn(BIN ?? process.execPath, [...(BIN ? [] : [join(import.meta.dir, '..', 'src', 'main.ts')]), 'serve', '--host', '127.0.0.1', '--port', process.env.SOAK_PORT ?? '0'], {
  cwd: dir,
  env,
  stdio: ['ignore', 'pipe', 'pipe'],
})
let stderrTail = ''
server.stderr!.on('data', (d) => (stderrTail = (stderrTail + d).slice(-4000)))
const base = `http://127.0.0.1:${await listeningPort(server)}`
const port = Number(new URL(base).port)
const pid = server.pid!
console.log(`soak: ${BIN ?? 'source'} on ${PG ? `PostgreSQL ${PG_DB}` : `SQLite ${dbArg}`}, pid ${pid}, ${base}, ${MINUTES} min, ${WORKERS} workers, a sample every ${SAMPLE_S} s`)

// ── the workload ─────────────────────────────────────────────────────────────────────────────
const statuses = new Map<string, number>()
const count = (what: string, status: number | string) => {
  const k = `${what} ${status}`
  statuses.set(k, (statuses.get(k) ?? 0) + 1)
}
const json = { 'content-type': 'application/json' }
const bearer = (t: string) => ({ authorization: `Bearer ${t}` })

async function call(what: string, path: string, init: RequestInit & { token?: string | null } = {}): Promise<{ status: number; body: any }> {
  const { token = pick(tokens), ...rest } = init
  try {
    const res = await fetch(base + path, { ...rest, headers: { ...(token ? bearer(token) : {}), ...(rest.body ? json : {}), ...(rest.headers as Record<string, string>) } })
    const text = await res.text()
    count(what, res.status)
    if (res.status >= 500) console.log(`  ! ${what} ${res.status} ${text.slice(0, 200)}`)
    let body: any = null
    try {
      body = JSON.parse(text)
    } catch {
      body = text
    }
    return { status: res.status, body }
  } catch (e) {
    count(what, `error ${(e as Error).name}`)
    return { status: 0, body: null }
  }
}

const ids = { agents: [] as string[], tasks: [] as string[], spaces: [] as string[], executions: [] as string[] }
const remember = (list: string[], id: string | undefined) => {
  if (!id) return
  list.push(id)
  if (list.length > 200) list.splice(0, list.length - 200)
}
let n = 0

/** The console's session cookie of the admin, renewed by an occasional fresh sign-in. */
let cookie = ''
async function consoleSignIn(): Promise<void> {
  const res = await fetch(`${base}/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin: base, ...(cookie ? { cookie } : {}) },
    body: new URLSearchParams({ email: USERS[0]!, password: PASSWORD }),
  })
  await res.arrayBuffer()
  count('console sign-in', res.status)
  const set = res.headers.get('set-cookie')
  if (set) cookie = set.split(';')[0]!
}

async function streamed(what: string, agentId: string, message: string, readEvents: number | null, token: string): Promise<void> {
  const ctrl = new AbortController()
  try {
    const res = await fetch(`${base}/api/v1/agents/${agentId}/execute`, { method: 'POST', signal: ctrl.signal, headers: { ...bearer(token), ...json, accept: 'text/event-stream' }, body: JSON.stringify({ message }) })
    count(what, res.status)
    if (!res.body) return
    const reader = res.body.getReader()
    let events = 0
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      events += new TextDecoder().decode(value).split('\n\n').length - 1
      if (readEvents !== null && events >= readEvents) {
        ctrl.abort()
        break
      }
    }
  } catch (e) {
    if ((e as Error).name !== 'AbortError') count(what, `error ${(e as Error).name}`)
  }
}

/** Keep-alive connections used once and abandoned, and half-sent requests: the server's idle timeout must close them. */
const abandoned: ReturnType<typeof connect>[] = []
function abandonConnection(half: boolean): void {
  const s = connect(port, '127.0.0.1')
  s.on('error', () => {})
  s.on('data', () => {})
  s.on('connect', () => {
    if (half) s.write('POST /api/v1/tasks HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"ti')
    else s.write(`GET /api/v1/agents HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${pick(tokens)}\r\nConnection: keep-alive\r\n\r\n`)
  })
  abandoned.push(s)
  count(half ? 'half request' : 'idle keep-alive', 'opened')
}

const actions: [number, string, () => Promise<void>][] = [
  [14, 'lists', async () => {
    for (const p of ['/api/v1/agents', '/api/v1/tasks', '/api/v1/spaces', '/api/v1/executions', '/api/v1/chats', '/api/v1/tokens', '/api/v1/tokens/self', '/api/v1/audit-events?limit=20', '/api/public/agents', '/api/health'])
      await call('list', p, { token: p.startsWith('/api/v1/audit') ? adminToken : undefined })
  }],
  [10, 'gets', async () => {
    if (ids.agents.length) await call('get agent', `/api/v1/agents/${pick(ids.agents)}`, { token: adminToken })
    if (ids.tasks.length) await call('get task', `/api/v1/tasks/${pick(ids.tasks)}`, { token: adminToken })
    if (ids.spaces.length) await call('get space', `/api/v1/spaces/${pick(ids.spaces)}`, { token: adminToken })
    if (ids.executions.length) {
      const e = pick(ids.executions)
      await call('get execution', `/api/v1/executions/${e}`, { token: adminToken })
      await call('execution logs', `/api/v1/executions/${e}/logs`, { token: adminToken })
      await call('execution tree', `/api/v1/executions/${e}/tree`, { token: adminToken })
    }
  }],
  [10, 'crud', async () => {
    const i = ++n
    const a = await call('create agent', '/api/v1/agents', { method: 'POST', token: adminToken, body: JSON.stringify({ name: `Soak agent ${i}`, systemPrompt: 'You help.', visibility: 'organization' }), headers: { 'idempotency-key': `a-${i}` } })
    remember(ids.agents, a.body?.agent?.id)
    const s = await call('create space', '/api/v1/spaces', { method: 'POST', token: adminToken, body: JSON.stringify({ name: `Soak space ${i}` }) })
    remember(ids.spaces, s.body?.space?.id)
    const t = await call('create task', '/api/v1/tasks', { method: 'POST', token: adminToken, body: JSON.stringify({ title: `Soak task ${i}`, description: 'x'.repeat(Math.floor(Math.random() * 2000)), priority: 'high' }), headers: { 'idempotency-key': `t-${i}` } })
    remember(ids.tasks, t.body?.task?.id ?? t.body?.id)
    if (ids.tasks.length) await call('update task', `/api/v1/tasks/${pick(ids.tasks)}`, { method: 'PATCH', token: adminToken, body: JSON.stringify({ status: 'in_progress' }) })
    if (ids.agents.length) await call('update agent', `/api/v1/agents/${pick(ids.agents)}`, { method: 'PATCH', token: adminToken, body: JSON.stringify({ description: `updated ${i}` }) })
    if (ids.spaces.length) await call('update space', `/api/v1/spaces/${pick(ids.spaces)}`, { method: 'PATCH', token: adminToken, body: JSON.stringify({ description: `updated ${i}` }) })
    if (ids.spaces.length > 20) await call('set secret', `/api/v1/spaces/${ids.spaces.at(-1)}/secrets`, { method: 'POST', token: adminToken, body: JSON.stringify({ secrets: { API_KEY: `v${i}` } }) })
    if (i % 3 === 0 && ids.tasks.length > 50) await call('delete task', `/api/v1/tasks/${ids.tasks.shift()}`, { method: 'DELETE', token: adminToken })
    if (i % 5 === 0 && ids.agents.length > 50) await call('delete agent', `/api/v1/agents/${ids.agents.shift()}`, { method: 'DELETE', token: adminToken })
    if (i % 5 === 0 && ids.spaces.length > 50) await call('delete space', `/api/v1/spaces/${ids.spaces.shift()}`, { method: 'DELETE', token: adminToken })
  }],
  [6, 'tokens', async () => {
    const c = await call('create token', '/api/v1/tokens', { method: 'POST', token: adminToken, body: JSON.stringify({ name: `soak ${++n}`, expiresInDays: 7 }) })
    const plain: string | undefined = c.body?.token
    const id: string | undefined = c.body?.id
    if (!plain || !id) return
    await call('use new token', '/api/v1/agents', { token: plain })
    const r = await call('rotate token', `/api/v1/tokens/${id}/rotate`, { method: 'POST', token: plain, body: '{}' })
    const next: string | undefined = r.body?.token
    const nextId: string | undefined = r.body?.id
    await call('old token after rotation', '/api/v1/agents', { token: plain })
    if (next && nextId) {
      await call('use rotated token', '/api/v1/tokens/self', { token: next })
      await call('revoke token', `/api/v1/tokens/${nextId}`, { method: 'DELETE', token: adminToken })
      await call('revoked token', '/api/v1/agents', { token: next })
    }
  }],
  [8, 'execute', async () => {
    if (!ids.agents.length) return
    const r = await call('execute sync', `/api/v1/agents/${pick(ids.agents)}/execute`, { method: 'POST', token: adminToken, body: JSON.stringify({ message: `hello ${++n}`, stream: false }) })
    remember(ids.executions, r.body?.executionId)
  }],
  [5, 'stream', async () => {
    if (ids.agents.length) await streamed('execute streamed', pick(ids.agents), `WORDS ${20 + Math.floor(Math.random() * 100)}`, null, tokens[1]!)
  }],
  [5, 'stream dropped', async () => {
    if (ids.agents.length) await streamed('execute streamed, dropped', pick(ids.agents), Math.random() < 0.5 ? 'SLOW' : 'ENDLESS', 2, tokens[2]!)
  }],
  [4, 'cancel', async () => {
    if (!ids.agents.length) return
    const r = await call('execute async', `/api/v1/agents/${pick(ids.agents)}/execute`, { method: 'POST', token: tokens[3]!, body: JSON.stringify({ message: Math.random() < 0.5 ? 'HANG' : 'PAUSE 3000', async: true }) })
    const id = r.body?.executionId
    if (!id) return
    remember(ids.executions, id)
    await sleep(100 + Math.random() * 500)
    await call('cancel', `/api/v1/executions/${id}/cancel`, { method: 'POST', token: tokens[3]!, body: '{}' })
  }],
  [3, 'cli sign-in', async () => {
    const i = await call('cli initiate', '/api/auth/cli/initiate', { method: 'POST', token: null, body: '{}' })
    const code: string | undefined = i.body?.code
    if (!code) return
    await call('cli poll pending', `/api/auth/cli/poll?code=${code}`, { token: null })
    if (Math.random() < 0.2) return // abandoned: the code expires unused
    const page = await fetch(`${base}/cli/authorize/${code}`, { headers: { cookie } })
    await page.arrayBuffer()
    count('console authorize page', page.status)
    const ok = await fetch(`${base}/cli/authorize/${code}`, { method: 'POST', redirect: 'manual', headers: { cookie, origin: base, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ decision: Math.random() < 0.8 ? 'approve' : 'deny' }) })
    await ok.arrayBuffer()
    count('console approve', ok.status)
    const p = await call('cli poll', `/api/auth/cli/poll?code=${code}`, { token: null })
    if (p.body?.status !== 'authorized') return
    await call('cli token use', '/api/v1/agents', { token: p.body.accessToken })
    const rf = await call('cli refresh', '/api/auth/cli/refresh', { method: 'POST', token: null, body: JSON.stringify({ refreshToken: p.body.refreshToken }) })
    if (rf.body?.accessToken) await call('cli refreshed use', '/api/v1/tasks', { token: rf.body.accessToken })
    if (Math.random() < 0.7) await call('cli revoke', '/api/auth/cli/revoke', { method: 'POST', token: null, body: JSON.stringify({ refreshToken: p.body.refreshToken }) })
  }],
  [6, 'console', async () => {
    if (!cookie || Math.random() < 0.05) await consoleSignIn()
    for (const p of ['/', '/agents', '/spaces', '/settings/profile', '/org/members', '/org/audit', `/spaces/${ids.spaces.at(-1) ?? 'x'}`, `/agents/${ids.agents.at(-1) ?? 'x'}/chat`]) {
      const res = await fetch(base + p, { headers: { cookie, 'accept-encoding': Math.random() < 0.5 ? 'gzip' : 'identity' }, redirect: 'manual' })
      await res.arrayBuffer()
      count(`console page`, res.status)
    }
  }],
  [10, 'bad requests', async () => {
    await call('no token', '/api/v1/agents', { token: null })
    await call('wrong token', '/api/v1/agents', { token: `td_${'x'.repeat(43)}` })
    await call('malformed token', '/api/v1/tasks', { token: `garbage-${Math.random()}` })
    await call('missing id', `/api/v1/tasks/task_${crypto.randomUUID().replaceAll('-', '')}`)
    await call('unknown route', `/api/v1/nothing/${Math.random()}`)
    await call('invalid body', '/api/v1/tasks', { method: 'POST', body: JSON.stringify({ title: 42 }) })
    await call('bad json', '/api/v1/agents', { method: 'POST', body: '{"name":' })
    await call('oversized body', '/api/v1/tasks', { method: 'POST', body: JSON.stringify({ title: 'big', description: 'x'.repeat(2_000_000) }) })
    await call('bad query', `/api/v1/tasks?limit=${Math.random()}&status=nope`)
    await call('unknown idempotency key', '/api/v1/tasks', { method: 'POST', body: JSON.stringify({ title: `idem ${++n}` }), headers: { 'idempotency-key': `k-${crypto.randomUUID()}` } })
    const res = await fetch(`${base}/console-nope/${Math.random()}`, { headers: { cookie: `teamday_session=${crypto.randomUUID()}` } })
    await res.arrayBuffer()
    count('console bad cookie', res.status)
  }],
  [2, 'abandoned connections', async () => {
    abandonConnection(false)
    abandonConnection(true)
  }],
  [2, 'abandoned sse', async () => {
    if (!ids.agents.length) return
    const ctrl = new AbortController()
    fetch(`${base}/api/v1/agents/${pick(ids.agents)}/execute`, { method: 'POST', signal: ctrl.signal, headers: { ...bearer(tokens[2]!), ...json, accept: 'text/event-stream' }, body: JSON.stringify({ message: 'SLOW' }) })
      .then((r) => count('sse never read', r.status))
      .catch(() => {})
    // The response is never read; the connection goes away a while later.
    setTimeout(() => ctrl.abort(), 2000 + Math.random() * 5000)
  }],
]
const totalWeight = actions.reduce((s, [w]) => s + w, 0)
function drawAction(): [string, () => Promise<void>] {
  let r = Math.random() * totalWeight
  for (const [w, name, fn] of actions) if ((r -= w) < 0) return [name, fn]
  return [actions[0]![1], actions[0]![2]]
}

// ── sampling ─────────────────────────────────────────────────────────────────────────────────
interface Sample {
  t: number
  rssMb: number
  fds: number
  fdKinds: Record<string, number>
  threads: number
  dbBytes: number
  walBytes: number
  pgConnections: number | null
  rows: Record<string, number>
  metrics: Record<string, number>
}

function procStatus(): { rssMb: number; threads: number } {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8')
  return { rssMb: Number(/VmRSS:\s+(\d+)/.exec(s)![1]) / 1024, threads: Number(/Threads:\s+(\d+)/.exec(s)![1]) }
}

function fdKinds(): Record<string, number> {
  const out: Record<string, number> = {}
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    let target: string
    try {
      target = readlinkSync(`/proc/${pid}/fd/${fd}`)
    } catch {
      continue
    }
    const kind = target.startsWith('socket:') ? 'socket' : target.startsWith('anon_inode:') ? target : target.startsWith('pipe:') ? 'pipe' : target.startsWith('/dev/') ? target : target.startsWith(dir) ? `file ${target.slice(dir.length + 1)}` : `file ${target}`
    out[kind] = (out[kind] ?? 0) + 1
  }
  return out
}

const size = (f: string) => (existsSync(f) ? statSync(f).size : 0)

async function rowCounts(): Promise<Record<string, number>> {
  const out: Record<string, number> = {}
  if (pgDb) {
    for (const t of TABLES) out[t] = Number((await pgDb.unsafe(`SELECT count(*)::int AS n FROM ${t}`))[0]!.n)
    return out
  }
  // SQLite: a checked copy made by the server's own admin command, opened here once the server is done with it.
  const copy = join(dir, 'sample-copy.db')
  rmSync(copy, { force: true })
  cmd(['backup', '--db', dbArg, '--out', copy])
  const db = new Database(copy, { readonly: true })
  try {
    for (const t of TABLES) out[t] = (db.query(`SELECT count(*) AS n FROM ${t}`).get() as { n: number }).n
  } finally {
    db.close()
    rmSync(copy, { force: true })
  }
  return out
}

async function metrics(): Promise<Record<string, number>> {
  const res = await fetch(`${base}/metrics`, { headers: bearer(adminToken) })
  const text = await res.text()
  const out: Record<string, number> = {}
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line.includes('_bucket')) continue
    const m = /^([a-z_:]+)(?:\{[^}]*\})?\s+([\d.e+-]+)$/.exec(line)
    if (m && /^(nodejs_heap_size_used_bytes|nodejs_external_memory_bytes|process_open_fds|teamday_executions_queued|teamday_executions_running)$/.test(m[1]!)) out[m[1]!] = (out[m[1]!] ?? 0) + Number(m[2])
  }
  out.metric_series = text.split('\n').filter((l) => l && !l.startsWith('#')).length
  return out
}

async function sample(t: number): Promise<Sample> {
  const { rssMb, threads } = procStatus()
  const kinds = fdKinds()
  const pgConnections = pgAdmin ? Number((await pgAdmin`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = ${PG_DB}`)[0]!.n) - 1 : null
  return {
    t,
    rssMb,
    fds: Object.values(kinds).reduce((s, x) => s + x, 0),
    fdKinds: kinds,
    threads,
    dbBytes: PG ? 0 : size(dbArg),
    walBytes: PG ? 0 : size(`${dbArg}-wal`),
    pgConnections,
    rows: await rowCounts(),
    metrics: await metrics().catch(() => ({})),
  }
}

const samples: Sample[] = []
function printSample(s: Sample): void {
  const kinds = Object.entries(s.fdKinds).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k}=${v}`).join(' ')
  const rows = Object.entries(s.rows).map(([k, v]) => `${k}=${v}`).join(' ')
  console.log(
    `[${(s.t / 60).toFixed(1).padStart(5)} min] rss ${s.rssMb.toFixed(1)} MB  fds ${s.fds} (${kinds})  threads ${s.threads}` +
      (PG ? `  pg connections ${s.pgConnections}` : `  db ${(s.dbBytes / 1048576).toFixed(2)} MB wal ${(s.walBytes / 1048576).toFixed(2)} MB`) +
      `  open client sockets ${abandoned.filter((x) => !x.destroyed && !x.closed).length}\n          rows: ${rows}\n          metrics: ${JSON.stringify(s.metrics)}`,
  )
}

// ── run ──────────────────────────────────────────────────────────────────────────────────────
const started = performance.now()
const end = started + MINUTES * 60_000
const elapsedS = () => (performance.now() - started) / 1000
await consoleSignIn()
const workers = Array.from({ length: WORKERS }, async () => {
  while (performance.now() < end) {
    const [name, fn] = drawAction()
    try {
      await fn()
    } catch (e) {
      count(name, `threw ${(e as Error).message.slice(0, 60)}`)
    }
  }
})
const sampler = (async () => {
  for (;;) {
    const s = await sample(elapsedS())
    samples.push(s)
    printSample(s)
    const next = started + samples.length * SAMPLE_S * 1000
    if (next > end) break
    await sleep(next - performance.now())
  }
})()
await Promise.all([...workers, sampler])
// Quiet: the abandoned connections and streams have had time to end.
await sleep(Math.min(20_000, SAMPLE_S * 1000))
const quiet = await sample(elapsedS())
samples.push(quiet)
console.log('after the load stopped:')
printSample(quiet)
for (const s of abandoned) s.destroy()

// ── verdict ──────────────────────────────────────────────────────────────────────────────────
/**
 * Growth per hour of one figure: the last quarter of the loaded samples against the second
 * quarter (the first is warm-up), over the time between them. Figures under load swing (RSS and
 * the heap by a hundred MB or more with the collector's timing, fds with the connections open at
 * the moment), so a slope through every sample says little. Memory is compared by each quarter's
 * floor (its lowest sample: what survived the collections), the rest by median. "bounded" is a
 * last quarter that stays within the range the second quarter already reached, or a growth under
 * `limit` an hour.
 */
const loaded = samples.slice(0, -1)
const quarter = Math.max(1, Math.floor(loaded.length / 4))
const q2 = loaded.slice(quarter, 2 * quarter)
const q4 = loaded.slice(-quarter)
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
function growth(get: (s: Sample) => number, floor: boolean): { perHour: number; bounded: (limit: number) => boolean } {
  const level = (xs: number[]) => (floor ? Math.min(...xs) : median(xs))
  const a = level(q2.map(get))
  const b = level(q4.map(get))
  const hours = (median(q4.map((s) => s.t)) - median(q2.map((s) => s.t))) / 3600
  const perHour = hours > 0 ? (b - a) / hours : NaN
  return { perHour, bounded: (limit) => b <= Math.max(...q2.map(get)) || perHour <= limit }
}
const first = samples[0]!
const last = loaded.at(-1)!
const lines: string[] = []
const line = (name: string, get: (s: Sample) => number, unit: string, limit: number | null, floor = false) => {
  const g = growth(get, floor)
  const verdict = limit === null ? '' : g.bounded(limit) ? '  bounded' : '  GROWS'
  const fmt = (v: number) => (Number.isInteger(v) ? String(v) : v.toFixed(1)).padStart(8)
  lines.push(`${name.padEnd(28)} ${fmt(get(first))} → ${fmt(get(last))} (quiet ${fmt(get(quiet)).trim()})  ${g.perHour >= 0 ? '+' : ''}${g.perHour.toFixed(1)} ${unit}/h${verdict}`)
}
line('RSS floor (MB)', (s) => s.rssMb, 'MB', 60, true)
line('JS heap used floor (MB)', (s) => (s.metrics.nodejs_heap_size_used_bytes ?? 0) / 1048576, 'MB', 60, true)
line('open fds', (s) => s.fds, 'fds', 20)
line('threads', (s) => s.threads, 'threads', 4)
line('metric series', (s) => s.metrics.metric_series ?? 0, 'series', 100)
if (PG) line('PostgreSQL connections', (s) => s.pgConnections ?? 0, 'connections', 2)
else line('SQLite WAL (MB)', (s) => s.walBytes / 1048576, 'MB', 50)
// Rows: what the workload adds for good (tasks, agents, audit events, executions, tokens) grows
// by design; what housekeeping prunes is kept for a horizon longer than a soak (idempotency keys
// 24 h, login codes 1 h after they finish, CLI sign-ins 30 days after they end): rates only.
for (const t of TABLES) line(`rows ${t}`, (s) => s.rows[t] ?? 0, 'rows', null)
console.log(`\nverdict (SOAK_MINUTES=${MINUTES}, ${samples.length - 1} samples under load + 1 quiet):`)
for (const l of lines) console.log('  ' + l)
console.log('\nrequests by kind and status:')
for (const [k, v] of [...statuses].sort()) console.log(`  ${k}: ${v}`)
const fivexx = [...statuses].filter(([k]) => / 5\d\d$/.test(k))
if (fivexx.length) console.log(`5xx answers: ${fivexx.map(([k, v]) => `${k} ×${v}`).join(', ')}`)
console.log(`provider double: ${double.requests.length} requests, ${double.aborted} aborted by teamday`)

server.kill('SIGTERM')
await new Promise((r) => server.once('exit', r))
if (stderrTail.trim()) console.log(`server stderr (tail):\n${stderrTail.slice(-2000)}`)
double.stop()
if (pgDb) await pgDb.end({ timeout: 2 })
if (pgAdmin) {
  await pgAdmin.unsafe(`DROP DATABASE IF EXISTS ${PG_DB} WITH (FORCE)`)
  await pgAdmin.end({ timeout: 2 })
}
if (!process.env.SOAK_DIR) rmSync(dir, { recursive: true, force: true })
process.exit(0)
