/**
 * PostgreSQL rolls a transaction back whole to end a deadlock (40P01) or a serialization failure
 * (40001). The deadlock was a 503 ("chosen to end a deadlock") for a request nothing was wrong
 * with, and a serialization failure (under a default_transaction_isolation above READ COMMITTED,
 * set on the database or the role) a 500 "internal error". withTx now runs the whole transaction
 * again (src/context.ts, TX_ATTEMPTS); past its attempts the answer is a 503 with Retry-After.
 *
 * Both are made for real: another session (an operator's psql, another program on the database)
 * holds a task row and then asks for the token row the request's transaction holds (a deadlock
 * PostgreSQL ends by failing the request's transaction, which waited first); a role whose
 * transactions are SERIALIZABLE meets a task row changed by another session while it waited.
 */
import { describe, expect, test } from 'bun:test'
import postgres from 'postgres'
import { makeActor, makeTestApp, type TestApp } from './helpers/app'
import { freshPgSchema, ON_PG } from './helpers/pg'
import type { PgConnection } from '../src/db/pg'

/** Whether a backend of the app's waits on a row lock (as test/helpers/held-write.ts sees it). */
async function appWaits(t: TestApp): Promise<boolean> {
  const client = (t.rt.connection as PgConnection).client
  const [row] = await client.unsafe(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'teamday' AND wait_event_type = 'Lock' AND wait_event <> 'advisory'`)
  return (row!.n as number) > 0
}

async function until(t: TestApp, settled: () => boolean): Promise<void> {
  for (const end = Date.now() + 10_000; !(await appWaits(t)); await Bun.sleep(10)) {
    if (settled()) throw new Error('the request answered without waiting for the held row')
    if (Date.now() > end) throw new Error('the request did not wait for the held row within 10 s')
  }
}

describe.skipIf(!ON_PG)('PostgreSQL: a transaction rolled back for a concurrent one', () => {
  test('a deadlock with another session: the request is run again and succeeds (200), logged as retried', async () => {
    const t = await makeTestApp()
    const a = await makeActor(t, { role: 'admin' })
    const space = (await t.req('POST', '/api/v1/spaces', { token: a.token, body: { name: 'Deadlock', visibility: 'organization' } })).body.space
    const task = (await t.req('POST', '/api/v1/tasks', { token: a.token, body: { title: 'held' } })).body
    const other = postgres(t.pg!.url, { max: 1, onnotice: () => {}, connection: { search_path: t.pg!.schema } })
    try {
      let release!: () => void
      const released = new Promise<void>((r) => (release = r))
      let held!: () => void
      const isHeld = new Promise<void>((r) => (held = r))
      const tx = other.begin(async (sql) => {
        // This session never ends the deadlock itself: the request's transaction, which waits first, does.
        await sql.unsafe(`SET LOCAL deadlock_timeout = '60s'`)
        await sql.unsafe(`UPDATE tasks SET title = 'other session' WHERE id = '${task.id}'`)
        held()
        await released
        // The request's transaction holds the token's row FOR SHARE (withTx's currentActor) and waits for the task's.
        await sql.unsafe(`UPDATE personal_access_tokens SET last_used_at = now() WHERE id = '${a.tokenId}'`)
      })
      await isHeld
      let settled = false
      const pending = t.req('PATCH', `/api/v1/tasks/${task.id}`, { token: a.token, body: { spaceId: space.id } }).finally(() => (settled = true))
      await until(t, () => settled)
      release()
      await tx
      const res = await pending
      expect([res.status, res.body.spaceId]).toEqual([200, space.id])
      const retried = t.logs.map((l) => JSON.parse(l)).filter((l) => l.msg === 'transaction_retried')
      expect(retried.map((l) => [l.level, l.code, l.attempt])).toEqual([['warn', '40P01', 1]])
    } finally {
      await other.end({ timeout: 1 })
    }
  })

  test('a serialization failure (transactions SERIALIZABLE by the role): run again, 200; never a 500', async () => {
    // The app connects as a role whose transactions default to SERIALIZABLE (an operator's ALTER ROLE).
    const role = `teamday_s_${crypto.randomUUID().replaceAll('-', '').slice(0, 12)}`
    const pg = await freshPgSchema()
    const url = new URL(pg.url)
    const owner = postgres(pg.url, { max: 1, onnotice: () => {} })
    await owner.unsafe(`CREATE ROLE ${role} LOGIN; ALTER ROLE ${role} SET default_transaction_isolation = 'serializable'`)
    try {
      await owner.unsafe(`GRANT CREATE ON DATABASE ${url.pathname.slice(1)} TO ${role}; GRANT ALL ON SCHEMA ${pg.schema} TO ${role}; GRANT ALL ON ALL SEQUENCES IN SCHEMA ${pg.schema} TO ${role}; GRANT ALL ON ALL TABLES IN SCHEMA ${pg.schema} TO ${role}`)
      url.username = role
      const t = await makeTestApp({ pg: { url: url.toString(), schema: pg.schema } })
      try {
        const a = await makeActor(t, { role: 'admin' })
        const space = (await t.req('POST', '/api/v1/spaces', { token: a.token, body: { name: 'Serial', visibility: 'organization' } })).body.space
        const task = (await t.req('POST', '/api/v1/tasks', { token: a.token, body: { title: 'held' } })).body
        const other = postgres(pg.url, { max: 1, onnotice: () => {}, connection: { search_path: pg.schema } })
        try {
          let release!: () => void
          const released = new Promise<void>((r) => (release = r))
          let held!: () => void
          const isHeld = new Promise<void>((r) => (held = r))
          const tx = other.begin(async (sql) => {
            await sql.unsafe(`UPDATE tasks SET title = 'other session' WHERE id = '${task.id}'`)
            held()
            await released
          })
          await isHeld
          let settled = false
          const pending = t.req('PATCH', `/api/v1/tasks/${task.id}`, { token: a.token, body: { spaceId: space.id } }).finally(() => (settled = true))
          await until(t, () => settled)
          // Committed while the request's transaction, its snapshot taken, waits for the row.
          release()
          await tx
          const res = await pending
          expect([res.status, res.body.spaceId, res.body.title]).toEqual([200, space.id, 'other session'])
          const retried = t.logs.map((l) => JSON.parse(l)).filter((l) => l.msg === 'transaction_retried')
          expect(retried.map((l) => l.code)).toEqual(['40001'])
        } finally {
          await other.end({ timeout: 1 })
        }
      } finally {
        await t.rt.close()
      }
    } finally {
      await owner.unsafe(`DROP OWNED BY ${role}; DROP ROLE ${role}`)
      await owner.end({ timeout: 1 })
    }
  })
})

describe('past its attempts', () => {
  test('a serialization failure is a 503 (database busy), as a deadlock is; a COMMIT in doubt is never run again', async () => {
    const { databaseUnavailable, markCommitInDoubt, transactionConflict } = await import('../src/db/unavailable')
    const failure = (code: string) => Object.assign(new Error('from the database'), { code })
    expect(databaseUnavailable(failure('40001'))).toContain('could not be serialized')
    expect(databaseUnavailable(failure('40P01'))).toContain('deadlock')
    expect([transactionConflict(failure('40001')), transactionConflict(failure('40P01')), transactionConflict(failure('55P03'))]).toEqual([true, true, false])
    const lost = Object.assign(new Error('lost'), { code: 'ECONNRESET', cause: failure('40001') })
    markCommitInDoubt(lost)
    expect(transactionConflict(lost)).toBe(false)
  })

  test('withTx runs a transaction the database keeps rolling back for a concurrent one TX_ATTEMPTS times in all, then lets the error through; anything else once', async () => {
    const { withTx, TX_ATTEMPTS } = await import('../src/context')
    const { attachConnection } = await import('../src/db/connection')
    for (const [code, runs] of [['40P01', TX_ATTEMPTS], ['40001', TX_ATTEMPTS], ['23505', 1]] as const) {
      let tries = 0
      const warned: unknown[] = []
      const db = {}
      // A connection whose every transaction the database rolls back with `code`.
      attachConnection(db as never, { isTransaction: () => false, transaction: async () => { tries++; throw Object.assign(new Error(`rolled back (${code})`), { code }) } } as never)
      const ctx = { db, requestId: 'req_1', log: { warn: (msg: string, fields: unknown) => void warned.push([msg, fields]) } } as never
      await expect(withTx(ctx, async () => 'never')).rejects.toThrow(`rolled back (${code})`)
      expect({ code, tries }).toEqual({ code, tries: runs })
      expect(warned.length).toBe(runs - 1)
    }
    expect(TX_ATTEMPTS).toBe(3)
  })
})
