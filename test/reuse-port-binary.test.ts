/**
 * The compiled binary with `serve --reuse-port`, on SQLite and on PostgreSQL: a second process on
 * the same database shares the port; one on another database (another SQLite file, another
 * PostgreSQL database, SQLite beside PostgreSQL, a backup of the same file or a database restored
 * from one, a PostgreSQL database restored from a pg_dump of the first) is refused with exit 1 and leaves nothing
 * listening, and every connection still reaches the first (it joined silently, and the kernel
 * split the clients between two sets of data). The in-process side: test/reuse-port.test.ts.
 *
 *   npm run build && TEAMDAY_TEST_BINARY=dist/teamday bun test test/reuse-port-binary.test.ts
 *
 * Skipped (and says so) without TEAMDAY_TEST_BINARY; .ci/run runs it in the "binary execution"
 * stage. Needs PostgreSQL (test/helpers/pg.ts): a failure in CI where none answers.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { adminTokenVia } from './helpers/first-start'
import { createTestDatabase, dropDatabases, needPostgres, pgDump, urlFor } from './helpers/pg'
import { binaryInTempDir, LISTENING, randomKey, spawnCollected, type Spawned } from './helpers/spawn'

const binary = process.env.TEAMDAY_TEST_BINARY
if (!binary) console.warn('reuse-port-binary: set TEAMDAY_TEST_BINARY=dist/teamday to run the compiled-binary --reuse-port test')
const HAVE_PG = binary ? await needPostgres('test/reuse-port-binary.test.ts') : false
const run = binary && HAVE_PG ? describe : describe.skip

run('compiled binary: --reuse-port shares a port only with processes on the same database', () => {
  const dir = binary ? binaryInTempDir(binary, 'teamday-reuse-bin-') : ''
  const procs: Spawned[] = []
  const databases: string[] = []
  let env: Record<string, string>

  beforeAll(async () => {
    env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, TEAMDAY_ENCRYPTION_KEY: randomKey(), TEAMDAY_LOG_LEVEL: 'warn' }
    for (let i = 0; i < 3; i++) databases.push(await createTestDatabase())
  }, 30_000)

  afterAll(async () => {
    for (const p of procs) p.proc.kill('SIGKILL')
    await dropDatabases(databases).catch(() => {})
    rmSync(dir, { recursive: true, force: true })
  }, 30_000)

  function serve(db: string, port: number): Spawned {
    const s = spawnCollected(['./teamday', 'serve', '--host', '127.0.0.1', '--port', String(port), '--reuse-port', '--db', db], { cwd: dir, env })
    procs.push(s)
    return s
  }

  const listening = async (s: Spawned): Promise<number> => Number((await s.waitFor(LISTENING))[1])

  /** Refused: exit 1 naming the port, never listening. */
  async function refused(s: Spawned, port: number, what: string) {
    expect(await s.exited()).toBe(1)
    expect(s.output()).toContain(`error: port ${port} on 127.0.0.1 is held by ${what}`)
    expect(s.output()).not.toContain('listening on')
  }

  /** Every new connection to the port reaches a server that knows the token (16 of them, each its own). */
  async function allReach(port: number, token: string) {
    for (let i = 0; i < 16; i++) {
      const r = await fetch(`http://127.0.0.1:${port}/api/v1/tokens/self`, { headers: { authorization: `Bearer ${token}`, connection: 'close' }, signal: AbortSignal.timeout(5_000) })
      expect({ i, status: r.status }).toEqual({ i, status: 200 })
    }
  }

  async function stop(s: Spawned) {
    s.proc.kill('SIGTERM')
    expect(await s.exited()).toBe(0)
  }

  test('on SQLite: another file, a backup of this one or a database restored from it, or a PostgreSQL database, is refused; the same file shares the port', async () => {
    const mine = join(dir, 'mine.db')
    const first = serve(mine, 0)
    const port = await listening(first)
    const token = adminTokenVia(['./teamday'], mine, { cwd: dir, env })
    await refused(serve(join(dir, 'theirs.db'), port), port, 'a teamday on another database')
    await refused(serve(urlFor(databases[0]!), port), port, 'a teamday on another database')
    // A backup of this very database, taken while it runs, and a database restored from it: other
    // databases (each gets an identity of its own), refused as any other.
    const admin = (...args: string[]) => Bun.spawnSync(['./teamday', ...args], { cwd: dir, env })
    expect(admin('backup', '--db', mine, '--out', join(dir, 'mine-backup.db')).exitCode).toBe(0)
    await refused(serve(join(dir, 'mine-backup.db'), port), port, 'a teamday on another database')
    expect(admin('restore', '--from', join(dir, 'mine-backup.db'), '--db', join(dir, 'restored.db')).exitCode).toBe(0)
    await refused(serve(join(dir, 'restored.db'), port), port, 'a teamday on another database')
    await allReach(port, token)
    const second = serve(mine, port)
    expect(await listening(second)).toBe(port)
    await allReach(port, token)
    await Promise.all([stop(first), stop(second)])
  }, 90_000)

  test('on PostgreSQL: another database, one restored from a pg_dump of this one, or a SQLite file, is refused; the same database (by another URL) shares the port', async () => {
    const mine = urlFor(databases[1]!)
    const first = serve(mine, 0)
    const port = await listening(first)
    const token = adminTokenVia(['./teamday'], mine, { cwd: dir, env })
    await refused(serve(urlFor(databases[0]!), port), port, 'a teamday on another database')
    await refused(serve(join(dir, 'third.db'), port), port, 'a teamday on another database')
    // A database restored from a dump of this one, taken while it runs: the same identity (its
    // database_id row), the same data for now, yet another database from its first write. It did
    // not see the probe the start wrote: refused (it was taken for this one and joined).
    const restored = urlFor(databases[2]!)
    const psql = Bun.spawn(['psql', '-q', '-v', 'ON_ERROR_STOP=1', restored], { stdin: new TextEncoder().encode(await pgDump(mine)), stdout: 'pipe', stderr: 'pipe' })
    const [psqlErr, psqlCode] = await Promise.all([new Response(psql.stderr).text(), psql.exited])
    expect({ psqlCode, psqlErr }).toEqual({ psqlCode: 0, psqlErr: '' })
    await refused(serve(restored, port), port, 'a teamday on another database')
    await allReach(port, token)
    // The same database named another way: what counts is the database, not its URL.
    const second = serve(mine.replace('127.0.0.1', 'localhost'), port)
    expect(await listening(second)).toBe(port)
    await allReach(port, token)
    await Promise.all([stop(first), stop(second)])
  }, 90_000)

  test('a server that cannot show its database (as a teamday older than this one answers: 404) is not shared with', async () => {
    const older = Bun.serve({ hostname: '127.0.0.1', port: 0, reusePort: true, fetch: () => Response.json({ error: true, statusCode: 404, code: 'not_found' }, { status: 404 }) })
    try {
      await refused(serve(join(dir, 'mine.db'), older.port!), older.port!, 'a server that does not show which database it is on (HTTP 404 to GET /api/health/database-proof')
    } finally {
      older.stop(true)
    }
  }, 30_000)
})
