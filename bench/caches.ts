// What the caches earn under writes, in process: two apps on one SQLite file, TEAMDAY_CACHE on
// (the single-row cache with its shared mapped rows for the token look-up and data versions, and
// the agent-list cache with its compressed copies) and off, the same request mix sent through
// app.handle in short alternating rounds: 90 % authenticated agent lists (20 agents; with
// Accept-Encoding: gzip, as fetch and the TeamDay CLI send it), 10 % task creates (each a commit,
// which empties the row cache; the agent list's version is untouched by tasks). CPU time per
// request (process.cpuUsage), p25 and median of the rounds, and the ratio off / on.
//
// With BENCH_READ=token the reads are one token's GET (`GET /api/v1/tokens/{id}`, another token
// of the same user) instead of the agent list: the row cache with its shared result, whose shown
// parts (opened name and address, instants as text) are kept per result (src/modules/tokens/service.ts).
//
//   bun bench/caches.ts 2>/dev/null
//   BENCH_READ=token bun bench/caches.ts 2>/dev/null
//   BENCH_ROUNDS=41 BENCH_REQUESTS=1000 bun bench/caches.ts 2>/dev/null
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createApp } from '../src/app'
import { loadConfig } from '../src/config'
import { operatorContext } from '../src/context'
import { createLogger } from '../src/logger'
import { createToken } from '../src/modules/tokens/service'
import { createUser } from '../src/modules/users/service'
import { createRuntime } from '../src/runtime'

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 21)
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 500)

const dir = mkdtempSync(join(tmpdir(), 'teamday-caches-'))
const dbPath = join(dir, 'bench.db')
const runtime = (cache: boolean) => createRuntime(loadConfig({ TEAMDAY_RATE_LIMIT: '999999999/60s' }, { dbPath, cache }), { log: createLogger('warn') })
const on = await runtime(true)
const off = await runtime(false)
const { user, organization } = await createUser(operatorContext(on), { email: 'bench@example.com', orgSlug: 'bench', role: 'admin' })
const { token } = await createToken(operatorContext(on), { userId: user.id, organizationId: organization.id }, { name: 'bench' })
const { row: shown } = await createToken(operatorContext(on), { userId: user.id, organizationId: organization.id }, { name: 'shown' })
const READ = process.env.BENCH_READ === 'token' ? `/api/v1/tokens/${shown.id}` : '/api/v1/agents'
const apps = { on: createApp(on, { peerAddress: () => '127.0.0.1' }), off: createApp(off, { peerAddress: () => '127.0.0.1' }) }
const headers = { authorization: `Bearer ${token}`, 'accept-encoding': 'gzip' }
const post = (app: (typeof apps)['on'], path: string, body: unknown) =>
  app.handle(new Request(`http://localhost${path}`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify(body) }))
for (let i = 0; i < 20; i++) {
  const res = await post(apps.on, '/api/v1/agents', { name: `Code Reviewer ${i}`, role: 'Senior Developer', systemPrompt: 'You review code for quality, security, and best practices.', visibility: 'organization', tags: ['review', 'security'] })
  if (res.status !== 201) throw new Error(`agent ${i}: ${res.status}`)
}

const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * q)]!
const cpu = () => {
  const u = process.cpuUsage()
  return u.user + u.system
}
let n = 0
async function round(app: (typeof apps)['on']): Promise<number> {
  const t0 = cpu()
  for (let i = 0; i < REQUESTS; i++) {
    // A commit between requests, as on a server with writes (not a wall-clock turn: in process,
    // each request is read in a turn of its own anyway, see test/helpers/app.ts).
    await new Promise<void>((r) => setImmediate(r))
    const res = i % 10 === 9 ? await post(app, '/api/v1/tasks', { title: `Bench task ${n++}` }) : await app.handle(new Request(`http://localhost${READ}`, { headers }))
    if (res.status !== 200 && res.status !== 201) throw new Error(`${res.url}: ${res.status}`)
    await res.arrayBuffer()
  }
  return (cpu() - t0) / REQUESTS
}

const t = { on: [] as number[], off: [] as number[] }
await round(apps.on)
await round(apps.off)
for (let r = 0; r < ROUNDS; r++) {
  for (const k of r % 2 ? (['off', 'on'] as const) : (['on', 'off'] as const)) t[k].push(await round(apps[k]))
}
const f = (xs: number[]) => `p25 ${quantile(xs, 0.25).toFixed(1)} median ${quantile(xs, 0.5).toFixed(1)}`
console.log(`90 % GET ${READ === '/api/v1/agents' ? READ : '/api/v1/tokens/{id}'} (gzip) + 10 % POST /api/v1/tasks, µs CPU/request: caches on ${f(t.on)}; off ${f(t.off)}; off / on at the median ×${(quantile(t.off, 0.5) / quantile(t.on, 0.5)).toFixed(2)}`)
await on.close()
await off.close()
rmSync(dir, { recursive: true, force: true })
process.exit(0)
