// Chats, read from executions (src/modules/chats/): what TeamDay's CLI sends and reads for
// `chat --list [spaceId]`, `chat --read <chatId>` and `chat --list-missions` (src/commands/chat.ts).
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { eq } from 'drizzle-orm'
import { agents, executions, spaces } from '../src/db/schema'
import { newId } from '../src/ids'
import { makeActor, makeTestApp, type Actor, type TestApp } from './helpers/app'
import { startProviderDouble, type ProviderDouble } from './helpers/providers'
import { until } from './helpers/scripted-provider'

let double: ProviderDouble
beforeAll(() => {
  double = startProviderDouble()
})
afterAll(() => double.stop())

const app = () => makeTestApp({ config: { openaiBaseUrl: double.openaiBaseUrl, defaultModel: 'test-model' } })

async function insertAgent(t: TestApp, owner: Actor, o: Partial<typeof agents.$inferInsert> = {}) {
  const now = new Date(t.clock.now())
  return await t.db.insert(agents).values({ id: newId('char'), organizationId: owner.organizationId, userId: owner.userId, name: 'Helper', slug: `helper-${String(Math.random()).slice(2)}`, visibility: 'organization', createdAt: now, updatedAt: now, ...o }).returning().get()
}

async function insertSpace(t: TestApp, owner: Actor, o: Partial<typeof spaces.$inferInsert> = {}) {
  const now = new Date(t.clock.now())
  const id = newId('space')
  return await t.db.insert(spaces).values({ id, organizationId: owner.organizationId, createdBy: owner.userId, name: 'Docs', slug: id.toLowerCase().replace('_', '-'), visibility: 'organization', createdAt: now, updatedAt: now, ...o }).returning().get()
}

/** Sends a message (to an agent, or the default assistant), a second of the test clock later. */
async function say(t: TestApp, a: Actor, message: string, o: { agent?: string; chatId?: string; spaceId?: string } = {}) {
  t.clock.advance(1000)
  const r = await t.req('POST', o.agent ? `/api/v1/agents/${o.agent}/execute` : '/api/v1/execute', { token: a.token, body: { message, chatId: o.chatId, spaceId: o.spaceId } })
  expect(r.status).toBe(200)
  return r.body as { executionId: string; chatId: string; sessionId: string }
}

describe('GET /api/v1/chats', () => {
  test('your chats, latest message first, with what the CLI reads (id, title, agentName, status, messageCount, updatedAt)', async () => {
    const t = await app()
    const a = await makeActor(t)
    const agent = await insertAgent(t, a, { name: 'Reviewer' })
    const one = await say(t, a, 'Review the open pull requests\nand more', { agent: agent.id })
    await say(t, a, 'And the closed ones?', { agent: agent.id, chatId: one.chatId })
    const two = await say(t, a, 'Hello assistant')
    const r = await t.req('GET', '/api/v1/chats?limit=50', { token: a.token })
    expect(r.status).toBe(200)
    expect(r.body).toMatchObject({ success: true, total: 2, totalIsEstimate: false, nextCursor: null })
    expect(r.body.chats.map((c: any) => c.id)).toEqual([two.chatId, one.chatId])
    expect(r.body.chats[0]).toMatchObject({ title: 'Hello assistant', agentId: null, agentName: 'Assistant', status: 'done', messageCount: 2, executionCount: 1, lastExecutionId: two.executionId })
    expect(r.body.chats[1]).toMatchObject({
      title: 'Review the open pull requests',
      agentId: agent.id,
      agentName: 'Reviewer',
      status: 'done',
      lastExecutionStatus: 'completed',
      messageCount: 4,
      executionCount: 2,
      sessionId: one.sessionId,
      createdAt: new Date(t.clock.now() - 2000).toISOString(),
      lastMessageAt: new Date(t.clock.now() - 1000).toISOString(),
    })
    expect(typeof r.body.chats[1].updatedAt).toBe('string')
    // A new message moves its chat to the top.
    await say(t, a, 'One more', { agent: agent.id, chatId: one.chatId })
    expect((await t.req('GET', '/api/v1/chats', { token: a.token })).body.chats.map((c: any) => c.id)).toEqual([one.chatId, two.chatId])
  })

  test("the CLI's `chat --list <spaceId>` (spaceId, limit=50) and `--list-missions` (mission=true: none here); agentId by id or slug", async () => {
    const t = await app()
    const a = await makeActor(t)
    const agent = await insertAgent(t, a)
    const space = await insertSpace(t, a)
    const inSpace = await say(t, a, 'in the space', { spaceId: space.id })
    const withAgent = await say(t, a, 'to the agent', { agent: agent.id })
    const bySpace = await t.req('GET', `/api/v1/chats?spaceId=${space.id}&limit=50`, { token: a.token })
    expect(bySpace.body.chats.map((c: any) => c.id)).toEqual([inSpace.chatId])
    expect(bySpace.body.chats[0].spaceId).toBe(space.id)
    expect((await t.req('GET', `/api/v1/chats?spaceId=${space.slug}`, { token: a.token })).body.chats).toHaveLength(1)
    expect((await t.req('GET', `/api/v1/chats?agentId=${agent.slug}`, { token: a.token })).body.chats.map((c: any) => c.id)).toEqual([withAgent.chatId])
    const missions = await t.req('GET', '/api/v1/chats?mission=true&limit=50', { token: a.token })
    expect(missions.status).toBe(200)
    expect(missions.body).toMatchObject({ success: true, chats: [], total: 0, nextCursor: null })
    expect((await t.req('GET', '/api/v1/chats?mission=false', { token: a.token })).body.chats).toHaveLength(2)
  })

  test('paging: limit, cursor/nextCursor, offset, total; a cursor of other filters is 400; bad limit 422', async () => {
    const t = await app()
    const a = await makeActor(t)
    const ids: string[] = []
    for (let i = 0; i < 5; i++) ids.unshift((await say(t, a, `chat ${i}`)).chatId)
    const p1 = await t.req('GET', '/api/v1/chats?limit=2', { token: a.token })
    expect(p1.body.total).toBe(5)
    expect(p1.body.chats.map((c: any) => c.id)).toEqual(ids.slice(0, 2))
    const p2 = await t.req('GET', `/api/v1/chats?limit=2&cursor=${p1.body.nextCursor}`, { token: a.token })
    expect(p2.body.chats.map((c: any) => c.id)).toEqual(ids.slice(2, 4))
    expect(p2.body.total).toBe(5)
    const p3 = await t.req('GET', `/api/v1/chats?limit=2&cursor=${p2.body.nextCursor}`, { token: a.token })
    expect(p3.body.chats.map((c: any) => c.id)).toEqual(ids.slice(4))
    expect(p3.body.nextCursor).toBeNull()
    const byOffset = await t.req('GET', '/api/v1/chats?limit=2&offset=3', { token: a.token })
    expect(byOffset.body.chats.map((c: any) => c.id)).toEqual(ids.slice(3, 5))
    expect(byOffset.body.total).toBe(5)
    const other = await t.req('GET', `/api/v1/chats?limit=2&spaceId=x&cursor=${p1.body.nextCursor}`, { token: a.token })
    expect(other.status).toBe(400)
    expect(other.body.code).toBe('bad_request')
    // Another user's cursor is not theirs either.
    const b = await makeActor(t)
    expect((await t.req('GET', `/api/v1/chats?limit=2&cursor=${p1.body.nextCursor}`, { token: b.token })).status).toBe(400)
    const bad = await t.req('GET', '/api/v1/chats?limit=0', { token: a.token })
    expect(bad.status).toBe(422)
    expect(bad.body.code).toBe('validation_failed')
  })

  test('private: another user\'s chats (admins included) and another organization\'s are not listed', async () => {
    const t = await app()
    const a = await makeActor(t, { org: 'alpha' })
    const admin = await makeActor(t, { org: 'alpha', role: 'admin' })
    const viewer = await makeActor(t, { org: 'alpha', role: 'viewer' })
    const b = await makeActor(t, { org: 'beta' })
    await say(t, a, 'mine')
    for (const who of [admin, viewer, b]) {
      const r = await t.req('GET', '/api/v1/chats', { token: who.token })
      expect(r.status).toBe(200)
      expect(r.body).toMatchObject({ chats: [], total: 0 })
    }
  })

  test('a delegated child is part of its parent\'s run, not a chat of its own', async () => {
    const t = await app()
    const a = await makeActor(t)
    const child = await insertAgent(t, a, { name: 'Child' })
    const parent = await insertAgent(t, a, { name: 'Parent', subagentIds: [child.id] })
    const r = await say(t, a, `DELEGATE ${child.id} do it`, { agent: parent.id })
    expect((await t.db.select().from(executions).all()).length).toBe(2)
    const list = await t.req('GET', '/api/v1/chats', { token: a.token })
    expect(list.body.chats.map((c: any) => c.id)).toEqual([r.chatId])
    expect(list.body.chats[0]).toMatchObject({ agentName: 'Parent', executionCount: 1 })
  })
})

describe('GET /api/v1/chats/{id} and /messages', () => {
  test("the chat's messages in order, as the executions store them; /messages is what `chat --read` reads", async () => {
    const t = await app()
    const a = await makeActor(t)
    const first = await say(t, a, 'first question')
    const second = await say(t, a, 'second question', { chatId: first.chatId })
    const r = await t.req('GET', `/api/v1/chats/${first.chatId}`, { token: a.token })
    expect(r.status).toBe(200)
    expect(r.body.chat).toMatchObject({ id: first.chatId, title: 'first question', messageCount: 4, status: 'done' })
    expect(r.body.hasMore).toBe(false)
    expect(r.body.messages.map((m: any) => [m.role, m.content, m.executionId])).toEqual([
      ['user', 'first question', first.executionId],
      ['assistant', 'Echo: first question (user turns: 1)', first.executionId],
      ['user', 'second question', second.executionId],
      ['assistant', 'Echo: second question (user turns: 2)', second.executionId],
    ])
    for (const m of r.body.messages) {
      expect(typeof m.createdAt).toBe('string')
      expect(m.toolCalls).toEqual([])
    }
    const msgs = await t.req('GET', `/api/v1/chats/${first.chatId}/messages`, { token: a.token })
    expect(msgs.status).toBe(200)
    expect(msgs.body).toMatchObject({ success: true, chatId: first.chatId, title: 'first question', status: 'done', hasMore: false })
    expect(msgs.body.messages).toEqual(r.body.messages)
  })

  test('a turn that failed or was cancelled has an answer saying so (its partial answer, then why), and counts as one', async () => {
    const t = await app()
    const a = await makeActor(t)
    const first = await say(t, a, 'hello')
    t.clock.advance(1000)
    const failed = await t.req('POST', '/api/v1/execute', { token: a.token, body: { message: 'FAIL now', chatId: first.chatId } })
    expect(failed.status).toBe(502)
    // A cancelled turn: started asynchronously, cancelled while the model waits.
    t.clock.advance(1000)
    const started = await t.req('POST', '/api/v1/execute', { token: a.token, body: { message: 'PAUSE 5000', chatId: first.chatId, async: true } })
    expect(started.status).toBe(202)
    const status = async () => (await t.req('GET', `/api/v1/executions/${started.body.executionId}`, { token: a.token })).body.execution?.status
    // Running (the async answer comes while it may still be queued), then cancelled.
    await until(async () => (await status()) === 'running')
    expect((await t.req('POST', `/api/v1/executions/${started.body.executionId}/cancel`, { token: a.token })).status).toBe(200)
    expect(await status()).toBe('cancelled')
    const r = await t.req('GET', `/api/v1/chats/${first.chatId}/messages`, { token: a.token })
    expect(r.status).toBe(200)
    const said = r.body.messages.map((m: any) => [m.role, m.content])
    expect(said.slice(0, 3)).toEqual([
      ['user', 'hello'],
      ['assistant', 'Echo: hello (user turns: 1)'],
      ['user', 'FAIL now'],
    ])
    expect(said[3][0]).toBe('assistant')
    expect(said[3][1]).toStartWith('[Failed: ')
    expect(said[3][1]).toContain('upstream exploded')
    expect(said[4]).toEqual(['user', 'PAUSE 5000'])
    expect(said[5][0]).toBe('assistant')
    expect(said[5][1]).toContain('[Cancelled: ')
    expect(said).toHaveLength(6)
    const listed = (await t.req('GET', '/api/v1/chats', { token: a.token })).body.chats.find((c: any) => c.id === first.chatId)
    expect(listed.messageCount).toBe(6)
  })

  test('tool calls ride on the answer ({name, input}, as the CLI prints them); a running execution shows its message', async () => {
    const t = await app()
    const a = await makeActor(t)
    const child = await insertAgent(t, a)
    const parent = await insertAgent(t, a, { subagentIds: [child.id] })
    const r = await say(t, a, `DELEGATE ${child.id} summarise`, { agent: parent.id })
    t.clock.advance(1000)
    const running = await t.req('POST', `/api/v1/agents/${parent.id}/execute`, { token: a.token, body: { message: 'HANG', chatId: r.chatId, async: true } })
    const msgs = (await t.req('GET', `/api/v1/chats/${r.chatId}/messages`, { token: a.token })).body
    expect(msgs.status).toBe('working')
    expect(msgs.messages.map((m: any) => m.role)).toEqual(['user', 'assistant', 'user'])
    expect(msgs.messages[1].toolCalls).toMatchObject([{ name: 'delegate', input: { agentId: child.id, message: 'summarise' } }])
    expect(msgs.messages[2]).toMatchObject({ content: 'HANG', executionId: running.body.executionId, toolCalls: [] })
    await t.req('POST', `/api/v1/executions/${running.body.executionId}/cancel`, { token: a.token })
    expect((await t.req('GET', `/api/v1/chats/${r.chatId}`, { token: a.token })).body.chat.status).toBe('standby')
  })

  test('404: another user\'s chat (same org, admin too), another organization\'s, one that does not exist; the same chatId used by two users shows each their own', async () => {
    const t = await app()
    const a = await makeActor(t, { org: 'alpha' })
    const other = await makeActor(t, { org: 'alpha' })
    const admin = await makeActor(t, { org: 'alpha', role: 'admin' })
    const b = await makeActor(t, { org: 'beta' })
    const mine = await say(t, a, 'my secret')
    for (const who of [other, admin, b]) {
      for (const path of [`/api/v1/chats/${mine.chatId}`, `/api/v1/chats/${mine.chatId}/messages`]) {
        const r = await t.req('GET', path, { token: who.token })
        expect(r.status).toBe(404)
        expect(r.body.code).toBe('not_found')
        expect(r.text).not.toContain('my secret')
      }
    }
    expect((await t.req('GET', '/api/v1/chats/chat_doesnotexist', { token: a.token })).status).toBe(404)
    // `other` sends a's chatId: that makes a chat of their own under the same id, never a's.
    await say(t, other, 'their message', { chatId: mine.chatId })
    const theirs = await t.req('GET', `/api/v1/chats/${mine.chatId}/messages`, { token: other.token })
    expect(theirs.body.messages.map((m: any) => m.content)).toEqual(['their message', 'Echo: their message (user turns: 1)'])
    const own = await t.req('GET', `/api/v1/chats/${mine.chatId}/messages`, { token: a.token })
    expect(own.body.messages.map((m: any) => m.content)).toEqual(['my secret', 'Echo: my secret (user turns: 1)'])
  })

  test('a chat id a client chooses is one URL path segment, so /chats/{id} can always name it: ".", "..", blanks and slashes are 422', async () => {
    const t = await app()
    const a = await makeActor(t)
    for (const chatId of ['.', '..', ' ', 'a b', 'a/b', '-x', '.hidden', 'x\u200by']) {
      for (const field of ['chatId', 'sessionId']) {
        const r = await t.req('POST', '/api/v1/execute', { token: a.token, body: { message: 'hi', [field]: chatId } })
        expect([chatId, field, r.status, r.body.details?.[0]?.field]).toEqual([chatId, field, 422, field])
      }
    }
    for (const chatId of ['chat_2Hn8Qw4Rt6Yu1Io3Pa5S', crypto.randomUUID(), 'cli:2026-12-03T10:00', 'my.chat~1']) {
      const said = await say(t, a, 'hello', { chatId })
      expect(said.chatId).toBe(chatId)
      expect((await t.req('GET', `/api/v1/chats/${chatId}/messages`, { token: a.token })).status).toBe(200)
    }
  })

  test('executions in a space hidden from you since are left out (the executions rule)', async () => {
    const t = await app()
    const a = await makeActor(t)
    const owner = await makeActor(t)
    const space = await insertSpace(t, owner)
    const first = await say(t, a, 'outside')
    await say(t, a, 'inside', { chatId: first.chatId, spaceId: space.id })
    expect((await t.req('GET', `/api/v1/chats/${first.chatId}`, { token: a.token })).body.chat.executionCount).toBe(2)
    await t.db.update(spaces).set({ visibility: 'private' }).where(eq(spaces.id, space.id)).run()
    const r = await t.req('GET', `/api/v1/chats/${first.chatId}`, { token: a.token })
    expect(r.body.chat).toMatchObject({ executionCount: 1, lastExecutionId: first.executionId, spaceId: null })
    expect(r.body.messages.map((m: any) => m.content)).toEqual(['outside', 'Echo: outside (user turns: 1)'])
    expect((await t.req('GET', '/api/v1/chats', { token: a.token })).body.chats).toHaveLength(1)
  })

  test('permissions: a token without executions:read is 403; none is 401', async () => {
    const t = await app()
    const a = await makeActor(t, { token: { scopes: ['agents:read'] } })
    const r = await t.req('GET', '/api/v1/chats', { token: a.token })
    expect(r.status).toBe(403)
    const ok = await makeActor(t, { token: { scopes: ['executions:read'] } })
    expect((await t.req('GET', '/api/v1/chats', { token: ok.token })).status).toBe(200)
    expect((await t.req('GET', '/api/v1/chats')).status).toBe(401)
  })
})
