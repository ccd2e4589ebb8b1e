// The order of a chat's turns and of a session's history (src/engine/store.ts insertExecution,
// src/modules/chats/service.ts, sessionHistory): the order they were created in, whatever the
// clock says. Turns created in one millisecond were ordered by their random id (in the messages a
// client and the console show, and in the history the next turn sent its model), and a turn
// created by an instance whose clock is a few ms behind another's came before the turn it answered.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { fillPlaceholders } from 'drizzle-orm'
import { preparedQueries } from '../src/db/prepared'
import { executions } from '../src/db/schema'
import { newId } from '../src/ids'
import { makeActor, makeTestApp, type Actor, type TestApp } from './helpers/app'
import { freshPgSchema, needPostgres, ON_PG } from './helpers/pg'
import { describePlan, explainPg, INDEX_SCANS, nodesOf } from './helpers/pg-plans'
import { startProviderDouble, type ProviderDouble } from './helpers/providers'

const HAVE_PG = await needPostgres('test/turn-order.test.ts')
let double: ProviderDouble
beforeAll(() => {
  double = startProviderDouble()
})
afterAll(() => double.stop())

const app = () => makeTestApp({ config: { openaiBaseUrl: double.openaiBaseUrl, defaultModel: 'test-model' } })

async function say(t: TestApp, a: Actor, message: string, o: { chatId?: string; sessionId?: string } = {}) {
  const r = await t.req('POST', '/api/v1/execute', { token: a.token, body: { message, ...o } })
  expect(r.status).toBe(200)
  return r.body as { executionId: string; chatId: string; sessionId: string }
}

/** The user messages of the last request the model received. */
const lastSent = () => (double.requests.at(-1)!.body.messages as { role: string; content: unknown }[]).filter((m) => m.role === 'user').map((m) => m.content)

describe('turn order', () => {
  test('turns created in one millisecond: the chat shows them, and the next turn sends them, in the order they were created', async () => {
    const t = await app()
    const a = await makeActor(t)
    const asked = Array.from({ length: 8 }, (_, i) => `q${i}`)
    const first = await say(t, a, asked[0]!)
    const ids = [first.executionId]
    for (const q of asked.slice(1)) ids.push((await say(t, a, q, { chatId: first.chatId })).executionId)
    // The last turn sent every earlier one, oldest first.
    expect(lastSent()).toEqual(asked)
    const msgs = (await t.req('GET', `/api/v1/chats/${first.chatId}/messages`, { token: a.token })).body
    expect(msgs.messages.filter((m: any) => m.role === 'user').map((m: any) => m.content)).toEqual(asked)
    expect(msgs.messages.map((m: any) => m.executionId).filter((id: string, i: number, all: string[]) => all.indexOf(id) === i)).toEqual(ids)
    // The head (lastExecutionId) is the last turn created; the title is the first's.
    const chat = (await t.req('GET', `/api/v1/chats/${first.chatId}`, { token: a.token })).body.chat
    expect(chat).toMatchObject({ lastExecutionId: ids.at(-1), title: 'q0', executionCount: 8 })
    const listed = (await t.req('GET', '/api/v1/chats', { token: a.token })).body.chats
    expect(listed.map((c: any) => c.lastExecutionId)).toEqual([ids.at(-1)])
    // Continued by sessionId, in one millisecond too.
    const s = await say(t, a, 's0', { sessionId: 'sess-1' })
    for (const q of ['s1', 's2', 's3', 's4', 's5']) await say(t, a, q, { sessionId: s.sessionId })
    expect(lastSent()).toEqual(['s0', 's1', 's2', 's3', 's4', 's5'])
  })

  test("a turn created by a clock behind the last turn's (another instance's, a few ms off) still comes after it", async () => {
    const t = await app()
    const a = await makeActor(t)
    const first = await say(t, a, 'one')
    const times = [(await t.req('GET', `/api/v1/executions/${first.executionId}`, { token: a.token })).body.execution.createdAt]
    const ids = [first.executionId]
    for (const q of ['two', 'three', 'four']) {
      t.clock.step(-7)
      const r = await say(t, a, q, { chatId: first.chatId })
      ids.push(r.executionId)
      times.push((await t.req('GET', `/api/v1/executions/${r.executionId}`, { token: a.token })).body.execution.createdAt)
    }
    expect(lastSent()).toEqual(['one', 'two', 'three', 'four'])
    const msgs = (await t.req('GET', `/api/v1/chats/${first.chatId}/messages`, { token: a.token })).body.messages
    expect(msgs.filter((m: any) => m.role === 'user').map((m: any) => m.content)).toEqual(['one', 'two', 'three', 'four'])
    // Never shown as created before the turn it follows.
    expect(times.toSorted()).toEqual(times)
    expect((await t.req('GET', `/api/v1/chats/${first.chatId}`, { token: a.token })).body.chat.lastExecutionId).toBe(ids.at(-1))
  })
  test('a turn dated far ahead (a clock a day off, then set right) does not move the later turns with it', async () => {
    const t = await app()
    const a = await makeActor(t)
    const first = await say(t, a, 'one')
    t.clock.step(86_400_000)
    await say(t, a, 'two', { chatId: first.chatId })
    t.clock.step(-86_400_000 + 60_000)
    const right = t.clock.now()
    const third = await say(t, a, 'three', { chatId: first.chatId, sessionId: first.sessionId })
    const at = Date.parse((await t.req('GET', `/api/v1/executions/${third.executionId}`, { token: a.token })).body.execution.createdAt)
    // At most the 5 s a clock may be behind another's; it was dated a day ahead, as the turn before.
    expect(at - right).toBeGreaterThanOrEqual(0)
    expect(at - right).toBeLessThanOrEqual(5_000)
  })

  test("a chat's messages, head and title walk executions_org_user_chat_idx in turn order: no sort, no scan", async () => {
    const t = await app()
    const a = await makeActor(t)
    const other = await makeActor(t, { org: a.orgSlug })
    const chat = await say(t, a, 'hello')
    // PostgreSQL plans by cost: a long chat beside many others, analyzed.
    const n = ON_PG ? 3000 : 200
    const base = t.clock.now() - 3_600_000
    const rows = (user: Actor, chatId: string) =>
      Array.from({ length: n }, (_, i) => ({ id: newId('exec'), organizationId: a.organizationId, userId: user.userId, agentName: 'Assistant', agentVisibility: 'organization' as const, chatId, sessionId: chatId, status: 'completed' as const, message: `m${i}`, messages: [], seq: 1_000_000 + i, createdAt: new Date(base + Math.floor(i / 3)), updatedAt: new Date(base) }))
    for (const [who, id] of [[a, chat.chatId], [a, 'c2'], [a, 'c3'], [other, chat.chatId]] as const) {
      const all = rows(who, id)
      for (let i = 0; i < all.length; i += 500) await t.db.insert(executions).values(all.slice(i, i + 500)).run()
    }
    expect((await t.req('GET', `/api/v1/chats/${chat.chatId}/messages`, { token: a.token })).status).toBe(200)
    const stmts = preparedQueries(t.rt.db).get('chats.read.0') as Record<string, { getQuery(): { sql: string; params: unknown[] } }>
    const values = { org: a.organizationId, user: a.userId, chatId: chat.chatId, limit: 50 }
    const conn = t.rt.connection
    // As the rows were just written (no statistics of them yet), then analyzed.
    for (const analyzed of [false, true]) {
      if (analyzed && conn.dialect === 'sqlite') conn.sync.$client.exec('ANALYZE')
      else if (analyzed && conn.dialect === 'pg') await conn.client.unsafe('VACUUM ANALYZE executions')
      for (const [name, q] of Object.entries(stmts)) {
        const { sql, params } = q.getQuery()
        if (conn.dialect === 'sqlite') {
          const p = (conn.sync.$client.query(`EXPLAIN QUERY PLAN ${sql}`).all(...(fillPlaceholders(params, values) as any[])) as { detail: string }[]).map((r) => r.detail)
          const where = `${name}: ${p.join(' | ')}`
          expect(p.some((l) => /^SEARCH (executions|y) USING (COVERING )?INDEX executions_org_user_chat_idx \(organization_id=\? AND user_id=\? AND chat_id=\? AND delegated=\?/.test(l)), where).toBe(true)
          expect(p.some((l) => l.includes('TEMP B-TREE') || /^SCAN (executions|y)\b/.test(l)), where).toBe(false)
        } else {
          for (const mode of ['custom', 'generic'] as const) {
            const plan = await explainPg(conn.client, sql, fillPlaceholders(params, values), mode)
            const nodes = nodesOf(plan)
            const where = `${name} (${mode}, ${analyzed ? 'analyzed' : 'fresh'}):\n${describePlan(plan)}`
            const reads = nodes.filter((x) => x['Relation Name'] === 'executions')
            expect(reads.length, where).toBeGreaterThan(0)
            expect(reads.some((x) => x['Index Name'] === 'executions_org_user_chat_idx'), where).toBe(true)
            expect(nodes.some((x) => x['Node Type'].includes('Sort')), where).toBe(false)
            // The messages' statements walk the index only. The head's figures count the whole chat
            // (here a quarter of the table, which PostgreSQL may read in a scan), but the head itself
            // is the first execution of the index's walk backwards: a probe per execution of the chat
            // for a later one (NOT EXISTS) took 17 s on this chat before it was analyzed.
            if (name !== 'head') expect(reads.every((x) => INDEX_SCANS.includes(x['Node Type'])), where).toBe(true)
            else {
              expect(plan['Node Type'], where).toBe('Limit')
              const outer = plan.Plans!.find((x) => x['Parent Relationship'] === 'Outer')!
              expect({ type: outer['Node Type'], index: outer['Index Name'] }, where).toEqual({ type: 'Index Scan', index: 'executions_org_user_chat_idx' })
            }
          }
        }
      }
    }
  }, 60_000)
  test("an execution's tree lists its children in the order they were created, also within one millisecond", async () => {
    const t = await app()
    const a = await makeActor(t)
    const root = await say(t, a, 'root')
    const kids: string[] = []
    for (let i = 0; i < 8; i++) {
      const r = await t.req('POST', '/api/v1/execute', { token: a.token, body: { message: `child ${i}`, parentExecutionId: root.executionId } })
      expect(r.status).toBe(200)
      kids.push(r.body.executionId)
    }
    const tree = (await t.req('GET', `/api/v1/executions/${root.executionId}/tree`, { token: a.token })).body.tree
    expect(tree.children.map((c: any) => c.id)).toEqual(kids)
  })
})

describe.skipIf(!HAVE_PG)('turn order across two instances on one PostgreSQL', () => {
  test("turns of one chat alternating between instances whose clocks are 40 ms apart: shown, sent and dated in the order they were created", async () => {
    const pg = await freshPgSchema()
    const key = crypto.getRandomValues(new Uint8Array(32))
    const config = { openaiBaseUrl: double.openaiBaseUrl, defaultModel: 'test-model' }
    const a = await makeTestApp({ pg, key, config })
    const b = await makeTestApp({ pg, key, config })
    try {
      // B's clock 40 ms behind A's; each moves 5 ms a turn.
      b.clock.ms = a.clock.ms - 40
      const m = await makeActor(a)
      const asked = Array.from({ length: 6 }, (_, i) => `q${i}`)
      let chatId: string | undefined
      const ids: string[] = []
      for (const [i, q] of asked.entries()) {
        for (const t of [a, b]) t.clock.advance(5)
        const r = await (i % 2 ? b : a).req('POST', '/api/v1/execute', { token: m.token, body: { message: q, chatId } })
        expect(r.status).toBe(200)
        chatId = r.body.chatId
        ids.push(r.body.executionId)
      }
      expect(lastSent()).toEqual(asked)
      for (const t of [a, b]) {
        const msgs = (await t.req('GET', `/api/v1/chats/${chatId}/messages`, { token: m.token })).body.messages
        expect(msgs.filter((x: any) => x.role === 'user').map((x: any) => x.content)).toEqual(asked)
        const times = msgs.filter((x: any) => x.role === 'user').map((x: any) => x.createdAt)
        expect(times.toSorted()).toEqual(times)
        expect((await t.req('GET', `/api/v1/chats/${chatId}`, { token: m.token })).body.chat.lastExecutionId).toBe(ids.at(-1))
      }
    } finally {
      await Promise.all([a.rt.close(), b.rt.close()])
    }
  }, 60_000)
})
