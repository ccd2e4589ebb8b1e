/**
 * A model provider that sends what a real gateway may (found by probing the engine, 2026-12-07):
 * each case ends as README says, the answer kept and recorded once, nothing internal answered.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { makeActor } from './helpers/app'
import { agent, antEv, exec, getExec, makeTestApp, oaiChunk, oaiDone, oaiStop, oaiText, rawStream, scriptedApp, startScripted, type Scripted } from './helpers/scripted-provider'
import { parseSse } from './helpers/providers'
import { DEFAULT_OUTPUT_LIMITS } from '../src/engine/output-limits'

let p: Scripted
beforeAll(() => {
  p = startScripted()
})
afterAll(() => p.stop())

const KEY = 'my-provider-secret-9f8e7d6c5b4a'

const setup = (extra = {}) => scriptedApp(p, KEY, extra)

describe('usage the provider reports out of range', () => {
  // A fraction was answered 500 (the API's integers) on SQLite; on PostgreSQL its integer column
  // refused it, as it did 3e9, and the finished run lost its answer (failed, 500 internal_error).
  const cases = [
    ['fractions', { prompt_tokens: 2.5, completion_tokens: 1.25, total_tokens: 3.75 }, [3, 1]],
    ['past the integer column', { prompt_tokens: 3e9, completion_tokens: 1e300, total_tokens: 1 }, [2_147_483_647, 2_147_483_647]],
    ['negative', { prompt_tokens: -5, completion_tokens: -1, total_tokens: -6 }, [0, 0]],
  ] as const
  for (const [name, usage, [inTok, outTok]] of cases) {
    test(`${name}: completed with the answer, the counts recorded as whole tokens in range (sync, stream, GET)`, async () => {
      const o = await setup()
      p.handler = () => rawStream([oaiText('hello'), oaiStop(), oaiChunk({ choices: [], usage }), oaiDone])
      const r = await exec(o.t, o.a, o.ag.id, { message: 'hi' })
      expect([r.status, r.body.status, r.body.result]).toEqual([200, 'completed', 'hello'])
      expect(r.body.usage).toEqual({ inputTokens: inTok, outputTokens: outTok })
      const row = await getExec(o.t, o.a, r.body.executionId)
      expect([row.status, row.result, row.tokensInput, row.tokensOutput]).toEqual(['completed', 'hello', inTok, outTok])
      const s = await exec(o.t, o.a, o.ag.id, { message: 'hi', stream: true })
      const result = parseSse(s.text).find((e) => e.event === 'result')
      expect(result).toBeDefined()
      expect(result!.data.usage).toEqual({ inputTokens: inTok, outputTokens: outTok })
    })
  }
})

describe('a delegate call whose message an execute would refuse', () => {
  // The model's `message` was taken as String(x): a child ran on "[object Object]", on "", on
  // 300,000 characters (the API's execute takes at most 200,000), each a run no API client could start.
  const delegateCall = (args: string) => [
    oaiChunk({ choices: [{ index: 0, delta: { role: 'assistant', tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'delegate', arguments: args } }] }, finish_reason: null }] }),
    oaiStop('tool_calls'),
    oaiDone,
  ]
  test('an object, a number, none, white space, 200,001 characters, null arguments: the tool answers an error, no child runs; 200,000 runs one', async () => {
    const { t, a } = await setup()
    const leaf = await agent(t, a, { name: 'Leaf' })
    const root = await agent(t, a, { name: 'Root', subagentIds: [leaf.id] })
    const bad = [{ agentId: leaf.id, message: { a: 1 } }, { agentId: leaf.id, message: 5 }, { agentId: leaf.id }, { agentId: leaf.id, message: ' \n ' }, { agentId: leaf.id, message: 'y'.repeat(200_001) }, null]
    const args = [...bad.map((b) => JSON.stringify(b)), JSON.stringify({ agentId: leaf.id, message: 'z'.repeat(200_000) })]
    let call = 0
    p.handler = (_req, body) => {
      if (!body.tools) return rawStream([oaiText('child ok'), oaiStop(), oaiDone])
      if (body.messages.at(-1).role === 'tool') return rawStream([oaiText('done'), oaiStop(), oaiDone])
      return rawStream(delegateCall(args[call++]!))
    }
    for (let i = 0; i < args.length; i++) {
      const r = await exec(t, a, root.id, { message: `go ${i}` })
      expect([r.status, r.body.status, r.body.result]).toEqual([200, 'completed', 'done'])
      const row = await getExec(t, a, r.body.executionId)
      const children = (await t.req('GET', `/api/v1/executions?parentExecutionId=${r.body.executionId}`, { token: a.token })).body
      if (i < bad.length) {
        expect(row.toolCalls[0].result).toMatch(/^Error: `message` (must be a string|is empty|has 200,001 characters)|^Error: null is not one of/)
        expect(children).toEqual([])
      } else {
        expect(row.toolCalls[0].result).toBe('child ok')
        expect(children.map((c: any) => c.message.length)).toEqual([200_000])
      }
    }
  })
})

describe("tool calls' names and ids count toward the run's output limit", () => {
  // Uncounted, 40 calls named with 50,000 characters each stored 2 MB of names (4 MB in the log,
  // 4 MB sent back to the provider) in a run allowed 1,000 characters; with a server's limits, a
  // step's calls are as many as the provider sends, each name up to an event's 12 MB.
  const call = (i: number, name: string, id: string) =>
    oaiChunk({ choices: [{ index: 0, delta: { role: 'assistant', tool_calls: [{ index: i, id, type: 'function', function: { name, arguments: '{}' } }] }, finish_reason: null }] })
  for (const [what, mk] of [
    ['names', (i: number) => call(i, 'n'.repeat(50_000), `call_${i}`)],
    ['ids', (i: number) => call(i, 'delegate', 'i'.repeat(50_000) + i)],
  ] as const) {
    test(`40 calls with ${what} of 50,000 characters: failed at the limit (502, says why), nothing near their size kept or sent on`, async () => {
      const { t, a } = await setup({ outputLimits: { ...DEFAULT_OUTPUT_LIMITS, answerChars: 1000 } })
      const leaf = await agent(t, a, { name: 'Leaf' })
      const root = await agent(t, a, { name: 'Root', subagentIds: [leaf.id] })
      p.requests.length = 0
      p.handler = (_req, body) => (body.messages.at(-1).role === 'tool' || !body.tools ? rawStream([oaiText('fine'), oaiStop(), oaiDone]) : rawStream([...Array.from({ length: 40 }, (_, i) => mk(i)), oaiStop('tool_calls'), oaiDone]))
      const r = await exec(t, a, root.id, { message: 'go' })
      expect([r.status, r.body.code]).toEqual([502, 'bad_gateway'])
      expect(r.body.message).toContain("the model's output passed 1,000 characters")
      const id = r.body.details.executionId
      const row = await getExec(t, a, id)
      const logs = (await t.req('GET', `/api/v1/executions/${id}/logs`, { token: a.token })).body.logs
      expect(row.status).toBe('failed')
      expect(JSON.stringify(row).length).toBeLessThan(20_000)
      expect(JSON.stringify(logs).length).toBeLessThan(20_000)
      expect(p.requests.length).toBe(1)
    })
  }
})

describe('what an Anthropic stream carries beside its deltas counts toward the output limit', () => {
  // Uncounted: a tool_use block's input given whole at its start (40 calls of 50,000 characters:
  // 2 MB stored and sent back with the next turn, in a run allowed 1,000), redacted_thinking
  // blocks' data and signature_delta signatures (held by the run, as many as the provider sends).
  const start = antEv('message_start', { message: { id: 'msg_1', type: 'message', role: 'assistant', model: 'claude-x', content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 2, output_tokens: 1 } } })
  const end = (r: string) => [antEv('message_delta', { delta: { stop_reason: r, stop_sequence: null }, usage: { output_tokens: 1 } }), antEv('message_stop', {})]
  const big = 'd'.repeat(50_000)
  const block = (i: number, content_block: object) => [antEv('content_block_start', { index: i, content_block }), antEv('content_block_stop', { index: i })]
  const cases = {
    'tool_use input at its start': () => [start, ...Array.from({ length: 40 }, (_, i) => block(i, { type: 'tool_use', id: `t${i}`, name: 'delegate', input: { agentId: 'nope', message: big } })).flat(), ...end('tool_use')],
    'redacted_thinking data': () => [start, ...Array.from({ length: 40 }, (_, i) => block(i, { type: 'redacted_thinking', data: big })).flat(), ...end('end_turn')],
    signatures: () => [start, antEv('content_block_start', { index: 0, content_block: { type: 'thinking', thinking: '' } }), ...Array.from({ length: 40 }, () => antEv('content_block_delta', { index: 0, delta: { type: 'signature_delta', signature: big } })), antEv('content_block_stop', { index: 0 }), ...end('end_turn')],
    // Kept by the provider (the text block's citations, web ones until the answer's end) with no part of their own until then.
    'web citations (citations_delta)': () => [start, antEv('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }), ...Array.from({ length: 40 }, () => antEv('content_block_delta', { index: 0, delta: { type: 'citations_delta', citation: { type: 'web_search_result_location', url: 'https://example.com/', title: 't', encrypted_index: 'e', cited_text: big } } })), antEv('content_block_stop', { index: 0 }), ...end('end_turn')],
    'document citations (citations_delta)': () => [start, antEv('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }), ...Array.from({ length: 40 }, () => antEv('content_block_delta', { index: 0, delta: { type: 'citations_delta', citation: { type: 'char_location', cited_text: big, document_index: 0, document_title: 'd', start_char_index: 0, end_char_index: 1 } } })), antEv('content_block_stop', { index: 0 }), ...end('end_turn')],
    'results of tools the provider ran': () => [start, ...Array.from({ length: 40 }, (_, i) => [antEv('content_block_start', { index: 2 * i, content_block: { type: 'server_tool_use', id: `srv${i}`, name: 'web_search', input: {} } }), antEv('content_block_stop', { index: 2 * i }), ...block(2 * i + 1, { type: 'web_search_tool_result', tool_use_id: `srv${i}`, content: [{ type: 'web_search_result', url: 'https://example.com/', title: 't', encrypted_content: big, page_age: null }] })]).flat(), ...end('end_turn')],
  }
  for (const [what, answer] of Object.entries(cases)) {
    test(`${what}: failed at the limit (502), nothing near its size kept or sent on`, async () => {
      const t = await makeTestApp({ config: { anthropicApiKey: 'sk-ant-' + KEY, anthropicBaseUrl: p.anthropicBaseUrl, defaultModel: 'claude-x', outputLimits: { ...DEFAULT_OUTPUT_LIMITS, answerChars: 1000 } } })
      const a = await makeActor(t)
      const leaf = await agent(t, a, { name: 'Leaf' })
      const root = await agent(t, a, { name: 'Root', subagentIds: [leaf.id] })
      p.requests.length = 0
      let n = 0
      p.handler = () => rawStream(n++ === 0 ? answer() : [start, ...block(0, { type: 'text', text: 'ok' }), ...end('end_turn')])
      const r = await exec(t, a, root.id, { message: 'go' })
      expect([r.status, r.body.code]).toEqual([502, 'bad_gateway'])
      expect(r.body.message).toContain("the model's output passed 1,000 characters")
      const row = await getExec(t, a, r.body.details.executionId)
      expect(row.status).toBe('failed')
      expect(JSON.stringify(row).length).toBeLessThan(20_000)
      expect(p.requests.length).toBe(1)
    })
  }
})

describe('a provider that writes its API key into the answer', () => {
  // A gateway that echoes its request (or a hostile one) put the operator's key in the answer,
  // stored and shown to the user as it came; provider errors were already scrubbed of it.
  test('scrubbed from the answer: the stream (the key split across deltas anywhere), the sync answer and GET say [redacted]', async () => {
    const o = await setup()
    const said = `your header was Bearer ${KEY}, twice: ${KEY}.`
    const expected = 'your header was Bearer [redacted], twice: [redacted].'
    for (const cut of [0, 1, 20, 23, 24, 30, 45, 53, 60]) {
      p.handler = () => rawStream([...[said.slice(0, cut), said.slice(cut, cut + 7), said.slice(cut + 7)].filter(Boolean).map(oaiText), oaiStop(), oaiDone])
      const s = await exec(o.t, o.a, o.ag.id, { message: 'hi', stream: true })
      expect(s.text).not.toContain(KEY)
      const events = parseSse(s.text)
      const streamed = events.filter((e) => e.event === 'message' && e.data.type === 'content_block_delta').map((e) => e.data.delta.text).join('')
      expect(streamed).toBe(expected)
      const result = events.find((e) => e.event === 'result')!.data
      expect(result.result).toBe(expected)
      expect((await getExec(o.t, o.a, result.executionId)).result).toBe(expected)
    }
    const r = await exec(o.t, o.a, o.ag.id, { message: 'hi' })
    expect([r.status, r.body.result]).toEqual([200, expected])
    expect(JSON.stringify(o.t.logs)).not.toContain(KEY)
  })
})

describe('a key that ends with its own first characters, and text held back at a step\'s end', () => {
  // The end of a key written whole was held back as a possible key's start before the key was
  // scrubbed, so what went out held no whole key to scrub: the stream showed all of it but its
  // last character (found by a review). And a step's text ending with a key's first character was
  // held until the next step's text, after its tool calls.
  const SELF = 'm-secret-key-0123456789-m'
  test('scrubbed in the stream as stored, wherever the deltas cut; a step\'s text is whole before its tool call', async () => {
    const o = await setup({ openaiApiKey: SELF })
    const said = `my key is ${SELF}`
    for (const cut of [0, 3, 10, 11, 20, said.length - 1]) {
      p.handler = () => rawStream([...[said.slice(0, cut), said.slice(cut)].filter(Boolean).map(oaiText), oaiStop(), oaiDone])
      const s = await exec(o.t, o.a, o.ag.id, { message: 'hi', stream: true })
      expect(s.text).not.toContain(SELF.slice(0, -1))
      const events = parseSse(s.text)
      const streamed = events.filter((e) => e.event === 'message' && e.data.type === 'content_block_delta' && e.data.delta.type === 'text_delta').map((e) => e.data.delta.text).join('')
      expect([cut, streamed]).toEqual([cut, 'my key is [redacted]'])
    }
    // "…in the m" ends with the key's first character: it belongs before the tool call, not after it.
    const leaf = await agent(o.t, o.a, { name: 'Leaf' })
    const root = await agent(o.t, o.a, { name: 'Root', subagentIds: [leaf.id] })
    p.handler = (_req, body) => {
      if (!body.tools) return rawStream([oaiText('child ok'), oaiStop(), oaiDone])
      if (body.messages.at(-1).role === 'tool') return rawStream([oaiText('after'), oaiStop(), oaiDone])
      const call = oaiChunk({ choices: [{ index: 0, delta: { tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'delegate', arguments: JSON.stringify({ agentId: leaf.id, message: 'go' }) } }] }, finish_reason: null }] })
      return rawStream([oaiText('Asking the m'), call, oaiStop('tool_calls'), oaiDone])
    }
    const s = await exec(o.t, o.a, root.id, { message: 'go', stream: true })
    const events = parseSse(s.text).filter((e) => e.event === 'message')
    const firstTool = events.findIndex((e) => e.data.type === 'content_block_start' && e.data.content_block?.type === 'tool_use')
    const before = events.slice(0, firstTool).filter((e) => e.data.type === 'content_block_delta' && e.data.delta.type === 'text_delta').map((e) => e.data.delta.text).join('')
    expect([firstTool > 0, before]).toEqual([true, 'Asking the m'])
  })
})

describe("a local server's placeholder key", () => {
  // `lm-studio`, `sk-no-key-required` (README: the key is optional for a local server) were scrubbed
  // from answers and tool calls as keys: a model writing the word had its answer rewritten.
  test('is a word the model may write: answers keep it (errors are still scrubbed of it)', async () => {
    for (const placeholder of ['lm-studio', 'sk-no-key-required']) {
      const o = await setup({ openaiApiKey: placeholder })
      const said = `Start ${placeholder} and point the client at it.`
      p.handler = () => rawStream([oaiText(said), oaiStop(), oaiDone])
      const r = await exec(o.t, o.a, o.ag.id, { message: 'hi' })
      expect([placeholder, r.status, r.body.result]).toEqual([placeholder, 200, said])
    }
  })
})

describe('a provider that writes its API key into a tool call', () => {
  test("scrubbed from the call's recorded arguments, its stream event and the sub-agent's message", async () => {
    const { t, a } = await setup()
    const leaf = await agent(t, a, { name: 'Leaf' })
    const root = await agent(t, a, { name: 'Root', subagentIds: [leaf.id] })
    const args = JSON.stringify({ agentId: leaf.id, message: `use the key ${KEY}` })
    p.handler = (_req, body) => {
      if (!body.tools) return rawStream([oaiText('child ok'), oaiStop(), oaiDone])
      if (body.messages.at(-1).role === 'tool') return rawStream([oaiText('done'), oaiStop(), oaiDone])
      return rawStream([oaiChunk({ choices: [{ index: 0, delta: { role: 'assistant', tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'delegate', arguments: args } }] }, finish_reason: null }] }), oaiStop('tool_calls'), oaiDone])
    }
    const s = await exec(t, a, root.id, { message: 'go', stream: true })
    expect(s.text).not.toContain(KEY)
    const id = parseSse(s.text).find((e) => e.event === 'result')!.data.executionId
    const row = await getExec(t, a, id)
    expect(row.toolCalls[0].arguments).toEqual({ agentId: leaf.id, message: 'use the key [redacted]' })
    const children = (await t.req('GET', `/api/v1/executions?parentExecutionId=${id}`, { token: a.token })).body
    expect(children.map((c: any) => c.message)).toEqual(['use the key [redacted]'])
  })
})
