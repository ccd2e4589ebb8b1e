// Benchmark: a mixed workload on a big organization. 100,000 tasks and 20,000 agents in one
// organization (seeded straight into SQLite through the schema), then wrk with 64 connections
// for BENCH_SECONDS (default 30): 65 % first pages of the task and agent lists with mixed
// filters, 25 % creates (20 % tasks, 5 % agents), 10 % single GETs. The same request stream then
// goes to a bare Bun.serve running the same SQL statements on bun:sqlite without the framework
// (bench/bare-mixed.ts), on a copy of the same database: the floor of this machine. Prints
// req/s, p50, p99, RSS and the ratios. Goals: ours >= 0.5x bare req/s, our p99 <= 2x bare p99.
//
//   npm run bench:mixed                           (needs wrk: apt-get install -y wrk)
//   BENCH_SECONDS=10 BENCH_ROUNDS=3 BENCH_TASKS=100000 BENCH_AGENTS=20000 BENCH_CONNECTIONS=64 npm run bench:mixed
//   (rounds alternate the two servers, both running throughout; medians are printed)
//   BENCH_WARMUP=30 (seconds of the workload per server process before the rounds: JIT tiers)
//   npm run build && bun bench/mixed.ts dist/teamday      (the compiled binary instead of the source)
//   BENCH_PROFILE=/tmp/prof npm run bench:mixed          (a CPU profile of our server)
//
// With `--db postgres://…` (a PostgreSQL server: the benchmark creates teamday_bench_<random>
// on it, copies the seeded SQLite rows into it, and drops it at the end) the rounds also run
// teamday on PostgreSQL with one instance and with two (two processes sharing one port with
// --reuse-port: the kernel spreads wrk's 64 connections over them, as a layer-4 load balancer
// would, with no proxy of its own on these cores). Goals there: two instances >= one instance's
// req/s, two instances' p99 <= 2x the bare floor's p99 in the same run.
//   npm run bench:mixed:pg        BENCH_PG_POOL=10 (TEAMDAY_DB_POOL)   BENCH_BACKENDS=sqlite,pg1,pg2
import { spawn, type ChildProcess } from 'node:child_process'
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { loadConfig } from '../src/config'
import { createLogger } from '../src/logger'
import { createToken } from '../src/modules/tokens/service'
import { createUser } from '../src/modules/users/service'
import { operatorContext } from '../src/context'
import { createRuntime, sqliteConnection } from '../src/runtime'
import { benchDatabase, connectionsPerProcess, cpuSeconds, idlePercent, listeningPort, machineTicks, median, medianFigures, PgProbe, pgServerArg, requireWrk, rssMb, startTeamday, stopAll, withoutDbArg, wrk, type Started } from './common'
import { copyToPostgres, seedAgents, seedSpaces, seedTasks } from './seed'

const argv = process.argv.slice(2)
const PG = pgServerArg(argv)
const BIN = withoutDbArg(argv)[0] ? resolve(withoutDbArg(argv)[0]!) : null
const SECONDS = Number(process.env.BENCH_SECONDS ?? 30)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 1)
const CONNS = Number(process.env.BENCH_CONNECTIONS ?? 64)
/** Seconds of warm-up load per process of each server (see the warm-up below). */
const WARMUP = Number(process.env.BENCH_WARMUP ?? 30)
const TASKS = Number(process.env.BENCH_TASKS ?? 100_000)
const AGENTS = Number(process.env.BENCH_AGENTS ?? 20_000)
// BENCH_ACCEPT_ENCODING=gzip: every request says Accept-Encoding: gzip, as fetch and the TeamDay CLI
// do; teamday and the bare floor then both gzip bodies of 1 KiB or more.
const ENCODING = process.env.BENCH_ACCEPT_ENCODING ? `, ["Accept-Encoding"] = ${JSON.stringify(process.env.BENCH_ACCEPT_ENCODING)}` : ''
const WANTED = new Set((process.env.BENCH_BACKENDS ?? (PG ? 'sqlite,pg1,pg2' : 'sqlite')).split(','))

requireWrk()

const dir = mkdtempSync(join(tmpdir(), 'teamday-mixed-'))
const oursDb = join(dir, 'ours', 'teamday.db')
const bareDb = join(dir, 'bare', 'teamday.db')
mkdirSync(join(dir, 'ours'))
mkdirSync(join(dir, 'bare'))

// ── seed ──────────────────────────────────────────────────────────────────────────────────
const t0 = performance.now()
const rt = await createRuntime(loadConfig({}, { dbPath: oursDb, logLevel: 'silent' }), { log: createLogger('silent') })
const { user, organization } = await createUser(operatorContext(rt), { email: 'bench@example.com', orgSlug: 'bench', role: 'admin' })
const owner = { userId: user.id, organizationId: organization.id }
const { token } = await createToken(operatorContext(rt), owner, { name: 'bench' })
const o = { now: Date.now() - 60_000, step: 100 }
const agentIds = await seedAgents(sqliteConnection(rt).sync, owner, AGENTS, o)
const spaceIds = await seedSpaces(sqliteConnection(rt).sync, owner, 50, o)
const taskIds = await seedTasks(sqliteConnection(rt).sync, owner, TASKS, { ...o, agentIds: agentIds.slice(0, 500), spaceIds })
const pgdb = PG && (WANTED.has('pg1') || WANTED.has('pg2')) ? await benchDatabase(PG) : null
if (pgdb) {
  const t1 = performance.now()
  await copyToPostgres(sqliteConnection(rt).sync, pgdb.url)
  console.log(`copied into PostgreSQL database ${pgdb.name} (dropped at the end) in ${((performance.now() - t1) / 1000).toFixed(1)} s`)
}
rt.close() // checkpoints the WAL: the file alone is the database
copyFileSync(oursDb, bareDb)
console.log(`seeded ${TASKS} tasks and ${AGENTS} agents in one organization in ${((performance.now() - t0) / 1000).toFixed(1)} s`)

// ── the request mix (one wrk Lua script for both servers) ──────────────────────────────────
const lists = [
  '/api/v1/tasks',
  '/api/v1/tasks?status=pending',
  '/api/v1/tasks?status=completed&limit=20',
  '/api/v1/tasks?priority=urgent',
  `/api/v1/tasks?assignedTo=${agentIds[3]}`,
  `/api/v1/tasks?spaceId=${spaceIds[7]}`,
  '/api/v1/agents',
  '/api/v1/agents?visibility=organization',
  '/api/v1/agents?category=support',
  '/api/v1/agents?limit=20',
]
const lua = (xs: string[]) => `{ ${xs.map((x) => JSON.stringify(x)).join(', ')} }`
const sample = (xs: string[], n: number) => Array.from({ length: n }, (_, i) => xs[Math.floor((i * xs.length) / n)]!)
const script = join(dir, 'mixed.lua')
writeFileSync(
  script,
  `local get = { ["Authorization"] = "Bearer ${token}"${ENCODING} }
local post = { ["Authorization"] = "Bearer ${token}", ["Content-Type"] = "application/json"${ENCODING} }
local lists = ${lua(lists)}
local tasks = ${lua(sample(taskIds, 2000))}
local agents = ${lua(sample(agentIds, 1000))}
-- Names unique across runs (the warm-up and every round): the bare floor has no slug suffixes.
local run = tostring(os.time()) .. "-" .. tostring(math.random(1000000000))
local n = 0
request = function()
  n = n + 1
  local r = math.random(100)
  if r <= 65 then
    return wrk.format("GET", lists[math.random(#lists)], get)
  elseif r <= 85 then
    return wrk.format("POST", "/api/v1/tasks", post, '{"title":"Bench task ' .. n .. '","description":"Created by the mixed benchmark","priority":"high"}')
  elseif r <= 90 then
    return wrk.format("POST", "/api/v1/agents", post, '{"name":"Bench agent ' .. run .. '-' .. n .. '","systemPrompt":"You help.","category":"support","visibility":"organization"}')
  elseif r <= 97 then
    return wrk.format("GET", "/api/v1/tasks/" .. tasks[math.random(#tasks)], get)
  else
    return wrk.format("GET", "/api/v1/agents/" .. agents[math.random(#agents)], get)
  end
end
`,
)

// ── run ───────────────────────────────────────────────────────────────────────────────────
interface Result {
  rps: number
  p50: number
  p99: number
  rss: number
  /** CPU ms of the server (all its processes) per request. */
  cpu: number
  /** CPU ms of PostgreSQL's backends per request. */
  pgCpu: number | null
  /** The machine's CPU time left idle meanwhile, in % (all cores): above a few %, what limits is waiting, not CPU. */
  idle: number
  errors: string
  split: string
  /** wrk's wake-ups a request (bench/common.ts, WrkResult.wakeups). */
  wakeups: number
}

/** A server under test: its URL and processes (several for instances sharing a port). */
interface Server extends Started {
  probe: PgProbe | null
  port?: number
}

async function ready(s: Server): Promise<Server> {
  const probe = await fetch(`${s.url}/api/v1/tasks?limit=1`, { headers: { authorization: `Bearer ${token}` } })
  if (probe.status !== 200) throw new Error(`${s.label}: GET /api/v1/tasks answered ${probe.status}`)
  return s
}

async function bench(s: Server): Promise<Result> {
  const cpu0 = s.children.reduce((t, c) => t + cpuSeconds(c.pid!), 0)
  const pg0 = s.probe ? await s.probe.cpu() : null
  const ticks0 = machineTicks()
  let split = ''
  const r = await wrk(s.url, {
    connections: CONNS,
    seconds: SECONDS,
    extra: ['-s', script],
    midway: () => {
      if (s.port) split = connectionsPerProcess(s.children, s.port).join('/')
    },
  })
  return {
    cpu: ((s.children.reduce((t, c) => t + cpuSeconds(c.pid!), 0) - cpu0) * 1000) / r.requests,
    pgCpu: pg0 ? ((pg0.pids.reduce((t, p) => t + cpuSeconds(p), 0) - pg0.seconds) * 1000) / r.requests : null,
    idle: idlePercent(ticks0, machineTicks()),
    rps: r.rps,
    p50: r.p50,
    p99: r.p99,
    rss: s.children.reduce((t, c) => t + rssMb(c.pid!), 0),
    errors: r.errors,
    split,
    wakeups: r.wakeups,
  }
}

const medianOf = (rs: Result[]): Result => ({ ...medianFigures(rs), idle: median(rs.map((r) => r.idle)), errors: rs.map((r) => r.errors).filter(Boolean).join('; ') })

// BENCH_PROFILE=DIR (source only): the servers write a CPU profile there when they stop.
const profile = process.env.BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${resolve(process.env.BENCH_PROFILE)}`] : []
const serverEnv = {
  TEAMDAY_LOG_LEVEL: 'warn',
  TEAMDAY_RATE_LIMIT: '999999999/60s',
  // The key the seeding runtime wrote beside the SQLite file: the copied rows are sealed with it.
  TEAMDAY_KEY_FILE: join(dir, 'ours', 'teamday.key'),
  ...(process.env.BENCH_PG_POOL ? { TEAMDAY_DB_POOL: process.env.BENCH_PG_POOL } : {}),
}
const children: ChildProcess[] = []
const servers: Server[] = []
const probe = pgdb ? new PgProbe(PG!, pgdb.name) : null

try {
  const bareChild = spawn(process.execPath, [...profile, join(import.meta.dir, 'bare-mixed.ts'), bareDb], { stdio: ['ignore', 'pipe', 'inherit'] })
  children.push(bareChild)
  const bare = await ready({ label: 'bare Bun.serve + bun:sqlite, same SQL', url: `http://127.0.0.1:${await listeningPort(bareChild)}`, children: [bareChild], probe: null })
  const start = async (label: string, db: string, instances: number) => {
    const started = await startTeamday({ label, db, instances }, { bin: BIN, env: serverEnv, profile, logFile: join(dir, `server${servers.length}.log`) })
    children.push(...started.children)
    servers.push(await ready({ ...started, probe: db === oursDb ? null : probe, port: instances > 1 ? Number(new URL(started.url).port) : undefined }))
  }
  if (WANTED.has('sqlite')) await start(`teamday, SQLite (${BIN ? 'binary' : 'source'})`, oursDb, 1)
  if (pgdb && WANTED.has('pg1')) await start('teamday, PostgreSQL ×1', pgdb.url, 1)
  if (pgdb && WANTED.has('pg2')) await start('teamday, PostgreSQL ×2', pgdb.url, 2)
  const all = [bare, ...servers]
  console.log(`mixed workload: wrk -t1 -c${CONNS} -d${SECONDS}s x ${ROUNDS} round(s), alternating; 65 % list first pages (mixed filters), 25 % creates, 10 % GET by id`)
  // Warm-up: each route's first request compiles its handler and validators, each connection of a
  // pool opens, and JavaScriptCore compiles the code that runs most into faster tiers on its JIT
  // threads, which takes tens of thousands of requests per process: measured on two cores with one
  // PostgreSQL instance, 10 s windows of this workload went 909, 1 088, 1 331 req/s before settling
  // at 1 215-1 536, and with two instances (each process compiles the same code on its own, from
  // half the requests) 854, 1 063, 1 161, 1 237, 1 439 before settling at 1 346-1 578 (the JIT
  // threads' CPU 0.24 -> 0.02 ms a request). So WARMUP seconds for each of a server's processes.
  console.log(`warm-up: ${WARMUP} s of the workload per process of each server (BENCH_WARMUP)`)
  for (const x of all) await wrk(x.url, { connections: CONNS, seconds: WARMUP * x.children.length, extra: ['-s', script] })
  const runs = new Map<Server, Result[]>(all.map((x) => [x, []]))
  for (let i = 0; i < ROUNDS; i++) for (const x of all) runs.get(x)!.push(await bench(x))
  const b = medianOf(runs.get(bare)!)
  const line = (name: string, r: Result) =>
    `  ${name.padEnd(38)}${r.rps.toFixed(0).padStart(7)} req/s  p50 ${r.p50.toFixed(1).padStart(6)} ms  p99 ${r.p99.toFixed(1).padStart(6)} ms  CPU ${r.cpu.toFixed(2)}${r.pgCpu === null ? '' : ` + PostgreSQL ${r.pgCpu.toFixed(2)}`} ms/req  idle ${r.idle.toFixed(0)} %  RSS ${r.rss.toFixed(0)} MB  wrk wake-ups ${r.wakeups.toFixed(2)}/req` +
    (r === b ? '' : `  ×${(r.rps / b.rps).toFixed(2)} bare req/s, p99 ×${(r.p99 / b.p99).toFixed(2)}`) +
    (r.split ? `  (connections per instance: ${r.split})` : '') +
    (r.errors ? `  (${r.errors})` : '')
  if (ROUNDS > 1) console.log('medians:')
  const results = new Map(all.map((x) => [x.label, medianOf(runs.get(x)!)]))
  results.set(bare.label, b)
  for (const [label, r] of results) console.log(line(label, r))
  const one = results.get('teamday, PostgreSQL ×1')
  const two = results.get('teamday, PostgreSQL ×2')
  const sqlite = [...results.entries()].find(([l]) => l.startsWith('teamday, SQLite'))?.[1]
  // The same ratios round by round (each round runs every server once, back to back): on a noisy
  // machine a ratio within one round is the fairer comparison, and the spread shows the noise.
  const runsOf = (label: string) => runs.get(all.find((x) => x.label === label)!)!
  const bareRuns = runs.get(bare)!
  const byRound = (rs: Result[], of: (r: Result, i: number) => number) => rs.map((r, i) => of(r, i).toFixed(2)).join(', ')
  const perRound = (text: () => string) => (ROUNDS > 1 ? `; by round: ${text()}` : '')
  const sqliteLabel = all.find((x) => x.label.startsWith('teamday, SQLite'))?.label
  if (sqlite && sqliteLabel) {
    const rs = runsOf(sqliteLabel)
    const rounds = perRound(() => `req/s ×${byRound(rs, (r, i) => r.rps / bareRuns[i]!.rps)}, p99 ×${byRound(rs, (r, i) => r.p99 / bareRuns[i]!.p99)}`)
    console.log(`  SQLite: req/s ×${(sqlite.rps / b.rps).toFixed(2)} bare (goal >= 0.5), p99 ×${(sqlite.p99 / b.p99).toFixed(2)} bare (goal <= 2)${rounds}`)
  }
  if (one && two) {
    const [oneRuns, twoRuns] = [runsOf('teamday, PostgreSQL ×1'), runsOf('teamday, PostgreSQL ×2')]
    const rounds = perRound(() => `×${byRound(twoRuns, (r, i) => r.rps / oneRuns[i]!.rps)} one instance's req/s, p99 ×${byRound(twoRuns, (r, i) => r.p99 / bareRuns[i]!.p99)}`)
    console.log(`  PostgreSQL: two instances ×${(two.rps / one.rps).toFixed(2)} one instance's req/s (goal >= 1), p99 ×${(two.p99 / b.p99).toFixed(2)} the bare floor's (goal <= 2)${rounds}`)
  }
} finally {
  await stopAll(children)
  await probe?.end()
  await pgdb?.drop().catch((e) => console.error(`dropping ${pgdb.name}: ${e}`))
  rmSync(dir, { recursive: true, force: true })
}
