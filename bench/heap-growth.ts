// The in-process half of the soak (bench/soak.ts watches the binary from outside, where RSS moves
// by a hundred megabytes with the garbage collector's mood): the app on a test runtime, rounds of
// the same varied workload, and after each round a full collection and JavaScriptCore's count of
// live objects by type. A structure that keeps something per request (a Map keyed by client
// input, a listener per stream, a timer never cleared) shows as a type whose count rises round
// after round; a bounded server's counts level off after the first rounds (caches filling).
// The test clock moves a minute per round, so rate-limit windows, dedupe windows and caches with
// an age see time pass as in a long run.
//
//   bun bench/heap-growth.ts                      HEAP_ROUNDS=8 HEAP_ITERATIONS=150 (HEAP_PROVIDER_PORT: the provider double's port)
//   TEAMDAY_TEST_DATABASE=postgres bun bench/heap-growth.ts     (on a fresh PostgreSQL schema)
import { settledHeap } from './common'
import { decideLogin } from '../src/modules/cli-auth/service'
import { makeActor, makeTestApp, type Actor, type TestApp } from '../test/helpers/app'
import { consoleClient, givePassword } from '../test/helpers/console'
import { dropTestDatabases } from '../test/helpers/pg'
import { startProviderDouble } from '../test/helpers/providers'

const ROUNDS = Number(process.env.HEAP_ROUNDS ?? 8)
const ITERATIONS = Number(process.env.HEAP_ITERATIONS ?? 150)

const double = startProviderDouble(Number(process.env.HEAP_PROVIDER_PORT ?? 0))
const t: TestApp = await makeTestApp({ config: { openaiBaseUrl: double.openaiBaseUrl, defaultModel: 'test-model' } })
const admin: Actor = await makeActor(t, { role: 'admin', org: 'soak' })
const member: Actor = await makeActor(t, { role: 'member', org: 'soak' })
await givePassword(t, admin.userId)
const browser = consoleClient(t)
await browser.signIn(admin.email, 'correct horse battery staple')

const statuses = new Map<string, number>()
const note = (what: string, status: number) => statuses.set(`${what} ${status}`, (statuses.get(`${what} ${status}`) ?? 0) + 1)
const randomIp = () => `10.${(Math.random() * 256) | 0}.${(Math.random() * 256) | 0}.${(Math.random() * 256) | 0}`
const ids = { agents: [] as string[], tasks: [] as string[], spaces: [] as string[], executions: [] as string[] }
let n = 0

async function req(what: string, method: string, path: string, o: Parameters<TestApp['req']>[2] = {}) {
  const r = await t.req(method, path, o)
  note(what, r.status)
  if (r.status >= 500) console.log(`  ! ${what} ${r.status} ${r.text.slice(0, 200)}`)
  return r
}

/** A streamed execute read for `events` chunks (all when null), then dropped. */
async function stream(agentId: string, message: string, chunks: number | null) {
  const res = await t.app.handle(
    new Request(`http://localhost/api/v1/agents/${agentId}/execute`, {
      method: 'POST',
      headers: { authorization: `Bearer ${member.token}`, 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify({ message }),
    }),
  )
  note('stream', res.status)
  const reader = res.body!.getReader()
  for (let i = 0; chunks === null || i < chunks; i++) if ((await reader.read()).done) return
  await reader.cancel()
}

async function iteration() {
  const i = ++n
  const a = admin.token
  for (const p of ['/api/v1/agents', '/api/v1/tasks', '/api/v1/spaces', '/api/v1/executions', '/api/v1/chats', '/api/v1/tokens', '/api/v1/tokens/self', '/api/v1/audit-events?limit=5'])
    await req('list', 'GET', p, { token: a })
  const ag = await req('create agent', 'POST', '/api/v1/agents', { token: a, body: { name: `Agent ${i}`, systemPrompt: 'You help.', visibility: 'organization' }, headers: { 'idempotency-key': `a-${i}` } })
  if (ag.body?.agent?.id) ids.agents.push(ag.body.agent.id)
  const sp = await req('create space', 'POST', '/api/v1/spaces', { token: a, body: { name: `Space ${i}` } })
  if (sp.body?.space?.id) ids.spaces.push(sp.body.space.id)
  const tk = await req('create task', 'POST', '/api/v1/tasks', { token: a, body: { title: `Task ${i}` }, headers: { 'idempotency-key': `t-${i}` } })
  if (tk.body?.id) ids.tasks.push(tk.body.id)
  const agentId = ids.agents.at(-1)!
  await req('update task', 'PATCH', `/api/v1/tasks/${ids.tasks.at(-1)}`, { token: a, body: { status: 'in_progress' } })
  await req('get agent', 'GET', `/api/v1/agents/${agentId}`, { token: member.token })
  if (ids.tasks.length > 20) await req('delete task', 'DELETE', `/api/v1/tasks/${ids.tasks.shift()}`, { token: a })
  if (ids.agents.length > 20) await req('delete agent', 'DELETE', `/api/v1/agents/${ids.agents.shift()}`, { token: a })
  if (ids.spaces.length > 20) await req('delete space', 'DELETE', `/api/v1/spaces/${ids.spaces.shift()}`, { token: a })

  // Tokens: create, use, rotate, revoke.
  const c = await req('create token', 'POST', '/api/v1/tokens', { token: a, body: { name: `t ${i}` } })
  if (c.body?.token) {
    const r = await req('rotate token', 'POST', `/api/v1/tokens/${c.body.id}/rotate`, { token: c.body.token, body: {}, ip: randomIp() })
    if (r.body?.id) await req('revoke token', 'DELETE', `/api/v1/tokens/${r.body.id}`, { token: a })
  }

  // Executions: sync, streamed to the end, streamed and dropped, async and cancelled.
  const sync = await req('execute', 'POST', `/api/v1/agents/${agentId}/execute`, { token: member.token, body: { message: `hi ${i}`, stream: false } })
  if (sync.body?.executionId) await req('execution logs', 'GET', `/api/v1/executions/${sync.body.executionId}/logs`, { token: member.token })
  await stream(agentId, 'WORDS 30', null)
  await stream(agentId, 'SLOW', 2)
  const q = await req('execute async', 'POST', `/api/v1/agents/${agentId}/execute`, { token: member.token, body: { message: 'HANG', async: true } })
  if (q.body?.executionId) await req('cancel', 'POST', `/api/v1/executions/${q.body.executionId}/cancel`, { token: member.token, body: {} })

  // A CLI sign-in: initiate, approved in the console, polled, refreshed, revoked.
  const ip = randomIp()
  const init = await req('cli initiate', 'POST', '/api/auth/cli/initiate', { body: {}, ip })
  if (init.body?.code) {
    await decideLogin(t.ctx, init.body.code, { userId: admin.userId, organizationId: admin.organizationId }, 'approve')
    const p = await req('cli poll', 'GET', `/api/auth/cli/poll?code=${init.body.code}`, { ip })
    if (p.body?.refreshToken) {
      await req('cli use', 'GET', '/api/v1/agents', { token: p.body.accessToken, ip })
      await req('cli refresh', 'POST', '/api/auth/cli/refresh', { body: { refreshToken: p.body.refreshToken }, ip })
      await req('cli revoke', 'POST', '/api/auth/cli/revoke', { body: { refreshToken: p.body.refreshToken }, ip })
    }
  }

  // Console pages with the session cookie.
  for (const p of ['/settings/profile', '/agents', '/spaces', '/org/members']) note('console', (await browser.get(p)).status)

  // Bad requests, from addresses that change (per-address state must stay bounded).
  const bad = randomIp()
  await req('no token', 'GET', '/api/v1/agents', { ip: bad })
  await req('wrong token', 'GET', '/api/v1/agents', { token: `td_${crypto.randomUUID().replaceAll('-', '').padEnd(43, 'x')}`, ip: bad })
  await req('unknown id', 'GET', `/api/v1/tasks/task_${crypto.randomUUID().replaceAll('-', '')}`, { token: a })
  await req('unknown route', 'GET', `/api/v1/nothing/${crypto.randomUUID()}`, { token: a })
  await req('invalid body', 'POST', '/api/v1/tasks', { token: a, body: { title: 42 } })
  await req('bad json', 'POST', '/api/v1/agents', { token: a, raw: '{"name":', headers: { 'content-type': 'application/json' } })
  await req('oversized', 'POST', '/api/v1/tasks', { token: a, body: { title: 'big', description: 'x'.repeat(1_100_000) } })
  await req('fresh idempotency key', 'POST', '/api/v1/tasks', { token: a, body: { title: `idem ${i}` }, headers: { 'idempotency-key': crypto.randomUUID() } })
}

const quiet = async () => {
  for (let i = 0; i < 200 && (t.rt.engine.runningCount > 0 || t.rt.engine.queued > 0); i++) await Bun.sleep(25)
}

interface Round {
  heapMb: number
  objects: number
  types: Record<string, number>
}
const rounds: Round[] = []
for (let r = 0; r < ROUNDS; r++) {
  const started = performance.now()
  for (let i = 0; i < ITERATIONS; i++) await iteration()
  await quiet()
  const s = await settledHeap(t)
  rounds.push({ heapMb: s.heapSize / 1048576, objects: s.objectCount, types: { ...s.objectTypeCounts } })
  console.log(`round ${r + 1}: ${ITERATIONS} iterations in ${((performance.now() - started) / 1000).toFixed(1)} s, heap ${(s.heapSize / 1048576).toFixed(1)} MB, ${s.objectCount} objects, rss ${(process.memoryUsage().rss / 1048576).toFixed(0)} MB`)
}

// Types whose count rose in every round of the second half (after warm-up), by how much a round.
const half = Math.floor(ROUNDS / 2)
const rising: [string, number, number][] = []
for (const type of Object.keys(rounds.at(-1)!.types)) {
  const xs = rounds.slice(half - 1).map((r) => r.types[type] ?? 0)
  const steps = xs.slice(1).map((x, i) => x - xs[i]!)
  if (steps.every((d) => d > 0)) rising.push([type, steps.reduce((s, d) => s + d, 0) / steps.length, xs.at(-1)!])
}
rising.sort((a, b) => b[1] - a[1])
const first = rounds[half - 1]!
const last = rounds.at(-1)!
console.log(`\nsecond half (rounds ${half}–${ROUNDS}): heap ${first.heapMb.toFixed(1)} → ${last.heapMb.toFixed(1)} MB, objects ${first.objects} → ${last.objects} (${(((last.objects - first.objects) / (ROUNDS - half)) / ITERATIONS).toFixed(2)} a request mix)`)
if (rising.length === 0) console.log('no object type grew in every round of the second half: bounded')
else for (const [type, perRound, now] of rising.slice(0, 25)) console.log(`  rising: ${type.padEnd(32)} +${perRound.toFixed(0)} a round (now ${now})`)
console.log('\nanswers:', [...statuses].sort().map(([k, v]) => `${k}: ${v}`).join(', '))
double.stop()
// On PostgreSQL the runtime is closed and its test database dropped (as the test suite does after each file).
if (t.backend === 'pg') await dropTestDatabases()
else await t.rt.close()
process.exit(0)
