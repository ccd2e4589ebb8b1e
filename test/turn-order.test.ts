// The order of a chat's turns and of a session's history (src/engine/store.ts insertExecution,
// src/modules/chats/service.ts, sessionHistory): the order they were created in, whatever the
// clock says. Turns created in one millisecond were ordered by their random id (in the messages a
// client and the console show, and in the history the next turn sent its model), and a turn
// created by an instance whose clock is a few ms behind another's came before the turn it answered.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { makeActor, makeTestApp, type Actor, type TestApp } from './helpers/app'
import { startProviderDouble, type ProviderDouble } from './helpers/providers'

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
})
