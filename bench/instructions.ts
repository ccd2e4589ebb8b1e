// Instructions per request, counted by valgrind (callgrind): the authenticated agent list of
// teamday (20 agents, the same set-up as bench/run.ts) against bench/bare.ts returning the very
// same bytes. On a machine shared with other work, wall-clock req/s swings with the load; the
// instructions a server executes per request should not, so bare/teamday here is meant as a
// proxy for the req/s ratio of `npm run bench` (it leaves out the kernel: system calls are not
// counted, and teamday sends more header bytes than the floor). See below how far it holds.
//
// Method: each server runs under `valgrind --tool=callgrind --instr-atstart=no`; a client
// outside valgrind sends BENCH_WARMUP requests (JIT tiers, caches), then instrumentation is
// switched on (callgrind_control -i on), exactly BENCH_REQUESTS requests are sent over BENCH_CONNECTIONS
// keep-alive connections (the server is saturated, as under wrk), it is switched off and the
// counts dumped. Every thread is counted (JIT compiler and GC threads included). Rounds
// alternate the two servers; the median of BENCH_ROUNDS (and of BENCH_WINDOWS consecutive
// windows per server) is printed.
// How far to trust it (2026-12-02, 2 shared cores): the floor repeats within ~2 % (48.5-49.6 k);
// teamday does not: 165-485 k per window of 1,000-6,000 requests, falling over a run, probably
// because valgrind runs one thread at a time, so JavaScriptCore's optimizing compiles (on their
// own threads) land late and at varying points. BUN_JSC_useConcurrentJIT=0 (passed through to the
// server) compiles on the main thread instead: steadier, but not the production set-up.
//
//   npm run build && bun bench/instructions.ts                 (the binary, dist/teamday)
//   bun bench/instructions.ts --source                         (src/main.ts, no build)
//   BENCH_REQUESTS=3000 BENCH_ROUNDS=3 BENCH_ACCESS_LOG=off bun bench/instructions.ts
//   BENCH_PATHS=/api/v1/tokens/ bun bench/instructions.ts      (one token's GET instead)
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { listeningPort, median, stopAll } from './common'

const argv = process.argv.slice(2)
const SOURCE = argv.includes('--source')
const BIN = SOURCE ? null : resolve(argv.find((a) => !a.startsWith('--')) ?? 'dist/teamday')
const cmd = (args: string[]): [string, string[]] => (BIN ? [BIN, args] : [process.execPath, [join(import.meta.dir, '..', 'src', 'main.ts'), ...args]])
const WARMUP = Number(process.env.BENCH_WARMUP ?? 3000)
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 2000)
const CONNS = Number(process.env.BENCH_CONNECTIONS ?? 16)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 1)
const WINDOWS = Number(process.env.BENCH_WINDOWS ?? 1)
const PATH = process.env.BENCH_PATHS ?? '/api/v1/agents'
const serverEnv = {
  NODE_ENV: 'production',
  TEAMDAY_LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'info',
  TEAMDAY_ACCESS_LOG: process.env.BENCH_ACCESS_LOG ?? 'on',
  TEAMDAY_RATE_LIMIT: process.env.BENCH_RATE_LIMIT ?? '999999999/60s',
}

const dir = mkdtempSync(join(tmpdir(), 'teamday-instr-'))
const db = join(dir, 'bench.db')
const children: ChildProcess[] = []

function admin(args: string[]): string {
  const [file, a] = cmd([...args, '--db', db])
  const r = spawnSync(file, a, { encoding: 'utf8', env: { ...process.env, ...serverEnv } })
  if (r.status !== 0) throw new Error(`${args.join(' ')}: ${r.stderr}`)
  return r.stdout.trim()
}

function start(file: string, args: string[], valgrind: string | null): ChildProcess {
  const full = valgrind ? ['--tool=callgrind', '--instr-atstart=no', `--callgrind-out-file=${valgrind}`, file, ...args] : args
  const child = spawn(valgrind ? 'valgrind' : file, full, {
    stdio: ['ignore', 'pipe', openSync(join(dir, `stderr-${children.length}.log`), 'w')],
    env: { ...process.env, ...serverEnv },
  })
  children.push(child)
  return child
}

/** `count` GETs of `url` over `conns` keep-alive connections, each answer checked and read. */
async function send(url: string, count: number, headers: Record<string, string>, expect: number): Promise<void> {
  let left = count
  await Promise.all(
    Array.from({ length: conns(count) }, async () => {
      while (left > 0) {
        left--
        const res = await fetch(url, { headers })
        const body = await res.arrayBuffer()
        if (res.status !== 200 || body.byteLength !== expect) throw new Error(`${url}: ${res.status}, ${body.byteLength} bytes`)
      }
    }),
  )
}
const conns = (count: number) => Math.min(CONNS, count)

function callgrind(pid: number, ...args: string[]): void {
  const r = spawnSync('callgrind_control', [...args, String(pid)], { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`callgrind_control ${args.join(' ')}: ${r.stdout}${r.stderr}`)
}

/** Instructions of the requests sent between switching collection on and dumping. */
async function measure(label: string, child: ChildProcess, out: string, url: string, headers: Record<string, string>, bytes: number): Promise<number> {
  const pid = child.pid!
  await send(url, WARMUP, headers, bytes)
  const windows: number[] = []
  for (let w = 1; w <= WINDOWS; w++) {
    callgrind(pid, '-i', 'on')
    await send(url, REQUESTS, headers, bytes)
    callgrind(pid, '-i', 'off')
    callgrind(pid, '-d', label)
    // The dump holds what was counted since instrumentation was switched on: `totals: N`.
    const m = /^totals:\s*(\d+)/m.exec(readFileSync(join(dir, `${out}.${w}`), 'utf8'))
    if (!m || Number(m[1]) === 0) throw new Error(`${label}: no callgrind totals`)
    windows.push(Number(m[1]) / REQUESTS)
  }
  if (WINDOWS > 1) console.log(`  ${label} windows: ${windows.map((w) => (w / 1000).toFixed(1)).join(' ')} k`)
  return median(windows)
}

try {
  admin(['users', 'create', '--email', 'bench@example.com', '--org', 'bench', '--role', 'admin'])
  const token = admin(['tokens', 'create', '--email', 'bench@example.com', '--name', 'bench'])
  const auth = { authorization: `Bearer ${token}` }
  // Seed without valgrind: 20 agents, and the bytes the floor will send.
  const [file, args] = cmd(['serve', '--port', '0', '--host', '127.0.0.1', '--db', db])
  const seeding = start(file, args, null)
  let base = `http://127.0.0.1:${await listeningPort(seeding)}`
  for (let i = 0; i < 20; i++) {
    const res = await fetch(`${base}/api/v1/agents`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ name: `Code Reviewer ${i}`, role: 'Senior Developer', systemPrompt: 'You review code for quality, security, and best practices.', visibility: 'organization', tags: ['review', 'security'] }),
    })
    if (res.status !== 201) throw new Error(`agent ${i}: ${res.status}`)
  }
  let path = PATH
  if (path.endsWith('/tokens/')) path += ((await (await fetch(`${base}/api/v1/tokens?limit=1`, { headers: auth })).json()) as any).tokens[0].id
  const sample = await fetch(base + path, { headers: auth })
  const body = new Uint8Array(await sample.arrayBuffer())
  if (sample.status !== 200) throw new Error(`GET ${path}: ${sample.status}`)
  const bodyFile = join(dir, 'body')
  await Bun.write(bodyFile, body)
  await stopAll([seeding])

  const figures = { teamday: [] as number[], bare: [] as number[] }
  console.log(`callgrind: GET ${PATH} (${body.length} bytes), ${WARMUP} warm-up + ${REQUESTS} counted requests over ${CONNS} connections, ${ROUNDS} round(s), ${BIN ?? 'source'}`)
  for (let round = 0; round < ROUNDS; round++) {
    for (const kind of ['teamday', 'bare'] as const) {
      const out = `cg-${kind}-${round}`
      const child =
        kind === 'teamday' ? start(...cmd(['serve', '--port', '0', '--host', '127.0.0.1', '--db', db]), join(dir, out)) : start(process.execPath, [join(import.meta.dir, 'bare.ts'), bodyFile, sample.headers.get('content-type')!], join(dir, out))
      base = `http://127.0.0.1:${await listeningPort(child)}`
      const ir = await measure(out, child, out, base + (kind === 'teamday' ? path : '/'), kind === 'teamday' ? auth : {}, body.length)
      figures[kind].push(ir)
      console.log(`  round ${round + 1} ${kind.padEnd(8)} ${(ir / 1000).toFixed(1).padStart(8)} k instructions/request`)
      await stopAll([child])
    }
  }
  const t = median(figures.teamday)
  const b = median(figures.bare)
  console.log(`median: teamday ${(t / 1000).toFixed(1)} k, bare ${(b / 1000).toFixed(1)} k instructions/request; bare/teamday ${(b / t).toFixed(3)}`)
} finally {
  await stopAll(children)
  // BENCH_KEEP=1 keeps the callgrind dumps (callgrind_annotate DIR/cg-teamday-0.1).
  if (process.env.BENCH_KEEP) console.log(`dumps kept in ${dir}`)
  else rmSync(dir, { recursive: true, force: true })
}
