/**
 * What a model provider can send that it should not (found by probing the engine, 2026-12-03):
 * streams cut in the middle (an Anthropic stream without its end was recorded as completed with
 * the truncated answer), malformed output, errors that quote the API key (also masked), a
 * character split over two deltas. Each ends as the README says: failed with a clear, scrubbed
 * error, or completed with what the row stores being what was streamed.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { resolve } from 'node:path'
import { makeActor } from './helpers/app'
import { agent, antEv, exec, getExec, getLogs, makeTestApp, oaiChunk, oaiDone, oaiFull, oaiStop, oaiText, oaiUsage, rawStream, scriptedApp, startScripted, type Scripted } from './helpers/scripted-provider'
import { parseSse } from './helpers/providers'
import { spawnCollected } from './helpers/spawn'

let p: Scripted
beforeAll(() => {
  p = startScripted()
})
afterAll(() => p.stop())

const KEY = 'my-provider-secret-9f8e7d6c5b4a'

const setup = (extra = {}) => scriptedApp(p, KEY, extra)

/** An app on the scripted provider's Anthropic side, an actor and an agent of theirs. */
async function anthropicSetup() {
  const t = await makeTestApp({ config: { anthropicApiKey: 'sk-ant-' + KEY, anthropicBaseUrl: p.anthropicBaseUrl, defaultModel: 'claude-x' } })
  const a = await makeActor(t)
  return { t, a, ag: await agent(t, a) }
}

/** An Anthropic answer that starts, and streams `text` in one text block (then whatever follows, or nothing). */
const anthropicStart = (text: string) => [
  antEv('message_start', { message: { id: 'msg_1', type: 'message', role: 'assistant', model: 'claude-x', content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 13, output_tokens: 1 } } }),
  antEv('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }),
  antEv('content_block_delta', { index: 0, delta: { type: 'text_delta', text } }),
]

async function outcome(kind: 'sync' | 'stream', o: Awaited<ReturnType<typeof setup>>, message = 'hi') {
  const r = await exec(o.t, o.a, o.ag.id, { message, ...(kind === 'stream' ? { stream: true } : {}) })
  let id = r.body?.details?.executionId ?? r.body?.executionId ?? r.headers.get('x-execution-id')
  const events = kind === 'stream' ? parseSse(r.text) : []
  const row = await getExec(o.t, o.a, id)
  const logs = await getLogs(o.t, o.a, id)
  return { r, events, row, logs, all: JSON.stringify({ r: r.text, row, logs, server: o.t.logs }) }
}

describe('stream cut in the middle', () => {
  test('openai: two deltas, then the connection closes (no finish_reason, no [DONE]): failed, never completed', async () => {
    const o = await setup()
    p.handler = () => rawStream([oaiText('The deploy '), oaiText('is ')])
    for (const kind of ['sync', 'stream'] as const) {
      const x = await outcome(kind, o)
      expect(x.row.status).toBe('failed')
    }
  })

  test('openai: deltas, then the connection errors (reset): failed', async () => {
    const o = await setup()
    p.handler = () => rawStream([oaiText('The deploy '), oaiText('is ')], { error: true })
    for (const kind of ['sync', 'stream'] as const) {
      const x = await outcome(kind, o)
      expect(x.row.status).toBe('failed')
      // Said plainly, without Bun's advice to developers or "Cannot connect" for a connection that worked.
      expect(x.row.error).toBe('Model provider error: the connection to the provider closed before its answer was complete (reset or cut by the network, a proxy or the provider)')
    }
  })

  test('anthropic: message_start and deltas, then the connection closes (no message_stop): failed, never completed', async () => {
    const o = await anthropicSetup()
    p.handler = () => rawStream(anthropicStart('Half an '))
    const statuses: string[] = []
    for (const kind of ['sync', 'stream'] as const) {
      const x = await outcome(kind, o)
      statuses.push(x.row.status)
    }
    expect(statuses).toEqual(['failed', 'failed'])
  })
})

describe('malformed provider output', () => {
  test('a chunk that is not JSON', async () => {
    const o = await setup()
    p.handler = () => rawStream([oaiText('ok '), 'data: {not json\n\n', oaiStop(), oaiUsage(), oaiDone])
    const x = await outcome('sync', o)
    expect(x.row.status).toBe('failed')
  })
  test('200 with an HTML page', async () => {
    const o = await setup()
    p.handler = () => new Response('<html>Bad gateway of a proxy</html>', { headers: { 'content-type': 'text/html' } })
    const x = await outcome('sync', o)
    expect(x.row.status).toBe('failed')
  })
  test('an error object inside the 200 stream', async () => {
    const o = await setup()
    p.handler = () => rawStream([oaiText('ok '), `data: ${JSON.stringify({ error: { message: 'overloaded', type: 'server_error' } })}\n\n`, oaiDone])
    const x = await outcome('sync', o)
    expect(x.row.status).toBe('failed')
  })
  test('empty 200 stream: [DONE] alone', async () => {
    const o = await setup()
    p.handler = () => rawStream([oaiDone])
    const x = await outcome('sync', o)
    expect([x.r.status, x.row.status]).toEqual([502, 'failed'])
    expect(x.row.error).toContain('ended without a finish reason')
  })
  test('finish_reason length / content_filter: completed, with an answer_cut event in its log', async () => {
    const o = await setup()
    p.handler = () => rawStream([oaiText('truncated '), oaiStop('length'), oaiUsage(), oaiDone])
    const x = await outcome('sync', o)
    p.handler = () => rawStream([oaiText('bad '), oaiStop('content_filter'), oaiUsage(), oaiDone])
    const y = await outcome('sync', o)
    // Completed with what the model gave, and the log says the answer was cut and why.
    for (const [z, reason] of [[x, 'length'], [y, 'content-filter']] as const) {
      expect(z.row.status).toBe('completed')
      expect(z.logs.find((l: any) => l.event === 'answer_cut')?.data).toEqual({ finishReason: reason })
    }
  })
})

describe('finish reasons the AI SDK does not know (it maps them to `other`)', () => {
  // vLLM ends an aborted request with finish_reason "abort", gateways (OpenRouter, LiteLLM) a
  // failed one with "error": the cut-off answer was recorded as completed.
  test('finish_reason error / abort / cancelled: failed (502 bad_gateway naming it), the same in the sync answer, the stream and GET', async () => {
    const o = await setup()
    for (const reason of ['error', 'abort', 'cancelled', 'Error']) {
      p.handler = () => rawStream([oaiText('The deploy of '), oaiStop(reason), oaiUsage(), oaiDone])
      const message = `Model provider error: the provider ended its answer with finish_reason "${reason}": it broke off before the answer was complete`
      const sync = await outcome('sync', o)
      expect([sync.r.status, sync.r.body.code, sync.r.body.message]).toEqual([502, 'bad_gateway', `Execution ${sync.row.id} failed: ${message}`])
      const streamed = await outcome('stream', o)
      expect(streamed.events.at(-1)).toMatchObject({ event: 'error', data: { code: 'bad_gateway', message: `Execution ${streamed.row.id} failed: ${message}` } })
      for (const x of [sync, streamed]) {
        expect([x.row.status, x.row.errorCode, x.row.error, x.row.result]).toEqual(['failed', 'bad_gateway', message, 'The deploy of '])
        expect(x.logs.map((l: any) => l.event)).toEqual(['started', 'provider_error'])
      }
    }
  })
  test('any other unknown finish_reason: completed, with an answer_cut event naming it', async () => {
    const o = await setup()
    p.handler = () => rawStream([oaiText('The deploy of '), oaiStop('recitation'), oaiUsage(), oaiDone])
    for (const kind of ['sync', 'stream'] as const) {
      const x = await outcome(kind, o)
      expect([x.row.status, x.row.result]).toEqual(['completed', 'The deploy of '])
      expect(x.logs.find((l: any) => l.event === 'answer_cut')?.data).toEqual({ finishReason: 'other', rawFinishReason: 'recitation' })
    }
    // A finish reason of "stop" logs nothing of the kind, nor one that says the model ended where
    // it meant to in other words (text-generation-inference's eos_token, a gateway's end_turn).
    for (const reason of ['stop', 'eos_token', 'end_turn', 'stop_sequence', 'EOS']) {
      p.handler = () => rawStream([oaiText('Done.'), oaiStop(reason), oaiUsage(), oaiDone])
      const x = await outcome('sync', o)
      expect([reason, x.row.status, x.row.result, x.logs.map((l: any) => l.event)]).toEqual([reason, 'completed', 'Done.', ['started', 'completed']])
    }
  })
  test('"stop" in another case (STOP, Stop: gateways in front of Gemini) and "end": whole answers, no answer_cut; a cut in any case still logs one', async () => {
    const o = await setup()
    // Each was logged answer_cut (finishReason other): the AI SDK knows only "stop".
    for (const reason of ['STOP', 'Stop', 'end', 'END']) {
      p.handler = () => rawStream([oaiText('Done.'), oaiStop(reason), oaiUsage(), oaiDone])
      const x = await outcome('sync', o)
      expect([reason, x.row.status, x.row.result, x.logs.map((l: any) => l.event)]).toEqual([reason, 'completed', 'Done.', ['started', 'completed']])
    }
    for (const [reason, logged] of [['length', { finishReason: 'length' }], ['LENGTH', { finishReason: 'other', rawFinishReason: 'LENGTH' }], ['max_tokens', { finishReason: 'other', rawFinishReason: 'max_tokens' }], ['MAX_TOKENS', { finishReason: 'other', rawFinishReason: 'MAX_TOKENS' }]] as const) {
      p.handler = () => rawStream([oaiText('Done.'), oaiStop(reason), oaiUsage(), oaiDone])
      const x = await outcome('sync', o)
      expect([reason, x.row.status, x.logs.find((l: any) => l.event === 'answer_cut')?.data]).toEqual([reason, 'completed', logged])
    }
  })
})

describe('tool calls with finish_reason "stop" (some Ollama and llama.cpp versions)', () => {
  // The AI SDK goes on to the next turn whenever a step made tool calls, whatever its finish
  // reason: a model that called tools at its last turn, finish_reason "stop", was recorded
  // completed with result "", where finish_reason "tool_calls" failed it, max_turns_reached.
  const delegateCall = (n: number, leafId: string) =>
    rawStream([
      oaiChunk({ choices: [{ index: 0, delta: { role: 'assistant', tool_calls: [{ index: 0, id: `call_${n}`, type: 'function', function: { name: 'delegate', arguments: JSON.stringify({ agentId: leafId, message: 'x' }) } }] }, finish_reason: null }] }),
      oaiStop('stop'),
      oaiUsage(),
      oaiDone,
    ])
  test('still calling tools at its last turn: failed, max_turns_reached', async () => {
    const t = await makeTestApp({ config: { openaiBaseUrl: p.openaiBaseUrl, defaultModel: 'test-model' } })
    const a = await makeActor(t)
    const leaf = await agent(t, a, { name: 'Leaf' })
    const root = await agent(t, a, { name: 'Root', subagentIds: [leaf.id], maxTurns: 2 })
    let turns = 0
    p.handler = (_req, body) => (body.tools ? delegateCall(++turns, leaf.id) : rawStream(oaiFull('leaf answer')))
    const r = await exec(t, a, root.id, { message: 'go' })
    expect([r.status, r.body.code]).toEqual([422, 'max_turns_reached'])
    const row = await getExec(t, a, r.body.details.executionId)
    expect([row.status, row.errorCode, row.toolCalls.length, turns]).toEqual(['failed', 'max_turns_reached', 2, 2])
    const events = (await getLogs(t, a, row.id)).map((l: any) => l.event)
    expect([events.includes('max_turns_reached'), events.includes('completed')]).toEqual([true, false])
  })
  test('tool calls, then an answer at its last turn: completed with the answer', async () => {
    const t = await makeTestApp({ config: { openaiBaseUrl: p.openaiBaseUrl, defaultModel: 'test-model' } })
    const a = await makeActor(t)
    const leaf = await agent(t, a, { name: 'Leaf' })
    const root = await agent(t, a, { name: 'Root', subagentIds: [leaf.id], maxTurns: 2 })
    let turns = 0
    p.handler = (_req, body) => (!body.tools ? rawStream(oaiFull('leaf answer')) : ++turns === 1 ? delegateCall(turns, leaf.id) : rawStream(oaiFull('Done.')))
    const r = await exec(t, a, root.id, { message: 'go' })
    expect([r.status, r.body.status, r.body.result, turns]).toEqual([200, 'completed', 'Done.', 2])
  })
})

describe('a model that answers with nothing', () => {
  // A completed run's answer is a string: the sync answer and the stream's result say "", and GET
  // said null (the row stored an empty answer as none), so a client reading it later saw another value.
  test('completed with result "": the same in the sync answer, the stream and GET', async () => {
    const o = await setup()
    p.handler = () => rawStream([oaiStop(), oaiUsage(), oaiDone])
    const sync = await outcome('sync', o)
    expect([sync.r.status, sync.r.body.status, sync.r.body.result]).toEqual([200, 'completed', ''])
    const streamed = await outcome('stream', o)
    expect(streamed.events.at(-1)).toMatchObject({ event: 'result', data: { status: 'completed', result: '' } })
    for (const x of [sync, streamed]) expect([x.row.status, x.row.result]).toEqual(['completed', ''])
  })
})

describe('HTTP errors never leak the key', () => {
  for (const status of [400, 401, 403, 404, 408, 413, 422, 429, 500, 502, 503, 529]) {
    test(`HTTP ${status} quoting the key`, async () => {
      const o = await setup()
      p.handler = (req) =>
        Response.json(
          { error: { message: `Incorrect API key provided: ${req.headers.get('authorization')} for ${req.url}`, type: 'invalid_request_error' } },
          { status },
        )
      for (const kind of ['sync', 'stream'] as const) {
        const x = await outcome(kind, o)
        expect(x.row.status).toBe('failed')
        expect(x.all).not.toContain(KEY)
        expect(x.all).not.toContain(KEY.slice(0, 12))
      }
    })
  }
  test('HTTP 401 quoting a masked key', async () => {
    const o = await setup()
    p.handler = () => Response.json({ error: { message: `Incorrect API key provided: ${KEY.slice(0, 8)}************${KEY.slice(-4)}.` } }, { status: 401 })
    const x = await outcome('sync', o)
    expect(x.row.status).toBe('failed')
    expect(x.all).not.toContain(KEY.slice(0, 8))
    expect(x.row.error).toContain('[redacted]')
  })
  // A masked secret was found with /[A-Za-z0-9_\-.]*\*{4,}[A-Za-z0-9_\-.]*\/g, which tries every start
  // of a long word without stars to its end: an error of 40,000 letters held the event loop 1.3 s,
  // one of 1 MB about a quarter of an hour, with every request waiting. In a child process with a
  // deadline of minutes' margin (milliseconds now), so that the old code fails instead of hanging.
  test('a long error message (1 MB of one word, a masked key at its end) is scrubbed at once', async () => {
    const script = `
      const { scrubProviderMessage } = await import(${JSON.stringify(resolve(import.meta.dir, '../src/engine/run.ts'))})
      const long = 'a'.repeat(1 << 20)
      const out = scrubProviderMessage(long + ' key: my-provi************5b4a, then ' + 'b*'.repeat(1 << 19), [])
      console.log(JSON.stringify({ length: out.length, redacted: out.includes(long + ' key: [redacted], then '), leaked: out.includes('5b4a') || out.includes('my-provi') }))`
    const child = spawnCollected([process.execPath, '-e', script])
    const code = await child.exited(20_000)
    if (code === 'still running') child.proc.kill()
    expect([code, child.output().trim()]).toEqual([0, JSON.stringify({ length: (1 << 20) + 23 + (1 << 20), redacted: true, leaked: false })])
  }, 30_000)
  // Bun's advice at the end of a failed fetch's message was dropped with /\s*For more information,
  // pass `verbose: true` in the second argument to fetch\(\)\.?/g, which tries every start of a long
  // run of white space not followed by it, each to the end of the run: an error message of 1 MB of
  // spaces held the event loop for minutes. In a child process with a deadline of minutes' margin.
  test("Bun's fetch advice is dropped from an error message, and 1 MB of spaces in one is read at once", async () => {
    const script = `
      const { providerMessage } = await import(${JSON.stringify(resolve(import.meta.dir, '../src/engine/run.ts'))})
      const hint = 'For more information, pass \`verbose: true\` in the second argument to fetch()'
      const spaces = providerMessage(new Error(' '.repeat(1 << 20) + 'x'))
      console.log(JSON.stringify([
        spaces.length,
        providerMessage(new Error('Unable to connect. Is the computer able to access the url? ' + hint + '.')),
        providerMessage(new Error('a \\n ' + hint + ' b\\t' + hint + hint + '. c')),
      ]))`
    const child = spawnCollected([process.execPath, '-e', script])
    const code = await child.exited(20_000)
    if (code === 'still running') child.proc.kill()
    expect([code, child.output().trim()]).toEqual([0, JSON.stringify([1003, 'Unable to connect. Is the computer able to access the url?', 'a b c'])])
  }, 30_000)
  test("the fetch advice: the same messages as the expression it replaces (100,000 made of spaces, dots, words and the advice)", async () => {
    const { providerMessage, scrubProviderMessage } = await import('../src/engine/run')
    const OLD = /\s*For more information, pass `verbose: true` in the second argument to fetch\(\)\.?/g
    const hint = 'For more information, pass `verbose: true` in the second argument to fetch()'
    const pieces = [' ', '\t', '\n', '\u00a0', '\u2028', '.', 'x', 'For', hint, hint, hint.slice(0, 20)]
    let seed = 7
    const random = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n)
    for (let i = 0; i < 100_000; i++) {
      const msg = Array.from({ length: random(9) }, () => pieces[random(pieces.length)]).join('')
      // (An empty message is the error's name; none of these is over 1000 characters.)
      expect(providerMessage(new Error(msg))).toBe(scrubProviderMessage(msg || 'Error', []).replace(OLD, ''))
    }
  })
  test('a long error message through a run: failed, cut to 1000 characters, scrubbed', async () => {
    const o = await setup()
    p.handler = () => Response.json({ error: { message: `${'x'.repeat(30_000)} ${KEY.slice(0, 8)}************${KEY.slice(-4)}` } }, { status: 400 })
    const x = await outcome('sync', o)
    expect(x.row.status).toBe('failed')
    expect(x.row.error.length).toBeLessThan(1200)
    expect(x.all).not.toContain(KEY.slice(-4))
  })
  test('text/plain error body', async () => {
    const o = await setup()
    p.handler = (req) => new Response(`upstream says: bearer ${req.headers.get('authorization')}`, { status: 502 })
    const x = await outcome('sync', o)
    expect(x.all).not.toContain(KEY)
  })
})

describe('anthropic cuts, more shapes', () => {
  const start = antEv('message_start', { message: { id: 'msg_1', type: 'message', role: 'assistant', model: 'claude-x', content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 13, output_tokens: 1 } } })
  async function ant() {
    const t = await makeTestApp({ config: { anthropicApiKey: 'sk-ant-' + KEY, anthropicBaseUrl: p.anthropicBaseUrl, defaultModel: 'claude-x' } })
    const a = await makeActor(t)
    const leaf = await agent(t, a, { name: 'Leaf' })
    const ag = await agent(t, a, { subagentIds: [leaf.id] })
    return { t, a, ag, leaf }
  }
  test('cut right after message_start (no output)', async () => {
    const o = await ant()
    p.handler = () => rawStream([start])
    const x = await outcome('sync', o)
    expect(x.row.status).toBe('failed')
  })
  test('cut after a text block ended (content_block_stop), before message_delta/stop', async () => {
    const o = await ant()
    p.handler = () =>
      rawStream([
        start,
        antEv('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }),
        antEv('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'The migration will ' } }),
        antEv('content_block_stop', { index: 0 }),
      ])
    const statuses: string[] = []
    for (const kind of ['sync', 'stream'] as const) {
      const x = await outcome(kind, o)
      statuses.push(x.row.status)
    }
    expect(statuses).toEqual(['failed', 'failed'])
  })
  test('cut inside a tool_use block (partial JSON)', async () => {
    const o = await ant()
    p.handler = () =>
      rawStream([
        start,
        antEv('content_block_start', { index: 0, content_block: { type: 'tool_use', id: 'toolu_1', name: 'delegate', input: {} } }),
        antEv('content_block_delta', { index: 0, delta: { type: 'input_json_delta', partial_json: '{"agentId":"' + o.leaf.id + '","mess' } }),
      ])
    const x = await outcome('sync', o)
    expect(x.row.status).toBe('failed')
  })
})

describe('surrogate pair split across two deltas', () => {
  test('the stream relays what the row stores', async () => {
    const o = await setup()
    p.handler = () => rawStream(['data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"smile \\ud83d"},"finish_reason":null}]}\n\n', 'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"\\ude00 ok"},"finish_reason":null}]}\n\n', oaiStop(), oaiUsage(), oaiDone])
    const x = await outcome('stream', o)
    const streamed = x.events.filter((e) => e.data?.delta?.type === 'text_delta').map((e) => e.data.delta.text).join('')
    expect(x.row.result).toBe('smile \u{1F600} ok')
    expect(streamed).toBe(x.row.result)
  })
})

describe('what reaches the provider', () => {
  test('the caller\'s token is never sent to the provider', async () => {
    const o = await setup()
    p.handler = () => rawStream(oaiFull('ok'))
    await outcome('sync', o)
    expect(JSON.stringify(p.requests.at(-1))).not.toContain(o.a.token)
  })
})

describe('anthropic mid-stream error event', () => {
  test('overloaded_error after some text: failed', async () => {
    const o = await anthropicSetup()
    p.handler = () => rawStream([...anthropicStart('Half '), 'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n'])
    const x = await outcome('stream', o)
    expect(x.row.status).toBe('failed')
  })
})

describe('parallel tool calls', () => {
  const toolCalls = (calls: { id: string; name: string; args: string }[]) => [
    oaiChunk({ choices: [{ index: 0, delta: { role: 'assistant', tool_calls: calls.map((c, i) => ({ index: i, id: c.id, type: 'function', function: { name: c.name, arguments: c.args } })) }, finish_reason: null }] }),
    oaiStop('tool_calls'),
    oaiUsage(),
    oaiDone,
  ]

  test("one model turn asking for 12 sub-agents at once: they run one after another, inside the parent's slot", async () => {
    // All 12 ran at once (60 in the probe, 421 two levels down) with one concurrent execution allowed.
    const t = await makeTestApp({ config: { openaiBaseUrl: p.openaiBaseUrl, defaultModel: 'test-model', maxConcurrentExecutions: 1 } })
    const a = await makeActor(t)
    const leaf = await agent(t, a, { name: 'Leaf' })
    const root = await agent(t, a, { name: 'Root', subagentIds: [leaf.id] })
    let inFlight = 0
    let most = 0
    const order: string[] = []
    p.handler = async (_req, body) => {
      const last = body.messages.at(-1)
      if (last.role === 'user' && last.content === 'FANOUT') {
        return rawStream(toolCalls(Array.from({ length: 12 }, (_, i) => ({ id: `call_${i}`, name: 'delegate', args: JSON.stringify({ agentId: leaf.id, message: `child ${i}` }) }))))
      }
      if (last.role === 'tool') return rawStream(oaiFull('all done'))
      order.push(String(last.content))
      inFlight++
      most = Math.max(most, inFlight)
      await Bun.sleep(40)
      inFlight--
      return rawStream(oaiFull('child ok'))
    }
    let peak = 0
    const timer = setInterval(() => (peak = Math.max(peak, t.rt.engine.runningCount)), 5)
    const r = await exec(t, a, root.id, { message: 'FANOUT' })
    clearInterval(timer)
    expect([r.status, r.body.result]).toEqual([200, 'all done'])
    expect(most).toBe(1)
    expect(peak).toBeLessThanOrEqual(2)
    expect(order).toEqual(Array.from({ length: 12 }, (_, i) => `child ${i}`))
    const children = (await t.req('GET', `/api/v1/executions?parentExecutionId=${r.body.executionId}&limit=200`, { token: a.token })).body
    expect(children.map((c: any) => c.status)).toEqual(Array(12).fill('completed'))
  }, 30_000)
})
