// Benchmark: the compiled binary on a fresh database with 20 agents; authenticated
// GET /api/v1/agents (and one token's GET, mostly the auth path) against a bare Bun.serve that
// returns the very same response bytes as a constant. Alternates the two in one run and prints
// median req/s, the ratio, p50/p99 latency and the server's RSS.
// Targets on a 2-core machine: ratio >= 0.5, p99 < 5 ms, RSS < 150 MB.
//
//   npm run build && npm run bench            (needs wrk: apt-get install -y wrk)
//   BENCH_SECONDS=5 BENCH_ROUNDS=3 BENCH_CONNECTIONS=64 npm run bench
//   BENCH_ACCESS_LOG=off npm run bench    (the server logs at info with its access log on by
//   default, JSON lines into a file, as under systemd or Docker; off measures what the log costs)
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, openSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'

const BIN = resolve(process.argv[2] ?? 'dist/teamday')
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const CONNS = Number(process.env.BENCH_CONNECTIONS ?? 64)
const THREADS = Number(process.env.BENCH_THREADS ?? 1)

if (spawnSync('wrk', ['--version']).error) {
  console.error('wrk is not installed: apt-get install -y wrk')
  process.exit(2)
}

const dir = mkdtempSync(join(tmpdir(), 'teamday-bench-'))
const db = join(dir, 'bench.db')
const run = (args: string[]) => {
  const r = spawnSync(BIN, [...args, '--db', db], { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`${args.join(' ')}: ${r.stderr}`)
  return r.stdout.trim()
}
run(['users', 'create', '--email', 'bench@example.com', '--org', 'bench', '--role', 'admin'])
const token = run(['tokens', 'create', '--email', 'bench@example.com', '--name', 'bench'])
for (let i = 0; i < Number(process.env.BENCH_TOKENS ?? 3) - 1; i++) run(['tokens', 'create', '--email', 'bench@example.com', '--name', `extra ${i}`])

// The rate limiter stays on (its cost is part of every request) with a limit wrk cannot reach.
const logFile = join(dir, 'server.log')
const server = spawn(BIN, ['serve', '--port', '0', '--host', '127.0.0.1', '--db', db], {
  stdio: ['ignore', 'pipe', openSync(logFile, 'w')],
  env: {
    ...process.env,
    TEAMDAY_LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'info',
    TEAMDAY_ACCESS_LOG: process.env.BENCH_ACCESS_LOG ?? 'on',
    TEAMDAY_RATE_LIMIT: process.env.BENCH_RATE_LIMIT ?? '999999999/60s',
  },
})
function listeningPort(child: ReturnType<typeof spawn>): Promise<number> {
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
const port = await listeningPort(server)
const base = `http://127.0.0.1:${port}`
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
const oneId = (list as any).tokens[0].id
// The agent list (20 agents) and one token's metadata (mostly the auth path).
const targets = (process.env.BENCH_PATHS ?? `/api/v1/agents,/api/v1/tokens/${oneId}`).split(',')

const bares: ReturnType<typeof spawn>[] = []
async function baseline(path: string): Promise<{ url: string; bareUrl: string; size: number }> {
  const sample = await fetch(base + path, { headers: { authorization: `Bearer ${token}` } })
  if (sample.status !== 200) throw new Error(`GET ${path}: ${sample.status}`)
  const bytes = new Uint8Array(await sample.arrayBuffer())
  // The baseline: same bytes, no routing, no auth, no database, in a process of its own.
  const bodyFile = join(dir, `body${bares.length}.json`)
  await Bun.write(bodyFile, bytes)
  const bare = spawn(process.execPath, [join(import.meta.dir, 'bare.ts'), bodyFile, sample.headers.get('content-type')!], { stdio: ['ignore', 'pipe', 'inherit'] })
  bares.push(bare)
  return { url: base + path, bareUrl: `http://127.0.0.1:${await listeningPort(bare)}/`, size: bytes.length }
}

interface Result {
  rps: number
  p50: number
  p99: number
}
function toMs(v: string): number {
  const m = /^([\d.]+)(us|ms|s)$/.exec(v.trim())
  if (!m) return NaN
  const n = Number(m[1])
  return m[2] === 'us' ? n / 1000 : m[2] === 's' ? n * 1000 : n
}
function wrk(target: string, auth: boolean): Result {
  const args = ['-t', String(THREADS), '-c', String(CONNS), '-d', `${SECONDS}s`, '--latency']
  if (auth) args.push('-H', `Authorization: Bearer ${token}`)
  const r = spawnSync('wrk', [...args, target], { encoding: 'utf8' })
  const out = r.stdout
  if (/Non-2xx/.test(out)) throw new Error(`non-2xx responses:\n${out}`)
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]),
    p50: toMs(/\s50%\s+(\S+)/.exec(out)?.[1] ?? ''),
    p99: toMs(/\s99%\s+(\S+)/.exec(out)?.[1] ?? ''),
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const rss = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${server.pid}/status`, 'utf8'))?.[1]) / 1024

try {
  console.log(`teamday bench: ${ROUNDS} alternating rounds of ${SECONDS}s per target, wrk -t${THREADS} -c${CONNS}`)
  for (const path of targets) {
    const { url, bareUrl, size } = await baseline(path)
    wrk(url, true) // warm-up
    const ours: Result[] = []
    const bare: Result[] = []
    for (let i = 0; i < ROUNDS; i++) {
      ours.push(wrk(url, true))
      bare.push(wrk(bareUrl, false))
    }
    const med = (rs: Result[]) => ({ rps: median(rs.map((r) => r.rps)), p50: median(rs.map((r) => r.p50)), p99: median(rs.map((r) => r.p99)) })
    const o = med(ours)
    const b = med(bare)
    const label = path.replace(oneId, '{id}')
    console.log(`GET ${label} (${size} bytes)`)
    console.log(`  teamday, authenticated  : ${o.rps.toFixed(0).padStart(7)} req/s  p50 ${o.p50.toFixed(2)} ms  p99 ${o.p99.toFixed(2)} ms`)
    console.log(`  bare Bun.serve, same bytes: ${b.rps.toFixed(0).padStart(7)} req/s  p50 ${b.p50.toFixed(2)} ms  p99 ${b.p99.toFixed(2)} ms`)
    console.log(`  ratio teamday / bare    : ${(o.rps / b.rps).toFixed(2)}`)
  }
  console.log(`teamday RSS after the run: ${rss().toFixed(0)} MB; log written: ${(statSync(logFile).size / 1e6).toFixed(1)} MB (access log ${process.env.BENCH_ACCESS_LOG ?? 'on'})`)
} finally {
  server.kill('SIGTERM')
  for (const b of bares) b.kill('SIGTERM')
  await new Promise((r) => server.once('exit', r))
  rmSync(dir, { recursive: true, force: true })
}
