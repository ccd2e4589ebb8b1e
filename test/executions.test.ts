import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { agents, spaces } from '../src/db/schema'
import { newId } from '../src/ids'
import { makeActor, makeTestApp, type Actor, type TestApp } from './helpers/app'
import { parseSse, startProviderDouble, type ProviderDouble } from './helpers/providers'
import { rawStream, oaiFull, startScripted, until } from './helpers/scripted-provider'

let double: ProviderDouble
beforeAll(() => {
  double = startProviderDouble()
})
afterAll(() => double.stop())

export async function insertAgent(t: TestApp, owner: Actor, o: Partial<typeof agents.$inferInsert> = {}) {
  const now = new Date(t.clock.now())
  return await t.db
    .insert(agents)
    .values({ id: newId('char'), organizationId: owner.organizationId, userId: owner.userId, name: 'Helper', slug: `helper-${String(Math.random()).slice(2)}`, systemPrompt: 'You are a helpful test agent.', visibility: 'organization', createdAt: now, updatedAt: now, ...o })
    .returning()
    .get()
}

export async function insertSpace(t: TestApp, owner: Actor, o: Partial<typeof spaces.$inferInsert> = {}) {
  const now = new Date(t.clock.now())
  const id = newId('space')
  return await t.db
    .insert(spaces)
    .values({ id, organizationId: owner.organizationId, createdBy: owner.userId, name: 'Docs', slug: id.toLowerCase().replace('_', '-'), visibility: 'organization', instructions: 'Always answer in English.', createdAt: now, updatedAt: now, ...o })
    .returning()
    .get()
}

export function raw(t: TestApp, method: string, path: string, token: string, body?: unknown, headers: Record<string, string> = {}) {
  return t.app.handle(new Request(`http://localhost${path}`, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...headers }, body: body === undefined ? undefined : JSON.stringify(body) }))
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** The execution once `until` holds of it, or as it is after `ms` (generous: a loaded CI machine can be seconds behind). */
async function poll(t: TestApp, a: Actor, id: string, until: (e: any) => boolean, ms = 10_000) {
  const end = Date.now() + ms
  for (;;) {
    const r = await t.req('GET', `/api/v1/executions/${id}`, { token: a.token })
    if (r.body.execution === undefined) throw new Error(`GET /executions/${id}: ${r.status} ${r.text.slice(0, 300)}`)
    if (until(r.body.execution) || Date.now() > end) return r.body.execution
    await sleep(20)
  }
}

const openaiApp = (extra = {}) => makeTestApp({ config: { openaiBaseUrl: double.openaiBaseUrl, defaultModel: 'test-model', ...extra } })

describe('execute, sync (OpenAI-compatible)', () => {
  test('200 with result, messages, usage; the execution is recorded', async () => {
    const t = await openaiApp()
    const a = await makeActor(t)
    const agent = await insertAgent(t, a)
    const space = await insertSpace(t, a)
    const r = await t.req('POST', `/api/v1/agents/${agent.id}/execute`, { token: a.token, body: { message: 'hello', spaceId: space.id } })
    expect(r.status).toBe(200)
    expect(r.body).toMatchObject({ success: true, status: 'completed', result: 'Echo: hello (user turns: 1)', usage: { inputTokens: 11, outputTokens: 7 } })
    expect(r.body.executionId).toStartWith('exec_')
    expect(r.body.id).toBe(r.body.executionId)
    expect(r.body.messages.map((m: any) => m.role)).toEqual(['user', 'assistant'])
    const sent = double.requests.at(-1)!.body
    expect(sent.model).toBe('test-model')
    expect(sent.messages[0]).toEqual({ role: 'system', content: expect.stringContaining('Always answer in English.') })
    expect(sent.messages[0].content).toContain('You are a helpful test agent.')
    const g = await t.req('GET', `/api/v1/executions/${r.body.executionId}`, { token: a.token })
    expect(g.status).toBe(200)
    expect(g.body.execution).toMatchObject({ status: 'completed', agentId: agent.id, agentName: 'Helper', spaceId: space.id, tokensInput: 11, tokensOutput: 7, provider: 'openai', model: 'test-model' })
    expect(g.body.execution.executionTime).toBeGreaterThanOrEqual(0)
  })
})

describe('a model answer holding the NUL character (PostgreSQL text cannot store it)', () => {
  test('the run completes, sync and streamed; its stored result and messages, and the streamed events, have U+FFFD in its place', async () => {
    const t = await openaiApp()
    const a = await makeActor(t)
    const agent = await insertAgent(t, a)
    const space = await insertSpace(t, a)
    const r = await t.req('POST', `/api/v1/agents/${agent.id}/execute`, { token: a.token, body: { message: 'answer with NUL', spaceId: space.id } })
    expect([r.status, r.body.status]).toEqual([200, 'completed'])
    expect(r.body.result).toBe('before\uFFFDafter')
    const g = await t.req('GET', `/api/v1/executions/${r.body.executionId}`, { token: a.token })
    expect(g.body.execution.status).toBe('completed')
    expect(g.body.execution.result).toBe('before\uFFFDafter')
    expect(JSON.stringify(g.body)).not.toContain('\\u0000')
    const s = await t.req('POST', `/api/v1/agents/${agent.id}/execute`, { token: a.token, body: { message: 'answer with NUL', spaceId: space.id, stream: true } })
    expect(s.status).toBe(200)
    // The stream says what is stored: U+FFFD, not the NUL (as \u0000 in the events' JSON).
    expect(s.text).toContain('before\uFFFD')
    expect(s.text).not.toContain('\\u0000')
    expect(s.text).not.toContain('\u0000')
    const done = await poll(t, a, s.headers.get('x-execution-id') ?? (await t.req('GET', '/api/v1/executions', { token: a.token })).body[0].id, (e) => e?.status !== 'running' && e?.status !== 'pending')
    expect(done.status).toBe('completed')
    // Nothing internal in what the run recorded or logged: no statement, no bound values.
    expect(t.logs.join('\n')).not.toContain('Failed query')
  })
})

describe('execute, stream', () => {
  test('stream:true gives meta, Anthropic-shaped message events, result', async () => {
    const t = await openaiApp()
    const a = await makeActor(t)
    const agent = await insertAgent(t, a)
    const res = await raw(t, 'POST', `/api/v1/agents/${agent.id}/execute`, a.token, { message: 'stream me', stream: true })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toContain('text/event-stream')
    const events = parseSse(await res.text())
    expect(events[0]!.event).toBe('meta')
    expect(events[0]!.data.executionId).toStartWith('exec_')
    expect(events[0]!.data.sessionId).toBeString()
    const deltas = events.filter((e) => e.event === 'message' && e.data.type === 'content_block_delta')
    expect(deltas.length).toBeGreaterThan(1)
    expect(deltas.map((e) => e.data.delta.text).join('')).toBe('Echo: stream me (user turns: 1)')
    expect(deltas[0]!.data.delta.type).toBe('text_delta')
    const last = events.at(-1)!
    expect(last.event).toBe('result')
    expect(last.data).toMatchObject({ success: true, status: 'completed', result: 'Echo: stream me (user turns: 1)', executionId: events[0]!.data.executionId })
  })

  test('Accept: text/event-stream streams too; provider failure ends with event: error', async () => {
    const t = await openaiApp()
    const a = await makeActor(t)
    const agent = await insertAgent(t, a)
    const res = await raw(t, 'POST', `/api/v1/agents/${agent.id}/execute`, a.token, { message: 'please FAIL' }, { accept: 'text/event-stream' })
    const events = parseSse(await res.text())
    expect(events[0]!.event).toBe('meta')
    expect(events.at(-1)!.event).toBe('error')
    expect(events.at(-1)!.data.message).toContain('upstream exploded')
    expect(events.at(-1)!.data.code).toBe('bad_gateway')
  })

  test('Accept is negotiated: types without case, q weights; a wildcard or text/event-stream;q=0 gets JSON', async () => {
    const t = await openaiApp()
    const a = await makeActor(t)
    const agent = await insertAgent(t, a)
    const cases: [string, string][] = [
      ['TEXT/Event-Stream', 'text/event-stream'],
      ['application/json;q=0.5, text/event-stream', 'text/event-stream'],
      ['text/event-stream, application/json', 'text/event-stream'],
      ['text/event-stream;q=0', 'application/json'],
      ['text/event-stream;q=0.1, application/json', 'application/json'],
      ['*/*', 'application/json'],
      ['text/event-streams', 'application/json'],
    ]
    for (const [accept, type] of cases) {
      const res = await raw(t, 'POST', `/api/v1/agents/${agent.id}/execute`, a.token, { message: 'hi' }, { accept })
      expect([accept, res.status, res.headers.get('content-type')?.split(';')[0]]).toEqual([accept, 200, type])
      await res.text()
    }
  })
})

describe('execute, async and sessions', () => {
  test('async:true answers 202 pending; polling shows completed', async () => {
    const t = await openaiApp()
    const a = await makeActor(t)
    const agent = await insertAgent(t, a)
    const r = await t.req('POST', `/api/v1/agents/${agent.id}/execute`, { token: a.token, body: { message: 'later', async: true } })
    expect(r.status).toBe(202)
    expect(r.body).toEqual({ success: true, executionId: expect.stringMatching(/^exec_/), status: 'pending' })
    const e = await poll(t, a, r.body.executionId, (x) => x.status === 'completed')
    expect(e.status).toBe('completed')
    expect(e.result).toBe('Echo: later (user turns: 1)')
  })

  // `stream: true` with `async: true` answered the async 202 (JSON) to a client waiting for
  // events; so did `async: true` with `Accept: text/event-stream`.
  test('async with a stream asked for (stream: true, or Accept: text/event-stream without stream: false) is 422 naming both, nothing started; stream: false keeps the 202', async () => {
    const t = await openaiApp()
    const a = await makeActor(t)
    const agent = await insertAgent(t, a)
    const count = async () => ((await t.req('GET', '/api/v1/executions', { token: a.token })).body as any[]).length
    for (const path of [`/api/v1/agents/${agent.id}/execute`, '/api/v1/execute']) {
      const runs = await count()
      const both = await raw(t, 'POST', path, a.token, { message: 'both', async: true, stream: true })
      expect(both.status).toBe(422)
      const bothBody = (await both.json()) as any
      expect(bothBody).toMatchObject({ error: true, code: 'validation_failed' })
      expect(bothBody.message).toStartWith('Validation failed: stream: true asks for Server-Sent Events as the run goes, and async: true for a 202 at once without them: send one of them')
      expect(bothBody.details.map((d: any) => d.field)).toEqual(['stream', 'async'])
      for (const accept of ['text/event-stream', 'application/json;q=0.5, text/event-stream']) {
        const r = await raw(t, 'POST', path, a.token, { message: 'accept', async: true }, { accept })
        expect(r.status).toBe(422)
        const body = (await r.json()) as any
        expect(body.code).toBe('validation_failed')
        expect(body.message).toContain('Accept: text/event-stream asks for Server-Sent Events')
        expect(body.details.map((d: any) => d.field)).toEqual(['Accept', 'async'])
      }
      // Nothing recorded, and the provider never asked (the 202 runs below go on meanwhile).
      expect(await count()).toBe(runs)
      expect(double.requests.filter((q) => (q.body.messages as any[])?.some((m) => m.content === 'both' || m.content === 'accept'))).toEqual([])
      // Not a stream asked for: stream: false, or an Accept that prefers JSON.
      for (const [body, accept] of [[{ stream: false }, 'text/event-stream'], [{}, 'text/event-stream;q=0.5, application/json']] as const) {
        const r = await raw(t, 'POST', path, a.token, { message: 'later', async: true, ...body }, { accept })
        expect(r.status).toBe(202)
        const accepted = (await r.json()) as any
        expect(accepted.status).toBe('pending')
        expect((await poll(t, a, accepted.executionId, (x) => x.status === 'completed')).status).toBe('completed')
      }
    }
  })

  test('a later execute with the sessionId (or chatId) continues the conversation', async () => {
    const t = await openaiApp()
    const a = await makeActor(t)
    const agent = await insertAgent(t, a)
    const first = await t.req('POST', `/api/v1/agents/${agent.id}/execute`, { token: a.token, body: { message: 'one' } })
    const second = await t.req('POST', `/api/v1/agents/${agent.id}/execute`, { token: a.token, body: { message: 'two', sessionId: first.body.sessionId } })
    expect(second.body.result).toBe('Echo: two (user turns: 2)')
    expect(second.body.sessionId).toBe(first.body.sessionId)
    const sent = double.requests.at(-1)!.body.messages
    expect(sent.map((m: any) => m.role)).toEqual(['system', 'user', 'assistant', 'user'])
    expect(sent[2].content).toBe('Echo: one (user turns: 1)')
    const third = await t.req('POST', `/api/v1/agents/${agent.id}/execute`, { token: a.token, body: { message: 'three', chatId: first.body.chatId } })
    expect(third.body.result).toBe('Echo: three (user turns: 3)')
    const fresh = await t.req('POST', `/api/v1/agents/${agent.id}/execute`, { token: a.token, body: { message: 'new' } })
    expect(fresh.body.result).toBe('Echo: new (user turns: 1)')
  })
})

describe('errors', () => {
  test('no provider configured: 501 no_model_provider naming the variables; nothing recorded', async () => {
    const t = await makeTestApp()
    const a = await makeActor(t)
    const agent = await insertAgent(t, a)
    const r = await t.req('POST', `/api/v1/agents/${agent.id}/execute`, { token: a.token, body: { message: 'hi' } })
    expect(r.status).toBe(501)
    expect(r.body.code).toBe('no_model_provider')
    expect(r.body.message).toContain('OPENAI_BASE_URL')
    expect(r.body.message).toContain('ANTHROPIC_API_KEY')
    const list = await t.req('GET', '/api/v1/executions', { token: a.token })
    expect(list.body).toEqual([])
  })

  test('provider 500: 502 bad_gateway and the execution failed with the provider message', async () => {
    const t = await openaiApp()
    const a = await makeActor(t)
    const agent = await insertAgent(t, a)
    const r = await t.req('POST', `/api/v1/agents/${agent.id}/execute`, { token: a.token, body: { message: 'FAIL now' } })
    expect(r.status).toBe(502)
    expect(r.body.code).toBe('bad_gateway')
    expect(r.body.message).toContain('upstream exploded')
    const id = r.body.details.executionId
    const g = await t.req('GET', `/api/v1/executions/${id}`, { token: a.token })
    expect(g.body.execution.status).toBe('failed')
    expect(g.body.execution.error).toContain('upstream exploded')
  })

  test('timeout: 504 gateway_timeout, failed "timed out", provider request aborted', async () => {
    const t = await openaiApp({ executionTimeoutMs: 300 })
    const a = await makeActor(t)
    const agent = await insertAgent(t, a)
    const before = double.aborted
    // The model never answers: only the 300 ms timeout ends the request (waited for generously:
    // a loaded machine can be seconds behind).
    let timer: ReturnType<typeof setTimeout> | undefined
    const r = await Promise.race([
      t.req('POST', `/api/v1/agents/${agent.id}/execute`, { token: a.token, body: { message: 'HANG' } }),
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('no answer within 10 s: the execution timeout did not end the run')), 10_000))),
    ]).finally(() => clearTimeout(timer))
    expect(r.status).toBe(504)
    expect(r.body.code).toBe('gateway_timeout')
    expect(r.body.message).toContain('timed out')
    const g = await t.req('GET', `/api/v1/executions/${r.body.details.executionId}`, { token: a.token })
    expect(g.body.execution).toMatchObject({ status: 'failed', error: expect.stringContaining('timed out') })
    // The double sees the abort when the connection closes: a moment later, more on a loaded machine.
    await until(() => double.aborted > before)
  })

  test('viewer 403; foreign or archived agent 404; foreign space 404; 422 without message', async () => {
    const t = await openaiApp()
    const a = await makeActor(t)
    const viewer = await makeActor(t, { role: 'viewer' })
    const other = await makeActor(t, { org: 'other' })
    const agent = await insertAgent(t, a)
    const archived = await insertAgent(t, a, { archived: true, archivedAt: new Date() })
    const foreign = await insertAgent(t, other)
    const foreignSpace = await insertSpace(t, other)
    const path = (id: string) => `/api/v1/agents/${id}/execute`
    const v = await t.req('POST', path(agent.id), { token: viewer.token, body: { message: 'hi' } })
    expect(v.status).toBe(403)
    expect(v.body.code).toBe('forbidden')
    for (const id of [archived.id, foreign.id, 'char_nope']) {
      const r = await t.req('POST', path(id), { token: a.token, body: { message: 'hi' } })
      expect(r.status).toBe(404)
      expect(r.body.code).toBe('not_found')
    }
    const s = await t.req('POST', path(agent.id), { token: a.token, body: { message: 'hi', spaceId: foreignSpace.id } })
    expect(s.status).toBe(404)
    const m = await t.req('POST', path(agent.id), { token: a.token, body: {} })
    expect(m.status).toBe(422)
    expect(m.body.message).toContain('message')
    // Too long was said as "message is required".
    const long = await t.req('POST', path(agent.id), { token: a.token, body: { message: 'm'.repeat(200_001) } })
    expect([long.status, long.body.message]).toEqual([422, 'Validation failed: message must be a non-empty string of at most 200000 characters (it is required)'])
    // A blank spaceId (`"spaceId": "$SPACE"` with SPACE unset) ran the agent without a space: 422, nothing recorded.
    const before = (await t.req('GET', '/api/v1/executions?limit=200', { token: a.token })).body.length
    for (const [p, spaceId] of [[path(agent.id), ''], [path(agent.id), '   '], ['/api/v1/execute', '']] as const) {
      for (const extra of [{}, { async: true }, { stream: true }]) {
        const b = await t.req('POST', p, { token: a.token, body: { message: 'hi', spaceId, ...extra } })
        expect([p, spaceId, extra, b.status, b.body?.code, b.body?.details]).toEqual([p, spaceId, extra, 422, 'validation_failed', [{ field: 'spaceId', message: "spaceId is blank: leave it out to run without a space, or give a space's id or slug" }]])
      }
    }
    // A message of white space alone ran the agent on nothing: 422, nothing recorded.
    for (const [p, message] of [[path(agent.id), ' '], [path(agent.id), '\n\t '], ['/api/v1/execute', '   ']] as const) {
      for (const extra of [{}, { async: true }, { stream: true }]) {
        const b = await t.req('POST', p, { token: a.token, body: { message, ...extra } })
        expect([p, message, extra, b.status, b.body?.code, b.body?.details]).toEqual([p, message, extra, 422, 'validation_failed', [{ field: 'message', message: 'message is blank: give the agent an instruction (white space alone is none)' }]])
      }
    }
    expect((await t.req('GET', '/api/v1/executions?limit=200', { token: a.token })).body.length).toBe(before)
    const priv = await insertAgent(t, other, { visibility: 'private' })
    const me = await makeActor(t, { org: 'other' })
    expect((await t.req('POST', path(priv.id), { token: me.token, body: { message: 'hi' } })).status).toBe(404)
  })
})

describe('a cancel and the end of a run at the same moment: one end, told the same way everywhere', () => {
  test('cancelled (by another instance) while the answer was on its way: stays cancelled, keeps the answer, no completed event', async () => {
    // The model's answer is held until the cancel is recorded, and the cancel waits for the model
    // call: the order this test is about, by construction rather than by timing. A row that says
    // `running` is not yet a model call under way: the queue's claim sets that status, and the
    // run's own start (runJob) comes a few statements later; a cancel recorded in between ends
    // the run before it calls the model, with no answer to keep (right, and what this test used to
    // meet now and then on PostgreSQL, where those statements take round trips).
    const model = startScripted()
    let release!: () => void
    const held = new Promise<void>((r) => (release = r))
    model.handler = async () => {
      await held
      return rawStream(oaiFull('hi from the model'))
    }
    try {
      const t = await makeTestApp({ config: { openaiBaseUrl: model.openaiBaseUrl, defaultModel: 'test-model' } })
      const a = await makeActor(t)
      const agentId = (await t.req('POST', '/api/v1/agents', { token: a.token, body: { name: 'A' } })).body.id
      const id = (await t.req('POST', `/api/v1/agents/${agentId}/execute`, { token: a.token, body: { message: 'hi', async: true } })).body.executionId
      await until(() => model.requests.length === 1)
      // This instance's own look for a cancel (every CANCEL_POLL_MS) comes after the answer here,
      // as it does when the cancel commits on another instance just before the answer arrives:
      // had it come first, it would abort the model call and there would be no answer to keep.
      ;(t.rt.engine as unknown as { tick: () => Promise<void> }).tick = async () => {}
      // What a cancel through another instance does: it records the status.
      const { executions } = await import('../src/db/schema')
      const { eq } = await import('drizzle-orm')
      await t.rt.db.update(executions).set({ status: 'cancelled', error: 'Cancelled by request', completedAt: new Date(t.clock.now()) }).where(eq(executions.id, id)).run()
      release()
      // Until the run's end is logged, whichever end it is; then the row as it ended.
      const lines = () => t.logs.map((l) => JSON.parse(l)).filter((l) => l.executionId === id).map((l) => l.msg)
      await until(() => lines().some((m) => m === 'execution_cancelled' || m === 'execution_finished'))
      const row = (await t.req('GET', `/api/v1/executions/${id}`, { token: a.token })).body.execution
      expect(row.status).toBe('cancelled')
      expect(row.result).toBe('hi from the model')
      const events = (await t.req('GET', `/api/v1/executions/${id}/logs`, { token: a.token })).body.logs.map((l: any) => l.event)
      expect(events).not.toContain('completed')
      expect(lines()).toContain('execution_cancelled')
      expect(lines()).not.toContain('execution_finished')
    } finally {
      release()
      model.stop()
    }
  }, 30_000)

  test('cancels sent as runs end: a 200 says cancelled, a 409 says it had ended; the log agrees with the row', async () => {
    const t = await openaiApp({ maxConcurrentExecutions: 50 })
    const a = await makeActor(t)
    const agentId = (await t.req('POST', '/api/v1/agents', { token: a.token, body: { name: 'A' } })).body.id
    const bad: string[] = []
    for (let i = 0; i < 16; i++) {
      const id = (await t.req('POST', `/api/v1/agents/${agentId}/execute`, { token: a.token, body: { message: 'PAUSE 60 hi', async: true } })).body.executionId
      await sleep(40 + (i % 8) * 5)
      const c = await t.req('POST', `/api/v1/executions/${id}/cancel`, { token: a.token })
      await sleep(120)
      const row = (await t.req('GET', `/api/v1/executions/${id}`, { token: a.token })).body.execution
      const events = (await t.req('GET', `/api/v1/executions/${id}/logs`, { token: a.token })).body.logs.map((l: any) => l.event)
      if (c.status === 200 && c.body.execution.status !== 'cancelled') bad.push(`${i}: 200 with ${c.body.execution.status}`)
      if (c.status === 409 && row.status === 'cancelled') bad.push(`${i}: 409 but cancelled`)
      if (events.includes('cancelled') !== (row.status === 'cancelled')) bad.push(`${i}: row ${row.status}, log ${events}`)
      if (row.status === 'cancelled' && events.includes('completed')) bad.push(`${i}: cancelled and completed: ${events}`)
    }
    expect(bad).toEqual([])
  }, 60_000)
})

describe('the database out of reach when a run ends', () => {
  /**
   * The run's final write (status completed) meets `refusals` refused connections (the database
   * restarting), then goes through; the model is the double (PAUSE 50: a short answer).
   */
  async function finalWriteRefused(t: Awaited<ReturnType<typeof openaiApp>>, refusals: number) {
    const a = await makeActor(t)
    const agentId = (await t.req('POST', '/api/v1/agents', { token: a.token, body: { name: 'A' } })).body.id
    const { executions } = await import('../src/db/schema')
    const db = t.rt.db as unknown as { update: (table: unknown) => unknown }
    const update = db.update.bind(db)
    let refused = 0
    db.update = (table: unknown) => {
      const builder = update(table) as { set: (patch: { status?: string }) => unknown }
      if (table !== executions) return builder
      const set = builder.set.bind(builder)
      builder.set = (patch) => {
        if (refused < refusals && patch.status === 'completed') {
          refused++
          throw Object.assign(new Error('connect ECONNREFUSED 10.0.0.5:5432'), { code: 'ECONNREFUSED' })
        }
        return set(patch)
      }
      return builder
    }
    try {
      const r = await t.req('POST', `/api/v1/agents/${agentId}/execute`, { token: a.token, body: { message: 'PAUSE 50 hi' } })
      return { r, a, refused }
    } finally {
      db.update = update
    }
  }

  test('a short outage: the final write is tried again, the answer is kept and the run completes', async () => {
    const t = await openaiApp()
    const { r, a, refused } = await finalWriteRefused(t, 3)
    expect(refused).toBe(3)
    expect([r.status, r.body.status]).toEqual([200, 'completed'])
    expect(r.body.result).toBe('Echo: PAUSE 50 hi (user turns: 1)')
    const row = (await t.req('GET', `/api/v1/executions/${r.body.executionId}`, { token: a.token })).body.execution
    expect([row.status, row.result, row.error]).toEqual(['completed', 'Echo: PAUSE 50 hi (user turns: 1)', null])
    const retried = t.logs.filter((l) => l.includes('execution_record_retried'))
    expect(retried).toHaveLength(3)
    expect(t.logs.some((l) => l.includes('execution_finished'))).toBe(true)
    expect(t.logs.some((l) => l.includes('execution_record_failed'))).toBe(false)
  })

  test('longer than half a lease: the run fails as service_unavailable (503 to a synchronous execute), never naming the database address, never as a provider error', async () => {
    // A lease of 1 s: the write is tried for 0.5 s (50 + 100 + 200 ms of pauses), then given up.
    const t = await openaiApp({ executionLeaseMs: 1000 })
    const { r, a, refused } = await finalWriteRefused(t, 1000)
    expect(refused).toBeGreaterThanOrEqual(2)
    expect(refused).toBeLessThan(10)
    expect([r.status, r.body.code]).toEqual([503, 'service_unavailable'])
    expect(r.text).not.toContain('10.0.0.5')
    const row = (await t.req('GET', `/api/v1/executions/${r.body.details.executionId}`, { token: a.token })).body.execution
    expect(row.status).toBe('failed')
    expect(row.error).toContain('database could not be reached')
    expect(row.error).not.toContain('10.0.0.5')
    expect(t.logs.some((l) => l.includes('execution_record_failed') && l.includes('ECONNREFUSED'))).toBe(true)
  })
})

describe('the database connection lost around a run (found probing the binary: pg_terminate_backend under load)', () => {
  /** A lease far longer than the test: no sweep fails a row here, only what the engine does itself. */
  const LONG_LEASE = { executionLeaseMs: 600_000 }
  const lost = () => Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })
  /**
   * The app's next transaction whose result is an execution in `status` commits, and its answer
   * is lost with the connection (the error a terminated backend gives): `lostId()` says which
   * execution it was; `restore()` puts the connection's transaction back.
   */
  const loseAnswerOnce = async (t: TestApp, status: 'pending' | 'running') => {
    const { connectionOf } = await import('../src/db/connection')
    const conn = connectionOf(t.rt.db) as { transaction: (fn: (tx: unknown) => Promise<unknown>) => Promise<unknown> }
    const transaction = conn.transaction.bind(conn)
    let id: string | undefined
    conn.transaction = async (fn) => {
      const result = (await transaction(fn)) as { id?: string; status?: string } | undefined
      if (id === undefined && result?.id?.startsWith('exec_') && result.status === status) {
        id = result.id
        throw lost()
      }
      return result
    }
    return { lostId: () => id, restore: () => (conn.transaction = transaction) }
  }

  test('a start recorded whose answer was lost: 503, and its row is failed at once, not left pending at the head of the queue', async () => {
    const t = await openaiApp(LONG_LEASE)
    const a = await makeActor(t)
    const agentId = (await t.req('POST', '/api/v1/agents', { token: a.token, body: { name: 'A' } })).body.id
    // The execution's transaction commits; its answer is lost with the connection.
    const lose = await loseAnswerOnce(t, 'pending')
    try {
      const r = await t.req('POST', `/api/v1/agents/${agentId}/execute`, { token: a.token, body: { message: 'hi' } })
      expect([r.status, r.body.code]).toEqual([503, 'service_unavailable'])
    } finally {
      lose.restore()
    }
    const orphan = lose.lostId()
    expect(orphan).toBeDefined()
    // Pending, owned by this instance and never queued here, it stayed the queue's head until its
    // lease lapsed: no run started, here or on any instance.
    const row = async () => (await t.req('GET', `/api/v1/executions/${orphan}`, { token: a.token })).body.execution
    await until(async () => (await row()).status === 'failed', 10_000)
    expect((await row()).errorCode).toBe('service_unavailable')
    expect(t.logs.some((l) => l.includes('execution_start_unconfirmed') && l.includes(orphan!))).toBe(true)
    const next = await t.req('POST', `/api/v1/agents/${agentId}/execute`, { token: a.token, body: { message: 'after' } })
    expect([next.status, next.body.status]).toEqual([200, 'completed'])
  }, 30_000)

  test('a claim of a queued run whose answer was lost: the run starts all the same, not left waiting, holding its slot, until a stop', async () => {
    const t = await openaiApp(LONG_LEASE)
    const a = await makeActor(t)
    const agentId = (await t.req('POST', '/api/v1/agents', { token: a.token, body: { name: 'A' } })).body.id
    // The claim's transaction (pending -> running) commits; its answer is lost with the connection.
    const lose = await loseAnswerOnce(t, 'running')
    let id: string
    try {
      const r = await t.req('POST', `/api/v1/agents/${agentId}/execute`, { token: a.token, body: { message: 'hi', async: true } })
      expect(r.status).toBe(202)
      id = r.body.executionId
      await until(() => lose.lostId() !== undefined, 10_000)
    } finally {
      lose.restore()
    }
    expect(lose.lostId()).toBe(id)
    const row = async () => (await t.req('GET', `/api/v1/executions/${id}`, { token: a.token })).body.execution
    await until(async () => (await row()).status === 'completed', 10_000)
    expect((await row()).result).toBe('Echo: hi (user turns: 1)')
  }, 30_000)

  test('a run that failed on the database and could not record that either: recorded once the database answers, not left running, holding a slot, until its lease lapses', async () => {
    const t = await openaiApp({ ...LONG_LEASE, maxConcurrentExecutions: 1 })
    const a = await makeActor(t)
    const agentId = (await t.req('POST', '/api/v1/agents', { token: a.token, body: { name: 'A' } })).body.id
    const { executionLogs, executions } = await import('../src/db/schema')
    const db = t.rt.db as unknown as { insert: (table: unknown) => unknown; update: (table: unknown) => unknown }
    const insert = db.insert.bind(db)
    const update = db.update.bind(db)
    let logRefused = 0
    let failedRefused = 0
    // The run's first log line meets a lost connection (runJob throws), and so does the write of its failure, once.
    db.insert = (table: unknown) => {
      if (table === executionLogs && logRefused === 0) {
        logRefused++
        throw lost()
      }
      return insert(table)
    }
    db.update = (table: unknown) => {
      const builder = update(table) as { set: (patch: { status?: string }) => unknown }
      if (table !== executions) return builder
      const set = builder.set.bind(builder)
      builder.set = (patch) => {
        if (patch.status === 'failed' && failedRefused === 0) {
          failedRefused++
          throw lost()
        }
        return set(patch)
      }
      return builder
    }
    let id: string
    try {
      const r = await t.req('POST', `/api/v1/agents/${agentId}/execute`, { token: a.token, body: { message: 'hi' } })
      expect([r.status, r.body.code]).toEqual([503, 'service_unavailable'])
      id = r.body.details.executionId
    } finally {
      db.insert = insert
      db.update = update
    }
    expect([logRefused, failedRefused]).toEqual([1, 1])
    const row = async () => (await t.req('GET', `/api/v1/executions/${id}`, { token: a.token })).body.execution
    await until(async () => (await row()).status === 'failed', 10_000)
    // The only slot is free again: the next run runs.
    const next = await t.req('POST', `/api/v1/agents/${agentId}/execute`, { token: a.token, body: { message: 'after' } })
    expect([next.status, next.body.status]).toEqual([200, 'completed'])
  }, 30_000)
})
