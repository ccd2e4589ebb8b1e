// What the access log and request metrics cost a request, in process: two apps on one database
// (access log on / off; metrics count in both), the authenticated agent list (20 agents, served
// from the serialized cache) and one token's GET (a JSON object, sized by serializing it), sent
// through app.handle in many short alternating rounds. CPU time per request (process.cpuUsage):
// the fastest quarter of rounds (p25) and the median; on a loaded machine p25 is the steadier.
// Log lines go to stderr as the server writes them (redirect it: `2>/dev/null` or a file).
// The socket peer is injected as a constant (a server asks Bun: one getpeername per request).
//
//   bun bench/access-log.ts 2>/dev/null
//   BENCH_ROUNDS=61 BENCH_REQUESTS=1000 bun bench/access-log.ts 2>/tmp/access.log
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

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 31)
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 500)

const dir = mkdtempSync(join(tmpdir(), 'teamday-access-'))
const dbPath = join(dir, 'bench.db')
const runtime = (access: boolean) =>
  createRuntime(loadConfig({ TEAMDAY_RATE_LIMIT: '999999999/60s' }, { dbPath }), { log: createLogger('info', undefined, Date.now, { format: 'json', access }) })
const on = await runtime(true)
const off = await runtime(false)
const { user, organization } = await createUser(operatorContext(on), { email: 'bench@example.com', orgSlug: 'bench', role: 'admin' })
const { token, row } = await createToken(operatorContext(on), { userId: user.id, organizationId: organization.id }, { name: 'bench' })
const apps = { on: createApp(on, { peerAddress: () => '127.0.0.1' }), off: createApp(off, { peerAddress: () => '127.0.0.1' }) }
const headers = { authorization: `Bearer ${token}` }
for (let i = 0; i < 20; i++) {
  const res = await apps.on.handle(
    new Request('http://localhost/api/v1/agents', {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json' },
      body: JSON.stringify({ name: `Code Reviewer ${i}`, role: 'Senior Developer', systemPrompt: 'You review code for quality, security, and best practices.', visibility: 'organization', tags: ['review', 'security'] }),
    }),
  )
  if (res.status !== 201) throw new Error(`agent ${i}: ${res.status}`)
}

const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * q)]!
const cpu = () => {
  const u = process.cpuUsage()
  return u.user + u.system
}
async function round(app: (typeof apps)['on'], path: string): Promise<number> {
  const t0 = cpu()
  for (let i = 0; i < REQUESTS; i++) {
    const res = await app.handle(new Request(`http://localhost${path}`, { headers }))
    if (res.status !== 200) throw new Error(`${path}: ${res.status}`)
    await res.arrayBuffer()
  }
  return (cpu() - t0) / REQUESTS
}

for (const path of ['/api/v1/agents', `/api/v1/tokens/${row.id}`]) {
  const t = { on: [] as number[], off: [] as number[] }
  await round(apps.on, path)
  await round(apps.off, path)
  for (let r = 0; r < ROUNDS; r++) {
    for (const k of r % 2 ? (['off', 'on'] as const) : (['on', 'off'] as const)) t[k].push(await round(apps[k], path))
  }
  const f = (xs: number[]) => `p25 ${quantile(xs, 0.25).toFixed(1)} median ${quantile(xs, 0.5).toFixed(1)}`
  const label = path.startsWith('/api/v1/tokens/') ? 'GET /api/v1/tokens/{id}' : `GET ${path}`
  console.log(`${label.padEnd(26)} µs CPU/request, access log on: ${f(t.on)}; off: ${f(t.off)}; on − off at p25: ${(quantile(t.on, 0.25) - quantile(t.off, 0.25)).toFixed(1)}`)
}
on.log.flush()
rmSync(dir, { recursive: true, force: true })
process.exit(0)
