/**
 * A write held open in another session while a request runs (another process on SQLite, a second
 * connection on PostgreSQL): what a request meets when another instance, or the admin CLI,
 * commits a change at the very moment it checks what it depends on. Used by
 * test/archive-races.test.ts and test/revocation-races.test.ts.
 */
import { expect } from 'bun:test'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import postgres from 'postgres'
import type { PgConnection } from '../../src/db/pg'
import type { Res, TestApp } from './app'

/** How long the other session keeps its write uncommitted (SQLite; on PostgreSQL, until the request has been seen waiting or has answered). */
const HOLD_MS = 800

// SQLite: a process of its own (a second connection in this one would block this event loop on
// the file lock): takes the write lock, runs the statement, prints "held", commits HOLD_MS later.
let holder: { dir: string; file: string } | undefined
function holderScript(): string {
  if (holder) return holder.file
  const dir = mkdtempSync(join(tmpdir(), 'teamday-held-write-'))
  const file = join(dir, 'holder.ts')
  writeFileSync(
    file,
    `import { Database } from 'bun:sqlite'
const db = new Database(process.env.DB_FILE)
db.exec('PRAGMA busy_timeout = 5000')
db.exec('BEGIN IMMEDIATE')
db.exec(process.env.STATEMENT)
console.log('held')
await Bun.sleep(Number(process.env.HOLD_MS))
const at = Date.now()
db.exec('COMMIT')
console.log('committed ' + at)
`,
  )
  holder = { dir, file }
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }))
  return file
}

/**
 * Runs `statement` in another session and, while it is uncommitted, sends `request`; then lets it
 * commit. Returns the request's answer, and whether it waited for the statement's commit. Seen,
 * not timed against a fixed pause: on a loaded machine a request that does not wait can take
 * longer than the pause, and the pause can start late. SQLite needs a database file (`dbPath`).
 */
export async function whileHeld(t: TestApp, statement: string, request: () => Promise<Res>): Promise<{ res: Res; waited: boolean }> {
  if (t.backend === 'pg') {
    const holder = postgres(t.pg!.url, { max: 1, onnotice: () => {}, connection: { search_path: t.pg!.schema } })
    try {
      let held!: () => void
      let release!: () => void
      const isHeld = new Promise<void>((r) => (held = r))
      const released = new Promise<void>((r) => (release = r))
      const tx = holder.begin(async (sql) => {
        await sql.unsafe(statement)
        held()
        await released
      })
      await isHeld
      let settled = false
      const pending = request().finally(() => (settled = true))
      // Waiting for the held row's lock is a backend of this database waiting on a lock (not
      // the advisory lock every transaction of the app takes first); not waiting, it answers
      // while the statement is still uncommitted.
      const client = (t.rt.connection as PgConnection).client
      const lockWaits = async () => (await client.unsafe(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND wait_event <> 'advisory'`))[0]!.n as number
      let waited: boolean | undefined
      for (const end = Date.now() + 10_000; waited === undefined; ) {
        if (settled) waited = false
        else if ((await lockWaits()) > 0) waited = true
        else if (Date.now() > end) throw new Error('the request neither answered nor waited for the held write within 10 s')
        else await Bun.sleep(10)
      }
      release()
      await tx
      return { res: await pending, waited }
    } finally {
      await holder.end({ timeout: 1 })
    }
  }
  const proc = Bun.spawn([process.execPath, holderScript()], { env: { ...process.env, DB_FILE: t.rt.config.dbPath, STATEMENT: statement, HOLD_MS: String(HOLD_MS) }, stdout: 'pipe', stderr: 'pipe' })
  const reader = (proc.stdout as ReadableStream<Uint8Array>).getReader()
  let out = ''
  while (!out.includes('held')) {
    const { value, done } = await reader.read()
    if (done) throw new Error(`holder exited: ${out} ${await new Response(proc.stderr as ReadableStream).text()}`)
    out += new TextDecoder().decode(value)
  }
  const res = await request()
  // This process waits on SQLite's file lock (busy_timeout) without yielding: it answered only
  // once the holder had committed (after the time the holder printed), or it did not wait at all.
  const answeredAt = Date.now()
  while (!/committed \d+/.test(out)) {
    const { value, done } = await reader.read()
    if (done) throw new Error(`holder exited: ${out} ${await new Response(proc.stderr as ReadableStream).text()}`)
    out += new TextDecoder().decode(value)
  }
  const waited = answeredAt >= Number(/committed (\d+)/.exec(out)![1])
  expect(await proc.exited).toBe(0)
  return { res, waited }
}
