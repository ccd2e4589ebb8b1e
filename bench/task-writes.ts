// Task writes that name no space or assignee (single statements outside any transaction), in
// process through app.handle: BENCH_WRITES creates, then as many status changes, BENCH_AT_ONCE at
// a time, on a fresh SQLite file or PostgreSQL database. Prints this process's CPU time
// (process.cpuUsage: the server's and the driver's work, not PostgreSQL's) and the wall time
// per write, for each phase, as one JSON line. To compare two trees, run it from each in turn.
//
//   bun bench/task-writes.ts sqlite
//   bun bench/task-writes.ts pg [postgres://postgres@127.0.0.1:5432/postgres]
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
import { benchDatabase } from './common'

const WRITES = Number(process.env.BENCH_WRITES ?? 600)
const AT_ONCE = Number(process.env.BENCH_AT_ONCE ?? 16)
const onPg = process.argv[2] === 'pg'
const dir = mkdtempSync(join(tmpdir(), 'teamday-task-writes-'))
const pg = onPg ? await benchDatabase(process.argv[3] ?? 'postgres://postgres@127.0.0.1:5432/postgres') : null
try {
  const config = loadConfig({ TEAMDAY_RATE_LIMIT: '999999999/60s' }, { dbPath: pg ? pg.url : join(dir, 'bench.db'), logLevel: 'silent' })
  const rt = await createRuntime(config, { log: createLogger('silent') })
  const { user, organization } = await createUser(operatorContext(rt), { email: 'bench@example.com', orgSlug: 'bench', role: 'member' })
  const { token } = await createToken(operatorContext(rt), { userId: user.id, organizationId: organization.id }, { name: 'bench' })
  const app = createApp(rt, { peerAddress: () => '127.0.0.1' })
  const send = async (method: string, path: string, body: unknown) => {
    const res = await app.handle(new Request(`http://localhost${path}`, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) }))
    if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`)
    return (await res.json()) as { id: string }
  }
  /** `n` writes, AT_ONCE in flight: CPU and wall per write, in ms. */
  const phase = async (n: number, write: (i: number) => Promise<unknown>) => {
    let next = 0
    const cpu = process.cpuUsage()
    const t0 = performance.now()
    await Promise.all(Array.from({ length: AT_ONCE }, async () => {
      while (next < n) await write(next++)
    }))
    const wall = performance.now() - t0
    const used = process.cpuUsage(cpu)
    return { cpuMs: +((used.user + used.system) / 1000 / n).toFixed(3), wallMs: +(wall / n).toFixed(3) }
  }
  // Warm-up: the statements prepared, the JIT at work.
  const warm: string[] = []
  await phase(100, async (i) => warm.push((await send('POST', '/api/v1/tasks', { title: `Warm ${i}` })).id))
  await phase(100, (i) => send('PATCH', `/api/v1/tasks/${warm[i]}`, { status: 'in_progress' }))
  const ids: string[] = []
  const create = await phase(WRITES, async (i) => ids.push((await send('POST', '/api/v1/tasks', { title: `Task ${i}`, description: 'Created by the benchmark', priority: 'high' })).id))
  const update = await phase(WRITES, (i) => send('PATCH', `/api/v1/tasks/${ids[i]}`, { status: 'completed' }))
  console.log(JSON.stringify({ db: onPg ? 'pg' : 'sqlite', create, update }))
  await rt.close()
} finally {
  await pg?.drop()
  rmSync(dir, { recursive: true, force: true })
}
