// Benchmark: the compiled binary on a fresh database with 20 agents; authenticated
// GET /api/v1/agents (and one token's GET, mostly the auth path) against a bare Bun.serve that
// returns the very same response bytes as a constant. Alternates the servers in one run and
// prints median req/s, the ratio, p50/p99 latency and the servers' RSS. A one-route Elysia app
// answering the same bytes (bench/bare-elysia.ts) runs in the rotation too: the framework's own
// share of the gap.
//
// With `--db postgres://…` (a PostgreSQL server; the benchmark creates a database
// teamday_bench_<random> on it and drops it at the end) the same run also has teamday on
// PostgreSQL with one instance and with two (two processes sharing one port with --reuse-port:
// the kernel spreads wrk's connections over them, as a layer-4 load balancer would), and prints
// the CPU PostgreSQL's backends spent per request beside teamday's own.
// Targets on a 2-core machine: ratio >= 0.5 (SQLite), >= 0.35 with p99 < 30 ms (PostgreSQL,
// one instance, 64 connections).
//
//   npm run build && npm run bench            (needs wrk: apt-get install -y wrk)
//   npm run build && npm run bench:pg         (the same with PostgreSQL at 127.0.0.1:5432)
//   BENCH_SECONDS=5 BENCH_ROUNDS=3 BENCH_CONNECTIONS=64 npm run bench
//   BENCH_ACCESS_LOG=off npm run bench    (the server logs at info with its access log on by
//   default, JSON lines into a file, as under systemd or Docker; off measures what the log costs)
//   BENCH_PG_POOL=20 npm run bench:pg     (TEAMDAY_DB_POOL of the PostgreSQL instances)
//   BENCH_BACKENDS=pg1,pg2 npm run bench:pg   (only some of: sqlite, pg1, pg2, barepg)
//   BENCH_ACCEPT_ENCODING=gzip npm run bench  (wrk sends Accept-Encoding as fetch, the TeamDay CLI
//   and most HTTP libraries do; teamday then compresses bodies of 1 KiB or more, and the bare
//   floors answer with those compressed bytes and their Content-Encoding)
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, openSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import {
  benchDatabase,
  connectionsPerProcess,
  cpuSeconds,
  listeningPort,
  medianFigures,
  PgProbe,
  pgServerArg,
  requireWrk,
  rssMb,
  startTeamday,
  stopAll,
  withoutDbArg,
  wrk,
  type WrkResult,
} from './common'

const argv = process.argv.slice(2)
const PG = pgServerArg(argv)
const BIN = resolve(withoutDbArg(argv)[0] ?? 'dist/teamday')
// BENCH_PROFILE=DIR: the PostgreSQL instances run from source and write CPU profiles there.
const PROFILE = process.env.BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${resolve(process.env.BENCH_PROFILE)}`] : null
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const CONNS = Number(process.env.BENCH_CONNECTIONS ?? 64)
/** Seconds of warm-up load per process of each server, before each target's rounds. */
const WARMUP = Number(process.env.BENCH_WARMUP ?? 3)
const THREADS = Number(process.env.BENCH_THREADS ?? 1)
const ACCEPT_ENCODING = process.env.BENCH_ACCEPT_ENCODING || null
const WANTED = new Set((process.env.BENCH_BACKENDS ?? (PG ? 'sqlite,pg1,pg2,barepg' : 'sqlite')).split(','))

requireWrk()

const dir = mkdtempSync(join(tmpdir(), 'teamday-bench-'))
// The rate limiter stays on (its cost is part of every request) with a limit wrk cannot reach.
const serverEnv = {
  TEAMDAY_LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'info',
  TEAMDAY_ACCESS_LOG: process.env.BENCH_ACCESS_LOG ?? 'on',
  TEAMDAY_RATE_LIMIT: process.env.BENCH_RATE_LIMIT ?? '999999999/60s',
  ...(process.env.BENCH_PG_POOL ? { TEAMDAY_DB_POOL: process.env.BENCH_PG_POOL } : {}),
}
// PostgreSQL: every instance (and the admin CLI) must have the same key.
const pgEnv = { TEAMDAY_ENCRYPTION_KEY: randomBytes(32).toString('base64') }

/** An admin command of the binary on `db`. */
function admin(db: string, env: Record<string, string>, args: string[]): string {
  const r = spawnSync(BIN, [...args, '--db', db], { encoding: 'utf8', env: { ...process.env, ...env } })
  if (r.status !== 0) throw new Error(`${args.join(' ')}: ${r.stderr}`)
  return r.stdout.trim()
}

/** An admin with a token (and BENCH_TOKENS - 1 more tokens) on a fresh database. */
function adminWithToken(db: string, env: Record<string, string>): string {
  admin(db, env, ['users', 'create', '--email', 'bench@example.com', '--org', 'bench', '--role', 'admin'])
  const token = admin(db, env, ['tokens', 'create', '--email', 'bench@example.com', '--name', 'bench'])
  for (let i = 0; i < Number(process.env.BENCH_TOKENS ?? 3) - 1; i++) admin(db, env, ['tokens', 'create', '--email', 'bench@example.com', '--name', `extra ${i}`])
  return token
}

/** 20 agents through the API; the id of one token (the second target). */
async function seed(base: string, token: string): Promise<string> {
  for (let i = 0; i < 20; i++) {
    const res = await fetch(`${base}/api/v1/agents`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        name: `Code Reviewer ${i}`,
        role: 'Senior Developer',
        systemPrompt: 'You review code for quality, security, and best practices.',
        visibility: 'organization',
        tags: ['review', 'security'],
      }),
    })
    if (res.status !== 201) throw new Error(`creating agent ${i}: ${res.status} ${await res.text()}`)
  }
  const list = await (await fetch(`${base}/api/v1/tokens?limit=1`, { headers: { authorization: `Bearer ${token}` } })).json()
  return (list as any).tokens[0].id
}

/** A server under test: teamday on a backend, or a bare floor. */
interface Server {
  label: string
  url: string
  /** Sent as Authorization (teamday and the PostgreSQL floor authenticate; the bare floor does not). */
  token: string | null
  tokenId: string
  children: ChildProcess[]
  /** PostgreSQL's backends serving it. */
  probe: PgProbe | null
  /** Its port, when several processes share it. */
  port?: number
}

const servers: Server[] = []
const children: ChildProcess[] = []
const cleanups: (() => Promise<void>)[] = []
let logSize = () => 0

const results = new Map<string, Map<string, Row[]>>()
interface Row extends WrkResult {
  /** teamday's (or the floor's) CPU ms per request, all its processes. */
  cpu: number
  /** PostgreSQL backends' CPU ms per request. */
  pgCpu: number | null
  rss: number
  split: string
}

/** wrk's headers for a server: its token, and Accept-Encoding when asked for. */
function wrkHeaders(s: Server): string[] {
  return [...(s.token ? ['-H', `Authorization: Bearer ${s.token}`] : []), ...(ACCEPT_ENCODING ? ['-H', `Accept-Encoding: ${ACCEPT_ENCODING}`] : [])]
}

async function measure(target: string, s: Server, path: string): Promise<Row> {
  const pg0 = s.probe ? await s.probe.cpu() : null
  const cpu0 = s.children.reduce((t, c) => t + cpuSeconds(c.pid!), 0)
  let split = ''
  const r = await wrk(s.url + path, {
    connections: CONNS,
    seconds: SECONDS,
    threads: THREADS,
    extra: wrkHeaders(s),
    midway: () => {
      if (s.port) split = connectionsPerProcess(s.children, s.port).join('/')
    },
  })
  if (r.errors) throw new Error(`${s.label} ${target}: ${r.errors}`)
  const cpu = ((s.children.reduce((t, c) => t + cpuSeconds(c.pid!), 0) - cpu0) * 1000) / r.requests
  const pgCpu = s.probe && pg0 ? ((pg0.pids.reduce((t, p) => t + cpuSeconds(p), 0) - pg0.seconds) * 1000) / r.requests : null
  return { ...r, cpu, pgCpu, rss: s.children.reduce((t, c) => t + rssMb(c.pid!), 0), split }
}

try {
  // ── SQLite: the binary on a file, as before ───────────────────────────────────────────────
  const db = join(dir, 'bench.db')
  const token = adminWithToken(db, {})
  const logFile = join(dir, 'server.log')
  const sqliteServer = spawn(BIN, ['serve', '--port', '0', '--host', '127.0.0.1', '--db', db], {
    stdio: ['ignore', 'pipe', openSync(logFile, 'w')],
    env: { ...process.env, ...serverEnv },
  })
  children.push(sqliteServer)
  logSize = () => statSync(logFile).size
  const base = `http://127.0.0.1:${await listeningPort(sqliteServer)}`
  const tokenId = await seed(base, token)
  const sqlite: Server = { label: 'teamday, SQLite', url: base, token, tokenId, children: [sqliteServer], probe: null }
  if (WANTED.has('sqlite')) servers.push(sqlite)

  // ── PostgreSQL: one database, served by one instance, and by two others sharing a port ────
  if (PG && (WANTED.has('pg1') || WANTED.has('pg2') || WANTED.has('barepg'))) {
    const pgdb = await benchDatabase(PG)
    cleanups.push(pgdb.drop)
    console.log(`PostgreSQL database ${pgdb.name} (dropped at the end)`)
    const pgToken = adminWithToken(pgdb.url, pgEnv)
    const env = { ...serverEnv, ...pgEnv }
    const probe = new PgProbe(PG, pgdb.name)
    cleanups.unshift(() => probe.end())
    let pgTokenId = ''
    for (const [key, instances] of [['pg1', 1], ['pg2', 2]] as const) {
      if (!WANTED.has(key)) continue
      const started = await startTeamday({ label: `teamday, PostgreSQL ×${instances}`, db: pgdb.url, instances }, PROFILE ? { bin: null, env, profile: PROFILE, logFile: join(dir, `pg${instances}.log`) } : { bin: BIN, env, logFile: join(dir, `pg${instances}.log`) })
      children.push(...started.children)
      if (pgTokenId === '') pgTokenId = await seed(started.url, pgToken)
      servers.push({ label: started.label, url: started.url, token: pgToken, tokenId: pgTokenId, children: started.children, probe, port: instances > 1 ? Number(new URL(started.url).port) : undefined })
    }
    if (WANTED.has('barepg') && pgTokenId !== '') {
      // The PostgreSQL floor: Bun.serve + postgres-js running teamday's per-request statements.
      const floor = spawn(process.execPath, [join(import.meta.dir, 'bare-pg.ts'), pgdb.url, process.env.BENCH_PG_POOL ?? '10'], { stdio: ['ignore', 'pipe', 'inherit'] })
      children.push(floor)
      servers.push({ label: 'bare Bun.serve + postgres-js', url: `http://127.0.0.1:${await listeningPort(floor)}`, token: pgToken, tokenId: pgTokenId, children: [floor], probe })
    }
  }

  /** Headers Bun writes itself (or that describe the connection), left to it in the floor with teamday's headers. */
  const UNSENT_BY_APP = new Set(['date', 'content-length', 'transfer-encoding', 'connection', 'keep-alive'])
  // ── the bare floor: the same bytes as a constant, per target ───────────────────────────────
  const targets = [
    { name: 'GET /api/v1/agents', path: () => '/api/v1/agents' },
    { name: 'GET /api/v1/tokens/{id}', path: (s: Server) => `/api/v1/tokens/${s.tokenId}` },
  ].filter((t) => !process.env.BENCH_PATHS || process.env.BENCH_PATHS.split(',').some((p) => t.name.includes(p)))

  console.log(`teamday bench: ${ROUNDS} alternating rounds of ${SECONDS}s per target and server, wrk -t${THREADS} -c${CONNS}`)
  for (const t of targets) {
    // The bytes as sent (compressed when Accept-Encoding asked for it: `decompress: false`).
    const sample = await fetch(sqlite.url + t.path(sqlite), {
      headers: { authorization: `Bearer ${token}`, 'accept-encoding': ACCEPT_ENCODING ?? 'identity' },
      decompress: false,
    } as RequestInit)
    if (sample.status !== 200) throw new Error(`GET ${t.name}: ${sample.status}`)
    const bytes = new Uint8Array(await sample.arrayBuffer())
    const encoding = sample.headers.get('content-encoding') ?? ''
    const bodyFile = join(dir, `body-${results.size}.json`)
    await Bun.write(bodyFile, bytes)
    // Same bytes, no routing, no auth, no database, in a process of its own.
    const bareChild = spawn(process.execPath, [join(import.meta.dir, 'bare.ts'), bodyFile, sample.headers.get('content-type')!, encoding], { stdio: ['ignore', 'pipe', 'inherit'] })
    children.push(bareChild)
    const bare: Server = { label: 'bare Bun.serve, same bytes', url: `http://127.0.0.1:${await listeningPort(bareChild)}`, token: null, tokenId: '', children: [bareChild], probe: null }
    // The same bytes with every header teamday sent (request id, rate limits, cache and security
    // headers; Bun adds Date and Content-Length to both): what a server that must send those
    // headers costs at the least. The goal's ratio is to the floor above; this one says how much
    // of the gap is the headers themselves (docs/performance.md, thirty-seventh session).
    const sentHeaders = Object.fromEntries([...sample.headers].filter(([name]) => !UNSENT_BY_APP.has(name)))
    const headersFile = join(dir, `headers-${results.size}.json`)
    await Bun.write(headersFile, JSON.stringify(sentHeaders))
    const headedChild = spawn(process.execPath, [join(import.meta.dir, 'bare.ts'), bodyFile, sample.headers.get('content-type')!, encoding, headersFile], { stdio: ['ignore', 'pipe', 'inherit'] })
    children.push(headedChild)
    const headed: Server = { label: 'bare Bun.serve, same headers', url: `http://127.0.0.1:${await listeningPort(headedChild)}`, token: null, tokenId: '', children: [headedChild], probe: null }
    // The framework's own floor: one Elysia route answering the same bytes (not a goal's baseline:
    // it says how much of the gap to bare Bun.serve is Elysia's before any of teamday's work).
    const elysiaChild = spawn(process.execPath, [join(import.meta.dir, 'bare-elysia.ts'), bodyFile, sample.headers.get('content-type')!, encoding], { stdio: ['ignore', 'pipe', 'inherit'] })
    children.push(elysiaChild)
    const elysia: Server = { label: 'bare Elysia, same bytes', url: `http://127.0.0.1:${await listeningPort(elysiaChild)}`, token: null, tokenId: '', children: [elysiaChild], probe: null }
    const floors = [bare, headed, elysia]
    const all = [...floors, ...servers]
    // The PostgreSQL floor answers with these bytes too.
    for (const s of all) if (s.label.startsWith('bare Bun.serve + postgres')) await fetch(`${s.url}/__body`, { method: 'PUT', body: bytes, headers: { 'content-type': sample.headers.get('content-type')!, 'x-content-encoding': encoding } })
    const rows = new Map<string, Row[]>(all.map((s) => [s.label, []]))
    results.set(t.name, rows)
    // Warm-up, WARMUP seconds per process of each server: each process JIT-compiles the route's
    // code on its own (bench/mixed.ts measures how long that takes).
    for (const s of all) await wrk(s.url + (floors.includes(s) ? '/' : t.path(s)), { connections: CONNS, seconds: WARMUP * s.children.length, threads: THREADS, extra: wrkHeaders(s) })
    for (let i = 0; i < ROUNDS; i++) for (const s of all) rows.get(s.label)!.push(await measure(t.name, s, floors.includes(s) ? '/' : t.path(s)))

    const med = medianFigures
    const b = med(rows.get(bare.label)!)
    const h = med(rows.get(headed.label)!)
    console.log(`${t.name} (${bytes.length} bytes on SQLite${encoding ? `, ${encoding}` : ''})${ROUNDS > 1 ? ', medians' : ''}:`)
    for (const [label, rs] of rows) {
      const m = med(rs)
      const ratio = label === bare.label ? '' : `  ×${(m.rps / b.rps).toFixed(2)} bare${label === headed.label ? '' : `, ×${(m.rps / h.rps).toFixed(2)} bare with its headers`}`
      const pg = m.pgCpu === null ? '' : ` + PostgreSQL ${m.pgCpu.toFixed(3)}`
      console.log(
        `  ${label.padEnd(30)}${m.rps.toFixed(0).padStart(7)} req/s  p50 ${m.p50.toFixed(2).padStart(6)} ms  p99 ${m.p99.toFixed(2).padStart(6)} ms  CPU ${m.cpu.toFixed(3)}${pg} ms/req  RSS ${m.rss.toFixed(0)} MB  wrk wake-ups ${m.wakeups.toFixed(2)}/req${ratio}${m.split ? `  (connections per instance: ${m.split})` : ''}`,
      )
    }
  }
  console.log(`log written by the SQLite server: ${(logSize() / 1e6).toFixed(1)} MB (access log ${serverEnv.TEAMDAY_ACCESS_LOG})`)
} finally {
  await stopAll(children)
  for (const c of cleanups) await c().catch((e) => console.error(`clean-up: ${e}`))
  rmSync(dir, { recursive: true, force: true })
}
