/**
 * The OpenAI-compatible provider against what self-hosted and hosted servers really send
 * (Ollama, vLLM, llama.cpp's server, LM Studio, LiteLLM and other proxies, OpenRouter, Groq),
 * end to end through an execution: tool calls whole in one chunk or streamed in pieces,
 * interleaved, without `index`, `id` or `type`, with `arguments` as an object; reasoning fields;
 * an answer as one JSON document where a stream was asked; a web page where the API was meant.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { makeActor } from './helpers/app'
import { withoutEmptyData } from '../src/engine/provider-fetch'
import { thinkTagsTransform } from '../src/engine/think-tags'
import { agent, exec, getExec, makeTestApp, oaiChunk, oaiDone, oaiFull, oaiStop, oaiText, oaiUsage, rawStream, startScripted, type Scripted } from './helpers/scripted-provider'

let p: Scripted
beforeAll(() => {
  p = startScripted()
})
afterAll(() => p.stop())

const toolDelta = (calls: object[]) => oaiChunk({ choices: [{ index: 0, delta: { role: 'assistant', tool_calls: calls }, finish_reason: null }] })

/**
 * An agent with one sub-agent; the provider answers the message "GO" with `first(leafId)`, a
 * delegate call's result with "done: " and the tool results it was sent, anything else (the
 * sub-agent's run) with "child ok".
 */
async function delegating(first: (leafId: string) => Response, apiKey?: string) {
  const t = await makeTestApp({ config: { openaiBaseUrl: p.openaiBaseUrl, openaiApiKey: apiKey, defaultModel: 'test-model' } })
  const a = await makeActor(t)
  const leaf = await agent(t, a, { name: 'Leaf' })
  const root = await agent(t, a, { name: 'Root', subagentIds: [leaf.id] })
  p.handler = (_req, body) => {
    const last = body.messages.at(-1)
    if (last.role === 'tool') return rawStream(oaiFull(`done: ${body.messages.filter((m: any) => m.role === 'tool').map((m: any) => (String(m.content).includes('child ok') ? 'ok' : String(m.content).slice(0, 120))).join(', ')}`))
    if (last.role === 'user' && last.content === 'GO') return first(leaf.id)
    return rawStream(oaiFull('child ok'))
  }
  const r = await exec(t, a, root.id, { message: 'GO' })
  const id = r.body.executionId ?? r.body.details?.executionId
  return { r, row: await getExec(t, a, id) }
}

const args = (leafId: string, message = 'x') => JSON.stringify({ agentId: leafId, message })

describe('tool calls as servers send them', () => {
  const cases: Record<string, (leaf: string) => string[]> = {
    "whole in one chunk, then finish_reason 'stop' (Ollama before tool_calls)": (leaf) => [toolDelta([{ index: 0, id: 'call_1', type: 'function', function: { name: 'delegate', arguments: args(leaf) } }]), oaiStop('stop'), oaiDone],
    'two calls in one delta, without index': (leaf) => [toolDelta([{ id: 'a', type: 'function', function: { name: 'delegate', arguments: args(leaf) } }, { id: 'b', type: 'function', function: { name: 'delegate', arguments: args(leaf) } }]), oaiStop('tool_calls'), oaiDone],
    'without id, index or type': (leaf) => [toolDelta([{ function: { name: 'delegate', arguments: args(leaf) } }, { function: { name: 'delegate', arguments: args(leaf) } }]), oaiStop('tool_calls'), oaiDone],
    'two calls streamed in pieces, interleaved': (leaf) => {
      const s = args(leaf)
      const h = s.length >> 1
      return [
        toolDelta([{ index: 0, id: 'c0', type: 'function', function: { name: 'delegate', arguments: '' } }]),
        toolDelta([{ index: 1, id: 'c1', type: 'function', function: { name: 'delegate', arguments: '' } }]),
        toolDelta([{ index: 0, function: { arguments: s.slice(0, h) } }]),
        toolDelta([{ index: 1, function: { arguments: s.slice(0, h) } }]),
        toolDelta([{ index: 1, function: { arguments: s.slice(h) } }]),
        toolDelta([{ index: 0, function: { arguments: s.slice(h) } }]),
        oaiStop('tool_calls'),
        oaiDone,
      ]
    },
    // It failed the run: "the provider sent a stream event that is not part of an answer this server can read" (502).
    'arguments as a JSON object, not its string': (leaf) => [
      toolDelta([{ index: 0, id: 'c0', type: 'function', function: { name: 'delegate', arguments: { agentId: leaf, message: 'x' } } }]),
      toolDelta([{ index: 1, id: 'c1', type: 'function', function: { name: 'delegate', arguments: args(leaf) } }]),
      oaiStop('tool_calls'),
      oaiUsage(),
      oaiDone,
    ],
  }
  for (const [name, stream] of Object.entries(cases)) {
    test(`${name}: the sub-agents run, the answer follows`, async () => {
      const { r, row } = await delegating((leaf) => rawStream(stream(leaf)))
      expect([r.status, row.status]).toEqual([200, 'completed'])
      expect(r.body.result).toBe(name.startsWith('whole') ? 'done: ok' : 'done: ok, ok')
    })
  }

  test('arguments as an object that is not a valid call: the tool answers an error the model reads', async () => {
    const { r } = await delegating(() => rawStream([toolDelta([{ index: 0, id: 'c0', type: 'function', function: { name: 'delegate', arguments: { agentId: 'char_nope', message: 'x' } } }]), oaiStop('tool_calls'), oaiDone]))
    expect(r.status).toBe(200)
    expect(r.body.result).toContain('char_nope')
  })
})

describe('reasoning beside the answer', () => {
  test('reasoning_content (DeepSeek, vLLM) and reasoning (Ollama, OpenRouter), a role-only first chunk, content null: the answer alone', async () => {
    const { r } = await delegating(() =>
      rawStream([
        oaiChunk({ choices: [{ index: 0, delta: { role: 'assistant' }, finish_reason: null }] }),
        oaiChunk({ choices: [{ index: 0, delta: { content: null, reasoning_content: 'let me think' }, finish_reason: null }] }),
        oaiChunk({ choices: [{ index: 0, delta: { content: null, reasoning: ' more' }, finish_reason: null }] }),
        oaiText('The answer.'),
        oaiStop(),
        oaiDone,
      ]),
    )
    expect([r.status, r.body.result]).toEqual([200, 'The answer.'])
  })
})

describe('<think> in the text (DeepSeek-R1, Qwen3 on llama.cpp, vLLM, LM Studio without a reasoning parser)', () => {
  /** The text and the reasoning the transform makes of `deltas` (one text part). */
  async function split(deltas: string[]) {
    const parts = [{ type: 'text-start', id: 't' }, ...deltas.map((delta) => ({ type: 'text-delta', id: 't', delta })), { type: 'text-end', id: 't' }, { type: 'finish' }]
    const out: any[] = []
    const stream = new ReadableStream({ start: (c) => (parts.forEach((x) => c.enqueue(x)), c.close()) }).pipeThrough(thinkTagsTransform())
    for await (const x of stream) out.push(x)
    const text = out.filter((x) => x.type === 'text-delta').map((x) => x.delta).join('')
    const reasoning = out.filter((x) => x.type === 'reasoning-delta').map((x) => x.delta).join('')
    // Each part that starts ends, in order; text-start before its deltas; finish last.
    const kinds = out.map((x) => x.type).filter((k) => k !== 'text-delta' && k !== 'reasoning-delta')
    return { text, reasoning, kinds }
  }

  test('a leading block is reasoning, the rest the answer, wherever the deltas cut (also inside the tags)', async () => {
    const whole = '\n<think>\nFirst, 2+2.</think>\n\nIt is 4, not <think>5</think>.'
    for (let i = 0; i <= whole.length; i++) {
      for (const deltas of [[whole.slice(0, i), whole.slice(i)], [...whole.slice(0, i)].concat(whole.slice(i))]) {
        const r = await split(deltas)
        expect([r.text, r.reasoning]).toEqual(['It is 4, not <think>5</think>.', '\nFirst, 2+2.'])
        expect(r.kinds).toEqual(['reasoning-start', 'reasoning-end', 'text-start', 'text-end', 'finish'])
      }
    }
  })

  test('text that does not begin with <think> passes as it came; a block never closed is all reasoning', async () => {
    expect((await split(['<thi', 'nking> is a word']))).toEqual({ text: '<thinking> is a word', reasoning: '', kinds: ['text-start', 'text-end', 'finish'] })
    expect((await split(['Answer: ', '<think>x</think>']))).toMatchObject({ text: 'Answer: <think>x</think>', reasoning: '' })
    expect((await split(['<', 'thi']))).toMatchObject({ text: '<thi', reasoning: '' })
    expect((await split(['<think>only thought</th']))).toEqual({ text: '', reasoning: 'only thought</th', kinds: ['reasoning-start', 'reasoning-end', 'finish'] })
  })

  // A template that opens the block in the prompt (DeepSeek-R1's `<think>\n`): R1 skipping its
  // thinking writes only the close. The answer began with "</think>".
  test('a text that begins with </think> (its block opened in the prompt, empty): the tag dropped, wherever the deltas cut', async () => {
    const whole = '\n\n</think>\n\nIt is 4.'
    for (let i = 0; i <= whole.length; i++) {
      for (const deltas of [[whole.slice(0, i), whole.slice(i)], [...whole.slice(0, i)].concat(whole.slice(i))]) {
        const r = await split(deltas)
        expect([r.text, r.reasoning, r.kinds]).toEqual(['It is 4.', '', ['text-start', 'text-end', 'finish']])
      }
    }
    expect((await split(['</', 'thinking> is a tag']))).toMatchObject({ text: '</thinking> is a tag', reasoning: '' })
    expect((await split(['</th']))).toMatchObject({ text: '</th', reasoning: '' })
    expect((await split(['Text, then </think>', ' more']))).toMatchObject({ text: 'Text, then </think> more', reasoning: '' })
    const { r, row } = await delegating(() => rawStream([oaiText('\n\n</thi'), oaiText('nk>\n\nGoing.'), oaiStop(), oaiUsage(), oaiDone]))
    expect([r.status, r.body.result, row.result]).toEqual([200, 'Going.', 'Going.'])
  })

  test('end to end: the answer without the thinking, streamed and stored; the thinking is not sent on as the answer', async () => {
    const { r, row } = await delegating(() => rawStream([oaiText('<thi'), oaiText('nk>\nThe user says GO.\n</th'), oaiText('ink>\n\nGoing.'), oaiStop(), oaiUsage(), oaiDone]))
    expect([r.status, r.body.result, row.result]).toEqual([200, 'Going.', 'Going.'])
  })
})

describe('one JSON document where a stream was asked (a proxy dropping `stream`, a server that does not stream)', () => {
  const completion = (message: object, finish = 'stop') => Response.json({ id: 'chatcmpl-9', object: 'chat.completion', created: 1, model: 'm', choices: [{ index: 0, message: { role: 'assistant', ...message }, finish_reason: finish }], usage: { prompt_tokens: 5, completion_tokens: 7, total_tokens: 12 } })

  // Each failed the run: "Response stream ended without a finish reason" (502).
  test('a text answer: completed with it, its usage counted', async () => {
    const { r, row } = await delegating(() => completion({ content: 'Hello from JSON', reasoning_content: 'hidden' }))
    expect([r.status, r.body.result, row.status]).toEqual([200, 'Hello from JSON', 'completed'])
    expect([r.body.usage.inputTokens, r.body.usage.outputTokens]).toEqual([5, 7])
  })

  test('a text answer without a finish reason (null, or no key): completed with it', async () => {
    for (const finish of [null, undefined]) {
      const { r, row } = await delegating(() => completion({ content: 'Hello from JSON' }, finish as unknown as string))
      expect([r.status, r.body.result, row.status]).toEqual([200, 'Hello from JSON', 'completed'])
    }
  })

  test('tool calls (without index): the sub-agents run, the answer follows', async () => {
    const { r } = await delegating((leaf) =>
      completion(
        {
          content: null,
          tool_calls: [
            { id: 'c0', type: 'function', function: { name: 'delegate', arguments: args(leaf) } },
            { id: 'c1', type: 'function', function: { name: 'delegate', arguments: args(leaf) } },
          ],
        },
        'tool_calls',
      ),
    )
    expect([r.status, r.body.result]).toEqual([200, 'done: ok, ok'])
  })

  test("an error with HTTP 200 (OpenAI's form, vLLM's): failed with its message", async () => {
    for (const body of [{ error: { message: 'model "llama9" not found, try pulling it first', type: 'api_error' } }, { object: 'error', message: 'The model `llama9` does not exist.', type: 'NotFoundError', code: 404 }]) {
      const { r, row } = await delegating(() => Response.json(body))
      expect([r.status, row.status]).toEqual([502, 'failed'])
      expect(row.error).toBe(`Model provider error: ${(body as any).error?.message ?? (body as any).message}`)
    }
  })

  // An event stream labelled JSON (a gateway's content type) is a stream all the same: read whole
  // as one document, it failed the run as a body "that is not JSON".
  test('an event stream labelled application/json (its first field or comment split across chunks too): streamed, completed', async () => {
    const labelled = (chunks: string[]) => new Response(rawStream(chunks).body, { headers: { 'content-type': 'application/json; charset=utf-8' } })
    const [first, ...rest] = oaiFull('Hello from a stream')
    for (const chunks of [[first!, ...rest], ['\n', 'da', first!.slice(2), ...rest], [': keep-alive\n\n', first!, ...rest], ['e', `vent: message\n${first!}`, ...rest]]) {
      const { r, row } = await delegating(() => labelled(chunks))
      expect([r.status, r.body.result, row.status]).toEqual([200, 'Hello from a stream', 'completed'])
    }
  })

  test('JSON that is no chat completion: failed, saying what came', async () => {
    const { r, row } = await delegating(() => Response.json({ detail: 'Not Found' }))
    expect([r.status, row.status]).toEqual([502, 'failed'])
    expect(row.error).toBe('Model provider error: the provider answered with JSON that is not a chat completion, where an event stream was asked: {"detail":"Not Found"}')
  })

  test('JSON that is no chat completion quoting the API key: the key is not said', async () => {
    const key = 'gw-secret-0a1b2c3d4e5f6a7b'
    const { row } = await delegating((_leaf) => Response.json({ detail: `token ${key} is not allowed here` }), key)
    expect(row.status).toBe('failed')
    expect(row.error).toContain('[redacted]')
    expect(row.error).not.toContain(key.slice(0, 12))
  })
})

describe('a web page where the API was meant', () => {
  // OPENAI_BASE_URL=http://localhost:11434 (no /v1): Ollama answers "404 page not found"; the run said only "Not Found (HTTP 404)".
  test('a 404 without an error of the API: failed, naming the address and OPENAI_BASE_URL', async () => {
    const { r, row } = await delegating(() => new Response('404 page not found', { status: 404, statusText: 'Not Found', headers: { 'content-type': 'text/plain' } }))
    expect([r.status, row.status]).toEqual([502, 'failed'])
    expect(row.error).toBe(`Model provider error: Not Found (HTTP 404): nothing answers ${p.openaiBaseUrl}/chat/completions; set OPENAI_BASE_URL to the address of the server's OpenAI-compatible API, usually ending in /v1 (e.g. http://localhost:11434/v1 for Ollama)`)
  })

  test("a 404 that is the API's error (a model not found): its message alone", async () => {
    const { row } = await delegating(() => Response.json({ error: { message: 'model "test-model" not found, try pulling it first', type: 'api_error' } }, { status: 404 }))
    expect(row.error).toBe('Model provider error: model "test-model" not found, try pulling it first (HTTP 404)')
  })

  // OPENAI_BASE_URL at a web interface that answers any path with its page: it failed as "Response stream ended without a finish reason".
  test('HTML with HTTP 200: failed, naming OPENAI_BASE_URL', async () => {
    const { r, row } = await delegating(() => new Response('<!doctype html><html><body>Open WebUI</body></html>', { headers: { 'content-type': 'text/html; charset=utf-8' } }))
    expect([r.status, row.status]).toEqual([502, 'failed'])
    expect(row.error).toMatch(/^Model provider error: the provider at http:\/\/127\.0\.0\.1:\d+ answered \/v1\/chat\/completions with a web page \(HTTP 200, text\/html; charset=utf-8\), not its API's event stream: set OPENAI_BASE_URL to the address of its API, e\.g\. http:\/\/localhost:11434\/v1 for Ollama$/)
  })
})

describe("llama.cpp's error in a stream: an `error:` field, not `data:`", () => {
  const ERR = 'error: {"code":500,"message":"the request exceeds the available context size, try increasing it","type":"exceed_context_size_error"}\n\n'

  // Ignored as an unknown SSE field: the run failed "Response stream ended without a finish reason", the message lost.
  test('after some text, and before any: failed with the server message', async () => {
    for (const chunks of [[oaiText('Partial '), ERR], [ERR]]) {
      const { r, row } = await delegating(() => rawStream(chunks))
      expect([r.status, row.status]).toEqual([502, 'failed'])
      expect(row.error).toBe('Model provider error: the request exceeds the available context size, try increasing it')
    }
  })

  test('the rewrite, split at every byte; other lines (event:, a data line with "error:" in it, CRLF) pass as they came', async () => {
    const input = `event: x\r\ndata: {"e":"error: no"}\r\n\r\nerr\nedata: 1\nerrdata:\n${ERR}error:\r\n: c\ne`
    const want = `event: x\r\ndata: {"e":"error: no"}\r\n\r\nerr\nedata: 1\nerrdata:\ndata: {"error":${ERR.slice(6, -2)}}\n\ndata: {"error":}\r\n: c\ne`
    const enc = new TextEncoder()
    for (let i = 0; i <= input.length; i++) {
      for (const pieces of [[input.slice(0, i), input.slice(i)], i === 0 ? [...input] : []]) {
        if (pieces.length === 0) continue
        const out = new ReadableStream<Uint8Array>({ start: (c) => (pieces.forEach((x) => c.enqueue(enc.encode(x))), c.close()) }).pipeThrough(withoutEmptyData({ errorField: true }))
        expect(await new Response(out).text()).toBe(want)
      }
    }
  })
})
