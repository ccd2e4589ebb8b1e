/**
 * The SQLite database file deleted or replaced under a running server (an operator's `rm`, a
 * restore done by copying over the file): SQLite keeps writing to the unlinked file, so writes
 * were acknowledged and then gone at the next start. Now `teamday serve` notices within seconds
 * (SQLite's SQLITE_FCNTL_HAS_MOVED, src/db/connection.ts checkFile): writes are 503, readiness
 * fails, reads go on, and the log says what happened.
 *
 * Found probing the binary (2026-12-05): in those seconds writes were still acknowledged (a task,
 * a token handed out, a console session), and all of them were gone at the next start. Every
 * write is now asked first (before its COMMIT in a transaction): the very first one is refused.
 */
import { describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sqliteOnly } from './helpers/pg'
import { serveOnFile } from './helpers/serving-file'
import { makeActor, makeTestApp } from './helpers/app'
import { openDatabase } from '../src/db/client'
import { sql } from 'drizzle-orm'
import { errorCodes } from '../src/db/unavailable'

describe('the database file deleted under a running server', () => {
  test.skipIf(sqliteOnly("a SQLite file's own fate"))('writes are refused with 503 within seconds, readiness fails, reads go on', async () => {
    const s = await serveOnFile('teamday-moved-', 'moved')
    const { db, base } = s
    try {
      const headers = { authorization: `Bearer ${s.token}`, 'content-type': 'application/json' }
      const post = (title: string) => fetch(`${base}/api/v1/tasks`, { method: 'POST', headers, body: JSON.stringify({ title }) })
      expect((await post('before')).status).toBe(201)
      expect((await fetch(`${base}/api/health/ready`)).status).toBe(200)

      for (const suffix of ['', '-wal', '-shm']) rmSync(db + suffix, { force: true })
      // At serve's next check (every 2 s): waited for up to 10 s, as a loaded machine can be seconds
      // late; nothing but writes is asked meanwhile, so it is serve's own check that notices, not
      // the readiness probe.
      let refused: Response | undefined
      for (let i = 0, end = Date.now() + 10_000; !refused && Date.now() < end; i++) {
        await Bun.sleep(100)
        const r = await post(`during ${i}`)
        if (r.status === 503) refused = r
      }
      expect(refused?.status).toBe(503)
      const body = (await refused!.json()) as { code: string; message: string }
      expect(body.code).toBe('service_unavailable')
      expect(body.message).toContain('deleted, moved or replaced')
      const ready = await fetch(`${base}/api/health/ready`)
      expect(ready.status).toBe(503)
      expect(((await ready.json()) as { message: string }).message).toContain('Not ready: The database file was deleted, moved or replaced')
      // Reads still answer from the open file.
      expect((await fetch(`${base}/api/v1/tasks`, { headers })).status).toBe(200)
    } finally {
      await s.close()
    }
  }, 30_000)
})

describe('the database file deleted under a running server: no write is acknowledged after it', () => {
  test.skipIf(sqliteOnly("a SQLite file's own fate"))('the first write after the rm is 503 (a task, a token), a transaction\'s COMMIT too; reads go on', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'teamday-moved-'))
    const db = join(dir, 'teamday.db')
    try {
      const t = await makeTestApp({ dbPath: db })
      try {
        const a = await makeActor(t, { role: 'admin' })
        expect((await t.req('POST', '/api/v1/tasks', { token: a.token, body: { title: 'before' } })).status).toBe(201)
        for (const suffix of ['', '-wal', '-shm']) rmSync(db + suffix, { force: true })
        // At once: no check of serve's has run (there is none here).
        const task = await t.req('POST', '/api/v1/tasks', { token: a.token, body: { title: 'after' } })
        expect([task.status, task.body.code]).toEqual([503, 'service_unavailable'])
        expect(task.body.message).toContain('deleted, moved or replaced')
        const token = await t.req('POST', '/api/v1/tokens', { token: a.token, body: { name: 'after' } })
        expect([token.status, token.body.token]).toEqual([503, undefined])
        expect((await t.req('GET', '/api/v1/tasks', { token: a.token })).status).toBe(200)
      } finally {
        await t.rt.close()
      }

      // The connection alone, a fresh file each: a statement outside a transaction, and a transaction's COMMIT.
      for (const via of ['statement', 'transaction'] as const) {
        const file = join(dir, `${via}.db`)
        const conn = openDatabase(file)
        try {
          conn.client.exec('CREATE TABLE t (v TEXT)')
          await conn.db.run(sql`INSERT INTO t VALUES ('before')`)
          rmSync(file)
          const insert = (db: typeof conn.db) => db.run(sql`INSERT INTO t VALUES ('after')`)
          const write = via === 'statement' ? insert(conn.db) : conn.transaction(async (tx) => void (await insert(tx)))
          // drizzle wraps the driver's error: its codes, causes included.
          expect({ via, codes: await write.then(() => 'written', (e: unknown) => errorCodes(e)) }).toEqual({ via, codes: expect.arrayContaining(['SQLITE_READONLY_DBMOVED']) })
          expect(await conn.db.all(sql`SELECT v FROM t`)).toEqual([['before']])
        } finally {
          conn.close()
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }, 30_000)
})
