import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { parseSse, startProviderDouble, type ProviderDouble } from './helpers/providers'
import { agents } from '../src/db/schema'
import { newId } from '../src/ids'
import { makeActor, makeTestApp, type Actor, type TestApp } from './helpers/app'
import { until } from './helpers/scripted-provider'

let double: ProviderDouble
beforeAll(() => {
  double = startProviderDouble()
})
afterAll(() => double.stop())

async function insertAgent(t: TestApp, owner: Actor) {
  const now = new Date(t.clock.now())
  return await t.db
    .insert(agents)
    .values({ id: newId('char'), organizationId: owner.organizationId, userId: owner.userId, name: 'Streamer', slug: `streamer-${Math.random()}`, systemPrompt: 'You are a test agent.', visibility: 'organization', createdAt: now, updatedAt: now })
    .returning()
    .get()
}

const streamReq = (t: TestApp, a: Actor, agentId: string, message: string, key?: string) =>
  t.app.handle(
    new Request(`http://localhost/api/v1/agents/${agentId}/execute`, {
      method: 'POST',
      headers: { authorization: `Bearer ${a.token}`, 'content-type': 'application/json', ...(key ? { 'idempotency-key': key } : {}) },
      body: JSON.stringify({ message, stream: true }),
    }),
  )

/** Provider calls whose last user message is `message`. */
const calls = (message: string) => double.requests.filter((r) => JSON.stringify(r.body.messages ?? []).includes(message)).length

describe('Idempotency-Key on a streamed execute', () => {
  test('a retry with the same key while the stream runs: 409 naming the execution, the agent is not run again', async () => {
    const t = await makeTestApp({ config: { openaiBaseUrl: double.openaiBaseUrl, defaultModel: 'test-model' } })
    const a = await makeActor(t)
    const agent = await insertAgent(t, a)
    const message = 'HANG until cancelled, streamed once'

    const first = await streamReq(t, a, agent.id, message, 'stream-key-1')
    expect(first.status).toBe(200)
    const executionId = first.headers.get('x-execution-id')!
    expect(executionId).toStartWith('exec_')
    const body = first.text()

    const during = await streamReq(t, a, agent.id, message, 'stream-key-1')
    expect(during.status).toBe(409)
    const answer: any = await during.json()
    expect(answer).toMatchObject({ code: 'idempotency_stream_started', details: { executionId } })
    expect(answer.message).toContain(`GET /api/v1/executions/${executionId}`)
    // Claimed from the queue (a write transaction of its own): running within moments, never run twice.
    const status = async () => (await t.req('GET', `/api/v1/executions/${executionId}`, { token: a.token })).body.execution.status
    await until(async () => (await status()) !== 'pending')
    expect(await status()).toBe('running')

    // The provider has the one request (hanging) before the run is cancelled.
    await until(() => calls(message) > 0)
    expect((await t.req('POST', `/api/v1/executions/${executionId}/cancel`, { token: a.token })).status).toBe(200)
    expect(parseSse(await body).at(-1)!.event).toBe('error')
    expect(calls(message)).toBe(1)
    const list = await t.req('GET', `/api/v1/executions?agentId=${agent.id}`, { token: a.token })
    expect(list.body.map((e: any) => e.id)).toEqual([executionId])
  })

  test('a retry after the stream completed: 409 naming the execution, whose result is readable', async () => {
    const t = await makeTestApp({ config: { openaiBaseUrl: double.openaiBaseUrl, defaultModel: 'test-model' } })
    const a = await makeActor(t)
    const agent = await insertAgent(t, a)
    const message = 'stream me exactly once'
    const first = await streamReq(t, a, agent.id, message, 'stream-key-2')
    const events = parseSse(await first.text())
    expect(events.at(-1)!.event).toBe('result')
    const executionId = events.at(-1)!.data.executionId
    for (let i = 0; i < 2; i++) {
      const retry = await streamReq(t, a, agent.id, message, 'stream-key-2')
      expect(retry.status).toBe(409)
      expect(await retry.json()).toMatchObject({ code: 'idempotency_stream_started', details: { executionId } })
    }
    expect(calls(message)).toBe(1)
    const got = await t.req('GET', `/api/v1/executions/${executionId}`, { token: a.token })
    expect(got.body.execution).toMatchObject({ status: 'completed', result: `Echo: ${message} (user turns: 1)` })
  })

  test('without a key, or with another key, each stream runs; another body with the key is a conflict', async () => {
    const t = await makeTestApp({ config: { openaiBaseUrl: double.openaiBaseUrl, defaultModel: 'test-model' } })
    const a = await makeActor(t)
    const agent = await insertAgent(t, a)
    const message = 'two separate streams'
    for (const key of [undefined, undefined, 'k-a', 'k-b']) {
      const r = await streamReq(t, a, agent.id, message, key)
      expect(r.status).toBe(200)
      expect(parseSse(await r.text()).at(-1)!.event).toBe('result')
    }
    expect(calls(message)).toBe(4)
    const other = await streamReq(t, a, agent.id, 'something else', 'k-a')
    expect(other.status).toBe(409)
    expect(((await other.json()) as any).code).toBe('idempotency_conflict')
  })

  test('a stream that fails at once (unknown agent) frees the key for a corrected retry', async () => {
    const t = await makeTestApp({ config: { openaiBaseUrl: double.openaiBaseUrl, defaultModel: 'test-model' } })
    const a = await makeActor(t)
    const agent = await insertAgent(t, a)
    const missing = await streamReq(t, a, 'char_nope', 'hello', 'k-fail')
    expect(missing.status).toBe(404)
    const again = await streamReq(t, a, 'char_nope', 'hello', 'k-fail')
    expect(again.status).toBe(404) // not 409: nothing was started
    expect((await streamReq(t, a, agent.id, 'hello', 'k-ok')).status).toBe(200)
  })
})
