/**
 * Anthropic's Messages API stream, event by event, as it streams today and as it may stream
 * tomorrow: Anthropic adds kinds of events, content blocks and deltas within an API version
 * (https://platform.claude.com/docs/en/api/versioning: "new variants to enum-like output values
 * (for example, streaming event types)"). One the AI SDK's provider does not know is skipped (a
 * `provider_event_skipped` log row names it once), and the run completes with its answer: it
 * failed, 502 "not part of an answer this server can read", in the middle of a whole answer. An
 * event of a known kind that does not read still fails it. The rest: every block and delta kind
 * of today's API, usage with caching, and what each stop_reason makes of a run.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { makeActor } from './helpers/app'
import { agent, antEv, exec, getExec, getLogs, makeTestApp, rawStream, startScripted, type Scripted } from './helpers/scripted-provider'
import { parseSse } from './helpers/providers'
import { messageStartFirst } from '../src/engine/anthropic-events'

let p: Scripted
beforeAll(() => {
  p = startScripted()
})
afterAll(() => p.stop())

const KEY = 'sk-ant-api03-test-0123456789abcdef'

async function anthropicApp() {
  const t = await makeTestApp({ config: { anthropicApiKey: KEY, anthropicBaseUrl: p.anthropicBaseUrl, defaultModel: 'claude-x' } })
  const a = await makeActor(t)
  const leaf = await agent(t, a, { name: 'Leaf' })
  return { t, a, ag: await agent(t, a, { subagentIds: [leaf.id] }), leaf }
}
type App = Awaited<ReturnType<typeof anthropicApp>>

const start = (usage: object = { input_tokens: 10, output_tokens: 1 }) =>
  antEv('message_start', { message: { id: 'msg_1', type: 'message', role: 'assistant', model: 'claude-x', content: [], stop_reason: null, stop_sequence: null, usage } })
const block = (index: number, content_block: object, deltas: object[] = []) => [
  antEv('content_block_start', { index, content_block }),
  ...deltas.map((delta) => antEv('content_block_delta', { index, delta })),
  antEv('content_block_stop', { index }),
]
const text = (index: number, t: string, more: object[] = []) => block(index, { type: 'text', text: '' }, [{ type: 'text_delta', text: t }, ...more])
const end = (stop_reason: string | null = 'end_turn', usage: object = { output_tokens: 5 }) => [antEv('message_delta', { delta: { stop_reason, stop_sequence: null }, usage }), antEv('message_stop', {})]

/** A synchronous run and a streamed one of the same answer: the two responses, the rows and their logs. */
async function runBoth(o: App, events: () => string[]) {
  p.handler = () => rawStream(events())
  const sync = await exec(o.t, o.a, o.ag.id, { message: 'hi' })
  const stream = await exec(o.t, o.a, o.ag.id, { message: 'hi', stream: true })
  const sse = parseSse(stream.text)
  const ids = [sync.body.executionId ?? sync.body.details?.executionId, sse.find((e) => e.event === 'meta')?.data?.executionId ?? sse.at(-1)?.data?.executionId]
  const rows = await Promise.all(ids.map((id) => getExec(o.t, o.a, id)))
  const logs = await Promise.all(ids.map((id) => getLogs(o.t, o.a, id)))
  return { sync, sse, rows, logs }
}

describe('events of kinds the provider does not know are skipped', () => {
  const unknown: Record<string, { events: () => string[]; logged: { event: string; kind: string } }> = {
    'an unknown event': {
      events: () => [start(), antEv('message_annotation', { annotation: { note: 'x' } }), ...text(0, 'Hello there'), antEv('message_annotation', { annotation: {} }), ...end()],
      logged: { event: 'message_annotation', kind: 'message_annotation' },
    },
    // Its text_delta too: the provider would read it into the answer, a block it does not know or not.
    'an unknown content block, with deltas of its own': {
      events: () => [start(), ...block(0, { type: 'future_block', data: { a: 1 } }, [{ type: 'text_delta', text: 'NOT-THE-ANSWER' }, { type: 'thinking_delta', thinking: 'nor this' }]), ...text(1, 'Hello there'), ...end()],
      logged: { event: 'content_block_start', kind: 'future_block' },
    },
    'an unknown delta in a text block': {
      events: () => [start(), ...block(0, { type: 'text', text: '' }, [{ type: 'text_delta', text: 'Hello ' }, { type: 'future_delta', x: 1 }, { type: 'text_delta', text: 'there' }]), ...end()],
      logged: { event: 'content_block_delta', kind: 'future_delta' },
    },
    'a citation of an unknown kind': {
      events: () => [start(), ...text(0, 'Hello there', [{ type: 'citations_delta', citation: { type: 'future_location', cited_text: 'x' } }]), ...end()],
      logged: { event: 'content_block_delta', kind: 'future_location' },
    },
  }
  for (const [name, c] of Object.entries(unknown)) {
    test(`${name}: completed with the whole answer, the kind logged once (sync and stream)`, async () => {
      const o = await anthropicApp()
      const { sync, sse, rows, logs } = await runBoth(o, c.events)
      expect([sync.status, sync.body.status, sync.body.result]).toEqual([200, 'completed', 'Hello there'])
      expect(sse.some((e) => e.event === 'error')).toBe(false)
      expect(sse.filter((e) => e.data?.delta?.type === 'text_delta').map((e) => e.data.delta.text).join('')).toBe('Hello there')
      for (const row of rows) expect([row.status, row.result, row.error, row.tokensInput, row.tokensOutput]).toEqual(['completed', 'Hello there', null, 10, 5])
      for (const log of logs) expect(log.filter((l: any) => l.event === 'provider_event_skipped').map((l: any) => [l.level, l.data])).toEqual([['warn', c.logged]])
    })
  }

  // The provider marks a stream errored at the unknown event's error part (before it is skipped),
  // and then no longer ends a cut stream with its `interrupted` finish: the half answer was completed.
  test('a stream cut after an unknown event (no message_stop): failed, 502, as without it (sync and stream)', async () => {
    const o = await anthropicApp()
    const cut = (unknown: string[]) => () => [start(), ...unknown, antEv('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }), antEv('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'The answer is half' } })]
    for (const unknown of [[], [antEv('message_annotation', { annotation: { note: 'x' } })]]) {
      const { sync, sse, rows } = await runBoth(o, cut(unknown))
      expect([sync.status, sync.body.code]).toEqual([502, 'bad_gateway'])
      expect(sse.filter((e) => e.event === 'error').length).toBe(1)
      for (const row of rows) {
        expect([row.status, row.result, row.errorCode]).toEqual(['failed', 'The answer is half', 'bad_gateway'])
        expect(row.error).toContain('stream ended before the answer was complete')
      }
    }
  })

  test('an unknown block beside a tool call: the sub-agent runs, and the next turn is asked without it', async () => {
    const o = await anthropicApp()
    const input = JSON.stringify({ agentId: o.leaf.id, message: 'Summarize' })
    const turns = [
      [start(), ...block(0, { type: 'future_block', data: 'opaque' }), ...block(1, { type: 'tool_use', id: 'toolu_1', name: 'delegate', input: {} }, [{ type: 'input_json_delta', partial_json: input.slice(0, 7) }, { type: 'input_json_delta', partial_json: input.slice(7) }]), ...end('tool_use')],
      [start(), ...text(0, 'Leaf done'), ...end()],
      [start(), ...text(0, 'All done'), ...end()],
    ]
    let n = 0
    p.requests.length = 0
    p.handler = () => rawStream(turns[n++]!)
    const r = await exec(o.t, o.a, o.ag.id, { message: 'hi' })
    expect([r.status, r.body.status, r.body.result]).toEqual([200, 'completed', 'All done'])
    expect(r.body.toolCalls ?? (await getExec(o.t, o.a, r.body.executionId)).toolCalls).toMatchObject([{ tool: 'delegate', result: 'Leaf done' }])
    const third = JSON.stringify(p.requests[2]!.body.messages)
    expect(third).not.toContain('future_block')
    expect(third).not.toContain('teamday')
    expect(p.requests[2]!.body.messages[1].content).toEqual([{ type: 'tool_use', id: 'toolu_1', name: 'delegate', input: { agentId: o.leaf.id, message: 'Summarize' } }])
  })

  test('at most 10 kinds are logged in a run, however many it skips', async () => {
    const o = await anthropicApp()
    p.handler = () => rawStream([start(), ...Array.from({ length: 30 }, (_, i) => antEv(`future_${i}`, {})), ...Array.from({ length: 30 }, () => antEv('future_0', {})), ...text(0, 'ok'), ...end()])
    const r = await exec(o.t, o.a, o.ag.id, { message: 'hi' })
    expect([r.status, r.body.result]).toEqual([200, 'ok'])
    const logs = await getLogs(o.t, o.a, r.body.executionId)
    expect(logs.filter((l: any) => l.event === 'provider_event_skipped').map((l: any) => l.data.kind)).toEqual(Array.from({ length: 10 }, (_, i) => `future_${i}`))
  })

  // A known kind that does not read is a broken provider, not a newer one: the run fails, saying what came.
  const broken: Record<string, string> = {
    'a text_delta without its text': antEv('content_block_delta', { index: 0, delta: { type: 'text_delta' } }),
    'an event without a type': 'event: message\ndata: {"index":0}\n\n',
    'a content block without a type': antEv('content_block_start', { index: 1, content_block: { text: '' } }),
  }
  for (const [name, ev] of Object.entries(broken)) {
    test(`${name}: failed, 502, naming the event`, async () => {
      const o = await anthropicApp()
      p.handler = () => rawStream([start(), antEv('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }), antEv('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'Half' } }), ev, ...end()])
      const r = await exec(o.t, o.a, o.ag.id, { message: 'hi' })
      expect([r.status, r.body.code]).toEqual([502, 'bad_gateway'])
      const row = await getExec(o.t, o.a, r.body.details.executionId)
      expect([row.status, row.errorCode]).toEqual(['failed', 'bad_gateway'])
      expect(row.error).toStartWith('Model provider error: the provider sent a stream event that is not part of an answer this server can read: {')
      expect((await getLogs(o.t, o.a, row.id)).some((l: any) => l.event === 'provider_event_skipped')).toBe(false)
    })
  }
})

describe('events before the message_start', () => {
  // The provider looks at a stream's first part before handing it over; an event it cannot read
  // there made it throw its own assertion ("Expected a normalized Anthropic stream error").
  test('an unknown event first (after a ping too): skipped, completed with the whole answer', async () => {
    const o = await anthropicApp()
    for (const first of [[antEv('message_metadata', { a: 1 })], [antEv('ping', {}), ': comment\n\n', antEv('message_metadata', { a: 1 })]]) {
      p.handler = () => rawStream([...first, start(), ...text(0, 'Hello there'), ...end()])
      const r = await exec(o.t, o.a, o.ag.id, { message: 'hi' })
      expect([r.status, r.body.status, r.body.result]).toEqual([200, 'completed', 'Hello there'])
      const logs = await getLogs(o.t, o.a, r.body.executionId)
      expect(logs.filter((l: any) => l.event === 'provider_event_skipped').map((l: any) => l.data)).toEqual([{ event: 'message_metadata', kind: 'message_metadata' }])
    }
  })
  test('an event that is no Anthropic event, first: failed, 502, naming it (not the provider\'s assertion)', async () => {
    const o = await anthropicApp()
    p.handler = () => rawStream(['data: {"foo":1}\n\n', start(), ...text(0, 'Hello there'), ...end()])
    const r = await exec(o.t, o.a, o.ag.id, { message: 'hi' })
    expect([r.status, r.body.code]).toEqual([502, 'bad_gateway'])
    expect((await getExec(o.t, o.a, r.body.details.executionId)).error).toBe('Model provider error: the provider sent a stream event that is not part of an answer this server can read: {"foo":1}')
    // Nothing else came: no message_start to read it after.
    p.handler = () => rawStream(['data: {"error":{"message":"upstream failed"}}\n\n'])
    const alone = await exec(o.t, o.a, o.ag.id, { message: 'hi' })
    expect([alone.status, (await getExec(o.t, o.a, alone.body.details.executionId)).error]).toEqual([502, "Model provider error: the provider's stream began with an event that is not part of an answer this server can read (and sent no message_start)"])
  })
  test('overloaded_error first is still the provider\'s overload (503)', async () => {
    const o = await anthropicApp()
    p.handler = () => rawStream([antEv('message_metadata', {}), antEv('error', { error: { type: 'overloaded_error', message: 'Overloaded' } })])
    const r = await exec(o.t, o.a, o.ag.id, { message: 'hi' })
    expect([r.status, r.body.code]).toEqual([503, 'provider_overloaded'])
  })
  test('the bytes: split at every byte, CRLF or LF; what follows the message_start passes as it came', async () => {
    const read = async (chunks: Uint8Array[]) => {
      const out = new ReadableStream({ start: (c) => (chunks.forEach((x) => c.enqueue(x)), c.close()) }).pipeThrough(messageStartFirst())
      return await new Response(out).text()
    }
    for (const nl of ['\n', '\r\n']) {
      const ev = (name: string, data: string) => `event: ${name}${nl}data: ${data}${nl}${nl}`
      const pre = [ev('ping', '{"type":"ping"}'), ev('future', '{"type":"future","x":"Grüße 😀"}'), `: hi${nl}${nl}`, ev('x', '{"foo":1}')]
      const msgStart = ev('message_start', '{"type":"message_start","message":{}}')
      // Text of more than one byte a character right after it: a chunk that ends in one of its characters is where the rest begins to pass.
      const rest = ev('content_block_delta', '{"type":"content_block_delta","delta":{"type":"text_delta","text":"Grüße 日本 😀"}}') + ev('future', '{"type":"future"}') + ev('content_block_delta', '{"type":"content_block_delta"}') + 'data: {"par'
      const input = pre.join('') + msgStart + rest
      const want = pre[0]! + pre[2]! + msgStart + pre[1]! + pre[3]! + rest
      const bytes = new TextEncoder().encode(input)
      expect(await read([bytes])).toBe(want)
      for (let cut = 0; cut <= bytes.length; cut++) expect(await read([bytes.subarray(0, cut), bytes.subarray(cut)])).toBe(want)
      // No message_start: what was held comes at the end, in its order.
      const none = pre.join('')
      expect(await read([new TextEncoder().encode(none)])).toBe(pre[0]! + pre[2]! + pre[1]! + pre[3]!)
    }
  })
})

describe("today's stream, every kind", () => {
  test('ping, cached usage, thinking with its signature, redacted thinking, citations, a server tool and its result: completed, usage counted with the cache', async () => {
    const o = await anthropicApp()
    const { sync, rows, logs } = await runBoth(o, () => [
      antEv('ping', {}),
      start({ input_tokens: 10, cache_creation_input_tokens: 100, cache_read_input_tokens: 1000, output_tokens: 1, service_tier: 'standard', server_tool_use: { web_search_requests: 0 } }),
      antEv('ping', {}),
      ...block(0, { type: 'thinking', thinking: '' }, [{ type: 'thinking_delta', thinking: 'Let me see.' }, { type: 'signature_delta', signature: 'EqQBCkgIARABGAIiQL' }]),
      ...block(1, { type: 'redacted_thinking', data: 'EmwKAhgBEgy3va3pzix' }),
      ...block(2, { type: 'server_tool_use', id: 'srvtoolu_1', name: 'web_search', input: {} }, [{ type: 'input_json_delta', partial_json: '' }, { type: 'input_json_delta', partial_json: '{"query": "we' }, { type: 'input_json_delta', partial_json: 'ather"}' }]),
      ...block(3, { type: 'web_search_tool_result', tool_use_id: 'srvtoolu_1', content: [{ type: 'web_search_result', url: 'https://example.com', title: 'Weather', encrypted_content: 'Eq0', page_age: null }] }),
      ...text(4, 'Sunny', [{ type: 'citations_delta', citation: { type: 'web_search_result_location', cited_text: 'Sunny today', url: 'https://example.com', title: 'Weather', encrypted_index: 'Eo8' } }, { type: 'text_delta', text: ' today.' }]),
      antEv('message_delta', { delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 42, server_tool_use: { web_search_requests: 1 } } }),
      antEv('message_stop', {}),
    ])
    expect([sync.status, sync.body.result, sync.body.usage]).toEqual([200, 'Sunny today.', { inputTokens: 1110, outputTokens: 42 }])
    for (const row of rows) expect([row.status, row.result, row.tokensInput, row.tokensOutput]).toEqual(['completed', 'Sunny today.', 1110, 42])
    for (const log of logs) expect(log.map((l: any) => l.event)).toEqual(['started', 'tool_call', 'tool_result', 'completed'])
  })

  const stops: [string | null, string[], object | undefined][] = [
    ['end_turn', ['started', 'completed'], undefined],
    ['stop_sequence', ['started', 'completed'], undefined],
    ['max_tokens', ['started', 'answer_cut', 'completed'], { finishReason: 'length' }],
    ['model_context_window_exceeded', ['started', 'answer_cut', 'completed'], { finishReason: 'length' }],
    ['refusal', ['started', 'answer_cut', 'completed'], { finishReason: 'content-filter' }],
    ['pause_turn', ['started', 'answer_cut', 'completed'], { finishReason: 'stop', rawFinishReason: 'pause_turn' }],
    ['some_future_reason', ['started', 'answer_cut', 'completed'], { finishReason: 'other', rawFinishReason: 'some_future_reason' }],
    [null, ['started', 'answer_cut', 'completed'], { finishReason: 'other', rawFinishReason: null }],
  ]
  test('each stop_reason: completed with the answer; one that may have cut it is logged (answer_cut)', async () => {
    const o = await anthropicApp()
    for (const [reason, events, cut] of stops) {
      p.handler = () => rawStream([start(), ...text(0, 'Partly'), ...end(reason)])
      const r = await exec(o.t, o.a, o.ag.id, { message: 'hi' })
      expect([reason, r.status, r.body.status, r.body.result]).toEqual([reason, 200, 'completed', 'Partly'])
      const logs = await getLogs(o.t, o.a, r.body.executionId)
      expect([reason, logs.map((l: any) => l.event), logs.find((l: any) => l.event === 'answer_cut')?.data]).toEqual([reason, events, cut])
    }
  })
})

describe('a stream cut after its message_delta, before its message_stop', () => {
  // The message_delta carries the stop_reason and the usage: the answer had all come. The run
  // failed ("the stream ended before the answer was complete", 502) with it whole; a stream of
  // the OpenAI-compatible API cut after its finish_reason completed.
  const cut = (stop: string, blocks: string[] = text(0, 'All of it')) => () => [start(), ...blocks, antEv('message_delta', { delta: { stop_reason: stop, stop_sequence: null }, usage: { output_tokens: 5 } })]
  test('end_turn: completed with the whole answer, its usage counted (sync and stream)', async () => {
    const o = await anthropicApp()
    const { sync, sse, rows, logs } = await runBoth(o, cut('end_turn'))
    expect([sync.status, sync.body.status, sync.body.result]).toEqual([200, 'completed', 'All of it'])
    expect(sse.some((e) => e.event === 'error')).toBe(false)
    for (const row of rows) expect([row.status, row.result, row.error, row.tokensInput, row.tokensOutput]).toEqual(['completed', 'All of it', null, 10, 5])
    for (const log of logs) expect(log.map((l: any) => l.event)).toEqual(['started', 'completed'])
  })
  test('max_tokens: completed, answer_cut as with its message_stop; an answer of nothing: completed ""', async () => {
    const o = await anthropicApp()
    const { sync, logs } = await runBoth(o, cut('max_tokens'))
    expect([sync.status, sync.body.result]).toEqual([200, 'All of it'])
    for (const log of logs) expect(log.find((l: any) => l.event === 'answer_cut')?.data).toEqual({ finishReason: 'length' })
    const empty = await runBoth(o, cut('end_turn', []))
    expect([empty.sync.status, empty.sync.body.status, empty.sync.body.result]).toEqual([200, 'completed', ''])
  })
  test('tool_use: the tool runs and the next turn answers', async () => {
    const o = await anthropicApp()
    const input = JSON.stringify({ agentId: o.leaf.id, message: 'Go' })
    const turns = [cut('tool_use', block(0, { type: 'tool_use', id: 'toolu_1', name: 'delegate', input: {} }, [{ type: 'input_json_delta', partial_json: input }]))(), [start(), ...text(0, 'Leaf done'), ...end()], [start(), ...text(0, 'All done'), ...end()]]
    let n = 0
    p.handler = () => rawStream(turns[n++]!)
    const r = await exec(o.t, o.a, o.ag.id, { message: 'hi' })
    expect([r.status, r.body.status, r.body.result]).toEqual([200, 'completed', 'All done'])
  })
  test('cut before the message_delta: still failed (502)', async () => {
    const o = await anthropicApp()
    p.handler = () => rawStream([start(), ...text(0, 'Half of it')])
    const r = await exec(o.t, o.a, o.ag.id, { message: 'hi' })
    expect([r.status, (await getExec(o.t, o.a, r.body.details.executionId)).error]).toEqual([502, "Model provider error: the provider's response stream ended before the answer was complete (the connection was cut)"])
  })
})

describe('error events of the stream (HTTP 200)', () => {
  // The AI SDK gives an error event a status from its type (529, 500, 429): the run said
  // "Overloaded (HTTP 529)" of a stream whose answer was HTTP 200. Said by its type instead; the
  // type still decides the run's errorCode, and the server log has no provider status for it.
  const cases: [string, string[], number, string, string][] = [
    ['overloaded_error mid-answer', [start(), ...text(0, 'Half'), antEv('error', { error: { type: 'overloaded_error', message: 'Overloaded' } })], 503, 'provider_overloaded', 'Model provider error: the provider is overloaded: Overloaded (overloaded_error)'],
    ['api_error mid-answer', [start(), ...text(0, 'Half'), antEv('error', { error: { type: 'api_error', message: 'Internal server error' } })], 502, 'bad_gateway', 'Model provider error: Internal server error (api_error)'],
    ['rate_limit_error as the first event', [antEv('error', { error: { type: 'rate_limit_error', message: 'Rate limited' } })], 503, 'provider_rate_limited', "Model provider error: the provider's rate limit was reached: Rate limited (rate_limit_error)"],
    ['api_error after a ping, before the message_start', [antEv('ping', {}), antEv('error', { error: { type: 'api_error', message: 'Internal server error' } })], 502, 'bad_gateway', 'Model provider error: Internal server error (api_error)'],
  ]
  for (const [name, events, status, code, error] of cases) {
    test(`${name}: ${status} ${code}, named by its type, not by an HTTP status (sync and stream)`, async () => {
      const o = await anthropicApp()
      const { sync, rows } = await runBoth(o, () => events)
      expect([sync.status, sync.body.code]).toEqual([status, code])
      for (const row of rows) expect([row.status, row.errorCode, row.error]).toEqual(['failed', code, error])
      const line = o.t.logs.map((l) => JSON.parse(l)).find((l) => l.msg === 'execution_failed' && l.executionId === rows[0].id)
      expect(line).toMatchObject({ errorCode: code, providerStatus: null, providerErrorType: error.match(/\((\w+)\)$/)![1] })
    })
  }
})

describe('error events the provider cannot read', () => {
  // Without a message (or not JSON, before the message_start): the run failed as "a stream
  // event that is not part of an answer" (or one the stream "began with"), the error's type lost:
  // an overloaded_error was a 502, not the provider's overload. The error it is, with what it says.
  const cases: [string, string[], number, string, string][] = [
    ['overloaded_error without a message, mid-answer', [start(), ...text(0, 'Half'), antEv('error', { error: { type: 'overloaded_error' } })], 503, 'provider_overloaded', 'Model provider error: the provider is overloaded: the provider sent an error without a message (overloaded_error)'],
    ['an error event without an error, mid-answer', [start(), ...text(0, 'Half'), antEv('error', {})], 502, 'bad_gateway', 'Model provider error: the provider sent an error without a message'],
    ['an error that is a string, mid-answer', [start(), ...text(0, 'Half'), antEv('error', { error: 'upstream timed out' })], 502, 'bad_gateway', 'Model provider error: upstream timed out'],
    ['an error without type or message, mid-answer', [start(), ...text(0, 'Half'), antEv('error', { error: { code: 7 } })], 502, 'bad_gateway', 'Model provider error: the provider sent an error without a message: {"code":7}'],
    ['overloaded_error without a message, first', [antEv('error', { error: { type: 'overloaded_error' } })], 503, 'provider_overloaded', 'Model provider error: the provider is overloaded: the provider sent an error without a message (overloaded_error)'],
    ['event: error with text, not JSON, first (a proxy\'s)', [antEv('ping', {}), 'event: error\ndata: upstream connect error or disconnect/reset before headers\n\n'], 502, 'bad_gateway', 'Model provider error: upstream connect error or disconnect/reset before headers'],
    ['an error event without an error, first', [antEv('error', {})], 502, 'bad_gateway', 'Model provider error: the provider sent an error without a message'],
    // A blank message is none: the run said the SDK's class name (AI_StreamProviderError,
    // AI_APICallError) or nothing before the type.
    ['overloaded_error with an empty message, mid-answer', [start(), ...text(0, 'Half'), antEv('error', { error: { type: 'overloaded_error', message: '' } })], 503, 'provider_overloaded', 'Model provider error: the provider is overloaded: the provider sent an error without a message (overloaded_error)'],
    ['api_error with a blank message, mid-answer', [start(), ...text(0, 'Half'), antEv('error', { error: { type: 'api_error', message: ' \n' } })], 502, 'bad_gateway', 'Model provider error: the provider sent an error without a message (api_error)'],
    ['overloaded_error with an empty message, first', [antEv('error', { error: { type: 'overloaded_error', message: '' } })], 503, 'provider_overloaded', 'Model provider error: the provider is overloaded: the provider sent an error without a message (overloaded_error)'],
    ['api_error with a blank message, first', [antEv('error', { error: { type: 'api_error', message: ' ' } })], 502, 'bad_gateway', 'Model provider error: the provider sent an error without a message (api_error)'],
  ]
  for (const [name, events, status, code, error] of cases) {
    test(`${name}: ${status} ${code}, saying so (sync and stream)`, async () => {
      const o = await anthropicApp()
      const { sync, rows } = await runBoth(o, () => events)
      expect([sync.status, sync.body.code]).toEqual([status, code])
      for (const row of rows) expect([row.status, row.errorCode, row.error]).toEqual(['failed', code, error])
    })
  }
})

test('a stream labelled application/json: read as the stream it is, completed (it failed as a body "that is not JSON")', async () => {
  const o = await anthropicApp()
  p.handler = () => new Response(rawStream([start(), ...text(0, 'Hello there'), ...end()]).body, { headers: { 'content-type': 'application/json' } })
  const r = await exec(o.t, o.a, o.ag.id, { message: 'hi' })
  expect([r.status, r.body.status, r.body.result]).toEqual([200, 'completed', 'Hello there'])
})

describe('errors in other shapes than {"type":"error","error":{…}}', () => {
  // A gateway's {"error": {…}} and the bare error object, under `event: error`: first, they failed
  // the run 502 ("not part of an answer", the stream "began with" one); in the middle, the
  // envelope did the same and the bare one was skipped as an event of an unknown kind. The same
  // bodies as a JSON document at HTTP 200 failed as the error they are.
  const gateway = { error: { type: 'overloaded_error', message: 'Overloaded' } }
  const bare = { type: 'overloaded_error', message: 'Overloaded' }
  const said = 'Model provider error: the provider is overloaded: Overloaded (overloaded_error)'
  const named = (data: object) => `event: error\ndata: ${JSON.stringify(data)}\n\n`
  const cases: [string, () => string[]][] = [
    ['{"error":{…}} first', () => [named(gateway)]],
    ['the bare error object first', () => [named(bare)]],
    ['the bare error object after a ping, first', () => [antEv('ping', {}), named(bare)]],
    ['{"error":{…}} mid-answer', () => [start(), ...text(0, 'Half'), named(gateway)]],
    ['the bare error object mid-answer', () => [start(), ...text(0, 'Half'), named(bare)]],
  ]
  test('the bare error object without a message, first: the error without a message it is', async () => {
    const o = await anthropicApp()
    p.handler = () => rawStream([named({ type: 'overloaded_error' })])
    const r = await exec(o.t, o.a, o.ag.id, { message: 'hi' })
    expect([r.status, r.body.code, (await getExec(o.t, o.a, r.body.details.executionId)).error]).toEqual([503, 'provider_overloaded', 'Model provider error: the provider is overloaded: the provider sent an error without a message (overloaded_error)'])
  })
  for (const [name, events] of cases) {
    test(`${name}: 503 provider_overloaded, its message and type (sync and stream)`, async () => {
      const o = await anthropicApp()
      const { sync, rows } = await runBoth(o, events)
      expect([sync.status, sync.body.code]).toEqual([503, 'provider_overloaded'])
      for (const row of rows) expect([row.status, row.errorCode, row.error]).toEqual(['failed', 'provider_overloaded', said])
    })
  }
  test('the bare error object as a JSON document at HTTP 200: the same', async () => {
    const o = await anthropicApp()
    p.handler = () => new Response(JSON.stringify(bare), { headers: { 'content-type': 'text/plain' } })
    const r = await exec(o.t, o.a, o.ag.id, { message: 'hi' })
    expect([r.status, r.body.code, (await getExec(o.t, o.a, r.body.details.executionId)).error]).toEqual([503, 'provider_overloaded', said])
  })
  test('an event named error whose data is an answer\'s event: read as that event', async () => {
    const o = await anthropicApp()
    p.handler = () => rawStream([`event: error\ndata: ${JSON.stringify({ type: 'ping' })}\n\n`, start(), ...text(0, 'Hello there'), ...end()])
    const r = await exec(o.t, o.a, o.ag.id, { message: 'hi' })
    expect([r.status, r.body.status, r.body.result]).toEqual([200, 'completed', 'Hello there'])
  })
})

describe('the tokens of a turn that broke off are counted', () => {
  // The SDK reports a turn's usage only at its message_stop: a run failed mid-turn recorded 0
  // tokens of it, though Anthropic had taken its input (and reported it in its message_start).
  const cached = { input_tokens: 10, cache_creation_input_tokens: 100, cache_read_input_tokens: 1000, output_tokens: 1 }
  test('an overloaded_error in the middle of the answer: its message_start\'s usage (503, sync and stream)', async () => {
    const o = await anthropicApp()
    const { sync, rows } = await runBoth(o, () => [start(cached), ...text(0, 'Half'), antEv('error', { error: { type: 'overloaded_error', message: 'Overloaded' } })])
    expect([sync.status, sync.body.code]).toEqual([503, 'provider_overloaded'])
    for (const row of rows) expect([row.status, row.result, row.tokensInput, row.tokensOutput]).toEqual(['failed', 'Half', 1110, 1])
  })
  test('a stream cut after its message_delta: the output it reported too (completed: the answer was whole)', async () => {
    const o = await anthropicApp()
    p.handler = () => rawStream([start(cached), ...text(0, 'Done'), antEv('message_delta', { delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 42 } })])
    const r = await exec(o.t, o.a, o.ag.id, { message: 'hi' })
    expect([r.status, r.body.status]).toEqual([200, 'completed'])
    const row = await getExec(o.t, o.a, r.body.executionId)
    expect([row.status, row.result, row.tokensInput, row.tokensOutput]).toEqual(['completed', 'Done', 1110, 42])
  })
  test('a second turn that fails: the first turn\'s usage and what the second reported', async () => {
    const o = await anthropicApp()
    const input = JSON.stringify({ agentId: o.leaf.id, message: 'Go' })
    const turns = [
      [start(), ...block(0, { type: 'tool_use', id: 'toolu_1', name: 'delegate', input: {} }, [{ type: 'input_json_delta', partial_json: input }]), ...end('tool_use', { output_tokens: 7 })],
      [start({ input_tokens: 3, output_tokens: 1 }), ...text(0, 'Leaf done'), ...end('end_turn', { output_tokens: 2 })],
      [start({ input_tokens: 50, cache_read_input_tokens: 500, output_tokens: 1 }), ...text(0, 'Almost'), antEv('error', { error: { type: 'api_error', message: 'Internal server error' } })],
    ]
    let n = 0
    p.handler = () => rawStream(turns[n++]!)
    const r = await exec(o.t, o.a, o.ag.id, { message: 'hi' })
    expect([r.status, r.body.code]).toEqual([502, 'bad_gateway'])
    const row = await getExec(o.t, o.a, r.body.details.executionId)
    expect([row.status, row.tokensInput, row.tokensOutput]).toEqual(['failed', 10 + 550, 7 + 1])
  })
})

