/**
 * SQLite with several processes on one file (`teamday serve --reuse-port`): a run's lease is
 * counted from when its row is written, once its transaction holds the file's write lock, not
 * from before it waited for it. (PostgreSQL's side, clock_timestamp(): test/pg-instances.test.ts.)
 */
import { afterAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { eq } from 'drizzle-orm'
import { executions } from '../src/db/schema'
import { makeActor, makeTestApp } from './helpers/app'
import { sqliteOnly } from './helpers/pg'
import { startProviderDouble } from './helpers/providers'

const dir = mkdtempSync(join(tmpdir(), 'teamday-lease-after-lock-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** Another process on the file: takes its write lock, says so, holds it `ms`, says when it let go (ms since the epoch), and ends. */
function holdWriteLock(file: string, ms: number) {
  const script = `
    const { Database } = require('bun:sqlite')
    const db = new Database(${JSON.stringify(file)})
    // The app may be writing (a run it just recorded starts): wait for the lock, as the server does.
    db.exec('PRAGMA busy_timeout = 10000')
    db.exec('BEGIN IMMEDIATE')
    console.log('held')
    await Bun.sleep(${ms})
    const at = Date.now()
    db.exec('ROLLBACK')
    console.log('released ' + at)
  `
  const p = Bun.spawn([process.execPath, '-e', script], { stdout: 'pipe', stderr: 'inherit' })
  let text = ''
  void (async () => {
    const decoder = new TextDecoder()
    for await (const chunk of p.stdout) text += decoder.decode(chunk)
  })()
  const line = async (prefix: string) => {
    for (;;) {
      const found = text.split('\n').find((l) => l.startsWith(prefix) && text.includes(`${l}\n`))
      if (found !== undefined) return found
      if (p.exitCode !== null) throw new Error(`the lock holder ended without saying "${prefix}"`)
      await Bun.sleep(10)
    }
  }
  return { held: () => line('held'), released: async () => Number((await line('released ')).slice('released '.length)), stop: () => p.kill() }
}

describe('a run recorded on SQLite behind another process\'s write lock', () => {
  // Its first lease, written by the execute; then a renewal (the engine's, made by the test).
  for (const write of ['its lease', 'a renewal of its lease'] as const) {
    test.skipIf(sqliteOnly('another process holds a SQLite file\'s write lock; on PostgreSQL test/pg-instances.test.ts holds the transaction lock'))(
      `${write} is counted from its write, once the lock is taken, not from before the wait`,
      async () => {
        const double = startProviderDouble()
        const file = join(dir, `teamday-${write.length}.db`)
        const leaseMs = 5000
        const t = await makeTestApp({ dbPath: file, config: { openaiBaseUrl: double.openaiBaseUrl, defaultModel: 'test-model', executionLeaseMs: leaseMs } })
        // The wait for the lock is real time: the app's clock is the real one.
        t.clock.now = () => Date.now()
        const m = await makeActor(t, { role: 'admin' })
        const agentId = (await t.req('POST', '/api/v1/agents', { token: m.token, body: { name: 'H', systemPrompt: 'x' } })).body.id
        // Only the lease as the test has it written: the engine renews nothing itself.
        const renew = t.rt.engine.renewLeases.bind(t.rt.engine)
        t.rt.engine.renewLeases = async () => {}
        const execute = () => t.req('POST', `/api/v1/agents/${agentId}/execute`, { token: m.token, body: { message: 'HANG', async: true } })
        // A renewal's run is recorded before the lock is taken.
        let r = write === 'its lease' ? undefined : await execute()
        const holder = holdWriteLock(file, 1500)
        try {
          await holder.held()
          // The token was used a moment ago from here: its last use is not written again (no write before the run's).
          if (r === undefined) r = await execute()
          else await renew()
          expect(r.status).toBe(202)
          const letGo = await holder.released()
          const row = await t.db.select({ lease: executions.leaseExpiresAt }).from(executions).where(eq(executions.id, r.body.executionId)).get()
          // A whole lease from the lock's release on (counted from before the wait: 1.5 s short).
          expect(row!.lease!.getTime()).toBeGreaterThanOrEqual(letGo + leaseMs)
          await t.rt.engine.cancel(r.body.executionId)
        } finally {
          holder.stop()
          await t.rt.engine.shutdown(0)
          await t.rt.close()
          double.stop()
        }
      },
      30_000,
    )
  }
})
