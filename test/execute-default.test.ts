// POST /api/v1/execute: the built-in default assistant (src/engine/assistant.ts), as TeamDay's CLI
// calls it in an organization without agents (src/lib/interactive.ts `streamExecute`).
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { ASSISTANT_PROMPT } from '../src/engine/assistant'
import { makeActor, makeTestApp, type TestApp } from './helpers/app'
import { parseSse, startProviderDouble, type ProviderDouble } from './helpers/providers'
import { until } from './helpers/scripted-provider'
import { and, eq } from 'drizzle-orm'
import { agents, memberships, spaces } from '../src/db/schema'
import { newId } from '../src/ids'
import type { Actor } from './helpers/app'

async function insertAgent(t: TestApp, owner: Actor) {
  const now = new Date(t.clock.now())
  return await t.db.insert(agents).values({ id: newId('char'), organizationId: owner.organizationId, userId: owner.userId, name: 'Helper', slug: `helper-${String(Math.random()).slice(2)}`, visibility: 'organization', createdAt: now, updatedAt: now }).returning().get()
}

async function insertSpace(t: TestApp, owner: Actor, o: Partial<typeof spaces.$inferInsert> = {}) {
  const now = new Date(t.clock.now())
  const id = newId('space')
  return await t.db
    .insert(spaces)
    .values({ id, organizationId: owner.organizationId, createdBy: owner.userId, name: 'Docs', slug: id.toLowerCase().replace('_', '-'), visibility: 'organization', createdAt: now, updatedAt: now, ...o })
    .returning()
    .get()
}

let double: ProviderDouble
beforeAll(() => {
  double = startProviderDouble()
})
afterAll(() => double.stop())

const app = (extra = {}) => makeTestApp({ config: { openaiBaseUrl: double.openaiBaseUrl, defaultModel: 'test-model', ...extra } })
const lastSystem = () => {
  const body = double.requests.at(-1)!.body
  return body.messages.find((m: any) => m.role === 'system')?.content as string
}

describe('POST /api/v1/execute', () => {
  test('sync: 200 with the answer; the execution has agentId null, the default model, the plain prompt', async () => {
    const t = await app()
    const a = await makeActor(t)
    const r = await t.req('POST', '/api/v1/execute', { token: a.token, body: { message: 'hello' } })
    expect(r.status).toBe(200)
    expect(r.body).toMatchObject({ success: true, status: 'completed', result: 'Echo: hello (user turns: 1)' })
    expect(r.body.chatId).toStartWith('chat_')
    expect(lastSystem()).toBe(ASSISTANT_PROMPT)
    expect(double.requests.at(-1)!.body.tools).toBeUndefined()
    const e = (await t.req('GET', `/api/v1/executions/${r.body.executionId}`, { token: a.token })).body.execution
    expect(e).toMatchObject({ agentId: null, agentName: 'Assistant', model: 'test-model', userId: a.userId, status: 'completed', spaceId: null })
    // Every consumer of executions takes it: list, tree, logs.
    const list = await t.req('GET', '/api/v1/executions', { token: a.token })
    expect(list.body.map((x: any) => x.agentId)).toEqual([null])
    expect((await t.req('GET', `/api/v1/executions/${e.id}/tree`, { token: a.token })).body.tree).toMatchObject({ agentId: null, children: [] })
    expect((await t.req('GET', `/api/v1/executions/${e.id}/logs`, { token: a.token })).body.logs.map((l: any) => l.event)).toEqual(['started', 'completed'])
  })

  test("the CLI's request: stream with meta {chatId, sessionId, agentId: null}; the next message continues the chat by chatId", async () => {
    const t = await app()
    const a = await makeActor(t)
    const res = await t.app.handle(
      new Request('http://localhost/api/v1/execute', { method: 'POST', headers: { authorization: `Bearer ${a.token}`, 'content-type': 'application/json' }, body: JSON.stringify({ message: 'first', stream: true }) }),
    )
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toContain('text/event-stream')
    const events = parseSse(await res.text())
    const meta = events.find((e) => e.event === 'meta')!.data
    expect(meta.agentId).toBeNull()
    expect(meta.chatId).toStartWith('chat_')
    expect(events.at(-1)!.event).toBe('result')
    const again = await t.req('POST', '/api/v1/execute', { token: a.token, body: { message: 'second', chatId: meta.chatId } })
    expect(again.body.result).toBe('Echo: second (user turns: 2)')
    expect(again.body.chatId).toBe(meta.chatId)
    // sessionId works the same.
    const third = await t.req('POST', '/api/v1/execute', { token: a.token, body: { message: 'third', sessionId: meta.sessionId } })
    expect(third.body.result).toBe('Echo: third (user turns: 3)')
  })

  test('async: 202, then completed', async () => {
    const t = await app()
    const a = await makeActor(t)
    const r = await t.req('POST', '/api/v1/execute', { token: a.token, body: { message: 'later', async: true } })
    expect(r.status).toBe(202)
    expect(r.body).toMatchObject({ success: true, status: 'pending' })
    const done = await t.rt.engine.wait(r.body.executionId)
    expect(done?.status).toBe('completed')
  })

  test('spaceId: a space you may use (id or slug) adds its instructions; another member\'s private space or another organization\'s is 404', async () => {
    const t = await app()
    const a = await makeActor(t, { org: 'alpha' })
    const other = await makeActor(t, { org: 'alpha' })
    const b = await makeActor(t, { org: 'beta' })
    const space = await insertSpace(t, a, { instructions: 'Answer in haiku.' })
    const r = await t.req('POST', '/api/v1/execute', { token: a.token, body: { message: 'in space', spaceId: space.slug } })
    expect(r.status).toBe(200)
    expect(lastSystem()).toContain('Answer in haiku.')
    const e = (await t.req('GET', `/api/v1/executions/${r.body.executionId}`, { token: a.token })).body.execution
    expect(e.spaceId).toBe(space.id)
    const hidden = await insertSpace(t, other, { visibility: 'private' })
    const r404 = await t.req('POST', '/api/v1/execute', { token: a.token, body: { message: 'x', spaceId: hidden.id } })
    expect(r404.status).toBe(404)
    expect(r404.body.code).toBe('not_found')
    expect((await t.req('POST', '/api/v1/execute', { token: b.token, body: { message: 'x', spaceId: space.id } })).status).toBe(404)
  })

  test('another user does not get your chat\'s history by sending its chatId, and its runs are private', async () => {
    const t = await app()
    const a = await makeActor(t, { org: 'alpha' })
    const other = await makeActor(t, { org: 'alpha' })
    const first = await t.req('POST', '/api/v1/execute', { token: a.token, body: { message: 'secret plan' } })
    const theirs = await t.req('POST', '/api/v1/execute', { token: other.token, body: { message: 'peek', chatId: first.body.chatId } })
    expect(theirs.body.result).toBe('Echo: peek (user turns: 1)')
    expect((await t.req('GET', `/api/v1/executions/${first.body.executionId}`, { token: other.token })).status).toBe(404)
    expect((await t.req('GET', '/api/v1/executions', { token: other.token })).body.map((x: any) => x.id)).toEqual([theirs.body.executionId])
  })

  test('roles, tokens and validation: viewer 403, a token without agents:execute 403, none 401, bad body 422', async () => {
    const t = await app()
    const viewer = await makeActor(t, { role: 'viewer' })
    const r = await t.req('POST', '/api/v1/execute', { token: viewer.token, body: { message: 'x' } })
    expect(r.status).toBe(403)
    expect(r.body.code).toBe('forbidden')
    const m = await makeActor(t, { token: { scopes: ['executions:read'] } })
    expect((await t.req('POST', '/api/v1/execute', { token: m.token, body: { message: 'x' } })).status).toBe(403)
    expect((await t.req('POST', '/api/v1/execute', { body: { message: 'x' } })).status).toBe(401)
    const a = await makeActor(t)
    const bad = await t.req('POST', '/api/v1/execute', { token: a.token, body: { message: '' } })
    expect(bad.status).toBe(422)
    expect(bad.body.code).toBe('validation_failed')
  })

  test('Idempotency-Key: a sync answer is replayed; a streamed one is 409 naming its execution', async () => {
    const t = await app()
    const a = await makeActor(t)
    const headers = { 'idempotency-key': 'k-1' }
    const one = await t.req('POST', '/api/v1/execute', { token: a.token, body: { message: 'once' }, headers })
    const two = await t.req('POST', '/api/v1/execute', { token: a.token, body: { message: 'once' }, headers })
    expect(two.status).toBe(200)
    expect(two.headers.get('idempotency-status')).toBe('replayed')
    expect(two.body.executionId).toBe(one.body.executionId)
    const sh = { 'idempotency-key': 'k-2' }
    const s1 = await t.req('POST', '/api/v1/execute', { token: a.token, body: { message: 'streamed', stream: true }, headers: sh })
    expect(s1.status).toBe(200)
    const s2 = await t.req('POST', '/api/v1/execute', { token: a.token, body: { message: 'streamed', stream: true }, headers: sh })
    expect(s2.status).toBe(409)
    expect(s2.body.code).toBe('idempotency_stream_started')
    expect((await t.req('GET', '/api/v1/executions', { token: a.token })).body).toHaveLength(2)
  })

  test('queue limit: TEAMDAY_MAX_QUEUED_EXECUTIONS_PER_USER counts assistant runs too (429)', async () => {
    const t = await app({ maxConcurrentExecutions: 1, maxQueuedExecutionsPerUser: 1 })
    const a = await makeActor(t)
    const running = await t.req('POST', '/api/v1/execute', { token: a.token, body: { message: 'HANG', async: true } })
    expect(running.status).toBe(202)
    // Claimed (running) before the next: until then it is itself the one queued run the limit allows
    // (on PostgreSQL the claim takes a round trip or two).
    const statusOf = async (id: string) => (await t.req('GET', `/api/v1/executions/${id}`, { token: a.token })).body.execution?.status
    await until(async () => (await statusOf(running.body.executionId)) === 'running')
    const queued = await t.req('POST', '/api/v1/execute', { token: a.token, body: { message: 'wait', async: true } })
    expect(queued.status).toBe(202)
    const refused = await t.req('POST', '/api/v1/execute', { token: a.token, body: { message: 'one more', async: true } })
    expect(refused.status).toBe(429)
    expect(refused.body.code).toBe('rate_limited')
    for (const id of [queued.body.executionId, running.body.executionId]) expect((await t.req('POST', `/api/v1/executions/${id}/cancel`, { token: a.token })).status).toBe(200)
  })

  test('a run queued by a member who is a viewer by their turn is refused (checked again for the assistant)', async () => {
    const t = await app({ maxConcurrentExecutions: 1 })
    const a = await makeActor(t)
    const agent = await insertAgent(t, a)
    const running = await t.req('POST', `/api/v1/agents/${agent.id}/execute`, { token: a.token, body: { message: 'HANG', async: true } })
    const queued = await t.req('POST', '/api/v1/execute', { token: a.token, body: { message: 'wait', async: true } })
    await t.db.update(memberships).set({ role: 'viewer' }).where(and(eq(memberships.userId, a.userId), eq(memberships.organizationId, a.organizationId))).run()
    await t.rt.engine.cancel(running.body.executionId)
    const done = await t.rt.engine.wait(queued.body.executionId)
    expect(done?.status).toBe('failed')
    expect(done?.errorCode).toBe('forbidden')
  })

  test('no provider configured: 501', async () => {
    const t = await makeTestApp()
    const a = await makeActor(t)
    const r = await t.req('POST', '/api/v1/execute', { token: a.token, body: { message: 'x' } })
    expect(r.status).toBe(501)
    expect(r.body.code).toBe('no_model_provider')
  })
})
