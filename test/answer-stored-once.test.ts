/**
 * A completed run's answer is stored once, as its `result`: its last message is stored without
 * its content and shown with the result (src/db/schema/shared.ts, storedMessages and
 * shownMessages). Stored twice, an answer of MiBs doubled the write that held the event loop at
 * a run's end (test/large-answer-off-loop.test.ts). Every reader shows what it showed before, and
 * rows written before (their answer in their messages too) read as they did.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { eq } from 'drizzle-orm'
import { executions } from '../src/db/schema'
import { newId } from '../src/ids'
import { insertWriter, makeActor, makeTestApp, type Actor, type TestApp } from './helpers/app'
import { proseOf, startProviderDouble, type ProviderDouble } from './helpers/providers'

/** A session's earlier turns are sent while they fit in this many characters. */
const MAX_HISTORY_CHARS = 10_000

let double: ProviderDouble
let t: TestApp
let a: Actor
let agentId = ''
beforeAll(async () => {
  double = startProviderDouble()
  t = await makeTestApp({ config: { openaiBaseUrl: double.openaiBaseUrl, defaultModel: 'test-model', maxHistoryChars: MAX_HISTORY_CHARS } })
  a = await makeActor(t)
  agentId = await insertWriter(t, a)
}, 30_000)
afterAll(() => double.stop())

const execute = (body: object) => t.req('POST', `/api/v1/agents/${agentId}/execute`, { token: a.token, body })
const stored = async (id: string) => (await t.db.select().from(executions).where(eq(executions.id, id)).get())!

/** What each reader of an execution shows of its messages: GET, the list, the tree and the chat (as the chat shows them). */
async function shown(id: string, chatId: string) {
  const one = (await t.req('GET', `/api/v1/executions/${id}`, { token: a.token })).body.execution
  const listed = (await t.req('GET', `/api/v1/executions?agentId=${agentId}&limit=200`, { token: a.token })).body.find((e: { id: string }) => e.id === id)
  const tree = (await t.req('GET', `/api/v1/executions/${id}/tree`, { token: a.token })).body.tree
  const chat = (await t.req('GET', `/api/v1/chats/${chatId}/messages`, { token: a.token })).body.messages.filter((m: { executionId: string }) => m.executionId === id)
  return { one, listed, tree, chat: chat.map((m: { role: string; content: string }) => ({ role: m.role, content: m.content })) }
}

test('a completed run stores its answer once (its result), and every reader shows it in its last message as before', async () => {
  const r = await execute({ message: 'PROSE 100' })
  expect(r.status).toBe(200)
  const answer = proseOf(100 * 1024)
  expect(r.body.result === answer).toBe(true)
  expect(r.body.messages.map((m: { role: string; content: string }) => [m.role, m.content === answer])).toEqual([
    ['user', false],
    ['assistant', true],
  ])
  const row = await stored(r.body.executionId)
  expect(row.result === answer).toBe(true)
  // The last message without its content: the row holds the answer once.
  expect(row.messages).toEqual([
    { role: 'user', content: 'PROSE 100', timestamp: r.body.messages[0].timestamp },
    { role: 'assistant', timestamp: r.body.messages[1].timestamp },
  ])
  const { one, listed, tree, chat } = await shown(r.body.executionId, r.body.chatId)
  for (const e of [one, listed, tree]) expect(e.messages).toEqual(r.body.messages)
  expect(chat).toEqual(r.body.messages.map((m: { role: string; content: string }) => ({ role: m.role, content: m.content })))
})

test('a row written before, its answer in its messages too, reads as it did', async () => {
  const at = new Date(t.clock.now() - 1000)
  const id = newId('exec')
  const chatId = `old-${id}`
  const messages = [
    { role: 'user' as const, content: 'Write', timestamp: at.toISOString() },
    { role: 'assistant' as const, content: 'The old answer', timestamp: at.toISOString() },
  ]
  await t.db.insert(executions).values({
    id, organizationId: a.organizationId, userId: a.userId, agentId, agentName: 'Writer', agentVisibility: 'organization', chatId, sessionId: chatId,
    status: 'completed', message: 'Write', result: 'The old answer', messages, startedAt: at, completedAt: at, createdAt: at, updatedAt: at,
  })
  const { one, listed, tree, chat } = await shown(id, chatId)
  for (const e of [one, listed, tree]) expect([e.result, e.messages]).toEqual(['The old answer', messages])
  expect(chat).toEqual(messages.map((m) => ({ role: m.role, content: m.content })))
  // And a run continuing its session sends its answer as the model's earlier turn.
  const r = await execute({ message: 'And now?', sessionId: chatId })
  expect(r.status).toBe(200)
  expect(double.requests.at(-1)!.body.messages.filter((m: { role: string }) => m.role !== 'system')).toEqual([
    { role: 'user', content: 'Write' },
    { role: 'assistant', content: 'The old answer' },
    { role: 'user', content: 'And now?' },
  ])
})

test("a continued session sends a stored-once answer as the model's earlier turn, and weighs it whole", async () => {
  const first = await execute({ message: 'PROSE 2', sessionId: `s-${newId('exec')}` })
  expect(first.status).toBe(200)
  const next = await execute({ message: 'Go on', sessionId: first.body.sessionId })
  expect(next.status).toBe(200)
  expect(next.body.historyTrimmed).toBeNull()
  expect(double.requests.at(-1)!.body.messages.filter((m: { role: string }) => m.role !== 'system')).toEqual([
    { role: 'user', content: 'PROSE 2' },
    { role: 'assistant', content: proseOf(2 * 1024) },
    { role: 'user', content: 'Go on' },
  ])
  // An answer past the history's bound is left out: its length counts though the message holding it stores none.
  const long = await execute({ message: 'PROSE 20', sessionId: `s-${newId('exec')}` })
  expect(long.status).toBe(200)
  expect((await stored(long.body.executionId)).messages.at(-1)).not.toHaveProperty('content')
  const after = await execute({ message: 'Go on', sessionId: long.body.sessionId })
  expect(after.status).toBe(200)
  expect(after.body.historyTrimmed).toMatchObject({ turnsSent: 0, turnsOmitted: 1, maxChars: MAX_HISTORY_CHARS })
  expect(double.requests.at(-1)!.body.messages.filter((m: { role: string }) => m.role !== 'system')).toEqual([{ role: 'user', content: 'Go on' }])
})
