/**
 * The model provider's rate limit (429) and overload (503, Anthropic's 529, or an error event in
 * the middle of its stream), through HTTP against the scripted provider: a synchronous execute
 * answers 503 `provider_rate_limited` / `provider_overloaded` with the provider's Retry-After
 * (when it sent one), a stream ends with an `error` event of the same code, and the execution
 * (GET /executions/{id}, after an async execute too) is failed with that code and a message that
 * says so. The provider is asked once: teamday does not retry it.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { makeActor } from './helpers/app'
import { agent, antEv, exec, getExec, getLogs, makeTestApp, oaiText, rawStream, startScripted, until, type Scripted } from './helpers/scripted-provider'
import { parseSse } from './helpers/providers'

let p: Scripted
beforeAll(() => {
  p = startScripted()
})
afterAll(() => p.stop())

async function openaiSetup() {
  const t = await makeTestApp({ config: { openaiBaseUrl: p.openaiBaseUrl, openaiApiKey: 'test-key-0123456789', defaultModel: 'test-model' } })
  const a = await makeActor(t)
  return { t, a, ag: await agent(t, a) }
}

async function anthropicSetup() {
  const t = await makeTestApp({ config: { anthropicApiKey: 'sk-ant-test-0123456789', anthropicBaseUrl: p.anthropicBaseUrl, defaultModel: 'claude-x' } })
  const a = await makeActor(t)
  return { t, a, ag: await agent(t, a) }
}

const openaiLimit = (status: number, headers: Record<string, string> = {}, error: object = { message: 'Rate limit reached for requests', type: 'requests', code: 'rate_limit_exceeded' }) => () =>
  Response.json({ error }, { status, headers })
const anthropicLimit = (status: number, type: string, headers: Record<string, string> = {}) => () =>
  Response.json({ type: 'error', error: { type, message: type === 'overloaded_error' ? 'Overloaded' : 'Number of requests has exceeded your rate limit' } }, { status, headers })

type Setup = Awaited<ReturnType<typeof openaiSetup>>

/** A synchronous execute, a streamed one and an async one polled to its end; each run asks the provider once. */
async function allThree(o: Setup) {
  const before = p.requests.length
  const sync = await exec(o.t, o.a, o.ag.id, { message: 'hi' })
  expect(p.requests.length - before).toBe(1)
  const stream = await exec(o.t, o.a, o.ag.id, { message: 'hi', stream: true })
  expect(stream.status).toBe(200)
  const last = parseSse(stream.text).at(-1)!
  expect(last.event).toBe('error')
  expect(p.requests.length - before).toBe(2)
  const accepted = await exec(o.t, o.a, o.ag.id, { message: 'hi', async: true })
  expect(accepted.status).toBe(202)
  await until(async () => (await getExec(o.t, o.a, accepted.body.executionId)).status === 'failed')
  expect(p.requests.length - before).toBe(3)
  const rows = await Promise.all([sync.body.details.executionId, last.data.executionId, accepted.body.executionId].map((id: string) => getExec(o.t, o.a, id)))
  return { sync, event: last.data, rows }
}

describe('the provider rate-limits or is overloaded', () => {
  test('OpenAI-compatible 429 with Retry-After: 503 provider_rate_limited with Retry-After 7, the same code in the stream and on the execution', async () => {
    const o = await openaiSetup()
    p.handler = openaiLimit(429, { 'retry-after': '7' })
    const { sync, event, rows } = await allThree(o)
    expect(sync.status).toBe(503)
    expect(sync.headers.get('retry-after')).toBe('7')
    expect(sync.body).toMatchObject({ code: 'provider_rate_limited', statusMessage: 'Service Unavailable', details: { status: 'failed', retryAfterSeconds: 7 } })
    const stored = "Model provider error: the provider's rate limit was reached, retry after 7 s: Rate limit reached for requests (HTTP 429)"
    expect(sync.body.message).toBe(`Execution ${sync.body.details.executionId} failed: ${stored}`)
    expect(event).toMatchObject({ code: 'provider_rate_limited', status: 'failed', retryAfterSeconds: 7 })
    for (const row of rows) expect({ status: row.status, errorCode: row.errorCode, error: row.error }).toEqual({ status: 'failed', errorCode: 'provider_rate_limited', error: stored })
    // The execution's log and the server log say so too.
    expect((await getLogs(o.t, o.a, rows[0].id)).map((l: any) => l.event)).toEqual(['started', 'provider_error'])
    const line = o.t.logs.map((l) => JSON.parse(l)).find((l) => l.msg === 'execution_failed' && l.executionId === rows[0].id)
    expect(line).toMatchObject({ errorCode: 'provider_rate_limited', providerStatus: 429, retryAfterSeconds: 7 })
  })

  test('retry-after-ms (OpenAI) is rounded up to seconds; an HTTP date is counted from now', async () => {
    const o = await openaiSetup()
    p.handler = openaiLimit(429, { 'retry-after-ms': '1500', 'retry-after': '9' })
    let r = await exec(o.t, o.a, o.ag.id, { message: 'hi' })
    expect({ status: r.status, retryAfter: r.headers.get('retry-after'), seconds: r.body.details.retryAfterSeconds }).toEqual({ status: 503, retryAfter: '2', seconds: 2 })
    p.handler = openaiLimit(503, { 'retry-after': new Date(o.t.clock.now() + 30_000).toUTCString() }, { message: 'Service Unavailable' })
    r = await exec(o.t, o.a, o.ag.id, { message: 'hi' })
    expect({ status: r.status, code: r.body.code, retryAfter: r.headers.get('retry-after') }).toEqual({ status: 503, code: 'provider_overloaded', retryAfter: '30' })
    // At least 1 s: a provider's 0, or a date already past, was passed on as Retry-After: 0.
    for (const headers of [{ 'retry-after': '0' }, { 'retry-after-ms': '0' }, { 'retry-after': new Date(o.t.clock.now() - 60_000).toUTCString() }] as Record<string, string>[]) {
      p.handler = openaiLimit(429, headers)
      r = await exec(o.t, o.a, o.ag.id, { message: 'hi' })
      expect({ headers, status: r.status, retryAfter: r.headers.get('retry-after'), seconds: r.body.details.retryAfterSeconds }).toEqual({ headers, status: 503, retryAfter: '1', seconds: 1 })
    }
  })

  test('Anthropic 529 overloaded without Retry-After: 503 provider_overloaded, Retry-After 5 (the server\'s default), no retryAfterSeconds', async () => {
    const o = await anthropicSetup()
    p.handler = anthropicLimit(529, 'overloaded_error')
    const { sync, event, rows } = await allThree(o)
    expect(sync.status).toBe(503)
    expect(sync.headers.get('retry-after')).toBe('5')
    expect(sync.body.code).toBe('provider_overloaded')
    expect(sync.body.details).toEqual({ executionId: rows[0].id, status: 'failed' })
    expect(event.code).toBe('provider_overloaded')
    expect(event.retryAfterSeconds).toBeUndefined()
    for (const row of rows) expect({ errorCode: row.errorCode, error: row.error }).toEqual({ errorCode: 'provider_overloaded', error: 'Model provider error: the provider is overloaded: Overloaded (HTTP 529)' })
  })

  test('Anthropic 429 rate_limit_error with Retry-After: provider_rate_limited', async () => {
    const o = await anthropicSetup()
    p.handler = anthropicLimit(429, 'rate_limit_error', { 'retry-after': '12' })
    const r = await exec(o.t, o.a, o.ag.id, { message: 'hi' })
    expect({ status: r.status, code: r.body.code, retryAfter: r.headers.get('retry-after') }).toEqual({ status: 503, code: 'provider_rate_limited', retryAfter: '12' })
  })

  test('Anthropic overloaded_error in the middle of its stream: provider_overloaded (the partial answer is not an answer)', async () => {
    const o = await anthropicSetup()
    p.handler = () =>
      rawStream([
        antEv('message_start', { message: { id: 'msg_1', type: 'message', role: 'assistant', model: 'claude-x', content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 13, output_tokens: 1 } } }),
        antEv('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }),
        antEv('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'Half an ' } }),
        antEv('error', { error: { type: 'overloaded_error', message: 'Overloaded' } }),
      ])
    const r = await exec(o.t, o.a, o.ag.id, { message: 'hi' })
    expect({ status: r.status, code: r.body.code }).toEqual({ status: 503, code: 'provider_overloaded' })
    expect((await getExec(o.t, o.a, r.body.details.executionId)).errorCode).toBe('provider_overloaded')
  })

  test('a 429 for an exhausted quota (insufficient_quota) does not pass by waiting: 502 bad_gateway, as any other provider error', async () => {
    const o = await openaiSetup()
    p.handler = openaiLimit(429, {}, { message: 'You exceeded your current quota, please check your plan and billing details.', type: 'insufficient_quota', code: 'insufficient_quota' })
    const r = await exec(o.t, o.a, o.ag.id, { message: 'hi' })
    expect({ status: r.status, code: r.body.code, retryAfter: r.headers.get('retry-after') }).toEqual({ status: 502, code: 'bad_gateway', retryAfter: null })
    expect((await getExec(o.t, o.a, r.body.details.executionId)).errorCode).toBe('bad_gateway')
  })

  test('a provider message that quotes "retry after N s" does not set Retry-After; other provider errors stay 502 with errorCode bad_gateway', async () => {
    const o = await openaiSetup()
    p.handler = openaiLimit(429, {}, { message: 'x, retry after 99 s: y' })
    let r = await exec(o.t, o.a, o.ag.id, { message: 'hi' })
    expect({ status: r.status, retryAfter: r.headers.get('retry-after'), details: r.body.details.retryAfterSeconds }).toEqual({ status: 503, retryAfter: '5', details: undefined })
    p.handler = () => rawStream([oaiText('The deploy ')], { error: true })
    r = await exec(o.t, o.a, o.ag.id, { message: 'hi' })
    expect({ status: r.status, code: r.body.code }).toEqual({ status: 502, code: 'bad_gateway' })
    expect((await getExec(o.t, o.a, r.body.details.executionId)).errorCode).toBe('bad_gateway')
  })
})
