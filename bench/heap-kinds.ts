// bench/heap-growth.ts one kind of request at a time: rounds of HEAP_KIND_OPS requests of a
// single kind, each from a new client address where the kind has one, then a full collection and
// JavaScriptCore's count of live objects; prints, per kind, the live objects and heap bytes a
// request leaves over the second half of the rounds (after warm-up). A structure that keeps
// something per token, per address, per failed sign-in, per Idempotency-Key or per dropped stream
// shows as a steady rise; one with a bound rises only until it fills (the bounds: docs/performance.md,
// "Soak"). The test clock moves a minute a round, as over a long run.
//
//   bun bench/heap-kinds.ts                 HEAP_KIND_ROUNDS=6 HEAP_KIND_OPS=400 HEAP_KINDS=token-once,bad-signin,...
import { settledHeap } from './common'
import { createToken } from '../src/modules/tokens/service'
import { makeActor, makeTestApp, type TestApp } from '../test/helpers/app'
import { givePassword } from '../test/helpers/console'
import { startProviderDouble } from '../test/helpers/providers'

const ROUNDS = Number(process.env.HEAP_KIND_ROUNDS ?? 6)
const OPS = Number(process.env.HEAP_KIND_OPS ?? 400)
const ALL = ['token-once', 'wrong-token', 'bad-signin', 'idempotency-key', 'not-found', 'stream-dropped']
const KINDS = (process.env.HEAP_KINDS ?? ALL.join(',')).split(',')

const double = startProviderDouble(Number(process.env.HEAP_PROVIDER_PORT ?? 0))
const randomIp = () => `10.${(Math.random() * 256) | 0}.${(Math.random() * 256) | 0}.${(Math.random() * 256) | 0}`

async function measure(kind: string): Promise<void> {
  const t: TestApp = await makeTestApp({ config: { openaiBaseUrl: double.openaiBaseUrl, defaultModel: 'test-model', maxTokensPerUser: 100_000 } })
  const admin = await makeActor(t, { role: 'admin', org: 'heap' })
  await givePassword(t, admin.userId)
  const agent = (await t.req('POST', '/api/v1/agents', { token: admin.token, body: { name: 'Heap agent', systemPrompt: 'x' } })).body
  let bad = 0
  const op: Record<string, () => Promise<unknown>> = {
    'token-once': async () => {
      const { token } = await createToken(t.ctx, { userId: admin.userId, organizationId: admin.organizationId }, { name: 'once' })
      return t.req('GET', '/api/v1/tasks', { token, ip: randomIp() })
    },
    'wrong-token': () => t.req('GET', '/api/v1/tasks', { token: `td_${crypto.randomUUID().replaceAll('-', '').padEnd(43, 'x')}`, ip: randomIp() }),
    'bad-signin': () =>
      t.req('POST', '/login', {
        raw: new URLSearchParams({ email: `nobody${bad++}@example.com`, password: 'wrong password 123' }).toString(),
        headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'http://localhost' },
        ip: randomIp(),
      }),
    'idempotency-key': () => t.req('POST', '/api/v1/tasks', { token: admin.token, body: { title: 'keyed' }, headers: { 'idempotency-key': crypto.randomUUID() } }),
    'not-found': () => t.req('GET', `/api/v1/tasks/task_${crypto.randomUUID()}`, { token: admin.token, ip: randomIp() }),
    'stream-dropped': async () => {
      const res = await t.app.handle(
        new Request(`http://localhost/api/v1/agents/${agent.id}/execute`, {
          method: 'POST',
          headers: { authorization: `Bearer ${admin.token}`, 'content-type': 'application/json', accept: 'text/event-stream' },
          body: JSON.stringify({ message: 'hello' }),
        }),
      )
      const reader = res.body!.getReader()
      await reader.read()
      await reader.cancel()
    },
  }
  const run = op[kind]!
  const rows: { objects: number; heap: number; types: Record<string, number> }[] = []
  const ops = kind === 'stream-dropped' ? Math.ceil(OPS / 8) : OPS
  for (let r = 0; r < ROUNDS; r++) {
    for (let i = 0; i < ops; i++) await run()
    // Runs of dropped streams go on to their end: wait for them.
    if (kind === 'stream-dropped') while (t.rt.engine.runningCount > 0) await Bun.sleep(200)
    const s = await settledHeap(t)
    rows.push({ objects: s.objectCount, heap: s.heapSize, types: { ...s.objectTypeCounts } })
  }
  const half = Math.floor(ROUNDS / 2)
  const a = rows[half - 1]!
  const b = rows.at(-1)!
  const n = ops * (ROUNDS - half)
  console.log(
    `${kind.padEnd(16)} ${ops} a round; objects ${rows.map((x) => x.objects).join(' → ')}; second half: ${((b.objects - a.objects) / n).toFixed(2)} objects, ${((b.heap - a.heap) / n).toFixed(0)} bytes of heap a request`,
  )
  // The types that rose in every round of the second half, by how much a request.
  const rising = Object.keys(b.types)
    .map((type) => [type, rows.slice(half - 1).map((x) => x.types[type] ?? 0)] as const)
    .filter(([, xs]) => xs.slice(1).every((x, i) => x > xs[i]!))
    .map(([type, xs]) => `${type} +${((xs.at(-1)! - xs[0]!) / n).toFixed(2)}`)
  if (rising.length > 0) console.log(`${''.padEnd(16)} rising every round: ${rising.slice(0, 8).join(', ')}`)
  await t.rt.close()
}

for (const k of KINDS) await measure(k)
double.stop()
process.exit(0)
