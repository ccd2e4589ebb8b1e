// Steady-state soak: does the compiled server's memory level off under a plain, steady mix, or
// grow with the requests? bench/soak.ts mixes every kind of request there is (executions moving
// 2 MiB streams among them), which leaves RSS swinging by 200 MB from sample to sample; this one
// keeps to what a busy API serves all day, so that a slope shows: reads of lists and tokens with
// a few hundred tokens (STEADY_TOKENS, default 300) in turn, task creates, 401s for random
// well-formed tokens (the per-address failure limit off, so each is looked up), and console
// login pages. RSS (and open fds) every STEADY_SAMPLE_S (10); at the end RSS at the start, its
// plateau (median of the second third of the samples), its end (median of the last third) and
// end / plateau, which a server holding nothing per request keeps near 1.
//
//   npm run build && bun bench/soak-steady.ts dist/teamday
//   STEADY_MINUTES=6 STEADY_SAMPLE_S=10 STEADY_WORKERS=16 STEADY_TOKENS=300 STEADY_PORT=0 bun bench/soak-steady.ts dist/teamday
import { spawn, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { generateToken } from '../src/auth/tokens'
import { listeningPort, median, rssMb } from './common'

const BIN = resolve(process.argv[2] ?? 'dist/teamday')
const MINUTES = Number(process.env.STEADY_MINUTES ?? 6)
const SAMPLE_S = Number(process.env.STEADY_SAMPLE_S ?? 10)
const WORKERS = Number(process.env.STEADY_WORKERS ?? 16)
const TOKENS = Number(process.env.STEADY_TOKENS ?? 300)

const dir = mkdtempSync(join(tmpdir(), 'teamday-steady-'))
const db = join(dir, 'teamday.db')
const env = {
  ...process.env,
  NODE_ENV: 'production',
  TEAMDAY_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
  TEAMDAY_RATE_LIMIT: '999999999/60s',
  TEAMDAY_AUTH_FAILURE_LIMIT: 'off',
  TEAMDAY_MAX_TOKENS_PER_USER: String(TOKENS + 10),
  TEAMDAY_ACCESS_LOG: 'on',
}
const admin = (args: string[]) => {
  const r = spawnSync(BIN, [...args, '--db', db], { encoding: 'utf8', env })
  if (r.status !== 0) throw new Error(`${args.join(' ')}: ${r.stderr}`)
  return r.stdout.trim()
}
admin(['users', 'create', '--email', 'steady@example.com', '--org', 'steady', '--role', 'admin'])
const first = admin(['tokens', 'create', '--email', 'steady@example.com', '--name', 'steady'])

const child = spawn(BIN, ['serve', '--host', '127.0.0.1', '--port', process.env.STEADY_PORT ?? '0', '--db', db], { env, stdio: ['ignore', 'pipe', 'ignore'] })
const pid = child.pid!
const base = `http://127.0.0.1:${await listeningPort(child)}`
const auth = (t: string) => ({ authorization: `Bearer ${t}` })

// The tokens, made through the API (their plaintexts stay in this process's memory only).
const tokens: { token: string; id: string }[] = []
for (let i = 0; i < TOKENS; i++) {
  const res = await fetch(`${base}/api/v1/tokens`, { method: 'POST', headers: { ...auth(first), 'content-type': 'application/json' }, body: JSON.stringify({ name: `steady ${i}` }) })
  const body = (await res.json()) as { token: string; id: string }
  if (res.status !== 201) throw new Error(`token ${i}: ${res.status}`)
  tokens.push({ token: body.token, id: body.id })
}
for (let i = 0; i < 20; i++) {
  await fetch(`${base}/api/v1/agents`, {
    method: 'POST',
    headers: { ...auth(first), 'content-type': 'application/json' },
    body: JSON.stringify({ name: `Agent ${i}`, role: 'Reviewer', systemPrompt: 'You review code.', visibility: 'organization' }),
  })
}

const pick = <T>(xs: T[]) => xs[Math.floor(Math.random() * xs.length)]!
function one(): Promise<Response> {
  const r = Math.random()
  const t = pick(tokens)
  if (r < 0.4) return fetch(`${base}/api/v1/agents`, { headers: auth(t.token) })
  if (r < 0.55) return fetch(`${base}/api/v1/tasks?limit=20`, { headers: auth(t.token) })
  if (r < 0.65) return fetch(`${base}/api/v1/tokens/${t.id}`, { headers: auth(t.token) })
  if (r < 0.75) return fetch(`${base}/api/v1/tasks`, { method: 'POST', headers: { ...auth(t.token), 'content-type': 'application/json' }, body: JSON.stringify({ title: `task ${Math.random()}` }) })
  if (r < 0.9) return fetch(`${base}/api/v1/agents`, { headers: auth(generateToken()) })
  return fetch(`${base}/login`)
}

const statuses = new Map<number, number>()
let requests = 0
let stop = false
async function worker() {
  while (!stop) {
    try {
      const res = await one()
      await res.arrayBuffer()
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1)
    } catch {
      statuses.set(0, (statuses.get(0) ?? 0) + 1)
    }
    requests++
  }
}

const fds = () => readdirSync(`/proc/${pid}/fd`).length
const start = rssMb(pid)
console.log(`soak-steady: ${BIN}, SQLite, ${TOKENS} tokens, ${WORKERS} workers, ${MINUTES} min, a sample every ${SAMPLE_S} s; RSS at the start ${start.toFixed(1)} MB`)
const samples: number[] = []
const t0 = performance.now()
const workers = Array.from({ length: WORKERS }, worker)
while (performance.now() - t0 < MINUTES * 60_000) {
  await Bun.sleep(SAMPLE_S * 1000)
  const rss = rssMb(pid)
  samples.push(rss)
  console.log(`  ${((performance.now() - t0) / 60_000).toFixed(1).padStart(5)} min  ${String(requests).padStart(8)} requests  rss ${rss.toFixed(1)} MB  fds ${fds()}`)
}
stop = true
await Promise.all(workers)
const third = Math.max(1, Math.floor(samples.length / 3))
const plateau = median(samples.slice(third, 2 * third))
const end = median(samples.slice(-third))
const seconds = (performance.now() - t0) / 1000
console.log(`requests ${requests} (${(requests / seconds).toFixed(0)}/s), statuses ${JSON.stringify(Object.fromEntries(statuses))}`)
console.log(`RSS start ${start.toFixed(1)} MB, plateau ${plateau.toFixed(1)} MB, end ${end.toFixed(1)} MB, end / plateau ${(end / plateau).toFixed(3)}`)
child.kill('SIGTERM')
await new Promise((r) => child.once('exit', r))
rmSync(dir, { recursive: true, force: true })
