// Benchmark: does a page of large executions hold up other requests? Executions keep a model's
// whole answer; a member who lists 50 of them at 2 MB each asks for a 200 MB page. Seeds
// BENCH_EXECUTIONS (default 60) executions whose answers are BENCH_ANSWER_BYTES (default 1 MB)
// each (the answer is stored twice: as `result` and as the assistant's message), starts teamday,
// and sends a health check every 5 ms: first alone (the baseline, same run), then while
// BENCH_LISTERS (default 2) curl processes fetch `GET /api/v1/executions?limit=50` over and over
// with Accept-Encoding: gzip (BENCH_ACCEPT_ENCODING: zstd, identity), as fetch sends it. Prints the health checks' p50, p99 and max in both
// phases, their ratio, the lists' times and the server's peak RSS.
//
//   npm run build && bun bench/large-page.ts dist/teamday        (or without a binary: the source)
//   BENCH_SECONDS=5 BENCH_ANSWER_BYTES=2000000 bun bench/large-page.ts dist/teamday
//   bun bench/large-page.ts dist/teamday --db postgres://postgres@127.0.0.1:5432/postgres
//     (the same executions copied into a database teamday_bench_<random> on that server, dropped
//     at the end, and teamday on it; also prints the CPU PostgreSQL's backends spent)
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { loadConfig } from '../src/config'
import { operatorContext } from '../src/context'
import { executions } from '../src/db/schema'
import { newId } from '../src/ids'
import { createLogger } from '../src/logger'
import { createToken } from '../src/modules/tokens/service'
import { createUser } from '../src/modules/users/service'
import { createRuntime, sqliteConnection } from '../src/runtime'
import { benchDatabase, cpuSeconds, PgProbe, pgServerArg, rssMb, startTeamday, stopAll, withoutDbArg } from './common'
import { copyToPostgres, seedAgents } from './seed'

const argv = process.argv.slice(2)
const PG = pgServerArg(argv)
const BIN = withoutDbArg(argv)[0] ? resolve(withoutDbArg(argv)[0]!) : null
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5)
const N = Number(process.env.BENCH_EXECUTIONS ?? 60)
const ANSWER = Number(process.env.BENCH_ANSWER_BYTES ?? 1_000_000)
const LISTERS = Number(process.env.BENCH_LISTERS ?? 2)
const ENCODING = process.env.BENCH_ACCEPT_ENCODING ?? 'gzip'

const dir = mkdtempSync(join(tmpdir(), 'teamday-large-page-'))
const db = join(dir, 'teamday.db')
const rt = await createRuntime(loadConfig({}, { dbPath: db, logLevel: 'silent' }), { log: createLogger('silent') })
const { user, organization } = await createUser(operatorContext(rt), { email: 'bench@example.com', orgSlug: 'bench', role: 'admin' })
const owner = { userId: user.id, organizationId: organization.id }
const { token } = await createToken(operatorContext(rt), owner, { name: 'bench' })
const [agentId] = await seedAgents(sqliteConnection(rt).sync, owner, 1, { now: Date.now() - 60_000 })
const sync = sqliteConnection(rt).sync
for (let i = 0; i < N; i++) {
  const created = new Date(Date.now() - 50_000 + i)
  // Words, not one repeated letter: compression has real work to do.
  const answer = Array.from({ length: Math.ceil(ANSWER / 12) }, (_, k) => `word${(k * 7919 + i) % 100000} `).join('').slice(0, ANSWER)
  sync
    .insert(executions)
    .values({
      id: newId('exec'),
      ...owner,
      agentId: agentId!,
      agentName: 'Writer',
      agentVisibility: 'organization',
      chatId: `c${i}`,
      sessionId: `c${i}`,
      status: 'completed',
      message: `Write chapter ${i}`,
      result: answer,
      messages: [
        { role: 'user', content: `Write chapter ${i}`, timestamp: created.toISOString() },
        { role: 'assistant', content: answer, timestamp: created.toISOString() },
      ],
      createdAt: created,
      updatedAt: created,
    })
    .run()
}
const pgdb = PG ? await benchDatabase(PG) : null
if (pgdb) await copyToPostgres(sync, pgdb.url)
rt.close()
console.log(`seeded ${N} executions with ${(ANSWER / 1e6).toFixed(1)} MB answers${pgdb ? `, copied into PostgreSQL database ${pgdb.name} (dropped at the end)` : ''}`)

const server = await startTeamday({ label: 'teamday', db: pgdb?.url ?? db, instances: 1 }, { bin: BIN, env: { TEAMDAY_LOG_LEVEL: 'warn', TEAMDAY_RATE_LIMIT: '999999999/60s', TEAMDAY_KEY_FILE: join(dir, 'teamday.key') } })
const pgProbe = PG && pgdb ? new PgProbe(PG, pgdb.name) : null
const pid = server.children[0]!.pid!
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))]!

/** Health checks every 5 ms for `seconds`: each one's latency in ms. */
async function probe(seconds: number): Promise<number[]> {
  const out: number[] = []
  const end = performance.now() + seconds * 1000
  while (performance.now() < end) {
    const t0 = performance.now()
    const r = await fetch(`${server.url}/api/health`)
    await r.arrayBuffer()
    out.push(performance.now() - t0)
    await sleep(5)
  }
  return out
}

let peak = 0
const rssTimer = setInterval(() => (peak = Math.max(peak, rssMb(pid))), 50)
await probe(1) // warm-up
const idle = await probe(SECONDS)
// The listers are curl processes, so that receiving their pages costs this process nothing.
const listed = join(dir, 'listed')
const header = ENCODING === 'identity' ? [] : ['-H', `accept-encoding: ${ENCODING}`]
const loop = `while :; do curl -s -o /dev/null -w '%{http_code} %{time_total} %{size_download}\\n' -H "authorization: Bearer ${token}" ${header.map((h) => `'${h}'`).join(' ')} '${server.url}/api/v1/executions?limit=50' >> ${listed}; done`
const listers = Array.from({ length: LISTERS }, () => spawn('bash', ['-c', loop], { stdio: 'ignore', detached: true }))
await sleep(200)
const pg0 = pgProbe ? await pgProbe.cpu() : null
const busy = await probe(SECONDS)
for (const l of listers) process.kill(-l.pid!, 'SIGKILL')
const pgCpuSeconds = pgProbe && pg0 ? pg0.pids.reduce((t, p) => t + cpuSeconds(p), 0) - pg0.seconds : null
const lines = readFileSync(listed, 'utf8').trim().split('\n').map((l) => l.split(' '))
if (lines.some(([code]) => code !== '200')) throw new Error(`a list failed: ${lines.find(([code]) => code !== '200')}`)
const listTimes = lines.map(([, s]) => Number(s) * 1000)
const pageBytes = Number(lines.at(-1)?.[2] ?? 0)
clearInterval(rssTimer)
await stopAll(server.children)
await pgProbe?.end()
await pgdb?.drop()
rmSync(dir, { recursive: true, force: true })

const row = (name: string, xs: number[]) => `| ${name} | ${xs.length} | ${pct(xs, 50).toFixed(1)} | ${pct(xs, 99).toFixed(1)} | ${Math.max(...xs).toFixed(1)} |`
console.log(`\n${BIN ?? 'source'}: health checks every 5 ms (ms)\n| phase | checks | p50 | p99 | max |\n| --- | --- | --- | --- | --- |`)
console.log(row('alone', idle))
console.log(row(`while ${LISTERS} clients list 50 executions`, busy))
console.log(`\nhealth p99 while listing / alone: ${(pct(busy, 99) / pct(idle, 99)).toFixed(1)}x; max ${Math.max(...busy).toFixed(0)} ms`)
console.log(`list pages: ${listTimes.length}, median ${pct(listTimes, 50).toFixed(0)} ms each, ${(pageBytes / 1e6).toFixed(1)} MB as sent (${ENCODING}); server peak RSS ${peak.toFixed(0)} MB`)
if (pgCpuSeconds !== null) console.log(`PostgreSQL's backends: ${((pgCpuSeconds * 1000) / Math.max(1, listTimes.length)).toFixed(1)} ms of CPU a list page`)
