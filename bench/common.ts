// What bench/run.ts and bench/mixed.ts share: starting teamday on a backend (SQLite, or
// PostgreSQL with one or several instances), a throw-away PostgreSQL database, wrk's output,
// and the CPU and memory of the processes involved (teamday's and PostgreSQL's backends).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { openSync, readdirSync, readFileSync, readlinkSync } from 'node:fs'
import { join } from 'node:path'
import postgres from 'postgres'

/** The port a child reports on stdout ("listening on http://host:PORT"). */
export function listeningPort(child: ChildProcess): Promise<number> {
  return new Promise((ok, fail) => {
    let buf = ''
    child.stdout!.on('data', (d) => {
      buf += d
      const m = /listening on http:\/\/[^:]+:(\d+)/.exec(buf)
      if (m) ok(Number(m[1]))
    })
    child.once('exit', () => fail(new Error(`process exited: ${buf}`)))
  })
}

/** A port nothing listens on now (for processes that must share one: --reuse-port). */
export function freePort(): number {
  const s = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: () => new Response() })
  const port = s.port!
  s.stop(true)
  return port
}

export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

/** One server's figures from one round (a benchmark's rows carry at least these). */
export interface RoundFigures {
  rps: number
  p50: number
  p99: number
  /** CPU ms per request of the server's processes. */
  cpu: number
  /** CPU ms per request of PostgreSQL's backends, or null (not on PostgreSQL). */
  pgCpu: number | null
  rss: number
  /** How SO_REUSEPORT spread the connections over the instances, if several. */
  split: string
  /** wrk's wake-ups a request (WrkResult.wakeups). */
  wakeups: number
}

/** The rounds' medians (the largest RSS; every split listed). */
export function medianFigures(rs: RoundFigures[]): RoundFigures {
  return {
    rps: median(rs.map((r) => r.rps)),
    p50: median(rs.map((r) => r.p50)),
    p99: median(rs.map((r) => r.p99)),
    cpu: median(rs.map((r) => r.cpu)),
    pgCpu: rs[0]!.pgCpu === null ? null : median(rs.map((r) => r.pgCpu!)),
    rss: Math.max(...rs.map((r) => r.rss)),
    split: rs.map((r) => r.split).filter(Boolean).join(', '),
    wakeups: median(rs.map((r) => r.wakeups)),
  }
}

export function toMs(v: string): number {
  const m = /^([\d.]+)(us|ms|s)$/.exec(v.trim())
  if (!m) return NaN
  const n = Number(m[1])
  return m[2] === 'us' ? n / 1000 : m[2] === 's' ? n * 1000 : n
}

/** Voluntary context switches of all a process's threads so far; NaN once it is gone. */
export function voluntarySwitches(pid: number): number {
  try {
    let n = 0
    for (const t of readdirSync(`/proc/${pid}/task`)) n += Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/task/${t}/status`, 'utf8'))?.[1])
    return n
  } catch {
    return NaN
  }
}

/** CPU seconds (user + system) a process has used so far; 0 once it is gone. */
export function cpuSeconds(pid: number): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
    return (Number(f[11]) + Number(f[12])) / 100
  } catch {
    return 0
  }
}

/** The whole machine's CPU time so far (all cores, /proc/stat): idle (with I/O wait) and total, in ticks. */
export function machineTicks(): { idle: number; total: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1, 9).map(Number)
  return { idle: f[3]! + f[4]!, total: f.reduce((t, x) => t + x, 0) }
}

/** The share of the machine's CPU time left idle between two machineTicks() readings, in %. */
export const idlePercent = (a: { idle: number; total: number }, b: { idle: number; total: number }) => (100 * (b.idle - a.idle)) / Math.max(1, b.total - a.total)

export const rssMb = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) / 1024

export function requireWrk(): void {
  if (spawnSync('wrk', ['--version']).error) {
    console.error('wrk is not installed: apt-get install -y wrk')
    process.exit(2)
  }
}

export interface WrkResult {
  rps: number
  p50: number
  p99: number
  requests: number
  errors: string
  /**
   * wrk's voluntary context switches a request, counted from 10 % to 90 % of the run: how often
   * the load generator fell asleep waiting for an answer and had to be woken. On this 2-core VM a
   * wake-up is an expensive inter-processor interrupt charged to the *server's* `sendmsg`, so a
   * server that keeps wrk waiting pays kernel time a faster one does not (docs/performance.md,
   * "Thirty-sixth session"). NaN when it could not be read.
   */
  wakeups: number
}

/**
 * One wrk run; `extra` are wrk's options before the URL (-H, -s …). `midway` runs half-way
 * through (to look at the processes under load).
 */
export async function wrk(url: string, opts: { connections: number; seconds: number; threads?: number; extra?: string[]; midway?: () => void }): Promise<WrkResult> {
  const args = ['-t', String(opts.threads ?? 1), '-c', String(opts.connections), '-d', `${opts.seconds}s`, '--latency', '--timeout', '30s', ...(opts.extra ?? [])]
  const child = spawn('wrk', [...args, url], { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  child.stdout!.on('data', (d) => (out += d))
  const timer = opts.midway ? setTimeout(opts.midway, opts.seconds * 500) : null
  const switches: number[] = []
  const count = () => switches.push(voluntarySwitches(child.pid!))
  const samples = [setTimeout(count, opts.seconds * 100), setTimeout(count, opts.seconds * 900)]
  await new Promise((r) => child.once('exit', r))
  if (timer) clearTimeout(timer)
  for (const s of samples) clearTimeout(s)
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1]
  const socket = /Socket errors: (.*)/.exec(out)?.[1]
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1])
  return {
    wakeups: switches.length === 2 ? (switches[1]! - switches[0]!) / (opts.seconds * 0.8) / rps : NaN,
    rps,
    p50: toMs(/\s50%\s+(\S+)/.exec(out)?.[1] ?? ''),
    p99: toMs(/\s99%\s+(\S+)/.exec(out)?.[1] ?? ''),
    requests: Number(/(\d+) requests in/.exec(out)?.[1]),
    errors: [non2xx ? `${non2xx} non-2xx` : '', socket ? `socket errors: ${socket}` : ''].filter(Boolean).join(', '),
  }
}

// ── PostgreSQL ──────────────────────────────────────────────────────────────────────────────

export function isPostgres(url: string | undefined): url is string {
  return !!url && /^postgres(ql)?:\/\//.test(url)
}

/** `--db postgres://…` from argv, else BENCH_PG_URL; the server's URL (any database on it). */
export function pgServerArg(argv: string[]): string | undefined {
  const i = argv.indexOf('--db')
  const v = i >= 0 ? argv[i + 1] : argv.find((a) => a.startsWith('--db='))?.slice(5)
  if (v !== undefined && !isPostgres(v)) throw new Error(`--db must be a postgres:// URL (got ${v})`)
  return v ?? process.env.BENCH_PG_URL
}

/** argv without `--db URL` / `--db=URL`. */
export function withoutDbArg(argv: string[]): string[] {
  const out: string[] = []
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--db') i++
    else if (!argv[i]!.startsWith('--db=')) out.push(argv[i]!)
  }
  return out
}

/**
 * A database of the benchmark's own, teamday_bench_<random> (C collation, as the README
 * tells), on the server of `serverUrl`; `drop()` removes it, ending its connections first.
 */
export async function benchDatabase(serverUrl: string): Promise<{ name: string; url: string; drop: () => Promise<void> }> {
  const name = `teamday_bench_${crypto.randomUUID().replaceAll('-', '').slice(0, 12)}`
  const admin = postgres(serverUrl, { max: 1, onnotice: () => {} })
  await admin.unsafe(`CREATE DATABASE ${name} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'`)
  const u = new URL(serverUrl)
  u.pathname = `/${name}`
  return {
    name,
    url: u.toString(),
    drop: async () => {
      try {
        await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
      } finally {
        await admin.end({ timeout: 2 })
      }
    },
  }
}

/**
 * PostgreSQL's side of a run: the backend processes serving one database (their CPU is
 * PostgreSQL's work for teamday, on the same cores) and its transaction counters.
 */
export class PgProbe {
  private readonly sql: postgres.Sql

  constructor(
    serverUrl: string,
    private readonly database: string,
  ) {
    this.sql = postgres(serverUrl, { max: 1, onnotice: () => {} })
  }

  /** Pids of the connections to the database (the teamday pools; not this probe's own). */
  async backends(): Promise<number[]> {
    const rows = await this.sql`SELECT pid FROM pg_stat_activity WHERE datname = ${this.database} AND pid <> pg_backend_pid()`
    return rows.map((r) => Number(r.pid))
  }

  /** Committed + rolled-back transactions of the database so far (each statement outside a transaction is one). */
  async transactions(): Promise<number> {
    // The statistics a backend reports are cached per transaction: ask for fresh ones.
    await this.sql`SELECT pg_stat_clear_snapshot()`
    const [row] = await this.sql`SELECT xact_commit + xact_rollback AS n FROM pg_stat_database WHERE datname = ${this.database}`
    return Number(row!.n)
  }

  /** CPU seconds the database's backends have used so far. */
  async cpu(): Promise<{ seconds: number; pids: number[] }> {
    const pids = await this.backends()
    return { seconds: pids.reduce((s, p) => s + cpuSeconds(p), 0), pids }
  }

  end(): Promise<void> {
    return this.sql.end({ timeout: 2 })
  }
}

// ── teamday ─────────────────────────────────────────────────────────────────────────────────

/** One way of running teamday: a database and how many instances serve it. */
export interface Backend {
  label: string
  db: string
  instances: number
}

export interface Started {
  label: string
  url: string
  children: ChildProcess[]
}

/**
 * Starts `instances` teamday servers on `db`: the compiled binary `bin`, or the source. Several
 * instances share one port with --reuse-port (SO_REUSEPORT): the kernel spreads the load
 * generator's connections over them, as a layer-4 load balancer spreads connections, with no
 * proxy hop of its own on these two cores (an nginx in front would also spend CPU here).
 */
export async function startTeamday(b: Backend, opts: { bin: string | null; env: Record<string, string>; profile?: string[]; logFile?: string }): Promise<Started> {
  const several = b.instances > 1
  const port = several ? freePort() : 0
  const args = ['serve', '--port', String(port), '--host', '127.0.0.1', '--db', b.db, ...(several ? ['--reuse-port'] : [])]
  const children: ChildProcess[] = []
  let url = ''
  for (let i = 0; i < b.instances; i++) {
    const child = spawn(opts.bin ?? process.execPath, opts.bin ? args : [...(opts.profile ?? []), join(import.meta.dir, '..', 'src', 'main.ts'), ...args], {
      // The log (access lines included) goes to a file, as under systemd or Docker: its cost is
      // measured, and the benchmark's own output stays readable.
      stdio: ['ignore', 'pipe', opts.logFile ? openSync(`${opts.logFile}.${i}`, 'w') : 'inherit'],
      env: { ...process.env, NODE_ENV: 'production', ...opts.env },
    })
    children.push(child)
    // One after the other: the first runs the migrations, the next find them done.
    url = `http://127.0.0.1:${await listeningPort(child)}`
  }
  return { label: b.label, url, children }
}

export async function stopAll(children: ChildProcess[]): Promise<void> {
  await Promise.all(
    children.map(async (child) => {
      if (child.exitCode !== null || child.signalCode !== null) return
      child.kill('SIGTERM')
      await new Promise((r) => child.once('exit', r))
    }),
  )
}

/** Connections established to `port` per process (how SO_REUSEPORT spread them), from /proc. */
export function connectionsPerProcess(children: ChildProcess[], port: number): number[] {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0')
  // Inodes of sockets established on the port, local side (the servers' ends).
  const inodes = new Set<string>()
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/)
    if (f.length > 9 && f[1]!.endsWith(`:${hexPort}`) && f[3] === '01') inodes.add(f[9]!)
  }
  return children.map((c) => {
    let n = 0
    try {
      for (const fd of readdirSync(`/proc/${c.pid}/fd`) as string[]) {
        try {
          const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${c.pid}/fd/${fd}`))
          if (m && inodes.has(m[1]!)) n++
        } catch {
          // closed meanwhile
        }
      }
    } catch {
      // gone
    }
    return n
  })
}

/**
 * The in-process app's heap once a minute has passed on its clock (rate-limit and dedupe windows
 * ended, as over a long run) and after two full collections. The test app keeps every log line
 * it was given (t.logs, at debug level): the harness's memory, not the server's, cleared first;
 * kept, they rose by a string or more a request and read as the server's growth.
 */
export async function settledHeap(t: { clock: { advance(ms: number): void }; logs: unknown[] }): Promise<ReturnType<typeof import('bun:jsc').heapStats>> {
  const { heapStats } = await import('bun:jsc')
  t.clock.advance(61_000)
  t.logs.length = 0
  Bun.gc(true)
  await Bun.sleep(10)
  Bun.gc(true)
  return heapStats()
}
