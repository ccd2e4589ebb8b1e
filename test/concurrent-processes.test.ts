import { afterAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { adminTokenVia, SETUP_LINK } from './helpers/first-start'
import { startServer } from './helpers/spawn'

// A real server process under write load while other processes open its database file: the
// admin CLI (`teamday tokens list`, `teamday audit list`) and the sqlite3 shell. SQLite keeps a
// POSIX lock on the `-shm` file for as long as a connection is open; if the server lost it (a
// descriptor of one of SQLite's files closed by someone else in the process), the next process
// to open the file would believe it is alone, truncate `-shm`, and the server would die of SIGBUS.

const dir = mkdtempSync(join(tmpdir(), 'teamday-procs-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const MAIN = resolve(import.meta.dir, '../src/main.ts')
const db = join(dir, 'teamday.db')
const env = { ...process.env, TEAMDAY_LOG_LEVEL: 'warn', TEAMDAY_RATE_LIMIT: 'off', NODE_ENV: 'production' }

/** The server on `db`, started (its first start prints the set-up link), with the admin's token. */
async function serveWithAdmin() {
  const { proc, origin } = await startServer([process.execPath, MAIN, 'serve', '--port', '0', '--host', '127.0.0.1', '--db', db], { env, ready: [SETUP_LINK], ms: 15_000 })
  const token = adminTokenVia([process.execPath, MAIN], db, { env })
  return { proc, base: origin, token }
}

/** POSIX locks held by `pid` on the file with inode `ino`, from /proc/locks. */
function locksOn(pid: number, ino: number): string[] {
  return readFileSync('/proc/locks', 'utf8')
    .split('\n')
    .filter((l) => {
      const f = l.trim().split(/\s+/)
      // "1: POSIX  ADVISORY  READ 1234 08:01:5678 128 128"
      return f[1] === 'POSIX' && Number(f[4]) === pid && Number(f[5]?.split(':')[2]) === ino
    })
}

describe('other processes opening the database while the server writes', () => {
  test('the server keeps its -shm lock, survives 50 admin CLI / sqlite3 opens under write load, and the file stays intact', async () => {
    const { proc, base, token } = await serveWithAdmin()
    try {
      const ino = statSync(`${db}-shm`).ino
      expect(locksOn(proc.pid, ino).length).toBeGreaterThan(0)

      let stop = false
      const statuses = new Map<number, number>()
      const writer = async (w: number) => {
        for (let i = 0; !stop; i++) {
          const res = await fetch(`${base}/api/v1/tasks`, {
            method: 'POST',
            headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
            body: JSON.stringify({ title: `load ${w}.${i}` }),
          }).catch(() => null)
          const s = res?.status ?? 0
          statuses.set(s, (statuses.get(s) ?? 0) + 1)
          await res?.arrayBuffer()
        }
      }
      const writers = [1, 2, 3].map(writer)

      for (let i = 0; i < 50 && proc.exitCode === null; i++) {
        const argv =
          i % 3 === 0
            ? ['sqlite3', db, '.tables']
            : i % 3 === 1
              ? [process.execPath, MAIN, 'tokens', 'list', '--email', 'admin@localhost', '--db', db]
              : [process.execPath, MAIN, 'audit', 'list', '--db', db, '--limit', '5']
        const child = Bun.spawn(argv, { env, stdout: 'ignore', stderr: 'pipe' })
        const code = await child.exited
        if (code !== 0) throw new Error(`${argv.slice(0, 4).join(' ')} exited ${code}: ${await new Response(child.stderr).text()}`)
        // The server still answers between the opens, and still holds its lock.
        const health = await fetch(`${base}/api/health`).catch(() => null)
        expect(health?.status).toBe(200)
      }
      expect(locksOn(proc.pid, ino).length).toBeGreaterThan(0)
      stop = true
      await Promise.all(writers)

      expect(proc.exitCode).toBeNull()
      // Every write was answered, and every answer was a success.
      expect([...statuses.keys()]).toEqual([201])
      expect(statuses.get(201)!).toBeGreaterThan(10)

      const check = Bun.spawnSync(['sqlite3', db, 'PRAGMA integrity_check'])
      expect(check.stdout.toString().trim()).toBe('ok')
      const count = Bun.spawnSync(['sqlite3', db, 'SELECT count(*) FROM tasks'])
      expect(Number(count.stdout.toString().trim())).toBe(statuses.get(201)!)

      // A revocation by the admin CLI (another process) refuses the server's very next request.
      const cli = (...argv: string[]) => {
        const r = Bun.spawnSync([process.execPath, MAIN, ...argv, '--db', db], { env })
        if (r.exitCode !== 0) throw new Error(r.stderr.toString())
        return r.stdout.toString().trim()
      }
      const second = cli('tokens', 'create', '--email', 'admin@localhost', '--name', 'second')
      const get = () => fetch(`${base}/api/v1/agents`, { headers: { authorization: `Bearer ${second}` } })
      expect((await get()).status).toBe(200)
      expect((await get()).status).toBe(200)
      const id = (JSON.parse(cli('tokens', 'list', '--email', 'admin@localhost', '--json')).tokens as any[]).find((x) => x.name === 'second').id
      cli('tokens', 'revoke', id)
      const after = await get()
      expect(after.status).toBe(401)
      expect(((await after.json()) as any).code).toBe('token_revoked')
    } finally {
      proc.kill('SIGTERM')
      await proc.exited
    }
  }, 120_000)
})

describe("nothing in src/ touches SQLite's own files", () => {
  test('no Bun.mmap, and no path naming a -wal, -shm or -journal file, anywhere in src/', () => {
    // The one exception: once SQLite itself refused to open the database at start-up, the
    // diagnosis of why (src/db/client.ts diagnose) looks at the files it would use beside it with
    // stat and access only (no descriptor opened, so no lock of SQLite's dropped; the server has no
    // connection yet), to name the one that is a folder or not writable.
    const allowed = new Set(['src/db/client.ts: for (const p of [file, `${file}-wal`, `${file}-shm`]) {'])
    const offenders: string[] = []
    for (const file of new Bun.Glob('src/**/*.ts').scanSync(resolve(import.meta.dir, '..'))) {
      const text = readFileSync(resolve(import.meta.dir, '..', file), 'utf8')
      text.split('\n').forEach((line, i) => {
        if (/^\s*(\/\/|\*)/.test(line)) return // comments may explain the rule
        if (/Bun\.mmap|-(shm|wal|journal)\b['"`]/.test(line) && !allowed.has(`${file}: ${line.trim()}`)) offenders.push(`${file}:${i + 1}: ${line.trim()}`)
      })
    }
    expect(offenders).toEqual([])
  })
})
