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
//   npm run build && bun bench/mixed.ts dist/teamday      (the compiled binary instead of the source)
//   BENCH_PROFILE=/tmp/prof npm run bench:mixed          (a CPU profile of our server)
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { loadConfig } from '../src/config'
import { createLogger } from '../src/logger'
import { createToken } from '../src/modules/tokens/service'
import { createUser } from '../src/modules/users/service'
import { operatorContext } from '../src/context'
import { createRuntime, sqliteConnection } from '../src/runtime'
import { seedAgents, seedSpaces, seedTasks } from './seed'

const BIN = process.argv[2] ? resolve(process.argv[2]) : null
const SECONDS = Number(process.env.BENCH_SECONDS ?? 30)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 1)
const CONNS = Number(process.env.BENCH_CONNECTIONS ?? 64)
const TASKS = Number(process.env.BENCH_TASKS ?? 100_000)
const AGENTS = Number(process.env.BENCH_AGENTS ?? 20_000)

if (spawnSync('wrk', ['--version']).error) {
  console.error('wrk is not installed: apt-get install -y wrk')
  process.exit(2)
}

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
const agentIds = seedAgents(sqliteConnection(rt).sync, owner, AGENTS, o)
const spaceIds = seedSpaces(sqliteConnection(rt).sync, owner, 50, o)
const taskIds = seedTasks(sqliteConnection(rt).sync, owner, TASKS, { ...o, agentIds: agentIds.slice(0, 500), spaceIds })
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
  `local get = { ["Authorization"] = "Bearer ${token}" }
local post = { ["Authorization"] = "Bearer ${token}", ["Content-Type"] = "application/json" }
local lists = ${lua(lists)}
local tasks = ${lua(sample(taskIds, 2000))}
local agents = ${lua(sample(agentIds, 1000))}
local n = 0
request = function()
  n = n + 1
  local r = math.random(100)
  if r <= 65 then
    return wrk.format("GET", lists[math.random(#lists)], get)
  elseif r <= 85 then
    return wrk.format("POST", "/api/v1/tasks", post, '{"title":"Bench task ' .. n .. '","description":"Created by the mixed benchmark","priority":"high"}')
  elseif r <= 90 then
    return wrk.format("POST", "/api/v1/agents", post, '{"name":"Bench agent ' .. n .. '","systemPrompt":"You help.","category":"support","visibility":"organization"}')
  elseif r <= 97 then
    return wrk.format("GET", "/api/v1/tasks/" .. tasks[math.random(#tasks)], get)
  else
    return wrk.format("GET", "/api/v1/agents/" .. agents[math.random(#agents)], get)
  end
end
`,
)

// ── run ───────────────────────────────────────────────────────────────────────────────────
function listeningPort(child: ChildProcess): Promise<number> {
  return new Promise((ok, fail) => {
    let buf = ''
    child.stdout!.on('data', (d) => {
      buf += d
      const m = /listening on http:\/\/[^:]+:(\d+)/.exec(buf)
      if (m) ok(Number(m[1]))
    })
    child.once('exit', () => fail(new Error(`process exited: ${buf}`)))
  })
}
const toMs = (v: string) => {
  const m = /^([\d.]+)(us|ms|s)$/.exec(v.trim())
  if (!m) return NaN
  const n = Number(m[1])
  return m[2] === 'us' ? n / 1000 : m[2] === 's' ? n * 1000 : n
}
/** CPU seconds (user + system) the process has used so far. */
const cpuSeconds = (pid: number) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
  return (Number(f[11]) + Number(f[12])) / 100
}
const rssMb = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) / 1024

interface Result {
  rps: number
  p50: number
  p99: number
  rss: number
  /** CPU ms of the server per request. */
  cpu: number
  errors: string
}

/** A server, started and answering; `url` once it listens. */
async function ready(label: string, child: ChildProcess): Promise<string> {
  const url = `http://127.0.0.1:${await listeningPort(child)}`
  const probe = await fetch(`${url}/api/v1/tasks?limit=1`, { headers: { authorization: `Bearer ${token}` } })
  if (probe.status !== 200) throw new Error(`${label}: GET /api/v1/tasks answered ${probe.status}`)
  return url
}

function bench(url: string, child: ChildProcess): Result {
  const cpu0 = cpuSeconds(child.pid!)
  const r = spawnSync('wrk', ['-t1', `-c${CONNS}`, `-d${SECONDS}s`, '--latency', '--timeout', '30s', '-s', script, url], { encoding: 'utf8' })
  const out = r.stdout
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1]
  const socket = /Socket errors: (.*)/.exec(out)?.[1]
  const requests = Number(/(\d+) requests in/.exec(out)?.[1])
  return {
    cpu: ((cpuSeconds(child.pid!) - cpu0) * 1000) / requests,
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]),
    p50: toMs(/\s50%\s+(\S+)/.exec(out)?.[1] ?? ''),
    p99: toMs(/\s99%\s+(\S+)/.exec(out)?.[1] ?? ''),
    rss: rssMb(child.pid!),
    errors: [non2xx ? `${non2xx} non-2xx` : '', socket ? `socket errors: ${socket}` : ''].filter(Boolean).join(', '),
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const medianOf = (rs: Result[]): Result => ({
  rps: median(rs.map((r) => r.rps)),
  p50: median(rs.map((r) => r.p50)),
  p99: median(rs.map((r) => r.p99)),
  cpu: median(rs.map((r) => r.cpu)),
  rss: Math.max(...rs.map((r) => r.rss)),
  errors: rs.map((r) => r.errors).filter(Boolean).join('; '),
})

async function stop(child: ChildProcess) {
  if (child.exitCode !== null) return
  child.kill('SIGTERM')
  await new Promise((r) => child.once('exit', r))
}

const serverArgs = ['serve', '--port', '0', '--host', '127.0.0.1', '--db', oursDb]
// BENCH_PROFILE=DIR (source only): both servers write a CPU profile there when they stop.
const profile = process.env.BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${resolve(process.env.BENCH_PROFILE)}`] : []
const ours = spawn(BIN ?? process.execPath, BIN ? serverArgs : [...profile, join(import.meta.dir, '..', 'src', 'main.ts'), ...serverArgs], {
  stdio: ['ignore', 'pipe', 'inherit'],
  env: { ...process.env, NODE_ENV: 'production', TEAMDAY_LOG_LEVEL: 'warn', TEAMDAY_RATE_LIMIT: '999999999/60s' },
})
const bare = spawn(process.execPath, [...profile, join(import.meta.dir, 'bare-mixed.ts'), bareDb], { stdio: ['ignore', 'pipe', 'inherit'] })

try {
  const [oursUrl, bareUrl] = [await ready('teamday', ours), await ready('bare', bare)]
  console.log(`mixed workload: wrk -t1 -c${CONNS} -d${SECONDS}s x ${ROUNDS} round(s), alternating; 65 % list first pages (mixed filters), 25 % creates, 10 % GET by id`)
  const runs: { a: Result; b: Result }[] = []
  for (let i = 0; i < ROUNDS; i++) runs.push({ a: bench(oursUrl, ours), b: bench(bareUrl, bare) })
  const a = medianOf(runs.map((r) => r.a))
  const b = medianOf(runs.map((r) => r.b))
  const line = (name: string, r: Result) =>
    `  ${name.padEnd(34)}${r.rps.toFixed(0).padStart(7)} req/s  p50 ${r.p50.toFixed(1).padStart(6)} ms  p99 ${r.p99.toFixed(1).padStart(6)} ms  CPU ${r.cpu.toFixed(2)} ms/req  RSS ${r.rss.toFixed(0)} MB${r.errors ? `  (${r.errors})` : ''}`
  if (ROUNDS > 1) console.log('medians:')
  console.log(line(`teamday (${BIN ? 'binary' : 'source'})`, a))
  console.log(line('bare Bun.serve + bun:sqlite, same SQL', b))
  console.log(`  ratio req/s teamday / bare: ${(a.rps / b.rps).toFixed(2)} (goal >= 0.5)   ratio p99: ${(a.p99 / b.p99).toFixed(2)} (goal <= 2)`)
} finally {
  await stop(ours)
  await stop(bare)
  rmSync(dir, { recursive: true, force: true })
}
