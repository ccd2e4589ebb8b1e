// Benchmark: the first page of every list at 1,000 and at 100,000 rows in one organization, each
// measured right after a write (so no cache of any kind can answer it: the row cache and the
// agent list's response cache are both invalidated by a commit). In-process (app.handle), on a
// WAL database file, with the server's own runtime; prints the median ms per list and the
// ratio 100k / 1k. Target: every ratio <= 1.5 (a page costs O(limit), not O(organization)).
// The deep pages at the end are for information: by cursor they stay flat, by offset they
// grow with the offset (kept for TeamDay clients).
//
//   npm run bench:lists                      BENCH_SIZES=1000,100000 BENCH_REPEAT=25
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createApp } from '../src/app'
import { loadConfig } from '../src/config'
import { createToken } from '../src/modules/tokens/service'
import { createUser } from '../src/modules/users/service'
import { operatorContext } from '../src/context'
import { createRuntime, sqliteConnection } from '../src/runtime'
import { createLogger } from '../src/logger'
import { seedAgents, seedAudit, seedExecutions, seedSpaces, seedTasks, seedTokens } from './seed'

const SIZES = (process.env.BENCH_SIZES ?? '1000,100000').split(',').map(Number)
const REPEAT = Number(process.env.BENCH_REPEAT ?? 25)

const LISTS = [
  '/api/v1/tasks',
  '/api/v1/tasks?status=pending',
  '/api/v1/tasks?priority=urgent',
  '/api/v1/agents',
  '/api/v1/agents?visibility=organization',
  '/api/v1/spaces',
  '/api/v1/executions',
  '/api/v1/tokens?all=true',
  '/api/v1/audit-events',
  '/api/public/agents',
]

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

interface Target {
  n: number
  /** GET a path, with the write before it; returns the ms of the GET alone. */
  timeAfterWrite(path: string): Promise<number>
  get(path: string): Promise<string>
  /** GET a path; returns one response header. */
  header(path: string, name: string): Promise<string | null>
  close(): void
}

async function open(n: number): Promise<Target> {
  const dir = mkdtempSync(join(tmpdir(), 'teamday-lists-'))
  const rt = await createRuntime(loadConfig({ TEAMDAY_RATE_LIMIT: 'off' }, { dbPath: join(dir, 'bench.db'), logLevel: 'silent' }), { log: createLogger('silent') })
  const { user, organization } = await createUser(operatorContext(rt), { email: 'bench@example.com', orgSlug: 'bench', role: 'admin' })
  const owner = { userId: user.id, organizationId: organization.id }
  const { token } = await createToken(operatorContext(rt), owner, { name: 'bench' })
  const t0 = performance.now()
  const o = { now: Date.now() - 1000, step: 1000 }
  const agentIds = await seedAgents(sqliteConnection(rt).sync, owner, n, o)
  const spaceIds = await seedSpaces(sqliteConnection(rt).sync, owner, n, o)
  await seedTasks(sqliteConnection(rt).sync, owner, n, { ...o, agentIds: agentIds.slice(0, 200), spaceIds: spaceIds.slice(0, 50) })
  await seedExecutions(sqliteConnection(rt).sync, owner, n, { ...o, agentIds: agentIds.slice(0, 200) })
  const tokenIds = await seedTokens(sqliteConnection(rt).sync, rt.box, owner, n, o)
  await seedAudit(sqliteConnection(rt).sync, owner, n, { ...o, tokenIds: tokenIds.slice(0, 100) })
  sqliteConnection(rt).client.exec('PRAGMA wal_checkpoint(TRUNCATE)')
  console.log(`  ${n} rows in each list table, seeded in ${((performance.now() - t0) / 1000).toFixed(1)} s`)

  const app = createApp(rt)
  const headers = { authorization: `Bearer ${token}` }
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await app.handle(
      new Request(`http://localhost${path}`, { method, headers: body ? { ...headers, 'content-type': 'application/json' } : headers, body: body ? JSON.stringify(body) : undefined }),
    )
    const text = await res.text()
    if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${text.slice(0, 200)}`)
    return { text, headers: res.headers }
  }
  // The write before each read: it commits (every cache keyed to the database is stale) and
  // bumps the agent list's version.
  let w = 0
  const write = () => call('PATCH', `/api/v1/agents/${agentIds[0]}`, { name: `Renamed ${w++}` })
  return {
    n,
    get: async (path) => (await call('GET', path)).text,
    header: async (path, name) => (await call('GET', path)).headers.get(name),
    async timeAfterWrite(path) {
      await write()
      const start = performance.now()
      await call('GET', path)
      return performance.now() - start
    },
    close() {
      rt.close()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

console.log(`teamday list bench: first page (limit 50) right after a write, median of ${REPEAT}, in-process; seeding:`)
const targets: Target[] = []
for (const n of SIZES) targets.push(await open(n))
try {
  // Deep pages of the task list, half-way down: by cursor, and by offset.
  const paths: { label: string; path: (x: Target) => string }[] = LISTS.map((p) => ({ label: p, path: () => p }))
  const cursors = new Map<Target, string>()
  // Tasks are a bare array: the next page's cursor is in a header.
  for (const x of targets) cursors.set(x, (await x.header(`/api/v1/tasks?limit=1&offset=${Math.floor(x.n / 2)}`, 'x-next-cursor'))!)
  paths.push({ label: '/api/v1/tasks?cursor=<half-way>', path: (x) => `/api/v1/tasks?cursor=${cursors.get(x)}` })
  paths.push({ label: '/api/v1/tasks?offset=<half-way>', path: (x) => `/api/v1/tasks?offset=${Math.floor(x.n / 2)}` })

  // Sizes alternate within each list, after a warm-up of everything: drift and JIT warm-up
  // then weigh on both sides alike.
  for (const x of targets) for (const p of paths) for (let i = 0; i < 3; i++) await x.timeAfterWrite(p.path(x))
  const [small, large] = [targets[0]!, targets[targets.length - 1]!]
  console.log('')
  console.log(`${'list'.padEnd(42)}${`${small.n} rows`.padStart(12)}${`${large.n} rows`.padStart(14)}   ratio`)
  for (const p of paths) {
    const ms = new Map<Target, number[]>(targets.map((x) => [x, []]))
    for (let i = 0; i < REPEAT; i++) for (const x of targets) ms.get(x)!.push(await x.timeAfterWrite(p.path(x)))
    const a = median(ms.get(small)!)
    const b = median(ms.get(large)!)
    const info = p.label.includes('<half-way>') ? '  (information)' : ''
    console.log(`${p.label.padEnd(42)}${`${a.toFixed(2)} ms`.padStart(12)}${`${b.toFixed(2)} ms`.padStart(14)}   ${(b / a).toFixed(2)}${info}`)
  }
} finally {
  for (const x of targets) x.close()
}
