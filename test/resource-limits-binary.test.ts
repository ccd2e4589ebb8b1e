/**
 * The compiled binary when a resource of the process runs out (README "Logs"):
 *
 * - every file descriptor taken by open connections (`ulimit -n 64`): new connections wait
 *   unanswered, and the log said nothing; now `file_descriptors_exhausted` once, and
 *   `file_descriptors_available` once they are closed, after which it answers again;
 * - stdout whose reader is gone (`teamday serve | head -1`): the next start-up line's EPIPE
 *   ended the server (exit 0, mid-serving, no stop); now it goes on serving and says so once;
 *   on a full disk (`> /dev/full`) it served, but its clean stop exited 1: now 0.
 *
 *   npm run build && TEAMDAY_TEST_BINARY=dist/teamday bun test test/resource-limits-binary.test.ts
 *
 * Skipped (and says so) without TEAMDAY_TEST_BINARY. In process: test/descriptor-watch.test.ts,
 * test/serve-start.test.ts.
 */
import { afterAll, describe, expect, test } from 'bun:test'
import { connect, type Socket } from 'node:net'
import { rmSync } from 'node:fs'
import { binaryInTempDir, LISTENING, randomKey, spawnCollected, type Spawned } from './helpers/spawn'

const binary = process.env.TEAMDAY_TEST_BINARY
if (!binary) console.warn('resource-limits-binary: set TEAMDAY_TEST_BINARY=dist/teamday to run the compiled-binary resource-limit test')
const run = binary ? describe : describe.skip

run('compiled binary: resources that run out', () => {
  const dir = binary ? binaryInTempDir(binary, 'teamday-limits-bin-') : ''
  const procs: Spawned[] = []
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, TEAMDAY_ENCRYPTION_KEY: randomKey() }
  /** `serve` under bash (`exec`: the process is the server's), shell text before and after its arguments. */
  const serve = (db: string, before: string, after = '') => {
    const s = spawnCollected(['bash', '-c', `${before} exec ./teamday serve --host 127.0.0.1 --port 0 --db ${db} ${after}`], { cwd: dir, env })
    procs.push(s)
    return s
  }
  afterAll(() => {
    for (const p of procs) p.proc.kill('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  })

  test('every descriptor taken by connections: said once in the log, and once when they are free again; then it answers', async () => {
    const server = serve('fd.db', 'ulimit -n 64;')
    const port = Number((await server.waitFor(LISTENING))[1])
    const sockets: Socket[] = []
    for (let i = 0; i < 80; i++) {
      const s = connect(port, '127.0.0.1')
      s.on('error', () => {})
      sockets.push(s)
    }
    await server.waitFor(/"msg":"file_descriptors_exhausted"[^\n]*"limit":64/, 10_000)
    for (const s of sockets) s.destroy()
    await server.waitFor(/"msg":"file_descriptors_available"/, 10_000)
    const health = await fetch(`http://127.0.0.1:${port}/api/health`, { signal: AbortSignal.timeout(5000) })
    expect(health.status).toBe(200)
    expect(server.output().match(/file_descriptors_exhausted/g)).toHaveLength(1)
  }, 30_000)

  test('every descriptor taken by idle keep-alive connections: they are closed, and a new connection is answered well before the idle timeout', async () => {
    // New connections waited in the backlog until an idle one timed out (30 s), Bun's accept loop
    // spinning on EMFILE all the while.
    const server = serve('idle.db', 'ulimit -n 64;')
    const port = Number((await server.waitFor(LISTENING))[1])
    const sockets: Socket[] = []
    for (let i = 0; i < 80; i++) {
      const s = connect(port, '127.0.0.1')
      s.on('error', () => {})
      s.on('connect', () => s.write(`GET /api/health HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`))
      sockets.push(s)
    }
    await server.waitFor(/"msg":"file_descriptors_exhausted"[^\n]*"limit":64/, 10_000)
    const health = await fetch(`http://127.0.0.1:${port}/api/health`, { signal: AbortSignal.timeout(10_000) })
    expect(health.status).toBe(200)
    expect(server.output()).toMatch(/"msg":"idle_connections_closed","closed":\d+/)
    for (const s of sockets) s.destroy()
  }, 30_000)

  // A reader gone before the first line (`> >(true)`, and a pause for it to end): deterministic,
  // where `| head -1` may read every start-up line before it leaves (then the stop's line fails).
  test('stdout whose reader left (`teamday serve | head -1`): the server goes on serving, says so once, and stops with exit 0', async () => {
    const server = serve('pipe.db', 'exec 1> >(true); sleep 0.3;')
    const port = Number((await server.waitFor(/"msg":"server_started".*?"listen":"http:\/\/127\.0\.0\.1:(\d+)"/))[1])
    await server.waitFor(/"msg":"stdout_unwritable","code":"EPIPE"/, 10_000)
    await Bun.sleep(200)
    expect(server.proc.exitCode).toBeNull()
    const health = await fetch(`http://127.0.0.1:${port}/api/health`, { signal: AbortSignal.timeout(5000) })
    expect(health.status).toBe(200)
    expect(server.output()).not.toContain('/setup/')
    server.proc.kill('SIGTERM')
    expect(await server.exited(10_000)).toBe(0)
    expect(server.output().match(/stdout_unwritable/g)).toHaveLength(1)
  }, 30_000)
  // `> /dev/full`: served, said once; the stop ended with exit 1 and a plain-text `error: could
  // not write to standard output` after the JSON log, as if the server had failed.
  test('stdout on a full disk (ENOSPC): served, said once, and a clean stop exits 0 with nothing but log lines on stderr', async () => {
    const server = serve('full.db', '', '> /dev/full')
    const port = Number((await server.waitFor(/"msg":"server_started".*?"listen":"http:\/\/127\.0\.0\.1:(\d+)"/))[1])
    await server.waitFor(/"msg":"stdout_unwritable","code":"ENOSPC"/, 10_000)
    expect((await fetch(`http://127.0.0.1:${port}/api/health`, { signal: AbortSignal.timeout(5000) })).status).toBe(200)
    server.proc.kill('SIGTERM')
    expect(await server.exited(10_000)).toBe(0)
    const lines = server.output().split('\n').filter((l) => l !== '')
    expect(lines.filter((l) => !l.startsWith('{'))).toEqual([])
    expect(server.output().match(/stdout_unwritable/g)).toHaveLength(1)
  }, 30_000)
})
