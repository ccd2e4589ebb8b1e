// Start-up of the compiled binary, against a compiled "hello" built by the same Bun in this run:
// - client commands (`--version`, `health`, `agents list` of 20 agents against a running server): what a
//   cron job or CI step pays on every call; target <= 1.5x hello;
// - `serve` on a new database until its first authenticated 200 on GET /api/v1/agents; target
//   <= 60 ms. The database gets its admin and token from the admin CLI first (not timed: a first
//   start need not print a token), so the timed start is on a migrated database with one user;
// - `serve` on a database file that does not exist yet (migrations, key file, first-start
//   set-up) until its first 200 on GET /api/health.
// Medians and minimums of BENCH_RUNS runs (default 20; serve: at most 10); on a loaded machine
// compare the minimums, and several runs of this script. Client commands also get the CPU time
// the process used (user + system, from its resource usage): far steadier than wall time when
// other processes compete for the cores (mostly the kernel's work of starting a 100 MB binary).
// `serve` gets the server's CPU time until its first 200 (all threads, and the main thread).
// For repeatable counts of the work itself, run a command under
// `valgrind --tool=callgrind` (instructions; docs/performance.md).
//
//   npm run build && bun bench/startup.ts [dist/teamday]
//
// Before/after on a shared machine: `bun bench/startup.ts dist/teamday OTHER_BINARY` also times
// the client commands of both builds interleaved (run by run, against the same server and the
// same hello), and their `serve` starts alternately, so that load changes hit both alike; it prints medians of CPU and wall time.
import { spawn, spawnSync } from 'node:child_process'
import { chmodSync, copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'

const RUNS = Number(process.env.BENCH_RUNS ?? 20)
const dir = mkdtempSync(join(tmpdir(), 'teamday-startup-'))
/**
 * The binaries under test run from fresh copies in this run's folder, as the hello below is built
 * fresh: on the development VMs a program started from a file written minutes ago took 4.8-5.0 ms
 * where the same bytes in a file from an hour before took 6.3-6.8 ms (hello and teamday alike,
 * interleaved), which skewed every ratio to the hello by the binaries' ages.
 */
function freshCopy(file: string, name: string): string {
  const copy = join(dir, name)
  copyFileSync(resolve(file), copy)
  chmodSync(copy, 0o755)
  return copy
}
const BIN = freshCopy(process.argv[2] ?? 'dist/teamday', 'teamday')
const OTHER = process.argv[3] ? freshCopy(process.argv[3], 'teamday-other') : null
/** The names the binaries were given (labels). */
const NAMES = new Map([[BIN, resolve(process.argv[2] ?? 'dist/teamday')], ...(OTHER ? [[OTHER, resolve(process.argv[3]!)] as [string, string]] : [])])
const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, TEAMDAY_LOG_LEVEL: 'warn' }

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}
const ms = (x: number) => `${x.toFixed(1)} ms`

/** Median wall time and median CPU time (user + system) of a command, in ms. */
function timeCommand(argv: string[], extraEnv: Record<string, string> = {}): { wall: number; cpu: number } {
  const walls: number[] = []
  const cpus: number[] = []
  for (let i = 0; i < RUNS + 2; i++) {
    const t0 = performance.now()
    const r = Bun.spawnSync(argv, { env: { ...env, ...extraEnv }, stdin: 'ignore', stdout: 'ignore', stderr: 'pipe' })
    const t = performance.now() - t0
    if (r.exitCode !== 0) throw new Error(`${argv.join(' ')} exited ${r.exitCode}: ${r.stderr}`)
    if (i < 2) continue // two warm-up runs
    walls.push(t)
    cpus.push(Number(r.resourceUsage.cpuTime.total) / 1000)
  }
  return { wall: median(walls), cpu: median(cpus) }
}

/** Each command once per round, in turn, RUNS rounds (after two warm-up rounds): medians of wall and CPU time, in ms. */
function timeInterleaved(commands: Record<string, string[]>): Record<string, { wall: number; cpu: number }> {
  const runs: Record<string, { walls: number[]; cpus: number[] }> = {}
  for (const name of Object.keys(commands)) runs[name] = { walls: [], cpus: [] }
  for (let i = 0; i < RUNS + 2; i++) {
    for (const [name, argv] of Object.entries(commands)) {
      const t0 = performance.now()
      const r = Bun.spawnSync(argv, { env, stdin: 'ignore', stdout: 'ignore', stderr: 'pipe' })
      const t = performance.now() - t0
      if (r.exitCode !== 0) throw new Error(`${argv.join(' ')} exited ${r.exitCode}: ${r.stderr}`)
      if (i < 2) continue
      runs[name]!.walls.push(t)
      runs[name]!.cpus.push(Number(r.resourceUsage.cpuTime.total) / 1000)
    }
  }
  return Object.fromEntries(Object.entries(runs).map(([name, r]) => [name, { wall: median(r.walls), cpu: median(r.cpus) }]))
}

// The floor: a compiled hello world, built by this Bun now.
const helloSrc = join(dir, 'hello.ts')
writeFileSync(helloSrc, 'console.log("hello")\n')
const hello = join(dir, 'hello')
const built = spawnSync(process.execPath, ['build', '--compile', '--bytecode', '--target=bun-linux-x64', helloSrc, '--outfile', hello], { stdio: 'ignore' })
if (built.status !== 0) throw new Error('could not compile the hello baseline')
const fetchSrc = join(dir, 'fetch.ts')
writeFileSync(fetchSrc, 'void fetch(process.argv[2]!).then((r) => r.text()).then((t) => console.log(t))\n')
const fetchHello = join(dir, 'fetch')
if (spawnSync(process.execPath, ['build', '--compile', '--bytecode', '--target=bun-linux-x64', fetchSrc, '--outfile', fetchHello], { stdio: 'ignore' }).status !== 0) {
  throw new Error('could not compile the fetch baseline')
}

const admin = (db: string, bin: string, ...argv: string[]) => {
  const r = spawnSync(bin, [...argv, '--db', db], { env, encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`${argv.join(' ')} exited ${r.status}: ${r.stderr}`)
  return r.stdout.trim()
}

/**
 * A new database with an admin and a token, made by the admin CLI (not timed) of the binary that
 * will serve it: a build refuses a database that a newer one migrated, so two builds a migration
 * apart each start on a database of their own making.
 */
function provision(db: string, bin = BIN): string {
  admin(db, bin, 'users', 'create', '--email', 'admin@localhost', '--org', 'default', '--role', 'admin')
  return admin(db, bin, 'tokens', 'create', '--email', 'admin@localhost', '--name', 'bench')
}

async function startServe(db: string, bin = BIN): Promise<{ child: ReturnType<typeof spawn>; base: string; startedAt: number }> {
  const startedAt = performance.now()
  const child = spawn(bin, ['serve', '--port', '0', '--host', '127.0.0.1', '--db', db], { env, stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  const base = await new Promise<string>((ok, fail) => {
    child.stdout!.on('data', (d) => {
      out += d
      const port = /listening on http:\/\/[^\s]+:(\d+)/.exec(out)
      if (port) ok(`http://127.0.0.1:${port[1]}`)
    })
    child.once('exit', () => fail(new Error(`serve exited: ${out}`)))
  })
  return { child, base, startedAt }
}

interface Figures {
  median: number
  min: number
  max: number
}
const figures = (runs: number[]): Figures => ({ median: median(runs), min: Math.min(...runs), max: Math.max(...runs) })

/**
 * CPU time (ms) a process has used so far, all its threads and the main thread alone (Linux:
 * /proc/PID/task/TID/schedstat); null elsewhere. Far steadier than wall time on a loaded machine.
 */
function processCpu(pid: number): { all: number; main: number } | null {
  if (!existsSync(`/proc/${pid}/task`)) return null
  let all = 0
  let main = 0
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    const ns = Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0])
    all += ns
    if (Number(tid) === pid) main = ns
  }
  return { all: all / 1e6, main: main / 1e6 }
}

type ServeFigures = { wall: Figures; cpu: Figures | null; mainCpu: Figures | null }

/**
 * Spawn to the first answer of `path` (with `token`, if any) that is a 200; wall time, and the
 * server's CPU time until then. With more than one binary, their runs alternate (one of each per
 * round), so a change in the machine's load falls on both.
 */
async function serveToFirst200(path: string, withToken: boolean, bins: string[] = [BIN]): Promise<ServeFigures[]> {
  const runs = bins.map(() => ({ wall: [] as number[], cpu: [] as number[], main: [] as number[] }))
  for (let i = 0; i < Math.min(RUNS, 10) + 1; i++) {
    for (const [b, bin] of bins.entries()) {
      const db = join(dir, `fresh-${withToken ? 'token' : 'new'}-${i}-${b}.db`)
      const token = withToken ? provision(db, bin) : undefined
      const { child, base, startedAt } = await startServe(db, bin)
      const res = await fetch(`${base}${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} })
      await res.arrayBuffer()
      const t = performance.now() - startedAt
      const cpu = processCpu(child.pid!)
      if (res.status !== 200) throw new Error(`first request: ${res.status}`)
      child.kill('SIGTERM')
      await new Promise((r) => child.once('exit', r))
      if (i >= 1) {
        runs[b]!.wall.push(t)
        if (cpu) runs[b]!.cpu.push(cpu.all), runs[b]!.main.push(cpu.main)
      }
    }
  }
  return runs.map((r) => ({ wall: figures(r.wall), cpu: r.cpu.length ? figures(r.cpu) : null, mainCpu: r.main.length ? figures(r.main) : null }))
}

const range = (f: Figures) => `${ms(f.median)}  (min ${ms(f.min)}, max ${ms(f.max)})`
const serveLine = (f: ServeFigures) =>
  `wall ${range(f.wall)}` + (f.cpu && f.mainCpu ? `\n${''.padEnd(40)}cpu ${ms(f.cpu.median)} (min ${ms(f.cpu.min)}), main thread ${ms(f.mainCpu.median)} (min ${ms(f.mainCpu.min)})` : '')

try {
  const floor = timeCommand([hello])
  const version = timeCommand([BIN, '--version'])
  const serverDb = join(dir, 'server.db')
  const token = provision(serverDb)
  const { child, base } = await startServe(serverDb)
  // What a list command prints in use: a table of rows (an empty list prints one line).
  for (let i = 0; i < 20; i++) {
    const res = await fetch(`${base}/api/v1/agents`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: `Code Reviewer ${i}`, role: 'Senior Developer', systemPrompt: 'You review code.', visibility: 'organization', tags: ['review'] }),
    })
    if (res.status !== 201) throw new Error(`creating agent ${i}: ${res.status}`)
  }
  const tokenFile = join(dir, 'token')
  writeFileSync(tokenFile, token, { mode: 0o600 })
  // What one fetch costs a compiled program (the HTTP client's thread): the floor of any command that asks the server.
  const fetchFloor = timeCommand([fetchHello, `${base}/api/health`])
  const health = timeCommand([BIN, 'health', '--url', base])
  const list = timeCommand([BIN, 'agents', 'list', '--url', base, '--token-file', tokenFile])
  const clientArgs = { version: ['--version'], health: ['health', '--url', base], list: ['agents', 'list', '--url', base, '--token-file', tokenFile] }
  const compared = OTHER
    ? timeInterleaved({
        hello: [hello],
        fetch: [fetchHello, `${base}/api/health`],
        ...Object.fromEntries(Object.entries(clientArgs).flatMap(([k, args]) => [[`this ${k}`, [BIN, ...args]], [`other ${k}`, [OTHER, ...args]]])),
      })
    : null
  child.kill('SIGTERM')
  const bins = OTHER ? [BIN, OTHER] : [BIN]
  const serve = await serveToFirst200('/api/v1/agents', true, bins)
  const fresh = await serveToFirst200('/api/health', false, bins)

  const row = (name: string, f: { wall: number; cpu: number }, target = true) =>
    console.log(
      `${name.padEnd(38)} wall ${ms(f.wall)} (x${(f.wall / floor.wall).toFixed(2)})   cpu ${ms(f.cpu)} (x${(f.cpu / floor.cpu).toFixed(2)})${target ? '  (target <= 1.5x hello)' : ''}`,
    )
  row('compiled hello (floor)', floor, false)
  row('compiled fetch of /api/health', fetchFloor, false)
  row('teamday --version', version)
  row('teamday health (HTTP to a server)', health)
  row('teamday agents list (token, 20 rows)', list)
  if (compared) {
    const c = compared
    const x = (f: { wall: number; cpu: number }) => `wall ${ms(f.wall)} (x${(f.wall / c.hello!.wall).toFixed(2)}), cpu ${ms(f.cpu)} (x${(f.cpu / c.hello!.cpu).toFixed(2)})`
    console.log(`interleaved, ${RUNS} rounds: hello wall ${ms(c.hello!.wall)}, cpu ${ms(c.hello!.cpu)}; fetch ${x(c.fetch!)}`)
    console.log(`${''.padEnd(38)} ${NAMES.get(BIN)}`.padEnd(90) + `   ${NAMES.get(OTHER!)}`)
    for (const [k, label] of [['version', 'teamday --version'], ['health', 'teamday health'], ['list', 'teamday agents list']] as const) {
      console.log(`${label.padEnd(38)} ${x(c[`this ${k}`]!).padEnd(50)}   ${x(c[`other ${k}`]!)}`)
    }
  }
  const serveLines = (runs: ServeFigures[]) => runs.map((f, b) => `${''.padEnd(40)}${serveLine(f)}${runs.length > 1 ? `\n${''.padEnd(40)}(${NAMES.get(bins[b]!)})` : ''}`).join('\n')
  console.log(`teamday serve -> first authenticated 200 (GET /api/v1/agents)  (target <= 60 ms)\n${serveLines(serve)}`)
  console.log(`teamday serve, no database file yet -> first 200 (/api/health)\n${serveLines(fresh)}`)
} finally {
  rmSync(dir, { recursive: true, force: true })
}
