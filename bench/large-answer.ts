// Benchmark: does the end of a run with a large answer hold up other requests? A model's answer is
// the client's to choose (a message asking for a long text), and when the run ends the server
// records it, reads it back and answers with it: each step that handles the whole answer at once
// holds the event loop, and every other request waits. The app runs in process (test runtime;
// the provider double of test/helpers/providers.ts in a process of its own, answering prose in
// parts of 4 KiB); a 1 ms timer notes how late it fires. For each way of asking (sync: POST /agents/:id/execute and the
// answer read whole; idem: the same with an Idempotency-Key, whose answer is stored; async: 202,
// then the row watched until it is completed; stream: the SSE read to its end) and each size, BENCH_ROUNDS runs; printed: the medians of each run's longest
// event-loop block (wall time, over the whole request and after the last part of the answer the
// run took from the model: the run's end) and of the most CPU time the main thread spent in one block (the same two ways: on a
// loaded machine a block's wall time also holds the time other processes had the core), and
// their ratios to the same request with a 1 KiB answer in the same process.
//
//   bun bench/large-answer.ts                                   (SQLite in memory)
//   BENCH_SQLITE_FILE=1 bun bench/large-answer.ts               (SQLite in a file, WAL, as a server has it)
//   TEAMDAY_TEST_DATABASE=postgres bun bench/large-answer.ts    (a fresh PostgreSQL schema)
//   BENCH_SIZES_KIB=1024,4096 BENCH_ROUNDS=7 BENCH_MODES=sync,stream bun bench/large-answer.ts
//   BENCH_TRACE=1 bun bench/large-answer.ts                     (also: what each block of the end was)
//
// 4 MiB of ASCII is more than a server's answerChars (2,097,152 characters: 4 MiB of UTF-8 as
// two-byte characters); the bench raises the limit so that the size is the only difference.
import { eq } from 'drizzle-orm'
import { mkdtempSync, rmSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { SqliteConnection } from '../src/db/connection'
import { agents, executions } from '../src/db/schema'
import { DEFAULT_OUTPUT_LIMITS } from '../src/engine/output-limits'
import { newId } from '../src/ids'
import { makeActor, makeTestApp } from '../test/helpers/app'
import { dropTestDatabases } from '../test/helpers/pg'
import { join } from 'node:path'
import { Engine } from '../src/engine/runner'
import type { EngineEvent } from '../src/engine/run'

const SIZES = (process.env.BENCH_SIZES_KIB ?? '1024,4096').split(',').map(Number)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5)
const MODES = (process.env.BENCH_MODES ?? 'sync,async,stream').split(',') as Mode[]
const TRACE = process.env.BENCH_TRACE === '1'
const BASE_KIB = 1
type Mode = 'sync' | 'async' | 'stream' | 'idem'

// What the end of a run spends its time in, when traced: calls of at least TRACE_MS, with where
// in src/ (or a dependency) they were made. Calls made by the provider double name no place.
const TRACE_MS = 0.5
interface Call {
  name: string
  t0: number
  ms: number
  /** The main thread's CPU time in it. */
  cpu: number
  where: string
}
const calls: Call[] = []
const threadCpuMs = () => {
  const u = process.threadCpuUsage()
  return (u.user + u.system) / 1000
}
let depth = 0
function site(): string {
  const frames = (new Error().stack ?? '').split('\n').filter((l) => l.includes('/src/') || l.includes('node_modules/'))
  return frames
    .slice(0, 3)
    .map((l) => l.trim().replace(/^at /, '').replace(/\(?\/.*\/(src|node_modules)\//, '$1/').replace(/\)$/, ''))
    .join(' < ')
}
function wrap(obj: any, key: string, name: string | ((args: any[]) => string)) {
  const f = obj[key]
  obj[key] = function (this: unknown, ...args: any[]) {
    if (depth > 0) return f.apply(this, args)
    const t0 = performance.now()
    const c0 = threadCpuMs()
    depth++
    try {
      return f.apply(this, args)
    } finally {
      depth--
      const ms = performance.now() - t0
      if (ms >= TRACE_MS) calls.push({ name: typeof name === 'string' ? name : name(args), t0, ms, cpu: threadCpuMs() - c0, where: site() })
    }
  }
}
if (TRACE) {
  wrap(JSON, 'stringify', 'JSON.stringify')
  wrap(JSON, 'parse', 'JSON.parse')
  wrap(TextEncoder.prototype, 'encode', 'TextEncoder.encode')
  wrap(TextDecoder.prototype, 'decode', 'TextDecoder.decode')
  wrap(String.prototype, 'toWellFormed', 'String.toWellFormed')
  wrap(String.prototype, 'includes', 'String.includes')
  wrap(String.prototype, 'replaceAll', 'String.replaceAll')
  wrap(String.prototype, 'split', 'String.split')
  wrap(Array.prototype, 'join', 'Array.join')
  wrap(Buffer.prototype, 'toString', 'Buffer.toString')
  wrap(Buffer, 'concat', 'Buffer.concat')
  wrap(Buffer, 'from', 'Buffer.from')
  wrap(Buffer, 'byteLength', 'Buffer.byteLength')
  // Every statement of the SQLite connection (compiled, run, its values read).
  wrap(SqliteConnection.prototype, 'execute', ([sql, params]: any[]) => {
    const what = /^\s*(\w+)\s+(?:\w+\s+)?"?(\w+)/.exec(sql)?.slice(1).join(' ') ?? sql.slice(0, 20)
    return `sqlite ${what} (${params.reduce((n: number, p: unknown) => n + (typeof p === 'string' ? p.length : 0), 0)} chars in)`
  })
}

// The provider double in a process of its own (BENCH_PROVIDER_PORT, else any free port): what it
// does to stream 4 MiB is not the server's, and would hold this event loop too.
const double = Bun.spawn(['bun', '-e', `const d = (await import(${JSON.stringify(join(import.meta.dir, '../test/helpers/providers.ts'))})).startProviderDouble(${Number(process.env.BENCH_PROVIDER_PORT ?? 0)}); console.log(d.openaiBaseUrl)`], { stdout: 'pipe', stderr: 'inherit' })
const openaiBaseUrl = await (async () => {
  let out = ''
  for await (const chunk of double.stdout) {
    out += new TextDecoder().decode(chunk)
    if (out.includes('\n')) return out.trim()
  }
  throw new Error('the provider double did not start')
})()
// When the run's engine last told of a part of the answer: its end begins after it.
let lastPart = 0
const emit = (Engine.prototype as any).emit
;(Engine.prototype as any).emit = function (this: Engine, id: string, e: EngineEvent) {
  if (e.type === 'text') lastPart = performance.now()
  return emit.call(this, id, e)
}
// SQLite in memory, or (BENCH_SQLITE_FILE=1) in a file as a server keeps it (WAL).
const dir = process.env.BENCH_SQLITE_FILE === '1' ? mkdtempSync(join(tmpdir(), 'teamday-large-answer-')) : null
const t = await makeTestApp({ ...(dir && { dbPath: join(dir, 'teamday.db') }), config: { openaiBaseUrl, defaultModel: 'test-model', outputLimits: { ...DEFAULT_OUTPUT_LIMITS, answerChars: 16 * 1024 * 1024 } } })
const a = await makeActor(t)
const now = new Date(t.clock.now())
const agentId = newId('char')
await t.db.insert(agents).values({ id: agentId, organizationId: a.organizationId, userId: a.userId, name: 'Writer', slug: 'writer', visibility: 'organization', createdAt: now, updatedAt: now })

/** One late firing of the timer: from its last firing to this one, with the main thread's CPU time in between. */
interface Block {
  start: number
  end: number
  cpu: number
}
function watchLoop() {
  const blocks: Block[] = []
  let last = performance.now()
  let lastCpu = threadCpuMs()
  const tick = () => {
    const now = performance.now()
    const cpu = threadCpuMs()
    if (now - last > 2) blocks.push({ start: last, end: now, cpu: cpu - lastCpu })
    last = now
    lastCpu = cpu
  }
  const timer = setInterval(tick, 1)
  return {
    stop() {
      clearInterval(timer)
      tick()
      return blocks
    },
  }
}

const post = (body: object, accept = 'application/json', headers: Record<string, string> = {}) =>
  t.app.handle(
    new Request(`http://localhost/api/v1/agents/${agentId}/execute`, {
      method: 'POST',
      headers: { authorization: `Bearer ${a.token}`, 'content-type': 'application/json', accept, ...headers },
      body: JSON.stringify(body),
    }),
  )

async function statusOf(id: string): Promise<string | undefined> {
  return (await t.db.select({ status: executions.status }).from(executions).where(eq(executions.id, id)).get())?.status
}

/** A run's figures (ms): its longest block's wall time, over the whole request and at its end; the most CPU time one block took, the same two ways. */
interface Figures {
  longest: number
  atEnd: number
  cpu: number
  cpuAtEnd: number
}

/** One request with an answer of `kib` KiB, as `mode` asks it, to its end; what the event loop went through. */
async function run(mode: Mode, kib: number): Promise<Figures & { blocks: Block[]; answeredAt: number }> {
  const message = `PROSE ${kib}`
  // A turn of its own, as a request from a socket.
  await new Promise((r) => setImmediate(r))
  const loop = watchLoop()
  if (mode === 'sync' || mode === 'idem') {
    const res = await post({ message }, 'application/json', mode === 'idem' ? { 'idempotency-key': crypto.randomUUID() } : {})
    if (res.status !== 200) throw new Error(`${mode}: ${res.status} ${await res.text()}`)
    await res.arrayBuffer()
  } else if (mode === 'async') {
    const res = await post({ message, async: true })
    if (res.status !== 202) throw new Error(`async: ${res.status} ${await res.text()}`)
    const { executionId } = (await res.json()) as { executionId: string }
    for (let s = await statusOf(executionId); s === 'pending' || s === 'running'; s = await statusOf(executionId)) await Bun.sleep(2)
    if ((await statusOf(executionId)) !== 'completed') throw new Error(`async: ${await statusOf(executionId)}`)
  } else {
    const res = await post({ message, stream: true }, 'text/event-stream')
    if (res.status !== 200) throw new Error(`stream: ${res.status} ${await res.text()}`)
    const reader = res.body!.getReader()
    let bytes = 0
    for (let r = await reader.read(); !r.done; r = await reader.read()) bytes += r.value.byteLength
    if (bytes < kib * 1024) throw new Error(`stream: ${bytes} bytes`)
  }
  const blocks = loop.stop()
  const answeredAt = lastPart
  const atEnd = blocks.filter((b) => b.end > answeredAt)
  const wall = (b: Block) => b.end - b.start
  const most = (bs: Block[], f: (b: Block) => number) => Math.max(0, ...bs.map(f))
  return { longest: most(blocks, wall), atEnd: most(atEnd, wall), cpu: most(blocks, (b) => b.cpu), cpuAtEnd: most(atEnd, (b) => b.cpu), blocks, answeredAt }
}

const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!
const f1 = (x: number) => x.toFixed(1).padStart(6)

/** The blocks of at least 8 ms (or 4 ms of CPU), those of the run's end (after the answer's last part) marked, and the calls traced in each. */
function printTraced(blocks: Block[], answeredAt: number) {
  for (const b of blocks.filter((b) => b.end - b.start >= 8 || b.cpu >= 4)) {
    const mine = calls.filter((c) => c.t0 >= b.start - 0.01 && c.t0 + c.ms <= b.end + 0.01)
    const sum = mine.reduce((s, c) => s + c.ms, 0)
    console.log(`      ${b.end > answeredAt ? 'end ' : '    '}block ${f1(b.end - b.start)} ms (CPU ${b.cpu.toFixed(1)} ms): traced ${sum.toFixed(1)} ms, untraced ${(b.end - b.start - sum).toFixed(1)} ms`)
    for (const c of mine) console.log(`        ${f1(c.ms)} ms (CPU ${c.cpu.toFixed(1)})  ${c.name}  ${c.where}`)
  }
}

const FIELDS: (keyof Figures)[] = ['longest', 'atEnd', 'cpu', 'cpuAtEnd']
const medians = (rs: Figures[]) => Object.fromEntries(FIELDS.map((k) => [k, median(rs.map((r) => r[k]))])) as unknown as Figures
const row = (m: Figures) => FIELDS.map((k) => f1(m[k])).join('  ')
const ratio = (m: Figures, b: Figures) => FIELDS.map((k) => `x${(m[k] / Math.max(b[k], 1)).toFixed(1)}`.padStart(6)).join(' ')

console.log(`${t.backend}${dir ? ' (file)' : ''}, load ${loadavg()[0]!.toFixed(1)}: ${ROUNDS} rounds each; medians (ms), ratios to the same request with a ${BASE_KIB} KiB answer`)
console.log(`                   longest   atEnd     cpu  cpuAtEnd  (longest: a block's wall time, whole request; atEnd: after the answer's last part; cpu: CPU time of one block)`)
try {
  for (const mode of MODES) {
    // Warm up (JIT, statements).
    for (let i = 0; i < 2; i++) await run(mode, SIZES[0]!)
    const base: Figures[] = []
    for (let i = 0; i < ROUNDS; i++) base.push(await run(mode, BASE_KIB))
    const b = medians(base)
    console.log(`${mode.padEnd(6)} ${String(BASE_KIB).padStart(5)} KiB: ${row(b)}`)
    calls.length = 0
    for (const kib of SIZES) {
      const rs: Figures[] = []
      for (let i = 0; i < ROUNDS; i++) {
        const r = await run(mode, kib)
        rs.push(r)
        if (TRACE && i === ROUNDS - 1) {
          console.log(`    ${mode} ${kib} KiB, last round: longest ${r.longest.toFixed(1)} ms, at the end ${r.atEnd.toFixed(1)} ms (CPU ${r.cpuAtEnd.toFixed(1)} ms)`)
          printTraced(r.blocks, r.answeredAt)
        }
        calls.length = 0
      }
      const m = medians(rs)
      console.log(`${mode.padEnd(6)} ${String(kib).padStart(5)} KiB: ${row(m)}   ${ratio(m, b)}   (CPU at the end, each round: ${rs.map((r) => r.cpuAtEnd.toFixed(0)).join(' ')})`)
    }
  }
} finally {
  double.kill()
  await t.rt.close()
  await dropTestDatabases()
  if (dir) rmSync(dir, { recursive: true, force: true })
}
