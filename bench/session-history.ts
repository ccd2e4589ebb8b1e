// Benchmark: does a synchronous execute that continues a long session (a cron job that goes on
// one chat day after day) slow down as the session grows? Seeds a session of 1,000 and then
// 20,000 completed turns of one user and times POST /api/v1/agents/{id}/execute with that
// sessionId against the provider double (test/helpers/providers.ts), in-process on a WAL file,
// median of SESSION_REPEAT. The history sent is bounded by TEAMDAY_MAX_HISTORY_CHARS; what it
// costs to find it should not follow the session's length.
//
//   bun bench/session-history.ts           SESSION_SIZES=1000,20000 SESSION_REPEAT=15 SESSION_PROVIDER_PORT=0
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createApp } from '../src/app'
import { loadConfig } from '../src/config'
import { operatorContext } from '../src/context'
import { createLogger } from '../src/logger'
import { createToken } from '../src/modules/tokens/service'
import { createUser } from '../src/modules/users/service'
import { createRuntime, sqliteConnection } from '../src/runtime'
import { startProviderDouble } from '../test/helpers/providers'
import { seedExecutions } from './seed'

const SIZES = (process.env.SESSION_SIZES ?? '1000,20000').split(',').map(Number)
const REPEAT = Number(process.env.SESSION_REPEAT ?? 15)
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const double = startProviderDouble(Number(process.env.SESSION_PROVIDER_PORT ?? 0))

async function measure(n: number): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'teamday-session-'))
  const rt = await createRuntime(loadConfig({ TEAMDAY_RATE_LIMIT: 'off' }, { dbPath: join(dir, 'bench.db'), logLevel: 'silent', openaiBaseUrl: double.openaiBaseUrl, defaultModel: 'test-model' }), { log: createLogger('silent') })
  const { user, organization } = await createUser(operatorContext(rt), { email: 'cron@example.com', orgSlug: 'bench', role: 'admin' })
  const owner = { userId: user.id, organizationId: organization.id }
  const { token } = await createToken(operatorContext(rt), owner, { name: 'cron' })
  const app = createApp(rt)
  const call = async (method: string, path: string, body?: unknown) => {
    const t0 = performance.now()
    const res = await app.handle(new Request(`http://localhost${path}`, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: body ? JSON.stringify(body) : undefined }))
    const text = await res.text()
    if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${text.slice(0, 300)}`)
    return { ms: performance.now() - t0, body: JSON.parse(text) }
  }
  const agent = (await call('POST', '/api/v1/agents', { name: 'Cron agent', systemPrompt: 'Report.' })).body
  const first = (await call('POST', `/api/v1/agents/${agent.id}/execute`, { message: 'hello' })).body
  const session = first.sessionId as string
  const ids = await seedExecutions(sqliteConnection(rt).sync, owner, n, { now: Date.now() - 3_600_000, step: 60_000, agentIds: [agent.id] })
  const c = sqliteConnection(rt).client
  c.prepare(`update executions set session_id = ?, chat_id = ?, status = 'completed' where id in (select value from json_each(?))`).run(session, session, JSON.stringify(ids))
  c.exec('ANALYZE')
  const times: number[] = []
  for (let i = 0; i < REPEAT + 2; i++) {
    const r = await call('POST', `/api/v1/agents/${agent.id}/execute`, { message: `turn ${i}`, sessionId: session })
    if (i >= 2) times.push(r.ms)
    if (i === 0) console.log(`  ${n} turns: historyTrimmed ${JSON.stringify(r.body.historyTrimmed)}`)
  }
  await rt.close()
  rmSync(dir, { recursive: true, force: true })
  return median(times)
}

const out: number[] = []
for (const n of SIZES) out.push(await measure(n))
console.log(`\nexecute continuing a session (median of ${REPEAT}): ${SIZES.map((n, i) => `${n.toLocaleString('en')} turns ${out[i]!.toFixed(2)} ms`).join(', ')}; ratio ${(out.at(-1)! / out[0]!).toFixed(2)}`)
double.stop()
process.exit(0)
