// Task writes that name no space or assignee (single statements outside any transaction), in
// process through app.handle: rounds of BENCH_WRITES creates, then as many status changes,
// BENCH_AT_ONCE at a time, on a fresh SQLite file or PostgreSQL database. Prints this process's
// CPU time per write (process.cpuUsage: the server's and the driver's work, not PostgreSQL's) and
// the wall time per write, median and minimum of the rounds, as JSON.
//
// BENCH_KEYED=1 sends every write with an Idempotency-Key of its own (a key claimed, marked with
// the work in its transaction, and its answer stored).
//
// BENCH_OTHER=<another tree> (a checkout with its own src/, e.g. `git archive` of an older commit)
// runs that tree's server in the same process too, on its own database, the two alternating
// round by round: the same JIT, the same moments of a shared machine.
//
//   bun bench/task-writes.ts sqlite
//   BENCH_OTHER=/tmp/old bun bench/task-writes.ts pg [postgres://postgres@127.0.0.1:5432/postgres]
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { benchDatabase } from './common'

const WRITES = Number(process.env.BENCH_WRITES ?? 600)
const AT_ONCE = Number(process.env.BENCH_AT_ONCE ?? 16)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 9)
const KEYED = process.env.BENCH_KEYED === '1'
const onPg = process.argv[2] === 'pg'
const server = process.argv[3] ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const trees = { this: resolve(import.meta.dir, '..'), ...(process.env.BENCH_OTHER ? { other: resolve(process.env.BENCH_OTHER) } : {}) }
const dir = mkdtempSync(join(tmpdir(), 'teamday-task-writes-'))
const dbs: { drop: () => Promise<void> }[] = []

/** A tree's server on a fresh database, its member's token, and how to send it a write. */
async function serverOf(name: string, root: string) {
  const { createApp } = await import(join(root, 'src/app'))
  const { loadConfig } = await import(join(root, 'src/config'))
  const { operatorContext } = await import(join(root, 'src/context'))
  const { createLogger } = await import(join(root, 'src/logger'))
  const { createToken } = await import(join(root, 'src/modules/tokens/service'))
  const { createUser } = await import(join(root, 'src/modules/users/service'))
  const { createRuntime } = await import(join(root, 'src/runtime'))
  const pg = onPg ? await benchDatabase(server) : null
  if (pg) dbs.push(pg)
  const config = loadConfig({ TEAMDAY_RATE_LIMIT: '999999999/60s' }, { dbPath: pg ? pg.url : join(dir, `${name}.db`), logLevel: 'silent' })
  const rt = await createRuntime(config, { log: createLogger('silent') })
  const { user, organization } = await createUser(operatorContext(rt), { email: 'bench@example.com', orgSlug: 'bench', role: 'member' })
  const { token } = await createToken(operatorContext(rt), { userId: user.id, organizationId: organization.id }, { name: 'bench' })
  const app = createApp(rt, { peerAddress: () => '127.0.0.1' })
  const send = async (method: string, path: string, body: unknown) => {
    const res = await app.handle(new Request(`http://localhost${path}`, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...(KEYED && { 'idempotency-key': crypto.randomUUID() }) }, body: JSON.stringify(body) }))
    if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`)
    return (await res.json()) as { id: string }
  }
  return { name, rt, send }
}

/** `n` writes, AT_ONCE in flight: CPU and wall per write, in ms. */
async function phase(n: number, write: (i: number) => Promise<unknown>) {
  let next = 0
  const cpu = process.cpuUsage()
  const t0 = performance.now()
  await Promise.all(Array.from({ length: AT_ONCE }, async () => {
    while (next < n) await write(next++)
  }))
  const wall = performance.now() - t0
  const used = process.cpuUsage(cpu)
  return { cpu: (used.user + used.system) / 1000 / n, wall: wall / n }
}

try {
  const servers = []
  for (const [name, root] of Object.entries(trees)) servers.push(await serverOf(name, root))
  const results = new Map(servers.map((s) => [s.name, { create: [] as { cpu: number; wall: number }[], update: [] as { cpu: number; wall: number }[] }]))
  for (let round = -1; round < ROUNDS; round++) {
    // Alternating which goes first; round -1 warms both up (statements prepared, the JIT at work).
    for (const s of round % 2 === 0 ? servers : [...servers].reverse()) {
      const ids: string[] = []
      const create = await phase(WRITES, async (i) => ids.push((await s.send('POST', '/api/v1/tasks', { title: `Task ${i}`, description: 'Created by the benchmark', priority: 'high' })).id))
      const update = await phase(WRITES, (i) => s.send('PATCH', `/api/v1/tasks/${ids[i]}`, { status: 'completed' }))
      if (round >= 0) {
        results.get(s.name)!.create.push(create)
        results.get(s.name)!.update.push(update)
      }
    }
  }
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]
  const sum = (xs: { cpu: number; wall: number }[]) => ({ cpuMs: +med(xs.map((x) => x.cpu)).toFixed(3), cpuMinMs: +Math.min(...xs.map((x) => x.cpu)).toFixed(3), wallMs: +med(xs.map((x) => x.wall)).toFixed(3), wallMinMs: +Math.min(...xs.map((x) => x.wall)).toFixed(3) })
  for (const [name, r] of results) console.log(JSON.stringify({ db: onPg ? 'pg' : 'sqlite', keyed: KEYED, tree: name, create: sum(r.create), update: sum(r.update) }))
  for (const s of servers) await s.rt.close()
} finally {
  for (const d of dbs) await d.drop()
  rmSync(dir, { recursive: true, force: true })
}
