import { afterAll, describe, expect, test } from 'bun:test'
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { adminTokenVia, SETUP_LINK } from './helpers/first-start'
import { startProviderDouble } from './helpers/providers'

/**
 * The server as a process (issue 13): a port in use is an error naming the port, unless every
 * process sharing it asked for --reuse-port; `npm start` passes SIGTERM and Ctrl-C (SIGINT to
 * the process group) to the server; `teamday backup` copies a running server's database and
 * `teamday restore` refuses while it runs.
 */

const ROOT = resolve(import.meta.dir, '..')
const MAIN = join(ROOT, 'src/main.ts')
const dir = mkdtempSync(join(tmpdir(), 'teamday-proc-'))
const procs = new Set<ChildProcess>()
/** Servers started by npm: not our children, so killed by pid should a test fail half-way. */
const grandchildren = new Set<number>()
afterAll(() => {
  for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL')
  for (const pid of grandchildren) if (running(pid)) process.kill(pid, 'SIGKILL')
  rmSync(dir, { recursive: true, force: true })
})

const env = (extra: Record<string, string> = {}) => ({ ...process.env, TEAMDAY_LOG_LEVEL: 'warn', NODE_ENV: 'production', ...extra })

/** A child process with its output collected; `exited` resolves with its exit code. */
function start(cmd: string[], opts: { env?: Record<string, string | undefined>; detached?: boolean } = {}) {
  const p = spawn(cmd[0]!, cmd.slice(1), { cwd: ROOT, env: opts.env ?? env(), stdio: ['ignore', 'pipe', 'pipe'], detached: opts.detached })
  procs.add(p)
  // 'close': the process exited and its output pipes closed (a server npm started may write after npm exits).
  const o = { proc: p, out: '', err: '', exited: new Promise<number | null>((r) => p.on('close', (code) => r(code))) }
  p.stdout!.on('data', (d) => (o.out += d))
  p.stderr!.on('data', (d) => (o.err += d))
  return o
}
type Proc = ReturnType<typeof start>

async function listening(p: Proc, ms = 15_000): Promise<number> {
  const deadline = Date.now() + ms
  for (;;) {
    const m = /listening on http:\/\/[^\s]+:(\d+)/.exec(p.out)
    if (m && /API docs/.test(p.out)) return Number(m[1])
    if (p.proc.exitCode !== null) throw new Error(`exited ${p.proc.exitCode}: ${p.out}${p.err}`)
    if (Date.now() > deadline) throw new Error(`not listening: ${p.out}${p.err}`)
    await Bun.sleep(25)
  }
}

const serve = (args: string[]) => start([process.execPath, MAIN, 'serve', '--host', '127.0.0.1', ...args])
const cli = (args: string[]) => start([process.execPath, MAIN, ...args])

async function health(port: number): Promise<number> {
  return (await fetch(`http://127.0.0.1:${port}/api/health`, { signal: AbortSignal.timeout(3_000) })).status
}

describe('a port in use', () => {
  test('is an error with exit 1 naming the port; the first server keeps it and prints no token', async () => {
    const first = serve(['--port', '0', '--db', join(dir, 'a.db')])
    const port = await listening(first)
    const second = serve(['--port', String(port), '--db', join(dir, 'b.db')])
    expect(await second.exited).toBe(1)
    expect(second.err).toContain(`error: port ${port} is already in use on 127.0.0.1`)
    // Stopped in order: the start's housekeeping and lease sweep end before the database closes.
    expect(second.err).not.toContain('housekeeping_failed')
    expect(second.err).not.toContain('closed database')
    expect(second.out).not.toContain('listening')
    expect(second.out).not.toMatch(/td_[A-Za-z0-9]{43}/)
    expect(await health(port)).toBe(200)
    first.proc.kill('SIGTERM')
    expect(await first.exited).toBe(0)
  })

  test('an address that cannot be listened on is an error with exit 1 naming it and its setting (it was a bare "EINVAL: invalid argument, listen")', async () => {
    for (const [host, says] of [
      ['256.0.0.1', '"256.0.0.1" is not an address to listen on'],
      ['192.0.2.1', '192.0.2.1 is not an address of this machine'],
      ['::1%nope', '"::1%nope" is not an address to listen on'],
    ] as const) {
      const p = start([process.execPath, MAIN, 'serve', '--host', host, '--port', '0', '--db', join(dir, 'host.db')])
      expect(await p.exited).toBe(1)
      expect(p.err).toContain(`error: cannot listen on ${host.includes(':') ? `[${host}]` : host}:0: ${says}`)
      expect(p.err).toContain('(HOST / --host)')
    }
    const metrics = serve(['--port', '0', '--metrics-port', '0', '--metrics-host', '300.1.1.1', '--db', join(dir, 'host.db')])
    expect(await metrics.exited).toBe(1)
    expect(metrics.err).toContain('(TEAMDAY_METRICS_HOST / --metrics-host)')
  })

  test('--reuse-port on both: two processes on one database share it', async () => {
    const db = join(dir, 'shared.db')
    const first = serve(['--port', '0', '--reuse-port', '--db', db])
    const port = await listening(first)
    const second = serve(['--port', String(port), '--reuse-port', '--db', db])
    expect(await listening(second)).toBe(port)
    for (const p of [first, second]) p.proc.kill('SIGTERM')
    expect(await Promise.all([first.exited, second.exited])).toEqual([0, 0])
  })

  test('--reuse-port on another database: refused with exit 1, nothing of it listens, every connection still reaches the first (it joined silently, and split the clients between two sets of data)', async () => {
    const first = serve(['--port', '0', '--reuse-port', '--db', join(dir, 'mine.db')])
    const port = await listening(first)
    const token = adminTokenVia([process.execPath, MAIN], join(dir, 'mine.db'), { cwd: ROOT, env: env() })
    const other = serve(['--port', String(port), '--reuse-port', '--db', join(dir, 'theirs.db')])
    expect(await Promise.race([other.exited, Bun.sleep(20_000).then(() => 'still running')])).toBe(1)
    expect(other.err).toContain(`error: port ${port} on 127.0.0.1 is held by a teamday on another database: --reuse-port shares a port only between teamday processes on the same database`)
    expect(other.out).not.toContain('listening')
    // Each on a connection of its own (the kernel spreads new connections among the listeners).
    for (let i = 0; i < 16; i++) {
      const r = await fetch(`http://127.0.0.1:${port}/api/v1/tokens/self`, { headers: { authorization: `Bearer ${token}`, connection: 'close' }, signal: AbortSignal.timeout(3_000) })
      expect(r.status).toBe(200)
    }
    first.proc.kill('SIGTERM')
    expect(await first.exited).toBe(0)
  }, 30_000)

  test("--reuse-port on one SQLite file: the second start leaves the first one's running execution alone; killed, the first one's run fails once its lease lapses", async () => {
    const double = startProviderDouble()
    try {
      const db = join(dir, 'runs.db')
      const LEASE_MS = 2000
      const e = env({ OPENAI_BASE_URL: double.openaiBaseUrl, TEAMDAY_DEFAULT_MODEL: 'test-model', TEAMDAY_EXECUTION_LEASE_MS: String(LEASE_MS) })
      const args = ['serve', '--host', '127.0.0.1', '--reuse-port', '--db', db]
      const first = start([process.execPath, MAIN, ...args, '--port', '0'], { env: e })
      const port = await listening(first)
      const token = adminTokenVia([process.execPath, MAIN], db, { cwd: ROOT, env: e })
      const api = async (method: string, path: string, body?: unknown) => {
        const r = await fetch(`http://127.0.0.1:${port}/api/v1${path}`, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(5_000) })
        return (await r.json()) as any
      }
      const agentId = (await api('POST', '/agents', { name: 'Hangs', systemPrompt: 'x' })).id
      const id = (await api('POST', `/agents/${agentId}/execute`, { message: 'HANG', async: true })).executionId
      const execution = async () => (await api('GET', `/executions/${id}`)).execution
      const until = async (what: string, cond: () => Promise<boolean>, ms: number) => {
        const end = Date.now() + ms
        while (!(await cond())) {
          if (Date.now() > end) throw new Error(`timed out: ${what}`)
          await Bun.sleep(50)
        }
      }
      await until('running', async () => (await execution()).status === 'running', 10_000)
      const second = start([process.execPath, MAIN, ...args, '--port', String(port)], { env: e })
      expect(await listening(second)).toBe(port)
      // Past the second one's start-up sweep and two more (every half lease), and the first one's checks of its rows.
      await Bun.sleep(LEASE_MS * 1.2)
      expect(await execution()).toMatchObject({ status: 'running', error: null })
      first.proc.kill('SIGKILL')
      await first.exited
      // Lapses within a lease of the kill and is swept every half lease: about 3 s, waited for with
      // a loaded machine's seconds to spare (the 30 s default lease, were the setting not applied, is far past).
      await until('failed', async () => (await execution()).status === 'failed', LEASE_MS + 8_000)
      expect((await execution()).error).toContain('lease lapsed')
      second.proc.kill('SIGTERM')
      expect(await second.exited).toBe(0)
    } finally {
      double.stop()
    }
  }, 60_000)
})

/** The pid of the one child of `pid` (npm's script process: with `exec`, the server itself). */
function childOf(pid: number): number | undefined {
  const text = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim()
  return text ? Number(text.split(/\s+/)[0]) : undefined
}

/** Gone, or a zombie waiting for its parent: no longer running. */
function running(pid: number): boolean {
  if (!existsSync(`/proc/${pid}`)) return false
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'))
  } catch {
    return false
  }
}

describe('npm start', () => {
  for (const [how, signal] of [
    ['SIGTERM to npm', 'SIGTERM'],
    ['Ctrl-C (SIGINT to the process group)', 'SIGINT'],
  ] as const) {
    test(`${how} stops the server gracefully`, async () => {
      const npm = start(['npm', 'start', '--silent'], { env: env({ PORT: '0', HOST: '127.0.0.1', TEAMDAY_DB: join(dir, `npm-${signal}.db`) }), detached: true })
      const port = await listening(npm, 30_000)
      const server = childOf(npm.proc.pid!)
      expect(server).toBeDefined()
      grandchildren.add(server!)
      expect(readFileSync(`/proc/${server}/cmdline`, 'utf8')).toContain('src/main.ts')
      if (signal === 'SIGTERM') npm.proc.kill('SIGTERM')
      else process.kill(-npm.proc.pid!, 'SIGINT')
      await npm.exited
      const deadline = Date.now() + 15_000
      while (running(server!) && Date.now() < deadline) await Bun.sleep(50)
      expect(running(server!)).toBe(false)
      expect(npm.out).toContain('teamday stopped')
      await expect(health(port)).rejects.toThrow()
    }, 60_000)
  }
})

describe('a graceful stop', () => {
  test("logs the request it answered during the stop (its access-log line was lost: the process ended before it was written)", async () => {
    const db = join(dir, 'stop-log.db')
    const server = start([process.execPath, MAIN, 'serve', '--host', '127.0.0.1', '--port', '0', '--db', db], { env: env({ TEAMDAY_LOG_LEVEL: 'info' }) })
    const port = await listening(server)
    while (!SETUP_LINK.test(server.out)) await Bun.sleep(25)
    const token = adminTokenVia([process.execPath, MAIN], db)
    const { connect } = await import('node:net')
    const body = JSON.stringify({ title: 'answered while stopping' })
    const sock = connect(port, '127.0.0.1')
    let answer = ''
    sock.on('data', (d) => (answer += d))
    const closed = new Promise((r) => sock.on('close', r))
    sock.write(`POST /api/v1/tasks HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\nX-Request-Id: req-during-stop\r\n\r\n`)
    sock.write(body.slice(0, 5))
    await Bun.sleep(300)
    server.proc.kill('SIGTERM')
    await Bun.sleep(300)
    sock.write(body.slice(5))
    await closed
    expect(answer).toStartWith('HTTP/1.1 201')
    expect(await server.exited).toBe(0)
    const line = server.err.split('\n').find((l) => l.includes('"req-during-stop"') && l.includes('"msg":"request"'))
    expect(line).toBeDefined()
    expect(JSON.parse(line!)).toMatchObject({ method: 'POST', path: '/api/v1/tasks', status: 201 })
    // Written before the stop's last line.
    expect(server.err.indexOf('req-during-stop')).toBeLessThan(server.err.indexOf('"msg":"stopped"'))
  }, 30_000)
})

describe('backup and restore beside a running server', () => {
  test('backup copies the running server\'s database; restore refuses until it stops', async () => {
    const db = join(dir, 'live.db')
    const server = serve(['--port', '0', '--db', db])
    const port = await listening(server)
    while (!SETUP_LINK.test(server.out)) await Bun.sleep(25)
    const token = adminTokenVia([process.execPath, MAIN], db)
    const created = await fetch(`http://127.0.0.1:${port}/api/v1/tasks`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ title: 'in the backup' }) })
    expect(created.status).toBe(201)

    const out = join(dir, 'live-backup.db')
    const backup = cli(['backup', '--out', out, '--db', db])
    expect(await backup.exited).toBe(0)
    expect(backup.out).toContain(`backup written: ${out}`)

    const refused = cli(['restore', '--from', out, '--db', db])
    expect(await refused.exited).toBe(1)
    expect(refused.err).toContain('is in use: stop the server')
    expect(await health(port)).toBe(200)

    server.proc.kill('SIGTERM')
    expect(await server.exited).toBe(0)
    const restored = cli(['restore', '--from', out, '--db', db])
    expect(await restored.exited).toBe(0)
    const again = serve(['--port', '0', '--db', db])
    const port2 = await listening(again)
    const tasks = (await (await fetch(`http://127.0.0.1:${port2}/api/v1/tasks`, { headers: { authorization: `Bearer ${token}` } })).json()) as { title: string }[]
    expect(tasks.map((t) => t.title)).toEqual(['in the backup'])
    again.proc.kill('SIGTERM')
    expect(await again.exited).toBe(0)
  }, 60_000)
})
