/**
 * An Idempotency-Key whose request's COMMIT reached PostgreSQL while its connection was lost
 * (found 2026-12-06): the work committed, the request was answered 503 ("nothing was changed,
 * retry"), its key was freed, and the retry the 503 asked for ran the work a second time (two
 * tasks for one key), which the key exists to prevent. The key is now marked in the work's own
 * transaction, so after such a loss it is freed only if the work did not commit; one whose work
 * committed is never run again (409 idempotency_interrupted, details.committed).
 *
 * The relay in front of PostgreSQL (test/helpers/relay.ts loseAnswerOf) lets the statement that
 * commits the task reach the server and drops its answer, then closes that connection.
 */
import { describe, expect, test } from 'bun:test'
import { executions, tasks } from '../src/db/schema'
import { insertWriter, makeActor } from './helpers/app'
import { appBehindRelay } from './helpers/outage'
import { needPostgres } from './helpers/pg'

const HAVE_PG = await needPostgres('test/pg-idempotency-lost-commit.test.ts')

/** The statement that makes a task durable: a COMMIT, or an INSERT of a task outside any transaction (it commits by itself). */
const commitsTheTask = (sql: string, inTransaction: boolean) => /^\s*commit\s*$/i.test(sql) || (!inTransaction && /^\s*insert into "tasks"/i.test(sql))

describe.skipIf(!HAVE_PG)('an Idempotency-Key whose request lost its connection as its work committed', () => {
  for (const [name, body] of [
    ['a task in a space (written in a transaction)', (spaceId: string) => ({ title: 'Deploy', spaceId })],
    ['a task in no space (a single statement unless it has a key)', (_: string) => ({ title: 'Deploy' })],
  ] as const) {
    test(`${name}: the retry is not run a second time`, async () => {
      const { t, relay } = await appBehindRelay()
      try {
        const a = await makeActor(t)
        const space = await t.req('POST', '/api/v1/spaces', { token: a.token, body: { name: 'Ops' } })
        expect(space.status).toBe(201)
        const send = () => t.req('POST', '/api/v1/tasks', { token: a.token, body: body(space.body.id), headers: { 'idempotency-key': 'k-lost' } })

        const lost = relay.loseAnswerOf(commitsTheTask)
        const first = await send()
        await lost
        // The commit landed, its answer did not: the request cannot know, and says so (never
        // "nothing was changed"), pointing at the retry with its key.
        expect([first.status, first.body.code]).toEqual([503, 'service_unavailable'])
        expect(first.body.message).toContain('whether they were is not known')
        expect(first.body.message).not.toContain('Nothing was changed')
        expect(await t.db.select().from(tasks).all()).toHaveLength(1)

        // The retry the 503 invites (the database answers again: the relay takes new connections).
        const retried = await send()
        expect(await t.db.select().from(tasks).all()).toHaveLength(1)
        expect([retried.status, retried.body.code, retried.body.details?.committed]).toEqual([409, 'idempotency_interrupted', true])
        expect(await send()).toMatchObject({ status: 409 })
        expect(await t.db.select().from(tasks).all()).toHaveLength(1)
        expect(t.logs.filter((l) => l.includes('"idempotency_not_recorded"'))).toEqual([])
      } finally {
        relay.stop()
      }
    }, 60_000)
  }

  test('without a key, a task written by one statement that commits by itself: its 503 says the outcome is not known', async () => {
    const { t, relay } = await appBehindRelay()
    try {
      const a = await makeActor(t)
      const lost = relay.loseAnswerOf(commitsTheTask)
      const first = await t.req('POST', '/api/v1/tasks', { token: a.token, body: { title: 'Deploy' } })
      await lost
      expect([first.status, first.body.code]).toEqual([503, 'service_unavailable'])
      expect(await t.db.select().from(tasks).all()).toHaveLength(1)
      expect(first.body.message).toContain('whether they were is not known')
      expect(first.body.message).toContain('Without one, check whether it took effect')
      expect(first.body.message).not.toContain('Nothing was changed')
    } finally {
      relay.stop()
    }
  }, 60_000)

  test('a statement of the transaction before its COMMIT lost: the 503 says nothing was changed, and the retry runs', async () => {
    const { t, relay } = await appBehindRelay()
    try {
      const a = await makeActor(t)
      const space = await t.req('POST', '/api/v1/spaces', { token: a.token, body: { name: 'Ops' } })
      expect(space.status).toBe(201)
      const send = () => t.req('POST', '/api/v1/tasks', { token: a.token, body: { title: 'Deploy', spaceId: space.body.id }, headers: { 'idempotency-key': 'k-before' } })
      // The task's INSERT, inside its transaction: the connection goes before any COMMIT is sent.
      const lost = relay.loseAnswerOf((sql, inTransaction) => inTransaction && /^\s*insert into "tasks"/i.test(sql))
      const first = await send()
      await lost
      expect([first.status, first.body.code]).toEqual([503, 'service_unavailable'])
      expect(first.body.message).toContain('Nothing was changed by this request')
      expect(await t.db.select().from(tasks).all()).toHaveLength(0)
      const retried = await send()
      expect(retried.status).toBe(201)
      expect(await t.db.select().from(tasks).all()).toHaveLength(1)
    } finally {
      relay.stop()
    }
  }, 60_000)

  test('an execute (its run recorded in its own transaction): the retry starts no second run', async () => {
    // A provider nobody answers at: the run fails in the background, after the request's answer.
    const { t, relay } = await appBehindRelay({ openaiBaseUrl: 'http://127.0.0.1:9/v1', defaultModel: 'test-model' })
    try {
      const a = await makeActor(t)
      const agent = await insertWriter(t, a)
      const send = () => t.req('POST', `/api/v1/agents/${agent}/execute`, { token: a.token, body: { message: 'hello', async: true }, headers: { 'idempotency-key': 'k-run' } })
      const lost = relay.loseAnswerOf((sql) => /^\s*commit\s*$/i.test(sql))
      const first = await send()
      await lost
      expect([first.status, first.body.code]).toEqual([503, 'service_unavailable'])
      const retried = await send()
      const runs = await t.db.select().from(executions).all()
      expect(runs).toHaveLength(1)
      expect([retried.status, retried.body.code, retried.body.details?.committed]).toEqual([409, 'idempotency_interrupted', true])
      // The retry names the execution the first request recorded, to be looked up.
      expect(retried.body.details?.executionId).toBe(runs[0]!.id)
    } finally {
      relay.stop()
    }
  }, 60_000)

  test('a streamed execute: the retry names the execution its first request recorded (details.executionId)', async () => {
    const { t, relay } = await appBehindRelay({ openaiBaseUrl: 'http://127.0.0.1:9/v1', defaultModel: 'test-model' })
    try {
      const a = await makeActor(t)
      const agent = await insertWriter(t, a)
      const send = () =>
        t.req('POST', `/api/v1/agents/${agent}/execute`, { token: a.token, body: { message: 'hello', stream: true }, headers: { 'idempotency-key': 'k-stream', accept: 'text/event-stream' } })
      const lost = relay.loseAnswerOf((sql) => /^\s*commit\s*$/i.test(sql))
      const first = await send()
      await lost
      expect([first.status, first.body.code]).toEqual([503, 'service_unavailable'])
      expect(first.body.message).toContain('whether they were is not known')
      const retried = await send()
      const runs = await t.db.select().from(executions).all()
      expect(runs).toHaveLength(1)
      expect([retried.status, retried.body.code, retried.body.details?.committed, retried.body.details?.executionId]).toEqual([409, 'idempotency_interrupted', true, runs[0]!.id])
      expect(retried.body.message).toContain(`GET /api/v1/executions/${runs[0]!.id}`)
      // What a client reads there (README): a run that never started, failed as such.
      let row = runs[0]!
      for (let i = 0; i < 100 && row.status !== 'failed'; i++) {
        await Bun.sleep(100)
        row = (await t.db.select().from(executions).all())[0]!
      }
      expect([row.status, row.errorCode, row.error?.startsWith('not started')]).toEqual(['failed', 'service_unavailable', true])
    } finally {
      relay.stop()
    }
  }, 60_000)
})
