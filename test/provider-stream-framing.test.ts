/**
 * How a provider's SSE is framed, as the providers' documents and gateways send it: keep-alive
 * comments, Anthropic's `event: ping`, blank lines, CRLF, a BOM, empty `data:` lines (a gateway's
 * keep-alive), `data: [DONE]`, and every event split across chunks at every byte (inside a
 * multi-byte character too). Each run completes with the whole answer.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { makeActor } from './helpers/app'
import { agent, antEv, exec, getExec, getLogs, makeTestApp, oaiChunk, oaiFull, oaiText, oaiStop, oaiUsage, oaiDone, rawStream, scriptedApp, startScripted, type Scripted } from './helpers/scripted-provider'

let p: Scripted
beforeAll(() => {
  p = startScripted()
})
afterAll(() => p.stop())

const KEY = 'my-provider-secret-9f8e7d6c5b4a'

const antStart = antEv('message_start', { message: { id: 'msg_1', type: 'message', role: 'assistant', model: 'claude-x', content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 2, output_tokens: 1 } } })
const antText = (text: string) => [antStart, antEv('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }), antEv('content_block_delta', { index: 0, delta: { type: 'text_delta', text } }), antEv('content_block_stop', { index: 0 })]
const antEnd = (r = 'end_turn') => [antEv('message_delta', { delta: { stop_reason: r, stop_sequence: null }, usage: { output_tokens: 1 } }), antEv('message_stop', {})]

async function anthropicApp() {
  const t = await makeTestApp({ config: { anthropicApiKey: 'sk-ant-' + KEY, anthropicBaseUrl: p.anthropicBaseUrl, defaultModel: 'claude-x' } })
  const a = await makeActor(t)
  return { t, a, ag: await agent(t, a) }
}

describe('empty data lines (a gateway keep-alive)', () => {
  const empties = { 'data:': 'data:\n\n', 'data: ': 'data: \n\n', 'data:  (two spaces, CRLF)': 'data:  \r\n\r\n', 'data:\\t': 'data:\t\n\n' }
  for (const [name, empty] of Object.entries(empties)) {
    test(`openai, ${name} between events and inside one: completed with the whole answer`, async () => {
      const o = await scriptedApp(p, KEY)
      const [first, ...rest] = oaiFull('Hello there')
      p.handler = () => rawStream([empty, first!, empty, `data:\n${rest[0]!}`, empty, ...rest.slice(1)])
      const r = await exec(o.t, o.a, o.ag.id, { message: 'hi' })
      expect([r.status, r.body.result]).toEqual([200, 'Hello there'])
    })
    test(`anthropic, ${name} between events: completed with the whole answer`, async () => {
      const o = await anthropicApp()
      p.handler = () => rawStream([empty, ...antText('Hi').flatMap((e) => [e, empty]), ...antEnd()])
      const r = await exec(o.t, o.a, o.ag.id, { message: 'hi' })
      expect([r.status, r.body.result]).toEqual([200, 'Hi'])
    })
  }
})

describe('events that are not chunks of the answer (OpenAI-compatible)', () => {
  // Sent by gateways and servers between or after the chunks: usage or timings of their own, a
  // heartbeat, `choices: null`. Each failed the run after its whole answer ("Type validation failed", 502).
  const harmless: Record<string, string> = {
    'data: {}': 'data: {}\n\n',
    'no choices, usage only': oaiChunk({ usage: { prompt_tokens: 5, completion_tokens: 6, total_tokens: 11 } }),
    'choices: null': oaiChunk({ choices: null }),
    'error: null, no choices': 'data: {"error":null,"timings":{"predicted_ms":12.5}}\n\n',
    'usage that is not usage': oaiChunk({ usage: 'n/a' }),
  }
  for (const [name, event] of Object.entries(harmless)) {
    test(`${name}, between the chunks and after the last: completed with the whole answer`, async () => {
      const o = await scriptedApp(p, KEY)
      p.handler = () => rawStream([event, oaiText('Hello '), event, oaiText('there'), oaiStop(), event, oaiDone])
      const r = await exec(o.t, o.a, o.ag.id, { message: 'hi' })
      expect([r.status, r.body.status, r.body.result]).toEqual([200, 'completed', 'Hello there'])
    })
  }
  test('usage in an event without choices is counted', async () => {
    const o = await scriptedApp(p, KEY)
    p.handler = () => rawStream([oaiText('Hello'), oaiStop(), oaiChunk({ usage: { prompt_tokens: 5, completion_tokens: 6, total_tokens: 11 } }), oaiDone])
    const r = await exec(o.t, o.a, o.ag.id, { message: 'hi' })
    expect([r.status, r.body.usage]).toEqual([200, { inputTokens: 5, outputTokens: 6 }])
  })
  // What is broken fails the run, saying what came (not pages of a schema's complaints).
  const broken: [string, string, string][] = [
    ['an error that is a string', 'data: {"error":"the model crashed"}\n\n', 'Model provider error: the model crashed'],
    ['an error without a message', 'data: {"error":{"code":503}}\n\n', 'Model provider error: the provider sent an error without a message: {"code":503}'],
    ["an error in vLLM's form (object: error)", 'data: {"object":"error","message":"This model\'s maximum context length is 4096 tokens","type":"BadRequestError","param":null,"code":400}\n\n', "Model provider error: This model's maximum context length is 4096 tokens"],
    ['an array', 'data: [1,2]\n\n', 'Model provider error: the provider sent a stream event that is not part of an answer this server can read: [1,2]'],
    ['a string', 'data: "hi"\n\n', 'Model provider error: the provider sent a stream event that is not part of an answer this server can read: "hi"'],
    ['not JSON', 'data: {oops\n\n', 'Model provider error: the provider sent a stream event that is not JSON: {oops'],
  ]
  for (const [name, event, error] of broken) {
    test(`${name}: failed, saying so`, async () => {
      const o = await scriptedApp(p, KEY)
      p.handler = () => rawStream([oaiText('Hello'), event, oaiStop(), oaiUsage(), oaiDone])
      const r = await exec(o.t, o.a, o.ag.id, { message: 'hi' })
      const row = await getExec(o.t, o.a, r.body.details.executionId)
      expect([r.status, row.status, row.error]).toEqual([502, 'failed', error])
    })
  }
  test("an error status whose body is an error in vLLM's form: its message said", async () => {
    const o = await scriptedApp(p, KEY)
    p.handler = () => Response.json({ object: 'error', message: 'The model `nope` does not exist.', type: 'NotFoundError', param: null, code: 404 }, { status: 404, statusText: 'Not Found' })
    const r = await exec(o.t, o.a, o.ag.id, { message: 'hi' })
    const row = await getExec(o.t, o.a, r.body.details.executionId)
    expect([row.status, row.error]).toEqual(['failed', 'Model provider error: The model `nope` does not exist. (HTTP 404)'])
  })
  test('an error status whose JSON body is no error: its HTTP status said, as before', async () => {
    const o = await scriptedApp(p, KEY)
    p.handler = () => Response.json({ detail: 'gone' }, { status: 404, statusText: 'Not Found' })
    const r = await exec(o.t, o.a, o.ag.id, { message: 'hi' })
    const row = await getExec(o.t, o.a, r.body.details.executionId)
    // A 404 of no API error (FastAPI's {"detail": "Not Found"}: vLLM without /v1) also says where it asked, and what to set.
    expect([row.status, row.error]).toEqual(['failed', `Model provider error: Not Found (HTTP 404): nothing answers ${p.openaiBaseUrl}/chat/completions; set OPENAI_BASE_URL to the address of the server's OpenAI-compatible API, usually ending in /v1 (e.g. http://localhost:11434/v1 for Ollama)`])
  })
})

describe('an error status whose body is labelled text/event-stream', () => {
  // Read as a stream's first error event (HTTP 200): the run lost its "(HTTP 429)" and the
  // server log its providerStatus.
  const failedLine = (o: { t: { logs: string[] } }, id: string) => o.t.logs.map((l) => JSON.parse(l)).find((l) => l.msg === 'execution_failed' && l.executionId === id)
  test("openai: a 429's status kept, in the error and the log", async () => {
    const o = await scriptedApp(p, KEY)
    p.handler = () => new Response(JSON.stringify({ error: { message: 'Rate limit reached', type: 'requests' } }), { status: 429, headers: { 'content-type': 'text/event-stream' } })
    const r = await exec(o.t, o.a, o.ag.id, { message: 'hi' })
    const row = await getExec(o.t, o.a, r.body.details.executionId)
    expect([r.status, r.body.code, row.error]).toEqual([503, 'provider_rate_limited', "Model provider error: the provider's rate limit was reached: Rate limit reached (HTTP 429)"])
    expect(failedLine(o, row.id)).toMatchObject({ providerStatus: 429, providerErrorType: 'requests' })
  })
  test("anthropic: a 529's status kept; an error event first (HTTP 200) is still named by its type", async () => {
    const o = await anthropicApp()
    const body = JSON.stringify({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } })
    p.handler = () => new Response(body, { status: 529, headers: { 'content-type': 'text/event-stream' } })
    const r = await exec(o.t, o.a, o.ag.id, { message: 'hi' })
    const row = await getExec(o.t, o.a, r.body.details.executionId)
    expect([r.status, r.body.code, row.error]).toEqual([503, 'provider_overloaded', 'Model provider error: the provider is overloaded: Overloaded (HTTP 529)'])
    expect(failedLine(o, row.id)).toMatchObject({ providerStatus: 529, providerErrorType: 'overloaded_error' })
    p.handler = () => rawStream([`event: error\ndata: ${body}\n\n`])
    const first = await exec(o.t, o.a, o.ag.id, { message: 'hi' })
    const firstRow = await getExec(o.t, o.a, first.body.details.executionId)
    expect([first.status, firstRow.error]).toEqual([503, 'Model provider error: the provider is overloaded: Overloaded (overloaded_error)'])
    expect(failedLine(o, firstRow.id)).toMatchObject({ providerStatus: null, providerErrorType: 'overloaded_error' })
  })
})

test('an error status whose error has an empty message: said as one without a message, with its status', async () => {
  const o = await scriptedApp(p, KEY)
  p.handler = () => Response.json({ error: { message: '', type: 'server_error' } }, { status: 500 })
  const r = await exec(o.t, o.a, o.ag.id, { message: 'hi' })
  const row = await getExec(o.t, o.a, r.body.details.executionId)
  expect([r.status, row.error]).toEqual([502, 'Model provider error: the provider sent an error without a message (HTTP 500)'])
})

describe('[DONE] with white space after it', () => {
  test('openai: completed with the whole answer (it failed: JSON parsing failed)', async () => {
    const o = await scriptedApp(p, KEY)
    for (const done of ['data: [DONE] \n\n', 'data:  [DONE]\t\r\n\r\n', 'data:[DONE]\n\n']) {
      p.handler = () => rawStream([oaiText('Hello'), oaiStop(), oaiUsage(), done])
      const r = await exec(o.t, o.a, o.ag.id, { message: 'hi' })
      expect([done, r.status, r.body.result]).toEqual([done, 200, 'Hello'])
    }
  })
})

describe('[DONE] after chunks none of which gave a finish reason (vllm-mlx on a natural stop, llama-cpp-python, gateways)', () => {
  // The AI SDK failed each: "Response stream ended without a finish reason" (502), the answer whole.
  const noFinish = (t: string) => oaiChunk({ choices: [{ index: 0, delta: { content: t }, finish_reason: null }] })
  const noKey = (t: string) => oaiChunk({ choices: [{ index: 0, delta: { content: t } }] })
  const streams: Record<string, string[]> = {
    'finish_reason null to the end, usage, [DONE]': [noFinish('Hello '), noFinish('there'), noFinish(''), oaiUsage(), oaiDone],
    'no finish_reason key at all, [DONE]': [noKey('Hello '), noKey('there'), oaiDone],
    'the keys spaced and split over chunks (CRLF)': ['data: {"choices":[{"index":0,"delta":{"content":"Hello there"},"finish_reason" : null}]}\r\n\r\n', 'data:  [DONE] \r\n\r\n'],
  }
  for (const [name, chunks] of Object.entries(streams)) {
    test(`${name}: completed with the whole answer, nothing logged of its end (sync and stream)`, async () => {
      const o = await scriptedApp(p, KEY)
      p.handler = () => rawStream(chunks)
      const r = await exec(o.t, o.a, o.ag.id, { message: 'hi' })
      expect([r.status, r.body.status, r.body.result]).toEqual([200, 'completed', 'Hello there'])
      expect((await getLogs(o.t, o.a, r.body.executionId)).map((l: any) => l.event)).toEqual(['started', 'completed'])
      const s = await exec(o.t, o.a, o.ag.id, { message: 'hi', stream: true })
      expect(s.text).not.toContain('event: error')
    })
  }
  test('usage before the [DONE] is counted', async () => {
    const o = await scriptedApp(p, KEY)
    p.handler = () => rawStream([noFinish('Hello'), oaiUsage(), oaiDone])
    const r = await exec(o.t, o.a, o.ag.id, { message: 'hi' })
    expect([r.status, r.body.usage]).toEqual([200, { inputTokens: 3, outputTokens: 4 }])
  })
  test('without [DONE] (the connection closed after the chunks), or [DONE] with no chunk before it: still failed', async () => {
    const o = await scriptedApp(p, KEY)
    for (const chunks of [[noFinish('Hello '), noFinish('there'), oaiUsage()], [': keep-alive\n\n', oaiUsage(), oaiDone]]) {
      p.handler = () => rawStream(chunks)
      const r = await exec(o.t, o.a, o.ag.id, { message: 'hi' })
      expect([r.status, (await getExec(o.t, o.a, r.body.details.executionId)).error]).toEqual([502, 'Model provider error: Response stream ended without a finish reason.'])
    }
  })
  test('the finish reason a chunk gave is kept, however its key is split over chunks (finish_reason "length": answer_cut)', async () => {
    const { withoutEmptyData, finishAtDone } = require('../src/engine/provider-fetch') as typeof import('../src/engine/provider-fetch')
    const run = async (chunks: Uint8Array[]) => new TextDecoder().decode(await new Response(new ReadableStream({ start(c) { for (const x of chunks) c.enqueue(x); c.close() } }).pipeThrough(withoutEmptyData({ end: finishAtDone() }))).arrayBuffer())
    const enc = new TextEncoder()
    const cases: [string, boolean][] = [
      ['data: {"choices":[{"index":0,"delta":{"content":"x"},"finish_reason":null}]}\n\ndata: {"choices":[{"index":0,"delta":{},"finish_reason" :\t"length"}]}\n\ndata: [DONE]\n\n', false],
      ['data: {"choices":[{"index":0,"delta":{"content":"say \\"finish_reason\\":\\"stop\\""},"finish_reason":null}]}\n\ndata: [DONE]\n\n', true],
      ['data: {"choices":[{"index":0,"delta":{"content":"x"}}]}\n\ndata: [DONE]\n\n', true],
      ['data: {"choices":[{"index":0,"delta":{"content":"x"}}]}\n\n', false],
    ]
    for (const [input, added] of cases) {
      const bytes = enc.encode(input)
      const want = added ? input.replace('data: [DONE]', 'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\ndata: [DONE]') : input
      for (let cut = 0; cut <= bytes.length; cut++) expect(await run([bytes.subarray(0, cut), bytes.subarray(cut)])).toBe(want)
      expect(await run(Array.from(bytes, (_, i) => bytes.subarray(i, i + 1)))).toBe(want)
    }
    const o = await scriptedApp(p, KEY)
    p.handler = () => rawStream([cases[0]![0]])
    const r = await exec(o.t, o.a, o.ag.id, { message: 'hi' })
    expect([r.status, r.body.result, (await getLogs(o.t, o.a, r.body.executionId)).find((l: any) => l.event === 'answer_cut')?.data]).toEqual([200, 'x', { finishReason: 'length' }])
  })
})

describe('a JSON document at HTTP 200 not labelled JSON (text/plain, none: a gateway\'s error)', () => {
  // Read as a stream without an event: the run failed "Response stream ended without a finish
  // reason" (OpenAI-compatible) or "No output generated" (Anthropic), the provider's message lost.
  const plain = (body: string, type: string | null = 'text/plain; charset=utf-8') => () => new Response(new Blob([body]).stream(), { headers: type === null ? {} : { 'content-type': type } })
  test('openai: its error, failed with its message (text/plain, no content-type, white space first)', async () => {
    const o = await scriptedApp(p, KEY)
    for (const [body, type] of [['{"error":{"message":"Invalid model name passed in model=gpt-9","type":"invalid_request_error","code":"400"}}', undefined], ['\n {"error":{"message":"Invalid model name passed in model=gpt-9"}}', null]] as const) {
      p.handler = plain(body, type)
      const r = await exec(o.t, o.a, o.ag.id, { message: 'hi' })
      const row = await getExec(o.t, o.a, r.body.details.executionId)
      expect([r.status, row.status, row.error]).toEqual([502, 'failed', 'Model provider error: Invalid model name passed in model=gpt-9'])
    }
  })
  test('openai: a chat completion as text/plain: completed with its answer', async () => {
    const o = await scriptedApp(p, KEY)
    p.handler = plain(JSON.stringify({ id: 'c', object: 'chat.completion', created: 1, model: 'm', choices: [{ index: 0, message: { role: 'assistant', content: 'Hello there' }, finish_reason: 'stop' }] }))
    const r = await exec(o.t, o.a, o.ag.id, { message: 'hi' })
    expect([r.status, r.body.result]).toEqual([200, 'Hello there'])
  })
  test('anthropic: its error (text/plain, or labelled JSON), failed with its message and type; overloaded_error is 503', async () => {
    const o = await anthropicApp()
    const cases: [() => Response, number, string, string][] = [
      [plain('{"type":"error","error":{"type":"invalid_request_error","message":"model: claude-x is not a valid model"}}'), 502, 'bad_gateway', 'Model provider error: model: claude-x is not a valid model (invalid_request_error)'],
      [plain('{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}', 'application/json'), 503, 'provider_overloaded', 'Model provider error: the provider is overloaded: Overloaded (overloaded_error)'],
      [plain('{"error":{"message":"upstream unavailable"}}', null), 502, 'bad_gateway', 'Model provider error: upstream unavailable'],
      [plain('{"detail":"Not Found"}'), 502, 'bad_gateway', 'Model provider error: the provider answered with JSON that is not an event stream, where one was asked: {"detail":"Not Found"}'],
      [plain('{"type":"error",'), 502, 'bad_gateway', 'Model provider error: the provider answered with a body that is not JSON (labelled JSON, or beginning as JSON), where an event stream was asked: {"type":"error",'],
    ]
    for (const [handler, status, code, error] of cases) {
      p.handler = handler
      const r = await exec(o.t, o.a, o.ag.id, { message: 'hi' })
      const row = await getExec(o.t, o.a, r.body.details.executionId)
      expect([r.status, row.errorCode, row.error]).toEqual([status, code, error])
    }
  })
  test('an event stream labelled text/plain, or not labelled: passes as it came (openai and anthropic)', async () => {
    const o = await scriptedApp(p, KEY)
    const a = await anthropicApp()
    for (const type of ['text/plain', null]) {
      p.handler = plain(oaiFull('Hello there').join(''), type)
      const r = await exec(o.t, o.a, o.ag.id, { message: 'hi' })
      expect([r.status, r.body.result]).toEqual([200, 'Hello there'])
      p.handler = plain([...antText('Hi'), ...antEnd()].join(''), type)
      const ra = await exec(a.t, a.a, a.ag.id, { message: 'hi' })
      expect([ra.status, ra.body.result]).toEqual([200, 'Hi'])
    }
  })
})

describe('what the documents allow', () => {
  test('openai: a BOM, comments, blank lines, CRLF and [DONE], split at every byte (an emoji and an accent inside): completed whole', async () => {
    const o = await scriptedApp(p, KEY)
    const whole = '\ufeff: ping\n\n\n' + [oaiText('Grüße 😀 '), ': keep-alive\r\n\r\n', oaiText('end'), oaiStop(), oaiUsage(), oaiDone].join('').replace(/\n/g, '\r\n')
    const bytes = new TextEncoder().encode(whole)
    for (let cut = 1; cut < bytes.length; cut += 7) {
      p.handler = () => {
        const chunks = [bytes.subarray(0, cut), bytes.subarray(cut)]
        let i = 0
        return new Response(new ReadableStream({ pull(c) { if (i < chunks.length) c.enqueue(chunks[i++]); else c.close() } }), { headers: { 'content-type': 'text/event-stream' } })
      }
      const r = await exec(o.t, o.a, o.ag.id, { message: 'hi' })
      expect([cut, r.status, r.body.result]).toEqual([cut, 200, 'Grüße 😀 end'])
    }
    // And one byte a chunk: every place at once, the empty data lines of a gateway among them.
    const gateway = new TextEncoder().encode(whole.replace(': keep-alive', 'data: '))
    expect(whole).toContain(': keep-alive')
    p.handler = () => {
      let i = 0
      return new Response(new ReadableStream({ pull(c) { if (i < gateway.length) c.enqueue(gateway.subarray(i, ++i)); else c.close() } }), { headers: { 'content-type': 'text/event-stream' } })
    }
    const r = await exec(o.t, o.a, o.ag.id, { message: 'hi' })
    expect([r.status, r.body.result]).toEqual([200, 'Grüße 😀 end'])
  })
  test('anthropic: event: ping, comments, one byte a chunk: completed whole', async () => {
    const o = await anthropicApp()
    const whole = [antStart, antEv('ping', {}), ': c\n\n', ...antText('Grüße 😀').slice(1), antEv('ping', {}), ...antEnd()].join('')
    const bytes = new TextEncoder().encode(whole)
    p.handler = () => {
      let i = 0
      return new Response(new ReadableStream({ pull(c) { if (i < bytes.length) c.enqueue(bytes.subarray(i, ++i)); else c.close() } }), { headers: { 'content-type': 'text/event-stream' } })
    }
    const r = await exec(o.t, o.a, o.ag.id, { message: 'hi' })
    expect([r.status, r.body.result]).toEqual([200, 'Grüße 😀'])
  })
})

describe('withoutEmptyData, byte by byte', () => {
  const { withoutEmptyData } = require('../src/engine/provider-fetch') as typeof import('../src/engine/provider-fetch')
  const run = async (chunks: Uint8Array[]) => {
    const out = await new Response(new ReadableStream({ start(c) { for (const x of chunks) c.enqueue(x); c.close() } }).pipeThrough(withoutEmptyData())).arrayBuffer()
    return new TextDecoder().decode(out)
  }
  // What it must do, said as expressions: empty data lines gone with their line end, a data value's leading white space one space.
  const expected = (s: string) => s.replace(/^data:[ \t]*(\r\n|\r|\n)/gm, '').replace(/^data:[ \t]*\[DONE\][ \t]*$/gm, 'data: [DONE]').replace(/^data:[ \t]+/gm, 'data: ')
  const input = [
    'data:\n', 'data: {"a":1}\n', 'data:\r\n', 'data:  \t\r', 'data:\t{"b":"Grüße 😀"}\r\n', '\r\n', 'dat\n', 'data\n', 'datax:\n', ': data:\n',
    'event: ping\n', 'data:{"c":2}\n', 'data: \n', '\n', 'xdata:\n', 'data: [1,2]\n', 'data: [DON\n', 'data:[DONE]x\n', 'data:[DONE]\n', 'data:  [DONE] \t\r\n', 'data: [DONE]\n\n', 'data:', 'data',
  ].join('')
  test('the same output whole, split at every byte, and one byte a chunk', async () => {
    const bytes = new TextEncoder().encode(input)
    const want = expected(input).replace(/data:$/, '')
    expect(want).toContain('data: {"b":"Grüße 😀"}\r\n')
    expect(want).toContain('data: [DONE]\r\n')
    expect(await run([bytes])).toBe(want)
    for (let cut = 0; cut <= bytes.length; cut++) expect(await run([bytes.subarray(0, cut), bytes.subarray(cut)])).toBe(want)
    expect(await run(Array.from(bytes, (_, i) => bytes.subarray(i, i + 1)))).toBe(want)
  })
  test('a stream without empty data lines passes byte for byte', async () => {
    const s = oaiFull('x\ny').join('') + ': ping\r\n\r\nevent: ping\ndata: {}\n\n'
    expect(await run([new TextEncoder().encode(s)])).toBe(s)
  })
})

describe('an answer that is not whole, said in the log', () => {
  test("anthropic's pause_turn: completed with what came, an answer_cut event naming it", async () => {
    const o = await anthropicApp()
    p.handler = () => rawStream([...antText('Searching'), ...antEnd('pause_turn')])
    const r = await exec(o.t, o.a, o.ag.id, { message: 'hi' })
    expect([r.status, r.body.status, r.body.result]).toEqual([200, 'completed', 'Searching'])
    const logs = await getLogs(o.t, o.a, r.body.executionId)
    expect(logs.find((l: any) => l.event === 'answer_cut')?.data).toEqual({ finishReason: 'stop', rawFinishReason: 'pause_turn' })
    // end_turn logs nothing of the kind.
    p.handler = () => rawStream([...antText('Done'), ...antEnd()])
    const done = await exec(o.t, o.a, o.ag.id, { message: 'hi' })
    expect((await getLogs(o.t, o.a, done.body.executionId)).map((l: any) => l.event)).toEqual(['started', 'completed'])
  })
  for (const name of ['', '   ']) {
    test(`openai: a tool call named ${JSON.stringify(name)} (the AI SDK drops it): completed with an answer_cut event saying no call was read`, async () => {
      const o = await scriptedApp(p, KEY)
      p.requests.length = 0
      const call = oaiChunk({ choices: [{ index: 0, delta: { role: 'assistant', tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name, arguments: '{}' } }] }, finish_reason: null }] })
      p.handler = () => rawStream([oaiText('Let me look. '), call, oaiStop('tool_calls'), oaiUsage(), oaiDone])
      const r = await exec(o.t, o.a, o.ag.id, { message: 'hi' })
      expect([r.status, r.body.status, r.body.result]).toEqual([200, 'completed', 'Let me look. '])
      const logs = await getLogs(o.t, o.a, r.body.executionId)
      expect(logs.find((l: any) => l.event === 'answer_cut')?.data).toEqual({ finishReason: 'tool-calls', rawFinishReason: 'tool_calls', toolCallsRead: 0 })
      expect(p.requests.length).toBe(1)
    })
  }
  test('anthropic: a tool_use named "" is an unknown tool, as on the wire: a tool error the model reads, then its answer', async () => {
    const o = await anthropicApp()
    let n = 0
    p.requests.length = 0
    p.handler = () => rawStream(n++ === 0 ? [antStart, antEv('content_block_start', { index: 0, content_block: { type: 'tool_use', id: 't1', name: '', input: {} } }), antEv('content_block_stop', { index: 0 }), ...antEnd('tool_use')] : [...antText('ok'), ...antEnd()])
    const r = await exec(o.t, o.a, o.ag.id, { message: 'hi' })
    expect([r.status, r.body.status, r.body.result]).toEqual([200, 'completed', 'ok'])
    expect(JSON.stringify(p.requests[1]!.body.messages.at(-1))).toContain('"is_error":true')
  })
})
