// A continued session's earlier turns, bounded (TEAMDAY_MAX_HISTORY_CHARS, src/engine/store.ts's
// sessionHistory): what a run sends the model, what it reads from the database, and that the
// stored conversation stays whole.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { fillPlaceholders } from 'drizzle-orm'
import { copyRows } from '../bench/seed'
import { DEFAULT_MAX_HISTORY_CHARS, loadConfig } from '../src/config'
import { executions } from '../src/db/schema'
import * as pgTables from '../src/db/schema/pg'
import { MESSAGE_OVERHEAD_CHARS, sessionHistory, sessionTurnsPage } from '../src/engine/store'
import { newId } from '../src/ids'
import { makeActor, makeTestApp, type Actor, type TestApp } from './helpers/app'
import { ON_PG } from './helpers/pg'
import { describePlan, explainPg, INDEX_SCANS, nodesOf } from './helpers/pg-plans'
import { startProviderDouble, type ProviderDouble } from './helpers/providers'
import { agent } from './helpers/scripted-provider'

let double: ProviderDouble
beforeAll(() => {
  double = startProviderDouble()
})
afterAll(() => double.stop())

const SYSTEM = 'You are a helpful test agent.'
const app = (maxHistoryChars?: number) => makeTestApp({ config: { openaiBaseUrl: double.openaiBaseUrl, defaultModel: 'test-model', ...(maxHistoryChars !== undefined && { maxHistoryChars }) } })

/**
 * Completed turns of session `session` (its chat too), oldest first, a millisecond apart, ending
 * a minute before the test clock: turn i asks `q<i>` and is answered `answer(i)`.
 */
async function seedTurns(t: TestApp, a: Actor, agentId: string, session: string, n: number, answer: (i: number) => string, o: { userId?: string; status?: 'completed' | 'failed'; copy?: boolean } = {}) {
  const start = t.clock.now() - 60_000 - n
  const rows = Array.from({ length: n }, (_, i) => {
    const at = new Date(start + i)
    return {
      id: newId('exec'),
      organizationId: a.organizationId,
      userId: o.userId ?? a.userId,
      agentId,
      agentName: 'Agent',
      agentVisibility: 'organization',
      chatId: session,
      sessionId: session,
      status: o.status ?? ('completed' as const),
      message: `q${i}`,
      result: answer(i),
      messages: [
        { role: 'user' as const, content: `q${i}`, timestamp: at.toISOString() },
        { role: 'assistant' as const, content: answer(i), timestamp: at.toISOString() },
      ],
      startedAt: at,
      completedAt: at,
      createdAt: at,
      updatedAt: at,
    }
  })
  // `copy`: on PostgreSQL in one COPY (bench/seed.ts), for the plan test's thousands of small turns
  // (in INSERTs of 50 they took most of its time).
  if (o.copy && t.rt.connection.dialect === 'pg') return copyRows(t.rt.connection.client, pgTables.executions, rows)
  // In batches: one statement of many MiB (or many parameters) is not what this is about.
  for (let i = 0; i < rows.length; i += 50) await t.db.insert(executions).values(rows.slice(i, i + 50)).run()
}

const cost = (texts: string[]) => texts.reduce((n, s) => n + s.length + MESSAGE_OVERHEAD_CHARS, 0)

/** The last request the provider got: its messages as role and text. */
function lastSent(): { role: string; content: string }[] {
  return double.requests.at(-1)!.body.messages.map((m: any) => ({ role: m.role, content: typeof m.content === 'string' ? m.content : m.content.map((p: any) => p.text).join('') }))
}

/** Checks what was sent: the system prompt, whole turns (user then its own answer), the message; returns the turns' indexes. */
function sentTurns(sent: { role: string; content: string }[], message: string, answer: (i: number) => string): number[] {
  expect(sent[0]).toEqual({ role: 'system', content: SYSTEM })
  expect(sent.at(-1)).toEqual({ role: 'user', content: message })
  const turns = sent.slice(1, -1)
  expect(turns.length % 2).toBe(0)
  const out: number[] = []
  for (let k = 0; k < turns.length; k += 2) {
    // Never an answer without its question (nor a tool message of any kind): a user message, then its answer.
    const [q, r] = [turns[k]!, turns[k + 1]!]
    expect(q.role).toBe('user')
    const i = Number(/^q(\d+)$/.exec(q.content)?.[1])
    expect(r).toEqual({ role: 'assistant', content: answer(i) })
    out.push(i)
  }
  return out
}

async function logsOf(t: TestApp, a: Actor, id: string) {
  const r = await t.req('GET', `/api/v1/executions/${id}/logs`, { token: a.token })
  expect(r.status).toBe(200)
  return r.body.logs as { event: string; level: string; data: any }[]
}

describe('a session longer than TEAMDAY_MAX_HISTORY_CHARS', () => {
  test('sends the system prompt, the newest whole turns that fit and the message; the log says how many were left out; the stored chat stays whole', async () => {
    const MAX = 4000
    const t = await app(MAX)
    const a = await makeActor(t)
    const ag = await agent(t, a, { systemPrompt: SYSTEM })
    const answer = (i: number) => `a${i}:${'x'.repeat(400)}`
    await seedTurns(t, a, ag.id, 'long', 30, answer)
    const r = await t.req('POST', `/api/v1/agents/${ag.id}/execute`, { token: a.token, body: { message: 'next', sessionId: 'long' } })
    expect(r.status).toBe(200)
    const sent = lastSent()
    const turns = sentTurns(sent, 'next', answer)
    // The newest ones, in order, with no gap.
    expect(turns.length).toBeGreaterThan(0)
    expect(turns).toEqual(Array.from({ length: turns.length }, (_, k) => 30 - turns.length + k))
    // Everything sent fits; one more (older) turn would not have.
    const total = cost(sent.map((m) => m.content))
    expect(total).toBeLessThanOrEqual(MAX)
    const next = 29 - turns.length
    expect(total + cost([`q${next}`, answer(next)])).toBeGreaterThan(MAX)
    expect(r.body.result).toBe(`Echo: next (user turns: ${turns.length + 1})`)
    const trimmed = (await logsOf(t, a, r.body.executionId)).filter((l) => l.event === 'history_trimmed')
    expect(trimmed).toEqual([expect.objectContaining({ level: 'warn', data: { turnsSent: turns.length, turnsOmitted: 30 - turns.length, charsSent: total - cost([SYSTEM, 'next']), maxChars: MAX } })])
    // And on the execution itself, where an API client reads the run (it was only in the log):
    // the synchronous execute's answer, GET /executions/{id}, the list, and the tree.
    expect(r.body.historyTrimmed).toEqual(trimmed[0]!.data)
    const execution = (await t.req('GET', `/api/v1/executions/${r.body.executionId}`, { token: a.token })).body.execution
    expect(execution.historyTrimmed).toEqual(trimmed[0]!.data)
    const listed = (await t.req('GET', `/api/v1/executions?agentId=${ag.id}&limit=1`, { token: a.token })).body
    expect(listed[0]).toMatchObject({ id: r.body.executionId, historyTrimmed: trimmed[0]!.data })
    expect((await t.req('GET', `/api/v1/executions/${r.body.executionId}/tree`, { token: a.token })).body.tree.historyTrimmed).toEqual(trimmed[0]!.data)
    // Nothing was deleted: the chat still shows every turn, the new one included.
    const chat = await t.req('GET', '/api/v1/chats/long', { token: a.token })
    expect(chat.status).toBe(200)
    expect(chat.body.messages.filter((m: any) => m.role === 'user').map((m: any) => m.content)).toEqual([...Array.from({ length: 30 }, (_, i) => `q${i}`), 'next'])
  })

  test('turns are whole and without gaps: a turn too big ends the history there, older small ones included', async () => {
    const t = await app(4000)
    const a = await makeActor(t)
    const ag = await agent(t, a, { systemPrompt: SYSTEM })
    // Turn 7 of 10 alone is over the bound; 8 and 9 fit.
    const answer = (i: number) => (i === 7 ? 'y'.repeat(5000) : `short ${i}`)
    await seedTurns(t, a, ag.id, 'gap', 10, answer)
    const r = await t.req('POST', `/api/v1/agents/${ag.id}/execute`, { token: a.token, body: { message: 'go on', sessionId: 'gap' } })
    expect(r.status).toBe(200)
    expect(sentTurns(lastSent(), 'go on', answer)).toEqual([8, 9])
    expect((await logsOf(t, a, r.body.executionId)).find((l) => l.event === 'history_trimmed')?.data).toMatchObject({ turnsSent: 2, turnsOmitted: 8 })

    // The newest turn too big: no earlier turn at all, and the run goes on with its message.
    const big = (i: number) => (i === 2 ? 'z'.repeat(5000) : `short ${i}`)
    await seedTurns(t, a, ag.id, 'newest-big', 3, big)
    const r2 = await t.req('POST', `/api/v1/agents/${ag.id}/execute`, { token: a.token, body: { message: 'again', sessionId: 'newest-big' } })
    expect(r2.status).toBe(200)
    expect(sentTurns(lastSent(), 'again', big)).toEqual([])
    expect((await logsOf(t, a, r2.body.executionId)).find((l) => l.event === 'history_trimmed')?.data).toMatchObject({ turnsSent: 0, turnsOmitted: 3 })
  })

  test('a session within the bound is sent whole and logs nothing about it; another user\'s or a failed turn of the same session id is not part of it', async () => {
    const t = await app()
    const a = await makeActor(t)
    const b = await makeActor(t, { org: a.orgSlug })
    const ag = await agent(t, a, { systemPrompt: SYSTEM })
    const answer = (i: number) => `answer ${i}`
    await seedTurns(t, a, ag.id, 'short', 5, answer)
    await seedTurns(t, b, ag.id, 'short', 3, (i) => `B's ${i}`, { userId: b.userId })
    await seedTurns(t, a, ag.id, 'short', 2, (i) => `failed ${i}`, { status: 'failed' })
    const r = await t.req('POST', `/api/v1/agents/${ag.id}/execute`, { token: a.token, body: { message: 'more', sessionId: 'short' } })
    expect(r.status).toBe(200)
    expect(sentTurns(lastSent(), 'more', answer)).toEqual([0, 1, 2, 3, 4])
    expect((await logsOf(t, a, r.body.executionId)).map((l) => l.event)).not.toContain('history_trimmed')
    expect((await t.req('GET', `/api/v1/executions/${r.body.executionId}`, { token: a.token })).body.execution.historyTrimmed).toBeNull()
    expect(r.body.historyTrimmed).toBeNull()
  })

  test('TEAMDAY_MAX_HISTORY_CHARS: 200,000 by default, 0 sends no earlier turn, anything else not a whole number 0-100,000,000 refuses to start', async () => {
    expect(loadConfig({}).maxHistoryChars).toBe(DEFAULT_MAX_HISTORY_CHARS)
    expect(DEFAULT_MAX_HISTORY_CHARS).toBe(200_000)
    expect(loadConfig({ TEAMDAY_MAX_HISTORY_CHARS: '0' }).maxHistoryChars).toBe(0)
    for (const bad of ['-1', '1.5', 'lots', '100000001']) expect(() => loadConfig({ TEAMDAY_MAX_HISTORY_CHARS: bad })).toThrow('TEAMDAY_MAX_HISTORY_CHARS must be an integer 0-100000000')
    const t = await app(0)
    const a = await makeActor(t)
    const ag = await agent(t, a, { systemPrompt: SYSTEM })
    await seedTurns(t, a, ag.id, 'none', 4, (i) => `answer ${i}`)
    const r = await t.req('POST', `/api/v1/agents/${ag.id}/execute`, { token: a.token, body: { message: 'alone', sessionId: 'none' } })
    expect(r.body.result).toBe('Echo: alone (user turns: 1)')
    expect((await logsOf(t, a, r.body.executionId)).find((l) => l.event === 'history_trimmed')?.data).toMatchObject({ turnsSent: 0, turnsOmitted: 4 })
  })
})

describe('chatId and sessionId: one conversation key under two names', () => {
  test('either continues the chat with its history, both equal too; different values are 422 naming both, nothing started (the turn was filed under chatId with the history of sessionId)', async () => {
    const t = await app()
    const a = await makeActor(t)
    const ag = await agent(t, a, { systemPrompt: SYSTEM })
    const answer = (i: number) => `answer ${i}`
    await seedTurns(t, a, ag.id, 'chat_main', 2, answer)
    await seedTurns(t, a, ag.id, 'chat_other', 3, (i) => `other ${i}`)
    const count = async () => (await t.db.select().from(executions).all()).length
    const before = await count()
    for (const stream of [false, true]) {
      const r = await t.req('POST', `/api/v1/agents/${ag.id}/execute`, { token: a.token, body: { message: 'more', chatId: 'chat_main', sessionId: 'chat_other', stream } })
      expect([stream, r.status, r.body.code, r.body.details?.map((d: any) => d.field)]).toEqual([stream, 422, 'validation_failed', ['chatId', 'sessionId']])
      expect(r.body.message).toContain('chatId and sessionId name the same conversation, and they differ')
    }
    // The default assistant's execute: the same rule.
    const assistant = await t.req('POST', '/api/v1/execute', { token: a.token, body: { message: 'more', chatId: 'chat_main', sessionId: 'chat_other' } })
    expect([assistant.status, assistant.body.code]).toEqual([422, 'validation_failed'])
    expect(await count()).toBe(before)
    for (const body of [{ chatId: 'chat_main' }, { sessionId: 'chat_main' }, { chatId: 'chat_main', sessionId: 'chat_main' }]) {
      const r = await t.req('POST', `/api/v1/agents/${ag.id}/execute`, { token: a.token, body: { message: 'more', ...body } })
      expect(r.status).toBe(200)
      expect([r.body.chatId, r.body.sessionId]).toEqual(['chat_main', 'chat_main'])
      // The chat's own turns (the earlier ones of this loop too), never the other chat's.
      const sent = lastSent().map((m) => m.content)
      expect(sent).toContain('answer 1')
      expect(sent.some((c) => c.startsWith('other '))).toBe(false)
    }
    const chat = await t.req('GET', '/api/v1/chats/chat_main', { token: a.token })
    expect(chat.status).toBe(200)
  })
})

describe('what a continued session reads', () => {
  test('40 turns of 1 MiB: the run sends and holds none of them (the server\'s memory grows by far less than the session)', async () => {
    const t = await app()
    const a = await makeActor(t)
    const ag = await agent(t, a, { systemPrompt: SYSTEM })
    const mib = 'm'.repeat(1024 * 1024)
    await seedTurns(t, a, ag.id, 'huge', 40, () => mib)
    Bun.gc(true)
    const before = process.memoryUsage().rss
    let peak = before
    const sample = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss)
    }, 2)
    const r = await t.req('POST', `/api/v1/agents/${ag.id}/execute`, { token: a.token, body: { message: 'and now?', sessionId: 'huge' } })
    clearInterval(sample)
    peak = Math.max(peak, process.memoryUsage().rss)
    expect(r.status).toBe(200)
    // Reading the session whole took 150 to 170 MiB more here (40 MiB of text, parsed, then sent).
    expect((peak - before) / 2 ** 20).toBeLessThan(64)
    expect(r.body.result).toBe('Echo: and now? (user turns: 1)')
    expect(JSON.stringify(double.requests.at(-1)!.body).length).toBeLessThan(10_000)
  }, 60_000)

  test('turns are weighed newest first, a bounded number of rows whatever the session\'s length, and only the turns sent are read whole', async () => {
    const t = await app()
    const a = await makeActor(t)
    const ag = await agent(t, a)
    await seedTurns(t, a, ag.id, 'chatty', 1000, (i) => `a${i}`)
    const run = { organizationId: a.organizationId, userId: a.userId, sessionId: 'chatty', excludeId: 'exec_none' }
    const budget = 3200
    const h = await sessionHistory(t.rt.db, run, budget)
    // Each turn costs 2 × 16 + a few characters: about 80 fit.
    expect(h.turns).toBeGreaterThan(60)
    expect(h.turns).toBeLessThan(100)
    expect(h.chars).toBeLessThanOrEqual(budget)
    expect(h.turns + h.omitted).toBe(1000)
    expect(h.messages.map((m) => m.content)).toEqual(Array.from({ length: h.turns }, (_, k) => 1000 - h.turns + k).flatMap((i) => [`q${i}`, `a${i}`]))
    // Rows read: pages of 64 up to the first turn that does not fit; messages of those sent only.
    expect(h.rowsWeighed).toBeLessThanOrEqual(h.turns + 64)
    expect(h.rowsFetched).toBe(h.turns)
    // Many turns of nothing: at most budget / 32 + a page are weighed.
    await t.db.insert(executions).values(Array.from({ length: 400 }, (_, i) => ({ id: newId('exec'), organizationId: a.organizationId, userId: a.userId, agentId: ag.id, agentName: 'Agent', agentVisibility: 'organization', chatId: 'empty', sessionId: 'empty', status: 'completed' as const, message: '', messages: [], createdAt: new Date(t.clock.now() - 1000 + i), updatedAt: new Date(t.clock.now()) }))).run()
    const e = await sessionHistory(t.rt.db, { ...run, sessionId: 'empty' }, 640)
    expect(e.rowsWeighed).toBe(640 / (2 * MESSAGE_OVERHEAD_CHARS) + 64)
    expect(e.turns + e.omitted).toBe(400)
  })

  test('each page of turns walks executions_session_history_idx in its order: no sort, no scan of the table', async () => {
    const t = await app()
    const a = await makeActor(t)
    const ag = await agent(t, a)
    const other = await makeActor(t, { org: a.orgSlug })
    // PostgreSQL plans by cost: sessions of many turns beside many others, analyzed.
    const n = ON_PG ? 3000 : 200
    await seedTurns(t, a, ag.id, 'planned', n, (i) => `a${i}`, { copy: true })
    for (const s of ['s1', 's2', 's3']) await seedTurns(t, a, ag.id, s, n, (i) => `b${i}`, { copy: true })
    await seedTurns(t, other, ag.id, 'planned', n, (i) => `c${i}`, { userId: other.userId, copy: true })
    const run = { organizationId: a.organizationId, userId: a.userId, sessionId: 'planned', excludeId: 'exec_none' }
    const queries = [sessionTurnsPage(t.rt.db, run, null, 64), sessionTurnsPage(t.rt.db, run, { createdAt: new Date(t.clock.now() - 60_000 - 100), seq: 1_000_000 }, 64)]
    const conn = t.rt.connection
    if (conn.dialect === 'sqlite') {
      conn.sync.$client.exec('ANALYZE')
      for (const q of queries) {
        const { sql, params } = q.toSQL()
        const p = (conn.sync.$client.query(`EXPLAIN QUERY PLAN ${sql}`).all(...(params as any[])) as { detail: string }[]).map((r) => r.detail)
        const where = p.join(' | ')
        expect(p.some((l) => /^SEARCH executions USING INDEX executions_session_history_idx \(organization_id=\? AND user_id=\? AND session_id=\? AND status=\?/.test(l)), where).toBe(true)
        expect(p.some((l) => l.includes('TEMP B-TREE') || l.startsWith('SCAN executions')), where).toBe(false)
      }
    } else {
      await conn.client.unsafe('VACUUM ANALYZE executions')
      for (const q of queries) {
        const { sql, params } = q.toSQL()
        for (const mode of ['custom', 'generic'] as const) {
          const plan = await explainPg(conn.client, sql, fillPlaceholders(params, {}), mode)
          const nodes = nodesOf(plan)
          const scan = nodes.find((x) => x['Relation Name'] === 'executions')
          expect({ mode, index: scan?.['Index Name'] }, describePlan(plan)).toEqual({ mode, index: 'executions_session_history_idx' })
          expect(INDEX_SCANS, describePlan(plan)).toContain(scan!['Node Type'])
          expect(nodes.some((x) => x['Node Type'].includes('Sort')), describePlan(plan)).toBe(false)
          expect(plan['Node Type']).toBe('Limit')
        }
      }
    }
  }, 60_000)
})
